// Capped collections: caps by documents, by bytes and both; eviction of the
// oldest documents with their index entries in the writer's batch (inserts,
// insert_many, replace and update that grow a document, transactions);
// counts across reboots; the catalog record (docs/FORMAT.md §9.2, §9.8).
// The powerloss-capped campaign cuts power at every flash write of random
// workloads and checks the collection against a model of the acknowledged
// writes with the caps applied, and every index against the documents.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
#include "doc_rig.hpp"
#include "campaign_scale.hpp"

using docrig::DocRig;
using docrig::obj;
using docrig::view;
using ferrite::CollectionOptions;
using ferrite::DocId;
using ferrite::Errc;
using ferrite::doc::Query;

namespace {

std::vector<DocId> all_ids(DocRig& r, std::string_view c) {
  std::vector<DocId> out;
  auto cur = r.db->find(c, Query{});
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more || !*more) break;
    out.push_back(cur.id());
  }
  return out;
}

std::vector<DocId> ids_of(ferrite::FindCursor cur) {
  std::vector<DocId> out;
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more || !*more) break;
    out.push_back(cur.id());
  }
  return out;
}

std::vector<DocId> range(DocId from, DocId to) {
  std::vector<DocId> out;
  for (DocId i = from; i <= to; ++i) out.push_back(i);
  return out;
}

std::uint32_t stored_size(DocRig& r, std::string_view c, DocId id) {
  return static_cast<std::uint32_t>(r.get(c, id).size());
}

ferrite::CollectionStats stats(DocRig& r, std::string_view c) {
  auto s = ferrite::sync_wait(r.db->stats(c));
  REQUIRE(s);
  return *s;
}

bool create(DocRig& r, std::string_view c, CollectionOptions o) {
  return static_cast<bool>(ferrite::sync_wait(r.db->create_collection(c, o)));
}

ferrite::IndexSpec index_on(std::string_view name, std::string_view path, bool unique = false) {
  ferrite::IndexSpec s;
  s.name = name;
  s.paths[0] = path;
  s.unique = unique;
  return s;
}

std::vector<std::byte> raw_record(DocRig& r, std::string_view name) {
  std::vector<std::byte> key{std::byte{0xFE}, std::byte{'C'}};
  for (char ch : name) key.push_back(static_cast<std::byte>(ch));
  std::vector<std::byte> out(64);
  auto n = ferrite::sync_wait(r.store->get(key, out));
  if (!n) return {};
  out.resize(*n);
  return out;
}

// Text that outlives the Operand that points at it.
std::string_view text(std::string s) {
  static std::deque<std::string> kept;
  kept.push_back(std::move(s));
  return kept.back();
}

struct EventLog {
  std::vector<std::string> messages;
  static void write(void* self, ferrite::EventLevel, std::string_view m) noexcept {
    static_cast<EventLog*>(self)->messages.emplace_back(m);
  }
};

}  // namespace

// -- creating ------------------------------------------------------------------

TEST_CASE("create_collection with caps makes a capped collection whose stats report the caps", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "log", {10, 4096}));
  auto s = stats(r, "log");
  CHECK(s.caps.max_docs == 10);
  CHECK(s.caps.max_bytes == 4096);
  CHECK(raw_record(r, "log").size() == 23);
  REQUIRE(r.reboot());
  s = stats(r, "log");
  CHECK(s.caps.max_docs == 10);
  CHECK(s.caps.max_bytes == 4096);
}

TEST_CASE("a collection created without caps, or implicitly, keeps the 7-byte record and reports no caps",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "plain", {}));
  REQUIRE(r.insert("implicit", {{"n", 1}}));
  CHECK(raw_record(r, "plain").size() == 7);
  CHECK(raw_record(r, "implicit").size() == 7);
  CHECK_FALSE(stats(r, "plain").caps.capped());
  CHECK_FALSE(stats(r, "implicit").caps.capped());
}

TEST_CASE("create_collection with caps on an existing name answers exists and leaves the caps unchanged",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(r.insert("c", {{"n", 1}}));
  CHECK(ferrite::sync_wait(r.db->create_collection("c", {3, 0})).error() == Errc::exists);
  CHECK_FALSE(stats(r, "c").caps.capped());
  CHECK(ferrite::sync_wait(r.db->create_collection("bad name", {3, 0})).error() == Errc::invalid_argument);
}

// -- eviction ----------------------------------------------------------------------

TEST_CASE("an insert past max_docs removes the oldest documents in its batch", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {3, 0}));
  for (int i = 1; i <= 7; ++i) CHECK(r.insert("c", {{"n", i}}));
  CHECK(all_ids(r, "c") == range(5, 7));
  Errc e = Errc::ok;
  CHECK(r.get("c", 4, &e).empty());
  CHECK(e == Errc::not_found);
  CHECK(stats(r, "c").documents == 3);
}

TEST_CASE("an insert past max_bytes removes as many old documents as the new one needs", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {0, 200}));
  REQUIRE(r.insert("c", {{"s", text(std::string(20, 'a'))}}));
  const std::uint32_t small = stored_size(r, "c", 1);
  const std::uint32_t fit = 200 / small;
  for (std::uint32_t i = 1; i < fit; ++i) REQUIRE(r.insert("c", {{"s", text(std::string(20, 'a'))}}));
  CHECK(all_ids(r, "c") == range(1, fit));
  // A document three times as large pushes out three small ones (or more).
  REQUIRE(r.insert("c", {{"s", text(std::string(20 + 2 * small, 'b'))}}));
  auto s = stats(r, "c");
  CHECK(s.document_bytes <= 200);
  const auto ids = all_ids(r, "c");
  REQUIRE_FALSE(ids.empty());
  CHECK(ids.back() == fit + 1);
  CHECK(ids.front() >= 4);
  CHECK(s.document_bytes + small > 200 - 3 * small);   // no more was evicted than needed
}

TEST_CASE("with both caps, whichever is reached first evicts", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {4, 300}));
  for (int i = 0; i < 6; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  CHECK(all_ids(r, "c") == range(3, 6));   // max_docs
  REQUIRE(r.insert("c", {{"s", text(std::string(260, 'x'))}}));
  auto s = stats(r, "c");
  CHECK(s.document_bytes <= 300);
  CHECK(s.documents < 4);                  // max_bytes
  CHECK(all_ids(r, "c").back() == 7);
}

TEST_CASE("a document larger than max_bytes alone is too_large, names the limit and changes nothing",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {0, 100}));
  REQUIRE(r.insert("c", {{"n", 1}}));
  EventLog events;
  ferrite::set_event_sink({&EventLog::write, &events, ferrite::EventLevel::debug});
  auto big = r.insert("c", {{"s", text(std::string(120, 'x'))}});
  ferrite::set_event_sink({});
  REQUIRE_FALSE(big);
  CHECK(big.error() == Errc::too_large);
  REQUIRE(events.messages.size() == 1);
  CHECK(events.messages[0].find("max_bytes 100") != std::string::npos);
  CHECK(events.messages[0].find("capped collection c") != std::string::npos);
  CHECK(all_ids(r, "c") == std::vector<DocId>{1});
}

TEST_CASE("evicted documents take their index entries along: unique, multikey and partial indexes keep working",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {3, 0}));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", index_on("by_u", "u", true))));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", index_on("by_tag", "tags"))));
  auto partial = index_on("big_n", "n");
  const Query filter = Query::path("big").eq(true);
  partial.filter = &filter;
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", partial)));
  for (int i = 1; i <= 5; ++i) {
    const auto tags = docrig::arr({text("t" + std::to_string(i)), "all"});
    REQUIRE(r.insert("c", {{"u", i}, {"n", i}, {"big", true}, {"tags", view(tags)}}));
  }
  auto s = stats(r, "c");
  CHECK(s.documents == 3);
  // unique: 3, multikey: 2 per document, partial: 3.
  CHECK(s.index_entries == 3 + 6 + 3);
  CHECK(r.ids("c", Query::path("u").eq(1)).empty());
  CHECK(r.ids("c", Query::path("tags").eq("t2")).empty());
  CHECK(r.ids("c", Query::path("tags").eq("all")).size() == 3);
  CHECK(r.ids("c", Query::path("n").lt(3) && Query::path("big").eq(true)).empty());
  CHECK(r.ids("c", Query::path("u").eq(4)) == std::vector<std::int64_t>{4});
  // An evicted unique value may be inserted again.
  const auto again = docrig::arr({"again"});
  CHECK(r.insert("c", {{"u", 1}, {"n", 9}, {"tags", view(again)}}));
  CHECK(r.insert("c", {{"u", 5}}).error() == Errc::exists);
}

TEST_CASE("last_n and first_n see only the documents the cap kept", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {4, 0}));
  for (int i = 0; i < 10; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  CHECK(ids_of(r.db->last_n("c", 2)) == std::vector<DocId>{10, 9});
  CHECK(ids_of(r.db->last_n("c", 9)) == std::vector<DocId>{10, 9, 8, 7});
  CHECK(ids_of(r.db->first_n("c", 2)) == std::vector<DocId>{7, 8});
}

TEST_CASE("insert_many applies the cap after each document", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {2, 0}));
  std::vector<std::vector<std::byte>> docs;
  for (int i = 0; i < 5; ++i) docs.push_back(obj({{"n", i}}));
  std::vector<ferrite::doc::View> views;
  for (auto& d : docs) views.push_back(view(d));
  std::vector<DocId> ids(5);
  auto n = ferrite::sync_wait(r.db->insert_many("c", views, ids));
  REQUIRE(n);
  CHECK(*n == 5);
  CHECK(all_ids(r, "c") == range(4, 5));
}

TEST_CASE("a replace that grows a document past max_bytes evicts older documents, never the replaced one",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {0, 160}));
  for (int i = 0; i < 4; ++i) REQUIRE(r.insert("c", {{"s", text(std::string(10, 'a'))}}));
  const auto before = all_ids(r, "c");
  REQUIRE(before.size() >= 3);
  const DocId oldest = before.front();
  // Grow the oldest: the others go, it stays.
  CHECK(ferrite::sync_wait(r.db->replace("c", oldest, view(obj({{"s", text(std::string(100, 'b'))}})), 1)));
  const auto after = all_ids(r, "c");
  CHECK(std::find(after.begin(), after.end(), oldest) != after.end());
  CHECK(stats(r, "c").document_bytes <= 160);
  CHECK(after.size() < before.size());
  // Replacing it with more than max_bytes is too_large; nothing changes.
  CHECK(ferrite::sync_wait(r.db->replace("c", oldest, view(obj({{"s", text(std::string(200, 'c'))}})), 2)).error() ==
        Errc::too_large);
  CHECK(all_ids(r, "c") == after);
}

TEST_CASE("an update that grows documents past max_bytes evicts the oldest others", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {0, 200}));
  for (int i = 0; i < 5; ++i) REQUIRE(r.insert("c", {{"n", i}, {"s", "x"}}));
  const auto before = all_ids(r, "c");
  auto changed = ferrite::sync_wait(
      r.db->update("c", Query::path("n").eq(4), view(obj({{"s", text(std::string(120, 'y'))}}))));
  REQUIRE(changed);
  CHECK(*changed == 1);
  CHECK(stats(r, "c").document_bytes <= 200);
  const auto after = all_ids(r, "c");
  CHECK(after.back() == before.back());
  CHECK(after.size() < before.size());
}

TEST_CASE("removing documents frees room: later inserts evict only what the cap needs", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {3, 0}));
  for (int i = 0; i < 3; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  REQUIRE(ferrite::sync_wait(r.db->remove("c", Query::path("n").eq(1))));
  REQUIRE(r.insert("c", {{"n", 3}}));
  CHECK(all_ids(r, "c") == std::vector<DocId>{1, 3, 4});
  REQUIRE(r.insert("c", {{"n", 4}}));
  CHECK(all_ids(r, "c") == std::vector<DocId>{3, 4, 5});
}

TEST_CASE("clear empties a capped collection and its counts start again from zero", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {2, 0}));
  for (int i = 0; i < 3; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  REQUIRE(ferrite::sync_wait(r.db->clear("c")));
  REQUIRE(r.insert("c", {{"n", 10}}));
  REQUIRE(r.insert("c", {{"n", 11}}));
  CHECK(all_ids(r, "c") == std::vector<DocId>{4, 5});
  REQUIRE(r.reboot());
  REQUIRE(r.insert("c", {{"n", 12}}));
  CHECK(all_ids(r, "c").size() == 2);
}

TEST_CASE("the counts survive a reboot: the first inserts after it evict exactly as before", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {5, 0}));
  for (int i = 0; i < 8; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  REQUIRE(r.reboot());
  CHECK(all_ids(r, "c") == range(4, 8));
  REQUIRE(r.insert("c", {{"n", 8}}));
  CHECK(all_ids(r, "c").size() == 5);
  CHECK(all_ids(r, "c").front() >= 5);
  const auto rec = raw_record(r, "c");
  REQUIRE(rec.size() == 23);
  CHECK(static_cast<std::uint8_t>(rec[15]) == 5);   // documents, little-endian
}

// -- transactions ----------------------------------------------------------------------

TEST_CASE("a transaction's inserts into a capped collection evict in its own batch, its own inserts included",
          "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {3, 0}));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", index_on("by_u", "u", true))));
  for (int i = 1; i <= 3; ++i) REQUIRE(r.insert("c", {{"u", i}}));
  {
    ferrite::DocTransaction tx(*r.db);
    for (int i = 4; i <= 8; ++i) REQUIRE(ferrite::sync_wait(tx.insert("c", view(obj({{"u", i}})))));
    CHECK(all_ids(r, "c") == range(1, 3));   // nothing visible before commit
    REQUIRE(ferrite::sync_wait(tx.commit()));
  }
  CHECK(all_ids(r, "c") == range(6, 8));
  CHECK(stats(r, "c").index_entries == 3);
  REQUIRE(r.reboot());
  auto nine = r.insert("c", {{"u", 9}});   // (an open resumes numbering at the checkpoint)
  REQUIRE(nine);
  CHECK(all_ids(r, "c") == std::vector<DocId>{7, 8, *nine});
}

TEST_CASE("a rolled-back transaction evicts nothing and leaves the counts", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {2, 0}));
  for (int i = 0; i < 2; ++i) REQUIRE(r.insert("c", {{"n", i}}));
  {
    ferrite::DocTransaction tx(*r.db);
    REQUIRE(ferrite::sync_wait(tx.insert("c", view(obj({{"n", 9}})))));
    tx.rollback();
  }
  CHECK(all_ids(r, "c") == range(1, 2));
  REQUIRE(r.insert("c", {{"n", 3}}));
  CHECK(all_ids(r, "c").size() == 2);
}

TEST_CASE("two transactions writing one capped collection conflict instead of miscounting", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {2, 0}));
  REQUIRE(r.insert("c", {{"n", 0}}));
  ferrite::DocTransaction a(*r.db);
  ferrite::DocTransaction b(*r.db);
  REQUIRE(ferrite::sync_wait(a.insert("c", view(obj({{"n", 1}})))));
  REQUIRE(ferrite::sync_wait(b.insert("c", view(obj({{"n", 2}})))));
  REQUIRE(ferrite::sync_wait(a.commit()));
  CHECK(ferrite::sync_wait(b.commit()).error() == Errc::conflict);
  REQUIRE(r.insert("c", {{"n", 3}}));
  CHECK(all_ids(r, "c").size() == 2);
}

// -- the catalog record --------------------------------------------------------------

TEST_CASE("a capped record whose length and capped flag disagree makes open() answer corrupt", "[docstore][capped]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  REQUIRE(create(r, "c", {2, 0}));
  std::vector<std::byte> key{std::byte{0xFE}, std::byte{'C'}, std::byte{'c'}};
  auto rec = raw_record(r, "c");
  REQUIRE(rec.size() == 23);
  SECTION("flag cleared") { rec[2] = std::byte{0}; }
  SECTION("both caps 0") { std::fill(rec.begin() + 7, rec.begin() + 15, std::byte{0}); }
  SECTION("7 bytes with the flag") { rec.resize(7); }
  REQUIRE(ferrite::sync_wait(r.store->put(key, rec)));
  r.db.emplace(*r.store, ferrite::DocConfig{});
  CHECK(ferrite::sync_wait(r.db->open()).error() == Errc::corrupt);
}

// -- powerloss-capped --------------------------------------------------------------------
//
// A capped collection (max 6 documents, 900 bytes) with a unique, a multikey
// and a partial index, and a second, uncapped collection. Random inserts of
// varying sizes, replaces that grow or shrink, removes, and transactions of
// 2..4 inserts. The model holds the acknowledged documents (their `u` and
// stored size) and applies the caps itself. After each cut: reboot, open,
// and the collection must equal the model before or after the operation in
// flight; every index must hold exactly the entries its documents give; and
// two more inserts after the reboot must evict as the model does.

namespace {

struct ModelDoc {
  DocId id;
  std::int64_t u;
  std::uint32_t size;
  std::vector<std::string> tags;
  bool big;
};
using Model = std::map<DocId, ModelDoc>;

constexpr std::uint32_t cap_docs = 6, cap_bytes = 900;

void apply_caps(Model& m, DocId keep) {
  auto over = [&] {
    std::uint32_t bytes = 0;
    for (auto& [id, d] : m) bytes += d.size;
    return m.size() > cap_docs || bytes > cap_bytes;
  };
  while (over()) {
    auto it = m.begin();
    if (it->first == keep) ++it;
    if (it == m.end()) return;
    m.erase(it);
  }
}

struct CampaignRng {
  std::uint64_t s;
  explicit CampaignRng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint32_t below(std::uint32_t n) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s % n);
  }
};

std::vector<std::byte> campaign_doc(std::int64_t u, CampaignRng& rng, std::vector<std::string>& tags, bool& big) {
  big = rng.below(2) == 0;
  tags.clear();
  const auto ntags = rng.below(3);
  for (std::uint32_t t = 0; t < ntags; ++t) tags.push_back("t" + std::to_string(rng.below(4)));
  std::vector<std::byte> tag_array;
  {
    std::vector<std::byte> out(256);
    ferrite::doc::Writer w(out);
    w.array(static_cast<std::uint32_t>(tags.size()));
    for (auto& t : tags) w.string(t);
    out.resize(w.size());
    tag_array = out;
  }
  const std::string pad(rng.below(4) == 0 ? 150 + rng.below(250) : rng.below(40), 'p');
  return obj({{"u", u}, {"n", static_cast<std::int64_t>(rng.below(100))}, {"big", big},
              {"tags", view(tag_array)}, {"pad", text(pad)}});
}

struct CappedSession {
  CappedSession(DocRig& rig, std::uint64_t seed) : r(rig), rng(seed) {}
  DocRig& r;
  CampaignRng rng;
  Model model;
  std::int64_t next_u = 1;
  // Set when the power failed inside an operation: the model with it applied.
  std::optional<Model> in_flight;
  std::string failure;

  static bool lost(Errc e) { return e == Errc::power_lost; }

  // Reads the stored size and tags of document id (to record an acknowledged write).
  bool note(DocId id, std::int64_t u, const std::vector<std::string>& tags, bool big, Model& into) {
    Errc e = Errc::ok;
    auto d = r.get("c", id, &e);
    if (d.empty()) return false;
    into[id] = ModelDoc{id, u, static_cast<std::uint32_t>(d.size()), tags, big};
    return true;
  }

  // Runs `steps` operations; stops at the first power loss (true).
  bool run(int steps) {
    for (int step = 0; step < steps; ++step) {
      const auto what = rng.below(10);
      if (what < 6) {
        std::vector<std::string> tags;
        bool big = false;
        const auto u = next_u++;
        const auto d = campaign_doc(u, rng, tags, big);
        // Predict the outcome: the id is unknown until acknowledged, so the
        // in-flight model is completed below when the cut comes.
        auto id = r.insert("c", d);
        if (!id) {
          if (lost(id.error())) {
            in_flight = predicted_insert(u, d, tags, big);
            return true;
          }
          if (id.error() == Errc::too_large) continue;
          failure = std::string("insert: ") + ferrite::name_of(id.error());
          return false;
        }
        if (!note(*id, u, tags, big, model)) {
          failure = "inserted document unreadable";
          return false;
        }
        apply_caps(model, *id);
      } else if (what < 7 && !model.empty()) {
        // replace a random document with a new body (grows or shrinks)
        auto it = model.begin();
        std::advance(it, rng.below(static_cast<std::uint32_t>(model.size())));
        const DocId id = it->first;
        std::vector<std::string> tags;
        bool big = false;
        const auto d = campaign_doc(it->second.u, rng, tags, big);
        auto cur = view(r.get("c", id)).get("_v").integer();
        auto st = ferrite::sync_wait(r.db->replace("c", id, view(d), static_cast<std::uint32_t>(cur)));
        if (!st) {
          if (lost(st.error())) {
            in_flight = predicted_replace(id, it->second.u, d, tags, big);
            return true;
          }
          if (st.error() == Errc::too_large) continue;
          failure = std::string("replace: ") + ferrite::name_of(st.error());
          return false;
        }
        if (!note(id, it->second.u, tags, big, model)) {
          failure = "replaced document unreadable";
          return false;
        }
        apply_caps(model, id);
      } else if (what < 8 && !model.empty()) {
        auto it = model.begin();
        std::advance(it, rng.below(static_cast<std::uint32_t>(model.size())));
        const auto u = it->second.u;
        auto n = ferrite::sync_wait(r.db->remove("c", Query::path("u").eq(u)));
        if (!n) {
          if (lost(n.error())) {
            Model after = model;
            after.erase(it->first);
            in_flight = after;
            return true;
          }
          failure = std::string("remove: ") + ferrite::name_of(n.error());
          return false;
        }
        model.erase(it);
      } else if (what < 9) {
        // a transaction of 2..4 inserts, plus one into the uncapped collection
        const auto count = 2 + rng.below(3);
        ferrite::DocTransaction tx(*r.db);
        Model after = model;
        std::vector<std::pair<std::int64_t, std::vector<std::byte>>> docs;
        std::vector<DocId> ids;
        bool ok = true;
        for (std::uint32_t i = 0; i < count && ok; ++i) {
          std::vector<std::string> tags;
          bool big = false;
          const auto u = next_u++;
          docs.emplace_back(u, campaign_doc(u, rng, tags, big));
          auto id = ferrite::sync_wait(tx.insert("c", view(docs.back().second)));
          if (!id) {
            ok = false;
            if (lost(id.error())) {
              in_flight = model;   // nothing was committed
              return true;
            }
            if (id.error() != Errc::too_large) {
              failure = std::string("tx insert: ") + ferrite::name_of(id.error());
              return false;
            }
            break;
          }
          ids.push_back(*id);
          after[*id] = ModelDoc{*id, u, static_cast<std::uint32_t>(
                                         0), tags, big};   // size filled from the staged document below
          std::vector<std::byte> out(4096);
          auto n = ferrite::sync_wait(tx.get("c", *id, out));
          if (!n) {
            if (lost(n.error())) {
              in_flight = model;
              return true;
            }
            failure = "tx get";
            return false;
          }
          after[*id].size = static_cast<std::uint32_t>(*n);
          apply_caps(after, *id);
        }
        if (!ok) continue;
        auto other = ferrite::sync_wait(tx.insert("other", view(obj({{"k", 1}}))));
        if (!other) {   // (its first insert creates the collection: a write of its own)
          if (lost(other.error())) {
            in_flight = model;
            return true;
          }
          failure = std::string("tx insert other: ") + ferrite::name_of(other.error());
          return false;
        }
        auto st = ferrite::sync_wait(tx.commit());
        if (!st) {
          if (lost(st.error())) {
            in_flight = after;
            return true;
          }
          failure = std::string("commit: ") + ferrite::name_of(st.error());
          return false;
        }
        model = after;
      } else {
        auto id = r.insert("other", {{"k", 2}});
        if (!id) {
          if (lost(id.error())) {
            in_flight = model;
            return true;
          }
          failure = "other insert";
          return false;
        }
      }
    }
    return false;
  }

  // The model after an insert of `d` whose id the docstore would give: the
  // collection's next id (the first id on a fresh open is the checkpoint).
  Model predicted_insert(std::int64_t u, const std::vector<std::byte>& d, const std::vector<std::string>& tags,
                         bool big) {
    Model after = model;
    pending_u = u;
    pending_tags = tags;
    pending_big = big;
    (void)d;
    return after;   // completed in check(): the stored document tells its id and size
  }
  Model predicted_replace(DocId id, std::int64_t u, const std::vector<std::byte>&, const std::vector<std::string>& tags,
                          bool big) {
    Model after = model;
    pending_replace = id;
    after[id].tags = tags;
    after[id].big = big;
    after[id].u = u;
    return after;
  }
  std::int64_t pending_u = 0;
  DocId pending_replace = 0;
  std::vector<std::string> pending_tags;
  bool pending_big = false;
};

struct Found {
  DocId id;
  std::int64_t u;
  std::uint32_t size;
  std::vector<std::string> tags;
  bool big;
};

// Reads the collection as stored.
bool read_collection(DocRig& r, std::map<DocId, Found>& out, std::string& why) {
  auto cur = r.db->find("c", Query{});
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      why = std::string("find: ") + ferrite::name_of(more.error());
      return false;
    }
    if (!*more) return true;
    const auto d = cur.document();
    Found f{cur.id(), d.get("u").integer(), static_cast<std::uint32_t>(d.raw().size()), {}, d.get("big").boolean()};
    auto tags = d.get("tags").children();
    while (tags.next()) f.tags.emplace_back(tags.value().string());
    out[f.id] = f;
  }
}

bool same(const Model& m, const std::map<DocId, Found>& found, bool sizes) {
  if (m.size() != found.size()) return false;
  for (auto& [id, d] : m) {
    auto it = found.find(id);
    if (it == found.end() || it->second.u != d.u) return false;
    if (sizes && it->second.size != d.size) return false;
  }
  return true;
}

std::string describe(const std::map<DocId, Found>& found) {
  std::string s;
  for (auto& [id, f] : found) s += std::to_string(id) + ":u" + std::to_string(f.u) + " ";
  return s;
}
std::string describe(const Model& m) {
  std::string s;
  for (auto& [id, d] : m) s += std::to_string(id) + ":u" + std::to_string(d.u) + " ";
  return s;
}

// Every index holds exactly the entries the documents give.
std::string check_indexes(DocRig& r, const std::map<DocId, Found>& found) {
  std::uint32_t expected = 0;
  for (auto& [id, f] : found) {
    expected += 1;                                                  // by_u (unique)
    std::set<std::string> distinct(f.tags.begin(), f.tags.end());
    expected += static_cast<std::uint32_t>(distinct.size());        // by_tag (multikey; none when missing)
    expected += f.big ? 1 : 0;                                      // big_n (partial)
  }
  auto s = ferrite::sync_wait(r.db->stats("c"));
  if (!s) return "stats failed";
  if (s->index_entries != expected)
    return "index entries " + std::to_string(s->index_entries) + ", documents give " + std::to_string(expected);
  for (auto& [id, f] : found) {
    auto hit = r.ids("c", Query::path("u").eq(f.u));
    if (hit != std::vector<std::int64_t>{static_cast<std::int64_t>(id)}) return "by_u misses " + std::to_string(id);
    for (auto& t : f.tags) {
      auto tagged = r.ids("c", Query::path("tags").eq(std::string_view(t)));
      if (std::find(tagged.begin(), tagged.end(), static_cast<std::int64_t>(id)) == tagged.end())
        return "by_tag misses " + std::to_string(id);
    }
  }
  return {};
}

void setup_capped(DocRig& r) {
  REQUIRE(r.fresh());
  REQUIRE(ferrite::sync_wait(r.db->create_collection("c", {cap_docs, cap_bytes})));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", index_on("by_u", "u", true))));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", index_on("by_tag", "tags"))));
  static const Query filter = Query::path("big").eq(true);
  auto partial = index_on("big_n", "n");
  partial.filter = &filter;
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", partial)));
}

// After a cut: the collection is the model before or after the operation in flight.
std::string check_after_cut(DocRig& r, CappedSession& s) {
  auto st = r.reboot();
  if (!st) return std::string("reboot: ") + ferrite::name_of(st.error());
  std::map<DocId, Found> found;
  std::string why;
  if (!read_collection(r, found, why)) return why;
  bool ok = same(s.model, found, true);
  Model accepted = s.model;
  if (!ok && s.in_flight) {
    Model after = *s.in_flight;
    if (s.pending_u) {
      // The insert's document, if it landed, is the one with u = pending_u.
      for (auto& [id, f] : found)
        if (f.u == s.pending_u) {
          after[id] = ModelDoc{id, f.u, f.size, s.pending_tags, s.pending_big};
          apply_caps(after, id);
        }
    } else if (s.pending_replace) {
      auto it = found.find(s.pending_replace);
      if (it != found.end()) {
        after[s.pending_replace].size = it->second.size;
        apply_caps(after, s.pending_replace);
      }
    }
    ok = same(after, found, true);
    accepted = after;
  }
  if (!ok)
    return "collection {" + describe(found) + "} is neither the model {" + describe(s.model) + "} nor the in-flight one";
  if (auto e = check_indexes(r, found); !e.empty()) return e;
  // The counts on flash drive the next evictions as the model's caps do.
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> tags;
    bool big = false;
    const auto u = 1000000 + i;
    auto id = r.insert("c", campaign_doc(u, s.rng, tags, big));
    if (!id) {
      if (id.error() == Errc::too_large) continue;
      return std::string("insert after reboot: ") + ferrite::name_of(id.error());
    }
    Errc e = Errc::ok;
    auto d = r.get("c", *id, &e);
    accepted[*id] = ModelDoc{*id, u, static_cast<std::uint32_t>(d.size()), tags, big};
    apply_caps(accepted, *id);
  }
  found.clear();
  if (!read_collection(r, found, why)) return why;
  if (!same(accepted, found, true))
    return "after reboot, inserts left {" + describe(found) + "}, the caps give {" + describe(accepted) + "}";
  return check_indexes(r, found);
}

}  // namespace

TEST_CASE("a power cut at any flash write of a capped collection's workload leaves it equal to the capped model",
          "[docstore][capped][powerloss][campaign]") {
  const double scale = campaign::campaign_scale();
  const int workloads = std::max(1, static_cast<int>(48 * scale));
  const int steps = 24;
  std::size_t cases = 0, failures = 0;
  const auto started = std::chrono::steady_clock::now();
  const char* only = std::getenv("FERRITE_PL_ONLY");  // "seed:cut" runs one case
  for (int w = 0; w < workloads; ++w) {
    const std::uint64_t seed = 0xCA990000u + static_cast<std::uint64_t>(w) * 7919;
    std::uint64_t total = 0;
    {
      DocRig r(docrig::geometry(8, 8192), seed);
      setup_capped(r);
      const auto base = r.sim.mutating_ops();
      CappedSession s(r, seed);
      CHECK_FALSE(s.run(steps));
      CHECK(s.failure.empty());
      total = r.sim.mutating_ops() - base;
    }
    for (std::uint64_t k = 0; k < total; ++k) {
      if (only && std::to_string(seed) + ":" + std::to_string(k) != only) continue;
      DocRig r(docrig::geometry(8, 8192), seed * 977 + k);
      r.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                     : ferrite::sim::TearMode::prefix_then_partial);
      setup_capped(r);
      r.sim.cut_power_at(r.sim.mutating_ops() + k);
      CappedSession s(r, seed);
      const bool cut = s.run(steps);
      if (!cut && s.failure.empty()) continue;
      ++cases;
      std::string failure = s.failure;
      if (failure.empty()) failure = check_after_cut(r, s);
      if (!failure.empty()) {
        ++failures;
        if (failures <= 12) {
          std::fprintf(stderr, "powerloss-capped failure: seed %llu cut %llu: %s\n",
                       static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
          UNSCOPED_INFO("seed " << seed << " cut " << k << ": " << failure);
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign powerloss-capped: %zu cases, %zu failures\n", cases, failures);
  std::printf("  (%d workloads of %d operations; %.1f s)\n", workloads, steps, seconds);
  CHECK(failures == 0);
  CHECK(cases >= static_cast<std::size_t>(9000 * scale));   // about 235 cuts per workload
}

TEST_CASE("a collection slot costs 64 bytes with its caps and counts, as docs/DOCSTORE.md says", "[docstore][capped]") {
  CHECK(sizeof(ferrite::CollectionSlot) == 64);
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.db->ram_bytes() == sizeof(ferrite::DocStore) + 8 * 64 + 16 * sizeof(ferrite::IndexSlot) +
                                 ferrite::workspace_needed(r.max_document));
}
