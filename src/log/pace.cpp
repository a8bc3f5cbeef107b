// Pacing of maintenance: how much collection one maintain() call does
// (MaintenancePace in modules/ferrite.log.cppm, docs/FORMAT.md §6).
module;
#include "ferrite_modules.hpp"

module ferrite.log;

namespace ferrite {

void MaintenancePace::note_writes(std::uint32_t bytes) noexcept {
  // A moving average over about eight calls: quick enough to follow a
  // change of pace, slow enough that one large record does not swing it.
  const std::uint64_t sample = std::uint64_t{std::min<std::uint32_t>(bytes, 0x0FFFFFFFu)} * 16;
  if (!sampled_) {
    per_call_x16_ = static_cast<std::uint32_t>(sample);
    sampled_ = true;
    return;
  }
  const auto now = static_cast<std::int64_t>(per_call_x16_);
  per_call_x16_ = static_cast<std::uint32_t>(now + (static_cast<std::int64_t>(sample) - now) / 8);
}

std::uint32_t MaintenancePace::per_call(std::uint32_t fallback) const noexcept {
  if (!sampled_) return fallback;
  return std::max<std::uint32_t>(1, (per_call_x16_ + 15) / 16);
}

std::uint32_t MaintenancePace::calls_left(std::uint32_t runway, std::uint32_t per_call) noexcept {
  return runway / std::max<std::uint32_t>(per_call, 1);
}

std::uint32_t MaintenancePace::due(std::uint32_t debt, std::uint32_t calls_left, std::uint32_t budget) noexcept {
  if (debt == 0 || budget == 0) return 0;
  // What may stay behind: half of what the calls after this one can copy.
  const std::uint64_t keep = calls_left == 0 ? 0 : std::uint64_t{calls_left - 1} * budget / 2;
  if (debt <= keep) return 0;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(budget, debt - keep));
}

std::uint32_t MaintenancePace::needed(std::uint32_t debt, std::uint32_t calls_left) noexcept {
  if (debt == 0) return 0;
  if (calls_left == 0) return debt;
  return static_cast<std::uint32_t>((std::uint64_t{debt} + calls_left - 1) / calls_left);
}

}  // namespace ferrite
