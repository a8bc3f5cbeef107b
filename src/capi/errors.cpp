// C API: the error enum (checked against ferrite::Errc) and its strings, the
// value types (checked against ferrite::ValueType) and the version.
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

namespace {
using ferrite::Errc;
#define FERRITE_SAME(c, cpp) static_assert(static_cast<int>(c) == static_cast<int>(Errc::cpp), #c " != Errc::" #cpp);
FERRITE_SAME(FERRITE_OK, ok)
FERRITE_SAME(FERRITE_IO, io)
FERRITE_SAME(FERRITE_CORRUPT, corrupt)
FERRITE_SAME(FERRITE_NO_SPACE, no_space)
FERRITE_SAME(FERRITE_NOT_FOUND, not_found)
FERRITE_SAME(FERRITE_TOO_LARGE, too_large)
FERRITE_SAME(FERRITE_INVALID_ARGUMENT, invalid_argument)
FERRITE_SAME(FERRITE_WRONG_KEY, wrong_key)
FERRITE_SAME(FERRITE_CONFLICT, conflict)
FERRITE_SAME(FERRITE_BUSY, busy)
FERRITE_SAME(FERRITE_NO_MEMORY, no_memory)
FERRITE_SAME(FERRITE_NOT_FORMATTED, not_formatted)
FERRITE_SAME(FERRITE_FOREIGN_FORMAT, foreign_format)
FERRITE_SAME(FERRITE_UNSUPPORTED, unsupported)
FERRITE_SAME(FERRITE_MISALIGNED, misaligned)
FERRITE_SAME(FERRITE_OUT_OF_BOUNDS, out_of_bounds)
FERRITE_SAME(FERRITE_REPROGRAM_FORBIDDEN, reprogram_forbidden)
FERRITE_SAME(FERRITE_BITS_NOT_ERASED, bits_not_erased)
FERRITE_SAME(FERRITE_WORN_OUT, worn_out)
FERRITE_SAME(FERRITE_POWER_LOST, power_lost)
FERRITE_SAME(FERRITE_CANCELLED, cancelled)
FERRITE_SAME(FERRITE_NOT_MOUNTED, not_mounted)
FERRITE_SAME(FERRITE_BUFFER_TOO_SMALL, buffer_too_small)
FERRITE_SAME(FERRITE_EXISTS, exists)
FERRITE_SAME(FERRITE_TYPE_MISMATCH, type_mismatch)
FERRITE_SAME(FERRITE_ALREADY_MOUNTED, already_mounted)
FERRITE_SAME(FERRITE_TAMPERED, tampered)
FERRITE_SAME(FERRITE_CONFIG_MISMATCH, config_mismatch)
FERRITE_SAME(FERRITE_HISTORY_LOST, history_lost)
#undef FERRITE_SAME

using ferrite::ValueType;
#define FERRITE_SAME_TYPE(c, cpp) \
  static_assert(static_cast<int>(c) == static_cast<int>(ValueType::cpp), #c " != ValueType::" #cpp);
FERRITE_SAME_TYPE(FERRITE_TYPE_UNTYPED, untyped)
FERRITE_SAME_TYPE(FERRITE_TYPE_U8, u8)
FERRITE_SAME_TYPE(FERRITE_TYPE_I8, i8)
FERRITE_SAME_TYPE(FERRITE_TYPE_U16, u16)
FERRITE_SAME_TYPE(FERRITE_TYPE_I16, i16)
FERRITE_SAME_TYPE(FERRITE_TYPE_U32, u32)
FERRITE_SAME_TYPE(FERRITE_TYPE_I32, i32)
FERRITE_SAME_TYPE(FERRITE_TYPE_U64, u64)
FERRITE_SAME_TYPE(FERRITE_TYPE_I64, i64)
FERRITE_SAME_TYPE(FERRITE_TYPE_FLOAT, f32)
FERRITE_SAME_TYPE(FERRITE_TYPE_DOUBLE, f64)
FERRITE_SAME_TYPE(FERRITE_TYPE_BOOL, boolean)
FERRITE_SAME_TYPE(FERRITE_TYPE_STRING, string)
FERRITE_SAME_TYPE(FERRITE_TYPE_BLOB, blob)
#undef FERRITE_SAME_TYPE
}  // namespace

extern "C" const char* ferrite_strerror(ferrite_err err) { return ferrite::describe(ferrite::capi::to_errc(err)); }
extern "C" const char* ferrite_errname(ferrite_err err) { return ferrite::name_of(ferrite::capi::to_errc(err)); }

extern "C" const char* ferrite_type_name(ferrite_value_type type) {
  if (static_cast<int>(type) < FERRITE_TYPE_UNTYPED || static_cast<int>(type) > FERRITE_TYPE_BLOB) return "unknown";
  return ferrite::name_of(static_cast<ferrite::ValueType>(type));
}

// The library's own version (ferrite::version is a string_view over the
// FERRITE_VERSION literal: NUL-terminated).
extern "C" const char* ferrite_version(void) { return ferrite::version.data(); }
