// Paced maintenance (Store::maintain, MaintenancePace): with one call
// between writes, collection keeps ahead of the application, so no put
// copies a record or erases a sector; without the calls, puts still do
// what they need. Every figure comes from the store's counters and the
// simulated flash's, never from a clock. The campaign cuts the power at
// every program and erase of paced maintenance between puts.
#include <cstdio>
#include <cstdlib>
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

ferrite::Geometry mixed_geometry() {
  // Three small sectors and a large one (as on STM32F4's first bank).
  const std::vector<ferrite::SectorRun> runs{{3, 1024}, {1, 4096}};
  auto g = ferrite::Geometry::make(runs, 4, ferrite::EraseValue::ones, false);
  if (!g) std::abort();
  return *g;
}

struct Shape {
  const char* name;
  ferrite::Geometry geometry;
  std::uint32_t max_value;
  int keys;  // distinct keys the workload ends with
};

std::vector<Shape> shapes() {
  std::vector<Shape> all{
      {"8x1K", rig::geometry(8, 1024, 4), 48, 60},
      {"4x2K/u8", rig::geometry(4, 2048, 8), 64, 70},
      {"2x4K", rig::geometry(2, 4096, 4), 64, 50},
  };
  // A build without mixed_sectors refuses stores on sectors of different sizes.
  if (ferrite::mixed_sectors_built) all.push_back({"3x1K+4K", mixed_geometry(), 48, 40});
  return all;
}

/// The next operation: mostly updates of a skewed choice of key (low keys
/// far more often), some new keys until `keys` exist, a few deletes.
campaign::Op next_op(rig::Random& rnd, const campaign::Model& /*model*/, int& created, int keys, std::uint32_t max_value) {
  campaign::Op op;
  const std::uint32_t r = rnd.below(100);
  if (created < keys && (r < 20 || created == 0)) {
    op.kind = campaign::Op::put;
    op.key = "p" + std::to_string(created++);
  } else {
    // Skewed: the minimum of two uniform draws favours low keys.
    const std::uint32_t a = rnd.below(static_cast<std::uint32_t>(created));
    const std::uint32_t b = rnd.below(static_cast<std::uint32_t>(created));
    op.key = "p" + std::to_string(std::min(a, b));
    op.kind = r < 95 ? campaign::Op::put : campaign::Op::erase;
  }
  if (op.kind == campaign::Op::put) {
    const std::uint32_t len = 1 + rnd.below(max_value);
    for (std::uint32_t j = 0; j < len; ++j) op.value.push_back(static_cast<char>('a' + rnd.below(26)));
  }
  return op;
}

struct Tally {
  std::size_t writes = 0;
  std::size_t writes_copying = 0;   // writes during which collection copied
  std::size_t writes_erasing = 0;   // writes during which a sector was erased
  std::uint32_t maintain_copied = 0;  // records maintain() copied
  std::uint32_t maintain_bytes = 0;   // their live bytes, as reported
  std::uint32_t maintain_retired = 0;
  std::uint32_t maintain_erased = 0;
  std::uint32_t largest_pace = 0;
  std::string failure;
};

/// Runs `count` operations with maintain() after each (when `maintained`),
/// checking every write against the counters. The model follows what was
/// acknowledged.
Tally run_paced(Rig& r, rig::Random& rnd, campaign::Model& model, int& created, const Shape& s, std::size_t count,
                bool maintained, ferrite::MaintenanceBudget budget = {}) {
  Tally t;
  for (std::size_t i = 0; i < count; ++i) {
    const campaign::Op op = next_op(rnd, model, created, s.keys, s.max_value);
    const auto before = r.store->stats();
    const std::uint64_t erases_before = r.sim.counters().erase_ops;
    const ferrite::Status st = op.kind == campaign::Op::put ? r.put(op.key, op.value) : r.erase(op.key);
    const auto after = r.store->stats();
    ++t.writes;
    t.writes_copying += after.records_copied != before.records_copied;
    t.writes_erasing += r.sim.counters().erase_ops != erases_before;
    if (st) {
      if (op.kind == campaign::Op::put) model[op.key] = op.value;
      else model.erase(op.key);
    } else if (!(op.kind == campaign::Op::erase && st.error() == Errc::not_found)) {
      t.failure = "op " + std::to_string(i) + " failed: " + ferrite::name_of(st.error());
      return t;
    }
    if (!maintained) continue;
    auto rep = ferrite::sync_wait(r.store->maintain(budget));
    if (!rep) {
      t.failure = std::string("maintain failed: ") + ferrite::name_of(rep.error());
      return t;
    }
    t.maintain_copied += rep->records_copied;
    t.maintain_bytes += rep->bytes_copied;
    t.maintain_retired += rep->sectors_retired;
    t.maintain_erased += rep->sectors_erased;
    if (rep->pace_bytes != 0 && rep->calls_left != 0xFFFFFFFFu) t.largest_pace = std::max(t.largest_pace, rep->pace_bytes);
  }
  return t;
}

std::size_t wrong_keys(Rig& r, const campaign::Model& model) {
  std::size_t wrong = 0;
  for (const auto& [k, v] : model) wrong += r.get(k) != v;
  return wrong + (r.key_count() != model.size());
}

}  // namespace

TEST_CASE("with maintain() after every write, no put or erase of a filling store copies a record or erases a sector",
          "[log][pace]") {
  for (const Shape& s : shapes()) {
    INFO(s.name);
    Rig r(s.geometry, Rig::max_keys, true, false, 1, s.max_value);
    REQUIRE(r.format());
    rig::Random rnd(0xBACE0001u);
    campaign::Model model;
    int created = 0;
    const Tally t = run_paced(r, rnd, model, created, s, 3000, true);
    CHECK(t.failure.empty());
    CHECK(t.writes_copying == 0);
    CHECK(t.writes_erasing == 0);
    // Collection did run, between the writes: sectors went round the ring.
    CHECK(t.maintain_retired >= 8);
    CHECK(t.maintain_erased >= 8);
    CHECK(wrong_keys(r, model) == 0);
  }
}

TEST_CASE("maintain() copies nothing for a victim that updates may yet empty, and reports the bytes it copies",
          "[log][pace]") {
  const Shape s = shapes()[0];
  Rig r(s.geometry, Rig::max_keys, true, false, 1, s.max_value);
  REQUIRE(r.format());
  rig::Random rnd(0xBACE0002u);
  campaign::Model model;
  int created = 0;
  const Tally t = run_paced(r, rnd, model, created, s, 3000, true);
  CHECK(t.failure.empty());
  // Most retirements are of victims that updates emptied: far fewer records
  // were copied than the ring cycles hold.
  const auto stats = r.store->stats();
  CHECK(stats.records_copied == t.maintain_copied);
  CHECK(t.maintain_copied < stats.gc_runs * 10);
  // Bytes are reported: every copied record has a header, a key and a value.
  CHECK(t.maintain_bytes >= t.maintain_copied * 10);
  CHECK((t.maintain_copied == 0) == (t.maintain_bytes == 0));
  CHECK(t.largest_pace > 0);
}

TEST_CASE("a victim that updates emptied is retired without copying", "[log][pace]") {
  Rig r(rig::geometry(4, 1024, 4), Rig::max_keys, true, false, 1, 32);
  REQUIRE(r.format());
  const auto before = r.store->stats();
  // Fill the first sector with one key's versions, then move on: nothing in
  // it is live but the key's latest value, rewritten elsewhere next. The put
  // that empties the oldest sector retires it at once; maintain() retires
  // what is left over. Either way nothing is copied.
  for (int i = 0; i < 80; ++i) REQUIRE(r.put("k", std::string(16, static_cast<char>('a' + i % 26))));
  for (int i = 0; i < 200; ++i) REQUIRE(r.put("k", std::string(16, static_cast<char>('a' + i % 26))));
  std::uint32_t copied = 0;
  for (int i = 0; i < 4; ++i) {
    auto rep = ferrite::sync_wait(r.store->maintain());
    REQUIRE(rep);
    copied += rep->records_copied;
  }
  CHECK(copied == 0);
  CHECK(r.store->stats().records_copied == before.records_copied);
  CHECK(r.store->stats().gc_runs >= before.gc_runs + 3);
  CHECK(r.get("k") == std::string(16, static_cast<char>('a' + 199 % 26)));
}

TEST_CASE("without maintain(), puts of a filling store still collect and erase what they need", "[log][pace]") {
  for (const Shape& s : shapes()) {
    INFO(s.name);
    Rig r(s.geometry, Rig::max_keys, true, false, 1, s.max_value);
    REQUIRE(r.format());
    rig::Random rnd(0xBACE0001u);
    campaign::Model model;
    int created = 0;
    const Tally t = run_paced(r, rnd, model, created, s, 3000, false);
    CHECK(t.failure.empty());
    CHECK(t.writes_erasing > 0);
    CHECK(r.store->stats().gc_runs >= 8);
    CHECK(wrong_keys(r, model) == 0);
  }
}

TEST_CASE("a budget too small for the pace leaves puts to copy, and every value stays right", "[log][pace]") {
  // Many keys for the chip: every victim holds live records to copy.
  Shape s = shapes()[1];
  s.keys = 100;
  Rig r(s.geometry, Rig::max_keys, true, false, 1, s.max_value);
  REQUIRE(r.format());
  rig::Random rnd(0xBACE0003u);
  campaign::Model model;
  int created = 0;
  // Grow the store first, then run with one record of budget a call.
  Tally t = run_paced(r, rnd, model, created, s, 600, true);
  CHECK(t.failure.empty());
  t = run_paced(r, rnd, model, created, s, 2000, true, ferrite::MaintenanceBudget{1, true, 8});
  CHECK(t.failure.empty());
  CHECK(t.writes_copying > 0);
  CHECK(wrong_keys(r, model) == 0);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(wrong_keys(r, model) == 0);
}

TEST_CASE("after a remount, maintain() checks a free sector the log vouched for, so no put reads it whole",
          "[log][pace]") {
  Rig r(rig::geometry(4, 1024, 4), Rig::max_keys, true, false, 1, 32);
  REQUIRE(r.format());
  rig::Random rnd(0xBACE0004u);
  campaign::Model model;
  int created = 0;
  const Shape s{"4x1K", rig::geometry(4, 1024, 4), 32, 20};
  Tally t = run_paced(r, rnd, model, created, s, 400, true);
  REQUIRE(t.failure.empty());
  r.reboot();
  REQUIRE(r.mount());
  // Calls until one has nothing left to prepare: each reads at most one
  // sector whole (the check), and afterwards puts read no sector whole.
  for (int i = 0; i < 8; ++i) {
    auto rep = ferrite::sync_wait(r.store->maintain());
    REQUIRE(rep);
    if (!rep->more_work) break;
  }
  std::uint64_t largest_read = 0;
  for (int i = 0; i < 400; ++i) {
    const campaign::Op op = next_op(rnd, model, created, s.keys, s.max_value);
    const std::uint64_t read_before = r.sim.counters().bytes_read;
    const ferrite::Status st = op.kind == campaign::Op::put ? r.put(op.key, op.value) : r.erase(op.key);
    largest_read = std::max(largest_read, r.sim.counters().bytes_read - read_before);
    if (st) {
      if (op.kind == campaign::Op::put) model[op.key] = op.value;
      else model.erase(op.key);
    }
    REQUIRE(ferrite::sync_wait(r.store->maintain()));
  }
  CHECK(largest_read < 1024 - 64);
  CHECK(wrong_keys(r, model) == 0);
}

namespace {

/// One case of the campaign: the workload with maintain() after every
/// write, cut at mutating operation `cut` (none: the uncut run).
struct PacedCase {
  bool cut = false;
  std::optional<campaign::Op> in_flight;
  std::string failure;
  std::uint32_t maintain_copied = 0;
};

PacedCase run_cut(Rig& r, const Shape& s, std::uint64_t seed, std::size_t ops, campaign::Model& model) {
  PacedCase out;
  rig::Random rnd(seed);
  int created = 0;
  for (std::size_t i = 0; i < ops; ++i) {
    const campaign::Op op = next_op(rnd, model, created, s.keys, s.max_value);
    const ferrite::Status st = op.kind == campaign::Op::put ? r.put(op.key, op.value) : r.erase(op.key);
    if (!st && st.error() == Errc::power_lost) {
      out.cut = true;
      out.in_flight = op;
      return out;
    }
    if (st) {
      if (op.kind == campaign::Op::put) model[op.key] = op.value;
      else model.erase(op.key);
    } else if (!(op.kind == campaign::Op::erase && st.error() == Errc::not_found)) {
      out.failure = std::string("op failed without a power cut: ") + ferrite::name_of(st.error());
      return out;
    }
    auto rep = ferrite::sync_wait(r.store->maintain(ferrite::MaintenanceBudget{2, true, 48}));
    if (!rep && rep.error() == Errc::power_lost) {
      out.cut = true;
      out.in_flight = campaign::Op{campaign::Op::maintain, "", ""};
      return out;
    }
    if (!rep) {
      out.failure = std::string("maintain failed without a power cut: ") + ferrite::name_of(rep.error());
      return out;
    }
    out.maintain_copied += rep->records_copied;
  }
  return out;
}

}  // namespace

TEST_CASE("campaign powerloss-paced: a power cut inside paced maintenance between writes loses nothing",
          "[log][pace][powerloss]") {
  const std::vector<Shape> all = shapes();
  const double scale = campaign::campaign_scale();
  const std::size_t ops = 480;
  campaign::Tally tally;
  for (const Shape& s : all) {
    std::vector<std::string> names;
    for (int i = 0; i < s.keys; ++i) names.push_back("p" + std::to_string(i));
    const int workloads = std::max(1, static_cast<int>(2 * scale));
    for (int w = 0; w < workloads; ++w) {
      const std::uint64_t seed = 0x9ACE0000u + static_cast<std::uint64_t>(w) * 977 + s.geometry.sector_count();
      std::uint64_t total = 0;
      {
        Rig r(s.geometry, Rig::max_keys, true, false, 1, s.max_value);
        REQUIRE(r.format());
        const std::uint64_t base = r.sim.mutating_ops();
        campaign::Model model;
        const PacedCase uncut = run_cut(r, s, seed, ops, model);
        CHECK(uncut.failure.empty());
        INFO(s.name);
        CHECK(uncut.maintain_copied > 0);  // the cuts do land in paced copying
        total = r.sim.mutating_ops() - base;
        CHECK(campaign::check(r, model, std::nullopt, names).empty());
      }
      for (std::uint64_t k = 0; k < total; ++k) {
        Rig r(s.geometry, Rig::max_keys, true, false, seed * 7919 + k, s.max_value);
        r.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                       : ferrite::sim::TearMode::prefix_then_partial);
        REQUIRE(r.format());
        r.sim.cut_power_at(r.sim.mutating_ops() + k);
        campaign::Model model;
        PacedCase first = run_cut(r, s, seed, ops, model);
        if (!first.cut) continue;
        ++tally.cases;
        std::string failure = first.failure;
        if (failure.empty()) failure = campaign::check(r, model, first.in_flight, names);
        if (failure.empty()) {
          // Carry on paced after the reboot (the pace is learnt again), cut
          // a second time, check again.
          rig::Random more(seed ^ (k * 0x9E37u));
          r.sim.cut_power_at(r.sim.mutating_ops() + more.below(60));
          PacedCase second = run_cut(r, s, seed ^ 0x5A5Au, 60, model);
          failure = second.failure;
          if (failure.empty()) failure = campaign::check(r, model, second.in_flight, names);
          if (!failure.empty()) failure = "[second] " + failure;
        }
        if (!failure.empty()) {
          ++tally.failures;
          if (tally.failures <= 12) {
            std::fprintf(stderr, "powerloss-paced failure: %s seed %llu cut %llu: %s\n", s.name,
                         static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
            CHECK(failure.empty());
          }
        }
      }
    }
  }
  std::printf("campaign powerloss-paced: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= static_cast<std::size_t>(scale >= 1.0 ? 2000 : 200));
}
