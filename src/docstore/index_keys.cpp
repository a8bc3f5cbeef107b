// Index entries: the order-preserving value encoding (docs/FORMAT.md §9.4),
// the keyed hash of hashed indexes (docs/FORMAT.md §9.7) and the entries one document
// contributes to one index.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite::docfmt {

namespace {

void put_number(double d, Key& out) noexcept {
  if (d == 0) d = 0;                      // -0.0 and 0.0 are one value
  if (d != d) d = std::numeric_limits<double>::quiet_NaN();  // one NaN, above +inf
  std::uint64_t bits = std::bit_cast<std::uint64_t>(d);
  bits = (bits & (1ull << 63)) ? ~bits : bits | (1ull << 63);
  for (int i = 7; i >= 0; --i) out.push(static_cast<std::uint8_t>(bits >> (8 * i)));
}

// Text and bytes: 00 escaped as 00 FF, then 00 ends an exact value; a value
// cut to the budget ends with 01 instead (it sorts after every exact value
// with the same stored prefix, and queries re-check the document).
void put_escaped(std::span<const std::byte> s, std::size_t budget, Key& out) noexcept {
  std::size_t room = budget > 2 ? budget - 2 : 0;
  for (std::byte b : s) {
    const std::size_t need = b == std::byte{0} ? 2 : 1;
    if (need > room) {
      out.push(0x01);
      return;
    }
    out.push(static_cast<std::uint8_t>(b));
    if (b == std::byte{0}) out.push(0xFF);
    room -= need;
  }
  out.push(0x00);
}

struct PathValues {
  std::array<Key, max_entries> encoded{};
  std::uint8_t count = 0;
  std::size_t budget = 0;
  bool overflow = false;
};

void add_encoded(PathValues& pv, const doc::View& v) noexcept {
  Key k;
  if (!encode_value(v, pv.budget, k)) return;
  for (std::size_t i = 0; i < pv.count; ++i)
    if (pv.encoded[i] == k) return;
  if (pv.count == pv.encoded.size()) {
    pv.overflow = true;
    return;
  }
  pv.encoded[pv.count++] = k;
}

bool collect(const doc::View& v, void* context) noexcept {
  auto& pv = *static_cast<PathValues*>(context);
  if (v.type() == doc::Type::array) {
    auto c = v.children();
    while (c.next()) add_encoded(pv, c.value());
  } else {
    add_encoded(pv, v);
  }
  return pv.overflow;
}

bool walk(const doc::View& node, std::string_view rest, bool (*f)(const doc::View&, void*), void* context) noexcept {
  if (rest.empty()) return f(node, context);
  const std::size_t dot = rest.find('.');
  const std::string_view part = rest.substr(0, dot);
  const std::string_view after = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  if (node.type() == doc::Type::object) {
    const doc::View child = node.get(part);
    return child.valid() && walk(child, after, f, context);
  }
  if (node.type() != doc::Type::array) return false;
  bool numeric = !part.empty() && part.size() <= 9;
  std::uint32_t index = 0;
  for (char c : part) {
    numeric = numeric && c >= '0' && c <= '9';
    index = index * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (numeric) {
    const doc::View child = node.at(index);
    return child.valid() && walk(child, after, f, context);
  }
  auto c = node.children();  // a field of an array: each element that has it
  while (c.next())
    if (c.value().type() == doc::Type::object && walk(c.value(), rest, f, context)) return true;
  return false;
}

}  // namespace

std::size_t value_budget(std::size_t paths) noexcept {
  // 64-byte keys: FE kind cid(2) iid, the values, the id (4).
  return (max_key_size - 5 - 4) / (paths ? paths : 1);
}

bool encode_value(const doc::View& v, std::size_t budget, Key& out) noexcept {
  switch (v.type()) {
    case doc::Type::null: out.push(tag_null); return true;
    case doc::Type::boolean: out.push(v.boolean() ? tag_true : tag_false); return true;
    case doc::Type::integer:
    case doc::Type::real:
      out.push(tag_number);
      put_number(v.number(), out);
      return true;
    case doc::Type::string: {
      out.push(tag_string);
      const auto s = v.string();
      put_escaped({reinterpret_cast<const std::byte*>(s.data()), s.size()}, budget, out);
      return true;
    }
    case doc::Type::bytes:
      out.push(tag_bytes);
      put_escaped(v.bytes(), budget, out);
      return true;
    case doc::Type::array:
    case doc::Type::object: return false;
  }
  return false;
}

bool for_each_at_path(const doc::View& doc, std::string_view path, bool (*f)(const doc::View&, void*),
                      void* context) noexcept {
  if (path.empty() || !doc.valid()) return false;
  return walk(doc, path, f, context);
}

Status append_hash(Store& store, std::span<const std::byte> encodings, Key& key) noexcept {
  // H = BLAKE2b-128(FE kind cid iid ++ encodings, key = the store's index
  // subkey): the prefix ties a hash to its index, so equal values in two
  // indexes do not show as equal hashes.
  std::array<std::byte, 5 + max_index_paths * hashed_value_budget> message{};
  const std::size_t head = key.size;
  if (head + encodings.size() > message.size()) return fail(Errc::too_large);
  std::memcpy(message.data(), key.bytes.data(), head);
  if (!encodings.empty()) std::memcpy(message.data() + head, encodings.data(), encodings.size());
  std::array<std::byte, hash_size> h{};
  FERRITE_TRY(store.keyed_hash(std::span<const std::byte>(message.data(), head + encodings.size()), h));
  key.append(h);
  return {};
}

namespace {

// One combination of values (the n-th, counting over each path's values).
Status combination_key(const IndexSlot& ix, const std::array<PathValues, max_index_paths>& values, std::size_t n,
                       Store& store, Key& out) noexcept {
  out = entries_prefix(ix);
  std::array<std::byte, max_index_paths * hashed_value_budget> joined{};
  std::size_t size = 0;
  for (std::size_t p = 0; p < ix.path_count; ++p) {
    const Key& v = values[p].encoded[n % values[p].count];
    n /= values[p].count;
    if (!ix.hashed) {
      out.append(v.view());
      continue;
    }
    std::memcpy(joined.data() + size, v.bytes.data(), v.size);
    size += v.size;
  }
  if (ix.hashed) FERRITE_TRY(append_hash(store, std::span<const std::byte>(joined.data(), size), out));
  return {};
}

}  // namespace

Status index_entries(const IndexSlot& ix, const doc::View& doc, DocId id, Store& store, EntrySet& out) noexcept {
  out.count = 0;
  if (ix.filter_size) {
    auto filter = doc::View::parse({ix.filter.data(), ix.filter_size});
    if (!filter) return fail(Errc::corrupt);
    auto q = doc::Query::from_document(*filter);
    if (!q) return fail(Errc::corrupt);
    if (!doc::matches(*q, doc)) return {};
  }
  std::array<PathValues, max_index_paths> values{};
  std::size_t total = 1;
  bool any = false;
  for (std::size_t p = 0; p < ix.path_count; ++p) {
    PathValues& pv = values[p];
    pv.budget = budget_of(ix);
    for_each_at_path(doc, ix.path(p), collect, &pv);
    if (pv.overflow) return fail(Errc::too_large);
    any = any || pv.count > 0;
    if (pv.count == 0) {  // a missing value still places the others (compound indexes)
      pv.encoded[0].push(tag_missing);
      pv.count = 1;
    }
    total *= pv.count;
  }
  if (!any) return {};
  if (total > ix.max_entries || total > max_entries) return fail(Errc::too_large);
  for (std::size_t n = 0; n < total; ++n) {
    Key k;
    FERRITE_TRY(combination_key(ix, values, n, store, k));
    if (!ix.unique) k.be32(id);
    if (k.overflow) return fail(Errc::too_large);
    out.keys[out.count++] = k;
  }
  return {};
}

}  // namespace ferrite::docfmt
