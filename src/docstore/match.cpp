// The residual filter: whether a document satisfies a query, evaluated on
// the CBOR bytes (no tree is built).
module;
#include "ferrite_modules.hpp"
#if defined(__unix__) || defined(__APPLE__)
#include <regex.h>
#define FERRITE_HAVE_REGEX 1
#else
#define FERRITE_HAVE_REGEX 0
#endif

module ferrite.docstore;

namespace ferrite::doc {

namespace {

bool regex_matches(std::string_view pattern, std::string_view text) noexcept {
#if FERRITE_HAVE_REGEX
  // regexec needs NUL-terminated strings: bounded copies on the stack.
  std::array<char, Query::max_pool + 1> pat{};
  std::array<char, 1024> txt{};
  if (pattern.size() >= pat.size() || text.size() >= txt.size()) return false;
  std::memcpy(pat.data(), pattern.data(), pattern.size());
  std::memcpy(txt.data(), text.data(), text.size());
  regex_t re;
  if (regcomp(&re, pat.data(), REG_EXTENDED | REG_NOSUB) != 0) return false;
  const bool hit = regexec(&re, txt.data(), 0, nullptr, 0) == 0;
  regfree(&re);
  return hit;
#else
  (void)pattern;
  (void)text;
  return false;
#endif
}

struct Probe {
  Op op;
  View operand;
  bool hit = false;
};

bool starts_with(std::span<const std::byte> s, std::span<const std::byte> p) noexcept {
  return s.size() >= p.size() && (p.empty() || std::memcmp(s.data(), p.data(), p.size()) == 0);
}

// One value against a comparison predicate (not descending into arrays).
bool test_one(const Probe& p, const View& x) noexcept {
  switch (p.op) {
    case Op::eq:
    case Op::ne: return equal(x, p.operand);
    case Op::in:
    case Op::nin: {
      auto c = p.operand.children();
      while (c.next())
        if (equal(x, c.value())) return true;
      return false;
    }
    case Op::gt:
    case Op::gte:
    case Op::lt:
    case Op::lte: {
      if (type_rank(x.type()) != type_rank(p.operand.type())) return false;
      const int c = compare(x, p.operand);
      return p.op == Op::gt ? c > 0 : p.op == Op::gte ? c >= 0 : p.op == Op::lt ? c < 0 : c <= 0;
    }
    case Op::prefix:
      if (x.type() == Type::string && p.operand.type() == Type::string) {
        const auto s = x.string(), q = p.operand.string();
        return starts_with({reinterpret_cast<const std::byte*>(s.data()), s.size()},
                           {reinterpret_cast<const std::byte*>(q.data()), q.size()});
      }
      return x.type() == Type::bytes && p.operand.type() == Type::bytes && starts_with(x.bytes(), p.operand.bytes());
    case Op::regex: return x.type() == Type::string && regex_matches(p.operand.string(), x.string());
    default: return false;
  }
}

bool visit(const View& x, void* context) noexcept {
  auto& p = *static_cast<Probe*>(context);
  if (p.op == Op::exists) {
    p.hit = true;
  } else if (test_one(p, x)) {
    p.hit = true;
  } else if (x.type() == Type::array) {  // a predicate on an array field tests its elements
    auto c = x.children();
    while (!p.hit && c.next()) p.hit = test_one(p, c.value());
  }
  return p.hit;
}

bool eval(const Query& q, std::size_t i, const View& doc) noexcept {
  const Query::Node& n = q.node(i);
  switch (n.op) {
    case Op::all: return true;
    case Op::and_:
      for (std::size_t c = i + 1; c < i + n.span; c += q.node(c).span)
        if (!eval(q, c, doc)) return false;
      return true;
    case Op::or_:
      for (std::size_t c = i + 1; c < i + n.span; c += q.node(c).span)
        if (eval(q, c, doc)) return true;
      return false;
    case Op::not_: return !eval(q, i + 1, doc);
    default: break;
  }
  Probe p{n.op, q.value_of(n)};
  docfmt::for_each_at_path(doc, q.path_of(n), visit, &p);
  switch (n.op) {
    case Op::ne:
    case Op::nin: return !p.hit;
    case Op::exists: return p.hit == p.operand.boolean();
    default: return p.hit;
  }
}

}  // namespace

bool matches(const Query& q, const View& doc) noexcept {
  if (q.error() != Errc::ok || q.node_count() == 0) return false;
  return eval(q, 0, doc);
}

bool regex_supported() noexcept { return FERRITE_HAVE_REGEX != 0; }

}  // namespace ferrite::doc
