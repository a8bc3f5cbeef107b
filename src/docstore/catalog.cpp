// The catalog: the docstore's meta record, collections and index
// definitions, kept in RAM slots; creating and dropping them, and finishing
// what a power cut interrupted (resumable clears, drops and index builds).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;

namespace {

void le16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v);
  p[1] = static_cast<std::byte>(v >> 8);
}
void le32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint16_t rd16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(p[0]) | (static_cast<std::uint8_t>(p[1]) << 8));
}
std::uint32_t rd32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

}  // namespace

// -- record encodings (docs/FORMAT.md §9.2) ----------------------------------

std::size_t DocStore::Impl::encode_collection(const CollectionSlot& c,
                                              std::span<std::byte, collection_record_max> out) noexcept {
  le16(out.data(), c.cid);
  out[2] = std::byte{c.flags};
  le32(out.data() + 3, c.id_checkpoint);
  if (!(c.flags & capped)) return append_name_trailer(c, out, collection_record);
  le32(out.data() + 7, c.cap.limits.max_docs);
  le32(out.data() + 11, c.cap.limits.max_bytes);
  le32(out.data() + 15, c.cap.documents);
  le32(out.data() + 19, c.cap.bytes);
  return append_name_trailer(c, out, capped_collection_record);
}

Status DocStore::Impl::decode_collection(std::span<const std::byte> key, std::span<const std::byte> v,
                                         CollectionSlot& c) noexcept {
  // Where the name lives (the key, or the record's end) first: what is left
  // of the record decodes the same either way.
  std::span<const std::byte> name;
  FERRITE_TRY(split_name_trailer(key, v, name));
  const std::size_t name_size = name.size();
  if ((v.size() != collection_record && v.size() != capped_collection_record) || name_size == 0 ||
      name_size > max_collection_name)
    return fail(Errc::corrupt);
  c = CollectionSlot{};
  std::memcpy(c.name.data(), name.data(), name_size);
  c.name_size = static_cast<std::uint8_t>(name_size);
  c.cid = rd16(v.data());
  c.flags = static_cast<std::uint8_t>(v[2]);
  c.id_checkpoint = rd32(v.data() + 3);
  c.next_id = c.id_checkpoint;  // ids below the checkpoint may have been handed out
  if (c.cid == 0 || c.id_checkpoint == 0 || !valid_name(c.name_view(), max_collection_name))
    return fail(Errc::corrupt);
  // The record's length and its capped flag must agree (docs/FORMAT.md §9.2).
  if (((c.flags & capped) != 0) != (v.size() == capped_collection_record)) return fail(Errc::corrupt);
  if (c.flags & capped) {
    c.cap.limits.max_docs = rd32(v.data() + 7);
    c.cap.limits.max_bytes = rd32(v.data() + 11);
    c.cap.documents = rd32(v.data() + 15);
    c.cap.bytes = rd32(v.data() + 19);
    if (!c.cap.limits.capped()) return fail(Errc::corrupt);
  }
  return {};
}

std::size_t DocStore::Impl::encode_index(const IndexSlot& x, std::span<std::byte> out) noexcept {
  std::size_t n = 0;
  out[n++] = std::byte{x.state};
  out[n++] = std::byte{static_cast<std::uint8_t>((x.unique ? index_unique : 0) | (x.hashed ? index_hashed : 0) |
                                             (x.multikey ? index_multikey : 0))};
  out[n++] = std::byte{x.path_count};
  out[n++] = std::byte{x.max_entries};
  le32(out.data() + n, x.build_from);
  n += 4;
  out[n++] = std::byte{x.name_size};
  std::memcpy(out.data() + n, x.name.data(), x.name_size);
  n += x.name_size;
  for (std::size_t p = 0; p < x.path_count; ++p) {
    out[n++] = std::byte{x.path_sizes[p]};
    std::memcpy(out.data() + n, x.paths[p].data(), x.path_sizes[p]);
    n += x.path_sizes[p];
  }
  out[n++] = std::byte{x.filter_size};
  if (x.filter_size) std::memcpy(out.data() + n, x.filter.data(), x.filter_size);
  return n + x.filter_size;
}

Status DocStore::Impl::decode_index(std::uint16_t cid, std::uint8_t iid, std::span<const std::byte> v,
                                    IndexSlot& x) noexcept {
  x = IndexSlot{};
  x.cid = cid;
  x.iid = iid;
  std::size_t n = 0;
  auto take = [&](std::size_t k) noexcept { return n + k <= v.size() ? (n += k, true) : false; };
  if (!take(9)) return fail(Errc::corrupt);
  x.state = static_cast<std::uint8_t>(v[0]);
  const auto flags = static_cast<std::uint8_t>(v[1]);   // records before hashed indexes hold 0 or 1
  if (flags & ~(index_unique | index_hashed | index_multikey)) return fail(Errc::corrupt);
  x.unique = (flags & index_unique) != 0;
  x.hashed = (flags & index_hashed) != 0;
  x.multikey = (flags & index_multikey) != 0;
  x.path_count = static_cast<std::uint8_t>(v[2]);
  x.max_entries = static_cast<std::uint8_t>(v[3]);
  x.build_from = rd32(v.data() + 4);
  x.name_size = static_cast<std::uint8_t>(v[8]);
  if (x.state > removing || x.path_count == 0 || x.path_count > max_index_paths || x.name_size == 0 ||
      x.name_size > max_index_name || !take(x.name_size))
    return fail(Errc::corrupt);
  std::memcpy(x.name.data(), v.data() + 9, x.name_size);
  for (std::size_t p = 0; p < x.path_count; ++p) {
    if (!take(1)) return fail(Errc::corrupt);
    const std::size_t len = static_cast<std::uint8_t>(v[n - 1]);
    if (len == 0 || len > max_index_path || !take(len)) return fail(Errc::corrupt);
    std::memcpy(x.paths[p].data(), v.data() + n - len, len);
    x.path_sizes[p] = static_cast<std::uint8_t>(len);
  }
  if (!take(1)) return fail(Errc::corrupt);
  x.filter_size = static_cast<std::uint8_t>(v[n - 1]);
  if (x.filter_size > max_index_filter || !take(x.filter_size) || n != v.size()) return fail(Errc::corrupt);
  std::memcpy(x.filter.data(), v.data() + n - x.filter_size, x.filter_size);
  return {};
}

// -- construction and open ---------------------------------------------------

DocStore::DocStore(Store& store, DocConfig config) noexcept : store_(&store), config_(config) {
  if (config_.collections.empty()) {
    own_collections_.resize(8);
    config_.collections = own_collections_;
  }
  if (config_.indexes.empty()) {
    own_indexes_.resize(16);
    config_.indexes = own_indexes_;
  }
  if (config_.workspace.empty()) {
    own_workspace_.resize(workspace_needed(config_.max_document_size));
    config_.workspace = own_workspace_;
  }
}

DocStore::~DocStore() = default;

void DocStore::unload() noexcept {
  open_ = false;
  for (auto& c : config_.collections) c = CollectionSlot{};
  for (auto& x : config_.indexes) x = IndexSlot{};
}

std::size_t DocStore::ram_bytes() const noexcept {
  return sizeof(*this) + config_.collections.size_bytes() + config_.indexes.size_bytes() +
         config_.workspace.size_bytes();
}

std::uint32_t DocStore::document_limit() const noexcept {
  // The document and its chunk keys must fit one batch next to a few index entries.
  const std::uint32_t batch = store_->max_batch_bytes();
  const std::uint32_t room = batch > 1024 ? batch - 1024 : batch / 2;
  const std::uint32_t chunks = room / (store_->value_limit() + 24) + 1;
  const std::uint32_t by_batch = std::min<std::uint32_t>(room, chunks * store_->value_limit());
  return std::min({config_.max_document_size, by_batch > 8 ? by_batch - 8 : 0u, Impl::most_in_parts(*this)});
}

Task<Status> DocStore::open() noexcept {
  if (!store_->mounted()) co_return fail(Errc::not_mounted);
  if (!store_->stats().keys_known) co_return fail(Errc::unsupported);   // index-less: no batches, no ordered scans
  if (config_.workspace.size() < workspace_needed(config_.max_document_size)) co_return fail(Errc::invalid_argument);
  unload();
  // A restore in progress (docs/FORMAT.md §10.6) leaves a partial store:
  // nothing may use it until the restore completes.
  std::array<std::byte, 64> restore{};
  auto r = co_await store_->get(as_bytes(restore_marker_key), restore);
  if (r ? (*r == 0 || restore[0] != std::byte{3}) : r.error() == Errc::buffer_too_small) co_return fail(Errc::busy);
  std::array<std::byte, 8> meta{};
  auto m = co_await store_->get(meta_key().view(), meta);
  if (m) {
    if (*m != 3 || static_cast<std::uint8_t>(meta[0]) != format_version) co_return fail(Errc::foreign_format);
    next_cid_ = rd16(meta.data() + 1);
  } else if (m.error() == Errc::not_found) {
    next_cid_ = 1;
  } else {
    co_return fail(m.error() == Errc::buffer_too_small ? Errc::foreign_format : m.error());
  }
  FERRITE_CO_TRY(co_await Impl::load_collections(*this));
  open_ = true;  // the pending work below uses the ordinary calls
  auto st = co_await Impl::finish_pending(*this);
  if (!st) unload();
  co_return st;
}

Task<Status> DocStore::Impl::ensure_open(DocStore& db) noexcept {
  if (db.open_) co_return Status{};
  co_return co_await db.open();
}

Task<Status> DocStore::Impl::load_collections(DocStore& db) noexcept {
  const Key prefix = collections_prefix();
  Cursor cur = db.store_->scan(prefix.view());
  std::array<std::byte, collection_record_max + 1> value{};
  std::size_t used = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    if (used == db.config_.collections.size()) co_return fail(Errc::no_memory);
    // The cursor's key is the key as stored: on a store that hides key names
    // a hash, not a name to look up again (docs/FORMAT.md §3.7).
    auto n = co_await cur.read_value(value);
    if (!n) co_return fail(n.error() == Errc::buffer_too_small ? Errc::corrupt : n.error());
    CollectionSlot& c = db.config_.collections[used];
    FERRITE_CO_TRY(decode_collection(cur.key(), std::span<const std::byte>(value.data(), *n), c));
    ++used;
    FERRITE_CO_TRY(co_await load_indexes(db, c.cid));
  }
  co_return Status{};
}

Task<Status> DocStore::Impl::load_indexes(DocStore& db, std::uint16_t cid) noexcept {
  const Key prefix = index_defs_prefix(cid);
  Cursor cur = db.store_->scan(prefix.view());
  std::array<std::byte, 512> value{};
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    if (cur.key().size() != prefix.size + 1) co_return fail(Errc::corrupt);
    IndexSlot* x = free_index_slot(db);
    if (!x) co_return fail(Errc::no_memory);
    auto n = co_await db.store_->get(cur.key(), value);
    if (!n) co_return fail(n.error() == Errc::buffer_too_small ? Errc::corrupt : n.error());
    FERRITE_CO_TRY(decode_index(cid, static_cast<std::uint8_t>(cur.key()[prefix.size]),
                                std::span<const std::byte>(value.data(), *n), *x));
  }
  co_return Status{};
}

Task<Status> DocStore::Impl::finish_pending(DocStore& db) noexcept {
  for (auto& c : db.config_.collections) {
    if (c.cid == 0) continue;
    if (c.flags & dropping) {
      FERRITE_CO_TRY(co_await remove_collection(db, c));
      continue;
    }
    if (c.flags & clearing) FERRITE_CO_TRY(co_await clear_collection(db, c));
  }
  for (auto& x : db.config_.indexes) {
    if (x.cid == 0) continue;
    if (x.state == removing) {
      FERRITE_CO_TRY(co_await remove_index(db, x));
    } else if (x.state == building) {
      // A build that cannot finish removed its index: the interrupted
      // create_index failed, the docstore opens without it.
      auto st = co_await build_index(db, x);
      if (!st && !build_refused(st.error())) co_return st;
    }
  }
  co_return Status{};
}

// -- slots --------------------------------------------------------------------

CollectionSlot* DocStore::Impl::find_collection(DocStore& db, std::string_view name) noexcept {
  for (auto& c : db.config_.collections)
    if (c.cid != 0 && c.name_view() == name) return &c;
  return nullptr;
}

CollectionSlot* DocStore::Impl::collection_by_cid(DocStore& db, std::uint16_t cid) noexcept {
  for (auto& c : db.config_.collections)
    if (c.cid == cid) return &c;
  return nullptr;
}

IndexSlot* DocStore::Impl::free_index_slot(DocStore& db) noexcept {
  for (auto& x : db.config_.indexes)
    if (x.cid == 0) return &x;
  return nullptr;
}

IndexSlot* DocStore::Impl::find_index(DocStore& db, std::uint16_t cid, std::string_view name) noexcept {
  for (auto& x : db.config_.indexes)
    if (x.cid == cid && x.name_view() == name) return &x;
  return nullptr;
}

std::size_t DocStore::list_collections(std::span<std::string_view> out) const noexcept {
  // The first out.size() names in name order (selection: no buffer needed).
  std::size_t n = 0;
  std::string_view last{};
  for (; n < out.size(); ++n) {
    const CollectionSlot* next = nullptr;
    for (const auto& c : config_.collections) {
      if (c.cid == 0 || (c.flags & dropping) || (n > 0 && c.name_view() <= last)) continue;
      if (!next || c.name_view() < next->name_view()) next = &c;
    }
    if (!next) break;
    out[n] = last = next->name_view();
  }
  return n;
}

// -- collections ----------------------------------------------------------------

Task<Result<CollectionSlot*>> DocStore::Impl::collection(DocStore& db, std::string_view name, bool create) noexcept {
  FERRITE_CO_TRY(co_await ensure_open(db));
  if (!valid_name(name, max_collection_name)) co_return fail(Errc::invalid_argument);
  CollectionSlot* c = find_collection(db, name);
  if (c && (c->flags & dropping)) co_return fail(Errc::not_found);
  if (c || !create) {
    if (!c) co_return fail(Errc::not_found);
    co_return c;
  }
  FERRITE_CO_TRY(co_await db.create_collection(name));
  c = find_collection(db, name);
  if (!c) co_return fail(Errc::not_found);
  co_return c;
}

Task<Status> DocStore::create_collection(std::string_view name) noexcept {
  co_return co_await create_collection(name, CollectionOptions{});
}

Task<Status> DocStore::create_collection(std::string_view name, const CollectionOptions& options) noexcept {
  FERRITE_CO_TRY(co_await Impl::ensure_open(*this));
  if (!docfmt::valid_name(name, max_collection_name)) co_return fail(Errc::invalid_argument);
  if (Impl::find_collection(*this, name)) co_return fail(Errc::exists);
  CollectionSlot* slot = nullptr;
  for (auto& c : config_.collections)
    if (c.cid == 0) {
      slot = &c;
      break;
    }
  if (!slot) co_return fail(Errc::no_memory);
  if (next_cid_ == 0xFFFF) co_return fail(Errc::no_space);
  CollectionSlot fresh;
  std::memcpy(fresh.name.data(), name.data(), name.size());
  fresh.name_size = static_cast<std::uint8_t>(name.size());
  fresh.cid = next_cid_;
  if (options.capped()) {
    fresh.flags = capped;
    fresh.cap.limits = options;
  }
  if (store_->hides_key_names()) fresh.flags |= named;
  Transaction t(*store_);
  std::array<std::byte, 3> meta{std::byte{format_version}};
  le16(meta.data() + 1, static_cast<std::uint16_t>(next_cid_ + 1));
  std::array<std::byte, collection_record_max> rec{};
  const std::size_t rec_size = Impl::encode_collection(fresh, rec);
  // Read both keys first: a racing creator of the same name gets `conflict`.
  std::array<std::byte, collection_record_max + 1> probe{};
  auto existing = co_await t.get(collection_key(name).view(), probe);
  if (existing || existing.error() != Errc::not_found) co_return fail(existing ? Errc::exists : existing.error());
  FERRITE_CO_TRY(co_await t.put(meta_key().view(), meta));
  FERRITE_CO_TRY(co_await t.put(collection_key(name).view(), std::span<const std::byte>(rec.data(), rec_size)));
  FERRITE_CO_TRY(co_await t.commit());
  ++next_cid_;
  *slot = fresh;
  co_return Status{};
}

Task<Status> DocStore::Impl::put_collection(DocStore& db, const CollectionSlot& c) noexcept {
  std::array<std::byte, collection_record_max> rec{};
  const std::size_t n = encode_collection(c, rec);
  co_return co_await db.store_->put(collection_key(c.name_view()).view(), std::span<const std::byte>(rec.data(), n));
}

Task<Status> DocStore::Impl::put_index(DocStore& db, const IndexSlot& x) noexcept {
  std::array<std::byte, 512> rec{};
  const std::size_t n = encode_index(x, rec);
  co_return co_await db.store_->put(index_def_key(x.cid, x.iid).view(), std::span<const std::byte>(rec.data(), n));
}

Task<Status> DocStore::drop_collection(std::string_view name) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, name, false));
  c->flags |= dropping;
  FERRITE_CO_TRY(co_await Impl::put_collection(*this, *c));
  co_return co_await Impl::remove_collection(*this, *c);
}

Task<Status> DocStore::clear(std::string_view name) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, name, false));
  c->flags |= clearing;
  FERRITE_CO_TRY(co_await Impl::put_collection(*this, *c));
  co_return co_await Impl::clear_collection(*this, *c);
}

Task<Status> DocStore::Impl::clear_collection(DocStore& db, CollectionSlot& c) noexcept {
  for (auto& x : db.config_.indexes)
    if (x.cid == c.cid) FERRITE_CO_TRY(co_await erase_prefix(db, entries_prefix(x)));
  FERRITE_CO_TRY(co_await erase_prefix(db, chunks_prefix(c.cid)));
  FERRITE_CO_TRY(co_await erase_prefix(db, docs_prefix(c.cid)));
  c.flags = static_cast<std::uint8_t>(c.flags & ~clearing);
  c.cap.documents = 0;
  c.cap.bytes = 0;
  co_return co_await put_collection(db, c);
}

Task<Status> DocStore::Impl::remove_collection(DocStore& db, CollectionSlot& c) noexcept {
  for (auto& x : db.config_.indexes)
    if (x.cid == c.cid) FERRITE_CO_TRY(co_await erase_prefix(db, entries_prefix(x)));
  FERRITE_CO_TRY(co_await erase_prefix(db, chunks_prefix(c.cid)));
  FERRITE_CO_TRY(co_await erase_prefix(db, docs_prefix(c.cid)));
  FERRITE_CO_TRY(co_await erase_prefix(db, index_defs_prefix(c.cid)));
  for (auto& x : db.config_.indexes)
    if (x.cid == c.cid) x = IndexSlot{};
  auto st = co_await db.store_->erase(collection_key(c.name_view()).view());
  if (!st && st.error() != Errc::not_found) co_return st;
  c = CollectionSlot{};
  co_return Status{};
}

Task<Status> DocStore::Impl::erase_prefix(DocStore& db, Key prefix) noexcept {
  // Bounded batches: each erases what one batch can hold, then scans again
  // (a power cut between batches leaves fewer keys, never a broken document:
  // the caller's flag makes open() finish the job).
  const std::size_t per_batch = std::clamp<std::size_t>(db.store_->max_batch_bytes() / 96, 1, 16);
  for (;;) {
    std::array<Key, 16> keys{};
    std::size_t n = 0;
    Cursor cur = db.store_->scan(prefix.view());
    while (n < per_batch) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
      if (!more) break;
      keys[n].append(cur.key());
      ++n;
    }
    if (n == 0) co_return Status{};
    Transaction t(*db.store_);
    for (std::size_t i = 0; i < n; ++i) FERRITE_CO_TRY(co_await t.erase(keys[i].view()));
    auto st = co_await t.commit();
    if (!st && st.error() != Errc::conflict) co_return st;
  }
}

// -- indexes ----------------------------------------------------------------------

// Sealed stores hash index values unless asked not to; plain stores cannot.
Result<bool> DocStore::Impl::hashed_policy(DocStore& db, const IndexSpec& spec) noexcept {
  if (spec.hashed && spec.plain_values) return fail(Errc::invalid_argument);
  if (!db.store_->sealed()) {
    if (spec.hashed) return fail(Errc::unsupported);
    return false;
  }
  return !spec.plain_values;
}

Task<Status> DocStore::create_index(std::string_view collection, const IndexSpec& spec) noexcept {
  if (!docfmt::valid_name(spec.name, max_index_name) || spec.path_count == 0 || spec.path_count > max_index_paths ||
      spec.max_entries_per_doc == 0 || spec.max_entries_per_doc > docfmt::max_entries)
    co_return fail(Errc::invalid_argument);
  for (std::size_t p = 0; p < spec.path_count; ++p) {
    const auto path = spec.paths[p];
    if (path.empty() || path.size() > max_index_path || path.front() == '.' || path.back() == '.')
      co_return fail(Errc::invalid_argument);
  }
  FERRITE_CO_TRY_ASSIGN(const bool hashed, Impl::hashed_policy(*this, spec));
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, true));
  if (Impl::find_index(*this, c->cid, spec.name)) co_return fail(Errc::exists);
  IndexSlot x;
  x.cid = c->cid;
  x.state = building;
  x.unique = spec.unique;
  x.hashed = hashed;
  x.path_count = spec.path_count;
  x.max_entries = spec.max_entries_per_doc;
  x.name_size = static_cast<std::uint8_t>(spec.name.size());
  std::memcpy(x.name.data(), spec.name.data(), spec.name.size());
  for (std::size_t p = 0; p < spec.path_count; ++p) {
    const auto path = spec.paths[p];
    std::memcpy(x.paths[p].data(), path.data(), path.size());
    x.path_sizes[p] = static_cast<std::uint8_t>(path.size());
  }
  if (spec.filter) {
    FERRITE_CO_TRY_ASSIGN(const std::size_t n, Impl::encode_query(*spec.filter, x.filter));
    x.filter_size = static_cast<std::uint8_t>(n);
  }
  // The smallest index id this collection does not use.
  std::array<bool, 256> used{};
  for (const auto& o : config_.indexes)
    if (o.cid == c->cid) used[o.iid] = true;
  for (std::size_t i = 1; i < used.size() && x.iid == 0; ++i)
    if (!used[i]) x.iid = static_cast<std::uint8_t>(i);
  if (x.iid == 0) co_return fail(Errc::no_memory);
  IndexSlot* slot = Impl::free_index_slot(*this);
  if (!slot) co_return fail(Errc::no_memory);
  FERRITE_CO_TRY(co_await Impl::put_index(*this, x));
  *slot = x;
  co_return co_await Impl::build_index(*this, *slot);
}

Task<Status> DocStore::drop_index(std::string_view collection, std::string_view name) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, false));
  IndexSlot* x = Impl::find_index(*this, c->cid, name);
  if (!x) co_return fail(Errc::not_found);
  x->state = removing;
  FERRITE_CO_TRY(co_await Impl::put_index(*this, *x));
  co_return co_await Impl::remove_index(*this, *x);
}

Task<Status> DocStore::Impl::remove_index(DocStore& db, IndexSlot& x) noexcept {
  FERRITE_CO_TRY(co_await erase_prefix(db, entries_prefix(x)));
  auto st = co_await db.store_->erase(index_def_key(x.cid, x.iid).view());
  if (!st && st.error() != Errc::not_found) co_return st;
  x = IndexSlot{};
  co_return Status{};
}

Task<Status> DocStore::Impl::build_index(DocStore& db, IndexSlot& x) noexcept {
  // Online and resumable: each batch indexes the next documents in id order
  // and records how far it got; writers maintain the entries of documents
  // below that mark. The batch reads each document it indexes, so a writer
  // that changes one meanwhile makes the batch conflict and run again.
  const std::size_t per_batch = std::clamp<std::size_t>(db.store_->max_batch_bytes() / 512, 1, 8);
  for (;;) {
    const Key lower = doc_key(x.cid, x.build_from);
    const Key upper = successor(docs_prefix(x.cid));
    std::array<DocId, 8> ids{};
    std::size_t n = 0;
    Cursor cur = db.store_->range(lower.view(), upper.view());
    while (n < per_batch) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
      if (!more) break;
      ids[n++] = id_of_doc_key(cur.key());
    }
    if (n == 0) break;
    DocTransaction tx(db);
    bool raced = false;
    for (std::size_t i = 0; i < n && !raced; ++i) {
      auto st = co_await index_one(tx, x, ids[i]);
      raced = !st && st.error() == Errc::conflict;   // a writer changed a document it read: redo the batch
      if (raced) continue;
      if (!st && build_refused(st.error())) {  // duplicates, or a document it cannot index: undo it
        tx.rollback();
        x.state = removing;
        FERRITE_CO_TRY(co_await put_index(db, x));
        FERRITE_CO_TRY(co_await remove_index(db, x));
        co_return st;
      }
      if (!st) co_return st;
    }
    if (raced) continue;
    IndexSlot next = x;   // (multikey as index_one left it)
    next.build_from = ids[n - 1] + 1;
    std::array<std::byte, 512> rec{};
    const std::size_t len = encode_index(next, rec);
    FERRITE_CO_TRY(co_await tx.txn_.put(index_def_key(x.cid, x.iid).view(), std::span<const std::byte>(rec.data(), len)));
    auto st = co_await tx.commit();
    if (!st && st.error() == Errc::conflict) continue;
    if (!st) co_return st;
    x.build_from = next.build_from;
  }
  x.state = ready;
  co_return co_await put_index(db, x);
}

Result<std::size_t> DocStore::Impl::encode_query(const doc::Query& q, std::span<std::byte> out) noexcept {
  if (q.error() != Errc::ok) return fail(q.error());
  doc::Writer w(out);
  write_query_node(w, q, 0);
  if (!w.status()) return fail(w.status().error() == Errc::buffer_too_small ? Errc::too_large : w.status().error());
  return w.size();
}

// The MongoDB-style document of a query (what Query::from_document reads).
void DocStore::Impl::write_query_node(doc::Writer& w, const doc::Query& q, std::size_t i) noexcept {
  const auto& n = q.node(i);
  using doc::Op;
  switch (n.op) {
    case Op::all: w.object(0); return;
    case Op::and_:
    case Op::or_:
      w.object(1).key(n.op == Op::and_ ? "$and" : "$or").array(n.children);
      for (std::size_t c = i + 1; c < i + n.span; c += q.node(c).span) write_query_node(w, q, c);
      return;
    case Op::not_:
      w.object(1).key("$not");
      write_query_node(w, q, i + 1);
      return;
    default: break;
  }
  std::array<char, 8> op{'$'};
  const char* name = doc::op_name(n.op);
  std::size_t len = std::strlen(name);
  std::memcpy(op.data() + 1, name, len);
  w.object(1).key(q.path_of(n)).object(1).key(std::string_view(op.data(), len + 1)).value(q.value_of(n));
}

}  // namespace ferrite
