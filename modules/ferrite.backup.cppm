// ferrite.backup — backups of a store (or a docstore) as a byte stream, and
// their verification and crash-safe restore (docs/BACKUP.md; the stream's
// bytes: docs/FORMAT.md §10).
//
// A backup is written to a ByteSink and read from a ByteSource: a buffer in
// RAM, a host file, or a second flash partition. Full backups walk the store
// in key order, incrementals follow the change stream (Store::changes_since)
// and carry deletes. Sealed stores give sealed backups
// (crypto_secretstream_xchacha20poly1305 under the Sealer's backup subkey);
// plain ones carry a crc32c per chunk and a BLAKE2b of the whole stream.
// Everything here needs libsodium: the module exists only in builds with
// ferrite.crypto.
//
// Every call is a coroutine (co_await it; arguments must outlive the call).
module;
#include "ferrite_std.hpp"

export module ferrite.backup;
export import ferrite.docstore;
export import ferrite.crypto;

export namespace ferrite {

// ---------------------------------------------------------------------------
// Where the bytes go and come from.

/// Takes a backup stream in order. write() either takes every byte or fails.
class ByteSink {
 public:
  virtual Task<Status> write(std::span<const std::byte> data) noexcept = 0;
  /// After the last write: makes the stream durable (a flash partition
  /// programs its last partial unit).
  virtual Task<Status> finish() noexcept = 0;

 protected:
  ~ByteSink() = default;
};

/// Gives a backup stream back in order. read() fills up to out.size() bytes
/// and returns how many (0: the end). Restore reads a source twice (verify,
/// then apply), so a source can start over.
class ByteSource {
 public:
  virtual Task<Result<std::size_t>> read(std::span<std::byte> out) noexcept = 0;
  virtual Task<Status> rewind() noexcept = 0;

 protected:
  ~ByteSource() = default;
};

/// A sink that appends to a vector it owns.
class MemorySink final : public ByteSink {
 public:
  Task<Status> write(std::span<const std::byte> data) noexcept override;
  Task<Status> finish() noexcept override { co_return Status{}; }
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  std::vector<std::byte>& buffer() noexcept { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

/// A source over bytes the caller keeps alive.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  Task<Result<std::size_t>> read(std::span<std::byte> out) noexcept override;
  Task<Status> rewind() noexcept override {
    at_ = 0;
    co_return Status{};
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
};

/// A host file (C stdio, blocking). open() creates or truncates it.
class FileSink final : public ByteSink {
 public:
  FileSink() noexcept = default;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  ~FileSink();
  /// Errors: io (the file cannot be created).
  Status open(const char* path) noexcept;
  Task<Status> write(std::span<const std::byte> data) noexcept override;
  /// Flushes and closes the file. Errors: io.
  Task<Status> finish() noexcept override;

 private:
  std::FILE* file_ = nullptr;
};

class FileSource final : public ByteSource {
 public:
  FileSource() noexcept = default;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource();
  /// Errors: not_found (no such file), io.
  Status open(const char* path) noexcept;
  Task<Result<std::size_t>> read(std::span<std::byte> out) noexcept override;
  Task<Status> rewind() noexcept override;

 private:
  std::FILE* file_ = nullptr;
};

/// A flash region of its own (Flash::partition) written from its first
/// byte, in program units, with each sector erased when the stream first
/// reaches it (so an older backup there is overwritten as the new one
/// grows). The stream is self-delimiting (its trailer), so nothing records
/// its length. Errors: too_large (the region is full), flash errors.
class FlashSink final : public ByteSink {
 public:
  explicit FlashSink(Flash region) noexcept : flash_(region) {}
  Task<Status> write(std::span<const std::byte> data) noexcept override;
  Task<Status> finish() noexcept override;
  std::uint32_t bytes_written() const noexcept { return at_ + pending_; }

 private:
  Task<Status> program_pending() noexcept;

  Flash flash_;
  std::uint32_t at_ = 0;        // bytes programmed
  std::uint32_t erased_to_ = 0; // sectors [0, erased_to_) were erased by this sink
  std::array<std::byte, 256> unit_{};  // bytes waiting for a whole program unit
  std::uint32_t pending_ = 0;
};

/// Reads a flash region from its first byte.
class FlashSource final : public ByteSource {
 public:
  explicit FlashSource(Flash region) noexcept : flash_(region) {}
  Task<Result<std::size_t>> read(std::span<std::byte> out) noexcept override;
  Task<Status> rewind() noexcept override {
    at_ = 0;
    co_return Status{};
  }

 private:
  Flash flash_;
  std::uint32_t at_ = 0;
};

// ---------------------------------------------------------------------------
// The stream.

/// Room for libsodium's crypto_generichash_state (384 bytes, 64-aligned).
inline constexpr std::size_t hash_space = 384 + 64;

enum class BackupKind : std::uint8_t { full = 1, incremental = 2, documents_since = 3 };

/// Why a backup (or a chain) is refused, finer than the Errc it comes with.
enum class BackupFault : std::uint8_t {
  none = 0,
  foreign,       ///< not a ferrite backup (foreign_format)
  version,       ///< a backup version this build does not read (unsupported)
  corrupt,       ///< a checksum, an authentication or a count fails (corrupt)
  truncated,     ///< the stream stops before its trailer (corrupt)
  reordered,     ///< a chunk is out of its place (corrupt)
  wrong_key,     ///< the key does not open this sealed backup (wrong_key)
  key_needed,    ///< a sealed backup and no Sealer given (wrong_key)
  too_large,     ///< an entry the reader or the target cannot hold (too_large)
  chain_start,   ///< a chain that does not start with a full backup (invalid_argument)
  other_store,   ///< a backup of the chain comes from another store (invalid_argument)
  chain_gap,     ///< an incremental starts after the previous one ended (history_lost)
  other_restore, ///< the target holds another chain's unfinished restore (conflict)
  target,        ///< the target store failed (the Errc says how)
  source,        ///< the sink or source failed (the Errc says how)
};
const char* name_of(BackupFault fault) noexcept;

/// A backup's header (docs/FORMAT.md §10.1).
struct BackupHeader {
  static constexpr std::size_t size = 152;
  BackupKind kind = BackupKind::full;
  bool sealed = false;
  bool docstore = false;
  std::uint32_t store_id = 0;
  std::uint64_t lsn_from = 0;
  std::uint64_t lsn_to = 0;
  std::int64_t created = 0;
  std::int64_t since = 0;
  std::array<std::byte, crypto_block_size> crypto_block{};  ///< sealed: the source store's (§2.2)
  std::array<std::byte, size> raw{};                        ///< the bytes as written or read
};

/// What a finished (or fully read) backup holds.
struct BackupSummary {
  BackupHeader header{};
  std::uint64_t entries = 0;
  std::uint64_t entry_bytes = 0;
  std::uint64_t stream_bytes = 0;
  std::uint32_t chunks = 0;
};

/// The verdict of verify() and restore(): ok, or an Errc with the fault and
/// the backup of the chain (0-based) it was found in.
struct Verdict {
  Errc error = Errc::ok;
  BackupFault fault = BackupFault::none;
  std::uint32_t backup = 0;
  std::uint64_t entries = 0;  ///< entries read (verify) or applied (restore)
  explicit operator bool() const noexcept { return error == Errc::ok; }
};

/// Which keys a backup copies. `keep` false leaves a key out; `rewrite` may
/// change a value in place (same size) before it is written.
struct BackupFilter {
  bool (*keep)(void* context, std::span<const std::byte> key) noexcept = nullptr;
  void (*rewrite)(void* context, std::span<const std::byte> key, std::span<std::byte> value) noexcept = nullptr;
  void* context = nullptr;
  bool docstore = false;  ///< written in the header's flags
};

/// The docstore's filter: leaves out index entries and writes index
/// definitions in state building, so a restored docstore rebuilds every
/// index at open() (docs/FORMAT.md §10.5).
BackupFilter docstore_filter() noexcept;

struct BackupOptions {
  /// The caller's clock, recorded in the header (ferrite does not read it).
  std::int64_t created = 0;
  /// Sealed stores: the store's Sealer (its backup subkey seals the stream).
  /// Null for a plain store; a sealed store without it is refused
  /// (wrong_key), and so is a Sealer that hides key names (unsupported:
  /// the names a backup needs are not on flash).
  const Sealer* sealer = nullptr;
  BackupFilter filter{};
  /// Keys per step() of a full backup, changes per step() of an incremental.
  std::uint32_t entries_per_step = 16;
};

/// Writes the framing of one stream: header, chunks, trailer.
class StreamWriter {
 public:
  StreamWriter(ByteSink& sink, BackupHeader header, const Sealer* sealer) noexcept;
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;
  ~StreamWriter();
  /// Writes the header. Errors: wrong_key (a sealed header, no keys), sink errors.
  Task<Status> start() noexcept;
  Task<Status> put(ValueType type, std::span<const std::byte> key, std::span<const std::byte> value) noexcept;
  Task<Status> erase(std::span<const std::byte> key) noexcept;
  /// Writes the last chunk and the trailer, then finishes the sink.
  Task<Result<BackupSummary>> finish() noexcept;
  const BackupHeader& header() const noexcept { return summary_.header; }

  static constexpr std::size_t max_payload = 4096;

 private:
  Task<Status> append(std::span<const std::byte> bytes) noexcept;
  Task<Status> emit(std::uint8_t type, std::span<const std::byte> payload) noexcept;
  Task<Status> out(std::span<const std::byte> bytes) noexcept;

  ByteSink& sink_;
  const Sealer* sealer_;
  BackupSummary summary_{};
  std::vector<std::byte> payload_;  // the data chunk being filled
  std::vector<std::byte> frame_;
  // crypto_generichash_state (plain), 64-byte aligned by hand inside: the
  // object may live in a coroutine frame, which promises less alignment.
  std::array<std::byte, hash_space> hash_{};
  std::array<std::byte, 64> stream_{};  // crypto_secretstream state (sealed)
  std::array<std::byte, 32> key_{};
  std::uint32_t seq_ = 0;
  bool started_ = false;
  bool failed_ = false;
};

/// Reads one stream back entry by entry, checking everything (the entries
/// of a stream that turns out to be bad are not to be applied: restore
/// verifies a whole chain before it applies any).
class BackupReader {
 public:
  /// `sealer` opens sealed backups: a Sealer of its own (not the one a
  /// mounted store uses: reading loads the backup's crypto block into it),
  /// with the SealOptions and key of the store backed up. `max_value`
  /// bounds the entries it accepts (too_large beyond).
  explicit BackupReader(ByteSource& source, Sealer* sealer = nullptr, std::uint32_t max_value = 64 * 1024) noexcept;
  BackupReader(const BackupReader&) = delete;
  BackupReader& operator=(const BackupReader&) = delete;
  ~BackupReader();

  /// Reads and checks the header (and the key). Errors: see BackupFault.
  Task<Status> open() noexcept;
  /// The next entry; false once the trailer is read and checked.
  Task<Result<bool>> next() noexcept;
  bool erased() const noexcept { return erased_; }
  ValueType type() const noexcept { return type_; }
  std::span<const std::byte> key() const noexcept { return {key_.data(), key_size_}; }
  std::span<const std::byte> value() const noexcept { return {value_.data(), value_size_}; }

  const BackupHeader& header() const noexcept { return summary_.header; }
  const BackupSummary& summary() const noexcept { return summary_; }
  BackupFault fault() const noexcept { return fault_; }

 private:
  Status refuse(BackupFault fault, Errc error) noexcept;
  Task<Status> fill(std::span<std::byte> out) noexcept;  // exactly out.size() bytes, or truncated
  Task<Status> next_chunk() noexcept;
  Task<Status> take(std::span<std::byte> out) noexcept;  // entry bytes across chunks

  ByteSource& source_;
  Sealer* sealer_;
  std::uint32_t max_value_;
  BackupSummary summary_{};
  BackupFault fault_ = BackupFault::none;
  std::vector<std::byte> chunk_;
  std::vector<std::byte> value_;
  std::size_t chunk_at_ = 0, chunk_size_ = 0;
  std::array<std::byte, hash_space> hash_{};  // as StreamWriter's
  std::array<std::byte, 64> stream_{};
  std::uint32_t seq_ = 0;
  std::uint64_t entries_ = 0, entry_bytes_ = 0;
  bool opened_ = false;
  bool ended_ = false;
  bool trailer_ = false;
  bool erased_ = false;
  ValueType type_ = ValueType::untyped;
  std::array<std::byte, max_key_size> key_{};
  std::uint8_t key_size_ = 0;
  std::uint32_t value_size_ = 0;
};

// ---------------------------------------------------------------------------
// Backups.

/// A full backup in steps: writers may run between steps (online). Each
/// key is copied as it is when the walk reaches it; lsn_to is taken before
/// the walk, so the next incremental from it covers every racing write
/// (a key may then be in both: replaying it is idempotent).
class FullBackup {
 public:
  FullBackup(Store& store, ByteSink& sink, BackupOptions options = {}) noexcept;
  /// Writes the header. Errors: not_mounted, wrong_key, unsupported, sink errors.
  Task<Status> start() noexcept;
  /// Copies up to options.entries_per_step keys; false when the walk ended
  /// and the trailer is written.
  Task<Result<bool>> step() noexcept;
  const BackupSummary& summary() const noexcept { return summary_; }

 private:
  Store& store_;
  ByteSink* sink_for_start_ = nullptr;
  BackupOptions options_;
  std::optional<StreamWriter> writer_;
  std::optional<Cursor> cursor_;
  std::vector<std::byte> value_;
  BackupSummary summary_{};
};

/// An incremental backup in steps: the changes since `since_lsn`, deletes
/// included, until the stream catches up with the store.
class IncrementalBackup {
 public:
  IncrementalBackup(Store& store, ByteSink& sink, std::uint64_t since_lsn, BackupOptions options = {}) noexcept;
  Task<Status> start() noexcept;
  /// Errors: history_lost (the log no longer reaches back to since_lsn:
  /// take a full backup), and those of FullBackup::step.
  Task<Result<bool>> step() noexcept;
  const BackupSummary& summary() const noexcept { return summary_; }

 private:
  Store& store_;
  ByteSink* sink_for_start_ = nullptr;
  std::uint64_t since_;
  BackupOptions options_;
  std::optional<StreamWriter> writer_;
  std::optional<ChangeCursor> cursor_;
  std::vector<std::byte> value_;
  BackupSummary summary_{};
};

/// A whole full backup (start, then every step).
Task<Result<BackupSummary>> backup(Store& store, ByteSink& sink, BackupOptions options = {}) noexcept;
/// A whole incremental backup. Errors: history_lost, and those of backup().
Task<Result<BackupSummary>> incremental_backup(Store& store, ByteSink& sink, std::uint64_t since_lsn,
                                               BackupOptions options = {}) noexcept;
/// Docstore backups: the store under `db`, with docstore_filter().
Task<Result<BackupSummary>> backup(DocStore& db, ByteSink& sink, BackupOptions options = {}) noexcept;
Task<Result<BackupSummary>> incremental_backup(DocStore& db, ByteSink& sink, std::uint64_t since_lsn,
                                               BackupOptions options = {}) noexcept;
/// The catalog and every document whose `_ts` is at or above `since` (kind
/// documents_since): for applications that track time, not LSNs. It cannot
/// carry deletes and restore cannot check it for gaps (docs/BACKUP.md).
Task<Result<BackupSummary>> incremental_backup_since_time(DocStore& db, ByteSink& sink, std::int64_t since,
                                                          BackupOptions options = {}) noexcept;

// ---------------------------------------------------------------------------
// Verify and restore.

/// Reads a whole chain (a full backup, then incrementals in order) and
/// checks every byte and the chain's continuity; writes nothing. `sealer`:
/// as for BackupReader.
Task<Verdict> verify(std::span<ByteSource* const> chain, Sealer* sealer = nullptr) noexcept;
Task<Verdict> verify(ByteSource& backup, Sealer* sealer = nullptr) noexcept;

enum class RestoreMode : std::uint8_t {
  /// Into a store of its own (a second partition): formatted, filled, then
  /// marked complete in the last batch. The live store is never touched.
  staging,
  /// Into the store the data lives in: its keys are erased first. Needs
  /// RestoreOptions::replace_existing; crash-safe (it resumes) but the old
  /// data is gone from the first batch on.
  in_place,
};

struct RestoreOptions {
  RestoreMode mode = RestoreMode::staging;
  /// In place only: the caller agrees that the store's data is replaced.
  bool replace_existing = false;
  /// Opens sealed backups (see BackupReader).
  Sealer* sealer = nullptr;
  /// Entry bytes per batch (0: a quarter of Store::max_batch_bytes(), at
  /// most 2 KiB).
  std::uint32_t batch_bytes = 0;
  /// Staging: how the target is formatted.
  FormatOptions format{};
};

/// Verifies the whole chain, then restores it into `target`, or resumes the
/// restore the target records for this same chain. Staging: `target` may be
/// mounted or not; it is formatted unless it holds this chain's restore.
/// In place: `target` must be mounted. Errors (Verdict): those of verify();
/// invalid_argument (in place without replace_existing, an empty chain);
/// conflict (other_restore: the target records another chain's unfinished
/// restore; in place only, staging formats it); unsupported (a sealed target
/// that hides key names, in place); the target's errors (fault target).
Task<Verdict> restore(std::span<ByteSource* const> chain, Store& target, RestoreOptions options = {}) noexcept;

enum class RestoreState : std::uint8_t { none = 0, staging = 1, replacing = 2, complete = 3 };

/// What the restore marker of a mounted store says (none: no marker).
struct RestoreProgress {
  RestoreState state = RestoreState::none;
  std::uint64_t entries_applied = 0;
  std::uint32_t backups = 0;
  std::uint32_t store_id = 0;
  std::uint64_t lsn_to = 0;
};
/// Errors: not_mounted, corrupt (a malformed marker), the store's errors.
Task<Result<RestoreProgress>> restore_state(Store& target) noexcept;

}  // namespace ferrite

// The module's own helpers (not exported): the stream's fixed layout.
namespace ferrite::backupfmt {

inline constexpr std::size_t chunk_prefix = 7;   // seq u32, type u8, len u16
inline constexpr std::size_t trailer_size = 60;
inline constexpr std::size_t entry_head = 7;     // op, type, key len, value len u32
inline constexpr std::size_t seal_overhead = 17; // crypto_secretstream_xchacha20poly1305_ABYTES
inline constexpr std::uint32_t max_entry_value = 1u << 20;
inline constexpr std::uint8_t data_chunk = 1, trailer_chunk = 2;
inline constexpr std::uint8_t op_put = 1, op_delete = 2;
inline constexpr std::size_t marker_size = 48;

/// libsodium's hash state inside `space` (hash_space bytes), 64-byte aligned.
inline void* aligned_hash_state(std::span<std::byte, hash_space> space) noexcept {
  const auto p = reinterpret_cast<std::uintptr_t>(space.data());
  return reinterpret_cast<void*>((p + 63) & ~std::uintptr_t{63});
}

inline void put_le(std::byte* p, std::uint64_t v, int n) noexcept {
  for (int i = 0; i < n; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint64_t get_le(const std::byte* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(p[i])} << (8 * i);
  return v;
}

/// Fills h.raw from the fields, the key check and the secretstream header.
void encode_header(BackupHeader& h, std::span<const std::byte, 16> key_check,
                   std::span<const std::byte, 24> stream_header) noexcept;
/// Fields from h.raw; the fault on error.
Status decode_header(BackupHeader& h, BackupFault& fault) noexcept;
Verdict refused(Errc error, BackupFault fault, std::uint32_t backup, std::uint64_t entries) noexcept;
/// Reads every stream of `chain`; `as_chain` checks continuity too. The
/// headers of the streams, in order, go to `headers` when given.
Task<Verdict> verify_chain(std::span<ByteSource* const> chain, Sealer* sealer, bool as_chain,
                           std::uint32_t max_value, std::vector<BackupHeader>* headers) noexcept;
/// BLAKE2b-128("ferrite backup key check v1", key = backup subkey).
void key_check(std::span<const std::byte, 32> key, std::span<std::byte, 16> out) noexcept;

}  // namespace ferrite::backupfmt
