// ferrite.docstore — collections of schema-less documents on the engine.
//
// Documents are CBOR (ferrite.docstore:value), stored one engine key each
// (chunked over several keys of the same atomic batch when larger than one
// engine value), together with their index entries: every insert, update,
// replace and remove is one engine batch, so after a power cut a document and
// all its index entries are visible together or not at all. Queries
// (ferrite.docstore:query) stream: nothing scales with the collection size in
// RAM. docs/DOCSTORE.md describes the API, the query language, the planner
// and the RAM formula; docs/FORMAT.md §9 the keys and values on flash.
//
// Every call is a coroutine (co_await it; arguments must outlive the call).
// The DocStore's own write calls run one document at a time, so they never
// conflict with each other; a DocTransaction is optimistic: its commit
// answers `conflict` when another writer changed what it read (a single
// call that meets such a race retries inside).
module;
#include "ferrite_std.hpp"

export module ferrite.docstore;
export import :value;
export import :query;
export import ferrite.txn;

export namespace ferrite {

/// Documents are numbered per collection from 1; ids are never reused.
using DocId = std::uint32_t;

/// Where `_ts` comes from: the application's clock (seconds, milliseconds:
/// its choice). Without one, `_ts` is 0.
struct Clock {
  std::int64_t (*now)(void* context) noexcept = nullptr;
  void* context = nullptr;
  std::int64_t read() const noexcept { return now ? now(context) : 0; }
};

/// A collection's name: 1..32 bytes of [A-Za-z0-9_.-], not starting with '.'.
inline constexpr std::size_t max_collection_name = 32;
/// The plain-prefix rule of a sealed store that holds a docstore and hides
/// key names (SealOptions::hide_keys with SealOptions::plain_prefix =
/// docstore_key_prefix, docs/FORMAT.md §3.7): collection records `FE 'C'
/// name` keep `FE 'C'` and hash the name; every other docstore key (`FE`
/// kind, ids, hashed index values) stays whole, so collections, indexes and
/// id order still scan; any other key is hashed whole.
std::size_t docstore_plain_length(std::span<const std::byte> name) noexcept;
inline constexpr KeyPrefixRule docstore_key_prefix{&docstore_plain_length, 1};

/// An index's name: 1..24 bytes of [A-Za-z0-9_.-], not starting with '.'.
inline constexpr std::size_t max_index_name = 24;
inline constexpr std::size_t max_index_paths = 4;
/// A path in an index: 1..32 bytes.
inline constexpr std::size_t max_index_path = 32;
/// Bytes of an index's partial filter (its CBOR query document).
inline constexpr std::size_t max_index_filter = 128;

/// What create_index builds.
struct IndexSpec {
  std::string_view name{};
  /// 1..4 dotted paths (a compound index for more than one).
  std::array<std::string_view, max_index_paths> paths{};
  std::uint8_t path_count = 1;
  /// No two documents may share the indexed values (documents missing every
  /// path are not indexed, so several may lack them).
  bool unique = false;
  /// Partial index: only documents matching this query are indexed, and the
  /// planner uses the index only for queries that contain every predicate of
  /// the filter as a top-level conjunct. Null: every document.
  const doc::Query* filter = nullptr;
  /// Multikey: entries one document may have (array elements); more is too_large.
  std::uint8_t max_entries_per_doc = 16;
  /// Hashed index: entry keys hold a 16-byte keyed hash of the indexed values
  /// (Store::keyed_hash) instead of the values, so the flash does not show
  /// them (docs/FORMAT.md §9.7, docs/SECURITY-NOTES-DOCSTORE.md). It serves
  /// equality only (`eq`, and `in` as several equalities) on every one of its
  /// paths: never ranges, prefixes, an equality on some paths only, or sorts.
  /// The default on a sealed store; a plain store refuses it (unsupported:
  /// it has no key, and its documents are readable anyway).
  bool hashed = false;
  /// Sealed stores only: keep the indexed values in plain, order-preserving
  /// bytes (ranges, prefixes and sorts work) instead of hashing them. The
  /// index then REVEALS every indexed value, in order, to whoever reads the
  /// flash, although the documents themselves stay sealed. With `hashed`:
  /// invalid_argument. Ignored on a plain store (its indexes are plain).
  bool plain_values = false;
};

/// A capped collection's limits (0: that cap is off). When an insert, or a
/// replace or update that grows a document, would exceed a cap, the
/// documents with the lowest ids are removed in the same batch
/// (docs/DOCSTORE.md, Capped collections; docs/FORMAT.md §9.8).
struct CollectionOptions {
  std::uint32_t max_docs = 0;
  std::uint32_t max_bytes = 0;   ///< CBOR bytes of every document together
  bool capped() const noexcept { return max_docs != 0 || max_bytes != 0; }
};

/// A capped collection's caps and exact counts (persisted in its collection
/// record by every batch that changes them).
struct CollectionCap {
  CollectionOptions limits{};
  std::uint32_t documents = 0;
  std::uint32_t bytes = 0;
};

/// RAM the docstore keeps per open collection and per index definition.
struct CollectionSlot {
  std::array<char, max_collection_name> name{};
  std::uint8_t name_size = 0;
  std::uint16_t cid = 0;             ///< 0: free slot
  std::uint8_t flags = 0;            ///< docfmt::CollectionFlag
  DocId next_id = 1;                 ///< next id to hand out
  DocId id_checkpoint = 1;           ///< ids below it may have been handed out (persisted)
  CollectionCap cap{};               ///< capped collections (flags & docfmt::capped)
  std::string_view name_view() const noexcept { return {name.data(), name_size}; }
};

struct IndexSlot {
  std::uint16_t cid = 0;             ///< 0: free slot
  std::uint8_t iid = 0;
  std::uint8_t state = 0;            ///< docfmt::IndexState
  bool unique = false;
  bool hashed = false;               ///< entry keys hold a keyed hash of the values
  /// Some document has had more than one entry in it (an array value): the
  /// planner then neither intersects bounds of different predicates on one
  /// path nor sorts by a ranged path in index order. Persisted with the
  /// definition (flags bit 2), in the batch of the first such document.
  bool multikey = false;
  std::uint8_t path_count = 0;
  std::uint8_t max_entries = 16;
  std::uint8_t name_size = 0;
  DocId build_from = 0;              ///< building: documents below this id are indexed
  std::array<char, max_index_name> name{};
  std::array<std::array<char, max_index_path>, max_index_paths> paths{};
  std::array<std::uint8_t, max_index_paths> path_sizes{};
  std::array<std::byte, max_index_filter> filter{};
  std::uint8_t filter_size = 0;
  std::string_view name_view() const noexcept { return {name.data(), name_size}; }
  std::string_view path(std::size_t i) const noexcept { return {paths[i].data(), path_sizes[i]}; }
};

struct DocConfig {
  Clock clock{};
  /// Largest document (CBOR bytes, `_id`/`_ts`/`_v` included). Above the
  /// engine's value_limit() a document is chunked; it must also fit one batch
  /// with its index entries (see DocStore::document_limit()).
  std::uint32_t max_document_size = 4096;
  doc::Limits limits{};
  /// Open collections and index definitions (caller storage on firmware; empty: the heap).
  std::span<CollectionSlot> collections{};
  std::span<IndexSlot> indexes{};
  /// workspace_needed(max_document_size) bytes: two document buffers (empty: the heap).
  std::span<std::byte> workspace{};
  /// Largest `limit` a sort without a matching index may use (top-k in RAM:
  /// 72 bytes per entry, in the cursor).
  std::uint32_t max_top_k = 32;
};

/// Bytes of DocConfig::workspace for documents of up to `max_document_size`
/// bytes: two documents, each with room for its 8-byte value header.
constexpr std::size_t workspace_needed(std::size_t max_document_size) noexcept {
  return 2 * (max_document_size + 8);
}

/// Caller-owned memory for a docstore with up to C collections, I index
/// definitions and documents of up to DocBytes bytes.
template <std::size_t C, std::size_t I, std::size_t DocBytes>
struct DocStoreMemory {
  std::array<CollectionSlot, C> collections{};
  std::array<IndexSlot, I> indexes{};
  std::array<std::byte, workspace_needed(DocBytes)> workspace{};
  DocConfig config(Clock clock = {}) noexcept {
    DocConfig c;
    c.clock = clock;
    c.max_document_size = DocBytes;
    c.collections = collections;
    c.indexes = indexes;
    c.workspace = workspace;
    return c;
  }
};

struct IndexStats {
  std::array<char, max_index_name> name{};
  std::uint8_t name_size = 0;
  bool ready = false;                ///< false while it is being built (or dropped)
  bool unique = false;
  bool hashed = false;
  bool partial = false;
  std::uint32_t entries = 0;
  std::string_view name_view() const noexcept { return {name.data(), name_size}; }
};

struct CollectionStats {
  std::uint32_t documents = 0;
  std::uint32_t document_bytes = 0;  ///< CBOR bytes of every document
  std::uint32_t index_entries = 0;
  std::uint32_t engine_keys = 0;     ///< documents, chunks and index entries
  DocId next_id = 0;
  std::uint8_t index_count = 0;
  std::array<IndexStats, 8> indexes{};
  /// The caps of a capped collection (both 0: not capped).
  CollectionOptions caps{};
  /// RAM this collection costs in the engine's index (engine_keys x 14 B) plus its slots.
  std::uint32_t ram_bytes = 0;
};

struct Aggregate {
  std::uint32_t count = 0;           ///< documents with a number at the path
  double min = 0, max = 0, sum = 0;
  double avg() const noexcept { return count ? sum / count : 0; }
};

class DocStore;
class DocTransaction;

/// Streams the documents a query selects. Holds a copy of the query, its
/// plan, an engine cursor and one document buffer; nothing else. Each
/// document is returned as it is when the cursor reaches it (no snapshot).
class [[nodiscard]] FindCursor {
 public:
  FindCursor(FindCursor&&) noexcept;
  FindCursor& operator=(FindCursor&&) noexcept;
  ~FindCursor();
  /// Advances to the next matching document. Yields false at the end.
  /// Errors: not_found (no such collection), unsupported (a sort that needs
  /// an index or a limit <= DocConfig::max_top_k), too_large, corrupt, flash errors.
  Task<Result<bool>> next() noexcept;
  /// The current document (projected when FindOptions::fields is set).
  doc::View document() const noexcept { return current_; }
  DocId id() const noexcept { return id_; }
  const doc::Plan& plan() const noexcept { return plan_; }

 private:
  friend class DocStore;
  struct State;
  explicit FindCursor(State* s) noexcept;
  State* state_ = nullptr;
  doc::View current_{};
  DocId id_ = 0;
  doc::Plan plan_{};
};

/// The document database over one engine Store. Not copyable; the Store and
/// the config's memory must outlive it.
class DocStore {
 public:
  explicit DocStore(Store& store, DocConfig config = {}) noexcept;
  DocStore(const DocStore&) = delete;
  DocStore& operator=(const DocStore&) = delete;
  ~DocStore();

  /// Reads the catalog (the store must be mounted) and finishes work a power
  /// cut interrupted: index builds, index drops, clears and collection drops
  /// (an interrupted build that cannot finish, e.g. a unique index over
  /// duplicates, is removed). Errors: not_mounted, busy (a restore into the
  /// store has not completed: docs/BACKUP.md), invalid_argument (a
  /// workspace smaller than workspace_needed()), unsupported (an index-less
  /// store, or a sealed one that hashes whole key names: both cannot scan;
  /// a sealed store with docstore_key_prefix works),
  /// corrupt (a damaged catalog record), foreign_format (a docstore of
  /// another format version), no_memory (more collections or indexes than
  /// the slots hold), flash errors.
  Task<Status> open() noexcept;
  /// Drops the cached catalog; the next call reads it again (open()).
  void unload() noexcept;
  bool is_open() const noexcept { return open_; }

  // -- collections ----------------------------------------------------------
  /// Errors: invalid_argument (name rules), exists, no_memory (slots), no_space.
  Task<Status> create_collection(std::string_view name) noexcept;
  /// Creates a collection with options: caps make it a capped collection
  /// (fixed for its life; both 0: an ordinary one). Errors: as above.
  Task<Status> create_collection(std::string_view name, const CollectionOptions& options) noexcept;
  /// Removes the collection, its documents and indexes, in bounded batches;
  /// a power cut resumes at the next open(). Errors: not_found.
  Task<Status> drop_collection(std::string_view name) noexcept;
  /// Removes every document (ids are not reused), keeps the indexes. Resumable.
  Task<Status> clear(std::string_view name) noexcept;
  /// Names of the collections, in name order; returns how many were written.
  std::size_t list_collections(std::span<std::string_view> out) const noexcept;
  Task<Result<CollectionStats>> stats(std::string_view name) noexcept;

  // -- documents ------------------------------------------------------------
  /// Inserts an object (any `_id`, `_ts`, `_v` members are replaced), creating
  /// the collection on first use. Returns the new id. The stored document
  /// starts with `_id`, `_ts` (DocConfig::clock), `_v` = 1. Errors:
  /// invalid_argument (not an object, a bad collection name), too_large
  /// (larger than document_limit()), exists (a unique index), no_space,
  /// no_memory, flash errors.
  Task<Result<DocId>> insert(std::string_view collection, const doc::View& document) noexcept;
  /// Inserts several documents, each in its own batch (not atomic as a
  /// whole: use a DocTransaction for that). `ids` receives the ids; returns
  /// how many were inserted. On an error the error is returned, and the
  /// documents before the failing one are inserted (their ids are in `ids`).
  Task<Result<std::size_t>> insert_many(std::string_view collection, std::span<const doc::View> documents,
                                        std::span<DocId> ids) noexcept;
  /// Copies document `id` into `out`; returns its size. Errors: not_found,
  /// buffer_too_small, corrupt.
  Task<Result<std::size_t>> get(std::string_view collection, DocId id, std::span<std::byte> out) noexcept;
  /// Applies `patch` (an RFC 7386 merge patch; members `$inc` (an object of
  /// numbers to add) and `$unset` (an array of paths) are operators) to every
  /// matching document, bumping `_v` and `_ts`; returns how many changed.
  /// Each document is one batch. Errors: invalid_argument (a bad patch, or
  /// one that touches _id/_v/_ts), exists, too_large, corrupt, flash errors.
  Task<Result<std::uint32_t>> update(std::string_view collection, const doc::Query& query,
                                     const doc::View& patch) noexcept;
  /// Replaces document `id` when its `_v` is still `expected_version`
  /// (compare-and-swap). Errors: not_found, conflict (another version), and as insert.
  Task<Status> replace(std::string_view collection, DocId id, const doc::View& document,
                       std::uint32_t expected_version) noexcept;
  /// Removes every matching document; returns how many.
  Task<Result<std::uint32_t>> remove(std::string_view collection, const doc::Query& query) noexcept;
  /// How many documents match. O(log n) flash reads (Store::count_range)
  /// when the query matches every document or only bounds `_id`; otherwise a
  /// walk of what the plan selects (an index range included: its documents
  /// are still checked against the query).
  Task<Result<std::uint32_t>> count(std::string_view collection, const doc::Query& query) noexcept;
  /// Streams the matching documents; `buffer` holds one document (empty: the heap).
  FindCursor find(std::string_view collection, const doc::Query& query, const doc::FindOptions& options = {},
                  std::span<std::byte> buffer = {}) noexcept;
  /// The plan find() would use.
  Task<Result<doc::Plan>> explain(std::string_view collection, const doc::Query& query,
                                  const doc::FindOptions& options = {}) noexcept;
  /// The first / last n documents in id (insertion) order; last_n newest first.
  FindCursor first_n(std::string_view collection, std::uint32_t n, std::span<std::byte> buffer = {}) noexcept;
  FindCursor last_n(std::string_view collection, std::uint32_t n, std::span<std::byte> buffer = {}) noexcept;
  /// Documents whose `field` lies in [start, end] (inclusive), in field order when indexed.
  FindCursor in_timeframe(std::string_view collection, std::string_view field, std::int64_t start,
                          std::int64_t end, std::span<std::byte> buffer = {}) noexcept;
  /// count/min/max/sum/avg of the numbers at `path` over the matching documents.
  Task<Result<Aggregate>> aggregate(std::string_view collection, const doc::Query& query,
                                    std::string_view path) noexcept;

  // -- indexes --------------------------------------------------------------
  /// Creates an index (and the collection, when it does not exist yet) and
  /// builds it on the existing documents in bounded batches (online: writers
  /// keep going; a power cut resumes at open()). The planner uses it once
  /// ready. On a sealed store (Store::sealed()) the index is hashed unless
  /// spec.plain_values asks otherwise (IndexSpec). Errors: invalid_argument
  /// (name or paths, hashed with plain_values), exists (the name, or
  /// duplicates for a unique index), too_large (a filter over 128 bytes, or
  /// a document with more entries than max_entries_per_doc), no_memory
  /// (slots), unsupported (spec.hashed on a plain store). A build that fails
  /// on the documents removes the index again.
  Task<Status> create_index(std::string_view collection, const IndexSpec& spec) noexcept;
  /// Errors: not_found.
  Task<Status> drop_index(std::string_view collection, std::string_view name) noexcept;

  /// Largest document insert accepts on this store (with its index entries).
  std::uint32_t document_limit() const noexcept;
  /// Why the last document call refused, in the engine's terms (Refusal):
  /// a document that is too_large names the limit it broke and its size
  /// (field "document": DocConfig::max_document_size or document_limit();
  /// "document parts": 255 parts of value_limit() bytes; "index entries":
  /// IndexSpec::max_entries_per_doc; "batch": Store::max_batch_bytes(), the
  /// engine's refusal of the commit); a query that is unsupported names the
  /// fix (field: the sort path, value skip + limit, limit
  /// DocConfig::max_top_k; field "regex": a build without regex). For a
  /// sort, `field` points into this DocStore and holds until the next
  /// refusal. Cleared by nothing but the next refusal; code ok before any.
  Refusal last_refusal() const noexcept { return refusal_; }
  Store& store() noexcept { return *store_; }
  const DocConfig& config() const noexcept { return config_; }
  /// RAM of the docstore's own state (object, slots, workspace).
  std::size_t ram_bytes() const noexcept;

 private:
  friend class FindCursor;
  friend class DocTransaction;
  friend struct FindCursor::State;
  struct Impl;

  Store* store_;
  DocConfig config_;
  AsyncMutex mutex_;   // the workspace: one document call at a time uses it
  AsyncMutex writers_; // single-document calls run one at a time (no conflicts among them)
  std::vector<CollectionSlot> own_collections_;
  std::vector<IndexSlot> own_indexes_;
  std::vector<std::byte> own_workspace_;
  std::uint16_t next_cid_ = 1;
  bool open_ = false;
  Refusal refusal_{};
  std::array<char, max_index_path + 1> refused_path_{};   // a refused sort's path, for refusal_.field
};

/// Inserts, updates, replaces and removes in any number of collections that
/// commit atomically (one engine batch: they must fit Store::max_batch_bytes()).
/// Reads inside see the transaction's own writes. Dropping it uncommitted
/// changes nothing. Errors of commit(): conflict (another writer changed what
/// this transaction read: nothing was written; retry), too_large, no_space.
class [[nodiscard]] DocTransaction {
 public:
  explicit DocTransaction(DocStore& db) noexcept;
  DocTransaction(DocTransaction&&) noexcept = default;
  DocTransaction(const DocTransaction&) = delete;
  DocTransaction& operator=(const DocTransaction&) = delete;

  Task<Result<DocId>> insert(std::string_view collection, const doc::View& document) noexcept;
  Task<Result<std::uint32_t>> update(std::string_view collection, const doc::Query& query,
                                     const doc::View& patch) noexcept;
  Task<Status> replace(std::string_view collection, DocId id, const doc::View& document,
                       std::uint32_t expected_version) noexcept;
  Task<Result<std::uint32_t>> remove(std::string_view collection, const doc::Query& query) noexcept;
  Task<Result<std::size_t>> get(std::string_view collection, DocId id, std::span<std::byte> out) noexcept;
  Task<Status> commit() noexcept;
  void rollback() noexcept { txn_.rollback(); }
  bool finished() const noexcept { return txn_.finished(); }

 private:
  friend class DocStore;
  friend struct DocStore::Impl;
  struct Pending {     // id checkpoints (and capped counts) this transaction writes (applied on commit)
    std::uint16_t cid = 0;
    DocId checkpoint = 0;
    bool counted = false;      // documents/bytes hold the counts after this transaction's writes
    std::uint32_t documents = 0;
    std::uint32_t bytes = 0;
    DocId first_insert = 0;    // the first id this transaction inserted (0: none)
  };
  DocStore* db_;
  Transaction txn_;
  std::array<Pending, 4> pending_{};
};

}  // namespace ferrite

// ---------------------------------------------------------------------------
// Internal (not exported): the key schema of docs/FORMAT.md §9.
namespace ferrite::docfmt {

inline constexpr std::byte ns{0xFE};      // every docstore key starts with it
inline constexpr std::uint8_t format_version = 1;
enum Kind : std::uint8_t {
  meta = 'M',        // FE 'M'                          -> version u8, next_cid u16
  collection = 'C',  // FE 'C' name                     -> cid u16, flags u8, id checkpoint u32
  index_def = 'X',   // FE 'X' cid u16 iid u8           -> index definition
  document = 'D',    // FE 'D' cid u16 id u32           -> doc header u8, CBOR (first part)
  chunk = 'K',       // FE 'K' cid u16 id u32 n u8      -> further parts of a chunked document
  entry = 'I',       // FE 'I' cid u16 iid u8 values.. id u32 -> empty
  unique = 'U',      // FE 'U' cid u16 iid u8 values..  -> id u32
};
// Hashed indexes (docs/FORMAT.md §9.7) put H(values), 16 bytes, where the
// values go: FE 'I' cid iid H id, FE 'U' cid iid H -> id.
enum IndexFlag : std::uint8_t { index_unique = 1, index_hashed = 2, index_multikey = 4 };   // index definition, byte 1
inline constexpr std::size_t hash_size = 16;
enum CollectionFlag : std::uint8_t { clearing = 1, dropping = 2, capped = 4, named = 128 };
/// The collection record (docs/FORMAT.md §9.2): 7 bytes, 23 with flag
/// `capped`, then, with flag `named` (a store that hides key names), the
/// name and its length.
inline constexpr std::size_t collection_record = 7, capped_collection_record = 23;
inline constexpr std::size_t name_trailer_max = max_collection_name + 1;
inline constexpr std::size_t collection_record_max = capped_collection_record + name_trailer_max;
enum IndexState : std::uint8_t { building = 0, ready = 1, removing = 2 };
inline constexpr std::uint32_t id_checkpoint_step = 16;
inline constexpr std::uint8_t doc_whole = 0, doc_chunked = 1;   // first byte of a document value
inline constexpr std::size_t doc_chunked_header = 6;            // doc_chunked, total size u32 LE, parts u8
inline constexpr std::size_t max_entries = 16;                  // index entries of one document, one index
inline constexpr std::size_t max_ranges = 16;                   // key ranges of one plan (`in` lists)

/// An engine key under construction (docstore keys are at most 64 bytes).
struct Key {
  std::array<std::byte, max_key_size> bytes{};
  std::uint8_t size = 0;
  bool overflow = false;
  std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
  void push(std::uint8_t b) noexcept {
    if (size < bytes.size()) bytes[size++] = std::byte{b}; else overflow = true;
  }
  void append(std::span<const std::byte> b) noexcept {
    for (std::byte x : b) push(static_cast<std::uint8_t>(x));
  }
  void be16(std::uint16_t v) noexcept { push(static_cast<std::uint8_t>(v >> 8)); push(static_cast<std::uint8_t>(v)); }
  void be32(std::uint32_t v) noexcept { be16(static_cast<std::uint16_t>(v >> 16)); be16(static_cast<std::uint16_t>(v)); }
  friend bool operator==(const Key& a, const Key& b) noexcept {
    return a.size == b.size && std::memcmp(a.bytes.data(), b.bytes.data(), a.size) == 0;
  }
};
int compare_keys(std::span<const std::byte> a, std::span<const std::byte> b) noexcept;

Key meta_key() noexcept;
Key collection_key(std::string_view name) noexcept;
Key collections_prefix() noexcept;
Key index_def_key(std::uint16_t cid, std::uint8_t iid) noexcept;
Key index_defs_prefix(std::uint16_t cid) noexcept;
Key docs_prefix(std::uint16_t cid) noexcept;
Key doc_key(std::uint16_t cid, DocId id) noexcept;
Key chunk_key(std::uint16_t cid, DocId id, std::uint8_t n) noexcept;
Key chunks_prefix(std::uint16_t cid) noexcept;
/// FE 'I' cid iid (or FE 'U' cid iid for unique indexes).
Key entries_prefix(const IndexSlot& ix) noexcept;
/// The id in the last four bytes of a document, chunk or entry key.
DocId id_at_end(std::span<const std::byte> key) noexcept;
DocId id_of_doc_key(std::span<const std::byte> key) noexcept;
/// The smallest key above every key that starts with `prefix` (empty: none).
Key successor(const Key& prefix) noexcept;
bool valid_name(std::string_view name, std::size_t max) noexcept;

/// Order-preserving encoding of one indexed value (docs/FORMAT.md §9.4);
/// false for arrays and objects, which are not indexed.
bool encode_value(const doc::View& v, std::size_t budget, Key& out) noexcept;
inline constexpr std::uint8_t tag_missing = 0x05, tag_null = 0x08, tag_number = 0x20, tag_string = 0x30,
                              tag_bytes = 0x40, tag_false = 0x50, tag_true = 0x51;
/// Budget of one indexed value in a key with `paths` values.
std::size_t value_budget(std::size_t paths) noexcept;
/// Budget of one value of a hashed index (its encoding is hashed, not stored).
inline constexpr std::size_t hashed_value_budget = max_key_size;
/// The budget index `ix` encodes each of its values with.
inline std::size_t budget_of(const IndexSlot& ix) noexcept {
  return ix.hashed ? hashed_value_budget : value_budget(ix.path_count);
}
/// Appends H(prefix ++ encodings) to `key` (which holds the entries prefix):
/// the keyed hash of a hashed index entry. Errors: those of Store::keyed_hash.
Status append_hash(Store& store, std::span<const std::byte> encodings, Key& key) noexcept;

/// The entry keys (and for unique indexes the U keys) of one document in one index.
struct EntrySet {
  std::array<Key, max_entries> keys{};
  std::uint8_t count = 0;
  bool contains(const Key& k) const noexcept {
    for (std::size_t i = 0; i < count; ++i)
      if (keys[i] == k) return true;
    return false;
  }
};
/// Errors: too_large (more entries than the index allows); for a hashed
/// index, those of Store::keyed_hash (unsupported, wrong_key).
Status index_entries(const IndexSlot& ix, const doc::View& doc, DocId id, Store& store, EntrySet& out) noexcept;

/// Calls f(view) for every value `path` reaches in `doc`, fanning out over
/// arrays (each element gets the rest of the path); f returns true to stop.
/// Returns true when f stopped the walk.
bool for_each_at_path(const doc::View& doc, std::string_view path,
                      bool (*f)(const doc::View&, void*), void* context) noexcept;

/// A key range [lower, upper) walked by a plan.
struct KeyRange {
  Key lower;
  Key upper;
};
/// What the planner decided, with the ranges to walk.
struct FindPlan {
  doc::Plan plan{};
  IndexSlot index{};
  bool use_index = false;
  bool ranged = false;   ///< the index's bounds include a range on path eq_prefix
  std::array<KeyRange, max_ranges> ranges{};
  std::uint8_t range_count = 0;
};

}  // namespace ferrite::docfmt

namespace ferrite {

/// The implementation's shared functions (one unit each: catalog, documents,
/// patch, planner, find).
struct DocStore::Impl {
  static constexpr std::size_t slack = 8;   // room for a document value's header before the CBOR


  // catalog.cpp
  static std::size_t encode_collection(const CollectionSlot& c,
                                      std::span<std::byte, docfmt::collection_record_max> out) noexcept;
  static Status decode_collection(std::span<const std::byte> key, std::span<const std::byte> v,
                                  CollectionSlot& c) noexcept;
  // catalog_name.cpp: where a collection record keeps its name (FORMAT.md §9.2)
  static std::size_t append_name_trailer(const CollectionSlot& c, std::span<std::byte> record,
                                         std::size_t size) noexcept;
  static Status split_name_trailer(std::span<const std::byte> key, std::span<const std::byte>& record,
                                   std::span<const std::byte>& name) noexcept;
  static std::size_t encode_index(const IndexSlot& x, std::span<std::byte> out) noexcept;
  static Status decode_index(std::uint16_t cid, std::uint8_t iid, std::span<const std::byte> v, IndexSlot& x) noexcept;
  static Task<Status> ensure_open(DocStore& db) noexcept;
  static Task<Status> load_collections(DocStore& db) noexcept;
  static Task<Status> load_indexes(DocStore& db, std::uint16_t cid) noexcept;
  static Task<Status> finish_pending(DocStore& db) noexcept;
  static CollectionSlot* find_collection(DocStore& db, std::string_view name) noexcept;
  static CollectionSlot* collection_by_cid(DocStore& db, std::uint16_t cid) noexcept;
  static IndexSlot* free_index_slot(DocStore& db) noexcept;
  static IndexSlot* find_index(DocStore& db, std::uint16_t cid, std::string_view name) noexcept;
  /// The open collection `name` (created when asked). Errors: invalid_argument, not_found.
  static Task<Result<CollectionSlot*>> collection(DocStore& db, std::string_view name, bool create) noexcept;
  static Task<Status> put_collection(DocStore& db, const CollectionSlot& c) noexcept;
  static Task<Status> put_index(DocStore& db, const IndexSlot& x) noexcept;
  static Task<Status> clear_collection(DocStore& db, CollectionSlot& c) noexcept;
  static Task<Status> remove_collection(DocStore& db, CollectionSlot& c) noexcept;
  static Task<Status> erase_prefix(DocStore& db, docfmt::Key prefix) noexcept;
  static Task<Status> remove_index(DocStore& db, IndexSlot& x) noexcept;
  static Task<Status> build_index(DocStore& db, IndexSlot& x) noexcept;
  /// Errors with which a build gives its index up (it cannot index the documents).
  static bool build_refused(Errc e) noexcept { return e == Errc::exists || e == Errc::too_large; }
  /// Whether create_index makes `spec` hashed. Errors: invalid_argument
  /// (hashed and plain_values), unsupported (hashed on a plain store).
  static Result<bool> hashed_policy(DocStore& db, const IndexSpec& spec) noexcept;
  static Result<std::size_t> encode_query(const doc::Query& q, std::span<std::byte> out) noexcept;
  static void write_query_node(doc::Writer& w, const doc::Query& q, std::size_t i) noexcept;

  // documents.cpp
  struct Stored {
    std::span<const std::byte> bytes{};
    doc::View view{};
    std::uint8_t parts = 1;     // 1, or the number of parts of a chunked document
  };
  static std::span<std::byte> buffer(DocStore& db, int which) noexcept;
  static Task<Result<std::size_t>> get_value(DocStore& db, Transaction* t, std::span<const std::byte> key,
                                             std::span<std::byte> out) noexcept;
  static Task<Result<Stored>> read_doc(DocStore& db, Transaction* t, std::uint16_t cid, DocId id,
                                       std::span<std::byte> buf) noexcept;
  /// The rest of read_doc once the document's value (n bytes) is in buf:
  /// its chunks, then the checks.
  static Task<Result<Stored>> complete_doc(DocStore& db, Transaction* t, std::uint16_t cid, DocId id,
                                           std::span<std::byte> buf, std::size_t n) noexcept;
  static Task<Status> write_doc(DocStore& db, Transaction& t, std::uint16_t cid, DocId id, std::span<std::byte> buf,
                                std::size_t size, std::uint8_t old_parts) noexcept;
  static Task<Status> erase_doc(Transaction& t, std::uint16_t cid, DocId id, std::uint8_t parts) noexcept;
  static bool maintains(const IndexSlot& x, DocId id) noexcept;
  static Task<Status> update_entries(DocStore& db, Transaction& t, std::uint16_t cid, DocId id,
                                     const doc::View& old_doc, const doc::View& new_doc) noexcept;
  static Result<doc::View> build_stored(DocStore& db, std::span<std::byte> buf, const doc::View& body, DocId id,
                                        std::int64_t ts, std::uint32_t version) noexcept;
  /// The stored document `w` holds; too_large (recorded for last_refusal())
  /// when it overflowed a document of `at_least` bytes or more.
  static Result<doc::View> finish_stored(DocStore& db, doc::Writer& w, std::size_t at_least) noexcept;
  static std::uint32_t version_of(const doc::View& doc) noexcept;
  static Task<Status> bump_checkpoint(DocTransaction& tx, CollectionSlot& c, DocId id) noexcept;
  static Task<Result<bool>> update_one(DocTransaction& tx, std::uint16_t cid, DocId id, const doc::Query& query,
                                       const doc::View& patch) noexcept;
  static Task<Result<bool>> remove_one(DocTransaction& tx, std::uint16_t cid, DocId id,
                                       const doc::Query& query) noexcept;
  static Task<Status> index_one(DocTransaction& tx, IndexSlot& x, DocId id) noexcept;
  /// Marks `x` multikey when `entries` holds more than one entry, writing its
  /// definition in `t` the first time.
  static Task<Status> note_multikey(Transaction& t, IndexSlot& x, const docfmt::EntrySet& entries) noexcept;
  static Task<Result<std::uint32_t>> for_each_match(DocTransaction& tx, std::string_view collection,
                                                    const doc::Query& query, const doc::View* patch) noexcept;
  static Task<Result<CollectionSlot*>> collection_for(DocStore& db, std::string_view name) noexcept;
  static Task<Result<std::uint32_t>> each_in_own_batch(DocStore& db, std::string_view collection,
                                                       const doc::Query& query, const doc::View* patch) noexcept;

  // capped.cpp
  /// The transaction's entry for collection `cid` (a free one when it has none).
  static DocTransaction::Pending* pending_for(DocTransaction& tx, std::uint16_t cid) noexcept;
  /// Records a write to capped collection `c` in `tx`: `added` documents
  /// (-1, 0 or 1) and bytes from `old_size` to `new_size`, evicting the
  /// oldest documents other than `keep` while a cap is exceeded, then puts
  /// the collection record with the new counts (and `inserted`'s checkpoint).
  /// Errors: too_large (new_size above max_bytes), corrupt (counts that the
  /// documents cannot satisfy), no_memory (a fifth collection in one
  /// transaction), those of the transaction.
  static Task<Status> account(DocTransaction& tx, CollectionSlot& c, int added, std::uint32_t old_size,
                              std::uint32_t new_size, DocId keep, DocId inserted) noexcept;
  /// too_large when c is capped and a document of `size` bytes exceeds its
  /// max_bytes (an info event names the collection and the limit).
  static Status fits_cap(const CollectionSlot& c, std::uint32_t size) noexcept;
  static Task<Status> evict_oldest(DocTransaction& tx, CollectionSlot& c, DocTransaction::Pending& p,
                                   DocId keep) noexcept;

  // patch.cpp
  static Status check_patch(const doc::View* patch) noexcept;
  static Status apply_patch(doc::Writer& w, const doc::View& old, const doc::View& patch, std::int64_t ts) noexcept;
  static bool patch_touches_indexes(DocStore& db, std::uint16_t cid, const doc::View& patch) noexcept;

  /// The largest document 255 parts of value_limit() bytes hold.
  static std::uint32_t most_in_parts(const DocStore& db) noexcept;
  // refusal.cpp: record what last_refusal() reports, then answer the error.
  static Errc refuse_document(DocStore& db, std::size_t size, bool over_buffer) noexcept;
  static Errc refuse_parts(DocStore& db, std::size_t size) noexcept;
  static Errc refuse_entries(DocStore& db, const IndexSlot& x) noexcept;
  static Errc refuse_batch(DocStore& db) noexcept;
  static Errc refuse_sort(DocStore& db, std::string_view path, std::uint64_t k) noexcept;
  static Errc refuse_regex(DocStore& db) noexcept;

  // planner.cpp
  static Status make_plan(DocStore& db, std::uint16_t cid, const doc::Query& q, const doc::FindOptions& options,
                          docfmt::FindPlan& out) noexcept;
  static Status plan_sort(DocStore& db, const doc::FindOptions& options, std::uint8_t eq, bool several,
                          docfmt::FindPlan& out) noexcept;
};

}  // namespace ferrite
