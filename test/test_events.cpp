// ferrite.events: the persisted event ring. One test per call and error,
// rotation, newest-first order, remounts, the bounded queue, program units
// of ECC flash (16 and 32 bytes, erase value 0x00), a refused program, and
// the powerloss-events campaign: a power cut at every flash operation of
// small workloads, after which the ring reads a consecutive run of events
// that ends at or after the last acknowledged one and keeps working.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.core;
import ferrite.flash;
import ferrite.events;
import ferrite.sim;
#include "campaign_scale.hpp"

using ferrite::Errc;
using ferrite::EventLevel;
using ferrite::EventRing;

namespace {

ferrite::Geometry geometry(std::uint32_t sectors = 3, std::uint32_t size = 512, std::uint32_t unit = 4,
                           ferrite::EraseValue erased = ferrite::EraseValue::ones) {
  auto g = ferrite::Geometry::uniform(sectors, size, unit, erased, false);
  if (!g) std::abort();
  return *g;
}

struct Seen {
  std::uint32_t seq;
  EventLevel level;
  std::string message;
  bool timed;
  std::int64_t timestamp;
};

std::vector<Seen> read_all(EventRing& ring, Errc* error = nullptr) {
  std::vector<Seen> out;
  auto cur = ring.newest();
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      if (error) *error = more.error();
      return out;
    }
    if (!*more) return out;
    out.push_back({cur.seq(), cur.level(), std::string(cur.message()), cur.has_timestamp(), cur.timestamp()});
  }
}

ferrite::EventRingConfig every_level() {
  ferrite::EventRingConfig c;
  c.threshold = EventLevel::debug;
  return c;
}

bool emit(EventRing& ring, EventLevel level, std::string_view message) { return ring.push(level, message); }

struct Rig {
  explicit Rig(ferrite::Geometry g, std::uint64_t seed = 1) : sim(g, seed), flash(sim) {}
  EventRing& open(ferrite::EventRingConfig config = {}) {
    ring.emplace(flash, config);
    REQUIRE(ferrite::sync_wait(ring->open()));
    return *ring;
  }
  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  std::optional<EventRing> ring;
};

}  // namespace

TEST_CASE("open on a blank partition gives an empty ring that reads nothing", "[events]") {
  Rig r(geometry());
  auto& ring = r.open();
  CHECK(ring.is_open());
  CHECK(read_all(ring).empty());
  CHECK(ring.stats().next_seq == 1);
  CHECK(r.sim.counters().erase_ops == 0);   // nothing is written before the first event
}

TEST_CASE("flushed events read back newest first with sequence numbers, levels and messages", "[events]") {
  Rig r(geometry());
  auto& ring = r.open();
  CHECK(emit(ring, EventLevel::info, "mounted"));
  CHECK(emit(ring, EventLevel::error, "sector 3 damaged"));
  CHECK(emit(ring, EventLevel::info, ""));
  CHECK(ring.stats().queued == 3);
  REQUIRE(ferrite::sync_wait(ring.flush()));
  CHECK(ring.stats().queued == 0);
  CHECK(ring.stats().written == 3);
  const auto seen = read_all(ring);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].seq == 3);
  CHECK(seen[0].message.empty());
  CHECK(seen[1].seq == 2);
  CHECK(seen[1].level == EventLevel::error);
  CHECK(seen[1].message == "sector 3 damaged");
  CHECK(seen[2].seq == 1);
  CHECK(seen[2].message == "mounted");
  CHECK_FALSE(seen[2].timed);
}

TEST_CASE("events below the threshold are neither queued nor counted", "[events]") {
  Rig r(geometry());
  auto& ring = r.open();
  CHECK_FALSE(emit(ring, EventLevel::debug, "noise"));
  CHECK(ring.stats().queued == 0);
  CHECK(ring.stats().dropped == 0);
  ferrite::EventRingConfig c;
  c.threshold = EventLevel::debug;
  Rig all(geometry());
  CHECK(emit(all.open(c), EventLevel::debug, "kept"));
}

TEST_CASE("the sink installed with set_event_sink queues what emit_event reports", "[events]") {
  Rig r(geometry());
  auto& ring = r.open();
  ferrite::set_event_sink(ring.sink());
  ferrite::emit_event(EventLevel::error, "from the core");
  ferrite::emit_event(EventLevel::debug, "below the threshold");
  ferrite::set_event_sink({});
  REQUIRE(ferrite::sync_wait(ring.flush()));
  const auto seen = read_all(ring);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].message == "from the core");
}

TEST_CASE("with a clock every event carries the application's timestamp", "[events]") {
  Rig r(geometry());
  std::int64_t now = 41;
  ferrite::EventRingConfig c;
  c.clock = {[](void* t) noexcept { return ++*static_cast<std::int64_t*>(t); }, &now};
  auto& ring = r.open(c);
  emit(ring, EventLevel::info, "a");
  emit(ring, EventLevel::info, "b");
  REQUIRE(ferrite::sync_wait(ring.flush()));
  const auto seen = read_all(ring);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].timed);
  CHECK(seen[0].timestamp == 43);
  CHECK(seen[1].timestamp == 42);
}

TEST_CASE("format_event writes seq, level and message, with the timestamp when there is one", "[events]") {
  Rig r(geometry());
  std::int64_t now = 7;
  ferrite::EventRingConfig c;
  c.clock = {[](void* t) noexcept { return *static_cast<std::int64_t*>(t); }, &now};
  auto& timed = r.open(c);
  emit(timed, EventLevel::error, "disk full");
  REQUIRE(ferrite::sync_wait(timed.flush()));
  auto cur = timed.newest();
  REQUIRE(ferrite::sync_wait(cur.next()).value());
  CHECK(ferrite::format_event(cur) == "1 error @7 disk full");
  Rig plain(geometry());
  auto& ring = plain.open();
  emit(ring, EventLevel::info, "hello");
  REQUIRE(ferrite::sync_wait(ring.flush()));
  auto c2 = ring.newest();
  REQUIRE(ferrite::sync_wait(c2.next()).value());
  CHECK(ferrite::format_event(c2) == "1 info hello");
}

TEST_CASE("a full queue drops events and counts them; flush writes the ones it kept", "[events]") {
  Rig r(geometry());
  std::array<std::byte, 64> queue{};
  ferrite::EventRingConfig c;
  c.queue = queue;
  auto& ring = r.open(c);
  CHECK(ring.ram_bytes() == sizeof(EventRing) + 64);
  int kept = 0;
  for (int i = 0; i < 10; ++i) kept += emit(ring, EventLevel::info, "0123456789") ? 1 : 0;   // 22 bytes each
  CHECK(kept == 2);
  CHECK(ring.stats().dropped == 8);
  CHECK(ring.stats().queued_bytes == 44);
  REQUIRE(ferrite::sync_wait(ring.flush()));
  CHECK(read_all(ring).size() == 2);
  CHECK(emit(ring, EventLevel::info, "room again"));
}

TEST_CASE("flush before open answers not_mounted and keeps the queue", "[events]") {
  Rig r(geometry());
  EventRing ring(r.flash);
  CHECK(ring.push(EventLevel::info, "early"));
  CHECK(ferrite::sync_wait(ring.flush()).error() == Errc::not_mounted);
  CHECK(ring.stats().queued == 1);
  REQUIRE(ferrite::sync_wait(ring.open()));
  REQUIRE(ferrite::sync_wait(ring.flush()));
  CHECK(read_all(ring).size() == 1);
}

TEST_CASE("open refuses one sector, more than 16, and sectors too small for a record", "[events]") {
  for (auto g : {geometry(1, 512), geometry(17, 512), geometry(2, 32)}) {
    ferrite::sim::SimFlash sim(g);
    EventRing ring{ferrite::Flash(sim)};
    CHECK(ferrite::sync_wait(ring.open()).error() == Errc::invalid_argument);
  }
}

TEST_CASE("a message longer than the ring holds is cut to max_message()", "[events]") {
  Rig r(geometry(2, 128));
  auto& ring = r.open();
  CHECK(ring.max_message() == 128 - 20 - 20);
  emit(ring, EventLevel::info, std::string(300, 'x'));
  REQUIRE(ferrite::sync_wait(ring.flush()));
  const auto seen = read_all(ring);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].message.size() == ring.max_message());
}

TEST_CASE("a full ring erases its oldest sector: newest first stays a run of consecutive sequence numbers",
          "[events]") {
  Rig r(geometry(3, 256));
  auto& ring = r.open();
  for (int i = 0; i < 60; ++i) {
    emit(ring, EventLevel::info, "event " + std::to_string(i + 1));
    REQUIRE(ferrite::sync_wait(ring.flush()));
  }
  CHECK(ring.stats().rotations >= 4);
  const auto seen = read_all(ring);
  REQUIRE(seen.size() >= 10);
  CHECK(seen.size() < 60);
  CHECK(seen.front().seq == 60);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i].seq == 60 - i);
    CHECK(seen[i].message == "event " + std::to_string(seen[i].seq));
  }
}

TEST_CASE("events and their numbering survive a remount", "[events]") {
  Rig r(geometry(3, 256));
  auto& ring = r.open();
  for (int i = 0; i < 25; ++i) {
    emit(ring, EventLevel::info, "before " + std::to_string(i + 1));
    if (i % 5 == 4) REQUIRE(ferrite::sync_wait(ring.flush()));
  }
  CHECK(ring.stats().dropped == 0);
  const auto before = read_all(ring);
  auto& again = r.open();
  CHECK(again.stats().next_seq == 26);
  const auto after = read_all(again);
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i].message == before[i].message);
  emit(again, EventLevel::info, "after");
  REQUIRE(ferrite::sync_wait(again.flush()));
  const auto seen = read_all(again);
  CHECK(seen.front().seq == 26);
  CHECK(seen.front().message == "after");
}

TEST_CASE("ECC flash: program units of 16 and 32 bytes and erase value 0x00 never program a unit twice",
          "[events]") {
  for (std::uint32_t unit : {16u, 32u}) {
    for (auto erased : {ferrite::EraseValue::ones, ferrite::EraseValue::zeros}) {
      Rig r(geometry(3, 512, unit, erased));
      ferrite::EventRingConfig every;
      every.threshold = EventLevel::debug;
      auto& ring = r.open(every);
      for (int i = 0; i < 40; ++i) {
        emit(ring, static_cast<EventLevel>(i % 3), "ecc " + std::to_string(i + 1));
        REQUIRE(ferrite::sync_wait(ring.flush()));
      }
      const auto live = read_all(ring);
      INFO("unit " << unit << " live newest " << (live.empty() ? 0 : live.front().seq) << " rotations "
                   << ring.stats().rotations << " sealed " << ring.stats().sealed);
      auto& again = r.open();
      INFO("after open sealed " << again.stats().sealed << " next " << again.stats().next_seq);
      const auto seen = read_all(again);
      REQUIRE_FALSE(seen.empty());
      CHECK(seen.front().seq == 40);
      for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i].seq == 40 - i);
      CHECK(seen.back().message == "ecc " + std::to_string(seen.back().seq));
    }
  }
}

TEST_CASE("a program the port refuses seals the sector and the event goes to a fresh one", "[events]") {
  Rig r(geometry(3, 512));
  auto& ring = r.open();
  emit(ring, EventLevel::info, "one");
  REQUIRE(ferrite::sync_wait(ring.flush()));
  r.sim.fail_next(ferrite::FlashOpKind::program, Errc::reprogram_forbidden);
  emit(ring, EventLevel::info, "two");
  REQUIRE(ferrite::sync_wait(ring.flush()));
  CHECK(ring.stats().sealed == 1);
  CHECK(ring.stats().rotations == 2);
  const auto seen = read_all(ring);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].message == "two");
  CHECK(seen[1].message == "one");
}

TEST_CASE("a flash error in flush keeps the unwritten events queued", "[events]") {
  Rig r(geometry(3, 512));
  auto& ring = r.open();
  emit(ring, EventLevel::info, "kept");
  r.sim.fail_next(ferrite::FlashOpKind::erase, Errc::io);
  CHECK(ferrite::sync_wait(ring.flush()).error() == Errc::io);
  CHECK(ring.stats().queued == 1);
  REQUIRE(ferrite::sync_wait(ring.flush()));
  CHECK(read_all(ring).front().message == "kept");
}

// -- powerloss-events ----------------------------------------------------------------
//
// A workload of 40 events (random levels, messages of 0..70 bytes, flushed
// after 1..4 events) on a 3-sector ring, with a power cut at every program
// and erase. After each cut: a new EventRing on the same flash opens, and
// (1) reads a run of consecutive sequence numbers, newest first, each with
// the level and message of the event that had that number; (2) the newest is
// at or after the last acknowledged event (flush returned ok) and at most
// the last one pushed; (3) three more events flush and read back on top of
// the run, and the same after a second remount.

namespace {

struct PlRng {
  std::uint64_t s;
  explicit PlRng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 7) {}
  std::uint32_t below(std::uint32_t n) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s % n);
  }
};

struct Planned {
  EventLevel level;
  std::string message;
  bool flush_after;
};

std::vector<Planned> plan(std::uint64_t seed, int events) {
  PlRng rng(seed);
  std::vector<Planned> out;
  int unflushed = 0;
  for (int i = 0; i < events; ++i) {
    std::string m = "e" + std::to_string(i + 1) + ":";
    m += std::string(rng.below(64), static_cast<char>('a' + rng.below(26)));
    const bool flush = rng.below(3) == 0 || ++unflushed == 4 || i + 1 == events;   // after 1..4 events
    if (flush) unflushed = 0;
    out.push_back({static_cast<EventLevel>(rng.below(3)), m, flush});
  }
  return out;
}

// Runs the workload; returns how many events were acknowledged and pushed.
struct Outcome {
  std::size_t acked = 0, pushed = 0;
  bool cut = false;
  std::string failure;
};

Outcome run(EventRing& ring, const std::vector<Planned>& events) {
  Outcome o;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!ring.push(events[i].level, events[i].message)) {
      o.failure = "push dropped";
      return o;
    }
    o.pushed = i + 1;
    if (!events[i].flush_after) continue;
    auto st = ferrite::sync_wait(ring.flush());
    if (!st) {
      if (st.error() == Errc::power_lost) o.cut = true;
      else o.failure = std::string("flush: ") + ferrite::name_of(st.error());
      return o;
    }
    o.acked = i + 1;
  }
  return o;
}

std::string check_run(const std::vector<Seen>& seen, const std::vector<Planned>& events, std::size_t extra_from,
                      const std::vector<std::string>& extra) {
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto s = seen[i].seq;
    if (i > 0 && s + 1 != seen[i - 1].seq)
      return "sequence " + std::to_string(s) + " after " + std::to_string(seen[i - 1].seq);
    std::string want;
    EventLevel level = EventLevel::info;
    if (s >= 1 && s <= extra_from) {
      if (s > events.size()) return "unknown sequence " + std::to_string(s);
      want = events[s - 1].message;
      level = events[s - 1].level;
    } else if (s > extra_from && s <= extra_from + extra.size()) {
      want = extra[s - extra_from - 1];
    } else {
      return "unknown sequence " + std::to_string(s);
    }
    if (seen[i].message != want || seen[i].level != level) return "event " + std::to_string(s) + " reads wrong";
  }
  return {};
}

std::string check_after_cut(ferrite::Flash flash, const std::vector<Planned>& events, const Outcome& o) {
  EventRing ring(flash, every_level());
  auto st = ferrite::sync_wait(ring.open());
  if (!st) return std::string("open: ") + ferrite::name_of(st.error());
  Errc e = Errc::ok;
  auto seen = read_all(ring, &e);
  if (e != Errc::ok) return std::string("read: ") + ferrite::name_of(e);
  const std::uint32_t newest = seen.empty() ? 0 : seen.front().seq;
  if (newest < o.acked) return "acknowledged event " + std::to_string(o.acked) + " lost (newest " + std::to_string(newest) + ")";
  if (newest > o.pushed) return "newest " + std::to_string(newest) + " was never pushed";
  if (auto f = check_run(seen, events, newest, {}); !f.empty()) return f;
  // The ring writes on after the cut, on top of what it reads.
  const std::vector<std::string> extra{"after-1", "after-2 " + std::string(40, 'z'), "after-3"};
  for (auto& m : extra) ring.push(EventLevel::info, m);
  st = ferrite::sync_wait(ring.flush());
  if (!st) return std::string("flush after the cut: ") + ferrite::name_of(st.error());
  for (int pass = 0; pass < 2; ++pass) {
    EventRing again(flash, every_level());
    if (pass == 1 && !ferrite::sync_wait(again.open())) return "second open";
    EventRing& r = pass == 0 ? ring : again;
    seen = read_all(r, &e);
    if (e != Errc::ok) return std::string("read after: ") + ferrite::name_of(e);
    if (seen.size() < 3 || seen.front().seq != newest + 3) return "the new events are not on top";
    if (auto f = check_run(seen, events, newest, extra); !f.empty()) {
      std::string list;
      for (auto& x : seen) list += " " + std::to_string(x.seq) + "=" + x.message.substr(0, 8);
      return "after the cut (pass " + std::to_string(pass) + "): " + f + " in" + list;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("a power cut at any flash operation of the event ring tears nothing older and loses no acknowledged event",
          "[events][powerloss][campaign]") {
  const double scale = campaign::campaign_scale();
  const int workloads = std::max(1, static_cast<int>(120 * scale));
  std::size_t cases = 0, failures = 0;
  const auto started = std::chrono::steady_clock::now();
  const char* only = std::getenv("FERRITE_PL_ONLY");  // "seed:cut" runs one case
  for (int w = 0; w < workloads; ++w) {
    const std::uint64_t seed = 0xE7E00000u + static_cast<std::uint64_t>(w) * 104729;
    // Every fourth workload on ECC-like geometry: 16-byte units, erase value 0x00.
    const bool ecc = w % 4 == 3;
    const auto g = ecc ? geometry(3, 384, 16, ferrite::EraseValue::zeros) : geometry(3, 256, 4);
    const auto events = plan(seed, 40);
    std::uint64_t total = 0;
    {
      ferrite::sim::SimFlash sim(g, seed);
      EventRing ring(ferrite::Flash(sim), every_level());
      REQUIRE(ferrite::sync_wait(ring.open()));
      auto o = run(ring, events);
      CHECK(o.failure.empty());
      CHECK(o.acked == events.size());
      total = sim.mutating_ops();
    }
    for (std::uint64_t k = 0; k < total; ++k) {
      if (only && std::to_string(seed) + ":" + std::to_string(k) != only) continue;
      ferrite::sim::SimFlash sim(g, seed * 31 + k);
      sim.set_tear_mode(k % 2 ? ferrite::sim::TearMode::random_units : ferrite::sim::TearMode::prefix_then_partial);
      ferrite::Flash flash(sim);
      EventRing ring(flash, every_level());
      REQUIRE(ferrite::sync_wait(ring.open()));
      sim.cut_power_at(k);
      auto o = run(ring, events);
      if (!o.cut && o.failure.empty()) continue;
      ++cases;
      sim.restore_power();
      std::string failure = o.failure.empty() ? check_after_cut(flash, events, o) : o.failure;
      if (!failure.empty()) {
        ++failures;
        if (failures <= 10) {
          std::fprintf(stderr, "powerloss-events failure: seed %llu cut %llu: %s\n",
                       static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
          UNSCOPED_INFO("seed " << seed << " cut " << k << ": " << failure);
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign powerloss-events: %zu cases, %zu failures\n", cases, failures);
  std::printf("  (%d workloads of 40 events on 3 sectors; %.1f s)\n", workloads, seconds);
  CHECK(failures == 0);
  CHECK(cases >= static_cast<std::size_t>(3000 * scale));
}
