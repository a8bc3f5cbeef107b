// Verification of a backup, or of a chain of them, writing nothing: every
// byte of every stream, then the chain's continuity (docs/FORMAT.md §10.4).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.backup;

namespace ferrite {

namespace backupfmt {

Verdict refused(Errc error, BackupFault fault, std::uint32_t backup, std::uint64_t entries) noexcept {
  Verdict v;
  v.error = error;
  v.fault = fault;
  v.backup = backup;
  v.entries = entries;
  return v;
}

Task<Verdict> verify_chain(std::span<ByteSource* const> chain, Sealer* sealer, bool as_chain,
                           std::uint32_t max_value, std::vector<BackupHeader>* headers) noexcept {
  if (chain.empty()) co_return refused(Errc::invalid_argument, BackupFault::chain_start, 0, 0);
  std::uint64_t entries = 0, reached = 0;
  std::uint32_t store_id = 0;
  for (std::uint32_t i = 0; i < chain.size(); ++i) {
    ByteSource& source = *chain[i];
    if (auto st = co_await source.rewind(); !st) co_return refused(st.error(), BackupFault::source, i, entries);
    BackupReader reader(source, sealer, max_value);
    if (auto st = co_await reader.open(); !st) co_return refused(st.error(), reader.fault(), i, entries);
    const BackupHeader& h = reader.header();
    if (as_chain) {
      if ((i == 0) != (h.kind == BackupKind::full))
        co_return refused(Errc::invalid_argument, BackupFault::chain_start, i, entries);
      if (i == 0) store_id = h.store_id;
      if (h.store_id != store_id) co_return refused(Errc::invalid_argument, BackupFault::other_store, i, entries);
      // An incremental must start where the chain has reached, or before.
      if (h.kind == BackupKind::incremental && h.lsn_from > reached)
        co_return refused(Errc::history_lost, BackupFault::chain_gap, i, entries);
      reached = std::max(reached, h.lsn_to);
    }
    for (;;) {
      auto more = co_await reader.next();
      if (!more) co_return refused(more.error(), reader.fault(), i, entries);
      if (!*more) break;
      ++entries;
    }
    if (headers) headers->push_back(h);
  }
  co_return Verdict{Errc::ok, BackupFault::none, 0, entries};
}

}  // namespace backupfmt

Task<Verdict> verify(std::span<ByteSource* const> chain, Sealer* sealer) noexcept {
  co_return co_await backupfmt::verify_chain(chain, sealer, true, backupfmt::max_entry_value, nullptr);
}

Task<Verdict> verify(ByteSource& backup, Sealer* sealer) noexcept {
  ByteSource* one[] = {&backup};
  co_return co_await backupfmt::verify_chain(one, sealer, false, backupfmt::max_entry_value, nullptr);
}

}  // namespace ferrite
