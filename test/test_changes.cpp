// The change stream: Store::lsn(), oldest_lsn(), changes_since() and the
// ChangeCursor it returns, against what was written, and a randomized
// differential campaign: changes applied to a remembered state must give the
// current one.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.txn;
import ferrite.sim;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#include "campaign_scale.hpp"
#include "log_rig.hpp"

using ferrite::Errc;
using ferrite::ValueType;
using rig::Rig;

namespace {

struct Change {
  std::string key;
  bool erased = false;
  ValueType type = ValueType::untyped;
  std::string value;
  std::uint64_t lsn = 0;
  bool operator==(const Change& o) const {
    return key == o.key && erased == o.erased && type == o.type && value == o.value;
  }
};

/// Every change a cursor yields until it answers false, or the first error.
struct Feed {
  std::vector<Change> changes;
  Errc error = Errc::ok;
};

Errc step(ferrite::ChangeCursor& c, Feed& feed) {
  auto more = ferrite::sync_wait(c.next());
  if (!more) return more.error();
  if (!*more) return Errc::cancelled;  // the end: not an error
  Change ch;
  ch.key = std::string(c.key_string());
  ch.erased = c.erased();
  ch.type = c.type();
  ch.lsn = c.lsn();
  if (!c.erased()) {
    std::array<std::byte, 4096> out{};
    auto n = ferrite::sync_wait(c.read_value(out));
    if (!n) return n.error();
    if (*n != c.value_size()) return Errc::corrupt;
    ch.value.assign(reinterpret_cast<const char*>(out.data()), *n);
  }
  feed.changes.push_back(std::move(ch));
  return Errc::ok;
}

void drain(ferrite::ChangeCursor& c, Feed& feed) {
  for (;;) {
    const Errc e = step(c, feed);
    if (e == Errc::cancelled) return;
    if (e != Errc::ok) {
      feed.error = e;
      return;
    }
  }
}

Feed changes_since(Rig& r, std::uint64_t lsn) {
  auto c = r.store->changes_since(lsn);
  Feed feed;
  drain(c, feed);
  return feed;
}

Change put_of(std::string key, std::string value, ValueType type = ValueType::untyped) {
  Change c;
  c.key = std::move(key);
  c.value = std::move(value);
  c.type = type;
  return c;
}
Change erase_of(std::string key) {
  Change c;
  c.key = std::move(key);
  c.erased = true;
  return c;
}
std::string le32(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

Errc commit(ferrite::Store& s, const std::vector<Change>& writes) {
  ferrite::Transaction t(s);
  for (const Change& w : writes) {
    const auto st = w.erased ? ferrite::sync_wait(t.erase(w.key)) : ferrite::sync_wait(t.put(w.key, w.value));
    if (!st) return st.error();
  }
  return ferrite::sync_wait(t.commit()).error();
}

/// Keys and values stripped of positions, for comparisons.
std::vector<Change> plain(std::vector<Change> v) {
  for (Change& c : v) c.lsn = 0;
  return v;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Change> {
  static std::string convert(const Change& c) {
    if (c.erased) return "erase " + c.key;
    return "put " + c.key + "=" + c.value + " (" + ferrite::name_of(c.type) + ")";
  }
};
}  // namespace Catch

TEST_CASE("an empty store yields no change, and LSNs exist only while mounted", "[changes]") {
  Rig r(rig::geometry(3, 4096, 4));
  CHECK(r.store->lsn() == 0);
  CHECK(r.store->oldest_lsn() == 0);
  auto unmounted = r.store->changes_since(0);
  CHECK(ferrite::sync_wait(unmounted.next()).error() == Errc::not_mounted);
  REQUIRE(r.format());
  CHECK(r.store->lsn() >= r.store->oldest_lsn());
  CHECK(r.store->oldest_lsn() != 0);
  const Feed all = changes_since(r, r.store->oldest_lsn());
  CHECK(all.error == Errc::ok);
  CHECK(all.changes.empty());
  const Feed from_end = changes_since(r, r.store->lsn());
  CHECK(from_end.error == Errc::ok);
  CHECK(from_end.changes.empty());
  auto c = r.store->changes_since(r.store->lsn());
  CHECK(ferrite::sync_wait(c.next()).value() == false);
  std::array<std::byte, 8> out{};
  CHECK(ferrite::sync_wait(c.read_value(out)).error() == Errc::invalid_argument);  // stands on nothing
}

TEST_CASE("puts, compact updates, typed puts, erases and a committed batch come back in log order", "[changes]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  const std::uint64_t start = r.store->lsn();
  CHECK(r.put("a", "1"));
  CHECK(r.put("a", "2"));  // same size: a compact record, which names no key
  CHECK(ferrite::sync_wait(r.store->put_as("n", std::uint32_t{7})));
  CHECK(ferrite::sync_wait(r.store->put_as("n", std::uint32_t{8})));  // typed and compact
  CHECK(ferrite::sync_wait(r.store->put_as("s", std::string_view("text"))));
  CHECK(r.erase("a"));
  CHECK(commit(*r.store, {put_of("b", "bee"), put_of("c", ""), erase_of("n")}) == Errc::ok);
  CHECK(r.put("a", "back"));
  const Feed feed = changes_since(r, start);
  CHECK(feed.error == Errc::ok);
  const std::vector<Change> want = {
      put_of("a", "1"), put_of("a", "2"), put_of("n", le32(7), ValueType::u32), put_of("n", le32(8), ValueType::u32),
      put_of("s", "text", ValueType::string), erase_of("a"), put_of("b", "bee"), put_of("c", ""), erase_of("n"),
      put_of("a", "back")};
  CHECK(plain(feed.changes) == want);
  REQUIRE(feed.changes.size() == want.size());
  // Positions grow; the update of "a" took a compact record (4 + 1 bytes,
  // 8 on flash) where its first put took a full one (8 + 1 + 1, 12 on flash).
  for (std::size_t i = 1; i < feed.changes.size(); ++i) CHECK(feed.changes[i].lsn > feed.changes[i - 1].lsn);
  CHECK(feed.changes[1].lsn - feed.changes[0].lsn == 8);
  CHECK(feed.changes.back().lsn == r.store->lsn());
  // The same after a remount (bindings are learnt from the flash, not the index).
  r.reboot();
  REQUIRE(r.mount());
  const Feed again = changes_since(r, start);
  CHECK(again.error == Errc::ok);
  CHECK(plain(again.changes) == want);
}

TEST_CASE("an uncommitted batch (power cut before its commit) never appears", "[changes]") {
  // A cut at each program of the batch: before its commit is whole, mount
  // finds no batch and neither does the feed; a cut that tore the commit
  // after its last byte landed leaves it committed, all of it in the feed.
  const std::vector<Change> batch = {put_of("b", "bee"), erase_of("x"), put_of("c", "sea")};
  bool acknowledged = false;
  int invisible = 0;
  for (std::uint64_t k = 0; k < 16 && !acknowledged; ++k) {
    INFO("cut at program " << k << " of the batch");
    Rig r(rig::geometry(3, 4096, 4));
    REQUIRE(r.format());
    CHECK(r.put("x", "1"));
    const std::uint64_t start = r.store->lsn();
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    acknowledged = commit(*r.store, batch) == Errc::ok;
    r.reboot();
    REQUIRE(r.mount());
    const bool visible = r.get("b") == "bee";
    CHECK(r.get("x") == (visible ? "!not_found" : "1"));
    CHECK(r.get("c") == (visible ? "sea" : "!not_found"));
    CHECK(r.put("d", "dee"));
    std::vector<Change> want = visible ? batch : std::vector<Change>{};
    want.push_back(put_of("d", "dee"));
    const Feed feed = changes_since(r, start);
    CHECK(feed.error == Errc::ok);
    CHECK(plain(feed.changes) == want);
    invisible += visible ? 0 : 1;
  }
  CHECK(acknowledged);    // the loop went past the batch's last program
  CHECK(invisible >= 3);  // cut at each of its writes, at least
}

TEST_CASE("resuming from a change's LSN yields exactly the changes after it", "[changes]") {
  Rig r(rig::geometry(4, 4096, 4));
  REQUIRE(r.format());
  const std::uint64_t start = r.store->lsn();
  rig::Random rnd(11);
  for (int i = 0; i < 120; ++i) {
    const std::string key = "k" + std::to_string(rnd.below(9));
    if (rnd.below(6) == 0) {
      (void)r.erase(key);
    } else if (rnd.below(8) == 0) {
      CHECK(commit(*r.store, {put_of(key, "batch" + std::to_string(i)), put_of("k9", std::to_string(i))}) == Errc::ok);
    } else {
      CHECK(r.put(key, std::string(1 + rnd.below(3), static_cast<char>('a' + i % 26))));
    }
  }
  REQUIRE(r.store->oldest_lsn() <= start);  // nothing collected yet: every change is still there
  const Feed all = changes_since(r, start);
  REQUIRE(all.error == Errc::ok);
  REQUIRE(all.changes.size() > 100);
  for (std::size_t i = 0; i < all.changes.size(); ++i) {
    const Feed rest = changes_since(r, all.changes[i].lsn);
    CHECK(rest.error == Errc::ok);
    CHECK(plain(rest.changes) == plain({all.changes.begin() + static_cast<std::ptrdiff_t>(i) + 1, all.changes.end()}));
  }
  // An LSN inside a record starts at the next one.
  REQUIRE(all.changes.size() >= 3);
  const Feed inside = changes_since(r, all.changes[1].lsn - 4);
  CHECK(inside.error == Errc::ok);
  CHECK(plain(inside.changes) == plain({all.changes.begin() + 2, all.changes.end()}));
}

TEST_CASE("a live feed sees new writes after answering false", "[changes]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("old", "before"));
  auto c = r.store->changes_since(r.store->lsn());
  Feed feed;
  drain(c, feed);
  CHECK(feed.error == Errc::ok);
  CHECK(feed.changes.empty());
  CHECK(c.lsn() == r.store->lsn());
  CHECK(r.put("x", "1"));
  drain(c, feed);
  CHECK(r.put("y", "2"));
  CHECK(r.erase("x"));
  CHECK(commit(*r.store, {put_of("z", "3")}) == Errc::ok);
  drain(c, feed);
  drain(c, feed);  // nothing new: still false
  CHECK(feed.error == Errc::ok);
  CHECK(plain(feed.changes) ==
        std::vector<Change>{put_of("x", "1"), put_of("y", "2"), erase_of("x"), put_of("z", "3")});
  CHECK(c.lsn() == r.store->lsn());
}

TEST_CASE("a feed that keeps up follows sector after sector through garbage collection", "[changes]") {
  struct Shape {
    std::uint32_t sectors, size, unit;
  };
  for (const Shape g : {Shape{2, 8192, 8}, Shape{4, 4096, 4}}) {
    INFO(g.sectors << " x " << g.size << ", unit " << g.unit);
    Rig r(rig::geometry(g.sectors, g.size, g.unit));
    REQUIRE(r.format());
    std::map<std::string, std::string> state, followed;
    auto c = r.store->changes_since(r.store->lsn());
    rig::Random rnd(5);
    Feed feed;
    for (int i = 0; i < 1500 && feed.error == Errc::ok; ++i) {
      const std::string key = "key" + std::to_string(rnd.below(12));
      const std::string value = std::string(1 + rnd.below(i % 7 == 0 ? 90 : 6), static_cast<char>('a' + i % 26));
      REQUIRE(r.put(key, value));
      state[key] = value;
      drain(c, feed);
    }
    CHECK(feed.error == Errc::ok);
    CHECK(r.store->stats().gc_runs > 3);
    for (const Change& ch : feed.changes) followed[ch.key] = ch.value;
    CHECK(followed == state);
  }
}

TEST_CASE("history_lost once collection retired the sector of the LSN, at the first step or between steps", "[changes]") {
  Rig r(rig::geometry(4, 4096, 4));
  REQUIRE(r.format());
  const std::uint64_t start = r.store->lsn();
  CHECK(r.put("first", "1"));
  CHECK(r.put("second", "2"));
  auto standing = r.store->changes_since(start);
  CHECK(ferrite::sync_wait(standing.next()).value() == true);
  CHECK(standing.key_string() == "first");
  auto later = r.store->changes_since(start);  // not stepped yet
  int i = 0;
  while (r.store->oldest_lsn() <= start && i < 5000) {
    REQUIRE(r.put("k" + std::to_string(i % 10), std::string(40, static_cast<char>('a' + i % 26))));
    (void)ferrite::sync_wait(r.store->maintain());
    ++i;
  }
  REQUIRE(r.store->oldest_lsn() > start);
  CHECK(changes_since(r, start).error == Errc::history_lost);
  CHECK(ferrite::sync_wait(later.next()).error() == Errc::history_lost);
  std::array<std::byte, 8> out{};
  CHECK(ferrite::sync_wait(standing.read_value(out)).error() == Errc::history_lost);
  CHECK(ferrite::sync_wait(standing.next()).error() == Errc::history_lost);
  // From the oldest LSN on, everything the log holds.
  const Feed rest = changes_since(r, r.store->oldest_lsn());
  CHECK(rest.error == Errc::ok);
  CHECK_FALSE(rest.changes.empty());
}

TEST_CASE("an LSN beyond the end of the log, or of its sector, is invalid_argument", "[changes]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  const std::uint64_t end = r.store->lsn();
  CHECK(changes_since(r, end + 4).error == Errc::invalid_argument);
  CHECK(changes_since(r, end + (std::uint64_t{1} << 32)).error == Errc::invalid_argument);
  CHECK(changes_since(r, ~std::uint64_t{0}).error == Errc::invalid_argument);
  // A full sector leaves the head: an offset past that sector's size is no position.
  for (int i = 0; r.store->oldest_lsn() >> 32 == r.store->lsn() >> 32; ++i)
    REQUIRE(r.put("k" + std::to_string(i % 8), std::string(60, static_cast<char>('a' + i % 26))));
  CHECK(changes_since(r, r.store->oldest_lsn() | 0x10000u).error == Errc::invalid_argument);
  CHECK(changes_since(r, end).error == Errc::ok);
}

TEST_CASE("an index-less store yields its puts and erases", "[changes]") {
  Rig r(rig::geometry(3, 4096, 4), 0);
  REQUIRE(r.format());
  const std::uint64_t start = r.store->lsn();
  CHECK(r.put("a", "1"));
  CHECK(r.put("a", "2"));
  CHECK(r.erase("a"));
  CHECK(r.put("b", "3"));
  const Feed feed = changes_since(r, start);
  CHECK(feed.error == Errc::ok);
  CHECK(plain(feed.changes) == std::vector<Change>{put_of("a", "1"), put_of("a", "2"), erase_of("a"), put_of("b", "3")});
}

TEST_CASE("a change in bytes a SKIP voids is never yielded, as mount never applies it", "[changes][skip]") {
  // A SKIP voids its sector from `from` up to itself (docs/FORMAT.md §3.3):
  // a power cut tore a write there, and what of it reads right by chance
  // was never written. Here the voided bytes are a whole record, "K" =
  // "new" (a tear whose weak bits all read right): a full record without
  // an index, a compact one with. The SKIP is programmed by hand.
  for (const std::size_t keys : {std::size_t{0}, std::size_t{16}}) {
    if (keys == 0 && !ferrite::index_less_built) continue;
    INFO((keys ? "indexed (compact record)" : "index-less (full record)"));
    Rig r(rig::geometry(2, 1024, 4), keys);
    REQUIRE(r.format());
    const std::uint64_t start = r.store->lsn();
    CHECK(r.put("K", "old"));
    const auto voided_at = static_cast<std::uint32_t>(r.store->lsn());
    CHECK(r.put("K", "new"));
    const auto skip_at = static_cast<std::uint32_t>(r.store->lsn());
    const auto skip = rig::skip_record(1, skip_at, voided_at);
    std::memcpy(r.sim.raw().data() + skip_at, skip.data(), skip.size());

    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.get("K") == "old");
    CHECK(r.store->stats().torn_tails == 1);
    auto c = r.store->changes_since(start);
    Feed feed;
    drain(c, feed);
    CHECK(feed.error == Errc::ok);
    CHECK(plain(feed.changes) == std::vector<Change>{put_of("K", "old")});
    // The same cursor follows the head past the SKIP.
    CHECK(r.put("L", "after"));
    drain(c, feed);
    CHECK(feed.error == Errc::ok);
    CHECK(plain(feed.changes) == std::vector<Change>{put_of("K", "old"), put_of("L", "after")});
  }
}

TEST_CASE("a write a power cut left weak is never yielded once the store writes a SKIP past it", "[changes][skip][powerloss]") {
  // The store's own SKIP (FORMAT.md §3.3): with no sector free, the first
  // write after a mount that found the head's last record unstable is a
  // SKIP past it. That record, "K" = fresh torn by one weak bit, reads right
  // at some reads: a cursor opened before the SKIP was written, which
  // follows the head past it, must step over it as mount did.
  const auto g = rig::geometry(2, 1024, 4);
  const std::string fresh("\xFF\xFF\xFF\xFE", 4);
  std::size_t cases = 0, failures = 0;
  for (std::uint64_t seed = 1; seed <= 4000 && cases < 40; ++seed) {
    for (std::uint64_t cut = 0; cut < 6; ++cut) {
      Rig r(g, 64, true, false, seed, 64);
      if (!rig::weak_put_in_full_store(r, cut)) continue;
      r.reboot();
      REQUIRE(r.mount());
      if (!r.store->stats().head_sealed || !rig::no_sector_free(*r.store) || r.get("K") != "old") continue;
      const std::uint64_t start = r.store->oldest_lsn();  // every change the store still holds
      // Only a record whole but for its weak bit: "K" = fresh at the head's
      // end (header, checksum, "K", value: 13 bytes), the bit in its last
      // byte. Other cuts tore it earlier, or tore a copy collection made.
      const std::uint64_t head = r.store->lsn();
      std::uint32_t last = static_cast<std::uint32_t>(head) + 12;
      for (const ferrite::SectorInfo& info : r.store->sectors()) {
        if (info.sequence == head >> 32) break;
        last += 1024;
      }
      bool whole_but_weak = false;
      for (unsigned bit = 0; bit < 8; ++bit) whole_but_weak = whole_but_weak || r.sim.is_weak(last, bit);
      if (!whole_but_weak || r.sim.image()[last - 4] != std::byte{'K'}) continue;
      ++cases;
      auto c = r.store->changes_since(start);
      Feed feed;
      drain(c, feed);  // up to the head: the torn bytes lie past it
      const bool written = static_cast<bool>(r.put("M", "after the skip"));  // the SKIP, then "M"
      drain(c, feed);
      bool phantom = false, followed = false;
      for (const Change& ch : feed.changes) {
        phantom = phantom || (ch.key == "K" && ch.value == fresh);
        followed = followed || (ch.key == "M" && ch.value == "after the skip");
      }
      if (!written || phantom || !followed || feed.error != Errc::ok) {
        ++failures;
        if (failures <= 3)
          FAIL_CHECK("seed " << seed << " cut " << cut << ": M written " << written << ", phantom " << phantom
                             << ", M followed " << followed << ", error " << static_cast<int>(feed.error));
      }
      // Repeated reads: the weak record reads right at about one in two.
      for (int again = 0; again < 8 && failures == 0; ++again) {
        const Feed whole = changes_since(r, start);
        for (const Change& ch : whole.changes)
          if (ch.key == "K" && ch.value == fresh) ++failures;
      }
    }
  }
  std::printf("campaign changes-runtime-skip: %zu cases, %zu failures\n", cases, failures);
  CHECK(cases >= 10);
  CHECK(failures == 0);
}

#if FERRITE_HAVE_CRYPTO
TEST_CASE("a sealed store yields its values decrypted", "[changes][crypto]") {
  std::array<std::byte, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(3 * i + 1);
  ferrite::SealOptions options;
  options.compression_level = 0;
  ferrite::Sealer sealer(options);
  REQUIRE(sealer.use_key(key));
  Rig r(rig::geometry(3, 8192, 4), 64, true, false, 1, 1024, &sealer);
  REQUIRE(r.format());
  const std::uint64_t start = r.store->lsn();
  CHECK(r.put("a", "secret one"));
  CHECK(r.put("a", "secret two"));
  CHECK(ferrite::sync_wait(r.store->put_as("n", std::uint32_t{42})));
  CHECK(r.erase("a"));
  CHECK(commit(*r.store, {put_of("b", "in a batch"), erase_of("n")}) == Errc::ok);
  const std::vector<Change> want = {put_of("a", "secret one"), put_of("a", "secret two"),
                                    put_of("n", le32(42), ValueType::u32), erase_of("a"),
                                    put_of("b", "in a batch"), erase_of("n")};
  const Feed feed = changes_since(r, start);
  CHECK(feed.error == Errc::ok);
  CHECK(plain(feed.changes) == want);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(plain(changes_since(r, start).changes) == want);
  // OPEN records and the rest of the sealed bookkeeping are not changes.
  CHECK(plain(changes_since(r, r.store->oldest_lsn()).changes) == want);
}

TEST_CASE("a sealed store that hides key names has no change stream", "[changes][crypto]") {
  std::array<std::byte, 32> key{};
  ferrite::SealOptions options;
  options.hide_keys = true;
  ferrite::Sealer sealer(options);
  REQUIRE(sealer.use_key(key));
  Rig r(rig::geometry(3, 8192, 4), 64, true, false, 1, 1024, &sealer);
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  // What it stores is a keyed hash of each name: no change could say which key it wrote.
  CHECK(changes_since(r, r.store->oldest_lsn()).error == Errc::unsupported);
}

namespace {
std::size_t up_to_slash(std::span<const std::byte> name) noexcept {
  for (std::size_t i = 0; i < name.size(); ++i)
    if (name[i] == std::byte{'/'}) return i + 1;
  return name.size();
}
}  // namespace

TEST_CASE("a sealed store whose keys keep a plain prefix yields changes under the keys as stored",
          "[changes][crypto]") {
  std::array<std::byte, 32> key{};
  ferrite::SealOptions options;
  options.hide_keys = true;
  options.plain_prefix = {&up_to_slash, 2};
  ferrite::Sealer sealer(options);
  REQUIRE(sealer.use_key(key));
  Rig r(rig::geometry(3, 8192, 4), 64, true, false, 1, 1024, &sealer);
  REQUIRE(r.format());
  auto stored = [&](std::string_view name) {
    std::array<std::byte, 64> out{};
    const std::size_t n = r.store->stored_name(ferrite::as_bytes(name), out).value_or(0);
    return std::string(reinterpret_cast<const char*>(out.data()), n);
  };
  const std::uint64_t start = r.store->lsn();
  CHECK(r.put("ward/alice", "1"));
  CHECK(r.put("plain", "2"));
  CHECK(r.erase("ward/alice"));
  CHECK(stored("ward/alice").size() == 5 + 16);
  CHECK(stored("ward/alice").rfind("ward/", 0) == 0);
  CHECK(stored("plain") == "plain");
  const Feed feed = changes_since(r, start);
  CHECK(feed.error == Errc::ok);
  CHECK(plain(feed.changes) == std::vector<Change>{put_of(stored("ward/alice"), "1"), put_of("plain", "2"),
                                                  erase_of(stored("ward/alice"))});
}
#endif

// ---------------------------------------------------------------------------
// Differential campaign

namespace {

struct Value {
  ValueType type = ValueType::untyped;
  std::string bytes;
  bool operator==(const Value& o) const { return type == o.type && bytes == o.bytes; }
};
using State = std::map<std::string, Value>;

struct Checkpoint {
  std::uint64_t lsn = 0;
  State state;
  std::size_t writes = 0;  // user writes made before it
};

struct Campaign {
  std::size_t cases = 0;
  std::size_t failures = 0;
  std::vector<std::string> notes;
  void fail(std::string what) {
    ++failures;
    if (notes.size() < 8) notes.push_back(std::move(what));
  }
};

/// Applies `changes` to `state`.
void apply(State& state, const std::vector<Change>& changes) {
  for (const Change& c : changes) {
    if (c.erased) state.erase(c.key);
    else state[c.key] = Value{c.type, c.value};
  }
}

/// Whether `writes` appear in `changes` in the same order (other changes,
/// the copies of garbage collection, may come between them).
bool in_order(const std::vector<Change>& writes, std::size_t from, const std::vector<Change>& changes) {
  std::size_t j = 0;
  for (std::size_t i = from; i < writes.size(); ++i) {
    while (j < changes.size() && !(changes[j] == writes[i])) ++j;
    if (j == changes.size()) return false;
    ++j;
  }
  return true;
}

struct Run {
  Run(Rig& rig, rig::Random& random, Campaign& campaign, bool with_batches)
      : r(rig), rnd(random), tally(campaign), batches(with_batches) {}
  Rig& r;
  rig::Random& rnd;
  Campaign& tally;
  std::string where;
  bool batches = true;
  State state;                   // what the store holds
  std::vector<Change> writes;    // user writes that wrote a record, in order
  std::vector<Checkpoint> checkpoints;
  // A live feed: changes followed since `feed_from`.
  std::optional<ferrite::ChangeCursor> feed;
  Checkpoint feed_from;
  Feed followed;

  std::string random_value(const std::string& key) {
    const auto it = state.find(key);
    const std::uint32_t pick = rnd.below(20);
    std::size_t size = 0;
    if (pick < 9 && it != state.end() && it->second.type == ValueType::untyped) size = it->second.bytes.size();
    else if (pick < 14) size = rnd.below(9);
    else if (pick < 19) size = 9 + rnd.below(60);
    else size = 69 + rnd.below(120);
    std::string v(size, '\0');
    for (char& ch : v) ch = static_cast<char>(rnd.below(256));
    return v;
  }
  std::string random_key() { return "key" + std::to_string(rnd.below(14)); }

  void checkpoint() {
    checkpoints.push_back({r.store->lsn(), state, writes.size()});
    if (checkpoints.size() > 10) checkpoints.erase(checkpoints.begin() + static_cast<std::ptrdiff_t>(rnd.below(10)));
  }

  /// The changes since `cp` must lead from its state to the current one,
  /// with every user write since among them, in order.
  bool verify(const Checkpoint& cp, const Feed& feed, const char* what) {
    ++tally.cases;
    if (feed.error == Errc::history_lost) {
      if (cp.lsn < r.store->oldest_lsn()) return false;  // allowed: the sector is gone (drop the checkpoint)
      tally.fail(where + ": " + what + ": history_lost for an LSN of a live sector");
      return false;
    }
    if (feed.error != Errc::ok) {
      tally.fail(where + ": " + what + ": " + ferrite::name_of(feed.error));
      return false;
    }
    State s = cp.state;
    apply(s, feed.changes);
    if (s != state) tally.fail(where + ": " + what + ": changes applied to the remembered state differ from the store's");
    else if (!in_order(writes, cp.writes, feed.changes))
      tally.fail(where + ": " + what + ": a write made since is missing from the changes");
    for (std::size_t i = 0; i < feed.changes.size(); ++i)
      if (feed.changes[i].lsn <= (i ? feed.changes[i - 1].lsn : cp.lsn)) {
        tally.fail(where + ": " + what + ": change positions do not grow");
        break;
      }
    return true;
  }

  void check_checkpoint() {
    if (checkpoints.empty()) return;
    const std::size_t i = rnd.below(static_cast<std::uint32_t>(checkpoints.size()));
    if (!verify(checkpoints[i], changes_since(r, checkpoints[i].lsn), "changes_since"))
      checkpoints.erase(checkpoints.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void start_feed() {
    feed_from = {r.store->lsn(), state, writes.size()};
    feed.emplace(r.store->changes_since(feed_from.lsn));
    followed = {};
  }
  /// A feed that fails: only history_lost is allowed, and only once the
  /// sector it reads was collected. It starts again from the present.
  bool feed_failed() {
    if (followed.error == Errc::ok) return false;
    ++tally.cases;
    if (followed.error != Errc::history_lost) tally.fail(where + ": live feed: " + ferrite::name_of(followed.error));
    else if (feed->lsn() >= r.store->oldest_lsn()) tally.fail(where + ": live feed: history_lost inside the live log");
    start_feed();
    return true;
  }
  void poll_feed() {
    if (!feed) return start_feed();
    drain(*feed, followed);
    feed_failed();
  }
  void check_feed() {
    if (!feed) return;
    drain(*feed, followed);
    if (feed_failed()) return;
    verify(feed_from, followed, "live feed");
    if (rnd.below(4) == 0) start_feed();
  }

  void put() {
    const std::string key = random_key();
    Value v;
    const std::uint32_t kind = rnd.below(10);
    ferrite::Status st;
    const auto skipped = r.store->stats().writes_skipped;
    if (kind == 0) {
      const std::uint32_t n = rnd.below(3) == 0 ? 7u : rnd.below(1000);
      st = ferrite::sync_wait(r.store->put_as(key, n));
      v = {ValueType::u32, le32(n)};
    } else if (kind == 1) {
      v = {ValueType::string, random_value(key).substr(0, 12)};
      st = ferrite::sync_wait(r.store->put_as(key, std::string_view(v.bytes)));
    } else {
      v = {ValueType::untyped, random_value(key)};
      st = r.put(key, v.bytes);
    }
    if (!st) {
      if (st.error() != Errc::no_space) tally.fail(where + ": put: " + ferrite::name_of(st.error()));
      return;
    }
    state[key] = v;
    if (r.store->stats().writes_skipped == skipped) writes.push_back(put_of(key, v.bytes, v.type));
  }

  void erase() {
    const std::string key = random_key();
    const auto st = r.erase(key);
    if (!st) {
      if (st.error() != Errc::not_found && st.error() != Errc::no_space)
        tally.fail(where + ": erase: " + ferrite::name_of(st.error()));
      return;
    }
    state.erase(key);
    writes.push_back(erase_of(key));
  }

  void batch() {
    std::vector<Change> ops;
    const std::uint32_t n = 1 + rnd.below(4);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::string key = random_key();
      if (rnd.below(4) == 0) ops.push_back(erase_of(key));
      else ops.push_back(put_of(key, random_value(key).substr(0, 40)));
    }
    const Errc e = commit(*r.store, ops);
    if (e != Errc::ok) {
      if (e != Errc::no_space && e != Errc::too_large) tally.fail(where + ": batch: " + ferrite::name_of(e));
      return;
    }
    // A later write of a key supersedes an earlier one in the batch; an
    // erase of a key the store does not hold writes nothing.
    for (std::size_t i = 0; i < ops.size(); ++i) {
      bool superseded = false;
      for (std::size_t j = i + 1; j < ops.size(); ++j) superseded = superseded || ops[j].key == ops[i].key;
      if (superseded) continue;
      if (ops[i].erased && !state.count(ops[i].key)) continue;
      writes.push_back(ops[i]);
    }
    for (std::size_t i = 0; i < ops.size(); ++i) {
      bool superseded = false;
      for (std::size_t j = i + 1; j < ops.size(); ++j) superseded = superseded || ops[j].key == ops[i].key;
      if (superseded) continue;
      if (ops[i].erased) state.erase(ops[i].key);
      else state[ops[i].key] = Value{ValueType::untyped, ops[i].value};
    }
  }

  void reboot() {
    // The feed resumes from where it had read, on the new Store object.
    const std::uint64_t at = feed ? feed->lsn() : 0;
    const bool had_feed = feed.has_value();
    feed.reset();
    r.reboot();
    if (!r.mount()) {
      tally.fail(where + ": remount failed");
      return;
    }
    if (had_feed) feed.emplace(r.store->changes_since(at));
  }

  /// A put or an erase cut off by a power loss at one of its first
  /// programs (or a collection's, or an erase's, before it). After the
  /// remount the key holds its old value or the new one; the changes must
  /// agree with whichever it is, and a torn record is never one of them.
  void cut_write() {
    const std::string key = random_key();
    const auto old = state.find(key);
    const bool erasing = rnd.below(3) == 0;
    Value v{ValueType::untyped, random_value(key)};
    if (old != state.end() && old->second == v) v.bytes += 'x';  // a put of the same value writes nothing
    const auto skipped = r.store->stats().writes_skipped;
    r.sim.cut_power_at(r.sim.mutating_ops() + rnd.below(3));
    const auto st = erasing ? r.erase(key) : r.put(key, v.bytes);
    r.sim.cut_power_at(~std::uint64_t{0});  // the write may have finished first
    if (st) {
      if (erasing) {
        state.erase(key);
        writes.push_back(erase_of(key));
      } else {
        state[key] = v;
        if (r.store->stats().writes_skipped == skipped) writes.push_back(put_of(key, v.bytes));
      }
      // Acknowledged, and the cut came after (a collection's retire that
      // followed the write and may fail without failing it).
      if (r.sim.power_is_lost()) reboot();
      return;
    }
    if (st.error() == Errc::not_found || st.error() == Errc::no_space) return;
    if (st.error() != Errc::power_lost) {
      tally.fail(where + ": cut write: " + ferrite::name_of(st.error()));
      return;
    }
    reboot();
    std::vector<std::byte> out;
    const auto got = ferrite::sync_wait(r.store->get_into(rig::bytes(key), out));
    const std::string now(reinterpret_cast<const char*>(out.data()), out.size());
    const auto type = got ? ferrite::sync_wait(r.store->type_of(key)) : ferrite::Result<ValueType>(ValueType::untyped);
    if (erasing && !got && got.error() == Errc::not_found && old != state.end()) {
      state.erase(key);
      writes.push_back(erase_of(key));
    } else if (!erasing && got && now == v.bytes && type && *type == ValueType::untyped) {
      state[key] = v;
      writes.push_back(put_of(key, v.bytes));
    } else if (old == state.end() ? !(!got && got.error() == Errc::not_found)
                                  : !(got && now == old->second.bytes && type && *type == old->second.type)) {
      tally.fail(where + ": after a cut write the key holds neither its old value nor the new one");
    }
  }

  void check_store() {
    // The model itself must match the store, or the comparisons mean nothing.
    for (const auto& [key, v] : state) {
      std::vector<std::byte> out;
      const auto st = ferrite::sync_wait(r.store->get_into(rig::bytes(key), out));
      const auto type = ferrite::sync_wait(r.store->type_of(key));
      if (!st || !type || *type != v.type ||
          std::string(reinterpret_cast<const char*>(out.data()), out.size()) != v.bytes) {
        tally.fail(where + ": the model lost track of " + key);
        return;
      }
    }
    if (r.store->stats().keys_known && r.store->stats().keys != state.size()) tally.fail(where + ": key count");
  }
};

}  // namespace

TEST_CASE("campaign changes-differential: changes since a remembered LSN lead from its state to the current one",
          "[changes][campaign]") {
  struct Shape {
    std::uint32_t sectors, size, unit;
  };
  const Shape shapes[] = {{4, 4096, 4}, {2, 8192, 8}, {4, 4096, 8}, {2, 8192, 4}, {3, 4096, 4}};
  const auto runs = static_cast<std::uint32_t>(120 * campaign::campaign_scale());
  Campaign tally;
  for (std::uint32_t run = 0; run < runs; ++run) {
    rig::Random rnd(0xC4A9E000u + run);
    const Shape g = shapes[run % 5];
    // Puts of all sizes (same-size updates become compact records), typed
    // puts, erases, batches, maintenance, remounts and writes cut by a
    // power loss. Most runs on a plain indexed store (compact records, batches); one in
    // ten index-less (full records only, no batches), one in ten sealed.
    const bool indexed = run % 10 != 8;
    ferrite::ValueCodec* codec = nullptr;
#if FERRITE_HAVE_CRYPTO
    std::array<std::byte, 32> key{};
    key[0] = static_cast<std::byte>(run);
    ferrite::Sealer sealer;
    if (run % 10 == 9) {
      REQUIRE(sealer.use_key(key));
      codec = &sealer;
    }
#endif
    Rig r(rig::geometry(g.sectors, g.size, g.unit), indexed ? Rig::max_keys : 0, true, false, 1, 4096, codec);
    REQUIRE(r.format());
    Run w(r, rnd, tally, indexed);
    w.checkpoint();
    w.start_feed();
    const std::uint32_t ops = 600 + rnd.below(800);
    for (std::uint32_t op = 0; op < ops; ++op) {
      w.where = "run " + std::to_string(run) + " op " + std::to_string(op);
      const std::uint32_t pick = rnd.below(100);
      if (pick < 48) w.put();
      else if (pick < 62) w.erase();
      else if (pick < 72 && w.batches) w.batch();
      else if (pick < 80) {
        ferrite::MaintenanceBudget budget;
        budget.max_records = 1 + rnd.below(16);
        budget.allow_erase = rnd.below(2) == 0;
        if (const auto m = ferrite::sync_wait(r.store->maintain(budget)); !m)
          tally.fail(w.where + ": maintain: " + ferrite::name_of(m.error()));
      } else if (pick < 82) {
        w.reboot();
      } else if (pick < 84 && g.sectors > 2) {
        // (Not on two sectors: a cut that tears the head while the other
        // sector is still being collected leaves such a store refusing
        // every write with no_space, so nothing more would be followed.)
        w.cut_write();
      } else if (pick < 90) {
        w.checkpoint();
      }
      if (rnd.below(100) < 9) w.check_checkpoint();
      if (rnd.below(100) < 30) w.poll_feed();
      if (rnd.below(100) < 4) w.check_feed();
    }
    w.where = "run " + std::to_string(run) + " end";
    w.check_store();
    while (!w.checkpoints.empty()) {
      w.verify(w.checkpoints.back(), changes_since(r, w.checkpoints.back().lsn), "changes_since");
      w.checkpoints.pop_back();
    }
    w.check_feed();
  }
  std::printf("campaign changes-differential: %zu cases, %zu failures\n", tally.cases, tally.failures);
  for (const std::string& note : tally.notes) WARN(note);
  CHECK(tally.cases >= static_cast<std::size_t>(2000 * campaign::campaign_scale()));
  CHECK(tally.failures == 0);
}
