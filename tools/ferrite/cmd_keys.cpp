// ls, get, put, rm: one key at a time.
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
#include "commands.hpp"

namespace ferrite::tool {

namespace {

/// Why keys cannot be listed in this store, or nothing.
std::optional<std::string> unlistable(Store& store) {
  if (!store.hides_key_names()) return std::nullopt;
  // A store that keeps a plain prefix of each name lists keys as stored;
  // one that hashes whole names answers unsupported to any scan.
  auto probe = store.scan();
  auto step = sync_wait(probe.next());
  if (!step && step.error() == Errc::unsupported)
    return std::string("the store hides key names (it keeps only keyed hashes of them): keys cannot be listed, "
                       "only read by name");
  return std::nullopt;
}

Checked<int> run_ls(const ParsedArgs& args) {
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  Store& store = (*s)->store();
  if (auto why = unlistable(store)) return usage_error(*why);
  std::vector<std::byte> prefix;
  if (args.positionals.size() > 1) prefix.assign(bytes_of(args.positionals[1]).begin(), bytes_of(args.positionals[1]).end());
  struct Row {
    std::string key;
    std::string type;
    std::uint32_t size;
  };
  std::vector<Row> rows;
  auto cursor = store.scan(prefix);
  while (true) {
    auto step = sync_wait(cursor.next());
    if (!step) return store_error(**s, step.error(), "listing keys");
    if (!*step) break;
    rows.push_back({key_display(cursor.key()), name_of(cursor.type()), cursor.value_size()});
  }
  std::size_t width = 3;
  for (const Row& r : rows) width = std::max(width, r.key.size());
  for (const Row& r : rows) fmt::print("{:<{}}  {:<7}  {}\n", r.key, width, r.type, r.size);
  if (store.hides_key_names())
    fmt::print(stderr, "ferrite: ls: the store hides key names: keys are listed as stored (plain prefix, then a "
                       "keyed hash)\n");
  const StoreStats st = store.stats();
  if (st.corrupt_records > 0)
    fmt::print(stderr, "ferrite: ls: {} damaged record(s) skipped (ferrite verify tells more)\n", st.corrupt_records);
  return st.corrupt_records > 0 ? exit_damaged : exit_ok;
}

Checked<int> run_get(const ParsedArgs& args) {
  auto key = key_argument(args.positionals[1]);
  if (!key) return key.error();
  const auto want = args.value("type");
  std::optional<ValueType> want_type;
  if (want) {
    want_type = value_type_named(*want == "hex" ? "untyped" : *want);
    if (!want_type) return usage_error(fmt::format("unknown type '{}'", *want));
  }
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  Store& store = (*s)->store();
  const std::string shown = key_display(*key);
  auto type = sync_wait(store.type_of(*key));
  if (!type) {
    if (type.error() == Errc::not_found) return damage_error(fmt::format("key '{}' not found", shown));
    return store_error(**s, type.error(), fmt::format("key '{}'", shown));
  }
  if (want_type && *want_type != *type)
    return usage_error(fmt::format("key '{}' is {}, not {}", shown, name_of(*type), name_of(*want_type)));
  TypedValue v{*type, {}};
  if (const Status g = sync_wait(store.get_into(*key, v.bytes)); !g)
    return store_error(**s, g.error(), fmt::format("key '{}'", shown));
  if (const auto out = args.value("out")) {
    const std::string text = format_value(v);
    const bool raw = v.type == ValueType::untyped || v.type == ValueType::blob || v.type == ValueType::string;
    if (auto w = write_file(*out, raw ? std::span<const std::byte>(v.bytes) : bytes_of(text)); !w) return w.error();
    return exit_ok;
  }
  fmt::print("{}\n", format_value(v));
  return exit_ok;
}

Checked<int> run_put(const ParsedArgs& args) {
  auto key = key_argument(args.positionals[1]);
  if (!key) return key.error();
  const auto type = args.value("type");
  if (!type) return usage_error("--type is required (u8 i8 u16 i16 u32 i32 u64 i64 float double bool string hex blob file)");
  const std::string& text = args.positionals[2];
  TypedValue value;
  if (*type == "file") {
    auto contents = read_file(text);
    if (!contents) return usage_error("value file " + contents.error().what);
    value.bytes = std::move(*contents);
  } else {
    auto v = parse_value(*type, text);
    if (!v) return usage_error(fmt::format("key '{}': {}", args.positionals[1], v.error().what));
    value = std::move(*v);
  }
  auto s = open_image(args.positionals[0], args, true);
  if (!s) return s.error();
  Store& store = (*s)->store();
  const Status p = value.type == ValueType::untyped ? sync_wait(store.put(*key, value.bytes))
                                                    : sync_wait(store.put_typed(*key, value.type, value.bytes));
  if (!p) return store_error(**s, p.error(), fmt::format("key '{}' ({} bytes)", args.positionals[1], value.bytes.size()));
  if (auto c = (*s)->commit(); !c) return c.error();
  return exit_ok;
}

Checked<int> run_rm(const ParsedArgs& args) {
  auto key = key_argument(args.positionals[1]);
  if (!key) return key.error();
  auto s = open_image(args.positionals[0], args, true);
  if (!s) return s.error();
  const Status e = sync_wait((*s)->store().erase(*key));
  if (!e) {
    if (e.error() == Errc::not_found)
      return damage_error(fmt::format("key '{}' not found", key_display(*key)));
    return store_error(**s, e.error(), fmt::format("key '{}'", key_display(*key)));
  }
  if (auto c = (*s)->commit(); !c) return c.error();
  return exit_ok;
}

}  // namespace

Command ls_command() {
  return {"ls", "IMAGE [PREFIX] [options]", "list keys (with PREFIX: those starting with it): key, type, size",
          "Keys are listed in key order; a key that is not clean UTF-8 shows as hex:.... A sealed store\n"
          "that hides key names cannot be listed (exit 2). Exit 1 when damaged records were skipped.",
          image_option_specs(), 1, 2, run_ls};
}

Command get_command() {
  auto options = image_option_specs();
  options.push_back({"type", "T", "fail (exit 2) unless the value has type T (hex: untyped bytes)"});
  options.push_back({"out", "FILE", "write the value to FILE (bytes for untyped, blob and string values)"});
  return {"get", "IMAGE KEY [options]", "print one key's value",
          "Numbers and bools print as text, doubles and floats in the shortest form that reads back\n"
          "exactly, strings as they are, untyped and blob values as hex. KEY hex:0a0b names a binary\n"
          "key. Exit 1 when the key does not exist.",
          options, 2, 2, run_get};
}

Command put_command() {
  auto options = image_option_specs();
  options.push_back({"type", "T", "u8 i8 u16 i16 u32 i32 u64 i64 float double bool string hex blob file"});
  return {"put", "IMAGE KEY VALUE --type T [options]", "store one key's value",
          "Number types take decimal or 0x hex text; hex takes hex digits and stores untyped bytes,\n"
          "blob the same as a typed blob; file reads VALUE as a path and stores its bytes untyped.\n"
          "The image is changed only when the put succeeded (the command works on a copy).",
          options, 3, 3, run_put};
}

Command rm_command() {
  return {"rm", "IMAGE KEY [options]", "erase one key", "Exit 1 when the key does not exist (the image is unchanged).",
          image_option_specs(), 2, 2, run_rm};
}

}  // namespace ferrite::tool
