// C API: typed helpers (ferrite_put_u32, ferrite_get_u32, ...) over
// Store::put_scalar / get_scalar; strings and blobs over Store::put_typed.
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

using namespace ferrite;
using namespace ferrite::capi;

namespace {

template <class T>
ferrite_err put_typed(ferrite_store* store, const void* key, std::size_t key_len, T value) noexcept {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len)) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.put_scalar(bytes_of(key, key_len), Scalar::of(value))));
}

template <class T>
ferrite_err get_typed(ferrite_store* store, const void* key, std::size_t key_len, T* value) noexcept {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len) || !value) return FERRITE_INVALID_ARGUMENT;
  Result<Scalar> s = h->run(h->store.get_scalar(bytes_of(key, key_len)));
  if (!s) return to_c(s.error());
  Result<T> v = s->as<T>();
  if (v) *value = *v;
  return code_of(v);
}

ferrite_err put_tagged(ferrite_store* store, const void* key, std::size_t key_len, ValueType type, const void* value,
                       std::size_t value_len) noexcept {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len) || (!value && value_len)) return FERRITE_INVALID_ARGUMENT;
  return code_of(h->run(h->store.put_typed(bytes_of(key, key_len), type, bytes_of(value, value_len))));
}

// A string or blob reads back when it carries that type, or none (bytes from
// ferrite_put): like Scalar::as, which accepts an untyped value of the size.
ferrite_err check_type(StoreHandle* h, const void* key, std::size_t key_len, ValueType want) noexcept {
  Result<ValueType> t = h->run(h->store.type_of(bytes_of(key, key_len)));
  if (!t) return to_c(t.error());
  return *t == want || *t == ValueType::untyped ? FERRITE_OK : FERRITE_TYPE_MISMATCH;
}

}  // namespace

extern "C" {

ferrite_err ferrite_type_of(ferrite_store* store, const void* key, size_t key_len, ferrite_value_type* type) {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len) || !type) return FERRITE_INVALID_ARGUMENT;
  Result<ValueType> t = h->run(h->store.type_of(bytes_of(key, key_len)));
  if (t) *type = static_cast<ferrite_value_type>(*t);
  return code_of(t);
}

ferrite_err ferrite_put_string(ferrite_store* store, const void* key, size_t key_len, const char* value,
                               size_t value_len) {
  return put_tagged(store, key, key_len, ValueType::string, value, value_len);
}

ferrite_err ferrite_get_string(ferrite_store* store, const void* key, size_t key_len, char* buf, size_t* len) {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len) || !len || !buf || *len == 0) return FERRITE_INVALID_ARGUMENT;
  if (const ferrite_err e = check_type(h, key, key_len, ValueType::string); e != FERRITE_OK) return e;
  size_t n = *len - 1;  // room for the NUL
  const ferrite_err e = ferrite_get(store, key, key_len, buf, &n);
  if (e == FERRITE_OK) buf[n] = '\0';
  if (e == FERRITE_OK || e == FERRITE_BUFFER_TOO_SMALL) *len = n;
  return e;
}

ferrite_err ferrite_put_blob(ferrite_store* store, const void* key, size_t key_len, const void* value,
                             size_t value_len) {
  return put_tagged(store, key, key_len, ValueType::blob, value, value_len);
}

ferrite_err ferrite_get_blob(ferrite_store* store, const void* key, size_t key_len, void* buf, size_t* value_len) {
  StoreHandle* h = handle_of(store);
  if (!h || (!key && key_len) || !value_len) return FERRITE_INVALID_ARGUMENT;
  if (const ferrite_err e = check_type(h, key, key_len, ValueType::blob); e != FERRITE_OK) return e;
  return ferrite_get(store, key, key_len, buf, value_len);
}

}  // extern "C"

#define FERRITE_TYPED_DEF(name, type)                                                                   \
  extern "C" ferrite_err ferrite_put_##name(ferrite_store* store, const void* key, size_t key_len, type value) { \
    return put_typed<type>(store, key, key_len, value);                                                 \
  }                                                                                                     \
  extern "C" ferrite_err ferrite_get_##name(ferrite_store* store, const void* key, size_t key_len, type* value) { \
    return get_typed<type>(store, key, key_len, value);                                                 \
  }
FERRITE_TYPED_DEF(u8, uint8_t)
FERRITE_TYPED_DEF(i8, int8_t)
FERRITE_TYPED_DEF(u16, uint16_t)
FERRITE_TYPED_DEF(i16, int16_t)
FERRITE_TYPED_DEF(u32, uint32_t)
FERRITE_TYPED_DEF(i32, int32_t)
FERRITE_TYPED_DEF(u64, uint64_t)
FERRITE_TYPED_DEF(i64, int64_t)
FERRITE_TYPED_DEF(float, float)
FERRITE_TYPED_DEF(double, double)
FERRITE_TYPED_DEF(bool, bool)
