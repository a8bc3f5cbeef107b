// export and import: the whole store as JSON.
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
#include "input_records.hpp"
#include "store_writes.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

Checked<int> run_export(const ParsedArgs& args) {
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  auto json = export_json(**s);
  if (!json) return json.error();
  if (const auto out = args.value("out")) {
    if (auto w = write_file(*out, bytes_of(*json)); !w) return w.error();
  } else {
    std::fwrite(json->data(), 1, json->size(), stdout);
  }
  return exit_ok;
}

/// Erases every key of the store that `records` does not hold.
CheckedDone erase_others(ImageSession& session, std::span<const InputRecord> records) {
  Store& store = session.store();
  std::vector<std::vector<std::byte>> keep;
  for (const InputRecord& r : records) keep.push_back(r.key);
  std::sort(keep.begin(), keep.end());
  std::vector<std::vector<std::byte>> drop;
  auto cursor = store.scan();
  while (true) {
    auto step = sync_wait(cursor.next());
    if (!step) return store_error(session, step.error(), "listing keys");
    if (!*step) break;
    std::vector<std::byte> k(cursor.key().begin(), cursor.key().end());
    if (!std::binary_search(keep.begin(), keep.end(), k)) drop.push_back(std::move(k));
  }
  for (const auto& k : drop)
    if (const Status e = sync_wait(store.erase(k)); !e)
      return store_error(session, e.error(), fmt::format("erasing '{}'", key_display(k)));
  return done();
}

Checked<int> run_import(const ParsedArgs& args) {
  const std::string& file = args.positionals[1];
  auto records = read_records(file);
  if (!records) return records.error();
  auto s = open_image(args.positionals[0], args, true);
  if (!s) return s.error();
  if (args.has("replace")) {
    if ((*s)->store().hides_key_names())
      return usage_error("--replace needs the key names, which this store hides");
    if (auto e = erase_others(**s, *records); !e) return e.error();
  }
  if (auto w = write_records(**s, *records, file); !w) return w.error();
  if (auto c = (*s)->commit(); !c) return c.error();
  return exit_ok;
}

}  // namespace

Command export_command() {
  auto options = image_option_specs();
  options.push_back({"out", "FILE", "write the JSON to FILE instead of standard output"});
  return {"export", "IMAGE [options]", "the whole store as JSON (docs/TOOL.md: typed values round-trip exactly)",
          "Exit 1 when a record is damaged (nothing is written then).", options, 1, 1, run_export};
}

Command import_command() {
  auto options = image_option_specs();
  options.push_back({"replace", "", "also erase the keys FILE does not hold (the store becomes FILE)"});
  return {"import", "IMAGE FILE [options]", "store every key of FILE (export JSON, or nvs_partition_gen CSV)",
          "FILE is read and checked whole before the image is opened; the image is changed only when\n"
          "every key was stored (the command works on a copy).",
          options, 2, 2, run_import};
}

}  // namespace ferrite::tool
