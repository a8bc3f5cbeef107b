// The event ring: the queue the sink fills, the sectors flush() writes and
// rotates, open()'s search for the head and the cursor that reads newest
// first (docs/FORMAT.md §12).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.events;

namespace ferrite {

namespace {

constexpr std::array<std::byte, 4> ring_magic{std::byte{'F'}, std::byte{'E'}, std::byte{'V'}, std::byte{'R'}};
constexpr std::uint8_t ring_version = 1;
constexpr std::byte record_marker{0x5A};
constexpr std::uint8_t flag_timestamp = 1;
constexpr std::uint32_t header_bytes = 20;   // before padding to the program unit
constexpr std::uint32_t record_head = 16;    // marker, level, flags, n, seq, timestamp
constexpr std::uint32_t record_overhead = record_head + 4;
constexpr std::uint32_t max_sectors = 16;
// Reads that must agree before a header or a head's last record is believed
// (a torn write can leave weak bits that verify only by chance).
constexpr int vouching_reads = 16;

void put32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
void put64(std::byte* p, std::int64_t v) noexcept {
  const auto u = static_cast<std::uint64_t>(v);
  put32(p, static_cast<std::uint32_t>(u));
  put32(p + 4, static_cast<std::uint32_t>(u >> 32));
}
std::int64_t get64(const std::byte* p) noexcept {
  return static_cast<std::int64_t>(std::uint64_t{get32(p)} | (std::uint64_t{get32(p + 4)} << 32));
}

enum RecordState : int { record_valid = 0, record_blank = 1, record_bad = 2 };

}  // namespace

struct EventRing::Record {
  EventLevel level = EventLevel::info;
  bool timed = false;
  std::uint8_t size = 0;
  std::uint32_t seq = 0;
  std::int64_t timestamp = 0;
  std::uint32_t length = 0;   // bytes on flash, padding included
};

EventRing::EventRing(Flash flash, EventRingConfig config) noexcept : flash_(flash), config_(config) {
  if (config_.queue.empty()) {
    own_queue_.resize(512);
    queue_ = own_queue_;
  } else {
    queue_ = config_.queue;
  }
  const std::uint32_t room = flash_.geometry().smallest_sector();
  const std::uint32_t used = header_size() + record_overhead;
  max_message_ = room > used ? std::min<std::size_t>(max_event_message, room - used) : 0;
}

std::uint32_t EventRing::header_size() const noexcept {
  const std::uint32_t unit = flash_.geometry().program_unit();
  return (header_bytes + unit - 1) / unit * unit;
}

std::uint32_t EventRing::record_size(std::size_t message) const noexcept {
  const std::uint32_t unit = flash_.geometry().program_unit();
  return (record_overhead + static_cast<std::uint32_t>(message) + unit - 1) / unit * unit;
}

EventSink EventRing::sink() noexcept {
  EventSink s;
  s.write = [](void* self, EventLevel level, std::string_view message) noexcept {
    static_cast<EventRing*>(self)->push(level, message);
  };
  s.context = this;
  s.threshold = config_.threshold;
  return s;
}

EventRingStats EventRing::stats() const noexcept {
  EventRingStats s = stats_;
  s.queued_bytes = static_cast<std::uint32_t>(queued_bytes_);
  s.next_seq = next_seq_;
  return s;
}

// -- the queue ---------------------------------------------------------------------
// Entry: level u8, flags u8, n u8, 0 u8, timestamp i64, then n message bytes.

bool EventRing::push(EventLevel level, std::string_view message) noexcept {
  if (level < config_.threshold) return false;
  const std::size_t n = std::min(message.size(), max_message_);
  if (queue_.size() - queued_bytes_ < event_queue_overhead + n) {
    ++stats_.dropped;
    return false;
  }
  std::byte* e = queue_.data() + queued_bytes_;
  const bool timed = config_.clock.now != nullptr;
  e[0] = static_cast<std::byte>(level);
  e[1] = std::byte{timed ? flag_timestamp : std::uint8_t{0}};
  e[2] = static_cast<std::byte>(n);
  e[3] = std::byte{0};
  put64(e + 4, timed ? config_.clock.now(config_.clock.context) : 0);
  if (n) std::memcpy(e + event_queue_overhead, message.data(), n);
  queued_bytes_ += event_queue_overhead + n;
  ++stats_.queued;
  return true;
}

Task<Status> EventRing::flush() noexcept {
  if (!open_) co_return fail(Errc::not_mounted);
  std::size_t done = 0;
  Status result{};
  // Events pushed while a write is in flight land behind `done` and are
  // written in this same call.
  while (done < queued_bytes_) {
    const std::byte* e = queue_.data() + done;
    const auto n = static_cast<std::uint8_t>(e[2]);
    const std::string_view message(reinterpret_cast<const char*>(e + event_queue_overhead), n);
    auto st = co_await append(static_cast<EventLevel>(e[0]), (static_cast<std::uint8_t>(e[1]) & flag_timestamp) != 0,
                              get64(e + 4), message);
    if (!st) {
      result = st;
      break;
    }
    done += event_queue_overhead + n;
    --stats_.queued;
  }
  std::memmove(queue_.data(), queue_.data() + done, queued_bytes_ - done);
  queued_bytes_ -= done;
  co_return result;
}

// -- reading flash ---------------------------------------------------------------------

Task<Result<bool>> EventRing::read_header(std::uint32_t sector, std::uint32_t& generation, std::uint32_t& first_seq,
                                         int reads) noexcept {
  const Geometry& g = flash_.geometry();
  std::array<std::byte, header_bytes> first{};
  for (int r = 0; r < reads; ++r) {
    std::array<std::byte, header_bytes> h{};
    FERRITE_CO_TRY(co_await flash_.read(g.sector_offset(sector), h));
    if (r == 0) first = h;
    else if (h != first) co_return false;
  }
  const std::byte* h = first.data();
  if (std::memcmp(h, ring_magic.data(), 4) != 0 || static_cast<std::uint8_t>(h[4]) != ring_version ||
      h[5] != g.erased_byte() || (static_cast<std::uint32_t>(h[6]) | (static_cast<std::uint32_t>(h[7]) << 8)) !=
                                     g.sector_count() ||
      get32(h + 16) != crc32c(std::span<const std::byte>(h, 16)))
    co_return false;
  generation = get32(h + 8);
  first_seq = get32(h + 12);
  co_return generation != 0;
}

Task<Result<int>> EventRing::read_record(std::uint32_t sector, std::uint32_t offset, Record& out,
                                         std::span<char> text) noexcept {
  const Geometry& g = flash_.geometry();
  const std::uint32_t size = g.sector_size(sector);
  const std::uint32_t unit = g.program_unit();
  if (offset + record_overhead > size) co_return record_blank;   // no room for one more
  const std::uint32_t base = g.sector_offset(sector) + offset;
  std::array<std::byte, record_head> head{};
  FERRITE_CO_TRY(co_await flash_.read(base, head));
  bool blank = true;
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(unit, record_head); ++i) blank = blank && head[i] == g.erased_byte();
  if (blank) co_return record_blank;
  const auto level = static_cast<std::uint8_t>(head[1]);
  const auto flags = static_cast<std::uint8_t>(head[2]);
  const auto n = static_cast<std::uint8_t>(head[3]);
  if (head[0] != record_marker || level > static_cast<std::uint8_t>(EventLevel::error) || (flags & ~flag_timestamp) ||
      n > max_message_ || n > text.size() || offset + record_size(n) > size)
    co_return record_bad;
  std::array<std::byte, 4> stored{};
  if (n) FERRITE_CO_TRY(co_await flash_.read(base + record_head, std::as_writable_bytes(text.first(n))));
  FERRITE_CO_TRY(co_await flash_.read(base + record_head + n, stored));
  std::uint32_t crc = crc32c(head);
  crc = crc32c(std::as_bytes(text.first(n)), crc);
  if (get32(stored.data()) != crc) co_return record_bad;
  out.level = static_cast<EventLevel>(level);
  out.timed = (flags & flag_timestamp) != 0;
  out.size = n;
  out.seq = get32(head.data() + 4);
  out.timestamp = get64(head.data() + 8);
  out.length = record_size(n);
  co_return record_valid;
}

// -- open ------------------------------------------------------------------------------

Task<Status> EventRing::open() noexcept {
  const Geometry& g = flash_.geometry();
  open_ = false;
  if (g.sector_count() < 2 || g.sector_count() > max_sectors || max_message_ == 0) co_return fail(Errc::invalid_argument);
  has_head_ = false;
  sealed_ = false;
  next_seq_ = 1;
  stats_.written = stats_.rotations = stats_.sealed = 0;
  std::uint32_t best = 0, best_first = 0;
  for (std::uint32_t s = 0; s < g.sector_count(); ++s) {
    std::uint32_t generation = 0, first_seq = 0;
    FERRITE_CO_TRY_ASSIGN(const bool valid, co_await read_header(s, generation, first_seq, vouching_reads));
    if (valid && generation > best) {
      best = generation;
      best_first = first_seq;
      head_ = s;
    }
  }
  if (best != 0) {
    has_head_ = true;
    head_generation_ = best;
    next_seq_ = best_first;
    FERRITE_CO_TRY(co_await scan_head());
  }
  open_ = true;
  co_return Status{};
}

Task<Status> EventRing::scan_head() noexcept {
  const Geometry& g = flash_.geometry();
  std::array<char, max_event_message> text{};
  std::uint32_t offset = header_size();
  std::uint32_t last = 0;   // offset of the last valid record (0: none)
  Record r;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const int state, co_await read_record(head_, offset, r, text));
    if (state != record_valid) break;
    last = offset;
    next_seq_ = r.seq + 1;
    offset += r.length;
  }
  if (last != 0) {
    // The last record must read the same every time, or it is a torn one.
    for (int i = 1; i < vouching_reads; ++i) {
      Record again;
      FERRITE_CO_TRY_ASSIGN(const int state, co_await read_record(head_, last, again, text));
      if (state != record_valid || again.seq != r.seq) {
        offset = last;
        next_seq_ = r.seq;
        sealed_ = true;
        break;
      }
    }
  }
  write_offset_ = offset;
  // Everything behind the last record must be blank, or a write was torn there.
  const std::uint32_t size = g.sector_size(head_);
  std::array<std::byte, 64> chunk{};
  for (std::uint32_t at = offset; at < size && !sealed_; at += chunk.size()) {
    const std::uint32_t len = std::min<std::uint32_t>(chunk.size(), size - at);
    FERRITE_CO_TRY(co_await flash_.read(g.sector_offset(head_) + at, std::span<std::byte>(chunk.data(), len)));
    for (std::uint32_t i = 0; i < len; ++i)
      if (chunk[i] != g.erased_byte()) sealed_ = true;
  }
  if (write_offset_ == header_size()) sealed_ = true;   // an empty head may be a torn header
  if (sealed_) ++stats_.sealed;
  co_return Status{};
}

// -- writing -----------------------------------------------------------------------------

Task<Status> EventRing::rotate() noexcept {
  const Geometry& g = flash_.geometry();
  const std::uint32_t target = has_head_ ? (head_ + 1) % g.sector_count() : 0;
  const std::uint32_t generation = has_head_ ? head_generation_ + 1 : 1;
  FERRITE_CO_TRY(co_await flash_.erase(target));
  const std::uint32_t hs = header_size();
  std::fill(scratch_.begin(), scratch_.begin() + hs, g.erased_byte());
  std::byte* h = scratch_.data();
  std::memcpy(h, ring_magic.data(), 4);
  h[4] = std::byte{ring_version};
  h[5] = g.erased_byte();
  h[6] = static_cast<std::byte>(g.sector_count());
  h[7] = static_cast<std::byte>(g.sector_count() >> 8);
  put32(h + 8, generation);
  put32(h + 12, next_seq_);
  put32(h + 16, crc32c(std::span<const std::byte>(h, 16)));
  FERRITE_CO_TRY(co_await flash_.program(g.sector_offset(target), std::span<const std::byte>(h, hs)));
  head_ = target;
  head_generation_ = generation;
  has_head_ = true;
  sealed_ = false;
  write_offset_ = hs;
  ++stats_.rotations;
  co_return Status{};
}

Task<Status> EventRing::append(EventLevel level, bool timed, std::int64_t timestamp,
                               std::string_view message) noexcept {
  const Geometry& g = flash_.geometry();
  const std::size_t n = std::min(message.size(), max_message_);
  const std::uint32_t length = record_size(n);
  for (int attempt = 0;; ++attempt) {
    if (!has_head_ || sealed_ || write_offset_ + length > g.sector_size(head_)) FERRITE_CO_TRY(co_await rotate());
    std::byte* r = scratch_.data();
    std::fill(scratch_.begin(), scratch_.begin() + length, g.erased_byte());
    r[0] = record_marker;
    r[1] = static_cast<std::byte>(level);
    r[2] = std::byte{timed ? flag_timestamp : std::uint8_t{0}};
    r[3] = static_cast<std::byte>(n);
    put32(r + 4, next_seq_);
    put64(r + 8, timed ? timestamp : 0);
    if (n) std::memcpy(r + record_head, message.data(), n);
    put32(r + record_head + n, crc32c(std::span<const std::byte>(r, record_head + n)));
    auto st = co_await flash_.program(g.sector_offset(head_) + write_offset_, std::span<const std::byte>(r, length));
    if (st) {
      write_offset_ += length;
      ++next_seq_;
      ++stats_.written;
      co_return Status{};
    }
    // A unit that reads blank but holds a torn write's charge: never program
    // it again; write the record in a fresh sector.
    const bool refused = st.error() == Errc::reprogram_forbidden || st.error() == Errc::bits_not_erased;
    if (!refused || attempt > 0) co_return st;
    sealed_ = true;
    ++stats_.sealed;
  }
}

// -- the cursor ------------------------------------------------------------------------------

Task<Result<bool>> EventCursor::next() noexcept {
  EventRing& ring = *ring_;
  const Geometry& g = ring.flash_.geometry();
  if (!started_) {
    started_ = true;
    if (!ring.open_ || !ring.has_head_) co_return false;
    generation_ = ring.head_generation_;
    sector_ = ring.head_;
    limit_ = ring.write_offset_;
    seq_limit_ = ring.next_seq_;
  }
  while (generation_ != 0) {
    // The sector must still hold this generation (rotation may have erased it).
    std::uint32_t generation = 0, first_seq = 0;
    FERRITE_CO_TRY_ASSIGN(const bool valid, co_await ring.read_header(sector_, generation, first_seq, 1));
    if (valid && generation == generation_) {
      // The last valid record that starts before limit_ (records chain
      // forward only). A record numbered at or above seq_limit_ is one a power
      // cut tore (open() did not vouch for it, and a newer sector reuses its
      // number) even when its weak bits read right this time.
      std::uint32_t offset = ring.header_size(), found = 0;
      EventRing::Record r;
      while (offset < limit_) {
        FERRITE_CO_TRY_ASSIGN(const int state, co_await ring.read_record(sector_, offset, r, text_));
        if (state != record_valid || r.seq >= seq_limit_) break;
        found = offset;
        offset += r.length;
      }
      if (found != 0) {
        FERRITE_CO_TRY_ASSIGN(const int state, co_await ring.read_record(sector_, found, r, text_));
        if (state != record_valid || r.seq >= seq_limit_) {   // it read differently: look below it
          limit_ = found;
          continue;
        }
        {
          level_ = r.level;
          has_timestamp_ = r.timed;
          seq_ = r.seq;
          timestamp_ = r.timestamp;
          size_ = r.size;
          limit_ = found;
          co_return true;
        }
      }
    }
    // The next older sector: the one holding generation_ - 1, if any still
    // does; its events are numbered below this sector's first one.
    if (valid && generation == generation_) seq_limit_ = std::min(seq_limit_, first_seq);
    const std::uint32_t want = generation_ - 1;
    generation_ = 0;
    for (std::uint32_t s = 0; s < g.sector_count() && want != 0; ++s) {
      FERRITE_CO_TRY_ASSIGN(const bool ok, co_await ring.read_header(s, generation, first_seq, 1));
      if (ok && generation == want) {
        generation_ = want;
        sector_ = s;
        limit_ = g.sector_size(s);
        break;
      }
    }
  }
  co_return false;
}

#if FERRITE_HAVE_FMT
std::string format_event(const EventCursor& event) {
  if (event.has_timestamp())
    return fmt::format("{} {} @{} {}", event.seq(), name_of(event.level()), event.timestamp(), event.message());
  return fmt::format("{} {} {}", event.seq(), name_of(event.level()), event.message());
}
#endif

}  // namespace ferrite
