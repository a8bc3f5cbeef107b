// Series logs: every call and error of ferrite::SeriesLog, clocks that jump,
// rollover and a full log, several series, remounts, sealed logs, ECC and
// non-uniform geometries; the power-cut campaign powerloss-series and a
// mount fuzz.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.series;
import ferrite.docstore;
import ferrite.sim;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#include "campaign_scale.hpp"
#include "log_rig.hpp"
#include "series_rig.hpp"

using ferrite::Errc;
using series_rig::Rig;
using series_rig::Row;
using series_rig::uniform;

namespace {

std::string reading(int i) { return "r" + std::to_string(i); }

}  // namespace

TEST_CASE("an erased partition mounts as an empty series log without erasing anything", "[series]") {
  Rig r(uniform(4, 1024, 4));
  CHECK(r.mount());
  CHECK(r.sim.counters().erase_ops == 0);
  CHECK(r.sim.counters().program_ops == 0);
  const auto st = r.log->stats();
  CHECK(st.next_seq == 1);
  CHECK(st.live_sectors == 0);
  CHECK(st.free_sectors == 4);
  CHECK(r.last(0, 10).empty());
  CHECK(r.range_time(0, -1000, 1000).empty());
  CHECK(*r.count(0, -1000, 1000) == 0);
}

TEST_CASE("append answers increasing sequence numbers and the readings read back", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 10; ++i) {
    auto seq = r.append(1, 100 + i, reading(i));
    REQUIRE(seq);
    CHECK(*seq == static_cast<std::uint64_t>(i + 1));
  }
  const auto all = r.range_seq(1, 1, 100);
  REQUIRE(all.size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(all[i] == (Row{std::uint64_t(i + 1), 100 + i, 1, reading(i)}));
}

TEST_CASE("last yields the newest readings of a series first", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 60; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 2), i, reading(i)));
  const auto last = r.last(1, 20);
  REQUIRE(last.size() == 20);
  for (int k = 0; k < 20; ++k) CHECK(last[k].payload == reading(59 - 2 * k));
  CHECK(r.last(0, 1000).size() == 30);
  CHECK(r.last(7, 5).empty());
  CHECK(r.last(1, 0).empty());
}

TEST_CASE("range_time yields the readings of a time range in sequence order", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 40; ++i) REQUIRE(r.append(0, i * 10, reading(i)));
  const auto rows = r.range_time(0, 95, 200);
  REQUIRE(rows.size() == 11);
  CHECK(rows.front().ts == 100);
  CHECK(rows.back().ts == 200);
  CHECK(r.range_time(0, 500, 100).empty());
  CHECK(*r.count(0, 95, 200) == 11);
  CHECK(*r.count(0, 200, 95) == 0);
}

TEST_CASE("range_seq yields the readings between two sequence numbers", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 40; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 3), i, reading(i)));
  const auto rows = r.range_seq(0, 10, 20);
  std::vector<std::uint64_t> seqs;
  for (const auto& x : rows) seqs.push_back(x.seq);
  CHECK(seqs == std::vector<std::uint64_t>{10, 13, 16, 19});
  CHECK(r.range_seq(0, 20, 10).empty());
  const auto every = r.since(35);
  CHECK(every.size() == 6);
  CHECK(every.front().seq == 35);
}

TEST_CASE("a clock that jumps back or forward never blocks an append and only widens a time scan", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  const std::int64_t clock[] = {1000, 1001, 5, 6, 1'000'000'000'000, 7, -50, INT64_MAX, INT64_MIN, 1002};
  std::uint64_t prev = 0;
  for (int i = 0; i < 10; ++i) {
    auto seq = r.append(0, clock[i], reading(i));
    REQUIRE(seq);
    CHECK(*seq > prev);
    prev = *seq;
  }
  const auto rows = r.range_time(0, 1000, 1002);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].payload == reading(0));
  CHECK(rows[2].payload == reading(9));
  CHECK(*r.count(0, INT64_MIN, INT64_MAX) == 10);
  CHECK(*r.count(0, -100, 10) == 4);
  CHECK(r.range_time(0, INT64_MIN, INT64_MIN).size() == 1);
}

TEST_CASE("time scans skip sectors whose time span misses the range", "[series]") {
  Rig r(uniform(8, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 200; ++i) REQUIRE(r.append(0, i, reading(i)));
  REQUIRE(r.log->stats().live_sectors >= 5);
  r.sim.reset_counters();
  CHECK(r.range_time(0, 195, 199).size() == 5);
  const auto narrow = r.sim.counters().bytes_read;
  r.sim.reset_counters();
  CHECK(r.range_time(0, 0, 199).size() == 200);
  CHECK(narrow * 3 < r.sim.counters().bytes_read);
}

TEST_CASE("rollover erases the oldest sector when the log is full and keeps the newest readings", "[series]") {
  Rig r(uniform(4, 512, 4));
  REQUIRE(r.mount());
  std::uint64_t last = 0;
  for (int i = 0; i < 400; ++i) {
    auto seq = r.append(0, i, reading(i));
    REQUIRE(seq);
    last = *seq;
  }
  const auto st = r.log->stats();
  CHECK(st.rollovers > 0);
  // One sector stays free: taking it erased the oldest.
  CHECK(st.live_sectors == 3);
  CHECK(st.free_sectors == 1);
  CHECK(st.oldest_seq > 1);
  const auto newest = r.last(0, 1);
  REQUIRE(newest.size() == 1);
  CHECK(newest[0].seq == last);
  const auto kept = r.range_seq(0, 0, last);
  CHECK(kept.size() == last - st.oldest_seq + 1);
  CHECK(kept.front().seq == st.oldest_seq);
  // Erases: one per sector opened, no copies.
  CHECK(r.sim.counters().erase_ops == st.sectors_erased);
  CHECK(st.sectors_erased <= st.rollovers);
}

TEST_CASE("a cut while rollover erases the oldest sector drops that sector whole, never in part", "[series]") {
  for (std::uint64_t tear = 0; tear < 40; ++tear) {
    Rig r(uniform(3, 256, 4), true, tear);
    REQUIRE(r.mount());
    // Fill two sectors; the next sector opened is the last free one, and
    // taking it erases the oldest: cut that erase.
    int i = 0;
    for (; r.log->stats().free_sectors > 1; ++i) REQUIRE(r.append(0, i, reading(i)));
    const auto before = r.log->stats();
    for (; r.log->stats().head_room >= 24; ++i) REQUIRE(r.append(0, i, reading(i)));
    const std::vector<std::byte> snapshot(r.sim.image().begin(), r.sim.image().end());
    r.sim.cut_power_at(r.sim.mutating_ops() + 1);  // 0: the new header, 1: the erase
    CHECK(r.append(0, i, reading(i)).error() == Errc::power_lost);
    // The worst a cut erase can leave: the first part of the sector as it
    // was (header and first readings intact), the rest erased.
    const std::uint32_t keep = 32 + static_cast<std::uint32_t>(tear % 8) * 24;
    int restored = 0;
    std::vector<std::byte> image(r.sim.image().begin(), r.sim.image().end());
    for (std::uint32_t sector = 0; sector < 3; ++sector) {
      const std::size_t base = sector * 256;
      const bool was_written = snapshot[base] != std::byte{0xFF};
      const bool changed = !std::equal(snapshot.begin() + base, snapshot.begin() + base + 256, image.begin() + base);
      if (!was_written || !changed || tear % 2 == 0) continue;
      std::copy_n(snapshot.begin() + base, keep, image.begin() + base);
      std::fill_n(image.begin() + base + keep, 256 - keep, std::byte{0xFF});
      ++restored;
    }
    if (restored) r.sim.load_image(image);  // no weak bits: the prefix reads back stable
    CHECK(restored == (tear % 2 == 0 ? 0 : 1));
    r.reboot();
    REQUIRE(r.mount());
    const auto rows = r.since(0);
    REQUIRE(!rows.empty());
    // Nothing of the oldest sector shows, and everything after it does.
    CHECK(rows.front().seq == before.rollover_floor);
    CHECK(rows.back().payload == reading(i - 1));
    CHECK(rows.size() == rows.back().seq - rows.front().seq + 1);
  }
}

TEST_CASE("a full log without rollover answers no_space, changes nothing, and stays mountable and readable",
          "[series]") {
  Rig r(uniform(3, 512, 4), false);
  REQUIRE(r.mount());
  std::uint64_t acknowledged = 0;
  for (int i = 0; i < 200; ++i) {
    auto seq = r.append(0, i, reading(i));
    if (!seq) {
      CHECK(seq.error() == Errc::no_space);
      CHECK(std::string(r.log->last_refusal().field) == "sectors");
      break;
    }
    acknowledged = *seq;
  }
  REQUIRE(acknowledged > 10);
  const auto image = std::vector<std::byte>(r.sim.image().begin(), r.sim.image().end());
  CHECK(r.append(0, 1, "x").error() == Errc::no_space);
  CHECK(std::vector<std::byte>(r.sim.image().begin(), r.sim.image().end()) == image);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.range_seq(0, 0, 1000).size() == acknowledged);
  CHECK(r.append(0, 1, "x").error() == Errc::no_space);
  // clear_all makes room even then.
  REQUIRE(r.clear_all());
  auto seq = r.append(0, 1, "after");
  REQUIRE(seq);
  CHECK(*seq > acknowledged);
  CHECK(r.range_seq(0, 0, 1000).size() == 1);
}

TEST_CASE("a payload beyond payload_limit is too_large and names the limit", "[series]") {
  Rig r(uniform(4, 512, 4), true, 1, nullptr, 1000);
  REQUIRE(r.mount());
  const std::uint32_t limit = r.log->payload_limit();
  CHECK(limit == 512 - 32 - 20);
  CHECK(r.append(0, 0, std::string(limit, 'a')));
  auto big = r.append(0, 0, std::string(limit + 1, 'a'));
  CHECK(big.error() == Errc::too_large);
  const auto why = r.log->last_refusal();
  CHECK(why.code == Errc::too_large);
  CHECK(std::string(why.field) == "payload");
  CHECK(why.value == limit + 1);
  CHECK(why.limit == limit);
  Rig small(uniform(4, 4096, 4), true, 1, nullptr, 64);
  REQUIRE(small.mount());
  CHECK(small.log->payload_limit() == 64);
}

TEST_CASE("calls on a log that is not mounted answer not_mounted; mount twice answers already_mounted",
          "[series]") {
  Rig r(uniform(4, 512, 4));
  CHECK(r.append(0, 0, "x").error() == Errc::not_mounted);
  CHECK(r.clear(0).error() == Errc::not_mounted);
  CHECK(r.clear_all().error() == Errc::not_mounted);
  CHECK(r.count(0, 0, 1).error() == Errc::not_mounted);
  Errc e = Errc::ok;
  r.last(0, 1, &e);
  CHECK(e == Errc::not_mounted);
  REQUIRE(r.mount());
  CHECK(r.mount().error() == Errc::already_mounted);
  r.log->unmount();
  CHECK(r.append(0, 0, "x").error() == Errc::not_mounted);
}

TEST_CASE("mount refuses a configuration it cannot run with, and says why", "[series]") {
  {
    Rig r(uniform(4, 512, 4));
    r.config.sectors = std::span<ferrite::SeriesSector>(r.sectors).first(3);
    r.log.emplace(r.flash, r.config);
    CHECK(r.mount().error() == Errc::invalid_argument);
    CHECK(std::string(r.log->last_refusal().field) == "sectors");
  }
  {
    Rig r(uniform(4, 512, 4));
    r.config.log_id = 0;
    r.log.emplace(r.flash, r.config);
    CHECK(r.mount().error() == Errc::invalid_argument);
    CHECK(std::string(r.log->last_refusal().field) == "log_id");
  }
  {
    Rig r(uniform(4, 512, 4));
    r.config.scratch = std::span<std::byte>(r.scratch).first(16);
    r.log.emplace(r.flash, r.config);
    CHECK(r.mount().error() == Errc::invalid_argument);
    CHECK(std::string(r.log->last_refusal().field) == "scratch");
  }
  {
    Rig r(uniform(1, 512, 4));
    CHECK(r.mount().error() == Errc::invalid_argument);
  }
  {
    Rig r(uniform(4, 32, 4));
    CHECK(r.mount().error() == Errc::invalid_argument);
    CHECK(std::string(r.log->last_refusal().field) == "sector size");
  }
}

TEST_CASE("a partition written by another log id is foreign_format", "[series]") {
  Rig r(uniform(4, 512, 4));
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, "x"));
  r.config.log_id = 2;
  r.reboot();
  CHECK(r.mount().error() == Errc::foreign_format);
}

TEST_CASE("several series share a partition and each reads only its own", "[series]") {
  Rig r(uniform(6, 1024, 4));
  REQUIRE(r.mount());
  std::map<int, std::vector<std::string>> want;
  for (int i = 0; i < 150; ++i) {
    const int s = (i * 7) % 5;
    REQUIRE(r.append(static_cast<std::uint8_t>(s), i, reading(i)));
    want[s].push_back(reading(i));
  }
  for (int s = 0; s < 5; ++s) {
    const auto rows = r.range_time(static_cast<std::uint8_t>(s), 0, 1000);
    std::vector<std::string> got;
    for (const auto& x : rows) got.push_back(x.payload);
    CHECK(got == want[s]);
    CHECK(*r.count(static_cast<std::uint8_t>(s), 0, 1000) == want[s].size());
  }
}

TEST_CASE("clear hides the readings of one series written before it, and survives a remount", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 20; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 2), i, reading(i)));
  REQUIRE(r.clear(1));
  REQUIRE(r.append(1, 100, "fresh"));
  auto check = [&] {
    const auto ones = r.range_time(1, 0, 1000);
    REQUIRE(ones.size() == 1);
    CHECK(ones[0].payload == "fresh");
    CHECK(r.last(0, 100).size() == 10);
    CHECK(*r.count(1, 0, 1000) == 1);
  };
  check();
  r.reboot();
  REQUIRE(r.mount());
  check();
}

TEST_CASE("clear_all hides every series and the next sequence number still grows", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 20; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 3), i, reading(i)));
  REQUIRE(r.clear_all());
  CHECK(r.since(0).empty());
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.since(0).empty());
  auto seq = r.append(0, 0, "x");
  REQUIRE(seq);
  CHECK(*seq == 22);
}

TEST_CASE("clear answers no_space when every floor slot is taken by another series", "[series]") {
  Rig r(uniform(4, 1024, 4));
  r.config.floors = std::span<ferrite::SeriesFloor>(r.floors).first(1);
  r.log.emplace(r.flash, r.config);
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, "a"));
  REQUIRE(r.append(1, 0, "b"));
  REQUIRE(r.clear(0));
  CHECK(r.clear(0));
  CHECK(r.clear(1).error() == Errc::no_space);
  CHECK(std::string(r.log->last_refusal().field) == "series floors");
  CHECK(r.range_time(1, 0, 0).size() == 1);
}

TEST_CASE("sequence numbers keep growing across remounts", "[series]") {
  Rig r(uniform(4, 512, 4));
  REQUIRE(r.mount());
  std::uint64_t prev = 0;
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 7; ++i) {
      auto seq = r.append(0, i, reading(i));
      REQUIRE(seq);
      CHECK(*seq > prev);
      prev = *seq;
    }
    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.log->stats().next_seq > prev);
    const auto newest = r.last(0, 1);
    REQUIRE(newest.size() == 1);
    CHECK(newest[0].seq == prev);
  }
}

TEST_CASE("aggregate gives count, min, max, sum and average per time window", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 60; ++i) {
    const float v = static_cast<float>(i);
    std::string p(reinterpret_cast<const char*>(&v), sizeof v);
    REQUIRE(r.append(0, i, p));
  }
  REQUIRE(r.append(0, 5, "xx"));  // too short for the field: skipped
  std::array<ferrite::SeriesBucket, 4> buckets{};
  REQUIRE(ferrite::sync_wait(r.log->aggregate(0, 0, 20, ferrite::SeriesField::at(ferrite::SeriesField::Kind::f32, 0),
                                              buckets, r.buffer)));
  CHECK(buckets[0].start == 0);
  CHECK(buckets[0].count == 20);
  CHECK(buckets[0].min == 0.0);
  CHECK(buckets[0].max == 19.0);
  CHECK(buckets[0].sum == 190.0);
  CHECK(buckets[1].average() == Approx(29.5));
  CHECK(buckets[2].count == 20);
  CHECK(buckets[3].count == 0);
  CHECK(ferrite::sync_wait(r.log->aggregate(0, 0, 0, ferrite::SeriesField{}, buckets, r.buffer)).error() ==
        Errc::invalid_argument);
  // A callback reads anything: here the payload's length.
  auto length = +[](void*, std::span<const std::byte> p) noexcept -> ferrite::Result<double> {
    return static_cast<double>(p.size());
  };
  std::array<ferrite::SeriesBucket, 1> one{};
  REQUIRE(ferrite::sync_wait(r.log->aggregate(0, 0, 100, ferrite::SeriesField::by(length, nullptr), one, r.buffer)));
  CHECK(one[0].count == 61);
  CHECK(one[0].min == 2.0);
  CHECK(one[0].max == 4.0);
}

TEST_CASE("a cursor whose buffer cannot hold a payload answers buffer_too_small", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, std::string(100, 'z')));
  std::array<std::byte, 10> tiny{};
  auto c = r.log->range_seq(0, 0, 10, tiny);
  CHECK(ferrite::sync_wait(c.next()).error() == Errc::buffer_too_small);
}

TEST_CASE("a forward cursor sees readings appended after it reached the end", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, "a"));
  auto c = r.log->since(0, r.buffer);
  CHECK(*ferrite::sync_wait(c.next()));
  CHECK(!*ferrite::sync_wait(c.next()));
  REQUIRE(r.append(0, 1, "b"));
  REQUIRE(*ferrite::sync_wait(c.next()));
  CHECK(c.reading().seq == 2);
}

TEST_CASE("a damaged entry is skipped, never yielded", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 5; ++i) REQUIRE(r.append(0, i, "payload" + std::to_string(i)));
  // Flip a payload bit of the third entry (header 32, entries of 28 bytes).
  r.sim.flip_bit(32 + 2 * 28 + 17, 3);
  const auto rows = r.range_seq(0, 0, 100);
  CHECK(rows.size() == 4);
  for (const auto& x : rows) CHECK(x.seq != 3);
  CHECK(r.last(0, 10).size() == 4);
  CHECK(*r.count(0, 0, 100) == 4);
  CHECK(r.log->stats().damaged_entries >= 1);
}

TEST_CASE("a torn sector header costs that sector at most, never the partition", "[series]") {
  Rig r(uniform(4, 512, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 60; ++i) REQUIRE(r.append(0, i, reading(i)));
  REQUIRE(r.log->stats().live_sectors >= 3);
  // Damage the header of sector 0 (the oldest).
  r.sim.raw()[9] ^= std::byte{0x10};
  r.reboot();
  REQUIRE(r.mount());
  const auto rows = r.range_seq(0, 0, 1000);
  CHECK(!rows.empty());
  CHECK(rows.back().payload == reading(59));
  auto seq = r.append(0, 100, "more");
  REQUIRE(seq);
  CHECK(*seq == 61);
}

TEST_CASE("ECC flash that forbids re-programming runs a series log (every unit programmed once)", "[series]") {
  for (std::uint32_t unit : {8u, 16u, 32u}) {
    Rig r(uniform(4, 1024, unit));
    REQUIRE(!r.sim.geometry().reprogram_allowed());
    REQUIRE(r.mount());
    for (int i = 0; i < 300; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 3), i, reading(i)));
    REQUIRE(r.clear(1));
    REQUIRE(r.clear_all());
    for (int i = 0; i < 60; ++i) REQUIRE(r.append(0, i, reading(i)));
    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.last(0, 1000).size() == 60);
  }
}

TEST_CASE("a non-uniform partition (16/16/64/128 KiB sectors) holds readings in every sector", "[series]") {
  const ferrite::SectorRun runs[] = {{2, 16384}, {1, 65536}, {1, 131072}};
  auto g = ferrite::Geometry::make(runs, 4);
  REQUIRE(g);
  Rig r(*g);
  REQUIRE(r.mount());
  const std::string payload(100, 'p');
  int n = 0;
  while (r.log->stats().rollovers < 2) {
    REQUIRE(r.append(0, n, payload));
    ++n;
  }
  CHECK(r.log->payload_limit() == 200);
  r.reboot();
  REQUIRE(r.mount());
  const auto st = r.log->stats();
  CHECK(st.live_sectors == 3);
  CHECK(r.range_seq(0, 0, 1u << 30).size() == st.next_seq - st.oldest_seq);
}

TEST_CASE("an upload mark keeps 'handled up to seq X' in the key/value store and never goes back", "[series]") {
  rig::Rig kv(rig::geometry(2, 4096, 4));
  REQUIRE(kv.format());
  ferrite::UploadMark mark(*kv.store, "series.uploaded");
  CHECK(*ferrite::sync_wait(mark.get()) == 0);
  REQUIRE(ferrite::sync_wait(mark.set(42)));
  CHECK(*ferrite::sync_wait(mark.get()) == 42);
  CHECK(ferrite::sync_wait(mark.set(41)).error() == Errc::invalid_argument);
  kv.reboot();
  REQUIRE(kv.mount());
  ferrite::UploadMark again(*kv.store, "series.uploaded");
  CHECK(*ferrite::sync_wait(again.get()) == 42);
  REQUIRE(kv.put("series.other", "text"));
  ferrite::UploadMark wrong(*kv.store, "series.other");
  CHECK(ferrite::sync_wait(wrong.get()).error() == Errc::type_mismatch);
}

#include "series_campaign.hpp"

TEST_CASE("a power cut at any program or erase loses no acknowledged reading and shows no torn one",
          "[series][powerloss]") {
  using series_campaign::Geometry;
  const Geometry geometries[] = {
      {"4x256/u4", {{4, 256}}, 4, true, 40},
      {"3x256/u8/no-rollover", {{3, 256}}, 8, false, 40},
      {"5x256/u1", {{5, 256}}, 1, true, 24},
      {"3x512/u16", {{3, 512}}, 16, true, 60},
      {"2x256+1x512/u4", {{2, 256}, {1, 512}}, 4, true, 40},
      {"4x256/u32/no-rollover", {{4, 256}}, 32, false, 30},
  };
  const double scale = campaign::campaign_scale();
  series_campaign::Tally tally;
  for (const Geometry& g : geometries) {
    const int workloads = std::max(1, static_cast<int>(14 * scale));
    for (int w = 0; w < workloads; ++w) series_campaign::run(g, 0x5E1E5000u + w * 131 + g.unit, 120, tally);
  }
  std::printf("campaign powerloss-series: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= static_cast<std::size_t>(scale >= 1.0 ? 10000 : 1000));
}

TEST_CASE("mount of random or damaged images never crashes and never yields a reading that was not written",
          "[series][fuzz]") {
  const double scale = campaign::campaign_scale();
  const int cases = std::max(50, static_cast<int>(1500 * scale));
  rig::Random rnd(0xF022u);
  int mounted = 0, yielded = 0;
  for (int c = 0; c < cases; ++c) {
    const std::uint32_t unit = 1u << rnd.below(4);
    Rig r(uniform(4, 256, unit), rnd.below(2) == 0, c);
    std::map<std::uint64_t, Row> written;
    const std::uint32_t how = rnd.below(4);
    if (how == 0) {
      // Random bytes everywhere.
      for (auto& b : r.sim.raw()) b = static_cast<std::byte>(rnd.below(256));
    } else {
      REQUIRE(r.mount());
      const int n = static_cast<int>(rnd.below(60));
      for (int i = 0; i < n; ++i) {
        const std::string p(rnd.below(30), static_cast<char>('a' + rnd.below(26)));
        auto seq = r.append(static_cast<std::uint8_t>(rnd.below(3)), static_cast<std::int64_t>(rnd.next()), p);
        if (seq) written[*seq] = Row{*seq, 0, 0, p};
        if (rnd.below(20) == 0) (void)r.clear(static_cast<std::uint8_t>(rnd.below(3)));
      }
      auto raw = r.sim.raw();
      if (how == 1) {
        for (std::uint32_t k = rnd.below(40) + 1; k > 0; --k) raw[rnd.below(static_cast<std::uint32_t>(raw.size()))] ^=
            static_cast<std::byte>(1u << rnd.below(8));
      } else if (how == 2) {
        const std::uint32_t at = rnd.below(static_cast<std::uint32_t>(raw.size()));
        const std::uint32_t len = std::min<std::uint32_t>(rnd.below(64) + 1, static_cast<std::uint32_t>(raw.size()) - at);
        for (std::uint32_t i = 0; i < len; ++i) raw[at + i] = static_cast<std::byte>(rnd.below(256));
      } else {
        // One sector copied over another: valid entries in the wrong place.
        const std::uint32_t from = rnd.below(4), to = rnd.below(4);
        std::copy_n(raw.begin() + from * 256, 256, raw.begin() + to * 256);
      }
    }
    r.reboot();
    if (!r.mount()) continue;
    ++mounted;
    Errc e = Errc::ok;
    for (const Row& row : r.since(0, &e)) {
      ++yielded;
      const auto it = written.find(row.seq);
      if (it == written.end() || it->second.payload != row.payload) {
        FAIL_CHECK("yielded seq " << row.seq << " '" << row.payload << "' that was not written (case " << c << ")");
        break;
      }
    }
    (void)r.last(0, 5);
    (void)r.count(1, INT64_MIN, INT64_MAX);
    auto seq = r.append(0, 0, "after");
    if (seq) CHECK(*seq >= r.log->stats().oldest_seq);
  }
  CHECK(mounted > cases / 2);
  CHECK(yielded > 0);
}

#if FERRITE_HAVE_CRYPTO
namespace {

std::array<std::byte, 32> key_of(std::uint8_t seed) {
  std::array<std::byte, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(seed * 31 + i);
  return k;
}

/// A Sealer with keys derived, as a sealed store's mount leaves it.
struct ReadySealer {
  explicit ReadySealer(std::uint8_t seed, ferrite::SealOptions options = {}) : sealer(options) {
    if (!sealer.use_key(key_of(seed))) std::abort();
    std::array<std::byte, 64> block{};
    if (!sealer.create_block(std::span<std::byte>(block).first(60))) std::abort();
    if (!sealer.load_block(std::span<const std::byte>(block).first(60))) std::abort();
  }
  ferrite::Sealer sealer;
};

}  // namespace

TEST_CASE("a sealed series log reads back its readings and shows none of their bytes", "[series][sealed]") {
  ReadySealer s(1);
  Rig r(uniform(4, 1024, 4), true, 1, &s.sealer);
  REQUIRE(r.mount());
  CHECK(r.log->payload_limit() == 200);
  for (int i = 0; i < 40; ++i) REQUIRE(r.append(static_cast<std::uint8_t>(i % 2), i, "secret-" + reading(i)));
  REQUIRE(r.clear(1));
  const std::string image(reinterpret_cast<const char*>(r.sim.image().data()), r.sim.image().size());
  CHECK(image.find("secret") == std::string::npos);
  r.reboot();
  REQUIRE(r.mount());
  const auto rows = r.last(0, 100);
  REQUIRE(rows.size() == 20);
  CHECK(rows.front().payload == "secret-" + reading(38));
  CHECK(r.range_time(1, 0, 100).empty());
}

TEST_CASE("a sealed series log refuses another key, a missing codec, and a codec for a plain log", "[series][sealed]") {
  ReadySealer right(1), wrong(2);
  Rig r(uniform(4, 1024, 4), true, 1, &right.sealer);
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, "x"));
  r.config.codec = &wrong.sealer;
  r.reboot();
  CHECK(r.mount().error() == Errc::wrong_key);
  r.config.codec = nullptr;
  r.reboot();
  CHECK(r.mount().error() == Errc::wrong_key);
  Rig plain(uniform(4, 1024, 4));
  REQUIRE(plain.mount());
  REQUIRE(plain.append(0, 0, "x"));
  plain.config.codec = &right.sealer;
  plain.reboot();
  CHECK(plain.mount().error() == Errc::foreign_format);
}

TEST_CASE("a sealed entry altered with a matching checksum is tampered, never data", "[series][sealed]") {
  ReadySealer s(1);
  Rig r(uniform(4, 1024, 4), true, 1, &s.sealer);
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 5, "first"));
  REQUIRE(r.append(0, 6, "second"));
  // Entry 0 of sector 0 at offset 32: alter a sealed byte, fix the crc.
  auto raw = r.sim.raw();
  auto le32 = [&](std::size_t at) {
    return std::uint32_t(raw[at]) | std::uint32_t(raw[at + 1]) << 8 | std::uint32_t(raw[at + 2]) << 16 |
           std::uint32_t(raw[at + 3]) << 24;
  };
  const std::uint32_t header_crc = le32(28);
  const std::uint32_t len = std::uint32_t(raw[32]) | std::uint32_t(raw[33]) << 8;
  raw[32 + 16 + 10] ^= std::byte{1};
  const std::uint32_t crc = ferrite::crc32c(std::span<const std::byte>(raw.data() + 32, 16 + len), header_crc);
  for (int i = 0; i < 4; ++i) raw[32 + 16 + len + i] = static_cast<std::byte>(crc >> (8 * i));
  Errc e = Errc::ok;
  const auto rows = r.range_seq(0, 0, 10, &e);
  CHECK(rows.empty());
  CHECK(e == Errc::tampered);
  // The newest entry still opens: mount takes the key.
  r.reboot();
  REQUIRE(r.mount());
  const auto newest = r.last(0, 1);
  REQUIRE(newest.size() == 1);
  CHECK(newest[0].payload == "second");
}

TEST_CASE("a power cut at any program or erase of a sealed series log loses no acknowledged reading",
          "[series][powerloss][sealed]") {
  ReadySealer s(5);
  using series_campaign::Geometry;
  const Geometry geometries[] = {
      {"sealed 4x256/u4", {{4, 256}}, 4, true, 40},
      {"sealed 3x256/u8/no-rollover", {{3, 256}}, 8, false, 40},
  };
  const double scale = campaign::campaign_scale();
  series_campaign::Tally tally;
  for (const Geometry& g : geometries) {
    const int workloads = std::max(1, static_cast<int>(6 * scale));
    for (int w = 0; w < workloads; ++w)
      series_campaign::run(g, 0x5E1EA000u + w * 137 + g.unit, 100, tally, &s.sealer);
  }
  std::printf("campaign powerloss-series-sealed: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= static_cast<std::size_t>(scale >= 1.0 ? 1000 : 100));
}

TEST_CASE("a store and a series log sealed under one key never share a nonce, even with the same id",
          "[series][sealed]") {
  // A constant salt leaves the position alone to keep nonces apart.
  static std::set<std::string> nonces;
  static std::size_t repeats = 0;
  nonces.clear();
  repeats = 0;
  ferrite::SealOptions options;
  options.entropy.fill = +[](void*, std::span<std::byte> out) noexcept { std::fill(out.begin(), out.end(), std::byte{7}); };
  options.nonce_observer.seen = +[](void*, std::span<const std::byte>, std::span<const std::byte> n) noexcept {
    if (!nonces.insert(std::string(reinterpret_cast<const char*>(n.data()), n.size())).second) ++repeats;
  };
  ferrite::Sealer sealer(options);
  REQUIRE(sealer.use_key(key_of(3)));
  rig::Rig kv(rig::geometry(2, 4096, 4), 64, true, false, 1, 256, &sealer);
  REQUIRE(ferrite::sync_wait(kv.store->format(ferrite::FormatOptions{7})));
  Rig r(uniform(4, 1024, 4), true, 1, &sealer);
  r.config.log_id = 7;
  r.log.emplace(r.flash, r.config);
  REQUIRE(r.mount());
  for (int i = 0; i < 300; ++i) {
    REQUIRE(kv.put("k" + std::to_string(i % 20), reading(i)));
    REQUIRE(r.append(0, i, reading(i)));
  }
  CHECK(nonces.size() > 500);
  CHECK(repeats == 0);
}
#endif

TEST_CASE("a floor slot comes back once rollover took every reading its clear hid, also across a remount",
          "[series]") {
  Rig r(uniform(3, 256, 4));
  r.config.floors = std::span<ferrite::SeriesFloor>(r.floors).first(1);
  r.log.emplace(r.flash, r.config);
  REQUIRE(r.mount());
  REQUIRE(r.append(0, 0, "old"));
  REQUIRE(r.clear(0));
  CHECK(r.clear(1).error() == Errc::no_space);
  // Fill one more sector than the ring holds: the sector with "old" goes.
  int i = 0;
  for (; r.log->stats().oldest_seq <= 2; ++i) REQUIRE(r.append(2, i, reading(i)));
  // The clear entry may still be on flash; its floor hides nothing now.
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.clear(1));
  CHECK(r.range_time(0, 0, 0).empty());
}

TEST_CASE("aggregate reads a number at a CBOR document path through a callback", "[series]") {
  Rig r(uniform(4, 1024, 4));
  REQUIRE(r.mount());
  for (int i = 0; i < 30; ++i) {
    std::array<std::byte, 64> doc{};
    ferrite::doc::Writer w(doc);
    w.object(2).key("sensor").string("t1").key("env").object(1).key("temp").real(20.0 + i);
    REQUIRE(w.finish());
    REQUIRE(ferrite::sync_wait(r.log->append(0, i, w.written())));
  }
  // The path travels in the context; a payload without it is skipped.
  std::string_view path = "env.temp";
  auto at_path = +[](void* context, std::span<const std::byte> payload) noexcept -> ferrite::Result<double> {
    auto view = ferrite::doc::View::parse(payload);
    if (!view) return ferrite::fail(view.error());
    const auto v = view->path(*static_cast<std::string_view*>(context));
    if (!v.is_number()) return ferrite::fail(Errc::not_found);
    return v.number();
  };
  std::array<ferrite::SeriesBucket, 3> buckets{};
  REQUIRE(ferrite::sync_wait(
      r.log->aggregate(0, 0, 10, ferrite::SeriesField::by(at_path, &path), buckets, r.buffer)));
  CHECK(buckets[0].count == 10);
  CHECK(buckets[0].min == 20.0);
  CHECK(buckets[2].max == 49.0);
  CHECK(buckets[1].average() == Approx(34.5));
}
