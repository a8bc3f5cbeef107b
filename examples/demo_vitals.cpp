// The vital signs of ferrite-demo: heart-rate readings in a series log, the
// newest few, per-quarter-hour figures, and an upload mark.
#include <cstring>
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

namespace {

constexpr int readings = 120;          // one every 30 s for an hour
constexpr std::int64_t interval = 30;  // seconds

/// A reading's payload: the rate as a little-endian float (what a sensor
/// driver's packed struct would hold).
std::array<std::byte, 4> payload_of(float bpm) {
  std::array<std::byte, 4> out;
  std::memcpy(out.data(), &bpm, 4);
  return out;
}

float bpm_of(std::span<const std::byte> payload) {
  float bpm = 0;
  if (payload.size() == 4) std::memcpy(&bpm, payload.data(), 4);
  return bpm;
}

/// A rate that climbs during the hour and wobbles by a few beats.
float rate_at(int i) { return 64.0f + static_cast<float>(i) * 0.25f + static_cast<float>((i * 7) % 5); }

Task<Status> append_hour(ferrite::SeriesLog& log) {
  for (int i = 0; i < readings; ++i)
    FERRITE_CO_TRY(co_await log.append(heart_rate, first_reading_ts + i * interval, payload_of(rate_at(i))));
  co_return Status{};
}

Task<Status> newest(ferrite::SeriesLog& log) {
  std::array<std::byte, 64> buffer;
  auto cursor = log.last(heart_rate, 5, buffer);
  std::string line;
  int n = 0;
  std::uint64_t newest_seq = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    if (n++ == 0) newest_seq = cursor.reading().seq;
    line += fmt::format(" {:.2f}", bpm_of(cursor.reading().payload));
  }
  fmt::print("  last(5), newest first:{} bpm (newest seq {})\n", line, newest_seq);
  co_return expect(n == 5 && newest_seq == readings && line.starts_with(fmt::format(" {:.2f}", rate_at(readings - 1))),
                   "the 5 newest readings, newest first");
}

Task<Status> quarter_hours(ferrite::SeriesLog& log) {
  std::array<ferrite::SeriesBucket, 4> buckets{};
  std::array<std::byte, 64> buffer;
  const auto field = ferrite::SeriesField::at(ferrite::SeriesField::Kind::f32, 0);
  FERRITE_CO_TRY(co_await log.aggregate(heart_rate, first_reading_ts, 15 * 60, field, buckets, buffer));
  std::uint64_t total = 0;
  for (const auto& b : buckets) {
    fmt::print("  {:>2} min: {} readings, avg {:.1f}, min {:.1f}, max {:.1f} bpm\n",
               (b.start - first_reading_ts) / 60, b.count, b.average(), b.min, b.max);
    total += b.count;
  }
  co_return expect(total == readings && buckets[3].average() > buckets[0].average(),
                   "every reading in a bucket, the rate rising");
}

/// Sends what the mark has not seen yet (here: counts it) and moves the mark.
Task<Status> upload(ferrite::SeriesLog& log, ferrite::Store& store) {
  ferrite::UploadMark mark(store, "hr.uploaded");
  FERRITE_CO_TRY_ASSIGN(const std::uint64_t before, co_await mark.get());
  std::array<std::byte, 64> buffer;
  auto cursor = log.since(before + 1, buffer);
  std::uint64_t sent = 0, last = before;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) break;
    ++sent;
    last = cursor.reading().seq;
  }
  FERRITE_CO_TRY(co_await mark.set(last));
  FERRITE_CO_TRY_ASSIGN(const std::uint64_t after, co_await mark.get());
  fmt::print("  upload mark: was {}, {} readings sent, now {} (a u64 under hr.uploaded in the sealed store)\n", before,
             sent, after);
  co_return expect(sent == readings && after == readings, "every reading sent once");
}

}  // namespace

Task<Status> vital_signs(ferrite::SeriesLog& log, ferrite::Store& store) {
  FERRITE_CO_TRY(co_await log.mount());  // an erased partition is an empty log
  FERRITE_CO_TRY(co_await append_hour(log));
  const auto st = log.stats();
  fmt::print("  {} heart-rate readings appended (every {} s, sealed), seq 1..{}, in {} of 2 sectors\n", readings,
             interval, st.next_seq - 1, st.live_sectors);
  FERRITE_CO_TRY(co_await newest(log));
  FERRITE_CO_TRY(co_await quarter_hours(log));
  co_return co_await upload(log, store);
}

}  // namespace demo
