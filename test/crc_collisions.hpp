// Names that share a key hash (crc32c of the name, docs/FORMAT.md §7):
// the case a store must tell apart by comparing names. Found by a birthday
// search over "<prefix><number>", the same every run (about 90,000 names
// per pair).
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

inline std::vector<std::pair<std::string, std::string>> colliding_names(std::size_t pairs,
                                                                        const std::string& prefix = "c") {
  std::unordered_map<std::uint32_t, std::string> seen;
  std::vector<std::pair<std::string, std::string>> out;
  for (std::uint64_t n = 0; out.size() < pairs; ++n) {
    std::string name = prefix + std::to_string(n);
    const std::uint32_t h = key_hash(name);
    auto [at, fresh] = seen.emplace(h, name);
    if (!fresh) out.emplace_back(at->second, std::move(name));
  }
  return out;
}
