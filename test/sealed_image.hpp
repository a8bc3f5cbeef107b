// Test support: reading and editing a sealed store's flash image as an
// attacker who knows docs/FORMAT.md would (every checksum recomputed, no
// key). Include after the std headers, `import ferrite.log;` and log_rig.hpp.
#pragma once

namespace attack {

inline std::uint32_t le32(std::span<const std::byte> img, std::size_t at) {
  return std::uint32_t(img[at]) | std::uint32_t(img[at + 1]) << 8 | std::uint32_t(img[at + 2]) << 16 |
         std::uint32_t(img[at + 3]) << 24;
}
inline void put32(std::span<std::byte> img, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) img[at + i] = static_cast<std::byte>(v >> (8 * i));
}

/// Where records start in a sealed store's sector (header, crypto block,
/// retire marker), for program units up to 8.
inline constexpr std::uint32_t records_at = 104;

struct Record {
  std::uint32_t at = 0;     // partition offset
  std::uint32_t size = 0;   // aligned size on flash
  std::uint32_t w = 0;
  std::uint32_t key_len = 0;
  std::uint32_t value_len = 0;
  std::uint8_t kind() const { return static_cast<std::uint8_t>((w >> 8) & 7u); }
};

inline bool sector_has_header(std::span<const std::byte> img, const ferrite::Geometry& g, std::uint32_t s) {
  return le32(img, g.sector_offset(s)) == 0x74526546u;
}
inline std::uint32_t sequence_of(std::span<const std::byte> img, const ferrite::Geometry& g, std::uint32_t s) {
  return le32(img, g.sector_offset(s) + 8);
}

/// The well-formed full records of a sector, in order, up to the first
/// byte that does not start one.
inline std::vector<Record> records(std::span<const std::byte> img, const ferrite::Geometry& g, std::uint32_t s) {
  std::vector<Record> out;
  if (!sector_has_header(img, g, s)) return out;
  const std::uint32_t base = g.sector_offset(s), end = base + g.sector_size(s), unit = g.program_unit();
  std::uint32_t at = base + records_at;
  while (at + 8 <= end) {
    const auto b0 = static_cast<std::uint8_t>(img[at]);
    if (!(b0 & 0x80u) || b0 == 0xFFu) break;
    Record r;
    r.at = at;
    r.w = le32(img, at);
    const std::uint8_t kind = r.kind();
    r.key_len = (kind == 2 || kind == 5) ? 0 : ((r.w >> 11) & 0x3Fu) + 1;
    r.value_len = r.w >> 17;
    r.size = (8 + r.key_len + r.value_len + unit - 1) / unit * unit;
    if (at + r.size > end) break;
    out.push_back(r);
    at += r.size;
  }
  return out;
}

/// The newest sector by sequence (the head), or none.
inline std::uint32_t newest_sector(std::span<const std::byte> img, const ferrite::Geometry& g) {
  std::uint32_t best = 0xFFFFFFFFu, seq = 0;
  for (std::uint32_t s = 0; s < g.sector_count(); ++s) {
    if (!sector_has_header(img, g, s)) continue;
    if (best == 0xFFFFFFFFu || sequence_of(img, g, s) > seq) {
      best = s;
      seq = sequence_of(img, g, s);
    }
  }
  return best;
}

/// Rewrites the crc of the full record at `at` for where it now stands.
inline void fix_record_crc(std::span<std::byte> img, const ferrite::Geometry& g, std::uint32_t at) {
  const std::uint32_t sector = g.sector_of(at), base = g.sector_offset(sector);
  const std::uint32_t w = le32(img, at);
  const std::uint8_t kind = static_cast<std::uint8_t>((w >> 8) & 7u);
  const std::uint32_t klen = (kind == 2 || kind == 5) ? 0 : ((w >> 11) & 0x3Fu) + 1, vlen = w >> 17;
  std::array<std::byte, 8> pos{};
  put32(pos, 0, le32(img, base + 8));
  put32(pos, 4, at - base);
  std::uint32_t crc = ferrite::crc32c(pos);
  crc = ferrite::crc32c(img.subspan(at, 4), crc);
  crc = ferrite::crc32c(img.subspan(at + 8, klen + vlen), crc);
  put32(img, at + 4, crc);
}

/// Rewrites a sealed sector header's crc (header bytes 0..27 and the crypto
/// block) and the crypto block's own crc.
inline void fix_header_crc(std::span<std::byte> img, const ferrite::Geometry& g, std::uint32_t s) {
  const std::uint32_t base = g.sector_offset(s);
  put32(img, base + 32 + 60, ferrite::crc32c(img.subspan(base + 32, 60)));
  std::uint32_t crc = ferrite::crc32c(img.subspan(base, 28));
  crc = ferrite::crc32c(img.subspan(base + 32, 64), crc);
  put32(img, base + 28, crc);
}

/// Erases `from`..end of sector `s` (a truncation or a whole-sector erase).
inline void blank(std::span<std::byte> img, const ferrite::Geometry& g, std::uint32_t s, std::uint32_t from) {
  const std::uint32_t end = g.sector_offset(s) + g.sector_size(s);
  for (std::uint32_t i = from; i < end; ++i) img[i] = g.erased_byte();
}

}  // namespace attack
