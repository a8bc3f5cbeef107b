// Writing a series log: appends, clear entries, and opening sectors (lazy
// erase, rollover) — docs/FORMAT.md §11.2, §11.3.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.series;

namespace ferrite {

namespace {
using State = SeriesSector::State;

// A program the port refuses because a unit reading blank holds charge (a
// torn write's): nothing was written; write elsewhere.
bool refused_unit(Errc e) noexcept { return e == Errc::reprogram_forbidden || e == Errc::bits_not_erased; }
}  // namespace

Task<Result<bool>> SeriesLog::reads_blank(std::uint32_t sector) noexcept {
  const Geometry& g = flash_.geometry();
  std::array<std::byte, 64> buf{};
  const std::uint32_t base = g.sector_offset(sector), size = g.sector_size(sector);
  for (std::uint32_t at = 0; at < size;) {
    const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(buf.size()), size - at);
    FERRITE_CO_TRY(co_await flash_.read(base + at, std::span<std::byte>(buf.data(), n)));
    for (std::uint32_t i = 0; i < n; ++i)
      if (buf[i] != g.erased_byte()) co_return false;
    at += n;
  }
  co_return true;
}

Task<Status> SeriesLog::open_sector(bool may_drop) noexcept {
  std::uint32_t target = none;
  // A sector without readings first, the one after the head before the
  // others (wear goes round the partition).
  const std::uint32_t start = head_ == none ? 0 : (head_ + 1) % sector_count_;
  for (std::uint32_t i = 0; i < sector_count_ && target == none; ++i) {
    const std::uint32_t s = (start + i) % sector_count_;
    if (sectors_[s].state() != State::live) target = s;
  }
  if (target == none) {
    const std::uint32_t o = oldest();
    const bool all_hidden = end_seq(o) <= floor_all_;
    if (!all_hidden && !may_drop) {
      refuse(Errc::no_space, "sectors", sector_count_, sector_count_,
             "every sector holds readings and rollover is off");
      co_return fail(Errc::no_space);
    }
    if (!all_hidden) ++counters_.rollovers;
    // Its readings go now: a cut from here on may leave any part of them.
    sectors_[o].set(State::dirty, 0);
    target = o;
  }
  if (target == head_) {
    head_ = none;
    head_open_ = false;
  }
  bool blank = false;
  if (sectors_[target].state() == State::blank) {
    FERRITE_CO_TRY_ASSIGN(const bool reads, co_await reads_blank(target));
    blank = reads;
  }
  std::array<std::byte, 32> header{};
  encode_header(header, next_seq_, target);
  const std::uint32_t at = flash_.geometry().sector_offset(target);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!blank) {
      sectors_[target].set(State::dirty, 0);
      FERRITE_CO_TRY(co_await flash_.erase(target));
      ++counters_.sectors_erased;
      sectors_[target].set(State::blank, 0);
    }
    const Status st = co_await flash_.program(at, header);
    if (st) break;
    sectors_[target].set(State::dirty, 0);
    if (!refused_unit(st.error()) || !blank) co_return st;
    blank = false;  // it read blank but a unit holds charge: erase it
  }
  sectors_[target].set(State::live, next_seq_);
  head_ = target;
  head_end_seq_ = next_seq_;
  head_end_ = header_size();
  head_open_ = true;
  recent_count_ = recent_at_ = 0;
  head_crc_ = crc32c(std::span<const std::byte>(header.data(), 28));
  drop_dead_floors();
  co_return co_await keep_spare();
}

// With rollover, one sector stays free: the oldest is erased as soon as the
// head takes the last free one, after the head's header is written. A cut
// during that erase leaves every sector with a valid header, which tells
// mount that the oldest is the one being erased (however much of it the cut
// left): its readings are dropped whole, never in part.
Task<Status> SeriesLog::keep_spare() noexcept {
  if (!config_.rollover || live_count() < sector_count_) co_return Status{};
  const std::uint32_t o = oldest();
  if (o == none || o == head_) co_return Status{};
  ++counters_.rollovers;
  sectors_[o].set(State::dirty, 0);
  FERRITE_CO_TRY(co_await flash_.erase(o));
  ++counters_.sectors_erased;
  sectors_[o].set(State::blank, 0);
  drop_dead_floors();
  co_return Status{};
}

Task<Result<std::uint64_t>> SeriesLog::write_entry(std::uint8_t kind, std::uint8_t series, std::int64_t ts,
                                                   std::span<const std::byte> payload, bool may_drop) noexcept {
  const Geometry& g = flash_.geometry();
  const std::size_t stored = config_.codec ? config_.codec->sealed_size(payload.size()) : payload.size();
  const std::uint32_t size = align(static_cast<std::uint32_t>(entry_overhead + stored));
  Status last = fail(Errc::io);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (head_ == none || !head_open_ || head_end_ + size > g.sector_size(head_)) {
      head_open_ = false;
      FERRITE_CO_TRY(co_await open_sector(may_drop));
    }
    const std::uint64_t seq = next_seq_;
    const std::uint64_t first = sectors_[head_].first_seq();
    FERRITE_CO_TRY_ASSIGN(std::size_t len, build_entry(kind, series, ts, payload, seq));
    finish_entry(len, static_cast<std::uint32_t>(seq - first), head_crc_);
    last = co_await flash_.program(g.sector_offset(head_) + head_end_, config_.scratch.first(entry_len_));
    if (config_.codec) config_.codec->scrub(config_.scratch.first(entry_len_));
    if (last) {
      note_recent(head_end_);
      recent_end_seq_ = seq + 1;
      head_end_ += entry_len_;
      next_seq_ = seq + 1;
      head_end_seq_ = next_seq_;
      if (kind == reading_kind) sectors_[head_].widen(ts);
      co_return seq;
    }
    // Nothing more goes into this sector: the next sector starts at this
    // sequence number, which bounds the head's readings before it.
    head_open_ = false;
    if (!refused_unit(last.error())) co_return fail(last.error());
  }
  co_return fail(last.error());
}

Task<Result<std::uint64_t>> SeriesLog::append(std::uint8_t series, std::int64_t timestamp,
                                              std::span<const std::byte> payload) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (payload.size() > payload_limit_) {
    refuse(Errc::too_large, "payload", static_cast<std::uint32_t>(std::min<std::size_t>(payload.size(), 0xFFFFFFFFu)),
           payload_limit_, "a reading's payload is at most payload_limit() bytes (max_payload and the smallest sector)");
    co_return fail(Errc::too_large);
  }
  co_return co_await write_entry(reading_kind, series, timestamp, payload, config_.rollover);
}

Task<Status> SeriesLog::clear(std::uint8_t series) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  drop_dead_floors();
  bool slot = false;
  for (const SeriesFloor& f : config_.floors) slot = slot || f.seq == 0 || f.series == series;
  if (!slot) {
    refuse(Errc::no_space, "series floors", static_cast<std::uint32_t>(config_.floors.size()) + 1,
           static_cast<std::uint32_t>(config_.floors.size()),
           "more series are cleared with older readings still on flash than SeriesConfig::floors holds");
    co_return fail(Errc::no_space);
  }
  FERRITE_CO_TRY_ASSIGN(std::uint64_t seq, co_await write_entry(clear_series_kind, series, 0, {}, config_.rollover));
  FERRITE_CO_TRY(note_clear(clear_series_kind, series, seq));
  co_return Status{};
}

Task<Status> SeriesLog::clear_all() noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY_ASSIGN(std::uint64_t seq, co_await write_entry(clear_all_kind, 0, 0, {}, true));
  FERRITE_CO_TRY(note_clear(clear_all_kind, 0, seq));
  drop_dead_floors();
  co_return Status{};
}

}  // namespace ferrite
