// find, insert, export-docs and import-docs: documents of a docstore kept
// in the image's store (ferrite.docstore, docs/DOCSTORE.md), as JSON text.
#include <ctime>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "progress.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

std::int64_t wall_clock(void*) noexcept { return static_cast<std::int64_t>(std::time(nullptr)); }

/// The docstore over a session's store, opened (catalog read, interrupted
/// work finished: on the workspace copy only).
Checked<std::unique_ptr<DocStore>> open_documents(ImageSession& s) {
  DocConfig config;
  config.clock = {&wall_clock, nullptr};
  config.max_document_size = std::min<std::uint32_t>(16384, s.store().value_limit() * 8);
  auto db = std::make_unique<DocStore>(s.store(), config);
  if (const Status o = sync_wait(db->open()); !o) return store_error(s, o.error(), "opening the docstore");
  return db;
}

std::string text_error(std::string_view what, const doc::TextError& where, Errc e) {
  if (where.line)
    return fmt::format("{}: line {}, column {}: {}", what, where.line, where.column,
                       *where.reason ? where.reason : describe(e));
  return fmt::format("{}: {}", what, describe(e));
}

Checked<int> run_find(const ParsedArgs& args) {
  doc::TextError where;
  auto query = doc::Query::from_json(args.positionals[2], &where);
  if (!query) return usage_error(text_error("query", where, query.error()));
  doc::FindOptions options;
  if (const auto limit = args.value("limit")) {
    const auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), options.limit);
    if (ec != std::errc{} || end != limit->data() + limit->size())
      return usage_error(fmt::format("--limit '{}' is not a number", *limit));
  }
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  auto db = open_documents(**s);
  if (!db) return db.error();
  auto cursor = (*db)->find(args.positionals[1], *query, options);
  while (true) {
    auto step = sync_wait(cursor.next());
    if (!step) {
      if (step.error() == Errc::not_found)
        return damage_error(fmt::format("no collection '{}'", args.positionals[1]));
      return store_error(**s, step.error(), "find");
    }
    if (!*step) break;
    auto json = doc::cbor_to_json(cursor.document());
    if (!json) return store_error(**s, json.error(), "document as JSON");
    fmt::print("{}\n", *json);
  }
  return exit_ok;
}

/// Prints (or writes to --out) every document of the collection, one JSON
/// object per line in _id order.
Checked<int> run_export_docs(const ParsedArgs& args) {
  const std::string& collection = args.positionals[1];
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  auto db = open_documents(**s);
  if (!db) return db.error();
  auto stats = sync_wait((*db)->stats(collection));
  if (!stats) {
    if (stats.error() == Errc::not_found) return damage_error(fmt::format("no collection '{}'", collection));
    return store_error(**s, stats.error(), "collection stats");
  }
  std::string lines;
  {
    Progress progress("export-docs", stats->documents);
    auto cursor = (*db)->find(collection, doc::Query{});
    while (true) {
      auto step = sync_wait(cursor.next());
      if (!step) return store_error(**s, step.error(), fmt::format("reading '{}'", collection));
      if (!*step) break;
      auto json = doc::cbor_to_json(cursor.document());
      if (!json) return store_error(**s, json.error(), "document as JSON");
      lines += *json;
      lines += '\n';
      progress.advance();
    }
  }
  if (const auto out = args.value("out")) {
    if (auto w = write_file(*out, bytes_of(lines)); !w) return w.error();
  } else {
    std::fwrite(lines.data(), 1, lines.size(), stdout);
  }
  return exit_ok;
}

/// One line of an import: the document's JSON without the members the
/// docstore assigns itself (_id, _ts, _v), or why the line is refused.
Checked<std::string> import_line(std::string_view line, std::size_t number) {
  // The docstore's own reader first, so its rules (duplicate keys, UTF-8,
  // depth) are reported at their column in this line. CBOR may be larger
  // than its text (a 3-character real takes 9 bytes), hence the room.
  std::vector<std::byte> checked(4 * line.size() + 64);
  doc::TextError where;
  if (auto c = doc::json_to_cbor(line, checked, {}, &where); !c) {
    if (where.line)
      return usage_error(fmt::format("line {}, column {}: {}", number, where.column,
                                     *where.reason ? where.reason : describe(c.error())));
    return usage_error(fmt::format("line {}: {}", number, describe(c.error())));
  }
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(line.data(), line.size());
  if (d.HasParseError())
    return usage_error(fmt::format("line {}, column {}: {}", number, d.GetErrorOffset() + 1,
                                   rapidjson::GetParseError_En(d.GetParseError())));
  if (!d.IsObject()) return usage_error(fmt::format("line {}, column 1: a document is a JSON object", number));
  for (const char* assigned : {"_id", "_ts", "_v"}) d.EraseMember(assigned);  // keeps the members' order
  rapidjson::StringBuffer text;
  rapidjson::Writer<rapidjson::StringBuffer> writer(text);
  d.Accept(writer);
  return std::string(text.GetString(), text.GetSize());
}

/// Inserts every line of a JSON-lines file; all or nothing (the image is
/// replaced only when every document went in).
Checked<int> run_import_docs(const ParsedArgs& args) {
  const std::string& collection = args.positionals[1];
  auto file = read_file(args.positionals[2]);
  if (!file) return file.error();
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  std::vector<std::string> documents;
  std::vector<std::size_t> line_of;
  std::size_t number = 0;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto json = import_line(line, number);
    if (!json) return json.error();
    documents.push_back(std::move(*json));
    line_of.push_back(number);
  }
  auto s = open_image(args.positionals[0], args, true);
  if (!s) return s.error();
  auto db = open_documents(**s);
  if (!db) return db.error();
  std::vector<std::byte> cbor(std::max<std::size_t>((*db)->document_limit(), 1));
  Progress progress("import-docs", documents.size());
  for (std::size_t i = 0; i < documents.size(); ++i) {
    doc::TextError where;
    auto size = doc::json_to_cbor(documents[i], cbor, {}, &where);
    if (!size) {
      if (size.error() == Errc::buffer_too_small || size.error() == Errc::too_large)
        return usage_error(fmt::format("line {}: the document is larger than this store's documents may be ({} bytes)",
                                       line_of[i], cbor.size()));
      return usage_error(fmt::format("line {}: {}", line_of[i], text_error("document", where, size.error())));
    }
    auto view = doc::View::parse(std::span<const std::byte>(cbor).first(*size));
    if (!view) return usage_error(fmt::format("line {}: document: {}", line_of[i], describe(view.error())));
    auto id = sync_wait((*db)->insert(collection, *view));
    if (!id) return store_error(**s, id.error(), fmt::format("line {}: insert into '{}'", line_of[i], collection));
    progress.advance();
  }
  db->reset();
  if (auto c = (*s)->commit(); !c) return c.error();
  fmt::print("{} documents imported into '{}'\n", documents.size(), collection);
  return exit_ok;
}

Checked<int> run_insert(const ParsedArgs& args) {
  const std::string& collection = args.positionals[1];
  std::vector<std::byte> cbor(65536);
  doc::TextError where;
  auto size = doc::json_to_cbor(args.positionals[2], cbor, {}, &where);
  if (!size) return usage_error(text_error("document", where, size.error()));
  auto view = doc::View::parse(std::span<const std::byte>(cbor).first(*size));
  if (!view) return usage_error(fmt::format("document: {}", describe(view.error())));
  auto s = open_image(args.positionals[0], args, true);
  if (!s) return s.error();
  auto db = open_documents(**s);
  if (!db) return db.error();
  auto id = sync_wait((*db)->insert(collection, *view));
  if (!id && id.error() == Errc::not_found) {
    if (const Status c = sync_wait((*db)->create_collection(collection)); !c)
      return store_error(**s, c.error(), fmt::format("creating collection '{}'", collection));
    id = sync_wait((*db)->insert(collection, *view));
  }
  if (!id) return store_error(**s, id.error(), fmt::format("insert into '{}'", collection));
  db->reset();
  if (auto c = (*s)->commit(); !c) return c.error();
  fmt::print("{}\n", *id);
  return exit_ok;
}

}  // namespace

Command find_command() {
  auto options = image_option_specs();
  options.push_back({"limit", "N", "at most N documents"});
  return {"find", "IMAGE COLLECTION QUERY_JSON [options]", "documents of a docstore collection that match a query",
          "QUERY_JSON is MongoDB-style ({\"age\": {\"$gt\": 30}}, {} for all; docs/DOCSTORE.md); one JSON\n"
          "document per line. Exit 1 when the collection does not exist.",
          options, 3, 3, run_find};
}

Command export_docs_command() {
  auto options = image_option_specs();
  options.push_back({"out", "FILE", "write the JSON lines to FILE instead of standard output"});
  return {"export-docs", "IMAGE COLLECTION [options]", "every document of a collection as JSON lines",
          "One JSON object per line in _id order, with _id, _ts and _v (byte strings as base64url\n"
          "text, non-finite reals as null: docs/TOOL.md). Exit 1 when the collection does not exist.",
          options, 2, 2, run_export_docs};
}

Command import_docs_command() {
  return {"import-docs", "IMAGE COLLECTION FILE [options]", "insert every document of a JSON-lines file",
          "One JSON object per line (blank lines skipped); _id, _ts and _v are dropped, the\n"
          "docstore assigns them. Creates the collection when it does not exist. All or nothing:\n"
          "a bad line (named with its column) or a refused document leaves the image as it was.",
          image_option_specs(), 3, 3, run_import_docs};
}

Command insert_command() {
  return {"insert", "IMAGE COLLECTION JSON [options]", "insert one JSON document into a docstore collection",
          "Creates the collection when it does not exist; prints the new document's id. The image\n"
          "is changed only when the insert succeeded.",
          image_option_specs(), 3, 3, run_insert};
}

}  // namespace ferrite::tool
