// Space management: opening sectors, garbage collection, wear levelling and
// idle-time maintenance (docs/FORMAT.md §6).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {
constexpr std::uint8_t live_state = static_cast<std::uint8_t>(SectorState::live);
constexpr std::uint8_t erased_state = static_cast<std::uint8_t>(SectorState::erased);
constexpr std::uint8_t retired_state = static_cast<std::uint8_t>(SectorState::retired);

/// A program the flash refused because the units were not blank after all
/// (programmed by a cut write, though they read erased): the sector it was
/// aimed at is sealed or dropped, and another attempt goes elsewhere.
bool refused(Errc e) noexcept { return e == Errc::reprogram_forbidden || e == Errc::bits_not_erased; }
}  // namespace

std::uint32_t StoreEngine::head_room() const noexcept {
  const std::uint32_t end = seal_.end_slot_open ? geometry_.sector_size(head_) : records_end(head_);
  return head_sealed_ || head_offset_ >= end ? 0 : end - head_offset_;
}

std::uint32_t StoreEngine::free_sector_count() const noexcept {
  std::uint32_t n = 0;
  for (const SectorInfo& s : sectors_) n += s.state != live_state;
  return n;
}

std::uint32_t StoreEngine::free_payload() const noexcept {
  if constexpr (mixed_sectors_built) {
    if (spreads_victims()) {
      // What writes may take beyond the head before collection must run.
      const std::int64_t margin = spread_margin(0, false) - head_room();
      return margin > 0 ? static_cast<std::uint32_t>(std::min<std::int64_t>(margin, 0xFFFFFFFF)) : 0;
    }
  }
  std::uint32_t total = 0, largest = 0;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i) {
    if (sectors_[i].state == live_state) continue;
    total += payload_of(i);
    largest = std::max(largest, payload_of(i));
  }
  return total - largest;  // one free sector stays in reserve for garbage collection
}

std::uint32_t StoreEngine::reserve_payload() const noexcept {
  std::uint32_t largest = 0;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i)
    if (sectors_[i].state != live_state) largest = std::max(largest, payload_of(i));
  return largest;
}

std::uint32_t StoreEngine::takeable_reserve() const noexcept {
  // Retiring the victim gives back a reserve as large as the one taken only
  // when all sectors have one size. On mixed sizes the reserve would shrink
  // (a small victim for a large reserve) or the next victims would find
  // the free room gone (a large victim collected into a small reserve,
  // whose return is the large sector, held back again as the reserve):
  // there collection keeps to the free sectors beyond the reserve. (A build
  // without mixed_sectors mounts no such store.)
  if (mixed_sectors_built && geometry_.smallest_sector() != geometry_.largest_sector()) return 0;
  return reserve_payload();
}

#if FERRITE_WITH_MIXED_SECTORS
bool StoreEngine::spreads_victims() const noexcept {
  // An index-less store knows no sector's live bytes: it keeps one free
  // sector in reserve whatever the sizes.
  return indexed() && geometry_.smallest_sector() != geometry_.largest_sector();
}

std::uint64_t StoreEngine::spread_room() const noexcept {
  std::uint64_t room = head_room();
  for (std::uint32_t i = 0; i < sectors_.size(); ++i)
    if (sectors_[i].state != live_state) room += payload_of(i);
  return room;
}

std::uint64_t StoreEngine::turn_end_waste(const LiveRecordSizes& live_sizes, std::uint32_t written) const noexcept {
  // A turn of the ring closes at most N sector ends. Each wastes less than
  // the record that did not fit there, which opens the next sector: a
  // sector opened in the turn is not collected in it, so no live record
  // opens two of them, and the rest are META records (FORMAT.md §6.2).
  const std::uint32_t n = geometry_.sector_count();
  const std::uint32_t meta = meta_size(8);
  const std::uint64_t live = live_sizes.largest_sum(n, slack_, meta);
  const std::uint64_t with_written = std::max(written, meta) + live_sizes.largest_sum(n - 1, slack_, meta);
  return std::max(live, with_written);
}

std::uint32_t StoreEngine::turn_margin(std::uint32_t incoming) const noexcept {
  // A turn of the ring opens each sector at most once (a sector opened in
  // it is newer than every victim of it), so it closes at most N sector
  // ends, and writes a RETIRE per victim and an ERASED per erase; a cut
  // may add a torn record, a 64-byte program request and the SKIP that
  // closes them (FORMAT.md §6.2).
  const std::uint32_t slack = sector_slack(incoming);
  const std::uint32_t meta = meta_size(8);
  const std::uint64_t margin = turn_end_waste(live_.sizes, incoming) + std::uint64_t{geometry_.sector_count()} * 2 * meta + slack + 64 + meta;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(margin, 0xFFFFFFFFu));
}

std::int64_t StoreEngine::spread_margin(std::uint32_t record_size, bool opening) const noexcept {
  // After the write, collection must be able to empty every live sector
  // once, in ring order, the head last: each victim's live records must
  // fit the room left when its turn comes (the head's room and the free
  // sectors, with the payload of every victim before it given back), and
  // a turn's margin beside them (FORMAT.md §6.2). What the head takes from
  // now on may still be live when its turn comes: its debt counts its room.
  std::int64_t room = static_cast<std::int64_t>(spread_room()) - record_size;
  std::uint32_t next = none;
  if (opening) {
    next = next_free_sector();
    if (next == none) return std::numeric_limits<std::int64_t>::min();
    room -= head_room();  // the head's end is lost
  }
  const std::int64_t margin = turn_margin(record_size);
  std::int64_t least = std::numeric_limits<std::int64_t>::max();
  for (std::uint32_t v = oldest_live(); v != none; v = live_sector_after(sectors_[v].sequence)) {
    const std::uint32_t debt =
        v == head_ ? sectors_[v].live_bytes + (opening ? 0 : head_room()) : collection_debt(v);
    least = std::min(least, room - debt - margin);
    room += std::int64_t{payload_of(v)} - debt;
  }
  // A sector opened now is the newest: its whole payload may be live.
  if (opening) least = std::min(least, room - payload_of(next) - margin);
  return least;
}

bool StoreEngine::spread_holds(std::uint32_t record_size, bool opening) const noexcept {
  if (!opening && (head_sealed_ || head_room() < record_size)) return false;
  return spread_margin(record_size, opening) >= 0;
}

Task<Status> StoreEngine::ensure_spread_room(std::uint32_t record_size) noexcept {
  // Each pass either succeeds or changes the sector layout; a turn of the
  // ring takes at most two passes per sector.
  for (std::uint32_t pass = 0; pass < 4 * geometry_.sector_count() + 4; ++pass) {
    if (spread_holds(record_size, false)) co_return Status{};
    if (spread_holds(record_size, true)) {
      if (auto opened = co_await open_sector(); !opened && !refused(opened.error())) co_return opened;
      continue;
    }
    if (gc_.victim != none) {
      // The victim's live records may spread over every free sector.
      if (auto copied = co_await gc_step(0xFFFFFFFFu); !copied && !refused(copied.error())) co_return fail(copied.error());
      continue;
    }
    if (auto started = co_await start_gc(); !started && !refused(started.error())) co_return started;
  }
  co_return fail(Errc::no_space);
}
#endif  // FERRITE_WITH_MIXED_SECTORS

std::uint32_t StoreEngine::live_sector_with(std::uint32_t sequence) const noexcept {
  for (std::uint32_t s = 0; s < sectors_.size(); ++s)
    if (sectors_[s].state == live_state && sectors_[s].sequence == sequence) return s;
  return none;
}

std::uint32_t StoreEngine::live_sector_after(std::uint32_t sequence) const noexcept {
  std::uint32_t best = none;
  for (std::uint32_t s = 0; s < sectors_.size(); ++s) {
    if (sectors_[s].state != live_state || sectors_[s].sequence <= sequence) continue;
    if (best == none || sectors_[s].sequence < sectors_[best].sequence) best = s;
  }
  return best;
}

std::uint32_t StoreEngine::written_end(std::uint32_t sector) const noexcept {
  // Bytes a failed or torn write left behind the last good record are
  // outside it (mount ends a sector's used bytes there), and a sealed
  // sector's end slot holds no change, only ever a RETIRE.
  const std::uint32_t end = sector == head_ ? head_offset_ : header_size_ + sectors_[sector].used_bytes;
  return std::min(end, records_end(sector));
}

std::uint32_t StoreEngine::oldest_live() const noexcept {
  std::uint32_t oldest = none;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i) {
    if (sectors_[i].state != live_state) continue;
    if (oldest == none || sectors_[i].sequence < sectors_[oldest].sequence) oldest = i;
  }
  return oldest;
}

std::uint32_t StoreEngine::sector_slack(std::uint32_t incoming) const noexcept {
  // A sector's end wastes less than the record that did not fit there. The
  // records written from now on are copies of live records, the incoming
  // one, and META records; without an index the live ones are unknown, so
  // any record the limits allow is assumed (FORMAT.md §6.2).
  if (!indexed()) return slack_;
  // The incoming record counts as its class's limit, as it will once live:
  // the capacity after the write is then no less than the one it was
  // admitted under, and no erase is ever refused for room.
  const std::uint32_t written = incoming != 0 ? LiveRecordSizes::bound_of(incoming) : 0;
  const std::uint32_t bound = std::max({live_.sizes.largest_bound(), written, meta_size(8)});
  return std::min(bound, std::max(slack_, incoming));
}

std::uint32_t StoreEngine::capacity(std::uint32_t incoming) const noexcept {
  // The largest sector is the garbage-collection reserve, and every sector
  // may end with up to one record's worth of unusable room.
  std::uint32_t total = 0, largest = 0;
  for (std::uint32_t i = 0; i < geometry_.sector_count(); ++i) {
    total += payload_of(i);
    largest = std::max(largest, payload_of(i));
  }
  std::uint64_t waste = std::uint64_t{sector_slack(incoming)} * geometry_.sector_count();
  if constexpr (mixed_sectors_built) {
    if (spreads_victims()) {
      // The waste the turn before the write leaves at the sector ends it
      // closed and its META records, the head's end and the record the write
      // replaces, and the margin of the turn after it (FORMAT.md §6.2). The
      // records live after the write are those live now with the write's
      // change, or, when that is not known, with its record besides them.
      // The turn after it is charged as if the write were as large as the
      // largest of them, so that any update no larger finds the same
      // capacity, and the capacity after the write is no less.
      LiveRecordSizes after = live_.sizes;
      if (in_flight_.known) {
        if (in_flight_.removes != 0) after.remove_counted(in_flight_.removes);
        if (in_flight_.adds != 0) after.add(in_flight_.adds);
      } else if (incoming != 0) {
        after.add(incoming);
      }
      const std::uint32_t meta = meta_size(8);
      const std::uint32_t bound = std::max({live_.sizes.largest_bound(), after.largest_bound(), incoming, meta});
      const std::uint32_t slack = std::min(bound, std::max(slack_, incoming));
      const std::uint32_t written = std::max(incoming, std::min(after.largest_bound(), slack_));
      const std::uint64_t metas = std::uint64_t{geometry_.sector_count()} * 2 * meta;
      // The rule checks the write against the records live now with its
      // record besides them (the one it replaces is still counted then).
      const std::uint64_t ends_after = std::max(turn_end_waste(after, written), turn_end_waste(live_.sizes, incoming));
      const std::uint64_t turn_after = ends_after + metas + slack + 64 + meta;
      const std::uint64_t turn_before = std::max(turn_end_waste(live_.sizes, 0), turn_end_waste(after, 0)) + metas;
      waste = turn_after + turn_before + 2 * std::uint64_t{slack};
    }
  }
  return total > largest + waste ? static_cast<std::uint32_t>(total - largest - waste) : 0;
}

Task<Status> StoreEngine::erase_sector(std::uint32_t sector, bool mark) noexcept {
  SectorInfo& info = sectors_[sector];
  info.state = static_cast<std::uint8_t>(SectorState::garbage);
  auto st = co_await flash_.erase(sector);
  ++counters_.sectors_erased;
  if (!st) co_return st;
  ++info.erase_count;
  info.state = erased_state;
  info.vouched = 0;  // erased by this session: no need to look again
  if constexpr (changes_built) info.skips = 0;
  info.sequence = 0;
  info.live_bytes = 0;
  info.used_bytes = 0;
  if (mark && mounted_) {
    // Vouch for the erase so that it is trusted after a reboot; skipped when
    // the head has no room to spare (the sector is then erased again later).
    std::array<std::byte, 8> value{};
    logfmt::put_le16(value.data(), static_cast<std::uint16_t>(sector));
    logfmt::put_le32(value.data() + 4, info.erase_count);
    if (head_room() >= meta_size(8) + slack_) {
      auto at = co_await append(logfmt::meta, 0, {}, value, false, 0, logfmt::erased);
      if (!at && at.error() == Errc::power_lost) co_return fail(at.error());
    }
  }
  co_return Status{};
}

std::uint32_t StoreEngine::next_free_sector() const noexcept {
  // Wear levelling: the free sector with the fewest erases, preferring one
  // that is already erased when counts tie.
  std::uint32_t pick = none;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i) {
    const SectorInfo& s = sectors_[i];
    if (s.state == live_state) continue;
    if (pick == none) {
      pick = i;
      continue;
    }
    const SectorInfo& p = sectors_[pick];
    if (s.erase_count < p.erase_count || (s.erase_count == p.erase_count && s.state == erased_state &&
                                          p.state != erased_state))
      pick = i;
  }
  return pick;
}

Task<Status> StoreEngine::open_sector() noexcept {
  std::uint32_t pick = next_free_sector();
  // A sealed head with no record (mount does not trust a header it found
  // with nothing behind it) holds nothing: it may be erased and opened anew.
  if (pick == none && head_sealed_ && sectors_[head_].used_bytes == 0 && gc_.victim != head_) pick = head_;
  // A head a power cut tore, with records in it, and every sector live:
  // collection has nowhere to copy to unless the head is written again
  // past the torn bytes.
  if (pick == none && torn_head_skippable()) co_return co_await skip_torn_region();
  if (pick == none) co_return fail(Errc::no_space);
  if (sectors_[pick].state == erased_state && sectors_[pick].vouched) {
    // Erased in an earlier session, on the log's word: check every byte
    // before programming any (a flipped bit would make a unit unwritable).
    auto blank = co_await check_tail_blank(pick, 0);
    if (!blank && blank.error() != Errc::corrupt) co_return blank;
    if (!blank) sectors_[pick].state = static_cast<std::uint8_t>(SectorState::garbage);
  }
  if (sectors_[pick].state != erased_state) FERRITE_CO_TRY(co_await erase_sector(pick, false));
  co_return co_await open_sector_at(pick);
}

Task<Status> StoreEngine::start_gc() noexcept {
  const std::uint32_t victim = oldest_live();
  if (victim == none) co_return fail(Errc::no_space);
  if (victim == head_) {
    // Collecting the head itself (two-sector stores): move to a fresh head first.
    if (free_sector_count() == 0) co_return fail(Errc::no_space);
    FERRITE_CO_TRY(co_await open_sector());
  }
  gc_.victim = victim;
  gc_.position = 0;
  co_return Status{};
}

Task<Status> StoreEngine::copy_entry(std::size_t position) noexcept {
  // Rewrite the key's latest value as a full record at the head. The source
  // is verified first: a corrupted value is never re-sealed as good data.
  Entry e;
  if (auto loaded = co_await load_entry(position, e); !loaded) {
    // The binding's header changed under the mounted store: the key's size
    // (and so what it occupies) is unknown. Only a remount can rebuild this.
    if (loaded.error() == Errc::corrupt) mounted_ = false;
    co_return loaded;
  }
  if (sealed()) co_return co_await copy_sealed_entry(position, e);
  const std::uint32_t source_sector = sector_of(e.location);
  const std::uint32_t source_offset = e.location - geometry_.sector_offset(source_sector);
  // The key travels in the record read: a full source holds it (it is its
  // own binding); a compact one gets it from its binding. (One buffer: this
  // frame sits under every copy a collection makes.)
  LogRecordRead source;
  source.status = co_await read_record(source_sector, source_offset,
                                       geometry_.sector_size(source_sector) - source_offset, source.record);
  bool intact = source && !source->blank && logfmt::is_put(source->kind) &&
                (source->kind == logfmt::typed_put) == e.typed && source->value_size == e.value_size &&
                source->key_hash == e.hash && (source->compact || e.location == e.binding);
  if (intact && source->compact) {
    FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, source->key));
    intact = crc32c(std::span<const std::byte>(source->key.data(), e.key_size)) == e.hash;
  }
  const std::span<const std::byte> key_bytes(source->key.data(), e.key_size);
  if (!intact) {
    if (!source && source.error() != Errc::corrupt) co_return fail(source.error());
    // Lost to corruption: drop the key rather than invent a value.
    ++counters_.corrupt_records;
    sectors_[sector_of(e.binding)].live_bytes -= full_size(e.key_size, e.value_size);
    note_dead(full_size(e.key_size, e.value_size));
    index_.release_slot(e.slot);
    index_.remove(position);
    co_return Status{};
  }
  const std::uint32_t value_from =
      e.location + (source->compact ? logfmt::compact_head : logfmt::full_head + e.key_size);
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t at,
                        co_await copy_forward(e.slot, key_bytes, value_from, e.value_size, e.typed));
  rebind(position, e, at);
  co_return Status{};
}

Task<Status> StoreEngine::end_unique_hashes(std::uint32_t record_size, std::uint32_t live_after) noexcept {
  // A sector opened for this write did not set bit 4 (sharing_hash_): only a
  // head that did must say, before the record, that its promise ends.
  if (!sectors_[head_].unique_hashes) co_return Status{};
  if (!head_sealed_ && head_room() >= meta_size(0) + record_size) {
    auto at = co_await append(logfmt::meta, 0, {}, {}, false, 0, logfmt::shared);
    if (at) {
      sectors_[head_].unique_hashes = 0;
      co_return Status{};
    }
    if (!head_sealed_) co_return fail(at.error());
  }
  // No room for both (or the SHARED record was refused): the record goes to
  // a new sector, opened without bit 4.
  sectors_[head_].unique_hashes = 0;
  head_sealed_ = true;
  co_return co_await ensure_room(record_size, live_after);
}

Task<Result<std::uint32_t>> StoreEngine::copy_forward(std::uint8_t slot, std::span<const std::byte> key,
                                                      std::uint32_t value_from, std::uint32_t value_size,
                                                      bool typed) noexcept {
  // A full PUT at the head whose value streams from flash (garbage
  // collection of plain records): checksum first, then program, then verify.
  const std::uint32_t size = full_size(static_cast<std::uint32_t>(key.size()), value_size);
  if (!head_sealed_ && head_room() >= size) {
    // Damage ahead of the write offset seals the head: the write goes elsewhere.
    auto ahead = co_await check_blank_ahead(size);
    if (!ahead && ahead.error() != Errc::bits_not_erased) co_return fail(ahead.error());
  }
  if (head_sealed_ || head_room() < size) FERRITE_CO_TRY(co_await open_sector());
  if (head_sealed_ || head_room() < size) co_return fail(Errc::no_space);  // a head written past torn bytes, full
  FERRITE_CO_TRY(co_await check_blank_ahead(size));
  const std::uint32_t address = geometry_.sector_offset(head_) + head_offset_;
  std::array<std::byte, logfmt::full_head> head{};
  logfmt::put_le32(head.data(),
                   logfmt::pack(typed ? logfmt::typed_put : logfmt::put, slot,
                                static_cast<std::uint8_t>(key.size() - 1), value_size));
  std::uint32_t crc = logfmt::position_crc(sectors_[head_].sequence, head_offset_, 0);
  crc = crc32c(std::span<const std::byte>(head).first(4), crc);
  crc = crc32c(key, crc);
  FERRITE_CO_TRY_ASSIGN(crc, co_await crc_of_range(value_from, value_size, crc));
  logfmt::put_le32(head.data() + 4, crc);
  head_offset_ += size;
  sectors_[head_].used_bytes += size;
  auto st =
      co_await program_record(address, head, key, {}, size, value_from, value_size, static_cast<bool>(verify_));
  if (!st) {
    head_sealed_ = true;
    co_return fail(st.error());
  }
  head_end_whole_ = true;
  ++counters_.records_written;
  ++counters_.records_copied;
  co_return address;
}

void StoreEngine::rebind(std::size_t position, const Entry& e, std::uint32_t at) noexcept {
  // A key's latest value now lives (as a full record) at `at`, in the head.
  Entry moved = e;
  const std::uint32_t size = full_size(moved.key_size, moved.value_size);
  sectors_[sector_of(moved.binding)].live_bytes -= size;
  sectors_[sector_of(at)].live_bytes += size;
  moved.location = at;
  moved.binding = at;
  store_entry(position, moved);
}

Task<Status> StoreEngine::copy_sealed_entry(std::size_t position, const Entry& e) noexcept {
  // Sealed records are bound to their position: open at the old one (which
  // also authenticates it), seal again at the new one. No decompression.
  std::array<std::byte, max_key_size> key_buffer{};
  FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, key_buffer));
  const std::span<const std::byte> key(key_buffer.data(), e.key_size);
  ++seal_.scratch_clobbers;  // scratch A: a put that collected frames its value again
  const ScratchWipe wipe{*this};
  const std::uint32_t size = full_size(e.key_size, e.value_size);
  auto framed = co_await open_value(e, key);
  if (!framed && framed.error() != Errc::not_found && framed.error() != Errc::tampered &&
      framed.error() != Errc::corrupt)
    co_return fail(framed.error());
  if (!framed) {
    // Never drop a key whose record failed, and never seal it again as good
    // data: what moves forward is a TAMPERED record naming the first failure.
    std::uint32_t sequence = sectors_[sector_of(e.location)].sequence;
    std::uint32_t offset = e.location - geometry_.sector_offset(sector_of(e.location));
    if (e.tamper == Tamper::recorded) {
      LogRecordRead was;
      was.status = co_await read_record(sector_of(e.location), offset,
                                        geometry_.sector_size(sector_of(e.location)) - offset, was.record);
      if (was && !was->blank && was->kind == logfmt::tampered) {
        sequence = logfmt::get_le32(was->meta.data());
        offset = logfmt::get_le32(was->meta.data() + 4);
      }
    }
    const std::uint32_t marker = full_size(e.key_size, static_cast<std::uint32_t>(seal_.codec->sealed_size(logfmt::tampered_bytes)));
    if (!head_sealed_ && head_room() >= marker) {
      // Damage ahead of the write offset seals the head: the write goes elsewhere.
      auto ahead = co_await check_blank_ahead(marker);
      if (!ahead && ahead.error() != Errc::bits_not_erased) co_return fail(ahead.error());
    }
    if (head_sealed_ || head_room() < marker) FERRITE_CO_TRY(co_await open_sector());
    FERRITE_CO_TRY(co_await write_tampered(position, e, key, sequence, offset));
    ++counters_.records_copied;
    co_return Status{};
  }
  if (!head_sealed_ && head_room() >= size) {
    // Damage ahead of the write offset seals the head: the write goes elsewhere.
    auto ahead = co_await check_blank_ahead(size);
    if (!ahead && ahead.error() != Errc::bits_not_erased) co_return fail(ahead.error());
  }
  if (head_sealed_ || head_room() < size) FERRITE_CO_TRY(co_await open_sector());
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t at,
                        co_await append(e.typed ? logfmt::typed_put : logfmt::put, 0, key,
                                        scratch_a().first(*framed), false, e.hash, 0));
  ++counters_.records_copied;
  rebind(position, e, at);
  co_return Status{};
}

Task<Result<std::uint32_t>> StoreEngine::gc_step(std::uint32_t max_records, std::uint32_t max_bytes,
                                            std::uint32_t* moved) noexcept {
  if (gc_.victim == none) co_return 0u;
  std::uint32_t copied = 0, bytes = 0;
  if (indexed()) {
    // Resume where the last step stopped while no entry has moved since:
    // the entries before it were not in the victim then, and a binding
    // only ever moves to the head, never into the victim.
    std::size_t start = gc_.position_epoch == index_.epoch() && gc_.position <= index_.size() ? gc_.position : 0;
    std::size_t i = start;
    for (;;) {
      while (i < index_.size() && copied < max_records && bytes < max_bytes) {
        if (sector_of(index_[i].binding(unit_)) != gc_.victim) {
          ++i;
          continue;
        }
        const std::uint32_t before = index_.size();
        const std::uint32_t live_before = sectors_[gc_.victim].live_bytes;
        FERRITE_CO_TRY(co_await copy_entry(i));
        ++copied;
        bytes += live_before - sectors_[gc_.victim].live_bytes;
        if (index_.size() == before) ++i;  // else entry i was dropped: look at the new i
      }
      // The victim still counts live bytes after a resumed pass reached the
      // end: look at the entries before the resume point as well.
      if (i < index_.size() || start == 0 || sectors_[gc_.victim].live_bytes == 0) break;
      start = 0;
      i = 0;
    }
    gc_.position = static_cast<std::uint32_t>(i);
    gc_.position_epoch = index_.epoch();
    if (moved) *moved += bytes;
    for (; i < index_.size(); ++i)
      if (sector_of(index_[i].binding(unit_)) == gc_.victim) co_return copied;  // budget used up
  } else {
    for (;;) {
      if (copied >= max_records) co_return copied;
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await gc_index_less_step());
      if (!more) break;
      ++copied;
    }
  }
  // Everything live has moved: retire the victim. (Its own coroutine: the
  // buffers it needs would otherwise sit in this frame under every copy.)
  FERRITE_CO_TRY(co_await retire_victim());
  co_return copied;
}

Task<Status> StoreEngine::retire_victim() noexcept {
  if (!head_sealed_ && head_room() >= meta_size(4)) {
    // Damage ahead of the write offset seals the head: the write goes elsewhere.
    auto ahead = co_await check_blank_ahead(meta_size(4));
    if (!ahead && ahead.error() != Errc::bits_not_erased) co_return fail(ahead.error());
  }
  std::array<std::byte, 4> tail{};
  const std::uint32_t new_tail = sectors_[gc_.victim].sequence + 1;
  logfmt::put_le32(tail.data(), new_tail);
  if (sealed() && (head_sealed_ || head_room() < meta_size(4)) && free_sector_count() == 0) {
    // Erasing the victim with no authenticated word that it was retired
    // would look, to mount, like a sector an attacker removed: the RETIRE
    // goes into the head's end slot, kept free for this.
    FERRITE_CO_TRY(co_await retire_in_end_slot(tail));
    note_retired(gc_.victim);
    tail_ = std::max(tail_, new_tail);
    sectors_[gc_.victim].state = retired_state;
    sectors_[gc_.victim].live_bytes = 0;
    gc_.victim = none;
    ++counters_.gc_runs;
    co_return Status{};
  }
  if ((head_sealed_ || head_room() < meta_size(4)) && free_sector_count() == 0) {
    // No room for the RETIRE record and no sector to open (a head sealed by
    // a cut right after it was opened). The victim holds nothing live, and
    // nothing older than it exists: erasing it outright loses nothing, and a
    // cut during that erase only leaves superseded records to replay.
    const std::uint32_t victim = gc_.victim;
    note_retired(victim);
    tail_ = std::max(tail_, new_tail);
    gc_.victim = none;
    FERRITE_CO_TRY(co_await erase_sector(victim, false));
    ++counters_.gc_runs;
    co_return Status{};
  }
  if (head_sealed_ || head_room() < meta_size(4)) FERRITE_CO_TRY(co_await open_sector());
  FERRITE_CO_TRY(co_await append(logfmt::meta, 0, {}, tail, false, 0, logfmt::retire));
  note_retired(gc_.victim);
  tail_ = std::max(tail_, new_tail);
  // The marker only saves mount from reading the retired sector; the RETIRE
  // record above is what makes the retire durable, so a failure is harmless.
  std::array<std::byte, logfmt::marker_bytes> marker{};
  // Never program a unit that is not erased (a damaged marker area): the
  // marker is an optimisation, so it is simply left out then.
  std::array<std::byte, Geometry::max_program_unit> area{};  // the marker's units, padding included
  const std::span<std::byte> marker_area = std::span<std::byte>(area).first(header_size_ - marker_offset_);
  FERRITE_CO_TRY(co_await flash_.read(geometry_.sector_offset(gc_.victim) + marker_offset_, marker_area));
  bool marker_blank = true;
  for (std::byte b : marker_area) marker_blank = marker_blank && b == geometry_.erased_byte();
  logfmt::put_le32(marker.data(), logfmt::marker_magic);
  logfmt::put_le32(marker.data() + 4, retire_marker_check(sectors_[gc_.victim].sequence));
  if (marker_blank) {
    const auto marked = co_await program_record(geometry_.sector_offset(gc_.victim) + marker_offset_, marker, {}, {},
                                                header_size_ - marker_offset_);
    if (!marked && marked.error() == Errc::power_lost) co_return fail(marked.error());
  }
  sectors_[gc_.victim].state = retired_state;
  sectors_[gc_.victim].live_bytes = 0;
  gc_.victim = none;
  ++counters_.gc_runs;
  co_return Status{};
}

Task<Result<bool>> StoreEngine::gc_index_less_step() noexcept {
  // Copy the first record of the victim that is still the latest for its key.
  const std::uint32_t victim = gc_.victim;
  const std::uint32_t end = header_size_ + sectors_[victim].used_bytes;
  std::uint32_t offset = gc_.cursor < header_size_ ? header_size_ : gc_.cursor;
  while (offset < end) {
    LogRecordRead rec;
    rec.status = co_await read_record(victim, offset, end - offset, rec.record);
    if (!rec || rec->blank) {
      if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
      offset += unit_;
      continue;
    }
    offset += rec->size;
    if (rec->kind != logfmt::put && rec->kind != logfmt::typed_put) continue;
    const std::span<const std::byte> key(rec->key.data(), rec->key_size);
    Located latest;
    FERRITE_CO_TRY(co_await locate_by_scan(key, rec->key_hash, latest));
    if (!latest.found || latest.entry.location != rec->address) continue;
    const std::uint32_t value_from = rec->address + logfmt::full_head + rec->key_size;
    FERRITE_CO_TRY(co_await copy_forward(0, key, value_from, rec->value_size, rec->kind == logfmt::typed_put));
    gc_.cursor = offset;
    co_return true;
  }
  gc_.cursor = 0;
  co_return false;
}

bool StoreEngine::retire_ready() noexcept {
  // Once updates have moved every key out of the sector being collected,
  // retire it at once: mount then never has to read it again. So too the
  // oldest sector when updates emptied it before collection picked it: the
  // same RETIRE collection would write, only sooner. The write it follows
  // is already durable, so a failure here only postpones the retire. The
  // caller awaits gc_step itself: a coroutine in between would cost code
  // and a frame.
  if (!indexed() || head_sealed_ || head_room() < meta_size(4)) return false;
  if (gc_.victim == none) {
    const std::uint32_t oldest = oldest_live();
    if (oldest == none || oldest == head_ || sectors_[oldest].live_bytes != 0) return false;
    gc_.victim = oldest;
  }
  return sectors_[gc_.victim].live_bytes == 0;
}

std::uint32_t Store::sectors_under_previous_key() const noexcept {
  std::uint32_t n = 0;
  for (const SectorInfo& s : sectors_) n += s.state == live_state && s.old_key;
  return n;
}

Task<Status> Store::reseal() noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!sealed()) co_return fail(Errc::unsupported);
  // Old-key sectors are older than every sector opened under the new key,
  // so collecting the oldest sector until none is left moves them all.
  for (std::uint32_t pass = 0; pass < 4 * geometry_.sector_count() + 4; ++pass) {
    if (gc_.victim != none) {
      FERRITE_CO_TRY(co_await gc_step(0xFFFFFFFFu));
      continue;
    }
    if (sectors_under_previous_key() == 0) co_return Status{};
    FERRITE_CO_TRY(co_await start_gc());
  }
  co_return fail(Errc::no_space);
}

Task<Status> StoreEngine::ensure_room(std::uint32_t record_size, std::uint32_t new_live_total) noexcept {
  if (indexed() && new_live_total > capacity(record_size)) co_return fail(Errc::no_space);
  if constexpr (mixed_sectors_built) {
    if (spreads_victims()) co_return co_await ensure_spread_room(record_size);
  }
  // Each pass either succeeds or changes the sector layout; a bound keeps a
  // store that cannot make room from looping.
  for (std::uint32_t pass = 0; pass < 4 * geometry_.sector_count() + 4; ++pass) {
    // Room the victim's live records, a sector end's waste and this write
    // need while collection lags.
    const std::uint64_t held =
        gc_.victim != none ? std::uint64_t{record_size} + collection_debt(gc_.victim) + lag_margin(record_size) : 0;
    if (gc_.victim != none) {
      // Garbage collection may lag behind writes only while the head and
      // the free sectors beyond the reserve can still absorb everything it
      // has left to copy, or the reserve alone can (FORMAT.md §6).
      if (std::uint64_t{head_room()} + free_payload() < held && takeable_reserve() < held) {
        if (auto copied = co_await gc_step(0xFFFFFFFFu); !copied && !refused(copied.error())) co_return fail(copied.error());
        continue;
      }
    }
    if (!head_sealed_ && head_room() >= record_size) co_return Status{};
    // A new head comes from the free sectors beyond the reserve, or from the
    // reserve itself once collection has a victim whose live records it
    // holds besides the write: collection then copies into the head.
    if (free_sector_count() > 1 || (gc_.victim != none && takeable_reserve() >= held)) {
      if (auto opened = co_await open_sector(); !opened && !refused(opened.error())) co_return opened;
      continue;
    }
    if (auto started = co_await start_gc(); !started && !refused(started.error())) co_return started;
  }
  co_return fail(Errc::no_space);
}

std::uint32_t StoreEngine::collection_debt(std::uint32_t victim) const noexcept {
  // An index-less store does not know what is still live in the victim.
  return indexed() ? sectors_[victim].live_bytes : payload_of(victim);
}

std::uint32_t StoreEngine::lag_margin(std::uint32_t incoming) const noexcept {
  // What the head must keep beyond the victim's live records while
  // collection lags: a sector end's waste (less than the record that did
  // not fit there, §6.2) and, should a cut tear the reserve while they are
  // copied, the torn bytes and the SKIP that closes them (at most a record,
  // one 64-byte program request and a META record, §6). The largest record
  // the limits allow bounds both, and is the margin where nothing smaller
  // is known.
  return std::min(slack_, sector_slack(incoming) + 64 + meta_size(8));
}

std::int64_t StoreEngine::runway_room(std::uint32_t victim) const noexcept {
  // ensure_room collects the whole victim once neither the head and the
  // free sectors beyond the reserve nor the reserve alone could hold it, a
  // sector end's waste and the write. The write is taken as large as the
  // largest live record (writes vary far more than their mean), and the
  // RETIRE after the last copy needs room too. Writes that fill the head
  // open the reserve once it is the last free sector, leaving less than a
  // write unused at the head's end.
  const std::uint32_t next_write = indexed() ? live_.sizes.largest_bound() : slack_;
  if constexpr (mixed_sectors_built) {
    if (spreads_victims()) {
      // Writes collect once a victim's live records, its turn's margin and a
      // write would not fit the room left when its turn comes; the caller
      // takes off the debts up to the victim and adds back the payload of
      // those before it. The head's end is lost when the next sector opens.
      return static_cast<std::int64_t>(spread_room()) - turn_margin(next_write) - 2 * std::int64_t{next_write};
    }
  }
  const std::uint64_t margins = std::uint64_t{lag_margin(0)} + next_write + meta_size(4);
  std::int64_t room = std::int64_t{head_room()} + free_payload();
  if (const std::uint32_t reserve = takeable_reserve(); reserve >= collection_debt(victim) + margins)
    room += reserve - next_write;
  return room - static_cast<std::int64_t>(margins);
}

std::uint64_t StoreEngine::log_end() const noexcept {
  if (!mounted_) return 0;
  return (std::uint64_t{sectors_[head_].sequence} << 32) | head_offset_;
}

std::uint32_t StoreEngine::written_since(std::uint64_t lsn) const noexcept {
  if (lsn == 0) return MaintenancePace::unknown;
  const auto sequence = static_cast<std::uint32_t>(lsn >> 32);
  const auto offset = static_cast<std::uint32_t>(lsn);
  if (sequence == sectors_[head_].sequence) return head_offset_ >= offset ? head_offset_ - offset : 0;
  // The head moved on: the rest of the marked sector, every sector opened
  // since, and the head so far. A marked sector collected meanwhile leaves
  // the count unknown.
  const std::uint32_t marked = live_sector_with(sequence);
  if (marked == none) return MaintenancePace::unknown;
  std::uint64_t total = written_end(marked) > offset ? written_end(marked) - offset : 0;
  for (std::uint32_t s = 0; s < sectors_.size(); ++s)
    if (sectors_[s].state == live_state && sectors_[s].sequence > sequence && s != head_)
      total += sectors_[s].used_bytes;
  total += head_offset_ > header_size_ ? head_offset_ - header_size_ : 0;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(total, MaintenancePace::unknown - 1));
}

Task<Status> StoreEngine::paced_collection(MaintenanceBudget budget, MaintenanceReport& report) noexcept {
  // The victim, or the sector that would be one: the oldest live sector
  // unless it is the head (two sectors: a put moves the head on first).
  const std::uint32_t victim = gc_.victim != none ? gc_.victim : oldest_live();
  if (victim == none || (gc_.victim == none && victim == head_)) co_return Status{};
  const std::uint32_t debt = collection_debt(victim);
  // Before the first measurement, assume a largest record per call.
  const std::uint32_t per_call = pace_.per_call(slack_);
  // The bytes this call can copy: max_bytes, or max_records records of the
  // store's mean size when that is less.
  const std::uint32_t mean = indexed() && index_.size() ? (live_.total + index_.size() - 1) / index_.size() : slack_;
  const std::uint32_t budget_bytes =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(budget.max_bytes, std::uint64_t{budget.max_records} * mean));
  // The victims after this one count too: each must be empty before the
  // runway its predecessors' sectors give back ends (a large, dense sector
  // next in line on a chip of mixed sizes must be started on early).
  std::uint32_t largest_free = 0;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i)
    if (sectors_[i].state != live_state) largest_free = std::max(largest_free, payload_of(i));
  bool spread = false;
  if constexpr (mixed_sectors_built) spread = spreads_victims();
  std::uint64_t owed = 0, returned = 0;
  std::uint32_t due = 0;
  report.pace_bytes = 0;
  for (std::uint32_t v = victim, k = 0; v != none && v != head_ && k < sectors_.size();
       v = live_sector_after(sectors_[v].sequence), ++k) {
    owed += collection_debt(v);
    const auto owed32 = static_cast<std::uint32_t>(std::min<std::uint64_t>(owed, 0xFFFFFFF0u));
    // Room beyond the margins, the sectors collected before this one included.
    const std::int64_t room = runway_room(v) + static_cast<std::int64_t>(returned);
    const std::int64_t over = room - static_cast<std::int64_t>(owed);
    const std::uint32_t left = over > 0 ? static_cast<std::uint32_t>(std::min<std::int64_t>(over, 0xFFFFFFF0)) : 0;
    const std::uint32_t calls = MaintenancePace::calls_left(left, per_call);
    if (k == 0) report.calls_left = calls;
    report.pace_bytes = std::max(report.pace_bytes, MaintenancePace::needed(owed32, calls));
    due = std::max(due, MaintenancePace::due(owed32, calls, budget_bytes));
    // Retired, it joins the free sectors; the largest of them stays the
    // reserve (a victim spread over free sectors gives back all of it).
    returned += spread ? payload_of(v) : std::min(payload_of(v), largest_free);
    largest_free = std::max(largest_free, payload_of(v));
  }
  // An emptied victim is retired at once (a RETIRE record frees a sector).
  if (due == 0 && !(debt == 0 && indexed())) co_return Status{};
  if (gc_.victim == none) FERRITE_CO_TRY(co_await start_gc());
  if (gc_.victim == none) co_return Status{};
  FERRITE_CO_TRY_ASSIGN(report.records_copied,
                        co_await gc_step(budget.max_records, std::max<std::uint32_t>(due, 1), &report.bytes_copied));
  if (gc_.victim == none) report.sectors_retired = 1;
  co_return Status{};
}

Task<Status> StoreEngine::prepare_free_sector(MaintenanceBudget budget, MaintenanceReport& report) noexcept {
  if (!budget.allow_erase) co_return Status{};
  std::uint32_t unerased = none, vouched = none;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i) {
    if (sectors_[i].state == live_state || i == gc_.victim) continue;
    if (sectors_[i].state != erased_state) unerased = i;
    else if (sectors_[i].vouched) vouched = i;
  }
  if (unerased != none) {
    FERRITE_CO_TRY(co_await erase_sector(unerased, true));
    report.sectors_erased = 1;
    co_return Status{};
  }
  if (vouched == none) co_return Status{};
  // Erased in an earlier session, on the log's word: open_sector would read
  // every byte before programming one. Reading it now keeps that off puts.
  auto blank = co_await check_tail_blank(vouched, 0);
  if (!blank && blank.error() != Errc::corrupt) co_return blank;
  if (blank) sectors_[vouched].vouched = 0;
  else sectors_[vouched].state = static_cast<std::uint8_t>(SectorState::garbage);
  co_return Status{};
}

Task<Result<MaintenanceReport>> Store::maintain(MaintenanceBudget budget) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  // What the application wrote since the last call sets the pace.
  if (const std::uint32_t written = written_since(pace_.mark()); written != MaintenancePace::unknown)
    pace_.note_writes(written + summary_.written);
  summary_.written = 0;
  if (sealed()) FERRITE_CO_TRY(co_await record_tampering());
  MaintenanceReport report;
  // The summary first: collection's copies then come after it in the head.
  if constexpr (summaries_built) FERRITE_CO_TRY(co_await write_summary(report));
  // Collection first: a victim it retires is the sector erased next.
  FERRITE_CO_TRY(co_await paced_collection(budget, report));
  FERRITE_CO_TRY(co_await prepare_free_sector(budget, report));
  bool erasable = false;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i)
    erasable = erasable || (sectors_[i].state != live_state && i != gc_.victim &&
                            (sectors_[i].state != erased_state || sectors_[i].vouched));
  const bool collecting = gc_.victim != none && collection_debt(gc_.victim) > 0 && report.records_copied > 0;
  report.more_work = collecting || (erasable && budget.allow_erase);
  pace_.set_mark(log_end());
  co_return report;
}

}  // namespace ferrite
