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
export import :api;
import :format;
import :replay;
import :engine;

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

/// The key/value store. Not copyable; the Flash and the caller's memory must
/// outlive it.
class Store : private StoreEngine {
 public:
  Store(Flash flash, StoreConfig config) noexcept : StoreEngine(flash, config) {}
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
  using StoreEngine::mounted;
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
  using StoreEngine::sealed;
  /// Whether the keys as stored hide (some of) the names: a sealed store
  /// with hidden key names. Scans, ranges and the change stream then deal in
  /// keys as stored (docs/FORMAT.md §3.7) when the codec keeps a plain
  /// prefix, and answer unsupported when it hashes whole names.
  using StoreEngine::hides_key_names;
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
  using StoreEngine::value_limit;
  /// Bytes of StoreConfig::scratch a sealed store needs for `max_value_size`.
  /// (The store's crypto blocks, current and previous, live there too.)
  using StoreEngine::scratch_needed;
  using StoreEngine::sectors;
  using StoreEngine::geometry;
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
#endif  // FERRITE_WITH_TRANSACTIONS
  friend class ChangeCursor;
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
