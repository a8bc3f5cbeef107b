// Mounting a series log: classify the sectors, walk their entries, find the
// head, the next sequence number and the clear floors (docs/FORMAT.md
// §11.3). Mount only reads.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.series;

namespace ferrite {

namespace {
using State = SeriesSector::State;
// The last entry before a blank tail may be the one a power cut interrupted,
// with weak bits that read right only by chance: it must read identically
// this many times more before it counts.
constexpr int stability_reads = 16;
}  // namespace

SeriesLog::SeriesLog(Flash flash, SeriesConfig config) noexcept : flash_(flash), config_(config) {}

Status SeriesLog::note_clear(std::uint8_t kind, std::uint8_t series, std::uint64_t seq) noexcept {
  if (kind == clear_all_kind) {
    floor_all_ = std::max(floor_all_, seq);
    return Status{};
  }
  if (seq <= floors_ignored_up_to_) return Status{};
  SeriesFloor* free_slot = nullptr;
  for (SeriesFloor& f : config_.floors) {
    if (f.seq != 0 && f.series == series) {
      f.seq = std::max(f.seq, seq);
      return Status{};
    }
    if (f.seq == 0 && !free_slot) free_slot = &f;
  }
  if (!free_slot) {
    refuse(Errc::no_space, "series floors", static_cast<std::uint32_t>(config_.floors.size()) + 1,
           static_cast<std::uint32_t>(config_.floors.size()),
           "more series are cleared with older readings still on flash than SeriesConfig::floors holds");
    return fail(Errc::no_space);
  }
  free_slot->seq = seq;
  free_slot->series = series;
  return Status{};
}

// A floor at or below the oldest sector's first sequence number hides
// nothing any more (and so does one at or below the clear-all floor).
void SeriesLog::drop_dead_floors() noexcept {
  const std::uint32_t o = oldest();
  const std::uint64_t oldest_first = o == none ? next_seq_ : sectors_[o].first_seq();
  for (SeriesFloor& f : config_.floors)
    if (f.seq != 0 && (f.seq <= oldest_first || f.seq <= floor_all_)) f = SeriesFloor{};
}

Task<Result<SeriesLog::SectorWalk>> SeriesLog::mount_sector(std::uint32_t sector, bool is_head,
                                                            std::uint64_t first_seq, std::uint32_t header_crc,
                                                            std::uint64_t end) noexcept {
  const Geometry& g = flash_.geometry();
  const std::uint32_t size = g.sector_size(sector);
  SectorWalk walk;
  std::uint32_t offset = header_size(), index = 0;
  bool damaged_after_good = false;
  // A clear entry counts once a later entry verifies, or, as the head's
  // last entry, once it reads back stable.
  struct Pending {
    bool set = false;
    std::uint8_t kind = 0, series = 0;
    std::uint64_t seq = 0;
  } pending;
  if (is_head) recent_count_ = recent_at_ = 0;
  while (offset + entry_overhead <= size && first_seq + index < end) {
    auto e = co_await read_entry(sector, offset, index, header_crc, {});
    if (!e) {
      if (e.error() != Errc::corrupt) co_return fail(e.error());
      break;
    }
    if (is_head) note_recent(offset);
    if (e->verified) {
      if (pending.set) FERRITE_CO_TRY(note_clear(pending.kind, pending.series, pending.seq));
      pending = {};
      if (e->kind == reading_kind) sectors_[sector].widen(e->ts);
      else pending = {true, e->kind, e->series, first_seq + index};
      walk.entries = index + 1;
      walk.last_good = offset;
      walk.good_end = offset + e->size;
      damaged_after_good = false;
    } else {
      ++counters_.damaged_entries;
      damaged_after_good = true;
    }
    offset += e->size;
    ++index;
  }
  if (is_head && walk.entries > 0) {
    bool stable = true;
    for (int i = 0; i < stability_reads && stable; ++i) {
      auto e = co_await read_entry(sector, walk.last_good, walk.entries - 1, header_crc, {});
      if (!e && e.error() != Errc::corrupt) co_return fail(e.error());
      stable = e && e->verified;
    }
    if (!stable) {
      // Not an entry: the bound excludes it, and nothing goes after it.
      // Forget the offsets from it on (the walk noted it and any damaged ones after it).
      while (recent_count_ > 0 && recent_[(recent_at_ + recent_window - 1) % recent_window] >= walk.last_good) {
        recent_at_ = (recent_at_ + recent_window - 1) % recent_window;
        --recent_count_;
      }
      walk.entries -= 1;
      pending = {};
      walk.clean_tail = false;
      // The good end moves back to the previous verifying entry; the head
      // is closed anyway.
      if (walk.entries == 0) co_return walk;
    } else if (!damaged_after_good) {
      bool blank = true;
      std::array<std::byte, 64> buf{};
      for (std::uint32_t at = walk.good_end; at < size && blank;) {
        const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(buf.size()), size - at);
        FERRITE_CO_TRY(co_await flash_.read(g.sector_offset(sector) + at, std::span<std::byte>(buf.data(), n)));
        for (std::uint32_t i = 0; i < n; ++i) blank = blank && buf[i] == g.erased_byte();
        at += n;
      }
      walk.clean_tail = blank;
    }
  }
  if (pending.set) FERRITE_CO_TRY(note_clear(pending.kind, pending.series, pending.seq));
  if (is_head) {
    // Keep the offsets of verified-or-skipped entries below the good end.
    while (recent_count_ > 0 && recent_[(recent_at_ + recent_window - 1) % recent_window] >= walk.good_end) {
      recent_at_ = (recent_at_ + recent_window - 1) % recent_window;
      --recent_count_;
    }
    recent_end_seq_ = first_seq + walk.entries;
  }
  co_return walk;
}

Task<Status> SeriesLog::mount() noexcept {
  if (mounted_) co_return fail(Errc::already_mounted);
  refusal_ = {};
  const Geometry& g = flash_.geometry();
  sector_count_ = g.sector_count();
  if (config_.sectors.size() < sector_count_) {
    refuse(Errc::invalid_argument, "sectors", static_cast<std::uint32_t>(config_.sectors.size()), sector_count_,
           "SeriesConfig::sectors needs one entry per sector of the partition");
    co_return fail(Errc::invalid_argument);
  }
  if (config_.log_id == 0) {
    refuse(Errc::invalid_argument, "log_id", 0, 1, "a series log's id is not 0");
    co_return fail(Errc::invalid_argument);
  }
  if (sector_count_ < 2) {
    refuse(Errc::invalid_argument, "sectors", sector_count_, 2, "a series log needs two or more sectors");
    co_return fail(Errc::invalid_argument);
  }
  const std::uint32_t overhead =
      config_.codec ? static_cast<std::uint32_t>(config_.codec->sealed_size(0)) : 0u;
  const std::uint32_t unit = g.program_unit();
  const std::uint32_t room = (g.smallest_sector() - header_size()) / unit * unit;
  std::uint32_t limit = config_.max_payload;
  limit = std::min<std::uint32_t>(limit, 0xFFFFu - overhead);
  limit = room > entry_overhead + overhead ? std::min(limit, room - entry_overhead - overhead) : 0;
  if (limit == 0) {
    refuse(Errc::invalid_argument, "sector size", g.smallest_sector(), header_size() + entry_overhead + overhead + 1,
           "the smallest sector leaves no room for a payload");
    co_return fail(Errc::invalid_argument);
  }
  const std::size_t need = scratch_needed(limit, overhead, unit);
  if (config_.scratch.size() < need) {
    refuse(Errc::invalid_argument, "scratch", static_cast<std::uint32_t>(config_.scratch.size()),
           static_cast<std::uint32_t>(need), "SeriesConfig::scratch holds one entry of max_payload bytes");
    co_return fail(Errc::invalid_argument);
  }
  payload_limit_ = limit;
  sectors_ = config_.sectors.first(sector_count_);
  for (SeriesSector& s : sectors_) s = SeriesSector{};
  for (SeriesFloor& f : config_.floors) f = SeriesFloor{};
  floor_all_ = 0;
  counters_ = {};
  head_ = none;
  head_open_ = false;
  head_end_ = 0;
  next_seq_ = 1;
  head_end_seq_ = 1;

  // 1. Headers.
  std::uint64_t highest_header = 0;
  std::uint32_t newest = none;
  bool newest_rollover = false;
  for (std::uint32_t s = 0; s < sector_count_; ++s) {
    std::uint32_t crc = 0;
    bool rollover = false;
    auto first = co_await read_header(s, crc, &rollover);
    if (first) {
      sectors_[s].set(State::live, *first);
      if (*first >= highest_header) {
        newest_rollover = rollover;
        newest = s;
      }
      highest_header = std::max(highest_header, *first);
      continue;
    }
    if (first.error() == Errc::not_formatted) sectors_[s].set(State::blank, 0);
    else if (first.error() == Errc::corrupt) sectors_[s].set(State::dirty, 0);
    else {
      if (first.error() == Errc::foreign_format)
        refuse(Errc::foreign_format, "sector", s, 0, "a sector header of another log id, or sealed otherwise");
      co_return fail(first.error());
    }
  }
  floors_ignored_up_to_ = ~std::uint64_t{0};
  for (std::uint32_t s = 0; s < sector_count_; ++s)
    if (sectors_[s].state() == State::live) floors_ignored_up_to_ = std::min(floors_ignored_up_to_, sectors_[s].first_seq());
  if (floors_ignored_up_to_ == ~std::uint64_t{0}) floors_ignored_up_to_ = 0;
  // 2. Walk the valid sectors from the newest: the first with a verifying
  //    entry is the head; each sector's readings end where the next begins.
  std::uint64_t bound = ~std::uint64_t{0};
  bool head_found = false;
  SectorWalk head_walk;
  for (;;) {
    std::uint32_t s = none;
    for (std::uint32_t i = 0; i < sector_count_; ++i)
      if (sectors_[i].state() == State::live && sectors_[i].first_seq() < bound &&
          (s == none || sectors_[i].first_seq() > sectors_[s].first_seq()))
        s = i;
    if (s == none) break;
    const std::uint64_t first = sectors_[s].first_seq();
    std::uint32_t crc = 0;
    bool rollover = false;
    auto again = co_await read_header(s, crc, &rollover);
    if (!again || *again != first) {
      // Weak bits of a cut header program read right once: not a header.
      if (!again && again.error() != Errc::corrupt && again.error() != Errc::not_formatted)
        co_return fail(again.error());
      sectors_[s].set(State::dirty, 0);
      continue;
    }
    sectors_[s].set(State::live, first);
    FERRITE_CO_TRY_ASSIGN(SectorWalk w, co_await mount_sector(s, !head_found, first, crc, bound));
    // Another valid header with the same first_seq (one a cut left without
    // entries) ranks below.
    for (std::uint32_t i = 0; i < sector_count_; ++i)
      if (i != s && sectors_[i].state() == State::live && sectors_[i].first_seq() == first)
        sectors_[i].set(State::dirty, 0);
    if (w.entries == 0) {
      recent_count_ = recent_at_ = 0;
      sectors_[s].set(State::dirty, 0);
      // Keep walking below this first_seq.
      bound = first;
      continue;
    }
    if (!head_found) {
      head_found = true;
      head_ = s;
      head_walk = w;
      head_crc_ = crc;
      next_seq_ = first + w.entries;
      head_end_seq_ = next_seq_;
    }
    bound = first;
  }
  floors_ignored_up_to_ = 0;
  // Rollover keeps a sector free (FORMAT.md §11.3): when every sector but
  // the one with the newest header holds readings, the oldest is the one a
  // cut caught being erased (the newest may hold no entry yet: its header
  // is written before that erase).
  bool every_other_live = newest != none;
  for (std::uint32_t s = 0; s < sector_count_ && every_other_live; ++s)
    every_other_live = s == newest || sectors_[s].state() == State::live;
  if (newest_rollover && every_other_live) {
    const std::uint32_t o = oldest();
    if (o != none && o != head_) sectors_[o].set(State::dirty, 0);
  }
  // 3. A sequence number a valid header names is never given again.
  if (highest_header >= next_seq_) next_seq_ = highest_header + 1;
  if (head_ != none) {
    head_end_ = head_walk.good_end;
    head_open_ = head_walk.clean_tail && next_seq_ == sectors_[head_].first_seq() + head_walk.entries;
  }
  drop_dead_floors();
  // 4. A sealed log must open under this codec: try its newest entry (when
  //    a cut left it unstable, the check waits for the reads).
  if (config_.codec && head_ != none) {
    auto buf = config_.scratch;
    auto e = co_await read_entry(head_, head_walk.last_good, head_walk.entries - 1, head_crc_, buf);
    if (!e && e.error() != Errc::corrupt) co_return fail(e.error());
    const bool opens = !e || !e->verified || open_payload(*e, sectors_[head_].first_seq() + head_walk.entries - 1, buf);
    config_.codec->scrub(buf);
    if (!opens) co_return fail(Errc::wrong_key);
  }
  mounted_ = true;
  co_return Status{};
}

}  // namespace ferrite
