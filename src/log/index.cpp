// The RAM index: entries sorted by key hash, the optional key-order
// permutation, slots, and the index-less log scan (docs/FORMAT.md §7).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

bool StoreEngine::addressable(std::uint32_t location, std::uint32_t binding) const noexcept {
  return binding <= location && location / unit_ < max_index_units && (location - binding) / unit_ <= 0xFFFFu;
}

StoreEngine::Entry StoreEngine::refreshed(const Entry& known, std::size_t position) const noexcept {
  // Collection moves a key's records (location, binding, slot) but never
  // changes its key or value sizes.
  Entry e = unpack(position);
  e.key_size = known.key_size;
  if (e.binding == known.binding) {
    e.binding_word = known.binding_word;
    e.binding_crc = known.binding_crc;
    e.binding_named = known.binding_named;
  }
  return e;
}

Status StoreEngine::complete_entry(std::span<const std::byte, 4> word, Entry& e) noexcept {
  // The binding's header word gives the key's length; it must still describe
  // this entry (a full PUT of this value length holding this slot).
  const std::uint32_t w = logfmt::get_le32(word.data());
  const std::uint8_t kind = logfmt::kind_of(w);
  if (sealed_stores_built && e.tamper != Tamper::none) {
    // The latest record is the one that failed (pending) or the TAMPERED
    // record that says so: either way a keyed record of this size.
    const bool keyed = (w & 0x80u) != 0 && (kind == logfmt::tampered || logfmt::is_put(kind));
    if (!keyed || logfmt::value_size_of(w) != e.value_size) return fail(Errc::corrupt);
    e.key_size = static_cast<std::uint8_t>(logfmt::key_field_of(w) + 1u);
    e.binding_word = w;
    return {};
  }
  if ((w & 0x80u) == 0 || !logfmt::is_put(kind) || logfmt::value_size_of(w) != e.value_size ||
      (e.slot != 0 && logfmt::slot_of(w) != e.slot) || (kind == logfmt::typed_put) != e.typed)
    return fail(Errc::corrupt);
  e.key_size = static_cast<std::uint8_t>(logfmt::key_field_of(w) + 1u);
  e.binding_word = w;
  return {};
}

Task<Status> StoreEngine::load_entry(std::size_t position, Entry& e) noexcept {
  e = unpack(position);
  std::array<std::byte, 4> word{};
  FERRITE_CO_TRY(co_await flash_.read(e.binding, word));
  co_return complete_entry(word, e);
}

FlashOp StoreEngine::read_key(std::uint32_t binding, std::uint8_t key_size, std::span<std::byte> out) noexcept {
  // (No frame of its own: key sizes never pass max_key_size, the room callers give.)
  return flash_.read(binding + logfmt::full_head, out.first(std::min<std::size_t>(key_size, out.size())));
}

Task<Status> StoreEngine::locate(std::span<const std::byte> key, std::uint32_t hash, Located& out, bool checksum,
                                 DecayedName names) noexcept {
  if (!indexed()) co_return co_await locate_by_scan(key, hash, out);
  out = Located{};
  bool damaged = false;  // a candidate whose binding no longer reads right: maybe this key
  // Per candidate, the binding's header word, then its key; with
  // `checksum`, the checksum with the key when the binding is the latest
  // record (read_value then reads only the rest).
  std::array<std::byte, logfmt::full_head + max_key_size> head{};
  for (std::size_t i = index_.lower_bound(hash); i < index_.size() && index_[i].hash() == hash; ++i) {
    Entry e = unpack(i);
    FERRITE_CO_TRY(co_await flash_.read(e.binding, std::span<std::byte>(head).first(4)));
    if (!complete_entry(std::span<const std::byte, 4>(head.data(), 4), e)) {
      damaged = true;
      continue;
    }
    if (e.key_size != key.size()) continue;
    const std::uint32_t from = checksum && e.location == e.binding ? 4 : logfmt::full_head;
    FERRITE_CO_TRY(co_await flash_.read(
        e.binding + from, std::span<std::byte>(head).subspan(from, logfmt::full_head + key.size() - from)));
    if (std::memcmp(head.data() + logfmt::full_head, key.data(), key.size()) != 0) {
      // Another key of this hash, or this one with a name that decayed
      // (it no longer hashes to its entry): the first such one is kept.
      if (!out.decayed && crc32c(std::span<const std::byte>(head).subspan(logfmt::full_head, key.size())) != hash) {
        out.decayed = true;
        out.position = i;
        out.entry = e;
      }
      continue;
    }
    if (from == 4) {
      e.binding_crc = logfmt::get_le32(head.data() + 4);
      e.binding_named = true;
    }
    out.found = true;
    out.decayed = false;
    out.position = i;
    out.entry = e;
    co_return Status{};
  }
  if (out.decayed && names == DecayedName::adopt) {
    out.found = true;
    co_return Status{};
  }
  if (damaged || out.decayed) co_return fail(Errc::corrupt);
  co_return Status{};
}

#if FERRITE_WITH_SCANS
Task<Status> StoreEngine::index_insert(const Entry& e, std::span<const std::byte> key) noexcept {
  if (index_.full()) co_return fail(Errc::no_memory);
  const std::size_t pos = index_.insert(e, unit_);
  if (index_.order_valid()) {
    // Ranks [0, size - 1) hold every other entry in key order.
    const std::size_t n = index_.size() - 1;
    if (auto at = co_await order_lower_bound(key, n, false); at) index_.place_in_order(*at, n, pos);
    else index_.set_order_valid(false);  // rebuilt on the next ordered scan
  }
  co_return Status{};
}
#else
Ready<Status> StoreEngine::index_insert(const Entry& e, std::span<const std::byte>) noexcept {
  if (index_.full()) return {fail(Errc::no_memory)};
  index_.insert(e, unit_);
  return {Status{}};
}
#endif

Task<Result<std::size_t>> StoreEngine::order_lower_bound(std::span<const std::byte> key, std::size_t count,
                                                         bool strict) noexcept {
  std::size_t lo = 0, hi = count;
  std::array<std::byte, max_key_size> stored{};
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    Entry e = unpack(index_.order_at(mid));
    FERRITE_CO_TRY(co_await flash_.read(e.binding, std::span<std::byte>(stored).first(4)));
    FERRITE_CO_TRY(complete_entry(std::span<const std::byte, 4>(stored.data(), 4), e));
    FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, stored));
    const int c = logfmt::compare_keys(std::span<const std::byte>(stored).first(e.key_size), key);
    if (c < 0 || (c == 0 && strict)) lo = mid + 1; else hi = mid;
  }
  co_return lo;
}

Task<Status> StoreEngine::order_place(std::size_t position, const Entry& e, std::size_t count) noexcept {
  KeyBuf key;
  FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, key.bytes));
  key.size = e.key_size;
  FERRITE_CO_TRY_ASSIGN(const std::size_t at, co_await order_lower_bound(key.view(), count, false));
  index_.place_in_order(at, count, position);
  co_return Status{};
}

Task<Status> StoreEngine::build_order() noexcept {
  // Insertion by binary search: each key read once, then log2(i) reads of a
  // header word and a key to place it. Mount does the same while it sizes
  // the entries (mount.cpp); this runs only after an insert failed to place
  // its key.
  index_.set_order_valid(false);
  for (std::size_t i = 0; i < index_.size(); ++i) {
    Entry e;
    FERRITE_CO_TRY(co_await load_entry(i, e));
    FERRITE_CO_TRY(co_await order_place(i, e, i));
  }
  index_.set_order_valid(true);
  co_return Status{};
}

Task<Status> StoreEngine::locate_by_scan(std::span<const std::byte> key, std::uint32_t hash, Located& out) noexcept {
  // Index-less: walk the whole log in order; the last PUT or DELETE wins.
  // Bytes a SKIP voids are stepped over as mount steps over them (FORMAT.md
  // §3.3): a record there that verifies by chance was never written.
  out = Located{};
  const std::uint32_t n = geometry_.sector_count();
  std::uint32_t last = 0;
  bool first = true;
  for (;;) {
    std::uint32_t sector = none, seq = 0;
    for (std::uint32_t s = 0; s < n; ++s) {
      const SectorInfo& info = sectors_[s];
      if (info.state != static_cast<std::uint8_t>(SectorState::live)) continue;
      if (!first && info.sequence <= last) continue;
      if (sector == none || info.sequence < seq) {
        sector = s;
        seq = info.sequence;
      }
    }
    if (sector == none) break;
    first = false;
    last = seq;
    const Located before_sector = out;
    // A SKIP that voids a record read as good restarts the sector with that
    // range stepped over; as many ranges per sector as a mount voids.
    std::array<std::pair<std::uint32_t, std::uint32_t>, 4> voided{};
    std::size_t voided_count = 0;
    const std::uint32_t end = header_size_ + sectors_[sector].used_bytes;
    std::uint32_t offset = header_size_, good_end = header_size_;
    std::uint32_t damaged_regions = 0;
    bool damaged = false;
    while (offset < end) {
      const auto in_void = std::find_if(voided.begin(), voided.begin() + voided_count,
                                        [&](const auto& r) { return offset >= r.first && offset < r.second; });
      if (in_void != voided.begin() + voided_count) {
        damaged = true;
        offset = in_void->second;
        continue;
      }
      LogRecordRead rec;
      rec.status = co_await read_record(sector, offset, end - offset, rec.record);
      if (!rec) {
        if (rec.error() != Errc::corrupt) co_return fail(rec.error());
        damaged = true;
        offset += unit_;
        continue;
      }
      if (rec->blank) {
        offset += unit_;
        continue;
      }
      if (const std::uint32_t from = voided_from(*rec); from > header_size_ && from <= good_end) {
        if (from < good_end && voided_count < voided.size()) {
          voided[voided_count++] = {from, offset};
          out = before_sector;
          offset = good_end = header_size_;
          damaged_regions = 0;
          damaged = false;
          continue;
        }
        // It closes the damage before it as a torn tail, not corruption.
        damaged = false;
        offset += rec->size;
        good_end = offset;
        continue;
      }
      // A damaged region behind a verified record: say so, since the skipped
      // record may have been this key's latest.
      if (damaged) ++damaged_regions;
      damaged = false;
      if ((rec->kind == logfmt::put || rec->kind == logfmt::typed_put || rec->kind == logfmt::erase) &&
          rec->key_hash == hash && rec->key_size == key.size() &&
          std::memcmp(rec->key.data(), key.data(), key.size()) == 0) {
        out.found = rec->kind != logfmt::erase;
        out.entry.typed = rec->kind == logfmt::typed_put;
        out.entry.hash = hash;
        out.entry.location = rec->address;
        out.entry.binding = rec->address;
        out.entry.value_size = static_cast<std::uint16_t>(rec->value_size);
        out.entry.key_size = rec->key_size;
      }
      offset += rec->size;
      good_end = offset;
    }
    counters_.corrupt_records += damaged_regions + (damaged ? 1 : 0);
  }
  co_return Status{};
}

}  // namespace ferrite
