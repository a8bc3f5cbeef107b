// Docstore backups (docs/FORMAT.md §10.5): index entries are left out and
// index definitions are written in state building, so a restored docstore
// rebuilds its indexes at open(); and the `_ts` selection for applications
// that track time rather than log positions.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.backup;

namespace ferrite {

namespace {

// Docstore keys (docs/FORMAT.md §9.1): FE, then a kind letter.
constexpr std::byte ns{0xFE};
constexpr std::byte meta_kind{0x4D}, collection_kind{0x43}, definition_kind{0x58}, document_kind{0x44},
    part_kind{0x4B}, entry_kind{0x49}, unique_kind{0x55};
constexpr std::uint8_t state_building = 0, state_ready = 1;

bool docstore_keeps(void*, std::span<const std::byte> key) noexcept {
  return !(key.size() >= 2 && key[0] == ns && (key[1] == entry_kind || key[1] == unique_kind));
}

void docstore_rewrites(void*, std::span<const std::byte> key, std::span<std::byte> value) noexcept {
  // An index definition: state (byte 0) and build_from (bytes 4..7).
  if (key.size() != 5 || key[0] != ns || key[1] != definition_kind || value.size() < 8) return;
  const auto state = static_cast<std::uint8_t>(value[0]);
  if (state != state_building && state != state_ready) return;  // removing: open() finishes it
  value[0] = std::byte{state_building};
  std::fill(value.begin() + 4, value.begin() + 8, std::byte{0});
}

/// Reads a CBOR head (major type, argument) at `at`; false when malformed.
bool cbor_head(std::span<const std::byte> b, std::size_t& at, std::uint8_t& major, std::uint64_t& arg) noexcept {
  if (at >= b.size()) return false;
  const auto ib = static_cast<std::uint8_t>(b[at++]);
  major = ib >> 5;
  const std::uint8_t info = ib & 0x1F;
  if (info < 24) {
    arg = info;
    return true;
  }
  if (info > 27) return false;
  const std::size_t n = std::size_t{1} << (info - 24);
  if (at + n > b.size()) return false;
  arg = 0;
  for (std::size_t i = 0; i < n; ++i) arg = (arg << 8) | static_cast<std::uint8_t>(b[at + i]);
  at += n;
  return true;
}

/// `_ts` of a stored document value (§9.3): canonical documents start with
/// `_id`, then `_ts`. A chunked document's first part holds them too.
std::optional<std::int64_t> timestamp_of(std::span<const std::byte> value) noexcept {
  if (value.size() < 2) return std::nullopt;
  std::size_t at = value[0] == std::byte{0} ? 1 : value[0] == std::byte{1} ? 6 : value.size();
  std::uint8_t major = 0;
  std::uint64_t arg = 0;
  if (!cbor_head(value, at, major, arg) || major != 5) return std::nullopt;
  for (const std::string_view name : {std::string_view("_id"), std::string_view("_ts")}) {
    if (!cbor_head(value, at, major, arg) || major != 3 || arg != name.size() || at + arg > value.size() ||
        std::memcmp(value.data() + at, name.data(), name.size()) != 0)
      return std::nullopt;
    at += arg;
    if (!cbor_head(value, at, major, arg) || major > 1) return std::nullopt;
    if (name == "_ts") {
      if (arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
      return major == 0 ? static_cast<std::int64_t>(arg) : -1 - static_cast<std::int64_t>(arg);
    }
  }
  return std::nullopt;
}

Task<Status> copy_prefix(Store& store, StreamWriter& w, std::span<const std::byte> prefix,
                         std::vector<std::byte>& value) noexcept {
  Cursor cur = store.scan(prefix);
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) co_return Status{};
    auto n = co_await cur.read_value(value);
    if (!n && n.error() == Errc::not_found) continue;
    if (!n) co_return fail(n.error());
    FERRITE_CO_TRY_ASSIGN(const ValueType type, co_await store.type_of(cur.key()));
    const std::span<std::byte> v(value.data(), *n);
    docstore_rewrites(nullptr, cur.key(), v);
    FERRITE_CO_TRY(co_await w.put(type, cur.key(), v));
  }
}

}  // namespace

BackupFilter docstore_filter() noexcept {
  BackupFilter f;
  f.keep = docstore_keeps;
  f.rewrite = docstore_rewrites;
  f.docstore = true;
  return f;
}

Task<Result<BackupSummary>> backup(DocStore& db, ByteSink& sink, BackupOptions options) noexcept {
  options.filter = docstore_filter();
  co_return co_await backup(db.store(), sink, options);
}

Task<Result<BackupSummary>> incremental_backup(DocStore& db, ByteSink& sink, std::uint64_t since_lsn,
                                               BackupOptions options) noexcept {
  options.filter = docstore_filter();
  co_return co_await incremental_backup(db.store(), sink, since_lsn, options);
}

Task<Result<BackupSummary>> incremental_backup_since_time(DocStore& db, ByteSink& sink, std::int64_t since,
                                                          BackupOptions options) noexcept {
  Store& store = db.store();
  if (!store.mounted()) co_return fail(Errc::not_mounted);
  if (store.sealed() && (!options.sealer || options.sealer->hides_keys()))
    co_return fail(options.sealer ? Errc::unsupported : Errc::wrong_key);
  BackupHeader h;
  h.kind = BackupKind::documents_since;
  h.sealed = store.sealed();
  h.docstore = true;
  h.store_id = store.store_id();
  h.lsn_to = store.lsn();
  h.created = options.created;
  h.since = since;
  if (h.sealed) {
    const auto block = store.sealing_block();
    if (block.size() != crypto_block_size) co_return fail(Errc::not_mounted);
    std::memcpy(h.crypto_block.data(), block.data(), crypto_block_size);
  }
  StreamWriter w(sink, h, options.sealer);
  FERRITE_CO_TRY(co_await w.start());
  std::vector<std::byte> value(store.value_limit());
  // The catalog, whole: a restored document needs its collection.
  for (const std::byte kind : {meta_kind, collection_kind, definition_kind}) {
    const std::array<std::byte, 2> prefix{ns, kind};
    FERRITE_CO_TRY(co_await copy_prefix(store, w, prefix, value));
  }
  // The documents written since `since`, each with its parts.
  const std::array<std::byte, 2> documents{ns, document_kind};
  Cursor cur = store.scan(documents);
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    auto n = co_await cur.read_value(value);
    if (!n && n.error() == Errc::not_found) continue;
    if (!n) co_return fail(n.error());
    const std::span<const std::byte> v(value.data(), *n);
    const auto ts = timestamp_of(v);
    if (!ts) co_return fail(Errc::corrupt);
    if (*ts < since) continue;
    const auto key = cur.key();
    if (key.size() != 8) co_return fail(Errc::corrupt);
    const std::uint8_t parts = v[0] == std::byte{1} && v.size() > 6 ? static_cast<std::uint8_t>(v[5]) : 1;
    FERRITE_CO_TRY(co_await w.put(ValueType::untyped, key, v));
    std::array<std::byte, 9> part_key{};
    std::memcpy(part_key.data(), key.data(), 8);
    part_key[1] = part_kind;
    for (std::uint8_t p = 1; p < parts; ++p) {
      part_key[8] = std::byte{p};
      auto m = co_await store.get(part_key, value);
      if (!m) co_return fail(m.error() == Errc::not_found ? Errc::corrupt : m.error());
      FERRITE_CO_TRY(co_await w.put(ValueType::untyped, part_key, std::span<const std::byte>(value.data(), *m)));
    }
  }
  co_return co_await w.finish();
}

}  // namespace ferrite
