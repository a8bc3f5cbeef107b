// ferrite_try.hpp — the only macros of ferrite (modules cannot export macros).
//
// FERRITE_CO_TRY(expr): evaluate a Result-returning expression (usually a
// co_await); on error, co_return the error from the enclosing coroutine.
// FERRITE_CO_TRY_ASSIGN(decl, expr): the same, binding the value on success.
#pragma once

#define FERRITE_CONCAT_INNER(a, b) a##b
#define FERRITE_CONCAT(a, b) FERRITE_CONCAT_INNER(a, b)

#define FERRITE_CO_TRY(expr)                                          \
  do {                                                                \
    if (auto ferrite_try_r_ = (expr); !ferrite_try_r_)                \
      co_return ::ferrite::fail(ferrite_try_r_.error());              \
  } while (0)

#define FERRITE_CO_TRY_ASSIGN(decl, expr)                             \
  auto FERRITE_CONCAT(ferrite_try_v_, __LINE__) = (expr);             \
  if (!FERRITE_CONCAT(ferrite_try_v_, __LINE__))                      \
    co_return ::ferrite::fail(FERRITE_CONCAT(ferrite_try_v_, __LINE__).error()); \
  decl = std::move(*FERRITE_CONCAT(ferrite_try_v_, __LINE__))

#define FERRITE_TRY(expr)                                             \
  do {                                                                \
    if (auto ferrite_try_r_ = (expr); !ferrite_try_r_)                \
      return ::ferrite::fail(ferrite_try_r_.error());                 \
  } while (0)
