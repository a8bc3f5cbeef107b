// Uses ferrite through `import ferrite;` from a project whose own defaults
// are C++17 with exceptions.
#include <cstdio>
import ferrite;

namespace {

ferrite::Task<ferrite::Result<std::uint32_t>> checksum(std::string_view text) {
  const auto bytes = std::as_bytes(std::span<const char>(text.data(), text.size()));
  co_return ferrite::crc32c(bytes);
}

ferrite::Task<ferrite::Result<std::uint32_t>> run(const ferrite::Geometry& g) {
  auto crc = co_await checksum("123456789");
  if (!crc) co_return ferrite::fail(crc.error());
  co_return *crc ^ g.total_size();
}

}  // namespace

int main() {
  static constexpr std::array<ferrite::SectorRun, 3> runs{{{4, 16 * 1024}, {1, 64 * 1024}, {7, 128 * 1024}}};
  const auto g = ferrite::Geometry::make(runs, 4);
  if (!g) return 1;
  const auto r = ferrite::sync_wait(run(*g));
  if (!r) return 2;
  // CRC-32C("123456789") is 0xE3069283 (the standard check value).
  const std::uint32_t crc = *r ^ g->total_size();
  std::printf("consumer: ferrite interface v%d, %u sectors, %u KiB, crc32c(\"123456789\")=0x%08X %s\n",
              ferrite::interface_version, g->sector_count(), g->total_size() / 1024, crc,
              crc == 0xE3069283u ? "ok" : "WRONG");
  return crc == 0xE3069283u ? 0 : 3;
}
