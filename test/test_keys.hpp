// The 32-byte keys the sealed-store tests use: a fixed pattern per seed, so
// a test names a key by a number and two seeds give two different keys.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

inline std::array<std::byte, 32> test_key(std::uint8_t seed) {
  std::array<std::byte, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(seed * 31 + i * 7);
  return k;
}
