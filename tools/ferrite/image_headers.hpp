// Reading an image's sector headers without mounting it (docs/FORMAT.md §2,
// §2.2), and finding the geometry an image was formatted with.
#pragma once

namespace ferrite::tool {

struct SectorHeader {
  std::uint32_t offset = 0;  ///< where the sector starts in the image
  std::uint8_t version = 0;
  std::uint8_t log2_unit = 0;
  std::uint8_t erased = 0;
  std::uint8_t flags = 0;
  std::uint32_t sequence = 0;
  std::uint32_t tail = 0;
  std::uint32_t erase_count = 0;
  std::uint32_t store_id = 0;
  std::uint32_t geometry = 0;
  std::array<std::byte, 64> crypto{};  ///< sealed stores: the crypto block
  bool sealed() const { return (flags & 2u) != 0; }
};

/// The crypto block's public fields (docs/FORMAT.md §2.2).
struct CryptoBlockInfo {
  std::uint8_t suite = 0;   ///< 1 XChaCha20-Poly1305, 2 AES-256-GCM
  std::uint8_t kdf = 0;     ///< 0 raw key, 1 Argon2id
  std::uint8_t flags = 0;   ///< bit 0 hidden names, bit 1 compression, bits 4..7 plain-prefix rule
  std::uint8_t construction = 0;
  std::uint32_t opslimit = 0;
  std::uint32_t memlimit_kib = 0;
  bool hides_keys() const { return (flags & 1u) != 0; }
  bool compression() const { return (flags & 2u) != 0; }
  std::uint8_t prefix_rule() const { return static_cast<std::uint8_t>(flags >> 4); }
};

/// The header at `offset` when its magic and crc hold.
std::optional<SectorHeader> read_header(std::span<const std::byte> image, std::uint32_t offset);
CryptoBlockInfo crypto_info(const SectorHeader& h);
const char* suite_name(std::uint8_t suite);

/// Every valid header of the sectors of `g` in `image`.
std::vector<SectorHeader> headers_of(std::span<const std::byte> image, const Geometry& g);
/// The header with the highest sequence number (the store's newest sector).
const SectorHeader* newest(const std::vector<SectorHeader>& headers);

/// The image's geometry: `given` (a preset or SPEC), checked against the
/// headers, or detected from them (uniform sectors of 256 B .. 256 KiB).
/// Errors: truncated image (damage); empty, blank or foreign file, geometry
/// mismatch, non-uniform image without `given` (usage).
Checked<Geometry> resolve_geometry(std::span<const std::byte> image, const std::optional<std::string>& given);

}  // namespace ferrite::tool
