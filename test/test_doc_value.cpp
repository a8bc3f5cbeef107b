// ferrite.docstore:value — the CBOR subset of docs/FORMAT.md §8: Writer,
// View::parse, compare, Value, JSON text; a differential campaign against
// libcbor and the seeded counterpart of the fuzz_doc_value libFuzzer target.
//
// campaign cbor-differential: random documents written by ferrite are
// decoded by libcbor's cbor_load and compared structurally (values, integer
// widths, float widths against an independent _Float16/float check), and
// random libcbor trees serialized with arbitrary (often non-shortest) widths
// are parsed by View::parse, decoded and re-encoded canonically.
// campaign doc-value-fuzz: the fuzz driver over seeded random and mutated
// inputs.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
#if FERRITE_TEST_LIBCBOR
#include <cbor.h>
#endif
import ferrite.docstore;
#include "fuzz/doc_value_driver.hpp"

using ferrite::Errc;
namespace doc = ferrite::doc;

namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> b) {
  std::vector<std::byte> v;
  for (int x : b) v.push_back(std::byte(static_cast<unsigned char>(x)));
  return v;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

// A text item holding `s` as raw bytes (possibly invalid UTF-8).
std::vector<std::byte> text_item(std::string_view s) {
  std::vector<std::byte> v{std::byte(static_cast<unsigned char>(0x60 + s.size()))};
  for (char c : s) v.push_back(std::byte(static_cast<unsigned char>(c)));
  return v;
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::vector<std::byte> encode(const doc::Value& v) {
  auto r = v.encode();
  return r ? *r : std::vector<std::byte>{};
}

// The bytes the Writer produces for one real.
std::vector<std::byte> real_bytes(double d) {
  std::array<std::byte, 16> buf{};
  doc::Writer w(buf);
  w.real(d);
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size())};
}

Errc parse_error(std::span<const std::byte> b, const doc::Limits& l = {}) {
  auto r = doc::View::parse(b, l);
  return r ? Errc::ok : r.error();
}

doc::Limits roomy() {
  doc::Limits l;
  l.max_size = 1u << 24;
  l.max_items = 1u << 24;
  return l;
}

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
  bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
};

// Integers around every head boundary, and random widths.
std::int64_t random_int(Rng& r) {
  static constexpr std::int64_t edges[] = {0, 1, 23, 24, 255, 256, 65535, 65536, 4294967295ll, 4294967296ll,
                                           std::numeric_limits<std::int64_t>::max()};
  std::int64_t v;
  if (r.chance(50)) v = edges[r.below(std::size(edges))];
  else v = static_cast<std::int64_t>(r.next() >> r.below(64));
  if (r.chance(50)) v = v == std::numeric_limits<std::int64_t>::max() && r.chance(50) ? std::numeric_limits<std::int64_t>::min() : -1 - v;
  return v;
}

double random_real(Rng& r) {
  switch (r.below(10)) {
    case 0: {  // any half, subnormals and specials included
      const auto h = static_cast<std::uint16_t>(r.next());
      return static_cast<double>(std::bit_cast<_Float16>(h));
    }
    case 1: return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(r.next())));
    case 2: return std::bit_cast<double>(r.next());
    case 3: {
      static constexpr double special[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1e308, 5e-324, 65504.0, 65520.0, 100000.0,
                                           std::numeric_limits<double>::infinity(),
                                           -std::numeric_limits<double>::infinity(),
                                           std::numeric_limits<double>::quiet_NaN(), 5.960464477539063e-08,
                                           6.103515625e-05, 3.4028234663852886e+38, 1.401298464324817e-45};
      return special[r.below(std::size(special))];
    }
    default: return static_cast<double>(static_cast<std::int64_t>(r.below(200000)) - 100000) / static_cast<double>(1u << r.below(12));
  }
}

std::string random_text(Rng& r) {
  static constexpr const char* pieces[] = {"a", "b", "z", "0", " ", "é", "€", "😀", "\n", "\"", "\\", "\x01", "\x7f", "key", "ü"};
  std::size_t n = r.below(12);
  if (r.chance(3)) n = 20 + r.below(120);  // past the 1-byte length heads
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += pieces[r.below(std::size(pieces))];
  return s;
}

doc::Value random_value(Rng& r, int depth) {
  const int pick = static_cast<int>(r.below(depth < 5 ? 9 : 6));
  switch (pick) {
    case 0: return doc::Value();
    case 1: return doc::Value::of_bool(r.chance(50));
    case 2: return doc::Value::of_int(random_int(r));
    case 3: return doc::Value::of_real(random_real(r));
    case 4: return doc::Value::of_string(random_text(r));
    case 5: {
      std::vector<std::byte> b(r.chance(3) ? 250 + r.below(100) : r.below(30));
      for (auto& x : b) x = std::byte(static_cast<unsigned char>(r.next()));
      return doc::Value::of_bytes(b);
    }
    case 6:
    case 7: {
      auto a = doc::Value::array();
      const auto n = r.chance(5) ? 24 + r.below(10) : r.below(6);
      for (std::uint64_t i = 0; i < n; ++i) a.push(random_value(r, depth + 1));
      return a;
    }
    default: {
      auto o = doc::Value::object();
      const auto n = r.chance(5) ? 24 + r.below(10) : r.below(6);
      for (std::uint64_t i = 0; i < n; ++i) {
        std::string k = random_text(r);
        if (o.find(k)) continue;  // keys are unique
        o.set(k, random_value(r, depth + 1));
      }
      return o;
    }
  }
}

// Bytes of the shortest float that keeps `d`, decided with the compiler's own
// _Float16 and float conversions (independent of the Writer's bit twiddling).
std::size_t canonical_float_size(double d) {
  if (std::isnan(d) || std::isinf(d)) return 3;
  const auto bits = std::bit_cast<std::uint64_t>(d);
  if (std::bit_cast<std::uint64_t>(static_cast<double>(static_cast<_Float16>(d))) == bits) return 3;
  if (std::bit_cast<std::uint64_t>(static_cast<double>(static_cast<float>(d))) == bits) return 5;
  return 9;
}

}  // namespace

// ---------------------------------------------------------------------------
// Round trips and canonical encoding

TEST_CASE("every type written by the Writer parses, decodes to a Value and encodes to the same bytes") {
  std::array<std::byte, 512> buf{};
  doc::Writer w(buf);
  w.begin_object()
      .key("null").null()
      .key("f").boolean(false)
      .key("t").boolean(true)
      .key("i").integer(-5)
      .key("big").integer(std::numeric_limits<std::int64_t>::max())
      .key("min").integer(std::numeric_limits<std::int64_t>::min())
      .key("r").real(1.5)
      .key("s").string("hé😀")
      .key("b").bytes(bytes_of({1, 2, 3}))
      .key("a").array(3).null().boolean(true).real(-0.0)
      .key("o").begin_object().end()
      .key("e").begin_array().end()
      .end();
  auto v = w.finish();
  CHECK(w.status().has_value());
  REQUIRE(v.has_value());
  CHECK(v->type() == doc::Type::object);
  CHECK(v->size() == 12);
  CHECK(v->get("null").type() == doc::Type::null);
  CHECK(v->get("null").valid());
  CHECK_FALSE(v->get("f").boolean());
  CHECK(v->get("t").boolean());
  CHECK(v->get("i").integer() == -5);
  CHECK(v->get("big").integer() == std::numeric_limits<std::int64_t>::max());
  CHECK(v->get("min").integer() == std::numeric_limits<std::int64_t>::min());
  CHECK(v->get("r").real() == 1.5);
  CHECK(v->get("r").number() == 1.5);
  CHECK(v->get("s").string() == "hé😀");
  CHECK(same_bytes(v->get("b").bytes(), bytes_of({1, 2, 3})));
  CHECK(v->get("a").size() == 3);
  CHECK(std::signbit(v->path("a.2").real()));
  CHECK(v->get("o").type() == doc::Type::object);
  CHECK(v->get("e").size() == 0);
  CHECK_FALSE(v->get("missing").valid());

  const auto value = doc::Value::from(*v);
  CHECK(same_bytes(encode(value), v->raw()));
  auto again = doc::View::parse(v->raw());
  REQUIRE(again.has_value());
  CHECK(doc::Value::from(*again) == value);
}

TEST_CASE("heads take the shortest form at every length boundary") {
  struct Case {
    std::int64_t v;
    std::vector<std::byte> bytes;
  };
  const Case cases[] = {
      {0, bytes_of({0x00})},
      {23, bytes_of({0x17})},
      {24, bytes_of({0x18, 0x18})},
      {255, bytes_of({0x18, 0xFF})},
      {256, bytes_of({0x19, 0x01, 0x00})},
      {65535, bytes_of({0x19, 0xFF, 0xFF})},
      {65536, bytes_of({0x1A, 0x00, 0x01, 0x00, 0x00})},
      {4294967295ll, bytes_of({0x1A, 0xFF, 0xFF, 0xFF, 0xFF})},
      {4294967296ll, bytes_of({0x1B, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00})},
      {-1, bytes_of({0x20})},
      {-24, bytes_of({0x37})},
      {-25, bytes_of({0x38, 0x18})},
      {std::numeric_limits<std::int64_t>::min(), bytes_of({0x3B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})},
  };
  for (const auto& c : cases) {
    std::array<std::byte, 16> buf{};
    doc::Writer w(buf);
    w.integer(c.v);
    INFO(c.v);
    CHECK(same_bytes(w.written(), c.bytes));
    auto v = doc::View::parse(w.written());
    CHECK((v && v->integer() == c.v));
  }
  // A string of 24 bytes needs a one-byte length.
  std::array<std::byte, 64> buf{};
  doc::Writer w(buf);
  w.string(std::string(24, 'x'));
  CHECK(w.size() == 26);
  CHECK(w.written()[0] == std::byte{0x78});
}

TEST_CASE("reals take the shortest float that keeps their value and stay reals") {
  CHECK(same_bytes(real_bytes(1.5), bytes_of({0xF9, 0x3E, 0x00})));
  CHECK(same_bytes(real_bytes(1.0), bytes_of({0xF9, 0x3C, 0x00})));
  CHECK(same_bytes(real_bytes(0.0), bytes_of({0xF9, 0x00, 0x00})));
  CHECK(same_bytes(real_bytes(-0.0), bytes_of({0xF9, 0x80, 0x00})));
  CHECK(same_bytes(real_bytes(65504.0), bytes_of({0xF9, 0x7B, 0xFF})));
  CHECK(same_bytes(real_bytes(5.960464477539063e-08), bytes_of({0xF9, 0x00, 0x01})));  // smallest half subnormal
  CHECK(same_bytes(real_bytes(100000.0), bytes_of({0xFA, 0x47, 0xC3, 0x50, 0x00})));
  CHECK(same_bytes(real_bytes(0.1), bytes_of({0xFB, 0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A})));
  CHECK(same_bytes(real_bytes(std::numeric_limits<double>::quiet_NaN()), bytes_of({0xF9, 0x7E, 0x00})));
  CHECK(same_bytes(real_bytes(-std::numeric_limits<double>::quiet_NaN()), bytes_of({0xF9, 0x7E, 0x00})));
  CHECK(same_bytes(real_bytes(std::numeric_limits<double>::infinity()), bytes_of({0xF9, 0x7C, 0x00})));
  CHECK(same_bytes(real_bytes(-std::numeric_limits<double>::infinity()), bytes_of({0xF9, 0xFC, 0x00})));
  CHECK(real_bytes(1e308).size() == 9);
  CHECK(real_bytes(65520.0).size() == 5);  // above the largest half
  const auto one = real_bytes(1.0);
  auto v = doc::View::parse(one);
  REQUIRE(v.has_value());
  CHECK(v->type() == doc::Type::real);
  CHECK(v->real() == 1.0);
  // Every half value decodes exactly and re-encodes to the same two bytes.
  int mismatches = 0;
  for (unsigned h = 0; h < 0x10000; ++h) {
    const auto enc = bytes_of({0xF9, static_cast<int>(h >> 8), static_cast<int>(h & 0xFF)});
    auto x = doc::View::parse(enc);
    const double expect = static_cast<double>(std::bit_cast<_Float16>(static_cast<std::uint16_t>(h)));
    if (!x) { ++mismatches; continue; }
    if (std::isnan(expect)) {
      if (!std::isnan(x->real()) || !same_bytes(real_bytes(x->real()), bytes_of({0xF9, 0x7E, 0x00}))) ++mismatches;
    } else if (std::bit_cast<std::uint64_t>(x->real()) != std::bit_cast<std::uint64_t>(expect) ||
               !same_bytes(real_bytes(x->real()), enc)) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("canonical() rewrites non-shortest heads and floats and keeps the value") {
  // {"a": 1.5 as f64, "b": [24 as a 4-byte head]} with a 2-byte array head.
  const auto loose = bytes_of({0xA2, 0x78, 0x01, 'a', 0xFB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x61, 'b', 0x99, 0x00,
                               0x01, 0x1A, 0x00, 0x00, 0x00, 0x18});
  auto v = doc::View::parse(loose);
  REQUIRE(v.has_value());
  std::array<std::byte, 64> buf{};
  auto n = doc::canonical(*v, buf);
  REQUIRE(n.has_value());
  const auto tight = bytes_of({0xA2, 0x61, 'a', 0xF9, 0x3E, 0x00, 0x61, 'b', 0x81, 0x18, 0x18});
  CHECK(same_bytes(std::span(buf.data(), *n), tight));
  auto w = doc::View::parse(std::span(buf.data(), *n));
  REQUIRE(w.has_value());
  CHECK(doc::compare(*v, *w) == 0);
  CHECK(doc::Value::from(*v) == doc::Value::from(*w));
}

TEST_CASE("an open-ended container moves its contents when its count needs a longer head") {
  std::vector<std::byte> buf(2000);
  doc::Writer w(buf);
  w.begin_object().key("list").begin_array();
  for (int i = 0; i < 300; ++i) w.integer(i);
  w.end().key("after").boolean(true).end();
  auto v = w.finish();
  REQUIRE(v.has_value());
  CHECK(v->get("list").size() == 300);
  CHECK(v->path("list.299").integer() == 299);
  CHECK(v->get("after").boolean());
  CHECK(v->get("list").raw()[0] == std::byte{0x99});  // 2-byte count
  CHECK(same_bytes(encode(doc::Value::from(*v)), v->raw()));
}

TEST_CASE("the Writer reports misuse and lack of room as sticky errors") {
  std::array<std::byte, 8> small{};
  doc::Writer a(small);
  a.string("longer than eight bytes").integer(1);
  CHECK(a.status().error() == Errc::buffer_too_small);
  CHECK(a.size() == 0);

  std::array<std::byte, 64> buf{};
  doc::Writer b(buf);
  b.end();
  CHECK(b.status().error() == Errc::invalid_argument);

  doc::Writer c(buf);
  c.begin_object().integer(1);  // a member without a key
  CHECK(c.status().error() == Errc::invalid_argument);

  doc::Writer d(buf);
  d.array(2).integer(1).end();  // known count not reached
  CHECK(d.status().error() == Errc::invalid_argument);

  doc::Writer e(buf);
  e.begin_array();
  CHECK(e.finish().error() == Errc::invalid_argument);  // still open

  doc::Writer f(buf);
  for (int i = 0; i < 17; ++i) f.begin_array();
  CHECK(f.status().error() == Errc::too_large);

  doc::Writer g(buf);
  g.integer(1).integer(2);  // a document is one item
  CHECK(g.status().error() == Errc::invalid_argument);

  doc::Writer h(buf);
  h.string("\xC0\x80");
  CHECK(h.status().error() == Errc::invalid_argument);

  doc::Writer k(buf);
  k.begin_object().key("a").integer(1).key("a").integer(2).end();
  CHECK(k.status().has_value());
  CHECK(k.finish().error() == Errc::invalid_argument);  // duplicate keys found when validated

  // A head that grows at end() needs room too.
  std::array<std::byte, 25> tight{};
  doc::Writer m(tight);
  m.begin_array();
  for (int i = 0; i < 24; ++i) m.integer(0);
  CHECK(m.status().has_value());
  m.end();
  CHECK(m.status().error() == Errc::buffer_too_small);
}

// ---------------------------------------------------------------------------
// Rejections

TEST_CASE("parse rejects truncated items and trailing bytes as corrupt") {
  CHECK(parse_error({}) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x62, 'a'})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x19, 0x01})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x82, 0x01})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0xA1, 0x61, 'a'})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0xFB, 0, 0, 0})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x9B, 0, 0, 0, 0, 0, 0, 0, 9})) == Errc::corrupt);  // count beyond the bytes
  CHECK(parse_error(bytes_of({0x01, 0x02})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x80, 0x00})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0x1C})) == Errc::corrupt);  // reserved additional info 28..30
  CHECK(parse_error(bytes_of({0x5E})) == Errc::corrupt);
  CHECK(parse_error(bytes_of({0xFF})) == Errc::corrupt);  // a break outside an indefinite item
  CHECK(parse_error(bytes_of({0x1F})) == Errc::corrupt);  // an indefinite integer
}

TEST_CASE("parse rejects indefinite lengths, tags and simple values outside the subset") {
  CHECK(parse_error(bytes_of({0x9F, 0x01, 0xFF})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xBF, 0xFF})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0x5F, 0x41, 0x00, 0xFF})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0x7F, 0x61, 'a', 0xFF})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xC1, 0x00})) == Errc::invalid_argument);      // epoch time tag
  CHECK(parse_error(bytes_of({0xD8, 0x20, 0x60})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xF7})) == Errc::invalid_argument);            // undefined
  CHECK(parse_error(bytes_of({0xE0})) == Errc::invalid_argument);            // simple(0)
  CHECK(parse_error(bytes_of({0xF8, 0x20})) == Errc::invalid_argument);      // simple(32)
  CHECK(parse_error(bytes_of({0x1B, 0x80, 0, 0, 0, 0, 0, 0, 0})) == Errc::invalid_argument);     // 2^63
  CHECK(parse_error(bytes_of({0x3B, 0x80, 0, 0, 0, 0, 0, 0, 0})) == Errc::invalid_argument);     // -2^63 - 1
  CHECK(parse_error(bytes_of({0x3B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})) == Errc::ok);  // -2^63
}

TEST_CASE("parse rejects duplicate and non-text object keys") {
  CHECK(parse_error(bytes_of({0xA2, 0x61, 'a', 0x01, 0x61, 'a', 0x02})) == Errc::invalid_argument);
  // The same text with a longer head is the same key.
  CHECK(parse_error(bytes_of({0xA2, 0x61, 'a', 0x01, 0x78, 0x01, 'a', 0x02})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xA3, 0x61, 'a', 0x81, 0xA0, 0x61, 'b', 0x01, 0x61, 'a', 0x02})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xA1, 0x01, 0x02})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0xA1, 0x41, 'a', 0x02})) == Errc::invalid_argument);  // bytes key
  // Equal keys in different objects are fine.
  CHECK(parse_error(bytes_of({0xA2, 0x61, 'a', 0xA1, 0x61, 'a', 0x01, 0x61, 'b', 0xA1, 0x61, 'a', 0x02})) == Errc::ok);
}

TEST_CASE("parse rejects every kind of invalid UTF-8 in text") {
  const char* bad[] = {
      "\x80",              // a lone continuation byte
      "\xC0\x80",          // overlong NUL
      "\xC1\xBF",          // overlong 2-byte
      "\xE0\x80\x80",      // overlong 3-byte
      "\xE0\x9F\xBF",      // overlong 3-byte (U+07FF)
      "\xF0\x80\x80\x80",  // overlong 4-byte
      "\xF0\x8F\xBF\xBF",  // overlong 4-byte (U+FFFF)
      "\xED\xA0\x80",      // surrogate U+D800
      "\xED\xBF\xBF",      // surrogate U+DFFF
      "\xF4\x90\x80\x80",  // U+110000
      "\xF5\x80\x80\x80",  // lead byte above F4
      "\xFF",              // never valid
      "\xE2\x82",          // truncated sequence
      "a\xE2\x82",         // truncated at the end
      "\xE2\x28\xA1",      // bad continuation
  };
  for (const char* s : bad) {
    INFO(s);
    CHECK(parse_error(text_item(s)) == Errc::invalid_argument);
  }
  const char* good[] = {"", "\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                        "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"};
  for (const char* s : good) {
    INFO(s);
    CHECK(parse_error(text_item(s)) == Errc::ok);
  }
  // Keys are text too; byte strings are not checked.
  CHECK(parse_error(bytes_of({0xA1, 0x61, 0xFF, 0x00})) == Errc::invalid_argument);
  CHECK(parse_error(bytes_of({0x41, 0xFF})) == Errc::ok);
}

TEST_CASE("a CBOR depth bomb of 100,000 nested arrays is refused without recursion") {
  std::vector<std::byte> bomb(100000, std::byte{0x81});
  bomb.push_back(std::byte{0x00});
  CHECK(parse_error(bomb) == Errc::too_large);                // size first
  CHECK(parse_error(bomb, roomy()) == Errc::too_large);       // then depth
  doc::Limits deep = roomy();
  deep.max_depth = 1000000;                                   // capped at max_parse_depth
  CHECK(parse_error(bomb, deep) == Errc::too_large);
  // Exactly at the limit is fine, one more is not; empty containers nest too.
  std::vector<std::byte> sixteen(15, std::byte{0x81});
  sixteen.push_back(std::byte{0x80});
  CHECK(parse_error(sixteen) == Errc::ok);
  sixteen.insert(sixteen.begin(), std::byte{0x81});
  CHECK(parse_error(sixteen) == Errc::too_large);
  // A truncated bomb is corrupt or too large, never a crash.
  std::vector<std::byte> open(100000, std::byte{0x9F});
  CHECK(parse_error(open, roomy()) == Errc::invalid_argument);
}

TEST_CASE("parse enforces the items and size limits") {
  std::vector<std::byte> big(6000);
  doc::Writer w(big);
  w.array(4097);
  for (int i = 0; i < 4097; ++i) w.integer(0);
  REQUIRE(w.status().has_value());
  CHECK(parse_error(w.written()) == Errc::too_large);
  doc::Limits l;
  l.max_items = 4097;
  CHECK(parse_error(w.written(), l) == Errc::ok);

  std::vector<std::byte> big2(40000);
  doc::Writer o(big2);
  o.begin_object();
  for (int i = 0; i < 4097; ++i) o.key(std::to_string(i)).integer(i);
  o.end();
  REQUIRE(o.status().has_value());
  CHECK(parse_error(o.written()) == Errc::too_large);

  std::vector<std::byte> large(40000);
  doc::Writer s(large);
  s.string(std::string(33000, 'x'));
  CHECK(parse_error(s.written()) == Errc::too_large);
  l.max_size = 40000;
  CHECK(parse_error(s.written(), l) == Errc::ok);
  l.max_depth = 0;
  CHECK(parse_error(bytes_of({0x00}), l) == Errc::too_large);
}

TEST_CASE("an object of 4096 members with nested values is checked for duplicates in reasonable time") {
  std::vector<std::byte> buf(40000);
  doc::Writer w(buf);
  w.begin_object();
  for (int i = 0; i < 4096; ++i) w.key(std::to_string(i)).array(1).integer(i);
  w.end();
  REQUIRE(w.status().has_value());
  doc::Limits l;
  l.max_size = 40000;
  CHECK(parse_error(w.written(), l) == Errc::ok);
}

// ---------------------------------------------------------------------------
// Order

namespace {

doc::View view_of(std::vector<std::byte>& storage, const doc::Value& v) {
  storage = encode(v);
  auto r = doc::View::parse(storage, roomy());
  return r ? *r : doc::View();
}

int cmp(const doc::Value& a, const doc::Value& b) {
  std::vector<std::byte> sa, sb;
  return doc::compare(view_of(sa, a), view_of(sb, b));
}

}  // namespace

TEST_CASE("compare orders types null, numbers, strings, bytes, booleans, arrays, objects") {
  using V = doc::Value;
  const std::vector<V> ordered = {
      V(), V::of_int(-100), V::of_real(-0.5), V::of_int(0), V::of_real(2.5), V::of_int(1000),
      V::of_real(std::numeric_limits<double>::infinity()), V::of_real(std::numeric_limits<double>::quiet_NaN()),
      V::of_string(""), V::of_string("a"), V::of_string("ab"), V::of_string("b"),
      V::of_bytes(bytes_of({0})), V::of_bytes(bytes_of({0, 0})), V::of_bytes(bytes_of({1})),
      V::of_bool(false), V::of_bool(true),
      V::array(), V::array().push(V::of_int(1)), V::array().push(V::of_int(1)).push(V()), V::array().push(V::of_int(2)),
      V::object(), V::object().set("a", V::of_int(1)), V::object().set("a", V::of_int(2)), V::object().set("b", V()),
  };
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    for (std::size_t j = 0; j < ordered.size(); ++j) {
      INFO(i << " vs " << j);
      const int c = cmp(ordered[i], ordered[j]);
      CHECK(c == (i < j ? -1 : i > j ? 1 : 0));
    }
  }
  CHECK(doc::compare(doc::View(), doc::View()) == 0);
  std::vector<std::byte> s;
  CHECK(doc::compare(doc::View(), view_of(s, V())) == -1);
}

TEST_CASE("compare treats integers and reals as numbers and compares them exactly") {
  using V = doc::Value;
  CHECK(cmp(V::of_int(1), V::of_real(1.0)) == 0);
  CHECK(cmp(V::of_int(0), V::of_real(-0.0)) == 0);
  CHECK(cmp(V::of_real(0.0), V::of_real(-0.0)) == 0);
  CHECK(cmp(V::of_int(1), V::of_real(1.5)) == -1);
  CHECK(cmp(V::of_int(-1), V::of_real(-1.5)) == 1);
  // 2^53 + 1 is not a double: converting it would make it equal to 2^53.
  CHECK(cmp(V::of_int((1ll << 53) + 1), V::of_real(9007199254740992.0)) == 1);
  CHECK(cmp(V::of_real(9007199254740992.0), V::of_int((1ll << 53) + 1)) == -1);
  CHECK(cmp(V::of_int(std::numeric_limits<std::int64_t>::max()), V::of_real(9223372036854775808.0)) == -1);
  CHECK(cmp(V::of_int(std::numeric_limits<std::int64_t>::min()), V::of_real(-9223372036854775808.0)) == 0);
  CHECK(cmp(V::of_int(std::numeric_limits<std::int64_t>::min()), V::of_real(-9223372036854777856.0)) == 1);
  CHECK(cmp(V::of_int(5), V::of_real(std::numeric_limits<double>::quiet_NaN())) == -1);
  CHECK(cmp(V::of_real(std::numeric_limits<double>::quiet_NaN()), V::of_real(std::numeric_limits<double>::quiet_NaN())) == 0);
  CHECK(cmp(V::of_real(std::numeric_limits<double>::infinity()), V::of_int(std::numeric_limits<std::int64_t>::max())) == 1);
  // Inside containers as well.
  CHECK(cmp(V::array().push(V::of_int(3)), V::array().push(V::of_real(3.0))) == 0);
  CHECK(doc::equal(doc::View(), doc::View()));
}

// ---------------------------------------------------------------------------
// Lookups

TEST_CASE("path follows object members and array indexes") {
  using V = doc::Value;
  const V d = V::object()
                  .set("a", V::object().set("b", V::array().push(V::of_int(10)).push(V::object().set("c", V::of_string("x")))))
                  .set("7", V::of_bool(true))
                  .set("list", V::array().push(V::of_int(0)).push(V::of_int(1)));
  std::vector<std::byte> s;
  const auto v = view_of(s, d);
  REQUIRE(v.valid());
  CHECK(v.path("a.b.1.c").string() == "x");
  CHECK(v.path("a.b.0").integer() == 10);
  CHECK(v.path("a.b").size() == 2);
  CHECK(v.path("7").boolean());  // an object member named by digits
  CHECK(v.path("list.1").integer() == 1);
  CHECK(v.path("").raw().size() == v.raw().size());
  CHECK_FALSE(v.path("a.b.2").valid());
  CHECK_FALSE(v.path("a.x").valid());
  CHECK_FALSE(v.path("a.b.c").valid());
  CHECK_FALSE(v.path("a.b.1.c.d").valid());
  CHECK_FALSE(v.path("list.-1").valid());
  CHECK_FALSE(v.path("list.99999999999").valid());
  CHECK_FALSE(v.path("a.").valid());
  CHECK(v.get("list").at(1).integer() == 1);
  CHECK_FALSE(v.get("list").at(2).valid());
  CHECK_FALSE(v.at(0).valid());  // not an array

  auto c = v.children();
  std::vector<std::string> keys;
  while (c.next()) keys.emplace_back(c.key());
  CHECK(keys == std::vector<std::string>{"a", "7", "list"});
  CHECK_FALSE(c.next());
}

TEST_CASE("Value set replaces members in place and erase removes them") {
  auto o = doc::Value::object().set("a", doc::Value::of_int(1)).set("b", doc::Value::of_int(2));
  o.set("a", doc::Value::of_string("x"));
  CHECK(o.members().size() == 2);
  CHECK(o.members()[0].first == "a");
  CHECK(o.find("a")->string() == "x");
  CHECK(o.erase("a"));
  CHECK_FALSE(o.erase("a"));
  CHECK(o.find("a") == nullptr);
  CHECK(doc::Value::of_int(1) != doc::Value::of_real(1.0));
  CHECK(doc::Value::of_real(0.0) != doc::Value::of_real(-0.0));
  auto deep = doc::Value::array();
  for (int i = 0; i < 20; ++i) deep = doc::Value::array().push(deep);
  CHECK(deep.encode().error() == Errc::too_large);
}

// ---------------------------------------------------------------------------
// JSON

namespace {

struct Json {
  Errc error = Errc::ok;
  doc::TextError where;
  std::vector<std::byte> bytes;
  doc::View view() const {
    auto v = doc::View::parse(bytes, roomy());
    return v ? *v : doc::View();
  }
};

Json from_json(std::string_view text, const doc::Limits& l = {}) {
  Json j;
  j.bytes.resize(text.size() * 3 + 64);
  auto n = doc::json_to_cbor(text, j.bytes, l, &j.where);
  if (n) j.bytes.resize(*n);
  else j.error = n.error(), j.bytes.clear();
  return j;
}

std::string to_json(const doc::View& v) {
  auto s = doc::cbor_to_json(v);
  return s ? *s : std::string("<error>");
}

}  // namespace

TEST_CASE("JSON text becomes canonical CBOR and comes back") {
  if (!doc::json_available()) {
    CHECK(from_json("1").error == Errc::unsupported);
    return;
  }
  const std::string text =
      R"({"a":[1,2.5,"x",true,null,{"b":-3}],"c":1.0,"d":1e+300,"e":{},"f":[],"g":"\"\\\n\t\u0001"})";
  auto j = from_json(text);
  REQUIRE(j.error == Errc::ok);
  const auto v = j.view();
  CHECK(v.path("a.1").real() == 2.5);
  CHECK(v.path("a.5.b").integer() == -3);
  CHECK(v.get("c").type() == doc::Type::real);
  CHECK(v.get("g").string() == "\"\\\n\t\x01");
  CHECK(to_json(v) == text);
  std::array<std::byte, 256> buf{};
  auto n = doc::canonical(v, buf);
  REQUIRE(n.has_value());
  CHECK(same_bytes(std::span(buf.data(), *n), j.bytes));
  // Bytes become base64url strings without padding.
  std::vector<std::byte> s;
  CHECK(to_json(view_of(s, doc::Value::of_bytes(bytes_of({0xFB, 0xFF})))) == R"("-_8")");
  CHECK(to_json(view_of(s, doc::Value::of_bytes(bytes_of({'f', 'o', 'o', 'b'})))) == R"("Zm9vYg")");
  CHECK(to_json(view_of(s, doc::Value::of_real(std::numeric_limits<double>::infinity()))) == "null");
  CHECK(to_json(view_of(s, doc::Value::of_real(-0.0))) == "-0.0");
  CHECK(to_json(view_of(s, doc::Value::of_real(0.1))) == "0.1");
  CHECK(to_json(view_of(s, doc::Value::of_string("é😀"))) == "\"é😀\"");
}

TEST_CASE("JSON numbers keep int64 integers and turn everything else into reals") {
  if (!doc::json_available()) return;
  auto min = from_json("-9223372036854775808");
  CHECK((min.view().type() == doc::Type::integer && min.view().integer() == std::numeric_limits<std::int64_t>::min()));
  auto max = from_json("9223372036854775807");
  CHECK((max.view().type() == doc::Type::integer && max.view().integer() == std::numeric_limits<std::int64_t>::max()));
  auto over = from_json("9223372036854775808");
  CHECK((over.view().type() == doc::Type::real && over.view().real() == 9223372036854775808.0));
  auto huge = from_json("1e308");
  CHECK((huge.view().type() == doc::Type::real && huge.view().real() == 1e308));
  auto negzero = from_json("-0.0");
  CHECK((negzero.view().type() == doc::Type::real && std::signbit(negzero.view().real())));
  CHECK(same_bytes(negzero.bytes, bytes_of({0xF9, 0x80, 0x00})));
  auto zero = from_json("-0");
  CHECK((zero.view().type() == doc::Type::integer && zero.view().integer() == 0));
  auto tenth = from_json("0.1");
  CHECK(tenth.view().real() == 0.1);
  CHECK(tenth.bytes.size() == 9);
  auto one = from_json("1.0");
  CHECK(one.view().type() == doc::Type::real);
  CHECK(from_json("1e400").error == Errc::invalid_argument);
  CHECK(to_json(from_json("123456789012345678").view()) == "123456789012345678");
  CHECK(to_json(from_json("5e-324").view()) == "5e-324");
}

TEST_CASE("JSON escapes decode to UTF-8, and invalid UTF-8 or lone surrogates are refused") {
  if (!doc::json_available()) return;
  auto j = from_json(R"("a\n\u00e9\ud83d\ude00\"\/")");
  CHECK(j.view().string() == "a\né😀\"/");
  auto bad = from_json("\"\xC0\x80\"");
  CHECK(bad.error == Errc::invalid_argument);
  CHECK(std::string(bad.where.reason) == "invalid UTF-8");
  CHECK(from_json("\"\xED\xA0\x80\"").error == Errc::invalid_argument);
  CHECK(from_json(R"("\udc00")").error == Errc::invalid_argument);
  CHECK(from_json(R"("\ud800")").error == Errc::invalid_argument);
  CHECK(from_json("{\"\xFF\":1}").error == Errc::invalid_argument);
}

TEST_CASE("malformed JSON reports the line and column of the error") {
  if (!doc::json_available()) return;
  auto j = from_json("{\n  \"a\": 1,\n    x\n}");
  CHECK(j.error == Errc::invalid_argument);
  CHECK(j.where.line == 3);
  CHECK(j.where.column == 5);
  CHECK(std::string(j.where.reason).size() > 0);
  auto e = from_json("");
  CHECK(e.error == Errc::invalid_argument);
  CHECK(e.where.line == 1);
  auto t = from_json("[1] 2");
  CHECK(t.error == Errc::invalid_argument);
  CHECK(t.where.column == 5);
  CHECK(from_json("[1,]").error == Errc::invalid_argument);
  CHECK(from_json("{\"a\" 1}").error == Errc::invalid_argument);
  CHECK(from_json(std::string_view("[1]\0", 4)).error == Errc::invalid_argument);
}

TEST_CASE("duplicate JSON keys are refused with their position") {
  if (!doc::json_available()) return;
  auto j = from_json("{\"a\": 1,\n \"b\": {\"a\": 2},\n \"a\": 3}");
  CHECK(j.error == Errc::invalid_argument);
  CHECK(std::string(j.where.reason) == "duplicate key");
  CHECK(j.where.line == 3);
  CHECK(from_json(R"({"a":{"a":1,"b":[{"a":2}]}})").error == Errc::ok);
  CHECK(from_json(R"({"a":1,"b":2,"c":3,"b":4})").error == Errc::invalid_argument);
  CHECK(from_json(R"({"\u0061":1,"a":2})").error == Errc::invalid_argument);
}

TEST_CASE("a JSON depth bomb of 100,000 nested arrays and oversized JSON are refused") {
  if (!doc::json_available()) return;
  const std::string bomb = std::string(100000, '[') + std::string(100000, ']');
  auto j = from_json(bomb);
  CHECK(j.error == Errc::too_large);
  CHECK(std::string(j.where.reason) == "nested too deep");
  CHECK(j.where.column == 17);
  const std::string objects = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "{\"a\":";
    return s;
  }();
  CHECK(from_json(objects).error == Errc::too_large);
  CHECK(from_json(std::string(16, '[') + std::string(16, ']')).error == Errc::ok);

  std::string many = "[";
  for (int i = 0; i < 4097; ++i) many += i ? ",0" : "0";
  many += "]";
  auto items = from_json(many);
  CHECK(items.error == Errc::too_large);
  CHECK(std::string(items.where.reason) == "too many elements");
  std::string members = "{";
  for (int i = 0; i < 4097; ++i) members += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  members += "}";
  CHECK(from_json(members).error == Errc::too_large);
  auto size = from_json("\"" + std::string(40000, 'x') + "\"");
  CHECK(size.error == Errc::too_large);
  CHECK(std::string(size.where.reason) == "document too large");
  std::array<std::byte, 4> small{};
  doc::TextError where;
  CHECK(doc::json_to_cbor("\"hello\"", small, {}, &where).error() == Errc::buffer_too_small);
}

// ---------------------------------------------------------------------------
// Differential campaign against libcbor

#if FERRITE_TEST_LIBCBOR
namespace {

// Whether libcbor's tree equals the Value, including the widths ferrite's
// canonical form must have chosen.
bool same_as_libcbor(const doc::Value& v, const cbor_item_t* it, std::string& why) {
  auto no = [&](const char* w) {
    why = w;
    return false;
  };
  switch (v.type()) {
    case doc::Type::null: return cbor_is_null(it) ? true : no("null");
    case doc::Type::boolean: return cbor_is_bool(it) && cbor_get_bool(it) == v.boolean() ? true : no("bool");
    case doc::Type::integer: {
      const std::int64_t x = v.integer();
      const std::uint64_t arg = x >= 0 ? static_cast<std::uint64_t>(x) : ~static_cast<std::uint64_t>(x);
      if (x >= 0 ? !cbor_isa_uint(it) : !cbor_isa_negint(it)) return no("integer type");
      if (cbor_get_int(it) != arg) return no("integer value");
      const cbor_int_width want = arg <= 0xFF ? CBOR_INT_8 : arg <= 0xFFFF ? CBOR_INT_16 : arg <= 0xFFFFFFFFu ? CBOR_INT_32 : CBOR_INT_64;
      return cbor_int_get_width(it) == want ? true : no("integer head not shortest");
    }
    case doc::Type::real: {
      if (!cbor_isa_float_ctrl(it) || cbor_float_get_width(it) == CBOR_FLOAT_0) return no("real type");
      const double d = cbor_float_get_float(it);
      const bool same = (std::isnan(d) && std::isnan(v.real())) ||
                        std::bit_cast<std::uint64_t>(d) == std::bit_cast<std::uint64_t>(v.real());
      if (!same) return no("real value");
      const std::size_t want = canonical_float_size(v.real());
      const cbor_float_width w = cbor_float_get_width(it);
      const std::size_t got = w == CBOR_FLOAT_16 ? 3 : w == CBOR_FLOAT_32 ? 5 : 9;
      return got == want ? true : no("float not shortest");
    }
    case doc::Type::string:
      if (!cbor_isa_string(it) || !cbor_string_is_definite(it)) return no("string type");
      if (cbor_string_length(it) != v.string().size() ||
          std::memcmp(cbor_string_handle(it), v.string().data(), v.string().size()) != 0)
        return no("string value");
      return true;
    case doc::Type::bytes:
      if (!cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it)) return no("bytes type");
      if (cbor_bytestring_length(it) != v.string().size() ||
          std::memcmp(cbor_bytestring_handle(it), v.string().data(), v.string().size()) != 0)
        return no("bytes value");
      return true;
    case doc::Type::array: {
      if (!cbor_isa_array(it) || !cbor_array_is_definite(it) || cbor_array_size(it) != v.elements().size())
        return no("array shape");
      cbor_item_t** items = cbor_array_handle(it);
      for (std::size_t i = 0; i < v.elements().size(); ++i)
        if (!same_as_libcbor(v.elements()[i], items[i], why)) return false;
      return true;
    }
    case doc::Type::object: {
      if (!cbor_isa_map(it) || !cbor_map_is_definite(it) || cbor_map_size(it) != v.members().size())
        return no("map shape");
      cbor_pair* pairs = cbor_map_handle(it);
      for (std::size_t i = 0; i < v.members().size(); ++i) {
        if (!same_as_libcbor(doc::Value::of_string(v.members()[i].first), pairs[i].key, why)) return false;
        if (!same_as_libcbor(v.members()[i].second, pairs[i].value, why)) return false;
      }
      return true;
    }
  }
  return no("type");
}

// A libcbor tree for `v`, with widths picked at random among those that hold
// the value (so often not ferrite's shortest form).
cbor_item_t* to_libcbor(const doc::Value& v, Rng& r) {
  switch (v.type()) {
    case doc::Type::null: return cbor_new_null();
    case doc::Type::boolean: return cbor_build_bool(v.boolean());
    case doc::Type::integer: {
      const std::int64_t x = v.integer();
      const std::uint64_t arg = x >= 0 ? static_cast<std::uint64_t>(x) : ~static_cast<std::uint64_t>(x);
      const int min_width = arg <= 0xFF ? 0 : arg <= 0xFFFF ? 1 : arg <= 0xFFFFFFFFu ? 2 : 3;
      const int width = r.chance(50) ? min_width : min_width + static_cast<int>(r.below(static_cast<std::uint64_t>(4 - min_width)));
      const bool neg = x < 0;
      switch (width) {
        case 0: return neg ? cbor_build_negint8(static_cast<std::uint8_t>(arg)) : cbor_build_uint8(static_cast<std::uint8_t>(arg));
        case 1: return neg ? cbor_build_negint16(static_cast<std::uint16_t>(arg)) : cbor_build_uint16(static_cast<std::uint16_t>(arg));
        case 2: return neg ? cbor_build_negint32(static_cast<std::uint32_t>(arg)) : cbor_build_uint32(static_cast<std::uint32_t>(arg));
        default: return neg ? cbor_build_negint64(arg) : cbor_build_uint64(arg);
      }
    }
    case doc::Type::real: {
      const double d = v.real();
      const std::size_t min = canonical_float_size(d);
      std::size_t size = min;
      if (r.chance(50)) size = min == 3 ? (r.chance(50) ? 5 : 9) : 9;
      if (std::isnan(d)) size = 3;  // libcbor's half NaN is the canonical one
      // libcbor 0.8 encodes half subnormals wrongly (cbor_encode_half keeps
      // only the leading bit of the mantissa): give it those as singles.
      if (size == 3 && d != 0 && std::fabs(d) < 6.103515625e-05) size = 5;
      if (size == 3) return cbor_build_float2(static_cast<float>(d));
      if (size == 5) return cbor_build_float4(static_cast<float>(d));
      return cbor_build_float8(d);
    }
    case doc::Type::string: return cbor_build_stringn(v.string().data(), v.string().size());
    case doc::Type::bytes:
      return cbor_build_bytestring(reinterpret_cast<cbor_data>(v.string().data()), v.string().size());
    case doc::Type::array: {
      cbor_item_t* a = cbor_new_definite_array(v.elements().size());
      for (const auto& e : v.elements()) cbor_array_push(a, cbor_move(to_libcbor(e, r)));
      return a;
    }
    case doc::Type::object: {
      cbor_item_t* m = cbor_new_definite_map(v.members().size());
      for (const auto& [k, e] : v.members())
        cbor_map_add(m, cbor_pair{cbor_move(cbor_build_stringn(k.data(), k.size())), cbor_move(to_libcbor(e, r))});
      return m;
    }
  }
  return cbor_new_null();
}

}  // namespace

TEST_CASE("ferrite and libcbor agree on thousands of random documents in both directions") {
  Rng r{20240601};
  int cases = 0, failures = 0;
  std::string first;
  auto failed = [&](int seed, const std::string& what) {
    if (failures++ == 0) first = "document " + std::to_string(seed) + ": " + what;
  };
  for (int i = 0; i < 3000; ++i) {
    const doc::Value v = random_value(r, 1);
    const auto ours = encode(v);
    // 1. ferrite writes, libcbor reads.
    ++cases;
    cbor_load_result res{};
    cbor_item_t* item = ours.empty() ? nullptr
                                     : cbor_load(reinterpret_cast<cbor_data>(ours.data()), ours.size(), &res);
    std::string why;
    if (!item || res.error.code != CBOR_ERR_NONE || res.read != ours.size()) failed(i, "libcbor cannot read ferrite's bytes");
    else if (!same_as_libcbor(v, item, why)) failed(i, "libcbor reads another value: " + why);
    if (item) cbor_decref(&item);

    // 2. libcbor writes (any widths), ferrite reads and canonicalizes.
    ++cases;
    cbor_item_t* tree = to_libcbor(v, r);
    unsigned char* buf = nullptr;
    std::size_t cap = 0;
    const std::size_t len = cbor_serialize_alloc(tree, &buf, &cap);
    cbor_decref(&tree);
    const std::span<const std::byte> theirs(reinterpret_cast<const std::byte*>(buf), len);
    auto view = doc::View::parse(theirs, roomy());
    if (!view) {
      failed(i, std::string("View::parse refuses libcbor's bytes: ") + ferrite::name_of(view.error()));
    } else if (!(doc::Value::from(*view) == v)) {
      failed(i, "libcbor's bytes decode to another tree");
    } else {
      std::vector<std::byte> canon(len + 16);
      auto n = doc::canonical(*view, canon);
      if (!n || !same_bytes(std::span(canon.data(), *n), ours)) failed(i, "canonical() differs from the Writer");
      else if (!doc::View::parse(std::span(canon.data(), *n), roomy())) failed(i, "canonical bytes do not parse");
      else if (doc::compare(*view, *doc::View::parse(std::span(canon.data(), *n), roomy())) != 0)
        failed(i, "canonical value compares unequal");
    }
    std::free(buf);
  }
  std::printf("campaign cbor-differential: %d cases, %d failures\n", cases, failures);
  INFO(first);
  CHECK(failures == 0);
  CHECK(cases >= 5000);
}
#endif  // FERRITE_TEST_LIBCBOR

// ---------------------------------------------------------------------------
// The fuzz driver over seeded inputs

TEST_CASE("the fuzz driver holds its invariants over thousands of random and mutated inputs") {
  Rng r{7};
  int cases = 0, failures = 0;
  std::string first;
  auto run = [&](std::span<const std::byte> in) {
    ++cases;
    if (const char* why = doc_value_fuzz::check_doc_value(reinterpret_cast<const std::uint8_t*>(in.data()), in.size())) {
      if (failures++ == 0) first = why;
    }
  };
  for (int i = 0; i < 1500; ++i) {
    // A valid document, then mutations of it: flipped bytes, cuts, insertions.
    std::vector<std::byte> valid = encode(random_value(r, 1));
    run(valid);
    for (int m = 0; m < 2; ++m) {
      std::vector<std::byte> b = valid;
      switch (r.below(4)) {
        case 0:
          if (!b.empty()) b[r.below(b.size())] = std::byte(static_cast<unsigned char>(r.next()));
          break;
        case 1: b.resize(r.below(b.size() + 1)); break;
        case 2: b.insert(b.begin() + static_cast<std::ptrdiff_t>(r.below(b.size() + 1)), std::byte(static_cast<unsigned char>(r.next()))); break;
        default:
          if (!b.empty()) b[r.below(b.size())] ^= std::byte(static_cast<unsigned char>(1u << r.below(8)));
      }
      run(b);
    }
    // Random bytes.
    std::vector<std::byte> noise(r.below(40));
    for (auto& x : noise) x = std::byte(static_cast<unsigned char>(r.next()));
    run(noise);
    // JSON text of a document, whole and mutated.
    if (doc::json_available()) {
      auto v = doc::View::parse(valid, roomy());
      if (v) {
        auto text = doc::cbor_to_json(*v);
        if (text) {
          run(bytes_of(*text));
          std::string t = *text;
          if (!t.empty()) t[r.below(t.size())] = "{}[]\",:0e-\\x"[r.below(12)];
          run(bytes_of(t));
        }
      }
    }
  }
  std::printf("campaign doc-value-fuzz: %d cases, %d failures\n", cases, failures);
  INFO(first);
  CHECK(failures == 0);
}
