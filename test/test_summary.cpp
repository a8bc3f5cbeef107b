// Sector summaries (docs/FORMAT.md §5.2): maintain() lists a sector's
// records in the sector after it, and mount replays the sector from that
// list, reading header words (names only where two live keys share a hash)
// but no value.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
import ferrite.sim;
#if FERRITE_WITH_TRANSACTIONS
import ferrite.txn;
#endif
#if FERRITE_HAVE_CRYPTO && FERRITE_WITH_SEALING
import ferrite.crypto;
#endif
#include "crc_collisions.hpp"
#include "log_rig.hpp"
#if FERRITE_HAVE_CRYPTO && FERRITE_WITH_SEALING
#include "test_keys.hpp"
#endif

using ferrite::Errc;

#if FERRITE_WITH_SUMMARIES
namespace {

constexpr std::uint32_t sector_count = 12, sector_size = 4096;

/// A store of 12 x 4 KiB sectors, with or without summaries.
struct Bed {
  explicit Bed(bool summaries) : r(rig::geometry(sector_count, sector_size, 4)) {
    r.config.sector_summaries = summaries;
    r.store.emplace(r.flash, r.config);
    CHECK(r.format());
  }
  /// Writes "cold" once, then updates and erases keys "k0".."k79" at
  /// random (values of 8 to 120 bytes) with maintain() after every write;
  /// `model` follows.
  void fill(int updates, std::map<std::string, std::string>& model, std::uint64_t seed = 7) {
    rig::Random rnd(seed);
    if (!model.count("cold")) {
      CHECK(r.put("cold", std::string(40, 'C')));
      model["cold"] = std::string(40, 'C');
    }
    for (int i = 0; i < updates; ++i) {
      const std::string key = "k" + std::to_string(rnd.below(80));
      if (rnd.below(8) == 0) {
        const auto st = r.erase(key);
        CHECK((st || st.error() == Errc::not_found));
        model.erase(key);
      } else {
        const std::string value(8 + rnd.below(113), static_cast<char>('a' + i % 26));
        CHECK(r.put(key, value));
        model[key] = value;
      }
      CHECK(ferrite::sync_wait(r.store->maintain({4, true})));
    }
  }
  std::map<std::string, std::string> fill(int updates) {
    std::map<std::string, std::string> model;
    fill(updates, model);
    return model;
  }
  /// Bytes a mount of the image reads.
  std::uint64_t mount_reads() {
    r.reboot();
    r.sim.reset_counters();
    CHECK(r.mount());
    return r.sim.counters().bytes_read;
  }
  void check(const std::map<std::string, std::string>& model) {
    for (const auto& [k, v] : model) CHECK(r.get(k) == v);
    CHECK(r.key_count() == model.size());
  }
  /// Where `text` first appears in the image.
  std::uint32_t find(std::string_view text) {
    const auto image = r.sim.image();
    const std::string_view all(reinterpret_cast<const char*>(image.data()), image.size());
    const auto at = all.find(text);
    REQUIRE(at != std::string_view::npos);
    return static_cast<std::uint32_t>(at);
  }
  rig::Rig r;
};

}  // namespace

TEST_CASE("a store with sector summaries mounts from them, reading a fraction of what a full replay reads",
          "[log][summary]") {
  Bed plain(false), listed(true);
  const auto model = plain.fill(1500);
  CHECK(listed.fill(1500) == model);
  const std::uint64_t full = plain.mount_reads();
  const std::uint64_t fast = listed.mount_reads();
  plain.check(model);
  listed.check(model);
  CHECK(plain.r.store->stats().summarized_records == 0);
  const auto stats = listed.r.store->stats();
  CHECK(stats.summarized_records > 300);
  CHECK(stats.corrupt_records == 0);
  CHECK(stats.torn_tails == 0);
  // The same index either way: live bytes and capacity agree too.
  CHECK(stats.live_bytes == plain.r.store->stats().live_bytes);
  CHECK(stats.capacity_bytes == plain.r.store->stats().capacity_bytes);
  std::printf("summaries: mount reads %llu B with them, %llu B without (%u records from summaries)\n",
              static_cast<unsigned long long>(fast), static_cast<unsigned long long>(full),
              stats.summarized_records);
  CHECK(fast * 5 < full * 3);  // under 60 %
  // The store goes on as before: writes, collection and another mount.
  auto more = model;
  listed.fill(600, more, 11);
  listed.mount_reads();
  listed.check(more);
  CHECK(listed.r.store->stats().corrupt_records == 0);
}

TEST_CASE("a value that decays after its sector was summarized reads as corrupt; mount does not look at it",
          "[log][summary]") {
  Bed b(true);
  auto model = b.fill(400);
  const std::uint32_t at = b.find(std::string(40, 'C'));
  b.mount_reads();
  REQUIRE(b.r.store->stats().summarized_records > 0);
  // "cold" lies in a sector a summary lists: a full replay would have
  // counted the damage and found no older value (get: not_found).
  b.r.sim.flip_bit(at + 5, 2);
  b.mount_reads();
  CHECK(b.r.store->stats().corrupt_records == 0);  // not read at mount
  CHECK(b.r.get("cold") == "!corrupt");
  model.erase("cold");
  for (const auto& [k, v] : model) CHECK(b.r.get(k) == v);
}

TEST_CASE("a key name that decays in a summarized sector is found by the read, and a write supersedes it",
          "[log][summary]") {
  Bed b(true);
  auto model = b.fill(400);
  b.mount_reads();
  const std::uint32_t listed = b.r.store->stats().summarized_records;
  REQUIRE(listed > 0);
  // "cold"'s record: its name, 8 bytes after its header word. No two keys
  // share a hash here: mount takes the hash from the list, not the name.
  const std::uint32_t name = b.find("cold");
  b.r.sim.flip_bit(name + 1, 0);
  const std::uint64_t read = b.mount_reads();
  auto stats = b.r.store->stats();
  CHECK(stats.summarized_records == listed);
  CHECK(stats.corrupt_records == 0);  // not read at mount
  std::printf("summaries: a mount reading no names reads %llu B\n", static_cast<unsigned long long>(read));
  // The name no longer hashes to its entry: damage, not another key.
  CHECK(b.r.get("cold") == "!corrupt");
  CHECK(b.r.store->stats().corrupt_records == 0);
  model.erase("cold");
  for (const auto& [k, v] : model) CHECK(b.r.get(k) == v);
#if FERRITE_WITH_SCANS
  const auto keys = b.r.keys();
  CHECK(std::find(keys.begin(), keys.end(), "cold") == keys.end());
  CHECK(keys.size() == model.size());
  CHECK(b.r.store->stats().corrupt_records == 1);  // the scan read the record whole and counted it
#endif
  // A write takes the damaged binding for the key's and supersedes it: an
  // erase leaves nothing behind, now and after a mount.
  CHECK(b.r.erase("cold"));
  CHECK(b.r.get("cold") == "!not_found");
  CHECK(b.r.store->stats().keys == model.size());
  b.mount_reads();
  CHECK(b.r.get("cold") == "!not_found");
  b.check(model);
  // A put writes it again whole (a compact record would lean on the damaged binding).
  CHECK(b.r.put("cold", "again"));
  CHECK(b.r.put("cold", "again!"));
  CHECK(b.r.get("cold") == "again!");
  model["cold"] = "again!";
  b.mount_reads();
  b.check(model);
  // Collection goes on past the damaged record; the key stays.
  b.fill(1200, model, 13);
  b.mount_reads();
  b.check(model);
  CHECK(b.r.store->stats().keys == model.size());
}

#if FERRITE_WITH_TRANSACTIONS
TEST_CASE("a transaction reads a key whose name decayed as corrupt, and its commit supersedes it",
          "[log][summary][txn]") {
  Bed b(true);
  auto model = b.fill(400);
  b.mount_reads();
  REQUIRE(b.r.store->stats().summarized_records > 0);
  b.r.sim.flip_bit(b.find("cold") + 1, 0);
  b.mount_reads();
  std::array<std::byte, 64> buf{};
  {
    ferrite::Transaction t(*b.r.store);
    auto n = ferrite::sync_wait(t.get("cold", buf));
    CHECK((!n && n.error() == Errc::corrupt));
  }
  SECTION("a put in a batch") {
    ferrite::Transaction t(*b.r.store);
    CHECK(ferrite::sync_wait(t.put("cold", "batched")));
    CHECK(ferrite::sync_wait(t.put("k1", "also")));
    CHECK(ferrite::sync_wait(t.commit()));
    model["cold"] = "batched";
    model["k1"] = "also";
  }
  SECTION("an erase in a batch") {
    ferrite::Transaction t(*b.r.store);
    CHECK(ferrite::sync_wait(t.erase("cold")));
    CHECK(ferrite::sync_wait(t.put("k1", "also")));
    CHECK(ferrite::sync_wait(t.commit()));
    model.erase("cold");
    model["k1"] = "also";
    CHECK(b.r.get("cold") == "!not_found");
  }
  b.check(model);
  CHECK(b.r.store->stats().keys == model.size());
  b.mount_reads();
  b.check(model);
  CHECK(b.r.store->stats().keys == model.size());
}
#endif

TEST_CASE("where two live keys share a hash, mount reads the names a summary lists, and a decayed one ends it there",
          "[log][summary]") {
  Bed b(true);
  // A pair of names with one key hash: the sector says so (SHARED), and
  // replay compares names from there on.
  const auto [x, y] = colliding_names(1)[0];
  CHECK(b.r.put(x, "x"));
  CHECK(b.r.put(y, "y"));
  auto model = b.fill(400);
  model[x] = "x";
  model[y] = "y";
  b.mount_reads();
  const std::uint32_t listed = b.r.store->stats().summarized_records;
  REQUIRE(listed > 0);
  b.check(model);
  const std::uint32_t name = b.find("cold");
  b.r.sim.flip_bit(name + 1, 0);
  b.mount_reads();
  const auto stats = b.r.store->stats();
  CHECK(stats.summarized_records < listed);
  CHECK(stats.corrupt_records == 1);  // found at mount: the record is read whole
  CHECK(b.r.get("cold") == "!not_found");
  model.erase("cold");
  for (const auto& [k, v] : model) CHECK(b.r.get(k) == v);
}

TEST_CASE("a power cut inside a summary leaves a shorter one, and mount replays the rest of the sector",
          "[log][summary][powerloss]") {
  // Find a maintain() call that writes a summary of several records, then
  // cut each of its programs in turn.
  int call = -1;
  std::uint32_t records = 0;
  {
    Bed b(true);
    rig::Random rnd(3);
    for (int i = 0; i < 400 && call < 0; ++i) {
      CHECK(b.r.put("k" + std::to_string(rnd.below(60)), std::string(8 + rnd.below(60), 'v')));
      auto report = ferrite::sync_wait(b.r.store->maintain({4, true}));
      REQUIRE(report);
      if (report->summary_records >= 3) {
        call = i;
        records = report->summary_records;
      }
    }
  }
  REQUIRE(call >= 0);
  std::size_t cases = 0;
  for (std::uint32_t cut = 0; cut < records; ++cut) {
    Bed b(true);
    rig::Random rnd(3);
    std::map<std::string, std::string> model;
    for (int i = 0; i < call; ++i) {
      const std::string key = "k" + std::to_string(rnd.below(60));
      const std::string value(8 + rnd.below(60), 'v');
      REQUIRE(b.r.put(key, value));
      model[key] = value;
      REQUIRE(ferrite::sync_wait(b.r.store->maintain({4, true})));
    }
    const std::string key = "k" + std::to_string(rnd.below(60));
    const std::string value(8 + rnd.below(60), 'v');
    REQUIRE(b.r.put(key, value));
    model[key] = value;
    b.r.sim.cut_power_at(b.r.sim.mutating_ops() + cut);
    auto report = ferrite::sync_wait(b.r.store->maintain({4, true}));
    CHECK(!report);
    b.mount_reads();
    const auto stats = b.r.store->stats();
    CHECK(stats.torn_tails <= 1);
    b.check(model);
    // Writes go on, and the next mount agrees.
    REQUIRE(b.r.put("after", "cut"));
    model["after"] = "cut";
    b.mount_reads();
    b.check(model);
    ++cases;
  }
  CHECK(cases == records);
}

TEST_CASE("sector summaries are refused for sealed and index-less stores, with the reason", "[log][summary]") {
  if constexpr (!ferrite::index_less_built) return;
  rig::Rig r(rig::geometry(4, 4096, 4), 0);
  r.config.sector_summaries = true;
  r.store.emplace(r.flash, r.config);
  CHECK(r.format().error() == Errc::invalid_argument);
  CHECK(std::string(r.store->config_report().field) == "sector_summaries");
#if FERRITE_HAVE_CRYPTO && FERRITE_WITH_SEALING
  // A sealed store: its mount authenticates every value, which a list would skip.
  ferrite::Sealer sealer{ferrite::SealOptions{}};
  REQUIRE(sealer.use_key(test_key(1)));
  rig::Rig sealed(rig::geometry(4, 4096, 4), 64, true, false, 1, 96, &sealer);
  sealed.config.sector_summaries = true;
  sealed.store.emplace(sealed.flash, sealed.config);
  CHECK(sealed.format().error() == Errc::invalid_argument);
  CHECK(std::string(sealed.store->config_report().field) == "sector_summaries");
#endif
}
#else
TEST_CASE("a build without sector summaries refuses a store that asks for them, and says why", "[log][summary]") {
  rig::Rig r(rig::geometry(4, 4096, 4));
  r.config.sector_summaries = true;
  r.store.emplace(r.flash, r.config);
  CHECK(r.format().error() == Errc::invalid_argument);
  CHECK(std::string(r.store->config_report().field) == "sector_summaries");
}
#endif
