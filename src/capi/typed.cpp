// C API: typed helpers (ferrite_put_u32, ferrite_get_u32, ...) over
// Store::put_scalar / get_scalar.
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

}  // namespace

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
