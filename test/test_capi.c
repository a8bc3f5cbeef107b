/* test_capi — the C API (include/ferrite.h) from a C11 program.
 *
 * A RAM NOR flash port in C (erase sets 0xFF, programming only clears bits,
 * a unit is programmed once between erases), in a blocking and in a polled
 * flavour, and every call of the API: format/mount/put/get/erase/contains,
 * the typed helpers, prefix iteration, committed and aborted transactions,
 * maintain, stats, the error paths, a remount after a "reboot", and a run
 * with coroutine frames from a frame arena only; strings and blobs, the type
 * of each value (ferrite_type_of, iteration), an index-less store's key
 * count, refusals explained (ferrite_last_refusal, ferrite_config_report)
 * and the version. Prints "N passed, M failed"
 * and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrite.h"

static int g_passed, g_failed;

#define CHECK(cond)                                                 \
  do {                                                              \
    if (cond) {                                                     \
      ++g_passed;                                                   \
    } else {                                                        \
      ++g_failed;                                                   \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
    }                                                               \
  } while (0)

#define CHECK_ERR(expr, want)                                                                 \
  do {                                                                                        \
    ferrite_err got_ = (expr);                                                                \
    if (got_ == (want)) {                                                                     \
      ++g_passed;                                                                             \
    } else {                                                                                  \
      ++g_failed;                                                                             \
      printf("FAIL %s:%d: %s -> %s, expected %s\n", __FILE__, __LINE__, #expr,                \
             ferrite_errname(got_), ferrite_errname(want));                                   \
    }                                                                                         \
  } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, FERRITE_OK)

/* ------------------------------------------------------------------------ */
/* A RAM NOR flash.                                                          */

#define SECTOR_SIZE 4096u
#define SECTOR_COUNT 8u
#define PROGRAM_UNIT 4u
#define FLASH_SIZE (SECTOR_SIZE * SECTOR_COUNT)

typedef struct ram_nor {
  uint8_t bytes[FLASH_SIZE];
  uint8_t programmed[FLASH_SIZE / PROGRAM_UNIT]; /* 1: unit programmed since its erase */
  unsigned reads, programs, erases;
  /* polled flavour: the operation in flight */
  int busy;
  int ticks_left;
  int kind; /* 0 read, 1 program, 2 erase */
  uint32_t addr, len, sector;
  void* rbuf;
  const void* pbuf;
  unsigned polls;
} ram_nor;

static void nor_init(ram_nor* f) {
  memset(f, 0, sizeof *f);
  memset(f->bytes, 0xFF, sizeof f->bytes);
}

static ferrite_err nor_read(void* ctx, uint32_t addr, void* buf, uint32_t len) {
  ram_nor* f = ctx;
  if (addr + len > FLASH_SIZE) return FERRITE_OUT_OF_BOUNDS;
  memcpy(buf, f->bytes + addr, len);
  ++f->reads;
  return FERRITE_OK;
}

static ferrite_err nor_program(void* ctx, uint32_t addr, const void* buf, uint32_t len) {
  ram_nor* f = ctx;
  const uint8_t* src = buf;
  uint32_t i;
  if (addr % PROGRAM_UNIT || len % PROGRAM_UNIT) return FERRITE_MISALIGNED;
  if (addr + len > FLASH_SIZE) return FERRITE_OUT_OF_BOUNDS;
  for (i = addr / PROGRAM_UNIT; i < (addr + len) / PROGRAM_UNIT; ++i)
    if (f->programmed[i]) return FERRITE_REPROGRAM_FORBIDDEN;
  for (i = 0; i < len; ++i)
    if ((f->bytes[addr + i] & src[i]) != src[i]) return FERRITE_BITS_NOT_ERASED;
  for (i = 0; i < len; ++i) f->bytes[addr + i] &= src[i];
  for (i = addr / PROGRAM_UNIT; i < (addr + len) / PROGRAM_UNIT; ++i) f->programmed[i] = 1;
  ++f->programs;
  return FERRITE_OK;
}

static ferrite_err nor_erase(void* ctx, uint32_t sector) {
  ram_nor* f = ctx;
  if (sector >= SECTOR_COUNT) return FERRITE_OUT_OF_BOUNDS;
  memset(f->bytes + sector * SECTOR_SIZE, 0xFF, SECTOR_SIZE);
  memset(f->programmed + sector * SECTOR_SIZE / PROGRAM_UNIT, 0, SECTOR_SIZE / PROGRAM_UNIT);
  ++f->erases;
  return FERRITE_OK;
}

static ferrite_port nor_port(ram_nor* f) {
  ferrite_port p;
  memset(&p, 0, sizeof p);
  p.ctx = f;
  p.sector_count = SECTOR_COUNT;
  p.sector_size = SECTOR_SIZE;
  p.program_unit = PROGRAM_UNIT;
  p.erase_value = 0xFF;
  p.reprogram_allowed = false;
  p.read = nor_read;
  p.program = nor_program;
  p.erase = nor_erase;
  return p;
}

/* Polled flavour: the callbacks only start the operation; it completes on the
 * third poll() after it started, like a controller with an end interrupt. */
static ferrite_err polled_read(void* ctx, uint32_t addr, void* buf, uint32_t len) {
  ram_nor* f = ctx;
  if (f->busy) return FERRITE_BUSY;
  f->busy = 1, f->ticks_left = 3, f->kind = 0, f->addr = addr, f->len = len, f->rbuf = buf;
  return FERRITE_OK;
}
static ferrite_err polled_program(void* ctx, uint32_t addr, const void* buf, uint32_t len) {
  ram_nor* f = ctx;
  if (f->busy) return FERRITE_BUSY;
  f->busy = 1, f->ticks_left = 3, f->kind = 1, f->addr = addr, f->len = len, f->pbuf = buf;
  return FERRITE_OK;
}
static ferrite_err polled_erase(void* ctx, uint32_t sector) {
  ram_nor* f = ctx;
  if (f->busy) return FERRITE_BUSY;
  f->busy = 1, f->ticks_left = 3, f->kind = 2, f->sector = sector;
  return FERRITE_OK;
}
static bool polled_poll(void* ctx, ferrite_err* result) {
  ram_nor* f = ctx;
  ++f->polls;
  if (!f->busy || --f->ticks_left > 0) return false;
  f->busy = 0;
  switch (f->kind) {
    case 0: *result = nor_read(f, f->addr, f->rbuf, f->len); break;
    case 1: *result = nor_program(f, f->addr, f->pbuf, f->len); break;
    default: *result = nor_erase(f, f->sector); break;
  }
  return true;
}

/* ------------------------------------------------------------------------ */

static ram_nor g_flash;
static ram_nor g_flash2;
FERRITE_STORE_MEMORY(g_mem, 64, SECTOR_COUNT);
FERRITE_STORE_MEMORY(g_mem_reboot, 64, SECTOR_COUNT);
FERRITE_STORE_MEMORY(g_mem_big, 256, SECTOR_COUNT);
/* 16 KiB: a sanitizer build pads every frame (the mount's is about 2.7 KiB
   under AddressSanitizer, 592 B without). */
static uint64_t g_arena[16384 / 8];

static bool key_eq(const char* a, size_t alen, const char* b) { return alen == strlen(b) && memcmp(a, b, alen) == 0; }

static void test_errors(void) {
  int e;
  for (e = FERRITE_OK; e <= FERRITE_HISTORY_LOST; ++e) {
    CHECK(strcmp(ferrite_errname((ferrite_err)e), "unknown") != 0);
    CHECK(ferrite_strerror((ferrite_err)e) != NULL);
  }
  /* FERRITE_HISTORY_LOST is Errc's last enumerator: the C enum covers all of it. */
  CHECK(strcmp(ferrite_errname((ferrite_err)(FERRITE_HISTORY_LOST + 1)), "unknown") == 0);
  CHECK(strcmp(ferrite_errname(FERRITE_NO_SPACE), "no_space") == 0);
  CHECK(strcmp(ferrite_errname(FERRITE_BUFFER_TOO_SMALL), "buffer_too_small") == 0);
}

static void test_open_errors(void) {
  ferrite_port port = nor_port(&g_flash);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  size_t need = ferrite_store_memory_size(cfg.max_keys, SECTOR_COUNT);
  CHECK(need <= FERRITE_STORE_MEMORY_SIZE(64, SECTOR_COUNT));
  CHECK(need <= sizeof g_mem);
  printf("handle: %zu bytes for 64 keys x %u sectors (macro reserves %zu); iter %zu B, txn %zu B\n", need,
         SECTOR_COUNT, (size_t)FERRITE_STORE_MEMORY_SIZE(64, SECTOR_COUNT), sizeof(ferrite_iter), sizeof(ferrite_txn));
  CHECK_ERR(ferrite_open(g_mem, need - 1, &port, &cfg, &s), FERRITE_NO_MEMORY);
  CHECK(s == NULL);
  CHECK_ERR(ferrite_open((char*)g_mem + 4, sizeof g_mem - 8, &port, &cfg, &s), FERRITE_INVALID_ARGUMENT);
  port.read = NULL;
  CHECK_ERR(ferrite_open(g_mem, sizeof g_mem, &port, &cfg, &s), FERRITE_INVALID_ARGUMENT);
  port = nor_port(&g_flash);
  port.program_unit = 3;
  CHECK_ERR(ferrite_open(g_mem, sizeof g_mem, &port, &cfg, &s), FERRITE_INVALID_ARGUMENT);
  port = nor_port(&g_flash);
  port.erase_value = 0x5A;
  CHECK_ERR(ferrite_open(g_mem, sizeof g_mem, &port, &cfg, &s), FERRITE_INVALID_ARGUMENT);
  CHECK_ERR(ferrite_format(NULL), FERRITE_INVALID_ARGUMENT);
}

static void test_basic(ferrite_store* s) {
  char buf[64];
  size_t len;
  bool present;
  static uint8_t big[2048];

  /* blank flash, nothing mounted */
  CHECK_ERR(ferrite_mount(s), FERRITE_NOT_FORMATTED);
  CHECK_ERR(ferrite_put(s, FERRITE_KEY("k"), "v", 1), FERRITE_NOT_MOUNTED);
  len = sizeof buf;
  CHECK_ERR(ferrite_get(s, FERRITE_KEY("k"), buf, &len), FERRITE_NOT_MOUNTED);
  CHECK(!ferrite_mounted(s));

  CHECK_OK(ferrite_format(s));
  CHECK(ferrite_mounted(s));
  CHECK(ferrite_value_limit(s) == 256);

  CHECK_OK(ferrite_put(s, FERRITE_KEY("greeting"), "hello, flash", 12));
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("greeting"), buf, &len));
  CHECK(len == 12 && memcmp(buf, "hello, flash", 12) == 0);

  /* buffer too small: nothing copied, the size needed reported */
  len = 5;
  memset(buf, 0, sizeof buf);
  CHECK_ERR(ferrite_get(s, FERRITE_KEY("greeting"), buf, &len), FERRITE_BUFFER_TOO_SMALL);
  CHECK(len == 12);
  CHECK(buf[0] == 0);
  len = 0;
  CHECK_ERR(ferrite_get(s, FERRITE_KEY("greeting"), NULL, &len), FERRITE_BUFFER_TOO_SMALL);
  CHECK(len == 12);
  CHECK_OK(ferrite_size_of(s, FERRITE_KEY("greeting"), &len));
  CHECK(len == 12);

  /* an empty value */
  CHECK_OK(ferrite_put(s, FERRITE_KEY("empty"), NULL, 0));
  len = 0;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("empty"), NULL, &len));
  CHECK(len == 0);

  /* update */
  CHECK_OK(ferrite_put(s, FERRITE_KEY("greeting"), "bye", 3));
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("greeting"), buf, &len));
  CHECK(len == 3 && memcmp(buf, "bye", 3) == 0);

  CHECK_OK(ferrite_contains(s, FERRITE_KEY("greeting"), &present));
  CHECK(present);
  CHECK_OK(ferrite_contains(s, FERRITE_KEY("nope"), &present));
  CHECK(!present);
  len = sizeof buf;
  CHECK_ERR(ferrite_get(s, FERRITE_KEY("nope"), buf, &len), FERRITE_NOT_FOUND);
  CHECK_ERR(ferrite_size_of(s, FERRITE_KEY("nope"), &len), FERRITE_NOT_FOUND);

  CHECK_OK(ferrite_erase(s, FERRITE_KEY("empty")));
  CHECK_ERR(ferrite_erase(s, FERRITE_KEY("empty")), FERRITE_NOT_FOUND);
  CHECK_OK(ferrite_contains(s, FERRITE_KEY("empty"), &present));
  CHECK(!present);

  /* argument errors */
  CHECK_ERR(ferrite_put(s, "", 0, "v", 1), FERRITE_INVALID_ARGUMENT);
  CHECK_ERR(ferrite_put(s, NULL, 0, "v", 1), FERRITE_INVALID_ARGUMENT);
  CHECK_ERR(ferrite_put(s, NULL, 3, "v", 1), FERRITE_INVALID_ARGUMENT);
  memset(big, 'k', sizeof big);
  CHECK_ERR(ferrite_put(s, big, FERRITE_MAX_KEY_SIZE + 1, "v", 1), FERRITE_TOO_LARGE);
  CHECK_OK(ferrite_put(s, big, FERRITE_MAX_KEY_SIZE, "v", 1));
  CHECK_OK(ferrite_erase(s, big, FERRITE_MAX_KEY_SIZE));
  CHECK_ERR(ferrite_put(s, FERRITE_KEY("big"), big, 257), FERRITE_TOO_LARGE);
  CHECK_OK(ferrite_put(s, FERRITE_KEY("big"), big, 256));
  CHECK_OK(ferrite_erase(s, FERRITE_KEY("big")));
  CHECK_ERR(ferrite_get(s, FERRITE_KEY("greeting"), buf, NULL), FERRITE_INVALID_ARGUMENT);
}

static void test_typed(ferrite_store* s) {
  uint8_t u8;
  int8_t i8;
  uint16_t u16;
  int16_t i16;
  uint32_t u32;
  int32_t i32;
  uint64_t u64;
  int64_t i64;
  float f;
  double d;
  bool b;
  size_t len;

  CHECK_OK(ferrite_put_u8(s, FERRITE_KEY("t/u8"), 200));
  CHECK_OK(ferrite_put_i8(s, FERRITE_KEY("t/i8"), -100));
  CHECK_OK(ferrite_put_u16(s, FERRITE_KEY("t/u16"), 60000));
  CHECK_OK(ferrite_put_i16(s, FERRITE_KEY("t/i16"), -30000));
  CHECK_OK(ferrite_put_u32(s, FERRITE_KEY("t/u32"), 4000000000u));
  CHECK_OK(ferrite_put_i32(s, FERRITE_KEY("t/i32"), -2000000000));
  CHECK_OK(ferrite_put_u64(s, FERRITE_KEY("t/u64"), 18000000000000000000ull));
  CHECK_OK(ferrite_put_i64(s, FERRITE_KEY("t/i64"), -9000000000000000000ll));
  CHECK_OK(ferrite_put_float(s, FERRITE_KEY("t/float"), 3.25f));
  CHECK_OK(ferrite_put_double(s, FERRITE_KEY("t/double"), -1.0e300));
  CHECK_OK(ferrite_put_bool(s, FERRITE_KEY("t/bool"), true));

  CHECK_OK(ferrite_get_u8(s, FERRITE_KEY("t/u8"), &u8));
  CHECK(u8 == 200);
  CHECK_OK(ferrite_get_i8(s, FERRITE_KEY("t/i8"), &i8));
  CHECK(i8 == -100);
  CHECK_OK(ferrite_get_u16(s, FERRITE_KEY("t/u16"), &u16));
  CHECK(u16 == 60000);
  CHECK_OK(ferrite_get_i16(s, FERRITE_KEY("t/i16"), &i16));
  CHECK(i16 == -30000);
  CHECK_OK(ferrite_get_u32(s, FERRITE_KEY("t/u32"), &u32));
  CHECK(u32 == 4000000000u);
  CHECK_OK(ferrite_get_i32(s, FERRITE_KEY("t/i32"), &i32));
  CHECK(i32 == -2000000000);
  CHECK_OK(ferrite_get_u64(s, FERRITE_KEY("t/u64"), &u64));
  CHECK(u64 == 18000000000000000000ull);
  CHECK_OK(ferrite_get_i64(s, FERRITE_KEY("t/i64"), &i64));
  CHECK(i64 == -9000000000000000000ll);
  CHECK_OK(ferrite_get_float(s, FERRITE_KEY("t/float"), &f));
  CHECK(f == 3.25f);
  CHECK_OK(ferrite_get_double(s, FERRITE_KEY("t/double"), &d));
  CHECK(d == -1.0e300);
  CHECK_OK(ferrite_get_bool(s, FERRITE_KEY("t/bool"), &b));
  CHECK(b);

  /* stored with their exact size */
  CHECK_OK(ferrite_size_of(s, FERRITE_KEY("t/u16"), &len));
  CHECK(len == 2);
  CHECK_OK(ferrite_size_of(s, FERRITE_KEY("t/double"), &len));
  CHECK(len == 8);
  /* a type mismatch, a missing key */
  CHECK_ERR(ferrite_get_u32(s, FERRITE_KEY("t/u8"), &u32), FERRITE_TYPE_MISMATCH);
  CHECK_ERR(ferrite_get_u32(s, FERRITE_KEY("t/none"), &u32), FERRITE_NOT_FOUND);
  CHECK_ERR(ferrite_put_u32(s, "", 0, 1), FERRITE_INVALID_ARGUMENT);
}

static void test_strings_blobs(ferrite_store* s) {
  static const uint8_t blob[5] = {0, 1, 2, 0xFE, 0xFF};
  char str[16];
  uint8_t bytes[16];
  size_t len;
  uint32_t u32;
  ferrite_value_type type;

  CHECK_OK(ferrite_put_string(s, FERRITE_KEY("t/string"), "hello", 5));
  CHECK_OK(ferrite_put_blob(s, FERRITE_KEY("t/blob"), blob, sizeof blob));

  /* a string comes back NUL-terminated, its length without the NUL */
  memset(str, 'x', sizeof str);
  len = sizeof str;
  CHECK_OK(ferrite_get_string(s, FERRITE_KEY("t/string"), str, &len));
  CHECK(len == 5 && strcmp(str, "hello") == 0);
  /* stored as 5 bytes: the tag is not part of the value */
  CHECK_OK(ferrite_size_of(s, FERRITE_KEY("t/string"), &len));
  CHECK(len == 5);
  /* no room for the NUL: nothing copied, the length told */
  memset(str, 'x', sizeof str);
  len = 5;
  CHECK_ERR(ferrite_get_string(s, FERRITE_KEY("t/string"), str, &len), FERRITE_BUFFER_TOO_SMALL);
  CHECK(len == 5 && str[0] == 'x');
  len = 6;
  CHECK_OK(ferrite_get_string(s, FERRITE_KEY("t/string"), str, &len));
  CHECK(len == 5 && strcmp(str, "hello") == 0);

  len = sizeof bytes;
  CHECK_OK(ferrite_get_blob(s, FERRITE_KEY("t/blob"), bytes, &len));
  CHECK(len == sizeof blob && memcmp(bytes, blob, sizeof blob) == 0);

  /* each carries its type: another type's getter is TYPE_MISMATCH */
  CHECK_OK(ferrite_type_of(s, FERRITE_KEY("t/string"), &type));
  CHECK(type == FERRITE_TYPE_STRING);
  CHECK_OK(ferrite_type_of(s, FERRITE_KEY("t/blob"), &type));
  CHECK(type == FERRITE_TYPE_BLOB);
  CHECK_OK(ferrite_type_of(s, FERRITE_KEY("t/u16"), &type));
  CHECK(type == FERRITE_TYPE_U16);
  len = sizeof str;
  CHECK_ERR(ferrite_get_string(s, FERRITE_KEY("t/blob"), str, &len), FERRITE_TYPE_MISMATCH);
  len = sizeof bytes;
  CHECK_ERR(ferrite_get_blob(s, FERRITE_KEY("t/string"), bytes, &len), FERRITE_TYPE_MISMATCH);
  len = sizeof str;
  CHECK_ERR(ferrite_get_string(s, FERRITE_KEY("t/u32"), str, &len), FERRITE_TYPE_MISMATCH);
  CHECK_ERR(ferrite_get_u32(s, FERRITE_KEY("t/string"), &u32), FERRITE_TYPE_MISMATCH);

  /* bytes from ferrite_put are untyped: they read as a string or a blob */
  CHECK_OK(ferrite_put(s, FERRITE_KEY("plain"), "raw", 3));
  CHECK_OK(ferrite_type_of(s, FERRITE_KEY("plain"), &type));
  CHECK(type == FERRITE_TYPE_UNTYPED);
  len = sizeof str;
  CHECK_OK(ferrite_get_string(s, FERRITE_KEY("plain"), str, &len));
  CHECK(len == 3 && strcmp(str, "raw") == 0);
  len = sizeof bytes;
  CHECK_OK(ferrite_get_blob(s, FERRITE_KEY("plain"), bytes, &len));
  CHECK(len == 3 && memcmp(bytes, "raw", 3) == 0);
  CHECK_OK(ferrite_erase(s, FERRITE_KEY("plain")));

  len = sizeof str;
  CHECK_ERR(ferrite_get_string(s, FERRITE_KEY("t/none"), str, &len), FERRITE_NOT_FOUND);
  CHECK_ERR(ferrite_type_of(s, FERRITE_KEY("t/none"), &type), FERRITE_NOT_FOUND);
  len = 0;
  CHECK_ERR(ferrite_get_string(s, FERRITE_KEY("t/string"), str, &len), FERRITE_INVALID_ARGUMENT);

  CHECK(strcmp(ferrite_type_name(FERRITE_TYPE_U32), "u32") == 0);
  CHECK(strcmp(ferrite_type_name(FERRITE_TYPE_UNTYPED), "untyped") == 0);
  CHECK(strcmp(ferrite_type_name((ferrite_value_type)(FERRITE_TYPE_BLOB + 1)), "unknown") == 0);
}

/* Iteration tells each key's type: every "t/NAME" key was written as type NAME. */
static void test_iteration_types(ferrite_store* s) {
  ferrite_iter it;
  char key[FERRITE_MAX_KEY_SIZE + 1];
  size_t key_len, n = 0;
  bool names_match = true;

  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("t/"), &it));
  CHECK(ferrite_iter_type(&it) == FERRITE_TYPE_UNTYPED); /* before the first key */
  for (;;) {
    key_len = FERRITE_MAX_KEY_SIZE;
    if (ferrite_iter_next(&it, key, &key_len, NULL) != FERRITE_OK) break;
    key[key_len] = '\0';
    if (strcmp(key + 2, ferrite_type_name(ferrite_iter_type(&it))) != 0) {
      printf("iteration: %s has type %s\n", key, ferrite_type_name(ferrite_iter_type(&it)));
      names_match = false;
    }
    ++n;
  }
  CHECK(names_match);
  CHECK(n == 13); /* 10 numbers, a bool, a string, a blob */
  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("cfg/alpha"), &it));
  key_len = sizeof key;
  CHECK_OK(ferrite_iter_next(&it, key, &key_len, NULL));
  CHECK(ferrite_iter_type(&it) == FERRITE_TYPE_UNTYPED);
}

static void test_iteration(ferrite_store* s) {
  static const char* const want[] = {"cfg/alpha", "cfg/beta", "cfg/gamma"};
  ferrite_iter it;
  char key[FERRITE_MAX_KEY_SIZE];
  char val[32];
  size_t key_len, value_len, n = 0;
  ferrite_err e;

  CHECK_OK(ferrite_put(s, FERRITE_KEY("cfg/gamma"), "3", 1));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("cfg/alpha"), "one", 3));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("cfg/beta"), "two!", 4));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("log/x"), "x", 1));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("cfe"), "y", 1));

  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("cfg/"), &it));
  for (;;) {
    key_len = sizeof key;
    e = ferrite_iter_next(&it, key, &key_len, &value_len);
    if (e != FERRITE_OK) break;
    CHECK(n < 3 && key_eq(key, key_len, want[n]));
    if (n == 1) {
      CHECK(value_len == 4);
      value_len = sizeof val;
      CHECK_OK(ferrite_iter_value(&it, val, &value_len));
      CHECK(value_len == 4 && memcmp(val, "two!", 4) == 0);
      value_len = 2;
      CHECK_ERR(ferrite_iter_value(&it, val, &value_len), FERRITE_BUFFER_TOO_SMALL);
      CHECK(value_len == 4);
    }
    ++n;
  }
  CHECK_ERR(e, FERRITE_NOT_FOUND);
  CHECK(n == 3);
  key_len = sizeof key;
  CHECK_ERR(ferrite_iter_next(&it, key, &key_len, NULL), FERRITE_NOT_FOUND);

  /* every key, in key order */
  n = 0;
  CHECK_OK(ferrite_iter_begin(s, NULL, 0, &it));
  {
    char prev[FERRITE_MAX_KEY_SIZE];
    size_t prev_len = 0;
    bool ordered = true;
    for (;;) {
      key_len = sizeof key;
      if (ferrite_iter_next(&it, key, &key_len, NULL) != FERRITE_OK) break;
      if (n > 0) {
        size_t m = prev_len < key_len ? prev_len : key_len;
        int c = memcmp(prev, key, m);
        if (c > 0 || (c == 0 && prev_len >= key_len)) ordered = false;
      }
      memcpy(prev, key, key_len);
      prev_len = key_len;
      ++n;
    }
    CHECK(ordered);
  }
  {
    ferrite_store_stats st;
    CHECK_OK(ferrite_stats(s, &st));
    CHECK(n == st.keys);
  }

  /* a key buffer too small: the size is reported */
  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("cfg/"), &it));
  key_len = 4;
  CHECK_ERR(ferrite_iter_next(&it, key, &key_len, NULL), FERRITE_BUFFER_TOO_SMALL);
  CHECK(key_len == 9);
  CHECK_ERR(ferrite_iter_begin(s, key, FERRITE_MAX_KEY_SIZE + 1, &it), FERRITE_TOO_LARGE);
}

static void test_transactions(ferrite_store* s) {
  ferrite_txn txn;
  uint8_t wspace[256], rspace[256];
  uint8_t tiny[8];
  char buf[32];
  size_t len;
  bool present;

  CHECK_OK(ferrite_put(s, FERRITE_KEY("acct/a"), "100", 3));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("acct/b"), "0", 1));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("acct/tmp"), "t", 1));

  /* committed */
  CHECK_OK(ferrite_txn_begin(s, &txn, wspace, sizeof wspace, rspace, sizeof rspace));
  len = sizeof buf;
  CHECK_OK(ferrite_txn_get(&txn, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 3 && memcmp(buf, "100", 3) == 0);
  CHECK_OK(ferrite_txn_put(&txn, FERRITE_KEY("acct/a"), "60", 2));
  CHECK_OK(ferrite_txn_put(&txn, FERRITE_KEY("acct/b"), "40.00", 5));
  CHECK_OK(ferrite_txn_erase(&txn, FERRITE_KEY("acct/tmp")));
  /* reads see the transaction's own writes; nothing reached the store yet */
  len = sizeof buf;
  CHECK_OK(ferrite_txn_get(&txn, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 2 && memcmp(buf, "60", 2) == 0);
  len = 1;
  CHECK_ERR(ferrite_txn_get(&txn, FERRITE_KEY("acct/b"), buf, &len), FERRITE_BUFFER_TOO_SMALL);
  CHECK(len == 5); /* the buffered value's size, not the stored one's */
  len = sizeof buf;
  CHECK_ERR(ferrite_txn_get(&txn, FERRITE_KEY("acct/tmp"), buf, &len), FERRITE_NOT_FOUND);
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 3);
  CHECK_ERR(ferrite_txn_put(&txn, "", 0, "x", 1), FERRITE_INVALID_ARGUMENT);
  CHECK_OK(ferrite_txn_commit(&txn));
  CHECK_ERR(ferrite_txn_commit(&txn), FERRITE_INVALID_ARGUMENT); /* finished */
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 2 && memcmp(buf, "60", 2) == 0);
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("acct/b"), buf, &len));
  CHECK(len == 5 && memcmp(buf, "40.00", 5) == 0);
  CHECK_OK(ferrite_contains(s, FERRITE_KEY("acct/tmp"), &present));
  CHECK(!present);

  /* aborted */
  CHECK_OK(ferrite_txn_begin(s, &txn, wspace, sizeof wspace, rspace, sizeof rspace));
  CHECK_OK(ferrite_txn_put(&txn, FERRITE_KEY("acct/a"), "0", 1));
  CHECK_OK(ferrite_txn_put(&txn, FERRITE_KEY("acct/c"), "new", 3));
  CHECK_OK(ferrite_txn_abort(&txn));
  CHECK_ERR(ferrite_txn_put(&txn, FERRITE_KEY("acct/a"), "0", 1), FERRITE_INVALID_ARGUMENT);
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 2 && memcmp(buf, "60", 2) == 0);
  CHECK_OK(ferrite_contains(s, FERRITE_KEY("acct/c"), &present));
  CHECK(!present);

  /* a conflict: the store changed what the transaction read */
  CHECK_OK(ferrite_txn_begin(s, &txn, wspace, sizeof wspace, rspace, sizeof rspace));
  len = sizeof buf;
  CHECK_OK(ferrite_txn_get(&txn, FERRITE_KEY("acct/a"), buf, &len));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("acct/a"), "61", 2));
  /* every call re-validates what the transaction read: the put already sees it */
  CHECK_ERR(ferrite_txn_put(&txn, FERRITE_KEY("acct/b"), "39", 2), FERRITE_CONFLICT);
  CHECK_ERR(ferrite_txn_commit(&txn), FERRITE_CONFLICT);
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("acct/b"), buf, &len));
  CHECK(len == 5);

  /* workspace errors */
  CHECK_ERR(ferrite_txn_begin(s, &txn, NULL, 0, rspace, sizeof rspace), FERRITE_INVALID_ARGUMENT);
  CHECK_OK(ferrite_txn_begin(s, &txn, tiny, sizeof tiny, rspace, sizeof rspace));
  CHECK_ERR(ferrite_txn_put(&txn, FERRITE_KEY("acct/a"), "12345678", 8), FERRITE_NO_MEMORY);
  CHECK_OK(ferrite_txn_abort(&txn));
}

static void test_maintain_stats(ferrite_store* s) {
  ferrite_store_stats st;
  ferrite_maintenance_report rep;
  char value[200];
  int i, rounds = 0;
  uint32_t erased_before;

  memset(value, 'v', sizeof value);
  /* churn: rewrite a few keys until garbage collection has work */
  for (i = 0; i < 300; ++i) {
    char key[16];
    int n = snprintf(key, sizeof key, "churn/%d", i % 5);
    value[0] = (char)i;
    CHECK_OK(ferrite_put(s, key, (size_t)n, value, sizeof value));
  }
  CHECK_OK(ferrite_stats(s, &st));
  CHECK(st.keys > 5);
  CHECK(st.records_written >= 300);
  CHECK(st.gc_runs > 0);
  CHECK(st.live_sectors >= 1 && st.live_sectors + st.free_sectors <= SECTOR_COUNT);
  CHECK(st.capacity_bytes > 0 && st.free_bytes > 0);
  CHECK(st.keys_known);
  {
    uint32_t counted = 0;
    CHECK_OK(ferrite_count_keys(s, &counted));
    CHECK(counted == st.keys);
    CHECK_ERR(ferrite_count_keys(s, NULL), FERRITE_INVALID_ARGUMENT);
  }
  printf("stats: keys=%u live=%u free=%u reclaimable=%u gc_runs=%u records_written=%u sectors_erased=%u\n",
         (unsigned)st.keys, (unsigned)st.live_bytes, (unsigned)st.free_bytes, (unsigned)st.reclaimable_bytes,
         (unsigned)st.gc_runs, (unsigned)st.records_written, (unsigned)st.sectors_erased);

  erased_before = st.sectors_erased;
  do {
    memset(&rep, 0xAA, sizeof rep);
    CHECK_OK(ferrite_maintain(s, 8, true, &rep));
    CHECK(rep.more_work == true || rep.more_work == false);
  } while (rep.more_work && ++rounds < 100);
  CHECK(rounds < 100);
  CHECK_OK(ferrite_maintain(s, 8, true, NULL));
  {
    /* Every limit given: the report says what was copied and the pace. */
    ferrite_maintenance_budget budget;
    uint32_t copied = 0, copied_bytes = 0;
    int i;
    budget.max_records = 4;
    budget.max_bytes = 256;
    budget.allow_erase = true;
    for (i = 0; i < 200; ++i) {
      char key[16];
      snprintf(key, sizeof key, "pace/%d", i % 7);
      CHECK_OK(ferrite_put(s, key, strlen(key), "0123456789abcdef", 16));
      memset(&rep, 0xAA, sizeof rep);
      CHECK_OK(ferrite_maintain_budget(s, &budget, &rep));
      CHECK(rep.records_copied <= 4);
      CHECK((rep.records_copied == 0) == (rep.bytes_copied == 0));
      /* at most one record past the limit: the one that crossed it */
      CHECK(rep.bytes_copied < 256 + ferrite_value_limit(s) + 8 + 64);
      CHECK(rep.calls_left == 0xFFFFFFFFu || rep.pace_bytes > 0 || rep.records_copied == 0);
      copied += rep.records_copied;
      copied_bytes += rep.bytes_copied;
    }
    CHECK(copied_bytes >= copied * 8);
    CHECK_OK(ferrite_maintain_budget(s, NULL, &rep));
    CHECK_OK(ferrite_maintain_budget(s, NULL, NULL));
    CHECK_ERR(ferrite_maintain_budget(NULL, &budget, &rep), FERRITE_INVALID_ARGUMENT);
  }
  CHECK_OK(ferrite_stats(s, &st));
  CHECK(st.sectors_erased >= erased_before);
  {
    uint8_t v;
    CHECK_OK(ferrite_get_u8(s, FERRITE_KEY("t/u8"), &v)); /* data survives the collections */
    CHECK(v == 200);
  }
  CHECK_ERR(ferrite_stats(s, NULL), FERRITE_INVALID_ARGUMENT);
}

static void test_reboot(ferrite_store* s) {
  ferrite_port port = nor_port(&g_flash);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* r = NULL;
  char buf[32];
  size_t len = sizeof buf;
  uint64_t u64;
  ferrite_store_stats before, after;

  CHECK_OK(ferrite_stats(s, &before));
  CHECK_OK(ferrite_unmount(s));
  CHECK(!ferrite_mounted(s));
  CHECK_ERR(ferrite_put(s, FERRITE_KEY("k"), "v", 1), FERRITE_NOT_MOUNTED);
  CHECK_ERR(ferrite_maintain(s, 1, true, NULL), FERRITE_NOT_MOUNTED);

  /* a new handle on other memory over the same flash: a reboot */
  CHECK_OK(ferrite_open(g_mem_reboot, sizeof g_mem_reboot, &port, &cfg, &r));
  CHECK_OK(ferrite_mount(r));
  CHECK_OK(ferrite_stats(r, &after));
  CHECK(after.keys == before.keys);
  CHECK_OK(ferrite_get(r, FERRITE_KEY("acct/a"), buf, &len));
  CHECK(len == 2 && memcmp(buf, "61", 2) == 0);
  CHECK_OK(ferrite_get_u64(r, FERRITE_KEY("t/u64"), &u64));
  CHECK(u64 == 18000000000000000000ull);
  /* and the first handle mounts again as well */
  CHECK_OK(ferrite_mount(s));
  len = sizeof buf;
  CHECK_OK(ferrite_get(s, FERRITE_KEY("greeting"), buf, &len));
  CHECK(len == 3 && memcmp(buf, "bye", 3) == 0);
}

static void test_full_store(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  static uint8_t value[1000];
  char key[16];
  int i, stored = 0;
  ferrite_err e = FERRITE_OK;
  size_t len;

  nor_init(&g_flash2);
  cfg.max_keys = 256;
  cfg.max_value_size = 1000;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_OK(ferrite_format(s));
  for (i = 0; i < 200; ++i) {
    int n = snprintf(key, sizeof key, "blob/%03d", i);
    memset(value, i, sizeof value);
    e = ferrite_put(s, key, (size_t)n, value, sizeof value);
    if (e != FERRITE_OK) break;
    ++stored;
  }
  CHECK_ERR(e, FERRITE_NO_SPACE);
  CHECK(stored > 5);
  printf("full store: %d values of 1000 B, then %s\n", stored, ferrite_errname(e));
  /* nothing was changed: every stored value is intact */
  for (i = 0; i < stored; ++i) {
    static uint8_t out[1000];
    int n = snprintf(key, sizeof key, "blob/%03d", i);
    len = sizeof out;
    CHECK_OK(ferrite_get(s, key, (size_t)n, out, &len));
    CHECK(len == 1000 && out[0] == (uint8_t)i && out[999] == (uint8_t)i);
  }
  /* erasing makes room again */
  CHECK_OK(ferrite_erase(s, FERRITE_KEY("blob/000")));
  CHECK_OK(ferrite_erase(s, FERRITE_KEY("blob/001")));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("blob/new"), value, 500));

  /* an index of 4 keys: the fifth is NO_MEMORY */
  nor_init(&g_flash2);
  cfg = ferrite_default_config();
  cfg.max_keys = 4;
  CHECK(ferrite_store_memory_size(4, SECTOR_COUNT) < ferrite_store_memory_size(64, SECTOR_COUNT));
  CHECK_OK(ferrite_open(g_mem_big, ferrite_store_memory_size(4, SECTOR_COUNT), &port, &cfg, &s));
  CHECK_OK(ferrite_format(s));
  for (i = 0; i < 4; ++i) CHECK_OK(ferrite_put_i32(s, key, (size_t)snprintf(key, sizeof key, "n%d", i), i));
  CHECK_ERR(ferrite_put_i32(s, FERRITE_KEY("n4"), 4), FERRITE_NO_MEMORY);
}

/* An index-less store (max_keys 0) keeps no key count: stats say so, and
 * ferrite_count_keys counts by walking the log. */
static void test_indexless(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  ferrite_store_stats st;
  char key[16];
  uint32_t counted = 0;
  int i;

  nor_init(&g_flash2);
  cfg.max_keys = 0;
  cfg.compact_records = false;
  cfg.key_order = false;
  CHECK_OK(ferrite_open(g_mem_big, ferrite_store_memory_size(0, SECTOR_COUNT), &port, &cfg, &s));
  CHECK_OK(ferrite_format(s));
  for (i = 0; i < 55; ++i) CHECK_OK(ferrite_put_i32(s, key, (size_t)snprintf(key, sizeof key, "key%d", i), i));
  CHECK_OK(ferrite_put_i32(s, FERRITE_KEY("key0"), -1)); /* an update is no new key */
  CHECK_OK(ferrite_erase(s, FERRITE_KEY("key1")));
  CHECK_OK(ferrite_stats(s, &st));
  CHECK(!st.keys_known);
  CHECK(st.keys == 0);
  CHECK_OK(ferrite_count_keys(s, &counted));
  CHECK(counted == 54);
  printf("index-less store: keys_known=%d, ferrite_count_keys=%u\n", (int)st.keys_known, (unsigned)counted);
  /* after a remount the count is the same */
  CHECK_OK(ferrite_unmount(s));
  CHECK_ERR(ferrite_count_keys(s, &counted), FERRITE_NOT_MOUNTED);
  CHECK_OK(ferrite_mount(s));
  counted = 0;
  CHECK_OK(ferrite_count_keys(s, &counted));
  CHECK(counted == 54);
}

/* Sector summaries: maintain() lists sectors, and a mount takes records from
 * the lists; a build without them refuses the configuration and says why. */
static void test_summaries(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  ferrite_store_stats st;
  ferrite_maintenance_report rep;
  ferrite_refusal why;
  uint32_t lists = 0;
  char key[16], value[48];
  int i;
  ferrite_err err;

  nor_init(&g_flash2);
  cfg.sector_summaries = true;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  err = ferrite_format(s);
  if (err != FERRITE_OK) {
    CHECK_ERR(err, FERRITE_INVALID_ARGUMENT);
    CHECK_OK(ferrite_config_report(s, &why));
    CHECK(strcmp(why.field, "sector_summaries") == 0);
    printf("sector summaries: not built (%s)\n", why.reason);
    return;
  }
  memset(value, 'v', sizeof value);
  for (i = 0; i < 1500; ++i) {
    value[0] = (char)('a' + i % 26);
    CHECK_OK(ferrite_put(s, key, (size_t)snprintf(key, sizeof key, "s/%d", (i * 7) % 40), value,
                         (size_t)(8 + i % 40)));
    memset(&rep, 0xAA, sizeof rep);
    CHECK_OK(ferrite_maintain(s, 4, true, &rep));
    lists += rep.summary_records;
  }
  CHECK(lists > 0);
  CHECK_OK(ferrite_unmount(s));
  CHECK_OK(ferrite_mount(s));
  CHECK_OK(ferrite_stats(s, &st));
  CHECK(st.keys == 40);
  CHECK(st.summarized_records > 0 && st.corrupt_records == 0);
  printf("sector summaries: %u SUMMARY records written, %u records taken from them at mount\n", (unsigned)lists,
         (unsigned)st.summarized_records);
  {
    char buf[64];
    size_t len = sizeof buf;
    CHECK_OK(ferrite_get(s, FERRITE_KEY("s/0"), buf, &len));
    CHECK(len >= 8 && buf[1] == 'v');
  }
  /* an index-less store is refused, with the field named */
  nor_init(&g_flash2);
  cfg.max_keys = 0;
  cfg.compact_records = false;
  cfg.key_order = false;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_ERR(ferrite_format(s), FERRITE_INVALID_ARGUMENT);
  CHECK_OK(ferrite_config_report(s, &why));
  CHECK(strcmp(why.field, "sector_summaries") == 0);
}

/* Refusals name their field, value and limit, as the C++ Refusal does. */
static void test_refusals(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  ferrite_refusal why;
  static uint8_t value[2048];
  char key[FERRITE_MAX_KEY_SIZE + 1];

  /* two 256-byte sectors leave no room for a useful value: refused at format */
  nor_init(&g_flash2);
  port.sector_count = 2;
  port.sector_size = 256;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_OK(ferrite_last_refusal(s, &why));
  CHECK(why.code == FERRITE_OK && why.field[0] == '\0');
  CHECK_ERR(ferrite_format(s), FERRITE_INVALID_ARGUMENT);
  CHECK(!ferrite_mounted(s));
  CHECK_OK(ferrite_config_report(s, &why));
  CHECK(why.code == FERRITE_INVALID_ARGUMENT);
  CHECK(strcmp(why.field, "value_limit") == 0);
  CHECK(why.value < why.limit && why.limit == 16);
  CHECK(why.reason != NULL && why.reason[0] != '\0');
  printf("refused: %s %s=%u (limit %u): %s\n", ferrite_errname(why.code), why.field, (unsigned)why.value,
         (unsigned)why.limit, why.reason);
  CHECK_OK(ferrite_last_refusal(s, &why));
  CHECK(why.code == FERRITE_INVALID_ARGUMENT && strcmp(why.field, "value_limit") == 0);
  CHECK_ERR(ferrite_mount(s), FERRITE_INVALID_ARGUMENT);

  /* 2 x 4 KiB with max_value_size 4096: lowered to the geometry's limit, and said */
  nor_init(&g_flash2);
  port = nor_port(&g_flash2);
  port.sector_count = 2;
  cfg.max_value_size = 4096;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_OK(ferrite_config_report(s, &why));
  CHECK(why.code == FERRITE_OK);
  CHECK(strcmp(why.field, "max_value_size") == 0);
  CHECK(why.value == 4096 && why.limit == ferrite_value_limit(s) && why.limit < 4096);
  CHECK_OK(ferrite_format(s));

  /* a value over the limit, a key over 64 bytes, a format of a mounted store */
  CHECK_ERR(ferrite_put(s, FERRITE_KEY("v"), value, ferrite_value_limit(s) + 1), FERRITE_TOO_LARGE);
  CHECK_OK(ferrite_last_refusal(s, &why));
  CHECK(why.code == FERRITE_TOO_LARGE && strcmp(why.field, "value") == 0);
  CHECK(why.value == ferrite_value_limit(s) + 1 && why.limit == ferrite_value_limit(s));
  memset(key, 'k', sizeof key);
  CHECK_ERR(ferrite_put(s, key, sizeof key, "v", 1), FERRITE_TOO_LARGE);
  CHECK_OK(ferrite_last_refusal(s, &why));
  CHECK(strcmp(why.field, "key") == 0 && why.value == 65 && why.limit == 64);
  CHECK_ERR(ferrite_format(s), FERRITE_ALREADY_MOUNTED);
  CHECK_OK(ferrite_last_refusal(s, &why));
  CHECK(why.code == FERRITE_ALREADY_MOUNTED);
  CHECK_ERR(ferrite_last_refusal(s, NULL), FERRITE_INVALID_ARGUMENT);
  CHECK_ERR(ferrite_config_report(NULL, &why), FERRITE_INVALID_ARGUMENT);
}

static void test_version(void) {
  char from_macros[32];
  CHECK(strcmp(ferrite_version(), FERRITE_VERSION) == 0);
  snprintf(from_macros, sizeof from_macros, "%d.%d.%d", FERRITE_VERSION_MAJOR, FERRITE_VERSION_MINOR,
           FERRITE_VERSION_PATCH);
  CHECK(strcmp(from_macros, FERRITE_VERSION) == 0);
  printf("ferrite %s\n", ferrite_version());
}

static void test_polled(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  char buf[16];
  size_t len = sizeof buf;
  uint32_t boots = 0;
  ferrite_iter it;
  char key[FERRITE_MAX_KEY_SIZE];
  size_t key_len = sizeof key;
  ferrite_txn txn;
  uint8_t ws[128], rs[128];

  nor_init(&g_flash2);
  port.read = polled_read;
  port.program = polled_program;
  port.erase = polled_erase;
  port.poll = polled_poll;
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_ERR(ferrite_mount(s), FERRITE_NOT_FORMATTED);
  CHECK_OK(ferrite_format(s));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("polled"), "yes", 3));
  CHECK_OK(ferrite_get(s, FERRITE_KEY("polled"), buf, &len));
  CHECK(len == 3 && memcmp(buf, "yes", 3) == 0);
  CHECK_OK(ferrite_put_u32(s, FERRITE_KEY("boots"), 7));
  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("boo"), &it));
  CHECK_OK(ferrite_iter_next(&it, key, &key_len, NULL));
  CHECK(key_eq(key, key_len, "boots"));
  CHECK_OK(ferrite_txn_begin(s, &txn, ws, sizeof ws, rs, sizeof rs));
  CHECK_OK(ferrite_txn_put(&txn, FERRITE_KEY("boots"), "\x08\0\0\0", 4));
  CHECK_OK(ferrite_txn_commit(&txn));
  CHECK_OK(ferrite_maintain(s, 4, true, NULL));
  CHECK_OK(ferrite_unmount(s));
  CHECK_OK(ferrite_mount(s));
  CHECK_OK(ferrite_get_u32(s, FERRITE_KEY("boots"), &boots));
  CHECK(boots == 8);
  /* every flash operation went through poll(), three polls each */
  CHECK(g_flash2.reads + g_flash2.programs + g_flash2.erases > 0);
  CHECK(g_flash2.polls >= 3 * (g_flash2.reads + g_flash2.programs + g_flash2.erases));
  CHECK(!g_flash2.busy);
  printf("polled port: %u reads, %u programs, %u erases, %u polls\n", g_flash2.reads, g_flash2.programs,
         g_flash2.erases, g_flash2.polls);
}

static void test_frame_arena(void) {
  ferrite_port port = nor_port(&g_flash2);
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;
  ferrite_frame_info fi;
  static uint64_t small_arena[256 / 8];
  ferrite_iter it;
  char key[FERRITE_MAX_KEY_SIZE];
  size_t key_len = sizeof key;
  int i;

  nor_init(&g_flash2);
  CHECK_ERR(ferrite_use_frame_arena(g_arena, 100), FERRITE_INVALID_ARGUMENT);
  CHECK_OK(ferrite_use_frame_arena(g_arena, sizeof g_arena));
  ferrite_frame_info_reset();
  CHECK_OK(ferrite_open(g_mem_big, sizeof g_mem_big, &port, &cfg, &s));
  CHECK_OK(ferrite_format(s));
  for (i = 0; i < 200; ++i) CHECK_OK(ferrite_put_i32(s, FERRITE_KEY("arena/i"), i));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("arena/s"), "s", 1));
  CHECK_OK(ferrite_iter_begin(s, FERRITE_KEY("arena/"), &it));
  CHECK_OK(ferrite_iter_next(&it, key, &key_len, NULL));
  CHECK_OK(ferrite_maintain(s, 16, true, NULL));
  ferrite_unmount(s);
  CHECK_OK(ferrite_mount(s));
  ferrite_frame_info_get(&fi);
  /* every frame came from the arena: no heap frame */
  CHECK(fi.allocations > 0);
  CHECK(fi.arena_allocations == fi.allocations);
  CHECK(fi.failures == 0);
  CHECK(fi.live_frames == 0);
  CHECK(fi.arena_capacity > 0 && fi.arena_capacity <= sizeof g_arena);
  CHECK(fi.arena_high_water > 0 && fi.arena_high_water <= fi.arena_capacity);
  printf("frame arena: %zu frames, high water %zu B of frames (%zu B of the %zu B arena), largest frame %zu B\n",
         fi.allocations, fi.high_water_bytes, fi.arena_high_water, fi.arena_capacity, fi.largest_frame);

  /* an arena too small for a call's frames: NO_MEMORY, and nothing breaks */
  CHECK_OK(ferrite_use_frame_arena(small_arena, sizeof small_arena));
  CHECK_ERR(ferrite_put(s, FERRITE_KEY("arena/x"), "x", 1), FERRITE_NO_MEMORY);
  ferrite_frame_info_get(&fi);
  CHECK(fi.failures > 0 && fi.live_frames == 0);
  CHECK_OK(ferrite_use_frame_arena(g_arena, sizeof g_arena));
  CHECK_OK(ferrite_put(s, FERRITE_KEY("arena/x"), "x", 1));
  CHECK_OK(ferrite_use_frame_arena(NULL, 0)); /* back to malloc */
  CHECK_OK(ferrite_put(s, FERRITE_KEY("arena/y"), "y", 1));
}

int main(void) {
  ferrite_port port;
  ferrite_config cfg = ferrite_default_config();
  ferrite_store* s = NULL;

  nor_init(&g_flash);
  test_errors();
  test_version();
  test_open_errors();

  port = nor_port(&g_flash);
  CHECK_OK(ferrite_open(g_mem, sizeof g_mem, &port, &cfg, &s));
  CHECK(s != NULL && (void*)s == (void*)g_mem);
  test_basic(s);
  test_typed(s);
  test_strings_blobs(s);
  test_iteration(s);
  test_iteration_types(s);
  test_transactions(s);
  test_maintain_stats(s);
  test_reboot(s);
  test_full_store();
  test_indexless();
  test_summaries();
  test_refusals();
  test_polled();
  test_frame_arena();

  printf("capi: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
