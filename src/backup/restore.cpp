// Crash-safe restore: verify the whole chain, then record the work in the
// target (the restore marker, docs/FORMAT.md §10.6) and apply the entries
// in bounded atomic batches that also advance the marker; the last batch
// marks the restore complete. A power cut anywhere resumes.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"
#include <sodium.h>

module ferrite.backup;

namespace ferrite {

using namespace backupfmt;

namespace {

constexpr std::uint8_t phase_clearing = 1, phase_applying = 2;

struct Marker {
  RestoreState state = RestoreState::none;
  std::uint8_t phase = phase_applying;
  std::uint16_t backups = 0;
  std::uint32_t store_id = 0;
  std::uint64_t lsn_to = 0;
  std::int64_t created = 0;
  std::uint64_t applied = 0;
  std::array<std::byte, 16> chain{};

  std::array<std::byte, marker_size> encode() const noexcept {
    std::array<std::byte, marker_size> b{};
    b[0] = static_cast<std::byte>(state);
    b[1] = std::byte{phase};
    put_le(b.data() + 2, backups, 2);
    put_le(b.data() + 4, store_id, 4);
    put_le(b.data() + 8, lsn_to, 8);
    put_le(b.data() + 16, static_cast<std::uint64_t>(created), 8);
    put_le(b.data() + 24, applied, 8);
    std::memcpy(b.data() + 32, chain.data(), 16);
    return b;
  }
  static Result<Marker> decode(std::span<const std::byte> b) noexcept {
    if (b.size() != marker_size) return fail(Errc::corrupt);
    Marker m;
    const auto state = static_cast<std::uint8_t>(b[0]);
    m.phase = static_cast<std::uint8_t>(b[1]);
    if (state < 1 || state > 3 || m.phase < phase_clearing || m.phase > phase_applying) return fail(Errc::corrupt);
    m.state = static_cast<RestoreState>(state);
    m.backups = static_cast<std::uint16_t>(get_le(b.data() + 2, 2));
    m.store_id = static_cast<std::uint32_t>(get_le(b.data() + 4, 4));
    m.lsn_to = get_le(b.data() + 8, 8);
    m.created = static_cast<std::int64_t>(get_le(b.data() + 16, 8));
    m.applied = get_le(b.data() + 24, 8);
    std::memcpy(m.chain.data(), b.data() + 32, 16);
    return m;
  }
};

std::span<const std::byte> marker_key() noexcept { return as_bytes(restore_marker_key); }

/// The marker, or nullopt when the store has none.
Task<Result<std::optional<Marker>>> read_marker(Store& store) noexcept {
  std::array<std::byte, marker_size + 1> buf{};
  auto n = co_await store.get(marker_key(), buf);
  if (!n && n.error() == Errc::not_found) co_return std::optional<Marker>{};
  if (!n && n.error() == Errc::buffer_too_small) co_return fail(Errc::corrupt);
  if (!n) co_return fail(n.error());
  FERRITE_CO_TRY_ASSIGN(Marker m, Marker::decode(std::span<const std::byte>(buf.data(), *n)));
  co_return std::optional<Marker>{m};
}

/// Applies entries to the target in batches that carry the marker.
class Applier {
 public:
  Applier(Store& target, Marker& marker, std::uint32_t budget) noexcept
      : target_(target), marker_(marker), budget_(budget), batch_(target) {}

  Task<Status> put(ValueType type, std::span<const std::byte> key, std::span<const std::byte> value) noexcept {
    const std::size_t cost = key.size() + value.size() + 24;
    if (type != ValueType::untyped || cost + marker_size + 64 > budget_) {
      // Batches carry untyped puts only; such an entry is written on its
      // own and counted by the next batch's marker (replaying it is harmless).
      FERRITE_CO_TRY(co_await flush());
      if (type != ValueType::untyped) FERRITE_CO_TRY(co_await target_.put_typed(key, type, value));
      else FERRITE_CO_TRY(co_await target_.put(key, value));
      ++marker_.applied;
      co_return Status{};
    }
    // A later entry of the same key replaces the earlier one in the batch.
    FERRITE_CO_TRY(batch_.put(key, value));
    co_return co_await added(cost);
  }

  Task<Status> erase(std::span<const std::byte> key) noexcept {
    FERRITE_CO_TRY(batch_.erase(key));
    co_return co_await added(key.size() + 24);
  }

  /// Writes what is pending, with the marker as it then is.
  Task<Status> flush() noexcept {
    if (pending_ == 0) co_return Status{};
    marker_.applied += pending_;
    co_return co_await commit();
  }

  /// The last batch: what is pending and the marker in state complete.
  Task<Status> finish() noexcept {
    marker_.applied += pending_;
    marker_.state = RestoreState::complete;
    co_return co_await commit();
  }

 private:
  Task<Status> added(std::size_t cost) noexcept {
    ++pending_;
    bytes_ += cost;
    if (bytes_ + marker_size + 64 >= budget_) co_return co_await flush();
    co_return Status{};
  }

  Task<Status> commit() noexcept {
    const auto m = marker_.encode();
    if (auto st = batch_.put(marker_key(), m); !st) {
      batch_.clear();
      co_return st;
    }
    auto st = co_await batch_.commit();
    pending_ = 0;
    bytes_ = 0;
    co_return st;
  }

  Store& target_;
  Marker& marker_;
  std::uint32_t budget_;
  Batch batch_;
  std::uint64_t pending_ = 0;
  std::size_t bytes_ = 0;
};

/// Erases every key but the marker, in batches (in place, phase clearing).
Task<Status> clear_keys(Store& target, std::uint32_t budget) noexcept {
  for (;;) {
    Batch batch(target);
    std::size_t bytes = 0;
    Cursor cur = target.scan();
    for (;;) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
      if (!more) break;
      const auto key = cur.key();
      if (key.size() == marker_key().size() && std::memcmp(key.data(), marker_key().data(), key.size()) == 0)
        continue;
      FERRITE_CO_TRY(batch.erase(key));
      bytes += key.size() + 24;
      if (bytes + 64 >= budget) break;
    }
    if (bytes == 0) co_return Status{};
    FERRITE_CO_TRY(co_await batch.commit());
  }
}

Verdict target_failed(Errc e, std::uint64_t applied) noexcept {
  return refused(e, BackupFault::target, 0, applied);
}

}  // namespace

Task<Result<RestoreProgress>> restore_state(Store& target) noexcept {
  if (!target.mounted()) co_return fail(Errc::not_mounted);
  FERRITE_CO_TRY_ASSIGN(const std::optional<Marker> m, co_await read_marker(target));
  RestoreProgress p;
  if (!m) co_return p;
  p.state = m->state;
  p.entries_applied = m->applied;
  p.backups = m->backups;
  p.store_id = m->store_id;
  p.lsn_to = m->lsn_to;
  co_return p;
}

Task<Verdict> restore(std::span<ByteSource* const> chain, Store& target, RestoreOptions o) noexcept {
  const bool in_place = o.mode == RestoreMode::in_place;
  if (chain.empty() || chain.size() > 0xFFFF || (in_place && !o.replace_existing))
    co_return refused(Errc::invalid_argument, BackupFault::none, 0, 0);
  if (in_place && !target.mounted()) co_return target_failed(Errc::not_mounted, 0);

  // 1. Verify everything: a bad chain leaves the target as it is.
  const std::uint32_t limit = target.value_limit() ? target.value_limit() : max_entry_value;
  std::vector<BackupHeader> headers;
  if (Verdict v = co_await verify_chain(chain, o.sealer, true, limit, &headers); !v) co_return v;
  Marker want;
  want.backups = static_cast<std::uint16_t>(chain.size());
  want.store_id = headers.front().store_id;
  want.lsn_to = headers.back().lsn_to;
  want.created = headers.back().created;
  {
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 16);
    for (const BackupHeader& h : headers)
      crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(h.raw.data()), h.raw.size());
    crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(want.chain.data()), 16);
  }

  // 2. Resume the target's restore of this chain, or start one.
  std::optional<Marker> found;
  if (!in_place && !target.mounted()) (void)co_await target.mount();  // a blank or damaged target is formatted
  if (target.mounted()) {
    auto m = co_await read_marker(target);
    if (m) found = *m;
    else if (in_place) co_return target_failed(m.error(), 0);
  }
  const bool same_chain = found && std::memcmp(found->chain.data(), want.chain.data(), 16) == 0 &&
                          found->backups == want.backups &&
                          found->state == (in_place ? RestoreState::replacing : RestoreState::staging);
  const bool done = found && found->state == RestoreState::complete &&
                    std::memcmp(found->chain.data(), want.chain.data(), 16) == 0;
  if (done) co_return Verdict{Errc::ok, BackupFault::none, 0, found->applied};
  Marker marker = want;
  if (same_chain) {
    marker = *found;
  } else if (in_place) {
    if (found && found->state != RestoreState::complete)
      co_return refused(Errc::conflict, BackupFault::other_restore, 0, 0);
    // Clearing walks the store's keys: a store that cannot (a sealed one
    // that hides key names, an index-less one) is refused before the marker.
    {
      Cursor probe = target.scan();
      auto walked = co_await probe.next();
      if (!walked) co_return target_failed(walked.error(), 0);
    }
    marker.state = RestoreState::replacing;
    marker.phase = phase_clearing;
    const auto m = marker.encode();
    if (auto st = co_await target.put(marker_key(), m); !st) co_return target_failed(st.error(), 0);
  } else {
    target.unmount();
    if (auto st = co_await target.format(o.format); !st) co_return target_failed(st.error(), 0);
    if (!target.mounted())
      if (auto st = co_await target.mount(); !st) co_return target_failed(st.error(), 0);
    marker.state = RestoreState::staging;
    marker.phase = phase_applying;
    const auto m = marker.encode();
    if (auto st = co_await target.put(marker_key(), m); !st) co_return target_failed(st.error(), 0);
  }
  const std::uint32_t budget =
      o.batch_bytes ? o.batch_bytes : std::min<std::uint32_t>(2048, target.max_batch_bytes() / 4);
  if (marker.phase == phase_clearing) {
    if (auto st = co_await clear_keys(target, budget); !st) co_return target_failed(st.error(), 0);
    marker.phase = phase_applying;
    const auto m = marker.encode();
    if (auto st = co_await target.put(marker_key(), m); !st) co_return target_failed(st.error(), 0);
  }

  // 3. Apply, skipping what the marker says is applied already.
  Applier apply(target, marker, budget);
  std::uint64_t seen = 0;
  const std::uint64_t skip = marker.applied;
  for (std::uint32_t i = 0; i < chain.size(); ++i) {
    ByteSource& source = *chain[i];
    if (auto st = co_await source.rewind(); !st) co_return refused(st.error(), BackupFault::source, i, marker.applied);
    BackupReader reader(source, o.sealer, limit);
    if (auto st = co_await reader.open(); !st) co_return refused(st.error(), reader.fault(), i, marker.applied);
    for (;;) {
      auto more = co_await reader.next();
      if (!more) co_return refused(more.error(), reader.fault(), i, marker.applied);
      if (!*more) break;
      if (seen++ < skip) continue;
      const auto key = reader.key();
      if (key.size() == marker_key().size() && std::memcmp(key.data(), marker_key().data(), key.size()) == 0)
        co_return refused(Errc::corrupt, BackupFault::corrupt, i, marker.applied);
      Status st = reader.erased() ? co_await apply.erase(key) : co_await apply.put(reader.type(), key, reader.value());
      if (!st) co_return target_failed(st.error(), marker.applied);
    }
  }
  // 4. The flip: the last batch marks the restore complete.
  if (auto st = co_await apply.finish(); !st) co_return target_failed(st.error(), marker.applied);
  co_return Verdict{Errc::ok, BackupFault::none, 0, marker.applied};
}

}  // namespace ferrite
