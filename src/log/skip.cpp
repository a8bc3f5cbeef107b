// Writing past a torn region of the head when no sector can be opened: the
// SKIP record (docs/FORMAT.md §3.3). A power cut seals the head it tore; in
// a store with every sector live, collection then has nowhere to copy to,
// and the store would refuse every write for good.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.log;

namespace ferrite {

namespace {
/// Records are programmed in requests of this many bytes from their first
/// byte (program_record composes them in buffer_): a cut tears at most the
/// request in flight, and leaves every later unit untouched.
constexpr std::uint32_t program_request = 64;

/// A program the flash refused because the units held charge they did not
/// show (a torn write that reads blank): the next attempt goes further on.
bool refused(Errc e) noexcept { return e == Errc::reprogram_forbidden || e == Errc::bits_not_erased; }
}  // namespace

bool StoreEngine::torn_head_skippable() const noexcept {
  // Only a head mount found torn after a good record: an empty head is
  // erased and opened again instead, and an old-key head (a rotation) is
  // sealed on purpose, not torn.
  return head_sealed_ && skip_from_ != none && skip_from_ == head_offset_ && skip_from_ > header_size_ &&
         !seal_.end_slot_open && sectors_[head_].used_bytes > 0 && !(sealed() && sectors_[head_].old_key);
}

Task<Status> StoreEngine::skip_torn_region() noexcept {
  const std::uint32_t end = records_end(head_);
  const std::uint32_t size = meta_size(4);
  std::array<std::byte, 4> from{};
  logfmt::put_le32(from.data(), skip_from_);
  FERRITE_CO_TRY_ASSIGN(std::uint32_t at, co_await torn_region_end(skip_from_));
  for (;;) {
    if (at >= end || end - at < size) co_return fail(Errc::no_space);
    sectors_[head_].used_bytes += at - head_offset_;
    head_offset_ = at;
    head_sealed_ = false;
    if constexpr (changes_built) sectors_[head_].skips = 1;
    auto written = co_await append(logfmt::meta, 0, {}, from, false, 0, logfmt::skip);
    if (written) break;
    if (!refused(written.error())) co_return fail(written.error());  // the head is sealed again
    at += (program_request + unit_ - 1) / unit_ * unit_;
  }
  skip_from_ = none;
  co_return Status{};
}

Task<Result<std::uint32_t>> StoreEngine::torn_region_end(std::uint32_t from) noexcept {
  // Walks from the end of the last good record: a record that verifies (a
  // member of a batch without its commit) is stepped over whole; any other
  // bytes are a torn record, whose damage stays inside the request that was
  // in flight, so inside max(request, its size) from where it starts.
  const std::uint32_t end = records_end(head_);
  std::uint32_t offset = from;
  while (offset < end) {
    FERRITE_CO_TRY_ASSIGN(const std::uint32_t at, co_await first_written_unit(head_, offset, end));
    if (at >= end) co_return offset;
    LogRecordRead rec;
    rec.status = co_await read_record(head_, at, end - at, rec.record);
    if (!rec && rec.error() != Errc::corrupt) co_return fail(rec.error());
    if (rec && !rec->blank) {
      offset = at + rec->size;
      continue;
    }
    FERRITE_CO_TRY_ASSIGN(const std::uint32_t claimed, co_await claimed_size(at, end));
    const std::uint32_t span = std::max(program_request, claimed);
    offset = at + (span + unit_ - 1) / unit_ * unit_;
  }
  co_return offset;
}

Task<Result<std::uint32_t>> StoreEngine::claimed_size(std::uint32_t offset, std::uint32_t end) noexcept {
  // The size a torn record's first bytes claim, when they claim one that
  // fits the sector and the store could have written (0 otherwise): its
  // header word, or its slot's binding.
  std::array<std::byte, 4> word{};
  if (end - offset < word.size()) co_return 0u;
  FERRITE_CO_TRY(co_await flash_.read(geometry_.sector_offset(head_) + offset, word));
  const auto first = static_cast<std::uint8_t>(word[0]);
  std::uint32_t size = 0;
  if (first >= 0x80 && first != 0xFF) {
    const std::uint32_t w = logfmt::get_le32(word.data());
    const std::uint8_t kind = logfmt::kind_of(w);
    const bool keyless = kind == logfmt::meta || kind == logfmt::txn_commit;
    size = full_size(keyless ? 0u : logfmt::key_field_of(w) + 1u, logfmt::value_size_of(w));
  } else if (first >= 0x01 && first <= 0x7E && indexed()) {
    const std::size_t position = index_.position_of_slot(first);
    if (position != none) size = compact_size(unpack(position).value_size);
  }
  // A size beyond any record the store writes (slack_: a 64-byte key and the
  // largest value) comes from a torn header word: the first request was cut.
  co_return size <= end - offset && size <= slack_ ? size : 0u;
}

}  // namespace ferrite
