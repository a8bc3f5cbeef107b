// Images written by the real engine on the simulated flash, for the dump
// tests: random geometries (every program unit, both erased values, uniform
// and not), random workloads (puts that go compact, typed values, erases,
// batches through ferrite.txn, maintenance, enough writes for garbage
// collection to retire sectors), and power cuts in the middle of any program
// or erase, after which the device reboots and sometimes writes on.
// Include after the std headers and `import ferrite.txn; import ferrite.sim;`
// (and `import ferrite.crypto;` with FERRITE_HAVE_CRYPTO).
#pragma once

#include "../log_rig.hpp"
#include "../test_keys.hpp"

namespace dump_images {

/// One image and how it was made.
struct Image {
  ferrite::Geometry geometry;
  std::string spec;  ///< the geometry in `RUN[+RUN...]@UNIT[,erased=00|ff]` form (docs/DUMP.md)
  std::vector<std::byte> bytes;
  std::string story;  ///< what the workload did, for a failing case
  bool sealed = false;
};

inline std::string size_spec(std::uint32_t size) {
  return size % 1024 == 0 ? std::to_string(size / 1024) + "k" : std::to_string(size);
}

inline std::string spec_of(const ferrite::Geometry& g) {
  std::string s;
  for (const ferrite::SectorRun& r : g.runs()) {
    if (!s.empty()) s += '+';
    s += std::to_string(r.count) + "x" + size_spec(r.size);
  }
  s += "@" + std::to_string(g.program_unit());
  s += g.erase_value() == ferrite::EraseValue::zeros ? ",erased=00" : ",erased=ff";
  return s;
}

/// A plain two-sector store with both sectors live whose head a cut tore (a cut while
/// collection copies into the only free sector), mounted again and written
/// on: the engine closes the torn bytes with a SKIP (FORMAT.md §3.3).
/// Sometimes a second cut tears the write after the SKIP. The cut is searched
/// from a random start until the store is full with a sealed head.
inline Image make_skip(std::uint64_t n, rig::Random& rnd, std::uint32_t unit, ferrite::EraseValue erased) {
  const std::uint32_t size = rnd.below(2) ? 2048 : 1024;
  const ferrite::Geometry g = rig::geometry(2, size, unit, erased);
  Image out{g, spec_of(g), {}, {}, false};
  const bool compact = rnd.below(2) != 0;
  out.story = "image " + std::to_string(n) + " " + out.spec + (compact ? " compact" : "") + " full torn head";
  const std::uint32_t puts = 200;
  for (std::uint64_t cut = rnd.below(64), tries = 0; tries < 600; ++cut, ++tries) {
    rig::Rig r(g, 64, compact, false, n + 1, 128);
    if (!r.format()) std::abort();
    r.sim.cut_power_at(r.sim.mutating_ops() + cut);
    bool cut_hit = false;
    for (std::uint32_t i = 0; i < puts && !cut_hit; ++i) {
      const std::string value = "v" + std::to_string(1000 + i) + std::string(12 + i % 3 * 8, 'x');
      if (!r.put("k" + std::to_string(i % 10), value)) cut_hit = true;
    }
    if (!cut_hit) break;
    r.reboot();
    if (!r.mount()) continue;
    const auto stats = r.store->stats();
    if (stats.free_sectors != 0 || !stats.head_sealed) continue;
    out.story += " | cut at op " + std::to_string(cut) + " | rebooted full, head sealed";
    const std::uint32_t after = 1 + rnd.below(6);
    if (rnd.below(3) == 0) {
      r.sim.cut_power_at(r.sim.mutating_ops() + rnd.below(4 * after + 2));
      out.story += " | cut again";
    }
    for (std::uint32_t i = 0; i < after && !r.sim.power_is_lost(); ++i)
      (void)r.put("k" + std::to_string(rnd.below(10)), "after skip " + std::to_string(i));
    out.story += " | " + std::to_string(after) + " puts";
    out.bytes.assign(r.sim.image().begin(), r.sim.image().end());
    return out;
  }
  std::fprintf(stderr, "dump_images: image %llu found no torn full head\n", static_cast<unsigned long long>(n));
  std::abort();
}

/// Image `n` of the series (deterministic). Every 8th image is sealed when
/// the build has ferrite.crypto; every 8th (another) is a full store written
/// again past a torn head (make_skip).
inline Image make(std::uint64_t n) {
  rig::Random rnd(0xD0E5'0000ull + n * 7919);
  static constexpr std::array<std::uint32_t, 6> units = {1, 2, 4, 8, 16, 32};
  // Every unit with both erased values, for plain and sealed images alike.
  const std::uint32_t unit = units[(n / 8 + n % 8) % units.size()];
  const auto erased = (n / 48 + n) % 2 ? ferrite::EraseValue::zeros : ferrite::EraseValue::ones;
#if FERRITE_HAVE_CRYPTO
  const bool sealed = n % 8 == 7;
#else
  const bool sealed = false;
#endif
  if (n % 8 == 3) return make_skip(n, rnd, unit, erased);
  std::vector<ferrite::SectorRun> runs;
  const std::uint32_t small = sealed ? 4096 : (rnd.below(2) ? 2048 : 1024 + 512 * rnd.below(2));
  switch (rnd.below(3)) {
    case 0: runs = {{3 + rnd.below(3), small}}; break;
    case 1: runs = {{2 + rnd.below(2), small}, {1, small * 2}}; break;
    default: runs = {{1, small * 2}, {2 + rnd.below(2), small}}; break;
  }
  auto g = ferrite::Geometry::make(runs, unit, erased);
  if (!g) std::abort();
  Image out{*g, spec_of(*g), {}, {}, sealed};
  const bool compact = !sealed && rnd.below(4) != 0;
  const std::uint32_t max_value = sealed ? 256 : 128;
#if FERRITE_HAVE_CRYPTO
  std::optional<ferrite::Sealer> sealer;
  if (sealed) {
    // Every other sealed image hides its key names: stored keys are hashes.
    ferrite::SealOptions options;
    options.hide_keys = n % 16 == 15;
    sealer.emplace(options);
    if (!sealer->use_key(test_key(3))) std::abort();
  }
  ferrite::ValueCodec* codec = sealer ? &*sealer : nullptr;
#else
  ferrite::ValueCodec* codec = nullptr;
#endif
  rig::Rig r(*g, 64, compact, false, n + 1, max_value, codec);
  std::string& story = out.story;
  story = "image " + std::to_string(n) + " " + out.spec + (sealed ? " sealed" : "") + (n % 16 == 15 ? " hidden" : "") +
          (compact ? " compact" : "");
  if (!r.format()) {
    story += ": format failed";
    out.bytes.assign(r.sim.image().begin(), r.sim.image().end());
    return out;
  }
  const std::uint32_t ops = 20 + rnd.below(sealed ? 120 : 400);
  // A cut somewhere in the workload's programs and erases (or none).
  const bool cut = rnd.below(3) != 0;
  const std::uint64_t cut_at = r.sim.mutating_ops() + rnd.below(ops * 2 + 4);
  if (cut) r.sim.cut_power_at(cut_at);
  bool rebooted = false;
  std::uint32_t txn_counter = 0;
  for (std::uint32_t i = 0; i < ops; ++i) {
    if (r.sim.power_is_lost()) {
      story += " | cut at op " + std::to_string(cut_at);
      if (rebooted || rnd.below(2)) break;
      r.reboot();
      rebooted = true;
      if (!r.mount()) {
        story += " | mount failed";
        break;
      }
      story += " | rebooted";
    }
    const std::string key = "key" + std::to_string(rnd.below(10)) + (rnd.below(8) == 0 ? std::string(20, 'x') : "");
    const std::uint32_t action = rnd.below(20);
    if (action < 10) {
      // Values of a few lengths, so that updates often keep their length (compact).
      static constexpr std::array<std::uint32_t, 5> lengths = {0, 4, 8, 13, 40};
      std::string value(lengths[rnd.below(lengths.size())], 'a');
      for (char& c : value) c = static_cast<char>('a' + rnd.below(26));
      if (rnd.below(10) == 0) value.push_back('\x01');  // not printable
      (void)r.put(key, value);
    } else if (action < 13) {
      (void)ferrite::sync_wait(r.store->put_as(key, std::uint32_t(rnd.next())));
    } else if (action < 14) {
      (void)ferrite::sync_wait(r.store->put_as(key, std::string_view("typed text")));
    } else if (action < 16) {
      (void)r.erase(key);
    } else if (action < 19) {
      ferrite::Transaction t(*r.store);
      const std::uint32_t writes = 1 + rnd.below(3);
      for (std::uint32_t w = 0; w < writes; ++w) {
        const std::string k = "txn" + std::to_string(rnd.below(6));
        if (rnd.below(4) == 0) (void)ferrite::sync_wait(t.erase(k));
        else (void)ferrite::sync_wait(t.put(k, "batch value " + std::to_string(txn_counter++)));
      }
      (void)ferrite::sync_wait(t.commit());
    } else {
      (void)ferrite::sync_wait(r.store->maintain());
    }
  }
  story += " | " + std::to_string(ops) + " ops";
  if (!r.sim.power_is_lost() && rnd.below(5) == 0) {
    // A cut in maintenance that copies nothing: its first program or erase
    // is usually the pre-erase of a free sector, left torn (garbage).
    r.sim.cut_power_at(r.sim.mutating_ops());
    (void)ferrite::sync_wait(r.store->maintain(ferrite::MaintenanceBudget{0, true}));
    story += " | cut in maintenance";
  }
  if (rnd.below(5) == 0) {
    // Damage no power cut makes: bits flipped anywhere (corrupt runs, broken
    // headers, markers and bindings).
    const std::size_t flips = 1 + rnd.below(3);
    r.sim.flip_random_bits(flips);
    story += " | " + std::to_string(flips) + " bits flipped";
  }
  out.bytes.assign(r.sim.image().begin(), r.sim.image().end());
  const std::uint32_t sectors = g->sector_count();
  if (rnd.below(8) == 0) {
    // A sector copied over another of the same size: a duplicate sequence,
    // or an old sector brought back.
    const std::uint32_t from = rnd.below(sectors), to = rnd.below(sectors);
    if (from != to && g->sector_size(from) == g->sector_size(to)) {
      std::copy_n(out.bytes.begin() + g->sector_offset(from), g->sector_size(from),
                  out.bytes.begin() + g->sector_offset(to));
      story += " | sector " + std::to_string(from) + " copied over " + std::to_string(to);
    }
  }
  if (rnd.below(8) == 0) {
    // A run of units inside a sector reads erased again.
    const std::uint32_t s = rnd.below(sectors);
    const std::uint32_t size = g->sector_size(s);
    const std::uint32_t at = rnd.below(size / unit) * unit, n = std::min(size - at, unit * (1 + rnd.below(8)));
    std::fill_n(out.bytes.begin() + g->sector_offset(s) + at, n, g->erased_byte());
    story += " | " + std::to_string(n) + " bytes erased at " + std::to_string(at) + " of sector " + std::to_string(s);
  }
  return out;
}

}  // namespace dump_images
