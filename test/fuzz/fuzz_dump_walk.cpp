// libFuzzer target: the input is a ferrite.log image, walked by
// ferrite.inspect (docs/DUMP.md) without mounting it.
//
// Input layout: byte 0 picks the program unit (1, 2, 4, 8, 16, 32) and the
// erased value, byte 1 the sector count (2..5) and asks for header repair,
// the rest is the image of sectors of 512 bytes (cut or padded with erased
// bytes). With repair on, the harness rewrites the geometry crc and the crc
// of every header that starts with the magic (docs/FORMAT.md §2), so that
// the fuzzer reaches the records behind them.
//
// Always a finding: a crash, a sanitizer report (a read outside the image),
// a walk that breaks dump_walk::broken_invariant (entries that do not tile a
// sector's record area in order, a sector listed twice or not at all).
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_dump_walk
//   build-fuzz/test/fuzz/fuzz_dump_walk -max_total_time=60 corpus/
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>
import ferrite.inspect;
#include "dump_walk_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr std::uint32_t units[6] = {1, 2, 4, 8, 16, 32};
  const std::uint32_t unit = units[(data[0] & 0x7F) % 6];
  const auto erased = data[0] & 0x80 ? ferrite::EraseValue::zeros : ferrite::EraseValue::ones;
  const std::uint32_t sectors = 2 + (data[1] & 0x7F) % 4;
  const bool repair = data[1] & 0x80;
  auto g = ferrite::Geometry::uniform(sectors, 512, unit, erased);
  if (!g) return 0;
  std::vector<std::byte> image(g->total_size(), g->erased_byte());
  std::copy_n(reinterpret_cast<const std::byte*>(data + 2), std::min<std::size_t>(size - 2, image.size()),
              image.begin());
  if (repair) {
    const std::uint32_t geometry_crc = ferrite::inspect::geometry_crc(*g);
    for (std::uint32_t s = 0; s < sectors; ++s) {
      std::byte* h = image.data() + g->sector_offset(s);
      if (h[0] != std::byte{'F'} || h[1] != std::byte{'e'} || h[2] != std::byte{'R'} || h[3] != std::byte{'t'})
        continue;
      for (int i = 0; i < 4; ++i) h[24 + i] = static_cast<std::byte>(geometry_crc >> (8 * i));
      std::uint32_t crc = ferrite::crc32c(std::span<const std::byte>(h, 28));
      if (static_cast<std::uint8_t>(h[7]) & 2u) crc = ferrite::crc32c(std::span<const std::byte>(h + 32, 64), crc);
      for (int i = 0; i < 4; ++i) h[28 + i] = static_cast<std::byte>(crc >> (8 * i));
    }
  }
  const ferrite::inspect::Image walked = ferrite::inspect::walk(*g, image);
  if (const std::string why = dump_walk::broken_invariant(*g, walked); !why.empty()) {
    std::fprintf(stderr, "fuzz_dump_walk: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
