// Keys and values read from a file for create and import: the CSV of
// ESP-IDF's nvs_partition_gen, and the JSON that export writes.
#pragma once

namespace ferrite::tool {

struct InputRecord {
  std::size_t line = 0;   ///< where the record starts in its file (1-based)
  std::size_t column = 0;
  std::vector<std::byte> key;
  TypedValue value;
};

/// "FILE line L, column C (key K): " for an error about `r`.
std::string where(const std::string& file, const InputRecord& r);
/// Line and column (1-based) of byte `offset` of `text`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset);

/// CSV: a header row naming key,type,encoding,value; rows of type
/// namespace (its key prefixes the following keys as NAMESPACE/KEY), data
/// (encoding u8 i8 u16 i16 u32 i32 u64 i64 float double bool string hex2bin
/// base64) or file (encoding string, hex2bin, base64 or binary; the value
/// is a path, relative to the CSV's directory). Errors (usage) name the
/// line and column, and the key when there is one.
Checked<std::vector<InputRecord>> parse_nvs_csv(std::string_view text, const std::string& file);

/// The export format (docs/TOOL.md). Errors (usage) name the line and
/// column: RapidJSON's parse errors, and every entry that is not a valid
/// key/value.
Checked<std::vector<InputRecord>> parse_export_json(std::string_view text, const std::string& file);

/// The store's keys and values as export JSON. Errors: the store's
/// (damage: 1), a store whose key names are hidden (usage).
struct ImageSession;
Checked<std::string> export_json(ImageSession& session);

}  // namespace ferrite::tool
