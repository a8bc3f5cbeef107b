/* ferrite C firmware demo for QEMU mps2-an386 (Cortex-M4F) / mps2-an385 (M3):
 * ferrite used from C through include/ferrite.h, with no heap.
 *
 * A RAM-backed NOR flash (erase to 0xFF, programming only clears bits, a unit
 * programmed once between erases) behind a blocking C port; the store handle
 * in static memory (FERRITE_STORE_MEMORY); coroutine frames from a static
 * frame arena (ferrite_use_frame_arena). malloc is wrapped (-Wl,--wrap=malloc)
 * and counted: the demo fails if ferrite ever calls it.
 *
 * Workload: format; a boot counter and typed settings; a few hundred updates
 * of a handful of keys (garbage collection runs); a prefix iteration; a
 * committed and an aborted transaction; maintain() until idle; then a second
 * handle mounts the same flash (a reboot) and every value is checked.
 * Exit status 0 when everything matched (QEMU exits with it through
 * semihosting). Compiled as C11 by arm-none-eabi-gcc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrite.h"

/* -- no heap: count malloc calls (newlib's stdio uses _malloc_r, uncounted) */
static volatile unsigned g_mallocs;
void* __real_malloc(size_t n);
void* __wrap_malloc(size_t n);
void* __wrap_malloc(size_t n) {
  g_mallocs = g_mallocs + 1;
  return __real_malloc(n);
}

/* -- a RAM NOR flash ------------------------------------------------------ */
#define SECTOR_SIZE 4096u
#define SECTOR_COUNT 8u
#define PROGRAM_UNIT 4u
#define FLASH_SIZE (SECTOR_SIZE * SECTOR_COUNT)

typedef struct nor_flash {
  uint8_t* bytes;
  uint8_t programmed[FLASH_SIZE / PROGRAM_UNIT / 8];
  unsigned reads, programs, erases;
} nor_flash;

static uint8_t g_nor_bytes[FLASH_SIZE] __attribute__((aligned(4)));
static nor_flash g_nor;

static int unit_programmed(const nor_flash* f, uint32_t u) { return (f->programmed[u / 8] >> (u % 8)) & 1u; }

static ferrite_err nor_read(void* ctx, uint32_t addr, void* buf, uint32_t len) {
  nor_flash* f = ctx;
  memcpy(buf, f->bytes + addr, len);
  ++f->reads;
  return FERRITE_OK;
}

static ferrite_err nor_program(void* ctx, uint32_t addr, const void* buf, uint32_t len) {
  nor_flash* f = ctx;
  const uint8_t* src = buf;
  uint32_t i;
  for (i = addr / PROGRAM_UNIT; i < (addr + len) / PROGRAM_UNIT; ++i)
    if (unit_programmed(f, i)) return FERRITE_REPROGRAM_FORBIDDEN;
  for (i = 0; i < len; ++i)
    if ((f->bytes[addr + i] & src[i]) != src[i]) return FERRITE_BITS_NOT_ERASED;
  for (i = 0; i < len; ++i) f->bytes[addr + i] &= src[i];
  for (i = addr / PROGRAM_UNIT; i < (addr + len) / PROGRAM_UNIT; ++i) f->programmed[i / 8] |= (uint8_t)(1u << (i % 8));
  ++f->programs;
  return FERRITE_OK;
}

static ferrite_err nor_erase(void* ctx, uint32_t sector) {
  nor_flash* f = ctx;
  uint32_t u;
  memset(f->bytes + sector * SECTOR_SIZE, 0xFF, SECTOR_SIZE);
  for (u = sector * SECTOR_SIZE / PROGRAM_UNIT; u < (sector + 1) * SECTOR_SIZE / PROGRAM_UNIT; ++u)
    f->programmed[u / 8] &= (uint8_t)~(1u << (u % 8));
  ++f->erases;
  return FERRITE_OK;
}

/* -- static memory: two handles (the second one is the "reboot"), frames -- */
FERRITE_STORE_MEMORY(g_store_memory, 32, SECTOR_COUNT);
FERRITE_STORE_MEMORY(g_reboot_memory, 32, SECTOR_COUNT);
static uint64_t g_frame_arena[3072 / 8];

static unsigned g_failures;

#define EXPECT(cond)                                              \
  do {                                                            \
    if (!(cond)) {                                                \
      ++g_failures;                                               \
      printf("FAIL line %d: %s\n", __LINE__, #cond);              \
    }                                                             \
  } while (0)
#define EXPECT_OK(expr)                                                                   \
  do {                                                                                    \
    ferrite_err e_ = (expr);                                                              \
    if (e_ != FERRITE_OK) {                                                               \
      ++g_failures;                                                                       \
      printf("FAIL line %d: %s -> %s\n", __LINE__, #expr, ferrite_strerror(e_));          \
    }                                                                                     \
  } while (0)

int main(void) {
  ferrite_port port;
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* store = NULL;
  ferrite_store_stats st;
  ferrite_maintenance_report rep;
  ferrite_frame_info fi;
  ferrite_iter it;
  ferrite_txn txn;
  static uint8_t txn_writes[128], txn_reads[128];
  char key[FERRITE_MAX_KEY_SIZE], value[48];
  size_t key_len, value_len;
  uint32_t boots = 0, seen = 0;
  int i, maint_rounds = 0, scanned = 0;
  float gain = 0;

  memset(g_nor_bytes, 0xFF, sizeof g_nor_bytes);
  g_nor.bytes = g_nor_bytes;

  memset(&port, 0, sizeof port);
  port.ctx = &g_nor;
  port.sector_count = SECTOR_COUNT;
  port.sector_size = SECTOR_SIZE;
  port.program_unit = PROGRAM_UNIT;
  port.erase_value = 0xFF;
  port.read = nor_read;
  port.program = nor_program;
  port.erase = nor_erase;
  cfg.max_keys = 32;
  cfg.max_value_size = 64;

  printf("ferrite C firmware demo: %u x %u B sectors, program unit %u; handle %u B (static %u B), "
         "iter %u B, txn %u B\n",
         SECTOR_COUNT, SECTOR_SIZE, PROGRAM_UNIT, (unsigned)ferrite_store_memory_size(32, SECTOR_COUNT),
         (unsigned)sizeof g_store_memory, (unsigned)sizeof(ferrite_iter), (unsigned)sizeof(ferrite_txn));

  EXPECT_OK(ferrite_use_frame_arena(g_frame_arena, sizeof g_frame_arena));
  ferrite_frame_info_reset();
  EXPECT_OK(ferrite_open(g_store_memory, sizeof g_store_memory, &port, &cfg, &store));
  if (ferrite_mount(store) == FERRITE_NOT_FORMATTED) {
    printf("blank flash: formatting\n");
    EXPECT_OK(ferrite_format(store));
  }

  /* boot counter and typed settings */
  if (ferrite_get_u32(store, FERRITE_KEY("sys/boots"), &boots) != FERRITE_OK) boots = 0;
  EXPECT_OK(ferrite_put_u32(store, FERRITE_KEY("sys/boots"), boots + 1));
  EXPECT_OK(ferrite_put_float(store, FERRITE_KEY("cfg/gain"), 1.5f));
  EXPECT_OK(ferrite_put_bool(store, FERRITE_KEY("cfg/enabled"), true));
  EXPECT_OK(ferrite_put(store, FERRITE_KEY("cfg/name"), "sensor-7", 8));

  /* a few hundred updates of a handful of keys: garbage collection runs */
  for (i = 0; i < 1200; ++i) {
    int n = snprintf(key, sizeof key, "log/%d", i % 6);
    int m = snprintf(value, sizeof value, "sample %d of a slowly growing series", i);
    EXPECT_OK(ferrite_put(store, key, (size_t)n, value, (size_t)m));
    if (i % 50 == 49) EXPECT_OK(ferrite_maintain(store, 8, true, NULL));
  }

  /* prefix iteration */
  EXPECT_OK(ferrite_iter_begin(store, FERRITE_KEY("cfg/"), &it));
  for (;;) {
    key_len = sizeof key;
    if (ferrite_iter_next(&it, key, &key_len, &value_len) != FERRITE_OK) break;
    printf("  %.*s (%u B)\n", (int)key_len, key, (unsigned)value_len);
    ++scanned;
  }
  EXPECT(scanned == 3);

  /* a committed and an aborted transaction */
  EXPECT_OK(ferrite_txn_begin(store, &txn, txn_writes, sizeof txn_writes, txn_reads, sizeof txn_reads));
  EXPECT_OK(ferrite_txn_put(&txn, FERRITE_KEY("cal/offset"), "12", 2));
  EXPECT_OK(ferrite_txn_put(&txn, FERRITE_KEY("cal/scale"), "3", 1));
  EXPECT_OK(ferrite_txn_commit(&txn));
  EXPECT_OK(ferrite_txn_begin(store, &txn, txn_writes, sizeof txn_writes, txn_reads, sizeof txn_reads));
  EXPECT_OK(ferrite_txn_put(&txn, FERRITE_KEY("cal/offset"), "99", 2));
  EXPECT_OK(ferrite_txn_abort(&txn));

  do {
    EXPECT_OK(ferrite_maintain(store, 16, true, &rep));
  } while (rep.more_work && ++maint_rounds < 50);
  EXPECT_OK(ferrite_stats(store, &st));
  printf("store: keys=%lu live=%lu B free=%lu B gc_runs=%lu records_written=%lu sectors_erased=%lu "
         "erase_min/max=%lu/%lu\n",
         (unsigned long)st.keys, (unsigned long)st.live_bytes, (unsigned long)st.free_bytes,
         (unsigned long)st.gc_runs, (unsigned long)st.records_written, (unsigned long)st.sectors_erased,
         (unsigned long)st.erase_min, (unsigned long)st.erase_max);
  EXPECT(st.keys == 12);
  EXPECT(st.gc_runs > 0);
  EXPECT_OK(ferrite_unmount(store));

  /* reboot: a second handle over the same flash */
  EXPECT_OK(ferrite_open(g_reboot_memory, sizeof g_reboot_memory, &port, &cfg, &store));
  EXPECT_OK(ferrite_mount(store));
  EXPECT_OK(ferrite_get_u32(store, FERRITE_KEY("sys/boots"), &seen));
  EXPECT(seen == boots + 1);
  EXPECT_OK(ferrite_get_float(store, FERRITE_KEY("cfg/gain"), &gain));
  EXPECT(gain == 1.5f);
  value_len = sizeof value;
  EXPECT_OK(ferrite_get(store, FERRITE_KEY("cal/offset"), value, &value_len));
  EXPECT(value_len == 2 && memcmp(value, "12", 2) == 0);
  value_len = sizeof value;
  EXPECT_OK(ferrite_get(store, FERRITE_KEY("log/3"), value, &value_len));
  EXPECT(value_len > 7 && memcmp(value, "sample 1197", 11) == 0);
  value_len = 4;
  EXPECT(ferrite_get(store, FERRITE_KEY("cfg/name"), value, &value_len) == FERRITE_BUFFER_TOO_SMALL);
  EXPECT(value_len == 8);
  EXPECT(ferrite_get(store, FERRITE_KEY("cal/missing"), value, &value_len) == FERRITE_NOT_FOUND);
  EXPECT_OK(ferrite_stats(store, &st));
  printf("remount: %lu keys, boots=%lu, cal/offset intact, the aborted transaction left nothing\n",
         (unsigned long)st.keys, (unsigned long)seen);

  ferrite_frame_info_get(&fi);
  printf("stat capi_frames %lu\n", (unsigned long)fi.allocations);
  printf("stat capi_arena_frames %lu\n", (unsigned long)fi.arena_allocations);
  printf("stat capi_frame_high_water_bytes %lu\n", (unsigned long)fi.high_water_bytes);
  printf("stat capi_arena_high_water_bytes %lu\n", (unsigned long)fi.arena_high_water);
  printf("stat capi_arena_capacity_bytes %lu\n", (unsigned long)fi.arena_capacity);
  printf("stat capi_store_handle_bytes %lu\n", (unsigned long)ferrite_store_memory_size(32, SECTOR_COUNT));
  /* The handle's parts, for docs/SIZE.md (scripts/size-report). */
  printf("stat capi_store_handle_fixed_bytes %lu\n", (unsigned long)ferrite_store_memory_size(0, 0));
  printf("stat capi_store_bytes_per_key %lu\n",
         (unsigned long)(ferrite_store_memory_size(1, 0) - ferrite_store_memory_size(0, 0)));
  printf("stat capi_store_bytes_per_sector %lu\n",
         (unsigned long)(ferrite_store_memory_size(0, 1) - ferrite_store_memory_size(0, 0)));
  printf("stat capi_store_memory_macro_bytes %lu\n", (unsigned long)sizeof g_store_memory);
  printf("stat capi_store_base_size_macro %lu\n", (unsigned long)FERRITE_STORE_BASE_SIZE);
  printf("stat capi_iter_bytes %lu\nstat capi_txn_bytes %lu\n", (unsigned long)sizeof(ferrite_iter),
         (unsigned long)sizeof(ferrite_txn));
  printf("stat capi_flash_reads %u\nstat capi_flash_programs %u\nstat capi_flash_erases %u\n", g_nor.reads,
         g_nor.programs, g_nor.erases);
  printf("stat capi_malloc_calls %u\n", g_mallocs);
  EXPECT(fi.allocations > 0 && fi.arena_allocations == fi.allocations);
  EXPECT(fi.failures == 0 && fi.live_frames == 0);
  EXPECT(g_mallocs == 0);

  printf("ferrite C firmware demo: %s\n", g_failures == 0 ? "PASS" : "FAIL");
  return g_failures == 0 ? 0 : 1;
}
