// Request validation and completion hand-off for ferrite.flash.
module;
#include "ferrite_modules.hpp"

module ferrite.flash;

namespace ferrite {

void FlashRequest::complete(Errc r) noexcept {
  result = r;
  std::uint8_t expected = 0;
  // Still inside submit(): the awaiter sees "completed" and does not suspend.
  if (state.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) return;
  // The awaiter is suspended: resume it on its loop (safe from interrupt
  // context), or inline when there is no loop.
  state.store(2, std::memory_order_release);
  if (loop) loop->post(wakeup); else wakeup.handle.resume();
}

Flash::Flash(FlashDevice& device, RunLoop* loop) noexcept
    : device_(&device), loop_(loop), geometry_(device.geometry()) {}

Flash::Flash(FlashDevice& device, RunLoop* loop, Geometry g, std::uint32_t first_sector) noexcept
    : device_(&device),
      loop_(loop),
      geometry_(g),
      first_sector_(first_sector),
      base_(device.geometry().sector_offset(first_sector)) {}

Result<Flash> Flash::partition(FlashDevice& device, std::uint32_t first_sector, std::uint32_t sector_count,
                               RunLoop* loop) noexcept {
  auto g = device.geometry().slice(first_sector, sector_count);
  if (!g) return fail(g.error());
  return Flash(device, loop, *g, first_sector);
}

FlashOp Flash::read(std::uint32_t address, std::span<std::byte> out) noexcept {
  const bool in_bounds = address <= geometry_.total_size() && out.size() <= geometry_.total_size() - address;
  return FlashOp(device_, loop_, in_bounds ? Errc::ok : Errc::out_of_bounds, FlashOpKind::read, base_ + address,
                 static_cast<std::uint32_t>(out.size()), 0, out.data(), nullptr);
}

FlashOp Flash::program(std::uint32_t address, std::span<const std::byte> data) noexcept {
  const std::uint32_t unit = geometry_.program_unit();
  Errc verdict = Errc::ok;
  if (data.empty()) verdict = Errc::invalid_argument;
  else if (address % unit != 0 || data.size() % unit != 0) verdict = Errc::misaligned;
  else if (address > geometry_.total_size() || data.size() > geometry_.total_size() - address)
    verdict = Errc::out_of_bounds;
  return FlashOp(device_, loop_, verdict, FlashOpKind::program, base_ + address,
                 static_cast<std::uint32_t>(data.size()), 0, nullptr, data.data());
}

FlashOp Flash::erase(std::uint32_t sector) noexcept {
  const bool ok = sector < geometry_.sector_count();
  return FlashOp(device_, loop_, ok ? Errc::ok : Errc::out_of_bounds, FlashOpKind::erase,
                 base_ + (ok ? geometry_.sector_offset(sector) : 0), ok ? geometry_.sector_size(sector) : 0,
                 first_sector_ + sector, nullptr, nullptr);
}

}  // namespace ferrite
