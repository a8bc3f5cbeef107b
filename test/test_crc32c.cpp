// crc32c: the checksum of the on-flash format, with either table size.
#include <cstdint>
#include <string_view>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.core;

namespace {

std::span<const std::byte> bytes(std::string_view s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (auto& b : v) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<std::byte>(seed >> 24);
  }
  return v;
}

}  // namespace

TEST_CASE("crc32c of \"123456789\" is the Castagnoli check value 0xE3069283", "[core][crc32c]") {
  CHECK(ferrite::crc32c(bytes("123456789")) == 0xE3069283u);
  CHECK(ferrite::detail::crc32c_table256(bytes("123456789"), 0) == 0xE3069283u);
  CHECK(ferrite::detail::crc32c_table16(bytes("123456789"), 0) == 0xE3069283u);
}

TEST_CASE("the 16-entry and the 256-entry table give the same crc32c for every length and seed", "[core][crc32c]") {
  for (std::size_t n = 0; n <= 300; ++n) {
    const auto data = pattern(n, static_cast<std::uint32_t>(n) * 7919u);
    const std::uint32_t seed = static_cast<std::uint32_t>(n) * 0x9E3779B9u;
    const std::uint32_t wide = ferrite::detail::crc32c_table256(data, seed);
    CHECK(ferrite::detail::crc32c_table16(data, seed) == wide);
    CHECK(ferrite::crc32c(data, seed) == wide);
  }
}

TEST_CASE("crc32c chains: crc32c(b, crc32c(a)) is crc32c of a then b, with either table", "[core][crc32c]") {
  const auto data = pattern(97, 42);
  const std::span<const std::byte> all(data);
  for (std::size_t cut : {0u, 1u, 13u, 96u, 97u}) {
    CHECK(ferrite::detail::crc32c_table16(all.subspan(cut), ferrite::detail::crc32c_table16(all.first(cut), 0)) ==
          ferrite::detail::crc32c_table256(all, 0));
    CHECK(ferrite::detail::crc32c_table256(all.subspan(cut), ferrite::detail::crc32c_table256(all.first(cut), 0)) ==
          ferrite::crc32c(all));
  }
}
