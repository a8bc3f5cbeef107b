// What DocStore::last_refusal() reports: each refusal of a document or a
// query records the limit it met (in the engine's Refusal terms), so an
// application can say which limit to raise or which index to add.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite {

namespace {

std::uint32_t clamp32(std::uint64_t v) noexcept {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xFFFFFFFFu));
}

}  // namespace

std::uint32_t DocStore::Impl::most_in_parts(const DocStore& db) noexcept {
  const std::uint64_t part = db.store_->value_limit();
  return part > docfmt::doc_chunked_header ? clamp32(255 * part - docfmt::doc_chunked_header) : 0;
}

Errc DocStore::Impl::refuse_document(DocStore& db, std::size_t size, bool over_buffer) noexcept {
  const std::uint32_t by_config = db.config_.max_document_size;
  const std::uint32_t limit = over_buffer ? by_config : db.document_limit();
  const char* why =
      limit == by_config
          ? "the document is larger than DocConfig::max_document_size (value: its CBOR bytes with _id, _ts and "
            "_v, at least; limit: max_document_size)"
      : limit == most_in_parts(db)
          ? "the document is larger than document_limit() (value: its CBOR bytes with _id, _ts and _v), here "
            "what 255 parts of value_limit() bytes hold (255 x value_limit() less a 6-byte chunk header); larger "
            "engine values (StoreConfig::max_value_size, larger sectors) raise it"
          : "the document is larger than document_limit() (value: its CBOR bytes with _id, _ts and _v): its "
            "parts of value_limit() bytes and room for its index entries must fit one engine batch, "
            "Store::max_batch_bytes(); larger sectors raise it";
  db.refusal_ = Refusal{Errc::too_large, "document", clamp32(size), limit, why};
  return Errc::too_large;
}

Errc DocStore::Impl::refuse_parts(DocStore& db, std::size_t size) noexcept {
  // document_limit() keeps documents within 255 parts: this guards the writer itself.
  db.refusal_ = Refusal{Errc::too_large, "document parts", clamp32(size), most_in_parts(db),
                        "a document is stored in at most 255 parts of value_limit() bytes (limit: 255 x "
                        "value_limit() less its 6-byte chunk header; value: the document's bytes)"};
  return Errc::too_large;
}

Errc DocStore::Impl::refuse_entries(DocStore& db, const IndexSlot& x) noexcept {
  const std::uint32_t limit = std::min<std::uint32_t>(x.max_entries, docfmt::max_entries);
  db.refusal_ = Refusal{Errc::too_large, "index entries", limit + 1, limit,
                        "the document has more entries in one index than IndexSpec::max_entries_per_doc allows "
                        "(at most 16): each array element at an indexed path, and each combination of a compound "
                        "index's values, is one entry (value: at least limit + 1)"};
  return Errc::too_large;
}

Errc DocStore::Impl::refuse_batch(DocStore& db) noexcept {
  const Refusal engine = db.store_->last_refusal();
  db.refusal_ = engine.code == Errc::too_large
                    ? engine
                    : Refusal{Errc::too_large, "batch", 0, db.store_->max_batch_bytes(),
                              "the transaction's writes do not fit one engine batch (limit: "
                              "Store::max_batch_bytes())"};
  return Errc::too_large;
}

Errc DocStore::Impl::refuse_sort(DocStore& db, std::string_view path, std::uint64_t k) noexcept {
  const std::size_t n = std::min(path.size(), db.refused_path_.size() - 1);
  std::memcpy(db.refused_path_.data(), path.data(), n);
  db.refused_path_[n] = 0;
  db.refusal_ = Refusal{Errc::unsupported, db.refused_path_.data(), clamp32(k), db.config_.max_top_k,
                        "a sort by this path (field) needs either an index the query walks in this path's order "
                        "(create_index on the path, after the paths the query fixes by equality; not hashed) or "
                        "a limit with skip + limit <= DocConfig::max_top_k (value: skip + limit, 0: no limit; "
                        "limit: max_top_k)"};
  return Errc::unsupported;
}

Errc DocStore::Impl::refuse_regex(DocStore& db) noexcept {
  db.refusal_ = Refusal{Errc::unsupported, "regex", 1, 0,
                        "this build has no regular expressions (doc::regex_supported() is false: no POSIX "
                        "<regex.h>, e.g. firmware builds); use eq, in or prefix"};
  return Errc::unsupported;
}

}  // namespace ferrite
