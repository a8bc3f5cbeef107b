// The planner: one access path per query (EJDB2's rules): the `_id` range,
// one index's key ranges (an equality prefix, then a range on the next
// path; `in` makes several ranges), or the whole collection. Predicates it
// cannot serve are left to the residual filter, which always re-checks the
// whole query: index bounds only ever select a superset. A hashed index
// (docs/FORMAT.md §9.7) serves only an equality (or `in`) on every one of its
// paths: one exact key range per combination, never a range or a sort.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;
using doc::Op;
using doc::Plan;
using doc::Query;
using doc::Type;

namespace {

bool scalar(Type t) noexcept { return t != Type::array && t != Type::object; }

bool comparison(Op op) noexcept { return op == Op::gt || op == Op::gte || op == Op::lt || op == Op::lte; }

// Bounds on one index path (or on _id): lower and upper key suffixes.
struct Bounds {
  Key lower;          // appended to the base
  Key upper;          // appended to the base, then successor()
  bool any = false;
};

// The type bracket of a comparison operand: its tag alone.
std::uint8_t tag_of(const doc::View& v) noexcept {
  switch (v.type()) {
    case Type::null: return tag_null;
    case Type::integer:
    case Type::real: return tag_number;
    case Type::string: return tag_string;
    case Type::bytes: return tag_bytes;
    case Type::boolean: return v.boolean() ? tag_true : tag_false;
    default: return 0;
  }
}

// The encoding of a value without the terminator of text (a prefix of the
// encoding of every value that starts with it).
Key open_encoding(const doc::View& v, std::size_t budget) noexcept {
  Key k;
  encode_value(v, budget, k);
  if ((v.type() == Type::string || v.type() == Type::bytes) && k.size > 1) --k.size;  // drop 00 or 01
  return k;
}

bool exact_encoding(const doc::View& v, std::size_t budget, Key& out) noexcept {
  if (!encode_value(v, budget, out)) return false;
  return !((v.type() == Type::string || v.type() == Type::bytes) &&
           out.bytes[out.size - 1] == std::byte{0x01});
}

// Range bounds for the comparison and prefix conjuncts on `path`. On a
// multikey index, different predicates may hold for different elements of
// one array (gt 5 and lt 3 both hold for [6, 2]), so bounds of different
// predicates are not intersected there: one prefix alone, else the lower
// bounds alone, else the upper bounds alone.
Bounds range_bounds(const Query& q, std::string_view path, std::size_t budget, bool multikey) noexcept {
  Bounds b;
  int bracket = -1;
  int first_prefix = -1;
  bool any_low = false;
  if (multikey) {
    q.for_each_conjunct([&](std::size_t i) {
      const auto& n = q.node(i);
      if (q.path_of(n) != path || !scalar(q.value_of(n).type())) return;
      if (n.op == Op::prefix && first_prefix == -1) first_prefix = static_cast<int>(i);
      any_low = any_low || n.op == Op::gt || n.op == Op::gte;
    });
  }
  q.for_each_conjunct([&](std::size_t i) {
    const auto& n = q.node(i);
    if (q.path_of(n) != path || !(comparison(n.op) || n.op == Op::prefix)) return;
    const doc::View v = q.value_of(n);
    if (!scalar(v.type())) return;
    if (multikey) {
      const bool low_op = n.op == Op::gt || n.op == Op::gte;
      const bool keep = first_prefix >= 0 ? static_cast<int>(i) == first_prefix : any_low ? low_op : true;
      if (!keep) return;
    }
    const int tag = v.type() == Type::boolean ? tag_false : tag_of(v);
    if (bracket != -1 && bracket != tag) return;  // a second type bracket: leave it to the residual
    bracket = tag;
    const Key enc = open_encoding(v, budget);
    const bool low = n.op == Op::gt || n.op == Op::gte || n.op == Op::prefix;
    const bool high = n.op == Op::lt || n.op == Op::lte || n.op == Op::prefix;
    if (low && (b.lower.size == 0 || compare_keys(enc.view(), b.lower.view()) > 0)) b.lower = enc;
    if (high && (b.upper.size == 0 || compare_keys(enc.view(), b.upper.view()) < 0)) b.upper = enc;
    b.any = true;
  });
  if (!b.any) return b;
  Key tag;
  tag.push(static_cast<std::uint8_t>(bracket));
  if (bracket == tag_false) tag.bytes[0] = std::byte{tag_false};
  if (b.lower.size == 0) b.lower = tag;
  if (b.upper.size == 0) {
    b.upper = tag;
    if (bracket == tag_false) b.upper.bytes[0] = std::byte{tag_true};
  }
  return b;
}

struct Candidate {
  const IndexSlot* index = nullptr;
  std::uint8_t eq = 0;
  bool range = false;
  int in_node = -1;         // the one `in` conjunct used, or -1
  std::size_t in_path = 0;  // which path it fixes
};

int find_eq(const Query& q, std::string_view path, bool allow_in, bool& is_in) noexcept {
  int found = -1;
  is_in = false;
  q.for_each_conjunct([&](std::size_t i) {
    const auto& n = q.node(i);
    if (found != -1 || q.path_of(n) != path) return;
    const doc::View v = q.value_of(n);
    if (n.op == Op::eq && scalar(v.type())) {
      found = static_cast<int>(i);
    } else if (allow_in && n.op == Op::in && v.size() > 0 && v.size() <= max_ranges) {
      bool ok = true;
      auto c = v.children();
      while (c.next()) ok = ok && scalar(c.value().type());
      if (ok) {
        found = static_cast<int>(i);
        is_in = true;
      }
    }
  });
  return found;
}

bool filter_implied(const IndexSlot& x, const Query& q) noexcept {
  if (!x.filter_size) return true;
  auto fv = doc::View::parse({x.filter.data(), x.filter_size});
  if (!fv) return false;
  auto filter = Query::from_document(*fv);
  if (!filter) return false;
  bool all = true;
  filter->for_each_conjunct([&](std::size_t fi) {
    bool hit = false;
    q.for_each_conjunct([&](std::size_t qi) { hit = hit || filter->same_subtree(fi, q, qi); });
    all = all && hit;
  });
  return all;
}

// A hashed index: an equality (or the one `in`) on every path, or nothing.
// A long text equality needs no range: its cut encoding hashes the same for
// every text with that stored prefix, and the residual filter sorts them out.
Candidate evaluate_hashed(const IndexSlot& x, const Query& q) noexcept {
  Candidate c;
  c.index = &x;
  for (std::size_t p = 0; p < x.path_count; ++p) {
    bool is_in = false;
    const int node = find_eq(q, x.path(p), c.in_node == -1, is_in);
    if (node < 0) return Candidate{};
    if (is_in) {
      c.in_node = node;
      c.in_path = p;
    }
    ++c.eq;
  }
  return c;
}

Candidate evaluate(const IndexSlot& x, const Query& q) noexcept {
  if (!filter_implied(x, q)) return Candidate{};
  if (x.hashed) return evaluate_hashed(x, q);
  Candidate c;
  c.index = &x;
  const std::size_t budget = value_budget(x.path_count);
  for (std::size_t p = 0; p < x.path_count; ++p) {
    bool is_in = false;
    const int node = find_eq(q, x.path(p), c.in_node == -1, is_in);
    if (node < 0) {
      c.range = range_bounds(q, x.path(p), budget, x.multikey).any;
      break;
    }
    Key probe;
    if (!is_in && !exact_encoding(q.value_of(q.node(static_cast<std::size_t>(node))), budget, probe)) {
      c.range = true;  // a long text: its stored prefix is a range
      break;
    }
    if (is_in) {
      c.in_node = node;
      c.in_path = p;
    }
    ++c.eq;
  }
  return c;
}

int score(const Candidate& c) noexcept { return c.index ? 2 * c.eq + (c.range ? 1 : 0) : 0; }

// The value of the equality on path p (element `choice` of the `in` used).
doc::View eq_value(const Candidate& c, const Query& q, std::size_t p, std::size_t choice) noexcept {
  bool is_in = false;
  const int node = find_eq(q, c.index->path(p), c.in_node != -1 && p == c.in_path, is_in);
  doc::View v = q.value_of(q.node(static_cast<std::size_t>(node)));
  return is_in ? v.at(static_cast<std::uint32_t>(choice)) : v;
}

// A hashed index: the one key range of entries with H(the equality values).
Status add_hashed_range(Store& store, const Candidate& c, const Query& q, std::size_t choice,
                        FindPlan& out) noexcept {
  const IndexSlot& x = *c.index;
  std::array<std::byte, max_index_paths * hashed_value_budget> joined{};
  std::size_t size = 0;
  for (std::size_t p = 0; p < x.path_count; ++p) {
    Key enc;
    encode_value(eq_value(c, q, p, choice), hashed_value_budget, enc);
    std::memcpy(joined.data() + size, enc.bytes.data(), enc.size);
    size += enc.size;
  }
  Key base = entries_prefix(x);
  FERRITE_TRY(append_hash(store, std::span<const std::byte>(joined.data(), size), base));
  if (out.range_count < out.ranges.size()) out.ranges[out.range_count++] = {base, successor(base)};
  return {};
}

// Appends one eq-prefix combination (choice = which `in` element) plus the
// range part, as a [lower, upper) pair.
void add_index_range(const Candidate& c, const Query& q, std::size_t choice, FindPlan& out) noexcept {
  const IndexSlot& x = *c.index;
  const std::size_t budget = value_budget(x.path_count);
  Key base = entries_prefix(x);
  std::size_t p = 0;
  for (; p < c.eq; ++p) encode_value(eq_value(c, q, p, choice), budget, base);
  Key lower = base, upper = base;
  if (c.range && p < x.path_count) {
    bool is_in = false;
    const int node = find_eq(q, x.path(p), false, is_in);
    if (node >= 0) {  // a long text equality: every value with its stored prefix
      const Key enc = open_encoding(q.value_of(q.node(static_cast<std::size_t>(node))), budget);
      lower.append(enc.view());
      upper.append(enc.view());
    } else {
      const Bounds b = range_bounds(q, x.path(p), budget, x.multikey);
      lower.append(b.lower.view());
      upper.append(b.upper.view());
    }
  }
  if (out.range_count < out.ranges.size()) out.ranges[out.range_count++] = {lower, successor(upper)};
}

void sort_and_merge(FindPlan& plan) noexcept {
  auto* first = plan.ranges.data();
  auto* last = first + plan.range_count;
  std::sort(first, last, [](const KeyRange& a, const KeyRange& b) {
    return compare_keys(a.lower.view(), b.lower.view()) < 0;
  });
  std::size_t n = 0;
  for (std::size_t i = 0; i < plan.range_count; ++i) {
    if (n > 0 && compare_keys(plan.ranges[i].lower.view(), plan.ranges[n - 1].upper.view()) <= 0) {
      if (compare_keys(plan.ranges[i].upper.view(), plan.ranges[n - 1].upper.view()) > 0)
        plan.ranges[n - 1].upper = plan.ranges[i].upper;
    } else {
      plan.ranges[n++] = plan.ranges[i];
    }
  }
  plan.range_count = static_cast<std::uint8_t>(n);
}

// _id bounds from the _id conjuncts; false when there are none.
bool id_bounds(const Query& q, std::uint64_t& lo, std::uint64_t& hi, int& in_node) noexcept {
  bool any = false;
  lo = 0;
  hi = 0xFFFFFFFFull;
  in_node = -1;
  q.for_each_conjunct([&](std::size_t i) {
    const auto& n = q.node(i);
    if (q.path_of(n) != "_id") return;
    const doc::View v = q.value_of(n);
    if (n.op == Op::in && in_node == -1 && v.size() <= max_ranges) {
      bool ok = true;
      auto c = v.children();
      while (c.next()) ok = ok && c.value().is_number();
      if (ok) {
        in_node = static_cast<int>(i);
        any = true;
      }
      return;
    }
    if (!v.is_number() || !(n.op == Op::eq || comparison(n.op))) return;
    const double d = v.number();
    if (d != d) return;
    auto clamp = [](double x) noexcept { return x < 0 ? 0.0 : (x > 4294967295.0 ? 4294967296.0 : x); };
    const double f = clamp(std::floor(d)), c = clamp(std::ceil(d));
    if (n.op == Op::eq || n.op == Op::gte) lo = std::max<std::uint64_t>(lo, static_cast<std::uint64_t>(c));
    if (n.op == Op::gt) lo = std::max<std::uint64_t>(lo, static_cast<std::uint64_t>(f) + 1);
    if (n.op == Op::eq || n.op == Op::lte) hi = std::min<std::uint64_t>(hi, static_cast<std::uint64_t>(f));
    if (n.op == Op::lt) hi = std::min<std::uint64_t>(hi, c >= 1 ? static_cast<std::uint64_t>(c) - 1 : 0);
    if (n.op == Op::lt && c < 1) lo = 1, hi = 0;  // nothing below id 0
    any = true;
  });
  return any;
}

void add_id_range(std::uint16_t cid, std::uint64_t lo, std::uint64_t hi, FindPlan& plan) noexcept {
  if (lo > hi || plan.range_count == plan.ranges.size()) return;
  const Key lower = doc_key(cid, static_cast<DocId>(lo));
  const Key upper = hi >= 0xFFFFFFFFull ? successor(docs_prefix(cid)) : doc_key(cid, static_cast<DocId>(hi + 1));
  plan.ranges[plan.range_count++] = {lower, upper};
}

void plan_ids(std::uint16_t cid, const Query& q, FindPlan& plan) noexcept {
  std::uint64_t lo = 0, hi = 0;
  int in_node = -1;
  id_bounds(q, lo, hi, in_node);
  plan.plan.access = Plan::Access::id_range;
  if (in_node < 0) {
    add_id_range(cid, lo, hi, plan);
  } else {
    auto c = q.value_of(q.node(static_cast<std::size_t>(in_node))).children();
    while (c.next()) {
      const double d = c.value().number();
      if (d >= 0 && d <= 4294967295.0 && d == std::floor(d)) {
        const auto id = static_cast<std::uint64_t>(d);
        if (id >= lo && id <= hi) add_id_range(cid, id, id, plan);
      }
    }
  }
  sort_and_merge(plan);
}

void plan_scan(std::uint16_t cid, FindPlan& plan) noexcept {
  plan.plan.access = Plan::Access::collection_scan;
  plan.range_count = 0;
  plan.ranges[plan.range_count++] = {docs_prefix(cid), successor(docs_prefix(cid))};
}

}  // namespace

Status DocStore::Impl::make_plan(DocStore& db, std::uint16_t cid, const Query& q, const doc::FindOptions& options,
                                 FindPlan& out) noexcept {
  if (q.error() != Errc::ok) return fail(q.error());
  out = FindPlan{};
  out.plan.skip = options.skip;
  out.plan.limit = options.limit;
  bool has_regex = false;
  for (std::size_t i = 0; i < q.node_count(); ++i) has_regex = has_regex || q.node(i).op == Op::regex;
  if (has_regex && !doc::regex_supported()) return fail(refuse_regex(db));

  // An index serves only AND-shaped queries (a top-level or/not: no index),
  // and not a sort by _id that a top-k cannot hold.
  Candidate best;
  const bool and_shaped = q.node(0).op != Op::or_ && q.node(0).op != Op::not_;
  const bool fits_top_k = options.limit && std::uint64_t{options.skip} + options.limit <= db.config_.max_top_k;
  if (and_shaped && !options.no_index && !(options.sort_path == "_id" && !fits_top_k)) {
    for (const auto& x : db.config_.indexes) {
      if (x.cid != cid || x.state != ready) continue;
      const Candidate c = evaluate(x, q);
      if (score(c) > score(best)) best = c;
    }
  }
  std::uint64_t lo = 0, hi = 0;
  int in_node = -1;
  const bool by_id = and_shaped && id_bounds(q, lo, hi, in_node);
  if (by_id && (score(best) < 4 || (lo == hi && in_node < 0))) {
    best = Candidate{};  // an id equality or range beats all but a two-path equality
  }
  if (best.index) {
    out.plan.access = Plan::Access::index_range;
    out.index = *best.index;
    out.use_index = true;
    const std::size_t nm = best.index->name_size;
    std::memcpy(out.plan.index.data(), best.index->name.data(), std::min(nm, out.plan.index.size() - 1));
    out.plan.eq_prefix = best.eq;
    out.ranged = best.range;
    const std::size_t choices = best.in_node >= 0 ? q.value_of(q.node(static_cast<std::size_t>(best.in_node))).size() : 1;
    for (std::size_t k = 0; k < choices; ++k) {
      if (best.index->hashed) FERRITE_TRY(add_hashed_range(*db.store_, best, q, k, out));
      else add_index_range(best, q, k, out);
    }
    sort_and_merge(out);
  } else if (by_id) {
    plan_ids(cid, q, out);
  } else {
    plan_scan(cid, out);
  }
  return plan_sort(db, options, best.index ? best.eq : 0, best.in_node >= 0, out);
}

Status DocStore::Impl::plan_sort(DocStore& db, const doc::FindOptions& options, std::uint8_t eq, bool several,
                                 FindPlan& out) noexcept {
  const bool descending = options.order == doc::Order::descending;
  const std::string_view path = options.sort_path;
  bool natural = false;
  if (path.empty()) {
    out.plan.sort = Plan::Sort::none;
    return {};
  }
  if (path == "_id") {
    natural = out.plan.access != Plan::Access::index_range;
  } else if (out.use_index && !out.index.hashed && !several && eq < out.index.path_count &&
             out.index.path(eq) == path) {
    // A multikey document is met at its first entry inside the range, which
    // is not its sort key (its smallest or largest element) when the range
    // bounds the sort path: then only a top-k sorts right.
    natural = out.range_count == 1 && !(out.index.multikey && out.ranged);
  }
  if (natural) {
    out.plan.sort = Plan::Sort::natural;
    out.plan.reverse = descending;
    return {};
  }
  const std::uint64_t k = std::uint64_t{options.skip} + options.limit;
  if (options.limit == 0 || k > db.config_.max_top_k) return fail(refuse_sort(db, path, options.limit ? k : 0));
  out.plan.sort = Plan::Sort::top_k;
  return {};
}

}  // namespace ferrite
