// The total order of document values (queries, sorts, index keys): both items
// are walked token by token in lockstep with an explicit stack, no recursion.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

namespace detail {

int compare_int_real(std::int64_t i, double d) noexcept {
  if (std::isnan(d)) return -1;                        // NaN sorts after every number
  // Outside [-2^63, 2^63) no int64 reaches d; inside, trunc(d) is an exact
  // int64 and d - trunc(d) an exact fraction, so nothing is rounded.
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const auto t = static_cast<std::int64_t>(d);
  if (i != t) return i < t ? -1 : 1;
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

}  // namespace detail

namespace {


int sign(std::int64_t v) noexcept { return v < 0 ? -1 : v > 0 ? 1 : 0; }

std::int64_t int_of(const detail::Head& h) noexcept {
  return h.major == 0 ? static_cast<std::int64_t>(h.arg) : static_cast<std::int64_t>(~h.arg);
}

int compare_reals(double a, double b) noexcept {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na && nb ? 0 : na ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;  // -0.0 == 0.0
}

int compare_numbers(const std::byte* a, const detail::Head& ha, const std::byte* b, const detail::Head& hb) noexcept {
  const bool ia = ha.major <= 1, ib = hb.major <= 1;
  if (ia && ib) {
    const std::int64_t x = int_of(ha), y = int_of(hb);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ia) return detail::compare_int_real(int_of(ha), detail::real_at(b, hb));
  if (ib) return -detail::compare_int_real(int_of(hb), detail::real_at(a, ha));
  return compare_reals(detail::real_at(a, ha), detail::real_at(b, hb));
}

int compare_bytes(const std::byte* a, std::size_t na, const std::byte* b, std::size_t nb) noexcept {
  const std::size_t n = std::min(na, nb);
  const int c = n ? std::memcmp(a, b, n) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  return na < nb ? -1 : na > nb ? 1 : 0;
}

// Items left in one open container of each side.
struct Pair {
  std::uint32_t a = 0;
  std::uint32_t b = 0;
};

}  // namespace

int compare(const View& a, const View& b) noexcept {
  if (!a.valid() || !b.valid()) return a.valid() ? 1 : b.valid() ? -1 : 0;
  const auto ra = a.raw(), rb = b.raw();
  std::size_t pa = 0, pb = 0;
  std::array<Pair, max_parse_depth> stack;
  std::uint32_t depth = 0;
  for (;;) {
    const auto ha = detail::head_at(ra.data() + pa), hb = detail::head_at(rb.data() + pb);
    const Type ta = detail::type_of(ha), tb = detail::type_of(hb);
    if (type_rank(ta) != type_rank(tb)) return type_rank(ta) < type_rank(tb) ? -1 : 1;
    const std::byte* xa = ra.data() + pa;
    const std::byte* xb = rb.data() + pb;
    pa += ha.size;
    pb += hb.size;
    int c = 0;
    switch (ta) {
      case Type::null: break;
      case Type::integer:
      case Type::real: c = compare_numbers(xa, ha, xb, hb); break;
      case Type::boolean: c = sign(static_cast<int>(ha.info) - static_cast<int>(hb.info)); break;
      case Type::string:
      case Type::bytes:
        c = compare_bytes(ra.data() + pa, ha.arg, rb.data() + pb, hb.arg);
        pa += static_cast<std::size_t>(ha.arg);
        pb += static_cast<std::size_t>(hb.arg);
        break;
      case Type::array:
      case Type::object: {
        const auto k = ta == Type::object ? 2u : 1u;  // members are key, value
        stack[depth++] = Pair{static_cast<std::uint32_t>(ha.arg * k), static_cast<std::uint32_t>(hb.arg * k)};
        break;
      }
    }
    if (c != 0) return c;
    // Next pair of items: the innermost container with items left on both
    // sides; a side that ran out first is a prefix, so it sorts first.
    for (;;) {
      if (depth == 0) return 0;
      Pair& top = stack[depth - 1];
      if (top.a > 0 && top.b > 0) {
        --top.a;
        --top.b;
        break;
      }
      if (top.a != top.b) return top.a == 0 ? -1 : 1;
      --depth;
    }
  }
}

// null < numbers < strings < bytes < booleans < arrays < objects.
int type_rank(Type t) noexcept {
  switch (t) {
    case Type::null: return 0;
    case Type::integer:
    case Type::real: return 1;
    case Type::string: return 2;
    case Type::bytes: return 3;
    case Type::boolean: return 4;
    case Type::array: return 5;
    case Type::object: return 6;
  }
  return 7;
}

}  // namespace ferrite::doc
