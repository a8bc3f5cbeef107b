// The power-loss campaign machinery shared by the plain and sealed
// campaigns. Include after the std/Catch2 headers, the imports and log_rig.hpp.
#pragma once

#include "campaign_scale.hpp"
#include "crc_collisions.hpp"

namespace campaign {

using ferrite::Errc;


struct Op {
  enum Kind { put, erase, maintain } kind;
  std::string key;
  std::string value;
};

inline std::vector<Op> make_workload(std::uint64_t seed, int count, const std::vector<std::string>& keys,
                                     int max_value) {
  rig::Random rnd(seed);
  std::vector<Op> ops;
  for (int i = 0; i < count; ++i) {
    Op op;
    const std::uint32_t r = rnd.below(100);
    op.kind = r < 75 ? Op::put : r < 87 ? Op::erase : Op::maintain;
    op.key = keys[rnd.below(static_cast<std::uint32_t>(keys.size()))];
    const std::uint32_t len = rnd.below(static_cast<std::uint32_t>(max_value + 1));
    for (std::uint32_t j = 0; j < len; ++j) op.value.push_back(static_cast<char>('a' + rnd.below(26)));
    // Many updates keep their length so compact records are exercised.
    if (rnd.below(2) == 0) op.value = std::string(4, static_cast<char>('A' + rnd.below(26)));
    ops.push_back(std::move(op));
  }
  return ops;
}

using Model = std::map<std::string, std::string>;

inline bool tracing = false;
/// Checks whose mount replayed records from sector summaries.
inline std::size_t summarized_mounts = 0;

/// Prints the image as FORMAT.md describes it (an independent reader).
inline void dump(const rig::Rig& r) {
  const auto img = r.sim.image();
  const auto& g = r.sim.geometry();
  const std::uint32_t unit = g.program_unit();
  auto align = [&](std::uint32_t n) { return (n + unit - 1) / unit * unit; };
  // Records start after the header (and a sealed store's crypto block) and the retire marker.
  const bool sealed = (static_cast<std::uint8_t>(img[7]) & 2u) != 0;
  const std::uint32_t hdr = align(sealed ? 96 : 32) + align(8);
  auto le32 = [&](std::size_t at) {
    return std::uint32_t(img[at]) | std::uint32_t(img[at + 1]) << 8 | std::uint32_t(img[at + 2]) << 16 |
           std::uint32_t(img[at + 3]) << 24;
  };
  for (std::uint32_t s = 0; s < g.sector_count(); ++s) {
    const std::uint32_t base = g.sector_offset(s), size = g.sector_size(s);
    std::fprintf(stderr, "sector %u: magic %08x seq %u tail %u erases %u id %u\n", s, le32(base), le32(base + 8),
                 le32(base + 12), le32(base + 16), le32(base + 20));
    std::map<int, std::uint32_t> slot_len;
    std::uint32_t off = hdr;
    while (off + 4 <= size) {
      const auto b0 = static_cast<std::uint8_t>(img[base + off]);
      if (b0 == 0xFF) break;
      if (b0 >= 1 && b0 <= 126) {
        const std::uint32_t len = slot_len.count(b0) ? slot_len[b0] : 0;
        std::string v(reinterpret_cast<const char*>(img.data() + base + off + 4), len);
        std::fprintf(stderr, "  @%u compact slot %d '%s'\n", off, b0, v.c_str());
        off += (4 + len + unit - 1) / unit * unit;
        continue;
      }
      if (!(b0 & 0x80)) {
        std::fprintf(stderr, "  @%u garbage %02x\n", off, b0);
        break;
      }
      const std::uint32_t w = le32(base + off);
      const unsigned kind = (w >> 8) & 7, slot = w & 0x7F, kf = (w >> 11) & 0x3F, vlen = w >> 17;
      const unsigned klen = kind == 2 || kind == 5 ? 0 : kf + 1;
      std::string k(reinterpret_cast<const char*>(img.data() + base + off + 8), klen);
      std::string v(reinterpret_cast<const char*>(img.data() + base + off + 8 + klen), kind == 2 || sealed ? 0 : vlen);
      static const char* const metas[] = {" RETIRE", " ERASED", " OPEN"};
      const std::string meta = kind == 2 ? std::string(kf < 3 ? metas[kf] : " META?") +
                                               (sealed ? std::string() : " " + std::to_string(le32(base + off + 8)))
                                         : std::string();
      std::fprintf(stderr, "  @%u %s slot %u key '%s' value '%s' (%u B)%s\n", off,
                   kind == 0 ? "PUT" : kind == 1 ? "DEL" : kind == 2 ? "META" : kind == 7 ? "TAMPERED" : "?", slot,
                   k.c_str(), v.c_str(), vlen, meta.c_str());
      if (kind == 0 && slot) slot_len[slot] = vlen;
      off += (8 + klen + vlen + unit - 1) / unit * unit;
    }
  }
}

struct Outcome {
  bool cut = false;        // the power cut fired during the ops
  std::optional<Op> in_flight;
};

/// A refusal for room is honest when the live bytes with the write's record
/// would exceed the store's capacity (FORMAT.md §6.2): the refusal names the
/// live bytes, beyond their limit.
inline bool honest_refusal(rig::Rig& r, const Op& op) {
  if (op.kind != Op::put) return false;  // an erase or maintenance adds nothing live
  const auto why = r.store->last_refusal();
  return why.code == Errc::no_space && why.field == std::string("live bytes") && why.value > why.limit;
}

/// Runs ops[from..] against the store, updating `model` with acknowledged
/// results, until the ops end or the power is lost.
inline Outcome run_ops(rig::Rig& r, const std::vector<Op>& ops, std::size_t from, std::size_t count, Model& model,
                std::string& failure) {
  Outcome out;
  for (std::size_t i = from; i < ops.size() && i < from + count; ++i) {
    const Op& op = ops[i];
    ferrite::Status st{};
    if (tracing) std::fprintf(stderr, "op %zu: %d %s '%s'\n", i, op.kind, op.key.c_str(), op.value.c_str());
    if (op.kind == Op::put) {
      st = r.put(op.key, op.value);
      if (st) model[op.key] = op.value;
    } else if (op.kind == Op::erase) {
      st = r.erase(op.key);
      if (st) model.erase(op.key);
      if (!st && st.error() == Errc::not_found && model.count(op.key)) failure = "erase said not_found for " + op.key;
      if (!st && st.error() == Errc::not_found) st = {};
    } else {
      auto rep = ferrite::sync_wait(r.store->maintain({3, true}));
      if (!rep) st = ferrite::fail(rep.error());
    }
    if (!st && st.error() == Errc::power_lost) {
      out.cut = true;
      out.in_flight = op;
      return out;
    }
    // A full store refuses cleanly and changes nothing: the model agrees.
    // Only an honest refusal, though: the live bytes with this write's
    // record would exceed the capacity. Anything else (no room although the
    // data fits: a store a cut left unable to collect) is a failure.
    if (!st && st.error() == Errc::no_space && failure.empty() && !honest_refusal(r, op))
      failure = std::string("refused for room although the live data fits (") + r.store->last_refusal().field +
                ", op " + std::to_string(i) + ")";
    if (!st && st.error() != Errc::no_space && failure.empty())
      failure = std::string("op failed without a power cut: ") + ferrite::name_of(st.error());
  }
  return out;
}

/// Mounts and compares with the model. Resolves the in-flight op into the
/// model (old or new, whichever the store shows). Returns "" when consistent.
inline std::string check(rig::Rig& r, Model& model, const std::optional<Op>& in_flight, const std::vector<std::string>& keys) {
  r.reboot();
  if (tracing) dump(r);
  auto st = r.mount();
  if (!st) {
    const auto why = r.store->last_refusal();
    return std::string("mount failed: ") + ferrite::name_of(st.error()) + (why ? std::string(" (") + why.reason +
           ", value " + std::to_string(why.value) + ", limit " + std::to_string(why.limit) + ")" : std::string());
  }
  const auto stats = r.store->stats();
#if FERRITE_WITH_SUMMARIES
  summarized_mounts += stats.summarized_records > 0;
#endif
  const std::string where = " (corrupt " + std::to_string(stats.corrupt_records) + ", sealed " +
                            std::to_string(stats.head_sealed) + ", weak " + std::to_string(r.sim.weak_bit_count()) +
                            (in_flight ? ", in flight " + std::to_string(in_flight->kind) + " " + in_flight->key : "") + ")";
  for (const std::string& k : keys) {
    const std::string got = r.get(k);
    const auto it = model.find(k);
    const std::string old = it == model.end() ? "!not_found" : it->second;
    if (in_flight && in_flight->key == k && in_flight->kind != Op::maintain) {
      const std::string fresh = in_flight->kind == Op::put ? in_flight->value : "!not_found";
      if (got != old && got != fresh) return k + ": got '" + got + "', want '" + old + "' or '" + fresh + "'" + where;
      if (got == "!not_found") model.erase(k); else model[k] = got;
      continue;
    }
    if (got != old) return k + ": got '" + got + "', want '" + old + "'" + where;
  }
  const std::size_t listed = r.key_count();
  if (listed != model.size())
    return "the store lists " + std::to_string(listed) + " keys, model has " + std::to_string(model.size());
  if (!r.config.codec && !r.config.index.empty()) {
    // The live bytes mount counted (or sized from flash) are the full
    // records of the live keys (FORMAT.md §6.2): what collection copies.
    const std::uint32_t unit = r.sim.geometry().program_unit();
    std::uint64_t want = 0;
    for (const auto& [k, v] : model) want += (8 + k.size() + v.size() + unit - 1) / unit * unit;
    if (r.store->stats().live_bytes != want)
      return "live bytes " + std::to_string(r.store->stats().live_bytes) + ", the live keys' records " +
             std::to_string(want) + where;
  }
  return "";
}

struct Geometry {
  const char* name;
  std::uint32_t sectors, size, unit;
  std::size_t index_keys;
  bool key_order = true;  // false: no key-order permutation (mount counts live bytes as it replays)
  bool shared_hash = false;  // two of the keys share a key hash (crc32c): mount must compare their names
  bool summaries = false;    // maintain() writes sector summaries, which mounts replay from (FORMAT.md §5.2)
};

/// The rig's store again, without the key-order permutation.
inline void drop_key_order(rig::Rig& r) {
  r.config.order = {};
  r.store.emplace(r.flash, r.config);
}

/// The rig's store again, as the geometry asks: without the key-order
/// permutation, with sector summaries.
inline void configure(rig::Rig& r, const Geometry& g) {
  if (g.key_order && !g.summaries) return;
  if (!g.key_order) r.config.order = {};
  r.config.sector_summaries = g.summaries;
  r.store.emplace(r.flash, r.config);
}

struct Tally {
  std::size_t cases = 0;
  std::size_t failures = 0;
};

inline void run(const Geometry& g, std::uint64_t seed, int ops_count, Tally& tally,
                ferrite::ValueCodec* codec = nullptr) {
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back("key" + std::to_string(i));
  if (g.shared_hash) {
    static const auto pair = colliding_names(1, true)[0];
    INFO("colliding names " << pair.first << ", " << pair.second);
    keys[0] = pair.first;
    keys[1] = pair.second;
  }
  const std::vector<Op> ops = make_workload(seed, ops_count, keys, 24);
  // Count the crash points of the uncut run.
  std::uint64_t total = 0;
  {
    rig::Rig r(rig::geometry(g.sectors, g.size, g.unit), g.index_keys, true, false, 1, 32, codec);
    configure(r, g);
    REQUIRE(r.format());
    const std::uint64_t base = r.sim.mutating_ops();
    Model model;
    std::string failure;
    run_ops(r, ops, 0, ops.size(), model, failure);
    CHECK(failure.empty());
    total = r.sim.mutating_ops() - base;
    CHECK(check(r, model, std::nullopt, keys).empty());
  }
  const char* only = std::getenv("FERRITE_PL_ONLY");  // "name:seed:cut" traces one case
  for (std::uint64_t k = 0; k < total; ++k) {
    if (only) {
      const std::string want = std::string(g.name) + ":" + std::to_string(seed) + ":" + std::to_string(k);
      tracing = want == only;
      if (!tracing) continue;
    }
    rig::Rig r(rig::geometry(g.sectors, g.size, g.unit), g.index_keys, true, false, seed * 7919 + k, 32, codec);
    configure(r, g);
    r.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                   : ferrite::sim::TearMode::prefix_then_partial);
    REQUIRE(r.format());
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    Model model;
    std::string failure;
    const Outcome first = run_ops(r, ops, 0, ops.size(), model, failure);
    if (!first.cut) continue;  // the cut landed past the run's end
    ++tally.cases;
    if (failure.empty()) failure = check(r, model, first.in_flight, keys);
    if (!failure.empty()) failure = "[first] " + failure;
    if (failure.empty()) {
      // Second cut: carry on with a fresh stretch of the workload while the
      // store repairs (sealed heads, pending collection), cut again, check.
      rig::Random rnd(seed ^ (k * 0x9E37u));
      r.sim.cut_power_at(r.sim.mutating_ops() + rnd.below(40));
      const std::size_t from = rnd.below(static_cast<std::uint32_t>(ops.size() / 2));
      const Outcome second = run_ops(r, ops, from, 30, model, failure);
      if (failure.empty()) failure = check(r, model, second.in_flight, keys);
      if (!failure.empty()) failure = "[second, from op " + std::to_string(from) + "] " + failure;
    }
    if (!failure.empty()) {
      ++tally.failures;
      if (tally.failures <= 12) {
        std::fprintf(stderr, "powerloss failure: %s seed %llu cut %llu: %s\n", g.name,
                     static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
        UNSCOPED_INFO(g.name << " seed " << seed << " cut " << k << ": " << failure);
        CHECK(failure.empty());
      }
    }
  }
}

}  // namespace campaign
