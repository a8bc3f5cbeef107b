// Documents: how one is read (whole or chunked), written with its index
// entries in the same batch, and the calls that insert, update, replace and
// remove them (DocTransaction; the DocStore calls are one-document
// transactions that retry on a conflict).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;

namespace {

constexpr int max_attempts = 4;

bool reserved(std::string_view k) noexcept { return k == "_id" || k == "_ts" || k == "_v"; }

void put_le32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get_le32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

}  // namespace

std::span<std::byte> DocStore::Impl::buffer(DocStore& db, int which) noexcept {
  const std::size_t size = std::size_t{db.config_.max_document_size} + slack;
  return db.config_.workspace.subspan(which * size, size);
}

// -- reading ------------------------------------------------------------------

Task<Result<std::size_t>> DocStore::Impl::get_value(DocStore& db, Transaction* t, std::span<const std::byte> key,
                                                    std::span<std::byte> out) noexcept {
  if (t) co_return co_await t->get(key, out);
  co_return co_await db.store_->get(key, out);
}

Task<Result<DocStore::Impl::Stored>> DocStore::Impl::read_doc(DocStore& db, Transaction* t, std::uint16_t cid,
                                                              DocId id, std::span<std::byte> buf) noexcept {
  auto n = co_await get_value(db, t, doc_key(cid, id).view(), buf);
  if (!n) co_return fail(n.error() == Errc::buffer_too_small ? Errc::corrupt : n.error());
  co_return co_await complete_doc(db, t, cid, id, buf, *n);
}

Task<Result<DocStore::Impl::Stored>> DocStore::Impl::complete_doc(DocStore& db, Transaction* t, std::uint16_t cid,
                                                                  DocId id, std::span<std::byte> buf,
                                                                  std::size_t n) noexcept {
  if (n < 2) co_return fail(Errc::corrupt);
  Stored s;
  if (static_cast<std::uint8_t>(buf[0]) == doc_whole) {
    s.bytes = std::span<const std::byte>(buf.data() + 1, n - 1);
  } else if (static_cast<std::uint8_t>(buf[0]) == doc_chunked && n > doc_chunked_header) {
    const std::uint32_t total = get_le32(buf.data() + 1);
    s.parts = static_cast<std::uint8_t>(buf[5]);
    std::size_t have = n - doc_chunked_header;
    if (total > buf.size() - doc_chunked_header || have > total || s.parts < 2) co_return fail(Errc::corrupt);
    for (std::uint8_t part = 1; part < s.parts; ++part) {
      auto got = co_await get_value(db, t, chunk_key(cid, id, part).view(),
                                    buf.subspan(doc_chunked_header + have, total - have));
      if (!got) co_return fail(got.error() == Errc::not_found || got.error() == Errc::buffer_too_small
                                   ? Errc::corrupt : got.error());
      have += *got;
    }
    if (have != total) co_return fail(Errc::corrupt);
    s.bytes = std::span<const std::byte>(buf.data() + doc_chunked_header, total);
  } else {
    co_return fail(Errc::corrupt);
  }
  auto v = doc::View::parse(s.bytes, db.config_.limits);
  if (!v || v->type() != doc::Type::object) co_return fail(Errc::corrupt);
  s.view = *v;
  co_return s;
}

// -- writing --------------------------------------------------------------------

Task<Status> DocStore::Impl::write_doc(DocStore& db, Transaction& t, std::uint16_t cid, DocId id,
                                       std::span<std::byte> buf, std::size_t size, std::uint8_t old_parts) noexcept {
  // The document sits at buf[slack, slack + size): its header goes just before it.
  const std::size_t limit = db.store_->value_limit();
  std::byte* doc = buf.data() + slack;
  std::uint8_t parts = 1;
  if (size + 1 <= limit) {
    doc[-1] = std::byte{doc_whole};
    FERRITE_CO_TRY(co_await t.put(doc_key(cid, id).view(), std::span<const std::byte>(doc - 1, size + 1)));
  } else {
    if (limit <= doc_chunked_header) co_return fail(refuse_parts(db, size));
    const std::size_t first = limit - doc_chunked_header;
    const std::size_t more = (size - first + limit - 1) / limit;
    if (more + 1 > 255) co_return fail(refuse_parts(db, size));
    parts = static_cast<std::uint8_t>(more + 1);
    std::byte* head = doc - doc_chunked_header;
    head[0] = std::byte{doc_chunked};
    put_le32(head + 1, static_cast<std::uint32_t>(size));
    head[5] = std::byte{parts};
    FERRITE_CO_TRY(co_await t.put(doc_key(cid, id).view(), std::span<const std::byte>(head, limit)));
    for (std::size_t at = first, part = 1; at < size; at += limit, ++part) {
      const std::size_t len = std::min(limit, size - at);
      FERRITE_CO_TRY(co_await t.put(chunk_key(cid, id, static_cast<std::uint8_t>(part)).view(),
                                    std::span<const std::byte>(doc + at, len)));
    }
  }
  for (std::uint8_t p = std::max<std::uint8_t>(parts, 1); p < old_parts; ++p)
    FERRITE_CO_TRY(co_await t.erase(chunk_key(cid, id, p).view()));
  co_return Status{};
}

Task<Status> DocStore::Impl::erase_doc(Transaction& t, std::uint16_t cid, DocId id, std::uint8_t parts) noexcept {
  FERRITE_CO_TRY(co_await t.erase(doc_key(cid, id).view()));
  for (std::uint8_t p = 1; p < parts; ++p) FERRITE_CO_TRY(co_await t.erase(chunk_key(cid, id, p).view()));
  co_return Status{};
}

bool DocStore::Impl::maintains(const IndexSlot& x, DocId id) noexcept {
  return x.state == ready || (x.state == building && id < x.build_from);
}

Task<Status> DocStore::Impl::update_entries(DocStore& db, Transaction& t, std::uint16_t cid, DocId id,
                                            const doc::View& old_doc, const doc::View& new_doc) noexcept {
  for (auto& x : db.config_.indexes) {
    if (x.cid != cid || !maintains(x, id)) continue;
    EntrySet olds, news;
    if (old_doc.valid()) FERRITE_CO_TRY(index_entries(x, old_doc, id, *db.store_, olds));
    if (new_doc.valid()) {
      const Status st = index_entries(x, new_doc, id, *db.store_, news);
      if (!st) co_return fail(st.error() == Errc::too_large ? refuse_entries(db, x) : st.error());
    }
    FERRITE_CO_TRY(co_await note_multikey(t, x, news));
    for (std::size_t i = 0; i < olds.count; ++i)
      if (!news.contains(olds.keys[i])) FERRITE_CO_TRY(co_await t.erase(olds.keys[i].view()));
    for (std::size_t i = 0; i < news.count; ++i) {
      if (olds.contains(news.keys[i])) continue;
      std::array<std::byte, 4> value{};
      if (x.unique) {
        auto other = co_await t.get(news.keys[i].view(), value);
        if (other) co_return fail(Errc::exists);  // (our own old entry would be in olds)
        if (other.error() != Errc::not_found) co_return fail(other.error());
        for (int b = 0; b < 4; ++b) value[b] = static_cast<std::byte>(id >> (24 - 8 * b));
      }
      FERRITE_CO_TRY(co_await t.put(news.keys[i].view(),
                                    std::span<const std::byte>(value.data(), x.unique ? 4 : 0)));
    }
  }
  co_return Status{};
}

Result<doc::View> DocStore::Impl::build_stored(DocStore& db, std::span<std::byte> buf, const doc::View& body,
                                               DocId id, std::int64_t ts, std::uint32_t version) noexcept {
  if (body.type() != doc::Type::object) return fail(Errc::invalid_argument);
  doc::Writer w(buf.subspan(slack, db.config_.max_document_size));
  w.begin_object().key("_id").integer(id).key("_ts").integer(ts).key("_v").integer(version);
  auto c = body.children();
  while (c.next())
    if (!reserved(c.key())) w.key(c.key()).value(c.value());
  w.end();
  return finish_stored(db, w, body.raw().size());
}

Result<doc::View> DocStore::Impl::finish_stored(DocStore& db, doc::Writer& w, std::size_t at_least) noexcept {
  auto v = w.finish();
  if (!v && v.error() == Errc::buffer_too_small)
    return fail(refuse_document(db, std::max<std::size_t>(at_least, db.config_.max_document_size + 1u), true));
  if (!v) return fail(v.error());
  if (w.size() > db.document_limit()) return fail(refuse_document(db, w.size(), false));
  auto checked = doc::View::parse(w.written(), db.config_.limits);
  if (!checked) return fail(checked.error());
  return *checked;
}

std::uint32_t DocStore::Impl::version_of(const doc::View& doc) noexcept {
  const doc::View v = doc.get("_v");
  return v.type() == doc::Type::integer ? static_cast<std::uint32_t>(v.integer()) : 0;
}

// -- DocTransaction ---------------------------------------------------------------

DocTransaction::DocTransaction(DocStore& db) noexcept : db_(&db), txn_(*db.store_) {}

Task<Status> DocStore::Impl::bump_checkpoint(DocTransaction& tx, CollectionSlot& c, DocId id) noexcept {
  DocId persisted = c.id_checkpoint;
  for (const auto& p : tx.pending_)
    if (p.cid == c.cid) persisted = std::max(persisted, p.checkpoint);
  if (id < persisted) co_return Status{};
  CollectionSlot next = c;
  next.id_checkpoint = id + id_checkpoint_step;
  std::array<std::byte, collection_record_max> rec{};
  const std::size_t n = encode_collection(next, rec);
  FERRITE_CO_TRY(co_await tx.txn_.put(collection_key(c.name_view()).view(), std::span<const std::byte>(rec.data(), n)));
  DocTransaction::Pending* p = pending_for(tx, c.cid);
  if (!p) co_return fail(Errc::no_memory);
  p->cid = c.cid;
  p->checkpoint = next.id_checkpoint;
  co_return Status{};
}

Task<Result<DocId>> DocTransaction::insert(std::string_view collection, const doc::View& document) noexcept {
  using I = DocStore::Impl;
  if (document.type() != doc::Type::object) co_return fail(Errc::invalid_argument);
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await I::collection(*db_, collection, true));
  auto guard = co_await db_->mutex_.lock();
  if (c->cid == 0) co_return fail(Errc::not_found);  // dropped while we waited
  if (c->next_id == 0xFFFFFFFFu) co_return fail(Errc::no_space);
  const DocId id = c->next_id++;
  auto buf = I::buffer(*db_, 1);
  FERRITE_CO_TRY_ASSIGN(const doc::View stored,
                        I::build_stored(*db_, buf, document, id, db_->config_.clock.read(), 1));
  const auto size = static_cast<std::uint32_t>(stored.raw().size());
  const bool is_capped = (c->flags & capped) != 0;
  FERRITE_CO_TRY(I::fits_cap(*c, size));
  if (!is_capped) FERRITE_CO_TRY(co_await I::bump_checkpoint(*this, *c, id));
  FERRITE_CO_TRY(co_await I::update_entries(*db_, txn_, c->cid, id, doc::View{}, stored));
  FERRITE_CO_TRY(co_await I::write_doc(*db_, txn_, c->cid, id, buf, stored.raw().size(), 0));
  if (is_capped) FERRITE_CO_TRY(co_await I::account(*this, *c, 1, 0, size, id, id));
  co_return id;
}

Task<Result<std::size_t>> DocTransaction::get(std::string_view collection, DocId id, std::span<std::byte> out) noexcept {
  using I = DocStore::Impl;
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await I::collection(*db_, collection, false));
  auto guard = co_await db_->mutex_.lock();
  FERRITE_CO_TRY_ASSIGN(const I::Stored s, co_await I::read_doc(*db_, &txn_, c->cid, id, I::buffer(*db_, 0)));
  if (out.size() < s.bytes.size()) co_return fail(Errc::buffer_too_small);
  std::memcpy(out.data(), s.bytes.data(), s.bytes.size());
  co_return s.bytes.size();
}

Task<Status> DocTransaction::replace(std::string_view collection, DocId id, const doc::View& document,
                                     std::uint32_t expected_version) noexcept {
  using I = DocStore::Impl;
  if (document.type() != doc::Type::object) co_return fail(Errc::invalid_argument);
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await I::collection(*db_, collection, false));
  auto guard = co_await db_->mutex_.lock();
  FERRITE_CO_TRY_ASSIGN(const I::Stored old, co_await I::read_doc(*db_, &txn_, c->cid, id, I::buffer(*db_, 0)));
  if (I::version_of(old.view) != expected_version) co_return fail(Errc::conflict);
  auto buf = I::buffer(*db_, 1);
  FERRITE_CO_TRY_ASSIGN(const doc::View stored, I::build_stored(*db_, buf, document, id, db_->config_.clock.read(),
                                                                expected_version + 1));
  const auto size = static_cast<std::uint32_t>(stored.raw().size());
  const bool is_capped = (c->flags & capped) != 0;
  FERRITE_CO_TRY(I::fits_cap(*c, size));
  FERRITE_CO_TRY(co_await I::update_entries(*db_, txn_, c->cid, id, old.view, stored));
  FERRITE_CO_TRY(co_await I::write_doc(*db_, txn_, c->cid, id, buf, stored.raw().size(), old.parts));
  if (is_capped)
    FERRITE_CO_TRY(co_await I::account(*this, *c, 0, static_cast<std::uint32_t>(old.bytes.size()), size, id, 0));
  co_return Status{};
}

Task<Result<bool>> DocStore::Impl::update_one(DocTransaction& tx, std::uint16_t cid, DocId id,
                                              const doc::Query& query, const doc::View& patch) noexcept {
  DocStore& db = *tx.db_;
  auto guard = co_await db.mutex_.lock();
  auto old = co_await read_doc(db, &tx.txn_, cid, id, buffer(db, 0));
  if (!old && old.error() == Errc::not_found) co_return false;  // removed meanwhile
  if (!old) co_return fail(old.error());
  if (!doc::matches(query, old->view)) co_return false;        // changed meanwhile
  auto buf = buffer(db, 1);
  doc::Writer w(buf.subspan(slack, db.config_.max_document_size));
  // Out of room is a document over max_document_size: finish_stored says so.
  const Status patched = apply_patch(w, old->view, patch, db.config_.clock.read());
  if (!patched && patched.error() != Errc::buffer_too_small) co_return fail(patched.error());
  FERRITE_CO_TRY_ASSIGN(const doc::View stored, finish_stored(db, w, old->bytes.size()));
  const auto size = static_cast<std::uint32_t>(stored.raw().size());
  CollectionSlot* c = collection_by_cid(db, cid);
  const bool is_capped = c && (c->flags & capped) != 0;
  if (is_capped) FERRITE_CO_TRY(fits_cap(*c, size));
  FERRITE_CO_TRY(co_await update_entries(db, tx.txn_, cid, id, old->view, stored));
  FERRITE_CO_TRY(co_await write_doc(db, tx.txn_, cid, id, buf, stored.raw().size(), old->parts));
  if (is_capped)
    FERRITE_CO_TRY(co_await account(tx, *c, 0, static_cast<std::uint32_t>(old->bytes.size()), size, id, 0));
  co_return true;
}

Task<Result<bool>> DocStore::Impl::remove_one(DocTransaction& tx, std::uint16_t cid, DocId id,
                                              const doc::Query& query) noexcept {
  DocStore& db = *tx.db_;
  auto guard = co_await db.mutex_.lock();
  auto old = co_await read_doc(db, &tx.txn_, cid, id, buffer(db, 0));
  if (!old && old.error() == Errc::not_found) co_return false;
  if (!old) co_return fail(old.error());
  if (!doc::matches(query, old->view)) co_return false;
  FERRITE_CO_TRY(co_await update_entries(db, tx.txn_, cid, id, old->view, doc::View{}));
  FERRITE_CO_TRY(co_await erase_doc(tx.txn_, cid, id, old->parts));
  CollectionSlot* c = collection_by_cid(db, cid);
  if (c && (c->flags & capped))
    FERRITE_CO_TRY(co_await account(tx, *c, -1, static_cast<std::uint32_t>(old->bytes.size()), 0, 0, 0));
  co_return true;
}

Task<Status> DocStore::Impl::note_multikey(Transaction& t, IndexSlot& x, const EntrySet& entries) noexcept {
  if (x.multikey || entries.count < 2) co_return Status{};
  x.multikey = true;   // in RAM at once (conservative if this batch never commits)
  std::array<std::byte, 512> rec{};
  const std::size_t len = encode_index(x, rec);
  co_return co_await t.put(index_def_key(x.cid, x.iid).view(), std::span<const std::byte>(rec.data(), len));
}

Task<Status> DocStore::Impl::index_one(DocTransaction& tx, IndexSlot& x, DocId id) noexcept {
  DocStore& db = *tx.db_;
  auto guard = co_await db.mutex_.lock();
  auto d = co_await read_doc(db, &tx.txn_, x.cid, id, buffer(db, 0));
  if (!d && d.error() == Errc::not_found) co_return Status{};
  if (!d) co_return fail(d.error());
  IndexSlot only = x;   // the index being built, as if it were ready
  only.state = ready;
  EntrySet news;
  FERRITE_CO_TRY(index_entries(only, d->view, id, *db.store_, news));
  x.multikey = x.multikey || news.count > 1;   // build_index writes the definition in this batch
  for (std::size_t i = 0; i < news.count; ++i) {
    std::array<std::byte, 4> value{};
    if (x.unique) {
      auto other = co_await tx.txn_.get(news.keys[i].view(), value);
      if (other && id_at_end(std::span<const std::byte>(value.data(), 4)) != id) co_return fail(Errc::exists);
      if (!other && other.error() != Errc::not_found) co_return fail(other.error());
      for (int b = 0; b < 4; ++b) value[b] = static_cast<std::byte>(id >> (24 - 8 * b));
    }
    FERRITE_CO_TRY(co_await tx.txn_.put(news.keys[i].view(), std::span<const std::byte>(value.data(), x.unique ? 4 : 0)));
  }
  co_return Status{};
}

Task<Result<std::uint32_t>> DocTransaction::update(std::string_view collection, const doc::Query& query,
                                                   const doc::View& patch) noexcept {
  co_return co_await DocStore::Impl::for_each_match(*this, collection, query, &patch);
}

Task<Result<std::uint32_t>> DocTransaction::remove(std::string_view collection, const doc::Query& query) noexcept {
  co_return co_await DocStore::Impl::for_each_match(*this, collection, query, nullptr);
}

Task<Result<std::uint32_t>> DocStore::Impl::for_each_match(DocTransaction& tx, std::string_view collection,
                                                           const doc::Query& query, const doc::View* patch) noexcept {
  FERRITE_CO_TRY(check_patch(patch));
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await collection_for(*tx.db_, collection));
  const std::uint16_t cid = c->cid;
  doc::FindOptions options;
  options.no_index = patch && patch_touches_indexes(*tx.db_, cid, *patch);
  FindCursor cur = tx.db_->find(collection, query, options);
  std::uint32_t changed = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    FERRITE_CO_TRY_ASSIGN(const bool hit, patch ? co_await update_one(tx, cid, cur.id(), query, *patch)
                                                : co_await remove_one(tx, cid, cur.id(), query));
    changed += hit ? 1 : 0;
  }
  co_return changed;
}

Task<Status> DocTransaction::commit() noexcept {
  auto st = co_await txn_.commit();
  if (!st && st.error() == Errc::too_large) DocStore::Impl::refuse_batch(*db_);
  if (st) {
    for (const auto& p : pending_) {
      if (p.cid == 0) continue;
      if (CollectionSlot* c = DocStore::Impl::collection_by_cid(*db_, p.cid)) {
        c->id_checkpoint = std::max(c->id_checkpoint, p.checkpoint);
        if (p.counted) {
          c->cap.documents = p.documents;
          c->cap.bytes = p.bytes;
        }
      }
    }
  }
  pending_ = {};
  co_return st;
}

// -- the one-document calls --------------------------------------------------------

Task<Result<CollectionSlot*>> DocStore::Impl::collection_for(DocStore& db, std::string_view name) noexcept {
  co_return co_await collection(db, name, false);
}

Task<Result<DocId>> DocStore::insert(std::string_view collection, const doc::View& document) noexcept {
  auto writer = co_await writers_.lock();
  for (int attempt = 0;; ++attempt) {
    DocTransaction tx(*this);
    FERRITE_CO_TRY_ASSIGN(const DocId id, co_await tx.insert(collection, document));
    auto st = co_await tx.commit();
    if (st) co_return id;
    if (st.error() != Errc::conflict || attempt + 1 == max_attempts) co_return fail(st.error());
  }
}

Task<Result<std::size_t>> DocStore::insert_many(std::string_view collection, std::span<const doc::View> documents,
                                                std::span<DocId> ids) noexcept {
  if (ids.size() < documents.size()) co_return fail(Errc::invalid_argument);
  for (std::size_t i = 0; i < documents.size(); ++i) {
    auto id = co_await insert(collection, documents[i]);
    if (!id) co_return fail(id.error());
    ids[i] = *id;
  }
  co_return documents.size();
}

Task<Result<std::size_t>> DocStore::get(std::string_view collection, DocId id, std::span<std::byte> out) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, false));
  auto guard = co_await mutex_.lock();
  FERRITE_CO_TRY_ASSIGN(const Impl::Stored s, co_await Impl::read_doc(*this, nullptr, c->cid, id, Impl::buffer(*this, 0)));
  if (out.size() < s.bytes.size()) co_return fail(Errc::buffer_too_small);
  std::memcpy(out.data(), s.bytes.data(), s.bytes.size());
  co_return s.bytes.size();
}

Task<Status> DocStore::replace(std::string_view collection, DocId id, const doc::View& document,
                               std::uint32_t expected_version) noexcept {
  auto writer = co_await writers_.lock();
  DocTransaction tx(*this);
  FERRITE_CO_TRY(co_await tx.replace(collection, id, document, expected_version));
  co_return co_await tx.commit();  // a conflict here is the compare-and-swap failing
}

Task<Result<std::uint32_t>> DocStore::Impl::each_in_own_batch(DocStore& db, std::string_view collection,
                                                              const doc::Query& query, const doc::View* patch) noexcept {
  // One batch per document: walk the matches, then change each one in its
  // own transaction, retried on a conflict.
  FERRITE_CO_TRY(check_patch(patch));
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await collection_for(db, collection));
  const std::uint16_t cid = c->cid;
  doc::FindOptions options;
  options.no_index = patch && patch_touches_indexes(db, cid, *patch);
  FindCursor cur = db.find(collection, query, options);
  std::uint32_t changed = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    auto writer = co_await db.writers_.lock();
    for (int attempt = 0;; ++attempt) {
      DocTransaction tx(db);
      FERRITE_CO_TRY_ASSIGN(const bool hit, patch ? co_await update_one(tx, cid, cur.id(), query, *patch)
                                                  : co_await remove_one(tx, cid, cur.id(), query));
      if (!hit) break;
      auto st = co_await tx.commit();
      if (st) {
        ++changed;
        break;
      }
      if (st.error() != Errc::conflict || attempt + 1 == max_attempts) co_return fail(st.error());
    }
  }
  co_return changed;
}

Task<Result<std::uint32_t>> DocStore::update(std::string_view collection, const doc::Query& query,
                                             const doc::View& patch) noexcept {
  co_return co_await Impl::each_in_own_batch(*this, collection, query, &patch);
}

Task<Result<std::uint32_t>> DocStore::remove(std::string_view collection, const doc::Query& query) noexcept {
  co_return co_await Impl::each_in_own_batch(*this, collection, query, nullptr);
}

}  // namespace ferrite
