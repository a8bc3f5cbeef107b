// Test support for the document layer: a docstore on a simulated flash and
// blocking wrappers, so tests read as plain calls. Include after the std and
// Catch2 headers and after `import ferrite; import ferrite.sim;`.
#pragma once

namespace docrig {

using ferrite::Errc;
using ferrite::doc::Operand;
using ferrite::doc::Query;
using ferrite::doc::View;

/// A CBOR document from {key, operand} pairs (operands may be Views of nested documents).
inline std::vector<std::byte> obj(std::initializer_list<std::pair<std::string_view, Operand>> members) {
  std::vector<std::byte> out(8192);
  ferrite::doc::Writer w(out);
  w.object(static_cast<std::uint32_t>(members.size()));
  for (const auto& [k, v] : members) {
    w.key(k);
    v.write(w);
  }
  if (!w.status()) std::abort();
  out.resize(w.size());
  return out;
}

inline std::vector<std::byte> arr(std::initializer_list<Operand> items) {
  std::vector<std::byte> out(8192);
  ferrite::doc::Writer w(out);
  w.array(static_cast<std::uint32_t>(items.size()));
  for (const auto& v : items) v.write(w);
  if (!w.status()) std::abort();
  out.resize(w.size());
  return out;
}

inline View view(const std::vector<std::byte>& b) {
  auto v = View::parse(b);
  if (!v) std::abort();
  return *v;
}

/// A clock the tests set.
struct TestClock {
  std::int64_t now = 1000;
  ferrite::Clock clock() {
    return ferrite::Clock{[](void* c) noexcept { return static_cast<TestClock*>(c)->now; }, this};
  }
};

struct DocRig {
  static constexpr std::size_t max_keys = 4096;
  static constexpr std::size_t max_sectors = 32;

  explicit DocRig(ferrite::Geometry g, std::uint64_t seed = 1, std::uint32_t max_value = 4096)
      : sim(g, seed), flash(sim) {
    index.resize(max_keys);
    order.resize(max_keys);
    config.index = index;
    config.order = order;
    config.sectors = sectors;
    config.max_value_size = max_value;
    store.emplace(flash, config);
  }

  /// Formats the flash and opens an empty docstore.
  bool fresh() {
    if (!ferrite::sync_wait(store->format())) return false;
    return open();
  }
  bool open() {
    ferrite::DocConfig dc;
    dc.clock = clock.clock();
    dc.max_document_size = max_document;
    db.emplace(*store, dc);
    return static_cast<bool>(ferrite::sync_wait(db->open()));
  }
  /// A new Store and DocStore on the same flash (as after a reboot), mounted and opened.
  ferrite::Status reboot() {
    sim.restore_power();
    db.reset();
    std::fill(index.begin(), index.end(), ferrite::IndexEntry{});
    sectors = {};
    config.sectors = sectors;
    store.emplace(flash, config);
    auto st = ferrite::sync_wait(store->mount());
    if (!st) return st;
    ferrite::DocConfig dc;
    dc.clock = clock.clock();
    dc.max_document_size = max_document;
    db.emplace(*store, dc);
    return ferrite::sync_wait(db->open());
  }

  ferrite::Result<ferrite::DocId> insert(std::string_view c, const std::vector<std::byte>& d) {
    return ferrite::sync_wait(db->insert(c, view(d)));
  }
  ferrite::Result<ferrite::DocId> insert(std::string_view c, std::initializer_list<std::pair<std::string_view, Operand>> m) {
    return insert(c, obj(m));
  }
  /// The document, or an empty vector with `error` set.
  std::vector<std::byte> get(std::string_view c, ferrite::DocId id, Errc* error = nullptr) {
    std::vector<std::byte> out(max_document + 16);
    auto n = ferrite::sync_wait(db->get(c, id, out));
    if (error) *error = n ? Errc::ok : n.error();
    if (!n) return {};
    out.resize(*n);
    return out;
  }
  /// Ids of the documents find yields, or {error as a negative number}.
  std::vector<std::int64_t> ids(std::string_view c, const Query& q, const ferrite::doc::FindOptions& o = {}) {
    std::vector<std::int64_t> out;
    auto cur = db->find(c, q, o);
    for (;;) {
      auto more = ferrite::sync_wait(cur.next());
      if (!more) {
        out.push_back(-static_cast<std::int64_t>(more.error()));
        return out;
      }
      if (!*more) return out;
      out.push_back(cur.id());
    }
  }
  ferrite::Result<ferrite::doc::Plan> explain(std::string_view c, const Query& q, const ferrite::doc::FindOptions& o = {}) {
    return ferrite::sync_wait(db->explain(c, q, o));
  }

  std::uint32_t max_document = 4096;
  TestClock clock;
  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  std::vector<ferrite::IndexEntry> index;
  std::vector<std::uint16_t> order;
  std::array<ferrite::SectorInfo, max_sectors> sectors{};
  ferrite::StoreConfig config{};
  std::optional<ferrite::Store> store;
  std::optional<ferrite::DocStore> db;
};

inline ferrite::Geometry geometry(std::uint32_t sectors = 8, std::uint32_t size = 16384, std::uint32_t unit = 4) {
  auto g = ferrite::Geometry::uniform(sectors, size, unit, ferrite::EraseValue::ones, false);
  if (!g) std::abort();
  return *g;
}

}  // namespace docrig
