// The documents of ferrite-demo: the sealed store they live in, a few typed
// settings, the patients collection with its compound index, a transaction
// across two collections and a time-frame query.
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.sim;
#include "demo.hpp"

namespace demo {

using ferrite::doc::Query;

Status expect(bool ok, std::string_view what) {
  if (ok) return Status{};
  fmt::print(stderr, "demo: expected {}\n", what);
  return ferrite::fail(Errc::corrupt);
}

SealedStore::SealedStore(ferrite::Flash part, ferrite::Sealer& sealer) : part_(part) {
  config_ = memory_.config();
  config_.max_value_size = 1024;
  scratch_.resize(ferrite::Store::scratch_needed(config_.max_value_size, sealer.overhead()));
  config_.codec = &sealer;
  config_.scratch = scratch_;
  store_.emplace(part_, config_);
}

void SealedStore::reboot() {
  db_.reset();
  memory_ = {};
  config_.index = memory_.index;
  config_.order = memory_.order;
  config_.sectors = memory_.sectors;
  store_.emplace(part_, config_);
}

Task<Status> SealedStore::format(std::uint32_t store_id) { co_return co_await store_->format({store_id}); }

Task<Status> SealedStore::mount() { co_return co_await store_->mount(); }

Task<Status> SealedStore::open_documents() {
  db_.emplace(*store_);
  co_return co_await db_->open();
}

Task<Result<Documents>> all_documents(ferrite::DocStore& db, std::string_view collection) {
  Documents out;
  auto cursor = db.find(collection, Query{});
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    const auto raw = cursor.document().raw();
    out.emplace(cursor.id(), std::vector<std::byte>(raw.begin(), raw.end()));
  }
  co_return out;
}

Task<Result<std::vector<ferrite::DocId>>> ids_of(ferrite::DocStore& db, std::string_view collection,
                                                  const Query& query) {
  std::vector<ferrite::DocId> ids;
  auto cursor = db.find(collection, query);
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    ids.push_back(cursor.id());
  }
  co_return ids;
}

namespace {

/// One JSON text as a document: its CBOR lives in `buffer`.
Result<ferrite::doc::View> from_json(std::string_view json, std::vector<std::byte>& buffer) {
  buffer.resize(1024);
  ferrite::doc::TextError where{};
  auto size = ferrite::doc::json_to_cbor(json, buffer, {}, &where);
  if (!size) {
    fmt::print(stderr, "demo: JSON at line {} column {}: {}\n", where.line, where.column, size.error());
    return ferrite::fail(size.error());
  }
  buffer.resize(*size);
  return ferrite::doc::View::parse(buffer);
}

Result<Query> query_of(std::string_view json) { return Query::from_json(json); }

/// A member of a document as text, for printing.
std::string text_of(const ferrite::doc::View& doc, std::string_view path) {
  const auto v = doc.path(path);
  if (v.type() == ferrite::doc::Type::string) return std::string(v.string());
  if (v.is_number()) return fmt::format("{}", v.number());
  return "-";
}

constexpr std::string_view admissions[] = {
    R"({"patient_id": "P-1001", "ts": 1700000000, "name": "Ada Byrne", "born": 1958, "ward": "cardiology"})",
    R"({"patient_id": "P-1002", "ts": 1700003600, "name": "Bo Lindqvist", "born": 1971, "ward": "cardiology"})",
    R"({"patient_id": "P-1003", "ts": 1700007200, "name": "Chidi Okafor", "born": 1990, "ward": "neurology"})",
    R"({"patient_id": "P-1004", "ts": 1700050000, "name": "Dana Weiss", "born": 1949, "ward": "cardiology"})",
    R"({"patient_id": "P-1002", "ts": 1700086400, "name": "Bo Lindqvist", "born": 1971, "ward": "cardiology"})",
    R"({"patient_id": "P-1005", "ts": 1700100000, "name": "Emil Sato", "born": 1984, "ward": "neurology"})",
};

}  // namespace

Task<Status> typed_settings(ferrite::Store& store) {
  FERRITE_CO_TRY(co_await store.put_as("cfg.hr_alarm_bpm", std::uint32_t{120}));
  FERRITE_CO_TRY(co_await store.put_as("cfg.ward", std::string_view("cardiology")));
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t alarm, co_await store.get_as<std::uint32_t>("cfg.hr_alarm_bpm"));
  std::string ward;
  FERRITE_CO_TRY(co_await store.get_string("cfg.ward", ward));
  const auto wrong = co_await store.get_as<float>("cfg.hr_alarm_bpm");
  fmt::print("  settings: cfg.hr_alarm_bpm = {} (u32; read as float: {}), cfg.ward = {}\n", alarm,
             wrong ? "read?!" : ferrite::describe(wrong.error()), ward);
  co_return expect(alarm == 120 && ward == "cardiology" && !wrong,
                   "both settings back, and a refusal as another type");
}

Task<Status> patients(ferrite::DocStore& db) {
  ferrite::IndexSpec spec;
  spec.name = "by_patient_ts";
  spec.paths[0] = "patient_id";
  spec.paths[1] = "ts";
  spec.path_count = 2;
  FERRITE_CO_TRY(co_await db.create_index("patients", spec));
  std::vector<std::byte> buffer;
  for (std::string_view json : admissions) {
    FERRITE_CO_TRY_ASSIGN(const auto doc, from_json(json, buffer));
    FERRITE_CO_TRY(co_await db.insert("patients", doc));
  }
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t n, co_await db.count("patients", Query{}));
  fmt::print("  {} documents inserted from JSON text; index by_patient_ts (patient_id, ts), hashed: "
             "equality only\n", n);
  FERRITE_CO_TRY_ASSIGN(const Query q, query_of(patient_query));
  FERRITE_CO_TRY_ASSIGN(const auto plan, co_await db.explain("patients", q));
  auto cursor = db.find("patients", q);
  int found = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    ++found;
    fmt::print("  find {}: _id {} {} ({}, ward {})\n", patient_query, cursor.id(), text_of(cursor.document(), "name"),
               text_of(cursor.document(), "born"), text_of(cursor.document(), "ward"));
  }
  const bool indexed = plan.access == ferrite::doc::Plan::Access::index_range;
  fmt::print("  plan: {}\n", indexed ? "index by_patient_ts" : "collection scan");
  co_return expect(n == std::size(admissions) && found == 1 && indexed, "6 patients, 1 found through the index");
}

Task<Status> visit_transaction(ferrite::DocStore& db) {
  std::vector<std::byte> visit_bytes, patch_bytes;
  FERRITE_CO_TRY_ASSIGN(
      const auto visit,
      from_json(R"({"patient_id": "P-1002", "ts": 1700093600, "reason": "chest pain", "hr_bpm": 112})", visit_bytes));
  FERRITE_CO_TRY_ASSIGN(const auto patch,
                        from_json(R"({"last_visit": 1700093600, "$inc": {"visits": 1}})", patch_bytes));
  FERRITE_CO_TRY_ASSIGN(const Query q, query_of(patient_query));
  ferrite::DocTransaction tx(db);
  FERRITE_CO_TRY_ASSIGN(const ferrite::DocId visit_id, co_await tx.insert("visits", visit));
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t updated, co_await tx.update("patients", q, patch));
  FERRITE_CO_TRY(co_await tx.commit());  // both or neither, even across a power cut
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t visits, co_await db.count("visits", Query{}));
  FERRITE_CO_TRY_ASSIGN(const auto ids, co_await ids_of(db, "patients", q));
  std::vector<std::byte> doc(1024);
  std::string seen = "-";
  if (ids.size() == 1) {
    FERRITE_CO_TRY_ASSIGN(const std::size_t size, co_await db.get("patients", ids[0], doc));
    FERRITE_CO_TRY_ASSIGN(const auto view, ferrite::doc::View::parse(std::span(doc).first(size)));
    seen = fmt::format("visits {}, last_visit {}", text_of(view, "visits"), text_of(view, "last_visit"));
  }
  fmt::print("  committed: visit _id {} in visits ({} document), patient P-1002 updated ({} document): {}\n", visit_id,
             visits, updated, seen);
  co_return expect(visits == 1 && updated == 1 && seen == "visits 1, last_visit 1700093600",
                   "one visit and its patient updated together");
}

Task<Status> timeframe(ferrite::DocStore& db) {
  constexpr std::int64_t from = 1700003600, to = 1700086400;  // the first day after the first admission
  auto cursor = db.in_timeframe("patients", "ts", from, to);
  std::vector<std::string> names;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    names.push_back(fmt::format("{} {} at {}", text_of(cursor.document(), "patient_id"),
                                text_of(cursor.document(), "name"), text_of(cursor.document(), "ts")));
  }
  fmt::print("  admissions with {} <= ts <= {}: {}\n", from, to, names.size());
  for (const auto& n : names) fmt::print("    {}\n", n);
  co_return expect(names.size() == 4, "4 admissions in the time frame");
}

}  // namespace demo
