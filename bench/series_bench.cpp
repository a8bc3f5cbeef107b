// ferrite-series-bench — a series log against the key/value engine for the
// same sensor workload on the simulated STM32F4 flash (its timing model):
// 16-byte readings at one per second, kept in a ring. See "Series logs" in
// bench/README.md for the method and the results.
//
//   ferrite-series-bench                  100,000 readings, table on stdout
//   ferrite-series-bench --quick          5,000 readings (the meson smoke test)
//   ferrite-series-bench --markdown FILE  also the README table (markdown)
//
// Figures are exact counters of ferrite::sim::SimFlash and its device-time
// model, not host timings. Exit status: 0 when every run completed and every
// read verified, 1 otherwise, 2 on bad arguments.

// Every std / third-party header before the imports (module prologue rule).
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

import ferrite;
import ferrite.sim;

namespace {

using ferrite::Errc;
using ferrite::sync_wait;

constexpr std::uint32_t reading_size = 16;
constexpr std::uint32_t hour = 3600;  // readings in one hour at 1 per second

// The STM32F4's three 128 KiB sectors (5..7 of its 16/16/16/16/64/128 KiB
// map): the same partition for both engines.
ferrite::Geometry partition() {
  auto g = ferrite::Geometry::uniform(3, 128 * 1024, 4, ferrite::EraseValue::ones, false);
  if (!g) std::exit(2);
  return *g;
}

std::array<std::byte, reading_size> reading_of(std::uint64_t i) {
  std::array<std::byte, reading_size> r{};
  const float value = static_cast<float>(i % 1000) / 10.0f;
  std::memcpy(r.data(), &i, 8);
  std::memcpy(r.data() + 8, &value, 4);
  return r;
}

struct Figures {
  std::string engine;
  double bytes_per_reading = 0;
  double device_us_per_append = 0;
  double erases_per_100k = 0;
  std::uint64_t ram_bytes = 0;       // for this partition
  std::string ram_per_mib;           // a formula and its value for 1 MiB of readings
  std::uint64_t last10_bytes_read = 0;
  std::uint64_t hour_bytes_read = 0;
  std::uint64_t hour_readings = 0;
  bool ok = true;
};

Figures run_series(std::uint64_t n) {
  Figures f;
  f.engine = "series log (SeriesLog)";
  ferrite::sim::SimFlash sim(partition(), 1, ferrite::sim::TimingModel::stm32f4());
  ferrite::Flash flash(sim);
  ferrite::SeriesMemory<3, 64> memory;
  ferrite::SeriesLog log(flash, memory.config());
  if (!sync_wait(log.mount())) return f.ok = false, f;
  sim.reset_counters();
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto r = reading_of(i);
    if (!sync_wait(log.append(0, static_cast<std::int64_t>(i), r))) return f.ok = false, f;
  }
  const auto& c = sim.counters();
  f.bytes_per_reading = static_cast<double>(c.bytes_programmed) / static_cast<double>(n);
  f.device_us_per_append = c.device_time_us / static_cast<double>(n);
  f.erases_per_100k = static_cast<double>(c.erase_ops) * 100000.0 / static_cast<double>(n);
  f.ram_bytes = sizeof(memory.sectors) + sizeof(memory.floors) + sizeof(memory.scratch) + sizeof(ferrite::SeriesLog);
  // Rollover keeps one sector free: 1 MiB of readings takes one more sector.
  f.ram_per_mib = fmt::format("20 B x (sectors + 1 free): {} B (9 x 128 KiB), {} B (257 x 4 KiB)", 20 * 9, 20 * 257);
  std::array<std::byte, 64> buffer{};
  sim.reset_counters();
  auto last = log.last(0, 10, buffer);
  std::uint64_t got = 0;
  for (;;) {
    auto more = sync_wait(last.next());
    if (!more) return f.ok = false, f;
    if (!*more) break;
    if (last.reading().seq != n - got) f.ok = false;
    ++got;
  }
  f.ok = f.ok && got == 10;
  f.last10_bytes_read = sim.counters().bytes_read;
  sim.reset_counters();
  const auto to = static_cast<std::int64_t>(n - 1), from = to - (hour - 1);
  auto range = log.range_time(0, from, to, buffer);
  for (;;) {
    auto more = sync_wait(range.next());
    if (!more) return f.ok = false, f;
    if (!*more) break;
    if (std::memcmp(range.reading().payload.data(), reading_of(range.reading().seq - 1).data(), reading_size) != 0)
      f.ok = false;
    ++f.hour_readings;
  }
  f.ok = f.ok && f.hour_readings == std::min<std::uint64_t>(hour, n);
  f.hour_bytes_read = sim.counters().bytes_read;
  return f;
}

Figures run_kv(std::uint64_t n) {
  Figures f;
  f.engine = "key/value puts (Store, one key per second of the last hour)";
  ferrite::sim::SimFlash sim(partition(), 1, ferrite::sim::TimingModel::stm32f4());
  ferrite::Flash flash(sim);
  std::vector<ferrite::IndexEntry> index(hour + 16);
  std::vector<std::uint16_t> order(hour + 16);
  std::vector<ferrite::SectorInfo> sectors(3);
  ferrite::StoreConfig config;
  config.index = index;
  config.order = order;
  config.sectors = sectors;
  ferrite::Store store(flash, config);
  if (!sync_wait(store.format())) return f.ok = false, f;
  sim.reset_counters();
  auto key_of = [](std::uint64_t i) { return fmt::format("t{:04}", i % hour); };
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto r = reading_of(i);
    if (!sync_wait(store.put(ferrite::as_bytes(key_of(i)), r))) return f.ok = false, f;
  }
  const auto& c = sim.counters();
  f.bytes_per_reading = static_cast<double>(c.bytes_programmed) / static_cast<double>(n);
  f.device_us_per_append = c.device_time_us / static_cast<double>(n);
  f.erases_per_100k = static_cast<double>(c.erase_ops) * 100000.0 / static_cast<double>(n);
  f.ram_bytes = index.size() * (sizeof(ferrite::IndexEntry) + sizeof(std::uint16_t)) +
                sectors.size() * sizeof(ferrite::SectorInfo) + sizeof(ferrite::Store);
  // 1 MiB of 16-byte readings under 5-byte keys: 32-byte records, 32,768 keys.
  f.ram_per_mib = fmt::format("14 B x keys: {} B (32,768 keys)", 14 * 32768);
  std::array<std::byte, 64> out{};
  sim.reset_counters();
  for (std::uint64_t k = 0; k < 10 && k < n; ++k) {
    auto got = sync_wait(store.get(ferrite::as_bytes(key_of(n - 1 - k)), out));
    if (!got || std::memcmp(out.data(), reading_of(n - 1 - k).data(), reading_size) != 0) f.ok = false;
  }
  f.last10_bytes_read = sim.counters().bytes_read;
  sim.reset_counters();
  for (std::uint64_t k = 0; k < hour && k < n; ++k) {
    auto got = sync_wait(store.get(ferrite::as_bytes(key_of(n - 1 - k)), out));
    if (!got) f.ok = false;
    else ++f.hour_readings;
  }
  f.hour_bytes_read = sim.counters().bytes_read;
  return f;
}

std::string table(const std::vector<Figures>& rows, std::uint64_t n) {
  std::string s = fmt::format(
      "{} readings of {} bytes, 1 per second, on 3 x 128 KiB sectors of the simulated STM32F4 flash "
      "(program unit 4, its timing model).\n\n",
      n, reading_size);
  s += "| engine | bytes programmed per reading | device time per append | erases per 100,000 readings | "
       "RAM (this partition) | RAM for 1 MiB of readings | last(10): flash bytes read | one-hour range: flash bytes read |\n";
  s += "|---|---:|---:|---:|---:|---|---:|---:|\n";
  for (const Figures& f : rows)
    s += fmt::format("| {} | {:.1f} | {:.1f} us | {:.1f} | {} B | {} | {} | {} ({} readings) |\n", f.engine,
                     f.bytes_per_reading, f.device_us_per_append, f.erases_per_100k, f.ram_bytes, f.ram_per_mib,
                     f.last10_bytes_read, f.hour_bytes_read, f.hour_readings);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 100000;
  const char* markdown = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") n = 5000;
    else if (a == "--markdown" && i + 1 < argc) markdown = argv[++i];
    else {
      std::fprintf(stderr, "usage: ferrite-series-bench [--quick] [--markdown FILE]\n");
      return 2;
    }
  }
  const std::vector<Figures> rows = {run_series(n), run_kv(n)};
  const std::string t = table(rows, n);
  std::fputs(t.c_str(), stdout);
  if (markdown) {
    FILE* f = std::fopen(markdown, "w");
    if (!f) return 1;
    std::fputs(t.c_str(), f);
    std::fclose(f);
  }
  for (const Figures& f : rows)
    if (!f.ok) {
      std::fprintf(stderr, "ferrite-series-bench: %s failed or read back wrong\n", f.engine.c_str());
      return 1;
    }
  return 0;
}
