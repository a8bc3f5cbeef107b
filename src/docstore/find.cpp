// Reading by query: FindCursor (walk, top-k sort, projection), explain,
// count, aggregates, the Unosql shorthands and collection statistics.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.docstore;

namespace ferrite {

using namespace docfmt;
using doc::Plan;

struct FindCursor::State {
  struct Top {
    Key key;
    DocId id = 0;
  };

  DocStore* db = nullptr;
  std::array<char, max_collection_name> name{};
  std::uint8_t name_size = 0;
  std::uint16_t cid = 0;
  doc::Query query;
  doc::FindOptions options;
  std::array<char, doc::Query::max_path> sort_path{};
  std::array<std::array<char, doc::Query::max_path>, 8> fields{};
  Errc error = Errc::ok;
  bool started = false;
  bool done = false;
  FindPlan plan;
  std::uint8_t range_at = 0;
  Cursor cursor;
  bool cursor_open = false;
  std::uint32_t skipped = 0;
  std::uint32_t yielded = 0;
  std::span<std::byte> buffer;
  std::vector<std::byte> own;
  std::vector<std::byte> projection;
  std::vector<Top> top;
  std::size_t top_at = 0;
  std::size_t top_k = 0;
  bool top_ready = false;

  std::string_view collection() const noexcept { return {name.data(), name_size}; }
  Task<Status> start() noexcept;
  Task<Result<bool>> walk(FindCursor& out) noexcept;
  Task<Result<bool>> next_top(FindCursor& out) noexcept;
  Task<Result<DocId>> id_at(std::span<const std::byte> key) noexcept;
  Task<Result<DocStore::Impl::Stored>> read_current(DocId id) noexcept;
  bool first_entry(const doc::View& doc, DocId id, std::span<const std::byte> key) const noexcept;
  Status present(const doc::View& doc, DocId id, FindCursor& out) noexcept;
  Key sort_key(const doc::View& doc) const noexcept;
  void keep_top(const Key& key, DocId id) noexcept;
};

FindCursor::FindCursor(State* s) noexcept : state_(s) {}
FindCursor::FindCursor(FindCursor&& o) noexcept
    : state_(std::exchange(o.state_, nullptr)), current_(o.current_), id_(o.id_), plan_(o.plan_) {}
FindCursor& FindCursor::operator=(FindCursor&& o) noexcept {
  if (this != &o) {
    delete state_;
    state_ = std::exchange(o.state_, nullptr);
    current_ = o.current_;
    id_ = o.id_;
    plan_ = o.plan_;
  }
  return *this;
}
FindCursor::~FindCursor() { delete state_; }

FindCursor DocStore::find(std::string_view collection, const doc::Query& query, const doc::FindOptions& options,
                          std::span<std::byte> buffer) noexcept {
  auto* s = new (std::nothrow) FindCursor::State;
  if (!s) return FindCursor(nullptr);
  s->db = this;
  s->query = query;
  s->options = options;
  if (collection.size() > s->name.size() || options.sort_path.size() > s->sort_path.size() ||
      options.field_count > s->fields.size()) {
    s->error = Errc::invalid_argument;
    return FindCursor(s);
  }
  if (!collection.empty()) std::memcpy(s->name.data(), collection.data(), collection.size());
  s->name_size = static_cast<std::uint8_t>(collection.size());
  // The options' strings are copied: the cursor may outlive the caller's.
  if (!options.sort_path.empty())  // (an empty view may hold a null pointer: memcpy's UB)
    std::memcpy(s->sort_path.data(), options.sort_path.data(), options.sort_path.size());
  s->options.sort_path = {s->sort_path.data(), options.sort_path.size()};
  for (std::size_t i = 0; i < options.field_count; ++i) {
    const auto f = options.fields[i];
    if (f.size() > s->fields[i].size()) {
      s->error = Errc::invalid_argument;
      return FindCursor(s);
    }
    if (!f.empty()) std::memcpy(s->fields[i].data(), f.data(), f.size());
    s->options.fields[i] = {s->fields[i].data(), f.size()};
  }
  const std::size_t need = std::size_t{config_.max_document_size} + Impl::slack;
  if (buffer.size() >= need) {
    s->buffer = buffer;
  } else {
    s->own.resize(need);
    s->buffer = s->own;
  }
  return FindCursor(s);
}

Task<Status> FindCursor::State::start() noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await DocStore::Impl::collection(*db, collection(), false));
  cid = c->cid;
  FERRITE_CO_TRY(DocStore::Impl::make_plan(*db, cid, query, options, plan));
  if (options.field_count) projection.resize(db->config_.max_document_size);
  co_return Status{};
}

Task<Result<bool>> FindCursor::next() noexcept {
  if (!state_) co_return fail(Errc::no_memory);
  State& s = *state_;
  if (s.error != Errc::ok) co_return fail(s.error);
  if (!s.started) {
    auto st = co_await s.start();
    if (!st) {
      s.error = st.error();
      co_return fail(st.error());
    }
    s.started = true;
    plan_ = s.plan.plan;
  }
  auto r = s.plan.plan.sort == Plan::Sort::top_k ? co_await s.next_top(*this) : co_await s.walk(*this);
  if (!r) s.error = r.error();
  co_return r;
}

Task<Result<DocId>> FindCursor::State::id_at(std::span<const std::byte> key) noexcept {
  if (!plan.use_index) co_return id_of_doc_key(key);
  if (!plan.index.unique) co_return id_at_end(key);
  std::array<std::byte, 4> v{};
  auto n = co_await cursor.read_value(v);
  if (!n) co_return fail(n.error());
  if (*n != 4) co_return fail(Errc::corrupt);
  co_return id_at_end(v);
}

// The document the walk stands on: a walk over documents reads the value
// its cursor already found (no second lookup); an index walk looks it up.
Task<Result<DocStore::Impl::Stored>> FindCursor::State::read_current(DocId id) noexcept {
  if (plan.use_index) co_return co_await DocStore::Impl::read_doc(*db, nullptr, cid, id, buffer);
  auto n = co_await cursor.read_value(buffer);
  if (!n) co_return fail(n.error() == Errc::buffer_too_small ? Errc::corrupt : n.error());
  co_return co_await DocStore::Impl::complete_doc(*db, nullptr, cid, id, buffer, *n);
}

// A multikey document has several entries in the walked ranges: it is
// returned at the first one the walk meets (no set of seen ids in RAM).
bool FindCursor::State::first_entry(const doc::View& doc, DocId id, std::span<const std::byte> key) const noexcept {
  IndexSlot x = plan.index;
  x.state = ready;
  EntrySet entries;
  if (!index_entries(x, doc, id, *db->store_, entries)) return false;
  const Key* best = nullptr;
  for (std::size_t i = 0; i < entries.count; ++i) {
    const Key& k = entries.keys[i];
    bool inside = false;
    for (std::size_t r = 0; r < plan.range_count && !inside; ++r)
      inside = compare_keys(k.view(), plan.ranges[r].lower.view()) >= 0 &&
               compare_keys(k.view(), plan.ranges[r].upper.view()) < 0;
    if (!inside) continue;
    const bool better = !best || (plan.plan.reverse ? compare_keys(k.view(), best->view()) > 0
                                                    : compare_keys(k.view(), best->view()) < 0);
    if (better) best = &k;
  }
  return best && compare_keys(best->view(), key) == 0;
}

Status FindCursor::State::present(const doc::View& doc, DocId id, FindCursor& out) noexcept {
  out.id_ = id;
  if (!options.field_count) {
    out.current_ = doc;
    return {};
  }
  doc::Writer w(projection);
  w.begin_object().key("_id").integer(id);
  for (std::size_t i = 0; i < options.field_count; ++i) {
    const auto f = options.fields[i];
    if (f == "_id") continue;
    const doc::View v = doc.path(f);
    if (v.valid()) w.key(f).value(v);
  }
  w.end();
  FERRITE_TRY(w.status());
  auto v = doc::View::parse(w.written());
  if (!v) return fail(v.error());
  out.current_ = *v;
  return {};
}

Task<Result<bool>> FindCursor::State::walk(FindCursor& out) noexcept {
  for (;;) {
    if (done || (options.limit && yielded >= options.limit)) {
      done = true;
      co_return false;
    }
    if (!cursor_open) {
      if (range_at >= plan.range_count) {
        done = true;
        co_return false;
      }
      const std::size_t r = plan.plan.reverse ? plan.range_count - 1 - range_at : range_at;
      cursor = db->store_->range(plan.ranges[r].lower.view(), plan.ranges[r].upper.view(),
                                 plan.plan.reverse ? Direction::reverse : Direction::forward);
      cursor_open = true;
    }
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cursor.next());
    if (!more) {
      cursor_open = false;
      ++range_at;
      continue;
    }
    Key key;
    key.append(cursor.key());
    FERRITE_CO_TRY_ASSIGN(const DocId id, co_await id_at(key.view()));
    auto d = co_await read_current(id);
    if (!d && d.error() == Errc::not_found) continue;  // removed since its entry was read
    if (!d) co_return fail(d.error());
    if (plan.use_index && !first_entry(d->view, id, key.view())) continue;
    if (!doc::matches(query, d->view)) continue;
    if (skipped < options.skip) {
      ++skipped;
      continue;
    }
    FERRITE_CO_TRY(present(d->view, id, out));
    ++yielded;
    co_return true;
  }
}

namespace {

struct Pick {
  Key best;
  bool any = false;
  bool descending = false;
};

void consider(const doc::View& v, Pick& p) noexcept {
  Key k;
  if (!encode_value(v, 32, k)) return;
  const int c = p.any ? compare_keys(k.view(), p.best.view()) : 0;
  if (!p.any || (p.descending ? c > 0 : c < 0)) p.best = k;
  p.any = true;
}

// Sorts see an array by its smallest element (largest when descending).
bool pick_value(const doc::View& v, void* context) noexcept {
  auto& p = *static_cast<Pick*>(context);
  if (v.type() == doc::Type::array) {
    auto c = v.children();
    while (c.next()) consider(c.value(), p);
  } else {
    consider(v, p);
  }
  return false;
}

}  // namespace

Key FindCursor::State::sort_key(const doc::View& doc) const noexcept {
  Pick pick;
  pick.descending = options.order == doc::Order::descending;
  for_each_at_path(doc, options.sort_path, pick_value, &pick);
  if (!pick.any) pick.best.push(tag_missing);   // missing sorts first (last when descending)
  return pick.best;
}

void FindCursor::State::keep_top(const Key& key, DocId id) noexcept {
  const bool descending = options.order == doc::Order::descending;
  auto before = [descending](const Top& a, const Top& b) noexcept {
    const int c = compare_keys(a.key.view(), b.key.view());
    if (c != 0) return descending ? c > 0 : c < 0;
    return a.id < b.id;
  };
  const std::size_t k = top_k;
  Top t{key, id};
  if (top.size() < k) {
    top.insert(std::upper_bound(top.begin(), top.end(), t, before), t);
  } else if (before(t, top.back())) {
    top.pop_back();
    top.insert(std::upper_bound(top.begin(), top.end(), t, before), t);
  }
}

Task<Result<bool>> FindCursor::State::next_top(FindCursor& out) noexcept {
  if (!top_ready) {
    // Walk everything the plan selects, keeping the k best (k = skip + limit).
    top_k = std::size_t{options.skip} + options.limit;
    top.reserve(top_k);
    doc::FindOptions all = options;
    all.skip = 0;
    all.limit = 0;
    all.field_count = 0;
    const doc::FindOptions saved = options;
    options = all;
    FindCursor probe(nullptr);
    for (;;) {
      auto more = co_await walk(probe);
      if (!more) {
        options = saved;
        co_return more;
      }
      if (!*more) break;
      keep_top(sort_key(probe.current_), probe.id_);
    }
    options = saved;
    top_ready = true;
    top_at = options.skip;
  }
  while (top_at < top.size()) {
    const DocId id = top[top_at++].id;
    auto d = co_await DocStore::Impl::read_doc(*db, nullptr, cid, id, buffer);
    if (!d && d.error() == Errc::not_found) continue;
    if (!d) co_return fail(d.error());
    if (!doc::matches(query, d->view)) continue;
    FERRITE_CO_TRY(present(d->view, id, out));
    co_return true;
  }
  co_return false;
}

// -- explain, count, aggregate, shorthands -------------------------------------------

Task<Result<doc::Plan>> DocStore::explain(std::string_view collection, const doc::Query& query,
                                          const doc::FindOptions& options) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, false));
  FindPlan plan;
  FERRITE_CO_TRY(Impl::make_plan(*this, c->cid, query, options, plan));
  plan.plan.ranges = plan.range_count;
  if (plan.plan.access != Plan::Access::collection_scan) {
    for (std::size_t r = 0; r < plan.range_count; ++r) {
      auto n = co_await store_->count_range(plan.ranges[r].lower.view(), plan.ranges[r].upper.view());
      if (n) plan.plan.estimated_keys += *n;
    }
  }
  co_return plan.plan;
}

namespace {

// Whether the id range plan answers the query exactly: every conjunct is an
// _id predicate the planner turned into bounds (id_bounds in planner.cpp): a
// number (not NaN) for eq/gt/gte/lt/lte, and one `in` of numbers within
// max_ranges. Anything else (a text or array operand, a second `in`) the
// planner ignores, so only the residual check answers it.
bool only_id_predicates(const doc::Query& q) noexcept {
  bool only = true;
  int ins = 0;
  q.for_each_conjunct([&](std::size_t i) {
    const auto& n = q.node(i);
    const doc::View v = q.value_of(n);
    bool used = false;
    if (n.op == doc::Op::in) {
      used = ++ins == 1 && v.size() <= max_ranges;
      auto c = v.children();
      while (used && c.next()) used = c.value().is_number();
    } else if (n.op == doc::Op::eq || n.op == doc::Op::gt || n.op == doc::Op::gte || n.op == doc::Op::lt ||
               n.op == doc::Op::lte) {
      used = v.is_number() && v.number() == v.number();
    }
    only = only && used && q.path_of(n) == "_id";
  });
  return only;
}

}  // namespace

Task<Result<std::uint32_t>> DocStore::count(std::string_view collection, const doc::Query& query) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, false));
  FindPlan plan;
  FERRITE_CO_TRY(Impl::make_plan(*this, c->cid, query, {}, plan));
  // Exact from the engine's key order when nothing needs checking per document.
  const bool exact = query.matches_all() || (plan.plan.access == Plan::Access::id_range && only_id_predicates(query));
  if (exact) {
    std::uint32_t total = 0;
    bool ok = true;
    for (std::size_t r = 0; r < plan.range_count && ok; ++r) {
      auto n = co_await store_->count_range(plan.ranges[r].lower.view(), plan.ranges[r].upper.view());
      ok = static_cast<bool>(n);
      if (n) total += *n;
      else if (n.error() != Errc::unsupported) co_return fail(n.error());
    }
    if (ok) co_return total;
  }
  FindCursor cur = find(collection, query);
  std::uint32_t n = 0;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) co_return n;
    ++n;
  }
}

Task<Result<Aggregate>> DocStore::aggregate(std::string_view collection, const doc::Query& query,
                                            std::string_view path) noexcept {
  FindCursor cur = find(collection, query);
  Aggregate a;
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) co_return a;
    for_each_at_path(cur.document(), path,
                     [](const doc::View& v, void* ctx) noexcept {
                       auto& agg = *static_cast<Aggregate*>(ctx);
                       auto add = [&agg](const doc::View& x) noexcept {
                         if (!x.is_number()) return;
                         const double d = x.number();
                         agg.min = agg.count ? std::min(agg.min, d) : d;
                         agg.max = agg.count ? std::max(agg.max, d) : d;
                         agg.sum += d;
                         ++agg.count;
                       };
                       if (v.type() == doc::Type::array) {
                         auto c = v.children();
                         while (c.next()) add(c.value());
                       } else {
                         add(v);
                       }
                       return false;
                     },
                     &a);
  }
}

namespace {

// n documents in id order; none for n = 0 (a limit of 0 would mean "all").
doc::Query first_ids(std::uint32_t n) noexcept { return n ? doc::Query{} : doc::Query::path("_id").lt(0); }

}  // namespace

FindCursor DocStore::first_n(std::string_view collection, std::uint32_t n, std::span<std::byte> buffer) noexcept {
  doc::FindOptions o;
  o.sort_path = "_id";
  o.limit = n;
  return find(collection, first_ids(n), o, buffer);
}

FindCursor DocStore::last_n(std::string_view collection, std::uint32_t n, std::span<std::byte> buffer) noexcept {
  doc::FindOptions o;
  o.sort_path = "_id";
  o.order = doc::Order::descending;
  o.limit = n;
  return find(collection, first_ids(n), o, buffer);
}

FindCursor DocStore::in_timeframe(std::string_view collection, std::string_view field, std::int64_t start,
                                  std::int64_t end, std::span<std::byte> buffer) noexcept {
  return find(collection, doc::Query::path(field).between(start, end), {}, buffer);
}

Task<Result<CollectionStats>> DocStore::stats(std::string_view collection) noexcept {
  FERRITE_CO_TRY_ASSIGN(CollectionSlot* c, co_await Impl::collection(*this, collection, false));
  CollectionStats s;
  s.next_id = c->next_id;
  s.caps = c->cap.limits;
  FindCursor cur = find(collection, doc::Query{});
  for (;;) {
    FERRITE_CO_TRY_ASSIGN(const bool more, co_await cur.next());
    if (!more) break;
    ++s.documents;
    s.document_bytes += static_cast<std::uint32_t>(cur.document().raw().size());
  }
  const Key chunks = chunks_prefix(c->cid);
  std::uint32_t chunk_keys = 0;
  {
    Cursor k = store_->scan(chunks.view());
    for (;;) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await k.next());
      if (!more) break;
      ++chunk_keys;
    }
  }
  std::uint32_t slots = 0;
  for (const auto& x : config_.indexes) {
    if (x.cid != c->cid) continue;
    ++slots;
    std::uint32_t entries = 0;
    Cursor k = store_->scan(entries_prefix(x).view());
    for (;;) {
      FERRITE_CO_TRY_ASSIGN(const bool more, co_await k.next());
      if (!more) break;
      ++entries;
    }
    s.index_entries += entries;
    if (s.index_count < s.indexes.size()) {
      IndexStats& is = s.indexes[s.index_count++];
      is.name = x.name;
      is.name_size = x.name_size;
      is.ready = x.state == ready;
      is.unique = x.unique;
      is.hashed = x.hashed;
      is.partial = x.filter_size > 0;
      is.entries = entries;
    }
  }
  s.engine_keys = s.documents + chunk_keys + s.index_entries;
  s.ram_bytes = s.engine_keys * static_cast<std::uint32_t>(sizeof(IndexEntry) + sizeof(std::uint16_t)) +
                static_cast<std::uint32_t>(sizeof(CollectionSlot) + slots * sizeof(IndexSlot));
  co_return s;
}

}  // namespace ferrite
