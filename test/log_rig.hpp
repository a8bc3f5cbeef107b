// Test support for the storage engine: a simulated flash with a store on it,
// and blocking wrappers so tests read as plain calls. Include after the std
// and Catch2 headers and after `import ferrite.log; import ferrite.sim;`.
#pragma once

namespace rig {

using ferrite::Errc;

inline std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline ferrite::Geometry geometry(std::uint32_t sectors, std::uint32_t size, std::uint32_t unit,
                                  ferrite::EraseValue erased = ferrite::EraseValue::ones) {
  auto g = ferrite::Geometry::uniform(sectors, size, unit, erased, false);
  if (!g) std::abort();
  return *g;
}

/// A store on a simulated flash. `keys` = 0 runs index-less.
struct Rig {
  static constexpr std::size_t max_keys = 256;
  static constexpr std::size_t max_sectors = 16;

  explicit Rig(ferrite::Geometry g, std::size_t keys = max_keys, bool compact = true, bool verify = false,
               std::uint64_t seed = 1, std::uint32_t max_value = 4096, ferrite::ValueCodec* codec = nullptr)
      : sim(g, seed), flash(sim) {
    config = memory.config();
    config.max_value_size = max_value;
    if (codec) {
      scratch.resize(ferrite::Store::scratch_needed(max_value, codec->overhead()));
      config.codec = codec;
      config.scratch = scratch;
    }
    config.index = std::span<ferrite::IndexEntry>(memory.index).first(keys);
    // Builds without scans keep no key order (StoreMemory has none then).
    if constexpr (ferrite::scans_built)
      config.order = keys ? std::span<std::uint16_t>(memory.order).first(keys) : std::span<std::uint16_t>{};
    config.compact_records = compact;
    config.verify_writes = verify;
    store.emplace(flash, config);
  }

  /// A new Store object on the same flash (as after a reboot), not mounted.
  void reboot() {
    sim.restore_power();
    memory = {};
    config.sectors = memory.sectors;
    config.index = std::span<ferrite::IndexEntry>(memory.index).first(config.index.size());
    if constexpr (ferrite::scans_built) config.order = std::span<std::uint16_t>(memory.order).first(config.order.size());
    store.emplace(flash, config);
  }

  ferrite::Status format() { return ferrite::sync_wait(store->format()); }
  ferrite::Status mount() { return ferrite::sync_wait(store->mount()); }
  ferrite::Status put(std::string_view k, std::string_view v) { return ferrite::sync_wait(store->put(k, v)); }
  ferrite::Status put(std::string_view k, std::span<const std::byte> v) {
    return ferrite::sync_wait(store->put(bytes(k), v));
  }
  ferrite::Status erase(std::string_view k) { return ferrite::sync_wait(store->erase(k)); }
  /// The value as a string, or the error's name prefixed with '!'.
  std::string get(std::string_view k) {
    std::string out;
    auto st = ferrite::sync_wait(store->get_string(k, out));
    if (!st) return std::string("!") + ferrite::name_of(st.error());
    return out;
  }
#if FERRITE_WITH_SCANS
  std::vector<std::string> keys(std::string_view prefix = {}) {
    std::vector<std::string> out;
    auto c = store->scan(prefix);
    for (;;) {
      auto more = ferrite::sync_wait(c.next());
      if (!more) {
        out.push_back(std::string("!") + ferrite::name_of(more.error()));
        break;
      }
      if (!*more) break;
      out.emplace_back(c.key_string());
    }
    return out;
  }
#endif
  /// How many keys the store lists: a scan where the build has scans, its
  /// own count (stats().keys) where it has none.
  std::size_t key_count() {
#if FERRITE_WITH_SCANS
    return keys().size();
#else
    return store->stats().keys;
#endif
  }

  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  ferrite::StoreMemory<max_keys, max_sectors> memory{};
  ferrite::StoreConfig config{};
  std::vector<std::byte> scratch;
  std::optional<ferrite::Store> store;
};

inline ferrite::Task<ferrite::Status> program_at(ferrite::Flash f, std::uint32_t address,
                                                 std::span<const std::byte> data) {
  co_return co_await f.program(address, data);
}

/// Programs every unit after the last written byte of `sector` with erased
/// bytes: units that read blank but may not be programmed again, as a cut
/// program can leave them. False when the sector has no such unit.
inline bool program_blank_tail(Rig& r, std::uint32_t sector) {
  const auto image = r.sim.image();
  const ferrite::Geometry& g = r.store->geometry();
  const std::uint32_t begin = g.sector_offset(sector), size = g.sector_size(sector), unit = g.program_unit();
  std::uint32_t end = begin + size;
  while (end > begin && image[end - 1] == g.erased_byte()) --end;
  end = (end + unit - 1) / unit * unit;
  if (end >= begin + size) return false;
  const std::vector<std::byte> erased(begin + size - end, g.erased_byte());
  return static_cast<bool>(ferrite::sync_wait(program_at(r.flash, end, erased)));
}

/// splitmix64: small, fast and reproducible everywhere.
/// The bytes of a SKIP record (docs/FORMAT.md §3.3) at offset `at` of the
/// sector with `sequence`, voiding that sector's bytes from `from` up to it:
/// META (kind 2), type 6, a 4-byte value; its checksum covers the position,
/// the header word and the value.
inline std::array<std::byte, 12> skip_record(std::uint32_t sequence, std::uint32_t at, std::uint32_t from) {
  const auto le32 = [](std::uint32_t v) {
    return std::array<std::byte, 4>{static_cast<std::byte>(v), static_cast<std::byte>(v >> 8),
                                    static_cast<std::byte>(v >> 16), static_cast<std::byte>(v >> 24)};
  };
  const std::uint32_t header = 0x80u | 2u << 8 | 6u << 11 | 4u << 17;
  const auto seq = le32(sequence), offset = le32(at), word = le32(header), value = le32(from);
  std::uint32_t crc = ferrite::crc32c(seq);
  crc = ferrite::crc32c(offset, crc);
  crc = ferrite::crc32c(word, crc);
  const auto check = le32(ferrite::crc32c(value, crc));
  std::array<std::byte, 12> record{};
  std::copy(word.begin(), word.end(), record.begin());
  std::copy(check.begin(), check.end(), record.begin() + 4);
  std::copy(value.begin(), value.end(), record.begin() + 8);
  return record;
}

/// True when every sector of the store is live: collection is under way
/// and has no free sector to copy into.
inline bool no_sector_free(const ferrite::Store& s) {
  for (const ferrite::SectorInfo& info : s.sectors())
    if (info.state != static_cast<std::uint8_t>(ferrite::SectorState::live)) return false;
  return true;
}

/// A fresh 2-sector store (a Rig or a rig like it) holding "K" = "old", then
/// updates of six other keys until no sector is free; a power cut at the
/// `cut`-th program or erase of the next put of "K" = "\xFF\xFF\xFF\xFE",
/// whose last unit holds a single bit to program. True when that cut left
/// exactly one weak bit: the record may be whole, reading right by chance.
template <class Bed>
bool weak_put_in_full_store(Bed& b, std::uint64_t cut) {
  if (!b.format() || !b.put("K", "old")) return false;
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    if (!b.put("f" + std::to_string(i % 6), std::string(20 + i % 7, static_cast<char>('a' + i % 26)))) break;
    ready = no_sector_free(*b.store);
  }
  if (!ready) return false;
  b.sim.cut_power_at(b.sim.mutating_ops() + cut);
  (void)b.put("K", std::string("\xFF\xFF\xFF\xFE", 4));
  return b.sim.power_is_lost() && b.sim.weak_bit_count() == 1;
}

struct Random {
  std::uint64_t state;
  explicit Random(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

}  // namespace rig
