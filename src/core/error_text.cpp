// Sentences for every Errc (describe). Kept apart from the names
// (errors.cpp) so that only a program that prints them links them.
module;
#include "ferrite_modules.hpp"

module ferrite.core;

namespace ferrite {

const char* describe(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "success";
    case Errc::io: return "the flash device failed or read back different data";
    case Errc::corrupt: return "stored data failed its integrity check";
    case Errc::no_space: return "not enough free space; nothing was changed";
    case Errc::not_found: return "no such key";
    case Errc::too_large: return "key, value or request exceeds the documented limit";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::wrong_key: return "the encryption key does not open this store";
    case Errc::conflict: return "a concurrent transaction conflicted; retry";
    case Errc::busy: return "the resource is in use by another owner";
    case Errc::no_memory: return "a bounded RAM resource is exhausted";
    case Errc::not_formatted: return "the flash region holds no ferrite store";
    case Errc::foreign_format: return "the flash region holds foreign data or another format or geometry";
    case Errc::unsupported: return "not supported by this build, port or geometry";
    case Errc::misaligned: return "address or length is not a multiple of the program unit";
    case Errc::out_of_bounds: return "address, length or sector lies outside the device";
    case Errc::reprogram_forbidden: return "a flash unit may be programmed only once between erases";
    case Errc::bits_not_erased: return "programming cannot return bits to the erased state";
    case Errc::worn_out: return "the flash sector is worn out";
    case Errc::power_lost: return "power was lost; the device accepts no more operations";
    case Errc::cancelled: return "the operation was cancelled";
    case Errc::not_mounted: return "the store is not mounted";
    case Errc::buffer_too_small: return "the buffer is too small for the value";
    case Errc::exists: return "the name or unique value exists already; nothing was changed";
    case Errc::type_mismatch: return "the stored value has another type than the one asked for";
    case Errc::already_mounted: return "the store is mounted; unmount() it first (nothing was changed)";
    case Errc::tampered: return "the sealed store fails authentication: records, sectors or the whole log were altered or rolled back";
    case Errc::config_mismatch: return "the store was formatted with other security options (suite, key hiding, compression, KDF cost) than the ones given";
    case Errc::history_lost: return "the log no longer holds that position: garbage collection discarded it";
  }
  return "unknown error";
}

}  // namespace ferrite
