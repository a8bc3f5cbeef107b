// ferrite-demo — a sealed medical record on a simulated STM32F4 flash (1 MiB:
// 4 x 16 KiB, 1 x 64 KiB, 7 x 128 KiB sectors, 32-bit program unit, no
// re-programming), cut into three partitions: a sealed store holding a
// docstore (patients, visits) and a few settings, a series log of heart-rate
// readings, and the target of a restore.
//
// Each step prints what it found and fails the program when something is not
// as expected: typed settings, documents from JSON with a compound index,
// readings with aggregation and an upload mark, a transaction across two
// collections, a time-frame query, a verified backup, a power cut in the
// middle of writes, and the restored docstore compared with the original.
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.sim;
#include "demo.hpp"

namespace demo {
namespace {

/// The device key; firmware would read it from a secure element or OTP.
std::array<std::byte, 32> device_key() {
  std::array<std::byte, 32> key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0xA5 ^ (i * 29));
  return key;
}

/// Collection names stay readable on flash: a backup needs the names
/// (a store that hides them answers `unsupported`).
ferrite::SealOptions seal_options() { return {}; }

Task<Status> wrong_key_refused(ferrite::Flash part) {
  ferrite::Sealer thief(seal_options());
  std::array<std::byte, 32> guess{};
  FERRITE_CO_TRY(thief.use_key(guess));
  SealedStore other(part, thief);
  const auto denied = co_await other.mount();
  fmt::print("  mount with another key: {}\n", denied ? "ok?!" : ferrite::describe(denied.error()));
  co_return expect(!denied && denied.error() == Errc::wrong_key, "a wrong key to be refused");
}

struct Acknowledged {
  Documents patients, visits;
  std::uint64_t readings = 0;
};

Task<Result<Acknowledged>> what_is_acknowledged(ferrite::DocStore& db, ferrite::SeriesLog& log) {
  Acknowledged a;
  FERRITE_CO_TRY_ASSIGN(a.patients, co_await all_documents(db, "patients"));
  FERRITE_CO_TRY_ASSIGN(a.visits, co_await all_documents(db, "visits"));
  FERRITE_CO_TRY_ASSIGN(a.readings, co_await log.count(heart_rate, INT64_MIN, INT64_MAX));
  co_return a;
}

/// What a power cut left of a write, for printing.
std::string outcome(bool acknowledged, Errc e) { return acknowledged ? "acknowledged?!" : ferrite::describe(e); }

/// Cuts the power in the middle of a document insert, powers up (new objects
/// over the same flash) and opens the docstore again.
Task<Result<bool>> cut_insert(ferrite::sim::SimFlash& sim, SealedStore& records) {
  std::vector<std::byte> doc(256);
  FERRITE_CO_TRY_ASSIGN(const std::size_t size,
                        ferrite::doc::json_to_cbor(R"({"patient_id": "P-1006", "ts": 1700110000, "name": "Finn Moreau"})", doc));
  FERRITE_CO_TRY_ASSIGN(const auto view, ferrite::doc::View::parse(std::span(doc).first(size)));
  sim.cut_power_at(sim.mutating_ops() + 1);  // the insert's second program is torn
  const auto insert = co_await records.db().insert("patients", view);
  sim.restore_power();
  fmt::print("  patients insert during the cut: {}\n", outcome(static_cast<bool>(insert), insert ? Errc::ok : insert.error()));
  records.reboot();
  FERRITE_CO_TRY(co_await records.mount());
  FERRITE_CO_TRY(co_await records.open_documents());
  co_return static_cast<bool>(insert);
}

/// The same for a reading's append, and a new SeriesLog that mounts the log.
Task<Result<bool>> cut_append(ferrite::sim::SimFlash& sim, std::optional<ferrite::SeriesLog>& log,
                              ferrite::Flash series_part, ferrite::SeriesConfig series_config) {
  const float bpm = 99.5f;
  std::array<std::byte, 4> payload;
  std::memcpy(payload.data(), &bpm, 4);
  sim.cut_power_at(sim.mutating_ops());  // the append's program is torn
  const auto reading = co_await log->append(heart_rate, first_reading_ts + 3600, payload);
  sim.restore_power();
  fmt::print("  heart-rate append during the cut: {}\n", outcome(static_cast<bool>(reading), reading ? Errc::ok : reading.error()));
  log.emplace(series_part, series_config);
  FERRITE_CO_TRY(co_await log->mount());
  co_return static_cast<bool>(reading);
}

Task<Status> power_cut(ferrite::sim::SimFlash& sim, SealedStore& records, std::optional<ferrite::SeriesLog>& log,
                       ferrite::Flash series_part, ferrite::SeriesConfig series_config) {
  FERRITE_CO_TRY_ASSIGN(const Acknowledged before, co_await what_is_acknowledged(records.db(), *log));
  FERRITE_CO_TRY_ASSIGN(const bool inserted, co_await cut_insert(sim, records));
  FERRITE_CO_TRY_ASSIGN(const bool appended, co_await cut_append(sim, log, series_part, series_config));
  FERRITE_CO_TRY_ASSIGN(const Acknowledged after, co_await what_is_acknowledged(records.db(), *log));
  fmt::print("  after power-up: patients {} of {}, visits {} of {} documents unchanged; {} of {} readings\n",
             after.patients == before.patients ? after.patients.size() : 0, before.patients.size(),
             after.visits == before.visits ? after.visits.size() : 0, before.visits.size(), after.readings,
             before.readings);
  co_return expect(!inserted && !appended && after.patients == before.patients && after.visits == before.visits &&
                       after.readings == before.readings,
                   "every acknowledged document and reading, and nothing of the cut writes");
}

void device_figures(const ferrite::sim::SimFlash& sim) {
  const auto& c = sim.counters();
  fmt::print("device: {} reads ({} B), {} programs ({} B), {} erases, {:.1f} ms of STM32F4 time\n", c.read_ops,
             c.bytes_read, c.program_ops, c.bytes_programmed, c.erase_ops, c.device_time_us / 1000.0);
}

int failed(const char* step, Errc e) {
  fmt::print(stderr, "demo: {} failed: {}\n", step, ferrite::describe(e));
  return 1;
}

}  // namespace
}  // namespace demo

int main() {
  using namespace demo;
  using ferrite::sync_wait;
  const ferrite::SectorRun stm32f4[] = {{4, 16 * 1024}, {1, 64 * 1024}, {7, 128 * 1024}};
  auto geometry = ferrite::Geometry::make(stm32f4, 4);
  if (!geometry) return failed("geometry", geometry.error());
  ferrite::sim::SimFlash sim(*geometry, 2024, ferrite::sim::TimingModel::stm32f4());
  // Sectors 0-3 (4 x 16 KiB): the store; 4-5 (64 + 128 KiB): the series log;
  // 6-7 (2 x 128 KiB): where the backup is restored.
  auto store_part = ferrite::Flash::partition(sim, 0, 4);
  auto series_part = ferrite::Flash::partition(sim, 4, 2);
  auto restore_part = ferrite::Flash::partition(sim, 6, 2);
  if (!store_part || !series_part || !restore_part) return failed("partition", Errc::invalid_argument);
  fmt::print("ferrite {} (interface v{}) on a simulated STM32F4: store in sectors 0-3 (64 KiB), series log in 4-5 "
             "(192 KiB), restore target in 6-7 (256 KiB)\n",
             ferrite::version, ferrite::interface_version);

  // Each part of the device has its own Sealer (same key): it keeps per-store state.
  ferrite::Sealer store_sealer(seal_options()), backup_sealer(seal_options()), target_sealer(seal_options());
  for (auto* s : {&store_sealer, &backup_sealer, &target_sealer})
    if (auto st = s->use_key(device_key()); !st) return failed("key", st.error());

  fmt::print("1. sealed store (XChaCha20-Poly1305, device key)\n");
  SealedStore records(*store_part, store_sealer);
  if (auto st = sync_wait(records.format(1)); !st) return failed("format", st.error());
  if (auto st = sync_wait(typed_settings(records.store())); !st) return failed("settings", st.error());
  if (auto st = sync_wait(wrong_key_refused(*store_part)); !st) return failed("wrong key", st.error());
  if (auto st = sync_wait(records.open_documents()); !st) return failed("open", st.error());

  fmt::print("2. patients\n");
  if (auto st = sync_wait(patients(records.db())); !st) return failed("patients", st.error());

  fmt::print("3. vital signs\n");
  ferrite::SeriesMemory<2, 64> series_memory;
  ferrite::SeriesConfig series_config = series_memory.config();
  series_config.codec = &store_sealer;
  series_config.log_id = 2;  // unlike the store's id 1: both are sealed under one key
  std::optional<ferrite::SeriesLog> log(std::in_place, *series_part, series_config);
  if (auto st = sync_wait(vital_signs(*log, records.store())); !st) return failed("vital signs", st.error());

  fmt::print("4. transaction across patients and visits\n");
  if (auto st = sync_wait(visit_transaction(records.db())); !st) return failed("transaction", st.error());

  fmt::print("5. time-frame query\n");
  if (auto st = sync_wait(timeframe(records.db())); !st) return failed("time frame", st.error());

  fmt::print("6. backup\n");
  ferrite::MemorySink backup;
  if (auto st = sync_wait(take_backup(records.db(), store_sealer, backup_sealer, backup)); !st) return failed("backup", st.error());

  fmt::print("7. power cuts in the middle of writes\n");
  if (auto st = sync_wait(power_cut(sim, records, log, *series_part, series_config)); !st)
    return failed("power cut", st.error());

  fmt::print("8. restore into sectors 6-7\n");
  SealedStore target(*restore_part, target_sealer);
  if (auto st = sync_wait(restore_and_compare(backup.bytes(), backup_sealer, records, target)); !st)
    return failed("restore", st.error());

  device_figures(sim);
  fmt::print("demo: ok\n");
  return 0;
}
