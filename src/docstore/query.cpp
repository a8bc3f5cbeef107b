// Query: a fixed-size predicate tree, built in C++ or parsed from a
// MongoDB-style document (JSON text on hosts).
module;
#include "ferrite_modules.hpp"

module ferrite.docstore;

namespace ferrite::doc {

const char* op_name(Op op) noexcept {
  switch (op) {
    case Op::all: return "all";
    case Op::eq: return "eq";
    case Op::ne: return "ne";
    case Op::gt: return "gt";
    case Op::gte: return "gte";
    case Op::lt: return "lt";
    case Op::lte: return "lte";
    case Op::in: return "in";
    case Op::nin: return "nin";
    case Op::exists: return "exists";
    case Op::prefix: return "prefix";
    case Op::regex: return "regex";
    case Op::and_: return "and";
    case Op::or_: return "or";
    case Op::not_: return "not";
  }
  return "?";
}

const char* access_name(Plan::Access a) noexcept {
  switch (a) {
    case Plan::Access::collection_scan: return "collection_scan";
    case Plan::Access::id_range: return "id_range";
    case Plan::Access::index_range: return "index_range";
  }
  return "?";
}

void Operand::write(Writer& w) const noexcept {
  if (is_view_) {
    w.value(view_);
    return;
  }
  switch (kind_) {
    case Type::null: w.null(); break;
    case Type::boolean: w.boolean(b_); break;
    case Type::integer: w.integer(i_); break;
    case Type::real: w.real(d_); break;
    case Type::string: w.string(s_); break;
    case Type::bytes: w.bytes({reinterpret_cast<const std::byte*>(s_.data()), s_.size()}); break;
    default: w.null(); break;
  }
}

Query::Query() noexcept {
  nodes_[0] = Node{};
  count_ = 1;
}

View Query::value_of(const Node& n) const noexcept {
  if (n.value_size == 0) return {};
  auto v = View::parse({pool_.data() + n.value_at, n.value_size});
  return v ? *v : View{};
}

std::uint16_t Query::add_bytes(std::span<const std::byte> b) noexcept {
  if (b.size() > max_pool - pool_used_) {
    error_ = Errc::too_large;
    return 0;
  }
  const auto at = pool_used_;
  if (!b.empty()) std::memcpy(pool_.data() + at, b.data(), b.size());
  pool_used_ = static_cast<std::uint16_t>(pool_used_ + b.size());
  return at;
}

Query Query::PathRef::make(Op op, const Operand& v) const noexcept {
  Query q;
  Node& n = q.nodes_[0];
  n.op = op;
  if (path_.empty() || path_.size() > max_path) {
    q.error_ = Errc::invalid_argument;
    return q;
  }
  n.path_at = q.add_bytes({reinterpret_cast<const std::byte*>(path_.data()), path_.size()});
  n.path_size = static_cast<std::uint16_t>(path_.size());
  Writer w(std::span<std::byte>(q.pool_).subspan(q.pool_used_));
  v.write(w);
  if (!w.status()) {
    q.error_ = w.status().error() == Errc::buffer_too_small ? Errc::too_large : w.status().error();
    return q;
  }
  n.value_at = q.add_bytes(w.written());
  n.value_size = static_cast<std::uint16_t>(w.size());
  return q;
}

Query Query::PathRef::make_list(Op op, std::initializer_list<Operand> vs) const noexcept {
  std::array<std::byte, max_pool> buf{};
  Writer w(buf);
  w.array(static_cast<std::uint32_t>(vs.size()));
  for (const Operand& v : vs) v.write(w);
  auto arr = w.finish();
  if (!arr) {
    Query q;
    q.error_ = Errc::too_large;
    return q;
  }
  return make(op, *arr);
}

Query Query::PathRef::between(const Operand& start, const Operand& end) const noexcept {
  return gte(start) && lte(end);
}

bool Query::append_subtree(const Query& q, std::size_t from) noexcept {
  const std::size_t n = q.nodes_[from].span;
  if (count_ + n > max_nodes) {
    error_ = Errc::too_large;
    return false;
  }
  for (std::size_t i = from; i < from + n; ++i) {
    Node node = q.nodes_[i];
    node.path_at = add_bytes({q.pool_.data() + node.path_at, node.path_size});
    node.value_at = add_bytes({q.pool_.data() + node.value_at, node.value_size});
    nodes_[count_++] = node;
  }
  return error_ == Errc::ok;
}

Query Query::combine(Op op, const Query& a, const Query& b) noexcept {
  Query r;
  r.nodes_[0] = Node{};
  r.nodes_[0].op = op;
  r.count_ = 1;
  std::size_t children = 0;
  for (const Query* q : {&a, &b}) {
    if (q->error_ != Errc::ok) r.error_ = q->error_;
    if (q->nodes_[0].op == op) {  // flatten (a and b) and c
      for (std::size_t i = 1; i < q->count_; i += q->nodes_[i].span, ++children) r.append_subtree(*q, i);
    } else if (!(op == Op::and_ && q->matches_all())) {
      r.append_subtree(*q, 0);
      ++children;
    }
  }
  if (children == 0) return Query{};  // all and all
  if (children > 255) r.error_ = Errc::too_large;
  r.nodes_[0].children = static_cast<std::uint8_t>(children);
  r.nodes_[0].span = r.count_;
  if (children == 1 && op != Op::not_) {  // a single conjunct is itself
    Query one;
    one.count_ = 0;
    one.append_subtree(r, 1);
    one.error_ = r.error_;
    return one;
  }
  return r;
}

Query operator!(const Query& a) noexcept {
  Query r;
  r.nodes_[0] = Query::Node{};
  r.nodes_[0].op = Op::not_;
  r.nodes_[0].children = 1;
  r.count_ = 1;
  r.error_ = a.error_;
  r.append_subtree(a, 0);
  r.nodes_[0].span = r.count_;
  return r;
}

bool Query::same_subtree(std::size_t i, const Query& other, std::size_t j) const noexcept {
  const std::size_t n = nodes_[i].span;
  if (other.nodes_[j].span != n) return false;
  for (std::size_t k = 0; k < n; ++k) {
    const Node& a = nodes_[i + k];
    const Node& b = other.nodes_[j + k];
    if (a.op != b.op || a.children != b.children || a.path_size != b.path_size || a.value_size != b.value_size)
      return false;
    if (std::memcmp(pool_.data() + a.path_at, other.pool_.data() + b.path_at, a.path_size) != 0) return false;
    if (std::memcmp(pool_.data() + a.value_at, other.pool_.data() + b.value_at, a.value_size) != 0) return false;
  }
  return true;
}

namespace {

struct OpName {
  std::string_view name;
  Op op;
};
constexpr std::array<OpName, 11> field_ops{{{"$eq", Op::eq},
                                            {"$ne", Op::ne},
                                            {"$gt", Op::gt},
                                            {"$gte", Op::gte},
                                            {"$lt", Op::lt},
                                            {"$lte", Op::lte},
                                            {"$in", Op::in},
                                            {"$nin", Op::nin},
                                            {"$exists", Op::exists},
                                            {"$prefix", Op::prefix},
                                            {"$regex", Op::regex}}};

Result<Query> field_predicate(std::string_view path, std::string_view op_text, const View& operand) noexcept {
  for (const auto& fo : field_ops) {
    if (fo.name != op_text) continue;
    const bool list = fo.op == Op::in || fo.op == Op::nin;
    if (list && operand.type() != Type::array) return fail(Errc::invalid_argument);
    if (fo.op == Op::exists && operand.type() != Type::boolean) return fail(Errc::invalid_argument);
    if ((fo.op == Op::regex) && operand.type() != Type::string) return fail(Errc::invalid_argument);
    if (fo.op == Op::prefix && operand.type() != Type::string && operand.type() != Type::bytes)
      return fail(Errc::invalid_argument);
    auto p = Query::path(path);
    switch (fo.op) {
      case Op::eq: return p.eq(operand);
      case Op::ne: return p.ne(operand);
      case Op::gt: return p.gt(operand);
      case Op::gte: return p.gte(operand);
      case Op::lt: return p.lt(operand);
      case Op::lte: return p.lte(operand);
      case Op::in: return p.in(operand);
      case Op::nin: return p.nin(operand);
      case Op::exists: return p.exists(operand.boolean());
      case Op::prefix: return p.prefix(operand);
      case Op::regex: return p.regex(operand.string());
      default: break;
    }
  }
  return fail(Errc::invalid_argument);
}

bool is_operator_object(const View& v) noexcept {
  if (v.type() != Type::object || v.size() == 0) return false;
  auto c = v.children();
  c.next();
  return !c.key().empty() && c.key().front() == '$';
}

}  // namespace

Result<Query> Query::from_document(const View& doc) noexcept {
  if (doc.type() != Type::object) return fail(Errc::invalid_argument);
  Query result;
  auto c = doc.children();
  while (c.next()) {
    const std::string_view k = c.key();
    const View& v = c.value();
    Query part;
    if (k == "$and" || k == "$or") {
      if (v.type() != Type::array || v.size() == 0) return fail(Errc::invalid_argument);
      auto e = v.children();
      bool first = true;
      while (e.next()) {
        auto sub = from_document(e.value());
        if (!sub) return sub;
        part = first ? *sub : (k == "$and" ? (part && *sub) : (part || *sub));
        first = false;
      }
    } else if (k == "$not") {
      auto sub = from_document(v);
      if (!sub) return sub;
      part = !*sub;
    } else if (!k.empty() && k.front() == '$') {
      return fail(Errc::invalid_argument);
    } else if (is_operator_object(v)) {
      auto ops = v.children();
      bool first = true;
      while (ops.next()) {
        auto pred = field_predicate(k, ops.key(), ops.value());
        if (!pred) return pred;
        part = first ? *pred : (part && *pred);
        first = false;
      }
    } else {
      part = Query::path(k).eq(v);
    }
    result = result && part;
    if (result.error() != Errc::ok) return fail(result.error());
  }
  return result;
}

Result<Query> Query::from_json(std::string_view json, TextError* where) noexcept {
  std::array<std::byte, 2 * max_pool> buf{};
  Limits limits;
  limits.max_size = static_cast<std::uint32_t>(buf.size());
  auto n = json_to_cbor(json, buf, limits, where);
  if (!n) return fail(n.error() == Errc::buffer_too_small ? Errc::too_large : n.error());
  auto v = View::parse({buf.data(), *n});
  if (!v) return fail(v.error());
  return from_document(*v);
}

}  // namespace ferrite::doc
