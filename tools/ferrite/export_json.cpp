// The export format (docs/TOOL.md, "Export JSON"): writing it from a store,
// and reading it back with a line and column for every error.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "values.hpp"
#include "key_text.hpp"
#include "progress.hpp"
#include "input_records.hpp"

namespace ferrite::tool {

namespace {

constexpr int export_version = 1;
constexpr std::string_view export_format_name = "ferrite-export";

std::uint64_t bits_of(const TypedValue& v) {
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < v.bytes.size() && i < 8; ++i) bits |= std::uint64_t{static_cast<std::uint8_t>(v.bytes[i])} << (8 * i);
  return bits;
}

double as_double(const TypedValue& v) {
  if (v.type == ValueType::f32) {
    float f;
    std::memcpy(&f, v.bytes.data(), 4);
    return f;
  }
  double d;
  std::memcpy(&d, v.bytes.data(), 8);
  return d;
}

template <class Writer>
void write_entry(Writer& w, std::span<const std::byte> key, const TypedValue& v) {
  w.StartObject();
  const std::string_view key_text = text_of(key);
  if (is_clean_utf8(key)) {
    w.Key("key");
    w.String(key_text.data(), static_cast<rapidjson::SizeType>(key_text.size()));
  } else {
    w.Key("key_hex");
    w.String(to_hex(key).c_str());
  }
  w.Key("type");
  w.String(name_of(v.type));
  const bool sized = fixed_size_of(v.type) == 0 || fixed_size_of(v.type) == v.bytes.size();
  switch (sized ? v.type : ValueType::untyped) {
    case ValueType::u8: case ValueType::u16: case ValueType::u32: case ValueType::u64:
      w.Key("value");
      w.Uint64(bits_of(v));
      break;
    case ValueType::i8: case ValueType::i16: case ValueType::i32: case ValueType::i64: {
      const unsigned shift = 64 - 8 * static_cast<unsigned>(v.bytes.size());
      w.Key("value");
      w.Int64(static_cast<std::int64_t>(bits_of(v) << shift) >> shift);
      break;
    }
    case ValueType::f32: case ValueType::f64: {
      const double d = as_double(v);
      w.Key("value");
      if (std::isfinite(d)) w.Double(d);
      else w.String(std::isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
      w.Key("bits");
      w.String(fmt::format("{:0{}x}", bits_of(v), 2 * v.bytes.size()).c_str());
      break;
    }
    case ValueType::boolean:
      w.Key("value");
      w.Bool(v.bytes[0] != std::byte{0});
      break;
    case ValueType::string:
      if (is_clean_utf8(v.bytes)) {
        w.Key("value");
        w.String(reinterpret_cast<const char*>(v.bytes.data()), static_cast<rapidjson::SizeType>(v.bytes.size()));
        break;
      }
      [[fallthrough]];
    default:
      w.Key("hex");
      w.String(to_hex(v.bytes).c_str());
      break;
  }
  w.EndObject();
}

/// Offsets of the entry objects: the objects directly inside the root's
/// "keys" array (other members may hold objects and arrays of their own).
struct EntryOffsets : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, EntryOffsets> {
  rapidjson::StringStream* stream = nullptr;
  int depth = 0;
  bool root_key_is_keys = false;  // the root member being read is "keys"
  int keys_depth = -1;            // depth of the "keys" array while inside it
  std::vector<std::size_t> offsets;
  bool Key(const char* name, rapidjson::SizeType length, bool) {
    if (depth == 1) root_key_is_keys = std::string_view(name, length) == "keys";
    return true;
  }
  bool StartObject() {
    ++depth;
    if (keys_depth >= 0 && depth == keys_depth + 1) offsets.push_back(stream->Tell() - 1);
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() {
    ++depth;
    if (depth == 2 && root_key_is_keys) keys_depth = depth;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    if (depth == keys_depth) keys_depth = -1;
    --depth;
    return true;
  }
};

Checked<TypedValue> entry_value(const rapidjson::Value& e, ValueType type) {
  const auto member = [&](const char* name) -> const rapidjson::Value* {
    const auto it = e.FindMember(name);
    return it == e.MemberEnd() ? nullptr : &it->value;
  };
  const rapidjson::Value* value = member("value");
  const rapidjson::Value* hex = member("hex");
  const rapidjson::Value* base64 = member("base64");
  const rapidjson::Value* bits = member("bits");
  if (hex || base64) {
    const rapidjson::Value* enc = hex ? hex : base64;
    if (!enc->IsString()) return usage_error(hex ? "\"hex\" is not a string" : "\"base64\" is not a string");
    const std::string_view text(enc->GetString(), enc->GetStringLength());
    auto b = hex ? from_hex(text) : from_base64(text);
    if (!b) return usage_error(hex ? "\"hex\" is not hex digits" : "\"base64\" is not base64");
    if (fixed_size_of(type) != 0 && b->size() != fixed_size_of(type))
      return usage_error(fmt::format("{} takes {} bytes, \"{}\" holds {}", name_of(type), fixed_size_of(type),
                                     hex ? "hex" : "base64", b->size()));
    return TypedValue{type, std::move(*b)};
  }
  if (type == ValueType::f32 || type == ValueType::f64) {
    const std::size_t size = fixed_size_of(type);
    if (bits) {
      if (!bits->IsString()) return usage_error("\"bits\" is not a string");
      auto b = from_hex(std::string_view(bits->GetString(), bits->GetStringLength()));
      if (!b || b->size() != size)
        return usage_error(fmt::format("\"bits\" is not {} hex digits", 2 * size));
      std::reverse(b->begin(), b->end());  // written most significant first
      return TypedValue{type, std::move(*b)};
    }
    if (!value || !value->IsNumber()) return usage_error(fmt::format("{} needs a number \"value\" or \"bits\"", name_of(type)));
    return floating_value(type, value->GetDouble());
  }
  if (!value) return usage_error(fmt::format("{} needs a \"value\"", name_of(type)));
  switch (type) {
    case ValueType::boolean:
      if (!value->IsBool()) return usage_error("bool needs true or false");
      return TypedValue{type, {std::byte{value->GetBool() ? std::uint8_t{1} : std::uint8_t{0}}}};
    case ValueType::string:
      if (!value->IsString()) return usage_error("string needs a string \"value\"");
      return TypedValue{type, {bytes_of(std::string_view(value->GetString(), value->GetStringLength())).begin(),
                               bytes_of(std::string_view(value->GetString(), value->GetStringLength())).end()}};
    case ValueType::untyped:
    case ValueType::blob:
      return usage_error(fmt::format("{} needs \"hex\" or \"base64\"", name_of(type)));
    default:
      break;
  }
  if (value->IsUint64()) return integer_value(type, false, value->GetUint64());
  if (value->IsInt64()) {
    const std::int64_t v = value->GetInt64();
    return integer_value(type, true, static_cast<std::uint64_t>(-(v + 1)) + 1);
  }
  if (value->IsString()) return parse_value(name_of(type), std::string_view(value->GetString(), value->GetStringLength()));
  return usage_error(fmt::format("{} needs an integer \"value\"", name_of(type)));
}

}  // namespace

Checked<std::vector<InputRecord>> parse_export_json(std::string_view text, const std::string& file) {
  std::string copy(text);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(copy.c_str(), copy.size());
  if (doc.HasParseError()) {
    const auto [line, column] = line_column(text, doc.GetErrorOffset());
    return usage_error(fmt::format("{} line {}, column {}: {}", file, line, column,
                                   rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) return usage_error(fmt::format("{} line 1, column 1: not a JSON object", file));
  const auto version = doc.FindMember("version");
  if (version != doc.MemberEnd() && (!version->value.IsInt() || version->value.GetInt() != export_version))
    return usage_error(fmt::format("{}: export version is not {}", file, export_version));
  const auto keys = doc.FindMember("keys");
  if (keys == doc.MemberEnd() || !keys->value.IsArray())
    return usage_error(fmt::format("{}: no \"keys\" array", file));

  EntryOffsets offsets;
  rapidjson::StringStream stream(copy.c_str());
  offsets.stream = &stream;
  rapidjson::Reader reader;
  reader.Parse(stream, offsets);

  std::vector<InputRecord> out;
  const auto& entries = keys->value.GetArray();
  for (rapidjson::SizeType i = 0; i < entries.Size(); ++i) {
    InputRecord rec;
    const std::size_t offset = i < offsets.offsets.size() ? offsets.offsets[i] : 0;
    std::tie(rec.line, rec.column) = line_column(text, offset);
    const auto at = [&](std::string_view what) {
      return usage_error(fmt::format("{} line {}, column {}{}: {}", file, rec.line, rec.column,
                                     rec.key.empty() ? std::string() : " (key '" + key_display(rec.key) + "')", what));
    };
    const rapidjson::Value& e = entries[i];
    if (!e.IsObject()) return at(fmt::format("entry {} is not an object", i + 1));
    const auto key = e.FindMember("key");
    const auto key_hex = e.FindMember("key_hex");
    if (key != e.MemberEnd() && key->value.IsString()) {
      const std::string_view k(key->value.GetString(), key->value.GetStringLength());
      rec.key.assign(bytes_of(k).begin(), bytes_of(k).end());
    } else if (key_hex != e.MemberEnd() && key_hex->value.IsString()) {
      auto k = from_hex(std::string_view(key_hex->value.GetString(), key_hex->value.GetStringLength()));
      if (!k) return at("\"key_hex\" is not hex digits");
      rec.key = std::move(*k);
    } else {
      return at("no \"key\" (string) or \"key_hex\"");
    }
    if (rec.key.empty()) return at("the key is empty");
    if (rec.key.size() > max_key_size)
      return at(fmt::format("the key is {} bytes, keys hold at most {}", rec.key.size(), max_key_size));
    const auto type = e.FindMember("type");
    if (type == e.MemberEnd() || !type->value.IsString()) return at("no \"type\"");
    const auto t = value_type_named(type->value.GetString());
    if (!t) return at(fmt::format("unknown type '{}'", type->value.GetString()));
    auto v = entry_value(e, *t);
    if (!v) return at(v.error().what);
    rec.value = std::move(*v);
    out.push_back(std::move(rec));
  }
  return out;
}

Checked<std::string> export_json(ImageSession& session) {
  Store& store = session.store();
  if (store.hides_key_names())
    return usage_error("the store hides key names: an export needs the names, which the store does not keep");
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("format");
  w.String(export_format_name.data(), static_cast<rapidjson::SizeType>(export_format_name.size()));
  w.Key("version");
  w.Int(export_version);
  w.Key("keys");
  w.StartArray();
  const StoreStats before = store.stats();
  Progress progress("export", before.keys);
  auto cursor = store.scan();
  std::vector<std::string> unreadable;
  while (true) {
    auto step = sync_wait(cursor.next());
    if (!step) return store_error(session, step.error(), "reading keys");
    if (!*step) break;
    TypedValue v{cursor.type(), std::vector<std::byte>(cursor.value_size())};
    auto got = sync_wait(cursor.read_value(v.bytes));
    progress.advance();
    if (!got) {
      unreadable.push_back(fmt::format("'{}' ({})", key_display(cursor.key()), describe(got.error())));
      continue;
    }
    v.bytes.resize(*got);
    write_entry(w, cursor.key(), v);
  }
  w.EndArray();
  w.EndObject();
  const StoreStats after = store.stats();
  if (!unreadable.empty() || after.corrupt_records > 0) {
    std::string what = fmt::format("the store is damaged: {} corrupt record(s)", after.corrupt_records);
    for (const std::string& u : unreadable) what += ", key " + u;
    return damage_error(what + " (ferrite verify tells more)");
  }
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace ferrite::tool
