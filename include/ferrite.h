/* ferrite.h — the C API of ferrite, for firmware written in C.
 *
 * Plain C11 (also valid C++). Every call BLOCKS: it runs ferrite's coroutine
 * to completion before it returns. With a blocking port (the flash callbacks
 * do their work before returning) every coroutine completes synchronously and
 * no run loop is involved. With a polled port (ferrite_port.poll set) the call
 * turns a private run loop, calling poll() until the flash operation in
 * flight completes.
 *
 * Memory: no malloc is needed by this API.
 *  - The store handle lives in caller memory: ferrite_store_memory_size()
 *    bytes (or FERRITE_STORE_MEMORY_SIZE / FERRITE_STORE_MEMORY for static
 *    allocation), aligned to 8 bytes.
 *  - ferrite_iter and ferrite_txn are fixed-size structs the caller declares.
 *  - Transactions buffer their writes and reads in caller buffers.
 *  - Coroutine frames come from the heap (malloc) by default. Firmware
 *    without a heap calls ferrite_use_frame_arena() once with a static buffer
 *    (2-4 KiB is typical; ferrite_frame_info() reports the high-water mark).
 *    An exhausted arena makes a call fail with FERRITE_NO_MEMORY.
 *
 * Not thread-safe: use a store from one thread (or guard it with a mutex);
 * the frame arena is global to the program.
 *
 * Keys are byte strings of 1..FERRITE_MAX_KEY_SIZE bytes, passed as (pointer,
 * length); FERRITE_KEY("literal") expands to both for a string literal.
 */
#ifndef FERRITE_H
#define FERRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FERRITE_VERSION ("0.2.0"), FERRITE_VERSION_MAJOR, _MINOR, _PATCH: generated
 * from meson.build's project(version:), the one place the version is
 * written; installed next to this header. */
#include "ferrite_version.hpp"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors: the same values as ferrite::Errc, one to one.                     */

typedef enum ferrite_err {
  FERRITE_OK = 0,
  FERRITE_IO = 1,                   /* the device failed or read back something else */
  FERRITE_CORRUPT = 2,              /* stored bytes fail their checksum */
  FERRITE_NO_SPACE = 3,             /* the store is full; nothing was changed */
  FERRITE_NOT_FOUND = 4,            /* no such key (iteration: no more keys) */
  FERRITE_TOO_LARGE = 5,            /* key or value larger than the limit */
  FERRITE_INVALID_ARGUMENT = 6,     /* the arguments break the call's contract */
  FERRITE_WRONG_KEY = 7,            /* the encryption key does not open this store */
  FERRITE_CONFLICT = 8,             /* a transaction's read or written key changed */
  FERRITE_BUSY = 9,                 /* a resource is held by someone else */
  FERRITE_NO_MEMORY = 10,           /* frame arena, index or workspace exhausted */
  FERRITE_NOT_FORMATTED = 11,       /* the flash holds no ferrite store (blank) */
  FERRITE_FOREIGN_FORMAT = 12,      /* not a ferrite store, or another geometry/version */
  FERRITE_UNSUPPORTED = 13,         /* not supported by this build, store or port */
  FERRITE_MISALIGNED = 14,          /* program address/length not a multiple of the unit */
  FERRITE_OUT_OF_BOUNDS = 15,       /* address, length or sector outside the device */
  FERRITE_REPROGRAM_FORBIDDEN = 16, /* a unit programmed twice between erases */
  FERRITE_BITS_NOT_ERASED = 17,     /* a program tried to set a bit back to erased */
  FERRITE_WORN_OUT = 18,            /* the sector passed its endurance */
  FERRITE_POWER_LOST = 19,          /* the supply was cut */
  FERRITE_CANCELLED = 20,           /* the operation was abandoned */
  FERRITE_NOT_MOUNTED = 21,         /* the store is not mounted */
  FERRITE_BUFFER_TOO_SMALL = 22,    /* the caller's buffer is too small; nothing copied */
  FERRITE_EXISTS = 23,              /* the name is taken already */
  FERRITE_TYPE_MISMATCH = 24,       /* the stored value has another type than the one asked for */
  FERRITE_ALREADY_MOUNTED = 25,     /* mount/format of a mounted store: unmount first */
  FERRITE_TAMPERED = 26,            /* a sealed store fails authentication or was rolled back */
  FERRITE_CONFIG_MISMATCH = 27,     /* formatted with other security options than the ones given */
  FERRITE_HISTORY_LOST = 28         /* the log no longer holds that position (garbage collection) */
} ferrite_err;

/* One readable sentence, e.g. "not enough free space in the store". */
const char* ferrite_strerror(ferrite_err err);
/* A short identifier, e.g. "no_space". */
const char* ferrite_errname(ferrite_err err);

/* The version of the library linked in (FERRITE_VERSION is the header's). */
const char* ferrite_version(void);

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */

#define FERRITE_MAX_KEY_SIZE 64u
#define FERRITE_MAX_VALUE_SIZE 32767u /* the format's limit; the geometry may lower it */
#define FERRITE_MAX_RUNS 8u           /* sector runs of a non-uniform geometry */
#define FERRITE_MAX_KEYS 65535u       /* index capacity with key order */

/* A string literal as (key, key_len): ferrite_put_u32(s, FERRITE_KEY("boots"), n). */
#define FERRITE_KEY(literal) (literal), (sizeof(literal) - 1u)

/* ------------------------------------------------------------------------ */
/* The flash port: geometry plus three callbacks.                            */

typedef struct ferrite_sector_run {
  uint32_t count; /* consecutive sectors... */
  uint32_t size;  /* ...of this many bytes each */
} ferrite_sector_run;

typedef struct ferrite_port {
  void* ctx; /* handed to every callback */

  /* Geometry: sector_count x sector_size bytes, or (when runs != NULL)
   * run_count runs of sectors of different sizes (at most FERRITE_MAX_RUNS;
   * a store on them needs a build with the meson option mixed_sectors).
   * At least 2 sectors. */
  uint32_t sector_count;
  uint32_t sector_size;
  const ferrite_sector_run* runs;
  uint32_t run_count;
  uint32_t program_unit;  /* 1, 2, 4, 8, 16 or 32 bytes */
  uint8_t erase_value;    /* 0xFF (NOR) or 0x00 */
  bool reprogram_allowed; /* a unit may be programmed twice between erases */

  /* Blocking mode (poll == NULL): each callback performs the operation and
   * returns its outcome. Requests arrive validated (in bounds; program
   * addresses and lengths are multiples of program_unit). The port reports
   * the physical rules: FERRITE_BITS_NOT_ERASED, FERRITE_REPROGRAM_FORBIDDEN,
   * FERRITE_WORN_OUT, FERRITE_IO, FERRITE_POWER_LOST.
   *
   * Polled mode (poll != NULL): a callback only STARTS the operation and
   * returns FERRITE_OK (or an error, which fails it at once); ferrite then
   * calls poll() until it returns true, with the outcome in *result. The
   * buffer of a read or program stays valid until then. At most one
   * operation is in flight per store. poll() may sleep (e.g. WFI until the
   * flash controller's interrupt). */
  ferrite_err (*read)(void* ctx, uint32_t addr, void* buf, uint32_t len);
  ferrite_err (*program)(void* ctx, uint32_t addr, const void* buf, uint32_t len);
  ferrite_err (*erase)(void* ctx, uint32_t sector);
  bool (*poll)(void* ctx, ferrite_err* result);
} ferrite_port;

/* ------------------------------------------------------------------------ */
/* The store                                                                 */

typedef struct ferrite_store ferrite_store; /* opaque; lives in caller memory */

typedef struct ferrite_config {
  uint32_t max_keys;       /* RAM index capacity (14 bytes per key); 0: index-less
                              store (no RAM index, every lookup scans flash; needs
                              compact_records = false, no transactions) */
  uint32_t max_value_size; /* largest value put accepts (the geometry may lower it) */
  bool compact_records;    /* update small values without repeating the key */
  bool verify_writes;      /* read every record back after programming it */
  bool key_order;          /* keep the key-order permutation (2 bytes per key):
                              iteration in key order */
  bool sector_summaries;   /* ferrite_maintain() lists each sector's records
                              in the next one, so that mount reads the lists
                              instead of the records (docs/FORMAT.md 5.2);
                              indexed stores only, and only in builds with the
                              meson option `summaries` (else INVALID_ARGUMENT
                              at format/mount, field "sector_summaries") */
} ferrite_config;

/* max_keys 64, max_value_size 256, compact_records, key_order; no
 * verify_writes, no sector_summaries. */
ferrite_config ferrite_default_config(void);

/* The handle's fixed part. An upper bound for every target, checked by the
 * implementation; ferrite_store_memory_size() returns the exact need. */
#define FERRITE_STORE_BASE_SIZE (768u + 48u * sizeof(void*))
#define FERRITE_STORE_BYTES_PER_KEY 14u    /* index entry 12 + key order 2 */
#define FERRITE_STORE_BYTES_PER_SECTOR 16u /* sector bookkeeping */
#define FERRITE_STORE_MEMORY_SIZE(keys, sectors) \
  (FERRITE_STORE_BASE_SIZE + (size_t)(keys) * FERRITE_STORE_BYTES_PER_KEY + \
   (size_t)(sectors) * FERRITE_STORE_BYTES_PER_SECTOR + 8u)
/* Static handle memory: FERRITE_STORE_MEMORY(g_store_mem, 64, 8); then
 * ferrite_open(g_store_mem, sizeof g_store_mem, ...). */
#define FERRITE_STORE_MEMORY(name, keys, sectors) \
  static uint64_t name[(FERRITE_STORE_MEMORY_SIZE(keys, sectors) + 7u) / 8u]

/* Bytes a handle needs for `keys` index entries over `sectors` sectors. */
size_t ferrite_store_memory_size(uint32_t keys, uint32_t sectors);

/* Binds a port and a configuration to handle memory (8-byte aligned, at least
 * ferrite_store_memory_size(config->max_keys, sectors) bytes); *out is the
 * handle, unmounted. Touches no flash. The port struct is copied; its ctx
 * must outlive the handle. Errors: INVALID_ARGUMENT (null pointers,
 * misaligned memory, a geometry or configuration ferrite cannot use, missing
 * callbacks), NO_MEMORY (memory too small), TOO_LARGE (device over 4 GiB). */
ferrite_err ferrite_open(void* memory, size_t memory_size, const ferrite_port* port,
                         const ferrite_config* config, ferrite_store** out);

/* Erases the first sector and starts an empty store; mounted afterwards.
 * Errors: ALREADY_MOUNTED (ferrite_unmount first: nothing is erased). */
ferrite_err ferrite_format(ferrite_store* store);
/* Scans the flash and rebuilds the index. Errors: NOT_FORMATTED (blank
 * flash), FOREIGN_FORMAT, CORRUPT, NO_MEMORY (more keys than max_keys),
 * ALREADY_MOUNTED. */
ferrite_err ferrite_mount(ferrite_store* store);
/* Forgets the mounted state (every acknowledged write is already durable).
 * The handle memory may be reused (or ferrite_open'ed again) afterwards. */
ferrite_err ferrite_unmount(ferrite_store* store);
bool ferrite_mounted(const ferrite_store* store);

/* Stores a value (value may be NULL when value_len is 0). Durable when it
 * returns FERRITE_OK. Errors: INVALID_ARGUMENT (empty key), TOO_LARGE,
 * NO_SPACE, NO_MEMORY (index full), NOT_MOUNTED, flash errors. */
ferrite_err ferrite_put(ferrite_store* store, const void* key, size_t key_len, const void* value,
                        size_t value_len);
/* Copies the value into buf. *value_len: the buffer size in, the value size
 * out. FERRITE_BUFFER_TOO_SMALL: nothing copied, *value_len is the size
 * needed. Errors: NOT_FOUND, CORRUPT, NOT_MOUNTED, flash errors. */
ferrite_err ferrite_get(ferrite_store* store, const void* key, size_t key_len, void* buf,
                        size_t* value_len);
/* Errors: NOT_FOUND, NO_SPACE, NOT_MOUNTED, flash errors. */
ferrite_err ferrite_erase(ferrite_store* store, const void* key, size_t key_len);
/* *present tells whether the key exists. */
ferrite_err ferrite_contains(ferrite_store* store, const void* key, size_t key_len, bool* present);
/* The value's size. Errors: NOT_FOUND. */
ferrite_err ferrite_size_of(ferrite_store* store, const void* key, size_t key_len, size_t* value_len);
/* Largest value ferrite_put accepts for this geometry and configuration. */
uint32_t ferrite_value_limit(const ferrite_store* store);

/* Typed values, stored in the machine's byte order with their exact size
 * and their type (bool: 1 byte). A get of another type is TYPE_MISMATCH (an
 * untyped value written by ferrite_put is checked by its size only). */
#define FERRITE_TYPED_DECL(name, type)                                                          \
  ferrite_err ferrite_put_##name(ferrite_store* store, const void* key, size_t key_len, type value); \
  ferrite_err ferrite_get_##name(ferrite_store* store, const void* key, size_t key_len, type* value);
FERRITE_TYPED_DECL(u8, uint8_t)
FERRITE_TYPED_DECL(i8, int8_t)
FERRITE_TYPED_DECL(u16, uint16_t)
FERRITE_TYPED_DECL(i16, int16_t)
FERRITE_TYPED_DECL(u32, uint32_t)
FERRITE_TYPED_DECL(i32, int32_t)
FERRITE_TYPED_DECL(u64, uint64_t)
FERRITE_TYPED_DECL(i64, int64_t)
FERRITE_TYPED_DECL(float, float)
FERRITE_TYPED_DECL(double, double)
FERRITE_TYPED_DECL(bool, bool)
#undef FERRITE_TYPED_DECL

/* The type a value carries on flash, as ferrite::ValueType (FORMAT.md §3.5).
 * FERRITE_TYPE_UNTYPED: bytes written by ferrite_put (or a transaction). */
typedef enum ferrite_value_type {
  FERRITE_TYPE_UNTYPED = 0,
  FERRITE_TYPE_U8 = 1,
  FERRITE_TYPE_I8 = 2,
  FERRITE_TYPE_U16 = 3,
  FERRITE_TYPE_I16 = 4,
  FERRITE_TYPE_U32 = 5,
  FERRITE_TYPE_I32 = 6,
  FERRITE_TYPE_U64 = 7,
  FERRITE_TYPE_I64 = 8,
  FERRITE_TYPE_FLOAT = 9,
  FERRITE_TYPE_DOUBLE = 10,
  FERRITE_TYPE_BOOL = 11,
  FERRITE_TYPE_STRING = 12,
  FERRITE_TYPE_BLOB = 13
} ferrite_value_type;

/* A short name: "u32", "double", "string", "untyped", ... ("unknown" for a
 * value outside the enum). */
const char* ferrite_type_name(ferrite_value_type type);
/* The type the key's value carries. Errors: NOT_FOUND, CORRUPT, NOT_MOUNTED,
 * flash errors. */
ferrite_err ferrite_type_of(ferrite_store* store, const void* key, size_t key_len, ferrite_value_type* type);

/* A string (value_len bytes, no terminator stored) typed FERRITE_TYPE_STRING. */
ferrite_err ferrite_put_string(ferrite_store* store, const void* key, size_t key_len, const char* value,
                               size_t value_len);
/* Copies the string into buf and terminates it with a NUL. *len: the size of
 * buf in, the string's length (without the NUL) out. BUFFER_TOO_SMALL:
 * nothing copied, *len is the string's length (buf needs *len + 1 bytes).
 * TYPE_MISMATCH: the value carries another type (an untyped value reads as
 * its bytes). Errors as ferrite_get. */
ferrite_err ferrite_get_string(ferrite_store* store, const void* key, size_t key_len, char* buf, size_t* len);
/* Bytes typed FERRITE_TYPE_BLOB; read back as ferrite_get does, and
 * TYPE_MISMATCH when the value carries another type (untyped reads). */
ferrite_err ferrite_put_blob(ferrite_store* store, const void* key, size_t key_len, const void* value,
                             size_t value_len);
ferrite_err ferrite_get_blob(ferrite_store* store, const void* key, size_t key_len, void* buf, size_t* value_len);

/* ------------------------------------------------------------------------ */
/* Iteration by prefix                                                       */

/* Large enough for ferrite's cursor on every target (checked). */
#define FERRITE_ITER_SIZE (232u + 8u * sizeof(void*))

typedef struct ferrite_iter {
  ferrite_store* store;
  union {
    uint64_t align;
    unsigned char bytes[FERRITE_ITER_SIZE];
  } opaque;
} ferrite_iter;

/* Starts an iteration over every key starting with prefix (prefix_len 0: all
 * keys), in key order when the store keeps it (config.key_order). Writes
 * between steps are allowed: the iteration continues after the last key it
 * returned. Needs no cleanup. */
ferrite_err ferrite_iter_begin(ferrite_store* store, const void* prefix, size_t prefix_len, ferrite_iter* iter);
/* The next key. *key_len: the size of key_buf in (FERRITE_MAX_KEY_SIZE always
 * suffices), the key's size out; *value_len (may be NULL): its value's size.
 * Returns FERRITE_NOT_FOUND when there are no more keys. BUFFER_TOO_SMALL:
 * the iteration stands on a key longer than key_buf (*key_len tells it). */
ferrite_err ferrite_iter_next(ferrite_iter* iter, void* key_buf, size_t* key_len, size_t* value_len);
/* The value of the key the last ferrite_iter_next returned (as ferrite_get). */
ferrite_err ferrite_iter_value(ferrite_iter* iter, void* buf, size_t* value_len);
/* The type of the key the last ferrite_iter_next returned
 * (FERRITE_TYPE_UNTYPED before the first key and for bytes from ferrite_put). */
ferrite_value_type ferrite_iter_type(const ferrite_iter* iter);

/* ------------------------------------------------------------------------ */
/* Transactions: atomic multi-key writes, optimistic concurrency             */

#define FERRITE_TXN_SIZE (20u * sizeof(void*))

typedef struct ferrite_txn {
  ferrite_store* store;
  union {
    uint64_t align;
    unsigned char bytes[FERRITE_TXN_SIZE];
  } opaque;
  bool active;
} ferrite_txn;

/* Starts a transaction whose buffered writes live in write_space (4 bytes +
 * key + value per write) and whose read set lives in read_space (8 bytes +
 * key per key read or written). Both buffers stay in use until commit or
 * abort. Nothing reaches flash before ferrite_txn_commit. Errors:
 * INVALID_ARGUMENT (null or empty buffers), NOT_MOUNTED. */
ferrite_err ferrite_txn_begin(ferrite_store* store, ferrite_txn* txn, void* write_space, size_t write_len,
                              void* read_space, size_t read_len);
/* Buffers a put / an erase. Errors: INVALID_ARGUMENT (empty key, finished
 * transaction), TOO_LARGE, NO_MEMORY (workspace full), CONFLICT. */
ferrite_err ferrite_txn_put(ferrite_txn* txn, const void* key, size_t key_len, const void* value,
                            size_t value_len);
ferrite_err ferrite_txn_erase(ferrite_txn* txn, const void* key, size_t key_len);
/* Reads through the transaction (sees its own writes). As ferrite_get, plus
 * CONFLICT (something it read before changed: abort and retry). */
ferrite_err ferrite_txn_get(ferrite_txn* txn, const void* key, size_t key_len, void* buf, size_t* value_len);
/* Makes every buffered write visible at once, durably; the transaction is
 * finished either way. Errors: CONFLICT (nothing written), NO_SPACE,
 * TOO_LARGE (batch over one sector), NO_MEMORY, flash errors. */
ferrite_err ferrite_txn_commit(ferrite_txn* txn);
/* Drops every buffered write; the transaction is finished. */
ferrite_err ferrite_txn_abort(ferrite_txn* txn);

/* ------------------------------------------------------------------------ */
/* Maintenance and statistics                                                */

typedef struct ferrite_maintenance_report {
  uint32_t records_copied;
  uint32_t sectors_erased;
  uint32_t sectors_retired;
  bool more_work;          /* calling again would do something useful */
  uint32_t bytes_copied;   /* live bytes collection copied in this call */
  uint32_t pace_bytes;     /* bytes per call collection needs from now on */
  uint32_t calls_left;     /* calls before a write would have to collect
                              (0xFFFFFFFF: nothing to collect, or no write
                              measured yet) */
  uint32_t summary_records; /* SUMMARY records written (sector_summaries) */
} ferrite_maintenance_report;

/* What one maintenance call may do (Store::maintain's MaintenanceBudget). */
typedef struct ferrite_maintenance_budget {
  uint32_t max_records; /* records collection may copy in this call */
  uint32_t max_bytes;   /* and live bytes (at most) */
  bool allow_erase;     /* may erase one free sector */
} ferrite_maintenance_budget;

/* Bounded background work, paced by how fast the application writes: copies
 * toward emptying the collection victim what the pace needs (at most
 * max_records records, 2048 bytes), retires it once empty, and pre-erases a
 * free sector (when allow_erase). Called once between writes, no write
 * copies or erases (docs/FIRMWARE.md). report may be NULL. */
ferrite_err ferrite_maintain(ferrite_store* store, uint32_t max_records, bool allow_erase,
                             ferrite_maintenance_report* report);
/* The same with every limit of the budget given; budget NULL: the defaults
 * (16 records, 2048 bytes, erasing allowed). */
ferrite_err ferrite_maintain_budget(ferrite_store* store, const ferrite_maintenance_budget* budget,
                                    ferrite_maintenance_report* report);

typedef struct ferrite_store_stats {
  uint32_t keys;              /* 0 when !keys_known (see below) */
  uint32_t live_bytes;        /* bytes GC would copy to keep every key */
  uint32_t free_bytes;        /* room for new records */
  uint32_t reclaimable_bytes; /* written bytes no longer live */
  uint32_t capacity_bytes;    /* the most live_bytes the store accepts */
  uint32_t live_sectors;
  uint32_t free_sectors;
  uint32_t erase_min;
  uint32_t erase_max;
  uint32_t corrupt_records;
  uint32_t torn_tails;
  uint32_t damaged_sectors;
  uint32_t gc_runs;
  uint32_t records_copied;
  uint32_t records_written;
  uint32_t writes_skipped;
  uint32_t sectors_erased;
  bool head_sealed;
  /* false for an index-less store (max_keys 0): it keeps no count in RAM,
   * and counting means a scan of the log; ferrite_count_keys() counts. */
  bool keys_known;
  /* records the last mount took from sector summaries, not read
   * (sector_summaries; 0 in builds without them) */
  uint32_t summarized_records;
} ferrite_store_stats;

ferrite_err ferrite_stats(const ferrite_store* store, ferrite_store_stats* stats);
/* The number of keys: from RAM for an indexed store, by walking the log for
 * an index-less one (a full scan: O(records^2) reads). Errors: NOT_MOUNTED,
 * flash errors. */
ferrite_err ferrite_count_keys(ferrite_store* store, uint32_t* keys);

/* ------------------------------------------------------------------------ */
/* Why a call was refused                                                    */

/* A refusal explained: `value` of `field` broke `limit`. field and reason are
 * static strings, "" when there is nothing to explain. */
typedef struct ferrite_refusal {
  int32_t code;       /* the ferrite_err answered (an int: enums stay out of
                         structs); FERRITE_OK with a field: a note
                         (max_value_size was lowered to the geometry's limit) */
  const char* field;  /* "sectors", "max_value_size", "value", "key", "live bytes", ... */
  uint32_t value;     /* its value (a count or bytes) */
  uint32_t limit;     /* the limit it met (its meaning: see reason) */
  const char* reason; /* one sentence */
} ferrite_refusal;

/* Why the last call that answered TOO_LARGE, NO_SPACE, NO_MEMORY,
 * INVALID_ARGUMENT (key or configuration) or ALREADY_MOUNTED refused
 * (code FERRITE_OK and field "" before any refusal). */
ferrite_err ferrite_last_refusal(const ferrite_store* store, ferrite_refusal* refusal);
/* What the configuration and the geometry allow, computed from them:
 * INVALID_ARGUMENT with the field, value and limit when format and mount
 * refuse them; FERRITE_OK with field "max_value_size" when max_value_size
 * was lowered to ferrite_value_limit(); FERRITE_OK and field "" otherwise. */
ferrite_err ferrite_config_report(const ferrite_store* store, ferrite_refusal* refusal);

/* ------------------------------------------------------------------------ */
/* Coroutine frames                                                          */

/* Serves every coroutine frame from buf (len bytes, 8-byte aligned; 2-4 KiB
 * is typical) instead of malloc. Call while no ferrite call is running (any
 * time between calls); buf must outlive every later call. buf == NULL
 * returns to malloc (hosted builds). Errors: INVALID_ARGUMENT (misaligned or
 * too small: under 256 bytes), BUSY (frames are alive). */
ferrite_err ferrite_use_frame_arena(void* buf, size_t len);

typedef struct ferrite_frame_info {
  size_t allocations;       /* frames allocated since the last reset */
  size_t arena_allocations; /* ...of them, served by the arena */
  size_t failures;          /* allocations that failed (FERRITE_NO_MEMORY) */
  size_t live_frames;
  size_t high_water_bytes;  /* most frame bytes alive at once */
  size_t largest_frame;
  size_t arena_capacity;    /* 0 without an arena */
  size_t arena_high_water;  /* arena bytes, block headers included */
} ferrite_frame_info;

void ferrite_frame_info_get(ferrite_frame_info* info);
void ferrite_frame_info_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* FERRITE_H */
