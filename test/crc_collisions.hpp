// Names that share a key hash (crc32c of the name, docs/FORMAT.md §7):
// the case a store must tell apart by comparing names. Found by a birthday
// search over names drawn from a counter, the same every run (about
// 80,000 names per pair).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

inline std::uint32_t key_hash(const std::string& name) {
  return ferrite::crc32c(std::as_bytes(std::span<const char>(name.data(), name.size())));
}

/// The n-th name of the search: "c" and 3 to 7 letters drawn from n.
/// (Random names: decimal numbers collide far later, crc32c separating
/// strings that differ in few bits.)
inline std::string search_name(std::uint64_t n) {
  std::uint64_t x = n + 0x9E3779B97F4A7C15ull;  // splitmix64
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  std::string name = "c";
  const std::size_t letters = 3 + x % 5;
  x /= 5;
  for (std::size_t i = 0; i < letters; ++i, x /= 26) name.push_back(static_cast<char>('a' + x % 26));
  return name;
}

/// `pairs` pairs of names; with `different_lengths`, only pairs whose two
/// names differ in length (a record of one then has another size than the other's).
inline std::vector<std::pair<std::string, std::string>> colliding_names(std::size_t pairs,
                                                                        bool different_lengths = false) {
  std::unordered_map<std::uint32_t, std::string> seen;
  std::vector<std::pair<std::string, std::string>> out;
  for (std::uint64_t n = 0; out.size() < pairs; ++n) {
    std::string name = search_name(n);
    auto [at, fresh] = seen.emplace(key_hash(name), name);
    if (!fresh && at->second != name && (!different_lengths || at->second.size() != name.size()))
      out.emplace_back(at->second, name);
  }
  return out;
}
