// A docstore on a sealed store: hashed indexes (docs/FORMAT.md §9.7) keep
// the indexed values off the flash, serve equalities only, survive a reboot,
// refuse a wrong key; and an attacker reading the whole flash image finds
// neither the documents nor the indexed values (a plain-value index shows
// them, which proves the search can fail).
#include <sodium.h>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
#include "doc_rig.hpp"
#include "test_keys.hpp"

using docrig::DocRig;
using docrig::obj;
using docrig::view;
using ferrite::Errc;
using ferrite::IndexSpec;
using ferrite::Sealer;
using ferrite::doc::FindOptions;
using ferrite::doc::Plan;
using ferrite::doc::Query;

// A CHECK that ends the test case (not the program) when it fails: built
// with -fno-exceptions, a failed REQUIRE aborts every test after it.
#define CHECK_OR_RETURN(expr)                \
  do {                                       \
    const bool ok_ = static_cast<bool>(expr); \
    INFO(#expr);                             \
    CHECK(ok_);                              \
    if (!ok_) return;                        \
  } while (0)

namespace {

/// A DocRig whose store is sealed with a 32-byte key (key names not hidden
/// unless asked).
struct SealedRig {
  explicit SealedRig(std::uint8_t key_seed, ferrite::SealOptions options = {})
      : sealer(options), rig(docrig::geometry()) {
    if (!sealer.use_key(test_key(key_seed))) std::abort();
    scratch.resize(ferrite::Store::scratch_needed(rig.config.max_value_size, sealer.overhead()));
    rig.config.codec = &sealer;
    rig.config.scratch = scratch;
    rig.store.emplace(rig.flash, rig.config);
  }
  Sealer sealer;
  std::vector<std::byte> scratch;
  DocRig rig;   // last: destroyed before the sealer it uses
};

/// A DocRig whose store is sealed and hides key names, keeping the docstore's
/// plain prefixes (docs/FORMAT.md §3.7).
struct HidingRig {
  explicit HidingRig(std::uint8_t key_seed) : sealer(options()), rig(docrig::geometry()) {
    if (!sealer.use_key(test_key(key_seed))) std::abort();
    scratch.resize(ferrite::Store::scratch_needed(rig.config.max_value_size, sealer.overhead()));
    rig.config.codec = &sealer;
    rig.config.scratch = scratch;
    rig.store.emplace(rig.flash, rig.config);
  }
  static ferrite::SealOptions options() {
    ferrite::SealOptions o;
    o.hide_keys = true;
    o.plain_prefix = ferrite::docstore_key_prefix;
    return o;
  }
  Sealer sealer;
  std::vector<std::byte> scratch;
  DocRig rig;
};

std::vector<std::int64_t> ids_of(ferrite::FindCursor cur) {
  std::vector<std::int64_t> out;
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      out.push_back(-static_cast<std::int64_t>(more.error()));
      return out;
    }
    if (!*more) return out;
    out.push_back(cur.id());
  }
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}
std::vector<std::int64_t> seq(std::initializer_list<std::int64_t> v) { return v; }

// Unosql's medical records, with ids long enough to search the image for.
const char* const patient_a = "PATIENT-7731-XQZ";
const char* const patient_b = "PATIENT-4410-KWM";

std::vector<std::byte> record(std::string_view patient, int heart_rate, int blood_pressure) {
  return obj({{"patient_id", patient}, {"heart_rate", heart_rate}, {"blood_pressure", blood_pressure},
              {"ward", "cardiology-east"}});
}

void add_records(DocRig& r) {
  r.clock.now = 100;
  CHECK(r.insert("patients", record(patient_a, 72, 120)));
  r.clock.now = 200;
  CHECK(r.insert("patients", record(patient_b, 68, 115)));
  r.clock.now = 300;
  CHECK(r.insert("patients", record("PATIENT-0003-AAA", 91, 135)));
  r.clock.now = 400;
  CHECK(r.insert("patients", record(patient_a, 75, 118)));
}

ferrite::Status make_index(DocRig& r, std::string_view name, std::initializer_list<std::string_view> paths,
                           bool unique = false, bool plain_values = false) {
  IndexSpec spec;
  spec.name = name;
  spec.path_count = 0;
  for (auto p : paths) spec.paths[spec.path_count++] = p;
  spec.unique = unique;
  spec.plain_values = plain_values;
  return ferrite::sync_wait(r.db->create_index("patients", spec));
}

bool image_contains(const DocRig& r, std::span<const std::byte> needle) {
  const auto img = r.sim.image();
  return std::search(img.begin(), img.end(), needle.begin(), needle.end()) != img.end();
}
bool image_contains(const DocRig& r, std::string_view needle) {
  return image_contains(r, std::as_bytes(std::span<const char>(needle.data(), needle.size())));
}

// The order-preserving encodings the plain index keys carry (docs/FORMAT.md §9.4).
std::vector<std::byte> encoded_text(std::string_view s) {
  std::vector<std::byte> out{std::byte{0x30}};
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  out.push_back(std::byte{0});
  return out;
}
std::vector<std::byte> encoded_number(double d) {
  std::uint64_t bits = std::bit_cast<std::uint64_t>(d);
  bits = (bits & (1ull << 63)) ? ~bits : bits | (1ull << 63);
  std::vector<std::byte> out{std::byte{0x20}};
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::byte>(bits >> (8 * i)));
  return out;
}

Plan::Access access(DocRig& r, const Query& q, const FindOptions& o = {}) {
  auto p = r.explain("patients", q, o);
  return p ? p->access : Plan::Access::id_range;   // id_range: never expected in these tests
}

}  // namespace

TEST_CASE("a sealed docstore hashes a compound index and uses it for equalities only", "[doc_sealed][index]") {
  SealedRig s(1);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK(r.store->sealed());
  add_records(r);
  CHECK_OR_RETURN(make_index(r, "pid_hr", {"patient_id", "heart_rate"}));
  auto st = ferrite::sync_wait(r.db->stats("patients"));
  CHECK_OR_RETURN(st);
  CHECK(st->indexes[0].hashed);
  CHECK(st->indexes[0].ready);
  CHECK(st->index_entries == 4);

  // An equality on every path: one exact key range.
  const auto both = Query::path("patient_id").eq(patient_a) && Query::path("heart_rate").eq(75);
  auto plan = r.explain("patients", both);
  CHECK_OR_RETURN(plan);
  CHECK(plan->access == Plan::Access::index_range);
  CHECK(plan->index_name() == "pid_hr");
  CHECK(plan->ranges == 1);
  CHECK(plan->estimated_keys == 1);
  CHECK(r.ids("patients", both) == seq({4}));
  CHECK(r.ids("patients", Query::path("patient_id").eq(patient_b) && Query::path("heart_rate").eq(75)).empty());

  // `in` is several equalities.
  const auto several = Query::path("patient_id").in({patient_a, patient_b}) && Query::path("heart_rate").in({68, 72});
  // (one `in` is used by the index; the other path then has no equality: scan)
  CHECK(access(r, several) == Plan::Access::collection_scan);
  CHECK(sorted(r.ids("patients", several)) == seq({1, 2}));
  const auto in_one = Query::path("patient_id").in({patient_a, patient_b}) && Query::path("heart_rate").eq(68);
  plan = r.explain("patients", in_one);
  CHECK_OR_RETURN(plan);
  CHECK(plan->access == Plan::Access::index_range);
  CHECK(plan->ranges == 2);
  CHECK(r.ids("patients", in_one) == seq({2}));

  // A range on it, an equality on its first path only, a prefix: answered
  // correctly through a scan.
  const auto range = Query::path("patient_id").eq(patient_a) && Query::path("heart_rate").gt(73);
  CHECK(access(r, range) == Plan::Access::collection_scan);
  CHECK(r.ids("patients", range) == seq({4}));
  CHECK(access(r, Query::path("patient_id").eq(patient_a)) == Plan::Access::collection_scan);
  CHECK(r.ids("patients", Query::path("patient_id").eq(patient_a)) == seq({1, 4}));
  CHECK(access(r, Query::path("patient_id").prefix("PATIENT-77")) == Plan::Access::collection_scan);
  CHECK(r.ids("patients", Query::path("patient_id").prefix("PATIENT-77")) == seq({1, 4}));

  // Writes keep the entries right: an update moves a document to its new hash.
  const auto patch = obj({{"heart_rate", 80}});
  CHECK(*ferrite::sync_wait(r.db->update("patients", Query::path("_id").eq(2), view(patch))) == 1);
  CHECK(r.ids("patients", Query::path("patient_id").eq(patient_b) && Query::path("heart_rate").eq(68)).empty());
  CHECK(r.ids("patients", Query::path("patient_id").eq(patient_b) && Query::path("heart_rate").eq(80)) == seq({2}));
  CHECK(*ferrite::sync_wait(r.db->remove("patients", both)) == 1);
  CHECK(r.ids("patients", both).empty());
  CHECK(ferrite::sync_wait(r.db->stats("patients"))->index_entries == 3);
}

TEST_CASE("a hashed single-path index never serves a range or a sort", "[doc_sealed][index]") {
  SealedRig s(2);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  add_records(r);
  CHECK_OR_RETURN(make_index(r, "hr", {"heart_rate"}));
  CHECK(access(r, Query::path("heart_rate").eq(91)) == Plan::Access::index_range);
  CHECK(r.ids("patients", Query::path("heart_rate").eq(91)) == seq({3}));
  CHECK(access(r, Query::path("heart_rate").in({68, 75})) == Plan::Access::index_range);
  CHECK(sorted(r.ids("patients", Query::path("heart_rate").in({68, 75}))) == seq({2, 4}));
  CHECK(access(r, Query::path("heart_rate").gte(72)) == Plan::Access::collection_scan);
  CHECK(r.ids("patients", Query::path("heart_rate").gte(72)) == seq({1, 3, 4}));
  CHECK(r.ids("patients", Query::path("heart_rate").between(70, 80)) == seq({1, 4}));

  // Sorting by the hashed path: never natural (hash order is no order), so a
  // sort needs a top-k limit.
  FindOptions o;
  o.sort_path = "heart_rate";
  CHECK(r.ids("patients", Query{}, o).back() == -static_cast<std::int64_t>(Errc::unsupported));
  o.limit = 4;
  auto plan = r.explain("patients", Query::path("heart_rate").in({68, 72, 75, 91}), o);
  CHECK_OR_RETURN(plan);
  CHECK(plan->sort == Plan::Sort::top_k);
  CHECK(r.ids("patients", Query::path("heart_rate").in({68, 72, 75, 91}), o) == seq({2, 1, 4, 3}));
}

TEST_CASE("a hashed multikey index finds each element, and a long text through its cut encoding",
          "[doc_sealed][index]") {
  SealedRig s(3);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  const std::string long_a(90, 'n'), long_b = std::string(80, 'n') + "different";
  CHECK(r.insert("patients", obj({{"tags", view(docrig::arr({"cardio", "icu"}))}, {"note", std::string_view(long_a)}})));
  CHECK(r.insert("patients", obj({{"tags", view(docrig::arr({"icu", "neuro"}))}, {"note", std::string_view(long_b)}})));
  CHECK_OR_RETURN(make_index(r, "tags", {"tags"}));
  CHECK_OR_RETURN(make_index(r, "note", {"note"}));
  CHECK(access(r, Query::path("tags").eq("icu")) == Plan::Access::index_range);
  CHECK(r.ids("patients", Query::path("tags").eq("icu")) == seq({1, 2}));
  CHECK(r.ids("patients", Query::path("tags").eq("neuro")) == seq({2}));
  CHECK(ferrite::sync_wait(r.db->stats("patients"))->indexes[0].entries == 4);
  // Texts longer than the hashed budget share a hash when they share its
  // stored prefix: the residual check keeps the answer exact.
  CHECK(access(r, Query::path("note").eq(std::string_view(long_b))) == Plan::Access::index_range);
  CHECK(r.ids("patients", Query::path("note").eq(std::string_view(long_b))) == seq({2}));
  CHECK(r.ids("patients", Query::path("note").eq(std::string_view(long_a))) == seq({1}));
}

TEST_CASE("a unique hashed index refuses duplicates with exists", "[doc_sealed][index]") {
  SealedRig s(4);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  add_records(r);
  // Over existing duplicates (patient_a twice): refused, and dropped again.
  CHECK(make_index(r, "pid", {"patient_id"}, true).error() == Errc::exists);
  CHECK(ferrite::sync_wait(r.db->stats("patients"))->index_count == 0);
  CHECK_OR_RETURN(make_index(r, "bp", {"blood_pressure"}, true));
  CHECK(ferrite::sync_wait(r.db->stats("patients"))->indexes[0].hashed);
  CHECK(r.insert("patients", record("PATIENT-9999-ZZZ", 60, 115)).error() == Errc::exists);
  CHECK(*ferrite::sync_wait(r.db->count("patients", Query{})) == 4u);
  auto id = r.insert("patients", record("PATIENT-9999-ZZZ", 60, 116));
  CHECK_OR_RETURN(id);
  CHECK(access(r, Query::path("blood_pressure").eq(116)) == Plan::Access::index_range);
  CHECK(r.ids("patients", Query::path("blood_pressure").eq(116)) == seq({*id}));
  const auto clash = obj({{"blood_pressure", 135}});
  CHECK(ferrite::sync_wait(r.db->update("patients", Query::path("_id").eq(*id), view(clash))).error() ==
        Errc::exists);
  CHECK(r.ids("patients", Query::path("blood_pressure").eq(135)) == seq({3}));
}

TEST_CASE("a sealed docstore reads everything after a reboot with its key and refuses another key",
          "[doc_sealed]") {
  SealedRig s(5);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  add_records(r);
  CHECK_OR_RETURN(make_index(r, "pid_hr", {"patient_id", "heart_rate"}));
  CHECK_OR_RETURN(make_index(r, "bp", {"blood_pressure"}, true));
  const auto both = Query::path("patient_id").eq(patient_a) && Query::path("heart_rate").eq(72);

  CHECK_OR_RETURN(r.reboot());
  CHECK(view(r.get("patients", 3)).get("patient_id").string() == "PATIENT-0003-AAA");
  CHECK(access(r, both) == Plan::Access::index_range);
  CHECK(r.ids("patients", both) == seq({1}));
  CHECK(r.ids("patients", Query::path("blood_pressure").eq(115)) == seq({2}));
  auto st = ferrite::sync_wait(r.db->stats("patients"));
  CHECK_OR_RETURN(st);
  CHECK(st->documents == 4);
  CHECK(st->index_count == 2);
  CHECK(st->indexes[0].hashed);
  CHECK(st->indexes[1].hashed);
  CHECK(st->indexes[1].unique);
  CHECK(r.insert("patients", record(patient_b, 99, 120)).error() == Errc::exists);

  SealedRig wrong(6);
  wrong.rig.sim.load_image(r.sim.image());
  CHECK(ferrite::sync_wait(wrong.rig.store->mount()).error() == Errc::wrong_key);
  DocRig none(docrig::geometry());
  none.sim.load_image(r.sim.image());
  CHECK(ferrite::sync_wait(none.store->mount()).error() == Errc::wrong_key);
}

TEST_CASE("a plain store keeps plain indexes and refuses a hashed one; a sealed store takes a plain-value opt-in",
          "[doc_sealed][policy]") {
  DocRig plain(docrig::geometry());
  CHECK_OR_RETURN(plain.fresh());
  CHECK(!plain.store->sealed());
  add_records(plain);
  IndexSpec spec;
  spec.name = "hr";
  spec.paths[0] = "heart_rate";
  spec.hashed = true;
  CHECK(ferrite::sync_wait(plain.db->create_index("patients", spec)).error() == Errc::unsupported);
  spec.hashed = false;
  CHECK_OR_RETURN(ferrite::sync_wait(plain.db->create_index("patients", spec)));
  CHECK(!ferrite::sync_wait(plain.db->stats("patients"))->indexes[0].hashed);
  CHECK(access(plain, Query::path("heart_rate").gte(72)) == Plan::Access::index_range);

  SealedRig s(7);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  add_records(r);
  spec.hashed = true;
  spec.plain_values = true;
  CHECK(ferrite::sync_wait(r.db->create_index("patients", spec)).error() == Errc::invalid_argument);
  spec.hashed = false;
  CHECK_OR_RETURN(ferrite::sync_wait(r.db->create_index("patients", spec)));
  CHECK(!ferrite::sync_wait(r.db->stats("patients"))->indexes[0].hashed);
  CHECK(access(r, Query::path("heart_rate").gte(72)) == Plan::Access::index_range);
  CHECK(r.ids("patients", Query::path("heart_rate").gte(72)) == seq({1, 4, 3}));
}

TEST_CASE("the index definition keeps unique in flags bit 0 and hashed in bit 1, and refuses other bits",
          "[doc_sealed][format]") {
  SealedRig s(8);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  add_records(r);
  CHECK_OR_RETURN(make_index(r, "bp", {"blood_pressure"}, true));                 // iid 1: unique, hashed
  CHECK_OR_RETURN(make_index(r, "hr", {"heart_rate"}, false, true));             // iid 2: plain values
  CHECK_OR_RETURN(make_index(r, "pid", {"patient_id"}));                         // iid 3: hashed
  auto flags_of = [&](std::uint8_t iid) {
    const std::array<std::byte, 5> key{std::byte{0xFE}, std::byte{'X'}, std::byte{0}, std::byte{1}, std::byte{iid}};
    std::vector<std::byte> v;
    CHECK(ferrite::sync_wait(r.store->get_into(key, v)));
    return v.size() > 1 ? static_cast<int>(v[1]) : -1;
  };
  CHECK(flags_of(1) == 3);
  CHECK(flags_of(2) == 0);
  CHECK(flags_of(3) == 2);
  // A flag this version does not know is damage, not a guess.
  const std::array<std::byte, 5> key{std::byte{0xFE}, std::byte{'X'}, std::byte{0}, std::byte{1}, std::byte{3}};
  std::vector<std::byte> v;
  CHECK_OR_RETURN(ferrite::sync_wait(r.store->get_into(key, v)));
  v[1] = std::byte{10};   // bit 3: unknown (bit 1 hashed, bit 2 multikey)
  CHECK_OR_RETURN(ferrite::sync_wait(r.store->put(key, v)));
  CHECK(r.reboot().error() == Errc::corrupt);
}

TEST_CASE("a hashed entry key is FE kind cid iid BLAKE2b-128(prefix ++ encodings, key = index subkey)",
          "[doc_sealed][format][kat]") {
  SealedRig s(9);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK(r.insert("patients", record(patient_a, 72, 120)));
  CHECK_OR_RETURN(make_index(r, "pid_hr", {"patient_id", "heart_rate"}, true));
  // index subkey = BLAKE2b-256(store salt ++ "ferrite index key v1", key = master)
  const auto img = r.sim.image();
  const auto master = test_key(9);
  std::array<unsigned char, 32> index_key{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(master.data()), 32, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(img.data() + 32 + 28), 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>("ferrite index key v1"), 20);
  crypto_generichash_final(&st, index_key.data(), 32);
  std::vector<std::byte> message{std::byte{0xFE}, std::byte{'U'}, std::byte{0}, std::byte{1}, std::byte{1}};
  for (auto b : encoded_text(patient_a)) message.push_back(b);
  for (auto b : encoded_number(72)) message.push_back(b);
  std::array<std::byte, 16> h{};
  crypto_generichash(reinterpret_cast<unsigned char*>(h.data()), 16, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), index_key.data(), 32);
  std::vector<std::byte> expected(message.begin(), message.begin() + 5);
  expected.insert(expected.end(), h.begin(), h.end());

  const std::array<std::byte, 2> prefix{std::byte{0xFE}, std::byte{'U'}};
  auto c = r.store->scan(prefix);
  std::vector<std::vector<std::byte>> keys;
  std::array<std::byte, 4> id{};
  while (*ferrite::sync_wait(c.next())) {
    keys.emplace_back(c.key().begin(), c.key().end());
    CHECK(*ferrite::sync_wait(c.read_value(id)) == 4u);
  }
  CHECK_OR_RETURN(keys.size() == 1);
  CHECK(keys[0] == expected);
  CHECK(id == std::array<std::byte, 4>{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}});
}

TEST_CASE("an attacker reading the whole flash of a sealed docstore finds no document and no indexed value",
          "[doc_sealed][attack]") {
  const auto body = record(patient_a, 72, 120);
  // The document's members as the stored CBOR carries them (after _id, _ts, _v).
  const std::vector<std::byte> members(body.begin() + 1, body.end());
  const auto hr_value = encoded_number(72);
  const auto pid_value = encoded_text(patient_a);

  // The control: on a plain store all of it is on the flash, so the search works.
  DocRig plain(docrig::geometry());
  CHECK_OR_RETURN(plain.fresh());
  add_records(plain);
  CHECK_OR_RETURN(make_index(plain, "pid_hr", {"patient_id", "heart_rate"}));
  CHECK(image_contains(plain, patient_a));
  CHECK(image_contains(plain, members));
  CHECK(image_contains(plain, pid_value));
  CHECK(image_contains(plain, hr_value));

  // Sealed, hashed indexes (the default), including a unique one and one
  // built while documents arrive; updates and removals leave old records behind.
  SealedRig s(10);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK_OR_RETURN(make_index(r, "pid_hr", {"patient_id", "heart_rate"}));
  add_records(r);
  CHECK_OR_RETURN(make_index(r, "hr", {"heart_rate"}));
  CHECK_OR_RETURN(make_index(r, "bp", {"blood_pressure"}, true));
  const auto patch = obj({{"ward", "cardiology-west"}});
  CHECK(*ferrite::sync_wait(r.db->update("patients", Query::path("heart_rate").eq(91), view(patch))) == 1);
  CHECK(*ferrite::sync_wait(r.db->remove("patients", Query::path("heart_rate").eq(68))) == 1);
  CHECK_OR_RETURN(r.reboot());
  CHECK(r.ids("patients", Query::path("patient_id").eq(patient_a) && Query::path("heart_rate").eq(72)) == seq({1}));
  CHECK(!image_contains(r, patient_a));
  CHECK(!image_contains(r, patient_b));
  CHECK(!image_contains(r, "cardiology"));
  CHECK(!image_contains(r, "heart_rate"));
  CHECK(!image_contains(r, members));
  CHECK(!image_contains(r, pid_value));
  CHECK(!image_contains(r, hr_value));
  CHECK(!image_contains(r, encoded_number(120)));
  // What stays visible (docs/SECURITY-NOTES-DOCSTORE.md): the collection name in its key.
  CHECK(image_contains(r, "patients"));

  // A plain-value opt-in index on the same sealed store shows its values in
  // its keys: the patient id appears although every document stays sealed.
  CHECK_OR_RETURN(make_index(r, "pid_plain", {"patient_id"}, false, true));
  CHECK(image_contains(r, patient_a));
  CHECK(image_contains(r, pid_value));
  CHECK(!image_contains(r, members));
  CHECK(!image_contains(r, "cardiology"));
}

TEST_CASE("a capped collection on a sealed store evicts documents with their hashed index entries",
          "[doc_sealed][capped]") {
  SealedRig s(9);
  DocRig& r = s.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK_OR_RETURN(ferrite::sync_wait(r.db->create_collection("patients", ferrite::CollectionOptions{3, 0})));
  CHECK_OR_RETURN(make_index(r, "bp", {"blood_pressure"}, true));
  for (int i = 0; i < 6; ++i) CHECK(r.insert("patients", record(patient_a, 60 + i, 110 + i)));
  auto st = ferrite::sync_wait(r.db->stats("patients"));
  CHECK_OR_RETURN(st);
  CHECK(st->indexes[0].hashed);
  CHECK(st->documents == 3);
  CHECK(st->index_entries == 3);
  CHECK(r.ids("patients", Query::path("blood_pressure").eq(111)).empty());
  CHECK(r.ids("patients", Query::path("blood_pressure").eq(114)) == seq({5}));
  // The evicted unique value is free again.
  CHECK(r.insert("patients", record(patient_b, 70, 111)));
}

TEST_CASE("a sealed docstore that hides key names leaves no collection name, field or value on the flash",
          "[doc_sealed][hidden_names][attack]") {
  HidingRig h(11);
  DocRig& r = h.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK(r.store->hides_key_names());
  CHECK_OR_RETURN(make_index(r, "pid_hr", {"patient_id", "heart_rate"}));
  add_records(r);
  CHECK(r.insert("patients", {{"name", "Alice"}, {"patient_id", "PATIENT-9000-ALC"}, {"heart_rate", 66}}));
  CHECK_OR_RETURN(make_index(r, "by_name", {"name"}, true));
  CHECK(r.insert("wards", {{"title", "cardiology-north"}}));
  const auto patch = obj({{"ward", "cardiology-west"}});
  CHECK(*ferrite::sync_wait(r.db->update("patients", Query::path("heart_rate").eq(91), view(patch))) == 1);
  CHECK(*ferrite::sync_wait(r.db->remove("patients", Query::path("heart_rate").eq(68))) == 1);

  auto check_everything = [&] {
    std::array<std::string_view, 4> names{};
    CHECK(r.db->list_collections(names) == 2);
    CHECK(names[0] == "patients");
    CHECK(names[1] == "wards");
    // Hashed indexes serve equalities.
    const auto both = Query::path("patient_id").eq(patient_a) && Query::path("heart_rate").eq(75);
    CHECK(access(r, both) == Plan::Access::index_range);
    CHECK(r.ids("patients", both) == seq({4}));
    CHECK(access(r, Query::path("name").eq("Alice")) == Plan::Access::index_range);
    CHECK(r.ids("patients", Query::path("name").eq("Alice")) == seq({5}));
    // Id order: first_n, last_n, _id ranges, scans with a residual filter.
    CHECK(ids_of(r.db->first_n("patients", 2)) == seq({1, 3}));
    CHECK(ids_of(r.db->last_n("patients", 2)) == seq({5, 4}));
    CHECK(access(r, Query::path("_id").gte(3)) == Plan::Access::id_range);
    CHECK(r.ids("patients", Query::path("_id").gte(3)) == seq({3, 4, 5}));
    CHECK(r.ids("patients", Query::path("ward").eq("cardiology-west")) == seq({3}));
    CHECK(*ferrite::sync_wait(r.db->count("patients", Query{})) == 4);
    CHECK(!r.get("patients", 5).empty());
    CHECK(r.ids("wards", Query{}) == seq({1}));
    auto st = ferrite::sync_wait(r.db->stats("patients"));
    CHECK_OR_RETURN(st);
    CHECK(st->documents == 4);
  };
  check_everything();
  CHECK_OR_RETURN(r.reboot());
  check_everything();

  // Transactions across collections.
  {
    ferrite::DocTransaction tx(*r.db);
    CHECK(ferrite::sync_wait(tx.insert("wards", view(obj({{"title", "oncology-south"}})))));
    CHECK(ferrite::sync_wait(tx.insert("patients", view(obj({{"name", "Bob"}, {"heart_rate", 70}})))));
    CHECK(ferrite::sync_wait(tx.commit()));
  }
  // (ids resume at the collection's checkpoint after the reboot: 17)
  CHECK(r.ids("patients", Query::path("name").eq("Bob")) == seq({17}));
  CHECK(r.ids("wards", Query{}) == seq({1, 17}));

  // What a reader of the flash does not find: collection names, field
  // names, values (the documents', the indexed ones, the index names).
  for (const char* secret : {"patients", "wards", "Alice", "Bob", "name", "patient_id", "heart_rate", "cardiology",
                             "oncology", "title", patient_a, patient_b, "pid_hr", "by_name"}) {
    INFO(secret);
    CHECK(!image_contains(r, secret));
  }
  CHECK(!image_contains(r, encoded_text("Alice")));
  CHECK(!image_contains(r, encoded_text(patient_a)));
  CHECK(!image_contains(r, encoded_number(72)));

  // Drop and clear still work, and the names stay off the flash.
  CHECK(ferrite::sync_wait(r.db->clear("wards")));
  CHECK(r.ids("wards", Query{}).empty());
  CHECK(ferrite::sync_wait(r.db->drop_collection("wards")));
  CHECK_OR_RETURN(r.reboot());
  std::array<std::string_view, 4> names{};
  CHECK(r.db->list_collections(names) == 1);
  CHECK(r.ids("patients", Query::path("name").eq("Alice")) == seq({5}));
  CHECK(r.insert("wards", {{"title", "new"}}));
  CHECK(!image_contains(r, "wards"));
}

TEST_CASE("on a store that hides key names a collection record is FE 43 H(name) and carries its name at its end",
          "[doc_sealed][hidden_names][format][kat]") {
  HidingRig h(12);
  DocRig& r = h.rig;
  CHECK_OR_RETURN(r.fresh());
  CHECK(r.insert("patients", record(patient_a, 72, 120)));
  // name subkey = BLAKE2b-256(store salt ++ "ferrite name key v1", key = master)
  const auto img = r.sim.image();
  const auto master = test_key(12);
  std::array<unsigned char, 32> name_key{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(master.data()), 32, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(img.data() + 32 + 28), 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>("ferrite name key v1"), 19);
  crypto_generichash_final(&st, name_key.data(), 32);
  const std::string name = "\xFE" "Cpatients";
  std::array<std::byte, 16> hash{};
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), 16,
                     reinterpret_cast<const unsigned char*>(name.data()), name.size(), name_key.data(), 32);
  std::vector<std::byte> expected{std::byte{0xFE}, std::byte{'C'}};
  expected.insert(expected.end(), hash.begin(), hash.end());

  const std::array<std::byte, 2> prefix{std::byte{0xFE}, std::byte{'C'}};
  auto c = r.store->scan(prefix);
  std::vector<std::vector<std::byte>> keys;
  std::array<std::byte, 64> value{};
  std::size_t value_size = 0;
  while (*ferrite::sync_wait(c.next())) {
    keys.emplace_back(c.key().begin(), c.key().end());
    value_size = ferrite::sync_wait(c.read_value(value)).value_or(0);
  }
  CHECK_OR_RETURN(keys.size() == 1);
  CHECK(keys[0] == expected);
  // cid 1 | flags 0x80 (named) | checkpoint 17 | "patients" | 8
  std::vector<std::byte> want{std::byte{1}, std::byte{0}, std::byte{0x80}, std::byte{17}, std::byte{0}, std::byte{0},
                              std::byte{0}};
  for (char ch : std::string_view("patients")) want.push_back(static_cast<std::byte>(ch));
  want.push_back(std::byte{8});
  CHECK(std::vector<std::byte>(value.begin(), value.begin() + value_size) == want);
  // The documents' keys stay whole: FE 44 cid id.
  const std::array<std::byte, 8> doc{std::byte{0xFE}, std::byte{'D'}, std::byte{0}, std::byte{1},
                                     std::byte{0},    std::byte{0},   std::byte{0}, std::byte{1}};
  std::array<std::byte, 64> stored{};
  CHECK(r.store->stored_name(doc, stored).value_or(0) == 8);
  CHECK(std::equal(doc.begin(), doc.end(), stored.begin()));
}

TEST_CASE("a named collection record whose name trailer does not fit makes open() answer corrupt",
          "[doc_sealed][hidden_names][errors]") {
  const std::string name = "\xFE" "Cpatients";
  for (std::uint8_t bad_length : {std::uint8_t{0}, std::uint8_t{9}, std::uint8_t{33}}) {
    INFO("trailer length " << int(bad_length));
    HidingRig h(13);
    DocRig& r = h.rig;
    CHECK_OR_RETURN(r.fresh());
    CHECK(r.insert("patients", record(patient_a, 72, 120)));
    std::vector<std::byte> v;
    CHECK_OR_RETURN(ferrite::sync_wait(r.store->get_into(ferrite::as_bytes(name), v)));
    CHECK(v.size() == 16);
    v.back() = std::byte{bad_length};
    CHECK_OR_RETURN(ferrite::sync_wait(r.store->put(ferrite::as_bytes(name), v)));
    CHECK(r.reboot().error() == Errc::corrupt);
  }
}

TEST_CASE("a docstore on a sealed store that hashes whole key names cannot open: unsupported",
          "[doc_sealed][hidden_names][errors]") {
  ferrite::SealOptions o;
  o.hide_keys = true;
  Sealer sealer(o);
  CHECK(sealer.use_key(test_key(14)));
  DocRig r(docrig::geometry());
  std::vector<std::byte> scratch(ferrite::Store::scratch_needed(r.config.max_value_size, sealer.overhead()));
  r.config.codec = &sealer;
  r.config.scratch = scratch;
  r.store.emplace(r.flash, r.config);
  CHECK_OR_RETURN(ferrite::sync_wait(r.store->format()));
  ferrite::DocStore db(*r.store, ferrite::DocConfig{});
  CHECK(ferrite::sync_wait(db.open()).error() == Errc::unsupported);
  r.store.reset();
}

TEST_CASE("creating a collection that another docstore on the store created answers exists when names are hidden",
          "[doc_sealed][hidden_names][errors]") {
  HidingRig h(15);
  DocRig& r = h.rig;
  CHECK_OR_RETURN(r.fresh());
  ferrite::DocStore other(*r.store, ferrite::DocConfig{});
  CHECK_OR_RETURN(ferrite::sync_wait(other.open()));
  CHECK(ferrite::sync_wait(r.db->create_collection("patients")));
  // `other` has not seen it: the record on flash (with its name trailer) answers.
  CHECK(ferrite::sync_wait(other.create_collection("patients")).error() == Errc::exists);
}
