// The power-cut campaign of series logs: a randomized workload of appends,
// clears and clear_alls (which roll sectors over, or fill a log without
// rollover) is cut at every program and erase it issues; after each cut the
// log is remounted and compared with a model of what was acknowledged.
// Include after series_rig.hpp and log_rig.hpp (rig::Random).
#pragma once

#include "campaign_scale.hpp"

namespace series_campaign {

using ferrite::Errc;
using series_rig::Row;

struct Op {
  enum Kind { append, clear, clear_all } kind = append;
  std::uint8_t series = 0;
  std::int64_t ts = 0;
  std::string payload;
};

inline std::vector<Op> make_workload(std::uint64_t seed, int count, std::uint32_t max_payload) {
  rig::Random rnd(seed);
  std::vector<Op> ops;
  std::int64_t clock = 1000;
  for (int i = 0; i < count; ++i) {
    Op op;
    const std::uint32_t r = rnd.below(100);
    op.kind = r < 92 ? Op::append : r < 97 ? Op::clear : Op::clear_all;
    op.series = static_cast<std::uint8_t>(rnd.below(3));
    // The clock mostly ticks, sometimes jumps back (an RTC reset) or far ahead.
    const std::uint32_t j = rnd.below(100);
    clock += j < 5 ? -static_cast<std::int64_t>(rnd.below(5000)) : j < 8 ? 1'000'000 : 1;
    op.ts = clock;
    const std::uint32_t len = rnd.below(max_payload + 1);
    for (std::uint32_t k = 0; k < len; ++k) op.payload.push_back(static_cast<char>('a' + rnd.below(26)));
    ops.push_back(std::move(op));
  }
  return ops;
}

/// What the log must show: every acknowledged reading at or above the
/// retention floor that no clear hides.
struct Model {
  std::map<std::uint64_t, Row> acknowledged;
  std::uint64_t retention_floor = 0;   // readings below it may be gone (rollover)
  std::array<std::uint64_t, 256> floors{};  // clear(series): readings below are hidden
  std::uint64_t floor_all = 0;
  std::uint64_t highest_seen = 0;      // every seq ever answered or shown
  bool hidden(const Row& r) const { return r.seq < floor_all || r.seq < floors[r.series]; }
};

inline bool tracing = false;

struct Before {
  ferrite::SeriesStats stats;
  Op op;
};

struct Outcome {
  bool cut = false;
  std::optional<Before> in_flight;
};

/// The floor an op may raise retention to: the second-oldest sector's
/// first seq when at most one sector was free (rollover, or a clear_all that
/// makes room), else the oldest's.
inline std::uint64_t allowed_floor(const ferrite::SeriesStats& st) {
  // Rollover keeps one sector free: taking it erases the oldest.
  return st.free_sectors <= 1 ? st.rollover_floor : st.oldest_seq;
}

inline Outcome run_ops(series_rig::Rig& r, const std::vector<Op>& ops, std::size_t from, std::size_t count,
                       Model& m, std::string& failure) {
  Outcome out;
  for (std::size_t i = from; i < ops.size() && i < from + count; ++i) {
    const Op& op = ops[i];
    const ferrite::SeriesStats before = r.log->stats();
    if (tracing)
      std::fprintf(stderr, "op %zu: kind %d series %u ts %lld '%s' (next %llu oldest %llu free %u)\n", i, op.kind,
                   op.series, static_cast<long long>(op.ts), op.payload.c_str(),
                   static_cast<unsigned long long>(before.next_seq), static_cast<unsigned long long>(before.oldest_seq),
                   before.free_sectors);
    ferrite::Status st{};
    if (op.kind == Op::append) {
      auto seq = r.append(op.series, op.ts, op.payload);
      if (seq) {
        if (*seq <= m.highest_seen && failure.empty())
          failure = "append answered seq " + std::to_string(*seq) + " after " + std::to_string(m.highest_seen);
        m.highest_seen = std::max(m.highest_seen, *seq);
        m.acknowledged[*seq] = Row{*seq, op.ts, op.series, op.payload};
      } else {
        st = ferrite::fail(seq.error());
      }
    } else if (op.kind == Op::clear) {
      st = r.clear(op.series);
      if (st) m.floors[op.series] = r.log->stats().next_seq - 1;
    } else {
      st = r.clear_all();
      if (st) m.floor_all = r.log->stats().next_seq - 1;
    }
    if (!st && st.error() == Errc::power_lost) {
      out.cut = true;
      out.in_flight = Before{before, op};
      return out;
    }
    if (!st && st.error() != Errc::no_space && failure.empty())
      failure = std::string("op failed without a power cut: ") + ferrite::name_of(st.error());
    if (!st && st.error() == Errc::no_space && r.config.rollover && failure.empty())
      failure = "no_space with rollover on";
    const ferrite::SeriesStats after = r.log->stats();
    if (after.oldest_seq > std::max(before.oldest_seq, m.floor_all)) {
      if (after.oldest_seq > allowed_floor(before) && after.oldest_seq > m.floor_all && failure.empty())
        failure = "op " + std::to_string(i) + " dropped readings up to " + std::to_string(after.oldest_seq) +
                  " (allowed " + std::to_string(allowed_floor(before)) + ")";
      m.retention_floor = std::max(m.retention_floor, after.oldest_seq);
    }
  }
  return out;
}

/// Remounts and compares with the model; resolves the op in flight.
inline std::string check(series_rig::Rig& r, Model& m, const std::optional<Before>& in_flight) {
  r.reboot();
  auto st = r.mount();
  if (!st) return std::string("mount failed: ") + ferrite::name_of(st.error());
  const std::uint64_t floor =
      in_flight ? std::max(m.retention_floor, allowed_floor(in_flight->stats)) : m.retention_floor;
  Errc error = Errc::ok;
  const std::vector<Row> seen = r.since(0, &error);
  if (error != Errc::ok) return std::string("since(0) failed: ") + ferrite::name_of(error);
  std::uint64_t prev = 0;
  std::optional<Row> fresh;  // the reading in flight, when it shows
  std::set<std::uint64_t> shown;
  if (tracing) {
    std::fprintf(stderr, "check: floor %llu, floor_all %llu, seen", static_cast<unsigned long long>(floor),
                 static_cast<unsigned long long>(m.floor_all));
    for (const Row& row : seen) std::fprintf(stderr, " %llu/%u", static_cast<unsigned long long>(row.seq), row.series);
    std::fprintf(stderr, "\n  sectors:");
    for (const auto& x : r.log->sectors())
      std::fprintf(stderr, " [%d first %llu]", static_cast<int>(x.state()), static_cast<unsigned long long>(x.first_seq()));
    const auto st = r.log->stats();
    std::fprintf(stderr, " next %llu head_room %u\n", static_cast<unsigned long long>(st.next_seq), st.head_room);
  }
  for (const Row& row : seen) {
    if (row.seq <= prev) return "seq " + std::to_string(row.seq) + " after " + std::to_string(prev);
    prev = row.seq;
    shown.insert(row.seq);
    const auto it = m.acknowledged.find(row.seq);
    if (it == m.acknowledged.end()) {
      const bool may_be_fresh = in_flight && in_flight->op.kind == Op::append && !fresh &&
                                row.seq >= in_flight->stats.next_seq && row.series == in_flight->op.series &&
                                row.ts == in_flight->op.ts && row.payload == in_flight->op.payload;
      if (!may_be_fresh) return "unacknowledged reading seq " + std::to_string(row.seq) + " '" + row.payload + "'";
      fresh = row;
      continue;
    }
    if (!(it->second == row)) return "seq " + std::to_string(row.seq) + " reads '" + row.payload + "', wrote '" +
                                     it->second.payload + "'";
    if (m.hidden(row)) return "seq " + std::to_string(row.seq) + " shows after a clear hid it";
  }
  // A clear in flight: applied when no reading it would hide shows.
  if (in_flight && in_flight->op.kind != Op::append) {
    bool older_shows = false;
    for (const Row& row : seen)
      if (row.seq < in_flight->stats.next_seq && !m.hidden(row) &&
          (in_flight->op.kind == Op::clear_all || row.series == in_flight->op.series))
        older_shows = true;
    if (!older_shows) {
      if (in_flight->op.kind == Op::clear_all) m.floor_all = std::max(m.floor_all, in_flight->stats.next_seq);
      else m.floors[in_flight->op.series] = std::max(m.floors[in_flight->op.series], in_flight->stats.next_seq);
    }
  }
  for (const auto& [seq, row] : m.acknowledged) {
    if (seq < floor || m.hidden(row)) continue;
    if (!shown.count(seq)) return "acknowledged seq " + std::to_string(seq) + " is missing (floor " +
                                  std::to_string(floor) + ")";
  }
  if (fresh) m.acknowledged[fresh->seq] = *fresh;
  const ferrite::SeriesStats after = r.log->stats();
  for (const Row& row : seen) m.highest_seen = std::max(m.highest_seen, row.seq);
  if (after.next_seq <= m.highest_seen)
    return "next seq " + std::to_string(after.next_seq) + " is not above " + std::to_string(m.highest_seen);
  if (after.oldest_seq > floor && after.oldest_seq > m.floor_all && !seen.empty() && seen.front().seq < after.oldest_seq)
    return "oldest_seq above a reading that shows";
  m.retention_floor = std::max(m.retention_floor, std::min(floor, after.oldest_seq));
  // Readings below what mount kept are gone for good.
  m.retention_floor = std::max(m.retention_floor, after.oldest_seq);
  return "";
}

struct Geometry {
  const char* name;
  std::vector<ferrite::SectorRun> runs;
  std::uint32_t unit;
  bool rollover;
  std::uint32_t max_payload;
};

struct Tally {
  std::size_t cases = 0;
  std::size_t failures = 0;
};

inline ferrite::Geometry make(const Geometry& g) {
  auto geo = ferrite::Geometry::make(g.runs, g.unit);
  if (!geo) std::abort();
  return *geo;
}

inline void run(const Geometry& g, std::uint64_t seed, int ops_count, Tally& tally,
                ferrite::ValueCodec* codec = nullptr) {
  const std::vector<Op> ops = make_workload(seed, ops_count, g.max_payload);
  std::uint64_t total = 0;
  {
    series_rig::Rig r(make(g), g.rollover, seed, codec);
    REQUIRE(r.mount());
    const std::uint64_t base = r.sim.mutating_ops();
    Model m;
    std::string failure;
    run_ops(r, ops, 0, ops.size(), m, failure);
    CHECK(failure.empty());
    total = r.sim.mutating_ops() - base;
    const std::string f = check(r, m, std::nullopt);
    INFO(g.name << " seed " << seed << " uncut: " << f);
    CHECK(f.empty());
  }
  const char* only = std::getenv("FERRITE_SERIES_ONLY");  // "name:seed:cut" traces one case
  for (std::uint64_t k = 0; k < total; ++k) {
    if (only) {
      tracing = std::string(g.name) + ":" + std::to_string(seed) + ":" + std::to_string(k) == only;
      if (!tracing) continue;
    }
    series_rig::Rig r(make(g), g.rollover, seed * 7919 + k, codec);
    r.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                   : ferrite::sim::TearMode::prefix_then_partial);
    REQUIRE(r.mount());
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    Model m;
    std::string failure;
    const Outcome first = run_ops(r, ops, 0, ops.size(), m, failure);
    if (!first.cut) continue;
    ++tally.cases;
    if (failure.empty()) failure = check(r, m, first.in_flight);
    if (!failure.empty()) failure = "[first] " + failure;
    if (failure.empty()) {
      // Go on appending (sequence numbers must stay above everything seen),
      // cut again, check again.
      rig::Random rnd(seed ^ (k * 0x9E37u));
      r.sim.cut_power_at(r.sim.mutating_ops() + rnd.below(30));
      const std::size_t from = rnd.below(static_cast<std::uint32_t>(ops.size() / 2));
      const Outcome second = run_ops(r, ops, from, 25, m, failure);
      if (failure.empty()) failure = check(r, m, second.in_flight);
      if (!failure.empty()) failure = "[second, from op " + std::to_string(from) + "] " + failure;
      if (failure.empty()) {
        // And the log stays usable.
        auto seq = r.append(0, 1, "after");
        if (!seq && !(seq.error() == Errc::no_space && !g.rollover))
          failure = std::string("append after the cuts: ") + ferrite::name_of(seq.error());
        else if (seq && *seq <= m.highest_seen)
          failure = "append after the cuts answered " + std::to_string(*seq);
      }
    }
    if (!failure.empty()) {
      ++tally.failures;
      if (tally.failures <= 12) {
        std::fprintf(stderr, "powerloss-series failure: %s seed %llu cut %llu: %s\n", g.name,
                     static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
        UNSCOPED_INFO(g.name << " seed " << seed << " cut " << k << ": " << failure);
        CHECK(failure.empty());
      }
    }
  }
}

}  // namespace series_campaign
