// The change stream: log sequence numbers, and a cursor over the changes
// the log holds from one of them on (docs/FORMAT.md §6.1).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {

constexpr std::uint64_t position(std::uint32_t sequence, std::uint32_t offset) noexcept {
  return (std::uint64_t{sequence} << 32) | offset;
}

}  // namespace

std::uint64_t Store::lsn() const noexcept { return log_end(); }

std::uint64_t Store::oldest_lsn() const noexcept {
  if (!mounted_) return 0;
  const std::uint32_t oldest = oldest_live();
  return oldest == none ? 0 : position(sectors_[oldest].sequence, header_size_);
}

ChangeCursor Store::changes_since(std::uint64_t lsn) noexcept {
  ChangeCursor c;
  c.store_ = this;
  c.from_ = lsn;
  c.lsn_ = lsn;
  return c;
}

Task<Result<bool>> ChangeCursor::next() noexcept {
  if (!store_) co_return false;
  auto guard = co_await store_->mutex_.lock();
  on_change_ = false;
  auto more = co_await store_->change_next(*this);
  on_change_ = more && *more;
  co_return more;
}

Task<Result<std::size_t>> ChangeCursor::read_value(std::span<std::byte> out) noexcept {
  if (!store_) co_return fail(Errc::invalid_argument);
  auto guard = co_await store_->mutex_.lock();
  co_return co_await store_->change_read_value(*this, out);
}

Result<std::uint32_t> StoreEngine::change_sector(ChangeCursor& c) const noexcept {
  const std::uint32_t s = live_sector_with(c.sequence_);
  if (s != none) return s;
  // Gone. At or above the tail, collection never had it: it held no record
  // (an empty head erased and opened again under a new sequence). Just
  // below the tail, retired by this session, it lost nothing the cursor had
  // not read if the cursor was at its end. Anything else was discarded.
  const bool nothing_lost =
      c.sequence_ >= tail_ || (c.sequence_ + 1 == tail_ && retired_end_ != 0 && c.offset_ >= retired_end_);
  const std::uint32_t next = nothing_lost ? live_sector_after(c.sequence_) : none;
  if (next == none) return fail(Errc::history_lost);
  c.enter(sectors_[next].sequence, header_size_);
  return next;
}

Task<Result<bool>> StoreEngine::change_next(ChangeCursor& c) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  // The key a sealed store keeps is then a keyed hash: no change could say
  // which key it wrote. With a plain prefix, changes carry keys as stored
  // (docs/FORMAT.md §3.7).
  if (keys_unscannable()) co_return fail(Errc::unsupported);
  if (!c.started_) {
    if (c.from_ > log_end()) co_return fail(Errc::invalid_argument);
    const auto sequence = static_cast<std::uint32_t>(c.from_ >> 32);
    const auto offset = static_cast<std::uint32_t>(c.from_);
    const std::uint32_t s = live_sector_with(sequence);
    if (s != none && offset > geometry_.sector_size(s)) co_return fail(Errc::invalid_argument);
    // A compact record's key is bound earlier in its sector: reading starts
    // at the sector's first record even when the LSN points further in.
    c.enter(sequence, s != none ? header_size_ : offset);
    c.started_ = true;
  }
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const std::uint32_t s, change_sector(c));
    const std::uint32_t sequence = c.sequence_;
    if (c.commit_ != 0) {
      // The batch's commit was verified when the batch was met: its writes
      // are yielded one per step, and the commit itself writes no key.
      if (c.offset_ >= c.commit_) {
        c.offset_ = c.commit_ + meta_size(8);
        c.commit_ = 0;
        continue;
      }
      LogRecordRead rec;
      rec.status = co_await read_record(s, c.offset_, c.commit_ - c.offset_, rec.record);
      if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
      if (!rec || rec->blank || (rec->kind != logfmt::txn_put && rec->kind != logfmt::txn_erase)) {
        // The batch read whole a moment ago: the flash changed since. Its
        // other writes can no longer be told apart from damage.
        ++counters_.corrupt_records;
        c.offset_ = c.commit_;
        continue;
      }
      const std::uint32_t at = c.offset_;
      c.offset_ += rec->size;
      if (position(sequence, at) < c.from_) continue;
      if (sectors_[s].skips) {
        FERRITE_CO_TRY_ASSIGN(const bool voided, co_await change_voided(c, s, at));
        if (voided) continue;
      }
      FERRITE_CO_TRY_ASSIGN(const bool taken, co_await change_take(c, s, *rec));
      if (taken) co_return true;
      continue;
    }
    const std::uint32_t end = written_end(s);
    if (c.offset_ >= end) {
      if (s == head_) {
        c.lsn_ = std::max(c.lsn_, position(sequence, c.offset_));
        co_return false;
      }
      const std::uint32_t next = live_sector_after(sequence);
      if (next == none) co_return false;
      c.enter(sectors_[next].sequence, header_size_);
      continue;
    }
    const std::uint32_t at = c.offset_;
    const std::uint32_t address = geometry_.sector_offset(s) + at;
    std::array<std::byte, logfmt::full_head> head{};
    const std::uint32_t n = std::min<std::uint32_t>(end - at, logfmt::full_head);
    FERRITE_CO_TRY(co_await flash_.read(address, std::span<std::byte>(head).first(n)));
    bool blank = true;
    for (std::uint32_t i = 0; i < std::min(n, unit_); ++i) blank = blank && head[i] == geometry_.erased_byte();
    if (blank) {
      // The end of what was written here, or units a failed write left blank.
      auto rest = co_await check_tail_blank(s, at, end);
      if (!rest && rest.error() != Errc::corrupt) co_return fail(rest.error());
      c.offset_ = rest ? end : at + unit_;
      continue;
    }
    const auto first = static_cast<std::uint8_t>(head[0]);
    if (first >= 1 && first <= max_slots) {
      if (n < logfmt::compact_head) {
        c.offset_ = at + unit_;
        continue;
      }
      FERRITE_CO_TRY_ASSIGN(const bool taken, co_await change_compact(c, s, end, logfmt::get_le32(head.data())));
      if (taken) co_return true;
      continue;
    }
    LogRecordRead rec;
    rec.status = co_await read_record(s, at, end - at, rec.record);
    if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
    if (!rec || rec->blank) {
      // Damage: as mount does, look for the next record unit by unit (its
      // position is in its checksum, so nothing inside another verifies).
      c.offset_ = at + unit_;
      continue;
    }
    if (logfmt::is_txn(rec->kind)) {
#if !FERRITE_WITH_TRANSACTIONS
      co_return fail(Errc::unsupported);  // this build has no batches (a mount meeting one refuses too)
#else
      FERRITE_CO_TRY_ASSIGN(const TxnScan scan, co_await walk_batch(s, at, end, false));
      if (scan.committed) c.commit_ = scan.next - meta_size(8);  // its writes start at `at`
      else c.offset_ = std::max(scan.next, at + unit_);          // never visible, as at mount
      continue;
#endif
    }
    c.offset_ = at + rec->size;
    const bool put = rec->kind == logfmt::put || rec->kind == logfmt::typed_put;
    if (put && rec->slot != 0) c.bindings_[rec->slot] = at;
    if (!put && rec->kind != logfmt::erase) continue;  // META, TAMPERED: bookkeeping, not changes
    if (position(sequence, at) < c.from_) continue;
    if (sectors_[s].skips) {
      FERRITE_CO_TRY_ASSIGN(const bool voided, co_await change_voided(c, s, at));
      if (voided) continue;
    }
    FERRITE_CO_TRY_ASSIGN(const bool taken, co_await change_take(c, s, *rec));
    if (taken) co_return true;
  }
}

Task<Result<bool>> StoreEngine::change_compact(ChangeCursor& c, std::uint32_t sector, std::uint32_t end,
                                               std::uint32_t head) noexcept {
  // The key and the value length are those of the full record that bound
  // the slot last before this record, in this sector (FORMAT.md §3.2); the
  // checksum, seeded with that key, says whether the binding is right.
  const std::uint32_t at = c.offset_;
  const std::uint32_t base = geometry_.sector_offset(sector);
  const auto slot = static_cast<std::uint8_t>(head & 0xFFu);
  const std::uint32_t bound = c.bindings_[slot];
  std::array<std::byte, 4> word{};
  std::array<std::byte, max_key_size> key{};
  std::uint32_t w = 0, key_size = 0, value_size = 0, hash = 0;
  bool good = bound != 0 && (!indexed() || addressable(base + at, base + bound));
  if (good) {
    FERRITE_CO_TRY(co_await flash_.read(base + bound, word));
    w = logfmt::get_le32(word.data());
    key_size = logfmt::key_field_of(w) + 1u;
    value_size = logfmt::value_size_of(w);
    good = (w & 0x80u) != 0 && (logfmt::kind_of(w) == logfmt::put || logfmt::kind_of(w) == logfmt::typed_put) &&
           logfmt::slot_of(w) == slot && compact_size(value_size) <= end - at;
  }
  if (good) {
    const std::span<std::byte> name(key.data(), key_size);
    FERRITE_CO_TRY(co_await flash_.read(base + bound + logfmt::full_head, name));
    hash = crc32c(name);
    std::uint32_t crc = logfmt::position_crc(sectors_[sector].sequence, at, hash);
    const std::array<std::byte, 1> slot_byte{static_cast<std::byte>(slot)};
    crc = crc32c(slot_byte, crc);
    FERRITE_CO_TRY_ASSIGN(crc, co_await crc_of_range(base + at + logfmt::compact_head, value_size, crc));
    good = (crc & 0xFFFFFFu) == (head >> 8);
  }
  if (!good) {
    c.offset_ = at + unit_;  // damaged, as for a full record
    co_return false;
  }
  c.offset_ = at + compact_size(value_size);
  const bool typed = logfmt::kind_of(w) == logfmt::typed_put;
  if (position(sectors_[sector].sequence, at) < c.from_ || (typed && value_size == 0)) co_return false;
  if (sectors_[sector].skips) {
    FERRITE_CO_TRY_ASSIGN(const bool voided, co_await change_voided(c, sector, at));
    if (voided) co_return false;
  }
  ValueType type = ValueType::untyped;
  if (typed) {
    std::array<std::byte, 1> tag{};
    FERRITE_CO_TRY(co_await flash_.read(base + at + logfmt::compact_head, tag));
    type = static_cast<ValueType>(tag[0]);
  }
  std::memcpy(c.key_.data(), key.data(), key_size);
  c.key_size_ = static_cast<std::uint8_t>(key_size);
  c.key_hash_ = hash;
  c.erased_ = false;
  c.typed_ = typed;
  c.type_ = type;
  c.slot_ = slot;
  c.at_ = at;
  c.binding_ = bound;
  c.stored_size_ = value_size;
  c.value_size_ = value_size - (typed ? 1u : 0u);
  c.lsn_ = position(sectors_[sector].sequence, c.offset_);
  co_return true;
}

Task<Result<bool>> StoreEngine::change_voided(ChangeCursor& c, std::uint32_t sector, std::uint32_t at) noexcept {
  // Bytes a SKIP voids (FORMAT.md §3.3) lie before it: a change there that
  // reads right by chance was never written, and mount stepped over it.
  // Called only for a sector with a SKIP: the cursor reads their ranges once
  // and then only what the head wrote since.
  if (c.voids_sequence_ != c.sequence_) {
    c.voids_sequence_ = c.sequence_;
    c.voids_count_ = 0;
    c.voids_overflow_ = false;
    c.voids_end_ = header_size_;
  }
  // Two walks: [voids_end_, written end) adds ranges; with more ranges than
  // the cursor keeps, [at, voids_end_) then looks past this change for one.
  std::uint32_t offset = c.voids_end_;
  std::uint32_t end = written_end(sector);
  bool collecting = true;
  for (;;) {
    if (offset >= end) {
      if (!collecting) co_return false;
      c.voids_end_ = std::max(c.voids_end_, end);
      for (std::uint8_t i = 0; i < c.voids_count_; ++i)
        if (at >= c.voids_[i].first && at < c.voids_[i].second) co_return true;
      if (!c.voids_overflow_) co_return false;
      collecting = false;
      offset = at;
      end = c.voids_end_;
      continue;
    }
    LogRecordRead rec;
    rec.status = co_await read_record(sector, offset, end - offset, rec.record);
    if (!rec || rec->blank) {
      if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
      offset += unit_;  // damage, a compact record (read_record does not bind it) or blank units
      continue;
    }
    const std::uint32_t from = voided_from(*rec);
    if (from > header_size_ && from < offset) {
      if (!collecting) {
        if (from <= at) co_return true;
      } else {
        // A SKIP written past a torn earlier SKIP voids the same bytes and
        // more: overlapping ranges are one.
        auto* r = c.voids_.begin();
        while (r != c.voids_.begin() + c.voids_count_ && (from > r->second || offset < r->first)) ++r;
        if (r != c.voids_.begin() + c.voids_count_) {
          *r = {std::min(r->first, from), std::max(r->second, offset)};
        } else if (c.voids_count_ < c.voids_.size()) {
          c.voids_[c.voids_count_++] = {from, offset};
        } else {
          c.voids_overflow_ = true;
        }
      }
    }
    offset += rec->size;
  }
}

Task<Result<bool>> StoreEngine::change_take(ChangeCursor& c, std::uint32_t sector, const LogRecord& rec) noexcept {
  const bool erased = rec.kind == logfmt::erase || rec.kind == logfmt::txn_erase;
  const bool typed = rec.kind == logfmt::typed_put;
  const std::span<const std::byte> key(rec.key.data(), rec.key_size);
  std::uint32_t size = erased ? 0 : rec.value_size;
  ValueType type = ValueType::untyped;
  if (!erased && !sealed() && typed) {
    if (size == 0) co_return false;  // no tag: never written so, and get could not read it
    std::array<std::byte, 1> tag{};
    FERRITE_CO_TRY(co_await flash_.read(rec.address + logfmt::full_head + rec.key_size, tag));
    type = static_cast<ValueType>(tag[0]);
    size -= 1;
  } else if (!erased && sealed()) {
    // The plain size, and a typed value's tag, are inside the sealed value:
    // open it, as a Cursor step does. What does not open is not a change.
    const ScratchWipe wipe{*this};
    Entry e;
    e.hash = rec.key_hash;
    e.location = rec.address;
    e.binding = rec.address;
    e.value_size = static_cast<std::uint16_t>(rec.value_size);
    e.key_size = rec.key_size;
    e.typed = typed;
    auto framed = co_await open_value(e, key);
    if (!framed && framed.error() != Errc::corrupt && framed.error() != Errc::tampered &&
        framed.error() != Errc::not_found)
      co_return fail(framed.error());
    auto plain = framed ? seal_.codec->framed_size(scratch_a().first(*framed)) : Result<std::size_t>(fail(Errc::corrupt));
    if (plain && typed) {
      scratch_touched(*plain);
      auto n = *plain > 0 ? seal_.codec->unframe(scratch_a().first(*framed), scratch_b())
                          : Result<std::size_t>(fail(Errc::corrupt));
      if (n && *n == *plain) {
        type = static_cast<ValueType>(scratch_b()[0]);
        plain = *plain - 1;
      } else {
        plain = fail(Errc::corrupt);
      }
    }
    if (!plain) {
      ++counters_.corrupt_records;
      co_return false;
    }
    size = static_cast<std::uint32_t>(*plain);
  }
  const std::uint32_t at = rec.address - geometry_.sector_offset(sector);
  std::memcpy(c.key_.data(), rec.key.data(), rec.key_size);
  c.key_size_ = rec.key_size;
  c.key_hash_ = rec.key_hash;
  c.erased_ = erased;
  c.typed_ = typed;
  c.type_ = type;
  c.slot_ = 0;
  c.at_ = at;
  c.binding_ = at;
  c.stored_size_ = rec.value_size;
  c.value_size_ = size;
  c.lsn_ = position(sectors_[sector].sequence, at + rec.size);
  co_return true;
}

Task<Result<std::size_t>> StoreEngine::change_read_value(const ChangeCursor& c, std::span<std::byte> out) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!c.on_change_) co_return fail(Errc::invalid_argument);
  if (c.erased_) co_return fail(Errc::not_found);
  const std::uint32_t s = live_sector_with(c.sequence_);
  if (s == none) co_return fail(Errc::history_lost);
  // The change's own record, read and verified as get reads a key's latest.
  Entry e;
  e.hash = c.key_hash_;
  e.location = geometry_.sector_offset(s) + c.at_;
  e.binding = geometry_.sector_offset(s) + c.binding_;
  e.value_size = static_cast<std::uint16_t>(c.stored_size_);
  e.key_size = c.key_size_;
  e.slot = c.slot_;
  e.typed = c.typed_;
  co_return co_await read_value(e, c.key(), out);
}

}  // namespace ferrite
