// Keys that share a key hash (docs/FORMAT.md §2 flag bit 4, §3.3 SHARED,
// §5 step 3). A sector whose writer kept every live key's hash unique says
// so in its header, and mount then matches its records to index entries by
// hash alone; the first write that makes two live keys share a hash ends
// that promise with a SHARED record (or in a new sector). These tests use
// names whose crc32c collide, found by a birthday search.
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
import ferrite.sim;
#include "log_rig.hpp"
#include "crc_collisions.hpp"

using rig::Rig;

namespace {

constexpr unsigned unique_hashes_flag = 16;  // header byte 7, bit 4
// The header word of a SHARED record: valid bit, META (2), type 7, no value.
constexpr std::uint32_t shared_word = 0x80u | 2u << 8 | 7u << 11;

std::uint32_t le32(std::span<const std::byte> image, std::size_t at) {
  return std::to_integer<std::uint32_t>(image[at]) | std::to_integer<std::uint32_t>(image[at + 1]) << 8 |
         std::to_integer<std::uint32_t>(image[at + 2]) << 16 | std::to_integer<std::uint32_t>(image[at + 3]) << 24;
}

/// The sector holding the header with `sequence`, or -1.
int sector_with_sequence(const Rig& r, std::uint32_t sequence) {
  const ferrite::Geometry& g = r.store->geometry();
  for (std::uint32_t s = 0; s < g.sector_count(); ++s)
    if (le32(r.sim.image(), g.sector_offset(s)) == 0x74526546u && le32(r.sim.image(), g.sector_offset(s) + 8) == sequence)
      return static_cast<int>(s);
  return -1;
}

/// The sector with the highest sequence: the head.
std::uint32_t head_sector(const Rig& r) {
  const ferrite::Geometry& g = r.store->geometry();
  std::uint32_t best = 0, best_sequence = 0;
  for (std::uint32_t s = 0; s < g.sector_count(); ++s)
    if (le32(r.sim.image(), g.sector_offset(s)) == 0x74526546u &&
        le32(r.sim.image(), g.sector_offset(s) + 8) > best_sequence) {
      best = s;
      best_sequence = le32(r.sim.image(), g.sector_offset(s) + 8);
    }
  return best;
}

/// The head's bytes after its last written unit (no record here ends in an erased byte).
std::uint32_t head_room(const Rig& r) {
  const ferrite::Geometry& g = r.store->geometry();
  const std::uint32_t s = head_sector(r), base = g.sector_offset(s);
  std::uint32_t end = g.sector_size(s);
  while (end > 0 && r.sim.image()[base + end - 1] == g.erased_byte()) --end;
  return g.sector_size(s) - (end + 3) / 4 * 4;
}

bool says_unique(const Rig& r, std::uint32_t sector) {
  return (std::to_integer<unsigned>(r.sim.image()[r.store->geometry().sector_offset(sector) + 7]) &
          unique_hashes_flag) != 0;
}

/// How many SHARED records `sector` holds (records start at 40 with a 4-byte
/// unit: the header, then the retire marker).
int shared_records(const Rig& r, std::uint32_t sector) {
  const ferrite::Geometry& g = r.store->geometry();
  int n = 0;
  for (std::uint32_t at = 40; at + 4 <= g.sector_size(sector); at += 4)
    if (le32(r.sim.image(), g.sector_offset(sector) + at) == shared_word) ++n;
  return n;
}

std::string value_of(const std::string& key, int i) { return key + "=" + std::to_string(i) + std::string(i % 7, '+'); }

}  // namespace

TEST_CASE("two live keys with one hash keep their own values at every mount, through collections",
          "[log][hashes]") {
  const auto [a, b] = colliding_names(1)[0];
  REQUIRE(key_hash(a) == key_hash(b));
  Rig r(rig::geometry(4, 1024, 4), 64, true, false, 1, 32);
  REQUIRE(r.format());
  CHECK(says_unique(r, 0));
  CHECK(r.put("other", "x"));
  CHECK(r.put(a, value_of(a, 0)));
  CHECK(shared_records(r, 0) == 0);
  // b's hash is a's: sector 0 said hashes were unique, so a SHARED record
  // goes first.
  CHECK(r.put(b, value_of(b, 0)));
  CHECK(shared_records(r, 0) == 1);
  std::map<std::string, std::string> model{{"other", "x"}, {a, value_of(a, 0)}, {b, value_of(b, 0)}};
  int checks = 0;
  for (int i = 1; i <= 240; ++i) {
    const std::string& k = i % 3 == 0 ? b : a;
    CHECK(r.put(k, value_of(k, i)));
    model[k] = value_of(k, i);
    if (i % 20 == 0) {
      r.reboot();
      REQUIRE(r.mount());
      for (const auto& [key, value] : model) CHECK(r.get(key) == value);
      ++checks;
    }
  }
  CHECK(checks == 12);
  // The log went round: sectors were collected and reopened.
  CHECK(le32(r.sim.image(), r.store->geometry().sector_offset(head_sector(r)) + 8) > 6);
  // While both live, no sector opened after says hashes are unique.
  for (std::uint32_t s = 0; s < 4; ++s) {
    const std::uint32_t sequence = le32(r.sim.image(), r.store->geometry().sector_offset(s) + 8);
    if (le32(r.sim.image(), r.store->geometry().sector_offset(s)) == 0x74526546u && sequence > 1)
      CHECK_FALSE(says_unique(r, s));
  }
  // One of them deleted: the next sector opened says it again, and the other
  // key reads its own value when its name comes back.
  CHECK(r.erase(b));
  model.erase(b);
  const std::uint32_t head_sequence = le32(r.sim.image(), r.store->geometry().sector_offset(head_sector(r)) + 8);
  for (int i = 0; sector_with_sequence(r, head_sequence + 1) < 0 && i < 100; ++i) {
    CHECK(r.put(a, value_of(a, 1000 + i)));
    model[a] = value_of(a, 1000 + i);
  }
  const int next = sector_with_sequence(r, head_sequence + 1);
  REQUIRE(next >= 0);
  CHECK(says_unique(r, static_cast<std::uint32_t>(next)));
  CHECK(r.put(b, "back"));
  model[b] = "back";
  CHECK(shared_records(r, static_cast<std::uint32_t>(next)) == 1);
  r.reboot();
  REQUIRE(r.mount());
  for (const auto& [key, value] : model) CHECK(r.get(key) == value);
}

TEST_CASE("a write that makes two keys share a hash in a head too full for a SHARED record opens a new sector",
          "[log][hashes]") {
  const auto [a, b] = colliding_names(1)[0];
  Rig r(rig::geometry(4, 1024, 4), 64, false, false, 1, 64);
  REQUIRE(r.format());
  CHECK(r.put(a, "first"));
  // Fill sector 0 until b's record fits and the SHARED record before it
  // (8 bytes) does not: room = b's record + 4.
  const std::uint32_t b_record = (8 + static_cast<std::uint32_t>(b.size()) + 6 + 3) / 4 * 4;
  const std::uint32_t target = b_record + 4;
  for (int n = 0; head_sector(r) == 0 && head_room(r) > target && n < 50; ++n) {
    // Filler "g" + a letter: a record of 10 + its value's length bytes, 12 to 72.
    const std::uint32_t over = head_room(r) - target;
    const std::uint32_t size = over <= 72 ? over : std::min<std::uint32_t>(72, over - 12);
    CHECK(r.put(std::string{'g', static_cast<char>('A' + n)}, std::string(size - 10, 'w')));
  }
  REQUIRE(head_sector(r) == 0);
  REQUIRE(head_room(r) == target);
  CHECK(r.put(b, "second"));
  // Sector 0 took neither: b opened the next sector, which does not say
  // hashes are unique.
  CHECK(shared_records(r, 0) == 0);
  CHECK(head_sector(r) != 0);
  CHECK_FALSE(says_unique(r, head_sector(r)));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get(a) == "first");
  CHECK(r.get(b) == "second");
}

TEST_CASE("mount matches a record to its key by hash alone, without reading names, where the header says hashes "
          "are unique",
          "[log][hashes][mount]") {
  // The same image with and without flag bit 4 in sector 0 (its crc fixed):
  // without it, each record of an indexed key costs the binding's header word
  // and name, 4 + 5 bytes for "alpha".
  Rig r(rig::geometry(3, 2048, 4), 64, false, false, 1, 32);
  REQUIRE(r.format());
  constexpr int updates = 20;
  for (int i = 0; i <= updates; ++i) CHECK(r.put("alpha", "v" + std::to_string(100 + i)));
  CHECK(r.put("beta", "last"));
  REQUIRE(says_unique(r, 0));
  const auto mount_read = [&] {
    r.reboot();
    const std::uint64_t before = r.sim.counters().bytes_read;
    REQUIRE(r.mount());
    CHECK(r.get("alpha") == "v" + std::to_string(100 + updates));
    CHECK(r.get("beta") == "last");
    return r.sim.counters().bytes_read - before;
  };
  const std::uint64_t with_flag = mount_read();
  // Clear bit 4 and fix the crc (FORMAT.md §2: over bytes 0..27).
  std::span<std::byte> raw = r.sim.raw();
  raw[7] &= ~std::byte{unique_hashes_flag};
  const std::uint32_t crc = ferrite::crc32c(std::span<const std::byte>(raw.first(28)));
  for (int i = 0; i < 4; ++i) raw[28 + i] = static_cast<std::byte>(crc >> (8 * i));
  const std::uint64_t without_flag = mount_read();
  INFO("mount read " << with_flag << " B with bit 4, " << without_flag << " B without");
  CHECK(without_flag - with_flag == updates * (4u + 5u));
}
