// Atomic batches: validation of read versions, TXN records + TXN_COMMIT, and
// their replay at mount (docs/FORMAT.md §4.1).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

// ---------------------------------------------------------------------------
// BatchLog

Status BatchLog::append(std::span<const std::byte> a, std::span<const std::byte> b,
                        std::span<const std::byte> c) noexcept {
  const std::size_t n = a.size() + b.size() + c.size();
  if (fixed_.empty()) {
    owned_.insert(owned_.end(), a.begin(), a.end());
    owned_.insert(owned_.end(), b.begin(), b.end());
    owned_.insert(owned_.end(), c.begin(), c.end());
    return {};
  }
  if (fixed_.size() - size_ < n) return fail(Errc::no_memory);
  for (auto part : {a, b, c}) {
    if (!part.empty()) std::memcpy(fixed_.data() + size_, part.data(), part.size());
    size_ += part.size();
  }
  return {};
}

Status BatchLog::add_write(bool erase, std::span<const std::byte> key, std::span<const std::byte> value) noexcept {
  if (key.empty() || key.size() > max_key_size || value.size() > max_value_size_limit) return fail(Errc::too_large);
  std::array<std::byte, 4> head{};
  head[0] = static_cast<std::byte>(erase ? 1 : 0);
  head[1] = static_cast<std::byte>(key.size());
  logfmt::put_le16(head.data() + 2, static_cast<std::uint16_t>(value.size()));
  return append(head, key, value);
}

Status BatchLog::add_read(std::span<const std::byte> key, std::uint32_t version) noexcept {
  if (key.empty() || key.size() > max_key_size) return fail(Errc::too_large);
  std::array<std::byte, 8> head{};
  head[0] = static_cast<std::byte>(key.size());
  logfmt::put_le32(head.data() + 4, version);
  return append(head, key, {});
}

bool BatchLog::next(std::span<const std::byte> log, bool reads, std::size_t& cursor, Entry& out,
                    bool& malformed) noexcept {
  malformed = false;
  if (cursor >= log.size()) return false;
  const std::size_t head = reads ? 8 : 4;
  if (log.size() - cursor < head) {
    malformed = true;
    return false;
  }
  const std::byte* p = log.data() + cursor;
  const std::size_t key_size = static_cast<std::uint8_t>(p[reads ? 0 : 1]);
  const std::size_t value_size = reads ? 0 : logfmt::get_le16(p + 2);
  if (key_size == 0 || key_size > max_key_size || log.size() - cursor - head < key_size + value_size) {
    malformed = true;
    return false;
  }
  out.op = reads ? 0 : static_cast<std::uint8_t>(p[0]);
  out.version = reads ? logfmt::get_le32(p + 4) : 0;
  out.key = log.subspan(cursor + head, key_size);
  out.value = log.subspan(cursor + head + key_size, value_size);
  out.offset = cursor;
  cursor += head + key_size + value_size;
  return true;
}

std::size_t BatchLog::supersede(std::span<const std::byte> key, std::size_t before) noexcept {
  std::span<std::byte> log = fixed_.empty() ? std::span<std::byte>(owned_) : fixed_.first(size_);
  std::size_t cursor = 0, n = 0;
  Entry e;
  bool malformed = false;
  while (next(log, false, cursor, e, malformed) && e.offset < before) {
    if (e.op != 0xFF && e.key.size() == key.size() && std::memcmp(e.key.data(), key.data(), key.size()) == 0) {
      log[e.offset] = std::byte{0xFF};
      ++n;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------
// Engine side

Result<std::uint32_t> StoreEngine::stored_size_of(bool erase, std::span<const std::byte> value) noexcept {
  // What a record's value field holds on flash (the sealed frame when sealed).
  if (!sealed()) return static_cast<std::uint32_t>(erase ? 0 : value.size());
  if (erase) return static_cast<std::uint32_t>(seal_.codec->sealed_size(0));
  scratch_touched(value.size() + seal_.codec->overhead());
  auto framed = seal_.codec->frame(value, scratch_a());
  if (!framed) return fail(framed.error());
  return static_cast<std::uint32_t>(seal_.codec->sealed_size(*framed));
}

std::uint32_t Store::max_batch_bytes() const noexcept {
  const std::uint32_t payload = geometry_.smallest_sector() - header_size_;
  return payload > slack_ + meta_size(8) ? payload - slack_ - meta_size(8) : 0;
}

Task<Status> StoreEngine::validate_reads(std::span<const std::byte> reads) noexcept {
  std::size_t cursor = 0;
  BatchLog::Entry e;
  bool malformed = false;
  while (BatchLog::next(reads, true, cursor, e, malformed)) {
    const StoredKey key = stored_key(e.key);
    Located found;
    FERRITE_CO_TRY(co_await locate(key.view(), crc32c(key.view()), found, false, DecayedName::adopt));
    const std::uint32_t now = found.found ? found.entry.location : no_version;
    if (now != e.version) co_return fail(Errc::conflict);
  }
  if (malformed) co_return fail(Errc::invalid_argument);
  co_return Status{};
}

Task<Status> StoreEngine::locate_after_validation(std::span<const std::byte> name, std::span<const std::byte> reads,
                                                  Located& out, DecayedName names) noexcept {
  // The shared start of version_of and read_versioned (mutex already held).
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!indexed()) co_return fail(Errc::unsupported);
  if (name.empty()) co_return fail(Errc::invalid_argument);
  if (name.size() > max_key_size) co_return fail(Errc::too_large);
  FERRITE_CO_TRY(co_await validate_reads(reads));
  const StoredKey key = stored_key(name);
  co_return co_await locate(key.view(), crc32c(key.view()), out, false, names);
}

Task<Result<std::uint32_t>> Store::version_of(std::span<const std::byte> name, std::span<const std::byte> reads) noexcept {
  auto guard = co_await mutex_.lock();
  Located found;
  // (A write's version: a binding whose name decayed is the key's, as the write will take it.)
  FERRITE_CO_TRY(co_await locate_after_validation(name, reads, found, DecayedName::adopt));
  co_return found.found ? found.entry.location : no_version;
}

Task<Result<std::size_t>> Store::read_versioned(std::span<const std::byte> name, std::span<std::byte> out,
                                                std::span<const std::byte> reads, std::uint32_t& version) noexcept {
  auto guard = co_await mutex_.lock();
  Located found;
  FERRITE_CO_TRY(co_await locate_after_validation(name, reads, found, DecayedName::report));
  version = found.found ? found.entry.location : no_version;
  if (!found.found) co_return fail(Errc::not_found);
  const StoredKey key = stored_key(name);
  co_return co_await read_value(found.entry, key.view(), out);
}

Task<Status> Store::commit_batch(std::span<const std::byte> writes, std::span<const std::byte> reads) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!indexed()) co_return fail(Errc::unsupported);
  const ScratchWipe wipe{*this};
  if (sealed()) FERRITE_CO_TRY(co_await record_tampering());
  FERRITE_CO_TRY(co_await validate_reads(reads));
  // Plan: sizes, limits, index room, live bytes. Nothing is written yet.
  std::uint32_t total = meta_size(8), count = 0, new_keys = 0;
  std::uint32_t live_after = live_.total;
  std::size_t cursor = 0;
  BatchLog::Entry e;
  bool malformed = false;
  // Whether a PUT before `end` names another key of hash `hash`.
  const auto earlier_put_shares = [&](std::size_t end, std::span<const std::byte> key, std::uint32_t hash) {
    std::size_t at = 0;
    BatchLog::Entry earlier;
    bool bad = false;
    while (at < end && BatchLog::next(writes, false, at, earlier, bad)) {
      if (earlier.op != 0) continue;
      const StoredKey other = stored_key(earlier.key);
      if (crc32c(other.view()) == hash &&
          (other.size != key.size() || std::memcmp(other.view().data(), key.data(), key.size()) != 0))
        return true;
    }
    return false;
  };
  // Two live keys share a hash after the batch (FORMAT.md §3.3).
  bool shares_hash = false;
  while (BatchLog::next(writes, false, cursor, e, malformed)) {
    if (e.op == 0xFF) continue;
    if (e.op > 1) co_return fail(Errc::invalid_argument);
    if (e.value.size() > value_limit_) {
      refuse(Refused::value_long, static_cast<std::uint32_t>(e.value.size()), value_limit_);
      co_return fail(Errc::too_large);
    }
    const StoredKey key = stored_key(e.key);
    const std::uint32_t hash = crc32c(key.view());
    Located found;
    FERRITE_CO_TRY(co_await locate(key.view(), hash, found, false, DecayedName::adopt));
    if (e.op == 1 && !found.found) continue;  // erasing an absent key writes nothing
    if (e.op == 0 && !found.found && !shares_hash && !sealed())
      shares_hash = index_.holds(hash) || earlier_put_shares(e.offset, key.view(), hash);
    FERRITE_CO_TRY_ASSIGN(const std::uint32_t stored, stored_size_of(e.op == 1, e.value));
    const std::uint32_t old_full = found.found ? full_size(found.entry.key_size, found.entry.value_size) : 0;
    const std::uint32_t new_full = e.op == 0 ? full_size(key.size, stored) : 0;
    live_after = live_after - old_full + new_full;
    total += full_size(key.size, stored);
    new_keys += (!found.found && e.op == 0) ? 1u : 0u;
    ++count;
  }
  if (malformed) co_return fail(Errc::invalid_argument);
  if (count == 0) co_return Status{};
  if (total > max_batch_bytes()) {
    refuse(Refused::batch_long, total, max_batch_bytes());
    co_return fail(Errc::too_large);
  }
  if (index_.size() + new_keys > index_.capacity()) {
    refuse(Refused::index_full, index_.size() + new_keys, static_cast<std::uint32_t>(index_.capacity()));
    co_return fail(Errc::no_memory);
  }
  // Write: TXN records, then the commit binding their checksums. A write the
  // flash refuses (units programmed behind the head's last record, which
  // mount could not see) seals the head; what went before it has no commit
  // and stays invisible, so the batch is written once more in a fresh sector.
  std::uint32_t first = 0;
  Status written;
  sharing_hash_ = shares_hash;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto room = co_await ensure_room(total, live_after); !room) {
      if (room.error() == Errc::no_space) {
        if (live_after > capacity(total)) refuse(Refused::capacity, live_after, capacity(total));
        else refuse(Refused::room, total, head_room() + free_payload());
      }
      co_return room;
    }
    if (shares_hash) FERRITE_CO_TRY(co_await end_unique_hashes(total, live_after));
    if (head_sealed_ || head_room() < total) {
      refuse(Refused::room, total, head_room());
      co_return fail(Errc::no_space);
    }
    first = geometry_.sector_offset(head_) + head_offset_;
    written = co_await write_batch_records(writes, count);
    if (written || (written.error() != Errc::reprogram_forbidden && written.error() != Errc::bits_not_erased)) break;
  }
  FERRITE_CO_TRY(written);
  // Durable: publish to the index in the same order.
  std::uint32_t address = first;
  cursor = 0;
  while (BatchLog::next(writes, false, cursor, e, malformed)) {
    if (e.op == 0xFF) continue;
    const StoredKey key = stored_key(e.key);
    const std::uint32_t hash = crc32c(key.view());
    Located found;
    FERRITE_CO_TRY(co_await locate(key.view(), hash, found, false, DecayedName::adopt));
    if (e.op == 1 && !found.found) continue;
    const std::uint32_t ksize = key.size;
    FERRITE_CO_TRY_ASSIGN(const std::uint32_t vsize, stored_size_of(e.op == 1, e.value));
    const std::uint32_t at = address;
    address += full_size(ksize, vsize);
    const std::uint32_t old_full = found.found ? full_size(found.entry.key_size, found.entry.value_size) : 0;
    if (found.found) {
      Entry old = found.entry;
      sectors_[sector_of(old.binding)].live_bytes -= old_full;
      note_dead(old_full);
      index_.release_slot(old.slot);
      if (e.op == 1) {
        index_.remove(found.position);
        continue;
      }
      old.location = at;
      old.binding = at;
      old.slot = 0;
      old.value_size = static_cast<std::uint16_t>(vsize);
      old.typed = false;                 // batches carry untyped values (TXN_PUT)
      old.tamper = Tamper::none;         // written again: the key is whole
      store_entry(found.position, old);
    } else {
      Entry fresh;
      fresh.hash = hash;
      fresh.location = at;
      fresh.binding = at;
      fresh.value_size = static_cast<std::uint16_t>(vsize);
      fresh.key_size = static_cast<std::uint8_t>(ksize);
      if (auto st = co_await index_insert(fresh, key.view()); !st) {
        mounted_ = false;  // RAM no longer matches flash: a remount rebuilds it
        co_return st;
      }
    }
    const std::uint32_t new_full = full_size(ksize, vsize);
    sectors_[sector_of(at)].live_bytes += new_full;
    note_live(new_full);
  }
  if (retire_ready()) (void)co_await gc_step(0);
  co_return Status{};
}

Task<Status> StoreEngine::write_batch_records(std::span<const std::byte> writes, std::uint32_t count) noexcept {
  BatchLog::Entry e;
  bool malformed = false;
  std::size_t cursor = 0;
  std::uint32_t crcs = 0;
  while (BatchLog::next(writes, false, cursor, e, malformed)) {
    if (e.op == 0xFF) continue;
    const StoredKey key = stored_key(e.key);
    const std::uint32_t hash = crc32c(key.view());
    if (e.op == 1) {
      Located found;
      FERRITE_CO_TRY(co_await locate(key.view(), hash, found, false, DecayedName::adopt));
      if (!found.found) continue;
    }
    std::span<const std::byte> value = e.value;
    if (sealed() && e.op == 0) {
      scratch_touched(e.value.size() + seal_.codec->overhead());
      FERRITE_CO_TRY_ASSIGN(const std::size_t framed, seal_.codec->frame(e.value, scratch_a()));
      value = scratch_a().first(framed);
    }
    FERRITE_CO_TRY(co_await append(e.op == 0 ? logfmt::txn_put : logfmt::txn_erase, 0, key.view(), value, false, hash, 0));
    std::array<std::byte, 4> c{};
    logfmt::put_le32(c.data(), last_crc_);
    crcs = crc32c(c, crcs);
  }
  std::array<std::byte, 8> commit{};
  logfmt::put_le32(commit.data(), count);
  logfmt::put_le32(commit.data() + 4, crcs);
  FERRITE_CO_TRY(co_await append(logfmt::txn_commit, 0, {}, commit, false, 0, 0));
  co_return Status{};
}

Task<Result<StoreEngine::TxnScan>> StoreEngine::walk_batch(std::uint32_t sector, std::uint32_t offset, std::uint32_t end,
                                               bool stable_commit) noexcept {
  TxnScan scan;
  std::uint32_t p = offset, crcs = 0;
  for (;;) {
    LogRecordRead rec;
    rec.status = co_await read_record(sector, p, end - p, rec.record);
    if (!rec) {
      if (rec.error() != Errc::corrupt) co_return fail(rec.error());
      break;
    }
    if (rec->blank) break;
    if (rec->kind == logfmt::txn_put || rec->kind == logfmt::txn_erase) {
      ++scan.count;
      std::array<std::byte, 4> c{};
      logfmt::put_le32(c.data(), rec->stored_crc);
      crcs = crc32c(c, crcs);
      p += rec->size;
      continue;
    }
    if (rec->kind == logfmt::txn_commit && logfmt::get_le32(rec->meta.data()) == scan.count &&
        logfmt::get_le32(rec->meta.data() + 4) == crcs && scan.count > 0) {
      bool stable = true;
      bool blank_after = false;
      if (stable_commit) {
        // (Is the unit after the commit erased, or the sector's end?)
        const std::uint32_t after = p + rec->size;
        const std::uint32_t probe = after < end ? std::min<std::uint32_t>({unit_, end - after, 8}) : 0;
        const std::span<std::byte> next_unit = std::span<std::byte>(buffer_).first(probe);
        if (probe > 0) FERRITE_CO_TRY(co_await read_bytes(geometry_.sector_offset(sector) + after, next_unit));
        blank_after = reads_erased(next_unit);
      }
      if (blank_after) {
        mount_->windowed = false;
        // Re-read into the same storage: a stable record reads back as itself.
        const std::uint32_t crc = rec->stored_crc, size = rec->size;
        for (int i = 0; i < stability_reads && stable; ++i) {
          rec.status = co_await read_record(sector, p, end - p, rec.record);
          stable = rec && !rec->blank && rec->stored_crc == crc && rec->size == size;
        }
        mount_->windowed = true;
      }
      if (stable) {
        scan.committed = true;
        p += rec->size;
      }
    }
    break;
  }
  scan.next = p;
  co_return scan;
}

}  // namespace ferrite
