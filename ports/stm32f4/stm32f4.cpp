// STM32F4 embedded flash driver: geometry, status mapping, and the hardware
// instantiation of the driver.
module;
#include "ferrite_modules.hpp"

module ferrite.stm32f4;

namespace ferrite::stm32f4 {

Result<Geometry> geometry_for(const Stm32f4Config& config) noexcept {
  // RM0090 table 5: sectors 0-3 of 16 KiB, sector 4 of 64 KiB, then 128 KiB.
  std::uint32_t big;
  switch (config.flash_kib) {
    case 512: big = 3; break;
    case 1024: big = 7; break;
    default: return fail(Errc::invalid_argument);
  }
  if (config.parallelism != Parallelism::x8 && config.parallelism != Parallelism::x16 &&
      config.parallelism != Parallelism::x32)
    return fail(Errc::invalid_argument);
  const std::array<SectorRun, 3> runs{SectorRun{4, 16 * 1024}, SectorRun{1, 64 * 1024}, SectorRun{big, 128 * 1024}};
  return Geometry::make(runs, unit_bytes(config.parallelism), EraseValue::ones, false);
}

Errc errc_from_status(std::uint32_t sr) noexcept {
  if (sr & (bits::sr_pgaerr | bits::sr_pgperr)) return Errc::misaligned;
  if (sr & (bits::sr_wrperr | bits::sr_pgserr | bits::sr_operr)) return Errc::io;
  return Errc::ok;
}

template class Stm32f4Flash<DirectAccess>;

}  // namespace ferrite::stm32f4
