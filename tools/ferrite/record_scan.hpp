// Where an image's log is damaged: a walk of every live sector's records by
// their checksums (docs/FORMAT.md §3.1, §3.2, §5 step 4), without a key (a
// sealed record's crc covers its sealed bytes). verify reports what the
// engine counts with the positions this walk finds.
#pragma once

namespace ferrite::tool {

struct BadRegion {
  std::uint32_t sector = 0;    ///< index in the geometry
  std::uint32_t sequence = 0;  ///< the sector's sequence number
  std::uint32_t offset = 0;    ///< where the bad bytes start, in the sector
  std::uint32_t length = 0;    ///< up to the next good record, or to the last written byte
  bool torn_tail = false;      ///< no good record follows in the sector
};

/// The bad regions of sector `sector` (its header valid, `sequence` from
/// it), for a store sealed or not.
std::vector<BadRegion> scan_sector(std::span<const std::byte> image, const Geometry& g, std::uint32_t sector,
                                   std::uint32_t sequence, bool sealed);

}  // namespace ferrite::tool
