// The document layer's campaigns.
//
// differential-find: seeded random documents (ints, reals, strings with
// shared prefixes, null, bools, nested objects, arrays of scalars, missing
// fields) in a collection with a single, a compound, a unique, a partial, a
// multikey and a dotted-path index, random merge patches, $inc, $unset and
// removes; then random queries answered three ways: the planner with its
// indexes, a forced collection scan (FindOptions::no_index), and the test's
// own model (a std::map of doc::Value and an evaluator written from the
// documented semantics). Order: without a sort, id order is promised for
// scans and id ranges only; an index range yields index-key order, so those
// results are compared as sets (and a skip/limit window as the same window of
// the unlimited walk). With a sort, the sequence of sort keys must match the
// model; ties may come in any order except for top-k (ties by id) and _id.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
#include "doc_campaign_rig.hpp"

using namespace dcamp;
using ferrite::doc::FindOptions;
using ferrite::doc::Order;
using ferrite::doc::Plan;
using ferrite::doc::Query;

namespace {

// -- documents -------------------------------------------------------------------

const std::vector<std::string> s_prefixes = {"", "a", "ab", "abc", "abd", "b", "ba", "bab", "al", "alp", "alpha"};
const std::vector<std::string> statuses = {"alarm", "ok", "idle"};

std::string gen_s(Rng& rnd) {
  std::string s = rnd.pick(s_prefixes);
  const std::uint32_t extra = rnd.below(4);
  for (std::uint32_t i = 0; i < extra; ++i) s.push_back(static_cast<char>('a' + rnd.below(3)));
  return s;
}

Value gen_n(Rng& rnd) {
  const std::uint32_t r = rnd.below(100);
  if (r < 75) return Value::of_int(static_cast<std::int64_t>(rnd.below(21)) - 10);
  if (r < 85) return Value::of_real(static_cast<double>(static_cast<int>(rnd.below(21)) - 10) + 0.5);
  if (r < 92) return Value::of_string(gen_s(rnd));
  if (r < 96) return Value{};
  return Value::of_bool(rnd.chance(50));
}

Value gen_tag(Rng& rnd) {
  static const std::vector<std::string> words = {"red", "green", "blue", "re", "gr", "bl"};
  const std::uint32_t r = rnd.below(10);
  if (r < 6) return Value::of_string(rnd.pick(words));
  if (r < 9) return Value::of_int(rnd.below(4));
  return Value::of_real(2.5);
}

Value gen_tags(Rng& rnd) {
  Value a = Value::array();
  const std::uint32_t n = rnd.below(5);
  for (std::uint32_t i = 0; i < n; ++i) a.push(gen_tag(rnd));
  return a;
}

Value gen_r(Rng& rnd) {
  if (rnd.chance(85)) return Value::of_real(static_cast<double>(static_cast<int>(rnd.below(49)) - 24) * 0.25);
  return Value::of_int(static_cast<std::int64_t>(rnd.below(13)) - 6);
}

Value gen_o(Rng& rnd) {
  Value o = Value::object();
  if (rnd.chance(80)) o.set("x", Value::of_int(static_cast<std::int64_t>(rnd.below(11)) - 5));
  if (rnd.chance(60)) o.set("y", Value::of_string(gen_s(rnd)));
  if (rnd.chance(40)) o.set("z", Value::object().set("w", Value::of_int(rnd.below(6))));
  return o;
}

Value gen_doc(Rng& rnd, int& next_u) {
  Value d = Value::object();
  if (rnd.chance(95)) d.set("n", gen_n(rnd));
  d.set("c", Value::of_int(rnd.below(21)));
  if (rnd.chance(95)) d.set("r", gen_r(rnd));
  if (rnd.chance(90)) d.set("s", Value::of_string(gen_s(rnd)));
  const std::uint32_t z = rnd.below(10);
  if (z < 3) d.set("z", Value{});
  else if (z < 6) d.set("z", Value::of_bool(z == 4));
  const std::uint32_t o = rnd.below(100);
  if (o < 75) d.set("o", gen_o(rnd));
  else if (o < 85) d.set("o", Value::of_int(rnd.below(5)));
  const std::uint32_t t = rnd.below(10);
  if (t < 7) d.set("tags", gen_tags(rnd));
  else if (t < 8) d.set("tags", gen_tag(rnd));
  if (rnd.chance(70)) d.set("u", Value::of_string("u" + std::to_string(next_u++)));
  if (rnd.chance(90)) d.set("st", Value::of_string(rnd.pick(statuses)));
  return d;
}

// -- queries -----------------------------------------------------------------------

const std::vector<std::string> query_paths = {"n", "n", "c", "r", "s", "s", "z", "o.x", "o.y", "o.z.w", "o",
                                              "tags", "tags", "tags.0", "tags.1", "u", "st", "_id", "_id", "nope"};

Value domain_value(Rng& rnd, const std::string& path, DocId max_id) {
  if (path == "n") return gen_n(rnd);
  if (path == "c") return Value::of_int(rnd.below(26));
  if (path == "r") return gen_r(rnd);
  if (path == "s" || path == "o.y") return Value::of_string(gen_s(rnd));
  if (path == "z") return rnd.chance(40) ? Value{} : Value::of_bool(rnd.chance(50));
  if (path == "o.x" || path == "o") return Value::of_int(static_cast<std::int64_t>(rnd.below(13)) - 6);
  if (path == "o.z.w") return Value::of_int(rnd.below(7));
  if (path.rfind("tags", 0) == 0) return gen_tag(rnd);
  if (path == "u") return Value::of_string("u" + std::to_string(rnd.below(max_id + 5)));
  if (path == "st") return Value::of_string(rnd.pick(statuses));
  if (path == "_id") {
    const std::uint32_t r = rnd.below(10);
    if (r < 7) return Value::of_int(rnd.below(max_id + 4));
    if (r < 9) return Value::of_real(rnd.below(max_id + 2) + 0.5);
    return Value::of_int(-static_cast<std::int64_t>(rnd.below(3)));
  }
  return gen_n(rnd);
}

Value any_value(Rng& rnd, const std::string& path, DocId max_id) {
  if (rnd.chance(80)) return domain_value(rnd, path, max_id);
  return domain_value(rnd, rnd.pick(query_paths), max_id);
}

QNode leaf(Rng& rnd, const std::string& path, DocId max_id) {
  QNode q;
  q.path = path;
  const std::uint32_t r = rnd.below(100);
  if (r < 20) {
    q.op = QOp::eq;
    q.operand = any_value(rnd, path, max_id);
    if (path == "tags" && rnd.chance(10)) q.operand = gen_tags(rnd);  // a whole array
  } else if (r < 28) {
    q.op = QOp::ne;
    q.operand = any_value(rnd, path, max_id);
  } else if (r < 60) {
    static const QOp cmps[] = {QOp::gt, QOp::gte, QOp::lt, QOp::lte};
    q.op = cmps[rnd.below(4)];
    q.operand = any_value(rnd, path, max_id);
  } else if (r < 75) {
    q.op = rnd.chance(70) ? QOp::in : QOp::nin;
    q.operand = Value::array();
    const std::uint32_t n = 1 + rnd.below(4);
    for (std::uint32_t i = 0; i < n; ++i) q.operand.push(any_value(rnd, path, max_id));
    if (rnd.chance(10)) q.operand.push(Value{});
  } else if (r < 85) {
    q.op = QOp::exists;
    q.operand = Value::of_bool(rnd.chance(60));
  } else {
    q.op = QOp::prefix;
    q.operand = rnd.chance(90) ? Value::of_string(rnd.pick(s_prefixes)) : Value::of_string("r");
  }
  return q;
}

QNode gen_query(Rng& rnd, DocId max_id, int depth = 0) {
  auto random_leaf = [&] { return leaf(rnd, rnd.pick(query_paths), max_id); };
  const std::uint32_t r = rnd.below(100);
  if (r < 4 && depth == 0) return QNode{};
  if (r < 45 || depth >= 2) return random_leaf();
  QNode q;
  if (r < 75) {
    q.op = QOp::and_;
    const std::uint32_t shape = rnd.below(6);
    if (shape == 0) {  // two bounds on one path (a between, or a multikey pair)
      const std::string p = rnd.chance(30) ? std::string("tags") : rnd.pick(query_paths);  // multikey pairs
      QNode a = leaf(rnd, p, max_id), b = leaf(rnd, p, max_id);
      a.op = rnd.chance(50) ? QOp::gt : QOp::gte;
      b.op = rnd.chance(50) ? QOp::lt : QOp::lte;
      if (rnd.chance(20)) b.op = QOp::prefix, b.operand = Value::of_string(rnd.pick(s_prefixes));
      q.kids = {a, b};
    } else if (shape == 1) {  // the partial index's filter and a range on its path
      QNode f;
      f.op = QOp::eq;
      f.path = "st";
      f.operand = Value::of_string("alarm");
      q.kids = {f, leaf(rnd, "r", max_id)};
    } else if (shape == 2) {  // the compound index: equality on s, then c
      QNode f;
      f.op = rnd.chance(80) ? QOp::eq : QOp::in;
      f.path = "s";
      f.operand = Value::of_string(gen_s(rnd));
      if (f.op == QOp::in) f.operand = Value::array().push(f.operand).push(Value::of_string(gen_s(rnd)));
      q.kids = {f, leaf(rnd, "c", max_id)};
    } else {
      const std::uint32_t n = 2 + rnd.below(2);
      for (std::uint32_t i = 0; i < n; ++i) q.kids.push_back(gen_query(rnd, max_id, depth + 1));
    }
  } else if (r < 90) {
    q.op = QOp::or_;
    for (int i = 0; i < 2; ++i) q.kids.push_back(gen_query(rnd, max_id, depth + 1));
  } else {
    q.op = QOp::not_;
    q.kids.push_back(gen_query(rnd, max_id, depth + 1));
  }
  return q;
}

// -- the model: sort keys and index entries ------------------------------------------

// A sort key: the smallest (largest when descending) scalar reached; missing sorts first.
struct SortKey {
  bool missing = true;
  Value v;
};
SortKey sort_key(const Value& doc, const std::string& path, bool descending) {
  std::vector<const Value*> reached;
  reach(doc, split(path), 0, reached);
  SortKey k;
  auto consider = [&](const Value& x) {
    if (x.type() == Type::array || x.type() == Type::object) return;
    const int c = k.missing ? 0 : cmp(x, k.v);
    if (k.missing || (descending ? c > 0 : c < 0)) k.v = x;
    k.missing = false;
  };
  for (const Value* r : reached) {
    if (r->type() == Type::array) {
      for (const Value& e : r->elements()) consider(e);
    } else {
      consider(*r);
    }
  }
  return k;
}
int sk_cmp(const SortKey& a, const SortKey& b) {
  if (a.missing || b.missing) return a.missing == b.missing ? 0 : a.missing ? -1 : 1;
  return cmp(a.v, b.v);
}

struct IndexModel {
  std::string name;
  std::vector<std::string> paths;
  bool unique = false;
  bool partial = false;  // filter: st == "alarm"
};

// Entries one document has in one index: distinct scalars per path (arrays
// fan out), the product over paths, none when every path is missing.
std::size_t expected_entries(const IndexModel& x, const Value& doc) {
  if (x.partial) {
    const Value* st = doc.find("st");
    if (!st || st->type() != Type::string || st->string() != "alarm") return 0;
  }
  std::size_t total = 1;
  bool any = false;
  for (const auto& p : x.paths) {
    std::vector<const Value*> reached;
    reach(doc, split(p), 0, reached);
    std::vector<Value> distinct;
    auto add = [&](const Value& v) {
      if (v.type() == Type::array || v.type() == Type::object) return;
      for (const Value& d : distinct)
        if (cmp(d, v) == 0) return;
      distinct.push_back(v);
    };
    for (const Value* r : reached) {
      if (r->type() == Type::array) {
        for (const Value& e : r->elements()) add(e);
      } else {
        add(*r);
      }
    }
    any = any || !distinct.empty();
    total *= std::max<std::size_t>(1, distinct.size());
  }
  return any ? total : 0;
}

// -- patches ---------------------------------------------------------------------------

Value merge(const Value& target, const Value& patch) {
  if (patch.type() != Type::object) return patch;
  Value out = target.type() == Type::object ? target : Value::object();
  for (const auto& [k, v] : patch.members()) {
    if (v.type() == Type::null) {
      out.erase(k);
    } else {
      const Value* old = out.find(k);
      out.set(k, merge(old ? *old : Value{}, v));
    }
  }
  return out;
}

struct Patch {
  Value merge_part = Value::object();
  std::vector<std::pair<std::string, std::int64_t>> inc;
  std::vector<std::string> unset;
  Value encoded() const {
    Value p = merge_part;
    if (!inc.empty()) {
      Value i = Value::object();
      for (const auto& [k, d] : inc) i.set(k, Value::of_int(d));
      p.set("$inc", i);
    }
    if (!unset.empty()) {
      Value u = Value::array();
      for (const auto& k : unset) u.push(Value::of_string(k));
      p.set("$unset", u);
    }
    return p;
  }
  // The documented semantics: $unset, then the merge patch, then $inc (which
  // creates a missing leaf and the missing objects on its way, and leaves a
  // path through a member that is not an object alone).
  Value apply(const Value& old) const {
    Value d = old;
    for (const auto& u : unset) {
      const auto parts = split(u);
      Value* at = &d;
      for (std::size_t i = 0; at && i + 1 < parts.size(); ++i) {
        at = at->type() == Type::object ? at->find(parts[i]) : nullptr;
      }
      if (at && at->type() == Type::object) at->erase(parts.back());
    }
    d = merge(d, merge_part);
    for (const auto& [k, delta] : inc) {
      const auto parts = split(k);
      Value* at = &d;
      for (std::size_t i = 0; at && i + 1 < parts.size(); ++i) {
        if (at->type() != Type::object) {
          at = nullptr;
          break;
        }
        if (!at->find(parts[i])) at->set(parts[i], Value::object());
        at = at->find(parts[i]);
      }
      if (!at || at->type() != Type::object) continue;
      Value* leaf = at->find(parts.back());
      if (leaf) *leaf = Value::of_int(leaf->integer() + delta);
      else at->set(parts.back(), Value::of_int(delta));
    }
    return d;
  }
};

Patch gen_patch(Rng& rnd) {
  Patch p;
  const std::uint32_t kinds = 1 + rnd.below(7);
  if (kinds & 1) {
    const std::uint32_t which = rnd.below(8);
    if (which == 0) p.merge_part.set("n", gen_n(rnd));
    if (which == 1) p.merge_part.set("s", rnd.chance(80) ? Value::of_string(gen_s(rnd)) : Value{});
    if (which == 2) p.merge_part.set("tags", rnd.chance(80) ? gen_tags(rnd) : Value{});
    if (which == 3) p.merge_part.set("o", Value::object().set("x", rnd.chance(70) ? Value::of_int(rnd.below(9)) : Value{}));
    if (which == 4) p.merge_part.set("o", rnd.chance(50) ? Value{} : gen_o(rnd));
    if (which == 5) p.merge_part.set("st", Value::of_string(rnd.pick(statuses)));
    if (which == 6) p.merge_part.set("r", rnd.chance(85) ? gen_r(rnd) : Value{});
    if (which == 7) p.merge_part.set("z", rnd.chance(50) ? Value::of_bool(true) : Value{});
  }
  if (kinds & 2) {
    p.inc.emplace_back(rnd.chance(60) ? "c" : "o.z.w", static_cast<std::int64_t>(rnd.below(7)) - 3);
    // o.z.w: o.z is an object or missing (o may be an int); w is always an int.
  }
  if (kinds & 4) {
    static const std::vector<std::string> paths = {"z", "o.y", "tags", "n", "o.x", "nope"};
    p.unset.push_back(rnd.pick(paths));
  }
  // A patch must not both merge and $inc/$unset the same top-level member (the
  // model would have to guess the order).
  for (const auto& [k, d] : p.inc)
    if (p.merge_part.find(split(k)[0])) p.merge_part.erase(split(k)[0]);
  for (const auto& u : p.unset)
    if (p.merge_part.find(split(u)[0])) p.merge_part.erase(split(u)[0]);
  return p;
}

// -- running one query three ways ---------------------------------------------------------

struct Walk {
  std::vector<DocId> ids;
  Errc error = Errc::ok;
  Plan plan{};
};

Walk walk(ferrite::DocStore& db, const Query& q, const FindOptions& o) {
  Walk w;
  auto cur = db.find("c", q, o);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    w.plan = cur.plan();
    if (!more) {
      w.error = more.error();
      return w;
    }
    if (!*more) return w;
    w.ids.push_back(cur.id());
  }
}

struct Differential {
  std::map<DocId, Value> model;
  std::vector<IndexModel> indexes;
  std::size_t cases = 0, failures = 0;
  std::size_t by_plan[3] = {0, 0, 0};
  std::size_t natural = 0, top_k = 0, unsupported = 0;
  std::string round;

  void fail(const std::string& what) {
    ++failures;
    if (failures <= 15) {
      std::fprintf(stderr, "differential-find failure (%s): %s\n", round.c_str(), what.c_str());
      UNSCOPED_INFO(round << ": " << what);
    }
  }

  static std::string ids_text(const std::vector<DocId>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size() && i < 40; ++i) s += (i ? " " : "") + std::to_string(v[i]);
    return s + (v.size() > 40 ? " ...]" : "]");
  }

  std::vector<DocId> matching(const QNode& q) const {
    std::vector<DocId> out;
    for (const auto& [id, d] : model)
      if (eval(q, d)) out.push_back(id);
    return out;
  }

  // Checks one answer (a: planner, b: forced scan) against the model.
  std::string check(ferrite::DocStore& db, const Query& query, const FindOptions& o, const Walk& w,
                    const std::vector<DocId>& m, bool planner) {
    const bool sorted = !o.sort_path.empty();
    const bool top_k_fits = o.limit && std::uint64_t{o.skip} + o.limit <= 32;
    if (w.error != Errc::ok) {
      if (w.error == Errc::unsupported && sorted && o.sort_path != "_id" && !top_k_fits) {
        ++unsupported;
        return "";
      }
      return std::string("error ") + ferrite::name_of(w.error);
    }
    const std::size_t from = std::min<std::size_t>(o.skip, m.size());
    const std::size_t want = o.limit ? std::min<std::size_t>(o.limit, m.size() - from) : m.size() - from;
    if (w.ids.size() != want)
      return "returned " + std::to_string(w.ids.size()) + " ids, model " + std::to_string(want) + ": got " +
             ids_text(w.ids) + " model matches " + ids_text(m);
    std::set<DocId> seen;
    for (DocId id : w.ids)
      if (!seen.insert(id).second) return "id " + std::to_string(id) + " returned twice";
    for (DocId id : w.ids)
      if (!std::binary_search(m.begin(), m.end(), id)) return "id " + std::to_string(id) + " does not match";
    if (!sorted) {
      if (w.plan.access != Plan::Access::index_range) {
        // Scans and id ranges walk in id order.
        const std::vector<DocId> slice(m.begin() + static_cast<std::ptrdiff_t>(from),
                                       m.begin() + static_cast<std::ptrdiff_t>(from + want));
        if (w.ids != slice) return "not in id order: got " + ids_text(w.ids) + " want " + ids_text(slice);
        return "";
      }
      // Index order: the window must be the same window of the whole walk.
      if (o.skip || o.limit) {
        FindOptions all = o;
        all.skip = 0;
        all.limit = 0;
        const Walk whole = walk(db, query, all);
        if (whole.error != Errc::ok) return std::string("whole walk: ") + ferrite::name_of(whole.error);
        if (whole.ids.size() != m.size()) return "whole walk returned " + std::to_string(whole.ids.size());
        const std::vector<DocId> slice(whole.ids.begin() + static_cast<std::ptrdiff_t>(from),
                                       whole.ids.begin() + static_cast<std::ptrdiff_t>(from + want));
        if (w.ids != slice) return "window " + ids_text(w.ids) + " is not the walk's " + ids_text(slice);
      }
      return "";
    }
    // Sorted: the model's order by sort key (ties by id).
    const bool desc = o.order == Order::descending;
    std::vector<std::pair<SortKey, DocId>> keyed;
    for (DocId id : m) keyed.emplace_back(sort_key(model.at(id), std::string(o.sort_path), desc), id);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      const int c = sk_cmp(a.first, b.first);
      return desc ? c > 0 : c < 0;
    });
    const bool exact = w.plan.sort == Plan::Sort::top_k || (o.sort_path == "_id" && w.plan.access != Plan::Access::index_range);
    if (w.plan.sort == Plan::Sort::top_k) ++top_k; else ++natural;
    for (std::size_t i = 0; i < want; ++i) {
      const auto& [k, id] = keyed[from + i];
      const SortKey got = sort_key(model.at(w.ids[i]), std::string(o.sort_path), desc);
      if (sk_cmp(got, k) != 0 || (exact && w.ids[i] != id))
        return std::string(planner ? "planner" : "scan") + " sort position " + std::to_string(i) + ": got id " +
               std::to_string(w.ids[i]) + " (" + (got.missing ? "missing" : show_value(got.v)) + ") want id " +
               std::to_string(id) + " (" + (k.missing ? "missing" : show_value(k.v)) + ")" +
               (w.plan.sort == Plan::Sort::top_k ? " [top-k]" : " [natural]");
    }
    return "";
  }

  void run_query(ferrite::DocStore& db, const QNode& qn, const FindOptions& o) {
    ++cases;
    const Query q = build(qn);
    if (q.error() != Errc::ok) {
      fail("query did not build: " + show(qn));
      return;
    }
    const std::vector<DocId> m = matching(qn);
    std::string what;
    auto n = ferrite::sync_wait(db.count("c", q));
    if (!n) what = std::string("count: ") + ferrite::name_of(n.error());
    else if (*n != m.size()) what = "count " + std::to_string(*n) + ", model " + std::to_string(m.size());
    const Walk a = walk(db, q, o);
    FindOptions scan_o = o;
    scan_o.no_index = true;
    const Walk b = walk(db, q, scan_o);
    if (what.empty()) {
      what = check(db, q, o, a, m, true);
      if (!what.empty()) what = std::string("planner (") + ferrite::doc::access_name(a.plan.access) + " " +
                                std::string(a.plan.index_name()) + "): " + what;
    }
    if (what.empty()) {
      what = check(db, q, scan_o, b, m, false);
      if (!what.empty()) what = "forced scan: " + what;
    }
    if (a.error == Errc::ok) ++by_plan[static_cast<int>(a.plan.access)];
    if (!what.empty()) {
      std::string opts;
      if (!o.sort_path.empty()) opts += " sort " + std::string(o.sort_path) + (o.order == Order::descending ? " desc" : " asc");
      if (o.skip) opts += " skip " + std::to_string(o.skip);
      if (o.limit) opts += " limit " + std::to_string(o.limit);
      fail(show(qn) + opts + ": " + what);
    }
  }
};

ferrite::IndexSpec spec_of(const IndexModel& x, const Query* filter) {
  ferrite::IndexSpec s;
  s.name = x.name;
  for (std::size_t i = 0; i < x.paths.size(); ++i) s.paths[i] = x.paths[i];
  s.path_count = static_cast<std::uint8_t>(x.paths.size());
  s.unique = x.unique;
  s.filter = x.partial ? filter : nullptr;
  s.max_entries_per_doc = 16;
  return s;
}

}  // namespace

TEST_CASE("every query gives the same documents through the planner, a forced scan and an in-memory model",
          "[docstore][campaign]") {
  const double scale = campaign_scale();
  const int rounds = std::max(1, static_cast<int>(16 * scale));
  const int docs_per_round = 260;
  const int queries_per_round = 1300;
  Differential diff;
  const auto started = std::chrono::steady_clock::now();
  std::size_t documents = 0, mutations = 0, mutation_failures = 0;
  const Query alarm = Query::path("st").eq("alarm");
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t seed = 0xD1FF0000u + static_cast<std::uint64_t>(round) * 7919;
    diff.round = "seed " + std::to_string(seed);
    Rng rnd(seed);
    Bench b(geometry(32, 32768), 8192, 2048, 2048, seed);
    REQUIRE(b.fresh());
    ferrite::DocStore& db = *b.db;
    diff.model.clear();
    diff.indexes = {
        {"by_n", {"n"}, false, false},     {"by_s_c", {"s", "c"}, false, false}, {"by_u", {"u"}, true, false},
        {"alarm_r", {"r"}, false, true},  {"by_tags", {"tags"}, false, false},  {"by_ox", {"o.x"}, false, false},
    };
    int next_u = 0;
    auto insert_one = [&] {
      Value d = gen_doc(rnd, next_u);
      const bool dup = rnd.chance(4) && next_u > 0;
      if (dup) d.set("u", Value::of_string("u" + std::to_string(rnd.below(static_cast<std::uint32_t>(next_u)))));
      const auto bytes = encode(d);
      auto id = ferrite::sync_wait(db.insert("c", view_of(bytes)));
      bool taken = false;
      if (dup)
        for (const auto& [i, m] : diff.model)
          if (const Value* u = m.find("u"); u && cmp(*u, *d.find("u")) == 0) taken = true;
      if (!id) {
        if (!(taken && id.error() == Errc::exists)) {
          ++mutation_failures;
          diff.fail(std::string("insert: ") + ferrite::name_of(id.error()));
        }
        return;
      }
      if (taken) diff.fail("insert of a duplicate unique value was accepted");
      d.set("_id", Value::of_int(*id));
      d.set("_v", Value::of_int(1));
      diff.model[*id] = d;
      ++documents;
    };
    // Half the indexes exist before the documents, half are built over them.
    for (std::size_t i = 0; i < 3; ++i)
      REQUIRE(ferrite::sync_wait(db.create_index("c", spec_of(diff.indexes[i], &alarm))));
    for (int i = 0; i < docs_per_round / 2; ++i) insert_one();
    for (std::size_t i = 3; i < diff.indexes.size(); ++i)
      REQUIRE(ferrite::sync_wait(db.create_index("c", spec_of(diff.indexes[i], &alarm))));
    for (int i = docs_per_round / 2; i < docs_per_round; ++i) insert_one();
    const DocId max_id = static_cast<DocId>(docs_per_round + 10);
    for (int qi = 0; qi < queries_per_round; ++qi) {
      // Every tenth step changes the collection: an update, a remove or inserts.
      if (qi % 10 == 0) {
        ++mutations;
        const std::uint32_t kind = rnd.below(10);
        QNode sel = gen_query(rnd, max_id);
        if (rnd.chance(30)) {  // narrow selections keep the collection from emptying
          sel = QNode{};
          sel.op = QOp::eq;
          sel.path = "_id";
          sel.operand = Value::of_int(1 + rnd.below(max_id));
        }
        const Query q = build(sel);
        const std::vector<DocId> hit = diff.matching(sel);
        if (kind < 6) {
          const Patch p = gen_patch(rnd);
          const auto bytes = encode(p.encoded());
          auto n = ferrite::sync_wait(db.update("c", q, view_of(bytes)));
          if (!n) {
            ++mutation_failures;
            diff.fail("update " + show(sel) + " " + show_value(p.encoded()) + ": " + ferrite::name_of(n.error()));
          } else {
            if (*n != hit.size())
              diff.fail("update " + show(sel) + " changed " + std::to_string(*n) + ", model " + std::to_string(hit.size()));
            for (DocId id : hit) {
              Value& d = diff.model[id];
              d = p.apply(d);
              d.set("_v", Value::of_int(d.find("_v")->integer() + 1));
            }
          }
        } else if (kind < 8 && diff.model.size() > docs_per_round / 3) {
          auto n = ferrite::sync_wait(db.remove("c", q));
          if (!n) {
            ++mutation_failures;
            diff.fail("remove " + show(sel) + ": " + ferrite::name_of(n.error()));
          } else {
            if (*n != hit.size())
              diff.fail("remove " + show(sel) + " removed " + std::to_string(*n) + ", model " + std::to_string(hit.size()));
            for (DocId id : hit) diff.model.erase(id);
          }
        } else {
          for (int i = 0; i < 3; ++i) insert_one();
        }
      }
      const QNode qn = gen_query(rnd, static_cast<DocId>(diff.model.empty() ? 1 : diff.model.rbegin()->first));
      FindOptions o;
      if (rnd.chance(50)) {
        static const std::vector<std::string_view> sorts = {"n", "c", "r", "s", "tags", "_id", "o.x", "u", "nope"};
        o.sort_path = sorts[rnd.below(static_cast<std::uint32_t>(sorts.size()))];
        o.order = rnd.chance(50) ? Order::ascending : Order::descending;
        o.limit = rnd.chance(80) ? 1 + rnd.below(25) : 0;
        o.skip = rnd.chance(30) ? rnd.below(8) : 0;
      } else {
        o.limit = rnd.chance(40) ? 1 + rnd.below(30) : 0;
        o.skip = rnd.chance(30) ? rnd.below(20) : 0;
      }
      diff.run_query(db, qn, o);
    }
    // The stored documents equal the model's, and every index has the entries the model expects.
    {
      FindOptions scan;
      scan.no_index = true;
      auto cur = db.find("c", Query{}, scan);
      std::size_t seen = 0;
      for (;;) {
        auto more = ferrite::sync_wait(cur.next());
        if (!more || !*more) break;
        ++seen;
        Value got = Value::from(cur.document());
        got.erase("_ts");
        auto it = diff.model.find(cur.id());
        if (it == diff.model.end()) {
          diff.fail("document " + std::to_string(cur.id()) + " is not in the model");
        } else if (!same_doc(got, it->second)) {
          diff.fail("document " + std::to_string(cur.id()) + " is " + show_value(got) + ", model " + show_value(it->second));
        }
      }
      if (seen != diff.model.size()) diff.fail("collection holds " + std::to_string(seen) + " documents, model " +
                                               std::to_string(diff.model.size()));
      auto st = ferrite::sync_wait(db.stats("c"));
      REQUIRE(st);
      for (std::size_t i = 0; i < st->index_count; ++i) {
        const auto& is = st->indexes[i];
        for (const auto& x : diff.indexes) {
          if (x.name != is.name_view()) continue;
          std::size_t want = 0;
          for (const auto& [id, d] : diff.model) want += expected_entries(x, d);
          if (want != is.entries)
            diff.fail("index " + x.name + " holds " + std::to_string(is.entries) + " entries, model " + std::to_string(want));
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign differential-find: %zu cases, %zu failures\n", diff.cases, diff.failures);
  std::printf("  (%d rounds, %zu documents inserted, %zu mutations; planner: %zu scans, %zu id ranges, %zu index ranges;"
              " sorted: %zu natural, %zu top-k, %zu unsupported; %.1f s)\n",
              rounds, documents, mutations, diff.by_plan[0], diff.by_plan[1], diff.by_plan[2], diff.natural, diff.top_k,
              diff.unsupported, seconds);
  std::fflush(stdout);
  CHECK(mutation_failures == 0);
  CHECK(diff.failures == 0);
  CHECK(diff.cases >= static_cast<std::size_t>(scale >= 1.0 ? 20000 : 1000));
}

// ---------------------------------------------------------------------------------------
// powerloss-doc: every crash point of randomized docstore workloads (inserts,
// updates, removes, multi-collection DocTransactions, chunked documents on a
// store with 512-byte engine values, an online index build), each cut a
// fresh run from the same seed; then reboot, mount, open, and compare with
// the model of acknowledged operations (the one in flight wholly in or out).

namespace {

struct PState {
  std::map<DocId, Value> a, b;
  bool index_k = false;  // create_index("a", by_k) acknowledged
  bool operator==(const PState&) const = delete;
};

bool same_collection(const std::map<DocId, Value>& x, const std::map<DocId, Value>& y) {
  if (x.size() != y.size()) return false;
  for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
    if (i->first != j->first || !same_doc(i->second, j->second)) return false;
  return true;
}

std::string blob(Rng& rnd, bool big) {
  const std::uint32_t len = big ? 600 + rnd.below(901) : 5 + rnd.below(60);
  std::string s(len, 'x');
  const char base = static_cast<char>('a' + rnd.below(6));
  for (std::uint32_t i = 0; i < len; ++i) s[i] = static_cast<char>(base + (i * 7 + len) % 20);
  return s;
}

Value pdoc(Rng& rnd, bool big) {
  Value d = Value::object();
  if (rnd.chance(90)) d.set("k", Value::of_int(rnd.below(8)));
  d.set("g", Value::of_string("g" + std::to_string(rnd.below(4))));
  if (rnd.chance(15)) {  // an array makes by_g multikey: its definition changes in this batch
    const std::uint32_t first = rnd.below(4);
    d.set("g", Value::array().push(Value::of_string("g" + std::to_string(first)))
                   .push(Value::of_string("g" + std::to_string((first + 2) % 4))));
  }
  d.set("c", Value::of_int(rnd.below(100)));
  d.set("blob", Value::of_string(blob(rnd, big)));
  return d;
}

struct PlRun {
  // What the workload did before the cut.
  PState acked;
  std::vector<PState> in_flight;          // acceptable states if the op in flight landed
  std::string in_flight_name;
  DocId max_acked_a = 0, max_acked_b = 0;  // largest id ever acknowledged
  bool cut = false;
  std::string failure;
};

struct Session {
  Bench& bench;
  Rng rnd;
  DocId next_a = 1, next_b = 1;   // the ids the next inserts get (one session from a fresh format)

  Session(Bench& b, std::uint64_t seed) : bench(b), rnd(seed) {}

  ferrite::DocStore& db() { return *bench.db; }

  static bool lost(Errc e) { return e == Errc::power_lost; }

  // Runs `steps` random operations, stopping at the first power loss.
  void run(int steps, PlRun& out) {
    for (int step = 0; step < steps; ++step) {
      const std::uint32_t kind = rnd.below(100);
      PState& s = out.acked;
      if (std::getenv("FERRITE_PL_TRACE")) std::fprintf(stderr, "step %d kind %u (a %zu b %zu)\n", step, kind, s.a.size(), s.b.size());
      if (step == steps / 2 && !s.index_k) {  // the online index build, over what exists
        PState after = s;
        after.index_k = true;
        ferrite::IndexSpec spec;
        spec.name = "by_k";
        spec.paths[0] = "k";
        auto st = ferrite::sync_wait(db().create_index("a", spec));
        if (!st) return stop(st.error(), "create_index", {after}, out);
        s = after;
        continue;
      }
      if (kind < 35) {  // insert (a third chunked)
        const bool into_a = rnd.chance(60);
        Value d = pdoc(rnd, rnd.chance(35));
        const auto bytes = encode(d);
        DocId& next = into_a ? next_a : next_b;
        PState after = s;
        Value stored = d;
        stored.set("_id", Value::of_int(next));
        stored.set("_v", Value::of_int(1));
        (into_a ? after.a : after.b)[next] = stored;
        auto id = ferrite::sync_wait(db().insert(into_a ? "a" : "b", view_of(bytes)));
        const DocId expected = next++;
        if (!id) return stop(id.error(), "insert", {after}, out);
        if (*id != expected) out.failure = "insert returned id " + std::to_string(*id) + ", expected " + std::to_string(expected);
        s = after;
        (into_a ? out.max_acked_a : out.max_acked_b) = *id;
      } else if (kind < 65) {  // update one document by _id
        const bool in_a = rnd.chance(60);
        auto& coll = in_a ? s.a : s.b;
        if (coll.empty()) continue;
        auto it = coll.begin();
        std::advance(it, rnd.below(static_cast<std::uint32_t>(coll.size())));
        const DocId id = it->first;
        Patch p;
        const std::uint32_t what = rnd.below(4);
        if (what == 0) p.merge_part.set("k", rnd.chance(85) ? Value::of_int(rnd.below(8)) : Value{});
        if (what == 1) p.merge_part.set("blob", Value::of_string(blob(rnd, rnd.chance(50))));  // chunk count changes
        if (what == 2) p.inc.emplace_back("c", 1 + rnd.below(5));
        if (what == 3) p.merge_part.set("g", Value::of_string("g" + std::to_string(rnd.below(4))));
        PState after = s;
        Value& d = (in_a ? after.a : after.b)[id];
        d = p.apply(d);
        d.set("_v", Value::of_int(d.find("_v")->integer() + 1));
        const auto bytes = encode(p.encoded());
        auto n = ferrite::sync_wait(db().update(in_a ? "a" : "b", Query::path("_id").eq(static_cast<long long>(id)), view_of(bytes)));
        if (!n) return stop(n.error(), "update", {after}, out);
        if (*n != 1) out.failure = "update changed " + std::to_string(*n);
        s = after;
      } else if (kind < 80) {  // remove one document by _id
        const bool in_a = rnd.chance(60);
        auto& coll = in_a ? s.a : s.b;
        if (coll.empty()) continue;
        auto it = coll.begin();
        std::advance(it, rnd.below(static_cast<std::uint32_t>(coll.size())));
        const DocId id = it->first;
        PState after = s;
        (in_a ? after.a : after.b).erase(id);
        auto n = ferrite::sync_wait(db().remove(in_a ? "a" : "b", Query::path("_id").eq(static_cast<long long>(id))));
        if (!n) return stop(n.error(), "remove", {after}, out);
        if (*n != 1) out.failure = "remove removed " + std::to_string(*n);
        s = after;
      } else {  // a transaction over both collections: insert into b, update and maybe remove in a
        PState after = s;
        ferrite::DocTransaction tx(db());
        Value d = pdoc(rnd, rnd.chance(25));
        const auto bytes = encode(d);
        Value stored = d;
        stored.set("_id", Value::of_int(next_b));
        stored.set("_v", Value::of_int(1));
        after.b[next_b] = stored;
        auto id = ferrite::sync_wait(tx.insert("b", view_of(bytes)));
        const DocId expected = next_b++;
        if (!id) return stop(id.error(), "txn insert", {}, out);
        if (*id != expected) out.failure = "txn insert returned id " + std::to_string(*id);
        if (!s.a.empty()) {
          auto it = s.a.begin();
          std::advance(it, rnd.below(static_cast<std::uint32_t>(s.a.size())));
          Patch p;
          p.inc.emplace_back("c", 10);
          p.merge_part.set("g", Value::of_string("tx"));
          Value& u = after.a[it->first];
          u = p.apply(u);
          u.set("_v", Value::of_int(u.find("_v")->integer() + 1));
          const auto pb = encode(p.encoded());
          auto n = ferrite::sync_wait(tx.update("a", Query::path("_id").eq(static_cast<long long>(it->first)), view_of(pb)));
          if (!n) return stop(n.error(), "txn update", {}, out);
        }
        if (after.a.size() > 1 && rnd.chance(50)) {
          auto it = after.a.begin();
          std::advance(it, rnd.below(static_cast<std::uint32_t>(after.a.size())));
          const DocId gone = it->first;
          after.a.erase(gone);
          auto n = ferrite::sync_wait(tx.remove("a", Query::path("_id").eq(static_cast<long long>(gone))));
          if (!n) return stop(n.error(), "txn remove", {}, out);
        }
        auto st = ferrite::sync_wait(tx.commit());
        if (!st) return stop(st.error(), "txn commit", {after}, out);
        s = after;
        out.max_acked_b = *id;
      }
      if (!out.failure.empty()) return;
    }
  }

  void stop(Errc e, const char* what, std::vector<PState> alternatives, PlRun& out) {
    if (!lost(e)) {
      out.failure = std::string(what) + " failed without a power cut: " + ferrite::name_of(e);
      return;
    }
    out.cut = true;
    out.in_flight = std::move(alternatives);
    out.in_flight_name = what;
  }
};

// The collection as stored (without _ts), or an error text.
std::string read_all(ferrite::DocStore& db, std::string_view name, std::map<DocId, Value>& out) {
  ferrite::doc::FindOptions scan;
  scan.no_index = true;
  auto cur = db.find(name, Query{}, scan);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      if (more.error() == Errc::not_found && out.empty()) return "";  // no such collection: empty
      return std::string("find in ") + std::string(name) + ": " + ferrite::name_of(more.error());
    }
    if (!*more) return "";
    Value v = Value::from(cur.document());
    v.erase("_ts");
    out[cur.id()] = std::move(v);
  }
}

std::vector<DocId> ids_of(ferrite::DocStore& db, std::string_view c, const Query& q, bool no_index, Errc& error) {
  ferrite::doc::FindOptions o;
  o.no_index = no_index;
  std::vector<DocId> ids;
  auto cur = db.find(c, q, o);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) {
      error = more.error();
      break;
    }
    if (!*more) break;
    ids.push_back(cur.id());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Every index of `c` is ready, holds the entries its documents imply, and
// answers like a scan.
std::string check_indexes(ferrite::DocStore& db, std::string_view c, const std::map<DocId, Value>& docs,
                          bool& has_k) {
  has_k = false;
  auto st = ferrite::sync_wait(db.stats(c));
  if (!st) return st.error() == Errc::not_found ? "" : std::string("stats: ") + ferrite::name_of(st.error());
  for (std::size_t i = 0; i < st->index_count; ++i) {
    const auto& is = st->indexes[i];
    const std::string name(is.name_view());
    if (!is.ready) return "index " + name + " is not ready after open()";
    IndexModel x;
    x.name = name;
    x.paths = {name == "by_k" ? "k" : name == "by_u" ? "u" : "g"};
    has_k = has_k || name == "by_k";
    std::size_t want = 0;
    for (const auto& [id, d] : docs) want += expected_entries(x, d);
    if (want != is.entries) return "index " + name + " holds " + std::to_string(is.entries) + " entries, documents imply " +
                                   std::to_string(want);
    std::vector<Query> probes;
    if (name == "by_k") {
      for (int v = 0; v < 8; ++v) probes.push_back(Query::path("k").eq(v));
      probes.push_back(Query::path("k").gte(-100));
    } else if (name == "by_u") {
      for (int v = 0; v < 30; v += 7) probes.push_back(Query::path("u").eq(v));
      probes.push_back(Query::path("u").gte(0));
    } else {
      for (int v = 0; v < 4; ++v) {
        const std::string g = "g" + std::to_string(v);
        probes.push_back(Query::path("g").eq(std::string_view(g)));
      }
      probes.push_back(Query::path("g").eq("tx"));
      probes.push_back(Query::path("g").prefix("g"));
      // Two elements of one array may satisfy these: only right when the
      // multikey flag survived the reboot.
      probes.push_back(Query::path("g").gte("g2") && Query::path("g").lt("g1"));
    }
    for (const Query& q : probes) {
      Errc e1 = Errc::ok, e2 = Errc::ok;
      const auto with = ids_of(db, c, q, false, e1);
      const auto without = ids_of(db, c, q, true, e2);
      if (e1 != Errc::ok || e2 != Errc::ok) return std::string("find: ") + ferrite::name_of(e1 != Errc::ok ? e1 : e2);
      if (with != without) return "index " + name + " answers " + std::to_string(with.size()) + " ids, a scan " +
                                  std::to_string(without.size());
    }
  }
  return "";
}

// Walks the engine's chunk keys (FE 'K' cid id n): each belongs to a stored
// document whose header (FE 'D' cid id: 01, size u32, parts u8) counts more
// than n parts; none is left behind by a shrinking update or a remove.
std::string check_chunks(ferrite::Store& store) {
  const std::array<std::byte, 2> prefix{std::byte{0xFE}, std::byte{'K'}};
  auto cur = store.scan(prefix);
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more) return std::string("chunk walk: ") + ferrite::name_of(more.error());
    if (!*more) return "";
    const auto key = cur.key();
    if (key.size() != 2 + 2 + 4 + 1) return "a chunk key of " + std::to_string(key.size()) + " bytes";
    std::array<std::byte, 8> doc_key{};
    doc_key[0] = std::byte{0xFE};
    doc_key[1] = std::byte{'D'};
    std::copy(key.begin() + 2, key.begin() + 8, doc_key.begin() + 2);
    const std::uint8_t n = static_cast<std::uint8_t>(key[8]);
    std::vector<std::byte> head(4096);
    auto got = ferrite::sync_wait(store.get(doc_key, head));
    const std::string which = "chunk " + std::to_string(n) + " of document " +
                              std::to_string(static_cast<std::uint8_t>(key[7]) | static_cast<std::uint8_t>(key[6]) << 8);
    if (!got) return which + " has no document (" + ferrite::name_of(got.error()) + ")";
    if (*got < 6 || head[0] != std::byte{1}) return which + " belongs to a whole (unchunked) document";
    if (n == 0 || n >= static_cast<std::uint8_t>(head[5])) return which + " is beyond the document's " +
                                                                 std::to_string(static_cast<int>(head[5])) + " parts";
  }
}

std::size_t builds_finished_by_open = 0;  // create_index cut after its definition: open() built it

std::string check_after_cut(Bench& bench, PlRun& run, Rng& rnd, bool second_cut) {
  auto st = bench.remount();
  if (!st) return std::string("mount: ") + ferrite::name_of(st.error());
  if (second_cut) {
    // A second cut while open() finishes what the first one interrupted.
    bench.sim.cut_power_at(bench.sim.mutating_ops() + rnd.below(16));
    st = bench.open();
    bench.sim.cut_power_at(0);
    if (!st && st.error() == Errc::power_lost) {
      st = bench.remount();
      if (!st) return std::string("mount after the second cut: ") + ferrite::name_of(st.error());
      st = bench.open();
    }
  } else {
    st = bench.open();
  }
  if (!st) return std::string("open: ") + ferrite::name_of(st.error());
  ferrite::DocStore& db = *bench.db;
  std::map<DocId, Value> a, b;
  if (auto e = read_all(db, "a", a); !e.empty()) return e;
  if (auto e = read_all(db, "b", b); !e.empty()) return e;
  bool has_k_a = false, has_k_b = false;
  if (auto e = check_indexes(db, "a", a, has_k_a); !e.empty()) return e;
  if (auto e = check_indexes(db, "b", b, has_k_b); !e.empty()) return e;
  if (auto e = check_chunks(*bench.store); !e.empty()) return e;
  auto matches = [&](const PState& s) {
    return same_collection(a, s.a) && same_collection(b, s.b) && (!s.index_k || has_k_a);
  };
  if (has_k_a && !run.acked.index_k) ++builds_finished_by_open;
  bool ok = matches(run.acked) && (!has_k_a || run.acked.index_k || run.in_flight_name == "create_index");
  for (const PState& s : run.in_flight) ok = ok || matches(s);
  if (!ok) {
    std::string why = "collections match neither the acknowledged state nor the one in flight (" + run.in_flight_name +
                      "): stored a " + std::to_string(a.size()) + " b " + std::to_string(b.size()) + ", acked a " +
                      std::to_string(run.acked.a.size()) + " b " + std::to_string(run.acked.b.size());
    for (const auto& [id, d] : run.acked.a) {
      auto it = a.find(id);
      if (it == a.end()) { why += "; a/" + std::to_string(id) + " missing"; break; }
      if (!same_doc(it->second, d)) { why += "; a/" + std::to_string(id) + " differs"; break; }
    }
    return why;
  }
  // Ids are never reused: the next insert gets an id above every acknowledged one.
  for (const char* c : {"a", "b"}) {
    const auto body = encode(Value::object().set("k", Value::of_int(1)).set("g", Value::of_string("g1")));
    auto id = ferrite::sync_wait(db.insert(c, view_of(body)));
    if (!id) return std::string("insert after reboot: ") + ferrite::name_of(id.error());
    const DocId floor = c[0] == 'a' ? run.max_acked_a : run.max_acked_b;
    if (*id <= floor) return std::string("id ") + std::to_string(*id) + " in " + c + " reused (acknowledged up to " +
                             std::to_string(floor) + ")";
  }
  return "";
}

}  // namespace

namespace {

/// The power-loss campaign over `workloads` docstore workloads (on a store
/// sealed by `codec` when given); prints `campaign NAME: N cases, M failures`.
void powerloss_doc_campaign(const char* name, int workloads, std::size_t min_cases, ferrite::ValueCodec* codec) {
  const double scale = campaign_scale();
  const int steps = 24;
  builds_finished_by_open = 0;
  std::size_t cases = 0, failures = 0, second_cuts = 0, builds_resumed = 0;
  const auto started = std::chrono::steady_clock::now();
  const char* only = std::getenv("FERRITE_PL_ONLY");  // "seed:cut" runs one case
  auto setup = [](Bench& b) {
    REQUIRE(b.fresh());
    REQUIRE(ferrite::sync_wait(b.db->create_collection("a")));
    REQUIRE(ferrite::sync_wait(b.db->create_collection("b")));
    ferrite::IndexSpec g;
    g.name = "by_g";
    g.paths[0] = "g";
    REQUIRE(ferrite::sync_wait(b.db->create_index("b", g)));
  };
  for (int w = 0; w < workloads; ++w) {
    const std::uint64_t seed = 0x9D0C0000u + static_cast<std::uint64_t>(w) * 131;
    std::uint64_t total = 0;
    {
      Bench bench(geometry(8, 8192, 4), 1024, 512, 2048, seed, codec);
      setup(bench);
      const auto base = bench.sim.mutating_ops();
      Session s(bench, seed);
      PlRun run;
      s.run(steps, run);
      CHECK(run.failure.empty());
      CHECK_FALSE(run.cut);
      total = bench.sim.mutating_ops() - base;
    }
    for (std::uint64_t k = 0; k < total; ++k) {
      if (only && std::to_string(seed) + ":" + std::to_string(k) != only) continue;
      Bench bench(geometry(8, 8192, 4), 1024, 512, 2048, seed * 977 + k, codec);
      bench.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                         : ferrite::sim::TearMode::prefix_then_partial);
      setup(bench);
      bench.sim.cut_power_at(bench.sim.mutating_ops() + k);
      Session s(bench, seed);
      PlRun run;
      s.run(steps, run);
      if (!run.cut && run.failure.empty()) continue;  // past the end
      ++cases;
      Rng rnd(seed ^ (k * 0x9E37u));
      const bool second = rnd.chance(40);
      second_cuts += second;
      builds_resumed += run.in_flight_name == "create_index";
      std::string failure = run.failure;
      if (failure.empty()) failure = check_after_cut(bench, run, rnd, second);
      if (!failure.empty()) {
        ++failures;
        if (failures <= 12) {
          std::fprintf(stderr, "%s failure: seed %llu cut %llu%s: %s\n", name,
                       static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k),
                       second ? " (+second cut)" : "", failure.c_str());
          UNSCOPED_INFO("seed " << seed << " cut " << k << ": " << failure);
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign %s: %zu cases, %zu failures\n", name, cases, failures);
  std::printf("  (%d workloads of %d operations, %zu with a second cut during open(), %zu cut inside create_index,"
              " %zu of them finished by open(); %.1f s)\n",
              workloads, steps, second_cuts, builds_resumed, builds_finished_by_open, seconds);
  std::fflush(stdout);
  CHECK(failures == 0);
  if (!only) CHECK(cases >= (scale >= 1.0 ? min_cases : min_cases / 20));
}

}  // namespace

TEST_CASE("a power cut at any flash write of a docstore workload loses no acknowledged operation and tears nothing",
          "[docstore][powerloss][campaign]") {
  powerloss_doc_campaign("powerloss-doc", std::max(1, static_cast<int>(110 * campaign_scale())), 20000, nullptr);
}

#if FERRITE_HAVE_CRYPTO
TEST_CASE("a power cut at any flash write of a sealed docstore that hides key names loses nothing and tears nothing",
          "[docstore][powerloss][campaign][hidden_names]") {
  ferrite::SealOptions options;
  options.hide_keys = true;
  options.plain_prefix = ferrite::docstore_key_prefix;
  ferrite::Sealer sealer(options);
  std::array<std::byte, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 29 + 7);
  REQUIRE(sealer.use_key(key));
  powerloss_doc_campaign("powerloss-doc-sealed-hidden", std::max(1, static_cast<int>(12 * campaign_scale())), 2000,
                         &sealer);
}
#endif

// ---------------------------------------------------------------------------------------
// powerloss-doc-drop: every crash point of clear, drop_collection and
// drop_index on a collection with whole and chunked documents, a plain and a
// unique index (a second collection with its own index stands by). After
// each cut (and sometimes a second one while open() resumes): open()
// finishes the operation or it never started, so the collection or index
// is wholly there or wholly gone, and no document, chunk, index entry or
// definition key of the cleared or dropped thing is left on the flash.

namespace {

enum class Teardown { clear, drop_collection, drop_index };

const char* name_of(Teardown t) {
  return t == Teardown::clear ? "clear" : t == Teardown::drop_collection ? "drop_collection" : "drop_index";
}

// Engine keys FE kind cid [iid] ... (docs/FORMAT.md §9): how many there are.
std::size_t keys_under(ferrite::Store& store, char kind, std::uint16_t cid, int iid = -1) {
  std::array<std::byte, 5> prefix{std::byte{0xFE}, static_cast<std::byte>(kind), static_cast<std::byte>(cid >> 8),
                                  static_cast<std::byte>(cid & 0xFF), static_cast<std::byte>(iid & 0xFF)};
  auto cur = store.scan(std::span<const std::byte>(prefix.data(), iid < 0 ? 4 : 5));
  std::size_t n = 0;
  for (;;) {
    auto more = ferrite::sync_wait(cur.next());
    if (!more || !*more) return more ? n : static_cast<std::size_t>(-1);
    ++n;
  }
}

constexpr std::uint16_t cid_a = 1;    // created first
constexpr std::uint8_t iid_by_k = 1;  // a's first index

void drop_setup(Bench& b, std::uint64_t seed) {
  REQUIRE(b.fresh());
  REQUIRE(ferrite::sync_wait(b.db->create_collection("a")));
  REQUIRE(ferrite::sync_wait(b.db->create_collection("b")));
  ferrite::IndexSpec k, u, g;
  k.name = "by_k";
  k.paths[0] = "k";
  u.name = "by_u";
  u.paths[0] = "u";
  u.unique = true;
  g.name = "by_g";
  g.paths[0] = "g";
  REQUIRE(ferrite::sync_wait(b.db->create_index("a", k)));
  REQUIRE(ferrite::sync_wait(b.db->create_index("a", u)));
  REQUIRE(ferrite::sync_wait(b.db->create_index("b", g)));
  Rng rnd(seed);
  const int in_a = 12 + static_cast<int>(rnd.below(12));
  for (int i = 0; i < in_a + 5; ++i) {
    Value d = pdoc(rnd, rnd.chance(30));
    if (i < in_a) d.set("u", Value::of_int(i));
    const auto bytes = encode(d);
    REQUIRE(ferrite::sync_wait(b.db->insert(i < in_a ? "a" : "b", view_of(bytes))));
  }
}

ferrite::Status teardown(ferrite::DocStore& db, Teardown t) {
  switch (t) {
    case Teardown::clear: return ferrite::sync_wait(db.clear("a"));
    case Teardown::drop_collection: return ferrite::sync_wait(db.drop_collection("a"));
    case Teardown::drop_index: return ferrite::sync_wait(db.drop_index("a", "by_k"));
  }
  return ferrite::Status{};
}

// What the flash holds after the cut, against the state before the
// operation (`a0`, `b0`): the operation wholly done or not begun.
std::string check_teardown(Bench& bench, Teardown t, const std::map<DocId, Value>& a0,
                           const std::map<DocId, Value>& b0, DocId max_id_a, bool& finished) {
  ferrite::DocStore& db = *bench.db;
  ferrite::Store& store = *bench.store;
  std::map<DocId, Value> a, b;
  if (auto e = read_all(db, "b", b); !e.empty()) return e;
  if (!same_collection(b, b0)) return "collection b changed";
  bool unused = false;
  if (auto e = check_indexes(db, "b", b, unused); !e.empty()) return e;
  auto stats = ferrite::sync_wait(db.stats("a"));
  if (!stats && stats.error() != Errc::not_found) return std::string("stats(a): ") + ferrite::name_of(stats.error());
  if (stats) {
    if (auto e = read_all(db, "a", a); !e.empty()) return e;
    bool has_k = false;
    if (auto e = check_indexes(db, "a", a, has_k); !e.empty()) return e;
  }
  const auto left = [&](char kind, int iid = -1) { return keys_under(store, kind, cid_a, iid); };
  switch (t) {
    case Teardown::clear:
      if (!stats) return "clear removed the collection";
      if (stats->index_count != 2 || left('X') != 2) return "clear lost an index definition";
      finished = a.empty();
      if (!finished && !same_collection(a, a0)) return "partly cleared: " + std::to_string(a.size()) + " documents left";
      if (finished && left('D') + left('K') + left('I') + left('U') != 0)
        return "cleared, yet " + std::to_string(left('D')) + " D, " + std::to_string(left('K')) + " K, " +
               std::to_string(left('I')) + " I, " + std::to_string(left('U')) + " U keys are left";
      break;
    case Teardown::drop_collection: {
      finished = !stats;
      std::array<std::string_view, 4> names{};
      const std::size_t listed = db.list_collections(names);
      const bool listed_a = std::find(names.begin(), names.begin() + listed, "a") != names.begin() + listed;
      if (!finished) {
        if (!listed_a || !same_collection(a, a0) || stats->index_count != 2) return "partly dropped collection";
        break;
      }
      if (listed_a) return "a dropped collection is still listed";
      const std::size_t keys = left('D') + left('K') + left('I') + left('U') + left('X');
      const std::array<std::byte, 3> name_key{std::byte{0xFE}, std::byte{'C'}, std::byte{'a'}};
      std::array<std::byte, 16> v{};
      const bool catalog_left = static_cast<bool>(ferrite::sync_wait(store.get(name_key, v)));
      if (keys != 0 || catalog_left)
        return "dropped, yet " + std::to_string(keys) + " keys of it are left" + (catalog_left ? " and its catalog record" : "");
      break;
    }
    case Teardown::drop_index: {
      if (!stats) return "drop_index removed the collection";
      if (!same_collection(a, a0)) return "drop_index changed the documents";
      bool has_k = false;
      for (std::size_t i = 0; i < stats->index_count; ++i) has_k = has_k || stats->indexes[i].name_view() == "by_k";
      finished = !has_k;
      if (stats->index_count != (finished ? 1 : 2)) return "drop_index took another index with it";
      if (finished && left('I', iid_by_k) + left('X', iid_by_k) != 0)
        return "dropped, yet " + std::to_string(left('I', iid_by_k)) + " entries and " +
               std::to_string(left('X', iid_by_k)) + " definitions of it are left";
      break;
    }
  }
  if (stats) {  // ids are never reused, even after a clear
    const auto body = encode(Value::object().set("k", Value::of_int(1)));
    auto id = ferrite::sync_wait(db.insert("a", view_of(body)));
    if (!id) return std::string("insert after open: ") + ferrite::name_of(id.error());
    if (*id <= max_id_a) return "id " + std::to_string(*id) + " reused after " + name_of(t);
  }
  return "";
}

}  // namespace

TEST_CASE("a power cut inside clear, drop_collection or drop_index is finished by open() and leaves no key behind",
          "[docstore][powerloss][campaign]") {
  const double scale = campaign_scale();
  const int workloads = std::max(1, static_cast<int>(36 * scale));
  std::size_t cases = 0, failures = 0, second_cuts = 0, finished_by_open = 0, not_begun = 0;
  const auto started = std::chrono::steady_clock::now();
  const char* only = std::getenv("FERRITE_PL_ONLY");  // "seed:operation:cut" runs one case
  for (int w = 0; w < workloads; ++w) {
    const std::uint64_t seed = 0xD209000u + static_cast<std::uint64_t>(w) * 71;
    for (Teardown t : {Teardown::clear, Teardown::drop_collection, Teardown::drop_index}) {
      std::uint64_t total = 0;
      std::map<DocId, Value> a0, b0;
      DocId max_id_a = 0;
      {
        Bench bench(geometry(8, 8192, 4), 1024, 512, 2048, seed);
        drop_setup(bench, seed);
        REQUIRE(read_all(*bench.db, "a", a0).empty());
        REQUIRE(read_all(*bench.db, "b", b0).empty());
        max_id_a = a0.empty() ? 0 : a0.rbegin()->first;
        const auto base = bench.sim.mutating_ops();
        REQUIRE(teardown(*bench.db, t));
        total = bench.sim.mutating_ops() - base;
      }
      for (std::uint64_t k = 0; k < total; ++k) {
        if (only && std::to_string(seed) + ":" + name_of(t) + ":" + std::to_string(k) != only) continue;
        Bench bench(geometry(8, 8192, 4), 1024, 512, 2048, seed * 613 + k);
        bench.sim.set_tear_mode(k % 3 == 0 ? ferrite::sim::TearMode::random_units
                                           : ferrite::sim::TearMode::prefix_then_partial);
        drop_setup(bench, seed);
        bench.sim.cut_power_at(bench.sim.mutating_ops() + k);
        const auto st = teardown(*bench.db, t);
        if (st) continue;  // past the end
        ++cases;
        std::string failure;
        if (st.error() != Errc::power_lost) failure = std::string(name_of(t)) + " failed without a cut: " + ferrite::name_of(st.error());
        Rng rnd(seed ^ (k * 0x51EDu) ^ static_cast<std::uint64_t>(t));
        const bool second = rnd.chance(40);
        if (failure.empty()) {
          auto m = bench.remount();
          if (!m) failure = std::string("mount: ") + ferrite::name_of(m.error());
        }
        if (failure.empty() && second) {
          ++second_cuts;
          bench.sim.cut_power_at(bench.sim.mutating_ops() + 1 + rnd.below(24));
          auto o = bench.open();
          bench.sim.cut_power_at(0);
          if (!o && o.error() == Errc::power_lost) {
            auto m = bench.remount();
            if (!m) failure = std::string("mount after the second cut: ") + ferrite::name_of(m.error());
          } else if (!o) {
            failure = std::string("open (second cut armed): ") + ferrite::name_of(o.error());
          }
        }
        if (failure.empty()) {
          auto o = bench.open();
          if (!o) failure = std::string("open: ") + ferrite::name_of(o.error());
        }
        bool finished = false;
        if (failure.empty()) failure = check_teardown(bench, t, a0, b0, max_id_a, finished);
        (finished ? finished_by_open : not_begun) += failure.empty();
        if (!failure.empty()) {
          ++failures;
          if (failures <= 12) {
            std::fprintf(stderr, "powerloss-doc-drop failure: seed %llu %s cut %llu%s: %s\n",
                         static_cast<unsigned long long>(seed), name_of(t), static_cast<unsigned long long>(k),
                         second ? " (+second cut)" : "", failure.c_str());
            UNSCOPED_INFO("seed " << seed << " " << name_of(t) << " cut " << k << ": " << failure);
          }
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign powerloss-doc-drop: %zu cases, %zu failures\n", cases, failures);
  std::printf("  (%d workloads x clear, drop_collection, drop_index; %zu with a second cut during open(); %zu finished"
              " by open(), %zu not begun; %.1f s)\n",
              workloads, second_cuts, finished_by_open, not_begun, seconds);
  std::fflush(stdout);
  CHECK(failures == 0);
  if (!only) CHECK(cases >= static_cast<std::size_t>(scale >= 1.0 ? 5000 : 500));
  CHECK(finished_by_open > not_begun);
}

// ---------------------------------------------------------------------------------------
// doc-open-fuzz: the body of fuzz_doc_open (test/fuzz/doc_open_driver.hpp)
// over seeded mutations of real docstore images: bit flips anywhere, edits
// of docstore values written back through the engine (so their checksums
// hold and the docstore's own decoders meet them: catalog, index
// definitions, document headers, chunk parts, index entries), keys removed,
// and images cut short (the rest erased). A finding is a document returned
// with ok that does not parse, or a walk that does not end (crashes and
// sanitizer reports end the run).

#include "fuzz/doc_open_driver.hpp"

namespace {

// Real images: a catalog of two collections with single, unique, partial and
// multikey indexes, whole and chunked documents, updates and removes; one
// cut inside an index build, one cut inside a transaction.
std::vector<std::vector<std::byte>> base_images() {
  std::vector<std::vector<std::byte>> out;
  for (int variant = 0; variant < 3; ++variant) {
    Bench b(geometry(doc_open_fuzz::sector_count, doc_open_fuzz::sector_size, doc_open_fuzz::unit), 512,
            doc_open_fuzz::max_value, 2048, 7 + variant);
    if (!b.fresh()) std::abort();
    ferrite::DocStore& db = *b.db;
    Rng rnd(0xF0220000u + variant);
    const Query alarm = Query::path("g").eq("g1");
    auto index = [&](const char* c, const char* name, const char* path, bool unique, const Query* filter) {
      ferrite::IndexSpec s;
      s.name = name;
      s.paths[0] = path;
      s.unique = unique;
      s.filter = filter;
      return ferrite::sync_wait(db.create_index(c, s));
    };
    (void)ferrite::sync_wait(db.create_collection("a"));
    (void)ferrite::sync_wait(db.create_collection("b"));
    (void)index("a", "by_k", "k", false, nullptr);
    (void)index("a", "by_u", "u", true, nullptr);
    (void)index("b", "g1_c", "c", false, &alarm);
    for (int i = 0; i < 10; ++i) {
      Value d = pdoc(rnd, i % 4 == 1);
      d.set("u", Value::of_int(i));
      if (i % 3 == 0) d.set("tags", Value::array().push(Value::of_string("x")).push(Value::of_int(i)));
      const auto bytes = encode(d);
      (void)ferrite::sync_wait(db.insert(i % 2 ? "a" : "b", view_of(bytes)));
    }
    const auto patch = encode(Value::object().set("k", Value::of_int(3)).set("$inc", Value::object().set("c", Value::of_int(1))));
    (void)ferrite::sync_wait(db.update("a", Query::path("_id").lte(3), view_of(patch)));
    (void)ferrite::sync_wait(db.remove("b", Query::path("_id").eq(2)));
    if (variant == 1) b.sim.cut_power_at(b.sim.mutating_ops() + 3);
    (void)index("b", "by_tags", "tags", false, nullptr);
    b.sim.restore_power();
    if (variant == 2) {
      b.sim.cut_power_at(b.sim.mutating_ops() + 1);
      ferrite::DocTransaction tx(db);
      const auto d = encode(pdoc(rnd, true));
      (void)ferrite::sync_wait(tx.insert("a", view_of(d)));
      (void)ferrite::sync_wait(tx.remove("b", Query::path("_id").eq(4)));
      (void)ferrite::sync_wait(tx.commit());
      b.sim.restore_power();
    }
    out.emplace_back(b.sim.image().begin(), b.sim.image().end());
  }
  return out;
}

// Rewrites one docstore key's value (or removes the key) through the engine.
void edit_record(std::vector<std::byte>& image, Rng& rnd) {
  ferrite::sim::SimFlash sim(doc_open_fuzz::geometry(), 3);
  sim.load_image(image);
  ferrite::Flash flash(sim);
  std::vector<ferrite::IndexEntry> index(512);
  std::vector<std::uint16_t> order(512);
  std::array<ferrite::SectorInfo, doc_open_fuzz::sector_count> sectors{};
  ferrite::StoreConfig config;
  config.index = index;
  config.order = order;
  config.sectors = sectors;
  config.max_value_size = doc_open_fuzz::max_value;
  ferrite::Store store(flash, config);
  if (!ferrite::sync_wait(store.mount())) return;
  const std::array<std::byte, 1> ns{std::byte{0xFE}};
  std::vector<std::vector<std::byte>> keys;
  {
    auto cur = store.scan(ns);
    for (;;) {
      auto more = ferrite::sync_wait(cur.next());
      if (!more || !*more) break;
      keys.emplace_back(cur.key().begin(), cur.key().end());
    }
  }
  if (keys.empty()) return;
  const std::uint32_t edits = 1 + rnd.below(3);
  for (std::uint32_t e = 0; e < edits; ++e) {
    const auto& key = keys[rnd.below(static_cast<std::uint32_t>(keys.size()))];
    std::vector<std::byte> value(doc_open_fuzz::max_value);
    auto n = ferrite::sync_wait(store.get(key, value));
    if (!n) continue;
    value.resize(*n);
    const std::uint32_t how = rnd.below(8);
    if (how == 0) {  // remove the key (a chunk, an entry, a definition...)
      (void)ferrite::sync_wait(store.erase(key));
      continue;
    }
    if (how == 1 && !value.empty()) value.resize(rnd.below(static_cast<std::uint32_t>(value.size())));
    if (how == 2) value.push_back(static_cast<std::byte>(rnd.below(256)));
    if (how >= 3 && !value.empty()) {
      const std::uint32_t k = 1 + rnd.below(4);
      for (std::uint32_t i = 0; i < k; ++i) {
        // Mostly near the front: headers, counts, sizes, CBOR heads.
        const std::uint32_t span = std::min<std::uint32_t>(static_cast<std::uint32_t>(value.size()), rnd.chance(70) ? 12 : 4096);
        const std::uint32_t at = rnd.below(span);
        if (rnd.chance(50)) value[at] ^= static_cast<std::byte>(1u << rnd.below(8));
        else value[at] = static_cast<std::byte>(rnd.chance(30) ? 0xFF : rnd.below(256));
      }
    }
    (void)ferrite::sync_wait(store.put(key, value));
  }
  image.assign(sim.image().begin(), sim.image().end());
}

}  // namespace

TEST_CASE("mount and open over mutated docstore images never crash, hang or return a broken document",
          "[docstore][fuzz][campaign]") {
  const double scale = campaign_scale();
  const int cases = std::max(100, static_cast<int>(5000 * scale));
  const auto bases = base_images();
  if (const char* dir = std::getenv("FERRITE_DOC_OPEN_CORPUS")) {  // seeds for fuzz_doc_open
    for (std::size_t i = 0; i < bases.size(); ++i) {
      const std::string path = std::string(dir) + "/docstore-image-" + std::to_string(i);
      if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(bases[i].data(), 1, bases[i].size(), f);
        std::fclose(f);
      }
    }
  }
  std::size_t failures = 0, mounted = 0, opened = 0, documents = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < cases; ++i) {
    Rng rnd(0xF022F022u + static_cast<std::uint64_t>(i));
    std::vector<std::byte> image = bases[static_cast<std::size_t>(i) % bases.size()];
    const std::uint32_t kind = rnd.below(10);
    if (kind < 5) {
      edit_record(image, rnd);
    } else if (kind < 8) {
      const std::uint32_t flips = 1 + rnd.below(8);
      for (std::uint32_t f = 0; f < flips; ++f)
        image[rnd.below(static_cast<std::uint32_t>(image.size()))] ^= static_cast<std::byte>(1u << rnd.below(8));
    } else {
      const std::uint32_t cut = rnd.below(static_cast<std::uint32_t>(image.size()));
      std::fill(image.begin() + cut, image.end(), std::byte{0xFF});
    }
    doc_open_fuzz::Outcome o;
    const char* why = doc_open_fuzz::check_doc_open(reinterpret_cast<const std::uint8_t*>(image.data()), image.size(), &o);
    mounted += o.mounted;
    opened += o.opened;
    documents += o.documents;
    if (why) {
      ++failures;
      if (failures <= 10) {
        std::fprintf(stderr, "doc-open-fuzz failure: case %d: %s\n", i, why);
        UNSCOPED_INFO("case " << i << ": " << why);
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign doc-open-fuzz: %d cases, %zu failures\n", cases, failures);
  std::printf("  (%zu mounted, %zu opened, %zu documents read and checked; %.1f s)\n", mounted, opened, documents, seconds);
  std::fflush(stdout);
  CHECK(failures == 0);
  CHECK(opened > static_cast<std::size_t>(cases) / 2);
}
