#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.log;
#if FERRITE_WITH_TRANSACTIONS
import ferrite.txn;
#endif
import ferrite.sim;
#include "log_rig.hpp"

using ferrite::Errc;
using rig::Rig;

namespace {
Errc error_of(const ferrite::Status& s) { return s.error(); }
}  // namespace

// Builds that leave features out (meson options; docs/SIZE.md).
#if !FERRITE_WITH_TRANSACTIONS
TEST_CASE("without transactions in the build, a mount that meets a transaction's records answers unsupported "
          "and writes nothing", "[log][features]") {
  // A golden image (test/golden/README.md): its log holds a committed transaction.
  std::vector<std::byte> image(4 * 4096);
  std::FILE* in = std::fopen(FERRITE_GOLDEN_DIR "/plain-nrf52-4x4k.img", "rb");
  REQUIRE(in);
  const std::size_t got = std::fread(image.data(), 1, image.size(), in);
  std::fclose(in);
  REQUIRE(got == image.size());
  Rig r(rig::geometry(4, 4096, 4));
  r.sim.load_image(image);
  CHECK(error_of(r.mount()) == Errc::unsupported);
  CHECK(!r.store->mounted());
  CHECK(r.store->last_refusal().code == Errc::unsupported);
  CHECK(std::string(r.store->last_refusal().field) == "transactions");
  CHECK(std::equal(image.begin(), image.end(), r.sim.image().begin(), r.sim.image().end()));
}
#endif

#if !FERRITE_WITH_INDEX_LESS
TEST_CASE("without index-less mode in the build, a store without an index is refused and says why",
          "[log][features]") {
  Rig r(rig::geometry(2, 4096, 4), 0, false);
  CHECK(error_of(r.format()) == Errc::invalid_argument);
  CHECK(error_of(r.mount()) == Errc::invalid_argument);
  const ferrite::Refusal why = r.store->config_report();
  CHECK(why.code == Errc::invalid_argument);
  CHECK(std::string(why.field) == "index");
}
#endif

#if !FERRITE_WITH_VERIFY_WRITES
TEST_CASE("without verify_writes in the build, a configuration asking for it is refused and says why",
          "[log][features]") {
  Rig r(rig::geometry(2, 4096, 4), Rig::max_keys, true, true);
  CHECK(error_of(r.format()) == Errc::invalid_argument);
  CHECK(std::string(r.store->config_report().field) == "verify_writes");
}
#endif

#if !FERRITE_WITH_MIXED_SECTORS
TEST_CASE("without mixed_sectors in the build, a store on sectors of different sizes is refused at format and "
          "mount, says why and leaves the flash as it was", "[log][features]") {
  // A golden image (test/golden/README.md): a store on STM32F4's first
  // sectors, four of 16 KiB and one of 64 KiB.
  std::vector<std::byte> image(4 * 16384 + 65536);
  std::FILE* in = std::fopen(FERRITE_GOLDEN_DIR "/plain-stm32f4-4x16k+64k.img", "rb");
  REQUIRE(in);
  const std::size_t got = std::fread(image.data(), 1, image.size(), in);
  std::fclose(in);
  REQUIRE(got == image.size());
  const ferrite::SectorRun runs[] = {{4, 16384}, {1, 65536}};
  auto g = ferrite::Geometry::make(runs, 4);
  REQUIRE(g);
  Rig r(*g);
  r.sim.load_image(image);
  const std::uint64_t ops = r.sim.mutating_ops();
  const ferrite::Refusal why = r.store->config_report();
  CHECK(why.code == Errc::invalid_argument);
  CHECK(std::string(why.field) == "sector sizes");
  CHECK(why.value == 65536);
  CHECK(why.limit == 16384);
  CHECK(std::string(why.reason).find("meson option mixed_sectors") != std::string::npos);
  CHECK(error_of(r.mount()) == Errc::invalid_argument);
  CHECK(!r.store->mounted());
  CHECK(std::string(r.store->last_refusal().field) == "sector sizes");
  CHECK(error_of(r.format()) == Errc::invalid_argument);
  CHECK(std::string(r.store->last_refusal().field) == "sector sizes");
  CHECK(r.sim.mutating_ops() == ops);
  CHECK(std::equal(image.begin(), image.end(), r.sim.image().begin(), r.sim.image().end()));
  // Sectors of one size, the same flash otherwise, are a store as before.
  Rig uniform(rig::geometry(5, 16384, 4));
  CHECK(uniform.store->config_report().code == Errc::ok);
  CHECK(uniform.format());
  CHECK(uniform.put("k", "v"));
}
#endif

#if FERRITE_WITH_TRANSACTIONS
TEST_CASE("a batch the flash refuses behind the head's last record is written again in a fresh sector",
          "[log][txn]") {
  for (std::uint32_t sectors : {2u, 3u}) {
    INFO(sectors << " sectors");
    Rig r(rig::geometry(sectors, 4096, 4));
    REQUIRE(r.format());
    for (int i = 0; i < 10; ++i) CHECK(r.put("key" + std::to_string(i), "old-" + std::to_string(i)));
    REQUIRE(rig::program_blank_tail(r, 0));
    ferrite::Batch batch(*r.store);
    for (int i = 0; i < 4; ++i) CHECK(batch.put("key" + std::to_string(i), "new-" + std::to_string(i)));
    CHECK(batch.erase("key9"));
    CHECK(ferrite::sync_wait(batch.commit()));
    for (int pass = 0; pass < 2; ++pass) {
      INFO((pass ? "after a reboot" : "mounted"));
      for (int i = 0; i < 4; ++i) CHECK(r.get("key" + std::to_string(i)) == "new-" + std::to_string(i));
      for (int i = 4; i < 9; ++i) CHECK(r.get("key" + std::to_string(i)) == "old-" + std::to_string(i));
      CHECK(r.get("key9") == "!not_found");
      r.reboot();
      REQUIRE(r.mount());
    }
  }
}
#endif

TEST_CASE("a formatted store is empty, and mounts again empty", "[log]") {
  Rig r(rig::geometry(2, 16384, 4));
  CHECK(r.format());
  CHECK(r.store->stats().keys == 0);
  CHECK(r.get("nope") == "!not_found");
  r.reboot();
  CHECK(r.mount());
  CHECK(r.store->stats().keys == 0);
}

TEST_CASE("put stores a value, a second put replaces it, erase removes it", "[log]") {
  for (std::size_t keys : {std::size_t{256}, std::size_t{0}}) {
    if (keys == 0 && !ferrite::index_less_built) continue;
    Rig r(rig::geometry(2, 16384, 4), keys);
    REQUIRE(r.format());
    CHECK(r.put("temp", "21.5"));
    CHECK(r.get("temp") == "21.5");
    CHECK(r.put("temp", "22.0 degrees"));
    CHECK(r.get("temp") == "22.0 degrees");
    CHECK(r.put("empty", ""));
    CHECK(r.get("empty") == "");
    CHECK(r.erase("temp"));
    CHECK(r.get("temp") == "!not_found");
    CHECK(error_of(r.erase("temp")) == Errc::not_found);
    CHECK(ferrite::sync_wait(r.store->contains("empty")).value_or(false));
    CHECK_FALSE(ferrite::sync_wait(r.store->contains("temp")).value_or(true));
    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.get("temp") == "!not_found");
    CHECK(r.get("empty") == "");
  }
}

#if FERRITE_WITH_TYPED_WRITES
TEST_CASE("every kved value type round-trips through the typed helpers", "[log]") {
  Rig r(rig::geometry(2, 4096, 4));
  REQUIRE(r.format());
  auto& s = *r.store;
  CHECK(ferrite::sync_wait(s.put_as("u8", std::uint8_t{200})));
  CHECK(ferrite::sync_wait(s.put_as("i8", std::int8_t{-100})));
  CHECK(ferrite::sync_wait(s.put_as("u16", std::uint16_t{60000})));
  CHECK(ferrite::sync_wait(s.put_as("i16", std::int16_t{-30000})));
  CHECK(ferrite::sync_wait(s.put_as("u32", std::uint32_t{4000000000u})));
  CHECK(ferrite::sync_wait(s.put_as("i32", std::int32_t{-2000000000})));
  CHECK(ferrite::sync_wait(s.put_as("u64", std::uint64_t{0xFEEDFACECAFEBEEFull})));
  CHECK(ferrite::sync_wait(s.put_as("i64", std::int64_t{-5})));
  CHECK(ferrite::sync_wait(s.put_as("f", 3.25f)));
  CHECK(ferrite::sync_wait(s.put_as("d", -1.0e300)));
  CHECK(r.put("s", "hello"));
  r.reboot();
  REQUIRE(r.mount());
  auto& m = *r.store;
  CHECK(ferrite::sync_wait(m.get_scalar("u8"))->as<std::uint8_t>().value_or(0) == 200);
  CHECK(ferrite::sync_wait(m.get_scalar("i8"))->as<std::int8_t>().value_or(0) == -100);
  CHECK(ferrite::sync_wait(m.get_scalar("u16"))->as<std::uint16_t>().value_or(0) == 60000);
  CHECK(ferrite::sync_wait(m.get_scalar("i16"))->as<std::int16_t>().value_or(0) == -30000);
  CHECK(ferrite::sync_wait(m.get_scalar("u32"))->as<std::uint32_t>().value_or(0) == 4000000000u);
  CHECK(ferrite::sync_wait(m.get_scalar("i32"))->as<std::int32_t>().value_or(0) == -2000000000);
  CHECK(ferrite::sync_wait(m.get_scalar("u64"))->as<std::uint64_t>().value_or(0) == 0xFEEDFACECAFEBEEFull);
  CHECK(ferrite::sync_wait(m.get_scalar("i64"))->as<std::int64_t>().value_or(0) == -5);
  CHECK(ferrite::sync_wait(m.get_scalar("f"))->as<float>().value_or(0) == 3.25f);
  CHECK(ferrite::sync_wait(m.get_scalar("d"))->as<double>().value_or(0) == -1.0e300);
  CHECK(r.get("s") == "hello");
  // A size or type mismatch is an error, not a reinterpretation.
  CHECK(ferrite::sync_wait(m.get_scalar("u16"))->as<std::uint32_t>().error() == Errc::type_mismatch);
  CHECK(ferrite::sync_wait(m.get_scalar("s")).error() == Errc::ok);
  CHECK(ferrite::sync_wait(m.get_scalar("nope")).error() == Errc::not_found);
}
#endif

TEST_CASE("a put of the value already stored writes nothing", "[log][cow]") {
  Rig r(rig::geometry(2, 16384, 4));
  REQUIRE(r.format());
  CHECK(r.put("k000", "abcd"));
  const auto before = r.sim.counters().bytes_programmed;
  CHECK(r.put("k000", "abcd"));
  CHECK(r.sim.counters().bytes_programmed == before);
  CHECK(r.store->stats().writes_skipped == 1);
  CHECK(r.put("k000", "abce"));
  CHECK(r.sim.counters().bytes_programmed > before);
}

TEST_CASE("an update of a small value costs one 8-byte compact record", "[log][compact]") {
  Rig r(rig::geometry(2, 16384, 4));
  REQUIRE(r.format());
  CHECK(r.put("k000", "abcd"));
  const auto before = r.sim.counters().bytes_programmed;
  CHECK(r.put("k000", "wxyz"));
  CHECK(r.sim.counters().bytes_programmed - before == 8);
  CHECK(r.get("k000") == "wxyz");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("k000") == "wxyz");
  // A get reads the binding's header word and key name, then the compact
  // record: 16 bytes.
  r.sim.reset_counters();
  CHECK(r.get("k000") == "wxyz");
  CHECK(r.sim.counters().bytes_read <= 16);
}

TEST_CASE("keys and values at their limits are accepted, past them refused with a clear error", "[log][limits]") {
  Rig r(rig::geometry(2, 16384, 4));
  REQUIRE(r.format());
  CHECK(r.store->value_limit() == 4096);
  const std::string key64(64, 'k');
  const std::string value4096(4096, 'v');
  CHECK(r.put(key64, value4096));
  CHECK(r.get(key64) == value4096);
  CHECK(error_of(r.put(std::string(65, 'k'), "x")) == Errc::too_large);
  CHECK(error_of(r.put("big", std::string(4097, 'v'))) == Errc::too_large);
  CHECK(error_of(r.put("", "x")) == Errc::invalid_argument);
  CHECK(r.get(std::string(65, 'k')) == "!too_large");
  // A too-small buffer copies nothing and says so; size_of tells the size.
  std::array<std::byte, 10> small{};
  CHECK(ferrite::sync_wait(r.store->get(key64, small)).error() == Errc::buffer_too_small);
  CHECK(ferrite::sync_wait(r.store->size_of(key64)).value_or(0) == 4096);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get(key64) == value4096);
}

TEST_CASE("calls on an unmounted store fail with not_mounted", "[log]") {
  Rig r(rig::geometry(2, 4096, 4));
  CHECK(error_of(r.put("a", "b")) == Errc::not_mounted);
  CHECK(r.get("a") == "!not_mounted");
  CHECK(error_of(r.erase("a")) == Errc::not_mounted);
}

TEST_CASE("mount tells a blank region, foreign bytes and another geometry apart", "[log][mount]") {
  Rig blank(rig::geometry(2, 4096, 4));
  CHECK(error_of(blank.mount()) == Errc::not_formatted);

  Rig foreign(rig::geometry(2, 4096, 4));
  for (std::size_t i = 0; i < foreign.sim.raw().size(); ++i) foreign.sim.raw()[i] = std::byte(i * 7 + 3);
  CHECK(error_of(foreign.mount()) == Errc::foreign_format);

  // A store formatted on 4 sectors, mounted as a 2-sector partition of the same device.
  Rig four(rig::geometry(4, 4096, 4));
  REQUIRE(four.format());
  REQUIRE(four.put("a", "1"));
  auto half = ferrite::Flash::partition(four.sim, 0, 2);
  REQUIRE(half);
  ferrite::StoreMemory<16, 4> mem;
  ferrite::Store other(*half, mem.config());
  CHECK(ferrite::sync_wait(other.mount()).error() == Errc::foreign_format);

  // Another program unit.
  Rig unit8(rig::geometry(2, 4096, 8));
  REQUIRE(unit8.format());
  Rig unit4(rig::geometry(2, 4096, 4));
  unit4.sim.load_image(unit8.sim.image());
  CHECK(error_of(unit4.mount()) == Errc::foreign_format);
}

TEST_CASE("a store config that cannot work is refused with invalid_argument", "[log]") {
  auto g = rig::geometry(3, 4096, 4);
  ferrite::sim::SimFlash sim(g);
  ferrite::Flash flash(sim);
  ferrite::StoreMemory<8, 2> too_few_sectors;
  ferrite::Store s(flash, too_few_sectors.config());
  CHECK(ferrite::sync_wait(s.format()).error() == Errc::invalid_argument);
  CHECK(ferrite::sync_wait(s.mount()).error() == Errc::invalid_argument);
}

TEST_CASE("an update more than 65,535 units after its key's binding is a full record, then compact again",
          "[log][compact]") {
  // The index keeps the distance back to the binding in 16 bits of program
  // units (FORMAT.md §7): with 1-byte units, 64 KiB.
  Rig r(rig::geometry(2, 128 * 1024, 1));
  REQUIRE(r.format());
  CHECK(r.put("k", "abcd"));
  CHECK(r.put("k", "abce"));  // compact: 4-byte head + value
  for (int i = 0; i < 17; ++i) CHECK(r.put("filler", std::string(4000, static_cast<char>('a' + i))));
  auto programmed = [&] { return r.sim.counters().bytes_programmed; };
  auto before = programmed();
  CHECK(r.put("k", "abcf"));  // 68 KB after the binding: re-binds with a full record
  CHECK(programmed() - before == 8 + 1 + 4);
  before = programmed();
  CHECK(r.put("k", "abcg"));  // next to the new binding: compact again
  CHECK(programmed() - before == 4 + 4);
  CHECK(r.get("k") == "abcg");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("k") == "abcg");
  CHECK(r.get("filler") == std::string(4000, 'q'));
}

#if FERRITE_WITH_INDEX_LESS
TEST_CASE("an indexed store refuses a partition over 2^24 program units; an index-less one takes it", "[log]") {
  const auto g = rig::geometry(2, 16 * 1024 * 1024, 1);
  Rig indexed(g, 8);
  CHECK(error_of(indexed.format()) == Errc::invalid_argument);
  Rig index_less(g, 0, false);
  CHECK(index_less.format());
}
#endif

TEST_CASE("many updates move through the sectors and every key survives a remount", "[log][gc]") {
  for (std::uint32_t unit : {1u, 2u, 4u, 8u, 16u, 32u}) {
    for (std::uint32_t sectors : {2u, 3u, 8u}) {
      for (std::size_t keys : {std::size_t{256}, std::size_t{0}}) {
        if (keys == 0 && sectors == 8) continue;  // index-less scans are slow; covered by 2 and 3
        if (keys == 0 && !ferrite::index_less_built) continue;
        INFO("unit " << unit << " sectors " << sectors << " keys " << keys);
        Rig r(rig::geometry(sectors, 2048, unit), keys);
        REQUIRE(r.format());
        rig::Random rnd(unit * 100 + sectors);
        std::map<std::string, std::string> model;
        for (int i = 0; i < 1500; ++i) {
          const std::string k = "key" + std::to_string(rnd.below(20));
          const std::string v = std::to_string(rnd.next()).substr(0, rnd.below(12));
          if (rnd.below(10) == 0) {
            auto st = r.erase(k);
            CHECK((st || st.error() == Errc::not_found));
            model.erase(k);
          } else {
            CHECK(r.put(k, v));
            model[k] = v;
          }
        }
        CHECK(r.store->stats().gc_runs > 0);
        r.reboot();
        REQUIRE(r.mount());
        std::size_t mismatches = 0;
        for (auto& [k, v] : model) mismatches += r.get(k) != v;
        CHECK(mismatches == 0);
        CHECK(r.store->stats().keys == (keys ? model.size() : 0));
      }
    }
  }
}

TEST_CASE("erased value 0x00 flash works like 0xFF flash", "[log]") {
  Rig r(rig::geometry(3, 2048, 4, ferrite::EraseValue::zeros));
  REQUIRE(r.format());
  for (int i = 0; i < 500; ++i) CHECK(r.put("k" + std::to_string(i % 7), std::to_string(i)));
  r.reboot();
  REQUIRE(r.mount());
  for (int i = 493; i < 500; ++i) CHECK(r.get("k" + std::to_string(i % 7)) == std::to_string(i));
}

TEST_CASE("a full store answers no_space, changes nothing and stays usable", "[log][full]") {
  Rig r(rig::geometry(2, 4096, 4));
  REQUIRE(r.format());
  int stored = 0;
  ferrite::Status last{};
  for (int i = 0; i < 1000 && last; ++i) {
    last = r.put("key" + std::to_string(i), std::string(100, 'a' + i % 26));
    if (last) ++stored;
  }
  CHECK(error_of(last) == Errc::no_space);
  CHECK(stored > 5);
  CHECK(r.get("key" + std::to_string(stored)) == "!not_found");
  for (int i = 0; i < stored; ++i) CHECK(r.get("key" + std::to_string(i)) == std::string(100, 'a' + i % 26));
  // Overwriting in place still works, and erasing frees room.
  CHECK(r.put("key0", std::string(100, 'z')));
  CHECK(r.erase("key1"));
  CHECK(r.put("fresh", std::string(50, 'f')));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("key0") == std::string(100, 'z'));
  CHECK(r.get("fresh") == std::string(50, 'f'));
  CHECK(r.get("key1") == "!not_found");
}

TEST_CASE("an index with no free entry answers no_memory and writes nothing", "[log]") {
  Rig r(rig::geometry(2, 4096, 4), 4);
  REQUIRE(r.format());
  for (int i = 0; i < 4; ++i) CHECK(r.put("k" + std::to_string(i), "v"));
  const auto before = r.sim.counters().bytes_programmed;
  CHECK(error_of(r.put("k9", "v")) == Errc::no_memory);
  CHECK(r.sim.counters().bytes_programmed == before);
  CHECK(r.put("k1", "updated"));
}

#if FERRITE_WITH_SCANS
TEST_CASE("scans list keys by prefix and ranges in key order", "[log][scan]") {
  for (bool ordered : {true, false}) {
    Rig r(rig::geometry(3, 4096, 4));
    if (!ordered) r.config.order = {};
    r.store.emplace(r.flash, r.config);
    REQUIRE(r.format());
    for (const char* k : {"b/2", "a/1", "b/1", "c", "b/10", "a/2", "b"}) CHECK(r.put(k, "x"));
    CHECK(r.keys() == std::vector<std::string>{"a/1", "a/2", "b", "b/1", "b/10", "b/2", "c"});
    CHECK(r.keys("b/") == std::vector<std::string>{"b/1", "b/10", "b/2"});
    CHECK(r.keys("zz").empty());
    auto c = r.store->range(rig::bytes("a/2"), rig::bytes("b/10"));
    std::vector<std::string> got;
    while (ferrite::sync_wait(c.next()).value_or(false)) got.emplace_back(c.key_string());
    CHECK(got == std::vector<std::string>{"a/2", "b", "b/1"});
    CHECK(r.erase("b/1"));
    CHECK(r.keys("b/") == std::vector<std::string>{"b/10", "b/2"});
    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.keys() == std::vector<std::string>{"a/1", "a/2", "b", "b/10", "b/2", "c"});
  }
}
#endif

#if FERRITE_WITH_SCANS && FERRITE_WITH_INDEX_LESS
TEST_CASE("an index-less store scans every live key once", "[log][scan]") {
  Rig r(rig::geometry(3, 2048, 4), 0);
  REQUIRE(r.format());
  for (int i = 0; i < 200; ++i) CHECK(r.put("p" + std::to_string(i % 9), std::to_string(i)));
  CHECK(r.erase("p3"));
  auto keys = r.keys("p");
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"p0", "p1", "p2", "p4", "p5", "p6", "p7", "p8"});
}
#endif

#if FERRITE_WITH_VERIFY_WRITES
TEST_CASE("verify-after-write reports a program that silently did nothing, and the old value stays", "[log][verify]") {
  Rig r(rig::geometry(2, 4096, 4), 64, true, true);
  REQUIRE(r.format());
  CHECK(r.put("k", "old!"));
  r.sim.fail_next(ferrite::FlashOpKind::program, Errc::ok, true);
  CHECK(error_of(r.put("k", "new!")) == Errc::io);
  CHECK(r.get("k") == "old!");
  CHECK(r.put("k", "new!"));
  CHECK(r.get("k") == "new!");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("k") == "new!");
}
#endif

TEST_CASE("flash errors reach the caller and the store stays consistent", "[log]") {
  Rig r(rig::geometry(2, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("k", "v1"));
  r.sim.fail_next(ferrite::FlashOpKind::program, Errc::io);
  CHECK(error_of(r.put("k", "v2")) == Errc::io);
  CHECK(r.get("k") == "v1");
  r.sim.fail_next(ferrite::FlashOpKind::read, Errc::io);
  CHECK(r.get("k") == "!io");
  CHECK(r.put("k", "v3"));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("k") == "v3");
}

TEST_CASE("wear stays even across sectors, cold data included", "[log][wear]") {
  Rig r(rig::geometry(8, 2048, 4));
  REQUIRE(r.format());
  for (int i = 0; i < 30; ++i) CHECK(r.put("cold" + std::to_string(i), "never changes"));
  for (int i = 0; i < 12000; ++i) CHECK(r.put("hot", std::to_string(i)));
  const auto st = r.store->stats();
  INFO("erase min " << st.erase_min << " max " << st.erase_max);
  CHECK(st.erase_max - st.erase_min <= 1);
  CHECK(st.erase_min >= 5);
  for (int i = 0; i < 30; ++i) CHECK(r.get("cold" + std::to_string(i)) == "never changes");
}

TEST_CASE("stats account for live, free and reclaimable bytes", "[log][stats]") {
  Rig r(rig::geometry(2, 4096, 4));
  REQUIRE(r.format());
  const auto empty = r.store->stats();
  CHECK(empty.live_bytes == 0);
  CHECK(empty.free_bytes > 3000);
  CHECK(r.put("k000", "abcd"));
  CHECK(r.put("k000", "bcde"));
  const auto s = r.store->stats();
  CHECK(s.keys == 1);
  CHECK(s.live_bytes == 16);
  CHECK(s.reclaimable_bytes == 8);
  CHECK(s.records_written == 2);
  CHECK(s.free_bytes == empty.free_bytes - 24);
  CHECK(r.store->ram_bytes() > sizeof(ferrite::Store));
}

TEST_CASE("maintenance pre-erases and collects in bounded steps so puts never erase", "[log][maintain]") {
  Rig r(rig::geometry(2, 4096, 4));
  REQUIRE(r.format());
  for (int i = 0; i < 50; ++i) CHECK(r.put("k" + std::to_string(i), "abcd"));
  std::uint64_t put_erases = 0;
  std::uint32_t most_copied = 0;
  for (int i = 0; i < 5000; ++i) {
    const auto erases_before = r.sim.counters().erase_ops;
    CHECK(r.put("k" + std::to_string(i % 50), std::to_string(1000 + i % 9000)));
    put_erases += r.sim.counters().erase_ops - erases_before;
    auto rep = ferrite::sync_wait(r.store->maintain({8, true}));
    CHECK(rep);
    if (rep) most_copied = std::max(most_copied, rep->records_copied);
  }
  CHECK(put_erases == 0);
  CHECK(most_copied <= 8);
  CHECK(r.store->stats().gc_runs > 3);
  r.reboot();
  REQUIRE(r.mount());
  for (int i = 0; i < 50; ++i) CHECK(r.get("k" + std::to_string(i)) == std::to_string(1000 + (4950 + i) % 9000));
}

TEST_CASE("a corrupted record is reported, never returned, and the rest stays readable", "[log][corruption]") {
  Rig r(rig::geometry(3, 2048, 4));
  REQUIRE(r.format());
  for (int i = 0; i < 10; ++i) CHECK(r.put("key" + std::to_string(i), "value-" + std::to_string(i)));
  // Flip one bit inside the value of key3's record.
  const auto image = r.sim.image();
  const std::string needle = "value-3";
  std::size_t at = 0;
  for (std::size_t i = 0; i + needle.size() <= image.size(); ++i)
    if (std::memcmp(image.data() + i, needle.data(), needle.size()) == 0) at = i;
  REQUIRE(at != 0);
  r.sim.flip_bit(static_cast<std::uint32_t>(at + 2), 1);
  CHECK(r.get("key3") == "!corrupt");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("key3") == "!not_found");
  for (int i = 0; i < 10; ++i)
    if (i != 3) CHECK(r.get("key" + std::to_string(i)) == "value-" + std::to_string(i));
}

#if FERRITE_WITH_INDEX_LESS
TEST_CASE("an index-less store built from StoreMemory<0, N> updates and erases keys", "[log]") {
  ferrite::sim::SimFlash sim(rig::geometry(2, 4096, 4));
  ferrite::Flash flash(sim);
  ferrite::StoreMemory<0, 2> memory;  // no index storage at all
  ferrite::Store store(flash, memory.config());
  CHECK(ferrite::sync_wait(store.format()));
  CHECK(ferrite::sync_wait(store.put("k", "1")));
  CHECK(ferrite::sync_wait(store.put("k", "22")));
  CHECK(ferrite::sync_wait(store.put("k", "22")));
  std::string v;
  CHECK(ferrite::sync_wait(store.get_string("k", v)));
  CHECK(v == "22");
  CHECK(ferrite::sync_wait(store.erase("k")));
  CHECK(ferrite::sync_wait(store.get_string("k", v)).error() == Errc::not_found);
}
#endif

// ---------------------------------------------------------------------------
// First-hour pitfalls: typed values, refusals that say why, lifecycle calls.

#if FERRITE_WITH_TYPED_WRITES && FERRITE_WITH_SCANS
namespace {
template <class T>
ferrite::Result<T> get_as(Rig& r, std::string_view k) {
  return ferrite::sync_wait(r.store->get_as<T>(k));
}
ferrite::ValueType type_of(Rig& r, std::string_view k) {
  return ferrite::sync_wait(r.store->type_of(k)).value_or(static_cast<ferrite::ValueType>(0xEE));
}
std::map<std::string, ferrite::ValueType> scan_types(Rig& r) {
  std::map<std::string, ferrite::ValueType> out;
  auto c = r.store->scan("");
  for (;;) {
    auto more = ferrite::sync_wait(c.next());
    CHECK(more);
    if (!more || !*more) break;
    out[std::string(c.key_string())] = c.type();
  }
  return out;
}
}  // namespace
#endif

#if FERRITE_WITH_TYPED_WRITES && FERRITE_WITH_SCANS && FERRITE_WITH_INDEX_LESS
TEST_CASE("a typed value remembers its type on flash and get_as refuses another type", "[log][typed]") {
  using ferrite::ValueType;
  for (std::size_t keys : {Rig::max_keys, std::size_t{0}}) {
    INFO((keys ? "indexed" : "index-less"));
    Rig r(rig::geometry(3, 4096, 4), keys);
    REQUIRE(r.format());
    auto& s = *r.store;
    CHECK(ferrite::sync_wait(s.put_as("d", 2.5)));
    CHECK(ferrite::sync_wait(s.put_as("u64", std::uint64_t{7})));
    CHECK(ferrite::sync_wait(s.put_as("i8", std::int8_t{-3})));
    CHECK(ferrite::sync_wait(s.put_as("b", true)));
    CHECK(ferrite::sync_wait(s.put_as("f", 1.5f)));
    CHECK(ferrite::sync_wait(s.put_as("name", std::string_view("pump-7"))));
    CHECK(r.put("raw", "\x05" "abc"));  // starts with a byte that is a tag: still untyped
    auto check_all = [&] {
      CHECK(get_as<double>(r, "d").value_or(0) == 2.5);
      CHECK(get_as<std::uint64_t>(r, "d").error() == Errc::type_mismatch);  // same size, other type
      CHECK(get_as<std::int64_t>(r, "u64").error() == Errc::type_mismatch);
      CHECK(get_as<std::uint64_t>(r, "u64").value_or(0) == 7);
      CHECK(get_as<std::int8_t>(r, "i8").value_or(0) == -3);
      CHECK(get_as<std::uint8_t>(r, "i8").error() == Errc::type_mismatch);
      CHECK(get_as<bool>(r, "b").value_or(false));
      CHECK(get_as<float>(r, "f").value_or(0) == 1.5f);
      CHECK(get_as<std::uint32_t>(r, "f").error() == Errc::type_mismatch);
      CHECK(get_as<std::uint32_t>(r, "name").error() == Errc::type_mismatch);
      CHECK(get_as<std::uint32_t>(r, "nope").error() == Errc::not_found);
      auto sc = ferrite::sync_wait(s.get_scalar("d"));
      CHECK(sc->type() == ValueType::f64);
      CHECK(sc->as<std::uint64_t>().error() == Errc::type_mismatch);
      CHECK(r.get("name") == "pump-7");  // get reads the value, not its tag
      CHECK(ferrite::sync_wait(s.size_of("name")).value_or(0) == 6);
      CHECK(ferrite::sync_wait(s.size_of("d")).value_or(0) == 8);
      CHECK(r.get("raw") == "\x05" "abc");
      CHECK(type_of(r, "raw") == ValueType::untyped);
      CHECK(type_of(r, "name") == ValueType::string);
      CHECK(type_of(r, "b") == ValueType::boolean);
      const auto types = scan_types(r);
      CHECK(types.at("d") == ValueType::f64);
      CHECK(types.at("u64") == ValueType::u64);
      CHECK(types.at("i8") == ValueType::i8);
      CHECK(types.at("b") == ValueType::boolean);
      CHECK(types.at("f") == ValueType::f32);
      CHECK(types.at("name") == ValueType::string);
      CHECK(types.at("raw") == ValueType::untyped);
    };
    check_all();
    r.reboot();
    REQUIRE(r.mount());
    check_all();
    // Updates, compact ones on an indexed store, and garbage collection keep the type.
    for (std::uint32_t i = 0; i < 2000; ++i) CHECK(ferrite::sync_wait(s.put_as("n", i)));
    CHECK(s.stats().gc_runs > 0);
    CHECK(get_as<std::uint32_t>(r, "n").value_or(0) == 1999);
    check_all();
    r.reboot();
    REQUIRE(r.mount());
    CHECK(get_as<std::uint32_t>(r, "n").value_or(0) == 1999);
    CHECK(get_as<std::int32_t>(r, "n").error() == Errc::type_mismatch);
    check_all();
    // The same length with another typedness is a new binding, not a compact update.
    CHECK(r.put("n", std::string("\x05\x01\x02\x03\x04", 5)));
    CHECK(type_of(r, "n") == ValueType::untyped);
    CHECK(get_as<std::uint32_t>(r, "n").error() == Errc::type_mismatch);  // 5 untyped bytes
    CHECK(ferrite::sync_wait(s.put_as("n", std::uint32_t{9})));
    CHECK(type_of(r, "n") == ValueType::u32);
    CHECK(ferrite::sync_wait(s.put_as("n", std::int32_t{9})));  // same bytes, other type: written
    CHECK(type_of(r, "n") == ValueType::i32);
    r.reboot();
    REQUIRE(r.mount());
    CHECK(get_as<std::int32_t>(r, "n").value_or(0) == 9);
    CHECK(type_of(r, "n") == ValueType::i32);
    // A value that does not fit its type, and the tag's byte of room.
    const std::array<std::byte, 3> three{};
    CHECK(ferrite::sync_wait(s.put_typed(rig::bytes("x"), ValueType::u32, three)).error() == Errc::invalid_argument);
    CHECK(ferrite::sync_wait(s.put_typed(rig::bytes("x"), ValueType::untyped, three)).error() == Errc::invalid_argument);
    const std::string longest(s.value_limit() - 1, 's');
    CHECK(ferrite::sync_wait(s.put_as("long", std::string_view(longest))));
    CHECK(r.get("long") == longest);
    CHECK(ferrite::sync_wait(s.put_as("long", std::string_view(longest + "s"))).error() == Errc::too_large);
    CHECK(s.last_refusal().code == Errc::too_large);
    CHECK(s.last_refusal().limit == s.value_limit() - 1);
  }
}
#endif

#if FERRITE_WITH_TYPED_WRITES && FERRITE_WITH_SCANS
TEST_CASE("an image written before typed values mounts and reads its values as untyped", "[log][typed]") {
  // The old way: put_as wrote the bare bytes with a plain PUT (kind 0), which
  // put_scalar of an untyped Scalar and put of bytes still write.
  Rig r(rig::geometry(2, 8192, 4));
  REQUIRE(r.format());
  const std::uint64_t eight = 0x0102030405060708ull;
  std::array<std::byte, 8> raw{};
  std::memcpy(raw.data(), &eight, 8);
  CHECK(r.put("old.u64", raw));
  ferrite::Scalar untyped;
  untyped.bytes = raw;
  untyped.size = 4;
  CHECK(ferrite::sync_wait(r.store->put_scalar(rig::bytes("old.u32"), untyped)));
  // No record of kind 6 on flash: header words have kind bits 8..10 = 0.
  r.reboot();
  REQUIRE(r.mount());
  auto sc = ferrite::sync_wait(r.store->get_scalar("old.u64"));
  REQUIRE(sc);
  CHECK(sc->type() == ferrite::ValueType::untyped);
  CHECK(sc->size == 8);
  // Untyped values have no type to check: the size is all get_as can check.
  CHECK(get_as<std::uint64_t>(r, "old.u64").value_or(0) == eight);
  CHECK(get_as<std::uint32_t>(r, "old.u64").error() == Errc::type_mismatch);
  CHECK(get_as<std::uint32_t>(r, "old.u32").value_or(0) == 0x05060708u);
  CHECK(type_of(r, "old.u64") == ferrite::ValueType::untyped);
  CHECK(scan_types(r).at("old.u64") == ferrite::ValueType::untyped);
  // A typed write over an old value, then the old reader's view: get gives the bytes.
  CHECK(ferrite::sync_wait(r.store->put_as("old.u64", eight)));
  std::array<std::byte, 8> back{};
  CHECK(ferrite::sync_wait(r.store->get("old.u64", back)).value_or(0) == 8);
  CHECK(back == raw);
}
#endif

namespace {
/// A device that is only its geometry (every request fails): for
/// configurations a store refuses before it reads anything.
class GeometryOnly final : public ferrite::FlashDevice {
 public:
  explicit GeometryOnly(ferrite::Geometry g) : g_(g) {}
  const ferrite::Geometry& geometry() const noexcept override { return g_; }
  void submit(ferrite::FlashRequest& r) noexcept override { r.complete(Errc::io); }

 private:
  ferrite::Geometry g_;
};
}  // namespace

TEST_CASE("refused configurations and writes name their field, value and limit", "[log][report]") {
  SECTION("sectors larger than the sector table counts (16 MiB)") {
    GeometryOnly big(rig::geometry(2, 32u << 20, 4));
    ferrite::Flash flash(big);
    ferrite::StoreMemory<10, 2> memory;
    auto config = memory.config();
    config.index = {};  // index-less: 64 MiB is beyond what an index addresses too
    ferrite::Store store(flash, config);
    const ferrite::Refusal why = store.config_report();
    CHECK(why.code == Errc::invalid_argument);
    CHECK(std::string(why.field) == "sector size");
    CHECK(why.value == 32u << 20);
    CHECK(why.limit == ferrite::max_sector_bytes);
    CHECK(ferrite::sync_wait(store.format()).error() == Errc::invalid_argument);
    CHECK(ferrite::sync_wait(store.mount()).error() == Errc::invalid_argument);
    GeometryOnly fits(rig::geometry(2, 8u << 20, 4));
    ferrite::Flash fits_flash(fits);
    ferrite::Store fitting(fits_flash, config);
    const char* field = fitting.config_report().field;
    CHECK((field == nullptr || std::string(field) != "sector size"));
  }
  SECTION("a sector table shorter than the partition") {
    ferrite::sim::SimFlash sim(rig::geometry(2, 4096, 4));
    ferrite::Flash flash(sim);
    ferrite::StoreMemory<10, 1> memory;
    ferrite::Store store(flash, memory.config());
    CHECK(ferrite::sync_wait(store.mount()).error() == Errc::invalid_argument);
    const ferrite::Refusal why = store.last_refusal();
    CHECK(why.code == Errc::invalid_argument);
    CHECK(std::string(why.field) == "sectors");
    CHECK(why.value == 1);
    CHECK(why.limit == 2);
    CHECK(store.config_report().code == Errc::invalid_argument);
    CHECK(ferrite::sync_wait(store.format()).error() == Errc::invalid_argument);
  }
  SECTION("max_value_size clamped by the geometry, and no_space with capacity and live bytes") {
    Rig r(rig::geometry(2, 4096, 4), Rig::max_keys, true, false, 1, 4096);
    const ferrite::Refusal clamp = r.store->config_report();
    CHECK(clamp.code == Errc::ok);
    CHECK(std::string(clamp.field) == "max_value_size");
    CHECK(clamp.value == 4096);
    CHECK(clamp.limit == r.store->value_limit());
    CHECK(r.store->value_limit() == 1280);
    REQUIRE(r.format());
    CHECK(r.put("a", std::string(1000, 'a')));
    CHECK(error_of(r.put("b", std::string(1000, 'b'))) == Errc::no_space);
    const ferrite::Refusal why = r.store->last_refusal();
    CHECK(why.code == Errc::no_space);
    CHECK(std::string(why.field) == "live bytes");
    CHECK(why.limit == r.store->stats().capacity_bytes);
    CHECK(why.value > why.limit);
    CHECK(why.value == r.store->stats().live_bytes + 1012);  // 8 + 1 + 1000, rounded to 4
    CHECK(error_of(r.put(std::string(65, 'k'), "v")) == Errc::too_large);
    CHECK(std::string(r.store->last_refusal().field) == "key");
    CHECK(r.store->last_refusal().value == 65);
    CHECK(r.store->last_refusal().limit == 64);
    CHECK(error_of(r.put("v", std::string(1281, 'v'))) == Errc::too_large);
    CHECK(std::string(r.store->last_refusal().field) == "value");
    CHECK(r.store->last_refusal().limit == 1280);
  }
  SECTION("a full index") {
    Rig r(rig::geometry(2, 8192, 4), 2);
    REQUIRE(r.format());
    CHECK(r.put("a", "1"));
    CHECK(r.put("b", "2"));
    CHECK(error_of(r.put("c", "3")) == Errc::no_memory);
    CHECK(std::string(r.store->last_refusal().field) == "index");
    CHECK(r.store->last_refusal().limit == 2);
  }
  SECTION("an accepted configuration has nothing to report") {
    Rig r(rig::geometry(2, 16384, 4), Rig::max_keys, true, false, 1, 1024);
    CHECK(r.store->config_report().code == Errc::ok);
    CHECK(!r.store->config_report());
    CHECK(!r.store->last_refusal());
  }
}

TEST_CASE("lifecycle calls that would lose data are refused", "[log][lifecycle]") {
  SECTION("mount and format of a mounted store answer already_mounted and change nothing") {
    Rig r(rig::geometry(2, 8192, 4));
    REQUIRE(r.format());
    CHECK(r.put("k", "v"));
    CHECK(error_of(r.mount()) == Errc::already_mounted);
    CHECK(r.store->mounted());
    CHECK(error_of(r.format()) == Errc::already_mounted);
    CHECK(r.store->last_refusal().code == Errc::already_mounted);
    CHECK(r.get("k") == "v");
    CHECK(r.store->stats().keys == 1);
    r.store->unmount();
    CHECK(r.mount());
    CHECK(r.get("k") == "v");
    r.store->unmount();
    CHECK(r.format());  // formatting takes an explicit unmount first
    CHECK(r.get("k") == "!not_found");
  }
  SECTION("a geometry that leaves no room for a useful value is refused at format and mount") {
    ferrite::sim::SimFlash sim(*ferrite::Geometry::uniform(2, 256, 4));
    ferrite::Flash flash(sim);
    ferrite::StoreMemory<8, 2> memory;
    ferrite::Store store(flash, memory.config());
    CHECK(ferrite::sync_wait(store.format()).error() == Errc::invalid_argument);
    CHECK(ferrite::sync_wait(store.mount()).error() == Errc::invalid_argument);
    const ferrite::Refusal why = store.config_report();
    CHECK(std::string(why.field) == "value_limit");
    CHECK(why.value < ferrite::min_useful_value_limit);
    CHECK(why.limit == ferrite::min_useful_value_limit);
    CHECK(std::string(store.last_refusal().field) == "value_limit");
  }
#if FERRITE_WITH_INDEX_LESS && FERRITE_WITH_SCANS
  SECTION("an index-less store says it does not know its key count, and counts on request") {
    Rig r(rig::geometry(3, 8192, 4), 0);
    REQUIRE(r.format());
    for (int i = 0; i < 55; ++i) CHECK(r.put("key" + std::to_string(i), "v"));
    CHECK(r.put("key0", "w"));
    CHECK(r.erase("key1"));
    CHECK(!r.store->stats().keys_known);
    CHECK(ferrite::sync_wait(r.store->count_keys()).value_or(0) == 54);
    Rig indexed(rig::geometry(3, 8192, 4));
    REQUIRE(indexed.format());
    CHECK(indexed.store->stats().keys_known);
  }
#endif
}
