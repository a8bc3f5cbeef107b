// The RAM index's own bookkeeping: positions, packing, slots and the
// key-order permutation's ranks (docs/FORMAT.md §7). No flash access here.
module;
#include "ferrite_modules.hpp"

module ferrite.log;

namespace ferrite {

namespace {
// How an index entry of a sealed store (which never uses slots) says
// whether its key is tampered.
constexpr std::uint8_t tamper_slot_pending = 126, tamper_slot_recorded = 127;
}  // namespace

std::size_t RamIndex::lower_bound(std::uint32_t hash) const noexcept {
  std::size_t lo = 0, hi = count_;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (entries_[mid].hash() < hash) lo = mid + 1; else hi = mid;
  }
  return lo;
}

std::size_t RamIndex::only_with(std::uint32_t hash) const noexcept {
  const std::size_t at = lower_bound(hash);
  if (at >= count_ || entries_[at].hash() != hash) return none;
  if (at + 1 < count_ && entries_[at + 1].hash() == hash) return none;
  return at;
}

bool RamIndex::holds(std::uint32_t hash) const noexcept {
  const std::size_t at = lower_bound(hash);
  return at < count_ && entries_[at].hash() == hash;
}

bool RamIndex::hashes_unique() const noexcept {
  for (std::size_t i = 1; i < count_; ++i)
    if (entries_[i].hash() == entries_[i - 1].hash()) return false;
  return true;
}

std::size_t RamIndex::position_of_slot(std::uint8_t slot) const noexcept {
  if (slot == 0) return none;
  for (std::size_t i = 0; i < count_; ++i)
    if (entries_[i].slot() == slot) return i;
  return none;
}

IndexedKey RamIndex::unpack(std::size_t position, std::uint32_t unit, bool sealed) const noexcept {
  const IndexEntry& p = entries_[position];
  IndexedKey e;
  e.hash = p.hash();
  e.location = p.location(unit);
  e.binding = p.binding(unit);
  e.value_size = p.value_size_;
  e.slot = p.slot();
  e.typed = (p.where_ >> 31) != 0;
  if (sealed_stores_built && sealed && e.slot >= tamper_slot_pending) {
    e.tamper = e.slot == tamper_slot_recorded ? Tamper::recorded : Tamper::pending;
    e.slot = 0;
  }
  return e;
}

void RamIndex::store(std::size_t position, const IndexedKey& e, std::uint32_t unit) noexcept {
  IndexEntry& p = entries_[position];
  p.hash_ = e.hash;
  const std::uint8_t slot = !sealed_stores_built            ? e.slot
                           : e.tamper == Tamper::recorded  ? tamper_slot_recorded
                           : e.tamper == Tamper::pending ? tamper_slot_pending
                                                         : e.slot;
  p.where_ = (e.location / unit) | (std::uint32_t{slot} << 24) | (e.typed ? 0x80000000u : 0u);
  p.back_ = static_cast<std::uint16_t>((e.location - e.binding) / unit);
  p.value_size_ = e.value_size;
}

std::size_t RamIndex::insert(const IndexedKey& e, std::uint32_t unit) noexcept {
  std::size_t pos = lower_bound(e.hash);
  while (pos < count_ && entries_[pos].hash() == e.hash) ++pos;
  for (std::size_t i = count_; i > pos; --i) entries_[i] = entries_[i - 1];
  store(pos, e, unit);
  ++count_;
  ++epoch_;
  if (order_valid_)
    for (std::size_t i = 0; i + 1 < count_; ++i)
      if (order_[i] >= pos) ++order_[i];
  return pos;
}

void RamIndex::remove(std::size_t position) noexcept {
  for (std::size_t i = position; i + 1 < count_; ++i) entries_[i] = entries_[i + 1];
  --count_;
  ++epoch_;
  if (!order_valid_) return;
  std::size_t out = 0;
  for (std::size_t i = 0; i <= count_; ++i) {
    const std::uint16_t p = order_[i];
    if (p == position) continue;
    order_[out++] = static_cast<std::uint16_t>(p > position ? p - 1 : p);
  }
}

void RamIndex::clear() noexcept {
  count_ = 0;
  order_valid_ = false;
  ++epoch_;  // cursors re-find their position in whatever is mounted next
  slots_used_ = {};
}

std::uint8_t RamIndex::allocate_slot() noexcept {
  for (std::uint8_t s = 1; s <= max_slots; ++s) {
    if (!(slots_used_[s / 32] & (1u << (s % 32)))) {
      mark_slot(s);
      return s;
    }
  }
  return 0;
}

void RamIndex::mark_slot(std::uint8_t slot) noexcept {
  if (slot != 0) slots_used_[slot / 32] |= 1u << (slot % 32);
}

void RamIndex::release_slot(std::uint8_t slot) noexcept {
  if (slot != 0) slots_used_[slot / 32] &= ~(1u << (slot % 32));
}

void RamIndex::place_in_order(std::size_t rank, std::size_t count, std::size_t position) noexcept {
  for (std::size_t i = count; i > rank; --i) order_[i] = order_[i - 1];
  order_[rank] = static_cast<std::uint16_t>(position);
}

}  // namespace ferrite
