// ferrite-demo — a ferrite store on a simulated STM32F4 flash (1 MiB:
// 4 x 16 KiB, 1 x 64 KiB, 7 x 128 KiB sectors, 32-bit program unit, no
// re-programming), using the first two 16 KiB sectors as the store.
//
// It stores kved-style typed settings, updates a counter 5,000 times (the
// store moves through its sectors and collects garbage), commits a
// transaction, cuts the power in the middle of a write, remounts, and prints
// what the simulated device did and how long a real STM32F4 would have taken.
// With ferrite.crypto built, a second store is sealed with a passphrase.
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.sim;

namespace {

using ferrite::Errc;
using ferrite::Status;
using ferrite::Task;

void report(const char* what, const ferrite::sim::SimFlash& sim, const ferrite::Store& store) {
  const auto& c = sim.counters();
  const auto st = store.stats();
  fmt::print("{}\n", what);
  fmt::print("  flash: {} reads ({} B), {} programs ({} B), {} erases, {:.1f} ms of STM32F4 time\n", c.read_ops,
             c.bytes_read, c.program_ops, c.bytes_programmed, c.erase_ops, c.device_time_us / 1000.0);
  fmt::print("  store: {} keys, {} live B of {} B capacity, {} free B, {} reclaimable B, erases per sector {}..{}, "
             "{} sectors retired\n",
             st.keys, st.live_bytes, st.capacity_bytes, st.free_bytes, st.reclaimable_bytes, st.erase_min, st.erase_max,
             st.gc_runs);
  // free_bytes is room for records *without* garbage collection: the head's
  // rest plus free sectors, less the sector kept in reserve.
  if (st.free_bytes == 0 && st.head_sealed)
    fmt::print("  (0 free B: mount sealed the head, whose last bytes the power cut left torn, and no sector is free;\n"
               "   the next write collects the oldest sector first: {} B can still become live)\n",
               st.capacity_bytes - st.live_bytes);
}

/// Why the store refused (what Store::last_refusal() names), if anything.
void explain(const ferrite::Store& store) {
  const ferrite::Refusal why = store.last_refusal();
  if (why) fmt::print(stderr, "  because {} = {} (limit {}): {}\n", why.field, why.value, why.limit, why.reason);
}

Task<Status> settings(ferrite::Store& store) {
  FERRITE_CO_TRY(co_await store.put_as("cfg.baud", std::uint32_t{115200}));
  FERRITE_CO_TRY(co_await store.put_as("cfg.gain", 1.25f));
  FERRITE_CO_TRY(co_await store.put_as("cfg.offset", std::int16_t{-42}));
  FERRITE_CO_TRY(co_await store.put_as("cfg.name", std::string_view("pump-controller-7")));
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t baud, co_await store.get_as<std::uint32_t>("cfg.baud"));
  fmt::print("cfg.baud = {}\n", baud);
  // The type is stored with the value: reading it as another type is refused.
  const auto wrong = co_await store.get_as<float>("cfg.baud");
  fmt::print("cfg.baud as float: {}\n", wrong ? "read?!" : ferrite::describe(wrong.error()));
  // A value over the limit is refused, and the store says which limit.
  const std::string big(store.value_limit() + 1, 'x');
  if (auto st = co_await store.put("cfg.blob", big); !st) {
    const ferrite::Refusal why = store.last_refusal();
    fmt::print("a {} B value: {} ({} over value_limit() = {} B)\n", big.size(), ferrite::describe(st.error()),
               why.field, why.limit);
  }
  // A put of the same value writes nothing (copy-on-write).
  FERRITE_CO_TRY(co_await store.put_as("cfg.baud", std::uint32_t{115200}));
  co_return Status{};
}

Task<Status> counter_updates(ferrite::Store& store, int n) {
  for (int i = 1; i <= n; ++i) FERRITE_CO_TRY(co_await store.put_as("boot.count", std::uint32_t(i)));
  co_return Status{};
}

Task<Status> transfer(ferrite::Store& store) {
  FERRITE_CO_TRY(co_await store.put("tank.a", "500"));
  FERRITE_CO_TRY(co_await store.put("tank.b", "100"));
  ferrite::Transaction t(store);
  FERRITE_CO_TRY(co_await t.put("tank.a", "450"));
  FERRITE_CO_TRY(co_await t.put("tank.b", "150"));
  FERRITE_CO_TRY(co_await t.commit());  // both or neither, even across a power cut
  co_return Status{};
}

Task<Status> list(ferrite::Store& store) {
  auto c = store.scan("cfg.");
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await c.next());
    if (!more) break;
    fmt::print("  {} ({}, {} bytes)\n", c.key_string(), ferrite::name_of(c.type()), c.value_size());
  }
  co_return Status{};
}

int fail_with(const char* what, Errc e, const ferrite::Store* store = nullptr) {
  fmt::print(stderr, "demo: {} failed: {}\n", what, e);
  if (store) explain(*store);
  return 1;
}

}  // namespace

int main() {
  const ferrite::SectorRun stm32f4[] = {{4, 16 * 1024}, {1, 64 * 1024}, {7, 128 * 1024}};
  auto geometry = ferrite::Geometry::make(stm32f4, 4);
  if (!geometry) return fail_with("geometry", geometry.error());
  ferrite::sim::SimFlash sim(*geometry, 2024, ferrite::sim::TimingModel::stm32f4());
  auto region = ferrite::Flash::partition(sim, 0, 2);  // two 16 KiB sectors
  if (!region) return fail_with("partition", region.error());

  ferrite::StoreMemory<64, 2> memory;
  std::optional<ferrite::Store> store(std::in_place, *region, memory.config());
  fmt::print("ferrite {} (interface v{}) on a simulated STM32F4, store in sectors 0-1\n", ferrite::version,
             ferrite::interface_version);
  if (auto st = ferrite::sync_wait(store->format()); !st) return fail_with("format", st.error(), &*store);
  if (auto st = ferrite::sync_wait(settings(*store)); !st) return fail_with("settings", st.error(), &*store);
  if (auto st = ferrite::sync_wait(counter_updates(*store, 5000)); !st) return fail_with("updates", st.error(), &*store);
  if (auto st = ferrite::sync_wait(transfer(*store)); !st) return fail_with("transaction", st.error(), &*store);
  report("after 5,000 counter updates and a transaction:", sim, *store);

  // Cut the power during the next write, then reboot and mount.
  sim.cut_power_at(sim.mutating_ops());
  const auto cut = ferrite::sync_wait(store->put_as("boot.count", std::uint32_t{999999}));
  fmt::print("put during a power cut: {}\n", cut ? "ok" : ferrite::describe(cut.error()));
  sim.restore_power();
  sim.reset_counters();
  memory = {};
  store.emplace(*region, memory.config());
  if (auto st = ferrite::sync_wait(store->mount()); !st) return fail_with("mount", st.error(), &*store);
  const auto count = ferrite::sync_wait(store->get_scalar("boot.count"));
  if (!count) return fail_with("get", count.error(), &*store);
  fmt::print("after reboot: boot.count = {} (the interrupted write is entirely absent)\n",
             count->as<std::uint32_t>().value_or(0));
  std::string a, b;
  if (auto st = ferrite::sync_wait(store->get_string("tank.a", a)); !st) return fail_with("get", st.error(), &*store);
  if (auto st = ferrite::sync_wait(store->get_string("tank.b", b)); !st) return fail_with("get", st.error(), &*store);
  fmt::print("tank.a = {}, tank.b = {}\n", a, b);
  fmt::print("settings:\n");
  if (auto st = ferrite::sync_wait(list(*store)); !st) return fail_with("scan", st.error(), &*store);
  report("mount after the power cut:", sim, *store);
  if (count->as<std::uint32_t>().value_or(0) != 5000 || a != "450" || b != "150") return 1;

#if FERRITE_HAVE_CRYPTO
  // The next two sectors: a store sealed with a passphrase (Argon2id), names hidden.
  auto sealed_region = ferrite::Flash::partition(sim, 2, 2);
  if (!sealed_region) return fail_with("partition", sealed_region.error());
  ferrite::SealOptions options;
  options.hide_keys = true;
  ferrite::Sealer sealer(options);
  if (auto st = sealer.use_passphrase("correct horse battery staple", {2, 8 * 1024}); !st)
    return fail_with("passphrase", st.error());
  ferrite::StoreMemory<16, 2> sealed_memory;
  auto config = sealed_memory.config();
  std::vector<std::byte> scratch(ferrite::Store::scratch_needed(1024, sealer.overhead()));
  config.codec = &sealer;
  config.scratch = scratch;
  config.max_value_size = 1024;
  ferrite::Store vault(*sealed_region, config);
  if (auto st = ferrite::sync_wait(vault.format()); !st) return fail_with("sealed format", st.error(), &vault);
  if (auto st = ferrite::sync_wait(vault.put("wifi.psk", "hunter2-hunter2")); !st) return fail_with("sealed put", st.error(), &vault);
  std::string psk;
  if (auto st = ferrite::sync_wait(vault.get_string("wifi.psk", psk)); !st) return fail_with("sealed get", st.error(), &vault);
  fmt::print("sealed store: wifi.psk read back ({} bytes); on flash only ciphertext and a keyed hash of the name\n",
             psk.size());
  ferrite::Sealer wrong(options);  // other options would be refused as config_mismatch before any key is tried
  if (auto st = wrong.use_passphrase("guess", {2, 8 * 1024}); !st) return fail_with("passphrase", st.error());
  config.codec = &wrong;
  ferrite::StoreMemory<16, 2> other_memory;
  config.index = other_memory.index;
  config.sectors = other_memory.sectors;
  ferrite::Store intruder(*sealed_region, config);
  const auto denied = ferrite::sync_wait(intruder.mount());
  fmt::print("mount with a wrong passphrase: {}\n", denied ? "ok?!" : ferrite::describe(denied.error()));
  if (denied || denied.error() != Errc::wrong_key) return 1;
#endif
  fmt::print("demo: ok\n");
  return 0;
}
