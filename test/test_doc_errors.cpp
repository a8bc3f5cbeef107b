// ferrite.docstore's errors, one test each, and what DocStore::last_refusal()
// says about a refused document or query: the limit it met, its size, and
// for a query the fix.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
#include "doc_rig.hpp"

using docrig::arr;
using docrig::DocRig;
using docrig::obj;
using docrig::view;
using ferrite::Errc;
using ferrite::doc::FindOptions;
using ferrite::doc::Query;

namespace {

std::string text(std::size_t n, char c = 'x') { return std::string(n, c); }

bool mentions(const char* reason, std::string_view what) { return std::string_view(reason).find(what) != std::string_view::npos; }

std::int64_t error_of(DocRig& r, std::string_view c, const Query& q, const FindOptions& o = {}) {
  const auto ids = r.ids(c, q, o);
  return ids.empty() ? 0 : ids.back();
}

}  // namespace

// -- last_refusal -------------------------------------------------------------------

TEST_CASE("last_refusal is empty until a document call refuses something", "[docstore][refusal]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"a", 1}}));
  const auto none = r.db->last_refusal();
  CHECK(none.code == Errc::ok);
  CHECK_FALSE(none);
}

TEST_CASE("a document over max_document_size is refused with the limit and at least its size", "[docstore][refusal]") {
  DocRig r(docrig::geometry(8, 4096, 4), 1, 1024);
  r.max_document = 2000;
  REQUIRE(r.fresh());
  const std::string huge = text(2500);
  CHECK(r.insert("blobs", {{"body", std::string_view(huge)}}).error() == Errc::too_large);
  const auto why = r.db->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string_view(why.field) == "document");
  CHECK(why.limit == 2000);
  CHECK(why.value >= 2500);
  CHECK(mentions(why.reason, "max_document_size"));
  // An update that grows a document past the limit says the same.
  CHECK(r.insert("blobs", {{"body", "short"}}));
  const auto grow = obj({{"body", std::string_view(huge)}});
  CHECK(ferrite::sync_wait(r.db->update("blobs", Query{}, view(grow))).error() == Errc::too_large);
  CHECK(std::string_view(r.db->last_refusal().field) == "document");
  CHECK(r.db->last_refusal().value > 2000);
}

TEST_CASE("a document over document_limit() is refused with that limit, its exact size and the batch it must fit",
          "[docstore][refusal]") {
  DocRig r(docrig::geometry(8, 4096, 4), 1, 1024);
  r.max_document = 8000;   // more than one batch of these 4 KiB sectors holds
  REQUIRE(r.fresh());
  const std::uint32_t limit = r.db->document_limit();
  REQUIRE(limit < r.max_document);
  CHECK(limit < r.store->max_batch_bytes());
  const std::string body = text(limit + 100);
  CHECK(r.insert("blobs", {{"body", std::string_view(body)}}).error() == Errc::too_large);
  const auto why = r.db->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string_view(why.field) == "document");
  CHECK(why.limit == limit);
  CHECK(why.value > limit);
  CHECK(why.value < limit + 100 + 40);   // the body, its key and _id, _ts, _v
  CHECK(mentions(why.reason, "max_batch_bytes"));
  // Just under the limit fits.
  const std::string fits = text(limit - 60);
  CHECK(r.insert("blobs", {{"body", std::string_view(fits)}}));
}

TEST_CASE("a document over what 255 parts of value_limit() bytes hold is refused with that limit",
          "[docstore][refusal]") {
  DocRig r(docrig::geometry(8, 65536, 4), 1, 16);   // engine values of 16 bytes, batches of ~64 KiB
  r.max_document = 8000;
  REQUIRE(r.fresh());
  REQUIRE(r.store->value_limit() == 16);
  const std::uint32_t limit = r.db->document_limit();
  CHECK(limit == 255 * 16 - 6);
  const std::string body = text(5000);
  CHECK(r.insert("blobs", {{"body", std::string_view(body)}}).error() == Errc::too_large);
  const auto why = r.db->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string_view(why.field) == "document");
  CHECK(why.limit == limit);
  CHECK(why.value > 5000);
  CHECK(mentions(why.reason, "255 parts"));
  const std::string fits = text(limit - 40);   // 254 chunks and the first part
  auto id = r.insert("blobs", {{"body", std::string_view(fits)}});
  REQUIRE(id);
  CHECK(view(r.get("blobs", *id)).get("body").string() == fits);
}

TEST_CASE("a document with more index entries than max_entries_per_doc names that limit", "[docstore][refusal]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "tags";
  spec.paths[0] = "tags";
  spec.max_entries_per_doc = 2;
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  CHECK(r.insert("c", {{"tags", view(arr({"a", "b", "c"}))}}).error() == Errc::too_large);
  const auto why = r.db->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string_view(why.field) == "index entries");
  CHECK(why.limit == 2);
  CHECK(why.value > 2);
  CHECK(mentions(why.reason, "max_entries_per_doc"));
}

TEST_CASE("a transaction whose writes outgrow one batch commits nothing and names max_batch_bytes",
          "[docstore][refusal][txn]") {
  DocRig r(docrig::geometry(8, 4096, 4), 1, 1024);
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"n", 0}}));
  ferrite::DocTransaction tx(*r.db);
  const std::string body = text(600);
  for (int i = 0; i < 12; ++i) CHECK(ferrite::sync_wait(tx.insert("c", view(obj({{"body", std::string_view(body)}})))));
  CHECK(ferrite::sync_wait(tx.commit()).error() == Errc::too_large);
  const auto why = r.db->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string_view(why.field) == "batch");
  CHECK(why.limit == r.store->max_batch_bytes());
  CHECK(why.value > why.limit);
  CHECK(*ferrite::sync_wait(r.db->count("c", Query{})) == 1);
}

TEST_CASE("a sort without an index or a small enough limit is unsupported, and the refusal names the fix",
          "[docstore][refusal][query]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 5; ++i) CHECK(r.insert("c", {{"n", 5 - i}}));
  FindOptions o;
  o.sort_path = "n";
  CHECK(error_of(r, "c", Query{}, o) == -static_cast<std::int64_t>(Errc::unsupported));
  auto why = r.db->last_refusal();
  CHECK(why.code == Errc::unsupported);
  CHECK(std::string_view(why.field) == "n");
  CHECK(why.value == 0);                         // no limit
  CHECK(why.limit == r.db->config().max_top_k);  // 32 by default
  CHECK(mentions(why.reason, "create_index"));
  CHECK(mentions(why.reason, "max_top_k"));
  o.skip = 30;
  o.limit = 5;
  CHECK(r.explain("c", Query{}, o).error() == Errc::unsupported);
  why = r.db->last_refusal();
  CHECK(why.value == 35);
  // Either fix works: a limit within max_top_k, or an index on the path.
  o.skip = 0;
  CHECK(r.ids("c", Query{}, o) == std::vector<std::int64_t>{5, 4, 3, 2, 1});
  o.limit = 0;
  ferrite::IndexSpec spec;
  spec.name = "n";
  spec.paths[0] = "n";
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  CHECK(r.ids("c", Query::path("n").gte(0), o) == std::vector<std::int64_t>{5, 4, 3, 2, 1});
}

// Hosts always have POSIX <regex.h> (match.cpp picks it at compile time), so
// there the first branch runs; a build without it (the Cortex-M firmware)
// takes the second. The firmware demo does not link the docstore, so no
// test program runs that branch today.
TEST_CASE("regex matches on builds that have it and is unsupported, with a refusal, on builds that do not",
          "[docstore][refusal][query]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"name", "Annika"}}));
  CHECK(r.insert("c", {{"name", "Bob"}}));
  const Query q = Query::path("name").regex("^A");
  if (ferrite::doc::regex_supported()) {
    CHECK(r.ids("c", q) == std::vector<std::int64_t>{1});
    CHECK_FALSE(r.db->last_refusal());
  } else {
    CHECK(error_of(r, "c", q) == -static_cast<std::int64_t>(Errc::unsupported));
    CHECK(std::string_view(r.db->last_refusal().field) == "regex");
  }
}

// -- errors of the calls -----------------------------------------------------------------

TEST_CASE("get into a buffer smaller than the document answers buffer_too_small", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"body", "0123456789"}}));
  std::vector<std::byte> small(8);
  CHECK(ferrite::sync_wait(r.db->get("c", 1, small)).error() == Errc::buffer_too_small);
  std::vector<std::byte> enough(64);
  CHECK(ferrite::sync_wait(r.db->get("c", 1, enough)));
}

TEST_CASE("open() on an unmounted store answers not_mounted", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(ferrite::sync_wait(r.store->format()));
  r.store->unmount();
  ferrite::DocStore db(*r.store);
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::not_mounted);
  CHECK_FALSE(db.is_open());
}

TEST_CASE("open() refuses a docstore of another format version with foreign_format", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"a", 1}}));
  const std::array<std::byte, 2> meta_key{std::byte{0xFE}, std::byte{'M'}};
  const std::array<std::byte, 3> version_9{std::byte{9}, std::byte{0}, std::byte{2}};
  REQUIRE(ferrite::sync_wait(r.store->put(meta_key, version_9)));
  ferrite::DocStore db(*r.store);
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::foreign_format);
  const std::array<std::byte, 12> too_long{std::byte{1}};  // a meta value of another size
  REQUIRE(ferrite::sync_wait(r.store->put(meta_key, too_long)));
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::foreign_format);
}

TEST_CASE("open() on an index-less store answers unsupported (it cannot scan)", "[docstore][errors]") {
  auto g = docrig::geometry();
  ferrite::sim::SimFlash sim(g, 1);
  ferrite::Flash flash(sim);
  std::array<ferrite::SectorInfo, 8> sectors{};
  ferrite::StoreConfig cfg;
  cfg.sectors = sectors;   // no index: an index-less store
  ferrite::Store store(flash, cfg);
  REQUIRE(ferrite::sync_wait(store.format()));
  ferrite::DocStore db(store);
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::unsupported);
}

TEST_CASE("open() with a workspace smaller than workspace_needed() answers invalid_argument", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(ferrite::sync_wait(r.store->format()));
  std::vector<std::byte> workspace(ferrite::workspace_needed(1024) - 1);
  ferrite::DocConfig dc;
  dc.max_document_size = 1024;
  dc.workspace = workspace;
  ferrite::DocStore db(*r.store, dc);
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::invalid_argument);
  std::vector<std::byte> enough(ferrite::workspace_needed(1024));
  dc.workspace = enough;
  ferrite::DocStore ok(*r.store, dc);
  CHECK(ferrite::sync_wait(ok.open()));
}

TEST_CASE("a query with too many nodes or too long an operand is too_large, a bad path invalid_argument, for every call",
          "[docstore][errors][query]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"a", 1}}));
  Query wide = Query::path("a").eq(0);
  for (int i = 1; i < 40; ++i) wide = wide || Query::path("a").eq(i);
  CHECK(wide.error() == Errc::too_large);
  const std::string long_text = text(Query::max_pool + 1);
  const Query long_operand = Query::path("a").eq(std::string_view(long_text));
  CHECK(long_operand.error() == Errc::too_large);
  const Query no_path = Query::path("").eq(1);
  CHECK(no_path.error() == Errc::invalid_argument);
  const auto patch = obj({{"b", 1}});
  for (const Query* q : std::array<const Query*, 3>{&wide, &long_operand, &no_path}) {
    const Errc e = q->error();
    CHECK(error_of(r, "c", *q) == -static_cast<std::int64_t>(e));
    CHECK(ferrite::sync_wait(r.db->count("c", *q)).error() == e);
    CHECK(ferrite::sync_wait(r.db->update("c", *q, view(patch))).error() == e);
    CHECK(ferrite::sync_wait(r.db->remove("c", *q)).error() == e);
    CHECK(r.explain("c", *q).error() == e);
  }
  CHECK(*ferrite::sync_wait(r.db->count("c", Query{})) == 1);
}

TEST_CASE("a transaction over more collections than it can track answers no_memory", "[docstore][errors][txn]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::DocTransaction tx(*r.db);
  for (const char* c : {"c1", "c2", "c3", "c4"}) CHECK(ferrite::sync_wait(tx.insert(c, view(obj({{"a", 1}})))));
  CHECK(ferrite::sync_wait(tx.insert("c5", view(obj({{"a", 1}})))).error() == Errc::no_memory);
  tx.rollback();
  for (const char* c : {"c1", "c2", "c3", "c4", "c5"}) CHECK(*ferrite::sync_wait(r.db->count(c, Query{})) == 0);
}
