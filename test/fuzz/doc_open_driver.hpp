// The body of the docstore open fuzzer, shared by the libFuzzer target
// (fuzz_doc_open.cpp) and the seeded Catch2 campaign doc-open-fuzz in
// test_doc_campaigns.cpp. Include after `import ferrite; import ferrite.sim;`.
//
// The input is a flash image of a fixed geometry (4 x 4 KiB sectors, 4-byte
// program unit; cut or padded with erased bytes), with a store of 512-byte
// engine values (documents above that are chunked). It is mounted, the
// docstore opened, and every collection the catalog lists is read: stats,
// count, find (planner and forced scan), get of each id, a query on each
// index's first path, then one insert. Errors are fine. A finding is a
// crash, a sanitizer report, a walk that does not end, or a call that
// answers ok with a document that does not parse (View::parse on its bytes)
// or is not an object. check_doc_open returns the first finding, or nullptr.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace doc_open_fuzz {

inline constexpr std::uint32_t sector_count = 4, sector_size = 4096, unit = 4, max_value = 512;
inline constexpr std::uint32_t image_size = sector_count * sector_size;
inline constexpr std::size_t max_steps = 20000;   // a walk longer than this does not end

inline const ferrite::Geometry& geometry() {
  static const ferrite::Geometry g = [] {
    auto r = ferrite::Geometry::uniform(sector_count, sector_size, unit, ferrite::EraseValue::ones, false);
    if (!r) std::abort();
    return *r;
  }();
  return g;
}

struct Outcome {
  bool mounted = false;
  bool opened = false;
  std::size_t collections = 0;
  std::size_t documents = 0;   // documents returned ok (and checked)
};

inline bool parses_as_object(std::span<const std::byte> bytes) {
  auto v = ferrite::doc::View::parse(bytes);
  return v && v->type() == ferrite::doc::Type::object;
}

// Walks a find cursor; nullptr or a finding.
inline const char* drain(ferrite::FindCursor cur, Outcome& out) {
  for (std::size_t steps = 0;; ++steps) {
    if (steps > max_steps) return "a find walk does not end";
    auto more = ferrite::sync_wait(cur.next());
    if (!more || !*more) return nullptr;
    if (!parses_as_object(cur.document().raw())) return "find returned a document that does not parse";
    ++out.documents;
  }
}

inline const char* check_doc_open(const std::uint8_t* data, std::size_t size, Outcome* report = nullptr) {
  Outcome local;
  Outcome& out = report ? *report : local;
  std::vector<std::byte> image(image_size, std::byte{0xFF});
  std::memcpy(image.data(), data, std::min<std::size_t>(size, image_size));
  ferrite::sim::SimFlash sim(geometry(), 1);
  sim.load_image(image);
  ferrite::Flash flash(sim);
  std::vector<ferrite::IndexEntry> index(512);
  std::vector<std::uint16_t> order(512);
  std::array<ferrite::SectorInfo, sector_count> sectors{};
  ferrite::StoreConfig config;
  config.index = index;
  config.order = order;
  config.sectors = sectors;
  config.max_value_size = max_value;
  ferrite::Store store(flash, config);
  if (!ferrite::sync_wait(store.mount())) return nullptr;
  out.mounted = true;
  ferrite::DocConfig dc;
  dc.max_document_size = 2048;
  ferrite::DocStore db(store, dc);
  if (!ferrite::sync_wait(db.open())) return nullptr;
  out.opened = true;
  std::array<std::string_view, 16> views{};
  const std::size_t n = db.list_collections(views);
  std::vector<std::string> names(views.begin(), views.begin() + static_cast<std::ptrdiff_t>(n));
  out.collections = n;
  std::vector<std::byte> buf(4096);
  for (const std::string& name : names) {
    (void)ferrite::sync_wait(db.stats(name));
    (void)ferrite::sync_wait(db.count(name, ferrite::doc::Query{}));
    if (const char* why = drain(db.find(name, ferrite::doc::Query{}), out)) return why;
    ferrite::doc::FindOptions scan;
    scan.no_index = true;
    std::vector<ferrite::DocId> ids;
    {
      auto cur = db.find(name, ferrite::doc::Query{}, scan);
      for (std::size_t steps = 0;; ++steps) {
        if (steps > max_steps) return "a forced scan does not end";
        auto more = ferrite::sync_wait(cur.next());
        if (!more || !*more) break;
        if (!parses_as_object(cur.document().raw())) return "a scan returned a document that does not parse";
        ids.push_back(cur.id());
      }
    }
    for (ferrite::DocId id : ids) {
      auto got = ferrite::sync_wait(db.get(name, id, buf));
      if (got && !parses_as_object(std::span<const std::byte>(buf.data(), *got))) return "get returned a document that does not parse";
    }
    // A query through each index of this collection (its first path).
    std::uint16_t cid = 0;
    for (const auto& c : db.config().collections)
      if (c.cid != 0 && c.name_view() == name) cid = c.cid;
    std::vector<std::string> paths;
    for (const auto& x : db.config().indexes)
      if (x.cid == cid && cid != 0 && x.path_count > 0) paths.emplace_back(x.path(0));
    for (const std::string& p : paths) {
      if (const char* why = drain(db.find(name, ferrite::doc::Query::path(p).exists()), out)) return why;
      if (const char* why = drain(db.find(name, ferrite::doc::Query::path(p).gte(0)), out)) return why;
      (void)ferrite::sync_wait(db.count(name, ferrite::doc::Query::path(p).gte("")));
      ferrite::doc::FindOptions sorted;
      sorted.sort_path = p;
      sorted.limit = 5;
      if (const char* why = drain(db.find(name, ferrite::doc::Query{}, sorted), out)) return why;
    }
    // One write on whatever is there.
    std::array<std::byte, 16> doc{};
    ferrite::doc::Writer w(doc);
    w.object(1).key("k").integer(1);
    if (auto v = w.finish()) (void)ferrite::sync_wait(db.insert(name, *v));
  }
  return nullptr;
}

}  // namespace doc_open_fuzz
