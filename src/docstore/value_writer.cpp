// Writing canonical CBOR (docs/FORMAT.md §8) into caller storage: shortest
// heads, the shortest float that keeps the value, open-ended containers whose
// count is patched in place when they end.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

namespace {

// The shortest head for (major, n) into `buf`; returns its length (1..9).
std::size_t encode_head(std::uint8_t major, std::uint64_t n, std::byte* buf) noexcept {
  const auto m = static_cast<std::uint8_t>(major << 5);
  unsigned len;
  std::uint8_t info;
  if (n < 24) { buf[0] = std::byte(m | n); return 1; }
  if (n <= 0xFF) { info = 24; len = 1; }
  else if (n <= 0xFFFF) { info = 25; len = 2; }
  else if (n <= 0xFFFFFFFFu) { info = 26; len = 4; }
  else { info = 27; len = 8; }
  buf[0] = std::byte(m | info);
  for (unsigned i = 0; i < len; ++i) buf[1 + i] = std::byte(static_cast<std::uint8_t>(n >> (8 * (len - 1 - i))));
  return 1 + len;
}

// `f` as an IEEE half when that keeps its value exactly (zero, normal or
// subnormal half); infinities and NaN are handled by the caller.
std::optional<std::uint16_t> exact_half(float f) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const int exp = static_cast<int>((bits >> 23) & 0xFF);
  const std::uint32_t mant = bits & 0x7FFFFF;
  if (exp == 0 && mant == 0) return sign;                 // ±0
  if (exp == 0) return std::nullopt;                      // float subnormals are below every half
  const int e = exp - 127;
  if (e > 15) return std::nullopt;
  if (e >= -14) {                                         // a normal half: 10 mantissa bits
    if (mant & 0x1FFF) return std::nullopt;
    return static_cast<std::uint16_t>(sign | ((e + 15) << 10) | (mant >> 13));
  }
  if (e < -24) return std::nullopt;
  // A subnormal half is k * 2^-24: the full significand shifted, losing nothing.
  const std::uint32_t sig = 0x800000 | mant;
  const int shift = -(e + 1);                             // 14..23
  if (sig & ((1u << shift) - 1)) return std::nullopt;
  return static_cast<std::uint16_t>(sign | (sig >> shift));
}

}  // namespace

void Writer::put(std::span<const std::byte> b) noexcept {
  if (error_ != Errc::ok) return;
  if (b.size() > out_.size() - used_) return error(Errc::buffer_too_small);
  if (!b.empty()) std::memcpy(out_.data() + used_, b.data(), b.size());
  used_ += b.size();
}

void Writer::head(std::uint8_t major, std::uint64_t n) noexcept {
  std::byte buf[9];
  put({buf, encode_head(major, n, buf)});
}

bool Writer::room(std::size_t payload) noexcept {
  std::byte buf[9];
  const std::size_t need = encode_head(0, payload, buf) + payload;
  if (payload > out_.size() || need > out_.size() - used_) {
    error(Errc::buffer_too_small);
    return false;
  }
  return true;
}

void Writer::counted() noexcept {
  if (depth_ > 0) ++open_[depth_ - 1].count;
}

bool Writer::ready(bool text) noexcept {
  if (error_ != Errc::ok) return false;
  if (depth_ == 0 && used_ > 0) {  // a document is one item
    error(Errc::invalid_argument);
    return false;
  }
  if (depth_ > 0 && open_[depth_ - 1].object && open_[depth_ - 1].count % 2 == 0 && !text) {
    error(Errc::invalid_argument);  // a member without a key
    return false;
  }
  return true;
}

void Writer::finished() noexcept {
  // The item that just ended may fill its container, whose end may fill the next.
  while (depth_ > 0 && open_[depth_ - 1].expected != 0xFFFFFFFFu && open_[depth_ - 1].count == open_[depth_ - 1].expected)
    --depth_;
}

Writer& Writer::null() noexcept {
  if (!ready(false)) return *this;
  counted();
  put(std::as_bytes(std::span("\xF6", 1)));
  finished();
  return *this;
}

Writer& Writer::boolean(bool v) noexcept {
  if (!ready(false)) return *this;
  counted();
  put(std::as_bytes(std::span(v ? "\xF5" : "\xF4", 1)));
  finished();
  return *this;
}

Writer& Writer::integer(std::int64_t v) noexcept {
  if (!ready(false)) return *this;
  counted();
  if (v >= 0) head(0, static_cast<std::uint64_t>(v));
  else head(1, ~static_cast<std::uint64_t>(v));  // -1 - v without overflow
  finished();
  return *this;
}

Writer& Writer::real(double v) noexcept {
  if (!ready(false)) return *this;
  counted();
  std::byte buf[9];
  std::size_t len;
  if (std::isnan(v)) {  // every NaN is the canonical quiet NaN
    buf[0] = std::byte{0xF9}; buf[1] = std::byte{0x7E}; buf[2] = std::byte{0x00};
    len = 3;
  } else if (std::isinf(v)) {
    buf[0] = std::byte{0xF9}; buf[1] = v < 0 ? std::byte{0xFC} : std::byte{0x7C}; buf[2] = std::byte{0x00};
    len = 3;
  } else {
    const auto f = static_cast<float>(v);
    // Bitwise, so that -0.0 keeps its sign.
    const bool single = std::bit_cast<std::uint64_t>(static_cast<double>(f)) == std::bit_cast<std::uint64_t>(v);
    const auto half = single ? exact_half(f) : std::nullopt;
    std::uint64_t bits;
    unsigned n;
    if (half) { buf[0] = std::byte{0xF9}; bits = *half; n = 2; }
    else if (single) { buf[0] = std::byte{0xFA}; bits = std::bit_cast<std::uint32_t>(f); n = 4; }
    else { buf[0] = std::byte{0xFB}; bits = std::bit_cast<std::uint64_t>(v); n = 8; }
    for (unsigned i = 0; i < n; ++i) buf[1 + i] = std::byte(static_cast<std::uint8_t>(bits >> (8 * (n - 1 - i))));
    len = 1 + n;
  }
  put({buf, len});
  finished();
  return *this;
}

Writer& Writer::string(std::string_view v) noexcept {
  if (!ready(true)) return *this;
  if (!detail::valid_utf8(v)) {
    error(Errc::invalid_argument);
    return *this;
  }
  if (!room(v.size())) return *this;
  counted();
  head(3, v.size());
  put(std::as_bytes(std::span(v.data(), v.size())));
  finished();
  return *this;
}

Writer& Writer::bytes(std::span<const std::byte> v) noexcept {
  if (!ready(false)) return *this;
  if (!room(v.size())) return *this;
  counted();
  head(2, v.size());
  put(v);
  finished();
  return *this;
}

Writer& Writer::array(std::uint32_t n) noexcept {
  if (!ready(false)) return *this;
  counted();
  const auto at = static_cast<std::uint32_t>(used_);
  head(4, n);
  if (error_ != Errc::ok) return *this;
  if (depth_ == open_.size()) {
    error(Errc::too_large);
    return *this;
  }
  if (n == 0) {
    finished();
    return *this;
  }
  open_[depth_++] = Open{at, 0, n, false};
  return *this;
}

Writer& Writer::object(std::uint32_t n) noexcept {
  if (!ready(false)) return *this;
  if (n >= 0x7FFFFFFFu) {  // 2n items must fit the count (and stay apart from open-ended)
    error(Errc::too_large);
    return *this;
  }
  counted();
  const auto at = static_cast<std::uint32_t>(used_);
  head(5, n);
  if (error_ != Errc::ok) return *this;
  if (depth_ == open_.size()) {
    error(Errc::too_large);
    return *this;
  }
  if (n == 0) {
    finished();
    return *this;
  }
  open_[depth_++] = Open{at, 0, 2 * n, true};
  return *this;
}

Writer& Writer::begin_array() noexcept {
  if (!ready(false)) return *this;
  if (depth_ == open_.size()) {
    error(Errc::too_large);
    return *this;
  }
  counted();
  const auto at = static_cast<std::uint32_t>(used_);
  head(4, 0);  // a one-byte placeholder; end() widens it if needed
  if (error_ != Errc::ok) return *this;
  open_[depth_++] = Open{at, 0, 0xFFFFFFFFu, false};
  return *this;
}

Writer& Writer::begin_object() noexcept {
  if (!ready(false)) return *this;
  if (depth_ == open_.size()) {
    error(Errc::too_large);
    return *this;
  }
  counted();
  const auto at = static_cast<std::uint32_t>(used_);
  head(5, 0);
  if (error_ != Errc::ok) return *this;
  open_[depth_++] = Open{at, 0, 0xFFFFFFFFu, true};
  return *this;
}

Writer& Writer::end() noexcept {
  if (error_ != Errc::ok) return *this;
  if (depth_ == 0 || open_[depth_ - 1].expected != 0xFFFFFFFFu || (open_[depth_ - 1].object && open_[depth_ - 1].count % 2)) {
    // No open container, a known count not reached, or a key without a value.
    error(Errc::invalid_argument);
    return *this;
  }
  const Open o = open_[depth_ - 1];
  std::byte buf[9];
  const std::size_t len = encode_head(o.object ? 5 : 4, o.object ? o.count / 2 : o.count, buf);
  if (len > 1) {
    // The placeholder head was one byte: move the contents to make room.
    if (len - 1 > out_.size() - used_) {
      error(Errc::buffer_too_small);
      return *this;
    }
    std::memmove(out_.data() + o.at + len, out_.data() + o.at + 1, used_ - o.at - 1);
    used_ += len - 1;
  }
  std::memcpy(out_.data() + o.at, buf, len);
  --depth_;
  finished();
  return *this;
}

Writer& Writer::value(const View& v) noexcept {
  if (error_ != Errc::ok) return *this;
  if (!v.valid()) {
    error(Errc::invalid_argument);
    return *this;
  }
  // Token by token: the known counts make the Writer close each container.
  const auto raw = v.raw();
  std::size_t pos = 0;
  std::uint64_t pending = 1;
  while (pending > 0 && error_ == Errc::ok) {
    const auto h = detail::head_at(raw.data() + pos);
    const auto* body = raw.data() + pos + h.size;
    --pending;
    pos += h.size;
    switch (h.major) {
      case 0: integer(static_cast<std::int64_t>(h.arg)); break;
      case 1: integer(static_cast<std::int64_t>(~h.arg)); break;
      case 2:
        bytes({body, static_cast<std::size_t>(h.arg)});
        pos += static_cast<std::size_t>(h.arg);
        break;
      case 3:
        string({reinterpret_cast<const char*>(body), static_cast<std::size_t>(h.arg)});
        pos += static_cast<std::size_t>(h.arg);
        break;
      case 4: array(static_cast<std::uint32_t>(h.arg)); pending += h.arg; break;
      case 5: object(static_cast<std::uint32_t>(h.arg)); pending += 2 * h.arg; break;
      default:
        if (h.info == 20 || h.info == 21) boolean(h.info == 21);
        else if (h.info == 22) null();
        else real(detail::real_at(raw.data(), h));
        break;
    }
  }
  return *this;
}

Result<View> Writer::finish() noexcept {
  if (error_ != Errc::ok) return fail(error_);
  if (depth_ > 0 || used_ == 0) return fail(Errc::invalid_argument);
  Limits l;
  l.max_depth = static_cast<std::uint32_t>(open_.size());
  l.max_size = static_cast<std::uint32_t>(std::min<std::size_t>(used_, 0xFFFFFFFFu));
  l.max_items = 0xFFFFFFFFu;
  return View::parse(written(), l);
}

Result<std::size_t> canonical(const View& v, std::span<std::byte> out) noexcept {
  Writer w(out);
  w.value(v);
  if (auto s = w.status(); !s) return fail(s.error());
  return w.size();
}

}  // namespace ferrite::doc
