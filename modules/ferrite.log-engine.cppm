// ferrite.log:engine — the engine behind Store: its state (the flash view,
// the RAM index, the sector table, the head and the tail, the space and
// pace bookkeeping, a sealed store's state) and the operations the API is
// built from (mount replay, records, space and collection, the index on
// flash). Store inherits it privately, so its members are public here yet
// reachable only by Store, Store's friends (the cursors, ferrite.txn's
// hooks) and the engine's implementation units. Nothing here is exported.
module;
#include "ferrite_std.hpp"

export module ferrite.log:engine;
import ferrite.flash;
import :build;
import :index;
import :space;
import :format;
import :replay;
import :api;
import :sealed;

namespace ferrite {

/// Sector summaries (docs/FORMAT.md §5.2): the sector the next maintain()
/// summarizes into the head (none: no summary is due).
struct SummaryDue {
  std::uint32_t sector = 0xFFFFFFFFu;
  /// Bytes the last list took: the pace counts them with the next call's
  /// writes, so collection keeps up with the room lists take too.
  std::uint32_t written = 0;
  /// While a list is written: the binding read_record reads a compact
  /// record against (nullptr: the index's).
  const IndexedKey* binding = nullptr;
};
/// A build without summaries keeps nothing.
struct NoSummaryDue {
  static constexpr Absent<std::uint32_t, 0xFFFFFFFFu> sector{};
  static constexpr Absent<std::uint32_t, 0> written{};
  static constexpr Absent<const IndexedKey*, nullptr> binding{};
};

class StoreEngine {
 public:
  StoreEngine(Flash flash, StoreConfig config) noexcept;
  StoreEngine(const StoreEngine&) = delete;
  StoreEngine& operator=(const StoreEngine&) = delete;

  // What Store's interface re-exports (documented there).
  static std::size_t scratch_needed(std::uint32_t max_value_size, std::uint32_t codec_overhead) noexcept {
    return 2 * crypto_block_size + 2 * (std::size_t{max_value_size} + codec_overhead + 64);
  }
  bool sealed() const noexcept { return sealed_stores_built && seal_.codec != nullptr; }
  bool hides_key_names() const noexcept { return sealed() && seal_.codec->hides_keys(); }
  std::uint32_t value_limit() const noexcept { return value_limit_; }
  std::span<const SectorInfo> sectors() const noexcept { return sectors_; }
  const Geometry& geometry() const noexcept { return geometry_; }
  bool mounted() const noexcept { return mounted_; }

#if FERRITE_WITH_TRANSACTIONS
  /// The version of an absent key (Store::read_versioned, Store::version_of).
  static constexpr std::uint32_t no_version = 0xFFFFFFFFu;
#endif
  using Entry = IndexedKey;  // an index entry spelled out (ferrite.log:index)
  struct KeyBuf {
    std::array<std::byte, max_key_size> bytes{};
    std::uint8_t size = 0;
    std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
    /// stored_key()'s plain key: a copy of `name` (`size`: max_key_size + 1
    /// for a longer name, which is not copied).
    static KeyBuf of_name(std::span<const std::byte> name, std::uint8_t size) noexcept {
      KeyBuf k;
      k.size = size;
      if (name.size() <= max_key_size && !name.empty()) std::memcpy(k.bytes.data(), name.data(), name.size());
      return k;
    }
    /// The key as `codec` stores `name` (its keyed hash when it hides names).
    void seal(std::span<const std::byte> name, ValueCodec* codec) noexcept {
      size = static_cast<std::uint8_t>(codec->stored_key(name, bytes));
    }
  };
  /// A plain store's key as stored is its name: without sealed stores in
  /// the build, stored_key() keeps a view of the caller's name (alive for
  /// the call) instead of a copy in every caller's frame.
  struct NameKey {
    std::span<const std::byte> name;
    std::uint8_t size = 0;  // as KeyBuf's: max_key_size + 1 for a longer name
    std::span<const std::byte> view() const noexcept { return name.first(size); }
    static NameKey of_name(std::span<const std::byte> name, std::uint8_t size) noexcept { return {name, size}; }
    void seal(std::span<const std::byte>, ValueCodec*) noexcept {}  // no sealed store in this build
  };
  using StoredKey = std::conditional_t<sealed_stores_built, KeyBuf, NameKey>;

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
                                      Located& out, DecayedName names) noexcept;
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
  /// The index entry a full record that writes a key makes: its latest
  /// record and its binding.
  static Entry entry_of(const LogRecord& rec) noexcept {
    Entry e;
    e.hash = rec.key_hash;
    e.location = rec.address;
    e.binding = rec.address;
    e.value_size = static_cast<std::uint16_t>(rec.value_size);
    e.key_size = rec.key_size;
    e.slot = rec.slot;
    e.typed = rec.kind == logfmt::typed_put;
    return e;
  }
  /// A compact record is read against the binding summary_.binding names
  /// when set (a summary's walk, FORMAT.md §5.2), else the index's.
  Task<Status> read_record(std::uint32_t sector, std::uint32_t offset, std::uint32_t limit, LogRecord& out) noexcept;
  /// Fills kind, slot, key and value sizes and size from a full record's
  /// header word; false for a word the writer never produces (FORMAT.md §3.1).
  /// (Inlined: read_record is where the builds without summaries use it.)
  [[gnu::always_inline]] bool take_full_word(std::uint32_t w, LogRecord& rec) const noexcept {
    // Only header words the writer produces (FORMAT.md §3.1, what a reader rejects).
    rec.kind = logfmt::kind_of(w);
    rec.slot = logfmt::slot_of(w);
    rec.value_size = logfmt::value_size_of(w);
    std::uint32_t key_size = 0;
    switch (rec.kind) {
      case logfmt::put:
      case logfmt::typed_put:
      case logfmt::erase:
      case logfmt::txn_put:
      case logfmt::txn_erase:
        key_size = logfmt::key_field_of(w) + 1u;
        rec.key_size = static_cast<std::uint8_t>(key_size);
        if ((rec.kind == logfmt::erase || rec.kind == logfmt::txn_erase) &&
            (rec.value_size != (sealed() ? seal_.codec->sealed_size(0) : 0) || rec.slot != 0))
          return false;
        if ((rec.kind == logfmt::txn_put || sealed()) && rec.slot != 0) return false;
        break;
      case logfmt::tampered:
        // Sealed stores only: a key whose latest record failed authentication.
        key_size = logfmt::key_field_of(w) + 1u;
        rec.key_size = static_cast<std::uint8_t>(key_size);
        if (!sealed() || rec.slot != 0 || rec.value_size != seal_.codec->sealed_size(logfmt::tampered_bytes))
          return false;
        break;
      case logfmt::meta:
      case logfmt::txn_commit:
        rec.key_size = logfmt::key_field_of(w);
        if (rec.value_size > rec.meta.size() || rec.slot != 0) return false;
        if (rec.kind == logfmt::txn_commit &&
            (rec.key_size != 0 || rec.value_size != (sealed() ? seal_.codec->sealed_size(8) : 8)))
          return false;
        break;
      default:
        return false;
    }
    rec.size = full_size(key_size, rec.value_size);
    return true;
  }
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
  // sector summaries (src/log/summary.cpp, FORMAT.md §5.2)
  /// The records of a sector's summary must start this close to its successor's first record.
  static constexpr std::uint32_t summary_window = 512;
  /// maintain(): summarizes the sector before the head into the head, when one is due.
  Task<Status> write_summary(MaintenanceReport& report) noexcept;
  /// Mount: replays the prefix of `sector` that its summary names, if its
  /// successor holds one; `offset` and `last_at` move past what it applied.
  Task<Status> replay_summary(std::uint32_t sector, std::uint32_t& offset, std::uint32_t& last_at) noexcept;
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
  /// Retires the victim, which holds nothing live any more: a RETIRE record
  /// at the head, then the marker in the victim's header.
  Task<Status> retire_victim() noexcept;
  Task<Status> copy_entry(std::size_t entry) noexcept;
  Task<Status> copy_sealed_entry(std::size_t entry, const Entry& e) noexcept;
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
  /// is read with its checksum (Entry::binding_named). `names`: what a
  /// candidate of this hash whose name no longer hashes to it means.
  Task<Status> locate(std::span<const std::byte> key, std::uint32_t hash, Located& out, bool checksum = false,
                      DecayedName names = DecayedName::report) noexcept;
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
  Refusal tamper_report() const noexcept;
  void tampering(TamperFinding what, std::uint32_t value, std::uint32_t limit) noexcept {
    seal_.finding = what;
    refuse(Refused::tampered, value, limit);
  }
  void refuse(Refused what, std::uint32_t value = 0, std::uint32_t limit = 0) noexcept {
    refused_ = {what, value, limit};
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
  [[no_unique_address]] WriteInFlight<mixed_sectors_built> in_flight_;  // ferrite.log:space
  InFlightGuard<mixed_sectors_built> write_in_flight(std::uint32_t adds, std::uint32_t removes) noexcept {
    in_flight_ = {true, adds, removes};
    return InFlightGuard<mixed_sectors_built>{in_flight_};
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
  void note_live(std::uint32_t size) noexcept { live_.add(size); }
  void note_dead(std::uint32_t size) noexcept { live_.remove(size); }
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
  StoredKey stored_key(std::span<const std::byte> name) noexcept;
  /// Associated data binding a sealed record to store, position, header and key.
  std::size_t build_ad(std::span<std::byte> out, std::uint32_t sequence, std::uint32_t offset, std::uint32_t w,
                       std::span<const std::byte> key) const noexcept;
  Task<Result<std::size_t>> open_value(const Entry& e, std::span<const std::byte> key) noexcept;
  /// Wipes what plaintext may have reached the scratch buffer's value areas
  /// (scratch_touched) when the coroutine that holds it returns.
  struct ScratchWipe {
    StoreEngine& store;
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
  [[no_unique_address]] SealState seal_;  // ferrite.log:sealed
  ValueCodec* codec_for(std::uint32_t sector) const noexcept {
    return sectors_[sector].old_key && seal_.previous_codec ? seal_.previous_codec : seal_.codec;
  }
  Status new_crypto_block() noexcept;
  RamIndex index_;
  std::span<SectorInfo> sectors_;
  AsyncMutex mutex_;
  bool compact_;
  BuildFlag<verify_writes_built> verify_;
  BuildFlag<summaries_built> summaries_;
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
  RefusalNote refused_;  // last_refusal() (ferrite.log:api)
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
  LiveBytes live_;                   // ferrite.log:space
  std::uint32_t last_crc_ = 0;       // stored crc of the last record appended
  Collection gc_;                    // ferrite.log:space
  MaintenancePace pace_;
  [[no_unique_address]] std::conditional_t<summaries_built, SummaryDue, NoSummaryDue> summary_;
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
    [[no_unique_address]] std::conditional_t<summaries_built, std::uint32_t, Absent<std::uint32_t, 0>> summarized_records{};
  } counters_{};
  static_assert(64 % Geometry::max_program_unit == 0);
  std::array<std::byte, 64> buffer_{};  // composes records in whole program units

  static constexpr std::uint32_t none = 0xFFFFFFFFu;
};

}  // namespace ferrite
