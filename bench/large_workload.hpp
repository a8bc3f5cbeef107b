// Workload L of ferrite-large-bench: a large store with skewed updates.
// Plain C++ (no ferrite import), so it can be included before the imports.
//
// Drawn from splitmix64 (seed 0x5EEDC0FFEE), one operation at a time:
//  - keys are "s00000", "s00001", ... (6 bytes), numbered in creation order;
//    each key has a size class drawn at creation: 50 % 1-16 B, 35 % 17-64 B,
//    15 % 65-200 B; every value of the key is drawn from its class;
//  - an operation is an update (90 %) of a Zipf(1.0)-ranked live key, of
//    which 70 % keep the value's length (compact records apply); a delete
//    (5 %) of a uniformly chosen live key; or a new key (5 %);
//  - value bytes come from the same generator.
// The generator is also the model: it holds every key's latest value (or
// that it is deleted), and a refused operation is rolled back with reject().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "splitmix64.hpp"

namespace large {

using bench_random::SplitMix64;

inline constexpr std::uint64_t seed = 0x5EEDC0FFEEull;
inline constexpr std::size_t key_size = 6;
inline constexpr std::uint32_t max_value = 200;

/// Ranks 0..n-1 with P(rank r) proportional to 1 / (r + 1).
class Zipf {
 public:
  explicit Zipf(std::size_t max_n) : prefix_(max_n + 1, 0.0) {
    for (std::size_t r = 1; r <= max_n; ++r) prefix_[r] = prefix_[r - 1] + 1.0 / static_cast<double>(r);
  }
  std::size_t draw(SplitMix64& rng, std::size_t n) const noexcept {
    const double u = rng.unit() * prefix_[n];
    const auto it = std::upper_bound(prefix_.begin() + 1, prefix_.begin() + static_cast<std::ptrdiff_t>(n) + 1, u);
    return std::min<std::size_t>(static_cast<std::size_t>(it - (prefix_.begin() + 1)), n - 1);
  }

 private:
  std::vector<double> prefix_;  // prefix_[r] = H(r)
};

enum class OpKind : std::uint8_t { insert, update, erase };

struct Op {
  OpKind kind = OpKind::insert;
  std::uint32_t id = 0;
  std::vector<std::byte> value;  // insert, update
};

class Workload {
 public:
  explicit Workload(std::size_t max_keys) : zipf_(max_keys), max_keys_(max_keys) {}

  std::size_t live_keys() const noexcept { return live_.size(); }
  std::size_t keys_created() const noexcept { return keys_.size(); }
  bool room_for_new_key() const noexcept { return keys_.size() < max_keys_; }

  /// A new key with a value of its class.
  Op draw_insert() {
    Op op;
    op.kind = OpKind::insert;
    op.id = static_cast<std::uint32_t>(keys_.size());
    const std::uint64_t c = rng_.next() % 100;
    keys_.push_back(Key{static_cast<std::uint8_t>(c < 50 ? 0 : c < 85 ? 1 : 2), {}, false, 0});
    op.value = draw_value(keys_.back().size_class);
    return op;
  }

  /// An update of a Zipf-ranked live key (same_length_only: always keep the length).
  Op draw_update(bool same_length_only = false) {
    Op op;
    op.kind = OpKind::update;
    op.id = live_[zipf_.draw(rng_, live_.size())];
    const Key& k = keys_[op.id];
    const bool same = same_length_only || rng_.next() % 100 < 70;
    op.value = same ? draw_bytes(k.value.size()) : draw_value(k.size_class);
    return op;
  }

  /// The operation mix of the steady phase.
  Op draw_op() {
    const std::uint64_t c = rng_.next() % 100;
    if (live_.empty() || (c >= 95 && room_for_new_key())) return draw_insert();
    if (c >= 90 && c < 95 && live_.size() > 1) {
      Op op;
      op.kind = OpKind::erase;
      op.id = live_[rng_.next() % live_.size()];
      return op;
    }
    return draw_update();
  }

  /// The store acknowledged `op`: the model follows.
  void apply(Op& op) {
    Key& k = keys_[op.id];
    switch (op.kind) {
      case OpKind::insert:
        k.live = true;
        k.rank = live_.size();
        live_.push_back(op.id);
        k.value = std::move(op.value);
        break;
      case OpKind::update:
        k.value = std::move(op.value);
        break;
      case OpKind::erase: {
        const std::uint32_t moved = live_.back();
        live_[k.rank] = moved;
        keys_[moved].rank = k.rank;
        live_.pop_back();
        k.live = false;
        k.value.clear();
        break;
      }
    }
  }
  /// The store refused `op` (no room): the model keeps what it had. A
  /// refused new key stays in the numbering, never live.
  void reject(const Op&) noexcept {}

  static std::string key_name(std::uint32_t id) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "s%05u", static_cast<unsigned>(id));
    return std::string(buf, key_size);
  }
  bool live(std::uint32_t id) const noexcept { return keys_[id].live; }
  std::span<const std::byte> value(std::uint32_t id) const noexcept { return keys_[id].value; }

 private:
  struct Key {
    std::uint8_t size_class = 0;
    std::vector<std::byte> value;
    bool live = false;
    std::size_t rank = 0;  // position in live_
  };

  std::vector<std::byte> draw_value(std::uint8_t size_class) {
    static constexpr std::uint32_t lo[] = {1, 17, 65}, hi[] = {16, 64, max_value};
    const std::uint32_t n = lo[size_class] + static_cast<std::uint32_t>(rng_.next() % (hi[size_class] - lo[size_class] + 1));
    return draw_bytes(n);
  }
  std::vector<std::byte> draw_bytes(std::size_t n) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t x = rng_.next();
      for (std::size_t b = 0; b < 8 && i + b < n; ++b) v[i + b] = static_cast<std::byte>(x >> (8 * b));
    }
    return v;
  }

  SplitMix64 rng_{seed};
  Zipf zipf_;
  std::size_t max_keys_;
  std::vector<Key> keys_;
  std::vector<std::uint32_t> live_;
};

}  // namespace large
