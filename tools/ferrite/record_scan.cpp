// The record walk.
import ferrite;
#include "tool.hpp"
#include "record_scan.hpp"

namespace ferrite::tool {

namespace {

std::uint32_t le32(std::span<const std::byte> b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(b[at + i])} << (8 * i);
  return v;
}

struct Binding {
  std::uint32_t key_at = 0;  // offset of the key in the sector
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  bool bound = false;
};

class SectorWalk {
 public:
  SectorWalk(std::span<const std::byte> sector, std::uint32_t sequence, std::uint32_t unit, std::byte erased)
      : s_(sector), sequence_(sequence), unit_(unit), erased_(erased) {}

  std::uint32_t align(std::uint32_t n) const { return (n + unit_ - 1) / unit_ * unit_; }

  bool blank_unit(std::uint32_t at) const {
    for (std::uint32_t i = 0; i < unit_; ++i)
      if (s_[at + i] != erased_) return false;
    return true;
  }

  std::uint32_t position_crc(std::uint32_t at, std::uint32_t seed) const {
    std::array<std::byte, 8> pos{};
    for (int i = 0; i < 4; ++i) {
      pos[i] = static_cast<std::byte>(sequence_ >> (8 * i));
      pos[4 + i] = static_cast<std::byte>(at >> (8 * i));
    }
    return crc32c(pos, seed);
  }

  /// The size of a valid record at `at` (ending by `end`), or 0.
  std::uint32_t record_at(std::uint32_t at, std::uint32_t end) {
    const auto first = static_cast<std::uint8_t>(s_[at]);
    if (first >= 0x80 && first != 0xFF) {
      if (at + 8 > end) return 0;
      const std::uint32_t w = le32(s_, at);
      const std::uint32_t kind = (w >> 8) & 7u;
      const std::uint32_t key_size = (kind == 2 || kind == 5) ? 0 : ((w >> 11) & 0x3Fu) + 1;
      const std::uint32_t value_size = w >> 17;
      const std::uint32_t size = align(8 + key_size + value_size);
      if (at + size > end) return 0;
      std::uint32_t crc = position_crc(at, 0);
      crc = crc32c(s_.subspan(at, 4), crc);
      crc = crc32c(s_.subspan(at + 8, key_size + value_size), crc);
      if (crc != le32(s_, at + 4)) return 0;
      const std::uint32_t slot = w & 0x7Fu;
      const bool put = kind == 0 || kind == 3 || kind == 6;
      if (slot != 0 && slot <= max_slots && put) bindings_[slot] = {at + 8, key_size, value_size, true};
      return size;
    }
    if (first >= 0x01 && first <= 0x7E) {
      const Binding& b = bindings_[first];
      if (!b.bound) return 0;
      const std::uint32_t size = align(4 + b.value_size);
      if (at + size > end) return 0;
      std::uint32_t crc = crc32c(s_.subspan(b.key_at, b.key_size));
      crc = position_crc(at, crc);
      crc = crc32c(s_.subspan(at, 1), crc);
      crc = crc32c(s_.subspan(at + 4, b.value_size), crc);
      const std::uint32_t stored = le32(s_, at) >> 8;
      return (crc & 0xFFFFFFu) == stored ? size : 0;
    }
    return 0;
  }

 private:
  std::span<const std::byte> s_;
  std::uint32_t sequence_;
  std::uint32_t unit_;
  std::byte erased_;
  std::array<Binding, max_slots + 1> bindings_{};
};

}  // namespace

std::vector<BadRegion> scan_sector(std::span<const std::byte> image, const Geometry& g, std::uint32_t sector,
                                   std::uint32_t sequence, bool sealed) {
  const std::uint32_t unit = g.program_unit();
  const auto align = [unit](std::uint32_t n) { return (n + unit - 1) / unit * unit; };
  const std::uint32_t size = g.sector_size(sector);
  // Records start after the header (with a sealed store's crypto block) and
  // the retire marker; a sealed sector keeps its last bytes as the end slot.
  const std::uint32_t start = align(sealed ? 96 : 32) + align(8);
  const std::uint32_t end = sealed ? size - align(8 + 4 + 24) : size;
  SectorWalk walk(image.subspan(g.sector_offset(sector), size), sequence, unit, g.erased_byte());
  std::vector<BadRegion> out;
  std::uint32_t at = start;
  while (at + unit <= end) {
    if (walk.blank_unit(at)) break;
    if (const std::uint32_t n = walk.record_at(at, end)) {
      at += n;
      continue;
    }
    BadRegion bad{sector, sequence, at, 0, true};
    std::uint32_t last_written = at + unit;
    std::uint32_t next = at + unit;
    for (; next + unit <= end; next += unit) {
      if (!walk.blank_unit(next)) last_written = next + unit;
      if (walk.record_at(next, end)) {
        bad.torn_tail = false;
        break;
      }
    }
    bad.length = (bad.torn_tail ? last_written : next) - at;
    out.push_back(bad);
    if (bad.torn_tail) break;
    at = next;
  }
  return out;
}

}  // namespace ferrite::tool
