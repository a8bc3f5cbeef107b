// Corruption campaigns: every bit of a store image flipped in turn, and the
// image cut short at every unit. Corruption is detected and reported, never
// returned as data, and the rest of the store stays readable. Plus
// known-answer tests that pin the bytes docs/FORMAT.md specifies, and
// reproducers of the engine bugs the campaigns found ([repro]).
//
// corruption-kv: stores on four geometries (full records, compact updates,
// deletes, collections, ERASED records, two live sectors at the end). For
// every bit of every written byte (headers, markers, records, padding, and
// the first unit after each sector's log) a case is failed when:
//  - mounted before the flip, a get returns anything but the key's value,
//    not_found or corrupt, or a key whose records the flip did not touch
//    reads anything but its value;
//  - rebooted onto the flipped image, mount fails other than cleanly
//    (not_formatted/foreign_format/corrupt) or other than for a header flip
//    that leaves no valid header;
//  - a key reads a value it never had, or an error other than not_found and
//    corrupt;
//  - a key whose records the flip did not touch (every key, for a flip in a
//    META record, marker, padding or erased byte) reads anything but its value;
//  - a key reads an older value it really had, or not_found for a value it
//    holds, while mount reported nothing (stats().corrupt_records == 0 and
//    the head not sealed): corruption must be reported, not silent;
//  - the scan fails, lists a key never written, one twice, or misses a key
//    that reads a value;
//  - (every 16th case) writes after the damage, through a collection, fail
//    with anything but no_space, program a unit that is not erased, or lose
//    what they acknowledged (or what other keys read) across a reboot.
// truncation-kv: the image from every unit offset on replaced by erased
// bytes, and by zeros: mount succeeds or fails cleanly, no key reads a value
// it never had, the scan lists only written keys, and (every 4th case)
// writes work as above.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
import ferrite.sim;
#include "log_rig.hpp"
#include "campaign_scale.hpp"
#include "crc_collisions.hpp"

using ferrite::Errc;

namespace {

/// FERRITE_CAMPAIGN_SCALE: 1 (default) flips every bit of every image; the
/// sanitizer build (or a scale < 1) flips every bit of the first image and a
/// sample of the others.
using campaign::campaign_scale;

std::uint32_t le32(std::span<const std::byte> b, std::size_t at) {
  return std::uint32_t(b[at]) | std::uint32_t(b[at + 1]) << 8 | std::uint32_t(b[at + 2]) << 16 |
         std::uint32_t(b[at + 3]) << 24;
}
std::array<std::byte, 4> le32_bytes(std::uint32_t v) {
  return {std::byte(v), std::byte(v >> 8), std::byte(v >> 16), std::byte(v >> 24)};
}
std::uint32_t align_up(std::uint32_t n, std::uint32_t unit) { return (n + unit - 1) / unit * unit; }
/// A CHECK that tells the caller to stop. A failing REQUIRE aborts the whole
/// run (the tests are built without exceptions), so tests bail out instead:
/// `NEED(x);` in a function returning void, `if (!need(x, "x")) return ...;`.
bool need(bool ok, const char* what) {
  if (!ok) FAIL_CHECK("needed: " << what);
  return ok;
}
#define NEED(...) \
  if (!need(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__)) return

/// FORMAT.md §2.1: records start at align(32) + align(8).
std::uint32_t first_record(std::uint32_t unit) { return align_up(32, unit) + align_up(8, unit); }

/// A FlashDevice in front of a SimFlash that counts every program aimed at
/// a unit that is not erased (or already programmed) before the sim sees it:
/// the engine promises never to do that, and the sim alone would only show it
/// when the refusal surfaces (write_record retries such a refusal elsewhere).
struct Watch final : ferrite::FlashDevice {
  explicit Watch(ferrite::sim::SimFlash& s) : sim(s) {}
  const ferrite::Geometry& geometry() const noexcept override { return sim.geometry(); }
  void submit(ferrite::FlashRequest& r) noexcept override {
    if (r.kind == ferrite::FlashOpKind::program && !sim.power_is_lost()) {
      const auto img = sim.image();
      const std::byte e = sim.geometry().erased_byte();
      for (std::uint32_t i = 0; i < r.length && r.address + i < img.size(); ++i) {
        if (img[r.address + i] != e || sim.is_programmed(r.address + i)) {
          ++violations;
          last_violation = r.address + i;
          break;
        }
      }
    }
    sim.submit(r);
  }
  ferrite::sim::SimFlash& sim;
  std::uint64_t violations = 0;
  std::uint32_t last_violation = 0;
};

/// A store on a simulated flash seen through a Watch.
struct Bed {
  static constexpr std::size_t max_keys = 64;
  static constexpr std::size_t max_sectors = 16;

  Bed(ferrite::Geometry g, std::size_t keys, std::uint64_t seed = 1, bool summaries = false)
      : sim(g, seed, ferrite::sim::TimingModel::instant()),
        watch(sim),
        flash(watch),
        index_keys(keys),
        summaries(summaries) {
    reboot();
  }
  Bed(const Bed&) = delete;
  Bed& operator=(const Bed&) = delete;

  void reboot() {
    sim.restore_power();
    memory = {};
    config = memory.config();
    config.index = std::span<ferrite::IndexEntry>(memory.index).first(index_keys);
    if constexpr (ferrite::scans_built)  // builds without scans keep no key order
      config.order = index_keys ? std::span<std::uint16_t>(memory.order).first(index_keys) : std::span<std::uint16_t>{};
    config.max_value_size = 48;
    config.sector_summaries = summaries;
    store.emplace(flash, config);
  }
  ferrite::Status format() { return ferrite::sync_wait(store->format()); }
  ferrite::Status mount() { return ferrite::sync_wait(store->mount()); }
  ferrite::Status put(std::string_view k, std::string_view v) { return ferrite::sync_wait(store->put(k, v)); }
  ferrite::Status erase(std::string_view k) { return ferrite::sync_wait(store->erase(k)); }
  std::string get(std::string_view k) {
    std::string out;
    auto st = ferrite::sync_wait(store->get_string(k, out));
    if (!st) return std::string("!") + ferrite::name_of(st.error());
    return out;
  }
  /// The keys a scan lists. A build without scans lists those of
  /// `candidates` a get finds (whatever it reads): names a scan would list
  /// but no candidate names go unseen there (a damaged entry keeps counting
  /// in stats().keys, so the count cannot stand in for them).
  std::vector<std::string> keys(const std::vector<std::string>& candidates) {
    std::vector<std::string> out;
#if !FERRITE_WITH_SCANS
    for (const std::string& k : candidates)
      if (get(k) != "!not_found") out.push_back(k);
    return out;
#else
    (void)candidates;
    auto c = store->scan();
    for (int guard = 0; guard < 4 * static_cast<int>(max_keys); ++guard) {
      auto more = ferrite::sync_wait(c.next());
      if (!more) {
        out.push_back(std::string("!") + ferrite::name_of(more.error()));
        return out;
      }
      if (!*more) return out;
      out.emplace_back(c.key_string());
    }
    out.push_back("!endless");
    return out;
#endif
  }

  ferrite::sim::SimFlash sim;
  Watch watch;
  ferrite::Flash flash;
  std::size_t index_keys;
  bool summaries = false;  // StoreConfig::sector_summaries (FORMAT.md §5.2)
  ferrite::StoreMemory<max_keys, max_sectors> memory{};
  ferrite::StoreConfig config{};
  std::optional<ferrite::Store> store;
};

// ---------------------------------------------------------------------------
// The stores under test

struct Shape {
  const char* name;
  std::uint32_t sectors, size, unit;
  std::size_t index_keys;
  int gc_target;  // collections the workload goes through before the snapshot
  bool shared_hash = false;  // two keys share a key hash: SHARED records, names compared at mount
  bool summaries = false;    // sector summaries: SUMMARY records, sectors mount replays from them
};

/// What a store holds, and every value each key ever had.
struct Truth {
  std::map<std::string, std::string> model;
  std::map<std::string, std::set<std::string>> had;
  std::vector<std::string> keys;  // every key ever used, plus one never used
};

std::string letters(rig::Random& rnd, std::uint32_t len) {
  std::string s;
  for (std::uint32_t i = 0; i < len; ++i) s.push_back(static_cast<char>('a' + rnd.below(26)));
  return s;
}

/// Builds a store with full records, compact updates (same-length re-puts),
/// deletes, idle-time maintenance (ERASED records) and at least
/// `gc_target` garbage collections; returns what it holds.
std::optional<Truth> build_store(Bed& b, const Shape& shape, std::uint64_t seed) {
  Truth t;
  std::vector<std::string> names = {"a", "temp", "k2", "k3", "wifi.ssid", "wifi.pass", "boot_count", "k7", "kk8", "z9"};
  if (shape.shared_hash) {
    // One of them deleted now and then (names[8]): sectors say hashes are
    // unique, and SHARED records end it.
    static const auto pair = colliding_names(1, true)[0];
    names[7] = pair.first;
    names[8] = pair.second;
  }
  rig::Random rnd(seed);
  std::map<std::string, std::uint32_t> len;
  if (!need(static_cast<bool>(b.format()), "format")) return std::nullopt;
  auto put = [&](const std::string& k, std::uint32_t n) {
    const std::string v = letters(rnd, n);
    if (!need(static_cast<bool>(b.put(k, v)), "put")) return false;
    t.model[k] = v;
    t.had[k].insert(v);
    return true;
  };
  auto erase = [&](const std::string& k) {
    if (!need(static_cast<bool>(b.erase(k)), "erase")) return false;
    t.model.erase(k);
    return true;
  };
  for (const std::string& k : names) {
    t.keys.emplace_back(k);
    len[k] = 2 + rnd.below(14);
    if (!put(k, len[k])) return std::nullopt;
  }
  for (int i = 0; i < 5; ++i) if (!put(names[i], len[names[i]])) return std::nullopt;  // compact updates
  if (!erase(names[5])) return std::nullopt;
  if (!erase(names[6])) return std::nullopt;
  int ops = 0;
  while (b.store->stats().gc_runs < static_cast<std::uint32_t>(shape.gc_target) || ops < 40) {
    if (!need(ops < 4000, "the workload reaches its collections")) return std::nullopt;
    ++ops;
    const std::string k = names[rnd.below(10)];
    const std::uint32_t r = rnd.below(20);
    if (r < 11) {
      if (!put(k, len[k])) return std::nullopt;
    } else if (r < 16) {
      len[k] = 2 + rnd.below(14);
      if (!put(k, len[k])) return std::nullopt;
    } else if (r < 18) {
      if (t.model.count(k) && !erase(k)) return std::nullopt;
    } else {
      if (!need(static_cast<bool>(ferrite::sync_wait(b.store->maintain({4, true}))), "maintain")) return std::nullopt;
    }
  }
  // The head ends with compact updates, a delete and a new key.
  for (int i = 0; i < 4; ++i) {
    const std::string k = names[rnd.below(5)];
    if (!put(k, len[k])) return std::nullopt;
  }
  if (t.model.count(names[8]) && !erase(names[8])) return std::nullopt;
  t.keys.emplace_back("late");
  if (!put("late", 5)) return std::nullopt;
  // End with two live sectors (a collection under way in a two-sector
  // store), so that records of a sector other than the head are flipped too,
  // and with compact updates at the end of the head.
  for (int attempt = 0; attempt < 50; ++attempt) {
    for (int i = 0; i < 3000 && b.store->stats().live_sectors < 2; ++i) {
      const std::string k = names[rnd.below(10)];
      if (rnd.below(4) == 0) len[k] = 2 + rnd.below(14);
      if (!put(k, len[k])) return std::nullopt;
      if (shape.sectors == 2 && !need(static_cast<bool>(ferrite::sync_wait(b.store->maintain({1, true}))), "maintain"))
        return std::nullopt;
    }
    for (int i = 0; i < 2; ++i) {
      const std::string k = names[rnd.below(5)];
      if (!put(k, len[k])) return std::nullopt;
    }
    if (b.store->stats().live_sectors >= 2) break;
  }
  CHECK(b.store->stats().live_sectors >= 2);
  // The sector before the head gets its list (FORMAT.md §5.2).
  if (shape.summaries && !need(static_cast<bool>(ferrite::sync_wait(b.store->maintain({0, false}))), "maintain"))
    return std::nullopt;
  t.keys.emplace_back("never-written");
  return t;
}

// ---------------------------------------------------------------------------
// An independent reader of the image (FORMAT.md), to know what each byte is.

enum class Zone : std::uint8_t { header, marker, record_head, record_key, record_value, record_pad, after_log };

struct Rec {
  std::uint32_t start = 0, size = 0;  // image offsets
  bool compact = false, meta = false, erase = false;
  std::string key;
};

struct Layout {
  std::vector<Zone> zone;     // per image byte (only meaningful where `covered`)
  std::vector<int> record;    // per image byte: index into recs, or -1
  std::vector<char> covered;  // bytes the campaign flips
  std::vector<Rec> recs;
  std::vector<std::uint32_t> valid_headers;  // sectors whose header carries the magic
};

Layout map_image(std::span<const std::byte> img, const ferrite::Geometry& g) {
  Layout L;
  L.zone.assign(img.size(), Zone::after_log);
  L.record.assign(img.size(), -1);
  L.covered.assign(img.size(), 0);
  const std::uint32_t unit = g.program_unit();
  const std::byte e = g.erased_byte();
  for (std::uint32_t s = 0; s < g.sector_count(); ++s) {
    const std::uint32_t base = g.sector_offset(s), size = g.sector_size(s);
    // Written extent: up to the last byte that is not erased.
    std::uint32_t extent = size;
    while (extent > 0 && img[base + extent - 1] == e) --extent;
    if (extent == 0) continue;  // an erased sector: nothing written
    if (le32(img, base) != 0x74526546u) {
      for (std::uint32_t i = 0; i < extent; ++i) L.covered[base + i] = 1;
      continue;
    }
    L.valid_headers.push_back(s);
    const std::uint32_t start = first_record(unit);
    for (std::uint32_t i = 0; i < start; ++i) L.zone[base + i] = i < 32 ? Zone::header : Zone::marker;
    std::map<int, std::pair<std::uint32_t, std::string>> slots;  // slot -> value length, key
    std::uint32_t off = start;
    while (off + unit <= size) {
      const auto b0 = static_cast<std::uint8_t>(img[base + off]);
      if (b0 == 0xFF || b0 == 0x00 || b0 == 0x7F) break;
      Rec r;
      r.start = base + off;
      std::uint32_t head = 8, klen = 0, vlen = 0;
      if (b0 <= 126) {
        if (!slots.count(b0)) break;
        r.compact = true;
        head = 4;
        vlen = slots[b0].first;
        r.key = slots[b0].second;
      } else {
        const std::uint32_t w = le32(img, base + off);
        const unsigned kind = (w >> 8) & 7;
        r.meta = kind == 2;
        r.erase = kind == 1;
        klen = r.meta ? 0 : ((w >> 11) & 0x3F) + 1;
        vlen = w >> 17;
        if (off + 8 + klen + vlen > size) break;
        r.key.assign(reinterpret_cast<const char*>(img.data() + base + off + 8), klen);
        if (kind == 0 && (w & 0x7F)) slots[w & 0x7F] = {vlen, r.key};
      }
      r.size = align_up(head + klen + vlen, unit);
      if (off + r.size > size) break;
      const int id = static_cast<int>(L.recs.size());
      for (std::uint32_t i = 0; i < r.size; ++i) {
        L.record[r.start + i] = id;
        L.zone[r.start + i] = i < head ? Zone::record_head
                              : i < head + klen ? Zone::record_key
                              : i < head + klen + vlen ? Zone::record_value
                                                       : Zone::record_pad;
      }
      L.recs.push_back(r);
      off += r.size;
    }
    // Flip the written extent and the first unit after the log.
    const std::uint32_t end = std::min(size, std::max(extent, off + unit));
    for (std::uint32_t i = 0; i < end; ++i) L.covered[base + i] = 1;
  }
  return L;
}

/// Prints the image as FORMAT.md describes it (for tracing one case).
void dump(std::span<const std::byte> img, const ferrite::Geometry& g) {
  const Layout L = map_image(img, g);
  for (std::uint32_t s = 0; s < g.sector_count(); ++s) {
    const std::uint32_t base = g.sector_offset(s);
    std::fprintf(stderr, "sector %u @%u: magic %08x seq %u tail %u erases %u id %u marker %08x\n", s, base,
                 le32(img, base), le32(img, base + 8), le32(img, base + 12), le32(img, base + 16),
                 le32(img, base + 20), le32(img, base + 32));
  }
  for (const Rec& r : L.recs) {
    const std::uint32_t w = le32(img, r.start);
    std::fprintf(stderr, "  @%u size %u %s key '%s' w %08x", r.start, r.size,
                 r.meta ? "META" : r.compact ? "compact" : r.erase ? "DEL" : "PUT", r.key.c_str(), w);
    if (r.meta) std::fprintf(stderr, " type %u value %u", (w >> 11) & 0x3F, le32(img, r.start + 8));
    std::fprintf(stderr, "\n");
  }
}

// ---------------------------------------------------------------------------
// Verdicts

struct Tally {
  std::size_t cases = 0;
  std::size_t failures = 0;
  std::size_t stale_detected = 0;  // an older value after remount, damage reported
  std::size_t mount_refused = 0;   // clean mount errors
  std::map<std::string, std::pair<std::size_t, std::string>> kinds;  // failure kind -> count, first example
};

/// A failure's kind: its text without names, values and numbers.
std::string kind_of(const std::string& what) {
  std::string k;
  bool quoted = false;
  for (char c : what) {
    if (c == '\'') {
      quoted = !quoted;
      if (quoted) k += "'*'";
      continue;
    }
    if (quoted || (c >= '0' && c <= '9')) continue;
    k += c;
  }
  return k;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

void report(Tally& t, const std::string& where, const std::string& what, const std::string& tag = "") {
  ++t.failures;
  auto& slot = t.kinds[tag + kind_of(what)];
  if (slot.first++ == 0) slot.second = where + ": " + what;
}

void summarise(const Tally& t, const char* campaign) {
  for (const auto& [kind, v] : t.kinds) {
    std::fprintf(stderr, "%s: %zu x %s\n    e.g. %s\n", campaign, v.first, kind.c_str(), v.second.c_str());
    UNSCOPED_INFO(campaign << ": " << v.first << " x " << kind << "; e.g. " << v.second);
  }
}

bool is_error(const std::string& got) { return !got.empty() && got[0] == '!'; }

/// What a key may read after corruption: its value, an older value it really
/// had (`stale`), or one of the errors that report the damage.
enum class Reading { exact, stale, error, wrong };

Reading classify(const Truth& t, const std::string& key, const std::string& got) {
  const auto it = t.model.find(key);
  if (it != t.model.end() && got == it->second) return Reading::exact;
  if (it == t.model.end() && got == "!not_found") return Reading::exact;
  if (got == "!corrupt" || got == "!not_found") return Reading::error;
  if (is_error(got)) return Reading::wrong;
  const auto h = t.had.find(key);
  if (h != t.had.end() && h->second.count(got)) return Reading::stale;
  return Reading::wrong;
}

bool clean_mount_error(Errc e) {
  return e == Errc::not_formatted || e == Errc::foreign_format || e == Errc::corrupt;
}

/// After a damaged image mounted: writes, enough to go through a garbage
/// collection, must work or fail cleanly, never program a unit that is not
/// erased, and survive a reboot; every other key keeps what it read.
std::string write_after_damage(Bed& b, const Truth& t, const std::map<std::string, std::string>& before,
                               int writes) {
  const std::uint64_t v0 = b.watch.violations;
  std::string last;
  for (int i = 0; i < writes; ++i) {
    const std::string v = "churn-" + std::to_string(i) + "-" + std::string(static_cast<std::size_t>(i % 3) * 5, 'x');
    const auto st = b.put("churn", v);
    if (!st) {
      if (st.error() == Errc::no_space) break;
      return std::string("put after damage failed: ") + ferrite::name_of(st.error());
    }
    last = v;
  }
  if (b.watch.violations != v0)
    return "a write after damage programmed a unit that was not erased (@" +
           std::to_string(b.watch.last_violation) + ")";
  for (int pass = 0; pass < 2; ++pass) {
    const char* when = pass == 0 ? "after writes" : "after writes and a reboot";
    if (pass == 1) {
      b.reboot();
      if (const auto st = b.mount(); !st) return std::string("mount after writes failed: ") + ferrite::name_of(st.error());
    }
    if (!last.empty() && b.get("churn") != last)
      return std::string("'churn' reads '") + b.get("churn") + "' " + when + ", want '" + last + "'";
    for (const std::string& k : t.keys) {
      const std::string got = b.get(k);
      const std::string& was = before.at(k);
      if (got == was) continue;
      if (!is_error(was) || (got != "!corrupt" && got != "!not_found"))
        return quote(k) + " read '" + was + "' after remount, '" + got + "' " + when;
    }
  }
  return "";
}

std::string zone_name(Zone z) {
  switch (z) {
    case Zone::header: return "header";
    case Zone::marker: return "marker";
    case Zone::record_head: return "record head";
    case Zone::record_key: return "record key";
    case Zone::record_value: return "record value";
    case Zone::record_pad: return "record pad";
    case Zone::after_log: return "after log";
  }
  return "?";
}

/// Flips every covered bit (or a sample) of one store image.
void flip_campaign(const Shape& shape, std::uint64_t seed, bool every_bit, Tally& tally) {
  const auto g = rig::geometry(shape.sectors, shape.size, shape.unit);
  Bed original(g, shape.index_keys, seed, shape.summaries);
  const auto built = build_store(original, shape, seed);
  if (!built) return;
  const Truth& truth = *built;
  const std::vector<std::byte> snapshot(original.sim.image().begin(), original.sim.image().end());
  const Layout L = map_image(snapshot, g);
  {
    const auto st = original.store->stats();
    std::size_t covered = 0;
    for (char c : L.covered) covered += c != 0;
    std::fprintf(stderr, "corruption-kv: %s: %zu bytes flipped, %zu records, %u live sectors, %u collections, %u keys\n",
                 shape.name, covered, L.recs.size(), st.live_sectors, st.gc_runs, st.keys);
  }
  if (shape.shared_hash) {
    // The image holds SHARED records (META type 7, FORMAT.md §3.3): their bits are flipped too.
    int shared = 0;
    for (std::size_t at = 0; at + 4 <= snapshot.size(); at += shape.unit) shared += le32(snapshot, at) == 0x3A80u;
    std::fprintf(stderr, "corruption-kv: %s: %d SHARED records\n", shape.name, shared);
    NEED(shared > 0);
  }
  if (shape.summaries) {
    // SUMMARY records (META type 4, FORMAT.md §5.2) list sectors that mount replays from them.
    int lists = 0;
    for (std::size_t at = 0; at + 4 <= snapshot.size(); at += shape.unit) lists += (le32(snapshot, at) & 0x1FFFFu) == 0x2280u;
    std::fprintf(stderr, "corruption-kv: %s: %d SUMMARY records\n", shape.name, lists);
    NEED(lists > 0);
  }

  // (a) One store mounted from the snapshot; each bit is flipped under it.
  Bed live(g, shape.index_keys, seed, shape.summaries);
  live.sim.load_image(snapshot);
  NEED(live.mount());
#if FERRITE_WITH_SUMMARIES
  if (shape.summaries) NEED(live.store->stats().summarized_records > 0);  // the flips reach a replay from a list
#endif
  for (const std::string& k : truth.keys) NEED(classify(truth, k, live.get(k)) == Reading::exact);
  // (b) A store rebooted onto the flipped image.
  Bed cold(g, shape.index_keys, seed, shape.summaries);

  rig::Random sample(seed ^ 0xC0FFEEu);
  const char* only = std::getenv("FERRITE_CORRUPT_ONLY");  // a substring of a case's description traces it
  const std::size_t n = snapshot.size();
  for (std::uint32_t at = 0; at < n; ++at) {
    if (!L.covered[at]) continue;
    for (unsigned bit = 0; bit < 8; ++bit) {
      if (!every_bit && sample.below(8) != 0) continue;
      ++tally.cases;
      const Zone z = L.zone[at];
      const int rid = L.record[at];
      const Rec* rec = rid >= 0 ? &L.recs[static_cast<std::size_t>(rid)] : nullptr;
      // Keys a flip at this byte may damage; every other key must read right.
      // A flip in a PUT/DELETE/compact record (not its padding) may cost that
      // record's key; a header flip may cost a whole sector.
      const bool sector_at_risk = z == Zone::header;
      const bool record_at_risk = rec && !rec->meta && z != Zone::record_pad;
      auto may_lose = [&](const std::string& k) { return sector_at_risk || (record_at_risk && rec->key == k); };
      const std::string where = std::string(shape.name) + " seed " + std::to_string(seed) + " byte " +
                                std::to_string(at) + " bit " + std::to_string(bit) + " (" + zone_name(z) +
                                (rec ? " of " + std::string(rec->meta ? "meta" : rec->compact ? "compact" : rec->erase ? "delete" : "put") +
                                           " record of '" + rec->key + "' @" + std::to_string(rec->start)
                                     : std::string()) +
                                ")";
      std::string failure;
      if (only && where.find(only) == std::string::npos) continue;
      if (only) {
        std::fprintf(stderr, "tracing %s\n", where.c_str());
        dump(snapshot, g);
      }

      // (a) Flip under a mounted store: the index still points at the
      // records, so a read is the value or an error, never anything older.
      live.sim.flip_bit(at, bit);
      const std::uint32_t corrupt_before = live.store->stats().corrupt_records;
      for (const std::string& k : truth.keys) {
        const std::string got = live.get(k);
        const Reading r = classify(truth, k, got);
        if (r == Reading::exact) continue;
        if (r == Reading::error && may_lose(k)) continue;
        // Index-less lookups have no index to pin the latest record: they
        // skip a damaged one, report it in stats, and may read the value
        // before it (docs/FORMAT.md §7).
        if (r == Reading::stale && shape.index_keys == 0 && may_lose(k) &&
            live.store->stats().corrupt_records > corrupt_before)
          continue;
        if (failure.empty()) failure = "[mounted] " + quote(k) + " read '" + got + "'";
      }
      live.sim.flip_bit(at, bit);

      // (b) Reboot onto the flipped image.
      cold.sim.load_image(snapshot);
      cold.sim.flip_bit(at, bit);
      cold.reboot();
      const auto st = cold.mount();
      if (!st) {
        // Only a header flip may cost the mount, and only by leaving no
        // valid header of the store: a clean error, never a crash.
        ++tally.mount_refused;
        const bool only_header = z == Zone::header && L.valid_headers.size() == 1;
        if (failure.empty() && (!clean_mount_error(st.error()) || !only_header))
          failure = std::string("[remount] mount failed: ") + ferrite::name_of(st.error());
      } else {
        const auto stats = cold.store->stats();
        const bool reported =
            stats.corrupt_records > 0 || stats.head_sealed || stats.torn_tails > 0 || stats.damaged_sectors > 0;
        std::map<std::string, std::string> seen;
        bool stale = false;
        for (const std::string& k : truth.keys) {
          const std::string got = cold.get(k);
          seen[k] = got;
          const Reading r = classify(truth, k, got);
          if (r == Reading::exact) continue;
          if (r == Reading::wrong && failure.empty()) failure = "[remount] " + quote(k) + " read '" + got + "'";
          if (!may_lose(k) && failure.empty())
            failure = "[remount] " + quote(k) + " read '" + got + "' (the flip was not in its records)";
          // With summaries, mount reads no value of a listed record: a value
          // that decayed is found by the read, whose error is the report
          // (FORMAT.md §5.2). Anything else must have been reported by mount.
          const bool read_reports = shape.summaries && got == "!corrupt";
          if (r == Reading::error && truth.model.count(k) && !reported && !read_reports && failure.empty())
            failure = "[remount] " + quote(k) + " silently lost: it reads '" + got + "' (no corrupt record reported, head not sealed)";
          if (r == Reading::stale) {
            stale = true;
            if (!reported && failure.empty())
              failure = "[remount] " + quote(k) + " silently reverted to an older value '" + got + "' (no corrupt record reported, head not sealed)";
          }
        }
        if (stale && reported) ++tally.stale_detected;
        // The scan lists only keys that were written, each once, and every
        // key that reads a value.
        const auto listed = cold.keys(truth.keys);
        std::set<std::string> uniq;
        for (const std::string& k : listed) {
          if (failure.empty() && is_error(k)) failure = "[remount] scan failed: " + k;
          else if (failure.empty() && !truth.had.count(k)) failure = "[remount] scan lists unknown key '" + k + "'";
          else if (failure.empty() && !uniq.insert(k).second) failure = "[remount] scan lists '" + k + "' twice";
        }
        for (const auto& [k, got] : seen)
          if (failure.empty() && !is_error(got) && !uniq.count(k)) failure = "[remount] scan misses '" + k + "'";
        // Writes after the damage, for a sample of the cases.
        if (failure.empty() && tally.cases % 16 == 0) {
          failure = write_after_damage(cold, truth, seen, 40);
          if (!failure.empty()) failure = "[writes] " + failure;
        }
      }
      if (only) {
        std::fprintf(stderr, "verdict: %s\n", failure.empty() ? "ok" : failure.c_str());
        if (cold.store->mounted()) {
          const auto st2 = cold.store->stats();
          std::fprintf(stderr, "after: corrupt %u sealed %d live %u keys %u\n", st2.corrupt_records, st2.head_sealed,
                       st2.live_sectors, st2.keys);
          dump(cold.sim.image(), g);
        }
      }
      if (!failure.empty()) {
        const std::string tag = "[" + zone_name(z) + (rec ? std::string(rec->meta ? " meta" : rec->compact ? " compact" : rec->erase ? " delete" : " put") : std::string()) + "] ";
        report(tally, where, failure, tag);
      }
    }
  }
}

/// Replaces the image from `cut` to its end with `fill` at every unit offset.
void truncation_campaign(const Shape& shape, std::uint64_t seed, std::uint32_t stride_units, Tally& tally) {
  const auto g = rig::geometry(shape.sectors, shape.size, shape.unit);
  Bed original(g, shape.index_keys, seed, shape.summaries);
  const auto built = build_store(original, shape, seed);
  if (!built) return;
  const Truth& truth = *built;
  const std::vector<std::byte> snapshot(original.sim.image().begin(), original.sim.image().end());
  Bed cold(g, shape.index_keys, seed, shape.summaries);
  std::vector<std::byte> img(snapshot.size());
  const std::uint32_t step = shape.unit * stride_units;
  for (const std::byte fill : {std::byte{0xFF}, std::byte{0x00}}) {
    for (std::uint32_t cut = 0; cut < snapshot.size(); cut += step) {
      // Cutting into erased bytes changes nothing: skip the no-op cuts.
      if (fill == std::byte{0xFF} &&
          std::all_of(snapshot.begin() + cut, snapshot.end(), [](std::byte b) { return b == std::byte{0xFF}; }))
        continue;
      ++tally.cases;
      std::copy(snapshot.begin(), snapshot.begin() + cut, img.begin());
      std::fill(img.begin() + cut, img.end(), fill);
      cold.sim.load_image(img);
      cold.reboot();
      const std::string where = std::string(shape.name) + " cut at " + std::to_string(cut) + " fill " +
                                std::to_string(static_cast<int>(fill));
      std::string failure;
      const auto st = cold.mount();
      if (!st) {
        ++tally.mount_refused;
        if (!clean_mount_error(st.error())) failure = std::string("mount failed: ") + ferrite::name_of(st.error());
      } else {
        std::map<std::string, std::string> seen;
        for (const std::string& k : truth.keys) {
          const std::string got = cold.get(k);
          seen[k] = got;
          if (classify(truth, k, got) == Reading::wrong && failure.empty())
            failure = quote(k) + " read '" + got + "', a value it never had";
        }
        const auto listed = cold.keys(truth.keys);
        for (const std::string& k : listed)
          if (failure.empty() && (is_error(k) || !truth.had.count(k))) failure = "scan lists '" + k + "'";
        if (failure.empty() && tally.cases % 4 == 0) {
          failure = write_after_damage(cold, truth, seen, 12);
          if (!failure.empty()) failure = "[writes] " + failure;
        }
      }
      if (!failure.empty()) report(tally, where, failure);
    }
  }
}

const Shape shapes[] = {
    {"2x2048/u4", 2, 2048, 4, 64, 2},
    {"3x1024/u8", 3, 1024, 8, 64, 3},
    {"2x4096/u1", 2, 4096, 1, 64, 1},
    {"3x1024/u4/no-index", 3, 1024, 4, 0, 2},
    {"3x1024/u4/shared-hash", 3, 1024, 4, 64, 3, true},
    {"5x1024/u4/summaries", 5, 1024, 4, 64, 4, false, true},
};

}  // namespace

TEST_CASE("every flipped bit of a store image is detected or harmless, never returned as data",
          "[log][corruption]") {
  const double scale = campaign_scale();
  const auto t0 = std::chrono::steady_clock::now();
  Tally tally;
  bool first = true;
  for (const Shape& s : shapes) {
    if (s.index_keys == 0 && !ferrite::index_less_built) continue;  // a kv-minimal build has no index-less stores
    if (s.summaries && !ferrite::summaries_built) continue;
    // Every bit of the first image always; of the others at scale >= 1.
    flip_campaign(s, 0xB17F11Bu + s.unit, first || scale >= 1.0, tally);
    first = false;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summarise(tally, "corruption-kv");
  std::printf("campaign corruption-kv: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  std::fprintf(stderr, "corruption-kv: %.1f s, %zu remounts refused cleanly, %zu stale reads after reported damage\n",
               secs, tally.mount_refused, tally.stale_detected);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= 20000);
}

TEST_CASE("an image cut short at any unit mounts or fails cleanly, and no key reads a value it never had",
          "[log][corruption]") {
  const double scale = campaign_scale();
  const auto t0 = std::chrono::steady_clock::now();
  Tally tally;
  for (const Shape& s : shapes)
    if ((s.index_keys != 0 || ferrite::index_less_built) && (!s.summaries || ferrite::summaries_built))
      truncation_campaign(s, 0x7A11u + s.unit, scale >= 1.0 ? 1 : 4, tally);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summarise(tally, "truncation-kv");
  std::printf("campaign truncation-kv: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  std::fprintf(stderr, "truncation-kv: %.1f s, %zu mounts refused cleanly\n", secs, tally.mount_refused);
  CHECK(tally.failures == 0);
}

// ---------------------------------------------------------------------------
// Known answers: the bytes docs/FORMAT.md specifies, checked one by one.

namespace {

std::span<const std::byte> str(std::string_view s) { return rig::bytes(s); }

std::uint32_t crc_of(std::initializer_list<std::span<const std::byte>> parts) {
  std::uint32_t crc = 0;
  for (const auto& p : parts) crc = ferrite::crc32c(p, crc);
  return crc;
}

std::uint32_t word(std::uint32_t slot, std::uint32_t kind, std::uint32_t key_field, std::uint32_t value_len) {
  return slot | 0x80u | kind << 8 | key_field << 11 | value_len << 17;
}

std::string hex(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::byte x : b) {
    std::snprintf(buf, sizeof buf, "%02x ", static_cast<unsigned>(x));
    s += buf;
  }
  return s;
}

}  // namespace

TEST_CASE("a tiny store's header and records are the bytes FORMAT.md specifies", "[log][corruption][format]") {
  Bed b(rig::geometry(2, 1024, 4), 64);
  NEED(b.format());
  NEED(b.put("ab", "123"));   // full record, binds slot 1
  NEED(b.put("c", "xy"));     // full record, binds slot 2
  NEED(b.put("ab", "456"));   // same length: compact record of slot 1
  NEED(b.erase("c"));         // DELETE
  const auto img = b.sim.image();
  INFO(hex(img.first(96)));

  // §2 header: "FeRt", version 1, log2(U) = 2, E = 0xFF, flags bit 0 (compact)
  // and bit 4 (unique hashes: an empty store has no two keys of one hash).
  CHECK(img[0] == std::byte{0x46});
  CHECK(img[1] == std::byte{0x65});
  CHECK(img[2] == std::byte{0x52});
  CHECK(img[3] == std::byte{0x74});
  CHECK(img[4] == std::byte{1});
  CHECK(img[5] == std::byte{2});
  CHECK(img[6] == std::byte{0xFF});
  CHECK(img[7] == std::byte{0x11});
  CHECK(le32(img, 8) == 1u);   // sequence: 1 on a blank region
  CHECK(le32(img, 12) == 1u);  // tail: the lowest live sequence
  CHECK(le32(img, 16) == 1u);  // erase count, the format's erase included
  CHECK(le32(img, 20) != 0u);  // store id
  const auto count = le32_bytes(2), size = le32_bytes(1024);
  CHECK(le32(img, 24) == crc_of({count, size}));  // geometry: crc32c of (count, size) per run
  CHECK(le32(img, 28) == ferrite::crc32c(img.first(28)));
  // §2.1 retire marker: left erased when the sector is opened.
  for (int i = 32; i < 40; ++i) CHECK(img[static_cast<std::size_t>(i)] == std::byte{0xFF});

  const auto seq = le32_bytes(1);
  // §3.1 full record at 40: w (slot 1, PUT, key_len-1 = 1, value_len 3), crc, key, value, pad to 16.
  const std::uint32_t w1 = word(1, 0, 1, 3);
  CHECK(w1 == 0x00060881u);
  CHECK(le32(img, 40) == w1);
  const auto w1b = le32_bytes(w1), at40 = le32_bytes(40);
  CHECK(le32(img, 44) == crc_of({seq, at40, w1b, str("ab"), str("123")}));
  CHECK(std::memcmp(img.data() + 48, "ab123", 5) == 0);
  for (int i = 53; i < 56; ++i) CHECK(img[static_cast<std::size_t>(i)] == std::byte{0xFF});
  // Second full record at 56 (slot 2, key_len-1 = 0, value_len 2), 12 bytes.
  const std::uint32_t w2 = word(2, 0, 0, 2);
  CHECK(le32(img, 56) == w2);
  const auto w2b = le32_bytes(w2), at56 = le32_bytes(56);
  CHECK(le32(img, 60) == crc_of({seq, at56, w2b, str("c"), str("xy")}));
  CHECK(std::memcmp(img.data() + 64, "cxy", 3) == 0);
  CHECK(img[67] == std::byte{0xFF});
  // §3.2 compact record at 68: slot byte, crc24 = crc32c(key ++ position ++ slot ++ value), value, pad to 8.
  CHECK(img[68] == std::byte{1});
  const auto at68 = le32_bytes(68);
  const std::byte slot1[] = {std::byte{1}};
  const std::uint32_t crc24 = crc_of({str("ab"), seq, at68, slot1, str("456")}) & 0xFFFFFFu;
  CHECK((le32(img, 68) >> 8) == crc24);
  CHECK(std::memcmp(img.data() + 72, "456", 3) == 0);
  CHECK(img[75] == std::byte{0xFF});
  // DELETE at 76: slot 0, kind 1, key_len-1 = 0, value_len 0; 12 bytes.
  const std::uint32_t w3 = word(0, 1, 0, 0);
  CHECK(w3 == 0x00000180u);
  CHECK(le32(img, 76) == w3);
  const auto w3b = le32_bytes(w3), at76 = le32_bytes(76);
  CHECK(le32(img, 80) == crc_of({seq, at76, w3b, str("c")}));
  CHECK(img[84] == std::byte{'c'});
  // The first unit after the last record reads all E; the other sector is untouched.
  for (std::size_t i = 85; i < 1024; ++i) CHECK(img[i] == std::byte{0xFF});
  CHECK(std::all_of(img.begin() + 1024, img.end(), [](std::byte x) { return x == std::byte{0xFF}; }));

  b.reboot();
  NEED(b.mount());
  CHECK(b.get("ab") == "456");
  CHECK(b.get("c") == "!not_found");
}

TEST_CASE("a collection writes the RETIRE record, the retire marker and ERASED as FORMAT.md specifies",
          "[log][corruption][format]") {
  Bed b(rig::geometry(2, 1024, 4), 64);
  NEED(b.format());
  const std::uint32_t id = le32(b.sim.image(), 20);
  int i = 0;
  while (b.store->stats().gc_runs == 0) {
    NEED(i < 500);
    NEED(b.put("key" + std::to_string(i % 3), "value-" + std::to_string(i)));
    ++i;
  }
  // Sector 0 (sequence 1) was collected into sector 1 (sequence 2).
  auto img = b.sim.image();
  CHECK(le32(img, 1024 + 8) == 2u);
  CHECK(le32(img, 1024 + 20) == id);
  // §2.1: the marker of the retired sector: "FeRx", crc32c(sequence ++ store id).
  CHECK(le32(img, 32) == 0x78526546u);
  CHECK(std::memcmp(img.data() + 32, "FeRx", 4) == 0);
  const auto seq1 = le32_bytes(1), idb = le32_bytes(id);
  CHECK(le32(img, 36) == crc_of({seq1, idb}));
  // §3.3: RETIRE (META type 0, value_len 4, tail = 2) in the new head.
  const Layout L = map_image(img, b.sim.geometry());
  int retires = 0;
  for (const Rec& r : L.recs) {
    if (!r.meta || r.start < 1024) continue;
    const std::uint32_t w = le32(img, r.start);
    if (((w >> 11) & 0x3F) != 0) continue;
    ++retires;
    CHECK(w == word(0, 2, 0, 4));
    CHECK(le32(img, r.start + 8) == 2u);
    const auto wb = le32_bytes(w), seq2 = le32_bytes(2), off = le32_bytes(r.start - 1024);
    CHECK(le32(img, r.start + 4) == crc_of({seq2, off, wb, img.subspan(r.start + 8, 4)}));
  }
  CHECK(retires == 1);
  // §3.3: maintain() erases the retired sector and vouches for it with
  // ERASED(sector u16, reserved u16 = 0, erase count u32).
  auto rep = ferrite::sync_wait(b.store->maintain({4, true}));
  NEED(rep);
  CHECK(rep->sectors_erased == 1);
  img = b.sim.image();
  CHECK(std::all_of(img.begin(), img.begin() + 1024, [](std::byte x) { return x == std::byte{0xFF}; }));
  const Layout L2 = map_image(img, b.sim.geometry());
  int erased = 0;
  for (const Rec& r : L2.recs) {
    if (!r.meta || r.start < 1024) continue;
    const std::uint32_t w = le32(img, r.start);
    if (((w >> 11) & 0x3F) != 1) continue;
    ++erased;
    CHECK(w == word(0, 2, 1, 8));
    CHECK(img[r.start + 8] == std::byte{0});  // sector 0, u16
    CHECK(img[r.start + 9] == std::byte{0});
    CHECK(img[r.start + 10] == std::byte{0});  // reserved
    CHECK(img[r.start + 11] == std::byte{0});
    CHECK(le32(img, r.start + 12) == 2u);  // erased at format and now
    const auto wb = le32_bytes(w), seq2 = le32_bytes(2), off = le32_bytes(r.start - 1024);
    CHECK(le32(img, r.start + 4) == crc_of({seq2, off, wb, img.subspan(r.start + 8, 8)}));
  }
  CHECK(erased == 1);
}

// ---------------------------------------------------------------------------
// Reproducers of engine bugs the campaigns found, one per root cause, each
// as small as it gets. [repro]: expected to fail until the engine is fixed.

namespace {

/// The last record of `key` in sector `s` (-1 if none).
int last_record_of(const Layout& L, const ferrite::Geometry& g, std::uint32_t s, const std::string& key) {
  int found = -1;
  for (std::size_t i = 0; i < L.recs.size(); ++i) {
    const Rec& r = L.recs[i];
    if (g.sector_of(r.start) == s && !r.meta && r.key == key) found = static_cast<int>(i);
  }
  return found;
}

/// Offset just past the last record of sector `s`.
std::uint32_t log_end(const Layout& L, const ferrite::Geometry& g, std::uint32_t s) {
  std::uint32_t end = first_record(g.program_unit());
  for (const Rec& r : L.recs)
    if (g.sector_of(r.start) == s) end = r.start + r.size - g.sector_offset(s);
  return end;
}

}  // namespace

TEST_CASE("a bit flip in the head's header does not leave a mounted store without a live sector",
          "[log][corruption][repro]") {
  // Once collections have retired every other sector with a valid retire
  // marker, the head is the only live sector. One flipped header bit of the
  // head and no sector is live: mount succeeds anyway with no live sector
  // (mount.cpp mount: no sector >= tail, head_ stays 0, head_offset_
  // 0, next_sequence_ = sectors_[0].sequence + 1 = 1). The next put programs
  // at offset 0 of sector 0 (over a header: a unit that is not erased), the
  // store later opens a sector with sequence 1 below the tail, and what it
  // acknowledged is gone after a reboot.
  struct Case {
    std::uint32_t sectors, size;
    std::size_t keys;
  };
  for (const Case c : {Case{2, 2048, 64}, Case{3, 1024, 0}}) {
    if (c.keys == 0 && !ferrite::index_less_built) continue;
    const auto g = rig::geometry(c.sectors, c.size, 4);
    Bed b(g, c.keys);
    NEED(b.format());
    for (int i = 0; b.store->stats().gc_runs == 0 || b.store->stats().live_sectors > 1; ++i) {
      NEED(i < 2000);
      NEED(b.put("key" + std::to_string(i % 4), "value-" + std::to_string(i)));
      if (c.sectors > 2) NEED(ferrite::sync_wait(b.store->maintain({16, true})));
    }
    std::uint32_t head = 0;
    for (std::uint32_t s = 0; s < c.sectors; ++s)
      if (b.store->sectors()[s].state == static_cast<std::uint8_t>(ferrite::SectorState::live)) head = s;
    b.sim.flip_bit(g.sector_offset(head) + 8, 0);  // the head's sequence: its header crc fails
    b.reboot();
    const auto st = b.mount();
    INFO(c.sectors << " sectors, index " << c.keys << ": mount " << (st ? "ok" : ferrite::name_of(st.error()))
                   << ", live sectors " << (st ? b.store->stats().live_sectors : 0));
    if (!st) {
      CHECK(clean_mount_error(st.error()));
      continue;
    }
    // Either the damage is reported, or the store is usable and durable.
    CHECK((b.store->stats().live_sectors > 0 || b.store->stats().corrupt_records > 0));
    const std::uint64_t v0 = b.watch.violations;
    for (int i = 0; i < 40; ++i) CHECK(b.put("after" + std::to_string(i % 6), "damage-" + std::to_string(i)));
    CHECK(b.watch.violations == v0);
    b.reboot();
    NEED(b.mount());
    for (int i = 34; i < 40; ++i) CHECK(b.get("after" + std::to_string(i % 6)) == "damage-" + std::to_string(i));
  }
}

TEST_CASE("a corrupt last record of a sector other than the head is reported, not silently skipped",
          "[log][corruption][repro]") {
  // FORMAT.md §5.4: a record failing its checksum outside the head is
  // corruption that mount reports. When it is the last record of its sector
  // the resync runs into the blank end of the sector and nothing is counted:
  // the key silently reads its previous value (mount.cpp replay_sector: the
  // corrupt_records count only happens when a verified record follows).
  const auto g = rig::geometry(3, 1024, 4);
  Bed b(g, 64);
  NEED(b.format());
  std::string previous, latest = "value-0000";
  NEED(b.put("K", latest));
  for (int i = 1;; ++i) {
    const Layout L = map_image(b.sim.image(), g);
    if (g.sector_size(0) - log_end(L, g, 0) < 16) break;  // no room for another compact update
    previous = latest;
    latest = "value-" + std::to_string(1000 + i).substr(0, 4);
    NEED(b.put("K", latest));
  }
  NEED(b.put("F", std::string(40, 'f')));  // does not fit: opens sector 1
  NEED(b.store->stats().live_sectors == 2);
  const Layout L = map_image(b.sim.image(), g);
  const int k = last_record_of(L, g, 0, "K");
  NEED(k >= 0);
  const Rec& r = L.recs[static_cast<std::size_t>(k)];
  NEED(r.start + r.size == log_end(L, g, 0));  // K's latest is the last record of sector 0
  b.sim.flip_bit(r.start + r.size - 1 - (r.size - (r.compact ? 4 : 9) - 10), 0);  // a bit of its value
  b.reboot();
  NEED(b.mount());
  const std::string got = b.get("K");
  INFO("K reads '" << got << "', latest '" << latest << "', previous '" << previous << "'");
  const auto st = b.store->stats();
  CHECK((got != previous || st.corrupt_records > 0 || st.torn_tails > 0));
}

TEST_CASE("collection does not program a retire marker over a marker area that is not erased",
          "[log][corruption][repro]") {
  // The retire marker (FORMAT.md §2.1) is programmed into the victim without
  // checking that its units still read erased (space.cpp gc_step): after a
  // bit flip there the engine programs a unit that is not erased (on ECC
  // flash a second program), and the sim's refusal is ignored.
  Bed b(rig::geometry(2, 2048, 4), 64);
  NEED(b.format());
  NEED(b.put("a", "1"));
  b.sim.flip_bit(34, 3);  // inside sector 0's marker area
  b.reboot();
  NEED(b.mount());
  for (int i = 0; b.store->stats().gc_runs == 0; ++i) {
    NEED(i < 1000);
    NEED(b.put("key" + std::to_string(i % 4), "value-" + std::to_string(i)));
  }
  INFO("first unit programmed while not erased: @" << b.watch.last_violation);
  CHECK(b.watch.violations == 0);
}

TEST_CASE("a sector vouched erased by an ERASED record is not programmed where it is not erased",
          "[log][corruption][repro]") {
  // maintain() erases a sector and appends ERASED; after a reboot mount
  // trusts the whole sector because its header units read erased
  // (mount.cpp: the erased state is kept for a vouched sector; space.cpp
  // open_sector opens it without erasing). A bit flip in its body then
  // makes the engine program over a unit that is not erased: put() hides
  // the sim's refusal by retrying in another sector, copy_entry (collection)
  // surfaces it as reprogram_forbidden.
  const auto g = rig::geometry(3, 1024, 4);
  Bed b(g, 64);
  NEED(b.format());
  NEED(b.put("a", "1"));
  auto rep = ferrite::sync_wait(b.store->maintain({4, true}));
  NEED(rep);
  NEED(rep->sectors_erased == 1);
  std::uint32_t vouched = 0;
  for (std::uint32_t s = 1; s < 3; ++s)
    if (b.store->sectors()[s].state == static_cast<std::uint8_t>(ferrite::SectorState::erased)) vouched = s;
  NEED(vouched != 0);
  b.sim.flip_bit(g.sector_offset(vouched) + 200, 5);
  b.reboot();
  NEED(b.mount());
  NEED(b.store->sectors()[vouched].state == static_cast<std::uint8_t>(ferrite::SectorState::erased));
  std::string failure;
  for (int i = 0; i < 300 && failure.empty(); ++i) {
    const std::string v = "value-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7), '+');
    if (const auto st = b.put("key" + std::to_string(i % 5), v); !st) failure = ferrite::name_of(st.error());
    if (i % 10 == 9) {
      auto m = ferrite::sync_wait(b.store->maintain({2, true}));
      if (!m) failure = std::string("maintain: ") + ferrite::name_of(m.error());
    }
  }
  CHECK(failure.empty());
  INFO("first unit programmed while not erased: @" << b.watch.last_violation << " (the flip is at @"
                                                      << g.sector_offset(vouched) + 200 << ")");
  CHECK(b.watch.violations == 0);
}

#if FERRITE_WITH_INDEX_LESS
TEST_CASE("an index-less get does not return an older value in place of a corrupt latest record",
          "[log][corruption][repro]") {
  // Index-less lookups scan the log and skip a record that fails its
  // checksum (index.cpp locate_by_scan), so the key silently reads its
  // previous value, or a deleted key comes back, with nothing reported.
  const auto g = rig::geometry(2, 2048, 4);
  Bed b(g, 0);
  NEED(b.format());
  NEED(b.put("K", "old"));
  NEED(b.put("K", "new"));
  const Layout L = map_image(b.sim.image(), g);
  const int k = last_record_of(L, g, 0, "K");
  NEED(k >= 0);
  b.sim.flip_bit(L.recs[static_cast<std::size_t>(k)].start + 9, 0);  // first byte of "new"
  const std::string got = b.get("K");
  INFO("K reads '" << got << "'");
  CHECK((got != "old" || b.store->stats().corrupt_records > 0));
}

TEST_CASE("an index-less store steps over the bytes a SKIP voids, as mount does: in lookups, scans and collection",
          "[log][corruption][skip]") {
  // A SKIP voids its sector from `from` up to itself (FORMAT.md §3.3): a
  // power cut tore a write there, and what of it reads right by chance was
  // never written. Here the voided bytes are a whole record, "K" = "new" (a
  // tear whose weak bits all read right). Mount steps over it; an index-less
  // store scans the log at every lookup and must step over it too, or it
  // shows a value the store voided, and collection copies that forward as
  // the key's latest, where no SKIP voids it any more.
  const auto g = rig::geometry(2, 1024, 4);
  Bed b(g, 0);
  NEED(b.format());
  NEED(b.put("K", "old"));  // 12 bytes at 40
  NEED(b.put("K", "new"));  // 12 bytes at 52
  NEED(le32(b.sim.image(), 52) == word(0, 0, 0, 3));
  const auto skip = rig::skip_record(1, 64, 52);  // SKIP(from = 52) at 64
  std::memcpy(b.sim.raw().data() + 64, skip.data(), skip.size());

  b.reboot();
  NEED(b.mount());
  CHECK(b.get("K") == "old");
  CHECK(b.store->stats().torn_tails == 1);
  CHECK(b.store->stats().corrupt_records == 0);  // torn bytes a SKIP closes are no corruption
#if FERRITE_WITH_SCANS
  {
    auto c = b.store->scan();
    const auto more = ferrite::sync_wait(c.next());
    NEED(more);
    NEED(*more);
    CHECK(c.key_string() == "K");
    std::array<std::byte, 8> value{};
    const auto n = ferrite::sync_wait(c.read_value(value));
    NEED(n);
    CHECK(std::string(reinterpret_cast<const char*>(value.data()), *n) == "old");
    const auto after = ferrite::sync_wait(c.next());
    CHECK((after && !*after));
  }
#endif
  // Fill the store until collection has moved "K" out of its first sector.
  for (int i = 0; i < 80 && b.store->stats().gc_runs == 0; ++i)
    NEED(b.put("f" + std::to_string(i % 4), std::string(40, static_cast<char>('a' + i % 26))));
  NEED(b.store->stats().gc_runs > 0);
  CHECK(b.get("K") == "old");
  b.reboot();
  NEED(b.mount());
  CHECK(b.get("K") == "old");
  CHECK(b.store->stats().corrupt_records == 0);
}
#endif

TEST_CASE("a put whose collection drops the key for corruption keeps the index consistent",
          "[log][corruption][repro]") {
  // put() locates the key, then ensure_room() may run a collection whose
  // copy_entry() drops that very key because its latest record no longer
  // verifies. put() then writes the new record, locates the key again and
  // uses the position without checking `found` (api.cpp, "The entry may have
  // moved"): it overwrites index_[0] -- another key's entry -- and the key
  // just written is not indexed. Both keys read not_found until a reboot.
  const auto g = rig::geometry(3, 1024, 4);
  for (int n = 0; n < 400; ++n) {
    Bed b(g, 64);
    NEED(b.format());
    NEED(b.put("K", "kkkk"));
    std::string f;
    for (int i = 0; i < n; ++i) {
      f = "f" + std::to_string(1000 + i);
      NEED(b.put("F", f));
    }
    const Layout L = map_image(b.sim.image(), g);
    const int k = last_record_of(L, g, 0, "K");
    NEED(k >= 0);
    b.sim.flip_bit(L.recs[static_cast<std::size_t>(k)].start + 9, 0);  // K's value: its record fails now
    const auto gc_before = b.store->stats().gc_runs;
    const auto st = b.put("K", "new!");
    if (b.store->stats().gc_runs == gc_before) continue;  // no collection inside this put: try a longer run
    INFO("after " << n << " updates of F the put of K ran a collection");
    CHECK(st);
    CHECK(b.get("K") == "new!");
    CHECK(b.get("F") == f);
    return;
  }
  FAIL("no run put a collection inside the put of K");
}

TEST_CASE("a bit flip in the head's header is reported, not a silent return to an older state",
          "[log][corruption][repro]") {
  // A sector whose header fails its crc drops out of the log silently: with
  // two live sectors, a flip in the head's header makes every key written
  // there read its older value (or not_found), and mount reports nothing
  // (no corrupt_records, not sealed). Records bind their sector's sequence
  // in their checksum, so mount could tell that a garbage-header sector holds
  // records of sequence head + 1 and report (or even recover) it.
  const auto g = rig::geometry(3, 1024, 4);
  Bed b(g, 64);
  NEED(b.format());
  NEED(b.put("K", "old"));
  for (int i = 0; b.store->stats().live_sectors < 2; ++i) {
    NEED(i < 200);
    NEED(b.put("F", "filler-" + std::to_string(i % 10)));
  }
  NEED(b.put("K", "new"));
  std::uint32_t head = 0;
  for (std::uint32_t s = 0; s < 3; ++s)
    if (b.store->sectors()[s].state == static_cast<std::uint8_t>(ferrite::SectorState::live) &&
        b.store->sectors()[s].sequence > b.store->sectors()[head].sequence)
      head = s;
  b.sim.flip_bit(g.sector_offset(head) + 20, 0);  // store id: the header's crc fails
  b.reboot();
  const auto st = b.mount();
  if (!st) {
    CHECK(clean_mount_error(st.error()));
    return;
  }
  const std::string got = b.get("K");
  INFO("K reads '" << got << "'");
  const auto stats = b.store->stats();
  CHECK((got == "new" || stats.corrupt_records > 0 || stats.damaged_sectors > 0));
}

TEST_CASE("a scan of a mounted store does not list a key name flipped under it", "[log][corruption][repro]") {
  // Scans read key names from the binding records without verifying them
  // (index.cpp read_key / compare_key_at): after a bit flip in a key's name
  // a scan lists a key that was never written ("k0").
  const auto g = rig::geometry(2, 2048, 4);
  Bed b(g, 64);
  NEED(b.format());
  NEED(b.put("k1", "one"));
  NEED(b.put("k3", "three"));
  const Layout L = map_image(b.sim.image(), g);
  const int k = last_record_of(L, g, 0, "k1");
  NEED(k >= 0);
  b.sim.flip_bit(L.recs[static_cast<std::size_t>(k)].start + 9, 0);  // "k1" -> "k0"
  const auto listed = b.keys({"k0", "k1", "k3"});
  std::string all;
  for (const std::string& s : listed) all += "'" + s + "' ";
  INFO("scan lists " << all);
  for (const std::string& s : listed) CHECK((s == "k1" || s == "k3"));
}

TEST_CASE("mount reads a head's blank tail only one record past its log, and damage beyond is found before a "
          "program reaches it",
          "[log][corruption][mount]") {
  // FORMAT.md §5 step 5: the tail window is one record of the largest size
  // (here 8 + 64 + 48 bytes); the rest of the head is checked ahead of the
  // write offset, and damage there seals the head as a torn tail.
  const auto g = rig::geometry(3, 1024, 4);
  Bed b(g, 64);
  NEED(b.format());
  NEED(b.put("a", "first"));
  NEED(b.put("b", "second"));
  const std::uint32_t end = log_end(map_image(b.sim.image(), g), g, 0);
  const std::uint32_t damage = end + 400;  // far past the window
  b.sim.flip_bit(g.sector_offset(0) + damage, 2);
  b.reboot();
  const std::uint64_t read_before = b.sim.counters().bytes_read;
  NEED(b.mount());
  const std::uint64_t mount_read = b.sim.counters().bytes_read - read_before;
  INFO("mount read " << mount_read << " B");
  CHECK(mount_read < g.sector_size(0));
  CHECK(b.store->stats().torn_tails == 0);
  CHECK_FALSE(b.store->stats().head_sealed);
  // Writes go on in the same head up to the damage, never over it.
  std::map<std::string, std::string> model{{"a", "first"}, {"b", "second"}};
  std::uint32_t last_in_head = 0;
  for (int i = 0; i < 60 && b.store->stats().torn_tails == 0; ++i) {
    const std::string k = "key" + std::to_string(i), v = "value-" + std::to_string(i) + std::string(12, '.');
    NEED(b.put(k, v));
    model[k] = v;
    if (b.store->stats().torn_tails == 0) last_in_head = log_end(map_image(b.sim.image(), g), g, 0);
  }
  CHECK(b.store->stats().torn_tails == 1);
  CHECK(last_in_head > end + 300);  // the head was used up to the damage
  CHECK(last_in_head <= damage);
  INFO("first unit programmed while not erased: @" << b.watch.last_violation);
  CHECK(b.watch.violations == 0);
  b.reboot();
  NEED(b.mount());
  for (const auto& [k, v] : model) CHECK(b.get(k) == v);
  CHECK(b.store->stats().torn_tails == 1);  // the next mount reads the damage inside its window
}

TEST_CASE("a write a power cut left weak reads the same at every later mount, also once the head has moved on",
          "[log][powerloss][mount]") {
  // The last record of every live sector is read back 16 times (FORMAT.md
  // §5 step 3), not only the head's: a mount that finds the head's last
  // record unstable seals the head, the next write opens a new sector, and
  // the record, now the last of a sector that is not the head, reads right
  // by chance at some later mount. It must stay refused.
  // The record: "K" and a 4-byte value whose last unit holds a single bit to
  // program, so that a cut in that unit can leave the record whole but for
  // one weak bit (the sim's tears, ports/sim: a prefix of units, then one
  // unit partly, its moved bits sometimes weak).
  const auto g = rig::geometry(3, 1024, 4);
  const std::string fresh("\xFF\xFF\xFF\xFE", 4);
  std::size_t weak_sealed = 0, failures = 0;
  for (std::uint64_t seed = 1; seed <= 800 && failures == 0; ++seed) {
    Bed b(g, 64, seed);
    if (!b.format() || !b.put("K", "old") || !b.put("L", "other")) continue;
    b.sim.cut_power_at(b.sim.mutating_ops());
    (void)b.put("K", fresh);
    if (!b.sim.power_is_lost() || b.sim.weak_bit_count() == 0) continue;
    b.reboot();
    NEED(b.mount());
    const std::string first = b.get("K");
    if (!b.store->stats().head_sealed) continue;  // the record read as torn or whole: nothing moves on
    ++weak_sealed;
    CHECK(first == "old");
    NEED(b.put("M", "moves the log on"));  // to a new sector: the head is sealed
    for (int m = 0; m < 24; ++m) {
      b.reboot();
      NEED(b.mount());
      const std::string again = b.get("K");
      if (again != first) {
        ++failures;
        FAIL_CHECK("seed " << seed << ": K read '" << first << "' at the first mount, '" << again << "' at mount "
                           << m + 2);
        break;
      }
    }
  }
  INFO(weak_sealed << " cuts left a weak record and a sealed head");
  CHECK(weak_sealed >= 3);
  CHECK(failures == 0);
}

TEST_CASE("mount reads a sector's last record back for weak bits only when the next header does not say it was "
          "programmed whole",
          "[log][powerloss][mount]") {
  // FORMAT.md §2 flag bit 3: the session that programmed a sector's last
  // record itself says so in the header of the sector it opens next. The same
  // writes, with a remount just before the write that opens sector 1, leave
  // the same image but for that flag: its mount reads sector 0's last record
  // 16 more times.
  const auto g = rig::geometry(3, 1024, 4);
  const auto value = [](int i) { return "value-" + std::to_string(100 + i) + "-padding"; };  // 17 bytes
  const auto key = [](int i) { return "k" + std::to_string(10 + i); };                       // 3 bytes
  const std::uint32_t h1 = g.sector_offset(1);
  const auto sector1_opened = [&](const Bed& b) { return le32(b.sim.image(), h1) == 0x74526546u; };
  // Session A: every write in one session; n = the writes sector 0 holds.
  Bed a(g, 64);
  NEED(a.format());
  int n = 0;
  for (; !sector1_opened(a) && n < 60; ++n) NEED(a.put(key(n), value(n)));
  --n;
  NEED(n > 4);
  // Session B: a remount before the write that opens sector 1.
  Bed b(g, 64);
  NEED(b.format());
  for (int i = 0; i < n; ++i) NEED(b.put(key(i), value(i)));
  b.reboot();
  NEED(b.mount());
  NEED(b.put(key(n), value(n)));
  CHECK((std::to_integer<unsigned>(a.sim.image()[h1 + 7]) & 8u) == 8u);
  CHECK((std::to_integer<unsigned>(b.sim.image()[h1 + 7]) & 8u) == 0u);
  // Elsewhere the images differ at most in sector 1's erase count (a
  // remount knows a free sector's count only as the highest it saw) and crc.
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.sim.image().size(); ++i)
    if (a.sim.image()[i] != b.sim.image()[i] && (i < h1 || i >= h1 + 32)) {
      ++differing;
      UNSCOPED_INFO("differs at " << i);
    }
  CHECK(differing == 0);
  const auto mount_read = [&](Bed& bed) {
    bed.reboot();
    const std::uint64_t before = bed.sim.counters().bytes_read;
    if (!need(static_cast<bool>(bed.mount()), "mount")) return std::uint64_t{0};
    return bed.sim.counters().bytes_read - before;
  };
  const std::uint64_t read_a = mount_read(a), read_b = mount_read(b);
  const std::uint32_t record = align_up(8 + 3 + 17, 4);
  INFO("mount read " << read_a << " B with the flag, " << read_b << " B without");
  CHECK(read_b - read_a == 16u * record);
  for (int i = 0; i <= n; ++i) {
    CHECK(a.get(key(i)) == value(i));
    CHECK(b.get(key(i)) == value(i));
  }
}

TEST_CASE("a write a power cut left weak stays refused when the SKIP written past it is torn in turn",
          "[log][powerloss][mount][skip]") {
  // With no sector free (collection under way), the first write after a
  // mount that found the head's last record unstable is a SKIP past it
  // (FORMAT.md §3.3). A second cut tears that SKIP, so the record is
  // followed by damage instead of erased bytes: it must still read back
  // identically several times before it counts (FORMAT.md §5 step 3), or a
  // later mount shows the value the first one showed torn. (The record as
  // in the test above: whole but for one weak bit, when the cut is kind.)
  const auto g = rig::geometry(2, 1024, 4);
  std::size_t torn_skips = 0, failures = 0;
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    for (std::uint64_t cut = 0; cut < 6; ++cut) {
      Bed b(g, 64, seed);
      if (!rig::weak_put_in_full_store(b, cut)) continue;
      b.reboot();
      NEED(b.mount());
      const std::string first = b.get("K");
      if (!b.store->stats().head_sealed || !rig::no_sector_free(*b.store)) continue;
      // The next write begins with the SKIP: cut it.
      const std::vector<std::byte> before(b.sim.image().begin(), b.sim.image().end());
      b.sim.cut_power_at(b.sim.mutating_ops());
      (void)b.put("M", "after the skip");
      if (!b.sim.power_is_lost() || std::equal(before.begin(), before.end(), b.sim.image().begin())) continue;
      ++torn_skips;
      for (int m = 0; m < 24; ++m) {
        b.reboot();
        NEED(b.mount());
        const std::string again = b.get("K");
        if (again != first) {
          if (++failures <= 3)
            FAIL_CHECK("seed " << seed << " cut " << cut << ": K read '" << first << "' at the first mount, '" << again
                             << "' at mount " << m + 2 << ", after the SKIP past it was torn");
          break;
        }
      }
    }
  }
  std::printf("campaign weak-record-torn-skip: %zu cases, %zu failures\n", torn_skips, failures);
  CHECK(torn_skips >= 100);
  CHECK(failures == 0);
}
