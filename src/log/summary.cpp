// Sector summaries (docs/FORMAT.md §5.2): maintain() lists the records of
// the sector before the head in SUMMARY records at the head's start; mount
// replays that sector from the list, reading header words and keys but no
// value, so its time follows the number of records rather than their bytes.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {

constexpr std::uint32_t not_listed = 0xFFFFFFFFu;
constexpr std::uint32_t list_bytes = 48;  // a SUMMARY's value, as any META's, fits LogRecord::meta

/// What an entry holds after a full record's header word: the key's check,
/// the value of a RETIRE or ERASED, or nothing; not_listed for a record a
/// summary never names (it ends the summary).
std::uint32_t entry_tail(const LogRecord& rec) noexcept {
  switch (rec.kind) {
    case logfmt::put:
    case logfmt::typed_put:
    case logfmt::erase:
      return 2;
    case logfmt::meta:
      switch (rec.key_size) {
        case logfmt::retire: return rec.value_size == 4 ? 4 : not_listed;
        case logfmt::erased: return rec.value_size == 8 ? 8 : not_listed;
        case logfmt::skip:
        case logfmt::open: return not_listed;
        default: return 0;
      }
    default:
      return not_listed;
  }
}

}  // namespace

Task<Status> StoreEngine::replay_summary(std::uint32_t sector, std::uint32_t& offset, std::uint32_t& last_at) noexcept {
  if (sealed() || !indexed()) co_return Status{};
  const std::uint32_t sequence = sectors_[sector].sequence;
  for (std::uint8_t i = 0; i < mount_->voided_count; ++i)
    if (mount_->voided[i].sequence == sequence) co_return Status{};  // a SKIP voided bytes here
  std::uint32_t next = none;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i)
    if (sectors_[i].state == static_cast<std::uint8_t>(SectorState::live) && sectors_[i].sequence == sequence + 1)
      next = i;
  if (next == none) co_return Status{};
  // The list starts among the successor's first full records.
  LogRecord rec;
  const std::uint32_t next_end = records_end(next);
  std::uint32_t at = header_size_;
  for (;;) {
    if (at >= header_size_ + summary_window || at >= next_end) co_return Status{};
    const Status st = co_await read_record(next, at, next_end - at, rec);
    if (!st && st.error() != Errc::corrupt) co_return st;
    if (!st || rec.blank || rec.compact) co_return Status{};
    if (rec.kind == logfmt::meta && rec.key_size == logfmt::summary) break;
    at += rec.size;
  }
  const std::uint32_t base = geometry_.sector_offset(sector);
  const std::uint32_t end = records_end(sector);
  std::uint32_t pos = offset;
  std::array<std::byte, list_bytes> list{};
  bool listing = true;
  while (listing) {
    const std::uint32_t n = rec.value_size;
    const std::uint32_t list_record = rec.size;
    std::memcpy(list.data(), rec.meta.data(), n);
    for (std::uint32_t i = 0; i < n && listing;) {
      // The entry, spelled out as the record it names.
      const auto b0 = static_cast<std::uint8_t>(list[i]);
      rec = LogRecord{};
      rec.address = base + pos;
      if (b0 >= 1 && b0 <= max_slots) {
        // A compact record: sized and named by its binding, which must lie
        // in this sector and address it (as read_record requires).
        const std::size_t holder = index_.position_of_slot(b0);
        const Entry e = holder != none ? unpack(holder) : Entry{};
        if (holder == none || sector_of(e.binding) != sector || !addressable(rec.address, e.binding)) break;
        rec.compact = true;
        rec.slot = b0;
        rec.kind = e.typed ? logfmt::typed_put : logfmt::put;
        rec.value_size = e.value_size;
        rec.size = compact_size(e.value_size);
        rec.key_hash = e.hash;
        i += 1;
      } else {
        if (!(b0 & 0x80u) || b0 == 0xFFu || i + 4 > n) break;
        if (!take_full_word(logfmt::get_le32(list.data() + i), rec)) break;
        const std::uint32_t tail = entry_tail(rec);
        if (tail == not_listed || i + 4 + tail > n) break;
        if (rec.kind == logfmt::meta) {
          std::memcpy(rec.meta.data(), list.data() + i + 4, tail);
        } else {
          // The key from flash, checked against the entry: a name that
          // decayed ends the list, and replay reads the record whole.
          const std::span<std::byte> key(rec.key.data(), rec.key_size);
          mount_->windowed = false;  // a key alone: no read-ahead past it
          const Status st = co_await read_bytes(rec.address + logfmt::full_head, key);
          mount_->windowed = true;
          FERRITE_CO_TRY(st);
          rec.key_hash = crc32c(key);
          if ((rec.key_hash & 0xFFFFu) != logfmt::get_le16(list.data() + i + 4)) break;
        }
        i += 4 + tail;
      }
      if (rec.size > end - pos) break;
      // Applied as replay_sector applies a record that verified.
      if (rec.kind == logfmt::meta && rec.key_size == logfmt::shared) sectors_[sector].unique_hashes = 0;
      Status st;
      Result<bool> step = apply_record(rec);
      if (step && *step) {
        const std::span<const std::byte> key(rec.key.data(), rec.key_size);
        Located found;
        if (!sectors_[sector].unique_hashes || !match_by_hash(rec, found)) st = co_await locate(key, rec.key_hash, found);
        if (st) step = apply_keyed_record(rec, found, found.entry);
        if (st && step && *step) st = co_await index_insert(found.entry, key);
      }
      if (st && !step) st = fail(step.error());
      if (!st) {
        if (st.error() != Errc::corrupt || mount_->replay_again) co_return st;
        listing = false;  // replay reads that record itself and judges it
        break;
      }
      last_at = pos;
      pos += rec.size;
      ++counters_.summarized_records;
    }
    if (!listing) break;
    // The list goes on in the next record, if that is a SUMMARY too.
    at += list_record;
    if (at >= next_end) break;
    const Status st = co_await read_record(next, at, next_end - at, rec);
    if (!st && st.error() != Errc::corrupt) co_return st;
    listing = st && !rec.blank && !rec.compact && rec.kind == logfmt::meta && rec.key_size == logfmt::summary;
  }
  offset = pos;
  co_return Status{};
}

Task<Status> StoreEngine::write_summary(MaintenanceReport& report) noexcept {
  const std::uint32_t listed = summary_.sector;
  summary_.sector = none;  // one attempt: a sector left without a list only mounts slower
  if (listed == none || !summaries_ || sealed() || !indexed() || head_sealed_) co_return Status{};
  if (sectors_[listed].state != static_cast<std::uint8_t>(SectorState::live) ||
      sectors_[listed].sequence + 1 != sectors_[head_].sequence || head_offset_ >= header_size_ + summary_window)
    co_return Status{};
  // A list record wastes no more at a sector end than a live record may (FORMAT.md §6.2).
  std::uint32_t cap = list_bytes;
  while (cap >= 16 && full_size(0, cap) > sector_slack(0)) --cap;
  if (cap < 16) co_return Status{};
  const bool last_whole = sectors_[head_].vouches_previous;
  LogRecord rec;
  std::array<std::byte, list_bytes> list{};
  std::uint32_t used = 0;
  // The entry of the last record read: it goes in once what follows it is
  // known to be a record that verifies (or the sector's end, when the
  // head's header vouches for its last record).
  std::array<std::byte, 12> held{};
  std::uint32_t held_size = 0;
  const auto flush = [&]() -> Task<Result<bool>> {
    if (used == 0) co_return true;
    if (head_room() < full_size(0, used) || head_sealed_) co_return false;
    FERRITE_CO_TRY(co_await append(logfmt::meta, 0, {}, std::span<const std::byte>(list).first(used), false, 0,
                                   logfmt::summary));
    ++report.summary_records;
    used = 0;
    co_return true;
  };
  const auto take_held = [&]() -> Task<Result<bool>> {
    if (used + held_size > cap) {
      FERRITE_CO_TRY_ASSIGN(const bool room, co_await flush());
      if (!room) co_return false;
    }
    std::memcpy(list.data() + used, held.data(), held_size);
    used += held_size;
    held_size = 0;
    co_return true;
  };
  const std::uint32_t end = records_end(listed);
  for (std::uint32_t offset = header_size_; offset < end;) {
    const Status st = co_await read_record(listed, offset, end - offset, rec);
    if (!st && st.error() != Errc::corrupt) co_return st;
    if (!st) break;
    const bool follows = !rec.blank || last_whole;
    if (held_size > 0 && follows) {
      FERRITE_CO_TRY_ASSIGN(const bool room, co_await take_held());
      if (!room) co_return Status{};
    }
    if (rec.blank) break;
    if (rec.compact) {
      held[0] = static_cast<std::byte>(rec.slot);
      held_size = 1;
    } else {
      const std::uint32_t tail = entry_tail(rec);
      if (tail == not_listed) break;
      const std::uint8_t field = logfmt::has_key(rec.kind) ? rec.key_size - 1 : rec.key_size;
      logfmt::put_le32(held.data(), logfmt::pack(rec.kind, rec.slot, field, rec.value_size));
      if (rec.kind == logfmt::meta) std::memcpy(held.data() + 4, rec.meta.data(), tail);
      else logfmt::put_le16(held.data() + 4, static_cast<std::uint16_t>(rec.key_hash));
      held_size = 4 + tail;
    }
    offset += rec.size;
  }
  FERRITE_CO_TRY(co_await flush());
  co_return Status{};
}

}  // namespace ferrite
