// Integrity of a sealed store's log (docs/FORMAT.md §3.6): the OPEN record
// that chains every sector to the one before it, the checks mount makes,
// the rollback counter, and keys whose latest record failed authentication.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {
constexpr std::uint8_t live_state = static_cast<std::uint8_t>(SectorState::live);
}  // namespace

Refusal StoreEngine::tamper_report() const noexcept {
  const auto found = [&](const char* field, const char* reason) {
    return Refusal{Errc::tampered, field, refused_.value, refused_.limit, reason};
  };
  switch (seal_.finding) {
    case TamperFinding::legacy:
      return {Errc::unsupported, "sealed format", refused_.value, 0,
              "a sealed store written before logs were authenticated and nonces salted (ferrite 0.2): "
              "read it with that version and copy its keys into a new store"};
    case TamperFinding::record_auth:
      return found("record", "a record passes its checksum but fails authentication: written without the key "
                             "(value: sector sequence, limit: offset)");
    case TamperFinding::hole:
      return found("record", "damaged bytes before a valid record: a power cut only ever damages a sector's "
                             "last record (value: sector sequence, limit: offset of the record)");
    case TamperFinding::no_open:
      return found("sector", "a sector holds records but does not begin with its OPEN record "
                             "(value: sector sequence, limit: offset)");
    case TamperFinding::bad_open:
      return found("sector", "an OPEN record where none belongs, or one that contradicts its sector "
                             "(value: sector sequence, limit: offset or tail)");
    case TamperFinding::pin:
      return found("sector end", "a sector ends elsewhere than where the next sector's OPEN record says it "
                                 "ended: records were cut off or added (value: end found, limit: end recorded)");
    case TamperFinding::missing:
      return found("sector", "a sector of the log is missing or was replaced by another one "
                             "(value: sequence expected, limit: sequence found or tail)");
    case TamperFinding::end_slot:
      return found("end slot", "a sector's end slot holds a record that is not a RETIRE, or one that fails "
                               "authentication (value: sector sequence, limit: offset)");
    case TamperFinding::rollback:
      return found("rollback counter", "the log ends before the position the rollback counter holds: the image "
                                       "was rolled back or its newest records removed (value: log sector "
                                       "sequence, limit: counter's)");
    case TamperFinding::duplicate:
      return found("sector", "two sectors carry the same sequence number (value: the sequence)");
    case TamperFinding::ahead:
      return found("rollback counter", "the log holds more than one write beyond the position the rollback "
                                       "counter holds: records this device never acknowledged, written by another "
                                       "device with the same key (value: log sector sequence, limit: counter's)");
    case TamperFinding::too_many_failures:
      return found("record", "more records fail authentication than a mount tracks "
                             "(value: sector sequence, limit: offset)");
    case TamperFinding::none:
      break;
  }
  return found("log", "the sealed log fails its integrity checks");
}

Task<Status> StoreEngine::find_sealed_tail() noexcept {
  // Header tails and retire markers carry only a crc. The tail comes from
  // the newest sector whose OPEN record authenticates (RETIRE records met in
  // the replay raise it further); newer sectors without one must be empty,
  // which the replay checks.
  tail_ = 0;
  std::uint32_t below = none, lowest = none;
  for (;;) {
    std::uint32_t pick = none;
    for (std::uint32_t s = 0; s < sectors_.size(); ++s) {
      const SectorInfo& info = sectors_[s];
      if (info.state != live_state || info.sequence >= below) continue;
      if (pick == none || info.sequence > sectors_[pick].sequence) pick = s;
      if (lowest == none || info.sequence < lowest) lowest = info.sequence;
    }
    if (pick == none) break;
    below = sectors_[pick].sequence;
    const std::uint32_t size = geometry_.sector_size(pick);
    LogRecordRead rec;
    rec.status = co_await read_record(pick, header_size_, size - header_size_, rec.record);
    if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
    if (rec && !rec->blank && rec->kind == logfmt::meta && rec->key_size == logfmt::open) {
      tail_ = logfmt::get_le32(rec->meta.data());
      if (tail_ > below) {
        tampering(TamperFinding::bad_open, below, tail_);
        co_return fail(Errc::tampered);
      }
      co_return Status{};
    }
  }
  // No sector begins with an OPEN (a store cut right after its first
  // header): replay everything; any record found there is tampering.
  tail_ = lowest == none ? 0 : lowest;
  co_return Status{};
}

Status StoreEngine::check_sealed_record(const LogRecord& rec) noexcept {
  const std::uint32_t sector = sector_of(rec.address);
  const std::uint32_t sequence = sectors_[sector].sequence;
  const std::uint32_t offset = rec.address - geometry_.sector_offset(sector);
  const bool is_open = rec.kind == logfmt::meta && rec.key_size == logfmt::open && !rec.compact;
  if ((offset == header_size_) != is_open) {
    // Every sector begins with its OPEN, and only there.
    tampering(is_open ? TamperFinding::bad_open : TamperFinding::no_open, sequence, offset);
    return fail(Errc::tampered);
  }
  if (!is_open) return {};
  const std::uint32_t tail = logfmt::get_le32(rec.meta.data());
  const std::uint32_t previous = logfmt::get_le32(rec.meta.data() + 4);
  const std::uint32_t previous_end = logfmt::get_le32(rec.meta.data() + 8);
  if (tail > sequence || previous >= sequence) {
    tampering(TamperFinding::bad_open, sequence, offset);
    return fail(Errc::tampered);
  }
  if (seal_.last_open_sector != none && previous == seal_.last_open_sequence) {
    // Chained to the sector replayed before it, which must end exactly
    // where it ended then: nothing cut off, nothing added.
    if (previous_end < seal_.last_open_end && previous_end >= header_size_ && mount_->voided_count < mount_->voided.size()) {
      // Records past the end this OPEN pins: a write a power cut left weak,
      // which the mount that refused it read as a torn tail (it then sealed
      // that sector and the writer moved here), now reading right by
      // chance. Never acknowledged: void them and replay once more
      // (FORMAT.md §3.6).
      mount_->voided[mount_->voided_count++] = {seal_.last_open_sequence, previous_end, seal_.last_open_end};
      mount_->replay_again = true;
      return fail(Errc::corrupt);
    }
    if (previous_end != seal_.last_open_end) {
      tampering(TamperFinding::pin, seal_.last_open_end, previous_end);
      return fail(Errc::tampered);
    }
  } else if (seal_.last_open_sector != none && previous < seal_.last_open_sequence) {
    // Chained past a sector the writer never knew of.
    tampering(TamperFinding::missing, previous, seal_.last_open_sequence);
    return fail(Errc::tampered);
  } else {
    // Chained to a sector that is not here: fine only if it was retired,
    // which a RETIRE later in the replay may say (check_sealed_log).
    mount_->sealed.missing_before = std::max(mount_->sealed.missing_before, previous);
  }
  mount_->sealed.open_previous = (std::uint64_t{previous} << 32) | previous_end;
  seal_.last_open_sector = sector;
  seal_.last_open_sequence = sequence;
  seal_.last_open_end = offset;  // replay_sector moves it to the sector's end
  return {};
}

Status StoreEngine::note_failure(std::uint32_t sector, std::uint32_t offset) noexcept {
  if (mount_->sealed.failure_count == mount_->sealed.failures.size()) {
    tampering(TamperFinding::too_many_failures, sectors_[sector].sequence, offset);
    return fail(Errc::tampered);
  }
  mount_->sealed.failures[mount_->sealed.failure_count++] = (std::uint64_t{sectors_[sector].sequence} << 32) | offset;
  return {};
}

void StoreEngine::acknowledge_failure(std::uint32_t sequence, std::uint32_t offset) noexcept {
  const std::uint64_t at = (std::uint64_t{sequence} << 32) | offset;
  for (std::uint32_t i = 0; i < mount_->sealed.failure_count; ++i) {
    if (mount_->sealed.failures[i] != at) continue;
    mount_->sealed.failures[i] = mount_->sealed.failures[--mount_->sealed.failure_count];
    return;
  }
}

Status StoreEngine::check_sealed_log() noexcept {
  if (mount_->sealed.skipped_max != 0 && mount_->sealed.skipped_max >= tail_) {
    tampering(TamperFinding::missing, mount_->sealed.skipped_max, tail_);  // a marker on a sector that is live
    return fail(Errc::tampered);
  }
  if (mount_->sealed.missing_before != 0 && mount_->sealed.missing_before >= tail_) {
    tampering(TamperFinding::missing, mount_->sealed.missing_before, tail_);
    return fail(Errc::tampered);
  }
  if (mount_->sealed.failure_count > 0) {
    // A record that fails authentication with no TAMPERED record for it:
    // written by someone without the key, and it may have been any key's.
    tampering(TamperFinding::record_auth, static_cast<std::uint32_t>(mount_->sealed.failures[0] >> 32),
              static_cast<std::uint32_t>(mount_->sealed.failures[0]));
    return fail(Errc::tampered);
  }
  return {};
}

Status StoreEngine::check_rollback(std::uint64_t trusted) noexcept {
  if (log_position() < trusted) {
    // The log ends before a record this store acknowledged: rolled back.
    tampering(TamperFinding::rollback, static_cast<std::uint32_t>(log_position() >> 32),
              static_cast<std::uint32_t>(trusted >> 32));
    return fail(Errc::tampered);
  }
  if (mount_->sealed.log_before_last > trusted) {
    // Records beyond the last one the store acknowledged: written by
    // another device holding the same key (a clone), not by this one.
    tampering(TamperFinding::ahead, static_cast<std::uint32_t>(mount_->sealed.log_before_last >> 32),
              static_cast<std::uint32_t>(trusted >> 32));
    return fail(Errc::tampered);
  }
  return {};
}

void StoreEngine::mark_tampered(const Entry& e) noexcept {
  for (std::size_t i = index_.lower_bound(e.hash); i < index_.size() && index_[i].hash() == e.hash; ++i) {
    Entry found = unpack(i);
    if (found.location != e.location || found.tamper != Tamper::none) continue;
    found.tamper = Tamper::pending;
    store_entry(i, found);
    ++seal_.tamper_pending;
    return;
  }
}

Task<Status> StoreEngine::write_tampered(std::size_t position, const Entry& e, std::span<const std::byte> key,
                                         std::uint32_t sequence, std::uint32_t offset) noexcept {
  // The caller made room. The record names the one that failed, so that a
  // mount finding that one still on flash knows it was seen and recorded.
  std::array<std::byte, logfmt::tampered_bytes> value{};
  logfmt::put_le32(value.data(), sequence);
  logfmt::put_le32(value.data() + 4, offset);
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t at,
                        co_await append(logfmt::tampered, 0, key, value, false, e.hash, 0));
  Entry t = unpack(position);
  const std::uint32_t old_size = full_size(e.key_size, t.value_size);
  if (t.tamper == Tamper::pending) --seal_.tamper_pending;
  t.location = at;
  t.binding = at;
  t.slot = 0;
  t.typed = false;
  t.tamper = Tamper::recorded;
  t.value_size = static_cast<std::uint16_t>(seal_.codec->sealed_size(logfmt::tampered_bytes));
  const std::uint32_t new_size = full_size(e.key_size, t.value_size);
  sectors_[sector_of(e.binding)].live_bytes -= old_size;
  sectors_[sector_of(at)].live_bytes += new_size;
  note_dead(old_size);
  note_live(new_size);
  store_entry(position, t);
  co_return Status{};
}

Task<Status> StoreEngine::record_tampering() noexcept {
  while (sealed() && seal_.tamper_pending > 0) {
    std::size_t position = none;
    for (std::size_t i = 0; i < index_.size() && position == none; ++i)
      if (unpack(i).tamper == Tamper::pending) position = i;
    if (position == none) {
      seal_.tamper_pending = 0;
      break;
    }
    Entry e;
    FERRITE_CO_TRY(co_await load_entry(position, e));
    const std::uint32_t new_size = full_size(e.key_size, static_cast<std::uint32_t>(seal_.codec->sealed_size(logfmt::tampered_bytes)));
    const std::uint32_t old_size = full_size(e.key_size, e.value_size);
    FERRITE_CO_TRY(co_await ensure_room(new_size, live_.total - old_size + new_size));
    // Collection may have recorded it, or moved the entry: look again.
    if (unpack(position).tamper != Tamper::pending || unpack(position).hash != e.hash) continue;
    FERRITE_CO_TRY(co_await load_entry(position, e));
    std::array<std::byte, max_key_size> key{};
    FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, key));
    const std::uint32_t sector = sector_of(e.location);
    FERRITE_CO_TRY(co_await write_tampered(position, e, std::span<const std::byte>(key.data(), e.key_size),
                                           sectors_[sector].sequence, e.location - geometry_.sector_offset(sector)));
  }
  co_return Status{};
}

Task<Status> StoreEngine::retire_in_end_slot(std::span<const std::byte> tail) noexcept {
  // The end slot lies beyond every record the head can hold, so no torn
  // write reaches it; a head uses it at most once (the next write opens
  // another sector).
  const std::uint32_t slot = records_end(head_);
  if (head_offset_ > slot) co_return fail(Errc::no_space);  // used already
  head_offset_ = slot;
  head_sealed_ = false;
  seal_.end_slot_open = true;  // append may write there
  auto at = co_await append(logfmt::meta, 0, {}, tail, false, 0, logfmt::retire);
  seal_.end_slot_open = false;
  head_sealed_ = true;  // full now (or refused: sealed either way)
  if (!at) co_return fail(at.error());
  co_return Status{};
}

Task<Status> StoreEngine::replay_end_slot(std::uint32_t sector, std::uint32_t& good_end) noexcept {
  const std::uint32_t slot = records_end(sector), size = geometry_.sector_size(sector);
  LogRecordRead rec;
  rec.status = co_await read_record(sector, slot, size - slot, rec.record);
  if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
  const bool forged = !rec && seal_.auth_failed;
  // Blank, or torn by a cut during the write: nothing was retired by it.
  if (!forged && (!rec || rec->blank)) co_return Status{};
  if (forged || rec->kind != logfmt::meta || rec->key_size != logfmt::retire) {
    tampering(TamperFinding::end_slot, sectors_[sector].sequence, slot);
    co_return fail(Errc::tampered);
  }
  // The slot is the last write of its sector: a cut can leave weak bits
  // that read right only this time, so it must read back the same.
  const bool windowed = mount_->windowed;
  mount_->windowed = false;
  for (int i = 0; i < stability_reads; ++i) {
    LogRecordRead again;
    again.status = co_await read_record(sector, slot, size - slot, again.record);
    if (!again && again.error() != Errc::corrupt) {
      mount_->windowed = windowed;
      co_return fail(again.error());
    }
    if (!again || again->blank || again->stored_crc != rec->stored_crc) {
      mount_->windowed = windowed;
      co_return Status{};  // not durable: as if the cut came before it
    }
  }
  mount_->windowed = windowed;
  FERRITE_CO_TRY(apply_record(*rec));  // a RETIRE: nothing to look up
  good_end = size;  // what the writer pinned: the slot closes the sector
  co_return Status{};
}

Task<Result<std::size_t>> Store::tampered_key(std::size_t n, std::span<std::byte> out) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  for (std::size_t i = 0; i < index_.size(); ++i) {
    if (unpack(i).tamper == Tamper::none || n-- > 0) continue;
    Entry e;
    FERRITE_CO_TRY(co_await load_entry(i, e));
    if (out.size() < e.key_size) co_return fail(Errc::buffer_too_small);
    FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, out));
    co_return std::size_t{e.key_size};
  }
  co_return fail(Errc::not_found);
}

Result<std::size_t> Store::stored_name(std::span<const std::byte> name, std::span<std::byte> out) noexcept {
  if (name.empty()) return fail(Errc::invalid_argument);
  if (name.size() > max_key_size) return fail(Errc::too_large);
  const StoredKey k = stored_key(name);
  if (out.size() < k.size) return fail(Errc::buffer_too_small);
  std::memcpy(out.data(), k.view().data(), k.size);
  return std::size_t{k.size};
}

}  // namespace ferrite
