// The simulated NOR flash: every rule and every injected fault, with its exact
// outcome, plus a randomized comparison against a small reference model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>
import ferrite.sim;

using ferrite::Errc;
using ferrite::EraseValue;
using ferrite::Flash;
using ferrite::FlashOpKind;
using ferrite::Geometry;
using ferrite::SectorRun;
using ferrite::Status;
using ferrite::Task;
using ferrite::sim::FaultKind;
using ferrite::sim::SimFlash;
using ferrite::sim::TearMode;
using ferrite::sim::TimingModel;

namespace {

using Bytes = std::vector<std::byte>;

Geometry uniform(std::uint32_t count, std::uint32_t size, std::uint32_t unit, EraseValue ev = EraseValue::ones,
                 bool reprogram = false) {
  auto g = Geometry::uniform(count, size, unit, ev, reprogram);
  if (!g) std::abort();  // a test bug, not a condition under test
  return *g;
}

Geometry layout(std::initializer_list<SectorRun> runs, std::uint32_t unit, EraseValue ev = EraseValue::ones,
                bool reprogram = false) {
  auto g = Geometry::make(std::span<const SectorRun>(runs.begin(), runs.size()), unit, ev, reprogram);
  if (!g) std::abort();
  return *g;
}

Task<Status> program_task(Flash& f, std::uint32_t address, std::span<const std::byte> data) {
  co_return co_await f.program(address, data);
}
Task<Status> read_task(Flash& f, std::uint32_t address, std::span<std::byte> out) {
  co_return co_await f.read(address, out);
}
Task<Status> erase_task(Flash& f, std::uint32_t sector) { co_return co_await f.erase(sector); }

Errc program(Flash& f, std::uint32_t address, std::span<const std::byte> data) {
  return ferrite::sync_wait(program_task(f, address, data)).error();
}
Errc erase(Flash& f, std::uint32_t sector) { return ferrite::sync_wait(erase_task(f, sector)).error(); }
Errc read(Flash& f, std::uint32_t address, std::span<std::byte> out) {
  return ferrite::sync_wait(read_task(f, address, out)).error();
}
// Reads n bytes; a failed read comes back as an empty vector.
Bytes read_back(Flash& f, std::uint32_t address, std::size_t n) {
  Bytes out(n);
  return read(f, address, out) == Errc::ok ? out : Bytes{};
}

Bytes filled(std::size_t n, unsigned value) { return Bytes(n, static_cast<std::byte>(value)); }
Bytes bytes(std::initializer_list<unsigned> v) {
  Bytes out;
  for (unsigned b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
Bytes pattern(std::size_t n, unsigned seed) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 37 + seed * 11 + 5) & 0xFF);
  return out;
}
Bytes slice(std::span<const std::byte> s, std::size_t off, std::size_t n) {
  return Bytes(s.begin() + static_cast<std::ptrdiff_t>(off), s.begin() + static_cast<std::ptrdiff_t>(off + n));
}
bool all_equal(std::span<const std::byte> s, std::byte v) {
  return std::all_of(s.begin(), s.end(), [v](std::byte b) { return b == v; });
}
std::size_t differing_bits(std::span<const std::byte> a, std::span<const std::byte> b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return n;
}
// Bits of `b` that are away from the erase value `e`.
unsigned away(std::byte b, std::byte e) { return static_cast<unsigned>(b ^ e); }
bool is_subset(unsigned a, unsigned b) { return (a & ~b) == 0; }

// Test-side splitmix64, independent of the sim's.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint64_t n) { return static_cast<std::uint32_t>(next() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
};

}  // namespace

// ---------------------------------------------------------------------------
// Rules

TEST_CASE("a fresh simulated flash reads as erased everywhere", "[sim][rules]") {
  for (EraseValue ev : {EraseValue::ones, EraseValue::zeros}) {
    SimFlash sim(uniform(4, 1024, 4, ev));
    Flash flash(sim);
    const Bytes all = read_back(flash, 0, 4096);
    CHECK(all.size() == 4096);
    CHECK(all_equal(all, static_cast<std::byte>(ev)));
    CHECK(all_equal(sim.image(), static_cast<std::byte>(ev)));
    CHECK(sim.weak_bit_count() == 0);
    CHECK_FALSE(sim.power_is_lost());
    CHECK(sim.mutating_ops() == 0);
  }
}

TEST_CASE("a program reads back exactly what was written", "[sim][rules]") {
  SimFlash sim(uniform(4, 1024, 8));
  Flash flash(sim);
  const Bytes data = pattern(64, 1);
  CHECK(program(flash, 128, data) == Errc::ok);
  CHECK(read_back(flash, 128, 64) == data);
  CHECK(read_back(flash, 131, 5) == slice(data, 3, 5));  // reads need no alignment
  CHECK(all_equal(slice(sim.image(), 0, 128), std::byte{0xFF}));
  CHECK(all_equal(slice(sim.image(), 192, 4096 - 192), std::byte{0xFF}));
  CHECK(sim.is_programmed(128));
  CHECK(sim.is_programmed(191));
  CHECK_FALSE(sim.is_programmed(192));
}

TEST_CASE("a program cannot move a bit back to the erase value", "[sim][rules]") {
  SECTION("erase value ones: a 1 over a stored 0 is refused") {
    SimFlash sim(uniform(2, 256, 1, EraseValue::ones, true));
    Flash flash(sim);
    CHECK(program(flash, 10, bytes({0x0F})) == Errc::ok);
    const Bytes before(sim.image().begin(), sim.image().end());
    CHECK(program(flash, 10, bytes({0xF0})) == Errc::bits_not_erased);
    CHECK(Bytes(sim.image().begin(), sim.image().end()) == before);
    CHECK(program(flash, 10, bytes({0x05})) == Errc::ok);  // only clears bits
    CHECK(read_back(flash, 10, 1) == bytes({0x05}));
  }
  SECTION("erase value zeros: a 0 over a stored 1 is refused") {
    SimFlash sim(uniform(2, 256, 1, EraseValue::zeros, true));
    Flash flash(sim);
    CHECK(program(flash, 3, bytes({0xF0})) == Errc::ok);
    const Bytes before(sim.image().begin(), sim.image().end());
    CHECK(program(flash, 3, bytes({0x0F})) == Errc::bits_not_erased);
    CHECK(Bytes(sim.image().begin(), sim.image().end()) == before);
    CHECK(program(flash, 3, bytes({0xFF})) == Errc::ok);  // only sets bits
    CHECK(read_back(flash, 3, 1) == bytes({0xFF}));
  }
  SECTION("a flipped bit in an unprogrammed unit makes a program over it fail") {
    SimFlash sim(uniform(2, 256, 4));
    Flash flash(sim);
    sim.flip_bit(20, 3);  // stored 0xF7, unit still counts as unprogrammed
    CHECK(program(flash, 20, bytes({0xFF, 0x00, 0x00, 0x00})) == Errc::bits_not_erased);
    CHECK(program(flash, 20, bytes({0xF0, 0x00, 0x00, 0x00})) == Errc::ok);
  }
}

TEST_CASE("a second program of a unit is refused where the geometry forbids re-programming", "[sim][rules]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, bytes({0xFF, 0xFF, 0xFF, 0xFF})) == Errc::ok);  // erased-valued data still programs
  CHECK(sim.is_programmed(0));
  const Bytes before(sim.image().begin(), sim.image().end());
  CHECK(program(flash, 0, bytes({0x00, 0x00, 0x00, 0x00})) == Errc::reprogram_forbidden);
  // A multi-unit program touching one programmed unit is refused whole.
  CHECK(program(flash, 0, filled(8, 0x00)) == Errc::reprogram_forbidden);
  CHECK(Bytes(sim.image().begin(), sim.image().end()) == before);
  CHECK_FALSE(sim.is_programmed(4));
  CHECK(program(flash, 4, filled(4, 0x00)) == Errc::ok);
}

TEST_CASE("re-programming is allowed when the geometry allows it and bits only move one way", "[sim][rules]") {
  SimFlash sim(uniform(2, 256, 4, EraseValue::ones, true));
  Flash flash(sim);
  CHECK(program(flash, 0, bytes({0xFE, 0xFF, 0xFF, 0xFF})) == Errc::ok);
  CHECK(program(flash, 0, bytes({0xFC, 0xFF, 0x7F, 0xFF})) == Errc::ok);
  CHECK(program(flash, 0, bytes({0xFC, 0xFF, 0x7F, 0xFF})) == Errc::ok);  // idempotent
  CHECK(read_back(flash, 0, 4) == bytes({0xFC, 0xFF, 0x7F, 0xFF}));
  CHECK(program(flash, 0, bytes({0xFE, 0xFF, 0x7F, 0xFF})) == Errc::bits_not_erased);
}

TEST_CASE("misaligned and out-of-bounds requests through Flash never reach the device", "[sim][rules]") {
  SimFlash sim(uniform(4, 1024, 8));
  Flash flash(sim);
  const Bytes data = filled(8, 0x00);
  CHECK(program(flash, 4, data) == Errc::misaligned);
  CHECK(program(flash, 8, filled(12, 0x00)) == Errc::misaligned);
  CHECK(program(flash, 4096, data) == Errc::out_of_bounds);
  CHECK(program(flash, 4088, filled(16, 0x00)) == Errc::out_of_bounds);
  CHECK(program(flash, 0, Bytes{}) == Errc::invalid_argument);
  Bytes out(16);
  CHECK(read(flash, 4090, out) == Errc::out_of_bounds);
  CHECK(erase(flash, 4) == Errc::out_of_bounds);
  CHECK(sim.counters().read_ops == 0);
  CHECK(sim.counters().program_ops == 0);
  CHECK(sim.counters().erase_ops == 0);
  CHECK(sim.counters().device_time_us == 0.0);
  CHECK(sim.mutating_ops() == 0);
  CHECK(all_equal(sim.image(), std::byte{0xFF}));
}

TEST_CASE("the sim re-checks requests handed to it directly", "[sim][rules]") {
  SimFlash sim(uniform(4, 1024, 8));
  const Bytes data = filled(16, 0x00);
  Bytes out(16);
  auto submit = [&](FlashOpKind kind, std::uint32_t address, std::uint32_t length, std::uint32_t sector = 0,
                    bool null_buffer = false) {
    ferrite::FlashRequest r;
    r.kind = kind;
    r.address = address;
    r.length = length;
    r.sector = sector;
    r.read_into = null_buffer ? nullptr : out.data();
    r.program_from = null_buffer ? nullptr : data.data();
    sim.submit(r);
    return r.result;
  };
  CHECK(submit(FlashOpKind::program, 4, 8) == Errc::misaligned);
  CHECK(submit(FlashOpKind::program, 8, 12) == Errc::misaligned);
  CHECK(submit(FlashOpKind::program, 4096, 8) == Errc::out_of_bounds);
  CHECK(submit(FlashOpKind::program, 4088, 16) == Errc::out_of_bounds);
  CHECK(submit(FlashOpKind::program, 0xFFFFFFF8u, 16) == Errc::out_of_bounds);  // no wrap-around
  CHECK(submit(FlashOpKind::program, 0, 0) == Errc::invalid_argument);
  CHECK(submit(FlashOpKind::program, 0, 8, 0, true) == Errc::invalid_argument);
  CHECK(submit(FlashOpKind::read, 4090, 16) == Errc::out_of_bounds);
  CHECK(submit(FlashOpKind::read, 0, 16, 0, true) == Errc::invalid_argument);
  CHECK(submit(FlashOpKind::erase, 0, 1024, 4) == Errc::out_of_bounds);
  CHECK(submit(FlashOpKind::erase, 1024, 1024, 0) == Errc::invalid_argument);  // address of another sector
  CHECK(submit(FlashOpKind::erase, 0, 512, 0) == Errc::invalid_argument);
  CHECK(sim.mutating_ops() == 0);
  CHECK(sim.counters().program_ops == 0);
  CHECK(submit(FlashOpKind::program, 8, 16) == Errc::ok);
  CHECK(submit(FlashOpKind::erase, 1024, 1024, 1) == Errc::ok);
  CHECK(sim.mutating_ops() == 2);
}

TEST_CASE("an erase resets its own sector and no other", "[sim][rules]") {
  SimFlash sim(layout({{2, 256}, {1, 1024}}, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(1536, 0x5A)) == Errc::ok);  // crosses both sector boundaries
  CHECK(erase(flash, 1) == Errc::ok);
  CHECK(all_equal(slice(sim.image(), 0, 256), std::byte{0x5A}));
  CHECK(all_equal(slice(sim.image(), 256, 256), std::byte{0xFF}));
  CHECK(all_equal(slice(sim.image(), 512, 1024), std::byte{0x5A}));
  CHECK_FALSE(sim.is_programmed(256));
  CHECK(sim.is_programmed(255));
  CHECK(sim.is_programmed(512));
  CHECK(program(flash, 256, filled(256, 0x11)) == Errc::ok);  // erased units take a program again
  CHECK(program(flash, 512, filled(4, 0x00)) == Errc::reprogram_forbidden);
}

TEST_CASE("a partition view translates addresses and sectors to the device", "[sim][rules]") {
  SimFlash sim(uniform(4, 1024, 4));
  auto part = Flash::partition(sim, 2, 2);
  CHECK(part.has_value());
  if (!part) return;
  Flash& p = *part;
  CHECK(p.geometry().total_size() == 2048);
  CHECK(program(p, 0, bytes({1, 2, 3, 4})) == Errc::ok);
  CHECK(slice(sim.image(), 2048, 4) == bytes({1, 2, 3, 4}));
  CHECK(all_equal(slice(sim.image(), 0, 2048), std::byte{0xFF}));
  CHECK(read_back(p, 0, 4) == bytes({1, 2, 3, 4}));
  CHECK(program(p, 2048, filled(4, 0)) == Errc::out_of_bounds);
  CHECK(erase(p, 2) == Errc::out_of_bounds);
  CHECK(erase(p, 0) == Errc::ok);
  CHECK(sim.counters().sector_erases == std::vector<std::uint32_t>{0, 0, 1, 0});
  CHECK(all_equal(sim.image(), std::byte{0xFF}));
}

// ---------------------------------------------------------------------------
// Counters and timing

TEST_CASE("counters count operations, bytes and erases per sector exactly", "[sim][counters]") {
  SimFlash sim(uniform(3, 512, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(12, 0)) == Errc::ok);
  CHECK(program(flash, 512, filled(4, 0)) == Errc::ok);
  CHECK(program(flash, 0, filled(4, 0)) == Errc::reprogram_forbidden);  // refused: not counted as work
  Bytes out(100);
  CHECK(read(flash, 0, out) == Errc::ok);
  CHECK(read(flash, 7, std::span<std::byte>(out).first(3)) == Errc::ok);
  CHECK(erase(flash, 2) == Errc::ok);
  CHECK(erase(flash, 2) == Errc::ok);
  CHECK(erase(flash, 0) == Errc::ok);
  const auto& c = sim.counters();
  CHECK(c.program_ops == 2);
  CHECK(c.bytes_programmed == 16);
  CHECK(c.read_ops == 2);
  CHECK(c.bytes_read == 103);
  CHECK(c.erase_ops == 3);
  CHECK(c.sector_erases == std::vector<std::uint32_t>{1, 0, 2});
  CHECK(sim.mutating_ops() == 6);  // the refused program reached the device
  CHECK(sim.lifetime_erases(2) == 2);

  sim.reset_counters();
  CHECK(sim.counters().program_ops == 0);
  CHECK(sim.counters().bytes_read == 0);
  CHECK(sim.counters().device_time_us == 0.0);
  CHECK(sim.counters().sector_erases == std::vector<std::uint32_t>{0, 0, 0});
  CHECK(sim.mutating_ops() == 6);   // not a counter
  CHECK(sim.lifetime_erases(2) == 2);  // wear survives
}

TEST_CASE("the STM32F4 timing model charges data-sheet time per operation", "[sim][timing]") {
  constexpr TimingModel t = TimingModel::stm32f4();
  static_assert(t.program_us(8) == 32.0);
  static_assert(t.erase_us(16 * 1024) == 250000.0);
  CHECK(t.read_us(100) == Approx(5.0));
  CHECK(t.program_us(1) == 16.0);   // a partial word costs a whole word
  CHECK(t.program_us(5) == 32.0);
  CHECK(t.erase_us(128 * 1024) == 2000000.0);
  CHECK(TimingModel::instant().erase_us(1024) == 0.0);

  SimFlash sim(layout({{4, 16 * 1024}, {1, 64 * 1024}}, 8));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(8, 0)) == Errc::ok);
  CHECK(sim.counters().device_time_us == Approx(32.0));
  CHECK(erase(flash, 1) == Errc::ok);
  CHECK(sim.counters().device_time_us == Approx(250032.0));
  Bytes out(100);
  CHECK(read(flash, 0, out) == Errc::ok);
  CHECK(sim.counters().device_time_us == Approx(250037.0));
  sim.reset_counters();
  CHECK(erase(flash, 4) == Errc::ok);  // 64 KiB: four times a 16 KiB erase
  CHECK(sim.counters().device_time_us == Approx(1000000.0));

  SimFlash fast(uniform(2, 1024, 4), 1, TimingModel::instant());
  Flash f2(fast);
  CHECK(program(f2, 0, filled(64, 0)) == Errc::ok);
  CHECK(erase(f2, 0) == Errc::ok);
  CHECK(fast.counters().device_time_us == 0.0);
}

// ---------------------------------------------------------------------------
// Power loss

TEST_CASE("a power cut at op k tears exactly that op and everything fails until power returns",
          "[sim][powerloss]") {
  SimFlash sim(uniform(4, 256, 4));
  Flash flash(sim);
  sim.cut_power_at(2);
  CHECK(program(flash, 0, filled(8, 0x11)) == Errc::ok);   // op 0
  CHECK(erase(flash, 3) == Errc::ok);                      // op 1
  CHECK(program(flash, 256, filled(64, 0)) == Errc::power_lost);  // op 2: torn
  CHECK(sim.power_is_lost());
  CHECK(sim.mutating_ops() == 3);
  const auto counters_after_cut = sim.counters();
  Bytes out(8);
  CHECK(read(flash, 0, out) == Errc::power_lost);
  CHECK(program(flash, 512, filled(4, 0)) == Errc::power_lost);
  CHECK(erase(flash, 2) == Errc::power_lost);
  CHECK(sim.mutating_ops() == 3);  // an unpowered device sees nothing
  CHECK(sim.counters().read_ops == counters_after_cut.read_ops);
  CHECK(sim.counters().erase_ops == counters_after_cut.erase_ops);
  CHECK(all_equal(slice(sim.image(), 512, 256), std::byte{0xFF}));
  CHECK(sim.faults().size() == 1);
  if (!sim.faults().empty()) {
    CHECK(sim.faults().back().what == FaultKind::power_cut);
    CHECK(sim.faults().back().op_index == 2);
    CHECK(sim.faults().back().address == 256);
  }

  sim.restore_power();
  CHECK_FALSE(sim.power_is_lost());
  CHECK(read_back(flash, 0, 8) == filled(8, 0x11));  // earlier acknowledged data persists
  CHECK(program(flash, 512, filled(4, 0)) == Errc::ok);
  CHECK(sim.mutating_ops() == 4);
  CHECK(erase(flash, 1) == Errc::ok);  // the torn sector is usable after a real erase
  CHECK(program(flash, 256, filled(64, 0)) == Errc::ok);
}

TEST_CASE("a cut armed at an index already passed never fires, and cut_power tears nothing",
          "[sim][powerloss]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(4, 0)) == Errc::ok);
  sim.cut_power_at(0);
  CHECK(program(flash, 4, filled(4, 0)) == Errc::ok);
  CHECK_FALSE(sim.power_is_lost());
  const Bytes before(sim.image().begin(), sim.image().end());
  sim.cut_power();
  CHECK(sim.power_is_lost());
  CHECK(program(flash, 8, filled(4, 0)) == Errc::power_lost);
  CHECK(Bytes(sim.image().begin(), sim.image().end()) == before);
  sim.restore_power();
  CHECK(program(flash, 8, filled(4, 0)) == Errc::ok);
}

TEST_CASE("a torn program leaves only the units before the cut fully written", "[sim][powerloss]") {
  constexpr std::uint32_t unit = 4, units = 64, base = 1024;
  const Bytes data = pattern(unit * units, 2);
  bool saw_middle_cut = false;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SimFlash sim(uniform(4, 1024, unit), seed);
    sim.set_weak_bits(false);  // the image is then exactly what reads return
    Flash flash(sim);
    sim.cut_power_at(0);
    CHECK(program(flash, base, data) == Errc::power_lost);
    const auto img = sim.image();
    std::uint32_t k = 0;
    while (k < units && slice(img, base + k * unit, unit) == slice(data, k * unit, unit)) ++k;
    bool later_untouched = true, partial_ok = true, tracking_ok = true;
    for (std::uint32_t u = 0; u < units; ++u) {
      const Bytes got = slice(img, base + u * unit, unit);
      const bool changed = !all_equal(got, std::byte{0xFF});
      if (u < k) tracking_ok = tracking_ok && sim.is_programmed(base + u * unit);
      else if (u > k) later_untouched = later_untouched && !changed && !sim.is_programmed(base + u * unit);
      else tracking_ok = tracking_ok && sim.is_programmed(base + u * unit) == changed;
      // Never a bit the data does not program.
      for (std::uint32_t i = 0; i < unit; ++i)
        partial_ok = partial_ok && is_subset(away(got[i], std::byte{0xFF}), away(data[u * unit + i], std::byte{0xFF}));
    }
    CHECK(later_untouched);
    CHECK(partial_ok);
    CHECK(tracking_ok);
    CHECK(all_equal(slice(img, 0, base), std::byte{0xFF}));
    CHECK(all_equal(slice(img, base + unit * units, 4096 - base - unit * units), std::byte{0xFF}));
    CHECK(sim.weak_bit_count() == 0);
    if (k > 0 && k < units - 1) saw_middle_cut = true;
  }
  CHECK(saw_middle_cut);
}

TEST_CASE("a torn program in random-units mode writes each unit fully, partly or not at all",
          "[sim][powerloss]") {
  constexpr std::uint32_t unit = 8, units = 48;
  const Bytes data = pattern(unit * units, 3);
  SimFlash sim(uniform(2, 512, unit), 99);
  sim.set_tear_mode(TearMode::random_units);
  CHECK(sim.tear_mode() == TearMode::random_units);
  Flash flash(sim);
  sim.cut_power_at(0);
  CHECK(program(flash, 0, data) == Errc::power_lost);
  std::size_t full = 0, untouched = 0, partial = 0;
  bool subset = true;
  for (std::uint32_t u = 0; u < units; ++u) {
    const Bytes got = slice(sim.image(), u * unit, unit);
    const Bytes want = slice(data, u * unit, unit);
    for (std::uint32_t i = 0; i < unit; ++i)
      subset = subset && is_subset(away(got[i], std::byte{0xFF}), away(want[i], std::byte{0xFF}));
    if (got == want) ++full;
    else if (all_equal(got, std::byte{0xFF})) ++untouched;
    else ++partial;
  }
  CHECK(subset);
  CHECK(full > 0);
  CHECK(untouched > 0);
  CHECK(partial > 0);
}

TEST_CASE("a torn erase leaves a mixture and refuses programs into units it did not clean",
          "[sim][powerloss]") {
  constexpr std::uint32_t unit = 4, size = 1024;
  bool saw_mixture = false;
  for (std::uint64_t seed = 1; seed <= 10 && !saw_mixture; ++seed) {
    SimFlash sim(uniform(3, size, unit), seed);
    Flash flash(sim);
    CHECK(program(flash, 0, filled(3 * size, 0x00)) == Errc::ok);  // op 0
    sim.cut_power_at(1);
    CHECK(erase(flash, 1) == Errc::power_lost);
    CHECK(sim.counters().sector_erases[1] == 0);  // a torn erase is not a completed one
    CHECK(sim.lifetime_erases(1) == 0);
    CHECK(all_equal(slice(sim.image(), 0, size), std::byte{0x00}));
    CHECK(all_equal(slice(sim.image(), 2 * size, size), std::byte{0x00}));
    sim.restore_power();
    std::uint32_t clean_unit = size, dirty_unit = size;
    for (std::uint32_t u = size; u < 2 * size; u += unit) {
      const bool clean = all_equal(slice(sim.image(), u, unit), std::byte{0xFF});
      if (!clean && dirty_unit == size) dirty_unit = u;
      if (clean && !sim.is_programmed(u) && clean_unit == size) clean_unit = u;
    }
    if (dirty_unit == size || clean_unit == size) continue;  // the cut fell at an end of the pulse
    saw_mixture = true;
    CHECK(sim.is_programmed(dirty_unit));
    CHECK(program(flash, dirty_unit, filled(unit, 0x00)) == Errc::reprogram_forbidden);
    CHECK(program(flash, clean_unit, filled(unit, 0x00)) == Errc::ok);
    CHECK(erase(flash, 1) == Errc::ok);
    CHECK(all_equal(slice(sim.image(), size, size), std::byte{0xFF}));
    CHECK(sim.weak_bit_count() == 0);
    CHECK(program(flash, dirty_unit, filled(unit, 0x00)) == Errc::ok);
  }
  CHECK(saw_mixture);
}

TEST_CASE("a torn erase only ever moves bits towards the erase value", "[sim][powerloss]") {
  for (EraseValue ev : {EraseValue::ones, EraseValue::zeros}) {
    SimFlash sim(uniform(2, 512, 8, ev), 5);
    sim.set_weak_bits(false);
    Flash flash(sim);
    const Bytes data = pattern(512, 9);
    CHECK(program(flash, 0, data) == Errc::ok);
    sim.cut_power_at(1);
    CHECK(erase(flash, 0) == Errc::power_lost);
    const std::byte e = static_cast<std::byte>(ev);
    bool towards_erased = true;
    for (std::uint32_t i = 0; i < 512; ++i)
      towards_erased = towards_erased && is_subset(away(sim.image()[i], e), away(data[i], e));
    CHECK(towards_erased);
  }
}

TEST_CASE("every crash point of a workload is reachable by its mutating-op index", "[sim][powerloss]") {
  // Returns how many steps succeeded before the first failure.
  auto workload = [](Flash& f) -> std::uint64_t {
    for (std::uint64_t i = 0; i < 6; ++i) {
      Errc r = Errc::ok;
      switch (i) {
        case 0: r = program(f, 0, filled(16, 0x00)); break;
        case 1: r = erase(f, 1); break;
        case 2: r = program(f, 256, filled(8, 0x0F)); break;
        case 3: r = program(f, 16, filled(8, 0x33)); break;
        case 4: r = erase(f, 0); break;
        default: r = program(f, 0, filled(4, 0xAA)); break;
      }
      if (r != Errc::ok) return i;
    }
    return 6;
  };
  SimFlash clean(uniform(2, 256, 4));
  Flash cf(clean);
  CHECK(workload(cf) == 6);
  CHECK(clean.mutating_ops() == 6);
  for (std::uint64_t k = 0; k < clean.mutating_ops(); ++k) {
    SimFlash sim(uniform(2, 256, 4), k + 1);
    Flash f(sim);
    sim.cut_power_at(k);
    CHECK(workload(f) == k);  // the k-th step is the first to fail
    CHECK(sim.mutating_ops() == k + 1);
    CHECK(sim.power_is_lost());
  }
}

// ---------------------------------------------------------------------------
// Weak bits

TEST_CASE("weak bits read differently across reads and vanish after an erase", "[sim][weak]") {
  SimFlash sim(uniform(2, 1024, 4), 11);
  Flash flash(sim);
  sim.set_tear_mode(TearMode::random_units);
  sim.cut_power_at(0);
  CHECK(program(flash, 0, filled(1024, 0x00)) == Errc::power_lost);
  sim.restore_power();
  CHECK(sim.weak_bit_count() > 0);
  std::uint32_t weak_addr = 0;
  unsigned weak_bit = 8;
  for (std::uint32_t a = 0; a < 1024 && weak_bit == 8; ++a)
    for (unsigned b = 0; b < 8 && weak_bit == 8; ++b)
      if (sim.is_weak(a, b)) weak_addr = a, weak_bit = b;
  CHECK(weak_bit < 8);
  if (weak_bit == 8) return;
  CHECK_FALSE(sim.is_weak(1024, 0));  // the other sector holds none
  const Bytes first = read_back(flash, 0, 1024);
  bool bit_changed = false, solid_stable = true;
  for (int i = 0; i < 16; ++i) {
    const Bytes again = read_back(flash, 0, 1024);
    bit_changed = bit_changed || ((again[weak_addr] ^ first[weak_addr]) >> weak_bit & std::byte{1}) != std::byte{0};
    for (std::uint32_t a = 0; a < 1024; ++a)
      for (unsigned b = 0; b < 8; ++b)
        if (!sim.is_weak(a, b))
          solid_stable = solid_stable && (((again[a] ^ sim.image()[a]) >> b) & std::byte{1}) == std::byte{0};
  }
  CHECK(bit_changed);
  CHECK(solid_stable);  // only weak bits are noisy; the rest read as stored

  CHECK(erase(flash, 0) == Errc::ok);
  CHECK(sim.weak_bit_count() == 0);
  CHECK(read_back(flash, 0, 1024) == read_back(flash, 0, 1024));
}

TEST_CASE("with weak bits disabled a tear leaves none", "[sim][weak]") {
  SimFlash sim(uniform(2, 1024, 4), 11);
  sim.set_weak_bits(false);
  sim.set_tear_mode(TearMode::random_units);
  Flash flash(sim);
  sim.cut_power_at(0);
  CHECK(program(flash, 0, filled(1024, 0x00)) == Errc::power_lost);
  CHECK(sim.weak_bit_count() == 0);
  sim.restore_power();
  CHECK(read_back(flash, 0, 1024) == slice(sim.image(), 0, 1024));
}

// ---------------------------------------------------------------------------
// Determinism

namespace {
struct Outcome {
  Bytes image;
  std::vector<std::uint32_t> weak;  // address * 8 + bit
  Bytes reads;
};
Outcome torn_run(std::uint64_t seed) {
  SimFlash sim(uniform(4, 512, 4), seed);
  Flash flash(sim);
  (void)program(flash, 0, pattern(512, 1));
  sim.cut_power_at(1);
  (void)program(flash, 512, filled(512, 0x00));
  sim.restore_power();
  sim.cut_power_at(2);
  (void)erase(flash, 0);
  sim.restore_power();
  sim.flip_random_bits_in(1536, 512, 5);
  Outcome o;
  o.image.assign(sim.image().begin(), sim.image().end());
  for (std::uint32_t a = 0; a < 2048; ++a)
    for (unsigned b = 0; b < 8; ++b)
      if (sim.is_weak(a, b)) o.weak.push_back(a * 8 + b);
  for (int i = 0; i < 3; ++i) {
    const Bytes r = read_back(flash, 0, 1024);
    o.reads.insert(o.reads.end(), r.begin(), r.end());
  }
  return o;
}
}  // namespace

TEST_CASE("the same seed and operations give the same image, weak set and reads", "[sim][determinism]") {
  const Outcome a = torn_run(7), b = torn_run(7);
  CHECK(a.image == b.image);
  CHECK(a.weak == b.weak);
  CHECK(a.reads == b.reads);
  CHECK_FALSE(a.weak.empty());
}

TEST_CASE("a different seed gives a different tear", "[sim][determinism]") {
  const Outcome a = torn_run(7), b = torn_run(8);
  CHECK(a.image != b.image);
}

// ---------------------------------------------------------------------------
// Wear, injected failures, flips, raw access

TEST_CASE("a sector erased as often as its endurance refuses erases and programs", "[sim][wear]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  sim.set_endurance(3);
  for (int i = 0; i < 3; ++i) CHECK(erase(flash, 0) == Errc::ok);
  CHECK(sim.lifetime_erases(0) == 3);
  CHECK(erase(flash, 0) == Errc::worn_out);
  CHECK(program(flash, 0, filled(4, 0x00)) == Errc::worn_out);
  CHECK(program(flash, 252, filled(8, 0x00)) == Errc::worn_out);  // spans into the worn sector
  CHECK(all_equal(sim.image(), std::byte{0xFF}));
  CHECK(sim.counters().erase_ops == 3);
  CHECK(sim.counters().program_ops == 0);
  CHECK(sim.lifetime_erases(0) == 3);
  CHECK(sim.faults().back().what == FaultKind::worn_out);
  CHECK(program(flash, 256, filled(4, 0x00)) == Errc::ok);  // the other sector is fine
  CHECK(erase(flash, 1) == Errc::ok);
}

TEST_CASE("an injected loud failure is reported once and changes nothing", "[sim][inject]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(4, 0x12)) == Errc::ok);
  sim.fail_next(FlashOpKind::program, Errc::io);
  CHECK(program(flash, 4, filled(4, 0x00)) == Errc::io);
  CHECK(all_equal(slice(sim.image(), 4, 4), std::byte{0xFF}));
  CHECK_FALSE(sim.is_programmed(4));
  CHECK(program(flash, 4, filled(4, 0x00)) == Errc::ok);

  sim.fail_next(FlashOpKind::erase, Errc::io);
  CHECK(erase(flash, 0) == Errc::io);
  CHECK(slice(sim.image(), 0, 4) == filled(4, 0x12));
  CHECK(erase(flash, 0) == Errc::ok);

  sim.fail_next(FlashOpKind::read, Errc::io);
  Bytes out = filled(4, 0xEE);
  CHECK(read(flash, 0, out) == Errc::io);
  CHECK(out == filled(4, 0xEE));
  CHECK(read(flash, 0, out) == Errc::ok);

  sim.fail_next(FlashOpKind::program, Errc::io);
  sim.fail_next(FlashOpKind::program, Errc::ok);  // disarms
  CHECK(program(flash, 8, filled(4, 0x00)) == Errc::ok);
  CHECK(sim.faults().size() == 3);
  CHECK(sim.counters().program_ops == 3);
  CHECK(sim.counters().erase_ops == 1);
}

TEST_CASE("an injected silent failure reports ok but the data never lands", "[sim][inject]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  sim.fail_next(FlashOpKind::program, Errc::io, true);
  CHECK(program(flash, 0, filled(8, 0x00)) == Errc::ok);
  CHECK(all_equal(sim.image(), std::byte{0xFF}));  // verify-after-write would catch this
  CHECK_FALSE(sim.is_programmed(0));
  CHECK(sim.counters().program_ops == 1);  // the device spent the time
  CHECK(sim.faults().back().what == FaultKind::silent_drop);

  CHECK(program(flash, 0, filled(8, 0x00)) == Errc::ok);
  sim.fail_next(FlashOpKind::erase, Errc::ok, true);
  CHECK(erase(flash, 0) == Errc::ok);
  CHECK(slice(sim.image(), 0, 8) == filled(8, 0x00));
  CHECK(sim.counters().erase_ops == 1);
  CHECK(sim.counters().sector_erases[0] == 0);
  CHECK(sim.lifetime_erases(0) == 0);

  sim.fail_next(FlashOpKind::read, Errc::ok, true);
  Bytes out = filled(8, 0xEE);
  CHECK(read(flash, 0, out) == Errc::ok);
  CHECK(out == filled(8, 0xEE));  // a stale buffer
  CHECK(read_back(flash, 0, 8) == filled(8, 0x00));
}

TEST_CASE("flip_bit changes exactly one stored bit", "[sim][flips]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(4, 0x00)) == Errc::ok);
  const Bytes before(sim.image().begin(), sim.image().end());
  sim.flip_bit(2, 5);  // 0 -> 1: against the programming direction too
  CHECK(differing_bits(before, sim.image()) == 1);
  CHECK(sim.image()[2] == std::byte{0x20});
  CHECK(read_back(flash, 2, 1) == bytes({0x20}));
  CHECK(sim.is_programmed(0));  // tracking unchanged
  sim.flip_bit(300, 0);         // 1 -> 0 in an erased unit
  CHECK(sim.image()[300] == std::byte{0xFE});
  CHECK_FALSE(sim.is_programmed(300));
  CHECK(differing_bits(before, sim.image()) == 2);
}

TEST_CASE("random flips stay inside their range and change at most n bits", "[sim][flips]") {
  SimFlash sim(uniform(4, 256, 4), 3);
  const Bytes before(sim.image().begin(), sim.image().end());
  sim.flip_random_bits_in(256, 128, 9);
  const std::size_t changed = differing_bits(before, sim.image());
  CHECK(changed <= 9);
  CHECK(changed % 2 == 1);  // a bit flipped twice cancels: parity survives
  CHECK(slice(sim.image(), 0, 256) == slice(before, 0, 256));
  CHECK(slice(sim.image(), 384, 1024 - 384) == slice(before, 384, 1024 - 384));
  const Bytes mid(sim.image().begin(), sim.image().end());
  sim.flip_random_bits(4);
  CHECK(differing_bits(mid, sim.image()) <= 4);
  CHECK(differing_bits(mid, sim.image()) % 2 == 0);
}

TEST_CASE("load_image installs a golden image and rebuilds the tracking from it", "[sim][raw]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(erase(flash, 0) == Errc::ok);
  Bytes golden = filled(512, 0xFF);
  golden[5] = std::byte{0x00};
  golden[300] = std::byte{0x7F};
  sim.load_image(golden);
  CHECK(Bytes(sim.image().begin(), sim.image().end()) == golden);
  CHECK(sim.is_programmed(4));
  CHECK(sim.is_programmed(300));
  CHECK_FALSE(sim.is_programmed(8));
  CHECK(sim.lifetime_erases(0) == 0);
  CHECK(program(flash, 4, filled(4, 0x00)) == Errc::reprogram_forbidden);
  CHECK(program(flash, 8, filled(4, 0x00)) == Errc::ok);
  CHECK(read_back(flash, 0, 512) != golden);
}

TEST_CASE("raw access bypasses every rule and the tracking", "[sim][raw]") {
  SimFlash sim(uniform(2, 256, 4));
  Flash flash(sim);
  CHECK(program(flash, 0, filled(4, 0x00)) == Errc::ok);
  sim.raw()[1] = std::byte{0xFF};  // "un-programs" a bit pattern, impossible through the rules
  sim.raw()[100] = std::byte{0x42};
  CHECK(read_back(flash, 0, 2) == bytes({0x00, 0xFF}));
  CHECK(read_back(flash, 100, 1) == bytes({0x42}));
  CHECK_FALSE(sim.is_programmed(100));
  CHECK(sim.counters().program_ops == 1);
}

TEST_CASE("describe summarises the device for a failing test", "[sim][diagnostics]") {
  SimFlash sim(uniform(2, 256, 4), 42);
  Flash flash(sim);
  CHECK(sim.describe().find("power on") != std::string::npos);
  sim.cut_power_at(0);
  CHECK(program(flash, 0, filled(4, 0)) == Errc::power_lost);
  const std::string d = sim.describe();
  CHECK(d.find("power LOST") != std::string::npos);
  CHECK(d.find("seed 42") != std::string::npos);
  CHECK(d.find("power cut during program at op 0") != std::string::npos);
}

// ---------------------------------------------------------------------------
// Model-based campaign

namespace {

// The rules written as plainly as possible, to check the sim against.
struct Model {
  Geometry g;
  Bytes img;
  std::vector<std::uint8_t> programmed;
  std::vector<std::uint32_t> wear;
  std::uint32_t endurance;
  std::array<std::pair<Errc, bool>, 3> pending{};  // injected (error, silent) per kind
  std::uint64_t read_ops = 0, bytes_read = 0, program_ops = 0, bytes_programmed = 0, erase_ops = 0, mutating = 0;
  std::vector<std::uint32_t> sector_erases;
  double time_us = 0;
  TimingModel t = TimingModel::stm32f4();

  Model(Geometry geo, std::uint32_t end)
      : g(geo),
        img(geo.total_size(), geo.erased_byte()),
        programmed(geo.total_size() / geo.program_unit()),
        wear(geo.sector_count()),
        endurance(end),
        sector_erases(geo.sector_count()) {}

  std::byte e() const { return g.erased_byte(); }
  bool take(FlashOpKind k, Errc& out) {
    auto& p = pending[static_cast<std::size_t>(k)];
    if (p.first == Errc::ok && !p.second) return false;
    out = p.second ? Errc::ok : p.first;
    p = {Errc::ok, false};
    return true;
  }
  Errc program(std::uint32_t a, const Bytes& d) {
    const std::uint32_t u = g.program_unit();
    if (a % u != 0 || d.size() % u != 0) return Errc::misaligned;
    ++mutating;
    Errc inj;
    if (take(FlashOpKind::program, inj)) {
      if (inj == Errc::ok) ++program_ops, bytes_programmed += d.size(), time_us += t.program_us(d.size());
      return inj;
    }
    for (std::uint32_t i = 0; i < d.size(); ++i)
      if (wear[g.sector_of(a + i)] >= endurance) return Errc::worn_out;
    if (!g.reprogram_allowed())
      for (std::uint32_t i = 0; i < d.size(); ++i)
        if (programmed[(a + i) / u]) return Errc::reprogram_forbidden;
    for (std::uint32_t i = 0; i < d.size(); ++i)
      if (!is_subset(away(img[a + i], e()), away(d[i], e()))) return Errc::bits_not_erased;
    for (std::uint32_t i = 0; i < d.size(); ++i) img[a + i] = d[i], programmed[(a + i) / u] = 1;
    ++program_ops, bytes_programmed += d.size(), time_us += t.program_us(d.size());
    return Errc::ok;
  }
  Errc erase(std::uint32_t s) {
    ++mutating;
    const std::uint32_t off = g.sector_offset(s), size = g.sector_size(s);
    Errc inj;
    if (take(FlashOpKind::erase, inj)) {
      if (inj == Errc::ok) ++erase_ops, time_us += t.erase_us(size);
      return inj;
    }
    if (wear[s] >= endurance) return Errc::worn_out;
    for (std::uint32_t i = off; i < off + size; ++i) img[i] = e(), programmed[i / g.program_unit()] = 0;
    ++wear[s], ++sector_erases[s], ++erase_ops, time_us += t.erase_us(size);
    return Errc::ok;
  }
  Errc read(std::uint32_t a, Bytes& out) {
    Errc inj;
    if (take(FlashOpKind::read, inj)) {
      if (inj == Errc::ok) ++read_ops, bytes_read += out.size(), time_us += t.read_us(out.size());
      return inj;
    }
    std::copy(img.begin() + a, img.begin() + a + out.size(), out.begin());
    ++read_ops, bytes_read += out.size(), time_us += t.read_us(out.size());
    return Errc::ok;
  }
};

struct Tally {
  std::size_t cases = 0, failures = 0;
};

// One campaign over one geometry: each step draws an operation, runs it on
// the sim and the model, and compares result, image, counters and wear.
struct Campaign {
  SimFlash sim;
  Flash flash;
  Model m;
  Rng rng;
  Tally& tally;
  std::size_t step = 0;

  Campaign(Geometry g, std::uint64_t seed, std::uint32_t endurance, TearMode mode, Tally& t)
      : sim(g, seed), flash(sim), m(g, endurance), rng{seed * 7919}, tally(t) {
    sim.set_endurance(endurance);
    sim.set_tear_mode(mode);
    sim.set_weak_bits(false);  // tears are then checked by their bounds, reads exactly
  }

  void run(std::size_t steps) {
    for (step = 0; step < steps; ++step) {
      if (rng.chance(3)) {
        arm_injection();
        continue;
      }
      ++tally.cases;
      const bool cut = rng.chance(2);
      const std::uint32_t kind = rng.below(100);
      if (kind < 12) erase_step(cut);
      else if (kind < 55) program_step(cut);
      else read_step();
    }
  }

  void mismatch(const char* what) {
    if (++tally.failures <= 5)
      std::fprintf(stderr, "sim-model mismatch at step %zu: %s\n  %s\n", step, what, sim.describe().c_str());
  }

  // The model must predict which request consumes the injection.
  void arm_injection() {
    const auto kind = static_cast<FlashOpKind>(rng.below(3));
    const bool silent = rng.chance(50);
    const Errc err = rng.chance(50) ? Errc::io : Errc::busy;
    sim.fail_next(kind, err, silent);
    m.pending[static_cast<std::size_t>(kind)] = {silent ? Errc::ok : err, silent};
  }

  void erase_step(bool cut) {
    const std::uint32_t s = rng.below(m.g.sector_count());
    if (cut) {
      sim.cut_power_at(sim.mutating_ops());
      const Errc got = erase(flash, s);
      return check_tear(m.g.sector_offset(s), m.g.sector_size(s), Bytes{}, got);
    }
    const Errc got = erase(flash, s);
    compare(got, m.erase(s));
  }

  void program_step(bool cut) {
    const std::uint32_t unit = m.g.program_unit(), total = m.g.total_size();
    const std::uint32_t units = 1 + rng.below(8);
    const std::uint32_t a = std::min(rng.below(total / unit) * unit, total - units * unit);
    const Bytes d = program_data(a, units * unit);
    if (rng.chance(3)) return malformed_program(a, d);
    if (cut) {
      sim.cut_power_at(sim.mutating_ops());
      const Errc got = program(flash, a, d);
      return check_tear(a, static_cast<std::uint32_t>(d.size()), d, got);
    }
    const Errc got = program(flash, a, d);
    compare(got, m.program(a, d));
  }

  // Mostly data a program may write (it keeps every bit already programmed),
  // sometimes random bytes that break the rules.
  Bytes program_data(std::uint32_t a, std::uint32_t n) {
    const bool valid = rng.chance(75);
    Bytes d(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto r = static_cast<std::byte>(rng.next());
      d[i] = valid ? m.e() ^ ((m.img[a + i] ^ m.e()) | r) : r;
    }
    return d;
  }

  // Bypasses Flash: the sim must reject the request itself, uncounted.
  void malformed_program(std::uint32_t a, const Bytes& d) {
    const bool unit_one = m.g.program_unit() == 1;
    ferrite::FlashRequest req;
    req.kind = FlashOpKind::program;
    req.address = unit_one ? a : a + 1;
    req.length = unit_one ? 0 : static_cast<std::uint32_t>(d.size());
    req.program_from = d.data();
    sim.submit(req);
    compare(req.result, unit_one ? Errc::invalid_argument : Errc::misaligned);
  }

  void read_step() {
    const std::uint32_t len = rng.below(65);
    const std::uint32_t a = rng.below(m.g.total_size() - len + 1);
    Bytes out(len), expect(len);
    const Errc got = read(flash, a, out);
    const Errc want = m.read(a, expect);
    if (got == Errc::ok && want == Errc::ok && out != expect) return mismatch("read data differs");
    compare(got, want);
  }

  void compare(Errc got, Errc want) {
    if (got != want) {
      char what[96];
      std::snprintf(what, sizeof what, "result %s, model says %s", ferrite::name_of(got), ferrite::name_of(want));
      mismatch(what);
    } else if (!std::equal(m.img.begin(), m.img.end(), sim.image().begin())) {
      mismatch("image differs");
    } else if (!counters_match()) {
      mismatch("counters differ");
    }
  }

  bool counters_match() const {
    const auto& c = sim.counters();
    bool wear_ok = true;
    for (std::uint32_t s = 0; s < m.wear.size(); ++s) wear_ok = wear_ok && sim.lifetime_erases(s) == m.wear[s];
    return wear_ok && c.read_ops == m.read_ops && c.bytes_read == m.bytes_read && c.program_ops == m.program_ops &&
           c.bytes_programmed == m.bytes_programmed && c.erase_ops == m.erase_ops &&
           c.sector_erases == m.sector_erases && sim.mutating_ops() == m.mutating &&
           c.device_time_us == Approx(m.time_us);
  }

  // A tear is random: check its bounds, then adopt what the sim left behind.
  // The cut wins over a pending injection and over the rules (which only
  // decide whether the op got far enough to tear anything).
  void check_tear(std::uint32_t from, std::uint32_t len, const Bytes& data, Errc got) {
    ++m.mutating;
    if (got != Errc::power_lost) return mismatch("torn op did not report power_lost");
    if (!sim.power_is_lost()) return mismatch("power still on after the cut");
    if (!tear_in_bounds(from, len, data)) return mismatch("tear touched bits it must not");
    Bytes probe(4);
    if (read(flash, 0, probe) != Errc::power_lost) return mismatch("read succeeded without power");
    m.program_ops = sim.counters().program_ops, m.bytes_programmed = sim.counters().bytes_programmed;
    m.erase_ops = sim.counters().erase_ops, m.time_us = sim.counters().device_time_us;
    std::copy(sim.image().begin(), sim.image().end(), m.img.begin());
    for (std::uint32_t u = 0; u < m.programmed.size(); ++u)
      m.programmed[u] = sim.is_programmed(u * m.g.program_unit());
    sim.restore_power();
  }

  // Outside the request nothing moved; inside, a torn program only adds bits
  // of its data and a torn erase only returns bits to the erase value.
  bool tear_in_bounds(std::uint32_t from, std::uint32_t len, const Bytes& data) const {
    bool ok = true;
    for (std::uint32_t i = 0; i < m.img.size(); ++i) {
      const unsigned before = away(m.img[i], m.e()), now = away(sim.image()[i], m.e());
      if (i < from || i >= from + len) ok = ok && before == now;
      else if (data.empty()) ok = ok && is_subset(now, before);
      else ok = ok && is_subset(before, now) && is_subset(now, before | away(data[i - from], m.e()));
    }
    return ok;
  }
};

}  // namespace

TEST_CASE("the simulated flash agrees with a reference model over thousands of random operations",
          "[sim][model][campaign]") {
  Tally t;
  Campaign(uniform(4, 512, 4), 1, 40, TearMode::prefix_then_partial, t).run(2000);
  Campaign(layout({{2, 256}, {1, 1024}}, 8, EraseValue::zeros, true), 2, 1000, TearMode::random_units, t).run(2000);
  Campaign(uniform(3, 128, 1, EraseValue::ones, true), 3, 60, TearMode::prefix_then_partial, t).run(2000);
  std::printf("campaign sim-model: %zu cases, %zu failures\n", t.cases, t.failures);
  CHECK(t.failures == 0);
}
