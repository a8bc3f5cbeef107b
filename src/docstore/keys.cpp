// The docstore's key schema (docs/FORMAT.md §9): every key starts with 0xFE
// and a kind byte; integers are big-endian so that byte order is numeric order.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::docfmt {

namespace {

Key start(Kind kind) noexcept {
  Key k;
  k.push(static_cast<std::uint8_t>(ns));
  k.push(kind);
  return k;
}

}  // namespace

int compare_keys(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  if (n) {
    const int c = std::memcmp(a.data(), b.data(), n);
    if (c) return c < 0 ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

Key meta_key() noexcept { return start(meta); }

Key collection_key(std::string_view name) noexcept {
  Key k = start(collection);
  k.append({reinterpret_cast<const std::byte*>(name.data()), name.size()});
  return k;
}

Key collections_prefix() noexcept { return start(collection); }

Key index_def_key(std::uint16_t cid, std::uint8_t iid) noexcept {
  Key k = index_defs_prefix(cid);
  k.push(iid);
  return k;
}

Key index_defs_prefix(std::uint16_t cid) noexcept {
  Key k = start(index_def);
  k.be16(cid);
  return k;
}

Key docs_prefix(std::uint16_t cid) noexcept {
  Key k = start(document);
  k.be16(cid);
  return k;
}

Key doc_key(std::uint16_t cid, DocId id) noexcept {
  Key k = docs_prefix(cid);
  k.be32(id);
  return k;
}

Key chunks_prefix(std::uint16_t cid) noexcept {
  Key k = start(chunk);
  k.be16(cid);
  return k;
}

Key chunk_key(std::uint16_t cid, DocId id, std::uint8_t n) noexcept {
  Key k = chunks_prefix(cid);
  k.be32(id);
  k.push(n);
  return k;
}

Key entries_prefix(const IndexSlot& ix) noexcept {
  Key k = start(ix.unique ? unique : entry);
  k.be16(ix.cid);
  k.push(ix.iid);
  return k;
}

DocId id_at_end(std::span<const std::byte> key) noexcept {
  if (key.size() < 4) return 0;
  DocId id = 0;
  for (std::size_t i = key.size() - 4; i < key.size(); ++i) id = (id << 8) | static_cast<std::uint8_t>(key[i]);
  return id;
}

DocId id_of_doc_key(std::span<const std::byte> key) noexcept { return key.size() == 8 ? id_at_end(key) : 0; }

Key successor(const Key& prefix) noexcept {
  Key k = prefix;
  while (k.size > 0) {
    auto& last = k.bytes[k.size - 1];
    if (last != std::byte{0xFF}) {
      last = static_cast<std::byte>(static_cast<std::uint8_t>(last) + 1);
      return k;
    }
    --k.size;  // 0xFF cannot grow: drop it and carry
  }
  return k;
}

bool valid_name(std::string_view name, std::size_t max) noexcept {
  if (name.empty() || name.size() > max || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ferrite::docfmt

namespace ferrite {

std::size_t docstore_plain_length(std::span<const std::byte> name) noexcept {
  // Decided by the kind byte alone, which every key of a kind shares, so no
  // key kept whole can equal a collection key's prefix and hash.
  if (name.size() < 2 || name[0] != std::byte{docfmt::ns}) return 0;
  if (name[1] == std::byte{docfmt::collection}) return 2;
  return name.size();
}

}  // namespace ferrite
