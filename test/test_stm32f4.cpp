// ferrite.stm32f4: the STM32F4 flash driver against a register-level model of
// the controller (test/stm32f4_model.hpp): register protocol, interrupt-driven
// completion, every error flag and its Errc, and a store running on top.
#include <catch2/catch.hpp>
#include <map>
import ferrite.log;
import ferrite.stm32f4;

#include "stm32f4_model.hpp"

using ferrite::Errc;
using ferrite::Flash;
using ferrite::RunLoop;
using ferrite::Status;
using ferrite::Task;
using ferrite::stm32f4::Parallelism;
using ferrite::stm32f4::Stm32f4Config;
namespace bits = ferrite::stm32f4::bits;

namespace {

using Driver = ferrite::stm32f4::Stm32f4Flash<f4model::ModelAccess>;

struct Rig {
  explicit Rig(Stm32f4Config cfg = {}) : model(cfg.flash_kib), driver(&model.regs, model.array.data(), cfg, {&model}) {}

  /// Turns the loop; when nothing is ready, one tick of controller time and
  /// its interrupt (the super-loop's WFI). Returns false when `t` did not
  /// finish within `max_steps`.
  template <class T>
  bool drive(Task<T>& t, int max_steps = 1'000'000) {
    t.start();
    for (int i = 0; i < max_steps && !t.done(); ++i) {
      if (!loop.run_once()) step();
    }
    return t.done();
  }
  void step() {
    model.tick_and_interrupt([this] {
      ++isr_calls;
      (void)driver.on_interrupt();
    });
  }
  template <class T>
  T run(Task<T> t) {
    REQUIRE(drive(t));
    return t.take_result();
  }

  f4model::Controller model;
  Driver driver;
  RunLoop loop;
  int isr_calls = 0;
};

Task<Status> program_at(Flash f, std::uint32_t a, std::span<const std::byte> d) { co_return co_await f.program(a, d); }
Task<Status> read_at(Flash f, std::uint32_t a, std::span<std::byte> out) { co_return co_await f.read(a, out); }
Task<Status> erase_at(Flash f, std::uint32_t s) { co_return co_await f.erase(s); }

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(seed * 31 + i * 7 + 1));
  return v;
}

bool all_erased(const f4model::Controller& m, std::uint32_t from, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i)
    if (m.array[from + i] != std::byte{0xFF}) return false;
  return true;
}

}  // namespace

TEST_CASE("geometry of the STM32F4 parts", "[stm32f4]") {
  auto g = ferrite::stm32f4::geometry_for({});
  REQUIRE(g);
  CHECK(g->sector_count() == 12);
  CHECK(g->total_size() == 1024u * 1024u);
  CHECK(g->sector_size(0) == 16384);
  CHECK(g->sector_size(3) == 16384);
  CHECK(g->sector_size(4) == 65536);
  CHECK(g->sector_size(11) == 131072);
  CHECK(g->sector_offset(5) == 0x20000);
  CHECK(g->program_unit() == 4);
  CHECK(g->erased_byte() == std::byte{0xFF});
  CHECK_FALSE(g->reprogram_allowed());
  auto half = ferrite::stm32f4::geometry_for({Parallelism::x16, 512, true});
  REQUIRE(half);
  CHECK(half->sector_count() == 8);
  CHECK(half->total_size() == 512u * 1024u);
  CHECK(half->program_unit() == 2);
  CHECK(ferrite::stm32f4::geometry_for({Parallelism::x8, 1024, true})->program_unit() == 1);
  CHECK(ferrite::stm32f4::geometry_for({Parallelism::x32, 2048, true}).error() == Errc::invalid_argument);

  // A driver with an unusable configuration answers invalid_argument.
  f4model::Controller m;
  Driver d(&m.regs, m.array.data(), {Parallelism::x32, 768, true}, {&m});
  RunLoop loop;
  std::array<std::byte, 4> buf{};
  auto t = read_at(Flash(d, &loop), 0, buf);
  CHECK(ferrite::sync_wait(std::move(t), &loop).error() == Errc::invalid_argument);
}

TEST_CASE("the status flags map to ferrite errors", "[stm32f4]") {
  using ferrite::stm32f4::errc_from_status;
  CHECK(errc_from_status(0) == Errc::ok);
  CHECK(errc_from_status(bits::sr_eop | bits::sr_bsy) == Errc::ok);
  CHECK(errc_from_status(bits::sr_pgaerr) == Errc::misaligned);
  CHECK(errc_from_status(bits::sr_pgperr) == Errc::misaligned);
  CHECK(errc_from_status(bits::sr_pgaerr | bits::sr_operr) == Errc::misaligned);
  CHECK(errc_from_status(bits::sr_wrperr) == Errc::io);
  CHECK(errc_from_status(bits::sr_wrperr | bits::sr_operr) == Errc::io);
  CHECK(errc_from_status(bits::sr_pgserr) == Errc::io);
  CHECK(errc_from_status(bits::sr_operr) == Errc::io);
}

TEST_CASE("erase, program and read back through the register protocol", "[stm32f4]") {
  Rig rig;
  rig.model.regs.ACR = bits::acr_dcen | bits::acr_icen | 5;  // caches on, 5 wait states
  Flash f(rig.driver, &rig.loop);
  const std::uint32_t at = rig.model.sector_offset(1) + 64;
  const auto data = pattern(24, 1);

  // Pre-dirty sector 1 so the erase has something to do.
  rig.model.array[at] = std::byte{0};
  CHECK(rig.run(erase_at(f, 1)));
  CHECK(all_erased(rig.model, rig.model.sector_offset(1), 16384));
  CHECK(rig.model.erases == 1);
  CHECK(rig.model.keyr_writes == std::vector<std::uint32_t>{bits::key1, bits::key2});
  // The D-cache was reset after the erase, while disabled, and re-enabled.
  CHECK(rig.model.dcache_resets == 1);
  CHECK(rig.model.dcache_resets_ignored == 0);
  CHECK((rig.model.regs.ACR & (bits::acr_dcen | bits::acr_icen | 0xF)) == (bits::acr_dcen | bits::acr_icen | 5));

  CHECK(rig.run(program_at(f, at, data)));
  CHECK(rig.model.programs == 6);  // 24 bytes in x32 units
  CHECK(rig.model.widths_seen == 4);
  std::vector<std::byte> back(24);
  CHECK(rig.run(read_at(f, at, back)));
  CHECK(back == data);
  CHECK(std::memcmp(rig.model.array.data() + at, data.data(), data.size()) == 0);

  // Idle again: PG/SER cleared, FLASH_CR locked, no stray flags.
  CHECK(rig.model.locked());
  CHECK((rig.model.regs.CR & (bits::cr_pg | bits::cr_ser | bits::cr_strt)) == 0);
  CHECK((rig.model.regs.SR & (bits::sr_errors | bits::sr_eop)) == 0);
  CHECK(rig.model.unlocks == 2);
  CHECK(rig.model.reprogrammed_bytes == 0);
  CHECK(rig.model.violations.empty());
  CHECK(rig.driver.idle());
  CHECK(rig.driver.last_error_flags() == 0);
}

TEST_CASE("program units follow the configured parallelism", "[stm32f4]") {
  for (auto [p, unit] : {std::pair{Parallelism::x8, 1u}, std::pair{Parallelism::x16, 2u}, std::pair{Parallelism::x32, 4u}}) {
    Rig rig(Stm32f4Config{p, 1024, false});
    Flash f(rig.driver, &rig.loop);
    const auto data = pattern(8, unit);
    CHECK(rig.run(program_at(f, 32, data)));
    CHECK(rig.model.programs == 8 / unit);
    CHECK(rig.model.widths_seen == unit);
    CHECK(((rig.model.regs.CR & bits::cr_psize_mask) >> bits::cr_psize_shift) == static_cast<unsigned>(p));
    CHECK(std::memcmp(rig.model.array.data() + 32, data.data(), 8) == 0);
    // lock_when_idle off: unlocked once, stays unlocked.
    CHECK(rig.run(program_at(f, 64, data)));
    CHECK(rig.model.unlocks == 1);
    CHECK_FALSE(rig.model.locked());
    CHECK(rig.model.violations.empty());
  }
}

TEST_CASE("operations complete from the end-of-operation interrupt", "[stm32f4]") {
  Rig rig;
  rig.model.program_ticks = 3;
  rig.model.erase_ticks = 10;
  Flash f(rig.driver, &rig.loop);
  const auto data = pattern(8, 2);

  auto t = program_at(f, 128, data);
  t.start();
  // Suspended: the first unit is in the controller, nothing is runnable.
  CHECK_FALSE(t.done());
  CHECK(rig.model.busy());
  CHECK_FALSE(rig.loop.run_once());
  rig.step();
  rig.step();
  CHECK(rig.isr_calls == 0);
  rig.step();  // third tick: EOP of unit 1 -> the ISR writes unit 2
  CHECK(rig.isr_calls == 1);
  CHECK(rig.model.programs == 2);
  CHECK_FALSE(rig.loop.run_once());  // still nothing posted
  CHECK_FALSE(t.done());
  for (int i = 0; i < 3; ++i) rig.step();  // EOP of unit 2: complete() posts the coroutine
  CHECK(rig.isr_calls == 2);
  CHECK_FALSE(t.done());
  CHECK(rig.loop.run_once());  // the loop resumes it
  CHECK(t.done());
  CHECK(t.take_result());

  auto e = erase_at(f, 2);
  e.start();
  int ticks = 0;
  while (!e.done() && ticks < 100) {
    if (!rig.loop.run_once()) {
      rig.step();
      ++ticks;
    }
  }
  CHECK(ticks == 10);
  CHECK(e.take_result());
  CHECK(rig.model.violations.empty());
  CHECK(rig.driver.interrupts() == 3);
}

TEST_CASE("requests queue behind the one in the controller", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  const auto a = pattern(16, 3), b = pattern(16, 4);
  std::vector<std::byte> back(16);
  auto t1 = program_at(f, 0, a);
  auto t2 = program_at(f, 16, b);
  auto t3 = read_at(f, 16, back);
  t1.start();
  t2.start();
  t3.start();
  CHECK(rig.driver.in_flight() == 3);
  int steps = 0;
  while (!(t1.done() && t2.done() && t3.done()) && steps++ < 1000)
    if (!rig.loop.run_once()) rig.step();
  CHECK(t1.take_result());
  CHECK(t2.take_result());
  CHECK(t3.take_result());
  CHECK(back == b);  // the read waited for the program before it
  CHECK(rig.driver.in_flight() == 0);
  CHECK(rig.model.violations.empty());
}

TEST_CASE("write protection: WRPERR is Errc::io and changes nothing", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  rig.model.write_protect(2);
  const std::uint32_t s2 = rig.model.sector_offset(2);
  rig.model.array[s2 + 100] = std::byte{0x00};

  CHECK(rig.run(erase_at(f, 2)).error() == Errc::io);
  CHECK((rig.driver.last_error_flags() & bits::sr_wrperr) != 0);
  CHECK(rig.model.array[s2 + 100] == std::byte{0x00});
  CHECK(rig.model.erases == 0);

  CHECK(rig.run(program_at(f, s2 + 200, pattern(8, 5))).error() == Errc::io);
  CHECK(rig.driver.last_error_flags() == (bits::sr_wrperr | bits::sr_operr));
  CHECK(all_erased(rig.model, s2 + 200, 8));
  // Flags cleared, controller locked and usable for the other sectors.
  CHECK((rig.model.regs.SR & bits::sr_errors) == 0);
  CHECK(rig.model.locked());
  CHECK(rig.run(erase_at(f, 3)));
  CHECK(rig.run(program_at(f, rig.model.sector_offset(3), pattern(8, 6))));
  CHECK(rig.model.violations.empty());
}

TEST_CASE("alignment error: PGAERR is Errc::misaligned", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  rig.driver.access().address_skew = 2;  // the bus shifts the access off the word
  CHECK(rig.run(program_at(f, 0, pattern(8, 7))).error() == Errc::misaligned);
  CHECK(rig.driver.last_error_flags() == (bits::sr_pgaerr | bits::sr_operr));
  CHECK(all_erased(rig.model, 0, 16));
  CHECK(rig.model.programs == 0);
  CHECK((rig.model.regs.CR & bits::cr_pg) == 0);
  CHECK(rig.model.violations.empty());
}

TEST_CASE("parallelism error: PGPERR is Errc::misaligned", "[stm32f4]") {
  Rig rig;  // PSIZE x32
  Flash f(rig.driver, &rig.loop);
  rig.driver.access().width_override = 1;  // byte accesses
  CHECK(rig.run(program_at(f, 0, pattern(8, 8))).error() == Errc::misaligned);
  CHECK(rig.driver.last_error_flags() == (bits::sr_pgperr | bits::sr_operr));
  CHECK(all_erased(rig.model, 0, 8));
  CHECK(rig.model.violations.empty());
}

TEST_CASE("programming sequence error: PGSERR is Errc::io, reported without an interrupt", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  rig.driver.access().drop_pg = true;  // FLASH_CR never gets PG
  const auto data = pattern(8, 9);  // outlives the lazy task that refers to it
  auto t = program_at(f, 0, data);
  t.start();
  // PGSERR does not set OPERR, so no interrupt comes: the driver read
  // FLASH_SR right after the access and completed at once.
  CHECK(t.done());
  CHECK(t.take_result().error() == Errc::io);
  CHECK(rig.driver.last_error_flags() == bits::sr_pgserr);
  CHECK(rig.isr_calls == 0);
  CHECK(all_erased(rig.model, 0, 8));
  CHECK(rig.model.violations.empty());
}

TEST_CASE("an error at a later unit completes the request from the interrupt", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  rig.driver.access().fault_after_units = 2;
  rig.driver.access().address_skew = 1;
  const auto data = pattern(16, 10);
  CHECK(rig.run(program_at(f, 0, data)).error() == Errc::misaligned);
  CHECK(rig.model.programs == 2);  // the first two units landed
  CHECK(std::memcmp(rig.model.array.data(), data.data(), 8) == 0);
  CHECK(all_erased(rig.model, 8, 8));
  CHECK(rig.isr_calls >= 2);
  CHECK(rig.model.locked());
  CHECK(rig.model.violations.empty());
}

TEST_CASE("a wrong key sequence locks FLASH_CR until reset", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  rig.driver.access().wrong_key2 = true;
  CHECK(rig.run(erase_at(f, 0)).error() == Errc::io);
  CHECK(rig.model.lockouts == 1);
  CHECK(rig.model.locked_until_reset);
  CHECK(rig.driver.unlock_failures() == 1);
  // Even with the right keys, nothing works until the reset.
  rig.driver.access().wrong_key2 = false;
  CHECK(rig.run(program_at(f, 0, pattern(4, 11))).error() == Errc::io);
  CHECK(rig.driver.unlock_failures() == 2);
  CHECK(rig.model.bus_errors >= 2);
  CHECK(all_erased(rig.model, 0, 4));
  rig.model.reset();
  CHECK(rig.run(program_at(f, 0, pattern(4, 11))));
  CHECK(rig.model.violations.empty());
}

TEST_CASE("checks before the hardware: re-program, busy controller, bounds", "[stm32f4]") {
  Rig rig;
  Flash f(rig.driver, &rig.loop);
  const auto data = pattern(8, 12);
  CHECK(rig.run(program_at(f, 256, data)));
  const auto writes = rig.model.array_writes;
  // The controller would AND the data in; the port refuses instead.
  CHECK(rig.run(program_at(f, 256, data)).error() == Errc::reprogram_forbidden);
  CHECK(rig.run(program_at(f, 260, pattern(8, 13))).error() == Errc::reprogram_forbidden);
  CHECK(rig.model.array_writes == writes);

  rig.model.force_busy(true);
  CHECK(rig.run(erase_at(f, 0)).error() == Errc::busy);
  rig.model.force_busy(false);
  CHECK(rig.run(erase_at(f, 0)));

  // Requests that bypass ferrite::Flash's validation.
  auto submit = [&](ferrite::FlashOpKind kind, std::uint32_t address, std::uint32_t length, std::uint32_t sector) {
    ferrite::FlashRequest r;
    std::array<std::byte, 8> buf{};
    r.kind = kind;
    r.address = address;
    r.length = length;
    r.sector = sector;
    r.read_into = buf.data();
    r.program_from = buf.data();
    r.loop = &rig.loop;
    rig.driver.submit(r);
    CHECK(r.state.load() == 2);  // completed inline
    return r.result;
  };
  CHECK(submit(ferrite::FlashOpKind::program, 2, 4, 0) == Errc::misaligned);
  CHECK(submit(ferrite::FlashOpKind::program, 0, 6, 0) == Errc::misaligned);
  CHECK(submit(ferrite::FlashOpKind::program, 1024 * 1024, 4, 0) == Errc::out_of_bounds);
  CHECK(submit(ferrite::FlashOpKind::read, 1024 * 1024 - 4, 8, 0) == Errc::out_of_bounds);
  CHECK(submit(ferrite::FlashOpKind::erase, 0, 0, 12) == Errc::out_of_bounds);
  CHECK(submit(ferrite::FlashOpKind::program, 0, 0, 0) == Errc::invalid_argument);
  CHECK(rig.model.violations.empty());
}

TEST_CASE("a ferrite store runs on the STM32F4 port", "[stm32f4]") {
  Rig rig;
  rig.model.erase_ticks = 20;
  rig.model.regs.ACR = bits::acr_dcen;
  // The store lives in sectors 1-3 (3 x 16 KiB); sector 0 holds the firmware.
  auto part = Flash::partition(rig.driver, 1, 3, &rig.loop);
  REQUIRE(part);
  ferrite::StoreMemory<64, 3> memory;
  std::map<std::string, std::string> model;
  std::uint64_t rng = 42;
  auto next = [&] {
    std::uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  int puts = 0, erases = 0, gets = 0;
  {
    ferrite::Store store(*part, memory.config());
    REQUIRE(rig.run(store.format()));
    for (int op = 0; op < 600; ++op) {
      const std::uint64_t r = next();
      const std::string key = "cfg/" + std::to_string(r % 40);
      if (r % 10 < 6) {
        std::string value(static_cast<std::size_t>((r >> 16) % 90), 'a');
        for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (next() % 26));
        REQUIRE(rig.run(store.put(key, value)));
        model[key] = value;
        ++puts;
      } else if (r % 10 < 8) {
        const Status st = rig.run(store.erase(key));
        CHECK((model.count(key) ? st.has_value() : st.error() == Errc::not_found));
        model.erase(key);
        ++erases;
      } else {
        std::string out;
        const Status st = rig.run(store.get_string(key, out));
        if (model.count(key)) {
          CHECK(st);
          CHECK(out == model[key]);
        } else {
          CHECK(st.error() == Errc::not_found);
        }
        ++gets;
      }
      if (op % 100 == 99) CHECK(rig.run(store.maintain()));
    }
    CHECK(store.stats().gc_runs > 0);
  }
  // Reboot: a new Store mounts what the driver wrote.
  ferrite::StoreMemory<64, 3> memory2;
  ferrite::Store store(*part, memory2.config());
  REQUIRE(rig.run(store.mount()));
  CHECK(store.stats().keys == model.size());
  for (const auto& [k, v] : model) {
    std::string out;
    CHECK(rig.run(store.get_string(k, out)));
    CHECK(out == v);
  }
  INFO("puts " << puts << " erases " << erases << " gets " << gets);
  CHECK(rig.model.erases > 3);
  CHECK(rig.model.reprogrammed_bytes == 0);  // ferrite never programs a unit twice
  CHECK(rig.model.violations.empty());
  CHECK(all_erased(rig.model, 0, 16384));  // sector 0 untouched
  CHECK(rig.driver.interrupts() > 0);
}
