// ferrite.docstore: one test per call, operator, index kind and error, and
// the behaviours of Unosql's own test suite (insert, find with an index,
// update and versions, delete, all, last n, time frame, clear, compound
// index, concurrent writers, input validation, memory unloading, stats).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
import ferrite.deferred;
#include "doc_rig.hpp"

using docrig::arr;
using docrig::DocRig;
using docrig::obj;
using docrig::view;
using ferrite::Errc;
using ferrite::doc::FindOptions;
using ferrite::doc::Order;
using ferrite::doc::Plan;
using ferrite::doc::Query;
using ferrite::doc::View;

namespace {

std::int64_t int_at(const std::vector<std::byte>& d, std::string_view path) {
  auto v = view(d).path(path);
  return v.type() == ferrite::doc::Type::integer ? v.integer() : -999;
}

std::vector<std::int64_t> seq(std::initializer_list<std::int64_t> v) { return v; }

// Patients in the shape of Unosql's medical example.
void add_patients(DocRig& r) {
  r.clock.now = 100;
  CHECK(r.insert("patients", {{"patient_id", "P001"}, {"heart_rate", 72}, {"blood_pressure", 120}}));
  r.clock.now = 200;
  CHECK(r.insert("patients", {{"patient_id", "P002"}, {"heart_rate", 68}, {"blood_pressure", 115}}));
  r.clock.now = 300;
  CHECK(r.insert("patients", {{"patient_id", "P003"}, {"heart_rate", 91}, {"blood_pressure", 135}}));
  r.clock.now = 400;
  CHECK(r.insert("patients", {{"patient_id", "P001"}, {"heart_rate", 75}, {"blood_pressure", 118}}));
}

}  // namespace

TEST_CASE("insert numbers documents from 1 and stores _id, _ts and _v before the fields", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  r.clock.now = 1234;
  auto a = r.insert("sensors", {{"sensor_id", "S01"}, {"temperature", 23.5}});
  auto b = r.insert("sensors", {{"sensor_id", "S02"}, {"_id", 77}, {"_v", 9}});
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 1);
  CHECK(*b == 2);
  const auto d = r.get("sensors", 2);
  auto c = view(d).children();
  std::vector<std::string> keys;
  while (c.next()) keys.emplace_back(c.key());
  CHECK(keys == std::vector<std::string>{"_id", "_ts", "_v", "sensor_id"});
  CHECK(int_at(d, "_id") == 2);
  CHECK(int_at(d, "_ts") == 1234);
  CHECK(int_at(d, "_v") == 1);
  CHECK(view(r.get("sensors", 1)).get("temperature").real() == 23.5);
}

TEST_CASE("ids are never reused, after removing the newest document or a reboot", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 5; ++i) CHECK(r.insert("c", {{"n", i}}));
  auto removed = ferrite::sync_wait(r.db->remove("c", Query::path("_id").eq(5)));
  REQUIRE(removed);
  CHECK(*removed == 1);
  auto next = r.insert("c", {{"n", 5}});
  REQUIRE(next);
  CHECK(*next == 6);
  REQUIRE(r.reboot());
  auto after = r.insert("c", {{"n", 6}});
  REQUIRE(after);
  CHECK(*after > 6);
  Errc e{};
  r.get("c", 5, &e);
  CHECK(e == Errc::not_found);
}

TEST_CASE("collection names outside the rules are refused, never rewritten", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (std::string_view bad : {"", "has space", "slash/no", ".hidden", "a-name-that-is-longer-than-32-bytes", "é"}) {
    INFO(bad);
    CHECK(r.insert(bad, {{"a", 1}}).error() == Errc::invalid_argument);
  }
  CHECK(r.insert("ok_name-1.x", {{"a", 1}}));
  std::array<std::string_view, 4> names{};
  CHECK(r.db->list_collections(names) == 1);
  CHECK(names[0] == "ok_name-1.x");
  CHECK(ferrite::sync_wait(r.db->create_collection("ok_name-1.x")).error() == Errc::exists);
  CHECK(ferrite::sync_wait(r.db->create_collection("other")));
  CHECK(r.db->list_collections(names) == 2);
}

TEST_CASE("insert refuses what is not an object and answers not_found for unknown collections", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  const auto a = arr({1, 2});
  CHECK(r.insert("c", a).error() == Errc::invalid_argument);
  Errc e{};
  r.get("nothing", 1, &e);
  CHECK(e == Errc::not_found);
  CHECK(r.ids("nothing", Query{}) == seq({-static_cast<std::int64_t>(Errc::not_found)}));
}

TEST_CASE("find applies every operator to dotted paths and array elements", "[docstore][query]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  const auto tags1 = arr({"red", "blue"});
  const auto tags2 = arr({"green"});
  const auto addr1 = obj({{"city", "Oslo"}, {"zip", 150}});
  const auto addr2 = obj({{"city", "Rome"}, {"zip", 100}});
  CHECK(r.insert("p", {{"name", "Ann"}, {"age", 30}, {"tags", view(tags1)}, {"addr", view(addr1)}}));       // 1
  CHECK(r.insert("p", {{"name", "Bob"}, {"age", 41.5}, {"tags", view(tags2)}, {"addr", view(addr2)}}));     // 2
  CHECK(r.insert("p", {{"name", "Cid"}, {"age", nullptr}}));                                                 // 3
  CHECK(r.insert("p", {{"name", "Annika"}, {"age", "unknown"}}));                                            // 4
  auto q = [&](const Query& query) { return r.ids("p", query); };
  CHECK(q(Query::path("name").eq("Bob")) == seq({2}));
  CHECK(q(Query::path("name").ne("Bob")) == seq({1, 3, 4}));
  CHECK(q(Query::path("age").gt(30)) == seq({2}));
  CHECK(q(Query::path("age").gte(30)) == seq({1, 2}));
  CHECK(q(Query::path("age").lt(41.5)) == seq({1}));
  CHECK(q(Query::path("age").lte(41.5)) == seq({1, 2}));
  CHECK(q(Query::path("age").eq(nullptr)) == seq({3}));
  CHECK(q(Query::path("name").in({"Ann", "Cid", "Zed"})) == seq({1, 3}));
  CHECK(q(Query::path("name").nin({"Ann", "Cid"})) == seq({2, 4}));
  CHECK(q(Query::path("tags").exists()) == seq({1, 2}));
  CHECK(q(Query::path("tags").exists(false)) == seq({3, 4}));
  CHECK(q(Query::path("name").prefix("Ann")) == seq({1, 4}));
  CHECK(q(Query::path("tags").eq("blue")) == seq({1}));
  CHECK(q(Query::path("tags.0").eq("green")) == seq({2}));
  CHECK(q(Query::path("addr.city").eq("Rome")) == seq({2}));
  CHECK(q(Query::path("addr.zip").lt(120)) == seq({2}));
  CHECK(q(Query::path("age").gt(0) && Query::path("name").prefix("A")) == seq({1}));
  CHECK(q(Query::path("name").eq("Cid") || Query::path("age").gt(40)) == seq({2, 3}));
  CHECK(q(!Query::path("name").prefix("A")) == seq({2, 3}));
  CHECK(q(Query{}) == seq({1, 2, 3, 4}));
  if (ferrite::doc::regex_supported()) CHECK(q(Query::path("name").regex("^A.*a$")) == seq({4}));
}

TEST_CASE("find honours skip, limit, sort and projection", "[docstore][query]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 10; ++i) CHECK(r.insert("c", {{"n", (i * 7) % 10}, {"other", i}}));
  FindOptions o;
  o.skip = 2;
  o.limit = 3;
  CHECK(r.ids("c", Query{}, o) == seq({3, 4, 5}));
  o = {};
  o.sort_path = "_id";
  o.order = Order::descending;
  o.limit = 2;
  CHECK(r.ids("c", Query{}, o) == seq({10, 9}));
  o = {};
  o.sort_path = "n";
  o.limit = 3;
  CHECK(r.ids("c", Query{}, o) == seq({1, 4, 7}));  // n = 0, 1, 2
  auto plan = r.explain("c", Query{}, o);
  REQUIRE(plan);
  CHECK(plan->sort == Plan::Sort::top_k);
  o.limit = 0;
  CHECK(r.ids("c", Query{}, o) == seq({-static_cast<std::int64_t>(Errc::unsupported)}));
  o = {};
  o.fields[0] = "n";
  o.field_count = 1;
  auto cur = r.db->find("c", Query::path("other").eq(3), o);
  auto more = ferrite::sync_wait(cur.next());
  REQUIRE(more);
  REQUIRE(*more);
  CHECK(cur.document().size() == 2);
  CHECK(cur.document().get("_id").integer() == 4);
  CHECK(cur.document().get("n").integer() == 1);
  CHECK_FALSE(cur.document().get("other").valid());
}

TEST_CASE("update merges a patch, applies $inc and $unset and bumps _v and _ts", "[docstore][update]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  const auto vitals = obj({{"hr", 70}, {"bp", 120}});
  CHECK(r.insert("p", {{"patient_id", "P002"}, {"vitals", view(vitals)}, {"note", "x"}, {"visits", 1}}));
  r.clock.now = 5000;
  const auto inc = obj({{"visits", 2}, {"vitals.hr", 1}, {"counter", 5}});
  const auto unset = arr({"note"});
  const auto patch_vitals = obj({{"bp", nullptr}, {"spo2", 98}});
  const auto patch = obj({{"vitals", view(patch_vitals)}, {"ward", "B"}, {"$inc", view(inc)}, {"$unset", view(unset)}});
  auto n = ferrite::sync_wait(r.db->update("p", Query::path("patient_id").eq("P002"), view(patch)));
  REQUIRE(n);
  CHECK(*n == 1);
  const auto d = r.get("p", 1);
  CHECK(int_at(d, "_v") == 2);
  CHECK(int_at(d, "_ts") == 5000);
  CHECK(int_at(d, "visits") == 3);
  CHECK(int_at(d, "counter") == 5);
  CHECK(int_at(d, "vitals.spo2") == 98);
  CHECK_FALSE(view(d).path("vitals.bp").valid());
  CHECK_FALSE(view(d).get("note").valid());
  CHECK(view(d).get("ward").string() == "B");
  const auto bad = obj({{"_id", 5}});
  CHECK(ferrite::sync_wait(r.db->update("p", Query{}, view(bad))).error() == Errc::invalid_argument);
  const auto bad_op = obj({{"$set", view(vitals)}});
  CHECK(ferrite::sync_wait(r.db->update("p", Query{}, view(bad_op))).error() == Errc::invalid_argument);
  const auto orphan = obj({{"missing.parent", 1}, {"missing.other", 2}, {"note", 5}});
  const auto orphan_inc = obj({{"$inc", view(orphan)}});
  CHECK(*ferrite::sync_wait(r.db->update("p", Query{}, view(orphan_inc))) == 1);
  CHECK(int_at(r.get("p", 1), "missing.parent") == 1);   // missing objects are created
  CHECK(int_at(r.get("p", 1), "missing.other") == 2);
  const auto through = obj({{"ward.x", 1}});               // "ward" is a text: left alone
  const auto through_inc = obj({{"$inc", view(through)}});
  CHECK(*ferrite::sync_wait(r.db->update("p", Query{}, view(through_inc))) == 1);
  CHECK(view(r.get("p", 1)).get("ward").string() == "B");
  const auto text_inc = obj({{"patient_id", 1}});
  const auto bad_inc = obj({{"$inc", view(text_inc)}});
  CHECK(ferrite::sync_wait(r.db->update("p", Query{}, view(bad_inc))).error() == Errc::invalid_argument);
  CHECK(int_at(r.get("p", 1), "_v") == 4);
}

TEST_CASE("replace is a compare-and-swap on _v", "[docstore][update]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("c", {{"a", 1}}));
  const auto next = obj({{"a", 2}});
  CHECK(ferrite::sync_wait(r.db->replace("c", 1, view(next), 1)));
  CHECK(int_at(r.get("c", 1), "a") == 2);
  CHECK(int_at(r.get("c", 1), "_v") == 2);
  CHECK(ferrite::sync_wait(r.db->replace("c", 1, view(next), 1)).error() == Errc::conflict);
  CHECK(ferrite::sync_wait(r.db->replace("c", 9, view(next), 1)).error() == Errc::not_found);
}

TEST_CASE("remove and count take queries; first_n, last_n and in_timeframe follow Unosql", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  add_patients(r);
  CHECK(*ferrite::sync_wait(r.db->count("patients", Query{})) == 4);
  CHECK(*ferrite::sync_wait(r.db->count("patients", Query::path("patient_id").eq("P001"))) == 2);
  CHECK(*ferrite::sync_wait(r.db->count("patients", Query::path("_id").gte(2))) == 3);
  auto ids_of = [&](ferrite::FindCursor cur) {
    std::vector<std::int64_t> out;
    for (;;) {
      auto more = ferrite::sync_wait(cur.next());
      if (!more || !*more) return out;
      out.push_back(cur.id());
    }
  };
  CHECK(ids_of(r.db->first_n("patients", 2)) == seq({1, 2}));
  CHECK(ids_of(r.db->last_n("patients", 2)) == seq({4, 3}));
  CHECK(ids_of(r.db->in_timeframe("patients", "_ts", 200, 300)) == seq({2, 3}));
  auto agg = ferrite::sync_wait(r.db->aggregate("patients", Query{}, "heart_rate"));
  REQUIRE(agg);
  CHECK(agg->count == 4);
  CHECK(agg->min == 68);
  CHECK(agg->max == 91);
  CHECK(agg->avg() == Approx(76.5));
  auto removed = ferrite::sync_wait(r.db->remove("patients", Query::path("heart_rate").lt(70)));
  REQUIRE(removed);
  CHECK(*removed == 1);
  CHECK(*ferrite::sync_wait(r.db->count("patients", Query{})) == 3);
}

TEST_CASE("a single-field index is used for equality and ranges, and explain says so", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 40; ++i) CHECK(r.insert("c", {{"k", i % 10}, {"s", i * 3}}));
  ferrite::IndexSpec spec;
  spec.name = "by_k";
  spec.paths[0] = "k";
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  auto plan = r.explain("c", Query::path("k").eq(3));
  REQUIRE(plan);
  CHECK(plan->access == Plan::Access::index_range);
  CHECK(plan->index_name() == "by_k");
  CHECK(plan->estimated_keys == 4);
  CHECK(r.ids("c", Query::path("k").eq(3)) == seq({4, 14, 24, 34}));
  CHECK(r.ids("c", Query::path("k").gte(8)) == seq({9, 19, 29, 39, 10, 20, 30, 40}));
  CHECK(r.ids("c", Query::path("k").in({1, 9})) == seq({2, 12, 22, 32, 10, 20, 30, 40}));
  FindOptions scan;
  scan.no_index = true;
  CHECK(r.explain("c", Query::path("k").eq(3), scan)->access == Plan::Access::collection_scan);
  // Documents written after the index exist are indexed in the same batch.
  CHECK(r.insert("c", {{"k", 3}}));
  CHECK(r.ids("c", Query::path("k").eq(3)) == seq({4, 14, 24, 34, 41}));
  const auto patch = obj({{"k", 100}});
  CHECK(*ferrite::sync_wait(r.db->update("c", Query::path("k").eq(3), view(patch))) == 5);
  CHECK(r.ids("c", Query::path("k").eq(3)).empty());
  CHECK(r.ids("c", Query::path("k").eq(100)) == seq({4, 14, 24, 34, 41}));
  CHECK(*ferrite::sync_wait(r.db->remove("c", Query::path("k").eq(100))) == 5);
  CHECK(r.ids("c", Query::path("k").gte(100)).empty());
  auto st = ferrite::sync_wait(r.db->stats("c"));
  REQUIRE(st);
  CHECK(st->documents == 36);
  CHECK(st->index_entries == 36);
  CHECK(st->index_count == 1);
  CHECK(st->indexes[0].ready);
  CHECK(ferrite::sync_wait(r.db->drop_index("c", "by_k")));
  CHECK(r.explain("c", Query::path("k").eq(3))->access == Plan::Access::collection_scan);
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_entries == 0);
}

TEST_CASE("a compound index serves an equality prefix and sorts by its next path", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "pid_ts";
  spec.paths = {"patient_id", "_ts"};
  spec.path_count = 2;
  REQUIRE(ferrite::sync_wait(r.db->create_index("patients", spec)));
  add_patients(r);
  auto q = Query::path("patient_id").eq("P001") && Query::path("_ts").gte(50);
  auto plan = r.explain("patients", q);
  REQUIRE(plan);
  CHECK(plan->access == Plan::Access::index_range);
  CHECK(plan->eq_prefix == 1);
  CHECK(r.ids("patients", q) == seq({1, 4}));
  FindOptions o;
  o.sort_path = "_ts";
  o.order = Order::descending;
  CHECK(r.ids("patients", Query::path("patient_id").eq("P001"), o) == seq({4, 1}));
  CHECK(r.explain("patients", Query::path("patient_id").eq("P001"), o)->sort == Plan::Sort::natural);
}

TEST_CASE("a unique index refuses a duplicate with exists and keeps the store unchanged", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "serial";
  spec.paths[0] = "serial";
  spec.unique = true;
  REQUIRE(ferrite::sync_wait(r.db->create_index("dev", spec)));
  CHECK(r.insert("dev", {{"serial", "A1"}}));
  CHECK(r.insert("dev", {{"serial", "A2"}}));
  CHECK(r.insert("dev", {{"other", 1}}));  // no value: not indexed
  CHECK(r.insert("dev", {{"other", 2}}));
  CHECK(r.insert("dev", {{"serial", "A1"}}).error() == Errc::exists);
  const auto patch = obj({{"serial", "A1"}});
  CHECK(ferrite::sync_wait(r.db->update("dev", Query::path("serial").eq("A2"), view(patch))).error() == Errc::exists);
  CHECK(r.ids("dev", Query::path("serial").eq("A1")) == seq({1}));
  CHECK(r.ids("dev", Query::path("serial").eq("A2")) == seq({2}));
  CHECK(*ferrite::sync_wait(r.db->count("dev", Query{})) == 4);
  // Building a unique index over duplicates fails and leaves no index behind.
  ferrite::IndexSpec dup;
  dup.name = "other";
  dup.paths[0] = "x";
  dup.unique = true;
  CHECK(r.insert("dev", {{"x", 1}}));
  CHECK(r.insert("dev", {{"x", 1}}));
  CHECK(ferrite::sync_wait(r.db->create_index("dev", dup)).error() == Errc::exists);
  CHECK(ferrite::sync_wait(r.db->stats("dev"))->index_count == 1);
}

TEST_CASE("a partial index holds matching documents and serves only queries that imply its filter", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  const Query filter = Query::path("status").eq("alarm");
  ferrite::IndexSpec spec;
  spec.name = "alarm_level";
  spec.paths[0] = "level";
  spec.filter = &filter;
  REQUIRE(ferrite::sync_wait(r.db->create_index("ev", spec)));
  CHECK(r.insert("ev", {{"status", "alarm"}, {"level", 3}}));
  CHECK(r.insert("ev", {{"status", "ok"}, {"level", 3}}));
  CHECK(r.insert("ev", {{"status", "alarm"}, {"level", 5}}));
  CHECK(ferrite::sync_wait(r.db->stats("ev"))->index_entries == 2);
  const Query implied = Query::path("status").eq("alarm") && Query::path("level").gte(3);
  CHECK(r.explain("ev", implied)->access == Plan::Access::index_range);
  CHECK(r.ids("ev", implied) == seq({1, 3}));
  CHECK(r.explain("ev", Query::path("level").gte(3))->access == Plan::Access::collection_scan);
  CHECK(r.ids("ev", Query::path("level").gte(3)) == seq({1, 2, 3}));
}

TEST_CASE("a multikey index returns each document once", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "tags";
  spec.paths[0] = "tags";
  spec.max_entries_per_doc = 4;
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  const auto t1 = arr({"a", "b", "c"});
  const auto t2 = arr({"b"});
  const auto t3 = arr({"a", "b", "c", "d", "e"});
  CHECK(r.insert("c", {{"tags", view(t1)}}));
  CHECK(r.insert("c", {{"tags", view(t2)}}));
  CHECK(r.insert("c", {{"tags", view(t3)}}).error() == Errc::too_large);
  CHECK(r.ids("c", Query::path("tags").in({"a", "b", "c"})) == seq({1, 2}));
  CHECK(r.ids("c", Query::path("tags").gte("a")) == seq({1, 2}));
  FindOptions o;
  o.sort_path = "tags";
  o.order = Order::descending;
  o.limit = 10;  // a range on a multikey sort path sorts with a top-k, not in index order
  CHECK(r.ids("c", Query::path("tags").gte("a"), o) == seq({1, 2}));  // by the largest element
  CHECK(r.explain("c", Query::path("tags").gte("a"), o)->sort == Plan::Sort::top_k);
}

TEST_CASE("an index built on existing documents is used once ready and survives a reboot", "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 60; ++i) CHECK(r.insert("c", {{"v", i % 6}}));
  ferrite::IndexSpec spec;
  spec.name = "v";
  spec.paths[0] = "v";
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  REQUIRE(r.reboot());
  CHECK(r.explain("c", Query::path("v").eq(2))->access == Plan::Access::index_range);
  CHECK(r.ids("c", Query::path("v").eq(2)).size() == 10);
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_entries == 60);
}

TEST_CASE("a transaction across collections commits all or nothing", "[docstore][txn]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("accounts", {{"name", "a"}, {"balance", 100}}));
  {
    ferrite::DocTransaction tx(*r.db);
    CHECK(ferrite::sync_wait(tx.insert("log", view(obj({{"what", "move"}})))));
    const auto inc = obj({{"balance", -30}});
    const auto patch = obj({{"$inc", view(inc)}});
    CHECK(*ferrite::sync_wait(tx.update("accounts", Query::path("name").eq("a"), view(patch))) == 1);
    // Not visible before the commit.
    CHECK(int_at(r.get("accounts", 1), "balance") == 100);
    CHECK(ferrite::sync_wait(tx.commit()));
  }
  CHECK(int_at(r.get("accounts", 1), "balance") == 70);
  CHECK(r.ids("log", Query{}) == seq({1}));
  {
    ferrite::DocTransaction dropped(*r.db);
    CHECK(ferrite::sync_wait(dropped.insert("log", view(obj({{"what", "never"}})))));
  }
  CHECK(r.ids("log", Query{}) == seq({1}));
  // A writer between read and commit makes the commit fail with conflict.
  ferrite::DocTransaction tx(*r.db);
  std::vector<std::byte> buf(256);
  CHECK(ferrite::sync_wait(tx.get("accounts", 1, buf)));
  CHECK(ferrite::sync_wait(tx.replace("accounts", 1, view(obj({{"name", "a"}, {"balance", 0}})), 2)));
  const auto other = obj({{"name", "a"}, {"balance", 1}});
  CHECK(ferrite::sync_wait(r.db->replace("accounts", 1, view(other), 2)));
  CHECK(ferrite::sync_wait(tx.commit()).error() == Errc::conflict);
  CHECK(int_at(r.get("accounts", 1), "balance") == 1);
  REQUIRE(r.reboot());
  CHECK(int_at(r.get("accounts", 1), "balance") == 1);
  CHECK(r.ids("log", Query{}) == seq({1}));
}

TEST_CASE("documents larger than one engine value are chunked, and too large ones refused", "[docstore]") {
  DocRig r(docrig::geometry(8, 4096, 4), 1, 1024);  // engine values up to 1024 bytes
  r.max_document = 2000;
  REQUIRE(r.fresh());
  std::string big(1500, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto id = r.insert("blobs", {{"body", std::string_view(big)}});
  REQUIRE(id);
  Errc first{};
  auto d = r.get("blobs", *id, &first);
  CHECK(first == Errc::ok);
  REQUIRE(!d.empty());
  CHECK(view(d).get("body").string() == big);
  const auto patch = obj({{"body", "short"}});
  CHECK(*ferrite::sync_wait(r.db->update("blobs", Query{}, view(patch))) == 1);
  CHECK(view(r.get("blobs", *id)).get("body").string() == "short");
  std::string huge(2500, 'y');
  CHECK(r.insert("blobs", {{"body", std::string_view(huge)}}).error() == Errc::too_large);
  const auto rebooted = r.reboot();
  CHECK(rebooted.error() == Errc::ok);
  REQUIRE(rebooted);
  Errc e{};
  const auto after = r.get("blobs", *id, &e);
  CHECK(e == Errc::ok);
  REQUIRE(!after.empty());
  CHECK(view(after).get("body").string() == "short");
  auto stats = ferrite::sync_wait(r.db->stats("blobs"));
  CHECK(stats.error() == Errc::ok);
  CHECK(stats.value_or({}).engine_keys == 1);
}

TEST_CASE("clear keeps the collection and its indexes; drop removes everything", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "n";
  spec.paths[0] = "n";
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", spec)));
  for (int i = 0; i < 30; ++i) CHECK(r.insert("c", {{"n", i}}));
  CHECK(ferrite::sync_wait(r.db->clear("c")));
  CHECK(*ferrite::sync_wait(r.db->count("c", Query{})) == 0);
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_count == 1);
  auto id = r.insert("c", {{"n", 1}});
  REQUIRE(id);
  CHECK(*id == 31);
  CHECK(ferrite::sync_wait(r.db->drop_collection("c")));
  CHECK(ferrite::sync_wait(r.db->count("c", Query{})).error() == Errc::not_found);
  REQUIRE(r.reboot());
  CHECK(ferrite::sync_wait(r.db->count("c", Query{})).error() == Errc::not_found);
  CHECK(r.store->stats().keys == 1);  // the docstore's meta record
}

TEST_CASE("unload drops the cached catalog and loses nothing", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  CHECK(r.insert("a", {{"x", 1}}));
  CHECK(r.insert("b", {{"x", 2}}));
  r.db->unload();
  CHECK_FALSE(r.db->is_open());
  CHECK(int_at(r.get("b", 1), "x") == 2);
  CHECK(r.db->is_open());
  CHECK(*r.insert("a", {{"x", 3}}) > 1);
}

TEST_CASE("stats reports documents, bytes, indexes and RAM", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  add_patients(r);
  ferrite::IndexSpec spec;
  spec.name = "pid";
  spec.paths[0] = "patient_id";
  REQUIRE(ferrite::sync_wait(r.db->create_index("patients", spec)));
  auto s = ferrite::sync_wait(r.db->stats("patients"));
  REQUIRE(s);
  CHECK(s->documents == 4);
  CHECK(s->document_bytes > 4 * 40);
  CHECK(s->index_entries == 4);
  CHECK(s->engine_keys == 8);
  CHECK(s->ram_bytes >= 8 * 14);
  CHECK(s->indexes[0].name_view() == "pid");
}

TEST_CASE("queries parse from MongoDB-style JSON text and documents come in as JSON", "[docstore][json]") {
  if (!ferrite::doc::json_available()) return;
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (std::string_view json : {R"({"patient_id": "P001", "heart_rate": 72, "vitals": {"spo2": 97}})",
                                R"({"patient_id": "P002", "heart_rate": 68, "tags": ["icu"]})",
                                R"({"patient_id": "P003", "heart_rate": 91})"}) {
    std::vector<std::byte> cbor(512);
    auto n = ferrite::doc::json_to_cbor(json, cbor);
    REQUIRE(n);
    cbor.resize(*n);
    CHECK(r.insert("patients", cbor));
  }
  auto q = [&](std::string_view text) {
    auto query = Query::from_json(text);
    if (!query) return seq({-static_cast<std::int64_t>(query.error())});
    return r.ids("patients", *query);
  };
  CHECK(q(R"({"heart_rate": {"$gt": 70}})") == seq({1, 3}));
  CHECK(q(R"({"patient_id": {"$in": ["P001", "P003"]}, "heart_rate": {"$lt": 80}})") == seq({1}));
  CHECK(q(R"({"$or": [{"patient_id": "P002"}, {"vitals.spo2": {"$gte": 95}}]})") == seq({1, 2}));
  CHECK(q(R"({"tags": "icu"})") == seq({2}));
  CHECK(q(R"({"tags": {"$exists": false}})") == seq({1, 3}));
  CHECK(q(R"({"$not": {"patient_id": {"$prefix": "P00"}}})").empty());
  CHECK(q(R"({"heart_rate": {"$between": 1}})") == seq({-static_cast<std::int64_t>(Errc::invalid_argument)}));
  CHECK(q(R"({"$where": "x"})") == seq({-static_cast<std::int64_t>(Errc::invalid_argument)}));
  ferrite::doc::TextError where;
  CHECK(Query::from_json("{\"a\":\n  {\"$gt\": }}", &where).error() == Errc::invalid_argument);
  CHECK(where.line == 2);
  auto text = ferrite::doc::cbor_to_json(view(r.get("patients", 2)));
  REQUIRE(text);
  CHECK(*text == R"({"_id":2,"_ts":1000,"_v":1,"patient_id":"P002","heart_rate":68,"tags":["icu"]})");
}

namespace {

ferrite::Task<void> doc_worker(ferrite::DocStore& db, ferrite::RunLoop& loop, int worker, int rounds, int& done,
                               int& duplicates, int& errors) {
  for (int i = 0; i < rounds; ++i) {
    const auto d = obj({{"worker", worker}, {"serial", (worker * 7 + i) % 23}, {"i", i}});
    auto id = co_await db.insert("c", view(d));
    if (!id && id.error() == Errc::exists) ++duplicates;
    else if (!id) ++errors;
    co_await loop.yield();
    const auto inc = obj({{"n", 1}});
    const auto patch = obj({{"$inc", view(inc)}});
    auto n = co_await db.update("counter", Query{}, view(patch));
    if (!n || *n != 1) ++errors;
  }
  ++done;
}

}  // namespace

/// A docstore whose flash completes each operation only after 1 to 3 steps
/// of a run loop, so that several coroutines interleave at every flash access.
struct SlowDocRig {
  explicit SlowDocRig(std::uint64_t seed) : sim(docrig::geometry(8, 16384, 4), seed) {}
  ferrite::StoreConfig config() {
    ferrite::StoreConfig c;
    c.index = index;
    c.order = order;
    c.sectors = sectors;
    return c;
  }
  ferrite::sim::SimFlash sim;
  ferrite::RunLoop loop;
  ferrite::deferred::DeferredFlash slow{sim, loop, {1, 2, 3}};
  ferrite::Flash flash{slow, &loop};
  std::vector<ferrite::IndexEntry> index = std::vector<ferrite::IndexEntry>(2048);
  std::vector<std::uint16_t> order = std::vector<std::uint16_t>(2048);
  std::array<ferrite::SectorInfo, 8> sectors{};
  ferrite::StoreConfig cfg = config();  // after the storage it points to
  ferrite::Store store{flash, cfg};
  ferrite::DocStore db{store};
};

TEST_CASE("concurrent writers get distinct ids, lose no increment and respect a unique index", "[docstore][concurrency]") {
  SlowDocRig rig(7);
  ferrite::RunLoop& loop = rig.loop;
  ferrite::Store& store = rig.store;
  ferrite::DocStore& db = rig.db;
  auto setup_fn = [&]() -> ferrite::Task<ferrite::Status> {
    auto st = co_await store.format();
    if (!st) co_return st;
    st = co_await db.open();
    if (!st) co_return st;
    ferrite::IndexSpec spec;
    spec.name = "serial";
    spec.paths[0] = "serial";
    spec.unique = true;
    st = co_await db.create_index("c", spec);
    if (!st) co_return st;
    auto id = co_await db.insert("counter", view(obj({{"n", 0}})));
    co_return id ? ferrite::Status{} : ferrite::Status{ferrite::fail(id.error())};
  };
  auto setup = setup_fn();
  REQUIRE(loop.drive(setup));
  REQUIRE(setup.take_result());
  int done = 0, duplicates = 0, errors = 0;
  std::vector<ferrite::Task<void>> workers;
  for (int w = 0; w < 4; ++w) workers.push_back(doc_worker(db, loop, w, 12, done, duplicates, errors));
  for (auto& w : workers) w.start();
  for (int turns = 0; turns < 1000000 && done < 4; ++turns)
    if (!loop.run_once()) break;
  CHECK(done == 4);
  CHECK(errors == 0);
  // 48 inserts over 23 serial values: 23 succeed, 25 are duplicates.
  CHECK(duplicates == 25);
  auto check_fn = [&]() -> ferrite::Task<ferrite::Status> {
    auto n = co_await db.count("c", Query{});
    if (!n || *n != 23) co_return ferrite::fail(Errc::corrupt);
    std::vector<std::byte> buf(256);
    auto size = co_await db.get("counter", 1, buf);
    if (!size) co_return ferrite::fail(size.error());
    buf.resize(*size);
    if (view(buf).get("n").integer() != 48) co_return ferrite::fail(Errc::conflict);
    co_return ferrite::Status{};
  };
  auto check = check_fn();
  REQUIRE(loop.drive(check));
  auto result = check.take_result();
  CHECK(result.error() == Errc::ok);
}

TEST_CASE("a docstore runs in caller memory from DocStoreMemory", "[docstore][memory]") {
  DocRig r(docrig::geometry());
  REQUIRE(ferrite::sync_wait(r.store->format()));
  static ferrite::DocStoreMemory<2, 2, 512> memory;
  ferrite::DocStore db(*r.store, memory.config(r.clock.clock()));
  CHECK(ferrite::sync_wait(db.open()));
  CHECK(ferrite::sync_wait(db.insert("a", view(obj({{"x", 1}})))));
  CHECK(ferrite::sync_wait(db.insert("b", view(obj({{"x", 1}})))));
  CHECK(ferrite::sync_wait(db.insert("c", view(obj({{"x", 1}})))).error() == Errc::no_memory);
  std::string big(600, 'x');
  CHECK(ferrite::sync_wait(db.insert("a", view(obj({{"x", std::string_view(big)}})))).error() == Errc::too_large);
  CHECK(db.ram_bytes() >= sizeof(memory));
}

TEST_CASE("edge cases: first_n(0), exact counts, refused index specs, a refused build, listing", "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  for (int i = 0; i < 5; ++i) CHECK(r.insert("c", {{"n", i}, {"tags", view(arr({1, 2, 3}))}}));
  auto first = r.db->first_n("c", 0);
  CHECK_FALSE(*ferrite::sync_wait(first.next()));
  auto last = r.db->last_n("c", 0);
  CHECK_FALSE(*ferrite::sync_wait(last.next()));
  auto count = [&](const Query& q) { return ferrite::sync_wait(r.db->count("c", q)).value_or(999); };
  CHECK(count(Query::path("_id").gte(2) && Query::path("_id").in({1, 2, "x"})) == 1);
  CHECK(count(Query::path("_id").gte(2) && Query::path("_id").eq("2")) == 0);
  CHECK(count(Query::path("_id").in({1, 3, 5, 7})) == 3);
  ferrite::IndexSpec bad;
  bad.name = ".hidden";
  bad.paths[0] = "n";
  CHECK(ferrite::sync_wait(r.db->create_index("fresh", bad)).error() == Errc::invalid_argument);
  bad.name = "ok";
  bad.paths[0] = "n.";
  CHECK(ferrite::sync_wait(r.db->create_index("fresh", bad)).error() == Errc::invalid_argument);
  std::array<std::string_view, 4> names{};
  CHECK(r.db->list_collections(names) == 1);  // no "fresh" left behind
  ferrite::IndexSpec tags;
  tags.name = "tags";
  tags.paths[0] = "tags";
  tags.max_entries_per_doc = 2;  // every document has three tags
  CHECK(ferrite::sync_wait(r.db->create_index("c", tags)).error() == Errc::too_large);
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_count == 0);
  REQUIRE(r.reboot());
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_count == 0);
  for (std::string_view n : {"zeta", "alpha", "mid"}) CHECK(ferrite::sync_wait(r.db->create_collection(n)));
  std::array<std::string_view, 2> two{};
  CHECK(r.db->list_collections(two) == 2);
  CHECK(two[0] == "alpha");
  CHECK(two[1] == "c");
}

TEST_CASE("Unosql's medical example runs as a ferrite docstore", "[docstore][unosql]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  // db.create_index("patients", ["patient_id", "timestamp"])
  ferrite::IndexSpec spec;
  spec.name = "pid_ts";
  spec.paths = {"patient_id", "_ts"};
  spec.path_count = 2;
  REQUIRE(ferrite::sync_wait(r.db->create_index("patients", spec)));
  // db.insert("patients", {...})
  r.clock.now = 10'000;
  CHECK(r.insert("patients", {{"patient_id", "P001"}, {"heart_rate", 72}, {"blood_pressure", 120}}));
  // with db.transaction("patients") as tx: tx.insert(...); tx.update("patient_id", "P002", {...})
  r.clock.now = 10'500;
  {
    ferrite::DocTransaction tx(*r.db);
    CHECK(ferrite::sync_wait(tx.insert("patients", view(obj({{"patient_id", "P002"}, {"heart_rate", 68},
                                                              {"blood_pressure", 115}})))));
    CHECK(ferrite::sync_wait(tx.commit()));
  }
  const auto hr = obj({{"heart_rate", 70}});
  CHECK(*ferrite::sync_wait(r.db->update("patients", Query::path("patient_id").eq("P002"), view(hr))) == 1);
  // db.get_records_in_timeframe("patients", "timestamp", now - 3600, now)
  r.clock.now = 12'000;
  std::vector<std::int64_t> recent;
  auto cur = r.db->in_timeframe("patients", "_ts", r.clock.now - 3600, r.clock.now);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more || !*more) break;
    recent.push_back(cur.id());
  }
  CHECK(recent == seq({1, 2}));
  const auto p2 = r.get("patients", 2);
  CHECK(int_at(p2, "heart_rate") == 70);
  CHECK(int_at(p2, "_v") == 2);
  // db.optimize_memory(): nothing is lost
  r.db->unload();
  auto stats = ferrite::sync_wait(r.db->stats("patients"));
  REQUIRE(stats);
  CHECK(stats->documents == 2);
  CHECK(stats->index_count == 1);
  CHECK(r.ids("patients", Query::path("patient_id").eq("P001")) == seq({1}));
}

TEST_CASE("an update walking an index on _ts changes each document once", "[docstore][update]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "pid_ts";
  spec.paths = {"patient_id", "_ts"};
  spec.path_count = 2;
  REQUIRE(ferrite::sync_wait(r.db->create_index("p", spec)));
  for (int i = 0; i < 4; ++i) CHECK(r.insert("p", {{"patient_id", "P001"}, {"hr", 70}}));
  r.clock.now = 5000;  // updates move every document forward in the index
  const auto inc = obj({{"hr", 1}});
  const auto patch = obj({{"$inc", view(inc)}});
  auto n = ferrite::sync_wait(r.db->update("p", Query::path("patient_id").eq("P001"), view(patch)));
  REQUIRE(n);
  CHECK(*n == 4);
  for (ferrite::DocId id = 1; id <= 4; ++id) CHECK(int_at(r.get("p", id), "hr") == 71);
}

TEST_CASE("insert_many inserts each document in its own batch and returns their ids", "[docstore]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  const std::vector<std::vector<std::byte>> docs = {obj({{"n", 1}}), obj({{"n", 2}}), obj({{"n", 3}})};
  const std::vector<View> views = {view(docs[0]), view(docs[1]), view(docs[2])};
  std::array<ferrite::DocId, 3> ids{};
  auto n = ferrite::sync_wait(r.db->insert_many("c", views, ids));
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(ids == std::array<ferrite::DocId, 3>{1, 2, 3});
  for (ferrite::DocId id = 1; id <= 3; ++id) CHECK(int_at(r.get("c", id), "n") == static_cast<std::int64_t>(id));
  std::array<ferrite::DocId, 2> short_ids{};
  CHECK(ferrite::sync_wait(r.db->insert_many("c", views, short_ids)).error() == Errc::invalid_argument);
  CHECK(*ferrite::sync_wait(r.db->count("c", Query{})) == 3);   // nothing inserted
}

TEST_CASE("insert_many stops at the first refused document; those before it stay inserted with their ids",
          "[docstore][errors]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec spec;
  spec.name = "serial";
  spec.paths[0] = "serial";
  spec.unique = true;
  REQUIRE(ferrite::sync_wait(r.db->create_index("dev", spec)));
  const std::vector<std::vector<std::byte>> docs = {obj({{"serial", "A"}}), obj({{"serial", "B"}}),
                                                    obj({{"serial", "A"}}), obj({{"serial", "C"}})};
  std::vector<View> views;
  for (const auto& d : docs) views.push_back(view(d));
  std::array<ferrite::DocId, 4> ids{};
  CHECK(ferrite::sync_wait(r.db->insert_many("dev", views, ids)).error() == Errc::exists);
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 2);
  CHECK(ids[2] == 0);   // not written for the refused document or those after it
  CHECK(ids[3] == 0);
  CHECK(r.ids("dev", Query{}) == seq({1, 2}));
  CHECK(r.ids("dev", Query::path("serial").eq("C")).empty());
  REQUIRE(r.reboot());
  CHECK(r.ids("dev", Query{}) == seq({1, 2}));
}

TEST_CASE("compound indexes of three and four paths serve every equality prefix, and a fifth path is refused",
          "[docstore][index]") {
  DocRig r(docrig::geometry());
  REQUIRE(r.fresh());
  ferrite::IndexSpec three;
  three.name = "abc";
  three.paths = {"a", "b", "c"};
  three.path_count = 3;
  ferrite::IndexSpec four;
  four.name = "abcd";
  four.paths = {"a", "b", "c", "d"};
  four.path_count = 4;
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", three)));
  for (int i = 0; i < 48; ++i) CHECK(r.insert("c", {{"a", i % 2}, {"b", i % 3}, {"c", i % 4}, {"d", i}}));
  REQUIRE(ferrite::sync_wait(r.db->create_index("c", four)));   // built over the 48 documents
  FindOptions scan;
  scan.no_index = true;
  auto same_as_scan = [&](const Query& q) {
    auto with = r.ids("c", q);
    auto without = r.ids("c", q, scan);
    std::sort(with.begin(), with.end());
    return with == without && !with.empty();
  };
  const Query a = Query::path("a").eq(1);
  const Query ab = a && Query::path("b").eq(2);
  const Query abc = ab && Query::path("c").eq(3);
  const Query abc_range = ab && Query::path("c").gte(2);
  const Query abcd = abc && Query::path("d").gte(20);
  struct Case {
    const Query* q;
    std::uint8_t eq_prefix;
    std::size_t found;
  };
  for (const Case& k : {Case{&a, 1, 24}, Case{&ab, 2, 8}, Case{&abc, 3, 4}, Case{&abc_range, 2, 4}, Case{&abcd, 3, 3}}) {
    auto plan = r.explain("c", *k.q);
    REQUIRE(plan);
    CHECK(plan->access == Plan::Access::index_range);
    CHECK(plan->eq_prefix == k.eq_prefix);
    CHECK(same_as_scan(*k.q));
    CHECK(r.ids("c", *k.q).size() == k.found);
  }
  CHECK(r.explain("c", abcd)->index_name() == "abcd");   // the range on d: only the four-path index bounds it
  CHECK(r.explain("c", abc)->estimated_keys == 4);
  const auto st = ferrite::sync_wait(r.db->stats("c"));
  REQUIRE(st);
  CHECK(st->index_count == 2);
  CHECK(st->index_entries == 96);
  ferrite::IndexSpec five = four;
  five.name = "five";
  five.path_count = 5;   // IndexSpec holds four paths (max_index_paths)
  CHECK(ferrite::sync_wait(r.db->create_index("c", five)).error() == Errc::invalid_argument);
  CHECK(ferrite::sync_wait(r.db->stats("c"))->index_count == 2);
}

namespace {

// Writes between the steps of an online index build: inserts, updates of
// documents below and above the build's mark, removes; and explain() each
// round. A stats() that still shows the index building proves that the
// explains before it ran while it was building (building only turns
// ready): those count as seen, and whether they scanned.
ferrite::Task<void> writer_during_build(ferrite::DocStore& db, ferrite::RunLoop& loop, const bool& built,
                                        int& seen_building, int& scanned, int& errors, bool& done) {
  int pending = 0, pending_scans = 0;
  for (int round = 0; !built && round < 400; ++round) {
    auto plan = co_await db.explain("c", Query::path("k").eq(3));
    ++pending;
    if (plan && plan->access == Plan::Access::collection_scan) ++pending_scans;
    if (round % 4 == 3) {
      auto st = co_await db.stats("c");
      if (st && st->index_count == 1 && !st->indexes[0].ready) {
        seen_building += pending;
        scanned += pending_scans;
      }
      pending = pending_scans = 0;
    }
    const auto d = obj({{"k", round % 7}, {"round", round}});
    if (!co_await db.insert("c", view(d))) ++errors;
    const auto patch = obj({{"k", (round + 3) % 7}});
    const ferrite::DocId low = 1 + static_cast<ferrite::DocId>((round * 5) % 200);
    const ferrite::DocId high = 400 - static_cast<ferrite::DocId>((round * 3) % 200);
    for (ferrite::DocId id : {low, high})
      if (!co_await db.update("c", Query::path("_id").eq(static_cast<long long>(id)), view(patch))) ++errors;
    if (round % 3 == 0) {
      const ferrite::DocId gone = 2 + static_cast<ferrite::DocId>((round * 7) % 398);
      if (!co_await db.remove("c", Query::path("_id").eq(static_cast<long long>(gone)))) ++errors;
    }
    co_await loop.yield();
  }
  done = true;
}

}  // namespace

TEST_CASE("an index being built is not used by the planner, and writes between build steps end up indexed",
          "[docstore][index][concurrency]") {
  SlowDocRig rig(11);
  ferrite::RunLoop& loop = rig.loop;
  ferrite::Store& store = rig.store;
  ferrite::DocStore& db = rig.db;
  auto setup_fn = [&]() -> ferrite::Task<ferrite::Status> {
    auto st = co_await store.format();
    if (!st) co_return st;
    st = co_await db.open();
    if (!st) co_return st;
    for (int i = 0; i < 400; ++i) {
      auto id = co_await db.insert("c", view(obj({{"k", i % 7}})));
      if (!id) co_return ferrite::fail(id.error());
    }
    co_return ferrite::Status{};
  };
  auto setup = setup_fn();
  REQUIRE(loop.drive(setup));
  REQUIRE(setup.take_result());
  bool built = false;
  ferrite::Status build_status{};
  ferrite::IndexSpec spec;
  spec.name = "k";
  spec.paths[0] = "k";
  auto build_fn = [&]() -> ferrite::Task<void> {
    build_status = co_await db.create_index("c", spec);
    built = true;
  };
  int seen_building = 0, scanned = 0, errors = 0;
  bool writer_done = false;
  auto build = build_fn();
  auto writer = writer_during_build(db, loop, built, seen_building, scanned, errors, writer_done);
  build.start();
  writer.start();
  for (int turns = 0; turns < 4000000 && !(built && writer_done); ++turns)
    if (!loop.run_once()) break;
  CHECK(built);
  CHECK(writer_done);
  CHECK(build_status.error() == Errc::ok);
  CHECK(errors == 0);
  CHECK(seen_building > 1);           // the writer ran between build steps
  CHECK(scanned == seen_building);    // and the planner never used the unfinished index
  auto check_fn = [&]() -> ferrite::Task<std::string> {
    auto st = co_await db.stats("c");
    if (!st) co_return "stats failed";
    if (!st->indexes[0].ready) co_return "not ready";
    if (st->index_entries != st->documents) co_return "entries " + std::to_string(st->index_entries) + " for " +
                                                      std::to_string(st->documents) + " documents";
    for (int k = 0; k < 7; ++k) {
      auto plan = co_await db.explain("c", Query::path("k").eq(k));
      if (!plan || plan->access != Plan::Access::index_range) co_return "the ready index is not used";
      std::vector<ferrite::DocId> with, without;
      for (bool no_index : {false, true}) {
        FindOptions o;
        o.no_index = no_index;
        auto cur = db.find("c", Query::path("k").eq(k), o);
        for (;;) {
          auto more = co_await cur.next();
          if (!more) co_return "find failed";
          if (!*more) break;
          (no_index ? without : with).push_back(cur.id());
        }
      }
      std::sort(with.begin(), with.end());
      if (with != without) co_return "k = " + std::to_string(k) + ": the index finds " + std::to_string(with.size()) +
                                     ", a scan " + std::to_string(without.size());
    }
    co_return "";
  };
  auto check = check_fn();
  REQUIRE(loop.drive(check));
  CHECK(check.take_result() == "");
}
