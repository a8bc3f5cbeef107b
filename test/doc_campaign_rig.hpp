// Shared support of the document layer's campaigns (test_doc_campaigns.cpp):
// a seeded generator, a docstore on a simulated flash with a configurable
// number of engine keys, and an in-memory model of documents with its own
// evaluator of the query semantics documented in ferrite.docstore-query.cppm
// (written from the documentation, not from src/docstore/match.cpp).
// Include after the std and Catch2 headers and `import ferrite; import ferrite.sim;`.
#pragma once

#include "campaign_scale.hpp"

namespace dcamp {

using ferrite::DocId;
using ferrite::Errc;
using ferrite::doc::Type;
using ferrite::doc::Value;
using ferrite::doc::View;

using campaign::campaign_scale;

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed) {
    s = next() ^ 0x5DEECE66Dull;  // nearby seeds must not give shifted copies of one stream
  }
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return n ? static_cast<std::uint32_t>(next() % n) : 0; }
  bool chance(std::uint32_t percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[below(static_cast<std::uint32_t>(v.size()))]; }
};

inline std::vector<std::byte> encode(const Value& v) {
  auto e = v.encode();
  if (!e) std::abort();
  return *e;
}

inline View view_of(const std::vector<std::byte>& b) {
  auto v = View::parse(b);
  if (!v) std::abort();
  return *v;
}

/// A store + docstore on a simulated flash (as DocRig, with more keys and a
/// choice of value size), rebootable on the same flash.
struct Bench {
  Bench(ferrite::Geometry g, std::size_t keys, std::uint32_t max_value, std::uint32_t max_document,
        std::uint64_t seed = 1, ferrite::ValueCodec* codec = nullptr)
      : sim(g, seed), flash(sim), max_document(max_document) {
    index.resize(keys);
    order.resize(keys);
    config.index = index;
    config.order = order;
    config.sectors = sectors;
    config.max_value_size = max_value;
    if (codec) {
      scratch.resize(ferrite::Store::scratch_needed(max_value, codec->overhead()));
      config.codec = codec;
      config.scratch = scratch;
    }
    store.emplace(flash, config);
  }
  ferrite::DocConfig doc_config() {
    ferrite::DocConfig dc;
    dc.clock = ferrite::Clock{[](void* c) noexcept { return ++*static_cast<std::int64_t*>(c); }, &now};
    dc.max_document_size = max_document;
    return dc;
  }
  bool fresh() {
    if (!ferrite::sync_wait(store->format())) return false;
    db.emplace(*store, doc_config());
    return static_cast<bool>(ferrite::sync_wait(db->open()));
  }
  /// Power back on, a new Store and DocStore on the same flash; mount (not open).
  ferrite::Status remount() {
    sim.restore_power();
    db.reset();
    std::fill(index.begin(), index.end(), ferrite::IndexEntry{});
    sectors = {};
    config.sectors = sectors;
    store.emplace(flash, config);
    return ferrite::sync_wait(store->mount());
  }
  ferrite::Status open() {
    db.emplace(*store, doc_config());
    return ferrite::sync_wait(db->open());
  }
  ferrite::Status reboot() {
    auto st = remount();
    if (!st) return st;
    return open();
  }

  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  std::uint32_t max_document;
  std::int64_t now = 1000;
  std::vector<ferrite::IndexEntry> index;
  std::vector<std::uint16_t> order;
  std::array<ferrite::SectorInfo, 64> sectors{};
  ferrite::StoreConfig config{};
  std::vector<std::byte> scratch;
  std::optional<ferrite::Store> store;
  std::optional<ferrite::DocStore> db;
};

inline ferrite::Geometry geometry(std::uint32_t sectors, std::uint32_t size, std::uint32_t unit = 4) {
  auto g = ferrite::Geometry::uniform(sectors, size, unit, ferrite::EraseValue::ones, false);
  if (!g) std::abort();
  return *g;
}

// -- the model's value order (docs: null < numbers < strings < bytes < booleans
// < arrays < objects; numbers by value; strings bytewise; false < true) -------

inline int rank(Type t) {
  switch (t) {
    case Type::null: return 0;
    case Type::integer:
    case Type::real: return 1;
    case Type::string: return 2;
    case Type::bytes: return 3;
    case Type::boolean: return 4;
    case Type::array: return 5;
    case Type::object: return 6;
  }
  return 7;
}

inline long double num(const Value& v) {
  return v.type() == Type::integer ? static_cast<long double>(v.integer()) : static_cast<long double>(v.real());
}

inline int cmp(const Value& a, const Value& b) {
  const int ra = rank(a.type()), rb = rank(b.type());
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type()) {
    case Type::null: return 0;
    case Type::integer:
    case Type::real: {
      const long double x = num(a), y = num(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case Type::string:
    case Type::bytes: {
      const int c = a.string().compare(b.string());
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case Type::boolean: return a.boolean() == b.boolean() ? 0 : a.boolean() ? 1 : -1;
    case Type::array: {
      const auto& x = a.elements();
      const auto& y = b.elements();
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
        if (int c = cmp(x[i], y[i])) return c;
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    case Type::object: {
      const auto& x = a.members();
      const auto& y = b.members();
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        if (int c = x[i].first.compare(y[i].first)) return c < 0 ? -1 : 1;
        if (int c = cmp(x[i].second, y[i].second)) return c;
      }
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
  }
  return 0;
}

/// Structural equality with object members in any order (ints and reals distinct).
inline bool same_doc(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::null: return true;
    case Type::boolean: return a.boolean() == b.boolean();
    case Type::integer: return a.integer() == b.integer();
    case Type::real: return a.real() == b.real() || (a.real() != a.real() && b.real() != b.real());
    case Type::string:
    case Type::bytes: return a.string() == b.string();
    case Type::array: {
      if (a.elements().size() != b.elements().size()) return false;
      for (std::size_t i = 0; i < a.elements().size(); ++i)
        if (!same_doc(a.elements()[i], b.elements()[i])) return false;
      return true;
    }
    case Type::object: {
      if (a.members().size() != b.members().size()) return false;
      for (const auto& [k, v] : a.members()) {
        const Value* o = b.find(k);
        if (!o || !same_doc(v, *o)) return false;
      }
      return true;
    }
  }
  return false;
}

inline std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t dot = path.find('.', at);
    out.emplace_back(path.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at));
    if (dot == std::string_view::npos) return out;
    at = dot + 1;
  }
}

inline bool decimal(const std::string& s, std::size_t& index) {
  if (s.empty() || s.size() > 9) return false;
  index = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    index = index * 10 + static_cast<std::size_t>(c - '0');
  }
  return true;
}

/// The values a dotted path reaches: object members by name; at an array, a
/// decimal component selects an element, and the rest of the path is applied
/// to each element (so a field name reaches into arrays of objects).
inline void reach(const Value& node, const std::vector<std::string>& parts, std::size_t at,
                  std::vector<const Value*>& out) {
  if (at == parts.size()) {
    out.push_back(&node);
    return;
  }
  if (node.type() == Type::object) {
    if (const Value* c = node.find(parts[at])) reach(*c, parts, at + 1, out);
    return;
  }
  if (node.type() != Type::array) return;
  std::size_t index = 0;
  if (decimal(parts[at], index)) {
    if (index < node.elements().size()) reach(node.elements()[index], parts, at + 1, out);
    return;
  }
  for (const Value& e : node.elements())
    if (e.type() == Type::object) reach(e, parts, at, out);
}

// -- queries: the test's own tree, built into a ferrite Query and evaluated by the model --

enum class QOp { all, eq, ne, gt, gte, lt, lte, in, nin, exists, prefix, and_, or_, not_ };

struct QNode {
  QOp op = QOp::all;
  std::string path;
  Value operand;                 // scalar, array (in/nin lists, eq of whole arrays), bool (exists)
  std::vector<QNode> kids;
};

inline bool leaf_eq(const Value& reached, const Value& x) {
  if (cmp(reached, x) == 0) return true;  // a scalar, or a whole array
  if (reached.type() == Type::array)
    for (const Value& e : reached.elements())
      if (cmp(e, x) == 0) return true;
  return false;
}

inline bool eval(const QNode& q, const Value& doc) {
  switch (q.op) {
    case QOp::all: return true;
    case QOp::and_:
      for (const auto& k : q.kids)
        if (!eval(k, doc)) return false;
      return true;
    case QOp::or_:
      for (const auto& k : q.kids)
        if (eval(k, doc)) return true;
      return false;
    case QOp::not_: return !eval(q.kids[0], doc);
    default: break;
  }
  std::vector<const Value*> reached;
  reach(doc, split(q.path), 0, reached);
  auto any_eq = [&](const Value& x) {
    for (const Value* r : reached)
      if (leaf_eq(*r, x)) return true;
    return false;
  };
  // Comparisons and prefix look at the values reached and at the elements
  // of arrays reached (an array operand compares with whole arrays).
  std::vector<const Value*> scalars;
  for (const Value* r : reached) {
    scalars.push_back(r);
    if (r->type() == Type::array)
      for (const Value& e : r->elements()) scalars.push_back(&e);
  }
  auto any_cmp = [&](auto pred) {
    for (const Value* s : scalars)
      if (rank(s->type()) == rank(q.operand.type()) && pred(cmp(*s, q.operand))) return true;
    return false;
  };
  switch (q.op) {
    case QOp::eq: return any_eq(q.operand);
    case QOp::ne: return !any_eq(q.operand);
    case QOp::gt: return any_cmp([](int c) { return c > 0; });
    case QOp::gte: return any_cmp([](int c) { return c >= 0; });
    case QOp::lt: return any_cmp([](int c) { return c < 0; });
    case QOp::lte: return any_cmp([](int c) { return c <= 0; });
    case QOp::in:
    case QOp::nin: {
      bool hit = false;
      for (const Value& x : q.operand.elements()) hit = hit || any_eq(x);
      return q.op == QOp::in ? hit : !hit;
    }
    case QOp::exists: return q.operand.boolean() ? !reached.empty() : reached.empty();
    case QOp::prefix:
      for (const Value* s : scalars)
        if (s->type() == q.operand.type() && s->string().compare(0, q.operand.string().size(), q.operand.string()) == 0)
          return true;
      return false;
    default: return false;
  }
}

inline ferrite::doc::Query build(const QNode& q) {
  using ferrite::doc::Operand;
  using ferrite::doc::Query;
  auto operand = [](const Value& v, std::vector<std::byte>& keep) -> Operand {
    switch (v.type()) {
      case Type::null: return Operand(nullptr);
      case Type::boolean: return Operand(v.boolean());
      case Type::integer: return Operand(static_cast<long long>(v.integer()));
      case Type::real: return Operand(v.real());
      case Type::string: return Operand(std::string_view(v.string()));
      default:
        keep = encode(v);
        return Operand(view_of(keep));
    }
  };
  std::vector<std::byte> keep;
  const auto p = Query::path(q.path);
  switch (q.op) {
    case QOp::all: return Query{};
    case QOp::eq: return p.eq(operand(q.operand, keep));
    case QOp::ne: return p.ne(operand(q.operand, keep));
    case QOp::gt: return p.gt(operand(q.operand, keep));
    case QOp::gte: return p.gte(operand(q.operand, keep));
    case QOp::lt: return p.lt(operand(q.operand, keep));
    case QOp::lte: return p.lte(operand(q.operand, keep));
    case QOp::in:
      keep = encode(q.operand);
      return p.in(view_of(keep));
    case QOp::nin:
      keep = encode(q.operand);
      return p.nin(view_of(keep));
    case QOp::exists: return p.exists(q.operand.boolean());
    case QOp::prefix: return p.prefix(operand(q.operand, keep));
    case QOp::and_: {
      Query r = build(q.kids[0]);
      for (std::size_t i = 1; i < q.kids.size(); ++i) r = r && build(q.kids[i]);
      return r;
    }
    case QOp::or_: {
      Query r = build(q.kids[0]);
      for (std::size_t i = 1; i < q.kids.size(); ++i) r = r || build(q.kids[i]);
      return r;
    }
    case QOp::not_: return !build(q.kids[0]);
  }
  return Query{};
}

inline std::string show_value(const Value& v) {
  auto bytes = encode(v);
  auto j = ferrite::doc::cbor_to_json(view_of(bytes));
  return j ? *j : std::string("?");
}

inline std::string show(const QNode& q) {
  static const char* names[] = {"all", "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists", "prefix",
                                "and", "or", "not"};
  const char* n = names[static_cast<int>(q.op)];
  if (q.op == QOp::all) return "{}";
  if (q.op == QOp::and_ || q.op == QOp::or_ || q.op == QOp::not_) {
    std::string s = std::string("$") + n + "[";
    for (std::size_t i = 0; i < q.kids.size(); ++i) s += (i ? ", " : "") + show(q.kids[i]);
    return s + "]";
  }
  return "{" + q.path + ": {$" + n + ": " + show_value(q.operand) + "}}";
}

}  // namespace dcamp
