// Names of every Errc, and the event sink. The sentences (describe) are in
// error_text.cpp: a unit of their own, so a firmware that prints names only
// does not link them (string literals share one section per unit).
module;
#include "ferrite_modules.hpp"

module ferrite.core;

namespace ferrite {

const char* name_of(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::io: return "io";
    case Errc::corrupt: return "corrupt";
    case Errc::no_space: return "no_space";
    case Errc::not_found: return "not_found";
    case Errc::too_large: return "too_large";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::wrong_key: return "wrong_key";
    case Errc::conflict: return "conflict";
    case Errc::busy: return "busy";
    case Errc::no_memory: return "no_memory";
    case Errc::not_formatted: return "not_formatted";
    case Errc::foreign_format: return "foreign_format";
    case Errc::unsupported: return "unsupported";
    case Errc::misaligned: return "misaligned";
    case Errc::out_of_bounds: return "out_of_bounds";
    case Errc::reprogram_forbidden: return "reprogram_forbidden";
    case Errc::bits_not_erased: return "bits_not_erased";
    case Errc::worn_out: return "worn_out";
    case Errc::power_lost: return "power_lost";
    case Errc::cancelled: return "cancelled";
    case Errc::not_mounted: return "not_mounted";
    case Errc::buffer_too_small: return "buffer_too_small";
    case Errc::exists: return "exists";
    case Errc::type_mismatch: return "type_mismatch";
    case Errc::already_mounted: return "already_mounted";
    case Errc::tampered: return "tampered";
    case Errc::config_mismatch: return "config_mismatch";
    case Errc::history_lost: return "history_lost";
  }
  return "unknown";
}

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

}  // namespace ferrite
