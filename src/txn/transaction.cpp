// Transactions: buffered writes, read set, validation at commit.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.txn;

// The engine's batch calls (Store::commit_batch, read_versioned, version_of)
// are private: this file alone reaches them, through TxnHooks, which no
// interface declares. (The class is attached to no module so that it is
// the one ferrite.log befriends.)
extern "C++" {
namespace ferrite {
struct TxnHooks {
  static Task<Status> commit_batch(Store& store, std::span<const std::byte> writes,
                                   std::span<const std::byte> reads) noexcept {
    return store.commit_batch(writes, reads);
  }
  static Task<Result<std::size_t>> read_versioned(Store& store, std::span<const std::byte> key,
                                                  std::span<std::byte> out, std::span<const std::byte> reads,
                                                  std::uint32_t& version) noexcept {
    return store.read_versioned(key, out, reads, version);
  }
  static Task<Result<std::uint32_t>> version_of(Store& store, std::span<const std::byte> key,
                                                std::span<const std::byte> reads) noexcept {
    return store.version_of(key, reads);
  }
  static constexpr std::uint32_t no_version = Store::no_version;
};
}  // namespace ferrite
}

namespace ferrite {

Transaction::Transaction(Store& store, std::span<std::byte> write_space, std::span<std::byte> read_space) noexcept
    : store_(&store), writes_(write_space), reads_(read_space) {}

bool Transaction::find_write(std::span<const std::byte> key, BatchLog::Entry& out) const noexcept {
  std::size_t cursor = 0;
  BatchLog::Entry e;
  bool malformed = false, found = false;
  const auto log = writes_.bytes();
  while (BatchLog::next(log, false, cursor, e, malformed)) {
    if (e.op != 0xFF && e.key.size() == key.size() && std::memcmp(e.key.data(), key.data(), key.size()) == 0) {
      out = e;
      found = true;
    }
  }
  return found;
}

bool Transaction::has_read(std::span<const std::byte> key) const noexcept {
  std::size_t cursor = 0;
  BatchLog::Entry e;
  bool malformed = false;
  const auto log = reads_.bytes();
  while (BatchLog::next(log, true, cursor, e, malformed))
    if (e.key.size() == key.size() && std::memcmp(e.key.data(), key.data(), key.size()) == 0) return true;
  return false;
}

Task<Status> Transaction::observe(std::span<const std::byte> key) noexcept {
  // Remember the version of a key the first time this transaction touches
  // it: a blind write is still checked for a concurrent writer (no silent
  // lost update).
  if (has_read(key)) co_return Status{};
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t version, co_await TxnHooks::version_of(*store_, key, reads_.bytes()));
  co_return reads_.add_read(key, version);
}

Task<Status> Transaction::put(std::span<const std::byte> key, std::span<const std::byte> value) noexcept {
  if (finished_ || key.empty()) co_return fail(Errc::invalid_argument);
  if (key.size() > max_key_size || value.size() > store_->value_limit()) co_return fail(Errc::too_large);
  FERRITE_CO_TRY(co_await observe(key));
  const std::size_t end = writes_.bytes().size();
  FERRITE_CO_TRY(writes_.add_write(false, key, value));
  writes_count_ += 1 - writes_.supersede(key, end);
  co_return Status{};
}

Task<Status> Transaction::erase(std::span<const std::byte> key) noexcept {
  if (finished_ || key.empty()) co_return fail(Errc::invalid_argument);
  if (key.size() > max_key_size) co_return fail(Errc::too_large);
  FERRITE_CO_TRY(co_await observe(key));
  const std::size_t end = writes_.bytes().size();
  FERRITE_CO_TRY(writes_.add_write(true, key, {}));
  writes_count_ += 1 - writes_.supersede(key, end);
  co_return Status{};
}

Task<Result<std::size_t>> Transaction::get(std::span<const std::byte> key, std::span<std::byte> out) noexcept {
  if (finished_ || key.empty()) co_return fail(Errc::invalid_argument);
  if (key.size() > max_key_size) co_return fail(Errc::too_large);
  BatchLog::Entry mine;
  if (find_write(key, mine)) {
    if (mine.op == 1) co_return fail(Errc::not_found);
    if (out.size() < mine.value.size()) co_return fail(Errc::buffer_too_small);
    if (!mine.value.empty()) std::memcpy(out.data(), mine.value.data(), mine.value.size());
    co_return mine.value.size();
  }
  std::uint32_t version = TxnHooks::no_version;
  auto n = co_await TxnHooks::read_versioned(*store_, key, out, reads_.bytes(), version);
  if (!n && n.error() != Errc::not_found && n.error() != Errc::buffer_too_small) co_return n;
  if (!has_read(key)) FERRITE_CO_TRY(reads_.add_read(key, version));
  co_return n;
}

Task<Status> Transaction::commit() noexcept {
  if (finished_) co_return fail(Errc::invalid_argument);
  finished_ = true;
  auto st = co_await TxnHooks::commit_batch(*store_, writes_.bytes(), reads_.bytes());
  writes_.clear();
  reads_.clear();
  writes_count_ = 0;
  co_return st;
}

Status Batch::add(bool erase, std::span<const std::byte> key, std::span<const std::byte> value) noexcept {
  if (key.empty()) return fail(Errc::invalid_argument);
  if (key.size() > max_key_size || value.size() > store_->value_limit()) return fail(Errc::too_large);
  const std::size_t end = writes_.bytes().size();
  if (auto st = writes_.add_write(erase, key, value); !st) return st;
  count_ += 1 - writes_.supersede(key, end);
  return Status{};
}

Status Batch::put(std::span<const std::byte> key, std::span<const std::byte> value) noexcept {
  return add(false, key, value);
}

Status Batch::erase(std::span<const std::byte> key) noexcept { return add(true, key, {}); }

Task<Status> Batch::commit() noexcept {
  if (count_ == 0) {
    clear();
    co_return Status{};
  }
  auto st = co_await TxnHooks::commit_batch(*store_, writes_.bytes(), {});
  clear();
  co_return st;
}

void Transaction::rollback() noexcept {
  finished_ = true;
  writes_.clear();
  reads_.clear();
  writes_count_ = 0;
}

}  // namespace ferrite
