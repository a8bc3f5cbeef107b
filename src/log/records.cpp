// Reading, verifying and writing records (docs/FORMAT.md §3, §4).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

Task<Status> StoreEngine::read_bytes(std::uint32_t address, std::span<std::byte> out) noexcept {
  if (!mount_ || !mount_->windowed) co_return co_await flash_.read(address, out);
  // Serve what the window holds, then stream on from where it ends, so a
  // sequential scan reads every byte from flash exactly once.
  MountState& m = *mount_;
  while (!out.empty()) {
    if (m.window_address != none && address >= m.window_address && address < m.window_address + m.window_size) {
      const std::uint32_t n =
          std::min<std::uint32_t>(static_cast<std::uint32_t>(out.size()), m.window_address + m.window_size - address);
      std::memcpy(out.data(), m.window.data() + (address - m.window_address), n);
      out = out.subspan(n);
      address += n;
      continue;
    }
    if (out.size() >= m.window.size()) co_return co_await flash_.read(address, out);
    const std::uint32_t sector = sector_of(address);
    const std::uint32_t sector_end = geometry_.sector_offset(sector) + geometry_.sector_size(sector);
    m.window_size = std::min<std::uint32_t>(static_cast<std::uint32_t>(m.window.size()), sector_end - address);
    m.window_address = none;
    FERRITE_CO_TRY(co_await flash_.read(address, std::span<std::byte>(m.window).first(m.window_size)));
    m.window_address = address;
  }
  co_return Status{};
}

Task<Result<std::uint32_t>> StoreEngine::crc_of_range(std::uint32_t address, std::uint32_t length,
                                                      std::uint32_t crc) noexcept {
  while (length > 0) {
    const std::uint32_t n = std::min<std::uint32_t>(length, static_cast<std::uint32_t>(buffer_.size()));
    const std::span<std::byte> chunk = std::span<std::byte>(buffer_).first(n);
    FERRITE_CO_TRY(co_await read_bytes(address, chunk));
    crc = crc32c(chunk, crc);
    address += n;
    length -= n;
  }
  co_return crc;
}

std::uint32_t StoreEngine::voided_from(const LogRecord& rec) const noexcept {
  const bool skip = !rec.blank && !rec.compact && rec.kind == logfmt::meta && rec.key_size == logfmt::skip &&
                    rec.value_size == (sealed() ? seal_.codec->sealed_size(4) : 4);
  return skip ? logfmt::get_le32(rec.meta.data()) : none;
}

Task<Status> StoreEngine::read_record(std::uint32_t sector, std::uint32_t offset, std::uint32_t limit,
                                      LogRecord& rec) noexcept {
  // Filled in the caller's storage: a record is large, and this sits at the
  // bottom of the deepest call chains.
  rec = LogRecord{};
  seal_.auth_failed = false;
  rec.address = geometry_.sector_offset(sector) + offset;
  const std::uint32_t sequence = sectors_[sector].sequence;
  std::array<std::byte, logfmt::full_head> head{};
  const std::uint32_t first = std::min<std::uint32_t>(limit, logfmt::full_head);
  FERRITE_CO_TRY(co_await read_bytes(rec.address, std::span<std::byte>(head).first(first)));
  bool blank = true;
  for (std::uint32_t i = 0; i < std::min(first, unit_); ++i) blank = blank && head[i] == geometry_.erased_byte();
  if (blank) {
    rec.blank = true;
    co_return Status{};
  }
  const auto b0 = static_cast<std::uint8_t>(head[0]);
  if (b0 >= 1 && b0 <= max_slots) {
    // Compact: its binding must be in this same sector (FORMAT.md §3.2).
    // Its value length is the binding's, which the index keeps; and an
    // index entry must be able to address it from there.
    const Entry* binding = summary_.binding;
    const std::size_t i = binding ? 0 : index_.position_of_slot(b0);
    if (i == none) co_return fail(Errc::corrupt);
    const Entry e = binding ? *binding : unpack(i);
    if (sector_of(e.binding) != sector || !addressable(rec.address, e.binding)) co_return fail(Errc::corrupt);
    rec.compact = true;
    rec.slot = b0;
    rec.kind = e.typed ? logfmt::typed_put : logfmt::put;
    rec.key_size = 0;  // the name is in the binding record
    rec.value_size = e.value_size;
    rec.size = compact_size(e.value_size);
    rec.key_hash = e.hash;
    if (rec.size > limit) co_return fail(Errc::corrupt);
    rec.stored_crc = logfmt::get_le32(head.data()) >> 8;
    std::uint32_t crc = logfmt::position_crc(sequence, offset, e.hash);
    crc = crc32c(std::span<const std::byte>(head).first(1), crc);
    FERRITE_CO_TRY_ASSIGN(crc, co_await crc_of_range(rec.address + logfmt::compact_head, e.value_size, crc));
    if ((crc & 0xFFFFFFu) != rec.stored_crc) co_return fail(Errc::corrupt);
    co_return Status{};
  }
  if (!(b0 & 0x80u) || b0 == 0xFFu || first < logfmt::full_head) co_return fail(Errc::corrupt);
  const std::uint32_t w = logfmt::get_le32(head.data());
  rec.stored_crc = logfmt::get_le32(head.data() + 4);
  if (!take_full_word(w, rec) || rec.size > limit) co_return fail(Errc::corrupt);
  const std::uint32_t key_size = logfmt::has_key(rec.kind) ? rec.key_size : 0u;
  std::uint32_t crc = logfmt::position_crc(sequence, offset, 0);
  crc = crc32c(std::span<const std::byte>(head).first(4), crc);
  if (key_size > 0) {
    const std::span<std::byte> key(rec.key.data(), key_size);
    FERRITE_CO_TRY(co_await read_bytes(rec.address + logfmt::full_head, key));
    crc = crc32c(key, crc);
    rec.key_hash = crc32c(key);
  }
  const std::uint32_t value_at = rec.address + logfmt::full_head + key_size;
  const bool small = !logfmt::is_put(rec.kind);
  // Mount of a sealed store authenticates every value too (FORMAT.md §3.6):
  // read it once, into scratch A, for both the checksum and the tag.
  const bool open_value = sealed() && !small && seal_.authenticating;
  std::span<std::byte> field;
  if (small) {
    field = std::span<std::byte>(rec.meta.data(), rec.value_size);
    FERRITE_CO_TRY(co_await read_bytes(value_at, field));
    crc = crc32c(field, crc);
  } else if (open_value) {
    if (rec.value_size > scratch_a().size()) co_return fail(Errc::corrupt);
    field = scratch_a().first(rec.value_size);
    FERRITE_CO_TRY(co_await read_bytes(value_at, field));
    crc = crc32c(field, crc);
  } else {
    FERRITE_CO_TRY_ASSIGN(crc, co_await crc_of_range(value_at, rec.value_size, crc));
  }
  if (crc != rec.stored_crc) co_return fail(Errc::corrupt);
  if (sealed() && (small || open_value)) {
    // Deletes, commits, meta and TAMPERED records change what is visible:
    // in a sealed store they must authenticate before they count (values of
    // puts are authenticated by mount and when read).
    std::array<std::byte, logfmt::full_head + max_key_size + 16> ad{};
    const std::size_t n =
        build_ad(ad, sequence, offset, w, std::span<const std::byte>(rec.key.data(), key_size));
    auto plain = codec_for(sector)->open(std::span<const std::byte>(ad).first(n), field);
    if (!plain) {
      // The checksum held, the tag did not: written by someone without the key.
      seal_.auth_failed = true;
      co_return fail(Errc::corrupt);
    }
    if (open_value) {
      seal_.codec->scrub(field);
      co_return Status{};
    }
    const std::size_t want = rec.kind == logfmt::txn_commit ? 8
                             : rec.kind == logfmt::tampered ? logfmt::tampered_bytes
                             : rec.kind == logfmt::meta     ? *plain
                                                            : 0;
    if (*plain != want) co_return fail(Errc::corrupt);
  }
  co_return Status{};
}

std::uint32_t StoreEngine::value_prefix(const Entry& e, bool tag) noexcept {
  return (e.location != e.binding ? logfmt::compact_head : logfmt::full_head + e.key_size) + (tag ? 1u : 0u);
}

std::uint32_t StoreEngine::known_prefix(const Entry& e, std::span<const std::byte> key,
                                        std::span<std::byte> prefix) const noexcept {
  if (e.binding_word == 0 || e.location != e.binding) return 0;
  logfmt::put_le32(prefix.data(), e.binding_word);
  if (!e.binding_named) return 4;
  logfmt::put_le32(prefix.data() + 4, e.binding_crc);
  if (!key.empty()) std::memcpy(prefix.data() + logfmt::full_head, key.data(), key.size());
  return logfmt::full_head + static_cast<std::uint32_t>(key.size());
}

std::uint32_t StoreEngine::value_crc_seed(const Entry& e, std::span<const std::byte> prefix) const noexcept {
  // Full: position, header word, key (and tag); compact: position and the
  // key's hash, slot byte (and tag) (FORMAT.md §3.1, §3.2).
  const std::uint32_t sector = sector_of(e.location);
  const std::uint32_t offset = e.location - geometry_.sector_offset(sector);
  const bool compact = e.location != e.binding;
  std::uint32_t crc = logfmt::position_crc(sectors_[sector].sequence, offset, compact ? e.hash : 0);
  crc = crc32c(prefix.first(compact ? 1 : 4), crc);
  return crc32c(prefix.subspan(compact ? logfmt::compact_head : logfmt::full_head), crc);
}

Status StoreEngine::check_value_record(const Entry& e, std::span<const std::byte> key, std::span<const std::byte> prefix,
                                       std::uint32_t crc) const noexcept {
  const std::uint32_t w = logfmt::get_le32(prefix.data());
  if (e.location != e.binding) {
    if ((w & 0xFFu) != e.slot || (crc & 0xFFFFFFu) != (w >> 8)) return fail(Errc::corrupt);
    return {};
  }
  const std::uint8_t kind = logfmt::kind_of(w);
  if ((w & 0x80u) == 0 || !logfmt::is_put(kind) || logfmt::value_size_of(w) != e.value_size ||
      logfmt::key_field_of(w) + 1u != e.key_size || (kind == logfmt::typed_put) != e.typed ||
      crc != logfmt::get_le32(prefix.data() + 4))
    return fail(Errc::corrupt);
  if (std::memcmp(prefix.data() + logfmt::full_head, key.data(), key.size()) != 0) return fail(Errc::not_found);
  return {};
}

Task<Result<std::uint32_t>> StoreEngine::append(std::uint8_t kind, std::uint8_t slot, std::span<const std::byte> key,
                                                std::span<const std::byte> value, bool compact, std::uint32_t key_hash,
                                                std::uint8_t meta_type, std::span<const std::byte> prefix,
                                                bool retry) noexcept {
  // `prefix` (0 or 1 byte: a typed value's tag, plain stores only) goes
  // before `value` in the value field; sealed stores frame the tag with the
  // value instead.
  const std::uint8_t key_field = key.empty() ? meta_type : static_cast<std::uint8_t>(key.size() - 1);
  for (;;) {
    std::span<const std::byte> body = value;
    if (sealed() && !compact) {
      // Seal into scratch B (the frame in A stays intact for a retry).
      const std::span<std::byte> b = scratch_b();
      if (value.size() > b.size() || seal_.codec->sealed_size(value.size()) > b.size()) co_return fail(Errc::too_large);
      if (!value.empty()) std::memmove(b.data(), value.data(), value.size());
      const std::size_t sealed = seal_.codec->sealed_size(value.size());
      const std::uint32_t w = logfmt::pack(kind, slot, key_field, static_cast<std::uint32_t>(sealed));
      std::array<std::byte, logfmt::full_head + max_key_size + 16> ad{};
      const std::size_t n = build_ad(ad, sectors_[head_].sequence, head_offset_, w, key);
      // (The head's key: an old-key head takes only its end slot's RETIRE.)
      FERRITE_CO_TRY(codec_for(head_)->seal(std::span<const std::byte>(ad).first(n), b, value.size()));
      body = b.first(sealed);
    }
    const std::uint32_t value_len = static_cast<std::uint32_t>(prefix.size() + body.size());
    const std::uint32_t size =
        compact ? compact_size(value_len) : full_size(static_cast<std::uint32_t>(key.size()), value_len);
    if (head_sealed_ || head_room() < size) co_return fail(Errc::no_space);  // ensure_room's job
    Status written = co_await check_blank_ahead(size);
    const std::uint32_t address = geometry_.sector_offset(head_) + head_offset_;
    if (written) {
      // The tag rides at the end of the span programmed before the value: the
      // compact head, or the key.
      std::array<std::byte, logfmt::full_head + 1> head{};
      std::array<std::byte, max_key_size + 1> key_and_prefix{};
      const std::uint32_t sequence = sectors_[head_].sequence;
      std::span<const std::byte> head_bytes;
      std::span<const std::byte> stored_key = compact ? std::span<const std::byte>{} : key;
      if (compact) {
        head[0] = static_cast<std::byte>(slot);
        std::uint32_t crc = logfmt::position_crc(sequence, head_offset_, key_hash);
        crc = crc32c(std::span<const std::byte>(head).first(1), crc);
        crc = crc32c(prefix, crc);
        crc = crc32c(body, crc);
        for (int i = 0; i < 3; ++i) head[1 + i] = static_cast<std::byte>(crc >> (8 * i));
        if (!prefix.empty()) head[logfmt::compact_head] = prefix[0];
        head_bytes = std::span<const std::byte>(head).first(logfmt::compact_head + prefix.size());
      } else {
        const std::uint32_t w = logfmt::pack(kind, slot, key_field, value_len);
        logfmt::put_le32(head.data(), w);
        std::uint32_t crc = logfmt::position_crc(sequence, head_offset_, 0);
        crc = crc32c(std::span<const std::byte>(head).first(4), crc);
        crc = crc32c(key, crc);
        crc = crc32c(prefix, crc);
        crc = crc32c(body, crc);
        logfmt::put_le32(head.data() + 4, crc);
        head_bytes = std::span<const std::byte>(head).first(logfmt::full_head);
        last_crc_ = crc;
        if (!prefix.empty()) {
          if (!key.empty()) std::memcpy(key_and_prefix.data(), key.data(), key.size());
          key_and_prefix[key.size()] = prefix[0];
          stored_key = std::span<const std::byte>(key_and_prefix).first(key.size() + 1);
        }
      }
      // The space is consumed whatever happens next: a failed program may have
      // touched it, and no unit is programmed twice.
      head_offset_ += size;
      sectors_[head_].used_bytes += size;
      written =
          co_await program_record(address, head_bytes, stored_key, body, size, none, 0, static_cast<bool>(verify_));
      if (!written) head_sealed_ = true;
      else head_end_whole_ = true;
    }
    if (written) {
      ++counters_.records_written;
      if (sealed() && head_ == seal_.last_open_sector && kind != logfmt::txn_put && kind != logfmt::txn_erase) {
        seal_.last_open_end = head_offset_;
        // The write is acknowledged only once the counter holds its position:
        // a rollback to any earlier state then reads as one (FORMAT.md §3.6).
        // A batch raises it once, after its commit.
        if (seal_.counter) FERRITE_CO_TRY(co_await seal_.counter->raise(log_position()));
      }
      co_return address;
    }
    if (!retry || (written.error() != Errc::reprogram_forbidden && written.error() != Errc::bits_not_erased))
      co_return fail(written.error());
    // The head held bytes we could not see (a weak tail after a power cut):
    // it is sealed now; write once more into a fresh sector. A value framed in
    // the scratch buffer (a sealed put) may only take a free sector, not
    // collect one: collection reuses the scratch.
    retry = false;
    const auto at_value = reinterpret_cast<std::uintptr_t>(value.data());
    const auto at_scratch = reinterpret_cast<std::uintptr_t>(seal_.scratch.data());
    const bool value_in_scratch =
        !value.empty() && at_value >= at_scratch && at_value < at_scratch + seal_.scratch.size();
    if (value_in_scratch) {
      if (free_sector_count() <= 1) co_return fail(written.error());  // put collects, frames again and retries
      FERRITE_CO_TRY(co_await open_sector());
    } else {
      const std::uint32_t on_flash =
          static_cast<std::uint32_t>(sealed() ? seal_.codec->sealed_size(value.size()) : prefix.size() + value.size());
      FERRITE_CO_TRY(co_await ensure_room(full_size(static_cast<std::uint32_t>(key.size()), on_flash), live_.total));
    }
    // A compact record is only valid next to its binding, which the new sector lacks.
    compact = false;
  }
}

std::size_t StoreEngine::build_ad(std::span<std::byte> out, std::uint32_t sequence, std::uint32_t offset, std::uint32_t w,
                           std::span<const std::byte> key) const noexcept {
  // store id | sector sequence | offset | header word | stored key
  logfmt::put_le32(out.data(), store_id_);
  logfmt::put_le32(out.data() + 4, sequence);
  logfmt::put_le32(out.data() + 8, offset);
  logfmt::put_le32(out.data() + 12, w);
  if (!key.empty()) std::memcpy(out.data() + 16, key.data(), key.size());
  return 16 + key.size();
}

Task<Status> StoreEngine::program_record(std::uint32_t address, std::span<const std::byte> head,
                                         std::span<const std::byte> key, std::span<const std::byte> value,
                                         std::uint32_t total, std::uint32_t value_from, std::uint32_t value_size,
                                         bool verify) noexcept {
  const std::uint32_t from_flash = value_from != none ? value_size : 0;
  const std::uint32_t content = static_cast<std::uint32_t>(head.size() + key.size() + value.size()) + from_flash;
  // Chunks are whole units, composed in buffer_ (a multiple of every unit).
  std::uint32_t done = 0;
  while (done < total) {
    const std::uint32_t n = std::min<std::uint32_t>(total - done, static_cast<std::uint32_t>(buffer_.size()));
    std::uint32_t i = 0;
    while (i < n) {
      const std::uint32_t at = done + i;
      if (at >= content) {
        buffer_[i++] = geometry_.erased_byte();
        continue;
      }
      if (at < head.size()) {
        buffer_[i++] = head[at];
        continue;
      }
      std::uint32_t rel = at - static_cast<std::uint32_t>(head.size());
      if (rel < key.size()) {
        buffer_[i++] = key[rel];
        continue;
      }
      rel -= static_cast<std::uint32_t>(key.size());
      if (value_from == none) {
        buffer_[i++] = value[rel];
        continue;
      }
      // Pull as much of the flash-resident value as fits in this chunk.
      const std::uint32_t take = std::min(n - i, value_size - rel);
      FERRITE_CO_TRY(co_await flash_.read(value_from + rel, std::span<std::byte>(buffer_).subspan(i, take)));
      i += take;
    }
    FERRITE_CO_TRY(co_await flash_.program(address + done, std::span<const std::byte>(buffer_).first(n)));
    done += n;
  }
  if (!verify_writes_built || !verify) co_return Status{};
  // Compare what is on flash with what was meant, one small window at a time.
  std::array<std::byte, 32> window{};
  std::array<std::byte, 32> expected{};
  const std::uint32_t length = content;
  for (done = 0; done < length;) {
    const std::uint32_t n = std::min<std::uint32_t>(length - done, static_cast<std::uint32_t>(window.size()));
    FERRITE_CO_TRY(co_await flash_.read(address + done, std::span<std::byte>(window).first(n)));
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t at = done + i;
      if (at < head.size()) {
        expected[i] = head[at];
      } else if (at - head.size() < key.size()) {
        expected[i] = key[at - head.size()];
      } else if (value_from == none) {
        expected[i] = value[at - head.size() - key.size()];
      } else {
        const std::uint32_t rel = at - static_cast<std::uint32_t>(head.size() + key.size());
        FERRITE_CO_TRY(co_await flash_.read(value_from + rel, std::span<std::byte>(expected).subspan(i, 1)));
      }
    }
    if (std::memcmp(window.data(), expected.data(), n) != 0) co_return fail(Errc::io);
    done += n;
  }
  co_return Status{};
}

}  // namespace ferrite
