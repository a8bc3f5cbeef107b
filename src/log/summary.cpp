// Sector summaries (docs/FORMAT.md §5.2): maintain() lists the records of
// the sector before the head in SUMMARY records at the head's start; mount
// replays that sector from the list, reading each record's header word (and
// its name only where two live keys may share a hash) but no value, so its
// time follows the number of records rather than their bytes.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {

constexpr std::uint32_t not_listed = 0xFFFFFFFFu;
constexpr std::uint32_t list_bytes = 48;  // a SUMMARY's value, as any META's, fits LogRecord::meta
constexpr std::uint8_t skip_entry = 0x7F;  // then u16: program units of records the list leaves out

/// What an entry holds after a full record's header word: the key's hash,
/// the value of a RETIRE or ERASED, or nothing; not_listed for
/// a record a summary never names (it ends the summary).
std::uint32_t entry_tail(const LogRecord& rec) noexcept {
  switch (rec.kind) {
    case logfmt::put:
    case logfmt::typed_put:
    case logfmt::erase:
      return 4;
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

/// Bindings of the listed sector that the index no longer holds (their key
/// moved on or was erased, or their slot was bound again): a compact record
/// after one of them is read against it, as mount will. The latest of each
/// slot, for the slots bound most recently.
class MovedBindings {
 public:
  void add(const IndexedKey& binding) noexcept {
    const Kept kept{binding.binding, binding.hash, binding.value_size, binding.slot, binding.typed};
    for (std::size_t i = 0; i < std::min<std::size_t>(next_, kept_.size()); ++i)
      if (kept_[i].slot == binding.slot) {
        kept_[i] = kept;
        return;
      }
    kept_[next_++ % kept_.size()] = kept;
  }
  /// The latest one of `slot` into `out`; false when none is kept.
  bool latest(std::uint8_t slot, IndexedKey& out) const noexcept {
    for (std::size_t i = 0; i < std::min<std::size_t>(next_, kept_.size()); ++i)
      if (kept_[i].slot == slot) {
        out = IndexedKey{};
        out.binding = out.location = kept_[i].binding;
        out.hash = kept_[i].hash;
        out.value_size = kept_[i].value_size;
        out.slot = slot;
        out.typed = kept_[i].typed;
        return true;
      }
    return false;
  }

 private:
  // What a compact record is read against (12 bytes, not a whole entry:
  // the table sits in maintain()'s frame).
  struct Kept {
    std::uint32_t binding = 0, hash = 0;
    std::uint16_t value_size = 0;
    std::uint8_t slot = 0;
    bool typed = false;
  };
  std::array<Kept, 24> kept_{};
  std::size_t next_ = 0;
};

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
  // (Only a header with bit 5 may be followed by a list: others cost no read.)
  if (next == none || !sectors_[next].summary_follows) co_return Status{};
  // The list starts among the successor's first full records: their header
  // words lead to it (replay reads those records whole later), and the
  // first SUMMARY found must verify.
  LogRecord rec;
  const std::uint32_t next_end = records_end(next);
  std::uint32_t at = header_size_;
  for (;;) {
    if (at >= header_size_ + summary_window || next_end - at < logfmt::full_head) co_return Status{};
    std::array<std::byte, 4> word{};
    mount_->windowed = false;
    const Status st = co_await read_bytes(geometry_.sector_offset(next) + at, word);
    mount_->windowed = true;
    FERRITE_CO_TRY(st);
    const auto b0 = static_cast<std::uint8_t>(word[0]);
    if (!(b0 & 0x80u) || b0 == 0xFFu || !take_full_word(logfmt::get_le32(word.data()), rec)) co_return Status{};
    if (rec.kind == logfmt::meta && rec.key_size == logfmt::summary) break;
    at += rec.size;
  }
  {
    const Status st = co_await read_record(next, at, next_end - at, rec);
    if (!st && st.error() != Errc::corrupt) co_return st;
    if (!st || rec.blank || rec.compact || rec.kind != logfmt::meta || rec.key_size != logfmt::summary)
      co_return Status{};
  }
  const std::uint32_t base = geometry_.sector_offset(sector);
  const std::uint32_t end = records_end(sector);
  std::uint32_t pos = offset;
  // Just past the last record applied: replay goes on from there. (Bytes a
  // skip entry steps over count only once an entry after them checks out:
  // a list found in the wrong place, or cut short, may end in a skip.)
  std::uint32_t applied_end = offset;
  std::array<std::byte, list_bytes> list{};
  bool listing = true;
  while (listing) {
    const std::uint32_t n = rec.value_size;
    const std::uint32_t list_record = rec.size;
    std::memcpy(list.data(), rec.meta.data(), n);
    for (std::uint32_t i = 0; i < n && listing;) {
      listing = false;  // until this entry is applied: whatever breaks off below ends the list
      // The entry, spelled out as the record it names.
      const auto b0 = static_cast<std::uint8_t>(list[i]);
      if (b0 == skip_entry) {
        // Records that were dead when the list was written: nothing to apply.
        if (i + 3 > n) break;
        const std::uint32_t skipped = std::uint32_t{logfmt::get_le16(list.data() + i + 1)} * unit_;
        if (skipped > end - pos) break;
        pos += skipped;
        i += 3;
        listing = true;
        continue;
      }
      rec = LogRecord{};
      rec.address = base + pos;
      std::uint32_t word = b0;  // what the record's first bytes must read: its slot, or its header word
      std::uint32_t hash = 0;   // crc32c(key), for records with a key
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
        word = logfmt::get_le32(list.data() + i);
        if (!take_full_word(word, rec)) break;
        const std::uint32_t tail = entry_tail(rec);
        if (tail == not_listed || i + 4 + tail > n) break;
        if (rec.kind == logfmt::meta) std::memcpy(rec.meta.data(), list.data() + i + 4, tail);
        else hash = logfmt::get_le32(list.data() + i + 4);
        i += 4 + tail;
      }
      if (rec.size > end - pos) break;
      const bool named = !rec.compact && logfmt::has_key(rec.kind);
      if (named) rec.key_hash = hash;
      const bool unique = sectors_[sector].unique_hashes;
      {
        // The list must still describe what lies there: the record's slot
        // or header word is read (never its value). A record that decayed
        // there ends the list: replay reads it whole. Its name is read only
        // where two live keys may share a hash, as replay compares names
        // there; elsewhere the entry carries the index's hash, and a name
        // that decays after the listing is found by the reader that compares
        // it (locate: a name that no longer hashes to its entry is damage).
        std::array<std::byte, 4> head{};
        const std::span<std::byte> first = std::span<std::byte>(head).first(rec.compact ? 1 : 4);
        const std::span<std::byte> key(rec.key.data(), named && !unique ? rec.key_size : 0);
        mount_->windowed = false;  // a few bytes per record: no read-ahead into the value
        Status st = co_await read_bytes(rec.address, first);
        if (st && !key.empty()) st = co_await read_bytes(rec.address + logfmt::full_head, key);
        mount_->windowed = true;
        FERRITE_CO_TRY(st);
        if ((rec.compact ? std::uint32_t{static_cast<std::uint8_t>(head[0])} : logfmt::get_le32(head.data())) != word)
          break;
        if (!key.empty() && crc32c(key) != hash) break;
      }
      // Applied as replay_sector applies a record that verified.
      if (rec.kind == logfmt::meta && rec.key_size == logfmt::shared) sectors_[sector].unique_hashes = 0;
      Status st;
      Result<bool> step = apply_record(rec);
      if (step && *step) {
        const std::span<std::byte> key(rec.key.data(), rec.key_size);
        Located found;
        if (!sectors_[sector].unique_hashes || !match_by_hash(rec, found)) {
          // Unnamed, a record matches by its hash alone or is a new key;
          // where keys of its hash are indexed, replay reads it and compares.
          if (unique && index_.holds(rec.key_hash)) break;
          st = co_await locate(key, rec.key_hash, found, false, DecayedName::adopt);
        }
        if (st) step = apply_keyed_record(rec, found, found.entry);
        if (st && step && *step) st = co_await index_insert(found.entry, key);
      }
      if (st && !step) st = fail(step.error());
      if (!st) {
        if (st.error() != Errc::corrupt || mount_->replay_again) co_return st;
        break;  // replay reads that record itself and judges it
      }
      last_at = pos;
      pos += rec.size;
      applied_end = pos;
      ++counters_.summarized_records;
      listing = true;
    }
    if (!listing) break;
    // The list goes on in the next record, if that is a SUMMARY too.
    at += list_record;
    if (at >= next_end) break;
    const Status st = co_await read_record(next, at, next_end - at, rec);
    if (!st && st.error() != Errc::corrupt) co_return st;
    listing = st && !rec.blank && !rec.compact && rec.kind == logfmt::meta && rec.key_size == logfmt::summary;
  }
  offset = applied_end;
  co_return Status{};
}

Task<Status> StoreEngine::write_summary(MaintenanceReport& report) noexcept {
  const std::uint32_t listed = summary_.sector;
  summary_.sector = none;  // one attempt: a sector left without a list only mounts slower
  if (listed == none || !summaries_ || sealed() || !indexed() || head_sealed_) co_return Status{};
  if (sectors_[listed].state != static_cast<std::uint8_t>(SectorState::live) ||
      sectors_[listed].sequence + 1 != sectors_[head_].sequence || head_offset_ >= header_size_ + summary_window)
    co_return Status{};
  // At most a quarter of the head, and only while collection has that much
  // room to spare beyond its debt: a list takes room the paced collection
  // counted on, and must never be what has a write collect.
  std::uint32_t budget = payload_of(head_) / 4;
  const std::uint32_t victim = gc_.victim != none ? gc_.victim : oldest_live();
  if (victim != none && victim != head_ &&
      runway_room(victim) - std::int64_t{collection_debt(victim)} < 2 * std::int64_t{budget})
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
  std::array<std::byte, 3 + 12> held{};
  std::uint32_t held_size = 0;
  std::uint32_t dead_units = 0;  // units of records left out since the last one listed
  const auto flush = [&]() -> Task<Result<bool>> {
    if (used == 0) co_return true;
    const std::uint32_t size = full_size(0, used);
    if (head_room() < size || size > budget || head_sealed_) co_return false;
    budget -= size;
    summary_.written += size;
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
  const std::uint32_t base = geometry_.sector_offset(listed);
  const std::uint32_t end = records_end(listed);
  MovedBindings moved;
  for (std::uint32_t offset = header_size_; offset < end;) {
    // A compact record names the latest binding of its slot before it: the
    // index's, when that lies before it in this sector, or one it no longer holds.
    std::array<std::byte, 1> first{};
    FERRITE_CO_TRY(co_await read_bytes(base + offset, first));
    const auto slot = static_cast<std::uint8_t>(first[0]);
    const Entry* binding = nullptr;
    Entry moved_binding;
    // The key holding the slot now (a scan of the index): looked up once per compact record.
    Entry current;
    std::size_t holder = none;
    if (slot >= 1 && slot <= max_slots) {
      holder = index_.position_of_slot(slot);
      if (holder != none) current = unpack(holder);
      const bool index_names_it =
          holder != none && sector_of(current.binding) == listed && current.binding < base + offset;
      if (!index_names_it) {
        if (!moved.latest(slot, moved_binding)) break;
        binding = &moved_binding;
      }
    }
    summary_.binding = binding;
    const Status st = co_await read_record(listed, offset, end - offset, rec);
    summary_.binding = nullptr;
    if (!st && st.error() != Errc::corrupt) co_return st;
    if (!st) break;
    const bool follows = !rec.blank || last_whole;
    if (held_size > 0 && follows) {
      FERRITE_CO_TRY_ASSIGN(const bool room, co_await take_held());
      if (!room) co_return Status{};
    }
    if (rec.blank) break;
    offset += rec.size;
    if (!rec.compact && rec.slot != 0) {
      const std::size_t holder = index_.position_of_slot(rec.slot);
      if (holder == none || unpack(holder).binding != rec.address) moved.add(entry_of(rec));
    }
    const std::uint32_t tail = rec.compact ? 0 : entry_tail(rec);
    if (tail == not_listed) break;
    // A put that is neither its key's latest record nor its binding now is
    // left out: every mount replays what superseded it after it. (Records
    // binding a slot stay, so replay moves slots exactly as without a list.)
    // So is a SUMMARY (of the sector before this one): it applies nothing.
    bool dead = rec.kind == logfmt::meta && rec.key_size == logfmt::summary;
    if (rec.compact) {
      dead = holder == none || current.location != rec.address;  // (the index is as it was before the read)
    } else if (logfmt::is_put(rec.kind) && rec.slot == 0) {
      Located found;
      FERRITE_CO_TRY(co_await locate(std::span<const std::byte>(rec.key.data(), rec.key_size), rec.key_hash, found,
                                     false, DecayedName::adopt));
      dead = !found.found || (found.entry.location != rec.address && found.entry.binding != rec.address);
    }
    if (dead) {
      dead_units += rec.size / unit_;
      continue;
    }
    if (dead_units > 0xFFFFu) break;
    held_size = 0;
    if (dead_units > 0) {
      held[0] = static_cast<std::byte>(skip_entry);
      logfmt::put_le16(held.data() + 1, static_cast<std::uint16_t>(dead_units));
      held_size = 3;
      dead_units = 0;
    }
    std::byte* entry = held.data() + held_size;
    if (rec.compact) {
      entry[0] = static_cast<std::byte>(rec.slot);
      held_size += 1;
    } else {
      const std::uint8_t field = logfmt::has_key(rec.kind) ? rec.key_size - 1 : rec.key_size;
      logfmt::put_le32(entry, logfmt::pack(rec.kind, rec.slot, field, rec.value_size));
      if (rec.kind == logfmt::meta) std::memcpy(entry + 4, rec.meta.data(), tail);
      else logfmt::put_le32(entry + 4, rec.key_hash);
      held_size += 4 + tail;
    }
  }
  FERRITE_CO_TRY(co_await flush());
  co_return Status{};
}

}  // namespace ferrite
