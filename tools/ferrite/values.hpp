// Values as the command line and the export format spell them: type names,
// text to bytes and back, hex and base64.
#pragma once

namespace ferrite::tool {

/// A value and the type it is stored with (untyped: put's plain bytes).
struct TypedValue {
  ValueType type = ValueType::untyped;
  std::vector<std::byte> bytes;  ///< little-endian for numbers, as the store holds them
};

/// u8 i8 u16 i16 u32 i32 u64 i64 float double bool string blob untyped.
std::optional<ValueType> value_type_named(std::string_view name);
/// The size a type's values have (0: any size).
std::size_t fixed_size_of(ValueType t);

/// Text of a value of type `type_name`: a number type, bool (true/false/1/0),
/// string (the text itself), hex and blob (hex digits; hex is untyped).
/// Errors (usage): the text is not such a value; the message says why.
Checked<TypedValue> parse_value(std::string_view type_name, std::string_view text);
/// An integer of type `t` from a signed or unsigned 64-bit number (JSON).
Checked<TypedValue> integer_value(ValueType t, bool negative, std::uint64_t magnitude);
/// A float or double from a double.
TypedValue floating_value(ValueType t, double v);

/// Numbers and bools as text (doubles and floats in the shortest form that
/// reads back to the same bits); string as it is; others as hex.
std::string format_value(const TypedValue& v);

std::string to_hex(std::span<const std::byte> bytes);
std::optional<std::vector<std::byte>> from_hex(std::string_view text);
std::string to_base64(std::span<const std::byte> bytes);
std::optional<std::vector<std::byte>> from_base64(std::string_view text);
/// Whether `bytes` is valid UTF-8 without control characters but tab and newline.
bool is_clean_utf8(std::span<const std::byte> bytes);

}  // namespace ferrite::tool
