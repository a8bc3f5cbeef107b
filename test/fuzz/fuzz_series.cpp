// libFuzzer target: the input is a series-log image. It is loaded into a
// SimFlash of 4 x 256 bytes (program unit from byte 0), mounted, and a log
// that mounts is read every way and appended to, then remounted.
//
// Input layout: byte 0 picks the program unit (1, 4, 8 or 16) and rollover,
// byte 1 asks for checksum repair, the rest is the image (cut or padded with
// erased bytes). With repair on, the harness rewrites the sector header crcs
// (docs/FORMAT.md §11.1) so that the fuzzer reaches the entries behind them.
//
// Always a finding: a crash, a sanitizer report, a reading yielded twice or
// out of sequence order, an append that answers a sequence number not above
// every one yielded, an acknowledged append that does not read back after a
// remount.
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_series
//   build-fuzz/test/fuzz/fuzz_series -max_total_time=60 corpus/
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>
import ferrite.series;
import ferrite.sim;

namespace {

constexpr std::uint32_t sector_count = 4, sector_size = 256;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_series: %s\n", what);
  std::abort();
}

struct Log {
  Log(ferrite::sim::SimFlash& sim, bool rollover) : flash(sim) {
    config = memory.config(rollover);
    log.emplace(flash, config);
  }
  ferrite::Flash flash;
  ferrite::SeriesMemory<sector_count, 64, 2> memory;
  ferrite::SeriesConfig config;
  std::optional<ferrite::SeriesLog> log;
};

std::uint64_t read_all(ferrite::SeriesCursor c) {
  std::uint64_t prev = 0;
  for (int steps = 0; steps < 4096; ++steps) {
    auto more = ferrite::sync_wait(c.next());
    if (!more || !*more) break;
    if (c.reading().seq <= prev) finding("a reading out of sequence order");
    prev = c.reading().seq;
  }
  return prev;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr std::uint32_t units[] = {1, 4, 8, 16};
  const std::uint32_t unit = units[data[0] & 3];
  const bool rollover = (data[0] & 4) == 0;
  auto g = ferrite::Geometry::uniform(sector_count, sector_size, unit);
  if (!g) return 0;
  ferrite::sim::SimFlash sim(*g, 1);
  std::vector<std::uint8_t> image(sector_count * sector_size, 0xFF);
  std::memcpy(image.data(), data + 2, std::min<std::size_t>(size - 2, image.size()));
  if (data[1] & 1) {
    for (std::uint32_t s = 0; s < sector_count; ++s) {
      std::uint8_t* h = image.data() + s * sector_size;
      h[6] = static_cast<std::uint8_t>(__builtin_ctz(unit));
      const std::uint32_t crc =
          ferrite::crc32c(std::span<const std::byte>(reinterpret_cast<const std::byte*>(h), 28));
      for (int i = 0; i < 4; ++i) h[28 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    }
  }
  sim.load_image(std::span<const std::byte>(reinterpret_cast<const std::byte*>(image.data()), image.size()));
  Log a(sim, rollover);
  if (!ferrite::sync_wait(a.log->mount())) return 0;
  std::array<std::byte, 128> buffer{};
  std::uint64_t seen = read_all(a.log->since(0, buffer));
  for (std::uint8_t s = 0; s < 3; ++s) {
    read_all(a.log->range_time(s, INT64_MIN, INT64_MAX, buffer));
    auto last = a.log->last(s, 20, buffer);
    for (int i = 0; i < 40; ++i) {
      auto more = ferrite::sync_wait(last.next());
      if (!more || !*more) break;
    }
    (void)ferrite::sync_wait(a.log->count(s, INT64_MIN, INT64_MAX));
  }
  std::uint64_t acknowledged = 0;
  for (int i = 0; i < 12; ++i) {
    const std::string p(static_cast<std::size_t>(i * 3), 'x');
    auto seq = ferrite::sync_wait(a.log->append(1, i, ferrite::as_bytes(p)));
    if (!seq) break;
    if (*seq <= seen) finding("append answered a sequence number already yielded");
    seen = acknowledged = *seq;
  }
  Log b(sim, rollover);
  if (!ferrite::sync_wait(b.log->mount())) finding("a log that took appends no longer mounts");
  if (acknowledged) {
    auto c = b.log->range_seq(1, acknowledged, acknowledged, buffer);
    auto more = ferrite::sync_wait(c.next());
    if (!more || !*more) finding("an acknowledged append does not read back after a remount");
  }
  return 0;
}
