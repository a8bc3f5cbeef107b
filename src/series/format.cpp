// The bytes of a series log: sector headers and entries (docs/FORMAT.md
// §11.1, §11.2), and the per-sector RAM summary.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.series;

namespace ferrite {

static_assert(sizeof(SeriesSector) == 20, "docs/SERIES.md states 20 bytes of RAM per sector");

namespace {

constexpr std::uint32_t magic = 0x474C5346u;  // "FSLG"
constexpr std::uint8_t format_version = 1;
constexpr std::uint8_t sealed_flag = 1;
constexpr std::uint8_t rollover_flag = 2;
constexpr std::uint32_t chunk = 64;

void put16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v);
  p[1] = static_cast<std::byte>(v >> 8);
}
void put32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint16_t get16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | std::to_integer<unsigned>(p[1]) << 8);
}
std::uint32_t get32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
std::uint64_t get64(const std::byte* p) noexcept {
  return std::uint64_t{get32(p)} | std::uint64_t{get32(p + 4)} << 32;
}

}  // namespace

std::int64_t SeriesSector::max_ts() const noexcept {
  if (span_ >= wide_span) return std::numeric_limits<std::int64_t>::max();
  return min_ts() + static_cast<std::int64_t>(span_);
}

void SeriesSector::widen(std::int64_t ts) noexcept {
  if (span_ == no_readings) {
    const auto u = static_cast<std::uint64_t>(ts);
    min_lo_ = static_cast<std::uint32_t>(u);
    min_hi_ = static_cast<std::uint32_t>(u >> 32);
    span_ = 0;
    return;
  }
  const std::int64_t lo = min_ts();
  // A wide span keeps min_ts exact and max_ts unbounded: still a valid cover.
  const std::int64_t hi = max_ts();
  const std::int64_t new_lo = std::min(lo, ts);
  const std::int64_t new_hi = std::max(hi, ts);
  const auto u = static_cast<std::uint64_t>(new_lo);
  min_lo_ = static_cast<std::uint32_t>(u);
  min_hi_ = static_cast<std::uint32_t>(u >> 32);
  if (span_ == wide_span || new_hi == std::numeric_limits<std::int64_t>::max()) {
    span_ = wide_span;
    return;
  }
  const std::uint64_t span = static_cast<std::uint64_t>(new_hi) - static_cast<std::uint64_t>(new_lo);
  span_ = span >= wide_span ? wide_span : static_cast<std::uint32_t>(span);
}

std::uint32_t SeriesLog::align(std::uint32_t n) const noexcept {
  const std::uint32_t unit = flash_.geometry().program_unit();
  return (n + unit - 1) / unit * unit;
}

std::uint32_t SeriesLog::header_size() const noexcept { return align(header_bytes); }

void SeriesLog::encode_header(std::span<std::byte, 32> out, std::uint64_t first_seq,
                              std::uint32_t sector) const noexcept {
  std::fill(out.begin(), out.end(), std::byte{0});
  put32(out.data(), magic);
  out[4] = std::byte{format_version};
  out[5] = static_cast<std::byte>((config_.codec ? sealed_flag : 0) | (config_.rollover ? rollover_flag : 0));
  out[6] = static_cast<std::byte>(std::countr_zero(flash_.geometry().program_unit()));
  put32(out.data() + 8, config_.log_id);
  put64(out.data() + 12, first_seq);
  put32(out.data() + 20, flash_.geometry().sector_size(sector));
  put32(out.data() + 28, crc32c(std::span<const std::byte>(out.data(), 28)));
}

// Answers the header's first_seq and its crc; not_formatted for a blank
// header, corrupt for a damaged one, foreign_format for another log's.
Task<Result<std::uint64_t>> SeriesLog::read_header(std::uint32_t sector, std::uint32_t& crc, bool* rollover) noexcept {
  std::array<std::byte, 32> h{};
  const Geometry& g = flash_.geometry();
  FERRITE_CO_TRY(co_await flash_.read(g.sector_offset(sector), h));
  if (std::all_of(h.begin(), h.end(), [&](std::byte b) { return b == g.erased_byte(); }))
    co_return fail(Errc::not_formatted);
  if (get32(h.data()) != magic || std::to_integer<std::uint8_t>(h[4]) != format_version ||
      get32(h.data() + 28) != crc32c(std::span<const std::byte>(h.data(), 28)) ||
      std::to_integer<unsigned>(h[6]) != static_cast<unsigned>(std::countr_zero(g.program_unit())) ||
      get32(h.data() + 20) != g.sector_size(sector) || h[7] != std::byte{0} ||
      (std::to_integer<std::uint8_t>(h[5]) & ~(sealed_flag | rollover_flag)) != 0)
    co_return fail(Errc::corrupt);
  const bool sealed = (std::to_integer<std::uint8_t>(h[5]) & sealed_flag) != 0;
  if (get32(h.data() + 8) != config_.log_id) co_return fail(Errc::foreign_format);
  if (sealed && !config_.codec) co_return fail(Errc::wrong_key);
  if (!sealed && config_.codec) co_return fail(Errc::foreign_format);
  const std::uint64_t first = get64(h.data() + 12);
  if (first == 0 || first >= (std::uint64_t{1} << 56)) co_return fail(Errc::corrupt);
  crc = get32(h.data() + 28);
  if (rollover) *rollover = (std::to_integer<std::uint8_t>(h[5]) & rollover_flag) != 0;
  co_return first;
}

Task<Result<SeriesLog::Entry>> SeriesLog::read_entry(std::uint32_t sector, std::uint32_t offset,
                                                     std::uint32_t index, std::uint32_t header_crc,
                                                     std::span<std::byte> payload, bool check) noexcept {
  const Geometry& g = flash_.geometry();
  const std::uint32_t size = g.sector_size(sector);
  if (offset + entry_overhead > size) co_return fail(Errc::corrupt);
  std::array<std::byte, chunk> buf{};
  const std::uint32_t base = g.sector_offset(sector) + offset;
  FERRITE_CO_TRY(co_await flash_.read(base, std::span<std::byte>(buf.data(), 16)));
  Entry e;
  e.len = get16(buf.data());
  e.series = std::to_integer<std::uint8_t>(buf[2]);
  e.kind = std::to_integer<std::uint8_t>(buf[3]);
  e.index = get32(buf.data() + 4);
  e.ts = static_cast<std::int64_t>(get64(buf.data() + 8));
  e.size = align(entry_overhead + e.len);
  if (e.kind < reading_kind || e.kind > clear_all_kind || e.index != index || e.size > size - offset)
    co_return fail(Errc::corrupt);
  std::copy_n(buf.begin(), 16, e.raw.begin());
  if (!check) co_return e;
  FERRITE_CO_TRY(co_await read_rest(sector, offset, e, header_crc, payload));
  co_return e;
}

Task<Status> SeriesLog::read_rest(std::uint32_t sector, std::uint32_t offset, Entry& e, std::uint32_t header_crc,
                                  std::span<std::byte> payload) noexcept {
  const std::uint32_t base = flash_.geometry().sector_offset(sector) + offset;
  std::uint32_t crc = crc32c(e.raw, header_crc);
  std::array<std::byte, chunk> buf{};
  if (!payload.empty()) {
    if (payload.size() < e.len) co_return fail(Errc::buffer_too_small);
    if (e.len) FERRITE_CO_TRY(co_await flash_.read(base + 16, payload.first(e.len)));
    crc = crc32c(payload.first(e.len), crc);
  } else {
    for (std::uint32_t at = 0; at < e.len;) {
      const std::uint32_t n = std::min<std::uint32_t>(chunk, e.len - at);
      FERRITE_CO_TRY(co_await flash_.read(base + 16 + at, std::span<std::byte>(buf.data(), n)));
      crc = crc32c(std::span<const std::byte>(buf.data(), n), crc);
      at += n;
    }
  }
  std::array<std::byte, 4> stored{};
  FERRITE_CO_TRY(co_await flash_.read(base + 16 + e.len, stored));
  e.verified = get32(stored.data()) == crc;
  co_return Status{};
}

void SeriesLog::note_recent(std::uint32_t offset) noexcept {
  recent_[recent_at_] = offset;
  recent_at_ = (recent_at_ + 1) % recent_window;
  recent_count_ = std::min(recent_count_ + 1, recent_window);
}

std::size_t SeriesLog::sealed_ad(std::span<std::byte, 24> ad, std::uint8_t kind, std::uint8_t series,
                                 std::int64_t ts, std::uint64_t seq) const noexcept {
  std::fill(ad.begin(), ad.end(), std::byte{0});
  put32(ad.data(), config_.log_id);
  put32(ad.data() + 4, static_cast<std::uint32_t>(seq));
  put32(ad.data() + 8, static_cast<std::uint32_t>(seq >> 32) | 0x80000000u);
  ad[12] = std::byte{series};
  ad[13] = std::byte{kind};
  put64(ad.data() + 16, static_cast<std::uint64_t>(ts));
  return ad.size();
}

// Builds the payload part of an entry in scratch (sealed when a codec is
// set); the header and crc come with finish_entry once the sector is known.
Result<std::size_t> SeriesLog::build_entry(std::uint8_t kind, std::uint8_t series, std::int64_t ts,
                                           std::span<const std::byte> payload, std::uint64_t seq) noexcept {
  std::span<std::byte> s = config_.scratch;
  std::byte* body = s.data() + 16;
  std::size_t len = payload.size();
  if (config_.codec) {
    const std::size_t sealed = config_.codec->sealed_size(payload.size());
    if (16 + sealed + 4 + flash_.geometry().program_unit() > s.size()) return fail(Errc::too_large);
    if (!payload.empty()) std::memcpy(body, payload.data(), payload.size());
    std::array<std::byte, 24> ad{};
    sealed_ad(ad, kind, series, ts, seq);
    FERRITE_TRY(config_.codec->seal(ad, std::span<std::byte>(body, sealed), payload.size()));
    len = sealed;
  } else if (!payload.empty()) {
    std::memcpy(body, payload.data(), payload.size());
  }
  put16(s.data(), static_cast<std::uint16_t>(len));
  s[2] = std::byte{series};
  s[3] = std::byte{kind};
  put64(s.data() + 8, static_cast<std::uint64_t>(ts));
  return len;
}

void SeriesLog::finish_entry(std::size_t len, std::uint32_t index, std::uint32_t header_crc) noexcept {
  std::span<std::byte> s = config_.scratch;
  put32(s.data() + 4, index);
  const std::uint32_t crc = crc32c(std::span<const std::byte>(s.data(), 16 + len), header_crc);
  put32(s.data() + 16 + len, crc);
  entry_len_ = align(static_cast<std::uint32_t>(entry_overhead + len));
  std::fill(s.data() + 20 + len, s.data() + entry_len_, flash_.geometry().erased_byte());
}

Result<std::size_t> SeriesLog::open_payload(const Entry& e, std::uint64_t seq, std::span<std::byte> payload) noexcept {
  if (!config_.codec) return std::size_t{e.len};
  std::array<std::byte, 24> ad{};
  sealed_ad(ad, e.kind, e.series, e.ts, seq);
  auto n = config_.codec->open(ad, payload.first(e.len));
  if (!n) return fail(Errc::tampered);
  return *n;
}

Result<double> SeriesField::read(std::span<const std::byte> p) const noexcept {
  if (kind == Kind::callback) {
    if (!extract) return fail(Errc::invalid_argument);
    return extract(context, p);
  }
  static constexpr std::uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
  const std::uint32_t n = sizes[static_cast<unsigned>(kind)];
  if (offset > p.size() || p.size() - offset < n) return fail(Errc::invalid_argument);
  std::uint64_t raw = 0;
  for (std::uint32_t i = 0; i < n; ++i) raw |= std::uint64_t{std::to_integer<std::uint8_t>(p[offset + i])} << (8 * i);
  switch (kind) {
    case Kind::i8: return static_cast<double>(static_cast<std::int8_t>(raw));
    case Kind::u8: return static_cast<double>(static_cast<std::uint8_t>(raw));
    case Kind::i16: return static_cast<double>(static_cast<std::int16_t>(raw));
    case Kind::u16: return static_cast<double>(static_cast<std::uint16_t>(raw));
    case Kind::i32: return static_cast<double>(static_cast<std::int32_t>(raw));
    case Kind::u32: return static_cast<double>(static_cast<std::uint32_t>(raw));
    case Kind::i64: return static_cast<double>(static_cast<std::int64_t>(raw));
    case Kind::u64: return static_cast<double>(raw);
    case Kind::f32: return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(raw)));
    case Kind::f64: return std::bit_cast<double>(raw);
    case Kind::callback: break;
  }
  return fail(Errc::invalid_argument);
}

}  // namespace ferrite
