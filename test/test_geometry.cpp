// Geometry: layouts, sector arithmetic, slicing, and every invalid shape.
#include <catch2/catch.hpp>
import ferrite.flash;

using ferrite::Errc;
using ferrite::EraseValue;
using ferrite::Geometry;
using ferrite::SectorRun;

namespace {

constexpr std::uint32_t KiB = 1024;
constexpr SectorRun stm32f4_runs[] = {{4, 16 * KiB}, {1, 64 * KiB}, {7, 128 * KiB}};

Errc make_error(std::initializer_list<SectorRun> runs, std::uint32_t unit) {
  return Geometry::make(std::span<const SectorRun>(runs.begin(), runs.size()), unit).error();
}

// Geometry validates at compile time too.
static_assert(Geometry::uniform(2, 4096, 4)->total_size() == 8192);
static_assert(Geometry::make(stm32f4_runs, 4)->sector_count() == 12);
static_assert(Geometry::uniform(2, 4096, 3).error() == Errc::invalid_argument);

}  // namespace

TEST_CASE("a uniform geometry lays sectors end to end", "[flash][geometry]") {
  auto g = Geometry::uniform(8, 4096, 8, EraseValue::zeros, true);
  CHECK(g.has_value());
  if (!g) return;
  CHECK(g->sector_count() == 8);
  CHECK(g->total_size() == 8 * 4096);
  CHECK(g->program_unit() == 8);
  CHECK(g->erase_value() == EraseValue::zeros);
  CHECK(g->erased_byte() == std::byte{0x00});
  CHECK(g->reprogram_allowed());
  CHECK(g->runs().size() == 1);
  CHECK(g->largest_sector() == 4096);
  CHECK(g->smallest_sector() == 4096);
  for (std::uint32_t i = 0; i < 8; ++i) {
    CHECK(g->sector_size(i) == 4096);
    CHECK(g->sector_offset(i) == i * 4096);
    CHECK(g->sector_of(i * 4096) == i);
    CHECK(g->sector_of(i * 4096 + 4095) == i);
  }
  CHECK(g->sector_offset(8) == g->total_size());
  auto defaults = Geometry::uniform(2, 256, 1);
  CHECK(defaults.has_value());
  if (!defaults) return;
  CHECK(defaults->erased_byte() == std::byte{0xFF});
  CHECK_FALSE(defaults->reprogram_allowed());
}

TEST_CASE("the STM32F4 layout of 16/16/16/16/64/128x7 KiB sectors maps addresses exactly", "[flash][geometry]") {
  auto g = Geometry::make(stm32f4_runs, 4);
  CHECK(g.has_value());
  if (!g) return;
  CHECK(g->sector_count() == 12);
  CHECK(g->total_size() == 1024 * KiB);
  CHECK(g->largest_sector() == 128 * KiB);
  CHECK(g->smallest_sector() == 16 * KiB);
  const std::uint32_t offsets[] = {0, 16 * KiB, 32 * KiB, 48 * KiB, 64 * KiB, 128 * KiB, 256 * KiB,
                                   384 * KiB, 512 * KiB, 640 * KiB, 768 * KiB, 896 * KiB, 1024 * KiB};
  const std::uint32_t sizes[] = {16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB, 64 * KiB, 128 * KiB,
                                 128 * KiB, 128 * KiB, 128 * KiB, 128 * KiB, 128 * KiB, 128 * KiB};
  for (std::uint32_t i = 0; i <= 12; ++i) CHECK(g->sector_offset(i) == offsets[i]);
  for (std::uint32_t i = 0; i < 12; ++i) {
    CHECK(g->sector_size(i) == sizes[i]);
    CHECK(g->sector_of(offsets[i]) == i);
    CHECK(g->sector_of(offsets[i + 1] - 1) == i);
  }
  CHECK(g->sector_of(0x0FFFF) == 3);
  CHECK(g->sector_of(0x10000) == 4);
  CHECK(g->sector_of(0x1FFFF) == 4);
  CHECK(g->sector_of(0x20000) == 5);
  CHECK(g->sector_of(0xFFFFF) == 11);
}

TEST_CASE("slicing a geometry keeps the sizes of the chosen sectors", "[flash][geometry]") {
  auto g = Geometry::make(stm32f4_runs, 4);
  CHECK(g.has_value());
  if (!g) return;
  auto mid = g->slice(3, 3);  // one 16 KiB, the 64 KiB, one 128 KiB
  CHECK(mid.has_value());
  if (!mid) return;
  CHECK(mid->sector_count() == 3);
  CHECK(mid->runs().size() == 3);
  CHECK(mid->sector_size(0) == 16 * KiB);
  CHECK(mid->sector_size(1) == 64 * KiB);
  CHECK(mid->sector_size(2) == 128 * KiB);
  CHECK(mid->total_size() == 208 * KiB);
  CHECK(mid->program_unit() == 4);

  auto tail = g->slice(5, 7);
  CHECK(tail.has_value());
  if (!tail) return;
  CHECK(*tail == *Geometry::uniform(7, 128 * KiB, 4));
  auto whole = g->slice(0, 12);
  CHECK(whole.has_value());
  if (!whole) return;
  CHECK(*whole == *g);
  CHECK_FALSE(*tail == *whole);

  CHECK(g->slice(0, 0).error() == Errc::out_of_bounds);
  CHECK(g->slice(12, 1).error() == Errc::out_of_bounds);
  CHECK(g->slice(11, 2).error() == Errc::out_of_bounds);
  CHECK(g->slice(1, 0xFFFFFFFFu).error() == Errc::out_of_bounds);
}

TEST_CASE("geometries differing in any property compare unequal", "[flash][geometry]") {
  auto a = Geometry::uniform(4, 4096, 4);
  CHECK(*a == *Geometry::uniform(4, 4096, 4));
  CHECK_FALSE(*a == *Geometry::uniform(4, 4096, 8));
  CHECK_FALSE(*a == *Geometry::uniform(4, 4096, 4, EraseValue::zeros));
  CHECK_FALSE(*a == *Geometry::uniform(4, 4096, 4, EraseValue::ones, true));
  CHECK_FALSE(*a == *Geometry::uniform(5, 4096, 4));
  CHECK_FALSE(*a == *Geometry::uniform(4, 8192, 4));
}

TEST_CASE("every valid program unit is accepted", "[flash][geometry]") {
  for (std::uint32_t unit : {1u, 2u, 4u, 8u, 16u, 32u}) {
    auto g = Geometry::uniform(2, 1024, unit);
    CHECK(g.has_value());
    CHECK(g->program_unit() == unit);
  }
}

TEST_CASE("every invalid geometry is refused with its exact error", "[flash][geometry]") {
  // program unit not a power of two, too large, zero
  CHECK(Geometry::uniform(2, 4096, 3).error() == Errc::invalid_argument);
  CHECK(Geometry::uniform(2, 4096, 64).error() == Errc::invalid_argument);
  CHECK(Geometry::uniform(2, 4096, 0).error() == Errc::invalid_argument);
  // sector size not a multiple of the unit, zero sized or zero counted runs
  CHECK(Geometry::uniform(2, 4100, 8).error() == Errc::invalid_argument);
  CHECK(Geometry::uniform(2, 0, 4).error() == Errc::invalid_argument);
  CHECK(Geometry::uniform(0, 4096, 4).error() == Errc::invalid_argument);
  CHECK(make_error({{2, 4096}, {1, 100}}, 8) == Errc::invalid_argument);
  // an empty layout
  CHECK(Geometry::make(std::span<const SectorRun>(), 4).error() == Errc::invalid_argument);
  // more than 4 GiB
  CHECK(Geometry::uniform(2, 0x80000000u, 4).error() == Errc::too_large);
  CHECK(Geometry::uniform(65537, 65536, 4).error() == Errc::too_large);
  CHECK(Geometry::uniform(65535, 65536, 4).has_value());  // just under 4 GiB
  // more than max_runs runs
  std::vector<SectorRun> runs(Geometry::max_runs, SectorRun{1, 1024});
  CHECK(Geometry::make(runs, 4).has_value());
  runs.push_back(SectorRun{1, 1024});
  CHECK(Geometry::make(runs, 4).error() == Errc::invalid_argument);
}
