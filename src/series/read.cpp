// Reading a series log: cursors oldest-first and newest-first, count and
// time-window aggregation. Sectors whose time span misses the range are
// skipped on the RAM summary alone.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.series;

namespace ferrite {

namespace {
using State = SeriesSector::State;
constexpr std::int64_t ts_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t ts_max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t seq_max = ~std::uint64_t{0};
}  // namespace

SeriesCursor SeriesLog::last(std::uint8_t series, std::uint64_t n, std::span<std::byte> buffer) noexcept {
  SeriesCursor c;
  c.log_ = this;
  c.buffer_ = buffer;
  c.series_ = series;
  c.seq_from_ = 0;
  c.seq_to_ = seq_max;
  c.ts_from_ = ts_min;
  c.ts_to_ = ts_max;
  c.remaining_ = n;
  c.reverse_ = true;
  c.done_ = n == 0;
  return c;
}

SeriesCursor SeriesLog::range_time(std::uint8_t series, std::int64_t from, std::int64_t to,
                                   std::span<std::byte> buffer) noexcept {
  SeriesCursor c = range_seq(series, 0, seq_max, buffer);
  c.ts_from_ = from;
  c.ts_to_ = to;
  c.done_ = from > to;
  return c;
}

SeriesCursor SeriesLog::range_seq(std::uint8_t series, std::uint64_t first, std::uint64_t last,
                                  std::span<std::byte> buffer) noexcept {
  SeriesCursor c;
  c.log_ = this;
  c.buffer_ = buffer;
  c.series_ = series;
  c.seq_from_ = first;
  c.seq_to_ = last;
  c.ts_from_ = ts_min;
  c.ts_to_ = ts_max;
  c.remaining_ = seq_max;
  c.done_ = first > last;
  return c;
}

SeriesCursor SeriesLog::since(std::uint64_t seq, std::span<std::byte> buffer) noexcept {
  SeriesCursor c = range_seq(0, seq, seq_max, buffer);
  c.all_series_ = true;
  return c;
}

bool SeriesCursor::admits(std::uint8_t kind, std::uint8_t series, std::uint64_t seq, std::int64_t ts) const noexcept {
  return kind == SeriesLog::reading_kind && (all_series_ || series == series_) && seq >= seq_from_ &&
         seq <= seq_to_ && ts >= ts_from_ && ts <= ts_to_ && !log_->hidden(series, seq);
}

Task<Result<bool>> SeriesCursor::enter(std::uint32_t s, bool from_top) noexcept {
  SeriesLog& log = *log_;
  sector_ = s;
  held_ = 0;
  if (s == SeriesLog::none) co_return false;
  first_ = log.sectors_[s].first_seq();
  auto first = co_await log.read_header(s, crc_);
  if (!first) {
    if (first.error() == Errc::corrupt || first.error() == Errc::not_formatted) co_return false;
    co_return fail(first.error());
  }
  if (*first != first_) co_return false;
  next_seq_ = first_;
  offset_ = from_top ? log.flash_.geometry().sector_size(s) : log.header_size();
  co_return true;
}

Task<Result<bool>> SeriesCursor::next() noexcept {
  if (done_) co_return false;
  if (!log_ || !log_->mounted_) co_return fail(Errc::not_mounted);
  if (remaining_ == 0) {
    done_ = true;
    co_return false;
  }
  auto more = reverse_ ? co_await step_reverse() : co_await step_forward();
  if (more && *more) --remaining_;
  co_return more;
}

Task<Result<bool>> SeriesCursor::step_forward() noexcept {
  SeriesLog& log = *log_;
  const Geometry& g = log.flash_.geometry();
  for (;;) {
    // Where to be: the sector holding the next sequence number wanted.
    const bool lost = sector_ == SeriesLog::none || log.sectors_[sector_].state() != State::live ||
                      log.sectors_[sector_].first_seq() != first_;
    if (!started_ || lost) {
      const std::uint64_t want = started_ ? next_seq_ : seq_from_;
      started_ = true;
      std::uint32_t s = SeriesLog::none;
      for (std::uint32_t i = 0; i < log.sector_count_; ++i) {
        const SeriesSector& x = log.sectors_[i];
        if (x.state() == State::live && x.first_seq() <= want && (s == SeriesLog::none || x.first_seq() > log.sectors_[s].first_seq()))
          s = i;
      }
      if (s == SeriesLog::none) s = log.oldest();
      if (s == SeriesLog::none) {
        sector_ = SeriesLog::none;
        co_return false;  // nothing yet; a later step looks again
      }
      const std::uint64_t resume = want;
      FERRITE_CO_TRY_ASSIGN(bool ok, co_await enter(s, false));
      if (!ok) co_return fail(Errc::corrupt);
      // Skip what was yielded already (seq below `resume`) entry by entry.
      while (next_seq_ < resume && next_seq_ < log.end_seq(sector_)) {
        auto e = co_await log.read_entry(sector_, offset_, static_cast<std::uint32_t>(next_seq_ - first_), crc_, {},
                                         false);
        if (!e) {
          if (e.error() != Errc::corrupt) co_return fail(e.error());
          next_seq_ = log.end_seq(sector_);
          break;
        }
        offset_ += e->size;
        ++next_seq_;
      }
    }
    if (next_seq_ > seq_to_) {
      done_ = true;
      co_return false;
    }
    const SeriesSector& here = log.sectors_[sector_];
    const bool outside_time = !here.has_readings() || here.max_ts() < ts_from_ || here.min_ts() > ts_to_;
    const std::uint64_t end = log.end_seq(sector_);
    if (next_seq_ >= end || offset_ + SeriesLog::entry_overhead > g.sector_size(sector_) ||
        (outside_time && sector_ != log.head_)) {
      const std::uint32_t n = log.newer(sector_);
      if (n == SeriesLog::none) {
        if (sector_ == log.head_ && next_seq_ >= end) co_return false;  // a later step sees later appends
        if (outside_time && sector_ == log.head_) co_return false;
        done_ = true;
        co_return false;
      }
      FERRITE_CO_TRY_ASSIGN(bool ok, co_await enter(n, false));
      if (!ok) co_return fail(Errc::corrupt);
      continue;
    }
    const auto index = static_cast<std::uint32_t>(next_seq_ - first_);
    auto e = co_await log.read_entry(sector_, offset_, index, crc_, {}, false);
    if (!e) {
      if (e.error() != Errc::corrupt) co_return fail(e.error());
      next_seq_ = end;  // the sector's entries end here
      continue;
    }
    const std::uint64_t seq = next_seq_;
    if (!admits(e->kind, e->series, seq, e->ts)) {
      offset_ += e->size;
      ++next_seq_;
      continue;
    }
    SeriesLog::Entry* full = &*e;
    // The header is read: only the payload and crc remain.
    if (auto st = co_await log.read_rest(sector_, offset_, *full, crc_, buffer_); !st) co_return fail(st.error());
    offset_ += e->size;
    ++next_seq_;
    if (!full->verified) {
      ++log.counters_.damaged_entries;
      continue;
    }
    FERRITE_CO_TRY_ASSIGN(std::size_t n, log.open_payload(*full, seq, buffer_));
    reading_ = SeriesReading{seq, full->ts, full->series, std::span<const std::byte>(buffer_.data(), n)};
    co_return true;
  }
}

// Collects the last `window` admitted entries below offset_ of sector_.
Task<Status> SeriesCursor::refill() noexcept {
  SeriesLog& log = *log_;
  const Geometry& g = log.flash_.geometry();
  const std::uint64_t end = log.end_seq(sector_);
  // The head's last entries are known to the log: start there, and scan
  // from the sector's first entry only when they hold nothing admitted.
  std::uint32_t recent_offset = log.header_size();
  std::uint64_t recent_seq = first_;
  bool from_recent = false;
  if (sector_ == log.head_ && log.recent_count_ > 0) {
    recent_offset = log.recent_[(log.recent_at_ + SeriesLog::recent_window - log.recent_count_) % SeriesLog::recent_window];
    recent_seq = log.recent_end_seq_ - log.recent_count_;
    from_recent = offset_ > recent_offset;
  }
  held_ = 0;
  std::uint32_t ring_at = 0, count = 0;
  std::array<std::uint32_t, window> off{};
  std::array<std::uint64_t, window> sq{};
  for (int pass = from_recent ? 0 : 1; pass < 2 && count == 0; ++pass) {
    std::uint32_t offset = pass == 0 ? recent_offset : log.header_size();
    std::uint64_t seq = pass == 0 ? recent_seq : first_;
    if (pass == 1 && from_recent) offset_ = recent_offset;
    while (offset < offset_ && seq < end && offset + SeriesLog::entry_overhead <= g.sector_size(sector_)) {
      auto e = co_await log.read_entry(sector_, offset, static_cast<std::uint32_t>(seq - first_), crc_, {}, false);
      if (!e) {
        if (e.error() != Errc::corrupt) co_return fail(e.error());
        break;
      }
      if (admits(e->kind, e->series, seq, e->ts)) {
        off[ring_at] = offset;
        sq[ring_at] = seq;
        ring_at = (ring_at + 1) % window;
        ++count;
      }
      offset += e->size;
      ++seq;
    }
  }
  held_ = static_cast<std::uint32_t>(std::min<std::uint32_t>(count, window));
  // Oldest first in offsets_[0..held_).
  for (std::uint32_t i = 0; i < held_; ++i) {
    const std::uint32_t from = (ring_at + window - held_ + i) % window;
    offsets_[i] = off[from];
    seqs_[i] = sq[from];
  }
  co_return Status{};
}

Task<Result<bool>> SeriesCursor::step_reverse() noexcept {
  SeriesLog& log = *log_;
  for (;;) {
    if (!started_) {
      started_ = true;
      FERRITE_CO_TRY_ASSIGN(bool ok, co_await enter(log.head_, true));
      if (!ok) {
        done_ = true;
        co_return false;
      }
      FERRITE_CO_TRY(co_await refill());
    }
    if (log.sectors_[sector_].state() != State::live || log.sectors_[sector_].first_seq() != first_) {
      done_ = true;  // rollover took it (and every older sector)
      co_return false;
    }
    if (held_ == 0) {
      const std::uint32_t o = log.older(sector_);
      FERRITE_CO_TRY_ASSIGN(bool ok, co_await enter(o, true));
      if (!ok) {
        done_ = true;
        co_return false;
      }
      FERRITE_CO_TRY(co_await refill());
      continue;
    }
    const std::uint32_t at = offsets_[held_ - 1];
    const std::uint64_t seq = seqs_[held_ - 1];
    auto full = co_await log.read_entry(sector_, at, static_cast<std::uint32_t>(seq - first_), crc_, buffer_);
    if (!full && full.error() != Errc::corrupt) co_return fail(full.error());
    --held_;
    offset_ = at;
    if (held_ == 0) FERRITE_CO_TRY(co_await refill());
    if (!full || !full->verified) {
      ++log.counters_.damaged_entries;
      continue;
    }
    FERRITE_CO_TRY_ASSIGN(std::size_t n, log.open_payload(*full, seq, buffer_));
    reading_ = SeriesReading{seq, full->ts, full->series, std::span<const std::byte>(buffer_.data(), n)};
    co_return true;
  }
}

Task<Result<std::uint64_t>> SeriesLog::count(std::uint8_t series, std::int64_t from, std::int64_t to) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  std::uint64_t n = 0;
  if (from > to) co_return n;
  for (std::uint32_t s = oldest(); s != none; s = newer(s)) {
    const SeriesSector& x = sectors_[s];
    if (!x.has_readings() || x.max_ts() < from || x.min_ts() > to) continue;
    std::uint32_t crc = 0;
    auto first = co_await read_header(s, crc);
    if (!first) {
      if (first.error() == Errc::corrupt) continue;
      co_return fail(first.error());
    }
    const std::uint64_t end = end_seq(s);
    std::uint32_t offset = header_size();
    for (std::uint64_t seq = *first; seq < end; ++seq) {
      auto e = co_await read_entry(s, offset, static_cast<std::uint32_t>(seq - *first), crc, {});
      if (!e) {
        if (e.error() != Errc::corrupt) co_return fail(e.error());
        break;
      }
      offset += e->size;
      if (!e->verified) continue;
      n += e->kind == reading_kind && e->series == series && e->ts >= from && e->ts <= to && !hidden(series, seq);
    }
  }
  co_return n;
}

Task<Status> SeriesLog::aggregate(std::uint8_t series, std::int64_t from, std::int64_t width, SeriesField field,
                                  std::span<SeriesBucket> buckets, std::span<std::byte> buffer) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (width <= 0 || buckets.empty()) co_return fail(Errc::invalid_argument);
  // The last timestamp covered, saturating instead of overflowing.
  std::int64_t to = ts_max;
  std::int64_t span = 0;
  if (__builtin_mul_overflow(width, static_cast<std::int64_t>(buckets.size()), &span) ||
      __builtin_add_overflow(from, span - 1, &to))
    to = ts_max;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    std::int64_t start = ts_max, offset = 0;
    if (!__builtin_mul_overflow(width, static_cast<std::int64_t>(i), &offset)) {
      if (__builtin_add_overflow(from, offset, &start)) start = ts_max;
    }
    buckets[i] = SeriesBucket{};
    buckets[i].start = start;
  }
  SeriesCursor c = range_time(series, from, to, buffer);
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(bool more, co_await c.next());
    if (!more) break;
    const SeriesReading& r = c.reading();
    auto v = field.read(r.payload);
    if (!v) continue;
    const std::uint64_t into = static_cast<std::uint64_t>(r.timestamp) - static_cast<std::uint64_t>(from);
    const auto i = static_cast<std::size_t>(into / static_cast<std::uint64_t>(width));
    if (i >= buckets.size()) continue;
    SeriesBucket& b = buckets[i];
    if (b.count == 0) b.min = b.max = *v;
    b.min = std::min(b.min, *v);
    b.max = std::max(b.max, *v);
    b.sum += *v;
    ++b.count;
  }
  co_return Status{};
}

}  // namespace ferrite
