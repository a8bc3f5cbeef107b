// ferrite.inspect's walk and `ferrite dump` (docs/DUMP.md): what a walk
// reports for images the engine wrote, and a campaign of hostile images.
//
// campaign dump-walk-fuzz walks random garbage images (random geometries,
// random bytes, some with valid headers planted), images the engine wrote
// with records planted whose checksums verify but whose header words are
// hostile (any kind, slot and lengths, up to past the sector's end), and
// images the engine wrote with bytes overwritten, bits flipped or sectors
// copied over others. A case
// fails when the walk breaks an invariant: the entries of a walked sector
// must tile its record area from its start, in order, without overlap, each
// inside the area; every sector appears once in log order; the dump must
// return 0 or 1. Under AddressSanitizer any read outside the image aborts.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.txn;
import ferrite.sim;
import ferrite.inspect;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#include "campaign_scale.hpp"
#include "dump.hpp"
#include "dump_images.hpp"
#include "fuzz/dump_walk_driver.hpp"

namespace in = ferrite::inspect;
using rig::Rig;

namespace {

in::Image walk_of(Rig& r) { return in::walk(r.sim.geometry(), r.sim.image()); }

const in::Sector& sector_at(const in::Image& image, std::uint32_t index) {
  for (const in::Sector& s : image.sectors)
    if (s.index == index) return s;
  std::abort();
}

std::string key_of(const in::Item& it) {
  return std::string(reinterpret_cast<const char*>(it.key.data()), it.key.size());
}

void put32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}

/// Records with checksums that verify but hostile header words (any kind,
/// slot, key and value length), at unit boundaries of sector `sector` of a
/// valid image, the last ones reaching past the sector's end: crcs cover
/// what lies within the image.
void plant_records(std::vector<std::byte>& bytes, const ferrite::Geometry& g, std::uint32_t sector, rig::Random& rnd) {
  const std::uint32_t base = g.sector_offset(sector), size = g.sector_size(sector), unit = g.program_unit();
  std::uint32_t sequence = 0;
  for (int i = 0; i < 4; ++i) sequence |= std::uint32_t{static_cast<std::uint8_t>(bytes[base + 8 + i])} << (8 * i);
  const std::uint32_t n = 1 + rnd.below(6);
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t offset = (k + 1 == n ? size - std::max(8u, unit) * (1 + rnd.below(4)) : rnd.below(size)) / unit * unit;
    if (offset < 8 || offset + 8 > size) continue;
    std::uint32_t w;
    if (rnd.below(3) == 0) {
      // A compact record: byte 0 is a slot.
      w = 1 + rnd.below(126) + (static_cast<std::uint32_t>(rnd.next()) & 0xFFFFFF00u);
    } else {
      const std::uint32_t value_len = rnd.below(2) ? rnd.below(64) : rnd.below(32768);
      w = rnd.below(128) | 0x80u | (rnd.below(8) << 8) | (rnd.below(64) << 11) | (value_len << 17);
    }
    put32(bytes, base + offset, w);
    if ((w & 0x80u) == 0) continue;
    const std::uint32_t kind = (w >> 8) & 7u, key_field = (w >> 11) & 0x3Fu, value_len = w >> 17;
    const std::uint32_t key_len = kind == 2 || kind == 5 ? 0 : key_field + 1;
    const std::uint64_t body_end = std::min<std::uint64_t>(std::uint64_t{offset} + 8 + key_len + value_len, size);
    std::vector<std::byte> covered(16);
    put32(covered, 0, sequence);
    put32(covered, 4, offset);
    put32(covered, 8, w);
    covered.resize(12);
    covered.insert(covered.end(), bytes.begin() + base + offset + 8, bytes.begin() + base + body_end);
    put32(bytes, base + offset + 4, ferrite::crc32c(covered));
  }
}

}  // namespace

TEST_CASE("A walk of a new store shows one live sector holding nothing and blank ones") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  const in::Image image = walk_of(r);
  REQUIRE(image.store);
  CHECK(image.store->newest_sequence == 1);
  CHECK(image.sectors.size() == 3);
  CHECK(image.sectors[0].state == in::SectorState::live);
  CHECK(image.sectors[0].items.empty());
  CHECK(image.sectors[0].end == in::EndState::blank);
  CHECK(image.sectors[0].records_start == 40);
  CHECK(image.sectors[1].state == in::SectorState::blank);
  CHECK(image.clean());
}

TEST_CASE("A walk lists full, compact and typed records with their keys, values and bindings") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  CHECK(r.put("alpha", "1234"));
  CHECK(r.put("alpha", "5678"));
  CHECK(ferrite::sync_wait(r.store->put_as("n", std::uint32_t{7})));
  CHECK(r.erase("alpha"));
  const in::Image image = walk_of(r);
  const auto& items = image.sectors[0].items;
  REQUIRE(items.size() == 4);
  CHECK(in::kind_name(items[0].kind) == "PUT");
  CHECK(key_of(items[0]) == "alpha");
  CHECK(items[0].slot != 0);
  CHECK(items[1].form == in::Form::compact);
  CHECK(items[1].binding == items[0].offset);
  CHECK(key_of(items[1]) == "alpha");
  CHECK(std::string(reinterpret_cast<const char*>(items[1].value.data()), 4) == "5678");
  CHECK(in::kind_name(items[2].kind) == "TYPED_PUT");
  CHECK(static_cast<int>(items[2].value[0]) == 5);  // u32
  CHECK(in::kind_name(items[3].kind) == "DELETE");
  CHECK(image.clean());
}

TEST_CASE("A walk groups a committed batch under its commit record") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  ferrite::Transaction t(*r.store);
  CHECK(ferrite::sync_wait(t.put("a", "1")));
  CHECK(ferrite::sync_wait(t.put("b", "2")));
  CHECK(ferrite::sync_wait(t.commit()));
  const in::Image image = walk_of(r);
  const auto& items = image.sectors[0].items;
  REQUIRE(items.size() == 3);
  CHECK(items[0].txn == in::TxnState::committed);
  CHECK(items[0].commit == items[2].offset);
  CHECK(items[1].txn == in::TxnState::committed);
  CHECK(in::kind_name(items[2].kind) == "TXN_COMMIT");
  CHECK(image.clean());
}

TEST_CASE("A batch cut before its commit reads as uncommitted and a torn tail") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  ferrite::Transaction t(*r.store);
  CHECK(ferrite::sync_wait(t.put("a", "1")));
  CHECK(ferrite::sync_wait(t.put("b", "2")));
  r.sim.cut_power_at(r.sim.mutating_ops() + 2);  // the commit's program
  CHECK_FALSE(ferrite::sync_wait(t.commit()));
  const in::Image image = walk_of(r);
  const in::Sector& s = image.sectors[0];
  REQUIRE(s.items.size() >= 2);
  CHECK(s.items[0].txn == in::TxnState::uncommitted);
  CHECK(s.items[1].txn == in::TxnState::uncommitted);
  CHECK(s.uncommitted_batches == 1);
  CHECK(s.end == in::EndState::torn);
  CHECK_FALSE(image.clean());
}

TEST_CASE("Damage before a good record is corrupt, damage at the end is a torn tail") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  CHECK(r.put("first", "value one"));
  CHECK(r.put("second", "value two"));
  r.sim.raw()[40 + 9] ^= std::byte{0x10};  // inside the first record's key
  in::Image image = walk_of(r);
  const in::Sector* s = &sector_at(image, 0);
  REQUIRE(s->items.size() == 2);
  CHECK(s->items[0].damage);
  CHECK(s->items[0].why == in::Damage::crc_mismatch);
  CHECK_FALSE(s->items[0].torn);
  CHECK(s->corrupt_runs == 1);
  CHECK(key_of(s->items[1]) == "second");
  r.sim.raw()[s->items[1].offset + 9] ^= std::byte{0x10};
  image = walk_of(r);
  s = &sector_at(image, 0);
  REQUIRE(s->items.size() == 1);
  CHECK(s->items[0].torn);
  CHECK(s->end == in::EndState::torn);
}

TEST_CASE("Garbage collection leaves retired sectors after the live ones in log order") {
  Rig r(rig::geometry(3, 1024, 4));
  CHECK(r.format());
  for (int i = 0; i < 60; ++i) CHECK(r.put("k" + std::to_string(i % 5), std::string(40, static_cast<char>('a' + i % 26))));
  const in::Image image = walk_of(r);
  REQUIRE(image.store);
  std::uint32_t previous = 0;
  bool seen_retired = false;
  for (const in::Sector& s : image.sectors) {
    if (s.state == in::SectorState::live) {
      CHECK_FALSE(seen_retired);
      CHECK(s.header.sequence > previous);
      previous = s.header.sequence;
    }
    seen_retired = seen_retired || s.state == in::SectorState::retired;
  }
  CHECK(image.store->tail > 1);
}

#if FERRITE_HAVE_CRYPTO
TEST_CASE("A sealed store's walk lists its records by their framing, after its OPEN, with its crypto block") {
  ferrite::Sealer sealer;
  REQUIRE(sealer.use_key(test_key(1)));
  Rig r(rig::geometry(3, 4096, 4), 64, false, false, 1, 256, &sealer);
  CHECK(r.format());
  CHECK(r.put("alpha", "secret value"));
  CHECK(r.erase("alpha"));
  const in::Image image = walk_of(r);
  REQUIRE(image.store);
  CHECK(image.store->sealed());
  const in::Sector& s = image.sectors[0];
  REQUIRE(s.crypto);
  CHECK(s.crypto->crc_ok);
  CHECK(s.crypto->same_as_newest);
  CHECK(s.records_start == 104);
  CHECK(s.records_end == 4096 - 36);
  REQUIRE(s.items.size() == 3);
  CHECK(in::kind_name(s.items[0].kind) == "META");
  CHECK(in::meta_name(s.items[0].key_field) == "OPEN");
  CHECK(s.items[1].value_size == 24 + 3 + 12);  // salt and tag, frame, value
  CHECK(in::kind_name(s.items[2].kind) == "DELETE");
  CHECK_FALSE(s.end_slot);
  CHECK(image.clean());
}
#endif

TEST_CASE("The text dump lists every sector and record and ends with its verdict") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  CHECK(r.put("alpha", "1234"));
  CHECK(r.put("alpha", "5678"));
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  CHECK(ferrite::tool::dump(r.sim.geometry(), r.flash, ferrite::tool::DumpFormat::text, f) == 0);
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  if (std::getenv("FERRITE_SHOW_DUMP")) std::printf("%s", text.c_str());
  CHECK(text.find("sector 0 @0x0 (2048 bytes): live") != std::string::npos);
  CHECK(text.find("sector 2 @0x1000 (2048 bytes): blank") != std::string::npos);
  CHECK(text.find("\"alpha\"") != std::string::npos);
  CHECK(text.find("binding @40") != std::string::npos);
  CHECK(text.find(": clean\n") != std::string::npos);
}

TEST_CASE("The dump returns 2 when the geometry does not cover the flash") {
  Rig r(rig::geometry(3, 2048, 4));
  CHECK(r.format());
  const ferrite::Geometry other = rig::geometry(4, 2048, 4);
  std::FILE* sink = std::fopen("/dev/null", "w");
  REQUIRE(sink);
  CHECK(ferrite::tool::dump(other, r.flash, ferrite::tool::DumpFormat::json, sink) == 2);
  CHECK(ferrite::tool::dump(r.sim.geometry(), r.flash, ferrite::tool::DumpFormat::text, sink) == 0);
  std::fclose(sink);
}

TEST_CASE("campaign dump-walk-fuzz: hostile images never break a walk", "[campaign]") {
  const std::size_t cases = static_cast<std::size_t>(5000 * campaign::campaign_scale());
  std::size_t failures = 0;
  std::FILE* sink = std::fopen("/dev/null", "w");
  REQUIRE(sink);
  // A few engine-written images to mutate.
  std::vector<dump_images::Image> valid;
  for (std::uint64_t n = 0; n < 24; ++n) valid.push_back(dump_images::make(n));
  rig::Random rnd(0xF422);
  for (std::size_t c = 0; c < cases; ++c) {
    std::optional<ferrite::Geometry> g;
    std::vector<std::byte> bytes;
    if (c % 3 == 0) {
      // Random garbage on a random small geometry, sometimes with headers.
      static constexpr std::array<std::uint32_t, 6> units = {1, 2, 4, 8, 16, 32};
      const std::uint32_t unit = units[rnd.below(6)];
      const std::uint32_t size = unit * (1 + rnd.below(4096 / unit));
      auto made = ferrite::Geometry::uniform(1 + rnd.below(4), size, unit,
                                             rnd.below(2) ? ferrite::EraseValue::ones : ferrite::EraseValue::zeros);
      if (!made) continue;
      g = *made;
      bytes.resize(g->total_size());
      const std::uint32_t fill = rnd.below(3);
      for (std::byte& b : bytes)
        b = fill == 0 ? static_cast<std::byte>(rnd.next()) : (rnd.below(8) ? g->erased_byte() : static_cast<std::byte>(rnd.next()));
      if (rnd.below(2) && c >= 3) {
        // A valid image's first sector spliced in: real headers and records over garbage.
        const auto& v = valid[rnd.below(valid.size())];
        const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(bytes.size()), v.geometry.sector_size(0));
        std::copy_n(v.bytes.begin(), n, bytes.begin());
      }
      if (rnd.below(4) == 0) bytes.resize(rnd.below(static_cast<std::uint32_t>(bytes.size()) + 1));  // short image
    } else if (c % 3 == 1) {
      const auto& v = valid[rnd.below(valid.size())];
      g = v.geometry;
      bytes = v.bytes;
      for (std::uint32_t s = 0; s < g->sector_count(); ++s)
        if (rnd.below(2)) plant_records(bytes, *g, s, rnd);
    } else {
      const auto& v = valid[rnd.below(valid.size())];
      g = v.geometry;
      bytes = v.bytes;
      const std::uint32_t edits = 1 + rnd.below(12);
      for (std::uint32_t e = 0; e < edits; ++e) {
        const std::uint32_t at = rnd.below(static_cast<std::uint32_t>(bytes.size()));
        switch (rnd.below(4)) {
          case 0: bytes[at] ^= static_cast<std::byte>(1u << rnd.below(8)); break;
          case 1: {
            const std::uint32_t n = std::min<std::uint32_t>(1 + rnd.below(64), static_cast<std::uint32_t>(bytes.size()) - at);
            for (std::uint32_t i = 0; i < n; ++i) bytes[at + i] = static_cast<std::byte>(rnd.next());
            break;
          }
          case 2: {
            const std::uint32_t n = std::min<std::uint32_t>(1 + rnd.below(256), static_cast<std::uint32_t>(bytes.size()) - at);
            std::fill_n(bytes.begin() + at, n, g->erased_byte());
            break;
          }
          default: {
            const std::uint32_t from = rnd.below(g->sector_count()), to = rnd.below(g->sector_count());
            const std::uint32_t n = std::min(g->sector_size(from), g->sector_size(to));
            std::copy_n(v.bytes.begin() + g->sector_offset(from), n, bytes.begin() + g->sector_offset(to));
          }
        }
      }
    }
    const in::Image image = in::walk(*g, bytes);
    std::string why = dump_walk::broken_invariant(*g, image);
    if (why.empty()) {
      std::vector<std::byte> full = bytes;
      full.resize(g->total_size(), g->erased_byte());
      ferrite::sim::SimFlash sim(*g);
      sim.load_image(full);
      ferrite::Flash flash(sim);
      const int code = ferrite::tool::dump(*g, flash, c % 2 ? ferrite::tool::DumpFormat::json
                                                          : ferrite::tool::DumpFormat::text, sink);
      if (code != 0 && code != 1) why = "dump exit code " + std::to_string(code);
    }
    if (!why.empty()) {
      ++failures;
      if (failures <= 5) std::printf("dump-walk-fuzz case %zu: %s\n", c, why.c_str());
    }
  }
  std::fclose(sink);
  std::printf("campaign dump-walk-fuzz: %zu cases, %zu failures\n", cases, failures);
  CHECK(failures == 0);
}

namespace {

/// The SKIP item of a walk and its sector, if any.
std::pair<const in::Sector*, std::size_t> find_skip(const in::Image& image) {
  for (const in::Sector& s : image.sectors)
    for (std::size_t i = 0; i < s.items.size(); ++i)
      if (!s.items[i].damage && s.items[i].form == in::Form::full && s.items[i].kind == 2 &&
          in::meta_name(s.items[i].key_field) == "SKIP")
        return {&s, i};
  return {nullptr, 0};
}

/// A plain two-sector store whose head a cut tore while collection held the
/// only free sector after its first record, mounted and written again: the
/// write lands after a SKIP.
/// Searches the cut; none when no cut tore it so.
std::unique_ptr<Rig> full_store_written_past_a_torn_head() {
  for (std::uint64_t cut = 0; cut < 2000; ++cut) {
    auto made = std::make_unique<Rig>(rig::geometry(2, 1024, 4), 64, false);
    Rig& r = *made;
    if (!r.format()) return nullptr;
    r.sim.cut_power_at(r.sim.mutating_ops() + cut);
    bool cut_hit = false;
    for (int i = 0; i < 200 && !cut_hit; ++i)
      cut_hit = !r.put("k" + std::to_string(i % 10), "v" + std::to_string(1000 + i) + std::string(12, 'x'));
    if (!cut_hit) return nullptr;
    r.reboot();
    if (!r.mount()) continue;
    const auto stats = r.store->stats();
    if (stats.free_sectors != 0 || !stats.head_sealed) continue;
    if (!r.put("after", "the skip")) continue;
    // A head with no good record is erased and opened again instead (§5).
    if (find_skip(walk_of(r)).first == nullptr) continue;
    return made;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("A bad region a SKIP closes reads as a torn write, and the walk goes on after it") {
  std::unique_ptr<Rig> r = full_store_written_past_a_torn_head();
  REQUIRE(r != nullptr);
  const in::Image image = walk_of(*r);
  const auto [s, at] = find_skip(image);
  REQUIRE(s != nullptr);
  REQUIRE(at > 0);
  const in::Item& skip = s->items[at];
  CHECK(skip.key_field == 6);
  REQUIRE(skip.value.size() == 4);
  const std::uint32_t from = std::to_integer<std::uint32_t>(skip.value[0]) |
                             std::to_integer<std::uint32_t>(skip.value[1]) << 8 |
                             std::to_integer<std::uint32_t>(skip.value[2]) << 16 |
                             std::to_integer<std::uint32_t>(skip.value[3]) << 24;
  CHECK(from > s->records_start);
  CHECK(from <= skip.offset);
  CHECK(s->items[at - 1].damage);
  CHECK(s->items[at - 1].torn);
  CHECK(s->corrupt_runs == 0);
  bool after_found = false;
  for (std::size_t i = at + 1; i < s->items.size(); ++i) after_found = after_found || key_of(s->items[i]) == "after";
  CHECK(after_found);
  CHECK(s->end != in::EndState::torn);
}

TEST_CASE("A SKIP whose from lies past the last good record closes nothing: the damage is corrupt") {
  std::unique_ptr<Rig> r = full_store_written_past_a_torn_head();
  REQUIRE(r != nullptr);
  in::Image image = walk_of(*r);
  auto [s, at] = find_skip(image);
  REQUIRE(s != nullptr);
  // Rewrite the SKIP's `from` to its own offset (past the damage) with a crc
  // that verifies: FORMAT.md §3.3 says it covers nothing then.
  const ferrite::Geometry& g = r->sim.geometry();
  const std::size_t base = g.sector_offset(s->index);
  const std::uint32_t offset = s->items[at].offset;
  const std::span<std::byte> bytes = r->sim.raw();
  for (int i = 0; i < 4; ++i) bytes[base + offset + 8 + i] = static_cast<std::byte>(offset >> (8 * i));
  std::vector<std::byte> covered(12);
  put32(covered, 0, s->header.sequence);
  put32(covered, 4, offset);
  covered[8] = bytes[base + offset];
  covered[9] = bytes[base + offset + 1];
  covered[10] = bytes[base + offset + 2];
  covered[11] = bytes[base + offset + 3];
  covered.insert(covered.end(), bytes.begin() + base + offset + 8, bytes.begin() + base + offset + 12);
  const std::uint32_t crc = ferrite::crc32c(covered);
  for (int i = 0; i < 4; ++i) bytes[base + offset + 4 + i] = static_cast<std::byte>(crc >> (8 * i));
  image = walk_of(*r);
  std::tie(s, at) = find_skip(image);
  REQUIRE(s != nullptr);
  CHECK(s->items[at - 1].damage);
  CHECK_FALSE(s->items[at - 1].torn);
  CHECK(s->corrupt_runs == 1);
}
