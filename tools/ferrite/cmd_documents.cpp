// find and insert: documents of a docstore kept in the image's store
// (ferrite.docstore, docs/DOCSTORE.md), as JSON text.
#include <ctime>
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

Command insert_command() {
  return {"insert", "IMAGE COLLECTION JSON [options]", "insert one JSON document into a docstore collection",
          "Creates the collection when it does not exist; prints the new document's id. The image\n"
          "is changed only when the insert succeeded.",
          image_option_specs(), 3, 3, run_insert};
}

}  // namespace ferrite::tool
