// ferrite.log:api — the types Store's interface speaks: its configuration
// and memory, statistics, refusals, maintenance budgets and reports, typed
// values, and the cursors over keys and changes. Exported by ferrite.log.
module;
#include "ferrite_std.hpp"

export module ferrite.log:api;
import ferrite.flash;
import :build;
import :index;
import :space;

namespace ferrite {
class StoreEngine;  // the engine behind Store (ferrite.log:engine): the cursors' friend too
}

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
  /// Sector summaries (docs/FORMAT.md §5.2): once the head moves on,
  /// maintain() writes a list of the previous sector's records into the new
  /// head (6 bytes per full record, 1 per compact one, in SUMMARY records
  /// of up to 48 bytes; records already superseded are left out), so a mount
  /// replays that sector reading header words and keys, not values. Mount
  /// time then follows the number of records rather than their bytes. The
  /// price is those bytes: on small records (bench/README.md, workload L)
  /// they add about a quarter to what is programmed. A value that decays
  /// afterwards is found when it is read (get answers corrupt) instead of
  /// at mount. Plain indexed stores (no codec); needs the meson option
  /// summaries. Mount uses summaries whatever this says.
  bool sector_summaries = false;
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
#if FERRITE_WITH_SUMMARIES
  /// Records the last mount replayed from sector summaries, reading no
  /// value (StoreConfig::sector_summaries, docs/FORMAT.md §5.2).
  std::uint32_t summarized_records = 0;
#endif
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
#if FERRITE_WITH_SUMMARIES
  /// SUMMARY records written (StoreConfig::sector_summaries).
  std::uint32_t summary_records = 0;
#endif
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
  friend class StoreEngine;
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
  friend class StoreEngine;
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

}  // namespace ferrite

// The engine's own, not exported.
namespace ferrite {

/// Why; the reasons are a table (src/log/report.cpp).
enum class Refused : std::uint8_t {
  none, key_empty, key_long, value_long, type_size, index_full, capacity, room, batch_long, mounted,
  batch_record,  // mount met a transaction's records in a build without transactions
  config,    // config_report() tells
  tampered,  // mount of a sealed store: SealedState::finding tells what
};
/// The last refusal, before Store::last_refusal() words it.
struct RefusalNote {
  Refused what = Refused::none;
  std::uint32_t value = 0;
  std::uint32_t limit = 0;
};

}  // namespace ferrite
