// ferrite_std.hpp — the one list of standard headers seen by ferrite's module units.
//
// Every global module fragment includes exactly this header (through
// ferrite_modules.hpp) and every importer gets it force-included first. With
// clang-16 + libstdc++ an identical include prefix in every translation unit
// is what keeps the ODR checker from reporting false "different definitions
// in different modules" errors, and it makes std::coroutine_traits visible to
// every TU that defines a coroutine. Add a header here, never in a module.
#pragma once
#include <cstddef>
#include <compare>
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
#include <version>
// The features of the build (meson options; docs/SIZE.md). meson.build
// passes every one to every unit and BMI; a compile without them has all.
#ifndef FERRITE_WITH_TRANSACTIONS
#define FERRITE_WITH_TRANSACTIONS 1
#endif
#ifndef FERRITE_WITH_SCANS
#define FERRITE_WITH_SCANS 1
#endif
#ifndef FERRITE_WITH_CHANGES
#define FERRITE_WITH_CHANGES 1
#endif
#ifndef FERRITE_WITH_INDEX_LESS
#define FERRITE_WITH_INDEX_LESS 1
#endif
#ifndef FERRITE_WITH_VERIFY_WRITES
#define FERRITE_WITH_VERIFY_WRITES 1
#endif
#ifndef FERRITE_WITH_TYPED_WRITES
#define FERRITE_WITH_TYPED_WRITES 1
#endif
#ifndef FERRITE_WITH_SEALING
#define FERRITE_WITH_SEALING 1
#endif
#ifndef FERRITE_WITH_SUMMARIES
#define FERRITE_WITH_SUMMARIES 1
#endif

#if FERRITE_HAVE_FMT
#include <fmt/format.h>
#endif
