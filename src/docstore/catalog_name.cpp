// Where a collection record keeps its collection's name (docs/FORMAT.md
// §9.2): in its key on a store that shows key names; at the end of its
// sealed value (the name trailer, flag `named`) on a store that hides them,
// whose key as stored is `FE 'C'` and a keyed hash of the name.
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;

std::size_t DocStore::Impl::append_name_trailer(const CollectionSlot& c, std::span<std::byte> record,
                                                std::size_t size) noexcept {
  if (!(c.flags & named)) return size;
  std::memcpy(record.data() + size, c.name.data(), c.name_size);
  record[size + c.name_size] = std::byte{c.name_size};
  return size + c.name_size + 1;
}

Status DocStore::Impl::split_name_trailer(std::span<const std::byte> key, std::span<const std::byte>& record,
                                          std::span<const std::byte>& name) noexcept {
  if (record.size() < 3 || !(static_cast<std::uint8_t>(record[2]) & named)) {
    name = key.size() > 2 ? key.subspan(2) : std::span<const std::byte>{};
    return {};
  }
  const std::size_t n = static_cast<std::uint8_t>(record.back());
  if (n == 0 || n > max_collection_name || record.size() < 3 + n + 1) return fail(Errc::corrupt);
  name = record.subspan(record.size() - 1 - n, n);
  record = record.first(record.size() - 1 - n);
  return {};
}

}  // namespace ferrite
