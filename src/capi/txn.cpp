// C API: transactions (a ferrite::Transaction inside ferrite_txn, its
// workspace in caller buffers).
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

using namespace ferrite;
using namespace ferrite::capi;

namespace {

/// What ferrite_txn holds: the transaction and where its write log ends in
/// the caller's write space (each buffered put/erase appends 4 + key + value
/// bytes), so that a get can size a value the transaction wrote itself.
struct TxnState {
  Transaction txn;
  const std::byte* write_log;
  std::size_t write_bytes = 0;
};

static_assert(sizeof(TxnState) <= FERRITE_TXN_SIZE, "raise FERRITE_TXN_SIZE in ferrite.h");
static_assert(alignof(TxnState) <= 8);

TxnState* state_of(ferrite_txn* t) noexcept { return std::launder(reinterpret_cast<TxnState*>(t->opaque.bytes)); }
Transaction* txn_of(ferrite_txn* t) noexcept { return &state_of(t)->txn; }
StoreHandle* active(ferrite_txn* t) noexcept { return t && t->active ? handle_of(t->store) : nullptr; }
void finish(ferrite_txn* t) noexcept {
  state_of(t)->~TxnState();
  t->active = false;
}

/// The value size of the transaction's own latest write of `key`, if any.
bool own_write_size(const TxnState& s, std::span<const std::byte> key, std::size_t& size) noexcept {
  std::size_t cursor = 0;
  BatchLog::Entry e;
  bool malformed = false, found = false;
  const std::span<const std::byte> log(s.write_log, s.write_bytes);
  while (BatchLog::next(log, false, cursor, e, malformed)) {
    if (e.op == 0 && e.key.size() == key.size() && std::memcmp(e.key.data(), key.data(), key.size()) == 0) {
      size = e.value.size();
      found = true;
    }
  }
  return found;
}

}  // namespace

extern "C" {

ferrite_err ferrite_txn_begin(ferrite_store* store, ferrite_txn* txn, void* write_space, size_t write_len,
                              void* read_space, size_t read_len) {
  StoreHandle* h = handle_of(store);
  if (!h || !txn || !write_space || !write_len || !read_space || !read_len) return FERRITE_INVALID_ARGUMENT;
  txn->active = false;
  txn->store = store;
  if (!h->store.mounted()) return FERRITE_NOT_MOUNTED;
  ::new (static_cast<void*>(txn->opaque.bytes)) TxnState{
      Transaction(h->store, mutable_bytes_of(write_space, write_len), mutable_bytes_of(read_space, read_len)),
      static_cast<const std::byte*>(write_space), 0};
  txn->active = true;
  return FERRITE_OK;
}

ferrite_err ferrite_txn_put(ferrite_txn* txn, const void* key, size_t key_len, const void* value, size_t value_len) {
  StoreHandle* h = active(txn);
  if (!h || (!key && key_len) || (!value && value_len)) return FERRITE_INVALID_ARGUMENT;
  const Status st = h->run(txn_of(txn)->put(bytes_of(key, key_len), bytes_of(value, value_len)));
  if (st) state_of(txn)->write_bytes += 4 + key_len + value_len;
  return code_of(st);
}

ferrite_err ferrite_txn_erase(ferrite_txn* txn, const void* key, size_t key_len) {
  StoreHandle* h = active(txn);
  if (!h || (!key && key_len)) return FERRITE_INVALID_ARGUMENT;
  const Status st = h->run(txn_of(txn)->erase(bytes_of(key, key_len)));
  if (st) state_of(txn)->write_bytes += 4 + key_len;
  return code_of(st);
}

ferrite_err ferrite_txn_get(ferrite_txn* txn, const void* key, size_t key_len, void* buf, size_t* value_len) {
  StoreHandle* h = active(txn);
  if (!h || (!key && key_len) || !value_len || (!buf && *value_len)) return FERRITE_INVALID_ARGUMENT;
  Result<std::size_t> r = h->run(txn_of(txn)->get(bytes_of(key, key_len), mutable_bytes_of(buf, *value_len)));
  if (r) {
    *value_len = *r;
    return FERRITE_OK;
  }
  if (r.error() == Errc::buffer_too_small) {
    // The size seen through the transaction: its own buffered write, else the store's.
    std::size_t own = 0;
    if (own_write_size(*state_of(txn), bytes_of(key, key_len), own)) {
      *value_len = own;
    } else {
      Result<std::size_t> size = h->run(h->store.size_of(bytes_of(key, key_len)));
      if (size) *value_len = *size;
    }
  }
  return to_c(r.error());
}

ferrite_err ferrite_txn_commit(ferrite_txn* txn) {
  StoreHandle* h = active(txn);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  const Status st = h->run(txn_of(txn)->commit());
  finish(txn);
  return code_of(st);
}

ferrite_err ferrite_txn_abort(ferrite_txn* txn) {
  if (!txn || !txn->active) return FERRITE_INVALID_ARGUMENT;
  txn_of(txn)->rollback();
  finish(txn);
  return FERRITE_OK;
}

}  // extern "C"
