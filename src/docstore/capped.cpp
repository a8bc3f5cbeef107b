// Capped collections: the exact counts a capped collection keeps in its
// collection record, and the eviction of its oldest documents in the batch
// of the write that would exceed a cap (docs/FORMAT.md §9.8).
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;

namespace {

// Appends the decimal digits of `v` (no fmt on firmware).
std::size_t append_decimal(char* out, std::uint32_t v) noexcept {
  char digits[10];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  for (std::size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  return n;
}

bool over_cap(const CollectionOptions& limits, std::uint32_t documents, std::uint32_t bytes) noexcept {
  return (limits.max_docs && documents > limits.max_docs) || (limits.max_bytes && bytes > limits.max_bytes);
}

}  // namespace

DocTransaction::Pending* DocStore::Impl::pending_for(DocTransaction& tx, std::uint16_t cid) noexcept {
  for (auto& p : tx.pending_)
    if (p.cid == cid) return &p;
  for (auto& p : tx.pending_)
    if (p.cid == 0) {
      p = DocTransaction::Pending{};
      p.cid = cid;
      return &p;
    }
  return nullptr;
}

Status DocStore::Impl::fits_cap(const CollectionSlot& c, std::uint32_t size) noexcept {
  if (!(c.flags & capped) || c.cap.limits.max_bytes == 0 || size <= c.cap.limits.max_bytes) return {};
  // "capped collection NAME: a document of N bytes exceeds max_bytes M"
  std::array<char, 40 + max_collection_name + 2 * 10 + 24> text{};
  std::size_t n = 0;
  auto put = [&](std::string_view s) noexcept {
    std::memcpy(text.data() + n, s.data(), s.size());
    n += s.size();
  };
  put("capped collection ");
  put(c.name_view());
  put(": a document of ");
  n += append_decimal(text.data() + n, size);
  put(" bytes exceeds max_bytes ");
  n += append_decimal(text.data() + n, c.cap.limits.max_bytes);
  emit_event(EventLevel::info, std::string_view(text.data(), n));
  return fail(Errc::too_large);
}

Task<Status> DocStore::Impl::account(DocTransaction& tx, CollectionSlot& c, int added, std::uint32_t old_size,
                                     std::uint32_t new_size, DocId keep, DocId inserted) noexcept {
  DocTransaction::Pending* p = pending_for(tx, c.cid);
  if (!p) co_return fail(Errc::no_memory);
  const Key record_key = collection_key(c.name_view());
  if (!p->counted) {
    // The persisted counts, read through the transaction: a second writer of
    // this collection then conflicts instead of counting from a stale base.
    std::array<std::byte, collection_record_max + 1> rec{};
    auto n = co_await tx.txn_.get(record_key.view(), rec);
    if (!n) co_return fail(n.error() == Errc::not_found || n.error() == Errc::buffer_too_small ? Errc::corrupt
                                                                                            : n.error());
    CollectionSlot stored;
    FERRITE_CO_TRY(decode_collection(record_key.view(), std::span<const std::byte>(rec.data(), *n), stored));
    if (!(stored.flags & capped)) co_return fail(Errc::corrupt);
    p->counted = true;
    p->documents = stored.cap.documents;
    p->bytes = stored.cap.bytes;
    p->checkpoint = std::max(p->checkpoint, stored.id_checkpoint);
  }
  if (added < 0 && p->documents == 0) co_return fail(Errc::corrupt);
  if (old_size > p->bytes) co_return fail(Errc::corrupt);
  p->documents = static_cast<std::uint32_t>(static_cast<std::int64_t>(p->documents) + added);
  p->bytes = p->bytes - old_size + new_size;
  if (inserted) {
    if (p->first_insert == 0) p->first_insert = inserted;
    if (inserted >= std::max(p->checkpoint, c.id_checkpoint)) p->checkpoint = inserted + id_checkpoint_step;
  }
  if (over_cap(c.cap.limits, p->documents, p->bytes)) FERRITE_CO_TRY(co_await evict_oldest(tx, c, *p, keep));
  CollectionSlot next = c;
  next.id_checkpoint = std::max(c.id_checkpoint, p->checkpoint);
  next.cap.documents = p->documents;
  next.cap.bytes = p->bytes;
  std::array<std::byte, collection_record_max> rec{};
  const std::size_t n = encode_collection(next, rec);
  co_return co_await tx.txn_.put(record_key.view(), std::span<const std::byte>(rec.data(), n));
}

Task<Status> DocStore::Impl::evict_oldest(DocTransaction& tx, CollectionSlot& c, DocTransaction::Pending& p,
                                          DocId keep) noexcept {
  // Walks the committed documents from the lowest id (the engine's key
  // order), then the ids this transaction inserted itself (not in the store
  // yet); ids the transaction already removed read not_found and are skipped.
  DocStore& db = *tx.db_;
  const Key lower = doc_key(c.cid, 0);
  const Key upper = successor(docs_prefix(c.cid));
  Cursor cur = db.store_->range(lower.view(), upper.view());
  bool committed = true;
  DocId own = p.first_insert;
  while (over_cap(c.cap.limits, p.documents, p.bytes)) {
    DocId id = 0;
    if (committed) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
      if (more) {
        id = id_of_doc_key(cur.key());
        if (p.first_insert && id >= p.first_insert) committed = false;   // the transaction's own ids follow
      } else {
        committed = false;
      }
    }
    if (!committed) {
      if (own == 0 || own >= c.next_id) co_return fail(Errc::corrupt);   // counts the documents cannot satisfy
      id = own++;
    }
    if (id == keep) continue;
    auto old = co_await read_doc(db, &tx.txn_, c.cid, id, buffer(db, 0));
    if (!old && old.error() == Errc::not_found) continue;
    if (!old) co_return fail(old.error());
    const auto size = static_cast<std::uint32_t>(old->bytes.size());
    FERRITE_CO_TRY(co_await update_entries(db, tx.txn_, c.cid, id, old->view, doc::View{}));
    FERRITE_CO_TRY(co_await erase_doc(tx.txn_, c.cid, id, old->parts));
    if (p.documents == 0 || size > p.bytes) co_return fail(Errc::corrupt);
    --p.documents;
    p.bytes -= size;
  }
  co_return Status{};
}

}  // namespace ferrite
