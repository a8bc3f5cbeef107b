// Store construction, format, mount and replay (docs/FORMAT.md §2, §5).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {

std::uint32_t align_up(std::uint32_t n, std::uint32_t unit) noexcept { return (n + unit - 1) / unit * unit; }

std::uint32_t geometry_fingerprint(const Geometry& g) noexcept {
  std::uint32_t crc = 0;
  for (const SectorRun& r : g.runs()) {
    std::array<std::byte, 8> b{};
    logfmt::put_le32(b.data(), r.count);
    logfmt::put_le32(b.data() + 4, r.size);
    crc = crc32c(b, crc);
  }
  return crc;
}

struct Header {
  std::uint32_t sequence = 0;
  std::uint32_t tail = 0;
  std::uint32_t erase_count = 0;
  std::uint32_t store_id = 0;
  std::uint32_t geometry = 0;
  std::uint8_t flags = 0;
  std::uint8_t version = 0;
};

enum class HeaderKind : std::uint8_t { valid, blank, garbage, foreign };

std::uint32_t marker_check(std::uint32_t sequence, std::uint32_t store_id) noexcept {
  std::array<std::byte, 8> b{};
  logfmt::put_le32(b.data(), sequence);
  logfmt::put_le32(b.data() + 4, store_id);
  return crc32c(b);
}

}  // namespace

StoreEngine::StoreEngine(Flash flash, StoreConfig config) noexcept
    : flash_(flash),
      geometry_(flash_.geometry()),
      seal_(config),
      index_(config.index, config.order),
      sectors_(config.sectors),
      mutex_(flash.loop()),
      compact_(config.compact_records && !config.index.empty() && !config.codec),
      verify_(config.verify_writes),
      summaries_(config.sector_summaries) {
  unit_ = geometry_.program_unit();
  marker_offset_ = align_up(logfmt::header_bytes + (sealed() ? crypto_block_size : 0), unit_);
  header_size_ = marker_offset_ + align_up(logfmt::marker_bytes, unit_);
  const std::uint32_t overhead = sealed() ? seal_.codec->overhead() : 0;
  seal_.open_size = sealed() ? full_size(0, static_cast<std::uint32_t>(seal_.codec->sealed_size(logfmt::open_bytes))) : 0;
  seal_.end_slot = sealed() ? full_size(0, static_cast<std::uint32_t>(seal_.codec->sealed_size(4))) : 0;
  codec_wanted_ = config.codec != nullptr;
  counter_wanted_ = config.counter != nullptr;
  geometry_crc_ = geometry_fingerprint(geometry_);
  // A record must fit in the smallest sector with room to spare for garbage
  // collection: cap records at a third of the smallest sector's payload.
  const std::uint32_t payload = geometry_.smallest_sector() - header_size_ - seal_.open_size - seal_.end_slot;
  const std::uint32_t geometry_cap = payload / 3 > logfmt::full_head + max_key_size
                                         ? payload / 3 - logfmt::full_head - max_key_size
                                         : 0;
  value_limit_ = std::min<std::uint32_t>({config.max_value_size, static_cast<std::uint32_t>(max_value_size_limit) - overhead,
                                          geometry_cap > overhead ? geometry_cap - overhead : 0});
  asked_value_size_ = config.max_value_size;
  slack_ = full_size(max_key_size, value_limit_ + overhead);
  if (sectors_.size() >= geometry_.sector_count()) sectors_ = sectors_.first(geometry_.sector_count());
  config_ok_ = config_fault().check <= config_clamped;
}

std::uint32_t StoreEngine::geometry_value_limit() const noexcept {
  // A record may take a third of the smallest sector's payload (so garbage
  // collection always has room), less its header and the longest key.
  const std::uint32_t overhead = sealed() ? seal_.codec->overhead() : 0;
  const std::uint32_t smallest = geometry_.smallest_sector();
  const std::uint32_t reserved = header_size_ + seal_.open_size + seal_.end_slot;
  const std::uint32_t payload = smallest > reserved ? smallest - reserved : 0;
  const std::uint32_t cap = payload / 3 > logfmt::full_head + max_key_size ? payload / 3 - logfmt::full_head - max_key_size : 0;
  return cap > overhead ? cap - overhead : 0;
}

std::uint32_t StoreEngine::full_size(std::uint32_t key_size, std::uint32_t value_size) const noexcept {
  return align_up(logfmt::full_head + key_size + value_size, unit_);
}
std::uint32_t StoreEngine::compact_size(std::uint32_t value_size) const noexcept {
  return align_up(logfmt::compact_head + value_size, unit_);
}
std::uint32_t StoreEngine::payload_of(std::uint32_t sector) const noexcept {
  return geometry_.sector_size(sector) - header_size_ - seal_.open_size - seal_.end_slot;
}

void StoreEngine::reset_state() noexcept {
  mounted_ = false;
  head_sealed_ = false;
  head_end_whole_ = false;
  summary_.sector = none;
  skip_from_ = none;
  blank_to_ = 0;
  index_.clear();
  live_.total = 0;
  live_.sizes.clear();
  tail_ = 0;
  head_ = 0;
  head_offset_ = 0;
  next_sequence_ = 1;
  gc_.victim = none;
  retired_end_ = 0;
  seal_.have_previous_block = false;
  counters_ = Counters{};
  for (SectorInfo& s : sectors_) s = SectorInfo{};
  seal_.authenticating = false;
  seal_.last_open_sector = none;
  seal_.last_open_sequence = 0;
  seal_.last_open_end = 0;
  seal_.tamper_pending = 0;
}

void Store::unmount() noexcept {
  // Decrypted values pass through the scratch buffer: none stays behind.
  if (sealed() && seal_.scratch.size() > 2 * crypto_block_size) seal_.codec->scrub(scratch_values());
  seal_.scratch_used = 0;
  reset_state();
}

std::size_t Store::ram_bytes() const noexcept {
  return sizeof(Store) + index_.storage_bytes() + sectors_.size_bytes();
}

namespace {

HeaderKind parse_header(std::span<const std::byte> b, const Geometry& g, std::uint32_t geometry_crc,
                        Header& out) noexcept {
  bool blank = true;
  for (std::byte x : b) blank = blank && x == g.erased_byte();
  if (blank) return HeaderKind::blank;
  if (logfmt::get_le32(b.data()) != logfmt::magic) return HeaderKind::garbage;
  // A sealed store's header crc also covers its crypto block, so a header
  // whose block was torn off by a power cut is not a header.
  const bool sealed = (static_cast<std::uint8_t>(b[7]) & 2u) != 0;
  std::uint32_t crc = crc32c(b.first(28));
  if (sealed) crc = crc32c(b.subspan(logfmt::header_bytes, crypto_block_size), crc);
  if (crc != logfmt::get_le32(b.data() + 28)) return HeaderKind::garbage;
  const auto unit_shift = static_cast<std::uint8_t>(b[5]);
  // Version 2 is a sealed store's with an authenticated log; a version-1
  // sealed header (0.2's) is read so that mount can say why it refuses it.
  const auto version = static_cast<std::uint8_t>(b[4]);
  if ((version != logfmt::version && version != logfmt::sealed_version) || (version == logfmt::sealed_version && !sealed) ||
      unit_shift > 5 ||
      (1u << unit_shift) != g.program_unit() || b[6] != g.erased_byte())
    return HeaderKind::foreign;
  out.version = version;
  out.flags = static_cast<std::uint8_t>(b[7]);
  out.sequence = logfmt::get_le32(b.data() + 8);
  out.tail = logfmt::get_le32(b.data() + 12);
  out.erase_count = logfmt::get_le32(b.data() + 16);
  out.store_id = logfmt::get_le32(b.data() + 20);
  out.geometry = logfmt::get_le32(b.data() + 24);
  if (out.geometry != geometry_crc) return HeaderKind::foreign;
  // A sector is never opened with a tail above its own sequence, and
  // sequences stop well short of wrapping (FORMAT.md §2).
  if (out.tail > out.sequence || out.sequence == 0 || out.sequence >= logfmt::max_sequence) return HeaderKind::garbage;
  return HeaderKind::valid;
}

}  // namespace

Task<Status> Store::format(FormatOptions options) noexcept {
  auto guard = co_await mutex_.lock();
  if (mounted_) {
    // Formatting discards every key: only an explicit unmount() may lead to it.
    refuse(Refused::mounted);
    co_return fail(Errc::already_mounted);
  }
  reset_state();
  if (!config_ok_) {
    refuse(Refused::config);
    co_return fail(Errc::invalid_argument);
  }
  // Find the highest sequence and every store id in the region, so that the
  // new store outranks and differs from whatever was there.
  std::uint32_t top_sequence = 0, top_id = 0, top_erase = 0;
  std::array<std::byte, logfmt::header_bytes + crypto_block_size> raw{};
  for (std::uint32_t s = 0; s < geometry_.sector_count(); ++s) {
    FERRITE_CO_TRY(co_await flash_.read(geometry_.sector_offset(s), raw));
    Header h;
    if (parse_header(raw, geometry_, geometry_crc_, h) == HeaderKind::valid) {
      top_sequence = std::max(top_sequence, h.sequence);
      top_id = std::max(top_id, h.store_id);
      sectors_[s].erase_count = h.erase_count;
      top_erase = std::max(top_erase, h.erase_count);
    }
  }
  for (SectorInfo& s : sectors_)
    if (s.erase_count == 0) s.erase_count = top_erase;
  if (seal_.counter) {
    // A new sealed store starts beyond every position the rollback counter
    // has seen, or its first mount would read as a rollback.
    FERRITE_CO_TRY_ASSIGN(const std::uint64_t trusted, co_await seal_.counter->read());
    top_sequence = std::max(top_sequence, static_cast<std::uint32_t>(trusted >> 32));
  }
  store_id_ = options.store_id != 0 ? options.store_id : top_id + 1;
  if (store_id_ == 0) store_id_ = 1;
  if (sealed()) FERRITE_CO_TRY(new_crypto_block());
  next_sequence_ = top_sequence + 1;
  tail_ = next_sequence_;
  for (SectorInfo& s : sectors_) s.state = static_cast<std::uint8_t>(SectorState::garbage);
  // The first sector becomes the head; the others are erased when needed.
  head_ = 0;
  FERRITE_CO_TRY(co_await erase_sector(0, false));
  mounted_ = true;  // open_sector writes through the mounted machinery
  index_.set_order_valid(index_.has_order());  // an empty store's permutation is complete; inserts keep it
  if (auto st = co_await open_sector_at(0); !st) {
    mounted_ = false;
    co_return st;
  }
  co_return Status{};
}

Status StoreEngine::new_crypto_block() noexcept {
  const std::span<std::byte> block = crypto_block();
  std::fill(block.begin(), block.end(), std::byte{0});
  FERRITE_TRY(seal_.codec->create_block(block.first(crypto_block_size - 4)));
  logfmt::put_le32(block.data() + crypto_block_size - 4, crc32c(block.first(crypto_block_size - 4)));
  return {};
}

Task<Status> StoreEngine::open_sector_at(std::uint32_t sector) noexcept {
  std::array<std::byte, logfmt::header_bytes> h{};
  SectorInfo& info = sectors_[sector];
  logfmt::put_le32(h.data(), logfmt::magic);
  h[4] = static_cast<std::byte>(sealed() ? logfmt::sealed_version : logfmt::version);
  h[5] = static_cast<std::byte>(std::countr_zero(unit_));
  h[6] = geometry_.erased_byte();
  // The sequence is used up even if the program fails: a header that
  // reports failure yet lands must never share its number with the next.
  const std::uint32_t sequence = next_sequence_++;
  // This session programmed the head's last record whole: mount need not
  // read it back for weak bits (FORMAT.md §2, flag bit 3). (A failed
  // program seals the head, so a head that is not sealed ends with it.)
  const bool previous_whole = head_end_whole_ && !head_sealed_ && sectors_[head_].sequence + 1 == sequence;
  // No two live keys share a hash, and no write under way makes two share
  // one: mount may match this sector's records by hash alone (bit 4).
  info.unique_hashes = indexed() && !sealed() && !sharing_hash_ && index_.hashes_unique() ? 1 : 0;
  // The head before it is summarized by the next maintain() (FORMAT.md §5.2).
  const std::uint32_t previous =
      summaries_ && !sealed() && indexed() && sectors_[head_].sequence + 1 == sequence ? head_ : none;
  h[7] = static_cast<std::byte>((compact_ ? logfmt::compact_records : 0) |
                                (sealed() ? logfmt::sealed | logfmt::authenticated_log : 0) |
                                (previous_whole ? logfmt::previous_whole : 0) |
                                (info.unique_hashes ? logfmt::unique_hashes : 0) |
                                (previous != none ? logfmt::summary_follows : 0));
  logfmt::put_le32(h.data() + 8, sequence);
  logfmt::put_le32(h.data() + 12, tail_);
  logfmt::put_le32(h.data() + 16, info.erase_count);
  logfmt::put_le32(h.data() + 20, store_id_);
  logfmt::put_le32(h.data() + 24, geometry_crc_);
  std::uint32_t header_crc = crc32c(std::span<const std::byte>(h).first(28));
  if (sealed()) header_crc = crc32c(crypto_block(), header_crc);
  logfmt::put_le32(h.data() + 28, header_crc);
  // Opening consumes the sector even if the program fails: it is no longer
  // vouched-for erased.
  info.state = static_cast<std::uint8_t>(SectorState::garbage);
  const std::span<const std::byte> block =
      sealed() ? std::span<const std::byte>(crypto_block()) : std::span<const std::byte>{};
  FERRITE_CO_TRY(co_await program_record(geometry_.sector_offset(sector), h, block, {}, marker_offset_));
  info.state = static_cast<std::uint8_t>(SectorState::live);
  info.old_key = 0;
  head_end_whole_ = false;
  if constexpr (changes_built) info.skips = 0;
  info.sequence = sequence;
  if constexpr (summaries_built) {
    info.vouches_previous = previous_whole ? 1 : 0;  // the summary's writer reads it (FORMAT.md §5.2)
    info.summary_follows = previous != none ? 1 : 0;
    summary_.sector = previous;
  }
  info.live_bytes = 0;
  info.used_bytes = 0;
  head_ = sector;
  head_offset_ = header_size_;
  blank_to_ = records_end(sector);  // erased by this session, or checked whole before it was opened
  head_sealed_ = false;
  skip_from_ = none;
  if (sealed()) FERRITE_CO_TRY(co_await write_open_record());
  co_return Status{};
}

Task<Status> StoreEngine::write_open_record() noexcept {
  // The first record of every sector of a sealed store (FORMAT.md §3.6):
  // the tail, and the end of the newest sector that began with one, which
  // no longer changes. Mount checks that sector's end against it, so no
  // record can be cut off a sector that is not the head.
  std::array<std::byte, logfmt::open_bytes> open{};
  const bool chained = seal_.last_open_sector != none;
  logfmt::put_le32(open.data(), tail_);
  logfmt::put_le32(open.data() + 4, chained ? seal_.last_open_sequence : 0);
  logfmt::put_le32(open.data() + 8, chained ? seal_.last_open_end : 0);
  FERRITE_CO_TRY(co_await append(logfmt::meta, 0, {}, open, false, 0, logfmt::open));
  seal_.last_open_sector = head_;
  seal_.last_open_sequence = sectors_[head_].sequence;
  seal_.last_open_end = head_offset_;
  if (seal_.counter) FERRITE_CO_TRY(co_await seal_.counter->raise(log_position()));
  co_return Status{};
}

Task<Status> Store::mount() noexcept {
  auto guard = co_await mutex_.lock();
  if (mounted_) {
    refuse(Refused::mounted);
    co_return fail(Errc::already_mounted);  // the mounted state stays as it is
  }
  MountState state;
  struct MountLease {
    Store& store;
    ~MountLease() {
      store.mount_ = nullptr;
      if (!store.mounted_) store.reset_state();  // a failed mount leaves nothing half-built
    }
  } lease{*this};
  mount_ = &state;
  // One pass per iteration; a pass ends in co_return unless it must replay again.
  for (;;) {
    reset_state();
    state.replay_again = false;
    state.recount = false;
    state.sealed = {};
    if (!config_ok_) {
      refuse(Refused::config);
      co_return fail(Errc::invalid_argument);
    }
    const std::uint32_t n = geometry_.sector_count();
    std::array<std::byte, logfmt::header_bytes + crypto_block_size> raw{};
    std::array<std::byte, logfmt::marker_bytes> marker{};
    std::uint32_t best_sequence = 0, known_erase_max = 0;
    std::uint32_t marker_tail = 0;  // sealed: what retire markers claim, checked against the authenticated tail
    std::uint8_t best_flags = 0, best_version = 0;
    bool any_valid = false, all_blank = true;
    // Pass 1: which store owns the region (highest sequence), its tail. Each
    // sector's header is read once: a plain store's header units end with its
    // retire marker, so when every valid header names one store (the usual
    // case) this pass also classifies every sector and pass 2 reads nothing.
    const std::uint32_t header_read = std::min<std::uint32_t>(header_size_, static_cast<std::uint32_t>(raw.size()));
    std::uint32_t first_id = 0, plain_tail = 0, damaged = 0;
    bool one_store = true;
    for (std::uint32_t s = 0; s < n; ++s) {
      const std::uint32_t at = geometry_.sector_offset(s);
      FERRITE_CO_TRY(co_await flash_.read(at, std::span<std::byte>(raw).first(header_read)));
      bool blank = true;
      for (std::uint32_t i = 0; i < header_read; ++i) blank = blank && raw[i] == geometry_.erased_byte();
      const bool sealed_flag = logfmt::get_le32(raw.data()) == logfmt::magic && (static_cast<std::uint8_t>(raw[7]) & 2u);
      std::uint32_t got = header_read;
      if ((blank || sealed_flag) && got < raw.size()) {
        // A blank header is one whose first record units read erased too (a
        // torn erase can leave them otherwise); a sealed header's crc covers
        // its crypto block.
        FERRITE_CO_TRY(co_await flash_.read(at + got, std::span<std::byte>(raw).subspan(got)));
        got = static_cast<std::uint32_t>(raw.size());
      }
      Header h;
      const HeaderKind k = parse_header(std::span<const std::byte>(raw).first(got), geometry_, geometry_crc_, h);
      if (k != HeaderKind::blank) all_blank = false;
      SectorInfo& info = sectors_[s];
      info.state = static_cast<std::uint8_t>(k == HeaderKind::valid   ? SectorState::live
                                             : k == HeaderKind::blank ? SectorState::erased
                                                                      : SectorState::garbage);
      info.sequence = k == HeaderKind::valid ? h.sequence : 0;
      info.vouches_previous = k == HeaderKind::valid && (h.flags & logfmt::previous_whole) ? 1 : 0;
      // (Only plain indexed stores write bit 4; mount believes it nowhere else.)
      info.unique_hashes =
          k == HeaderKind::valid && (h.flags & logfmt::unique_hashes) && indexed() && !sealed() ? 1 : 0;
      info.matched_by_hash = 0;
      if constexpr (summaries_built)
        info.summary_follows = k == HeaderKind::valid && (h.flags & logfmt::summary_follows) ? 1 : 0;
      damaged += k == HeaderKind::garbage;
      if (k == HeaderKind::valid) {
        if (!any_valid) first_id = h.store_id;
        one_store = one_store && h.store_id == first_id;
        info.erase_count = h.erase_count;
        known_erase_max = std::max(known_erase_max, h.erase_count);
        plain_tail = std::max(plain_tail, h.tail);
        if (header_read >= marker_offset_ + logfmt::marker_bytes &&
            logfmt::get_le32(raw.data() + marker_offset_) == logfmt::marker_magic &&
            logfmt::get_le32(raw.data() + marker_offset_ + 4) == marker_check(h.sequence, h.store_id))
          plain_tail = std::max(plain_tail, h.sequence + 1);
      }
      if (k == HeaderKind::valid && (h.flags & 2u) && sealed() && (!any_valid || h.sequence > best_sequence))
        std::memcpy(crypto_block().data(), raw.data() + logfmt::header_bytes, crypto_block_size);
      if (k == HeaderKind::valid && !indexed() && (h.flags & 1u)) co_return fail(Errc::unsupported);
      if (k == HeaderKind::valid && (!any_valid || h.sequence > best_sequence)) {
        best_sequence = h.sequence;
        best_flags = h.flags;
        best_version = h.version;
        store_id_ = h.store_id;
        any_valid = true;
      }
    }
    if (!any_valid) co_return fail(all_blank ? Errc::not_formatted : Errc::foreign_format);
    compact_ = compact_ && (best_flags & 1u);
    const bool image_sealed = (best_flags & logfmt::sealed) != 0;
    if (image_sealed && !sealed()) co_return fail(Errc::wrong_key);          // sealed store, no key given
    if (!image_sealed && sealed()) co_return fail(Errc::invalid_argument);   // a key for a plain store
    if (image_sealed && (best_version != logfmt::sealed_version || !(best_flags & logfmt::authenticated_log))) {
      // Sealed before logs were authenticated (and nonces salted): nothing in
      // it can be trusted to be current, and clearing the flag is no downgrade.
      tampering(TamperFinding::legacy, best_sequence, 0);
      co_return fail(Errc::unsupported);
    }
    if (sealed()) {
      const std::span<const std::byte> body = crypto_block().first(crypto_block_size - 4);
      if (crc32c(body) != logfmt::get_le32(crypto_block().data() + crypto_block_size - 4)) co_return fail(Errc::corrupt);
      if (auto loaded = seal_.codec->load_block(body); !loaded) {
        if (loaded.error() != Errc::wrong_key || !seal_.previous_codec) co_return loaded;
        // Hidden names are hashed with a subkey of the store key: under the
        // new key no name would find its records again (docs/FORMAT.md §2.2).
        if (seal_.codec->hides_keys()) co_return fail(Errc::unsupported);
        // The newest sector is still under the previous key: a rotation
        // starts here; sectors opened from now on carry a new block.
        FERRITE_CO_TRY(seal_.previous_codec->load_block(body));
        std::memcpy(previous_block().data(), crypto_block().data(), crypto_block_size);
        seal_.have_previous_block = true;
        FERRITE_CO_TRY(new_crypto_block());
      }
    }
    // Pass 2: classify against that store (needed only when several stores
    // share the region, or for a sealed store, whose sectors each carry a key).
    const bool classified = one_store && !sealed() && header_read >= marker_offset_ + logfmt::marker_bytes;
    if (classified) {
      tail_ = plain_tail;
      counters_.damaged_sectors += damaged;
    } else {
      known_erase_max = 0;  // counted again over the store's own sectors
    }
    for (std::uint32_t s = 0; s < n && !classified; ++s) {
      FERRITE_CO_TRY(co_await flash_.read(geometry_.sector_offset(s), raw));
      Header h;
      const HeaderKind k = parse_header(raw, geometry_, geometry_crc_, h);
      SectorInfo& info = sectors_[s];
      if (k == HeaderKind::valid && h.store_id == store_id_) {
        info.sequence = h.sequence;
        info.erase_count = h.erase_count;
        info.state = static_cast<std::uint8_t>(SectorState::live);
        // A sealed store takes its tail from authenticated records only (the
        // newest OPEN, then RETIREs): header fields and markers have a crc.
        if (!sealed()) tail_ = std::max(tail_, h.tail);
        known_erase_max = std::max(known_erase_max, h.erase_count);
        if (sealed()) {
          // Which key sealed this sector: the current one, or the one being rotated out.
          const std::span<const std::byte> block(raw.data() + logfmt::header_bytes, crypto_block_size);
          const bool current = std::memcmp(block.data(), crypto_block().data(), crypto_block_size) == 0;
          if (!current && !seal_.have_previous_block && seal_.previous_codec) {
            const auto body = block.first(crypto_block_size - 4);
            if (crc32c(body) != logfmt::get_le32(block.data() + crypto_block_size - 4)) co_return fail(Errc::corrupt);
            FERRITE_CO_TRY(seal_.previous_codec->load_block(body));
            std::memcpy(previous_block().data(), block.data(), crypto_block_size);
            seal_.have_previous_block = true;
          }
          if (!current && seal_.have_previous_block && std::memcmp(block.data(), previous_block().data(), crypto_block_size) != 0)
            co_return fail(Errc::wrong_key);  // a third key: rotations must finish one at a time
          info.old_key = current ? 0 : 1;
        }
        // A retire marker says this sector and every older one are retired,
        // without reading the log (FORMAT.md §2.1).
        FERRITE_CO_TRY(co_await flash_.read(geometry_.sector_offset(s) + marker_offset_, marker));
        if (logfmt::get_le32(marker.data()) == logfmt::marker_magic &&
            logfmt::get_le32(marker.data() + 4) == retire_marker_check(h.sequence)) {
          if (sealed()) marker_tail = std::max(marker_tail, h.sequence + 1);
          else tail_ = std::max(tail_, h.sequence + 1);
        }
      } else {
        // Remember blank headers as "erased?" candidates; an ERASED record in the
        // live log confirms them during replay. A header that is neither blank
        // nor valid is reported: a torn erase or open leaves one, and so does
        // damage to a live sector, which nothing else can tell apart.
        info.state = static_cast<std::uint8_t>(k == HeaderKind::blank ? SectorState::erased : SectorState::garbage);
        if (k == HeaderKind::garbage) ++counters_.damaged_sectors;
        info.sequence = 0;
      }
    }
    for (SectorInfo& info : sectors_)
      if (info.state != static_cast<std::uint8_t>(SectorState::live)) info.erase_count = known_erase_max;

    if (sealed()) {
      // Every opened sector takes a new sequence number, even one whose header
      // program failed: two headers with one number are not the engine's.
      for (std::uint32_t a = 0; a < n; ++a)
        for (std::uint32_t b = a + 1; b < n; ++b)
          if (sectors_[a].state == static_cast<std::uint8_t>(SectorState::live) &&
              sectors_[b].state == static_cast<std::uint8_t>(SectorState::live) &&
              sectors_[a].sequence == sectors_[b].sequence) {
            tampering(TamperFinding::duplicate, sectors_[a].sequence, 2);
            co_return fail(Errc::tampered);
          }
      FERRITE_CO_TRY(co_await find_sealed_tail());
    }
    // Pass 3: replay live sectors in sequence order. A blank-header sector only
    // stays "erased" when the log vouches for it.
    seal_.authenticating = sealed();
    struct AuthenticatingLease {
      Store& store;
      ~AuthenticatingLease() { store.seal_.authenticating = false; }
    } authenticating{*this};
    std::uint32_t last = 0;
    bool have_head = false;
    Status replayed;
    for (;;) {
      std::uint32_t next = none, next_seq = 0;
      for (std::uint32_t s = 0; s < n; ++s) {
        const SectorInfo& info = sectors_[s];
        if (info.state != static_cast<std::uint8_t>(SectorState::live)) continue;
        if (info.sequence < tail_) continue;
        if (have_head && info.sequence <= last) continue;
        if (sealed() && (info.sequence < marker_tail || (info.old_key && !seal_.previous_codec))) {
          // Not read: a retire marker (a crc, forgeable) says it is retired, or
          // it is under a key not given. The authenticated tail must agree
          // once the replay is over (check_sealed_log; wrong_key below).
          if (!info.old_key) state.sealed.skipped_max = std::max(state.sealed.skipped_max, info.sequence);
          continue;
        }
        if (next == none || info.sequence < next_seq) {
          next = s;
          next_seq = info.sequence;
        }
      }
      if (next == none) break;
      head_ = next;
      last = next_seq;
      have_head = true;
      state.windowed = true;
      state.window_address = none;
      replayed = co_await replay_sector(next);
      state.windowed = false;
      state.window_address = none;
      if (!replayed) break;
    }
    // A SKIP voided bytes this pass had applied (they verified by chance):
    // once more, stepping over them. Each pass voids one more range.
    if (!replayed && state.replay_again) continue;
    if (!replayed) co_return replayed;
    // Every sector retired (or no header left standing): there is no head to
    // continue from, so the image is damaged, not empty.
    if (!have_head || sectors_[head_].sequence < tail_) co_return fail(Errc::corrupt);
    // Sectors under another key need it only while they are live: those a
    // finished rotation retired (by marker or by a RETIRE met in the replay)
    // are never read again.
    for (const SectorInfo& info : sectors_)
      if (info.state == static_cast<std::uint8_t>(SectorState::live) && info.sequence >= tail_ && info.old_key &&
          !seal_.have_previous_block)
        co_return fail(Errc::wrong_key);
    if (sealed()) {
      FERRITE_CO_TRY(check_sealed_log());
      if (seal_.counter) {
        FERRITE_CO_TRY_ASSIGN(const std::uint64_t trusted, co_await seal_.counter->read());
        FERRITE_CO_TRY(check_rollback(trusted));
        // Ahead of the counter by the write a power cut caught between its
        // program and the raise: that write was this store's.
        FERRITE_CO_TRY(co_await seal_.counter->raise(log_position()));
      }
    }
    for (std::uint32_t s = 0; s < n; ++s) {
      SectorInfo& info = sectors_[s];
      if (info.state == static_cast<std::uint8_t>(SectorState::live) && info.sequence < tail_)
        info.state = static_cast<std::uint8_t>(SectorState::retired);
      if (info.state == static_cast<std::uint8_t>(SectorState::erased) && !info.vouched)
        info.state = static_cast<std::uint8_t>(SectorState::garbage);
    }
    next_sequence_ = sectors_[head_].sequence + 1;
    // During a key rotation nothing new may be sealed into a sector whose
    // header names the old key: new writes start a new-key sector.
    if (sealed() && sectors_[head_].old_key) head_sealed_ = true;
    // A head with no record yet may be the sector a power cut caught while its
    // header was programmed: weak bits that read right now may read otherwise
    // at the next mount, and drop everything written after it. Nothing is
    // written behind such a header; it holds nothing, so open_sector may erase
    // and reuse it when no other sector is free.
    if (sectors_[head_].used_bytes == 0) head_sealed_ = true;
    // The writer goes on in the head as its header says, unless replay met
    // a SHARED record or damage there, or the keys it found share a hash.
    if (!index_.hashes_unique()) sectors_[head_].unique_hashes = 0;
    // A record matched by hash alone may have superseded a stale entry of
    // another key length (FORMAT.md §5 step 3): only in a retired sector.
    for (const SectorInfo& info : sectors_)
      if (info.matched_by_hash && info.sequence < tail_) state.recount = true;
    // Live bytes per sector: what GC must copy when that sector is retired.
    // The same pass builds the key-order permutation when the store keeps one
    // (FORMAT.md §7: each key read once, placed by binary search).
    // (Replay kept them already unless replay_counts_live() says otherwise.)
    if (!replay_counts_live() || state.recount) {
      live_.total = 0;
      live_.sizes.clear();
      for (SectorInfo& info : sectors_) info.live_bytes = 0;
      for (std::size_t i = 0; i < index_.size(); ++i) {
        Entry e;
        FERRITE_CO_TRY(co_await load_entry(i, e));
        count_live(e, true);
        if (index_.has_order()) FERRITE_CO_TRY(co_await order_place(i, e, i));
      }
    }
    index_.set_order_valid(index_.has_order());
    // Every sector live: a collection was under way when the power went (only
    // collection takes the last free sector). It goes on with the same victim,
    // the oldest sector, so that writes lag behind it no more than before
    // (ensure_room): otherwise they could fill the head with the victim's live
    // records still to copy and nowhere to copy them.
    if (free_sector_count() == 0 && oldest_live() != head_) gc_.victim = oldest_live();
    mounted_ = true;
    co_return Status{};
  }
}

Task<Status> StoreEngine::replay_sector(std::uint32_t sector) noexcept {
  const std::uint32_t end = records_end(sector);
  std::uint32_t offset = header_size_;
  std::uint32_t good_end = header_size_;  // just past the last verified record
  std::uint32_t last_at = none;           // where the last verified record (or batch) starts
  std::uint32_t blank_to = end;           // checked erased up to here after the log's end
  // The last record applied on its own (not a batch's, not a SKIP) when it
  // ends at good_end: its start, checksum and size (none: another kind).
  std::uint32_t single_at = none, single_crc = 0, single_size = 0;
  bool in_bad_region = false;
  if constexpr (summaries_built) {
    // A summary in the next sector names a prefix of this one's records (FORMAT.md §5.2).
    FERRITE_CO_TRY(co_await replay_summary(sector, offset, last_at));
    good_end = offset;
  }
  // Sealed stores: damage before a verified record is tampering, never a
  // power cut (which only ever tears a sector's last record).
  const auto after_damage = [&](std::uint32_t at) -> Status {
    if (!sealed() || !in_bad_region) return {};
    tampering(TamperFinding::hole, sectors_[sector].sequence, at);
    return fail(Errc::tampered);
  };
  // A committed batch is walked to its commit first; then its records are
  // applied one by one like single records, and the batch counts as one write.
  constexpr bool batches = FERRITE_WITH_TRANSACTIONS != 0;
  std::uint32_t batch_left = 0, batch_at = 0, batch_next = 0;
  while (offset < end) {
    const bool in_batch = batches && batch_left > 0;
    if (!in_batch) {
      const VoidRange* voided = nullptr;
      for (std::uint8_t i = 0; i < mount_->voided_count; ++i) {
        const VoidRange& r = mount_->voided[i];
        if (r.sequence == sectors_[sector].sequence && offset >= r.from && offset < r.to) voided = &r;
      }
      if (voided) {
        // Bytes a SKIP voids: damage, whatever they read as.
        in_bad_region = true;
        offset = voided->to;
        continue;
      }
    }
    LogRecordRead rec;
    rec.status = co_await read_record(sector, offset, end - offset, rec.record);
    if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
    if (in_batch) {
      if (!rec) co_return fail(rec.error());
      rec.record.kind = rec->kind == logfmt::txn_put ? logfmt::put : logfmt::erase;
    }
    // A SKIP's `from`, or none (FORMAT.md §3.3).
    const std::uint32_t from = rec ? voided_from(*rec) : none;
    const bool skip = from != none;
    if (!in_batch) {
      if (!rec && seal_.auth_failed) {
        // Framed and checksummed right, but not by the key: noted, skipped,
        // and tampering unless a TAMPERED record later acknowledges it.
        FERRITE_CO_TRY(after_damage(offset));
        FERRITE_CO_TRY(note_failure(sector, offset));
        last_at = offset;
        single_at = none;
        offset += rec->size;
        good_end = offset;
        continue;
      }
      if (rec && !rec->blank && logfmt::is_txn(rec->kind)) {
        if (!indexed()) co_return fail(Errc::unsupported);  // batches need the index to replay
#if !FERRITE_WITH_TRANSACTIONS
        refuse(Refused::batch_record, sectors_[sector].sequence, offset);
        co_return fail(Errc::unsupported);  // a build without transactions replays no batch
#else
        FERRITE_CO_TRY_ASSIGN(const TxnScan scan, co_await walk_batch(sector, offset, end, true));
        if (scan.committed) {
          // Its records are applied from here on, then the replay goes on after its commit.
          batch_left = scan.count;
          batch_at = offset;
          batch_next = scan.next;
          continue;
        }
        // A batch without its commit: invisible, and nothing may follow it.
        in_bad_region = true;
        offset = std::max(scan.next, offset + unit_);
        continue;
#endif
      }
      if (rec && !rec->blank && (!in_bad_region || skip)) {
        // The last record before the blank tail may be the one a power cut
        // interrupted, with weak bits that read right only by chance: it must
        // read back identically several times before it counts.
        // (Is the unit after it erased, or the sector's end?)
        const std::uint32_t after = offset + rec->size;
        const std::uint32_t probe = after < end ? std::min<std::uint32_t>({unit_, end - after, 8}) : 0;
        const std::span<std::byte> next_unit = std::span<std::byte>(buffer_).first(probe);
        if (probe > 0) FERRITE_CO_TRY(co_await read_bytes(geometry_.sector_offset(sector) + after, next_unit));
        if (reads_erased(next_unit) && !ends_whole(sector)) {
          // Re-read into the same storage: a stable record reads back as itself.
          FERRITE_CO_TRY_ASSIGN(const bool stable,
                                co_await reads_back_stably(sector, offset, rec->stored_crc, rec->size, rec.record));
          if (!stable) rec.status = fail(Errc::corrupt);
        }
      }
      if (rec && rec->blank && in_bad_region) {
        // Blank units inside damage: a record may follow (a SKIP closing a
        // torn region lies past the last unit the tear reached, wherever that
        // is), so look as far as the sector's end for the next written unit.
        FERRITE_CO_TRY_ASSIGN(const std::uint32_t next, co_await first_written_unit(sector, offset, end));
        if (next >= end) break;
        // (A unit whose leading bytes read erased and the rest not is damage too.)
        offset = next > offset ? next : offset + unit_;
        continue;
      }
      if (rec && rec->blank) {
        // The end of the log in this sector, or a torn write whose first unit
        // reads erased. A cut tears only the request in flight, which starts at
        // the record (FORMAT.md §5, step 5): its units lie within one record of
        // the largest size from here. Units beyond that window are checked
        // before anything is programmed there (check_blank_ahead).
        const std::uint32_t window_end = std::min(end, offset + tail_window());
        auto rest = co_await check_tail_blank(sector, offset, window_end);
        if (rest) {
          blank_to = window_end;
          break;
        }
        if (rest.error() != Errc::corrupt) co_return fail(rest.error());
        in_bad_region = true;
        offset += unit_;
        continue;
      }
    }
    bool applied = false;
    if (rec) {
      // Checks and index updates are synchronous over the record read; only
      // the lookup of its key and the insertion of a new entry read flash.
      Status st;
      // After damage, or once the writer said two live keys may share a
      // hash, names are compared (FORMAT.md §5 step 3).
      if (in_bad_region || (rec->kind == logfmt::meta && rec->key_size == logfmt::shared))
        sectors_[sector].unique_hashes = 0;
      Result<bool> step = apply_record(*rec);
      if (step && *step) {
        const std::span<const std::byte> key(rec->key.data(), rec->key_size);
        Located found;
        if (!sectors_[sector].unique_hashes || !match_by_hash(*rec, found))
          st = co_await locate(key, rec->key_hash, found, false, DecayedName::adopt);
        // (A key not found leaves found.entry free to carry the new entry.)
        if (st) step = apply_keyed_record(*rec, found, found.entry);
        if (st && step && *step) st = co_await index_insert(found.entry, key);
      }
      if (st && !step) st = fail(step.error());
      if (!st && (st.error() != Errc::corrupt || mount_->replay_again || in_batch)) co_return st;
      applied = static_cast<bool>(st);
    }
    if (in_batch) {
      offset += rec->size;
      if (--batch_left == 0) {
        FERRITE_CO_TRY(after_damage(batch_at));
        if (in_bad_region) ++counters_.corrupt_records;
        in_bad_region = false;
        last_at = batch_at;  // the counter is raised after the commit
        single_at = none;
        offset = batch_next;
        good_end = offset;
      }
      continue;
    }
    if (!applied) {
      if (!in_bad_region && offset == good_end && single_at != none &&
          mount_->voided_count < mount_->voided.size()) {
        // Damage right after a record: that record may be the one a power
        // cut interrupted, its weak bits reading right by chance this time,
        // and the damage the write after it (a SKIP past it, torn in turn).
        // An earlier mount may have shown it torn, so it counts only if it
        // reads back identically several times; else this mount starts
        // again with it voided, as a SKIP would have.
        FERRITE_CO_TRY_ASSIGN(const bool stable,
                              co_await reads_back_stably(sector, single_at, single_crc, single_size, rec.record));
        if (!stable) {
          mount_->voided[mount_->voided_count++] = {sectors_[sector].sequence, single_at, good_end};
          mount_->replay_again = true;
          co_return fail(Errc::corrupt);
        }
      }
      in_bad_region = true;
      offset += unit_;
      continue;
    }
    if (skip) {
      // A SKIP voids its sector from `from` on: the bytes a power cut tore
      // there, and whatever of them reads right by chance. It covers the
      // damage met since the last good record only when `from` lies at or
      // before that record's end (FORMAT.md §3.3).
      if constexpr (changes_built) sectors_[sector].skips = 1;
      if (from > header_size_ && from <= good_end) {
        if (from < good_end && mount_->voided_count < mount_->voided.size()) {
          mount_->voided[mount_->voided_count++] = {sectors_[sector].sequence, from, offset};
          mount_->replay_again = true;
          co_return fail(Errc::corrupt);
        }
        if (in_bad_region) ++counters_.torn_tails;
        in_bad_region = false;
        last_at = from;  // where the log ended before this write (the rollback counter's view)
        single_at = none;
        offset += rec->size;
        good_end = offset;
        continue;
      }
    }
    if (in_bad_region) {
      // A verified record after damage: the damage was corruption, not a torn tail.
      FERRITE_CO_TRY(after_damage(offset));
      ++counters_.corrupt_records;
      in_bad_region = false;
    }
    last_at = offset;
    single_at = offset;
    single_crc = rec->stored_crc;
    single_size = rec->size;
    offset += rec->size;
    good_end = offset;
  }
  if (sealed()) {
    const std::uint32_t before_slot = good_end;
    FERRITE_CO_TRY(co_await replay_end_slot(sector, good_end));
    if (good_end != before_slot) last_at = before_slot;
    if (sealed() && seal_.last_open_sector == sector && last_at != none) {
      // Where the log ended before its last write: the rollback counter
      // may lag the log by that one write (a cut before the raise), never more.
      mount_->sealed.log_before_last = last_at == header_size_
                                           ? mount_->sealed.open_previous
                                           : (std::uint64_t{sectors_[sector].sequence} << 32) | last_at;
    }
  }
  SectorInfo& info = sectors_[sector];
  info.used_bytes = good_end - header_size_;
  head_offset_ = good_end;
  blank_to_ = in_bad_region ? good_end : std::max(good_end, blank_to);
  if (seal_.last_open_sector == sector) seal_.last_open_end = good_end;
  // Torn or weak bytes after the last record: never program there again.
  // (Only the head's flag matters for writing; every such tail is reported,
  // since a damaged last record looks exactly like an interrupted write.)
  head_sealed_ = in_bad_region;
  skip_from_ = in_bad_region ? good_end : none;
  if (in_bad_region) ++counters_.torn_tails;
  co_return Status{};
}

bool StoreEngine::ends_whole(std::uint32_t sector) const noexcept {
  // The next sector's header says its opener programmed this sector's last record whole.
  for (const SectorInfo& next : sectors_)
    if (next.vouches_previous && next.state == static_cast<std::uint8_t>(SectorState::live) &&
        next.sequence == sectors_[sector].sequence + 1)
      return true;
  return false;
}

Task<Result<bool>> StoreEngine::reads_back_stably(std::uint32_t sector, std::uint32_t offset, std::uint32_t crc,
                                                  std::uint32_t size, LogRecord& scratch) noexcept {
  const std::uint32_t end = records_end(sector);
  bool stable = true;
  mount_->windowed = false;  // these reads must reach the flash
  for (int i = 0; i < stability_reads && stable; ++i) {
    const Status st = co_await read_record(sector, offset, end - offset, scratch);
    if (!st && st.error() != Errc::corrupt) {
      mount_->windowed = true;
      co_return fail(st.error());
    }
    stable = st && !scratch.blank && scratch.stored_crc == crc && scratch.size == size;
  }
  mount_->windowed = true;
  co_return stable;
}

Task<Status> StoreEngine::check_tail_blank(std::uint32_t sector, std::uint32_t offset, std::uint32_t end) noexcept {
  const std::uint32_t base = geometry_.sector_offset(sector);
  if (end == none) end = geometry_.sector_size(sector);
  while (offset < end) {
    const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(buffer_.size()), end - offset);
    FERRITE_CO_TRY(co_await read_bytes(base + offset, std::span<std::byte>(buffer_).first(n)));
    for (std::uint32_t i = 0; i < n; ++i)
      if (buffer_[i] != geometry_.erased_byte()) co_return fail(Errc::corrupt);
    offset += n;
  }
  co_return Status{};
}

Task<Result<std::uint32_t>> StoreEngine::first_written_unit(std::uint32_t sector, std::uint32_t offset,
                                                            std::uint32_t end) noexcept {
  const std::uint32_t base = geometry_.sector_offset(sector);
  while (offset < end) {
    const std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(buffer_.size()), end - offset);
    FERRITE_CO_TRY(co_await flash_.read(base + offset, std::span<std::byte>(buffer_).first(n)));
    for (std::uint32_t i = 0; i < n; ++i)
      if (buffer_[i] != geometry_.erased_byte()) co_return offset + i / unit_ * unit_;
    offset += n;
  }
  co_return end;
}

std::uint32_t StoreEngine::tail_window() const noexcept {
  // A torn record's units lie within its own size (at least one program
  // request) from its start, and no record is larger than slack_. Checking
  // that much also covers every write check_blank_ahead may refuse: its
  // damage lies within that write, so the next mount sees it too and reads
  // the tail as torn, finding any SKIP written past it.
  return slack_;
}

Task<Status> StoreEngine::check_blank_ahead(std::uint32_t size) noexcept {
  // Mount checked the head's blank tail only tail_window() past its last
  // record; the rest is checked here, a step ahead of the write offset,
  // before any of it is programmed (a unit is never programmed twice).
  constexpr std::uint32_t step = 256;
  if (seal_.end_slot_open) co_return Status{};  // the end slot lies beyond every record (FORMAT.md §3.6)
  const std::uint32_t want = head_offset_ + size;
  if (want <= blank_to_) co_return Status{};
  const std::uint32_t from = std::max(blank_to_, head_offset_);
  const std::uint32_t to = std::min(records_end(head_), std::max(want, from + step));
  FERRITE_CO_TRY_ASSIGN(const std::uint32_t written, co_await first_written_unit(head_, from, to));
  blank_to_ = written;
  if (written >= want) co_return Status{};
  // Bytes that are not erased after the last record: what mount would have
  // called a torn tail. The head is sealed there (the write goes elsewhere,
  // or past them behind a SKIP when no sector is free).
  head_sealed_ = true;
  if (skip_from_ == none) skip_from_ = head_offset_;
  ++counters_.torn_tails;
  co_return fail(Errc::bits_not_erased);
}

Result<bool> StoreEngine::apply_record(const LogRecord& rec) noexcept {
  if (rec.compact) {
    // read_record verified it against this binding, and its distance from it.
    const std::size_t position = index_.position_of_slot(rec.slot);
    Entry e = unpack(position);
    e.location = rec.address;
    store_entry(position, e);
    return false;
  }
  if (sealed()) FERRITE_TRY(check_sealed_record(rec));
  if (rec.kind == logfmt::meta) {
    if (rec.key_size == logfmt::retire) {
      const std::uint32_t tail = logfmt::get_le32(rec.meta.data());
      if (tail > sectors_[sector_of(rec.address)].sequence) return fail(Errc::corrupt);  // only older sectors
      tail_ = std::max(tail_, tail);
      drop_retired_entries();
    } else if (rec.key_size == logfmt::erased) {
      const std::uint16_t s = logfmt::get_le16(rec.meta.data());
      if (s < sectors_.size()) {
        sectors_[s].vouched = 1;
        sectors_[s].erase_count = std::max(sectors_[s].erase_count, logfmt::get_le32(rec.meta.data() + 4));
      }
    }
    return false;
  }
  return indexed();
}

// (Not inlined: its temporaries would take room in replay_sector's frame.)
[[gnu::noinline]] bool StoreEngine::match_by_hash(const LogRecord& rec, Located& out) noexcept {
  const std::size_t at = index_.only_with(rec.key_hash);
  if (at == RamIndex::none) return false;
  out = Located{};
  out.found = true;
  out.position = at;
  out.entry = unpack(at);
  // Its own key, unless the entry is stale: then the mount sizes the
  // entries from flash once it knows the tail.
  out.entry.key_size = rec.key_size;
  sectors_[sector_of(out.entry.binding)].matched_by_hash = 1;
  return true;
}

void StoreEngine::count_live(const Entry& e, bool live) noexcept {
  const std::uint32_t size = full_size(e.key_size, e.value_size);
  if (live) {
    sectors_[sector_of(e.binding)].live_bytes += size;
    note_live(size);
  } else {
    sectors_[sector_of(e.binding)].live_bytes -= size;
    note_dead(size);
  }
}

Result<bool> StoreEngine::apply_keyed_record(const LogRecord& rec, const Located& found, Entry& fresh) noexcept {
  // (locate read the superseded binding's header word: found.entry has its key size.)
  const bool counting = replay_counts_live();
  if (rec.kind == logfmt::erase) {
    if (found.found) {
      if (counting) count_live(found.entry, false);
      index_.release_slot(found.entry.slot);
      index_.remove(found.position);
    }
    return false;
  }
  if (rec.address / unit_ >= max_index_units) return fail(Errc::corrupt);  // the config check rules it out
  if (counting && found.found) count_live(found.entry, false);
  Entry e = entry_of(rec);
  if (sealed() && rec.kind == logfmt::tampered) {  // read_record admits it in sealed stores only
    e.tamper = Tamper::recorded;
    acknowledge_failure(logfmt::get_le32(rec.meta.data()), logfmt::get_le32(rec.meta.data() + 4));
  }
  if (rec.slot != 0) {
    // The slot moves to this key; whoever held it keeps its own full record.
    const std::size_t holder = index_.position_of_slot(rec.slot);
    if (holder != none && (!found.found || holder != found.position)) {
      Entry h = unpack(holder);
      h.slot = 0;
      store_entry(holder, h);
    }
    index_.mark_slot(rec.slot);
  }
  if (counting) count_live(e, true);
  if (found.found) {
    const std::uint8_t old_slot = found.entry.slot;
    if (old_slot != 0 && old_slot != rec.slot) index_.release_slot(old_slot);
    store_entry(found.position, e);
    return false;
  }
  fresh = e;
  return true;
}

void StoreEngine::drop_retired_entries() noexcept {
  // At a RETIRE, every key still live in the retired sectors had been copied
  // forward. An entry that still points there is stale: the record that
  // superseded or deleted it lived in a sector that has since been erased.
  for (std::size_t i = 0; i < index_.size();) {
    const Entry e = unpack(i);
    if (sectors_[sector_of(e.location)].sequence < tail_ || sectors_[sector_of(e.binding)].sequence < tail_) {
      index_.release_slot(e.slot);
      index_.remove(i);
      if (mount_) mount_->recount = true;
    } else {
      ++i;
    }
  }
}

std::uint32_t StoreEngine::retire_marker_check(std::uint32_t sequence) const noexcept {
  return marker_check(sequence, store_id_);
}

StoreStats Store::stats() const noexcept {
  StoreStats s;
  s.corrupt_records = counters_.corrupt_records;
  s.torn_tails = counters_.torn_tails;
  s.damaged_sectors = counters_.damaged_sectors;
  s.gc_runs = counters_.gc_runs;
  s.records_copied = counters_.records_copied;
  s.records_written = counters_.records_written;
  s.writes_skipped = counters_.writes_skipped;
  s.sectors_erased = counters_.sectors_erased;
#if FERRITE_WITH_SUMMARIES
  s.summarized_records = counters_.summarized_records;
#endif
  if (sealed())
    for (std::size_t i = 0; i < index_.size(); ++i) s.tampered_keys += unpack(i).tamper != Tamper::none;
  s.keys = index_.size();
  s.keys_known = indexed();  // index-less: nothing counts them (count_keys() scans)
  s.live_bytes = live_.total;
  s.head_sealed = head_sealed_;
  s.capacity_bytes = capacity();
  bool first = true;
  std::uint32_t used_live = 0;
  for (std::uint32_t i = 0; i < sectors_.size(); ++i) {
    const SectorInfo& info = sectors_[i];
    if (first) {
      s.erase_min = s.erase_max = info.erase_count;
      first = false;
    }
    s.erase_min = std::min(s.erase_min, info.erase_count);
    s.erase_max = std::max(s.erase_max, info.erase_count);
    if (info.state == static_cast<std::uint8_t>(SectorState::live)) {
      ++s.live_sectors;
      used_live += info.used_bytes;
    } else {
      ++s.free_sectors;
    }
  }
  s.reclaimable_bytes = used_live > live_.total ? used_live - live_.total : 0;
  s.free_bytes = mounted_ ? head_room() + free_payload() : 0;
  return s;
}

}  // namespace ferrite
