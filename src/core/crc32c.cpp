// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven. The
// build picks the table (meson option crc32c): 256 entries (1 KiB of
// rodata, a lookup per byte) or 16 entries (64 B, two lookups per byte).
// Both give the same checksums; the one crc32c() does not call is dropped
// by --gc-sections.
module;
#include "ferrite_modules.hpp"

module ferrite.core;

#ifndef FERRITE_CRC32C_TABLE
#define FERRITE_CRC32C_TABLE 256
#endif
static_assert(FERRITE_CRC32C_TABLE == 256 || FERRITE_CRC32C_TABLE == 16, "FERRITE_CRC32C_TABLE: 256 or 16");

namespace ferrite {

namespace {
constexpr std::uint32_t polynomial = 0x82F63B78u;

template <std::size_t N, int Bits>
constexpr std::array<std::uint32_t, N> make_table() noexcept {
  std::array<std::uint32_t, N> t{};
  for (std::uint32_t i = 0; i < N; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < Bits; ++k) c = (c >> 1) ^ (polynomial & (0u - (c & 1u)));
    t[i] = c;
  }
  return t;
}
constexpr auto table256 = make_table<256, 8>();
constexpr auto table16 = make_table<16, 4>();
}  // namespace

namespace detail {

std::uint32_t crc32c_table256(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  std::uint32_t c = ~crc;
  for (std::byte b : data) c = table256[(c ^ static_cast<std::uint32_t>(b)) & 0xFFu] ^ (c >> 8);
  return ~c;
}

std::uint32_t crc32c_table16(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  std::uint32_t c = ~crc;
  for (std::byte b : data) {
    c ^= static_cast<std::uint32_t>(b);
    c = table16[c & 0xFu] ^ (c >> 4);
    c = table16[c & 0xFu] ^ (c >> 4);
  }
  return ~c;
}

}  // namespace detail

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
#if FERRITE_CRC32C_TABLE == 16
  return detail::crc32c_table16(data, crc);
#else
  return detail::crc32c_table256(data, crc);
#endif
}

}  // namespace ferrite
