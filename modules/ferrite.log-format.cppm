// ferrite.log:format — the on-flash format's constants and encodings
// (docs/FORMAT.md): header and record layouts, kinds, flags, little-endian
// fields; a record as the reader finds it. The engine's own; nothing here
// is exported.
module;
#include "ferrite_std.hpp"

export module ferrite.log:format;
import ferrite.core;
import :build;

namespace ferrite::logfmt {

inline constexpr std::uint32_t magic = 0x74526546u;  // "FeRt" little-endian
inline constexpr std::uint8_t version = 1;         // plain stores (unchanged since version 1)
inline constexpr std::uint8_t sealed_version = 2;  // sealed stores: salted nonces, authenticated log
inline constexpr std::uint32_t header_bytes = 32;
inline constexpr std::uint32_t max_sequence = 0xFFFFFF00u;  // sequences never come near wrapping
inline constexpr std::uint32_t marker_bytes = 8;
inline constexpr std::uint32_t marker_magic = 0x78526546u;  // "FeRx" little-endian
inline constexpr std::uint32_t full_head = 8;
inline constexpr std::uint32_t compact_head = 4;

enum Kind : std::uint8_t {
  put = 0, erase = 1, meta = 2, txn_put = 3, txn_erase = 4, txn_commit = 5, typed_put = 6, tampered = 7
};
/// Header flags (FORMAT.md §2).
enum Flag : std::uint8_t {
  compact_records = 1, sealed = 2, authenticated_log = 4, previous_whole = 8, unique_hashes = 16, summary_follows = 32
};
constexpr bool is_txn(std::uint8_t kind) noexcept { return kind == txn_put || kind == txn_erase || kind == txn_commit; }
/// A record that carries a key's value (PUT, TXN_PUT, TYPED_PUT).
constexpr bool is_put(std::uint8_t kind) noexcept { return kind == put || kind == txn_put || kind == typed_put; }
/// Kinds whose record holds a key name (the others put a type in its field).
constexpr bool has_key(std::uint8_t kind) noexcept { return kind != meta && kind != txn_commit; }
/// (Type 3 was an earlier form of SUMMARY, with 16-bit key checks: now read
/// as a type this reader does not know.)
enum Meta : std::uint8_t { retire = 0, erased = 1, open = 2, summary = 4, skip = 6, shared = 7 };
/// OPEN's plaintext: tail u32, previous sequence u32, previous end u32.
inline constexpr std::uint32_t open_bytes = 12;
/// TAMPERED's plaintext: sequence u32, offset u32 of the record that failed.
inline constexpr std::uint32_t tampered_bytes = 8;

constexpr std::uint32_t pack(std::uint8_t kind, std::uint8_t slot, std::uint8_t key_field,
                             std::uint32_t value_size) noexcept {
  return std::uint32_t{slot} | 0x80u | (std::uint32_t{kind} << 8) | (std::uint32_t{key_field} << 11) |
         (value_size << 17);
}
constexpr std::uint8_t slot_of(std::uint32_t w) noexcept { return w & 0x7Fu; }
constexpr std::uint8_t kind_of(std::uint32_t w) noexcept { return (w >> 8) & 0x7u; }
constexpr std::uint8_t key_field_of(std::uint32_t w) noexcept { return (w >> 11) & 0x3Fu; }
constexpr std::uint32_t value_size_of(std::uint32_t w) noexcept { return w >> 17; }

inline void put_le32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint32_t get_le32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(p[i])} << (8 * i);
  return v;
}
inline void put_le16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v);
  p[1] = static_cast<std::byte>(v >> 8);
}
inline std::uint16_t get_le16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(std::uint32_t{static_cast<std::uint8_t>(p[0])} |
                                    (std::uint32_t{static_cast<std::uint8_t>(p[1])} << 8));
}
/// crc32c of the record position (sector sequence, offset in sector).
inline std::uint32_t position_crc(std::uint32_t sequence, std::uint32_t offset, std::uint32_t seed) noexcept {
  std::array<std::byte, 8> pos{};
  put_le32(pos.data(), sequence);
  put_le32(pos.data() + 4, offset);
  return crc32c(pos, seed);
}

/// Stored keys in the order scans and the key-order permutation use: bytes
/// compared unsigned, a key before the longer keys it is a prefix of.
inline int compare_keys(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  const int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

}  // namespace ferrite::logfmt

namespace ferrite {

/// A record as read_record found it (docs/FORMAT.md §3).
struct LogRecord {
  bool blank = false;               // the first unit reads erased: end of the written area
  bool compact = false;
  std::uint8_t kind = 0;            // logfmt::Kind for full records
  std::uint8_t slot = 0;
  std::uint8_t key_size = 0;        // or the meta type for META records
  std::uint32_t value_size = 0;     // full records; compact: from the binding
  std::uint32_t address = 0;        // partition offset of the record
  std::uint32_t size = 0;           // aligned size on flash
  std::uint32_t stored_crc = 0;
  std::uint32_t key_hash = 0;       // crc32c(key) for PUT/DELETE
  std::array<std::byte, max_key_size> key{};
  std::array<std::byte, 48> meta{};  // a META / TXN_COMMIT / TAMPERED / sealed DELETE value (opened when sealed)
};

/// A record read by read_record into storage its caller owns; reads like a
/// Result<LogRecord>.
struct LogRecordRead {
  Status status{};
  LogRecord record{};
  explicit operator bool() const noexcept { return static_cast<bool>(status); }
  Errc error() const noexcept { return status.error(); }
  LogRecord* operator->() noexcept { return &record; }
  const LogRecord* operator->() const noexcept { return &record; }
  LogRecord& operator*() noexcept { return record; }
};

}  // namespace ferrite
