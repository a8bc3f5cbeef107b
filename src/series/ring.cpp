// The ring of a series log: live sectors ordered by their first sequence
// number (unique among live sectors, docs/FORMAT.md §11.1), found by a walk
// of the sector table rather than kept in RAM.
module;
#include "ferrite_modules.hpp"

module ferrite.series;

namespace ferrite {

namespace {
constexpr auto live = SeriesSector::State::live;
}

std::uint32_t SeriesLog::oldest() const noexcept {
  std::uint32_t best = none;
  for (std::uint32_t s = 0; s < sector_count_; ++s)
    if (sectors_[s].state() == live && (best == none || sectors_[s].first_seq() < sectors_[best].first_seq())) best = s;
  return best;
}

std::uint32_t SeriesLog::newer(std::uint32_t sector) const noexcept {
  const std::uint64_t after = sectors_[sector].first_seq();
  std::uint32_t best = none;
  for (std::uint32_t s = 0; s < sector_count_; ++s) {
    const std::uint64_t f = sectors_[s].first_seq();
    if (sectors_[s].state() == live && f > after && (best == none || f < sectors_[best].first_seq())) best = s;
  }
  return best;
}

std::uint32_t SeriesLog::older(std::uint32_t sector) const noexcept {
  const std::uint64_t before = sectors_[sector].first_seq();
  std::uint32_t best = none;
  for (std::uint32_t s = 0; s < sector_count_; ++s) {
    const std::uint64_t f = sectors_[s].first_seq();
    if (sectors_[s].state() == live && f < before && (best == none || f > sectors_[best].first_seq())) best = s;
  }
  return best;
}

// A sector's readings end where the next sector of the ring begins: an
// entry a power cut interrupted at the end of a former head may read right
// later, but its sequence number lies at or past the next sector's first.
std::uint64_t SeriesLog::end_seq(std::uint32_t s) const noexcept {
  if (s == head_) return head_end_seq_;
  const std::uint32_t n = newer(s);
  return n == none ? next_seq_ : sectors_[n].first_seq();
}

std::uint32_t SeriesLog::live_count() const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t s = 0; s < sector_count_; ++s) n += sectors_[s].state() == live;
  return n;
}

std::uint64_t SeriesLog::floor_of(std::uint8_t series) const noexcept {
  std::uint64_t f = floor_all_;
  for (const SeriesFloor& fl : config_.floors)
    if (fl.seq != 0 && fl.series == series) f = std::max(f, fl.seq);
  return f;
}

bool SeriesLog::hidden(std::uint8_t series, std::uint64_t seq) const noexcept { return seq < floor_of(series); }

SeriesStats SeriesLog::stats() const noexcept {
  SeriesStats st = counters_;
  st.next_seq = next_seq_;
  const std::uint32_t o = mounted_ ? oldest() : none;
  st.oldest_seq = o == none ? next_seq_ : sectors_[o].first_seq();
  st.oldest_seq = std::max(st.oldest_seq, std::min(floor_all_, next_seq_));
  const std::uint32_t second = o == none ? none : newer(o);
  st.rollover_floor = second == none ? next_seq_ : sectors_[second].first_seq();
  st.rollover_floor = std::max(st.rollover_floor, st.oldest_seq);
  st.live_sectors = mounted_ ? live_count() : 0;
  st.free_sectors = mounted_ ? sector_count_ - st.live_sectors : 0;
  st.head_room = (mounted_ && head_open_ && head_ != none) ? flash_.geometry().sector_size(head_) - head_end_ : 0;
  return st;
}

}  // namespace ferrite
