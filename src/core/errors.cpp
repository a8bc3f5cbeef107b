// Names and sentences for every Errc.
module;
#include "ferrite_modules.hpp"

module ferrite.core;

namespace ferrite {

namespace {
struct ErrcText {
  const char* name;
  const char* sentence;
};

constexpr ErrcText text_of(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return {"ok", "success"};
    case Errc::io: return {"io", "the flash device failed or read back different data"};
    case Errc::corrupt: return {"corrupt", "stored data failed its integrity check"};
    case Errc::no_space: return {"no_space", "not enough free space; nothing was changed"};
    case Errc::not_found: return {"not_found", "no such key"};
    case Errc::too_large: return {"too_large", "key, value or request exceeds the documented limit"};
    case Errc::invalid_argument: return {"invalid_argument", "invalid argument"};
    case Errc::wrong_key: return {"wrong_key", "the encryption key does not open this store"};
    case Errc::conflict: return {"conflict", "a concurrent transaction conflicted; retry"};
    case Errc::busy: return {"busy", "the resource is in use by another owner"};
    case Errc::no_memory: return {"no_memory", "a bounded RAM resource is exhausted"};
    case Errc::not_formatted: return {"not_formatted", "the flash region holds no ferrite store"};
    case Errc::foreign_format: return {"foreign_format", "the flash region holds foreign data or another format or geometry"};
    case Errc::unsupported: return {"unsupported", "not supported by this build, port or geometry"};
    case Errc::misaligned: return {"misaligned", "address or length is not a multiple of the program unit"};
    case Errc::out_of_bounds: return {"out_of_bounds", "address, length or sector lies outside the device"};
    case Errc::reprogram_forbidden: return {"reprogram_forbidden", "a flash unit may be programmed only once between erases"};
    case Errc::bits_not_erased: return {"bits_not_erased", "programming cannot return bits to the erased state"};
    case Errc::worn_out: return {"worn_out", "the flash sector is worn out"};
    case Errc::power_lost: return {"power_lost", "power was lost; the device accepts no more operations"};
    case Errc::cancelled: return {"cancelled", "the operation was cancelled"};
    case Errc::not_mounted: return {"not_mounted", "the store is not mounted"};
    case Errc::buffer_too_small: return {"buffer_too_small", "the buffer is too small for the value"};
    case Errc::exists: return {"exists", "the name or unique value exists already; nothing was changed"};
    case Errc::type_mismatch: return {"type_mismatch", "the stored value has another type than the one asked for"};
    case Errc::already_mounted: return {"already_mounted", "the store is mounted; unmount() it first (nothing was changed)"};
    case Errc::tampered: return {"tampered", "the sealed store fails authentication: records, sectors or the whole log were altered or rolled back"};
    case Errc::config_mismatch: return {"config_mismatch", "the store was formatted with other security options (suite, key hiding, compression, KDF cost) than the ones given"};
    case Errc::history_lost: return {"history_lost", "the log no longer holds that position: garbage collection discarded it"};
  }
  return {"unknown", "unknown error"};
}
}  // namespace

const char* name_of(Errc e) noexcept { return text_of(e).name; }

namespace {
EventSink event_sink{};
}  // namespace

void set_event_sink(EventSink sink) noexcept { event_sink = sink; }

void emit_event(EventLevel level, std::string_view message) noexcept {
  if (event_sink.write && level >= event_sink.threshold) event_sink.write(event_sink.context, level, message);
}

const char* name_of(EventLevel level) noexcept {
  switch (level) {
    case EventLevel::debug: return "debug";
    case EventLevel::info: return "info";
    case EventLevel::error: return "error";
  }
  return "unknown";
}
const char* describe(Errc e) noexcept { return text_of(e).sentence; }

}  // namespace ferrite
