// ferrite.docstore:value — the CBOR subset (docs/FORMAT.md §8): Writer,
// View::parse, compare, Value, JSON text.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.docstore;

using ferrite::Errc;
namespace doc = ferrite::doc;

namespace {

std::vector<std::byte> hex(std::initializer_list<int> b) {
  std::vector<std::byte> v;
  for (int x : b) v.push_back(std::byte(static_cast<unsigned char>(x)));
  return v;
}

}  // namespace

TEST_CASE("a document written by the Writer parses, decodes and encodes to the same bytes") {
  std::array<std::byte, 256> buf{};
  doc::Writer w(buf);
  w.begin_object().key("n").integer(-5).key("r").real(1.5).key("s").string("hé").key("a").array(3)
      .null().boolean(true).bytes(hex({1, 2, 3})).key("o").begin_object().end().end();
  auto v = w.finish();
  CHECK(v.has_value());
  if (!v) return;
  CHECK(v->type() == doc::Type::object);
  CHECK(v->get("n").integer() == -5);
  CHECK(v->get("r").real() == 1.5);
  CHECK(v->get("s").string() == "hé");
  CHECK(v->path("a.1").boolean());
  auto value = doc::Value::from(*v);
  auto enc = value.encode();
  CHECK(enc.has_value());
  if (!enc) return;
  CHECK(std::equal(enc->begin(), enc->end(), v->raw().begin(), v->raw().end()));
}
