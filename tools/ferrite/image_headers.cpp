// Sector headers and geometry detection.
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "geometry_spec.hpp"
#include "image_headers.hpp"

namespace ferrite::tool {

namespace {

std::uint32_t le32(std::span<const std::byte> b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(b[at + i])} << (8 * i);
  return v;
}

constexpr std::uint32_t magic = 0x74526546u;  // "FeRt"
constexpr std::uint32_t smallest_detected = 256;
constexpr std::uint32_t largest_detected = 256 * 1024;

bool all_erased(std::span<const std::byte> image) {
  if (image.empty()) return true;
  const std::byte e = image[0];
  if (e != std::byte{0xFF} && e != std::byte{0x00}) return false;
  return std::all_of(image.begin(), image.end(), [e](std::byte b) { return b == e; });
}

/// Any valid header at a 256-byte boundary, for images whose layout is unknown.
std::optional<SectorHeader> any_header(std::span<const std::byte> image) {
  for (std::size_t at = 0; at + 32 <= image.size(); at += smallest_detected)
    if (auto h = read_header(image, static_cast<std::uint32_t>(at))) return h;
  return std::nullopt;
}

std::optional<Geometry> detect_uniform(std::span<const std::byte> image) {
  for (std::uint32_t size = smallest_detected; size <= largest_detected; size *= 2) {
    if (image.size() % size != 0 || image.size() / size < 2) continue;
    const auto count = static_cast<std::uint32_t>(image.size() / size);
    const SectorRun run{count, size};
    const std::uint32_t crc = geometry_crc(std::span<const SectorRun>(&run, 1));
    for (std::uint32_t s = 0; s < count; ++s) {
      const auto h = read_header(image, s * size);
      if (!h || h->geometry != crc || h->log2_unit > 5) continue;
      const auto erased = h->erased == 0 ? EraseValue::zeros : EraseValue::ones;
      if (auto g = Geometry::uniform(count, size, 1u << h->log2_unit, erased)) return *g;
    }
  }
  return std::nullopt;
}

/// A uniform layout the headers describe that is larger than the file.
std::optional<SectorRun> truncated_layout(std::span<const std::byte> image, std::uint32_t geometry) {
  for (std::uint32_t size = smallest_detected; size <= largest_detected; size *= 2) {
    const auto at_least = static_cast<std::uint32_t>(image.size() / size + 1);
    for (std::uint32_t count = std::max(at_least, 2u); count < at_least + 4096; ++count) {
      const SectorRun run{count, size};
      if (geometry_crc(std::span<const SectorRun>(&run, 1)) == geometry) return run;
    }
  }
  return std::nullopt;
}

ToolError not_an_image(std::span<const std::byte> image, std::string_view layout) {
  if (image.empty()) return usage_error("the file is empty: not a ferrite image");
  if (all_erased(image)) return usage_error("the image is blank: no ferrite store (ferrite create formats one)");
  return usage_error(fmt::format("not a ferrite image: no valid sector header{}", layout));
}

}  // namespace

std::optional<SectorHeader> read_header(std::span<const std::byte> image, std::uint32_t offset) {
  if (offset + 32u > image.size()) return std::nullopt;
  const auto b = image.subspan(offset);
  if (le32(b, 0) != magic) return std::nullopt;
  SectorHeader h;
  h.offset = offset;
  h.version = static_cast<std::uint8_t>(b[4]);
  h.log2_unit = static_cast<std::uint8_t>(b[5]);
  h.erased = static_cast<std::uint8_t>(b[6]);
  h.flags = static_cast<std::uint8_t>(b[7]);
  h.sequence = le32(b, 8);
  h.tail = le32(b, 12);
  h.erase_count = le32(b, 16);
  h.store_id = le32(b, 20);
  h.geometry = le32(b, 24);
  std::uint32_t crc = crc32c(b.first(28));
  if (h.sealed()) {
    if (offset + 96u > image.size()) return std::nullopt;
    std::copy_n(b.begin() + 32, 64, h.crypto.begin());
    crc = crc32c(h.crypto, crc);
  }
  if (crc != le32(b, 28)) return std::nullopt;
  return h;
}

CryptoBlockInfo crypto_info(const SectorHeader& h) {
  CryptoBlockInfo c;
  c.suite = static_cast<std::uint8_t>(h.crypto[0]);
  c.kdf = static_cast<std::uint8_t>(h.crypto[1]);
  c.flags = static_cast<std::uint8_t>(h.crypto[2]);
  c.construction = static_cast<std::uint8_t>(h.crypto[3]);
  c.opslimit = le32(h.crypto, 4);
  c.memlimit_kib = le32(h.crypto, 8);
  return c;
}

const char* suite_name(std::uint8_t suite) {
  switch (suite) {
    case 1: return "xchacha20poly1305";
    case 2: return "aes256gcm";
    default: return "unknown";
  }
}

std::vector<SectorHeader> headers_of(std::span<const std::byte> image, const Geometry& g) {
  std::vector<SectorHeader> out;
  for (std::uint32_t s = 0; s < g.sector_count(); ++s)
    if (auto h = read_header(image, g.sector_offset(s))) out.push_back(*h);
  return out;
}

const SectorHeader* newest(const std::vector<SectorHeader>& headers) {
  const SectorHeader* best = nullptr;
  for (const SectorHeader& h : headers)
    if (!best || h.sequence > best->sequence) best = &h;
  return best;
}

Checked<Geometry> resolve_geometry(std::span<const std::byte> image, const std::optional<std::string>& given) {
  if (given) {
    auto g = parse_geometry(*given);
    if (!g) return g.error();
    const std::string spec = geometry_spec(*g);
    if (image.size() < g->total_size())
      return damage_error(fmt::format("the image is {} bytes, geometry {} needs {}: the image is truncated",
                                      image.size(), spec, g->total_size()));
    if (image.size() > g->total_size())
      return usage_error(fmt::format("the image is {} bytes, geometry {} describes {}: geometry mismatch",
                                     image.size(), spec, g->total_size()));
    const auto headers = headers_of(image, *g);
    const SectorHeader* head = newest(headers);
    if (!head) {
      const auto h = any_header(image);
      if (!h) return not_an_image(image, fmt::format(" for geometry {}", spec));
      const auto detected = detect_uniform(image);
      return usage_error(fmt::format("geometry mismatch: --geometry {} has no sector header where the image has them "
                                     "(the image's headers say geometry crc {:#010x}{})",
                                     spec, h->geometry, detected ? ", i.e. " + geometry_spec(*detected) : ""));
    }
    const std::uint32_t want = geometry_crc(g->runs());
    const auto unit = 1u << std::min<std::uint8_t>(head->log2_unit, 31);
    const bool erased_ok = (head->erased == 0) == (g->erase_value() == EraseValue::zeros);
    if (head->geometry != want || unit != g->program_unit() || !erased_ok) {
      const auto detected = detect_uniform(image);
      return usage_error(fmt::format(
          "geometry mismatch: --geometry {} (crc {:#010x}, unit {}, erased {:02x}) but the image was formatted for "
          "{} (crc {:#010x}, unit {}, erased {:02x})",
          spec, want, g->program_unit(), static_cast<unsigned>(g->erased_byte()),
          detected ? geometry_spec(*detected) : std::string("another layout"), head->geometry, unit, head->erased));
    }
    return *g;
  }
  if (auto g = detect_uniform(image)) return *g;
  const auto h = any_header(image);
  if (!h) return not_an_image(image, "");
  if (const auto run = truncated_layout(image, h->geometry))
    return damage_error(fmt::format("the image is {} bytes but its headers describe {}x{} ({} bytes): the image is "
                                    "truncated",
                                    image.size(), run->count, run->size, std::uint64_t{run->count} * run->size));
  std::string hint;
  for (const GeometryPreset& p : geometry_presets()) {
    const auto g = parse_geometry(p.spec);
    if (g && g->total_size() == image.size() && geometry_crc(g->runs()) == h->geometry)
      hint = fmt::format(" (the preset {} matches its headers)", p.name);
  }
  return usage_error(fmt::format("no uniform geometry of {} bytes matches the headers' geometry crc {:#010x}: a "
                                 "non-uniform image needs --geometry{}",
                                 image.size(), h->geometry, hint));
}

}  // namespace ferrite::tool
