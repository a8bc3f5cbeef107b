// Reading ferrite's CBOR subset (docs/FORMAT.md §8): View::parse validates a
// whole item with an explicit stack, the accessors then decode heads of bytes
// known to be well-formed.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

const char* type_name(Type t) noexcept {
  switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "bool";
    case Type::integer: return "int";
    case Type::real: return "double";
    case Type::string: return "string";
    case Type::bytes: return "bytes";
    case Type::array: return "array";
    case Type::object: return "object";
  }
  return "?";
}

namespace detail {

namespace {

std::uint64_t big_endian(const std::byte* p, unsigned n) noexcept {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(p[i]);
  return v;
}

// Bytes of argument that follow the initial byte for additional info 24..27.
constexpr unsigned arg_bytes(std::uint8_t info) noexcept { return 1u << (info - 24); }

}  // namespace

Head head_at(const std::byte* p) noexcept {
  const auto b = std::to_integer<std::uint8_t>(p[0]);
  Head h;
  h.major = static_cast<std::uint8_t>(b >> 5);
  h.info = static_cast<std::uint8_t>(b & 0x1F);
  if (h.info < 24) {
    h.arg = h.info;
  } else {  // validated: 24..27
    const unsigned n = arg_bytes(h.info);
    h.arg = big_endian(p + 1, n);
    h.size = 1 + n;
  }
  return h;
}

Type type_of(const Head& h) noexcept {
  switch (h.major) {
    case 0:
    case 1: return Type::integer;
    case 2: return Type::bytes;
    case 3: return Type::string;
    case 4: return Type::array;
    case 5: return Type::object;
    default: break;
  }
  if (h.info == 20 || h.info == 21) return Type::boolean;
  if (h.info == 22) return Type::null;
  return Type::real;
}

std::size_t item_end(std::span<const std::byte> bytes, std::size_t pos) noexcept {
  // Items still to skip: a container adds its children. Validated input keeps
  // this bounded by the item's length.
  std::uint64_t pending = 1;
  while (pending > 0) {
    const Head h = head_at(bytes.data() + pos);
    --pending;
    pos += h.size;
    if (h.major == 2 || h.major == 3) pos += static_cast<std::size_t>(h.arg);
    else if (h.major == 4) pending += h.arg;
    else if (h.major == 5) pending += 2 * h.arg;
  }
  return pos;
}

double half_to_double(std::uint16_t h) noexcept {
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  double v;
  if (exp == 0) v = std::ldexp(mant, -24);                  // subnormal (and zero)
  else if (exp == 31) v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(mant + 1024, exp - 25);               // 1.mant * 2^(exp-15)
  return (h & 0x8000) ? -v : v;
}

double real_at(const std::byte*, const Head& h) noexcept {
  if (h.info == 25) return half_to_double(static_cast<std::uint16_t>(h.arg));
  if (h.info == 26) return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(h.arg)));
  return std::bit_cast<double>(h.arg);
}

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    unsigned len, cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }       // C0, C1: overlong
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }  // F5..: above U+10FFFF
    else return false;                                            // continuation or invalid lead
    if (n - i < len) return false;
    for (unsigned k = 1; k < len; ++k) {
      const unsigned cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;  // overlong, surrogate
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Validation

namespace {

using detail::Head;

// One open array or object on the parse stack.
struct Frame {
  std::uint32_t left = 0;      // items still expected (an object member is two)
  std::uint32_t first = 0;     // offset of the first member (objects: duplicate check)
  bool object = false;
};

// Decodes and checks the head at `pos` (bounds, reserved info, subset).
Result<Head> read_head(std::span<const std::byte> in, std::size_t pos) noexcept {
  const auto b = std::to_integer<std::uint8_t>(in[pos]);
  Head h;
  h.major = static_cast<std::uint8_t>(b >> 5);
  h.info = static_cast<std::uint8_t>(b & 0x1F);
  if (h.major == 6) return fail(Errc::invalid_argument);  // tags are outside the subset
  if (h.info >= 28 && h.info <= 30) return fail(Errc::corrupt);  // reserved
  if (h.info == 31) {
    // Indefinite lengths are well-formed CBOR ferrite refuses; a break or an
    // indefinite integer is malformed.
    if (h.major >= 2 && h.major <= 5) return fail(Errc::invalid_argument);
    return fail(Errc::corrupt);
  }
  if (h.info < 24) {
    h.arg = h.info;
  } else {
    const unsigned n = 1u << (h.info - 24);
    if (in.size() - pos - 1 < n) return fail(Errc::corrupt);
    h.arg = 0;
    for (unsigned i = 0; i < n; ++i) h.arg = (h.arg << 8) | std::to_integer<std::uint8_t>(in[pos + 1 + i]);
    h.size = static_cast<std::uint32_t>(1 + n);
  }
  if (h.major == 7) {
    const bool simple_ok = h.info == 20 || h.info == 21 || h.info == 22;
    const bool float_ok = h.info >= 25 && h.info <= 27;
    if (!simple_ok && !float_ok) return fail(Errc::invalid_argument);  // undefined, simple values
  }
  if ((h.major == 0 || h.major == 1) && h.arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return fail(Errc::invalid_argument);  // outside int64
  return h;
}

// Compares the text key at `a` with the one at `b` (both validated heads).
bool same_key(std::span<const std::byte> in, std::size_t a, std::size_t b) noexcept {
  const Head ha = detail::head_at(in.data() + a);
  const Head hb = detail::head_at(in.data() + b);
  return ha.arg == hb.arg && std::memcmp(in.data() + a + ha.size, in.data() + b + hb.size, ha.arg) == 0;
}

// Whether the key at `key` repeats one of the members that start at `first`.
// O(members) per key: quadratic within one object, bounded by max_items.
bool duplicate_key(std::span<const std::byte> in, std::size_t first, std::size_t key) noexcept {
  std::size_t pos = first;
  while (pos < key) {
    if (same_key(in, pos, key)) return true;
    pos = detail::item_end(in, pos);  // the key
    pos = detail::item_end(in, pos);  // its value
  }
  return false;
}

class Parser {
 public:
  Parser(std::span<const std::byte> in, const Limits& l) noexcept
      : in_(in), max_depth_(std::min(l.max_depth, max_parse_depth)), max_items_(l.max_items) {}

  Status run() noexcept {
    if (in_.empty()) return fail(Errc::corrupt);
    do {
      if (pos_ >= in_.size()) return fail(Errc::corrupt);  // truncated
      if (auto s = item(); !s) return s;
      close_finished();
    } while (depth_ > 0);
    if (pos_ != in_.size()) return fail(Errc::corrupt);  // trailing bytes
    return {};
  }

 private:
  // Validates one head (and the payload of strings); opens containers.
  Status item() noexcept {
    const std::size_t start = pos_;
    auto h = read_head(in_, pos_);
    if (!h) return fail(h.error());
    const bool is_key = depth_ > 0 && stack_[depth_ - 1].object && stack_[depth_ - 1].left % 2 == 0;
    if (is_key && h->major != 3) return fail(Errc::invalid_argument);  // keys are text
    if (depth_ > 0) --stack_[depth_ - 1].left;
    pos_ += h->size;
    switch (h->major) {
      case 2:
      case 3: return payload(*h, start, is_key);
      case 4:
      case 5: return open(*h);
      default: return {};
    }
  }

  Status payload(const Head& h, std::size_t start, bool is_key) noexcept {
    if (h.arg > in_.size() - pos_) return fail(Errc::corrupt);
    const std::string_view text(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<std::size_t>(h.arg));
    pos_ += static_cast<std::size_t>(h.arg);
    if (h.major == 3 && !detail::valid_utf8(text)) return fail(Errc::invalid_argument);
    if (is_key && duplicate_key(in_, stack_[depth_ - 1].first, start)) return fail(Errc::invalid_argument);
    return {};
  }

  Status open(const Head& h) noexcept {
    if (h.arg > max_items_) return fail(Errc::too_large);
    const std::uint64_t items = h.major == 5 ? 2 * h.arg : h.arg;
    if (items > in_.size() - pos_) return fail(Errc::corrupt);  // each item takes a byte at least
    if (depth_ + 1u > max_depth_) return fail(Errc::too_large);  // empty containers nest too
    if (items == 0) return {};
    stack_[depth_++] = Frame{static_cast<std::uint32_t>(items), static_cast<std::uint32_t>(pos_), h.major == 5};
    return {};
  }

  void close_finished() noexcept {
    while (depth_ > 0 && stack_[depth_ - 1].left == 0) --depth_;
  }

  std::span<const std::byte> in_;
  std::uint32_t max_depth_;
  std::uint32_t max_items_;
  std::size_t pos_ = 0;
  std::uint32_t depth_ = 0;
  std::array<Frame, max_parse_depth> stack_{};
};

}  // namespace

Result<View> View::parse(std::span<const std::byte> bytes, const Limits& limits) noexcept {
  if (bytes.size() > limits.max_size) return fail(Errc::too_large);
  // The top level is depth 1 even for a scalar.
  if (limits.max_depth == 0) return fail(Errc::too_large);
  Parser p(bytes, limits);
  if (auto s = p.run(); !s) return fail(s.error());
  return View(bytes, detail::type_of(detail::head_at(bytes.data())));
}

// ---------------------------------------------------------------------------
// Accessors

bool View::boolean() const noexcept {
  return type_ == Type::boolean && raw_[0] == std::byte{0xF5};
}

std::int64_t View::integer() const noexcept {
  if (type_ != Type::integer) return 0;
  const auto h = detail::head_at(raw_.data());
  return h.major == 0 ? static_cast<std::int64_t>(h.arg) : static_cast<std::int64_t>(~h.arg);  // -1 - arg
}

double View::real() const noexcept {
  if (type_ != Type::real) return 0;
  return detail::real_at(raw_.data(), detail::head_at(raw_.data()));
}

double View::number() const noexcept {
  return type_ == Type::integer ? static_cast<double>(integer()) : real();
}

std::string_view View::string() const noexcept {
  if (type_ != Type::string) return {};
  const auto h = detail::head_at(raw_.data());
  return {reinterpret_cast<const char*>(raw_.data() + h.size), static_cast<std::size_t>(h.arg)};
}

std::span<const std::byte> View::bytes() const noexcept {
  if (type_ != Type::bytes) return {};
  const auto h = detail::head_at(raw_.data());
  return raw_.subspan(h.size, static_cast<std::size_t>(h.arg));
}

std::uint32_t View::size() const noexcept {
  if (type_ != Type::array && type_ != Type::object) return 0;
  return static_cast<std::uint32_t>(detail::head_at(raw_.data()).arg);
}

View::Children View::children() const noexcept {
  Children c;
  if (type_ != Type::array && type_ != Type::object) return c;
  const auto h = detail::head_at(raw_.data());
  c.rest_ = raw_.subspan(h.size);
  c.left_ = static_cast<std::uint32_t>(h.arg);
  c.object_ = type_ == Type::object;
  return c;
}

bool View::Children::next() noexcept {
  if (left_ == 0) {
    key_ = {};
    value_ = View();
    return false;
  }
  --left_;
  std::size_t pos = 0;
  if (object_) {
    const auto h = detail::head_at(rest_.data());
    key_ = {reinterpret_cast<const char*>(rest_.data() + h.size), static_cast<std::size_t>(h.arg)};
    pos = h.size + static_cast<std::size_t>(h.arg);
  }
  const std::size_t end = detail::item_end(rest_, pos);
  value_ = View(rest_.subspan(pos, end - pos), detail::type_of(detail::head_at(rest_.data() + pos)));
  rest_ = rest_.subspan(end);
  return true;
}

View View::at(std::uint32_t i) const noexcept {
  if (type_ != Type::array || i >= size()) return {};
  auto c = children();
  for (std::uint32_t k = 0; k <= i; ++k) c.next();
  return c.value();
}

View View::get(std::string_view key) const noexcept {
  if (type_ != Type::object) return {};
  auto c = children();
  while (c.next())
    if (c.key() == key) return c.value();
  return {};
}

namespace {

// A path component as an array index: decimal digits only, within uint32.
std::optional<std::uint32_t> index_of(std::string_view s) noexcept {
  if (s.empty() || s.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 0xFFFFFFFFu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

}  // namespace

View View::path(std::string_view dotted) const noexcept {
  View cur = *this;
  if (dotted.empty()) return cur;
  while (cur.valid()) {
    const std::size_t dot = dotted.find('.');
    const std::string_view part = dotted.substr(0, dot);
    if (cur.type_ == Type::object) {
      cur = cur.get(part);
    } else if (auto i = index_of(part); i && cur.type_ == Type::array) {
      cur = cur.at(*i);
    } else {
      return {};
    }
    if (dot == std::string_view::npos) return cur;
    dotted.remove_prefix(dot + 1);
  }
  return cur;
}

}  // namespace ferrite::doc
