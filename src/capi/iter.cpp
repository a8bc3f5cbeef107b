// C API: iteration by prefix (a ferrite::Cursor inside ferrite_iter).
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

using namespace ferrite;
using namespace ferrite::capi;

static_assert(sizeof(Cursor) <= FERRITE_ITER_SIZE, "raise FERRITE_ITER_SIZE in ferrite.h");
static_assert(alignof(Cursor) <= 8);
static_assert(std::is_trivially_destructible_v<Cursor>, "ferrite_iter needs no cleanup");

namespace {
Cursor* cursor_of(ferrite_iter* it) noexcept { return std::launder(reinterpret_cast<Cursor*>(it->opaque.bytes)); }
}  // namespace

extern "C" {

ferrite_err ferrite_iter_begin(ferrite_store* store, const void* prefix, size_t prefix_len, ferrite_iter* iter) {
  StoreHandle* h = handle_of(store);
  if (!h || !iter || (!prefix && prefix_len)) return FERRITE_INVALID_ARGUMENT;
  if (prefix_len > FERRITE_MAX_KEY_SIZE) return FERRITE_TOO_LARGE;
  iter->store = nullptr;
  ::new (static_cast<void*>(iter->opaque.bytes)) Cursor(h->store.scan(bytes_of(prefix, prefix_len)));
  iter->store = store;
  return h->store.mounted() ? FERRITE_OK : FERRITE_NOT_MOUNTED;
}

ferrite_err ferrite_iter_next(ferrite_iter* iter, void* key_buf, size_t* key_len, size_t* value_len) {
  if (!iter || !key_len || (!key_buf && *key_len)) return FERRITE_INVALID_ARGUMENT;
  StoreHandle* h = handle_of(iter->store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  Cursor* c = cursor_of(iter);
  Result<bool> r = h->run(c->next());
  if (!r) return to_c(r.error());
  if (!*r) return FERRITE_NOT_FOUND;
  const std::span<const std::byte> k = c->key();
  if (value_len) *value_len = c->value_size();
  const std::size_t capacity = *key_len;
  *key_len = k.size();
  if (k.size() > capacity) return FERRITE_BUFFER_TOO_SMALL;
  std::memcpy(key_buf, k.data(), k.size());
  return FERRITE_OK;
}

ferrite_err ferrite_iter_value(ferrite_iter* iter, void* buf, size_t* value_len) {
  if (!iter || !value_len || (!buf && *value_len)) return FERRITE_INVALID_ARGUMENT;
  StoreHandle* h = handle_of(iter->store);
  if (!h) return FERRITE_INVALID_ARGUMENT;
  Cursor* c = cursor_of(iter);
  Result<std::size_t> r = h->run(c->read_value(mutable_bytes_of(buf, *value_len)));
  if (r) {
    *value_len = *r;
    return FERRITE_OK;
  }
  if (r.error() == Errc::buffer_too_small) {
    Result<std::size_t> size = h->run(h->store.size_of(c->key()));
    if (size) *value_len = *size;
  }
  return to_c(r.error());
}

ferrite_value_type ferrite_iter_type(const ferrite_iter* iter) {
  if (!iter || !handle_of(iter->store)) return FERRITE_TYPE_UNTYPED;
  const Cursor* c = std::launder(reinterpret_cast<const Cursor*>(iter->opaque.bytes));
  return static_cast<ferrite_value_type>(c->type());
}

}  // extern "C"
