// The key/value calls: put, get, erase, contains, size_of, scans.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {

/// The byte size a typed value of `type` must have (none: any, up to the limit).
constexpr std::uint32_t any_size = 0xFFFFFFFFu;
Status check_key(std::span<const std::byte> key) noexcept {
  if (key.empty()) return fail(Errc::invalid_argument);
  if (key.size() > max_key_size) return fail(Errc::too_large);
  return {};
}

// [[maybe_unused]]: builds without typed writes or scans leave their callers out.
[[maybe_unused]] std::uint32_t size_for(ValueType type) noexcept {
  switch (type) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
    case ValueType::string: case ValueType::blob: return any_size;
    default: return 0;
  }
}

[[maybe_unused]] bool has_prefix(std::span<const std::byte> key, std::span<const std::byte> prefix) noexcept {
  return key.size() >= prefix.size() && std::memcmp(key.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// Reading values

namespace {
/// A get's lookup: a binding that no longer reads right in a sealed store
/// changed under it (mount authenticated every one).
Status lookup_failure(Status looked_up, bool sealed) noexcept {
  if (!looked_up && looked_up.error() == Errc::corrupt && sealed) return fail(Errc::tampered);
  return looked_up;
}
}  // namespace

StoreEngine::StoredKey StoreEngine::stored_key(std::span<const std::byte> name) noexcept {
  const auto size = static_cast<std::uint8_t>(std::min(name.size(), max_key_size + 1));
  StoredKey k = StoredKey::of_name(name, size);
  if (sealed() && !name.empty() && name.size() <= max_key_size) k.seal(name, seal_.codec);
  return k;
}

Task<Result<std::size_t>> StoreEngine::open_value(const Entry& e, std::span<const std::byte> key) noexcept {
  // A sealed full record: read it into scratch A, then authenticate and
  // decrypt in place. Returns the frame size.
  // A key whose latest record failed reads tampered until it is written
  // or erased (fail closed: never an older value, never not_found).
  if (e.tamper != Tamper::none) co_return fail(Errc::tampered);
  const std::span<std::byte> a = scratch_a();
  if (e.value_size > a.size() || e.location != e.binding) co_return fail(Errc::corrupt);
  const std::span<std::byte> sealed = a.first(e.value_size);
  scratch_touched(e.value_size);
  std::array<std::byte, logfmt::full_head + max_key_size> head{};
  const std::span<std::byte> prefix = std::span<std::byte>(head).first(value_prefix(e, false));
  const std::uint32_t known = known_prefix(e, key, prefix);
  if (known < prefix.size()) FERRITE_CO_TRY(co_await flash_.read(e.location + known, prefix.subspan(known)));
  FERRITE_CO_TRY(co_await flash_.read(e.location + prefix.size(), sealed));
  if (auto st = check_value_record(e, key, prefix, crc32c(sealed, value_crc_seed(e, prefix))); !st) {
    if (st.error() != Errc::corrupt) co_return fail(st.error());
    // Mount authenticated it: the flash changed under the mounted store.
    mark_tampered(e);
    co_return fail(Errc::tampered);
  }
  const std::uint32_t w = logfmt::get_le32(head.data());
  const std::uint32_t sector = sector_of(e.location);
  std::array<std::byte, logfmt::full_head + max_key_size + 16> ad{};
  const std::size_t n = build_ad(ad, sectors_[sector].sequence, e.location - geometry_.sector_offset(sector), w, key);
  auto plain = codec_for(sector)->open(std::span<const std::byte>(ad).first(n), sealed);
  if (!plain) {
    mark_tampered(e);
    co_return fail(Errc::tampered);
  }
  co_return *plain;
}

Task<Result<std::size_t>> StoreEngine::read_value(const Entry& e, std::span<const std::byte> key,
                                                  std::span<std::byte> out, ValueType* type) noexcept {
  // One read of the record; the checksum binds key, position and value, so a
  // value that comes back here is exactly what was written for this key.
  // A typed value's tag (FORMAT.md §3.5) is not part of what comes back.
  if (type) *type = ValueType::untyped;
  if (sealed()) {
    const ScratchWipe wipe{*this};
    FERRITE_CO_TRY_ASSIGN(const std::size_t framed, co_await open_value(e, key));
    const std::span<const std::byte> frame = scratch_a().first(framed);
    FERRITE_CO_TRY_ASSIGN(const std::size_t size, seal_.codec->framed_size(frame));
    scratch_touched(size);
    if (!e.typed) {
      if (out.size() < size) co_return fail(Errc::buffer_too_small);
      co_return seal_.codec->unframe(frame, out);
    }
    // The tag is the plaintext's first byte: decode into scratch B, then copy.
    if (size == 0) co_return fail(Errc::corrupt);
    if (out.size() < size - 1) co_return fail(Errc::buffer_too_small);
    FERRITE_CO_TRY_ASSIGN(const std::size_t n, seal_.codec->unframe(frame, scratch_b()));
    if (n != size) co_return fail(Errc::corrupt);
    if (type) *type = static_cast<ValueType>(scratch_b()[0]);
    if (n > 1) std::memcpy(out.data(), scratch_b().data() + 1, n - 1);
    co_return n - 1;
  }
  const std::uint32_t tag_size = e.typed ? 1 : 0;
  if (e.value_size < tag_size) co_return fail(Errc::corrupt);
  const std::uint32_t size = e.value_size - tag_size;
  if (out.size() < size) co_return fail(Errc::buffer_too_small);
  // Two reads at most: what precedes the value (less what locate read), then the value.
  std::array<std::byte, logfmt::full_head + max_key_size + 1> head{};
  const std::span<std::byte> prefix = std::span<std::byte>(head).first(value_prefix(e, e.typed));
  const std::uint32_t known = known_prefix(e, key, prefix);
  if (known < prefix.size()) FERRITE_CO_TRY(co_await flash_.read(e.location + known, prefix.subspan(known)));
  const std::span<std::byte> value = out.first(size);
  FERRITE_CO_TRY(co_await flash_.read(e.location + prefix.size(), value));
  FERRITE_CO_TRY(check_value_record(e, key, prefix, crc32c(value, value_crc_seed(e, prefix))));
  if (type && e.typed) *type = static_cast<ValueType>(prefix.back());
  co_return std::size_t{size};
}

Task<Result<std::size_t>> Store::get(std::span<const std::byte> name, std::span<std::byte> out) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(lookup_failure(co_await locate(key.view(), crc32c(key.view()), found, true), sealed()));
  if (!found.found) co_return fail(Errc::not_found);
  co_return co_await read_value(found.entry, key.view(), out);
}

Task<Status> Store::get_into(std::span<const std::byte> name, std::vector<std::byte>& out) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(co_await locate(key.view(), crc32c(key.view()), found, true));
  if (!found.found) co_return fail(Errc::not_found);
  if (sealed()) {
    const ScratchWipe wipe{*this};
    FERRITE_CO_TRY_ASSIGN(const std::size_t framed, co_await open_value(found.entry, key.view()));
    const std::span<const std::byte> frame = scratch_a().first(framed);
    FERRITE_CO_TRY_ASSIGN(const std::size_t size, seal_.codec->framed_size(frame));
    out.resize(size);
    FERRITE_CO_TRY_ASSIGN(const std::size_t n, seal_.codec->unframe(frame, out));
    out.resize(n);
    if (found.entry.typed) {
      if (n == 0) co_return fail(Errc::corrupt);
      out.erase(out.begin());  // the tag (FORMAT.md §3.5)
    }
    co_return Status{};
  }
  out.resize(found.entry.value_size);
  FERRITE_CO_TRY_ASSIGN(const std::size_t n, co_await read_value(found.entry, key.view(), out));
  out.resize(n);
  co_return Status{};
}

Task<Status> Store::get_string(std::string_view key, std::string& out) noexcept {
  std::vector<std::byte> bytes;
  FERRITE_CO_TRY(co_await get_into(as_bytes(key), bytes));
  out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  co_return Status{};
}

Task<Result<Scalar>> Store::get_scalar(std::span<const std::byte> name) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(lookup_failure(co_await locate(key.view(), crc32c(key.view()), found, true), sealed()));
  if (!found.found) co_return fail(Errc::not_found);
  Scalar s;
  auto n = co_await read_value(found.entry, key.view(), s.bytes, &s.tag);
  if (!n) co_return fail(n.error() == Errc::buffer_too_small ? Errc::invalid_argument : n.error());
  s.size = static_cast<std::uint8_t>(*n);
  co_return s;
}

Task<Result<ValueType>> Store::type_of(std::span<const std::byte> name) noexcept {
  // The tag is one byte of the latest record (a sealed store opens it).
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(co_await locate(key.view(), crc32c(key.view()), found));
  if (!found.found) co_return fail(Errc::not_found);
  if (found.entry.tamper != Tamper::none) co_return fail(Errc::tampered);
  if (!found.entry.typed) co_return ValueType::untyped;
  if (sealed()) {
    ValueType type = ValueType::untyped;
    FERRITE_CO_TRY(co_await read_value(found.entry, key.view(), scratch_a(), &type));
    co_return type;
  }
  const Entry& e = found.entry;
  const std::uint32_t at = e.location + (e.location != e.binding ? logfmt::compact_head : logfmt::full_head + e.key_size);
  std::array<std::byte, 1> tag{};
  FERRITE_CO_TRY(co_await flash_.read(at, tag));
  co_return static_cast<ValueType>(tag[0]);
}

Task<Result<bool>> Store::contains(std::span<const std::byte> name) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(co_await locate(key.view(), crc32c(key.view()), found));
  co_return found.found;
}

Task<Result<std::size_t>> Store::size_of(std::span<const std::byte> name) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY(check_key(name));
  const StoredKey key = stored_key(name);
  Located found;
  FERRITE_CO_TRY(co_await locate(key.view(), crc32c(key.view()), found));
  if (!found.found) co_return fail(Errc::not_found);
  const std::size_t tag = found.entry.typed ? 1 : 0;  // not part of the value
  if (!sealed()) co_return std::size_t{found.entry.value_size} - std::min(tag, std::size_t{found.entry.value_size});
  const ScratchWipe wipe{*this};
  FERRITE_CO_TRY_ASSIGN(const std::size_t framed, co_await open_value(found.entry, key.view()));
  FERRITE_CO_TRY_ASSIGN(const std::size_t size, seal_.codec->framed_size(scratch_a().first(framed)));
  co_return size - std::min(tag, size);
}

// ---------------------------------------------------------------------------
// Writing

Task<Result<bool>> StoreEngine::stored_value_equals(const Entry& e, std::span<const std::byte> key,
                                                    std::span<const std::byte> value,
                                                    std::span<const std::byte> prefix) noexcept {
  // Copy-on-write check without a value-sized buffer: small values are read
  // whole (and verified); larger ones are compared chunk by chunk and then
  // their record's checksum verified through read_record. The record holds
  // `prefix` (a typed value's tag, or nothing) then `value`; only a record
  // of the same typedness can hold it.
  if (e.typed != !prefix.empty()) co_return false;
  const std::size_t total = prefix.size() + value.size();
  if (sealed()) {
    const ScratchWipe wipe{*this};
    auto framed = co_await open_value(e, key);
    if (!framed && (framed.error() == Errc::corrupt || framed.error() == Errc::tampered)) co_return false;
    if (!framed) co_return fail(framed.error());
    const std::span<const std::byte> frame = scratch_a().first(*framed);
    auto size = seal_.codec->framed_size(frame);
    if (!size || *size != total) co_return false;
    scratch_touched(total);
    auto n = seal_.codec->unframe(frame, scratch_b());
    if (!n || *n != total) co_return false;
    if (!prefix.empty() && scratch_b()[0] != prefix[0]) co_return false;
    co_return value.empty() || std::memcmp(scratch_b().data() + prefix.size(), value.data(), value.size()) == 0;
  }
  if (e.value_size != total) co_return false;
  // One pass: compare the value chunk by chunk while its checksum goes on,
  // then check the record (what is equal but no longer verifies is rewritten).
  std::array<std::byte, logfmt::full_head + max_key_size + 1> head{};
  const std::span<std::byte> stored_prefix = std::span<std::byte>(head).first(value_prefix(e, e.typed));
  const std::uint32_t known = known_prefix(e, key, stored_prefix);
  if (known < stored_prefix.size())
    FERRITE_CO_TRY(co_await flash_.read(e.location + known, stored_prefix.subspan(known)));
  if (!prefix.empty() && stored_prefix.back() != prefix[0]) co_return false;
  std::uint32_t crc = value_crc_seed(e, stored_prefix);
  std::array<std::byte, 64> buffer{};
  const std::uint32_t value_at = e.location + static_cast<std::uint32_t>(stored_prefix.size());
  for (std::uint32_t done = 0; done < value.size();) {
    const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(value.size()) - done, buffer.size());
    const std::span<std::byte> chunk = std::span<std::byte>(buffer).first(n);
    FERRITE_CO_TRY(co_await flash_.read(value_at + done, chunk));
    if (std::memcmp(chunk.data(), value.data() + done, n) != 0) co_return false;
    crc = crc32c(chunk, crc);
    done += n;
  }
  const Status verifies = check_value_record(e, key, stored_prefix, crc);
  if (!verifies && verifies.error() != Errc::corrupt) co_return fail(verifies.error());
  co_return static_cast<bool>(verifies);
}

Task<Status> Store::put(std::span<const std::byte> name, std::span<const std::byte> value) noexcept {
  return put_impl(Write::put, name, ValueType::untyped, value);
}

#if FERRITE_WITH_TYPED_WRITES
Task<Status> Store::put_typed(std::span<const std::byte> name, ValueType type, std::span<const std::byte> value) noexcept {
  return put_impl(Write::put_typed, name, type, value);
}
#endif  // FERRITE_WITH_TYPED_WRITES

Task<Status> Store::erase(std::span<const std::byte> name) noexcept {
  return put_impl(Write::erase, name, ValueType::untyped, {});
}

Status StoreEngine::check_name(std::span<const std::byte> name, bool refusing) noexcept {
  if (!name.empty() && name.size() <= max_key_size) return {};
  if (refusing) {
    if (name.empty()) refuse(Refused::key_empty);
    else refuse(Refused::key_long, static_cast<std::uint32_t>(name.size()), max_key_size);
  }
  return fail(name.empty() ? Errc::invalid_argument : Errc::too_large);
}

Task<Status> StoreEngine::put_impl(Write op, std::span<const std::byte> name, ValueType type,
                                   std::span<const std::byte> value) noexcept {
  // A put and an erase take the same steps: look the key up, make room,
  // write one record, then make the index follow it.
  auto guard = co_await mutex_.lock();
  const bool erase = op == Write::erase;
#if FERRITE_WITH_TYPED_WRITES
  if (op == Write::put_typed) {
    const std::uint32_t want = size_for(type);
    if (want == 0 || (want != any_size && value.size() != want)) {
      refuse(Refused::type_size, static_cast<std::uint32_t>(value.size()), want == any_size ? 0 : want);
      co_return fail(Errc::invalid_argument);
    }
  }
#endif  // FERRITE_WITH_TYPED_WRITES
  if (!mounted_) co_return fail(Errc::not_mounted);
  const ScratchWipe wipe{*this};
  if (erase) FERRITE_CO_TRY(check_name(name, false));
  if (sealed()) FERRITE_CO_TRY(co_await record_tampering());
  if (!erase) FERRITE_CO_TRY(check_name(name, true));
  // A typed value is stored as its tag, then its bytes (FORMAT.md §3.5).
  const bool typed = type != ValueType::untyped;
  const std::array<std::byte, 1> tag_byte{static_cast<std::byte>(type)};
  const std::span<const std::byte> prefix =
      typed ? std::span<const std::byte>(tag_byte) : std::span<const std::byte>{};
  if (prefix.size() + value.size() > value_limit_) {
    refuse(Refused::value_long, static_cast<std::uint32_t>(std::min<std::size_t>(value.size(), 0xFFFFFFFFu)),
           value_limit_ - static_cast<std::uint32_t>(prefix.size()));
    co_return fail(Errc::too_large);
  }
  const StoredKey mapped = stored_key(name);
  const std::span<const std::byte> key = mapped.view();
  const std::uint32_t hash = crc32c(key);
  Located cur;  // the key as the index has it (refreshed as collection moves it)
  // (A binding whose name decayed is taken for this key's: the write supersedes it.)
  FERRITE_CO_TRY(co_await locate(key, hash, cur, !erase, DecayedName::adopt));
  const std::uint32_t epoch_at_lookup = index_.epoch();
  if (erase) {
    if (!cur.found) co_return fail(Errc::not_found);
  } else if (cur.found) {
    FERRITE_CO_TRY_ASSIGN(const bool same, co_await stored_value_equals(cur.entry, key, value, prefix));
    if (same) {
      ++counters_.writes_skipped;
      co_return Status{};
    }
    // The check may have found the old record failing: say so on flash
    // before the new value, or the next mount could not tell who changed it.
    if (sealed()) FERRITE_CO_TRY(co_await record_tampering());
  } else if (indexed() && index_.full()) {
    refuse(Refused::index_full, index_.size(), static_cast<std::uint32_t>(index_.capacity()));
    co_return fail(Errc::no_memory);
  }
  // A sealed store writes the value's frame (maybe compressed); append seals
  // it. A typed value's tag is framed with it: compose both in scratch B
  // (free until append seals into it).
  std::span<const std::byte> stored = value;
  std::span<const std::byte> plain_prefix = prefix;  // what append writes before `stored` (plain stores)
  auto frame_value = [&]() -> Result<std::span<const std::byte>> {
    std::span<const std::byte> plain = value;
    if (typed) {
      const std::span<std::byte> b = scratch_b();
      if (b.size() < value.size() + 1) return fail(Errc::too_large);
      scratch_touched(value.size() + 1);
      b[0] = tag_byte[0];
      if (!value.empty()) std::memcpy(b.data() + 1, value.data(), value.size());
      plain = b.first(value.size() + 1);
    }
    scratch_touched(plain.size() + seal_.codec->overhead());
    auto framed = seal_.codec->frame(plain, scratch_a());
    if (!framed) return fail(framed.error());
    return std::span<const std::byte>(scratch_a().first(*framed));
  };
  const bool framed = sealed() && !erase;  // a sealed DELETE's empty value is sealed by append
  if (framed) {
    FERRITE_CO_TRY_ASSIGN(stored, frame_value());
    plain_prefix = {};
  }
  const std::uint32_t ksize = static_cast<std::uint32_t>(key.size());
  const std::uint32_t vsize = static_cast<std::uint32_t>(
      sealed() ? seal_.codec->sealed_size(stored.size()) : plain_prefix.size() + stored.size());  // on flash
  const std::uint32_t new_full = full_size(ksize, vsize);
  const std::uint32_t old_full = cur.found ? full_size(cur.entry.key_size, cur.entry.value_size) : 0;
  const std::uint32_t new_live = live_.total - old_full + (erase ? 0 : new_full);
  // Capacity counts the records live after this write (FORMAT.md §6.2).
  [[maybe_unused]] const auto in_flight = write_in_flight(erase ? 0 : new_full, old_full);
  const std::uint32_t clobbers_before = seal_.scratch_clobbers;
  // A new key whose hash a live key has: no sector opened from here on may
  // say hashes are unique, and a head that says so ends it first (FORMAT.md §3.3).
  const bool shares_hash = !erase && !cur.found && indexed() && !sealed() && index_.holds(hash);
  sharing_hash_ = shares_hash;
  if (auto room = co_await ensure_room(new_full, new_live); !room) {
    if (room.error() == Errc::no_space && !erase) {
      if (indexed() && new_live > capacity(new_full))
        refuse(Refused::capacity, new_live, capacity(new_full));
      else
        refuse(Refused::room, new_full, head_room() + free_payload());
    }
    co_return room;
  }
  if (framed && seal_.scratch_clobbers != clobbers_before) {
    // Collection used the scratch buffer: frame again (same size).
    FERRITE_CO_TRY_ASSIGN(stored, frame_value());
  }
  if (shares_hash) {
    if (auto room = co_await end_unique_hashes(new_full, new_live); !room) {
      // (The head had room for the record but not for SHARED before it.)
      if (room.error() == Errc::no_space)
        refuse(Refused::room, new_full + meta_size(0), head_room() + free_payload());
      co_return room;
    }
  }
  // Decided only now: collection may have moved the head, the binding, or
  // (for a corrupted source) dropped the entry.
  // Positions only shift when an entry is inserted or removed; otherwise
  // the entry is where it was (its content refreshed), no second lookup.
  if (indexed() && cur.found) {
    if (index_.epoch() == epoch_at_lookup) {
      cur.entry = refreshed(cur.entry, cur.position);
    } else {
      FERRITE_CO_TRY(co_await locate(key, hash, cur, false, DecayedName::adopt));
    }
  }
  const std::uint32_t epoch_before_write = index_.epoch();
  std::uint8_t slot = cur.found && !erase ? cur.entry.slot : 0;
  // (Never after a binding whose name decayed: a compact record is read with its binding's name.)
  const bool compact = slot != 0 && compact_ && !cur.decayed && cur.entry.value_size == vsize &&
                       cur.entry.typed == typed && sector_of(cur.entry.binding) == head_ &&
                       addressable(geometry_.sector_offset(head_) + head_offset_, cur.entry.binding);
  const bool found_before_write = cur.found;
  const std::uint32_t binding_before_write = cur.entry.binding;
  bool new_slot = false;
  if (!compact && slot == 0 && indexed() && !erase) {
    slot = allocate_slot();
    new_slot = slot != 0;
  }
  const std::uint8_t kind = erase ? logfmt::erase : typed ? logfmt::typed_put : logfmt::put;
  // The head may hold units mount could not see (a weak tail after a power
  // cut): append seals it and writes once more in a fresh sector. A frame in
  // scratch (a sealed put) may only take a free sector there; when none is
  // left, collect here, frame again and write once more.
  Result<std::uint32_t> at = fail(Errc::io);
  for (int attempt = 0; attempt < 2; ++attempt) {
    at = co_await append(kind, slot, key, stored, compact && attempt == 0, hash, 0, plain_prefix, true);
    if (at || !framed || !head_sealed_ ||
        (at.error() != Errc::reprogram_forbidden && at.error() != Errc::bits_not_erased) || attempt > 0)
      break;
    FERRITE_CO_TRY(co_await ensure_room(new_full, new_live));
    FERRITE_CO_TRY_ASSIGN(stored, frame_value());
  }
  if (!at) {
    if (new_slot) index_.release_slot(slot);
    co_return fail(at.error());
  }
  if (!indexed()) co_return Status{};
  // Bookkeeping follows the write: the record is durable now. A compact
  // write that had to be retried in a fresh sector went out as a full record.
  const bool wrote_compact = compact && sector_of(*at) == sector_of(binding_before_write);
  if (!found_before_write || index_.epoch() != epoch_before_write) {
    if (auto st = co_await locate(key, hash, cur, false, DecayedName::adopt); !st) {
      mounted_ = false;  // the write is durable but the index cannot follow it: a remount rebuilds it
      co_return st;
    }
  }
  if (cur.found) {
    Entry e = refreshed(cur.entry, cur.position);
    const std::uint32_t before = full_size(e.key_size, e.value_size);
    sectors_[sector_of(e.binding)].live_bytes -= before;
    note_dead(before);
    if (erase) {
      index_.release_slot(e.slot);
      index_.remove(cur.position);
    } else {
      e.location = *at;
      if (!wrote_compact) {
        e.binding = *at;
        e.slot = slot;
        e.value_size = static_cast<std::uint16_t>(vsize);
        e.typed = typed;
      }
      if (sealed_stores_built && e.tamper == Tamper::pending) --seal_.tamper_pending;
      e.tamper = Tamper::none;  // written again: the key is whole
      store_entry(cur.position, e);
      sectors_[sector_of(e.binding)].live_bytes += new_full;
    }
  } else if (!erase) {
    Entry e;
    e.hash = hash;
    e.location = *at;
    e.binding = *at;
    e.value_size = static_cast<std::uint16_t>(vsize);
    e.key_size = static_cast<std::uint8_t>(ksize);
    e.slot = slot;
    e.typed = typed;
    sectors_[sector_of(*at)].live_bytes += new_full;
    if (auto st = co_await index_insert(e, key); !st) {
      mounted_ = false;  // RAM no longer matches flash: a remount rebuilds it
      co_return st;
    }
  }
  if (!erase) note_live(new_full);
  if (retire_ready()) (void)co_await gc_step(0);
  co_return Status{};
}

#if FERRITE_WITH_TYPED_WRITES
Task<Status> Store::put_scalar(std::span<const std::byte> key, Scalar value) noexcept {
  if (value.tag == ValueType::untyped) co_return co_await put(key, value.view());
  co_return co_await put_typed(key, value.tag, value.view());
}
#endif  // FERRITE_WITH_TYPED_WRITES

#if FERRITE_WITH_SCANS
// ---------------------------------------------------------------------------
// Scans

Cursor Store::scan(std::span<const std::byte> prefix, Direction direction) noexcept {
  Cursor c;
  c.store_ = this;
  c.direction_ = direction;
  const std::size_t n = std::min(prefix.size(), max_key_size);
  if (n) std::memcpy(c.prefix_.data(), prefix.data(), n);
  c.prefix_size_ = static_cast<std::uint8_t>(n);
  // Start at the prefix (forward, inclusive) or just below the first key
  // after every key that has it (reverse, exclusive): the prefix without its
  // trailing 0xFF bytes, last byte + 1. Nothing left: start from the end.
  std::size_t start = n;
  if (n) std::memcpy(c.key_.data(), prefix.data(), n);
  if (direction == Direction::reverse) {
    while (start > 0 && c.key_[start - 1] == std::byte{0xFF}) --start;
    if (start > 0) c.key_[start - 1] = static_cast<std::byte>(static_cast<std::uint8_t>(c.key_[start - 1]) + 1);
  }
  c.key_size_ = static_cast<std::uint8_t>(start);
  c.has_start_ = start > 0;
  return c;
}

Cursor Store::range(std::span<const std::byte> lower, std::span<const std::byte> upper,
                    Direction direction) noexcept {
  Cursor c;
  c.store_ = this;
  c.ranged_ = true;
  c.direction_ = direction;
  // Forward: start at `lower` (inclusive), stop at `upper`; reverse: start
  // below `upper` (the last key when there is none), stop under `lower`.
  const bool forward = direction == Direction::forward;
  const std::span<const std::byte> start = forward ? lower : upper;
  const std::span<const std::byte> bound = forward ? upper : lower;
  const std::size_t ns = std::min(start.size(), max_key_size);
  if (ns) std::memcpy(c.key_.data(), start.data(), ns);
  c.key_size_ = static_cast<std::uint8_t>(ns);
  c.has_start_ = !start.empty();
  const std::size_t nb = std::min(bound.size(), max_key_size);
  if (nb) std::memcpy(c.bound_.data(), bound.data(), nb);
  c.bound_size_ = static_cast<std::uint8_t>(nb);
  c.has_bound_ = !bound.empty();
  return c;
}

bool Cursor::admits(std::span<const std::byte> k) const noexcept {
  if (!has_prefix(k, {prefix_.data(), prefix_size_})) return false;
  if (!has_bound_) return true;
  const int c = logfmt::compare_keys(k, {bound_.data(), bound_size_});
  return direction_ == Direction::forward ? c < 0 : c >= 0;
}

void Cursor::stand_on(std::span<const std::byte> k, std::uint32_t value_size, std::uint32_t entry,
                      std::uint32_t rank, std::uint32_t epoch) noexcept {
  std::memcpy(key_.data(), k.data(), k.size());
  key_size_ = static_cast<std::uint8_t>(k.size());
  value_size_ = value_size;
  entry_ = entry;
  rank_ = rank;
  epoch_ = epoch;
  positioned_ = true;
  started_ = true;
}

Task<Result<bool>> Cursor::next() noexcept {
  if (!store_) co_return false;
  auto guard = co_await store_->mutex_.lock();
  on_key_ = false;
  auto more = co_await store_->cursor_next(*this);
  on_key_ = more && *more;
  co_return more;
}

Task<Result<std::size_t>> Cursor::read_value(std::span<std::byte> out) noexcept {
  if (!store_) co_return fail(Errc::invalid_argument);
  auto guard = co_await store_->mutex_.lock();
  co_return co_await store_->cursor_read_value(*this, out);
}

Task<Result<bool>> StoreEngine::cursor_next(Cursor& c) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (keys_unscannable()) co_return fail(Errc::unsupported);  // names never reach flash
  if (!indexed()) {
    if (c.ranged_ || c.direction_ == Direction::reverse) co_return fail(Errc::unsupported);
    co_return co_await cursor_next_by_scan(c);
  }
  if (!index_.has_order()) co_return co_await cursor_next_unordered(c);
  co_return co_await cursor_next_ordered(c);
}

namespace {
constexpr std::uint32_t no_rank = 0xFFFFFFFFu;
/// The rank after `rank` in the walk's direction, or no_rank.
std::uint32_t step_rank(std::uint32_t rank, bool forward, std::uint32_t count) noexcept {
  if (forward) return rank + 1 < count ? rank + 1 : no_rank;
  return rank > 0 && rank <= count ? rank - 1 : no_rank;
}
}  // namespace

Task<Result<std::uint32_t>> StoreEngine::cursor_seek(const Cursor& c) noexcept {
  // Forward: the first key after the last one yielded (at or after the
  // start before the first); reverse: the last key before either.
  const bool forward = c.direction_ == Direction::forward;
  if (!c.started_ && !c.has_start_) co_return index_.size() == 0 ? no_rank : forward ? 0 : index_.size() - 1;
  FERRITE_CO_TRY_ASSIGN(const std::size_t at,
                        co_await order_lower_bound(c.key(), index_.size(), forward && c.started_));
  if (forward) co_return at < index_.size() ? static_cast<std::uint32_t>(at) : no_rank;
  co_return at > 0 ? static_cast<std::uint32_t>(at - 1) : no_rank;
}

Task<Result<bool>> StoreEngine::cursor_next_ordered(Cursor& c) noexcept {
  // The permutation is unchanged while no key was inserted or removed: the
  // next key is the neighbour of the last one's rank, no search needed.
  const bool forward = c.direction_ == Direction::forward;
  const bool in_place = c.positioned_ && c.epoch_ == index_.epoch() && index_.order_valid();
  if (!index_.order_valid()) FERRITE_CO_TRY(co_await build_order());
  std::uint32_t rank = no_rank;
  if (in_place) {
    rank = step_rank(c.rank_, forward, index_.size());
  } else {
    FERRITE_CO_TRY_ASSIGN(rank, co_await cursor_seek(c));
  }
  KeyBuf key;
  for (; rank != no_rank; rank = step_rank(rank, forward, index_.size())) {
    std::uint32_t value_size = 0;
    ValueType type = ValueType::untyped;
    FERRITE_CO_TRY_ASSIGN(const bool good, co_await cursor_read_entry(index_.order_at(rank), key, value_size, type));
    if (!good) continue;  // damaged: counted and skipped
    if (!c.admits(key.view())) break;
    c.stand_on(key.view(), value_size, index_.order_at(rank), rank, index_.epoch());
    c.type_ = type;
    co_return true;
  }
  co_return false;
}

Task<Result<bool>> StoreEngine::cursor_next_unordered(Cursor& c) noexcept {
  // No permutation: read every key to find the nearest one past the
  // cursor's key in its direction (O(keys) reads per step).
  const int sign = c.direction_ == Direction::forward ? 1 : -1;
  KeyBuf current;
  current.size = c.key_size_;
  std::memcpy(current.bytes.data(), c.key_.data(), c.key_size_);
  bool bounded = c.started_ || c.has_start_;
  bool inclusive = !c.started_ && sign > 0;  // only a forward start is inclusive
  for (;;) {
    KeyBuf best, candidate;
    std::size_t best_entry = none;
    for (std::size_t i = 0; i < index_.size(); ++i) {
      Entry e;
      FERRITE_CO_TRY(co_await load_entry(i, e));
      FERRITE_CO_TRY(co_await read_key(e.binding, e.key_size, candidate.bytes));
      candidate.size = e.key_size;
      const int after = bounded ? sign * logfmt::compare_keys(candidate.view(), current.view()) : 1;
      if (after < 0 || (after == 0 && !inclusive)) continue;
      if (best_entry != none && sign * logfmt::compare_keys(candidate.view(), best.view()) >= 0) continue;
      best = candidate;
      best_entry = i;
    }
    if (best_entry == none) co_return false;
    KeyBuf key;
    std::uint32_t value_size = 0;
    ValueType type = ValueType::untyped;
    FERRITE_CO_TRY_ASSIGN(const bool good, co_await cursor_read_entry(best_entry, key, value_size, type));
    if (good && logfmt::compare_keys(key.view(), best.view()) == 0) {
      if (!c.admits(key.view())) co_return false;
      c.stand_on(key.view(), value_size, static_cast<std::uint32_t>(best_entry), 0, index_.epoch());
      c.type_ = type;
      co_return true;
    }
    if (good) ++counters_.corrupt_records;  // the binding read two ways
    current = best;  // skip it
    bounded = true;
    inclusive = false;
  }
}

Task<Result<bool>> StoreEngine::cursor_read_entry(std::size_t position, KeyBuf& key, std::uint32_t& value_size,
                                                  ValueType& type) noexcept {
  // The binding record holds the name: read and verify it whole (its
  // checksum binds position, header, key and value), and check it is the
  // record this entry describes.
  const Entry e = unpack(position);
  const std::uint32_t sector = sector_of(e.binding);
  const std::uint32_t offset = e.binding - geometry_.sector_offset(sector);
  LogRecordRead rec;
  rec.status = co_await read_record(sector, offset, geometry_.sector_size(sector) - offset, rec.record);
  if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
  if (sealed() && e.tamper != Tamper::none) {
    // A scan still yields a tampered key (its value reads tampered): a key
    // must never vanish because its record failed.
    Entry t;
    FERRITE_CO_TRY(co_await load_entry(position, t));
    FERRITE_CO_TRY(co_await read_key(t.binding, t.key_size, key.bytes));
    key.size = t.key_size;
    value_size = 0;
    type = ValueType::untyped;
    co_return true;
  }
  if (!rec || rec->blank || rec->compact || !logfmt::is_put(rec->kind) || (rec->kind == logfmt::typed_put) != e.typed ||
      rec->key_hash != e.hash || rec->value_size != e.value_size || (e.typed && !sealed() && e.value_size == 0)) {
    ++counters_.corrupt_records;
    if (sealed()) mark_tampered(e);  // listed by tampered_key(), read tampered
    // A plain store lists the key all the same while the record's name is
    // whole (it has the entry's hash): its value then reads as get reads
    // it, from the latest record. A key a get finds never vanishes from a
    // scan (a mount that used a summary read no value, FORMAT.md §5.2).
    const LogRecord& r = rec.record;  // what read_record parsed before the checksum failed
    if (sealed() || r.blank || r.compact || r.key_size == 0 || !logfmt::is_put(r.kind) || r.key_hash != e.hash ||
        r.value_size != e.value_size || (r.kind == logfmt::typed_put) != e.typed)
      co_return false;
  }
  std::memcpy(key.bytes.data(), rec.record.key.data(), rec.record.key_size);
  key.size = rec.record.key_size;
  value_size = e.value_size;
  type = ValueType::untyped;
  if (!sealed()) {
    if (!e.typed) co_return true;
    // The tag: one byte of the latest record (verified when the value is read).
    const std::uint32_t at =
        e.location + (e.location != e.binding ? logfmt::compact_head : logfmt::full_head + key.size);
    std::array<std::byte, 1> tag{};
    FERRITE_CO_TRY(co_await flash_.read(at, tag));
    type = static_cast<ValueType>(tag[0]);
    value_size = e.value_size - 1;
    co_return true;
  }
  // What is on flash is sealed (and maybe compressed): report the value's size.
  const ScratchWipe wipe{*this};
  Entry sealed = e;
  sealed.key_size = key.size;
  auto framed = co_await open_value(sealed, key.view());
  if (!framed && framed.error() == Errc::tampered) {
    value_size = 0;  // yielded; its value reads tampered
    co_return true;
  }
  if (!framed && framed.error() != Errc::corrupt && framed.error() != Errc::not_found) co_return fail(framed.error());
  auto size = framed ? seal_.codec->framed_size(scratch_a().first(*framed)) : Result<std::size_t>(fail(Errc::corrupt));
  if (size && e.typed) {
    // The tag is the plaintext's first byte.
    scratch_touched(*size);
    auto n = *size > 0 ? seal_.codec->unframe(scratch_a().first(*framed), scratch_b()) : Result<std::size_t>(fail(Errc::corrupt));
    if (n && *n == *size) {
      type = static_cast<ValueType>(scratch_b()[0]);
      size = *size - 1;
    } else {
      size = fail(Errc::corrupt);
    }
  }
  if (!size) {
    ++counters_.corrupt_records;
    co_return false;
  }
  value_size = static_cast<std::uint32_t>(*size);
  co_return true;
}

Task<Result<std::size_t>> StoreEngine::cursor_read_value(const Cursor& c, std::span<std::byte> out) noexcept {
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!c.on_key_) co_return fail(Errc::invalid_argument);
  if (indexed() && c.positioned_ && c.epoch_ == index_.epoch()) {
    // Positions only shift when a key is inserted or removed: the entry the
    // step found is still this key's, and holds its latest record.
    Entry e = unpack(c.entry_);
    e.key_size = c.key_size_;
    co_return co_await read_value(e, c.key(), out);
  }
  // The cursor holds the key as stored (docs/FORMAT.md §3.7): not a name to map.
  Located found;
  FERRITE_CO_TRY(lookup_failure(co_await locate(c.key(), crc32c(c.key()), found, true), sealed()));
  if (!found.found) co_return fail(Errc::not_found);
  co_return co_await read_value(found.entry, c.key(), out);
}

Task<Result<std::uint32_t>> Store::count_range(std::span<const std::byte> lower,
                                               std::span<const std::byte> upper) noexcept {
  auto guard = co_await mutex_.lock();
  if (!mounted_) co_return fail(Errc::not_mounted);
  if (!indexed() || !index_.has_order() || keys_unscannable()) co_return fail(Errc::unsupported);
  if (!index_.order_valid()) FERRITE_CO_TRY(co_await build_order());
  std::size_t from = 0, to = index_.size();
  if (!lower.empty()) {
    FERRITE_CO_TRY_ASSIGN(from, co_await order_lower_bound(lower, index_.size(), false));
  }
  if (!upper.empty()) {
    FERRITE_CO_TRY_ASSIGN(to, co_await order_lower_bound(upper, index_.size(), false));
  }
  co_return static_cast<std::uint32_t>(to > from ? to - from : 0);
}

Task<Result<bool>> StoreEngine::cursor_next_by_scan(Cursor& c) noexcept {
  // Index-less: walk the log in order and yield each record that is still the
  // latest for its key (log order, not key order).
  const std::span<const std::byte> prefix(c.prefix_.data(), c.prefix_size_);
  std::uint32_t location = c.started_ ? c.position_ : 0;
  for (;;) {
    // Next record after `location` in log order.
    std::uint32_t sector = none;
    std::uint32_t offset = 0;
    if (location == 0) {
      sector = oldest_live();
      offset = header_size_;
    } else {
      sector = sector_of(location);
      offset = location - geometry_.sector_offset(sector);
    }
    if (sector == none) break;
    while (sector != none) {
      const std::uint32_t end = header_size_ + sectors_[sector].used_bytes;
      while (offset < end) {
        LogRecordRead rec;
        rec.status = co_await read_record(sector, offset, end - offset, rec.record);
        if (!rec || rec->blank) {
          if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
          offset += unit_;
          continue;
        }
        const std::uint32_t at = rec->address;
        offset += rec->size;
        if (c.started_ && at <= c.position_ && sector_of(at) == sector_of(c.position_)) continue;
        if (rec->kind != logfmt::put && rec->kind != logfmt::typed_put) continue;
        const std::span<const std::byte> key(rec->key.data(), rec->key_size);
        if (!has_prefix(key, prefix)) continue;
        Located latest;
        FERRITE_CO_TRY(co_await locate_by_scan(key, rec->key_hash, latest));
        if (!latest.found || latest.entry.location != at) continue;
        c.started_ = true;
        c.position_ = at;
        std::memcpy(c.key_.data(), rec->key.data(), rec->key_size);
        c.key_size_ = rec->key_size;
        c.value_size_ = rec->value_size;
        c.type_ = ValueType::untyped;
        if (rec->kind == logfmt::typed_put && rec->value_size > 0) {
          std::array<std::byte, 1> tag{};
          FERRITE_CO_TRY(co_await flash_.read(at + logfmt::full_head + rec->key_size, tag));
          c.type_ = static_cast<ValueType>(tag[0]);
          c.value_size_ = rec->value_size - 1;
        }
        co_return true;
      }
      // Next live sector in sequence order.
      std::uint32_t next = none;
      for (std::uint32_t s = 0; s < sectors_.size(); ++s) {
        if (sectors_[s].state != static_cast<std::uint8_t>(SectorState::live)) continue;
        if (sectors_[s].sequence <= sectors_[sector].sequence) continue;
        if (next == none || sectors_[s].sequence < sectors_[next].sequence) next = s;
      }
      sector = next;
      offset = header_size_;
    }
    break;
  }
  c.started_ = true;
  co_return false;
}

#endif  // FERRITE_WITH_SCANS

const char* name_of(ValueType t) noexcept {
  switch (t) {
    case ValueType::untyped: return "untyped";
    case ValueType::u8: return "u8";
    case ValueType::i8: return "i8";
    case ValueType::u16: return "u16";
    case ValueType::i16: return "i16";
    case ValueType::u32: return "u32";
    case ValueType::i32: return "i32";
    case ValueType::u64: return "u64";
    case ValueType::i64: return "i64";
    case ValueType::f32: return "float";
    case ValueType::f64: return "double";
    case ValueType::boolean: return "bool";
    case ValueType::string: return "string";
    case ValueType::blob: return "blob";
  }
  return "unknown";
}

Task<Result<std::uint32_t>> Store::count_keys() noexcept {
  {
    auto guard = co_await mutex_.lock();
    if (!mounted_) co_return fail(Errc::not_mounted);
    if (indexed()) co_return index_.size();
  }
#if FERRITE_WITH_SCANS
  // Index-less: a scan cursor yields each key once (its latest record).
  Cursor c = scan(std::span<const std::byte>{});
  std::uint32_t n = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await c.next());
    if (!more) break;
    ++n;
  }
  co_return n;
#else
  co_return fail(Errc::unsupported);  // index-less counting walks a scan cursor
#endif
}

}  // namespace ferrite
