// The nvs_partition_gen CSV.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "values.hpp"
#include "key_text.hpp"
#include "input_records.hpp"

namespace ferrite::tool {

namespace {

struct Field {
  std::string text;
  std::size_t column = 0;
};

struct Row {
  std::size_t line = 0;
  std::vector<Field> fields;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

/// RFC 4180 rows: quoted fields may hold commas, newlines and "" for a quote.
Checked<std::vector<Row>> split_rows(std::string_view text, const std::string& file) {
  std::vector<Row> rows;
  std::size_t i = 0, line = 1, line_start = 0;
  while (i < text.size()) {
    Row row;
    row.line = line;
    bool comment = text[i] == '#';
    while (true) {
      Field f;
      f.column = i - line_start + 1;
      if (i < text.size() && text[i] == '"') {
        const std::size_t quote_line = line, quote_col = f.column;
        ++i;
        while (true) {
          if (i >= text.size())
            return usage_error(fmt::format("{} line {}, column {}: unterminated quoted field", file, quote_line,
                                           quote_col));
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              f.text += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
          }
          f.text += text[i++];
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          return usage_error(fmt::format("{} line {}, column {}: text after a closing quote", file, line,
                                         i - line_start + 1));
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') f.text += text[i++];
        f.text = trim(f.text);
      }
      row.fields.push_back(std::move(f));
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
    if (i < text.size() && text[i] == '\r') ++i;
    if (i < text.size() && text[i] == '\n') ++i;
    ++line;
    line_start = i;
    const bool blank = row.fields.size() == 1 && row.fields[0].text.empty();
    if (!comment && !blank) rows.push_back(std::move(row));
  }
  return rows;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

}  // namespace

std::string where(const std::string& file, const InputRecord& r) {
  return fmt::format("{} line {}, column {} (key '{}')", file, r.line, r.column, key_display(r.key));
}

std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

Checked<std::vector<InputRecord>> parse_nvs_csv(std::string_view text, const std::string& file) {
  auto rows = split_rows(text, file);
  if (!rows) return rows.error();
  if (rows->empty()) return usage_error(fmt::format("{}: no header row (key,type,encoding,value)", file));
  const Row& header = rows->front();
  int col_key = -1, col_type = -1, col_encoding = -1, col_value = -1;
  for (std::size_t c = 0; c < header.fields.size(); ++c) {
    const std::string name = lower(header.fields[c].text);
    if (name == "key") col_key = static_cast<int>(c);
    else if (name == "type") col_type = static_cast<int>(c);
    else if (name == "encoding") col_encoding = static_cast<int>(c);
    else if (name == "value") col_value = static_cast<int>(c);
  }
  if (col_key < 0 || col_type < 0 || col_encoding < 0 || col_value < 0)
    return usage_error(fmt::format("{} line {}: the header row must name the columns key,type,encoding,value", file,
                                   header.line));
  std::vector<InputRecord> out;
  std::string ns;
  for (std::size_t r = 1; r < rows->size(); ++r) {
    const Row& row = (*rows)[r];
    const auto field = [&](int c) -> const Field& {
      static const Field empty{};
      return static_cast<std::size_t>(c) < row.fields.size() ? row.fields[c] : empty;
    };
    const Field& key = field(col_key);
    const std::string type = lower(field(col_type).text);
    const std::string encoding = lower(field(col_encoding).text);
    const Field& value = field(col_value);
    const auto at = [&](const Field& f) {
      return fmt::format("{} line {}, column {}", file, row.line, f.column ? f.column : 1);
    };
    if (key.text.empty()) return usage_error(at(key) + ": empty key");
    if (type == "namespace") {
      ns = key.text;
      continue;
    }
    InputRecord rec;
    rec.line = row.line;
    rec.column = key.column;
    const std::string name = ns.empty() ? key.text : ns + "/" + key.text;
    rec.key.assign(bytes_of(name).begin(), bytes_of(name).end());
    const std::string here = fmt::format("{} (key '{}')", at(value), name);
    if (rec.key.size() > max_key_size)
      return usage_error(fmt::format("{} (key '{}'): the key is {} bytes, keys hold at most {}", at(key), name,
                                     rec.key.size(), max_key_size));
    std::string content = value.text;
    if (type == "file") {
      const std::string path = !value.text.empty() && value.text[0] == '/' ? value.text
                                                                          : directory_of(file) + "/" + value.text;
      auto bytes = read_file(path);
      if (!bytes) return usage_error(fmt::format("{}: {}", here, bytes.error().what));
      content.assign(text_of(*bytes));
      if (encoding == "binary") {
        rec.value = {ValueType::untyped, std::move(*bytes)};
        out.push_back(std::move(rec));
        continue;
      }
    } else if (type != "data") {
      return usage_error(fmt::format("{}: type '{}' is not namespace, data or file", at(field(col_type)),
                                     field(col_type).text));
    }
    if (encoding == "hex2bin") {
      auto b = from_hex(trim(content));
      if (!b) return usage_error(here + ": not hex (pairs of digits 0-9a-f)");
      rec.value = {ValueType::untyped, std::move(*b)};
    } else if (encoding == "base64") {
      auto b = from_base64(trim(content));
      if (!b) return usage_error(here + ": not base64");
      rec.value = {ValueType::untyped, std::move(*b)};
    } else if (encoding == "binary") {
      return usage_error(fmt::format("{}: encoding binary needs type file", at(field(col_encoding))));
    } else {
      const std::string t = encoding == "string" ? "string" : encoding;
      const auto known = value_type_named(t);
      if (!known || *known == ValueType::untyped || *known == ValueType::blob)
        return usage_error(fmt::format("{}: unknown encoding '{}' (u8 i8 u16 i16 u32 i32 u64 i64 float double bool "
                                       "string hex2bin base64 binary)",
                                       at(field(col_encoding)), field(col_encoding).text));
      auto v = parse_value(t, content);
      if (!v) return usage_error(fmt::format("{}: {}", here, v.error().what));
      rec.value = std::move(*v);
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace ferrite::tool
