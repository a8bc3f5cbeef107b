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

/// `b`'s put, which made `a` and `b` share a hash, went to a new sector
/// without bit 4 and left no SHARED record in sector 0; both keys read back
/// after a remount.
void check_moved_to_new_sector(Rig& r, const std::string& a, const std::string& b) {
  CHECK(shared_records(r, 0) == 0);
  CHECK(head_sector(r) != 0);
  CHECK_FALSE(says_unique(r, head_sector(r)));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get(a) == "first");
  CHECK(r.get(b) == "second");
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
  check_moved_to_new_sector(r, a, b);
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

namespace {

/// Writes FORMAT.md's bytes into a blank image by hand: a plain store, 4-byte
/// unit, no compact records.
struct ImageWriter {
  Rig& r;
  std::uint32_t store_id = 0x51ED;

  void put32(std::uint32_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) r.sim.raw()[at + i] = static_cast<std::byte>(v >> (8 * i));
  }
  static std::array<std::byte, 4> bytes32(std::uint32_t v) {
    return {static_cast<std::byte>(v), static_cast<std::byte>(v >> 8), static_cast<std::byte>(v >> 16),
            static_cast<std::byte>(v >> 24)};
  }
  /// §2: a header (flags, sequence, tail) at the start of `sector`.
  void header(std::uint32_t sector, std::uint8_t flags, std::uint32_t sequence, std::uint32_t tail) {
    const ferrite::Geometry& g = r.store->geometry();
    const std::uint32_t at = g.sector_offset(sector);
    std::uint32_t geometry_crc = 0;
    for (const std::uint32_t v : {g.sector_count(), g.sector_size(0)}) geometry_crc = ferrite::crc32c(bytes32(v), geometry_crc);
    put32(at, 0x74526546u);
    r.sim.raw()[at + 4] = std::byte{1};
    r.sim.raw()[at + 5] = std::byte{2};
    r.sim.raw()[at + 6] = std::byte{0xFF};
    r.sim.raw()[at + 7] = static_cast<std::byte>(flags);
    put32(at + 8, sequence);
    put32(at + 12, tail);
    put32(at + 16, 1);
    put32(at + 20, store_id);
    put32(at + 24, geometry_crc);
    put32(at + 28, ferrite::crc32c(std::span<const std::byte>(r.sim.raw().subspan(at, 28))));
  }
  /// §3.1: a full record at `offset` of `sector` (sequence `sequence`);
  /// returns the offset after it.
  std::uint32_t record(std::uint32_t sector, std::uint32_t sequence, std::uint32_t offset, std::uint32_t kind,
                       std::uint32_t key_field, std::span<const std::byte> key, std::span<const std::byte> value) {
    const std::uint32_t at = r.store->geometry().sector_offset(sector) + offset;
    const std::uint32_t w = 0x80u | kind << 8 | key_field << 11 | static_cast<std::uint32_t>(value.size()) << 17;
    std::uint32_t crc = ferrite::crc32c(bytes32(sequence));
    crc = ferrite::crc32c(bytes32(offset), crc);
    crc = ferrite::crc32c(bytes32(w), crc);
    crc = ferrite::crc32c(key, crc);
    crc = ferrite::crc32c(value, crc);
    put32(at, w);
    put32(at + 4, crc);
    std::copy(key.begin(), key.end(), r.sim.raw().begin() + at + 8);
    std::copy(value.begin(), value.end(), r.sim.raw().begin() + at + 8 + key.size());
    return offset + (8 + static_cast<std::uint32_t>(key.size() + value.size()) + 3) / 4 * 4;
  }
  std::uint32_t put(std::uint32_t sector, std::uint32_t sequence, std::uint32_t offset, const std::string& key,
                    const std::string& value) {
    return record(sector, sequence, offset, 0, static_cast<std::uint32_t>(key.size() - 1), rig::bytes(key),
                  rig::bytes(value));
  }
};

}  // namespace

TEST_CASE("a record matched by hash alone to a stale entry of another key leaves the live bytes right",
          "[log][hashes][mount]") {
  // A state a writer reaches: c1 put in sector A (sequence 1) and deleted in
  // sector B (2); sector C (3) opened while c1 was live, so its header's tail
  // is 1 and it says hashes are unique (c2 did not exist). Then c2, c1's
  // hash, put in C: c1 was no longer live, so no SHARED record. Collection
  // retired A and B (a RETIRE with tail 3 in C), and both retire markers were
  // cut; B was erased ahead, A not yet. Mount replays A (c1: an entry that is
  // stale, since its DELETE is gone), then C: c2 matches c1's entry by hash
  // alone and takes it over. The entry sizes then come from flash again:
  // c2's name is not c1's length.
  const auto [c1, c2] = colliding_names(1, true)[0];
  REQUIRE(c1.size() != c2.size());
  Rig r(rig::geometry(4, 512, 4), 64, false, false, 1, 32);
  // Without the key order, replay counts the live bytes itself (§5 step 3).
  r.config.order = {};
  r.store.emplace(r.flash, r.config);
  ImageWriter w{r};
  // The old value's length makes a record with the shorter name a multiple
  // of 4 bytes: with the other name it is 4 bytes longer, so counting c1's
  // record at c2's name length would be off.
  const std::size_t shorter = std::min(c1.size(), c2.size());
  const std::string old_value(4 + (4 - (8 + shorter) % 4) % 4, 'o');
  w.header(0, 16, 1, 1);
  w.put(0, 1, 40, c1, old_value);
  w.header(2, 16, 3, 1);
  std::uint32_t at = w.put(2, 3, 40, c2, "new");
  const std::array<std::byte, 4> tail = ImageWriter::bytes32(3);
  at = w.record(2, 3, at, 2, 0, {}, tail);  // META RETIRE (type 0): tail 3
  REQUIRE(r.mount());
  CHECK(r.get(c2) == "new");
  CHECK(r.get(c1) == "!not_found");
  CHECK(r.store->stats().keys == 1);
  CHECK(r.store->stats().live_bytes == (8 + c2.size() + 3 + 3) / 4 * 4);
  // And it goes on: a put, a remount, the same.
  CHECK(r.put(c1, "again"));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get(c1) == "again");
  CHECK(r.get(c2) == "new");
  CHECK(r.store->stats().live_bytes ==
        (8 + c2.size() + 3 + 3) / 4 * 4 + (8 + c1.size() + 5 + 3) / 4 * 4);
}

TEST_CASE("a SHARED record the flash refuses seals the head, and the write that needed it lands in a new sector",
          "[log][hashes]") {
  const auto [a, b] = colliding_names(1)[0];
  Rig r(rig::geometry(4, 1024, 4), 64, false, false, 1, 32);
  REQUIRE(r.format());
  CHECK(r.put(a, "first"));
  REQUIRE(head_sector(r) == 0);
  // The head has room: the next program is the SHARED record before b's.
  r.sim.fail_next(ferrite::FlashOpKind::program, ferrite::Errc::io);
  CHECK(r.put(b, "second"));
  check_moved_to_new_sector(r, a, b);
}
