// C API: the store handle in caller memory and the key/value calls.
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

using namespace ferrite;
using namespace ferrite::capi;

namespace {

constexpr std::size_t align8(std::size_t n) noexcept { return (n + 7) / 8 * 8; }
constexpr std::size_t handle_bytes = align8(sizeof(StoreHandle));

static_assert(alignof(StoreHandle) <= 8, "handle memory is only 8-byte aligned");
static_assert(handle_bytes <= FERRITE_STORE_BASE_SIZE, "raise FERRITE_STORE_BASE_SIZE in ferrite.h");
static_assert(sizeof(IndexEntry) == 12 && alignof(IndexEntry) <= 4);
static_assert(sizeof(IndexEntry) + sizeof(std::uint16_t) == FERRITE_STORE_BYTES_PER_KEY);
static_assert(sizeof(SectorInfo) == FERRITE_STORE_BYTES_PER_SECTOR && alignof(SectorInfo) <= 4);
static_assert(FERRITE_MAX_KEY_SIZE == max_key_size && FERRITE_MAX_VALUE_SIZE == max_value_size_limit);
static_assert(FERRITE_MAX_RUNS == Geometry::max_runs);
static_assert(sizeof(bool) == 1);

std::size_t memory_size(std::uint32_t keys, std::uint32_t sectors) noexcept {
  return handle_bytes + std::size_t{keys} * (sizeof(IndexEntry) + sizeof(std::uint16_t)) +
         std::size_t{sectors} * sizeof(SectorInfo);
}

bool key_ok(const void* key, std::size_t len) noexcept { return key || len == 0; }

}  // namespace

extern "C" {

ferrite_config ferrite_default_config(void) {
  ferrite_config c{};
  c.max_keys = 64;
  c.max_value_size = 256;
  c.compact_records = true;
  c.verify_writes = false;
  c.key_order = ferrite::scans_built;  // a build without scans keeps no key order
  c.sector_summaries = false;
  return c;
}

size_t ferrite_store_memory_size(uint32_t keys, uint32_t sectors) { return memory_size(keys, sectors); }

ferrite_err ferrite_open(void* memory, size_t memory_size_, const ferrite_port* port, const ferrite_config* config,
                         ferrite_store** out) {
  if (out) *out = nullptr;
  if (!memory || !port || !config || !out) return FERRITE_INVALID_ARGUMENT;
  if (reinterpret_cast<std::uintptr_t>(memory) % 8 != 0) return FERRITE_INVALID_ARGUMENT;
  if (!port->read || !port->program || !port->erase) return FERRITE_INVALID_ARGUMENT;
  if (config->max_keys > FERRITE_MAX_KEYS || config->max_value_size > FERRITE_MAX_VALUE_SIZE)
    return FERRITE_INVALID_ARGUMENT;
  Result<Geometry> g = geometry_of(*port);
  if (!g) return to_c(g.error());
  const std::uint32_t sectors = g->sector_count();
  if (memory_size_ < memory_size(config->max_keys, sectors)) return FERRITE_NO_MEMORY;

  auto* base = static_cast<std::byte*>(memory);
  std::byte* p = base + handle_bytes;
  auto* index = reinterpret_cast<IndexEntry*>(p);
  p += std::size_t{config->max_keys} * sizeof(IndexEntry);
  auto* infos = reinterpret_cast<SectorInfo*>(p);
  p += std::size_t{sectors} * sizeof(SectorInfo);
  auto* order = reinterpret_cast<std::uint16_t*>(p);
  for (std::uint32_t i = 0; i < config->max_keys; ++i) ::new (static_cast<void*>(index + i)) IndexEntry{};
  for (std::uint32_t i = 0; i < sectors; ++i) ::new (static_cast<void*>(infos + i)) SectorInfo{};
  for (std::uint32_t i = 0; i < config->max_keys; ++i) order[i] = 0;

  StoreConfig sc;
  sc.index = std::span<IndexEntry>(index, config->max_keys);
  if (config->key_order) sc.order = std::span<std::uint16_t>(order, config->max_keys);
  sc.sectors = std::span<SectorInfo>(infos, sectors);
  sc.compact_records = config->compact_records;
  sc.verify_writes = config->verify_writes;
  sc.sector_summaries = config->sector_summaries;
  sc.max_value_size = config->max_value_size;
  auto* h = ::new (memory) StoreHandle(*port, *g, sc);
  *out = reinterpret_cast<ferrite_store*>(h);
  return FERRITE_OK;
}

ferrite_err ferrite_format(ferrite_store* store) {
  StoreHandle* h = handle_of(store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.format()));
}

ferrite_err ferrite_mount(ferrite_store* store) {
  StoreHandle* h = handle_of(store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.mount()));
}

ferrite_err ferrite_unmount(ferrite_store* store) {
  StoreHandle* h = handle_of(store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  h->store.unmount();
  return FERRITE_OK;
}

bool ferrite_mounted(const ferrite_store* store) {
  const StoreHandle* h = handle_of(store);
  return h && h->store.mounted();
}

ferrite_err ferrite_put(ferrite_store* store, const void* key, size_t key_len, const void* value, size_t value_len) {
  StoreHandle* h = handle_of(store);
  if (!h || !key_ok(key, key_len) || (!value && value_len)) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.put(bytes_of(key, key_len), bytes_of(value, value_len))));
}

ferrite_err ferrite_get(ferrite_store* store, const void* key, size_t key_len, void* buf, size_t* value_len) {
  StoreHandle* h = handle_of(store);
  if (!h || !key_ok(key, key_len) || !value_len || (!buf && *value_len)) return FERRITE_INVALID_ARGUMENT;
  const auto k = bytes_of(key, key_len);
  Result<std::size_t> r = h->run(h->store.get(k, mutable_bytes_of(buf, *value_len)));
  if (r) {
    *value_len = *r;
    return FERRITE_OK;
  }
  if (r.error() == Errc::buffer_too_small) {
    Result<std::size_t> size = h->run(h->store.size_of(k));
    if (size) *value_len = *size;
  }
  return to_c(r.error());
}

ferrite_err ferrite_erase(ferrite_store* store, const void* key, size_t key_len) {
  StoreHandle* h = handle_of(store);
  if (!h || !key_ok(key, key_len)) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.erase(bytes_of(key, key_len))));
}

ferrite_err ferrite_contains(ferrite_store* store, const void* key, size_t key_len, bool* present) {
  StoreHandle* h = handle_of(store);
  if (!h || !key_ok(key, key_len) || !present) return FERRITE_INVALID_ARGUMENT;
  Result<bool> r = h->run(h->store.contains(bytes_of(key, key_len)));
  if (r) *present = *r;
  return code_of(r);
}

ferrite_err ferrite_size_of(ferrite_store* store, const void* key, size_t key_len, size_t* value_len) {
  StoreHandle* h = handle_of(store);
  if (!h || !key_ok(key, key_len) || !value_len) return FERRITE_INVALID_ARGUMENT;
  Result<std::size_t> r = h->run(h->store.size_of(bytes_of(key, key_len)));
  if (r) *value_len = *r;
  return code_of(r);
}

uint32_t ferrite_value_limit(const ferrite_store* store) {
  const StoreHandle* h = handle_of(store);
  return h ? h->store.value_limit() : 0;
}

ferrite_err ferrite_maintain_budget(ferrite_store* store, const ferrite_maintenance_budget* budget,
                                    ferrite_maintenance_report* report) {
  StoreHandle* h = handle_of(store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  MaintenanceBudget b;
  if (budget) {
    b.max_records = budget->max_records;
    b.max_bytes = budget->max_bytes;
    b.allow_erase = budget->allow_erase;
  }
  Result<MaintenanceReport> r = h->run(h->store.maintain(b));
  if (r && report) {
    report->records_copied = r->records_copied;
    report->sectors_erased = r->sectors_erased;
    report->sectors_retired = r->sectors_retired;
    report->more_work = r->more_work;
    report->bytes_copied = r->bytes_copied;
    report->pace_bytes = r->pace_bytes;
    report->calls_left = r->calls_left;
#if FERRITE_WITH_SUMMARIES
    report->summary_records = r->summary_records;
#else
    report->summary_records = 0;
#endif
  }
  return code_of(r);
}

ferrite_err ferrite_maintain(ferrite_store* store, uint32_t max_records, bool allow_erase,
                             ferrite_maintenance_report* report) {
  ferrite_maintenance_budget budget;
  budget.max_records = max_records;
  budget.max_bytes = MaintenanceBudget{}.max_bytes;
  budget.allow_erase = allow_erase;
  return ferrite_maintain_budget(store, &budget, report);
}

ferrite_err ferrite_stats(const ferrite_store* store, ferrite_store_stats* out) {
  const StoreHandle* h = handle_of(store);
  if (!h || !out) return FERRITE_INVALID_ARGUMENT;
  const StoreStats s = h->store.stats();
  out->keys = s.keys;
  out->live_bytes = s.live_bytes;
  out->free_bytes = s.free_bytes;
  out->reclaimable_bytes = s.reclaimable_bytes;
  out->capacity_bytes = s.capacity_bytes;
  out->live_sectors = s.live_sectors;
  out->free_sectors = s.free_sectors;
  out->erase_min = s.erase_min;
  out->erase_max = s.erase_max;
  out->corrupt_records = s.corrupt_records;
  out->torn_tails = s.torn_tails;
  out->damaged_sectors = s.damaged_sectors;
  out->gc_runs = s.gc_runs;
  out->records_copied = s.records_copied;
  out->records_written = s.records_written;
  out->writes_skipped = s.writes_skipped;
  out->sectors_erased = s.sectors_erased;
  out->head_sealed = s.head_sealed;
  out->keys_known = s.keys_known;
#if FERRITE_WITH_SUMMARIES
  out->summarized_records = s.summarized_records;
#else
  out->summarized_records = 0;
#endif
  return FERRITE_OK;
}

ferrite_err ferrite_count_keys(ferrite_store* store, uint32_t* keys) {
  StoreHandle* h = handle_of(store);
  if (!h || !keys) return FERRITE_INVALID_ARGUMENT;
  Result<std::uint32_t> r = h->run(h->store.count_keys());
  if (r) *keys = *r;
  return code_of(r);
}

namespace {
ferrite_err explain(const Refusal& r, ferrite_refusal* out) noexcept {
  out->code = static_cast<std::int32_t>(r.code);
  out->field = r.field;
  out->value = r.value;
  out->limit = r.limit;
  out->reason = r.reason;
  return FERRITE_OK;
}
}  // namespace

ferrite_err ferrite_last_refusal(const ferrite_store* store, ferrite_refusal* refusal) {
  const StoreHandle* h = handle_of(store);
  if (!h || !refusal) return FERRITE_INVALID_ARGUMENT;
  return explain(h->store.last_refusal(), refusal);
}

ferrite_err ferrite_config_report(const ferrite_store* store, ferrite_refusal* refusal) {
  const StoreHandle* h = handle_of(store);
  if (!h || !refusal) return FERRITE_INVALID_ARGUMENT;
  return explain(h->store.config_report(), refusal);
}

}  // extern "C"
