// ferrite.txn — atomic multi-key transactions with optimistic concurrency.
//
// A Transaction buffers its writes in RAM and remembers the version (the
// location of the latest record) of every key it reads or writes. commit()
// hands both to the engine, which, under the store's lock, checks that no
// remembered version changed and then writes the batch as TXN records
// followed by one TXN_COMMIT (docs/FORMAT.md §4.1): all of it becomes visible
// at once and durably, or — on a conflict, an error or a power cut — none of
// it. Reads inside the transaction see its own writes, and otherwise a
// snapshot of the committed state: every read re-validates what was read
// before, so a transaction never observes two states (it gets `conflict`).
// Results are serializable. Dropping a Transaction without commit writes
// nothing to flash.
module;
#include "ferrite_std.hpp"

export module ferrite.txn;
export import ferrite.log;

export namespace ferrite {

class [[nodiscard]] Transaction {
 public:
  /// A transaction on `store`. `workspace` holds the buffered writes and the
  /// read set (bounded RAM for firmware); empty uses the heap (hosts).
  explicit Transaction(Store& store, std::span<std::byte> write_space = {},
                       std::span<std::byte> read_space = {}) noexcept;
  Transaction(Transaction&&) noexcept = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() = default;  // an uncommitted transaction simply vanishes

  /// Buffers a put. Errors: invalid_argument (empty key, or the transaction
  /// is finished), too_large (key/value limits), no_memory (workspace full),
  /// conflict (the key changed since this transaction first saw it).
  Task<Status> put(std::span<const std::byte> key, std::span<const std::byte> value) noexcept;
  Task<Status> put(std::string_view key, std::string_view value) noexcept {
    return put(as_bytes(key), as_bytes(value));
  }
  /// Buffers an erase (of a present or absent key). Errors as for put.
  Task<Status> erase(std::span<const std::byte> key) noexcept;
  Task<Status> erase(std::string_view key) noexcept { return erase(as_bytes(key)); }
  /// Reads through the transaction. Errors: not_found, conflict (what this
  /// transaction read before has changed: retry it), buffer_too_small, corrupt.
  Task<Result<std::size_t>> get(std::span<const std::byte> key, std::span<std::byte> out) noexcept;
  Task<Result<std::size_t>> get(std::string_view key, std::span<std::byte> out) noexcept {
    return get(as_bytes(key), out);
  }
  /// Makes every write visible at once, durably. Errors: conflict (nothing
  /// written; retry with a new transaction), no_space, too_large (the batch
  /// exceeds Store::max_batch_bytes()), no_memory, invalid_argument (already
  /// finished), flash errors. After commit() the transaction is finished.
  Task<Status> commit() noexcept;
  /// Drops every buffered write; the transaction is finished.
  void rollback() noexcept;

  bool finished() const noexcept { return finished_; }
  std::size_t pending_writes() const noexcept { return writes_count_; }

 private:
  Task<Status> observe(std::span<const std::byte> key) noexcept;
  bool find_write(std::span<const std::byte> key, BatchLog::Entry& out) const noexcept;
  bool has_read(std::span<const std::byte> key) const noexcept;

  Store* store_;
  BatchLog writes_;
  BatchLog reads_;
  std::size_t writes_count_ = 0;
  bool finished_ = false;
};

/// Blind writes that become visible together: puts and erases buffered in
/// RAM, then written by commit() as one engine batch (docs/FORMAT.md §4.1),
/// so that after a power cut either all of them are on flash or none. It
/// reads nothing and checks no versions (the last writer wins): restores,
/// imports and bulk updates, where a Transaction would spend a lookup per
/// key. A later write of a key replaces an earlier one in the same batch.
/// After commit() the batch is empty and may be filled again.
class [[nodiscard]] Batch {
 public:
  /// A batch for `store`. `space` holds the buffered writes (bounded RAM
  /// for firmware); empty uses the heap (hosts).
  explicit Batch(Store& store, std::span<std::byte> space = {}) noexcept : store_(&store), writes_(space) {}
  Batch(Batch&&) noexcept = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  /// Buffers a put. Errors: invalid_argument (empty key), too_large (key
  /// over 64 bytes, value over the store's value_limit()), no_memory (the
  /// space is full). The batch is unchanged by a refused write.
  Status put(std::span<const std::byte> key, std::span<const std::byte> value) noexcept;
  Status put(std::string_view key, std::string_view value) noexcept { return put(as_bytes(key), as_bytes(value)); }
  /// Buffers an erase (of a present or absent key). Errors as for put.
  Status erase(std::span<const std::byte> key) noexcept;
  Status erase(std::string_view key) noexcept { return erase(as_bytes(key)); }
  /// Writes every buffered write atomically and durably, then empties the
  /// batch (also on an error: nothing of it was written). An empty batch
  /// writes nothing. Errors: too_large (more than Store::max_batch_bytes()),
  /// no_space, no_memory (index full), unsupported (index-less store),
  /// not_mounted, flash errors.
  Task<Status> commit() noexcept;
  /// Drops every buffered write.
  void clear() noexcept {
    writes_.clear();
    count_ = 0;
  }

  std::size_t pending_writes() const noexcept { return count_; }
  /// Bytes the buffered writes take (their keys, values and 4 bytes each).
  std::size_t size_bytes() const noexcept { return writes_.bytes().size(); }

 private:
  Status add(bool erase, std::span<const std::byte> key, std::span<const std::byte> value) noexcept;

  Store* store_;
  BatchLog writes_;
  std::size_t count_ = 0;
};

}  // namespace ferrite
