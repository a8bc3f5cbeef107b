// Capacity: what stats().capacity_bytes promises (docs/FORMAT.md §6.2). A
// store filled to its capacity keeps accepting every update that does not
// add live bytes, collection keeps making progress, the capacity follows
// the largest live record, and a power cut at any point of a full store's
// life loses nothing and leaves it as writable as before.
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
import ferrite.sim;
#include "log_rig.hpp"

using ferrite::Errc;

#include "powerloss_campaign.hpp"

namespace {

using rig::Rig;

Errc error_of(const ferrite::Status& st) { return st ? Errc::ok : st.error(); }

std::string text(rig::Random& rnd, std::uint32_t len) {
  std::string v;
  for (std::uint32_t i = 0; i < len; ++i) v.push_back(static_cast<char>('a' + rnd.below(26)));
  return v;
}

/// New keys "f0", "f1", ... with values of 1..max_len bytes until the store
/// refuses one; the model holds what was acknowledged.
campaign::Model fill(Rig& r, rig::Random& rnd, std::uint32_t max_len, std::size_t max_keys = Rig::max_keys) {
  campaign::Model model;
  for (std::size_t i = 0; i < max_keys; ++i) {
    const std::string key = "f" + std::to_string(i);
    const std::string value = text(rnd, 1 + rnd.below(max_len));
    const auto st = r.put(key, value);
    if (!st) {
      CHECK(st.error() == Errc::no_space);
      break;
    }
    model[key] = value;
  }
  return model;
}

std::string random_key(const campaign::Model& model, rig::Random& rnd) {
  auto it = model.begin();
  std::advance(it, rnd.below(static_cast<std::uint32_t>(model.size())));
  return it->first;
}

/// `count` updates of random keys, each to a new value of its length; the
/// model follows the accepted ones. Returns how many the store refused.
std::size_t same_length_updates(Rig& r, campaign::Model& model, rig::Random& rnd, int count) {
  std::size_t refused = 0;
  for (int i = 0; i < count; ++i) {
    const std::string key = random_key(model, rnd);
    const std::string value = text(rnd, static_cast<std::uint32_t>(model[key].size()));
    if (r.put(key, value)) model[key] = value;
    else ++refused;
  }
  return refused;
}

std::size_t wrong_keys(Rig& r, const campaign::Model& model) {
  std::size_t wrong = 0;
  for (const auto& [k, v] : model) wrong += r.get(k) != v;
#if FERRITE_WITH_SCANS
  wrong += r.keys().size() != model.size();
#endif
  return wrong;
}

}  // namespace

TEST_CASE("a store filled to capacity accepts every same-length update and collection keeps making progress",
          "[log][capacity]") {
  struct Case {
    std::uint32_t sectors, size;
  };
  for (const Case c : {Case{2, 4096}, Case{4, 4096}, Case{8, 2048}}) {
    Rig r(rig::geometry(c.sectors, c.size, 4), Rig::max_keys, true, false, 1, 200);
    REQUIRE(r.format());
    rig::Random rnd(0xF111u + c.sectors);
    campaign::Model model = fill(r, rnd, 120);
    const auto full = r.store->stats();
    CHECK(full.live_bytes <= full.capacity_bytes);
    CHECK(std::string(r.store->last_refusal().field) == "live bytes");  // full by capacity, not by room
    const std::size_t refused = same_length_updates(r, model, rnd, 3000);
    CHECK(refused == 0);
    const auto after = r.store->stats();
    CHECK(after.gc_runs > full.gc_runs + c.sectors);  // the ring turned more than once
    CHECK(wrong_keys(r, model) == 0);
    r.reboot();
    REQUIRE(r.mount());
    CHECK(wrong_keys(r, model) == 0);
    CHECK(r.store->stats().capacity_bytes == after.capacity_bytes);
  }
}

TEST_CASE("a record larger than every live one lowers the capacity until it is gone", "[log][capacity]") {
  Rig r(rig::geometry(4, 4096, 4), Rig::max_keys, true, false, 1, 1024);
  REQUIRE(r.format());
  for (int i = 0; i < 20; ++i) REQUIRE(r.put("s" + std::to_string(i), std::string(20, 'x')));
  const std::uint32_t small = r.store->stats().capacity_bytes;
  REQUIRE(r.put("big", std::string(600, 'b')));
  const std::uint32_t lowered = r.store->stats().capacity_bytes;
  CHECK(lowered < small);
  CHECK(small - lowered >= 4 * (608 - 64));  // each of the 4 sectors keeps room for the big record
  REQUIRE(r.erase("big"));
  CHECK(r.store->stats().capacity_bytes == small);
}

TEST_CASE("a put is admitted only when the capacity after it still holds what is live, so no erase is refused",
          "[log][capacity]") {
  // A record of a size class no live record reaches raises every sector
  // end's reserve to that class's limit once it is live (FORMAT.md §6.2):
  // admitted against its own size instead, it could leave more live bytes
  // than the capacity after it, and an erase then found no room.
  std::size_t top_class_puts = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    Rig r(rig::geometry(2, 1024, 4), Rig::max_keys, true, false, seed, 64);
    REQUIRE(r.format());
    rig::Random rnd(seed * 0x51EDu);
    campaign::Model model;
    for (int i = 0; i < 400; ++i) {
      const std::string key = "f" + std::to_string(rnd.below(40));
      if (rnd.below(10) == 0 && model.count(key)) {
        const ferrite::Status st = r.erase(key);
        INFO("seed " << seed << " op " << i << ": the erase of " << key << " (refusal: "
                     << r.store->last_refusal().field << ")");
        CHECK(st);
        model.erase(key);
        continue;
      }
      const std::string value(1 + rnd.below(rnd.below(8) == 0 ? 64 : 40), static_cast<char>('a' + i % 26));
      const std::uint32_t capacity_before = r.store->stats().capacity_bytes;
      const ferrite::Status st = r.put(key, value);
      if (!st) {
        CHECK(st.error() == Errc::no_space);
        continue;
      }
      model[key] = value;
      const auto after = r.store->stats();
      top_class_puts += after.capacity_bytes < capacity_before;
      INFO("seed " << seed << " op " << i << ": " << key << " of " << value.size() << " bytes");
      CHECK(after.live_bytes <= after.capacity_bytes);
    }
    CHECK(wrong_keys(r, model) == 0);
  }
  INFO(top_class_puts << " puts lowered the capacity");
  CHECK(top_class_puts >= 10);
}

TEST_CASE("a put that needs more room at every sector end than the store has is refused, naming the capacity",
          "[log][capacity]") {
  Rig r(rig::geometry(2, 4096, 4), Rig::max_keys, true, false, 1, 1024);
  REQUIRE(r.format());
  rig::Random rnd(7);
  const campaign::Model model = fill(r, rnd, 24);
  const auto full = r.store->stats();
  CHECK(error_of(r.put("huge", std::string(900, 'h'))) == Errc::no_space);
  const ferrite::Refusal why = r.store->last_refusal();
  CHECK(std::string(why.field) == "live bytes");
  CHECK(why.limit < full.capacity_bytes);  // the capacity with the huge record in flight
  CHECK(r.store->stats().capacity_bytes == full.capacity_bytes);
  CHECK(wrong_keys(r, model) == 0);
}

TEST_CASE("mount recomputes the capacity from the records that are live", "[log][capacity]") {
  Rig r(rig::geometry(4, 4096, 4), Rig::max_keys, true, false, 1, 1024);
  REQUIRE(r.format());
  for (int i = 0; i < 20; ++i) REQUIRE(r.put("s" + std::to_string(i), std::string(20, 'x')));
  const std::uint32_t small = r.store->stats().capacity_bytes;
  REQUIRE(r.put("big", std::string(600, 'b')));
  const std::uint32_t lowered = r.store->stats().capacity_bytes;
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.store->stats().capacity_bytes == lowered);
  REQUIRE(r.erase("big"));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.store->stats().capacity_bytes == small);
}

namespace {

/// What one put did to the sector layout and to collection.
struct PutEffect {
  bool ok = false;
  std::uint32_t free_before = 0, free_after = 0;
  bool copied = false;
};

PutEffect put_watched(Rig& r, const std::string& key, const std::string& value) {
  PutEffect e;
  const auto before = r.store->stats();
  e.ok = static_cast<bool>(r.put(key, value));
  const auto after = r.store->stats();
  e.free_before = before.free_sectors;
  e.free_after = after.free_sectors;
  e.copied = after.records_copied != before.records_copied;
  return e;
}

}  // namespace

TEST_CASE("a write that finds the head full opens the reserve when it alone holds the victim's live records",
          "[log][capacity]") {
  // The oldest sector keeps one cold record; everything else is updates of
  // one hot key. Collection of that sector can wait: the reserve holds its
  // single live record many times over, so the put that fills the head
  // opens the reserve instead of copying, and collection copies later.
  Rig r(rig::geometry(4, 1024, 4), Rig::max_keys, true, false, 1, 32);
  REQUIRE(r.format());
  campaign::Model model;
  REQUIRE(r.put("cold", std::string(16, 'c')));
  model["cold"] = std::string(16, 'c');
  bool reserve_opened = false, collected_later = false;
  for (int i = 0; i < 400 && !collected_later; ++i) {
    const std::string value(16, static_cast<char>('a' + i % 26));
    const PutEffect e = put_watched(r, "hot", value);
    REQUIRE(e.ok);
    model["hot"] = value;
    if (e.free_before == 1 && e.free_after == 0) {
      reserve_opened = true;
      CHECK_FALSE(e.copied);
    }
    collected_later = reserve_opened && e.copied;
  }
  CHECK(reserve_opened);
  CHECK(collected_later);
  CHECK(wrong_keys(r, model) == 0);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(wrong_keys(r, model) == 0);
  // The cold record went round with the ring: the store stays writable.
  for (int i = 0; i < 400; ++i) REQUIRE(r.put("hot", std::to_string(i)));
  model["hot"] = "399";
  CHECK(wrong_keys(r, model) == 0);
}

TEST_CASE("a write keeps the reserve free while the victim's live records would not fit in it beside the write",
          "[log][capacity]") {
  // The oldest sector is nearly all live cold records: the reserve could
  // not hold them, a write and the lag margin, so collection empties the
  // victim first (inside the put, without maintain()), and no put leaves
  // the store without a free sector.
  Rig r(rig::geometry(4, 1024, 4), Rig::max_keys, true, false, 1, 32);
  REQUIRE(r.format());
  campaign::Model model;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "c" + std::to_string(i);
    REQUIRE(r.put(key, std::string(20, static_cast<char>('a' + i % 26))));
    model[key] = std::string(20, static_cast<char>('a' + i % 26));
  }
  // Until the dense sector is collected (later victims hold mostly dead
  // updates, and may wait in the reserve).
  std::size_t copying_puts = 0, puts_before = 0;
  for (int i = 0; i < 600 && copying_puts == 0; ++i, ++puts_before) {
    const std::string value(16, static_cast<char>('a' + i % 26));
    const PutEffect e = put_watched(r, "hot", value);
    REQUIRE(e.ok);
    model["hot"] = value;
    CHECK(e.free_after >= 1);
    copying_puts += e.copied;
  }
  CHECK(copying_puts == 1);
  CHECK(puts_before > 60);  // the head and the sectors beyond the reserve filled first
  CHECK(wrong_keys(r, model) == 0);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(wrong_keys(r, model) == 0);
}

TEST_CASE("records of up to 200 bytes leave 45 % of a 2-sector chip and 80 % of an 8-sector chip",
          "[log][capacity]") {
  Rig two(rig::geometry(2, 16384, 4), Rig::max_keys, true, false, 1, 4096);
  REQUIRE(two.format());
  REQUIRE(two.put("v", std::string(200, 'v')));
  CHECK(two.store->stats().capacity_bytes >= 0.45 * 2 * 16384);
  Rig eight(rig::geometry(8, 4096, 4), Rig::max_keys, true, false, 1, 4096);
  REQUIRE(eight.format());
  REQUIRE(eight.put("v", std::string(200, 'v')));
  CHECK(eight.store->stats().capacity_bytes >= 0.80 * 8 * 4096);
}

#if FERRITE_WITH_MIXED_SECTORS
TEST_CASE("sectors of different sizes hold back a turn of the ring beyond the largest sector", "[log][capacity]") {
  const ferrite::SectorRun runs[] = {{3, 4096}, {1, 8192}};
  auto g = ferrite::Geometry::make(runs, 4);
  REQUIRE(g);
  Rig r(*g, Rig::max_keys, true, false, 1, 1024);
  REQUIRE(r.format());
  REQUIRE(r.put("s", std::string(20, 'x')));
  // slack: the 32-byte size class of the live record; meta: a 16-byte META
  // record. The 4 ends a turn closes waste less than the 4 largest records
  // it may write there: the live one and META records in the turn before a
  // write, and one more as large as the live one in the turn after it.
  const std::uint32_t slack = 32, meta = 16;
  const std::uint32_t ends_before = slack + 3 * meta, ends_after = 2 * slack + 2 * meta;
  const std::uint32_t turn = ends_after + 4 * 2 * meta + slack + 64 + meta;
  const std::uint32_t small = r.store->stats().capacity_bytes;
  CHECK(small == 3 * (4096 - 40) - turn - ends_before - 4 * 2 * meta - 2 * slack);
  // A larger record widens the waste at one sector end per turn to its
  // size class (two in the turn after a write as large), and the torn
  // record, the head's end and the replaced record to it.
  CHECK(r.put("big", std::string(300, 'b')));
  const std::uint32_t big = 512;
  CHECK(r.store->stats().capacity_bytes ==
        3 * (4096 - 40) - (big + slack + 2 * meta) - (2 * big + slack + meta) - 2 * 4 * 2 * meta - 3 * big - 64 - meta);
  CHECK(r.erase("big"));
  CHECK(r.store->stats().capacity_bytes == small);
}

namespace {

/// New keys of 20 characters with values of 1..max_len bytes while the live
/// bytes with the next record stay within `fraction` of the capacity the
/// store states; the model holds them.
campaign::Model fill_to(Rig& r, rig::Random& rnd, std::uint32_t max_len, double fraction) {
  campaign::Model model;
  for (std::size_t i = 0; i < Rig::max_keys; ++i) {
    std::string key = "f" + std::to_string(i);
    key.resize(20, '.');
    const std::string value = text(rnd, 1 + rnd.below(max_len));
    const std::uint32_t record = (8 + static_cast<std::uint32_t>(key.size() + value.size()) + 3) & ~3u;
    const auto stats = r.store->stats();
    if (stats.live_bytes + record > fraction * stats.capacity_bytes) break;
    const auto st = r.put(key, value);
    if (!st) {
      CHECK(st.error() == Errc::no_space);
      CHECK(std::string(r.store->last_refusal().field) == "live bytes");
      break;
    }
    model[key] = value;
  }
  return model;
}

}  // namespace

TEST_CASE("a store on sectors of different sizes filled to its capacity accepts every same-length update",
          "[log][capacity]") {
  struct Shape {
    const char* name;
    std::vector<ferrite::SectorRun> runs;
  };
  const Shape shapes[] = {{"4-4-4-8", {{3, 4096}, {1, 8192}}},
                          {"8-4-4-4", {{1, 8192}, {3, 4096}}},
                          {"4x6-8", {{6, 4096}, {1, 8192}}}};
  for (const Shape& shape : shapes) {
    for (const double fraction : {0.9, 1.0}) {
      for (std::uint32_t seed = 1; seed <= 3; ++seed) {
        auto g = ferrite::Geometry::make(shape.runs, 4);
        REQUIRE(g);
        Rig r(*g, Rig::max_keys, true, false, seed, 200);
        REQUIRE(r.format());
        rig::Random rnd(0xD1FFu * seed + static_cast<std::uint32_t>(fraction * 10));
        campaign::Model model = fill_to(r, rnd, 120, fraction);
        const std::uint32_t capacity = r.store->stats().capacity_bytes;
        // Filled up to the fraction, not to the index's size.
        CHECK(r.store->stats().live_bytes + 8 + 20 + 120 + 3 > fraction * capacity);
        const std::size_t refused = same_length_updates(r, model, rnd, 3000);
        INFO(shape.name << " filled to " << fraction << " of " << capacity << " bytes, seed " << seed);
        CHECK(refused == 0);
        CHECK(wrong_keys(r, model) == 0);
        r.reboot();
        REQUIRE(r.mount());
        CHECK(wrong_keys(r, model) == 0);
      }
    }
  }
}
#endif

// ---------------------------------------------------------------------------
// Power cuts in a full store: the store is filled to capacity, then updated
// at full (same-length updates, erases, new keys); a cut at every program
// and erase (collections included, on 2, 3, 4 and 8 sectors and on three
// small sectors and a large one), then a
// reboot, a mount and a comparison with the model; then more updates at
// full, and a second comparison. Every refusal for room, before the cut or
// after it, must be honest: the live bytes with the write's record exceed
// the capacity.

namespace {

struct FullGeometry {
  const char* name;
  std::vector<ferrite::SectorRun> runs;

  ferrite::Geometry geometry() const {
    auto g = ferrite::Geometry::make(runs, 4);
    if (!g) std::abort();
    return *g;
  }
};

/// The next operation of a full store's life, drawn from the model: the
/// first `keys` are new keys (the fill), then 80 % same-length updates,
/// 10 % erases, 10 % new values of any length.
campaign::Op next_op(rig::Random& rnd, const campaign::Model& model, std::size_t index, int keys) {
  campaign::Op op;
  op.kind = campaign::Op::put;
  if (index < static_cast<std::size_t>(keys) || model.empty()) {
    op.key = "f" + std::to_string(index % keys);
    op.value = text(rnd, 1 + rnd.below(64));
    return op;
  }
  const std::uint32_t r = rnd.below(100);
  op.key = random_key(model, rnd);
  if (r < 80) {
    op.value = text(rnd, static_cast<std::uint32_t>(model.at(op.key).size()));
  } else if (r < 90) {
    op.kind = campaign::Op::erase;
  } else {
    op.key = "f" + std::to_string(rnd.below(static_cast<std::uint32_t>(keys)));
    op.value = text(rnd, 1 + rnd.below(64));
  }
  return op;
}

struct FullOutcome {
  bool cut = false;
  std::optional<campaign::Op> in_flight;
  std::string failure;
  std::size_t refused = 0;  // operations refused for room
  bool dense_victim = false;  // the documented limit on 3+ sectors (see run_full)
};

/// Runs `count` operations from `index` on. Every refusal for room must be
/// honest: the live bytes with the write's record exceed the capacity
/// (FORMAT.md §6.2). An erase, or a put the capacity admits, refused for
/// room is a failure, before a power cut or after one.
FullOutcome run_full(Rig& r, rig::Random& rnd, campaign::Model& model, std::size_t index, std::size_t count, int keys,
                     bool after_cut = false) {
  FullOutcome out;
  for (std::size_t i = index; i < index + count; ++i) {
    const campaign::Op op = next_op(rnd, model, i, keys);
    const ferrite::Status st = op.kind == campaign::Op::put ? r.put(op.key, op.value) : r.erase(op.key);
    if (!st && st.error() == Errc::power_lost) {
      out.cut = true;
      out.in_flight = op;
      return out;
    }
    if (st) {
      if (op.kind == campaign::Op::put) model[op.key] = op.value;
      else model.erase(op.key);
      continue;
    }
    if (st.error() != Errc::no_space) {
      out.failure = std::string("op failed without a power cut: ") + ferrite::name_of(st.error());
      return out;
    }
    ++out.refused;
    const auto now = r.store->stats();
    if (after_cut && r.store->geometry().sector_count() > 2 && now.free_sectors == 0 && !now.head_sealed &&
        r.store->last_refusal().field == std::string("free space")) {
      // FORMAT.md §6: on three sectors or more, a cut that tore the reserve
      // while an almost wholly live victim was copied into it leaves the
      // head, written again past a SKIP, short of the victim's last records.
      // The one case the engine does not recover from; counted, not hidden.
      out.dense_victim = true;
      return out;
    }
    if (!campaign::honest_refusal(r, op)) {
      const auto s = r.store->stats();
      out.failure = std::string(op.kind == campaign::Op::put ? "a put of " : "an erase of ") + op.key +
                    " was refused for room although the live data fits (" + r.store->last_refusal().field +
                    "; live " + std::to_string(s.live_bytes) + ", capacity " + std::to_string(s.capacity_bytes) +
                    ", free " + std::to_string(s.free_bytes) + ", free sectors " + std::to_string(s.free_sectors) +
                    ", head sealed " + std::to_string(s.head_sealed) + ")";
      return out;
    }
  }
  return out;
}

std::size_t tally_dense_victim = 0;

void run_full_campaign(const FullGeometry& g, std::uint64_t seed, int keys, std::size_t ops, campaign::Tally& tally) {
  std::vector<std::string> names;
  for (int i = 0; i < keys; ++i) names.push_back("f" + std::to_string(i));
  std::uint64_t total = 0;
  {
    Rig r(g.geometry(), Rig::max_keys, true, false, 1, 64);
    REQUIRE(r.format());
    const std::uint64_t base = r.sim.mutating_ops();
    campaign::Model model;
    rig::Random rnd(seed);
    const FullOutcome uncut = run_full(r, rnd, model, 0, ops, keys);
    CHECK(uncut.failure.empty());
    CHECK(uncut.refused > 0);  // it did fill up
    total = r.sim.mutating_ops() - base;
    CHECK(campaign::check(r, model, std::nullopt, names).empty());
  }
  for (std::uint64_t k = 0; k < total; ++k) {
    Rig r(g.geometry(), Rig::max_keys, true, false, seed * 7919 + k, 64);
    r.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                   : ferrite::sim::TearMode::prefix_then_partial);
    REQUIRE(r.format());
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    campaign::Model model;
    rig::Random rnd(seed);
    const FullOutcome first = run_full(r, rnd, model, 0, ops, keys);
    if (!first.cut) continue;
    ++tally.cases;
    std::string failure = first.failure;
    if (failure.empty()) failure = campaign::check(r, model, first.in_flight, names);
    if (failure.empty()) {
      // Still full, still writable: more updates after the reboot.
      rig::Random more(seed ^ (k * 0x9E37u));
      const FullOutcome after = run_full(r, more, model, ops, 40, keys, true);
      tally_dense_victim += after.dense_victim;
      failure = after.failure;
      if (failure.empty()) failure = campaign::check(r, model, std::nullopt, names);
      if (!failure.empty()) failure = "[after the reboot] " + failure;
    }
    if (!failure.empty()) {
      ++tally.failures;
      if (tally.failures <= 12) {
        std::fprintf(stderr, "powerloss-full failure: %s seed %llu cut %llu: %s\n", g.name,
                     static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
        CHECK(failure.empty());
      }
    }
  }
}

}  // namespace

TEST_CASE("a power cut at any point of a full store's life loses nothing and leaves every update possible",
          "[log][capacity][powerloss]") {
  const FullGeometry geometries[] = {{"2x1K", {{2, 1024}}},          {"2x2K", {{2, 2048}}}, {"3x1K", {{3, 1024}}},
                                     {"4x1K", {{4, 1024}}},          {"8x512", {{8, 512}}},
                                     {"3x1K+2K", {{3, 1024}, {1, 2048}}}};
  const double scale = campaign::campaign_scale();
  campaign::Tally tally;
  for (const FullGeometry& g : geometries) {
    if (g.runs.size() > 1 && !ferrite::mixed_sectors_built) continue;  // refused in a build without mixed_sectors
    const int workloads = std::max(1, static_cast<int>(6 * scale));
    const std::uint32_t sectors = g.geometry().sector_count();
    for (int w = 0; w < workloads; ++w) run_full_campaign(g, 0xF0110000u + w * 131 + sectors, 96, 200, tally);
  }
  std::printf("campaign powerloss-full: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::printf("powerloss-full: %zu cases on 3+ sectors left short of room for a dense victim (FORMAT.md §6)\n",
              tally_dense_victim);
  std::fflush(stdout);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= static_cast<std::size_t>(scale >= 1.0 ? 2000 : 200));
}

TEST_CASE("a full store whose head a power cut tore writes past the torn bytes and takes updates again",
          "[log][capacity][powerloss]") {
  // Two sectors: a cut while collection copies into the only other sector
  // leaves both live and the head torn. The store writes a SKIP past the
  // torn bytes (FORMAT.md §3.3), and the next mount reads them as a torn
  // tail, never as corruption.
  const int keys = 96;
  std::vector<std::string> names;
  for (int i = 0; i < keys; ++i) names.push_back("f" + std::to_string(i));
  const std::uint64_t seed = 0x5C1B0001u;
  std::uint64_t total = 0;
  {
    Rig r(rig::geometry(2, 1024, 4), Rig::max_keys, true, false, 1, 64);
    REQUIRE(r.format());
    const std::uint64_t base = r.sim.mutating_ops();
    campaign::Model model;
    rig::Random rnd(seed);
    CHECK(run_full(r, rnd, model, 0, 200, keys).failure.empty());
    total = r.sim.mutating_ops() - base;
  }
  std::size_t torn_full = 0, closed = 0;
  for (std::uint64_t k = 0; k < total; ++k) {
    Rig r(rig::geometry(2, 1024, 4), Rig::max_keys, true, false, seed + k, 64);
    r.sim.set_tear_mode(ferrite::sim::TearMode::prefix_then_partial);
    REQUIRE(r.format());
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    campaign::Model model;
    rig::Random rnd(seed);
    const FullOutcome first = run_full(r, rnd, model, 0, 200, keys);
    if (!first.cut) continue;
    CHECK(campaign::check(r, model, first.in_flight, names).empty());
    const auto stats = r.store->stats();
    if (stats.free_sectors != 0 || !stats.head_sealed || model.empty()) continue;
    ++torn_full;
    const std::string key = model.begin()->first;
    const std::string value(model.begin()->second.size(), 'z');
    CHECK(r.put(key, value));  // the same live bytes: within the capacity
    model[key] = value;
    const std::string after = campaign::check(r, model, std::nullopt, names);
    INFO("cut " << k << ": " << after);
    CHECK(after.empty());
    CHECK(r.store->stats().corrupt_records == 0);
    closed += r.store->stats().torn_tails > 0 && !r.store->stats().head_sealed;
  }
  INFO(torn_full << " cuts left a full store with a torn head; " << closed << " read back a closed torn region");
  CHECK(torn_full > 0);
  CHECK(closed > 0);
}

#if FERRITE_WITH_MIXED_SECTORS
TEST_CASE("a store on sectors of different sizes filled to its capacity beside values of the largest size accepts "
          "every same-length update",
          "[log][capacity]") {
  struct Shape {
    const char* name;
    std::vector<ferrite::SectorRun> runs;
    std::uint32_t max_value;
    std::uint32_t max_small;  // small values of 1..max_small bytes, fewer than the index holds
  };
  const Shape shapes[] = {{"16-16-16-16-64", {{4, 16384}, {1, 65536}}, 4096, 400},
                          {"4-4-4-8", {{3, 4096}, {1, 8192}}, 1024, 120}};
  for (const Shape& shape : shapes) {
    for (const int large : {1, 2}) {
      for (const double fraction : {0.9, 1.0}) {
        for (std::uint32_t seed = 1; seed <= 2; ++seed) {
          auto g = ferrite::Geometry::make(shape.runs, 4);
          REQUIRE(g);
          Rig r(*g, Rig::max_keys, true, false, seed, shape.max_value);
          REQUIRE(r.format());
          rig::Random rnd(0x1A56u * seed + static_cast<std::uint32_t>(fraction * 10) + 100 * large);
          campaign::Model model;
          std::vector<std::string> large_keys;
          for (int i = 0; i < large; ++i) {
            large_keys.push_back("large" + std::to_string(i));
            const std::string value = text(rnd, shape.max_value);
            REQUIRE(r.put(large_keys.back(), value));
            model[large_keys.back()] = value;
          }
          campaign::Model small = fill_to(r, rnd, shape.max_small, fraction);
          model.insert(small.begin(), small.end());
          const std::uint32_t capacity = r.store->stats().capacity_bytes;
          // A new key may be refused up to its record and, at two turns'
          // sector ends, its size class early: among few live records it
          // may be one of the largest a turn writes at an end.
          const std::uint32_t largest_small = 8 + 20 + shape.max_small + 3;
          CHECK(r.store->stats().live_bytes + largest_small + 2 * std::bit_ceil(largest_small) > fraction * capacity);
          std::size_t refused = 0;
          for (int i = 0; i < 2000; ++i) {
            // Every fourth update rewrites a value of the largest size.
            const std::string key = i % 4 == 0 ? large_keys[rnd.below(static_cast<std::uint32_t>(large_keys.size()))]
                                               : random_key(model, rnd);
            const std::string value = text(rnd, static_cast<std::uint32_t>(model[key].size()));
            if (r.put(key, value)) model[key] = value;
            else ++refused;
          }
          INFO(shape.name << " with " << large << " values of " << shape.max_value << " bytes, filled to " << fraction
                          << " of " << capacity << " bytes, seed " << seed);
          CHECK(refused == 0);
          CHECK(wrong_keys(r, model) == 0);
          r.reboot();
          REQUIRE(r.mount());
          CHECK(wrong_keys(r, model) == 0);
          CHECK(r.store->stats().capacity_bytes == capacity);
        }
      }
    }
  }
}
#endif

TEST_CASE("mount keeps every sector's live bytes as it replays, as sizing every entry from flash afterwards does",
          "[log][mount][capacity]") {
  // A store without the key order has its live bytes counted during replay
  // (the superseded record's key is the one that supersedes it); with the
  // key order, mount reads every binding afterwards and sizes it. The same
  // writes, power cuts and remounts on both: the stores must agree on the
  // live bytes, the capacity and, through every collection that chooses
  // and copies by those counts, on every byte of flash.
  if constexpr (!ferrite::scans_built) {
    SUCCEED("a build without scans has no key order to compare with");
    return;
  }
  for (const auto& g : {rig::geometry(3, 1024, 4), rig::geometry(6, 512, 8)}) {
    Rig counted(g, 64), sized(g, 64);
    campaign::drop_key_order(counted);
    CHECK(counted.format());
    CHECK(sized.format());
    std::uint64_t rng = 12345;
    const auto next = [&rng] {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<std::uint32_t>(rng >> 33);
    };
    std::size_t remounts = 0, cuts = 0, mismatches = 0, collections = 0;
    for (int step = 0; step < 2500 && mismatches == 0; ++step) {
      const std::string key = "k" + std::to_string(next() % 40);
      const bool erase = next() % 10 == 0;
      const std::string value(next() % 48, static_cast<char>('a' + step % 26));
      const bool cut = step % 29 == 28;
      if (cut) {
        const std::uint32_t at = next() % 6;
        counted.sim.cut_power_at(counted.sim.mutating_ops() + at);
        sized.sim.cut_power_at(sized.sim.mutating_ops() + at);
      }
      const bool a = erase ? static_cast<bool>(counted.erase(key)) : static_cast<bool>(counted.put(key, value));
      const bool b = erase ? static_cast<bool>(sized.erase(key)) : static_cast<bool>(sized.put(key, value));
      if (a != b) ++mismatches;
      if (cut || step % 61 == 60) {
        cuts += cut;
        ++remounts;
        collections += counted.store->stats().gc_runs;
        counted.reboot();
        sized.reboot();
        if (!counted.mount() || !sized.mount()) {
          FAIL_CHECK("mount failed at step " << step);
          break;
        }
      }
      const ferrite::StoreStats x = counted.store->stats(), y = sized.store->stats();
      if (x.live_bytes != y.live_bytes || x.capacity_bytes != y.capacity_bytes ||
          x.reclaimable_bytes != y.reclaimable_bytes || x.keys != y.keys) {
        ++mismatches;
        // (Images that differ already point at the writes, not at mount's count.)
        const auto ja = counted.sim.image(), jb = sized.sim.image();
        UNSCOPED_INFO("images equal: " << std::equal(ja.begin(), ja.end(), jb.begin(), jb.end()) << ", torn tails "
                                       << x.torn_tails << " / " << y.torn_tails);
        FAIL_CHECK("step " << step << ": live " << x.live_bytes << " / " << y.live_bytes << ", capacity "
                           << x.capacity_bytes << " / " << y.capacity_bytes);
      }
    }
    INFO(remounts << " remounts, " << cuts << " power cuts, " << collections << " collections");
    // A case: one remount of both stores, compared.
    std::printf("campaign live-bytes-differential-%ux%u: %zu cases, %zu failures (%zu power cuts, %zu collections)\n",
                g.sector_count(), g.sector_size(0), remounts, mismatches, cuts, collections);
    CHECK(remounts > 40);
    CHECK(mismatches == 0);
    CHECK(collections > 20);
    const auto ia = counted.sim.image(), ib = sized.sim.image();
    CHECK(std::equal(ia.begin(), ia.end(), ib.begin(), ib.end()));
  }
}
