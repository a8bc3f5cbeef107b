// Test support for backups: one simulated flash cut into partitions, each
// holding a store (the source, the restore target) or a backup stream, and
// ways to compare two stores key by key. Include after the std and Catch2
// headers and after `import ferrite; import ferrite.sim;`.
#pragma once

#include "test_keys.hpp"

namespace backuprig {

using ferrite::Errc;
using ferrite::ValueType;

inline std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// A store on one partition of the shared flash (sealed when given a Sealer).
struct Node {
  Node(ferrite::Flash part, std::uint32_t max_value, ferrite::Sealer* sealer)
      : flash(part), index(1024), order(1024), sectors(part.geometry().sector_count()) {
    config.index = index;
    config.order = order;
    config.sectors = sectors;
    config.max_value_size = max_value;
    if (sealer) {
      scratch.resize(ferrite::Store::scratch_needed(max_value, sealer->overhead()));
      config.codec = sealer;
      config.scratch = scratch;
    }
    store.emplace(flash, config);
  }
  /// A new Store object on the same partition (as after a reboot), not mounted.
  void reboot() {
    db.reset();
    std::fill(index.begin(), index.end(), ferrite::IndexEntry{});
    std::fill(sectors.begin(), sectors.end(), ferrite::SectorInfo{});
    store.emplace(flash, config);
  }
  ferrite::Status open_db(ferrite::Clock clock = {}) {
    ferrite::DocConfig dc;
    dc.clock = clock;
    dc.max_document_size = 4096;
    db.emplace(*store, dc);
    return ferrite::sync_wait(db->open());
  }

  ferrite::Flash flash;
  std::vector<ferrite::IndexEntry> index;
  std::vector<std::uint16_t> order;
  std::vector<ferrite::SectorInfo> sectors;
  std::vector<std::byte> scratch;
  ferrite::StoreConfig config{};
  std::optional<ferrite::Store> store;
  std::optional<ferrite::DocStore> db;
};

inline ferrite::Flash part(ferrite::sim::SimFlash& sim, std::uint32_t first, std::uint32_t count) {
  auto f = ferrite::Flash::partition(sim, first, count);
  if (!f) std::abort();
  return *f;
}

/// Three partitions of `sectors` sectors each: source store, target store,
/// backup stream.
struct Rig {
  explicit Rig(std::uint32_t sectors = 8, std::uint32_t sector_size = 8192, std::uint32_t max_value = 1024,
               bool sealed = false, std::uint8_t key_seed = 1)
      : sim(geometry(3 * sectors, sector_size), 7),
        source_sealer(sealed ? new ferrite::Sealer() : nullptr),
        target_sealer(sealed ? new ferrite::Sealer() : nullptr),
        reading_sealer(sealed ? new ferrite::Sealer() : nullptr),
        source(part(sim, 0, sectors), max_value, source_sealer.get()),
        target(part(sim, sectors, sectors), max_value, target_sealer.get()),
        backup_part(part(sim, 2 * sectors, sectors)) {
    if (sealed) {
      if (!source_sealer->use_key(test_key(key_seed)) || !target_sealer->use_key(test_key(key_seed)) ||
          !reading_sealer->use_key(test_key(key_seed)))
        std::abort();
    }
  }
  static ferrite::Geometry geometry(std::uint32_t sectors, std::uint32_t size) {
    auto g = ferrite::Geometry::uniform(sectors, size, 4, ferrite::EraseValue::ones, false);
    if (!g) std::abort();
    return *g;
  }
  ferrite::BackupOptions options() const {
    ferrite::BackupOptions o;
    o.sealer = source_sealer.get();
    o.created = 1700000000;
    return o;
  }
  ferrite::RestoreOptions restore_options() const {
    ferrite::RestoreOptions o;
    o.sealer = reading_sealer.get();
    return o;
  }

  ferrite::sim::SimFlash sim;
  std::unique_ptr<ferrite::Sealer> source_sealer, target_sealer, reading_sealer;
  Node source, target;
  ferrite::Flash backup_part;
};

struct Value {
  ValueType type = ValueType::untyped;
  std::string bytes;
  bool operator==(const Value&) const = default;
};
using Dump = std::map<std::string, Value>;

/// Every key of a mounted store with its type and value, the restore marker
/// left out; {"!error": ...} when the walk fails.
inline Dump dump(ferrite::Store& s) {
  Dump out;
  auto cur = s.scan();
  std::vector<std::byte> buf(s.value_limit() + 1);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      out["!error"] = Value{ValueType::untyped, ferrite::name_of(more.error())};
      return out;
    }
    if (!*more) return out;
    const std::string key(cur.key_string());
    if (key == ferrite::restore_marker_key) continue;
    auto type = ferrite::sync_wait(s.type_of(cur.key()));
    auto n = ferrite::sync_wait(cur.read_value(buf));
    if (!type || !n) {
      out["!error"] = Value{ValueType::untyped, key};
      return out;
    }
    out[key] = Value{*type, std::string(reinterpret_cast<const char*>(buf.data()), *n)};
  }
}

/// The first difference between two dumps ("" when equal), readable.
inline std::string difference(const Dump& a, const Dump& b) {
  auto show = [](const std::string& k) {
    std::string out;
    for (unsigned char c : k) {
      if (c >= 32 && c < 127) out += static_cast<char>(c);
      else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02X", c);
        out += hex;
      }
    }
    return out;
  };
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) return "only in the first: " + show(k) + " (of " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")";
    if (!(it->second == v))
      return "differs: " + show(k) + " type " + std::to_string(int(v.type)) + "/" + std::to_string(int(it->second.type)) +
             " value " + show(v.bytes.substr(0, 40)) + " / " + show(it->second.bytes.substr(0, 40));
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) return "only in the second: " + show(k);
  return "";
}

/// A dump without the docstore's index entries (`FE 'I'`, `FE 'U'`) and
/// with index definitions reduced to what a rebuild does not change.
inline Dump without_index_entries(Dump d) {
  for (auto it = d.begin(); it != d.end();) {
    const std::string& k = it->first;
    if (k.size() >= 2 && static_cast<unsigned char>(k[0]) == 0xFE && (k[1] == 'I' || k[1] == 'U')) {
      it = d.erase(it);
      continue;
    }
    // A definition's build_from means nothing once the index is ready.
    if (k.size() == 5 && static_cast<unsigned char>(k[0]) == 0xFE && k[1] == 'X' && it->second.bytes.size() >= 8 &&
        it->second.bytes[0] == 1)
      std::fill(it->second.bytes.begin() + 4, it->second.bytes.begin() + 8, '\0');
    ++it;
  }
  return d;
}

}  // namespace backuprig
