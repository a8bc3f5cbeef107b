// Value text and encodings.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "values.hpp"

namespace ferrite::tool {

namespace {

template <class T>
TypedValue of(T v) {
  TypedValue out{value_type_of<T>(), std::vector<std::byte>(sizeof(T))};
  std::memcpy(out.bytes.data(), &v, sizeof(T));
  return out;
}

template <class T>
T as(std::span<const std::byte> b) {
  T v{};
  std::memcpy(&v, b.data(), sizeof(T));
  return v;
}

struct IntRange {
  bool is_signed;
  std::int64_t min;
  std::uint64_t max;
};

IntRange range_of(ValueType t) {
  switch (t) {
    case ValueType::u8: return {false, 0, 0xFF};
    case ValueType::i8: return {true, -128, 127};
    case ValueType::u16: return {false, 0, 0xFFFF};
    case ValueType::i16: return {true, -32768, 32767};
    case ValueType::u32: return {false, 0, 0xFFFFFFFFu};
    case ValueType::i32: return {true, INT32_MIN, INT32_MAX};
    case ValueType::u64: return {false, 0, UINT64_MAX};
    default: return {true, INT64_MIN, INT64_MAX};
  }
}

bool is_integer(ValueType t) {
  return t == ValueType::u8 || t == ValueType::i8 || t == ValueType::u16 || t == ValueType::i16 ||
         t == ValueType::u32 || t == ValueType::i32 || t == ValueType::u64 || t == ValueType::i64;
}

TypedValue integer_bytes(ValueType t, std::uint64_t twos) {
  TypedValue out{t, std::vector<std::byte>(fixed_size_of(t))};
  for (std::size_t i = 0; i < out.bytes.size(); ++i) out.bytes[i] = static_cast<std::byte>(twos >> (8 * i));
  return out;
}

constexpr char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::optional<ValueType> value_type_named(std::string_view name) {
  for (int t = 0; t <= static_cast<int>(ValueType::blob); ++t)
    if (name == name_of(static_cast<ValueType>(t))) return static_cast<ValueType>(t);
  return std::nullopt;
}

std::size_t fixed_size_of(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
    default: return 0;
  }
}

Checked<TypedValue> integer_value(ValueType t, bool negative, std::uint64_t magnitude) {
  const IntRange r = range_of(t);
  const auto out_of_range = [&] {
    return usage_error(fmt::format("{}{} is out of range for {} ({}..{})", negative ? "-" : "", magnitude, name_of(t),
                                   r.min, r.max));
  };
  if (negative && magnitude != 0) {
    if (!r.is_signed || magnitude > static_cast<std::uint64_t>(-(r.min + 1)) + 1) return out_of_range();
    return integer_bytes(t, ~magnitude + 1);
  }
  if (magnitude > r.max) return out_of_range();
  return integer_bytes(t, magnitude);
}

TypedValue floating_value(ValueType t, double v) {
  return t == ValueType::f32 ? of(static_cast<float>(v)) : of(v);
}

Checked<TypedValue> parse_value(std::string_view type_name, std::string_view text) {
  if (type_name == "hex" || type_name == "blob") {
    auto b = from_hex(text);
    if (!b) return usage_error(fmt::format("'{}' is not hex (pairs of digits 0-9a-f)", text));
    return TypedValue{type_name == "hex" ? ValueType::untyped : ValueType::blob, std::move(*b)};
  }
  const auto t = value_type_named(type_name);
  if (!t || *t == ValueType::untyped)
    return usage_error(fmt::format("unknown type '{}' (u8 i8 u16 i16 u32 i32 u64 i64 float double bool string hex "
                                   "blob file)",
                                   type_name));
  if (*t == ValueType::string) return TypedValue{ValueType::string, {bytes_of(text).begin(), bytes_of(text).end()}};
  if (*t == ValueType::boolean) {
    if (text == "true" || text == "1") return of(true);
    if (text == "false" || text == "0") return of(false);
    return usage_error(fmt::format("'{}' is not a bool (true, false, 1, 0)", text));
  }
  if (is_integer(*t)) {
    std::string_view digits = text;
    const bool negative = !digits.empty() && digits[0] == '-';
    if (negative) digits.remove_prefix(1);
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      base = 16;
      digits.remove_prefix(2);
    }
    std::uint64_t magnitude = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
    if (digits.empty() || end != digits.data() + digits.size())
      return usage_error(fmt::format("'{}' is not an integer", text));
    if (ec == std::errc::result_out_of_range)
      return usage_error(fmt::format("{} is out of range for {}", text, type_name));
    return integer_value(*t, negative, magnitude);
  }
  // float, double
  std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || std::isspace(static_cast<unsigned char>(copy[0])))
    return usage_error(fmt::format("'{}' is not a number", text));
  if (*t == ValueType::f32) {
    const float f = std::strtof(copy.c_str(), nullptr);
    if (std::isinf(f) && !std::isinf(v)) return usage_error(fmt::format("{} is out of range for float", text));
    return of(f);
  }
  return of(v);
}

std::string format_value(const TypedValue& v) {
  const std::span<const std::byte> b = v.bytes;
  if (fixed_size_of(v.type) != 0 && b.size() != fixed_size_of(v.type)) return to_hex(b);
  switch (v.type) {
    case ValueType::u8: return fmt::format("{}", as<std::uint8_t>(b));
    case ValueType::i8: return fmt::format("{}", as<std::int8_t>(b));
    case ValueType::u16: return fmt::format("{}", as<std::uint16_t>(b));
    case ValueType::i16: return fmt::format("{}", as<std::int16_t>(b));
    case ValueType::u32: return fmt::format("{}", as<std::uint32_t>(b));
    case ValueType::i32: return fmt::format("{}", as<std::int32_t>(b));
    case ValueType::u64: return fmt::format("{}", as<std::uint64_t>(b));
    case ValueType::i64: return fmt::format("{}", as<std::int64_t>(b));
    case ValueType::f32: return fmt::format("{}", as<float>(b));
    case ValueType::f64: return fmt::format("{}", as<double>(b));
    case ValueType::boolean: return as<std::uint8_t>(b) ? "true" : "false";
    case ValueType::string: return std::string(text_of(b));
    default: return to_hex(b);
  }
}

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes) {
    out += digits[static_cast<unsigned>(b) >> 4];
    out += digits[static_cast<unsigned>(b) & 15u];
  }
  return out;
}

std::optional<std::vector<std::byte>> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::byte> out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return out;
}

std::string to_base64(std::span<const std::byte> bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = std::uint32_t{static_cast<std::uint8_t>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) n |= std::uint32_t{static_cast<std::uint8_t>(bytes[i + 1])} << 8;
    if (i + 2 < bytes.size()) n |= static_cast<std::uint8_t>(bytes[i + 2]);
    out += base64_chars[(n >> 18) & 63];
    out += base64_chars[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? base64_chars[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? base64_chars[n & 63] : '=';
  }
  return out;
}

std::optional<std::vector<std::byte>> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::vector<std::byte> out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t n = 0;
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + j];
      std::uint32_t v = 0;
      if (c == '=') {
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        const char* p = std::strchr(base64_chars, c);
        if (!p || c == 0) return std::nullopt;
        v = static_cast<std::uint32_t>(p - base64_chars);
      }
      n = (n << 6) | v;
    }
    out.push_back(static_cast<std::byte>(n >> 16));
    if (pad < 2) out.push_back(static_cast<std::byte>(n >> 8));
    if (pad < 1) out.push_back(static_cast<std::byte>(n));
  }
  return out;
}

bool is_clean_utf8(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<std::uint8_t>(bytes[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) return false;
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) extra = 1, cp = c & 0x1Fu;
    else if ((c & 0xF0) == 0xE0) extra = 2, cp = c & 0x0Fu;
    else if ((c & 0xF8) == 0xF0) extra = 3, cp = c & 0x07u;
    else return false;
    if (i + extra >= bytes.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<std::uint8_t>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace ferrite::tool
