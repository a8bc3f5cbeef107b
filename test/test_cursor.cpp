// Cursors: forward and reverse walks of key ranges against a std::map model
// with writes between steps, count_range, Cursor::read_value, and what a
// step reads from flash.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
import ferrite.sim;
#include "log_rig.hpp"

using ferrite::Direction;
using ferrite::Errc;
using rig::Rig;

namespace {

/// Keys of different lengths with shared prefixes ("a7", "ab12", "b/3", ...).
std::string random_key(rig::Random& rnd) {
  static const char* const stems[] = {"a", "ab", "b", "b/", "c"};
  return std::string(stems[rnd.below(5)]) + std::to_string(rnd.below(30));
}

std::string random_value(rig::Random& rnd) {
  std::string v = std::to_string(rnd.next());
  return v.substr(0, rnd.below(13));
}

/// The value the cursor stands on, or the error's name prefixed with '!'.
std::string value_at(ferrite::Cursor& c) {
  std::array<std::byte, 256> out{};
  auto n = ferrite::sync_wait(c.read_value(out));
  if (!n) return std::string("!") + ferrite::name_of(n.error());
  return std::string(reinterpret_cast<const char*>(out.data()), *n);
}

/// Rig with or without the key-order permutation.
void configure(Rig& r, bool ordered) {
  if (!ordered) r.config.order = {};
  r.store.emplace(r.flash, r.config);
}

std::vector<std::string> walk(Rig& r, ferrite::Cursor c) {
  std::vector<std::string> out;
  for (;;) {
    auto more = ferrite::sync_wait(c.next());
    if (!more) {
      out.push_back(std::string("!") + ferrite::name_of(more.error()));
      break;
    }
    if (!*more) break;
    out.emplace_back(c.key_string());
  }
  (void)r;
  return out;
}

}  // namespace

TEST_CASE("forward and reverse ranges agree with a model while keys are written and erased between steps",
          "[cursor]") {
  for (bool ordered : {true, false}) {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      INFO((ordered ? "with" : "without") << " the key-order permutation, seed " << seed);
      Rig r(rig::geometry(4, 2048, 4));  // small: collection runs during the walks
      configure(r, ordered);
      REQUIRE(r.format());
      rig::Random rnd(seed * 7919);
      std::map<std::string, std::string> model;
      for (int i = 0; i < 80; ++i) {
        const std::string k = random_key(rnd), v = random_value(rnd);
        CHECK(r.put(k, v));
        model[k] = v;
      }
      for (int w = 0; w < 25; ++w) {
        const std::string lower = rnd.below(4) == 0 ? std::string() : random_key(rnd);
        const std::string upper = rnd.below(4) == 0 ? std::string() : random_key(rnd);
        const Direction dir = rnd.below(2) ? Direction::reverse : Direction::forward;
        INFO("walk " << w << " [" << lower << ", " << upper << ") "
                     << (dir == Direction::forward ? "forward" : "reverse"));
        auto in_bounds = [&](const std::string& k) { return k >= lower && (upper.empty() || k < upper); };
        std::set<std::string> throughout;  // in bounds, present from the start and never erased
        for (const auto& [k, v] : model)
          if (in_bounds(k)) throughout.insert(k);
        auto c = r.store->range(rig::bytes(lower), rig::bytes(upper), dir);
        CHECK(ferrite::sync_wait(c.read_value(std::span<std::byte>())).error() == Errc::invalid_argument);
        std::vector<std::string> got;
        for (int step = 0; step < 400; ++step) {
          auto more = ferrite::sync_wait(c.next());
          CHECK(more);
          if (!more || !*more) break;
          const std::string k(c.key_string());
          CHECK(in_bounds(k));
          CHECK(model.count(k) == 1);
          if (!got.empty()) {
            // Strictly monotone: nothing repeated, nothing out of order.
            if (dir == Direction::forward) CHECK(got.back() < k);
            else CHECK(got.back() > k);
          }
          got.push_back(k);
          if (model.count(k)) {
            CHECK(value_at(c) == model[k]);
            CHECK(c.value_size() == model[k].size());
          }
          // Writes between this step and the next (and between step and read).
          const std::uint32_t writes = rnd.below(3);
          for (std::uint32_t i = 0; i < writes; ++i) {
            const std::string k2 = rnd.below(3) == 0 ? k : random_key(rnd);
            if (rnd.below(3) == 0) {
              auto st = r.erase(k2);
              CHECK((st || st.error() == Errc::not_found));
              model.erase(k2);
              throughout.erase(k2);
            } else {
              const std::string v = random_value(rnd);
              CHECK(r.put(k2, v));
              model[k2] = v;
            }
          }
          if (writes) CHECK(value_at(c) == (model.count(k) ? model[k] : std::string("!not_found")));
        }
        for (const std::string& k : throughout) {
          INFO("key present throughout: " << k);
          CHECK(std::find(got.begin(), got.end(), k) != got.end());
        }
      }
      CHECK(r.store->stats().gc_runs > 0);
      CHECK(r.store->stats().corrupt_records == 0);
    }
  }
}

TEST_CASE("a reverse scan lists a prefix's keys from the largest down, 0xFF bytes included", "[cursor]") {
  for (bool ordered : {true, false}) {
    Rig r(rig::geometry(3, 4096, 4));
    configure(r, ordered);
    REQUIRE(r.format());
    const std::string ff = "\xFF";
    const std::vector<std::string> keys = {"a", "b", "b/1", "b/2", "b/" + ff, "b/" + ff + "x", "b0", "c",
                                           ff, ff + ff, ff + ff + "z"};
    for (const std::string& k : keys) CHECK(r.put(k, "v"));
    CHECK(walk(r, r.store->scan("b/", Direction::reverse)) ==
          std::vector<std::string>{"b/" + ff + "x", "b/" + ff, "b/2", "b/1"});
    CHECK(walk(r, r.store->scan("b/", Direction::forward)) ==
          std::vector<std::string>{"b/1", "b/2", "b/" + ff, "b/" + ff + "x"});
    CHECK(walk(r, r.store->scan(ff, Direction::reverse)) == std::vector<std::string>{ff + ff + "z", ff + ff, ff});
    CHECK(walk(r, r.store->scan(ff + ff, Direction::reverse)) == std::vector<std::string>{ff + ff + "z", ff + ff});
    CHECK(walk(r, r.store->scan("", Direction::reverse)).size() == 11);
    CHECK(walk(r, r.store->scan("zz", Direction::reverse)).empty());
    CHECK(walk(r, r.store->range(rig::bytes("b"), rig::bytes("b/2"), Direction::reverse)) ==
          std::vector<std::string>{"b/1", "b"});
    CHECK(walk(r, r.store->range(rig::bytes("b/2"), rig::bytes("b"), Direction::reverse)).empty());
  }
}

TEST_CASE("a range that found nothing still finds a key written at its start later", "[cursor]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  auto c = r.store->range(rig::bytes("m"), rig::bytes("p"));
  CHECK_FALSE(ferrite::sync_wait(c.next()).value_or(true));
  CHECK(ferrite::sync_wait(c.read_value(std::span<std::byte>())).error() == Errc::invalid_argument);
  CHECK(r.put("m", "2"));
  CHECK(ferrite::sync_wait(c.next()).value_or(false));
  CHECK(c.key_string() == "m");
  CHECK(value_at(c) == "2");
  CHECK_FALSE(ferrite::sync_wait(c.next()).value_or(true));
  auto rev = r.store->range(rig::bytes("m"), rig::bytes("p"), Direction::reverse);
  CHECK(ferrite::sync_wait(rev.next()).value_or(false));
  CHECK(rev.key_string() == "m");
}

TEST_CASE("an index-less store refuses ranges and reverse scans with unsupported", "[cursor]") {
  Rig r(rig::geometry(3, 4096, 4), 0);
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  CHECK(walk(r, r.store->range(rig::bytes("a"), {})) == std::vector<std::string>{"!unsupported"});
  CHECK(walk(r, r.store->scan("", Direction::reverse)) == std::vector<std::string>{"!unsupported"});
  CHECK(ferrite::sync_wait(r.store->count_range({}, {})).error() == Errc::unsupported);
  // A forward scan works, and read_value finds the value by a log scan.
  auto c = r.store->scan("a");
  CHECK(ferrite::sync_wait(c.next()).value_or(false));
  CHECK(value_at(c) == "1");
}

TEST_CASE("count_range agrees with a model for random bounds as keys come and go", "[cursor][count]") {
  Rig r(rig::geometry(4, 4096, 4));
  REQUIRE(r.format());
  rig::Random rnd(42);
  std::map<std::string, std::string> model;
  for (int round = 0; round < 400; ++round) {
    const std::string k = random_key(rnd);
    if (rnd.below(4) == 0) {
      auto st = r.erase(k);
      CHECK((st || st.error() == Errc::not_found));
      model.erase(k);
    } else {
      const std::string v = random_value(rnd);
      CHECK(r.put(k, v));
      model[k] = v;
    }
    const std::string lower = rnd.below(5) == 0 ? std::string() : random_key(rnd);
    const std::string upper = rnd.below(5) == 0 ? std::string() : random_key(rnd);
    std::uint32_t expected = 0;
    for (const auto& [key, v] : model) expected += key >= lower && (upper.empty() || key < upper);
    INFO("[" << lower << ", " << upper << ")");
    CHECK(ferrite::sync_wait(r.store->count_range(rig::bytes(lower), rig::bytes(upper))).value_or(9999) == expected);
    if (round % 100 == 99) {  // and after a remount, which builds the permutation
      r.reboot();
      REQUIRE(r.mount());
    }
  }
  CHECK(ferrite::sync_wait(r.store->count_range({}, {})).value_or(0) == model.size());
  // A count costs two binary searches: a few header words and keys, no records.
  r.sim.reset_counters();
  CHECK(ferrite::sync_wait(r.store->count_range(rig::bytes("a"), rig::bytes("b"))));
  CHECK(r.sim.counters().read_ops <= 2 * 2 * 8);
  r.store->unmount();
  CHECK(ferrite::sync_wait(r.store->count_range({}, {})).error() == Errc::not_mounted);
}

TEST_CASE("count_range is unsupported without the key-order permutation", "[cursor][count]") {
  Rig r(rig::geometry(3, 4096, 4));
  configure(r, false);
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  CHECK(ferrite::sync_wait(r.store->count_range({}, {})).error() == Errc::unsupported);
}

TEST_CASE("a step with no write since the last one reads only the record it yields", "[cursor][cost]") {
  Rig r(rig::geometry(2, 16384, 4));
  REQUIRE(r.format());
  for (int i = 0; i < 100; ++i) CHECK(r.put("k" + std::to_string(100 + i), "value-" + std::to_string(1000 + i)));
  for (int i = 0; i < 100; i += 3) CHECK(r.put("k" + std::to_string(100 + i), "VALUE-" + std::to_string(1000 + i)));
  r.reboot();
  REQUIRE(r.mount());
  for (Direction dir : {Direction::forward, Direction::reverse}) {
    auto c = r.store->range(rig::bytes("k110"), rig::bytes("k190"), dir);
    CHECK(ferrite::sync_wait(c.next()).value_or(false));  // the first step seeks
    int steps = 1;
    for (;;) {
      r.sim.reset_counters();
      auto more = ferrite::sync_wait(c.next());
      CHECK(more);
      if (!more || !*more) break;
      ++steps;
      // The binding record: 8-byte header, 4-byte key, 10-byte value.
      CHECK(r.sim.counters().bytes_read == 8 + 4 + 10);
      CHECK(r.sim.counters().read_ops <= 3);
      // The value comes from the key's latest record (full, or an 8-byte
      // compact one), without a hash lookup: no more than a get reads.
      r.sim.reset_counters();
      const std::string v = value_at(c);
      const auto read_value_bytes = r.sim.counters().bytes_read;
      r.sim.reset_counters();
      CHECK(r.get(c.key_string()) == v);
      CHECK(read_value_bytes <= r.sim.counters().bytes_read);
    }
    // The end: the first key out of the range was read, nothing more.
    CHECK(r.sim.counters().bytes_read <= 8 + 4 + 10);
    CHECK(steps == 80);
  }
}

TEST_CASE("read_value follows the store: a write after the step reads the new value, an erase not_found",
          "[cursor]") {
  for (bool ordered : {true, false}) {
    Rig r(rig::geometry(3, 4096, 4));
    configure(r, ordered);
    REQUIRE(r.format());
    for (const char* k : {"a", "b", "c", "d"}) CHECK(r.put(k, std::string("v-") + k));
    auto c = r.store->scan("");
    CHECK(ferrite::sync_wait(c.next()).value_or(false));
    CHECK(c.key_string() == "a");
    CHECK(value_at(c) == "v-a");
    CHECK(r.put("a", "v-A"));  // same size: a compact record
    CHECK(value_at(c) == "v-A");
    CHECK(r.put("a", "a longer value"));
    CHECK(value_at(c) == "a longer value");
    CHECK(r.put("0", "new key before"));  // index positions shift: a lookup
    CHECK(value_at(c) == "a longer value");
    std::array<std::byte, 3> small{};
    CHECK(ferrite::sync_wait(c.read_value(small)).error() == Errc::buffer_too_small);
    CHECK(r.erase("a"));
    CHECK(value_at(c) == "!not_found");
    CHECK(ferrite::sync_wait(c.next()).value_or(false));
    CHECK(c.key_string() == "b");
    CHECK(value_at(c) == "v-b");
    CHECK(walk(r, std::move(c)) == std::vector<std::string>{"c", "d"});
  }
}

TEST_CASE("mount builds the key-order permutation: the first ordered scan reads only the records it yields",
          "[cursor][cost]") {
  Rig r(rig::geometry(2, 16384, 4));
  REQUIRE(r.format());
  rig::Random rnd(7);
  std::map<std::string, std::string> model;
  for (int i = 0; i < 120; ++i) {
    const std::string k = random_key(rnd), v = random_value(rnd);
    CHECK(r.put(k, v));
    model[k] = v;
  }
  r.reboot();
  REQUIRE(r.mount());
  r.sim.reset_counters();
  std::uint64_t record_bytes = 0;
  std::vector<std::string> got;
  auto c = r.store->scan("");
  while (ferrite::sync_wait(c.next()).value_or(false)) {
    got.emplace_back(c.key_string());
    record_bytes += 8 + c.key().size() + c.value_size();
  }
  std::vector<std::string> expected;
  for (const auto& [k, v] : model) expected.push_back(k);
  CHECK(got == expected);
  CHECK(r.sim.counters().bytes_read == record_bytes);
  // A count of every key has no bound to search for: it reads nothing.
  r.sim.reset_counters();
  CHECK(ferrite::sync_wait(r.store->count_range({}, {})).value_or(0) == model.size());
  CHECK(r.sim.counters().bytes_read == 0);
}
