// Test support for series logs: a simulated flash with a series log on it,
// and blocking wrappers so tests read as plain calls. Include after the std
// and Catch2 headers and after `import ferrite.series; import ferrite.sim;`.
#pragma once

namespace series_rig {

using ferrite::Errc;

inline ferrite::Geometry uniform(std::uint32_t sectors, std::uint32_t size, std::uint32_t unit) {
  auto g = ferrite::Geometry::uniform(sectors, size, unit);
  if (!g) std::abort();
  return *g;
}

/// A reading as the tests see it.
struct Row {
  std::uint64_t seq = 0;
  std::int64_t ts = 0;
  std::uint8_t series = 0;
  std::string payload;
  bool operator==(const Row& o) const {
    return seq == o.seq && ts == o.ts && series == o.series && payload == o.payload;
  }
};

struct Rig {
  static constexpr std::size_t max_sectors = 64;

  explicit Rig(ferrite::Geometry g, bool rollover = true, std::uint64_t seed = 1, ferrite::ValueCodec* codec = nullptr,
               std::uint32_t max_payload = 200)
      : sim(g, seed), flash(sim) {
    config.sectors = sectors;
    config.floors = floors;
    config.max_payload = max_payload;
    config.rollover = rollover;
    config.codec = codec;
    scratch.resize(ferrite::SeriesLog::scratch_needed(max_payload, 64, 32));
    config.scratch = scratch;
    log.emplace(flash, config);
  }
  /// A new SeriesLog on the same flash (as after a reboot), not mounted.
  void reboot() {
    sim.restore_power();
    sectors = {};
    floors = {};
    log.emplace(flash, config);
  }
  ferrite::Status mount() { return ferrite::sync_wait(log->mount()); }
  ferrite::Result<std::uint64_t> append(std::uint8_t series, std::int64_t ts, std::string_view payload) {
    return ferrite::sync_wait(log->append(series, ts, ferrite::as_bytes(payload)));
  }
  ferrite::Status clear(std::uint8_t series) { return ferrite::sync_wait(log->clear(series)); }
  ferrite::Status clear_all() { return ferrite::sync_wait(log->clear_all()); }

  /// Every reading a cursor yields; `error` gets the first failure.
  std::vector<Row> drain(ferrite::SeriesCursor c, Errc* error = nullptr) {
    std::vector<Row> out;
    for (;;) {
      auto more = ferrite::sync_wait(c.next());
      if (!more) {
        if (error) *error = more.error();
        break;
      }
      if (!*more) break;
      const auto& r = c.reading();
      out.push_back(Row{r.seq, r.timestamp, r.series,
                        std::string(reinterpret_cast<const char*>(r.payload.data()), r.payload.size())});
    }
    return out;
  }
  std::vector<Row> last(std::uint8_t series, std::uint64_t n, Errc* error = nullptr) {
    return drain(log->last(series, n, buffer), error);
  }
  std::vector<Row> range_time(std::uint8_t series, std::int64_t from, std::int64_t to, Errc* error = nullptr) {
    return drain(log->range_time(series, from, to, buffer), error);
  }
  std::vector<Row> range_seq(std::uint8_t series, std::uint64_t a, std::uint64_t b, Errc* error = nullptr) {
    return drain(log->range_seq(series, a, b, buffer), error);
  }
  std::vector<Row> since(std::uint64_t seq, Errc* error = nullptr) { return drain(log->since(seq, buffer), error); }
  ferrite::Result<std::uint64_t> count(std::uint8_t series, std::int64_t from, std::int64_t to) {
    return ferrite::sync_wait(log->count(series, from, to));
  }

  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  std::array<ferrite::SeriesSector, max_sectors> sectors{};
  std::array<ferrite::SeriesFloor, 8> floors{};
  std::vector<std::byte> scratch;
  std::array<std::byte, 512> buffer{};
  ferrite::SeriesConfig config{};
  std::optional<ferrite::SeriesLog> log;
};

}  // namespace series_rig
