// ferrite.log — the storage engine: a log-structured, wear-levelling,
// power-loss-safe key/value store over N >= 2 erase sectors.
//
// The on-flash format is specified byte by byte in docs/FORMAT.md. In short:
// records are appended to the head sector; a record is committed when its
// last unit is programmed and its checksum verifies; mount replays the live
// sectors and rebuilds a bounded RAM index; garbage collection copies the live
// records of the oldest sector forward and retires it. No flash unit is ever
// programmed twice between erases.
//
// Every call is a coroutine: co_await it (arguments must stay alive until the
// awaited call returns). Calls on one Store are serialised by an async mutex,
// so many coroutines may share a store. Destroying a suspended call (dropping
// its Task) is allowed only for calls that have not started; a started call
// must be driven to completion (as with any in-flight flash operation).
module;
#include "ferrite_std.hpp"

export module ferrite.log;
export import ferrite.flash;
export import :build;
export import :index;
export import :space;
import :format;
import :replay;

#if FERRITE_WITH_TRANSACTIONS
// The transaction hooks' one caller (ferrite.txn's implementation defines it).
// Declared outside any module so that the friend here and the definition
// there name the same class.
extern "C++" {
namespace ferrite {
struct TxnHooks;
}
}
#endif

export namespace ferrite {

/// Which leading bytes of a key name a sealed store that hides key names
/// keeps plain (docs/FORMAT.md §3.7): the rest of the name is replaced by a
/// keyed hash of the whole name, so keys that share a plain prefix can
/// still be scanned by it. The rule must decide by bytes that every name of
/// a kind shares (a kind byte, say), so that no name kept whole can equal
/// another name's prefix and hash.
struct KeyPrefixRule {
  /// How many leading bytes of `name` stay plain; name.size() (or more)
  /// keeps the whole name plain, 0 hashes all of it. At most 48 bytes stay
  /// plain in front of a hash.
  std::size_t (*plain_length)(std::span<const std::byte> name) noexcept = nullptr;
  /// 1..15, recorded in the store: a mount with another id, or none, answers
  /// config_mismatch. Give a rule another id whenever what it returns changes.
  std::uint8_t id = 0;
};

/// How a store seals values at rest (ferrite.crypto implements it: AEAD,
/// key-name hiding, compression). All calls are synchronous CPU work. The
/// engine supplies the associated data that binds a record to its store,
/// position, header and key (docs/FORMAT.md §3.4).
class ValueCodec {
 public:
  /// Fills the first 60 bytes of the crypto block of a new store (salt,
  /// parameters, key check); the engine adds a crc32c in the last 4.
  virtual Status create_block(std::span<std::byte> block) noexcept = 0;
  /// Derives the keys for a store from its crypto block. Errors: wrong_key,
  /// unsupported (suite not available), corrupt.
  virtual Status load_block(std::span<const std::byte> block) noexcept = 0;
  /// Whether stored keys hide the names (keyed hashes of them).
  virtual bool hides_keys() const noexcept = 0;
  /// With hides_keys(): whether stored keys keep a plain prefix of the name
  /// (docs/FORMAT.md §3.7). Then scans work on stored keys; otherwise a store
  /// that hides keys answers unsupported to them.
  virtual bool keeps_key_prefix() const noexcept { return false; }
  /// The key as stored on flash; returns its length (1..64).
  virtual std::size_t stored_key(std::span<const std::byte> name, std::span<std::byte> out) noexcept = 0;
  /// Largest growth of a value by frame() + seal().
  virtual std::uint32_t overhead() const noexcept = 0;
  /// Encodes `value` (possibly compressed) into `out`; returns the frame size.
  virtual Result<std::size_t> frame(std::span<const std::byte> value, std::span<std::byte> out) noexcept = 0;
  /// The value size a frame decodes to. Errors: corrupt.
  virtual Result<std::size_t> framed_size(std::span<const std::byte> frame) const noexcept = 0;
  /// Decodes a frame. Errors: corrupt, buffer_too_small.
  virtual Result<std::size_t> unframe(std::span<const std::byte> frame, std::span<std::byte> out) noexcept = 0;
  /// Size of `plain_size` bytes once sealed.
  virtual std::size_t sealed_size(std::size_t plain_size) const noexcept = 0;
  /// Seals buf[0, plain_size) in place into sealed_size(plain_size) bytes.
  virtual Status seal(std::span<const std::byte> ad, std::span<std::byte> buf, std::size_t plain_size) noexcept = 0;
  /// Opens sealed bytes in place; returns the plain size. Errors: corrupt.
  virtual Result<std::size_t> open(std::span<const std::byte> ad, std::span<std::byte> buf) noexcept = 0;
  /// A 16-byte keyed hash of `data` under a key of its own (not the record
  /// or name key), for layers above the engine that must find records by a
  /// value without storing the value (the docstore's hashed indexes,
  /// docs/FORMAT.md §9.7). Deterministic for a given store key; says nothing
  /// about `data` without it. Errors: unsupported (a codec without keys, the
  /// default), wrong_key (no key derived yet).
  virtual Status keyed_hash(std::span<const std::byte> data, std::span<std::byte, 16> out) noexcept {
    (void)data;
    (void)out;
    return fail(Errc::unsupported);
  }
  /// Wipes a buffer that held plaintext or key material, in a way the
  /// compiler may not drop as a dead store (the engine calls it on its
  /// scratch buffers after every sealed read and write, and at unmount).
  virtual void scrub(std::span<std::byte> buffer) noexcept = 0;

 protected:
  ~ValueCodec() = default;
};

struct StoreConfig {
  /// RAM index storage, one entry per key the store may hold. Empty: the store
  /// runs index-less, scanning flash for every lookup (RAM use O(1)).
  std::span<IndexEntry> index{};
  /// Key-order permutation (same length as `index`) for ordered scans, reverse
  /// walks and count_range; empty to save 2 bytes per key (ordered steps then
  /// cost O(keys) reads, count_range is unsupported). Mount builds it: about
  /// keys x log2(keys) reads of a header word and a key (docs/FORMAT.md §7).
  std::span<std::uint16_t> order{};
  /// At least one entry per sector of the partition (the first ones are used). Required.
  std::span<SectorInfo> sectors{};
  /// Update small values with compact records that do not repeat the key.
  bool compact_records = true;
  /// Read every record back after programming it; a mismatch is Errc::io and
  /// the write is not acknowledged.
  bool verify_writes = false;
  /// Largest value accepted by put (<= max_value_size_limit and small enough
  /// for the geometry: see Store::value_limit()).
  std::uint32_t max_value_size = 4096;
  /// Seals every record (encryption, compression). Needs the index and a
  /// scratch buffer of Store::scratch_needed() bytes, the store's own while
  /// it lives (it also keeps the store's crypto blocks).
  ValueCodec* codec = nullptr;
  std::span<std::byte> scratch{};
  /// Key rotation: the codec of the key being replaced. Mount then opens
  /// sectors still sealed under it, Store::reseal() moves everything under
  /// `codec`; until reseal() has finished, mount needs both.
  ValueCodec* previous_codec = nullptr;
  /// Sealed stores: a trusted monotonic counter that makes rollbacks of the
  /// whole image, of its newest sector or of the head's last records
  /// detectable (Errc::tampered at mount). Without one they cannot be told
  /// from a power cut (docs/SECURITY.md).
  RollbackCounter* counter = nullptr;
};

/// Caller-owned memory for a store of up to Keys keys over Sectors sectors.
template <std::size_t Keys, std::size_t Sectors>
struct StoreMemory {
  std::array<IndexEntry, Keys> index{};
  std::array<std::uint16_t, scans_built ? Keys : 0> order{};  // no scans built: no permutation
  std::array<SectorInfo, Sectors> sectors{};
  StoreConfig config(bool ordered = true) noexcept {
    StoreConfig c;
    c.index = index;
    if (ordered && scans_built) c.order = order;
    c.sectors = sectors;
    return c;
  }
};

struct StoreStats {
  /// Keys in the store. Index-less stores do not know it (no RAM to count
  /// in, and counting means a scan of the log per record): then 0 with
  /// keys_known false; Store::count_keys() counts by scanning.
  std::uint32_t keys = 0;
  bool keys_known = true;
  std::uint32_t live_bytes = 0;         ///< bytes GC would copy to keep every key
  std::uint32_t free_bytes = 0;         ///< room for new records (head + free sectors, minus the reserve)
  std::uint32_t reclaimable_bytes = 0;  ///< written bytes in live sectors that are no longer live
  /// The most live_bytes the store accepts: the sectors' payload less the
  /// largest sector (kept free for garbage collection) and, per sector, the
  /// room a sector end may waste. On uniform sectors an indexed store
  /// charges that room for its largest live record (rounded up to a power
  /// of two), so a write of a record larger than every live one lowers the
  /// capacity it is checked against (Errc::no_space, last_refusal() field
  /// "live bytes"), and the capacity rises again once it is gone; mount
  /// recomputes it from the live records. Index-less stores and sectors of
  /// different sizes charge a record of a 64-byte key and value_limit().
  /// Within it, every update that adds no live bytes succeeds
  /// (docs/FORMAT.md §6.2).
  std::uint32_t capacity_bytes = 0;
  std::uint32_t live_sectors = 0;
  std::uint32_t free_sectors = 0;
  std::uint32_t erase_min = 0;
  std::uint32_t erase_max = 0;
  std::uint32_t corrupt_records = 0;    ///< records that failed their checksum outside a torn tail
  std::uint32_t torn_tails = 0;         ///< sectors whose last bytes are torn (a cut write, or damage)
  std::uint32_t damaged_sectors = 0;    ///< sectors whose header is neither blank nor valid (a cut erase, or damage)
  std::uint32_t gc_runs = 0;            ///< sectors retired
  std::uint32_t records_copied = 0;     ///< records rewritten by garbage collection
  std::uint32_t records_written = 0;    ///< records appended (user and GC)
  std::uint32_t writes_skipped = 0;     ///< puts that found the same value and wrote nothing
  std::uint32_t sectors_erased = 0;     ///< erases issued by this store since mount/format
  std::uint32_t tampered_keys = 0;      ///< sealed: keys whose latest record failed authentication (read Errc::tampered)
  bool head_sealed = false;
};

/// The type a typed value carries on flash (its tag byte, docs/FORMAT.md
/// §3.5). `untyped`: a value written by put (bytes), or by firmware older
/// than typed values.
enum class ValueType : std::uint8_t {
  untyped = 0, u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, boolean, string, blob,
};

/// The tag of arithmetic type T.
template <class T>
  requires(std::is_arithmetic_v<T> && sizeof(T) <= 8)
constexpr ValueType value_type_of() noexcept {
  if constexpr (std::is_same_v<T, bool>) return ValueType::boolean;
  else if constexpr (std::is_floating_point_v<T>) return sizeof(T) == 4 ? ValueType::f32 : ValueType::f64;
  else if constexpr (std::is_signed_v<T>)
    return sizeof(T) == 1 ? ValueType::i8 : sizeof(T) == 2 ? ValueType::i16 : sizeof(T) == 4 ? ValueType::i32 : ValueType::i64;
  else
    return sizeof(T) == 1 ? ValueType::u8 : sizeof(T) == 2 ? ValueType::u16 : sizeof(T) == 4 ? ValueType::u32 : ValueType::u64;
}

/// A short name: "u32", "double", "string", "untyped", ...
const char* name_of(ValueType t) noexcept;

/// Up to 8 bytes of a fixed-size value (the kved types) and its type,
/// carried by value so it outlives the call that writes it.
struct Scalar {
  std::array<std::byte, 8> bytes{};
  std::uint8_t size = 0;
  ValueType tag = ValueType::untyped;  ///< untyped: a plain put's bytes (only the size can be checked)

  template <class T>
    requires(std::is_arithmetic_v<T> && sizeof(T) <= 8)
  static Scalar of(T v) noexcept {
    Scalar s;
    std::memcpy(s.bytes.data(), &v, sizeof(T));
    s.size = sizeof(T);
    s.tag = value_type_of<T>();
    return s;
  }
  ValueType type() const noexcept { return tag; }
  /// The value as T. Errors: type_mismatch when the value carries another
  /// type, or (an untyped value) when its size is not sizeof(T).
  template <class T>
    requires(std::is_arithmetic_v<T> && sizeof(T) <= 8)
  Result<T> as() const noexcept {
    if (size != sizeof(T) || (tag != ValueType::untyped && tag != value_type_of<T>()))
      return fail(Errc::type_mismatch);
    T v;
    std::memcpy(&v, bytes.data(), sizeof(T));
    return v;
  }
  std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
};

/// Why the store refused something, or adjusted its configuration
/// (Store::config_report, Store::last_refusal). `field` and `reason` are
/// static strings; `value` broke `limit`.
struct Refusal {
  Errc code = Errc::ok;     ///< the error answered (ok: nothing refused; a note when `field` is set)
  const char* field = "";   ///< what was refused: "sectors", "max_value_size", "value", "key", "live bytes", ...
  std::uint32_t value = 0;  ///< its value (a count or bytes)
  std::uint32_t limit = 0;  ///< the limit it met (its meaning: see `reason`)
  const char* reason = "";  ///< one sentence
  explicit operator bool() const noexcept { return field[0] != 0; }
};

/// Smallest value_limit() a geometry must leave: format and mount refuse
/// one that leaves less (invalid_argument, Store::config_report()).
inline constexpr std::uint32_t min_useful_value_limit = 16;

/// Bounded work for Store::maintain.
struct MaintenanceBudget {
  std::uint32_t max_records = 16;  ///< records GC may copy in this call
  bool allow_erase = true;         ///< may erase (pre-erase) one free sector
  /// Bytes of live records GC may copy in this call (the record that crosses
  /// the limit is copied whole). Collection plans with the smaller of this
  /// and max_records records of the store's mean size.
  std::uint32_t max_bytes = 2048;
};

struct MaintenanceReport {
  std::uint32_t records_copied = 0;
  std::uint32_t sectors_erased = 0;
  std::uint32_t sectors_retired = 0;
  bool more_work = false;          ///< calling again would do something useful
  /// Bytes of live records collection copied in this call (index-less
  /// stores: 0, they do not count them).
  std::uint32_t bytes_copied = 0;
  /// Bytes per call collection needs from now on to empty its victim before
  /// a write would have to (the victim's live bytes over the calls left at
  /// the rate the application writes between calls); 0 while nothing is to
  /// be collected. Collection plans to copy twice this pace while the
  /// budget allows, so a budget below it means puts will copy.
  std::uint32_t pace_bytes = 0;
  /// The calls left before a write would have to collect, at the measured
  /// rate (0xFFFFFFFF: nothing to collect, or no write measured yet).
  std::uint32_t calls_left = 0xFFFFFFFFu;
};

struct FormatOptions {
  /// 0: derive a store id distinct from every store found in the region.
  std::uint32_t store_id = 0;
};

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

class Store;

/// Where a restore records its work in the store it restores into
/// (docs/FORMAT.md §10.6); never part of a backup.
inline constexpr std::string_view restore_marker_key = "\xff" "ferrite/restore";

#if FERRITE_WITH_SCANS
/// Which way a Cursor walks key order.
enum class Direction : std::uint8_t { forward, reverse };

/// Iterates keys (in key order when the store keeps the order permutation or
/// is asked for a range; otherwise in index order). Holds a copy of the
/// current key. A Cursor is invalidated by nothing: each step sees the store
/// as it is then, and continues strictly after (reverse: before) the last key
/// it yielded, so writes between steps never make it skip or repeat a key
/// that existed throughout.
///
/// Cost per step on an indexed store with the key-order permutation: when the
/// index has not gained or lost a key since the previous step, one read of
/// the record the step yields (its binding record: header, key, value, to
/// verify it; a sealed store also opens it, a second read); otherwise first a
/// binary search of the permutation (log2(keys) reads of a header word and a
/// key). Without the permutation a step reads every key (O(keys)).
class [[nodiscard]] Cursor {
 public:
  /// Advances to the next key (reverse cursor: the previous one). Yields false
  /// at the end. On a sealed store whose keys keep a plain prefix it yields
  /// keys as stored (docs/FORMAT.md §3.7). Errors: not_mounted, unsupported
  /// (a sealed store that hashes whole key names; a range or reverse walk of
  /// an index-less store), flash errors. A key whose record no longer
  /// verifies is skipped and counted in stats().corrupt_records.
  Task<Result<bool>> next() noexcept;
  std::span<const std::byte> key() const noexcept { return {key_.data(), key_size_}; }
  std::string_view key_string() const noexcept {
    return {reinterpret_cast<const char*>(key_.data()), key_size_};
  }
  /// The current key's value size (for a sealed store, the plain value's;
  /// for a typed value, without its tag).
  std::uint32_t value_size() const noexcept { return value_size_; }
  /// The current key's value type (ValueType::untyped for bytes written by
  /// put). Known after next() without reading the value: the step reads
  /// the record anyway (a plain store reads one more byte, the tag, when
  /// the latest record is compact).
  ValueType type() const noexcept { return type_; }
  /// Copies the value of the key the cursor stands on (after a next() that
  /// yielded true) into `out`; returns its length. When the index has not
  /// gained or lost a key since that step, it reads the key's latest record
  /// through the index position the step found (no hash lookup): the read of
  /// a get minus its binding check; a sealed store opens (and decompresses)
  /// it as get does. Otherwise, and on an index-less store, it falls back to
  /// a get of the key. Either way it returns the key's current value, also
  /// when the key was written since the step. Errors: invalid_argument (the
  /// cursor stands on nothing: not stepped yet, or the last next() yielded
  /// false or failed), not_found (the key was erased since the step),
  /// buffer_too_small (nothing copied), corrupt, not_mounted, flash errors.
  Task<Result<std::size_t>> read_value(std::span<std::byte> out) noexcept;

 private:
  friend class Store;
  /// Whether `k` is within the cursor's prefix and bound.
  bool admits(std::span<const std::byte> k) const noexcept;
  void stand_on(std::span<const std::byte> k, std::uint32_t value_size, std::uint32_t entry, std::uint32_t rank,
                std::uint32_t epoch) noexcept;
  Store* store_ = nullptr;
  std::array<std::byte, max_key_size> prefix_{};  // yielded keys start with it
  std::uint8_t prefix_size_ = 0;
  std::array<std::byte, max_key_size> bound_{};   // forward: exclusive upper; reverse: inclusive lower
  std::uint8_t bound_size_ = 0;
  bool has_bound_ = false;
  std::array<std::byte, max_key_size> key_{};     // the key yielded, or the start point before the first
  std::uint8_t key_size_ = 0;
  ValueType type_ = ValueType::untyped;
  bool has_start_ = false;   // key_ holds a start point (forward: inclusive; reverse: exclusive)
  bool ranged_ = false;      // made by range()
  Direction direction_ = Direction::forward;
  bool started_ = false;     // a key was yielded (index-less: the walk began)
  bool on_key_ = false;      // the last next() yielded key_
  bool positioned_ = false;  // entry_ and rank_ hold for index epoch epoch_
  std::uint32_t value_size_ = 0;
  std::uint32_t position_ = 0;   // index-less: log offset of the record yielded
  std::uint32_t entry_ = 0;      // index position of the key yielded
  std::uint32_t rank_ = 0;       // its position in the key-order permutation
  std::uint32_t epoch_ = 0;      // the store's index epoch when entry_/rank_ were taken
};
#else
class Cursor;
#endif  // FERRITE_WITH_SCANS

#if FERRITE_WITH_CHANGES
/// A feed of the changes the log holds from a log sequence number on
/// (Store::changes_since), in log order: every put and erase, and the writes
/// of committed batches, each once, for replication, audit trails or cache
/// invalidation (docs/FORMAT.md §6.1). A step that finds nothing more
/// answers false; a later step sees what was written since, so one cursor
/// can follow the store as a live feed.
///
/// Garbage collection copies live values forward as puts, and the format
/// does not tell those copies from the application's writes: the feed
/// yields them too (a key's current value once more). Applying the changes
/// in order to the state the store had at the LSN gives its current state.
/// The feed ends in Errc::history_lost once collection has retired the
/// sector it still had to read: what it discarded (erases among it) can no
/// longer be reported; start again from a fresh copy of the state and
/// Store::lsn().
///
/// Cost: a step reads the records it passes (header, key, value for the
/// checksum), one more byte for a typed value's tag, and for a compact
/// record the header and key of the full record that binds its slot; a
/// sealed store also opens each value it yields (a second read). Starting
/// inside a sector reads that sector from its first record, where compact
/// records learn their keys. RAM: about 640 bytes, most of it the slot
/// table of the sector being read (a compact record's key is named by the
/// latest full record binding the slot in that sector, FORMAT.md §3.2).
class [[nodiscard]] ChangeCursor {
 public:
  /// Steps to the next change in log order; false when the log holds no
  /// more (call again later for what is written meanwhile). Errors:
  /// not_mounted; history_lost (collection retired the sector the cursor
  /// reads, or the one its LSN points into, before it was read to the end:
  /// at the first step or at any later one); invalid_argument (an LSN
  /// beyond Store::lsn(), or past the end of its sector); unsupported (a
  /// sealed store that hashes whole key names: a change could only name the
  /// keyed hash; with a plain prefix a change carries the key as stored,
  /// docs/FORMAT.md §3.7); flash errors. Damaged records, and the bytes a
  /// SKIP voids, are skipped as mount skips them (never yielded); a sealed value that no longer authenticates is
  /// skipped too (counted in stats().corrupt_records; its key reads
  /// tampered).
  Task<Result<bool>> next() noexcept;
  /// The key the change wrote, as stored (the name itself: a store that
  /// stores keyed hashes of names has no change stream).
  std::span<const std::byte> key() const noexcept { return {key_.data(), key_size_}; }
  std::string_view key_string() const noexcept {
    return {reinterpret_cast<const char*>(key_.data()), key_size_};
  }
  /// The change erases the key (DELETE, or an erase in a batch).
  bool erased() const noexcept { return erased_; }
  /// The value's type (ValueType::untyped for put's bytes, batch writes, erases).
  ValueType type() const noexcept { return type_; }
  /// The position just past the change the cursor stands on: changes_since
  /// of it resumes with the change after this one. Before the first step,
  /// the LSN the cursor was made with; after a step that answered false,
  /// where the cursor has read up to.
  std::uint64_t lsn() const noexcept { return lsn_; }
  /// The value's size as read_value returns it (a sealed store's plain
  /// size; a typed value without its tag; 0 for an erase).
  std::uint32_t value_size() const noexcept { return value_size_; }
  /// Copies the value this change wrote (not the key's current value) as
  /// get returns values: a sealed store's opened and decompressed, a typed
  /// value without its tag. Returns its length. Errors: invalid_argument
  /// (the cursor stands on no change), not_found (the change is an erase),
  /// history_lost (its sector was collected since the step),
  /// buffer_too_small (nothing copied), corrupt, tampered (sealed: the
  /// record no longer authenticates), not_mounted, flash errors.
  Task<Result<std::size_t>> read_value(std::span<std::byte> out) noexcept;

 private:
  friend class Store;
  /// Reading of sector `sequence` starts (again) at `offset`: its slot
  /// bindings are learnt anew from there.
  void enter(std::uint32_t sequence, std::uint32_t offset) noexcept {
    sequence_ = sequence;
    offset_ = offset;
    commit_ = 0;
    bindings_ = {};
  }
  Store* store_ = nullptr;
  std::uint64_t from_ = 0;        // changes at positions below it are not yielded
  std::uint64_t lsn_ = 0;
  bool started_ = false;          // from_ was checked and the reading placed
  bool on_change_ = false;        // the last next() yielded a change
  bool erased_ = false;
  bool typed_ = false;
  ValueType type_ = ValueType::untyped;
  std::uint8_t key_size_ = 0;
  std::uint8_t slot_ = 0;         // the change is a compact record of this slot (0: a full record)
  std::uint32_t sequence_ = 0;    // the sector being read
  std::uint32_t offset_ = 0;      // its next record
  std::uint32_t commit_ = 0;      // inside a committed batch: its TXN_COMMIT's offset (0: not in one)
  std::uint32_t value_size_ = 0;
  std::uint32_t stored_size_ = 0;  // the change's value field on flash
  std::uint32_t at_ = 0;           // offset of the change's record in sector sequence_
  std::uint32_t binding_ = 0;      // offset of the full record naming its key (at_ for a full record)
  std::uint32_t key_hash_ = 0;
  std::array<std::byte, max_key_size> key_{};
  /// Per slot, the offset in sector sequence_ of the latest full record
  /// binding it so far (0: none yet).
  std::array<std::uint32_t, max_slots + 1> bindings_{};
  /// The ranges SKIPs void in sector voids_sequence_, read up to voids_end_
  /// when a change there first needs them; `voids_overflow_`: more than fit.
  std::array<std::pair<std::uint32_t, std::uint32_t>, 4> voids_{};
  std::uint8_t voids_count_ = 0;
  bool voids_overflow_ = false;
  std::uint32_t voids_sequence_ = 0;
  std::uint32_t voids_end_ = 0;
};
#else
class ChangeCursor;
#endif  // FERRITE_WITH_CHANGES

/// The key/value store. Not copyable; the Flash and the caller's memory must
/// outlive it.
class Store {
 public:
  Store(Flash flash, StoreConfig config) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Erases the first sector of the region and starts an empty store there;
  /// the other sectors are erased when first needed. The store is mounted
  /// afterwards. Errors: already_mounted (unmount() first: formatting
  /// discards every key), invalid_argument (config/geometry unusable, e.g. a
  /// value_limit() under min_useful_value_limit: config_report() says which
  /// field and why), and flash errors.
  Task<Status> format(FormatOptions options = {}) noexcept;

  /// Scans the region and rebuilds the index (and the key-order permutation
  /// when the config has one). Reads only; writes nothing.
  /// Errors: not_formatted (blank region), foreign_format (not a ferrite store,
  /// another format version or geometry), corrupt (no usable head sector, an
  /// impossible retire, a damaged crypto block), wrong_key (a sealed store
  /// without its key, or with another), unsupported (an index-less mount of
  /// a store with compact records or batches), no_memory (more keys than the
  /// index holds), invalid_argument (config: config_report() says which
  /// field and why; or a key for a plain store), already_mounted (the store
  /// is mounted: unmount() first; the mounted state is kept), and for a
  /// sealed store config_mismatch (formatted with other SealOptions),
  /// tampered (the log was altered or rolled back: last_refusal() says what
  /// and where, docs/FORMAT.md §5.1) and unsupported (sealed by ferrite
  /// 0.2); flash errors. Damage it survives is counted in stats():
  /// corrupt_records, torn_tails, damaged_sectors.
  Task<Status> mount() noexcept;

  /// Forgets the mounted state (nothing to flush: every acknowledged write is
  /// already durable). Calls other than format/mount then fail with not_mounted.
  void unmount() noexcept;
  bool mounted() const noexcept { return mounted_; }
  /// The store id of the mounted (or formatted) store (docs/FORMAT.md §2).
  std::uint32_t store_id() const noexcept { return store_id_; }

  /// Stores `value` under `key`. Writes nothing when the stored value is the
  /// same. Durable when it returns ok. Errors: invalid_argument (empty key),
  /// too_large (key > 64 bytes, value > value_limit()), no_space (nothing
  /// changed), no_memory (index full), io (verify-after-write mismatch),
  /// flash errors. On an error the previous value stays readable.
  Task<Status> put(std::span<const std::byte> key, std::span<const std::byte> value) noexcept;
  Task<Status> put(std::string_view key, std::string_view value) noexcept {
    return put(as_bytes(key), as_bytes(value));
  }
#if FERRITE_WITH_TYPED_WRITES
  /// Typed helpers (u8..u64, i8..i64, float, double, bool): the value is
  /// written with its type tag (docs/FORMAT.md §3.5), so get_as<T> and
  /// Scalar::as<T> refuse another type. A Scalar with tag untyped is
  /// written as plain bytes (as put does).
  Task<Status> put_scalar(std::span<const std::byte> key, Scalar value) noexcept;
  template <class T>
    requires(std::is_arithmetic_v<T> && sizeof(T) <= 8)
  Task<Status> put_as(std::string_view key, T value) noexcept {
    return put_scalar(as_bytes(key), Scalar::of(value));
  }
  /// A typed string (ValueType::string): get_string reads it back.
  Task<Status> put_as(std::string_view key, std::string_view value) noexcept {
    return put_typed(as_bytes(key), ValueType::string, as_bytes(value));
  }
  /// Stores `value` tagged with `type` (any ValueType but untyped; the size
  /// must fit the type: 1, 2, 4 or 8 bytes for numbers, 1 for bool, up to
  /// value_limit() - 1 for string and blob). Errors: as put, and
  /// invalid_argument (untyped, or a size the type cannot have).
  Task<Status> put_typed(std::span<const std::byte> key, ValueType type, std::span<const std::byte> value) noexcept;
#endif

  /// Copies the value into `out` and returns its length. Errors: not_found,
  /// buffer_too_small (nothing copied; size_of tells the size), corrupt (the
  /// record fails its checksum: never returned as data), tampered (sealed:
  /// the key's latest record failed authentication; until it is written or
  /// erased), flash errors.
  Task<Result<std::size_t>> get(std::span<const std::byte> key, std::span<std::byte> out) noexcept;
  Task<Result<std::size_t>> get(std::string_view key, std::span<std::byte> out) noexcept {
    return get(as_bytes(key), out);
  }
  /// Replaces the contents of `out` with the value (host convenience).
  Task<Status> get_into(std::span<const std::byte> key, std::vector<std::byte>& out) noexcept;
  Task<Status> get_string(std::string_view key, std::string& out) noexcept;
  /// A value of at most 8 bytes and its type, e.g.
  /// `(co_await s.get_scalar(k))->as<std::uint32_t>()`. Errors: as get, and
  /// invalid_argument (a value longer than 8 bytes).
  Task<Result<Scalar>> get_scalar(std::span<const std::byte> key) noexcept;
  Task<Result<Scalar>> get_scalar(std::string_view key) noexcept { return get_scalar(as_bytes(key)); }
  /// The value as T. Errors: type_mismatch (stored with another type, or an
  /// untyped value whose size is not sizeof(T): untyped values written by
  /// older firmware's put_as read back when the size matches), not_found,
  /// corrupt, flash errors.
  template <class T>
    requires(std::is_arithmetic_v<T> && sizeof(T) <= 8)
  Task<Result<T>> get_as(std::string_view key) noexcept {
    auto s = co_await get_scalar(as_bytes(key));
    if (!s) co_return fail(s.error() == Errc::invalid_argument ? Errc::type_mismatch : s.error());
    co_return s->template as<T>();
  }
  /// The type the key's value carries (ValueType::untyped for put's bytes).
  /// Errors: not_found, corrupt, tampered, flash errors.
  Task<Result<ValueType>> type_of(std::span<const std::byte> key) noexcept;
  Task<Result<ValueType>> type_of(std::string_view key) noexcept { return type_of(as_bytes(key)); }

  /// Removes `key`. Errors: not_found, no_space, flash errors.
  Task<Status> erase(std::span<const std::byte> key) noexcept;
  Task<Status> erase(std::string_view key) noexcept { return erase(as_bytes(key)); }

  Task<Result<bool>> contains(std::span<const std::byte> key) noexcept;
  Task<Result<bool>> contains(std::string_view key) noexcept { return contains(as_bytes(key)); }
  /// The value's length. Errors: not_found, tampered (sealed).
  Task<Result<std::size_t>> size_of(std::span<const std::byte> key) noexcept;
  Task<Result<std::size_t>> size_of(std::string_view key) noexcept { return size_of(as_bytes(key)); }

#if FERRITE_WITH_SCANS
  /// Every key starting with `prefix` (all keys for an empty prefix). Forward:
  /// in key order when the store keeps the permutation, else in index (or,
  /// index-less, log) order. Reverse: in descending key order (an indexed
  /// store; the first step seeks to the last key with the prefix); an
  /// index-less store answers unsupported. Costs: see Cursor.
  Cursor scan(std::span<const std::byte> prefix = {}) noexcept { return scan(prefix, Direction::forward); }
  Cursor scan(std::span<const std::byte> prefix, Direction direction) noexcept;
  Cursor scan(std::string_view prefix, Direction direction = Direction::forward) noexcept {
    return scan(as_bytes(prefix), direction);
  }
  /// Keys k with lower <= k < upper, in key order (bytewise, shorter first on a
  /// common prefix); reverse: the same keys from the largest down (the first
  /// step seeks to the last key below `upper`). An empty `upper` means no
  /// upper bound. Bounds longer than 64 bytes are cut to 64. Needs the index
  /// (index-less: next() answers unsupported). Costs: see Cursor.
  Cursor range(std::span<const std::byte> lower, std::span<const std::byte> upper,
               Direction direction = Direction::forward) noexcept;
  /// The number of keys k with lower <= k < upper (an empty `upper`: no upper
  /// bound), from the index: the difference of two binary searches of the
  /// key-order permutation, 2 x log2(keys) reads of a header word and a key
  /// (no record is verified: a key whose record was damaged since mount is
  /// counted, while a Cursor skips it). Sees the store as it is when it runs
  /// (calls are serialised). Errors: not_mounted, unsupported (an index-less
  /// store, a store configured without the key-order permutation
  /// (StoreConfig::order empty), a sealed store that hashes whole key names),
  /// corrupt (an index entry whose binding no longer reads right), flash
  /// errors.
  Task<Result<std::uint32_t>> count_range(std::span<const std::byte> lower,
                                          std::span<const std::byte> upper) noexcept;
#endif  // FERRITE_WITH_SCANS

  /// Bounded background work, paced by how fast the application writes.
  /// Each call: copies toward emptying the collection victim as much as the
  /// pace needs (MaintenancePace: nothing while updates may yet empty it,
  /// then up to budget.max_records records and budget.max_bytes bytes),
  /// retires the victim once empty, and erases one free sector (or checks
  /// one that a remount trusts as erased) so that no put has to.
  ///
  /// The bound: called once between writes (or between bursts of similar
  /// size), with a budget at least twice the report's pace_bytes, no put,
  /// erase or commit copies a record or erases a sector: each writes its
  /// own record(s) and at most a new sector's header (OPEN) and a RETIRE
  /// record. On the STM32F4 timing model that is under 200 us for a 4-byte
  /// value and about 1 ms for a 200-byte one (ferrite-bench W1m,
  /// ferrite-large-bench Lm), where an erase takes 250 ms. A write that
  /// finds the runway used up (maintain() not called, a burst far above the
  /// measured rate, a remount that found a victim half copied) collects and
  /// erases what it needs itself, as without maintenance. Errors:
  /// not_mounted, no_space (collection found no room), flash errors.
  Task<Result<MaintenanceReport>> maintain(MaintenanceBudget budget = {}) noexcept;

  StoreStats stats() const noexcept;
  /// Counts the keys by walking the log (index-less stores, whose stats()
  /// do not know the count: a scan cursor's cost, O(records^2) reads; an
  /// indexed store answers from RAM). Errors: not_mounted, flash errors.
  Task<Result<std::uint32_t>> count_keys() noexcept;

#if FERRITE_WITH_CHANGES
  /// The log sequence number (LSN) just past the newest record: the head
  /// sector's sequence number << 32 | the head's write offset
  /// (docs/FORMAT.md §6.1). Grows with every record written and never goes
  /// back over the store's life (collections, remounts; a format starts
  /// above every sequence in the region). 0 when not mounted.
  std::uint64_t lsn() const noexcept;
  /// Where the records of the oldest live sector start: the lowest LSN that
  /// changes_since() is sure to accept (older ones lie in sectors garbage
  /// collection has retired). 0 when not mounted.
  std::uint64_t oldest_lsn() const noexcept;
  /// A cursor over the changes at positions >= `lsn`, in log order (see
  /// ChangeCursor; nothing is checked before its first next()). Take
  /// `lsn()` together with a copy of the state, no write in between, and
  /// the changes applied to that copy follow the store; `oldest_lsn()`
  /// gives everything the log still holds (0 is no shortcut for it: it lies
  /// below every sector, so it is history_lost). An LSN inside a live
  /// sector that is not a record's position starts at the first record
  /// after it.
  ChangeCursor changes_since(std::uint64_t lsn) noexcept;
#endif  // FERRITE_WITH_CHANGES

  /// What the configuration and geometry allow, computed from them (no
  /// RAM kept for it): code invalid_argument with the field, its value, the
  /// limit and why, when format/mount refuse them; code ok with field
  /// "max_value_size" when StoreConfig::max_value_size was clamped to
  /// value_limit() (value: asked, limit: granted); code ok and no field
  /// otherwise.
  Refusal config_report() const noexcept;
  /// Why the last call that answered too_large, no_space, no_memory,
  /// invalid_argument (key or config) or already_mounted refused: which
  /// limit (key size 64, value_limit(), index size, capacity and live bytes,
  /// free room). Cleared by nothing but the next refusal; code ok before
  /// any.
  Refusal last_refusal() const noexcept;

  /// Sealed stores: the `n`-th key (0, 1, ... in index order) whose latest
  /// record failed authentication, as stored (the keyed hash of the name
  /// when names are hidden: compare with stored_name()). Such a key reads
  /// Errc::tampered until it is written or erased; stats().tampered_keys
  /// counts them. Returns the stored key's length. Errors: not_found (fewer
  /// than n + 1 such keys), buffer_too_small, not_mounted.
  Task<Result<std::size_t>> tampered_key(std::size_t n, std::span<std::byte> out) noexcept;
  /// The key as this store keeps it on flash: the name itself, or its
  /// keyed hash in a sealed store that hides names (after the plain prefix
  /// the store's rule keeps, docs/FORMAT.md §3.7). Returns its length.
  /// Errors: invalid_argument / too_large (the name), buffer_too_small.
  Result<std::size_t> stored_name(std::span<const std::byte> name, std::span<std::byte> out) noexcept;

  /// Key rotation, the second half: re-seals every record still under the
  /// previous key (StoreConfig::previous_codec) with the current one, by
  /// collecting every sector sealed under the old key. Crash-safe: a power
  /// cut leaves some sectors under each key, and a mount with both keys
  /// continues; reseal() may simply be called again. Afterwards the previous
  /// key is no longer needed. Errors: unsupported (plain store), no_space,
  /// flash errors.
  Task<Status> reseal() noexcept;
  /// Sectors still sealed under the previous key.
  std::uint32_t sectors_under_previous_key() const noexcept;

#if FERRITE_WITH_TRANSACTIONS
  /// Largest batch (bytes of records) a Transaction or Batch (ferrite.txn)
  /// commits: one sector's worth.
  std::uint32_t max_batch_bytes() const noexcept;
#endif

  /// Whether the store seals its records (StoreConfig::codec is set).
  /// (Always false in a build without ferrite.crypto: every sealed path
  /// then folds away, and a codec in the configuration is refused.)
  bool sealed() const noexcept { return sealed_stores_built && seal_.codec != nullptr; }
  /// Whether the keys as stored hide (some of) the names: a sealed store
  /// with hidden key names. Scans, ranges and the change stream then deal in
  /// keys as stored (docs/FORMAT.md §3.7) when the codec keeps a plain
  /// prefix, and answer unsupported when it hashes whole names.
  bool hides_key_names() const noexcept { return sealed() && seal_.codec->hides_keys(); }
  /// The codec's keyed hash of `data` (ValueCodec::keyed_hash): the docstore
  /// keys its hashed index entries with it. Keyed by the current store key,
  /// so a key rotation changes every hash. Errors: unsupported (a plain
  /// store, or a codec without it), wrong_key (not mounted or formatted yet).
  Status keyed_hash(std::span<const std::byte> data, std::span<std::byte, 16> out) noexcept {
    if (!sealed()) return fail(Errc::unsupported);
    return seal_.codec->keyed_hash(data, out);
  }

  /// A sealed store's crypto block (docs/FORMAT.md §2.2: public salts and
  /// options; a backup carries it so that the key alone opens the backup).
  /// Empty for a plain store or before format/mount.
  std::span<const std::byte> sealing_block() const noexcept {
    if (!sealed() || !mounted_ || seal_.scratch.size() < crypto_block_size) return {};
    return seal_.scratch.first(crypto_block_size);
  }

  /// Largest value put accepts for this geometry and configuration.
  std::uint32_t value_limit() const noexcept { return value_limit_; }
  /// Bytes of StoreConfig::scratch a sealed store needs for `max_value_size`.
  /// (The store's crypto blocks, current and previous, live there too.)
  static std::size_t scratch_needed(std::uint32_t max_value_size, std::uint32_t codec_overhead) noexcept {
    return 2 * crypto_block_size + 2 * (std::size_t{max_value_size} + codec_overhead + 64);
  }
  std::span<const SectorInfo> sectors() const noexcept { return sectors_; }
  const Geometry& geometry() const noexcept { return geometry_; }
  /// Bytes of RAM this store uses for its own state (object + index + sector table).
  std::size_t ram_bytes() const noexcept;

 private:
  friend class Cursor;
#if FERRITE_WITH_TRANSACTIONS
  // -- Atomic batches: the engine half of ferrite.txn, reached only through
  // TxnHooks (defined there). Batches travel as two byte logs built with
  // BatchLog (below). A batch is written as TXN records followed by one
  // TXN_COMMIT record in a single sector (docs/FORMAT.md §4.1): after a
  // power cut, either all of it is visible or none of it.
  friend struct TxnHooks;
  /// Validates `reads` (every key still at the version observed), then writes
  /// `writes` atomically and durably. Errors: conflict (a read or written key
  /// changed since it was observed; nothing written), too_large (a key or
  /// value over its limit, or a batch larger than max_batch_bytes()),
  /// no_space, no_memory (index full), unsupported (index-less store),
  /// invalid_argument (malformed log), flash errors (nothing visible).
  Task<Status> commit_batch(std::span<const std::byte> writes, std::span<const std::byte> reads) noexcept;
  /// Validates `reads`, then reads `key` and reports its version (the
  /// location of its latest record; no_version when absent). Errors:
  /// conflict, not_found (version still reported), buffer_too_small, corrupt.
  Task<Result<std::size_t>> read_versioned(std::span<const std::byte> key, std::span<std::byte> out,
                                           std::span<const std::byte> reads, std::uint32_t& version) noexcept;
  /// The current version of `key` (no_version when absent), after validating `reads`.
  Task<Result<std::uint32_t>> version_of(std::span<const std::byte> key, std::span<const std::byte> reads) noexcept;
  static constexpr std::uint32_t no_version = 0xFFFFFFFFu;
#endif  // FERRITE_WITH_TRANSACTIONS
  friend class ChangeCursor;
  using Entry = IndexedKey;  // an index entry spelled out (ferrite.log:index)
  struct KeyBuf {
    std::array<std::byte, max_key_size> bytes{};
    std::uint8_t size = 0;
    std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
  };

  // mount / format
  Task<Status> replay_sector(std::uint32_t sector) noexcept;
  /// Whether the next sector's header says that the session which opened it
  /// programmed `sector`'s last record whole (FORMAT.md §2 flag bit 3).
  bool ends_whole(std::uint32_t sector) const noexcept;
  /// Whether the record at `offset` of `sector` reads back stability_reads
  /// more times as mount read it (checksum `crc`, `size` bytes): one a power
  /// cut interrupted may hold weak bits that read right only by chance.
  /// Reads into `scratch`, past the read-ahead window.
  Task<Result<bool>> reads_back_stably(std::uint32_t sector, std::uint32_t offset, std::uint32_t crc,
                                       std::uint32_t size, LogRecord& scratch) noexcept;
  /// Whether [offset, end) of `sector` reads erased (end none: the sector's end).
  Task<Status> check_tail_blank(std::uint32_t sector, std::uint32_t offset, std::uint32_t end = none) noexcept;
  /// The first unit of [offset, end) of `sector` that does not read erased, or `end`.
  Task<Result<std::uint32_t>> first_written_unit(std::uint32_t sector, std::uint32_t offset, std::uint32_t end) noexcept;
  /// How far past a sector's last record mount checks the blank tail: one
  /// record of the largest size (FORMAT.md §5, step 5).
  std::uint32_t tail_window() const noexcept;
  /// Before `size` bytes are programmed at the head's write offset: checks
  /// the units mount left unread there (FORMAT.md §5, step 5). Units that do
  /// not read erased seal the head as a torn tail: bits_not_erased.
  Task<Status> check_blank_ahead(std::uint32_t size) noexcept;
  /// Applies a verified record that names no key (or a compact one) and
  /// checks a sealed store's records; true: it names a key, which the
  /// caller looks up and hands to apply_keyed_record.
  Result<bool> apply_record(const LogRecord& rec) noexcept;
  /// A PUT, DELETE or TAMPERED record against what locate found of its key;
  /// true: `fresh` is a new entry for the caller to insert.
  Result<bool> apply_keyed_record(const LogRecord& rec, const Located& found, Entry& fresh) noexcept;
  /// Replay in a sector whose writer kept key hashes unique (FORMAT.md §5
  /// step 3): the only entry with the record's hash, found without a read;
  /// false when none or several have it (then locate compares names).
  bool match_by_hash(const LogRecord& rec, Located& out) noexcept;
  /// Whether every byte reads as the flash's erased value.
  bool reads_erased(std::span<const std::byte> bytes) const noexcept {
    for (std::byte b : bytes)
      if (b != geometry_.erased_byte()) return false;
    return true;
  }
  struct TxnScan {
    std::uint32_t next = 0;     // offset after the group (or where the scan stopped)
    std::uint32_t count = 0;    // TXN records before the commit
    bool committed = false;
  };
  /// Walks a batch to its commit and checks that the commit binds exactly
  /// its records. `stable_commit`: a commit that ends the written part of
  /// the sector must read back the same several times (mount's judgement of
  /// a cut; readers after mount skip it, mount having judged already).
  Task<Result<TxnScan>> walk_batch(std::uint32_t sector, std::uint32_t offset, std::uint32_t end,
                                   bool stable_commit) noexcept;
  Task<Status> validate_reads(std::span<const std::byte> reads) noexcept;
  /// The TXN records of a batch and its commit, at the head.
  Task<Status> write_batch_records(std::span<const std::byte> writes, std::uint32_t count) noexcept;
  Task<Status> locate_after_validation(std::span<const std::byte> name, std::span<const std::byte> reads,
                                      Located& out) noexcept;
  Result<std::uint32_t> stored_size_of(bool erase, std::span<const std::byte> value) noexcept;
  void drop_retired_entries() noexcept;
  std::uint32_t retire_marker_check(std::uint32_t sequence) const noexcept;
  static constexpr int stability_reads = 16;
  Task<Status> open_sector_at(std::uint32_t sector) noexcept;
  /// Before a record that makes two live keys share a hash (`record_size`
  /// bytes, `live_after` live then): a head whose header says hashes are
  /// unique gets a SHARED record, or is sealed when the two do not fit
  /// (FORMAT.md §3.3). Call with sharing_hash_ set, after ensure_room.
  Task<Status> end_unique_hashes(std::uint32_t record_size, std::uint32_t live_after) noexcept;
  Task<Status> write_open_record() noexcept;
  // Integrity of a sealed store's log (src/log/integrity.cpp).
  Task<Status> find_sealed_tail() noexcept;
  Status check_sealed_record(const LogRecord& rec) noexcept;
  Status note_failure(std::uint32_t sector, std::uint32_t offset) noexcept;
  void acknowledge_failure(std::uint32_t sequence, std::uint32_t offset) noexcept;
  /// After a sealed replay: what the replay noted must have been settled
  /// (retired sectors, acknowledged failures).
  Status check_sealed_log() noexcept;
  /// The replayed log against the rollback counter's `trusted` position.
  Status check_rollback(std::uint64_t trusted) noexcept;
  /// A read found the entry's latest record failing authentication.
  void mark_tampered(const Entry& e) noexcept;
  /// Writes a TAMPERED record for every entry still pending.
  Task<Status> record_tampering() noexcept;
  /// Sealed stores: the RETIRE of a collection whose head a power cut tore
  /// with no sector free, in the head's end slot (FORMAT.md §3.6).
  Task<Status> retire_in_end_slot(std::span<const std::byte> tail) noexcept;
  /// Mount: applies the RETIRE in a sealed sector's end slot, if any.
  Task<Status> replay_end_slot(std::uint32_t sector, std::uint32_t& good_end) noexcept;
  /// Where records end in a sector: a sealed store keeps its last bytes as
  /// the end slot.
  std::uint32_t records_end(std::uint32_t sector) const noexcept {
    return geometry_.sector_size(sector) - seal_.end_slot;
  }
  Task<Status> write_tampered(std::size_t position, const Entry& e, std::span<const std::byte> key,
                              std::uint32_t sequence, std::uint32_t offset) noexcept;
  void reset_state() noexcept;

  // records
  Task<Status> read_record(std::uint32_t sector, std::uint32_t offset, std::uint32_t limit, LogRecord& out) noexcept;
  /// Where the bytes a SKIP record voids begin (its `from`, FORMAT.md §3.3);
  /// none for any other record.
  std::uint32_t voided_from(const LogRecord& rec) const noexcept;
  /// Reads through a small read-ahead window while mount scans sequentially,
  /// so each byte of the log is read from flash once.
  Task<Status> read_bytes(std::uint32_t address, std::span<std::byte> out) noexcept;
  Task<Result<std::uint32_t>> crc_of_range(std::uint32_t address, std::uint32_t length, std::uint32_t crc) noexcept;
  /// Writes one record at the head. `retry`: a head that refuses the program
  /// (units mount could not see) is sealed and the record written once more
  /// in a fresh sector, as a full record.
  Task<Result<std::uint32_t>> append(std::uint8_t kind, std::uint8_t slot, std::span<const std::byte> key,
                                     std::span<const std::byte> value, bool compact, std::uint32_t key_hash,
                                     std::uint8_t meta_type, std::span<const std::byte> prefix = {},
                                     bool retry = false) noexcept;
  /// Programs [head | key | value | padding] at `address`, `total` bytes; the
  /// value comes from `value` or, when value_from != none, from flash.
  /// `verify`: then reads [head | key | value] back and compares (io when it differs).
  Task<Status> program_record(std::uint32_t address, std::span<const std::byte> head,
                              std::span<const std::byte> key, std::span<const std::byte> value,
                              std::uint32_t total, std::uint32_t value_from = none,
                              std::uint32_t value_size = 0, bool verify = false) noexcept;
  Task<Result<bool>> stored_value_equals(const Entry& e, std::span<const std::byte> key,
                                         std::span<const std::byte> value,
                                         std::span<const std::byte> prefix = {}) noexcept;

  // space and garbage collection
  Task<Status> ensure_room(std::uint32_t record_size, std::uint32_t new_live_bytes) noexcept;
  Task<Status> open_sector() noexcept;
  Task<Status> erase_sector(std::uint32_t sector, bool mark) noexcept;
  Task<Status> start_gc() noexcept;
  /// The live bytes collection still has to copy out of `victim`.
  std::uint32_t collection_debt(std::uint32_t victim) const noexcept;
  /// The bytes writes may add before `victim` must be collected, before its
  /// live bytes are taken off (negative: the margins are not there).
  std::int64_t runway_room(std::uint32_t victim) const noexcept;
  /// Bytes appended to the log since `lsn` (unknown: MaintenancePace::unknown).
  std::uint32_t written_since(std::uint64_t lsn) const noexcept;
  // Where the log ends (lsn()'s value), also in builds without the change
  // stream: the pace measures writes by it.
  std::uint64_t log_end() const noexcept;
  /// maintain(): copies what the pace asks of the victim (choosing it first).
  Task<Status> paced_collection(MaintenanceBudget budget, MaintenanceReport& report) noexcept;
  /// maintain(): erases one free sector, or checks one a remount vouched for.
  Task<Status> prepare_free_sector(MaintenanceBudget budget, MaintenanceReport& report) noexcept;
  /// After a write: true when the victim (chosen now if updates emptied the
  /// oldest sector) holds nothing live and the head has room for its RETIRE.
  bool retire_ready() noexcept;
  /// Copies up to `max_records` records and about `max_bytes` live bytes out
  /// of the victim (adding the bytes to `*moved`), resuming where the last
  /// step stopped; retires the victim once nothing live is left in it.
  Task<Result<std::uint32_t>> gc_step(std::uint32_t max_records, std::uint32_t max_bytes = 0xFFFFFFFFu,
                                      std::uint32_t* moved = nullptr) noexcept;
  Task<Status> copy_entry(std::size_t entry) noexcept;
  Task<Status> copy_sealed_entry(std::size_t entry, const Entry& e, std::span<const std::byte> key) noexcept;
  Task<Result<std::uint32_t>> copy_forward(std::uint8_t slot, std::span<const std::byte> key,
                                           std::uint32_t value_from, std::uint32_t value_size,
                                           bool typed = false) noexcept;
  void rebind(std::size_t position, const Entry& e, std::uint32_t at) noexcept;
  Task<Result<bool>> gc_index_less_step() noexcept;
  // writing past a torn region of the head (src/log/skip.cpp, FORMAT.md §3.3 SKIP)
  bool torn_head_skippable() const noexcept;
  Task<Status> skip_torn_region() noexcept;
  Task<Result<std::uint32_t>> torn_region_end(std::uint32_t from) noexcept;
  Task<Result<std::uint32_t>> claimed_size(std::uint32_t offset, std::uint32_t end) noexcept;

  // index
  // Lookups fill caller-owned storage: they sit on every call chain, and a
  // returned Result<Located> would cost a copy in each frame.
  /// `checksum`: a value read follows; a binding that is the latest record
  /// is read with its checksum (Entry::binding_named).
  Task<Status> locate(std::span<const std::byte> key, std::uint32_t hash, Located& out,
                      bool checksum = false) noexcept;
  Task<Status> locate_by_scan(std::span<const std::byte> key, std::uint32_t hash, Located& out) noexcept;
  /// Adds `e` to the index and, where the store keeps key order, places `key`
  /// in it (a binary search over keys on flash); a build without scans keeps
  /// no order and reads nothing here.
#if FERRITE_WITH_SCANS
  Task<Status> index_insert(const Entry& e, std::span<const std::byte> key) noexcept;
#else
  Ready<Status> index_insert(const Entry& e, std::span<const std::byte> key) noexcept;
#endif
  /// The entry at `position`, its key size read from its binding's header.
  /// Errors: corrupt (the header no longer describes the entry), flash errors.
  Task<Status> load_entry(std::size_t position, Entry& out) noexcept;
  /// Completes an unpacked entry from its binding's header word. Errors: corrupt.
  static Status complete_entry(std::span<const std::byte, 4> word, Entry& e) noexcept;
  /// The entry at `position` without reading flash: key_size unknown (0).
  Entry unpack(std::size_t position) const noexcept { return index_.unpack(position, unit_, sealed()); }
  void store_entry(std::size_t position, const Entry& e) noexcept { index_.store(position, e, unit_); }
  /// The entry at `position` as it is now, with the key size of `known` (the same key's).
  Entry refreshed(const Entry& known, std::size_t position) const noexcept;
  /// Whether an index entry can address a latest record at `location` bound at `binding`.
  bool addressable(std::uint32_t location, std::uint32_t binding) const noexcept;
  /// A free slot for a new key's compact records (0: none, or a store
  /// without compact records).
  std::uint8_t allocate_slot() noexcept { return compact_ ? index_.allocate_slot() : 0; }
  Task<Status> build_order() noexcept;
  /// Inserts index position `position` (entry `e`, its key size known) into
  /// the permutation's sorted ranks [0, count); reads its key once.
  Task<Status> order_place(std::size_t position, const Entry& e, std::size_t count) noexcept;
  /// First rank in [0, count) of the permutation whose key is >= `key` (> when `strict`):
  /// log2(count) reads of a header word and a key (compared as read).
  Task<Result<std::size_t>> order_lower_bound(std::span<const std::byte> key, std::size_t count,
                                              bool strict) noexcept;

  // reads
  /// The value without a typed value's tag (its type into `type` when set).
  Task<Result<std::size_t>> read_value(const Entry& e, std::span<const std::byte> key,
                                       std::span<std::byte> out, ValueType* type = nullptr) noexcept;
  /// The bytes of the latest record of `e` before its value: its header,
  /// then (full record) its key, then a plain typed value's tag when `tag`.
  static std::uint32_t value_prefix(const Entry& e, bool tag) noexcept;
  /// Fills the start of `prefix` (value_prefix bytes) with what locate
  /// already read: the binding's header word, checksum and key. Returns
  /// their count; the rest comes from flash.
  std::uint32_t known_prefix(const Entry& e, std::span<const std::byte> key,
                             std::span<std::byte> prefix) const noexcept;
  /// The checksum of the latest record of `e` over `prefix` (its
  /// value_prefix bytes), to be continued over the value.
  std::uint32_t value_crc_seed(const Entry& e, std::span<const std::byte> prefix) const noexcept;
  /// Whether `prefix` and `crc` (the seed continued over the value) still
  /// describe the latest record of `e` under `key`. Errors: corrupt,
  /// not_found (a full record of another key with this hash).
  Status check_value_record(const Entry& e, std::span<const std::byte> key, std::span<const std::byte> prefix,
                            std::uint32_t crc) const noexcept;
  Task<Result<bool>> cursor_next(Cursor& c) noexcept;
  Task<Result<bool>> cursor_next_ordered(Cursor& c) noexcept;
  Task<Result<bool>> cursor_next_unordered(Cursor& c) noexcept;
  Task<Result<bool>> cursor_next_by_scan(Cursor& c) noexcept;
  /// The rank an ordered step starts from (binary search), or none.
  Task<Result<std::uint32_t>> cursor_seek(const Cursor& c) noexcept;
  /// Reads and verifies the binding record of the entry at `position` into
  /// `key` and `value_size` (a sealed store's plain size). False: it no
  /// longer verifies (counted in corrupt_records).
  Task<Result<bool>> cursor_read_entry(std::size_t position, KeyBuf& key, std::uint32_t& value_size,
                                       ValueType& type) noexcept;
  Task<Result<std::size_t>> cursor_read_value(const Cursor& c, std::span<std::byte> out) noexcept;
  /// The key of the binding at `binding` into `out` (a key's room).
  FlashOp read_key(std::uint32_t binding, std::uint8_t key_size, std::span<std::byte> out) noexcept;

  // the change stream (src/log/changes.cpp)
  Task<Result<bool>> change_next(ChangeCursor& c) noexcept;
  Task<Result<std::size_t>> change_read_value(const ChangeCursor& c, std::span<std::byte> out) noexcept;
  /// The sector the cursor reads, found by sequence at every step; moves it
  /// on past a sector that vanished without losing a record. Errors:
  /// history_lost.
  Result<std::uint32_t> change_sector(ChangeCursor& c) const noexcept;
  /// A compact record at the cursor's offset (`head`: its first 4 bytes).
  /// True: it is the change the cursor now stands on.
  Task<Result<bool>> change_compact(ChangeCursor& c, std::uint32_t sector, std::uint32_t end,
                                    std::uint32_t head) noexcept;
  /// Makes the full record `rec` (a put or erase) the cursor's change.
  /// False: it is skipped (a sealed value that does not open).
  Task<Result<bool>> change_take(ChangeCursor& c, std::uint32_t sector, const LogRecord& rec) noexcept;
  /// Whether the change at `at` lies in bytes a later SKIP of its sector
  /// voids; only for a sector whose SectorInfo::skips is set.
  Task<Result<bool>> change_voided(ChangeCursor& c, std::uint32_t sector, std::uint32_t at) noexcept;
  /// The live sector whose sequence is `sequence`, or none.
  std::uint32_t live_sector_with(std::uint32_t sequence) const noexcept;
  /// The live sector with the lowest sequence above `sequence`, or none.
  std::uint32_t live_sector_after(std::uint32_t sequence) const noexcept;
  /// Where the records written to a live sector end (the head: where the next goes).
  std::uint32_t written_end(std::uint32_t sector) const noexcept;
  /// Collection retires `victim`: remember where its records ended.
  void note_retired(std::uint32_t victim) noexcept {
    if constexpr (changes_built) retired_end_ = written_end(victim);  // only the change stream asks
    else (void)victim;
  }

  std::uint32_t sector_of(std::uint32_t location) const noexcept { return geometry_.sector_of(location); }
  std::uint32_t payload_of(std::uint32_t sector) const noexcept;
  std::uint32_t full_size(std::uint32_t key_size, std::uint32_t value_size) const noexcept;
  std::uint32_t compact_size(std::uint32_t value_size) const noexcept;
  /// Size of a META / TXN_COMMIT record with an n-byte value (sealed when the store is).
  std::uint32_t meta_size(std::uint32_t n) const noexcept {
    return full_size(0, seal_.codec ? static_cast<std::uint32_t>(seal_.codec->sealed_size(n)) : n);
  }
  std::uint32_t head_room() const noexcept;
  /// The largest value the smallest sector allows (before max_value_size).
  std::uint32_t geometry_value_limit() const noexcept;
  /// The first configuration check that fails, without its words: the
  /// constructor runs it, config_report() (src/log/report.cpp) words it, so
  /// a firmware that never asks links no sentence.
  struct ConfigFault {
    std::uint8_t check = 0;
    std::uint32_t value = 0;
    std::uint32_t limit = 0;
  };
  static constexpr std::uint8_t config_fine = 0, config_clamped = 1;  // checks that let the store work (report.cpp numbers the rest)
  ConfigFault config_fault() const noexcept;
  /// Why; the reasons are a table (src/log/report.cpp).
  enum class Refused : std::uint8_t {
    none, key_empty, key_long, value_long, type_size, index_full, capacity, room, batch_long, mounted,
    batch_record,  // mount met a transaction's records in a build without transactions
    config,    // config_report() tells
    tampered,  // mount of a sealed store: tamper_finding_ tells what
  };
  /// What mount found wrong with a sealed store's log (last_refusal()).
  enum class Finding : std::uint8_t {
    none, legacy, record_auth, hole, no_open, pin, missing, rollback, bad_open, too_many_failures,
    duplicate, ahead, end_slot,
  };
  Refusal tamper_report() const noexcept;
  void tampering(Finding what, std::uint32_t value, std::uint32_t limit) noexcept {
    seal_.finding = what;
    refuse(Refused::tampered, value, limit);
  }
  void refuse(Refused what, std::uint32_t value = 0, std::uint32_t limit = 0) noexcept {
    refused_ = what;
    refused_value_ = value;
    refused_limit_ = limit;
  }
  enum class Write : std::uint8_t { put, put_typed, erase };
  /// put, put_typed and erase (`value` empty): takes the lock.
  Task<Status> put_impl(Write op, std::span<const std::byte> key, ValueType type,
                        std::span<const std::byte> value) noexcept;
  /// A name a key can have; `refusing`: last_refusal() says why not.
  Status check_name(std::span<const std::byte> name, bool refusing) noexcept;
  /// Stored keys are hashes of whole names: nothing can be scanned.
  bool keys_unscannable() const noexcept { return hides_key_names() && !seal_.codec->keeps_key_prefix(); }
  std::uint32_t free_payload() const noexcept;
  /// The payload of the collection reserve (the largest free sector; 0: none).
  std::uint32_t reserve_payload() const noexcept;
  /// The reserve a write may open while collection waits (0: none).
  std::uint32_t takeable_reserve() const noexcept;
  /// Sectors of different sizes with an index: collection spreads a victim
  /// over as many free sectors as it needs, and writes keep the room for
  /// that (FORMAT.md §6.2). This and the rule's functions below are defined
  /// in builds with mixed_sectors only; their callers test
  /// mixed_sectors_built first.
  bool spreads_victims() const noexcept;
  /// The head's room and the payload of every free sector.
  std::uint64_t spread_room() const noexcept;
  /// What the sector ends a turn of the ring closes may waste, `written`
  /// (a record about to be written, 0: none) live besides the records
  /// `live` counts.
  std::uint64_t turn_end_waste(const LiveRecordSizes& live, std::uint32_t written) const noexcept;
  /// The write in flight, a put or an erase of one key: the record it
  /// makes live (0: none) and the one it replaces (0: none). Not known (a
  /// batch, a repair): the incoming record counts as live beside every
  /// live one (FORMAT.md §6.2).
  template <bool Built>
  struct WriteInFlight {
    bool known = false;
    std::uint32_t adds = 0;
    std::uint32_t removes = 0;
  };
  /// Without mixed_sectors nothing reads it: never known, and no bytes.
  template <>
  struct WriteInFlight<false> {
    static constexpr bool known = false;
    static constexpr std::uint32_t adds = 0, removes = 0;
    constexpr WriteInFlight() noexcept = default;
    constexpr WriteInFlight(bool, std::uint32_t, std::uint32_t) noexcept {}
  };
  [[no_unique_address]] WriteInFlight<mixed_sectors_built> in_flight_;
  /// Clears in_flight_ when the write ends.
  template <bool Built>
  struct InFlightGuard {
    Store& store;
    ~InFlightGuard() { store.in_flight_ = {}; }
  };
  template <>
  struct InFlightGuard<false> {
    explicit InFlightGuard(Store&) noexcept {}
  };
  InFlightGuard<mixed_sectors_built> write_in_flight(std::uint32_t adds, std::uint32_t removes) noexcept {
    in_flight_ = {true, adds, removes};
    return InFlightGuard<mixed_sectors_built>{*this};
  }
  /// What a turn of the ring may cost beyond the victims' live records:
  /// the waste at the sector ends it closes, two META records per sector,
  /// and a cut.
  std::uint32_t turn_margin(std::uint32_t incoming) const noexcept;
  /// After a write of `record_size` bytes, in the head or (`opening`) in
  /// the free sector opened next: the least room to spare when a victim's
  /// turn comes in a turn of the ring (negative: a victim would not fit).
  std::int64_t spread_margin(std::uint32_t record_size, bool opening) const noexcept;
  /// Whether such a write leaves collection room for a turn.
  bool spread_holds(std::uint32_t record_size, bool opening) const noexcept;
  Task<Status> ensure_spread_room(std::uint32_t record_size) noexcept;
  /// The free sector open_sector() takes next (none: none is free).
  std::uint32_t next_free_sector() const noexcept;
  std::uint32_t oldest_live() const noexcept;
  /// The most live bytes the store accepts while `incoming` (a record about
  /// to be written, 0: none) is the largest record in flight (FORMAT.md §6.2).
  std::uint32_t capacity(std::uint32_t incoming = 0) const noexcept;
  /// What a sector end may waste: the largest record collection or the next
  /// write may have to place (FORMAT.md §6.2).
  std::uint32_t sector_slack(std::uint32_t incoming) const noexcept;
  std::uint32_t lag_margin(std::uint32_t incoming) const noexcept;
  /// A record of `size` bytes became live / stopped being live.
  void note_live(std::uint32_t size) noexcept {
    live_total_ += size;
    live_sizes_.add(size);
  }
  void note_dead(std::uint32_t size) noexcept {
    live_total_ -= size;
    live_sizes_.remove(size);
  }
  /// Mount: replay keeps the live bytes as it applies records (the key of
  /// an update is the one it supersedes, so its size is known) unless the
  /// entries must be read anyway (the key order, sealed stores' tamper states).
  bool replay_counts_live() const noexcept { return !sealed() && !index_.has_order(); }
  void count_live(const Entry& e, bool live) noexcept;
  std::uint32_t free_sector_count() const noexcept;
  // Without index-less mode in the build, a store is always indexed (an
  // empty index is refused by config_fault()), and the index-less paths fold away.
  bool indexed() const noexcept { return !index_less_built || index_.has_storage(); }

  /// The key as stored on flash (the name, or its keyed hash when sealed).
  KeyBuf stored_key(std::span<const std::byte> name) noexcept;
  /// Associated data binding a sealed record to store, position, header and key.
  std::size_t build_ad(std::span<std::byte> out, std::uint32_t sequence, std::uint32_t offset, std::uint32_t w,
                       std::span<const std::byte> key) const noexcept;
  Task<Result<std::size_t>> open_value(const Entry& e, std::span<const std::byte> key) noexcept;
  /// Wipes what plaintext may have reached the scratch buffer's value areas
  /// (scratch_touched) when the coroutine that holds it returns.
  struct ScratchWipe {
    Store& store;
    ~ScratchWipe() { store.wipe_scratch(); }
  };
  /// Plaintext of up to n bytes may now be in scratch A or B.
  void scratch_touched(std::size_t n) noexcept { seal_.scratch_used = std::max<std::size_t>(seal_.scratch_used, n); }
  void wipe_scratch() noexcept {
    if (!sealed() || seal_.scratch_used == 0 || seal_.scratch.size() <= 2 * crypto_block_size) return;
    seal_.codec->scrub(scratch_a().first(std::min<std::size_t>(seal_.scratch_used, scratch_a().size())));
    seal_.codec->scrub(scratch_b().first(std::min<std::size_t>(seal_.scratch_used, scratch_b().size())));
    seal_.scratch_used = 0;
  }
  // Scratch layout (sealed stores): [crypto block][previous block][A][B].
  std::span<std::byte> crypto_block() noexcept { return seal_.scratch.first(crypto_block_size); }
  std::span<std::byte> previous_block() noexcept { return seal_.scratch.subspan(crypto_block_size, crypto_block_size); }
  std::span<std::byte> scratch_values() noexcept { return seal_.scratch.subspan(2 * crypto_block_size); }
  std::span<std::byte> scratch_a() noexcept { return scratch_values().first(scratch_values().size() / 2); }
  std::span<std::byte> scratch_b() noexcept { return scratch_values().subspan(scratch_values().size() / 2); }

  Flash flash_;
  const Geometry& geometry_;         // the Flash view's own: one copy per store
  /// What a sealed store keeps beside its log (FORMAT.md §3.6).
  struct SealedState {
    explicit SealedState(const StoreConfig& config) noexcept
        : codec(config.codec),
          previous_codec(config.codec ? config.previous_codec : nullptr),
          scratch(config.scratch),
          counter(config.codec ? config.counter : nullptr) {}
    ValueCodec* codec = nullptr;
    ValueCodec* previous_codec = nullptr;
    std::span<std::byte> scratch;
    RollbackCounter* counter = nullptr;
    std::size_t scratch_used = 0;        // bytes of scratch A and B that may hold plaintext
    std::uint32_t scratch_clobbers = 0;  // collections that overwrote scratch A
    std::uint32_t open_size = 0;         // the OPEN record every sealed sector starts with
    std::uint32_t end_slot = 0;          // a sealed sector's last bytes: room for one RETIRE (FORMAT.md §3.6)
    std::uint32_t last_open_sequence = 0;  // mount: newest replayed sector that holds an OPEN record
    std::uint32_t last_open_sector = none;
    std::uint32_t last_open_end = 0;       // offset past the last acknowledged record of that sector
    std::uint32_t tamper_pending = 0;      // entries in Tamper::pending (a TAMPERED record to write)
    Finding finding = Finding::none;
    bool have_previous_block = false;
    bool end_slot_open = false;   // retire_in_end_slot: append may write into the end slot
    bool authenticating = false;  // mount: open every sealed record, not only the small ones
    bool auth_failed = false;     // read_record: the last record passed its crc, failed its tag
  };
  /// A build without sealed stores keeps none of that: the same names, each
  /// an Absent field (reads give the value a store without a codec has,
  /// writes are dropped), so the code behind sealed() compiles unchanged and
  /// folds away, and the Store spends no byte on it.
  struct NoSealedState {
    explicit NoSealedState(const StoreConfig&) noexcept {}
    static constexpr Absent<ValueCodec*, nullptr> codec{};
    static constexpr Absent<ValueCodec*, nullptr> previous_codec{};
    static constexpr std::span<std::byte> scratch{};
    static constexpr Absent<RollbackCounter*, nullptr> counter{};
    static constexpr Absent<std::size_t, 0> scratch_used{};
    static constexpr Absent<std::uint32_t, 0> scratch_clobbers{};
    static constexpr Absent<std::uint32_t, 0> open_size{};
    static constexpr Absent<std::uint32_t, 0> end_slot{};
    static constexpr Absent<std::uint32_t, 0> last_open_sequence{};
    static constexpr Absent<std::uint32_t, 0xFFFFFFFFu> last_open_sector{};  // none
    static constexpr Absent<std::uint32_t, 0> last_open_end{};
    static constexpr Absent<std::uint32_t, 0> tamper_pending{};
    static constexpr Absent<Finding, Finding::none> finding{};
    static constexpr Absent<bool, false> have_previous_block{};
    static constexpr Absent<bool, false> end_slot_open{};
    static constexpr Absent<bool, false> authenticating{};
    static constexpr Absent<bool, false> auth_failed{};
  };
  [[no_unique_address]] std::conditional_t<sealed_stores_built, SealedState, NoSealedState> seal_;
  ValueCodec* codec_for(std::uint32_t sector) const noexcept {
    return sectors_[sector].old_key && seal_.previous_codec ? seal_.previous_codec : seal_.codec;
  }
  Status new_crypto_block() noexcept;
  RamIndex index_;
  std::span<SectorInfo> sectors_;
  AsyncMutex mutex_;
  bool compact_;
  BuildFlag<verify_writes_built> verify_;
  bool config_ok_ = true;
  bool mounted_ = false;
  bool head_sealed_ = false;
  bool head_end_whole_ = false;  // this session programmed the head's last record, whole (FORMAT.md §2 bit 3)
  // The last write made (or makes, while under way) two live keys share a
  // hash: a sector opened meanwhile must not say hashes are unique
  // (FORMAT.md §2 bit 4). Left set after the write: the index says as much.
  bool sharing_hash_ = false;
  std::uint32_t skip_from_ = 0xFFFFFFFFu;  // where mount found the head's torn bytes begin (SKIP's `from`)
  std::uint32_t blank_to_ = 0;  // the head reads erased from its write offset up to here (checked)
  Refused refused_ = Refused::none;  // last_refusal(): what, value, limit (strings from a table)
  std::uint32_t refused_value_ = 0;
  std::uint32_t refused_limit_ = 0;
  std::uint32_t asked_value_size_ = 0;  // StoreConfig::max_value_size, for config_report()
  std::uint32_t unit_ = 1;
  std::uint32_t header_size_ = 40;   // header + retire marker: records start here
  std::uint32_t marker_offset_ = 32;
  std::uint32_t value_limit_ = 0;
  std::uint32_t slack_ = 0;          // largest record: what a sector end may waste
  std::uint32_t store_id_ = 0;
  std::uint32_t geometry_crc_ = 0;
  std::uint32_t tail_ = 0;           // lowest live sequence
  std::uint32_t head_ = 0;           // head sector index
  std::uint32_t head_offset_ = 0;    // next write offset inside the head
  std::uint32_t next_sequence_ = 1;
  std::uint32_t live_total_ = 0;
  LiveRecordSizes live_sizes_;       // bounds the largest live record: capacity()
  std::uint32_t gc_victim_ = none;   // sector being collected, or none
  std::uint32_t last_crc_ = 0;       // stored crc of the last record appended
  std::uint32_t gc_cursor_ = 0;      // index-less GC: next offset in the victim
  std::uint32_t gc_position_ = 0;    // indexed GC: index position the last step stopped at...
  std::uint32_t gc_position_epoch_ = 0;  // ...valid while the index's epoch is this
  MaintenancePace pace_;
  // Where the records of the sector just below the tail ended, when this
  // session retired it (0: unknown): a change cursor that had read that far
  // lost nothing to the collection.
  std::uint32_t retired_end_ = 0;
  MountState* mount_ = nullptr;
  bool codec_wanted_ = false;          // StoreConfig::codec given (refused in a build without sealed stores)
  bool counter_wanted_ = false;        // StoreConfig::counter given (refused without a codec)
  /// The log's position for the rollback counter: the newest OPEN sector's
  /// sequence and the end of its last acknowledged record.
  std::uint64_t log_position() const noexcept {
    return (std::uint64_t{seal_.last_open_sequence} << 32) | seal_.last_open_end;
  }
  struct Counters {  // what stats() reports that is counted rather than derived
    std::uint32_t corrupt_records = 0;
    std::uint32_t torn_tails = 0;
    std::uint32_t damaged_sectors = 0;
    std::uint32_t gc_runs = 0;
    std::uint32_t records_copied = 0;
    std::uint32_t records_written = 0;
    std::uint32_t writes_skipped = 0;
    std::uint32_t sectors_erased = 0;
  } counters_{};
  static_assert(64 % Geometry::max_program_unit == 0);
  std::array<std::byte, 64> buffer_{};  // composes records in whole program units

  static constexpr std::uint32_t none = 0xFFFFFFFFu;
};

#if FERRITE_WITH_TRANSACTIONS
/// Builds the byte logs commit_batch reads (an in-RAM encoding, never on
/// flash). Writes: [op u8 (0 put, 1 erase, 0xFF superseded)][key_len u8]
/// [value_len u16][key][value]. Reads: [key_len u8][0 u8][0 u16]
/// [version u32][key]. Storage is a caller span or, when empty, a vector.
class BatchLog {
 public:
  explicit BatchLog(std::span<std::byte> storage = {}) noexcept : fixed_(storage) {}
  /// Appends an entry. Errors: no_memory (fixed storage full), too_large.
  Status add_write(bool erase, std::span<const std::byte> key, std::span<const std::byte> value) noexcept;
  Status add_read(std::span<const std::byte> key, std::uint32_t version) noexcept;
  /// Marks the writes of `key` that start before byte `before` of the log
  /// superseded; returns how many. (Append first, then supersede what came
  /// before it: a refused append leaves the log as it was.)
  std::size_t supersede(std::span<const std::byte> key, std::size_t before) noexcept;
  std::span<const std::byte> bytes() const noexcept {
    return fixed_.empty() ? std::span<const std::byte>(owned_) : std::span<const std::byte>(fixed_.first(size_));
  }
  void clear() noexcept {
    size_ = 0;
    owned_.clear();
  }

  struct Entry {
    std::uint8_t op = 0;
    std::span<const std::byte> key;
    std::span<const std::byte> value;
    std::uint32_t version = 0;
    std::size_t offset = 0;
  };
  /// Walks a write log (reads = false) or a read log. Returns false at the
  /// end or on a malformed entry (`malformed` set).
  static bool next(std::span<const std::byte> log, bool reads, std::size_t& cursor, Entry& out,
                   bool& malformed) noexcept;

 private:
  Status append(std::span<const std::byte> a, std::span<const std::byte> b, std::span<const std::byte> c) noexcept;
  std::span<std::byte> fixed_;
  std::size_t size_ = 0;
  std::vector<std::byte> owned_;
};
#endif  // FERRITE_WITH_TRANSACTIONS

}  // namespace ferrite
