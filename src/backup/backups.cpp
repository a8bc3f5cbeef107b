// Full and incremental backups of a store, in steps so that writers keep
// going between them (docs/FORMAT.md §10.4).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.backup;

namespace ferrite {

namespace {

bool is_marker(std::span<const std::byte> key) noexcept {
  const auto m = as_bytes(restore_marker_key);
  return key.size() == m.size() && std::memcmp(key.data(), m.data(), m.size()) == 0;
}

bool kept(const BackupFilter& f, std::span<const std::byte> key) noexcept {
  if (is_marker(key)) return false;
  return !f.keep || f.keep(f.context, key);
}

/// The header every backup of `store` starts from. Errors: not_mounted,
/// wrong_key (a sealed store without its Sealer), unsupported (hidden names).
Result<BackupHeader> header_for(Store& store, BackupKind kind, const BackupOptions& o) noexcept {
  if (!store.mounted()) return fail(Errc::not_mounted);
  BackupHeader h;
  h.kind = kind;
  h.sealed = store.sealed();
  h.docstore = o.filter.docstore;
  h.store_id = store.store_id();
  h.lsn_to = store.lsn();
  h.created = o.created;
  if (h.sealed) {
    if (!o.sealer) return fail(Errc::wrong_key);
    if (o.sealer->hides_keys()) return fail(Errc::unsupported);
    const auto block = store.sealing_block();
    if (block.size() != crypto_block_size) return fail(Errc::not_mounted);
    std::memcpy(h.crypto_block.data(), block.data(), crypto_block_size);
  }
  return h;
}

}  // namespace

FullBackup::FullBackup(Store& store, ByteSink& sink, BackupOptions options) noexcept
    : store_(store), options_(options) {
  // The writer needs the sink; it is made at start() from the header.
  sink_for_start_ = &sink;
}

Task<Status> FullBackup::start() noexcept {
  if (writer_) co_return fail(Errc::invalid_argument);
  // lsn_to before the walk: every write the walk may miss is at or after it.
  FERRITE_CO_TRY_ASSIGN(BackupHeader h, header_for(store_, BackupKind::full, options_));
  writer_.emplace(*sink_for_start_, h, options_.sealer);
  FERRITE_CO_TRY(co_await writer_->start());
  cursor_.emplace(store_.scan());
  value_.resize(store_.value_limit());
  co_return Status{};
}

Task<Result<bool>> FullBackup::step() noexcept {
  if (!writer_ || !cursor_) co_return fail(Errc::invalid_argument);
  for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, options_.entries_per_step); ++i) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor_->next());
    if (!more) {
      cursor_.reset();
      FERRITE_CO_TRY_ASSIGN(summary_, co_await writer_->finish());
      co_return false;
    }
    const auto key = cursor_->key();
    if (!kept(options_.filter, key)) continue;
    auto type = co_await store_.type_of(key);
    if (!type && type.error() == Errc::not_found) continue;  // erased since the step began
    if (!type) co_return fail(type.error());
    auto n = co_await cursor_->read_value(value_);
    if (!n && n.error() == Errc::not_found) continue;
    if (!n) co_return fail(n.error());
    const std::span<std::byte> value(value_.data(), *n);
    if (options_.filter.rewrite) options_.filter.rewrite(options_.filter.context, key, value);
    FERRITE_CO_TRY(co_await writer_->put(*type, key, value));
  }
  co_return true;
}

IncrementalBackup::IncrementalBackup(Store& store, ByteSink& sink, std::uint64_t since_lsn,
                                     BackupOptions options) noexcept
    : store_(store), since_(since_lsn), options_(options) {
  sink_for_start_ = &sink;
}

Task<Status> IncrementalBackup::start() noexcept {
  if (writer_) co_return fail(Errc::invalid_argument);
  FERRITE_CO_TRY_ASSIGN(BackupHeader h, header_for(store_, BackupKind::incremental, options_));
  // The changes in [since, lsn_to): later ones are the next incremental's.
  h.lsn_from = since_;
  if (since_ > h.lsn_to) co_return fail(Errc::invalid_argument);
  writer_.emplace(*sink_for_start_, h, options_.sealer);
  FERRITE_CO_TRY(co_await writer_->start());
  cursor_.emplace(store_.changes_since(since_));
  value_.resize(store_.value_limit());
  co_return Status{};
}

Task<Result<bool>> IncrementalBackup::step() noexcept {
  if (!writer_ || !cursor_) co_return fail(Errc::invalid_argument);
  const std::uint64_t lsn_to = writer_->header().lsn_to;
  for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, options_.entries_per_step); ++i) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor_->next());
    if (!more || cursor_->lsn() > lsn_to) {
      cursor_.reset();
      FERRITE_CO_TRY_ASSIGN(summary_, co_await writer_->finish());
      co_return false;
    }
    const auto key = cursor_->key();
    if (!kept(options_.filter, key)) continue;
    if (cursor_->erased()) {
      FERRITE_CO_TRY(co_await writer_->erase(key));
      continue;
    }
    FERRITE_CO_TRY_ASSIGN(const std::size_t n, co_await cursor_->read_value(value_));
    const std::span<std::byte> value(value_.data(), n);
    if (options_.filter.rewrite) options_.filter.rewrite(options_.filter.context, key, value);
    FERRITE_CO_TRY(co_await writer_->put(cursor_->type(), key, value));
  }
  co_return true;
}

Task<Result<BackupSummary>> backup(Store& store, ByteSink& sink, BackupOptions options) noexcept {
  FullBackup b(store, sink, options);
  FERRITE_CO_TRY(co_await b.start());
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await b.step());
    if (!more) break;
  }
  co_return b.summary();
}

Task<Result<BackupSummary>> incremental_backup(Store& store, ByteSink& sink, std::uint64_t since_lsn,
                                               BackupOptions options) noexcept {
  IncrementalBackup b(store, sink, since_lsn, options);
  FERRITE_CO_TRY(co_await b.start());
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await b.step());
    if (!more) break;
  }
  co_return b.summary();
}

}  // namespace ferrite
