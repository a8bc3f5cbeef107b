// The body of the document-value fuzzer, shared by the libFuzzer target
// (fuzz_doc_value.cpp) and the seeded Catch2 campaign in test_doc_value.cpp.
// Include after `import ferrite.docstore;`.
//
// For any bytes:
//   - View::parse answers a value or one of corrupt / invalid_argument /
//     too_large; a parsed view re-encodes with canonical(), the canonical
//     bytes parse again to an equal value (compare() == 0 and Value::from
//     equal), and canonical() of canonical bytes is the identity;
//   - cbor_to_json of a parsed view succeeds and its text reads back;
//   - the bytes as JSON text: json_to_cbor answers a document that parses and
//     is already canonical, or an error with a line and column.
// check_doc_value returns the first broken invariant, or nullptr.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace doc_value_fuzz {

inline const char* check_cbor(std::span<const std::byte> in) {
  namespace doc = ferrite::doc;
  using ferrite::Errc;
  auto v = doc::View::parse(in);
  if (!v) {
    const Errc e = v.error();
    return e == Errc::corrupt || e == Errc::invalid_argument || e == Errc::too_large ? nullptr
                                                                                     : "parse: undocumented error";
  }
  // Canonical form is never longer than a valid input (heads and floats only shrink).
  std::vector<std::byte> buf(in.size() + 16);
  auto n = doc::canonical(*v, buf);
  if (!n) return "canonical() failed on a parsed document";
  if (*n > in.size()) return "canonical form longer than the input";
  auto w = doc::View::parse(std::span<const std::byte>(buf.data(), *n));
  if (!w) return "canonical bytes do not parse";
  if (doc::compare(*v, *w) != 0) return "canonical value compares unequal";
  if (!(doc::Value::from(*v) == doc::Value::from(*w))) return "canonical value decodes to another tree";
  std::vector<std::byte> again(*n + 16);
  auto m = doc::canonical(*w, again);
  if (!m || *m != *n || std::memcmp(again.data(), buf.data(), *n) != 0) return "canonical() is not idempotent";
  if (doc::json_available()) {
    auto text = doc::cbor_to_json(*v);
    if (!text) return "cbor_to_json failed on a parsed document";
    std::vector<std::byte> back(text->size() * 3 + 64);
    doc::Limits big;
    big.max_size = 1u << 30;
    big.max_items = 1u << 30;
    if (!doc::json_to_cbor(*text, back, big)) return "exported JSON does not read back";
  }
  return nullptr;
}

inline const char* check_json(std::string_view text) {
  namespace doc = ferrite::doc;
  using ferrite::Errc;
  if (!doc::json_available()) return nullptr;
  std::vector<std::byte> out(text.size() * 3 + 64);
  doc::TextError where;
  auto n = doc::json_to_cbor(text, out, {}, &where);
  if (!n) {
    const Errc e = n.error();
    if (e != Errc::invalid_argument && e != Errc::too_large && e != Errc::buffer_too_small)
      return "json_to_cbor: undocumented error";
    if (where.line == 0 || where.column == 0 || where.reason == nullptr || !*where.reason)
      return "json_to_cbor error without a position or reason";
    return nullptr;
  }
  const std::span<const std::byte> doc_bytes(out.data(), *n);
  auto v = doc::View::parse(doc_bytes);
  if (!v) return "json_to_cbor wrote bytes that do not parse";
  std::vector<std::byte> canon(*n + 16);
  auto m = doc::canonical(*v, canon);
  if (!m || *m != *n || std::memcmp(canon.data(), out.data(), *n) != 0) return "json_to_cbor output is not canonical";
  return nullptr;
}

inline const char* check_doc_value(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  if (const char* why = check_cbor(bytes)) return why;
  return check_json(std::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace doc_value_fuzz
