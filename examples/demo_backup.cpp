// The backup of ferrite-demo: the docstore copied into RAM and verified,
// later restored into a partition of its own and compared with the original.
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.sim;
#include "demo.hpp"

namespace demo {

Task<Status> take_backup(ferrite::DocStore& db, ferrite::Sealer& store_sealer, ferrite::Sealer& reader,
                         ferrite::MemorySink& backup) {
  ferrite::BackupOptions options;
  options.sealer = &store_sealer;
  options.created = 1700100000;
  FERRITE_CO_TRY_ASSIGN(const auto summary, co_await ferrite::backup(db, backup, options));
  fmt::print("  full backup into RAM: {} entries, {} stream bytes, {} chunk(s); sealed, index entries left out\n",
             summary.entries, summary.stream_bytes, summary.chunks);
  ferrite::MemorySource source(backup.bytes());
  const ferrite::Verdict verdict = co_await ferrite::verify(source, &reader);
  fmt::print("  verify: {} ({} entries read)\n", verdict ? "ok" : ferrite::describe(verdict.error), verdict.entries);
  co_return expect(static_cast<bool>(verdict) && verdict.entries == summary.entries, "the backup to verify");
}

namespace {

/// Compares one collection of both docstores document by document.
Task<Result<std::size_t>> same_documents(ferrite::DocStore& a, ferrite::DocStore& b, std::string_view collection) {
  FERRITE_CO_TRY_ASSIGN(const Documents original, co_await all_documents(a, collection));
  FERRITE_CO_TRY_ASSIGN(const Documents restored, co_await all_documents(b, collection));
  std::size_t same = 0;
  for (const auto& [id, bytes] : original) {
    const auto it = restored.find(id);
    if (it != restored.end() && it->second == bytes) ++same;
  }
  fmt::print("  {}: {} of {} documents identical, byte for byte ({} in the restored store)\n", collection, same,
             original.size(), restored.size());
  if (same != original.size() || restored.size() != original.size()) co_return ferrite::fail(Errc::corrupt);
  co_return same;
}

}  // namespace

Task<Status> restore_and_compare(std::span<const std::byte> backup, ferrite::Sealer& sealer, SealedStore& source,
                                 SealedStore& target) {
  ferrite::MemorySource stream(backup);
  ferrite::ByteSource* chain[] = {&stream};
  ferrite::RestoreOptions options;  // staging: the target is formatted, then filled
  options.sealer = &sealer;
  const ferrite::Verdict verdict = co_await ferrite::restore(chain, target.store(), options);
  fmt::print("  restore (staged): {}, {} entries applied\n", verdict ? "ok" : ferrite::describe(verdict.error),
             verdict.entries);
  FERRITE_CO_TRY(expect(static_cast<bool>(verdict), "the restore to succeed"));
  FERRITE_CO_TRY(co_await target.open_documents());  // rebuilds the index from the documents
  for (std::string_view collection : {"patients", "visits"})
    FERRITE_CO_TRY(co_await same_documents(source.db(), target.db(), collection));
  FERRITE_CO_TRY_ASSIGN(const auto q, ferrite::doc::Query::from_json(patient_query));
  FERRITE_CO_TRY_ASSIGN(const auto plan, co_await target.db().explain("patients", q));
  FERRITE_CO_TRY_ASSIGN(const auto original_ids, co_await ids_of(source.db(), "patients", q));
  FERRITE_CO_TRY_ASSIGN(const auto restored_ids, co_await ids_of(target.db(), "patients", q));
  const bool indexed = plan.access == ferrite::doc::Plan::Access::index_range;
  fmt::print("  find {} on the restored store: _id {} through {} (original: _id {})\n", patient_query,
             restored_ids.empty() ? 0 : restored_ids[0], indexed ? "index by_patient_ts" : "a collection scan",
             original_ids.empty() ? 0 : original_ids[0]);
  co_return expect(indexed && !restored_ids.empty() && restored_ids == original_ids,
                   "the rebuilt index to answer as the original");
}

}  // namespace demo
