// C API: ferrite::FlashDevice over the C port callbacks (blocking or polled).
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

namespace ferrite::capi {

Result<Geometry> geometry_of(const ferrite_port& port) noexcept {
  EraseValue ev;
  if (port.erase_value == 0xFF) ev = EraseValue::ones;
  else if (port.erase_value == 0x00) ev = EraseValue::zeros;
  else return fail(Errc::invalid_argument);
  if (port.runs) {
    if (port.run_count == 0 || port.run_count > Geometry::max_runs) return fail(Errc::invalid_argument);
    std::array<SectorRun, Geometry::max_runs> runs{};
    for (std::uint32_t i = 0; i < port.run_count; ++i) runs[i] = SectorRun{port.runs[i].count, port.runs[i].size};
    return Geometry::make(std::span<const SectorRun>(runs.data(), port.run_count), port.program_unit, ev,
                          port.reprogram_allowed);
  }
  return Geometry::uniform(port.sector_count, port.sector_size, port.program_unit, ev, port.reprogram_allowed);
}

namespace {
ferrite_err start(const ferrite_port& port, const FlashRequest& r) noexcept {
  switch (r.kind) {
    case FlashOpKind::read: return port.read(port.ctx, r.address, r.read_into, r.length);
    case FlashOpKind::program: return port.program(port.ctx, r.address, r.program_from, r.length);
    case FlashOpKind::erase: return port.erase(port.ctx, r.sector);
  }
  return FERRITE_UNSUPPORTED;
}
}  // namespace

void PortDevice::submit(FlashRequest& request) noexcept {
  // An empty read or program (an empty value) has nothing for the port to
  // do, and its buffer may be null: C callbacks never see length 0.
  if (request.kind != FlashOpKind::erase && request.length == 0) return request.complete(Errc::ok);
  if (!polled()) return request.complete(to_errc(start(port_, request)));
  // Polled: one operation in flight (every C call drives a single chain of
  // coroutines, and the store serialises its calls).
  if (pending_) return request.complete(Errc::busy);
  const ferrite_err e = start(port_, request);
  if (e != FERRITE_OK) return request.complete(to_errc(e));
  pending_ = &request;
}

bool PortDevice::poll() noexcept {
  if (!pending_) return false;
  ferrite_err result = FERRITE_OK;
  if (port_.poll(port_.ctx, &result)) {
    FlashRequest* r = std::exchange(pending_, nullptr);
    r->complete(to_errc(result));  // posts the awaiting coroutine to the loop
  }
  return true;  // in flight or just completed: keep turning
}

}  // namespace ferrite::capi
