// ferrite-doc-bench — measures the document layer (ferrite.docstore) on the
// simulated NOR flash with the STM32F4 timing model, its RAM, and its host
// throughput against SQLite (JSON text + an expression index) in the same
// process. See "Documents" in bench/README.md for the method and results.
//
//   ferrite-doc-bench                   every part, tables on stdout
//   ferrite-doc-bench --json FILE       also the figures as one JSON object
//   ferrite-doc-bench --markdown FILE   also the README tables (markdown)
//   ferrite-doc-bench --quick           tiny sizes (the meson smoke test)
//   ferrite-doc-bench --only PART       device | ram | host
//   ferrite-doc-bench --commit HASH     recorded in the outputs
//
// Device figures are exact: counters of ferrite::sim::SimFlash and its
// device-time model. Host figures are thread CPU time, reported as ratios.
// Exit status: 0 when every run completed and every read verified, 1 when a
// run failed or read back wrong, 2 on bad arguments.
//
// A separate executable rather than part of ferrite-bench: it replaces the
// global operator new to count the heap a find cursor takes (which would
// perturb ferrite-bench's host timings), and it runs in seconds on its own.

// Every std / third-party header before the imports (module prologue rule).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "splitmix64.hpp"

#if FERRITE_BENCH_SQLITE
#include <sqlite3.h>
#endif

import ferrite;
import ferrite.sim;

// ---------------------------------------------------------------------------
// Heap accounting: every operator new / delete of the process goes through
// here (coroutine frames do not: they have their own counters,
// ferrite::frame_stats()). Used to measure what a FindCursor allocates.

namespace heap {
std::size_t live = 0, high = 0;
constexpr std::size_t head = 16;  // keeps max_align_t alignment
void* take(std::size_t n) noexcept {
  auto* p = static_cast<unsigned char*>(std::malloc(n + head));
  if (!p) return nullptr;
  std::memcpy(p, &n, sizeof n);
  live += n;
  high = std::max(high, live);
  return p + head;
}
void give(void* q) noexcept {
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - head;
  std::size_t n;
  std::memcpy(&n, p, sizeof n);
  live -= n;
  std::free(p);
}
void reset_high() noexcept { high = live; }
}  // namespace heap

void* operator new(std::size_t n) {
  void* p = heap::take(n);
  if (!p) std::abort();
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return heap::take(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return heap::take(n); }
void operator delete(void* p) noexcept { heap::give(p); }
void operator delete[](void* p) noexcept { heap::give(p); }
void operator delete(void* p, std::size_t) noexcept { heap::give(p); }
void operator delete[](void* p, std::size_t) noexcept { heap::give(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { heap::give(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { heap::give(p); }

namespace {

using ferrite::DocId;
using ferrite::Errc;
using ferrite::sync_wait;
using ferrite::doc::Query;
using ferrite::doc::View;

// ---------------------------------------------------------------------------
// Common

using bench_random::SplitMix64;
constexpr std::uint64_t seed = 0x5EEDC0FFEE;

double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string num(double v, int prec = 0) {
  if (std::isnan(v)) return "-";
  std::string s = fmt::format("{:.{}f}", v, prec);
  // thousands separators on the integer part
  const std::size_t dot = s.find('.');
  std::size_t end = dot == std::string::npos ? s.size() : dot;
  const std::size_t start = s[0] == '-' ? 1 : 0;
  for (std::ptrdiff_t i = static_cast<std::ptrdiff_t>(end) - 3; i > static_cast<std::ptrdiff_t>(start); i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}
std::string jnum(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

constexpr std::string_view collection = "patients";
constexpr std::uint32_t doc_bytes = 256;  // DocConfig::max_document_size of every run
constexpr std::size_t doc_slack = 8;      // DocStore::Impl::slack (a document value's header room)

/// A store and a docstore on a simulated flash, with caller-owned memory
/// sized by the run (as firmware would: no heap in the engine or the docstore).
struct Rig {
  Rig(std::uint32_t sectors, std::uint32_t sector_size, std::size_t keys, ferrite::sim::TimingModel timing,
      ferrite::ValueCodec* codec = nullptr)
      : geometry(make_geometry(sectors, sector_size)), sim(geometry, 1, timing), flash(sim) {
    index.resize(keys);
    order.resize(keys);
    sector_table.resize(sectors);
    config.index = index;
    config.order = order;  // the docstore walks key ranges: it needs the key-order permutation
    config.sectors = sector_table;
    config.max_value_size = doc_bytes + 16;
    if (codec) {
      scratch.resize(ferrite::Store::scratch_needed(config.max_value_size, codec->overhead()));
      config.codec = codec;
      config.scratch = scratch;
    }
    store.emplace(flash, config);
    // Caller memory for the docstore: one collection slot, two index slots
    // and the workspace for documents of doc_bytes.
    db.emplace(*store, memory.config(ferrite::Clock{[](void* c) noexcept { return *static_cast<std::int64_t*>(c); }, &now}));
  }
  static ferrite::Geometry make_geometry(std::uint32_t sectors, std::uint32_t size) {
    auto g = ferrite::Geometry::uniform(sectors, size, 4, ferrite::EraseValue::ones, /*reprogram_allowed=*/false);
    if (!g) {
      fmt::print(stderr, "ferrite-doc-bench: bad geometry {} x {}\n", sectors, size);
      std::exit(2);
    }
    return *g;
  }
  /// format, open, the collection and its indexes (0: none; 1: pid_ts =
  /// (patient_id, _ts); 2: also hr = heart_rate; `pid_only`: one index on
  /// patient_id alone, for the host comparison).
  Errc setup(int index_count, bool pid_only = false) {
    if (auto st = sync_wait(store->format()); !st) return st.error();
    if (auto st = sync_wait(db->open()); !st) return st.error();
    if (auto st = sync_wait(db->create_collection(collection)); !st) return st.error();
    if (pid_only) {
      ferrite::IndexSpec s;
      s.name = "pid";
      s.paths[0] = "patient_id";
      if (auto st = sync_wait(db->create_index(collection, s)); !st) return st.error();
      return Errc::ok;
    }
    if (index_count >= 1) {
      ferrite::IndexSpec s;
      s.name = "pid_ts";
      s.paths = {"patient_id", "_ts"};
      s.path_count = 2;
      if (auto st = sync_wait(db->create_index(collection, s)); !st) return st.error();
    }
    if (index_count >= 2) {
      ferrite::IndexSpec s;
      s.name = "hr";
      s.paths[0] = "heart_rate";
      if (auto st = sync_wait(db->create_index(collection, s)); !st) return st.error();
    }
    return Errc::ok;
  }
  std::size_t engine_keys() const { return store->stats().keys; }

  std::int64_t now = 1700000000;
  ferrite::Geometry geometry;
  ferrite::sim::SimFlash sim;
  ferrite::Flash flash;
  std::vector<ferrite::IndexEntry> index;
  std::vector<std::uint16_t> order;
  std::vector<ferrite::SectorInfo> sector_table;
  ferrite::StoreConfig config{};
  ferrite::DocStoreMemory<1, 2, doc_bytes> memory{};
  std::vector<std::byte> scratch;
  std::optional<ferrite::Store> store;
  std::optional<ferrite::DocStore> db;
};

/// One medical record in CBOR: {"patient_id": "P007", "heart_rate": 72, "blood_pressure": 120}.
struct Record {
  std::array<std::byte, 96> bytes{};
  std::size_t size = 0;
  View view() const { return *View::parse(std::span<const std::byte>(bytes.data(), size)); }
};
Record record(std::string_view patient, std::int64_t hr, std::int64_t bp) {
  Record r;
  ferrite::doc::Writer w(r.bytes);
  w.object(3).key("patient_id").string(patient).key("heart_rate").integer(hr).key("blood_pressure").integer(bp);
  if (!w.status()) std::abort();
  r.size = w.size();
  return r;
}
Record hr_patch(std::int64_t hr) {
  Record r;
  ferrite::doc::Writer w(r.bytes);
  w.object(1).key("heart_rate").integer(hr);
  r.size = w.size();
  return r;
}

/// Walks a find to its end; counts the documents and checks each one's patient_id.
Errc walk(ferrite::DocStore& db, const Query& q, std::string_view want_patient, std::span<std::byte> buffer,
          std::uint32_t& found, bool& wrong) {
  auto cur = db.find(collection, q, {}, buffer);
  for (;;) {
    auto more = sync_wait(cur.next());
    if (!more) return more.error();
    if (!*more) return Errc::ok;
    ++found;
    if (cur.document().get("patient_id").string() != want_patient) wrong = true;
  }
}

std::string patient_name(std::uint32_t i, int digits) { return fmt::format("P{:0{}}", i, digits); }

// ---------------------------------------------------------------------------
// Part 1: per-operation device cost on 4 x 16 KiB (STM32F4 timing)

struct OpStats {
  std::uint64_t ops = 0;
  double us = 0, us_max = 0;
  std::uint64_t programmed = 0, read = 0, erases = 0;
  double maint_us = 0, maint_max = 0;
  std::uint64_t maint_programmed = 0, maint_read = 0, maint_erases = 0;
  std::uint64_t found = 0;  // finds: documents returned
  double per(double total) const { return ops ? total / static_cast<double>(ops) : NAN; }
};

struct DeviceRun {
  int indexes = 0;
  bool maintain = false;
  bool ok = false;
  std::string error;
  OpStats insert, update, find, remove;
  std::uint32_t doc_cbor_bytes = 0;     // stored CBOR of one document (after insert, with _id/_ts/_v)
  std::uint32_t capacity_bytes = 0, live_bytes_full = 0;
  std::uint32_t gc_runs = 0, records_copied = 0, records_written = 0;  // the whole run (StoreStats)
  std::uint64_t programmed = 0, erases = 0;                            // the whole run, maintenance included
};

struct DeviceSizes {
  std::uint32_t docs = 100, patients = 10, update_rounds = 5;
};

DeviceRun run_device(int index_count, bool maintain, const DeviceSizes& z) {
  DeviceRun r;
  r.indexes = index_count;
  r.maintain = maintain;
  Rig rig(4, 16384, 512, ferrite::sim::TimingModel::stm32f4());
  if (Errc e = rig.setup(index_count); e != Errc::ok) {
    r.error = fmt::format("setup: {}", ferrite::name_of(e));
    return r;
  }
  r.capacity_bytes = rig.store->stats().capacity_bytes;
  rig.sim.reset_counters();
  const auto& c = rig.sim.counters();
  SplitMix64 rng{seed};
  std::vector<std::byte> buffer(doc_bytes + doc_slack);

  // Runs one operation (device figures into `s`), then maintain() when asked.
  auto measured = [&](OpStats& s, auto&& op) -> Errc {
    const double t0 = c.device_time_us;
    const auto p0 = c.bytes_programmed, r0 = c.bytes_read, e0 = c.erase_ops;
    Errc e = op();
    if (e != Errc::ok) return e;
    const double dt = c.device_time_us - t0;
    ++s.ops;
    s.us += dt;
    s.us_max = std::max(s.us_max, dt);
    s.programmed += c.bytes_programmed - p0;
    s.read += c.bytes_read - r0;
    s.erases += c.erase_ops - e0;
    if (maintain) {
      const double m0 = c.device_time_us;
      const auto mp = c.bytes_programmed, mr = c.bytes_read, me = c.erase_ops;
      auto rep = sync_wait(rig.store->maintain({.max_records = 8, .allow_erase = true}));
      if (!rep) return rep.error();
      const double md = c.device_time_us - m0;
      s.maint_us += md;
      s.maint_max = std::max(s.maint_max, md);
      s.maint_programmed += c.bytes_programmed - mp;
      s.maint_read += c.bytes_read - mr;
      s.maint_erases += c.erase_ops - me;
    }
    return Errc::ok;
  };
  auto fail = [&](std::string_view what, Errc e) {
    r.error = fmt::format("{}: {}", what, ferrite::name_of(e));
    return r;
  };

  // Inserts: document i belongs to patient i % patients; the clock advances 1 s per operation.
  std::vector<std::int64_t> hr(z.docs + 1);
  for (std::uint32_t i = 0; i < z.docs; ++i) {
    const std::string pid = patient_name(1 + i % z.patients, 3);
    hr[i + 1] = 55 + rng.below(50);
    const Record d = record(pid, hr[i + 1], 100 + rng.below(50));
    ++rig.now;
    Errc e = measured(r.insert, [&] {
      auto id = sync_wait(rig.db->insert(collection, d.view()));
      if (id && *id != i + 1) return Errc::corrupt;
      return id ? Errc::ok : id.error();
    });
    if (e != Errc::ok) return fail("insert", e);
  }
  {
    auto n = sync_wait(rig.db->get(collection, 1, buffer));
    if (!n) return fail("get", n.error());
    r.doc_cbor_bytes = static_cast<std::uint32_t>(*n);
    r.live_bytes_full = rig.store->stats().live_bytes;
  }
  // Updates: rounds x docs merge patches of heart_rate, by _id, in random order.
  for (std::uint32_t u = 0; u < z.update_rounds * z.docs; ++u) {
    const DocId id = 1 + rng.below(z.docs);
    hr[id] = 55 + rng.below(50);
    const Record p = hr_patch(hr[id]);
    ++rig.now;
    Errc e = measured(r.update, [&] {
      auto n = sync_wait(rig.db->update(collection, Query::path("_id").eq(static_cast<long long>(id)), p.view()));
      if (n && *n != 1) return Errc::corrupt;
      return n ? Errc::ok : n.error();
    });
    if (e != Errc::ok) return fail("update", e);
  }
  // Finds: every patient once by patient_id (docs / patients documents each), verified.
  for (std::uint32_t p = 1; p <= z.patients; ++p) {
    const std::string pid = patient_name(p, 3);
    std::uint32_t found = 0;
    bool wrong = false;
    Errc e = measured(r.find, [&] { return walk(*rig.db, Query::path("patient_id").eq(std::string_view(pid)), pid, buffer, found, wrong); });
    if (e != Errc::ok) return fail("find", e);
    if (wrong || found != z.docs / z.patients) {
      r.error = fmt::format("find {}: {} documents{}", pid, found, wrong ? ", a wrong one" : "");
      return r;
    }
    r.find.found += found;
  }
  // The final heart rates read back.
  for (DocId id = 1; id <= z.docs; ++id) {
    auto n = sync_wait(rig.db->get(collection, id, buffer));
    if (!n) return fail("get", n.error());
    auto v = View::parse(std::span<const std::byte>(buffer.data(), *n));
    if (!v || v->get("heart_rate").integer() != hr[id]) {
      r.error = fmt::format("document {} read back wrong", id);
      return r;
    }
  }
  // Removes: every document by _id, in random order.
  std::vector<DocId> ids(z.docs);
  for (std::uint32_t i = 0; i < z.docs; ++i) ids[i] = i + 1;
  for (std::uint32_t i = z.docs; i > 1; --i) std::swap(ids[i - 1], ids[rng.below(i)]);
  for (DocId id : ids) {
    ++rig.now;
    Errc e = measured(r.remove, [&] {
      auto n = sync_wait(rig.db->remove(collection, Query::path("_id").eq(static_cast<long long>(id))));
      if (n && *n != 1) return Errc::corrupt;
      return n ? Errc::ok : n.error();
    });
    if (e != Errc::ok) return fail("remove", e);
  }
  if (auto n = sync_wait(rig.db->count(collection, Query{})); !n || *n != 0) {
    r.error = "documents left after removing every one";
    return r;
  }
  const ferrite::StoreStats ss = rig.store->stats();
  r.gc_runs = ss.gc_runs;
  r.records_copied = ss.records_copied;
  r.records_written = ss.records_written;
  r.programmed = c.bytes_programmed;
  r.erases = c.erase_ops;
  r.ok = true;
  return r;
}

// ---------------------------------------------------------------------------
// Part 2: RAM (and flash) for 100 and 1,000 documents

struct RamRun {
  std::uint32_t docs = 0;
  int indexes = 0;
  bool ok = false;
  std::string error;
  std::uint32_t engine_keys = 0;        // Store::stats().keys (the docstore's meta and catalog records included)
  std::uint32_t engine_index_ram = 0;   // engine_keys x (sizeof(IndexEntry) + 2)
  std::uint32_t store_object = 0;       // sizeof(Store)
  std::uint32_t docstore_ram = 0;       // DocStore::ram_bytes()
  std::uint32_t collection_ram = 0;     // CollectionStats::ram_bytes
  std::uint32_t collection_keys = 0;    // CollectionStats::engine_keys
  std::uint32_t frames_insert = 0, largest_frame_insert = 0;
  std::uint32_t frames_find = 0, largest_frame_find = 0;
  std::uint32_t cursor_heap = 0;        // heap a FindCursor allocates (its State; the buffer is the caller's)
  std::uint32_t live_bytes = 0;         // StoreStats::live_bytes after the inserts
  std::uint32_t min_sectors = 0;        // smallest number of 16 KiB sectors that takes every insert
};

constexpr std::uint32_t ram_sectors = 16;

/// Inserts `docs` documents (patient i % (docs / 10)); false on no_space.
Errc fill(Rig& rig, std::uint32_t docs, SplitMix64& rng) {
  const std::uint32_t patients = std::max<std::uint32_t>(1, docs / 10);
  for (std::uint32_t i = 0; i < docs; ++i) {
    const Record d = record(patient_name(1 + i % patients, 4), 55 + rng.below(50), 100 + rng.below(50));
    ++rig.now;
    auto id = sync_wait(rig.db->insert(collection, d.view()));
    if (!id) return id.error();
  }
  return Errc::ok;
}

RamRun run_ram(std::uint32_t docs, int index_count) {
  RamRun r;
  r.docs = docs;
  r.indexes = index_count;
  const std::size_t keys = docs * (1 + index_count) + 64;
  {
    Rig rig(ram_sectors, 16384, keys, ferrite::sim::TimingModel::instant());
    if (Errc e = rig.setup(index_count); e != Errc::ok) {
      r.error = fmt::format("setup: {}", ferrite::name_of(e));
      return r;
    }
    SplitMix64 rng{seed};
    ferrite::reset_frame_stats();
    if (Errc e = fill(rig, docs, rng); e != Errc::ok) {
      r.error = fmt::format("insert on {} x 16 KiB: {}", ram_sectors, ferrite::name_of(e));
      return r;
    }
    auto fi = ferrite::frame_stats();
    r.frames_insert = static_cast<std::uint32_t>(fi.high_water_bytes);
    r.largest_frame_insert = static_cast<std::uint32_t>(fi.largest_frame);
    r.engine_keys = static_cast<std::uint32_t>(rig.engine_keys());
    r.engine_index_ram = r.engine_keys * static_cast<std::uint32_t>(sizeof(ferrite::IndexEntry) + sizeof(std::uint16_t));
    r.store_object = sizeof(ferrite::Store);
    r.docstore_ram = static_cast<std::uint32_t>(rig.db->ram_bytes());
    r.live_bytes = rig.store->stats().live_bytes;
    auto st = sync_wait(rig.db->stats(collection));
    if (!st) {
      r.error = fmt::format("stats: {}", ferrite::name_of(st.error()));
      return r;
    }
    r.collection_ram = st->ram_bytes;
    r.collection_keys = st->engine_keys;
    // A find of one patient (10 documents), buffer supplied by the caller.
    std::vector<std::byte> buffer(doc_bytes + doc_slack);
    const std::string pid = patient_name(1, 4);
    std::uint32_t found = 0;
    bool wrong = false;
    ferrite::reset_frame_stats();
    heap::reset_high();
    const std::size_t live0 = heap::live;
    Errc e = walk(*rig.db, Query::path("patient_id").eq(std::string_view(pid)), pid, buffer, found, wrong);
    auto ff = ferrite::frame_stats();
    r.cursor_heap = static_cast<std::uint32_t>(heap::high - live0);
    r.frames_find = static_cast<std::uint32_t>(ff.high_water_bytes);
    r.largest_frame_find = static_cast<std::uint32_t>(ff.largest_frame);
    if (e != Errc::ok || wrong || found != std::min<std::uint32_t>(docs, 10)) {
      r.error = fmt::format("find: {} documents ({})", found, ferrite::name_of(e));
      return r;
    }
  }
  // The smallest 16 KiB-sector store that takes every insert (inserts only, no maintenance).
  for (std::uint32_t n = 2; n <= 64 && !r.min_sectors; ++n) {
    Rig rig(n, 16384, keys, ferrite::sim::TimingModel::instant());
    if (rig.setup(index_count) != Errc::ok) continue;
    SplitMix64 rng{seed};
    Errc e = fill(rig, docs, rng);
    if (e == Errc::ok) r.min_sectors = n;
    else if (e != Errc::no_space) {
      r.error = fmt::format("insert on {} x 16 KiB: {}", n, ferrite::name_of(e));
      return r;
    }
  }
  r.ok = true;
  return r;
}

// ---------------------------------------------------------------------------
// Part 3: host, 10,000 JSON documents, ferrite vs SQLite

struct HostSizes {
  std::uint32_t docs = 10000, patients = 1000, lookups = 1000, rounds = 3;
};

struct HostData {
  std::vector<std::string> json;         // the documents as JSON text
  std::vector<std::uint32_t> patient;    // patient of each document
  std::vector<std::uint32_t> per_patient;
  std::vector<std::uint32_t> lookups;    // patients looked up
  std::uint64_t json_bytes = 0;
};

HostData host_data(const HostSizes& z) {
  HostData d;
  SplitMix64 rng{seed ^ 0x686F7374};
  d.per_patient.assign(z.patients, 0);
  std::uint64_t ts = 1700000000;
  for (std::uint32_t i = 0; i < z.docs; ++i) {
    const std::uint32_t p = rng.below(z.patients);
    ts += 1 + rng.below(30);
    d.json.push_back(fmt::format(R"({{"patient_id":"P{:04}","heart_rate":{},"blood_pressure":{},"ts":{}}})", p,
                                 55 + rng.below(50), 100 + rng.below(50), ts));
    d.json_bytes += d.json.back().size();
    d.patient.push_back(p);
    ++d.per_patient[p];
  }
  for (std::uint32_t i = 0; i < z.lookups; ++i) d.lookups.push_back(rng.below(z.patients));
  return d;
}

struct HostRow {
  std::string engine;
  bool ran = false;
  std::string note;
  double insert_ns = NAN, find_ns = NAN;  // thread CPU per insert / per lookup (median of rounds)
  double parse_ns = NAN;                  // ferrite: json_to_cbor alone, per document
  std::uint64_t found = 0;
};

struct HostResults {
  bool ran = false;
  std::vector<HostRow> rows;
  std::uint32_t docs = 0, lookups = 0, rounds = 0;
  double mean_json_bytes = 0, mean_found = 0;
  std::uint32_t sectors = 0, sector_size = 0;
  double load_start = 0, load_end = 0;
};

constexpr std::uint32_t host_sectors = 32, host_sector_size = 65536;

bool ferrite_host_round(const HostData& d, const HostSizes& z, HostRow& row, double& ins, double& fnd, double& parse) {
  Rig rig(host_sectors, host_sector_size, 2 * z.docs + 64, ferrite::sim::TimingModel::instant());
  if (Errc e = rig.setup(1, /*pid_only=*/true); e != Errc::ok) {
    row.note = fmt::format("setup: {}", ferrite::name_of(e));
    return false;
  }
  std::array<std::byte, doc_bytes> cbor{};
  // json_to_cbor alone (the parse share of an insert).
  double t0 = thread_cpu_ns();
  std::size_t sink = 0;
  for (const std::string& j : d.json) {
    auto n = ferrite::doc::json_to_cbor(j, cbor);
    if (!n) {
      row.note = fmt::format("json_to_cbor: {}", ferrite::name_of(n.error()));
      return false;
    }
    sink += *n;
  }
  parse = (thread_cpu_ns() - t0) / static_cast<double>(d.json.size());
  if (!sink) return false;
  // Inserts: parse + insert, one engine batch (one durable commit) each.
  t0 = thread_cpu_ns();
  for (const std::string& j : d.json) {
    auto n = ferrite::doc::json_to_cbor(j, cbor);
    if (!n) return false;
    auto v = View::parse(std::span<const std::byte>(cbor.data(), *n));
    if (!v) return false;
    ++rig.now;
    auto id = sync_wait(rig.db->insert(collection, *v));
    if (!id) {
      row.note = fmt::format("insert: {}", ferrite::name_of(id.error()));
      return false;
    }
  }
  ins = (thread_cpu_ns() - t0) / static_cast<double>(d.json.size());
  // Lookups: every matching document is read (its heart_rate summed).
  std::vector<std::byte> buffer(doc_bytes + doc_slack);
  std::uint64_t found = 0, wrong = 0;
  std::int64_t sum = 0;
  t0 = thread_cpu_ns();
  for (std::uint32_t p : d.lookups) {
    const std::string pid = patient_name(p, 4);
    auto cur = rig.db->find(collection, Query::path("patient_id").eq(std::string_view(pid)), {}, buffer);
    std::uint32_t n = 0;
    for (;;) {
      auto more = sync_wait(cur.next());
      if (!more) {
        row.note = fmt::format("find: {}", ferrite::name_of(more.error()));
        return false;
      }
      if (!*more) break;
      ++n;
      sum += cur.document().get("heart_rate").integer();
    }
    found += n;
    wrong += n != d.per_patient[p];
  }
  fnd = (thread_cpu_ns() - t0) / static_cast<double>(d.lookups.size());
  if (wrong || sum <= 0) {
    row.note = fmt::format("{} lookups returned the wrong number of documents", wrong);
    return false;
  }
  row.found = found;
  return true;
}

HostRow ferrite_host(const HostData& d, const HostSizes& z) {
  HostRow row;
  row.engine = fmt::format("ferrite (SimFlash, instant timing, {} x {} KiB, index on patient_id)", host_sectors,
                           host_sector_size / 1024);
  std::vector<double> ins, fnd, parse;
  for (std::uint32_t r = 0; r < z.rounds; ++r) {
    double a, b, c;
    if (!ferrite_host_round(d, z, row, a, b, c)) return row;
    ins.push_back(a);
    fnd.push_back(b);
    parse.push_back(c);
  }
  row.ran = true;
  row.insert_ns = median(ins);
  row.find_ns = median(fnd);
  row.parse_ns = median(parse);
  return row;
}

#if FERRITE_BENCH_SQLITE
HostRow sqlite_host(const HostData& d, const HostSizes& z, bool batched) {
  HostRow row;
  row.engine = batched ? "SQLite (WAL, synchronous=NORMAL, all inserts in one transaction)"
                       : "SQLite (WAL, synchronous=NORMAL, one transaction per insert)";
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::vector<double> ins, fnd;
  for (std::uint32_t round = 0; round < z.rounds; ++round) {
    const std::string dir = fmt::format("{}/ferrite-doc-bench-{}-{}", base, ::getpid(), round);
    ::mkdir(dir.c_str(), 0700);
    const std::string path = dir + "/docs.db";
    sqlite3* db = nullptr;
    bool ok = sqlite3_open(path.c_str(), &db) == SQLITE_OK;
    auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; };
    ok = ok && exec("PRAGMA journal_mode=WAL") && exec("PRAGMA synchronous=NORMAL") &&
         exec("CREATE TABLE t (id INTEGER PRIMARY KEY, doc TEXT)") &&
         exec("CREATE INDEX t_pid ON t (json_extract(doc, '$.patient_id'))");
    sqlite3_stmt* put = nullptr;
    sqlite3_stmt* get = nullptr;
    ok = ok && sqlite3_prepare_v2(db, "INSERT INTO t (doc) VALUES (?1)", -1, &put, nullptr) == SQLITE_OK &&
         sqlite3_prepare_v2(db, "SELECT doc FROM t WHERE json_extract(doc, '$.patient_id') = ?1", -1, &get,
                            nullptr) == SQLITE_OK;
    if (ok && round == 0) {  // the lookups must use the index
      sqlite3_stmt* plan = nullptr;
      ok = sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT doc FROM t WHERE json_extract(doc, '$.patient_id') = 'P0001'",
                              -1, &plan, nullptr) == SQLITE_OK;
      std::string detail;
      while (ok && sqlite3_step(plan) == SQLITE_ROW)
        detail += reinterpret_cast<const char*>(sqlite3_column_text(plan, 3));
      sqlite3_finalize(plan);
      if (detail.find("USING INDEX t_pid") == std::string::npos) {
        row.note = "query plan does not use the index: " + detail;
        ok = false;
      }
    }
    double t0 = thread_cpu_ns();
    if (ok && batched) ok = exec("BEGIN");
    for (std::size_t i = 0; ok && i < d.json.size(); ++i) {
      sqlite3_bind_text(put, 1, d.json[i].data(), static_cast<int>(d.json[i].size()), SQLITE_STATIC);
      ok = sqlite3_step(put) == SQLITE_DONE;
      sqlite3_reset(put);
    }
    if (ok && batched) ok = exec("COMMIT");
    const double t_ins = (thread_cpu_ns() - t0) / static_cast<double>(d.json.size());
    std::uint64_t found = 0, wrong = 0, bytes = 0;
    t0 = thread_cpu_ns();
    for (std::size_t i = 0; ok && i < d.lookups.size(); ++i) {
      const std::uint32_t p = d.lookups[i];
      const std::string pid = patient_name(p, 4);
      sqlite3_bind_text(get, 1, pid.data(), static_cast<int>(pid.size()), SQLITE_STATIC);
      std::uint32_t n = 0;
      int rc;
      while ((rc = sqlite3_step(get)) == SQLITE_ROW) {
        ++n;
        bytes += static_cast<std::uint64_t>(sqlite3_column_bytes(get, 0));
      }
      ok = rc == SQLITE_DONE;
      sqlite3_reset(get);
      found += n;
      wrong += n != d.per_patient[p];
    }
    const double t_find = (thread_cpu_ns() - t0) / static_cast<double>(d.lookups.size());
    if (!ok && row.note.empty()) row.note = fmt::format("failed: {}", sqlite3_errmsg(db));
    if (ok && (wrong || !bytes)) {
      row.note = fmt::format("{} lookups returned the wrong number of documents", wrong);
      ok = false;
    }
    sqlite3_finalize(put);
    sqlite3_finalize(get);
    sqlite3_close(db);
    for (const char* f : {"/docs.db", "/docs.db-wal", "/docs.db-shm"}) ::unlink((dir + f).c_str());
    ::rmdir(dir.c_str());
    if (!ok) return row;
    ins.push_back(t_ins);
    fnd.push_back(t_find);
    row.found = found;
  }
  row.ran = true;
  row.note = std::string(base == std::string_view("/dev/shm") ? "tmpfs" : "/tmp") + ", SQLite " + sqlite3_libversion();
  row.insert_ns = median(ins);
  row.find_ns = median(fnd);
  return row;
}
#endif

double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : NAN;
}

HostResults run_host(const HostSizes& z) {
  HostResults h;
  h.ran = true;
  h.docs = z.docs;
  h.lookups = z.lookups;
  h.rounds = z.rounds;
  h.sectors = host_sectors;
  h.sector_size = host_sector_size;
  h.load_start = load_average();
  const HostData d = host_data(z);
  h.mean_json_bytes = static_cast<double>(d.json_bytes) / static_cast<double>(d.json.size());
  h.rows.push_back(ferrite_host(d, z));
#if FERRITE_BENCH_SQLITE
  h.rows.push_back(sqlite_host(d, z, false));
  h.rows.push_back(sqlite_host(d, z, true));
#else
  h.rows.push_back(HostRow{"SQLite", false, "not built (no sqlite3 found by meson)"});
#endif
  if (h.rows.front().ran) h.mean_found = static_cast<double>(h.rows.front().found) / z.lookups;
  h.load_end = load_average();
  return h;
}

// ---------------------------------------------------------------------------
// Output

struct Out {
  std::string md, json;
};

// ---------------------------------------------------------------------------
// Part 4: sealed docstores, collection names shown or hidden (FORMAT.md §3.7)

struct SealedRun {
  std::string label;
  bool ok = false;
  std::string error;
  OpStats insert;
  double host_cpu_ns = 0;                     // thread CPU per insert (the simulated flash costs no time)
  std::size_t catalog_key = 0, doc_key = 0;   // bytes of the collection record's and a document's key as stored
  std::uint32_t live_bytes = 0;
};

#if FERRITE_HAVE_CRYPTO
enum class Sealing { none, names_shown, names_hidden };

SealedRun run_sealed(Sealing how, std::uint32_t docs) {
  SealedRun r;
  r.label = how == Sealing::none           ? "plain store"
            : how == Sealing::names_shown ? "sealed, names shown"
                                          : "sealed, names hidden (docstore_key_prefix)";
  ferrite::SealOptions o;
  if (how == Sealing::names_hidden) {
    o.hide_keys = true;
    o.plain_prefix = ferrite::docstore_key_prefix;
  }
  ferrite::Sealer sealer(o);
  std::array<std::byte, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 13 + 5);
  (void)sealer.use_key(key);
  Rig rig(4, 16384, 512, ferrite::sim::TimingModel::stm32f4(), how == Sealing::none ? nullptr : &sealer);
  if (Errc e = rig.setup(1); e != Errc::ok) {
    r.error = fmt::format("setup: {}", ferrite::name_of(e));
    return r;
  }
  rig.sim.reset_counters();
  const auto& c = rig.sim.counters();
  SplitMix64 rng{seed};
  double cpu = 0;
  for (std::uint32_t i = 0; i < docs; ++i) {
    const Record d = record(patient_name(1 + i % 10, 3), 55 + rng.below(50), 100 + rng.below(50));
    ++rig.now;
    const double t0 = c.device_time_us, cpu0 = thread_cpu_ns();
    const auto p0 = c.bytes_programmed, e0 = c.erase_ops;
    auto id = sync_wait(rig.db->insert(collection, d.view()));
    cpu += thread_cpu_ns() - cpu0;
    if (!id) {
      r.error = fmt::format("insert: {}", ferrite::name_of(id.error()));
      return r;
    }
    const double dt = c.device_time_us - t0;
    ++r.insert.ops;
    r.insert.us += dt;
    r.insert.us_max = std::max(r.insert.us_max, dt);
    r.insert.programmed += c.bytes_programmed - p0;
    r.insert.erases += c.erase_ops - e0;
  }
  r.host_cpu_ns = cpu / static_cast<double>(std::max<std::uint32_t>(1, docs));
  std::array<std::byte, 64> stored{};
  const std::string catalog = "\xFE" "C" + std::string(collection);
  r.catalog_key = rig.store->stored_name(ferrite::as_bytes(catalog), stored).value_or(0);
  const std::array<std::byte, 8> doc{std::byte{0xFE}, std::byte{'D'}, std::byte{0}, std::byte{1},
                                     std::byte{0},    std::byte{0},   std::byte{0}, std::byte{1}};
  r.doc_key = rig.store->stored_name(doc, stored).value_or(0);
  r.live_bytes = rig.store->stats().live_bytes;
  rig.db.reset();
  rig.store.reset();
  r.ok = true;
  return r;
}
#endif

void sealed_output(const std::vector<SealedRun>& runs, std::uint32_t docs, Out& out) {
  std::string t = fmt::format(
      "\n**Sealed docstores** ({} inserts of the medical record into `patients`, one index `pid_ts` (hashed when "
      "sealed), 4 x 16 KiB, STM32F4 timing; the MCU's CPU time for the crypto is not in the device figure)\n\n",
      docs);
  t += "| store | device us per insert | bytes programmed per insert | host CPU ns per insert | collection key B | "
       "document key B | live flash B |\n";
  t += "|---|---|---|---|---|---|---|\n";
  std::string j = "[";
  for (const SealedRun& r : runs) {
    if (!r.ok) {
      t += fmt::format("| {} | FAILED: {} ||||||\n", r.label, r.error);
      continue;
    }
    t += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", r.label, num(r.insert.per(r.insert.us), 1),
                     num(r.insert.per(static_cast<double>(r.insert.programmed)), 1), num(r.host_cpu_ns),
                     r.catalog_key, r.doc_key, num(r.live_bytes));
    j += fmt::format("{}{{\"store\": \"{}\", \"insert_us\": {}, \"insert_programmed\": {}, \"host_cpu_ns\": {}, "
                     "\"collection_key\": {}, \"document_key\": {}, \"live_bytes\": {}}}",
                     j.size() > 1 ? ",\n    " : "", r.label, jnum(r.insert.per(r.insert.us)),
                     jnum(r.insert.per(static_cast<double>(r.insert.programmed))), jnum(r.host_cpu_ns), r.catalog_key,
                     r.doc_key, r.live_bytes);
  }
  j += "]";
  out.md += t;
  out.json += ",\n  \"sealed\": " + j;
}

const char* idx_name(int n) { return n == 0 ? "none" : n == 1 ? "pid_ts" : "pid_ts + hr"; }

void device_output(const std::vector<DeviceRun>& runs, const DeviceSizes& z, Out& out) {
  std::string t;
  t += fmt::format("**Per operation on 4 x 16 KiB (STM32F4 timing; {} documents of {} patients, {} heart-rate "
                   "updates, {} finds, {} removes)**\n\n",
                   z.docs, z.patients, z.update_rounds * z.docs, z.patients, z.docs);
  t += "| indexes | maintain | op | device us/op | max us | B programmed/op | B read/op | erases | maint us/op | "
       "maint max us | maint B programmed/op | maint erases |\n";
  t += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string j = "[";
  for (const DeviceRun& r : runs) {
    if (!r.ok) {
      t += fmt::format("| {} | {} | FAILED: {} |||||||||\n", idx_name(r.indexes), r.maintain ? "yes" : "no", r.error);
      j += fmt::format("{}{{\"indexes\": {}, \"maintain\": {}, \"error\": \"{}\"}}", j.size() > 1 ? ",\n    " : "",
                       r.indexes, r.maintain, r.error);
      continue;
    }
    std::string jo = fmt::format("{{\"indexes\": {}, \"maintain\": {}, \"doc_cbor_bytes\": {}, \"capacity_bytes\": {}, "
                                 "\"live_bytes_after_inserts\": {}, \"gc_runs\": {}, \"records_copied\": {}, "
                                 "\"records_written\": {}, \"run_bytes_programmed\": {}, \"run_erases\": {}",
                                 r.indexes, r.maintain, r.doc_cbor_bytes, r.capacity_bytes, r.live_bytes_full,
                                 r.gc_runs, r.records_copied, r.records_written, r.programmed, r.erases);
    for (auto [name, s] : {std::pair<const char*, const OpStats*>{"insert", &r.insert}, {"update", &r.update},
                           {"find", &r.find}, {"remove", &r.remove}}) {
      const bool find = std::string_view(name) == "find";
      const double per_doc_read = find && s->found ? static_cast<double>(s->read) / static_cast<double>(s->found) : NAN;
      const double per_doc_us = find && s->found ? s->us / static_cast<double>(s->found) : NAN;
      t += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", idx_name(r.indexes),
                       r.maintain ? "yes" : "no",
                       find ? fmt::format("find (per doc: {} us, {} B read)", num(per_doc_us, 1), num(per_doc_read, 1))
                            : std::string(name),
                       num(s->per(s->us), 1), num(s->us_max, 0), num(s->per(static_cast<double>(s->programmed)), 1),
                       num(s->per(static_cast<double>(s->read)), 1), s->erases,
                       r.maintain ? num(s->per(s->maint_us), 1) : "-", r.maintain ? num(s->maint_max, 0) : "-",
                       r.maintain ? num(s->per(static_cast<double>(s->maint_programmed)), 1) : "-",
                       r.maintain ? std::to_string(s->maint_erases) : "-");
      jo += fmt::format(", \"{}\": {{\"ops\": {}, \"device_us_mean\": {}, \"device_us_max\": {}, \"programmed_per_op\": {}, "
                        "\"read_per_op\": {}, \"erases\": {}, \"maintain_us_mean\": {}, \"maintain_us_max\": {}, "
                        "\"maintain_programmed_per_op\": {}, \"maintain_erases\": {}, \"found\": {}, "
                        "\"read_per_found_doc\": {}, \"us_per_found_doc\": {}}}",
                        name, s->ops, jnum(s->per(s->us)), jnum(s->us_max),
                        jnum(s->per(static_cast<double>(s->programmed))), jnum(s->per(static_cast<double>(s->read))),
                        s->erases, jnum(r.maintain ? s->per(s->maint_us) : NAN), jnum(r.maintain ? s->maint_max : NAN),
                        jnum(r.maintain ? s->per(static_cast<double>(s->maint_programmed)) : NAN), s->maint_erases,
                        s->found, jnum(per_doc_read), jnum(per_doc_us));
    }
    j += (j.size() > 1 ? ",\n    " : "") + jo + "}";
  }
  j += "]";
  t += "\n| indexes | maintain | whole run: B programmed | erases | GC runs | records copied | records written | "
       "live B after inserts |\n|---|---|---|---|---|---|---|---|\n";
  for (const DeviceRun& r : runs)
    if (r.ok)
      t += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", idx_name(r.indexes), r.maintain ? "yes" : "no",
                       num(static_cast<double>(r.programmed)), r.erases, r.gc_runs, num(r.records_copied),
                       num(r.records_written), num(r.live_bytes_full));
  for (const DeviceRun& r : runs)
    if (r.ok) {
      t += fmt::format("\nStored document: {} B of CBOR (`_id`, `_ts`, `_v` + the 3 fields); store capacity {} B "
                       "(StoreStats::capacity_bytes, 4 x 16 KiB, max_value_size {}).\n",
                       r.doc_cbor_bytes, r.capacity_bytes, doc_bytes + 16);
      break;
    }
  out.md += t;
  out.json += ",\n  \"device\": " + j;
}

void ram_output(const std::vector<RamRun>& runs, Out& out) {
  std::string t = fmt::format(
      "\n**RAM and flash for 100 and 1,000 documents** (x86-64 sizes; inserts on {} x 16 KiB; one find of 10 "
      "documents)\n\n",
      ram_sectors);
  t += "| docs | indexes | engine keys | engine index B (keys x 14) | CollectionStats::ram_bytes | DocStore::ram_bytes() | "
       "frames insert B | frames find B | find cursor heap B | live flash B | min 16 KiB sectors |\n";
  t += "|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string j = "[";
  for (const RamRun& r : runs) {
    if (!r.ok) {
      t += fmt::format("| {} | {} | FAILED: {} |||||||||\n", r.docs, idx_name(r.indexes), r.error);
      j += fmt::format("{}{{\"docs\": {}, \"indexes\": {}, \"error\": \"{}\"}}", j.size() > 1 ? ",\n    " : "", r.docs,
                       r.indexes, r.error);
      continue;
    }
    t += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", num(r.docs), idx_name(r.indexes),
                     num(r.engine_keys), num(r.engine_index_ram), num(r.collection_ram), num(r.docstore_ram),
                     num(r.frames_insert), num(r.frames_find), num(r.cursor_heap), num(r.live_bytes), r.min_sectors);
    j += fmt::format(
        "{}{{\"docs\": {}, \"indexes\": {}, \"engine_keys\": {}, \"engine_index_ram\": {}, \"store_object\": {}, "
        "\"docstore_ram\": {}, \"collection_ram\": {}, \"collection_keys\": {}, \"frames_insert\": {}, "
        "\"largest_frame_insert\": {}, \"frames_find\": {}, \"largest_frame_find\": {}, \"cursor_heap\": {}, "
        "\"live_bytes\": {}, \"min_16k_sectors\": {}}}",
        j.size() > 1 ? ",\n    " : "", r.docs, r.indexes, r.engine_keys, r.engine_index_ram, r.store_object,
        r.docstore_ram, r.collection_ram, r.collection_keys, r.frames_insert, r.largest_frame_insert, r.frames_find,
        r.largest_frame_find, r.cursor_heap, r.live_bytes, r.min_sectors);
  }
  j += "]";
  if (!runs.empty() && runs.front().ok)
    t += fmt::format("\n`sizeof(Store)` = {} B (add it and the sector table, {} B per sector, to the engine figure); "
                     "largest single frame: {} B (insert), {} B (find).\n",
                     runs.front().store_object, sizeof(ferrite::SectorInfo), runs.back().largest_frame_insert,
                     runs.back().largest_frame_find);
  out.md += t;
  out.json += ",\n  \"ram\": " + j;
}

void host_output(const HostResults& h, Out& out) {
  if (!h.ran) return;
  std::string t = fmt::format(
      "\n**Host: {} JSON documents (mean {:.1f} B), {} equality lookups on patient_id (mean {:.1f} documents each); "
      "thread CPU time, median of {} rounds; host 1-min load {:.1f} -> {:.1f}**\n\n",
      num(h.docs), h.mean_json_bytes, num(h.lookups), h.mean_found, h.rounds, h.load_start, h.load_end);
  t += "| engine | insert us | ferrite/x | lookup us | ferrite/x | note |\n|---|---|---|---|---|---|\n";
  const HostRow& f = h.rows.front();
  std::string j = "[";
  for (const HostRow& r : h.rows) {
    if (!r.ran) {
      t += fmt::format("| {} | skipped | | | | {} |\n", r.engine, r.note);
      j += fmt::format("{}{{\"engine\": \"{}\", \"ran\": false, \"note\": \"{}\"}}", j.size() > 1 ? ", " : "", r.engine,
                       r.note);
      continue;
    }
    const double ri = f.ran ? f.insert_ns / r.insert_ns : NAN, rf = f.ran ? f.find_ns / r.find_ns : NAN;
    std::string note = r.note;
    if (!std::isnan(r.parse_ns))
      note = fmt::format("json_to_cbor alone: {} us per document ({:.0f} % of an insert)", num(r.parse_ns / 1000, 2),
                         100 * r.parse_ns / r.insert_ns);
    t += fmt::format("| {} | {} | {} | {} | {} | {} |\n", r.engine, num(r.insert_ns / 1000, 2), num(ri, 2),
                     num(r.find_ns / 1000, 2), num(rf, 2), note);
    j += fmt::format("{}{{\"engine\": \"{}\", \"ran\": true, \"insert_cpu_ns\": {}, \"find_cpu_ns\": {}, "
                     "\"parse_cpu_ns\": {}, \"ferrite_over_insert\": {}, \"ferrite_over_find\": {}, \"found\": {}, "
                     "\"note\": \"{}\"}}",
                     j.size() > 1 ? ",\n    " : "", r.engine, jnum(r.insert_ns), jnum(r.find_ns), jnum(r.parse_ns),
                     jnum(ri), jnum(rf), r.found, r.note);
  }
  j += "]";
  t += "\n(ferrite/x: ferrite CPU time / that engine's CPU time: > 1 means ferrite is slower.)\n";
  out.md += t;
  out.json += fmt::format(",\n  \"host\": {{\"docs\": {}, \"lookups\": {}, \"rounds\": {}, \"mean_json_bytes\": {}, "
                          "\"mean_found\": {}, \"sectors\": {}, \"sector_size\": {}, \"load_start\": {}, "
                          "\"load_end\": {}, \"rows\": {}}}",
                          h.docs, h.lookups, h.rounds, jnum(h.mean_json_bytes), jnum(h.mean_found), h.sectors,
                          h.sector_size, jnum(h.load_start), jnum(h.load_end), j);
}

bool write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}


}  // namespace

int main(int argc, char** argv) {
  std::string json_path, md_path, only, commit = "unknown";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "ferrite-doc-bench: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") json_path = value();
    else if (a == "--markdown") md_path = value();
    else if (a == "--only") only = value();
    else if (a == "--commit") commit = value();
    else if (a == "--quick") quick = true;
    else if (a == "-h" || a == "--help") {
      fmt::print("usage: ferrite-doc-bench [--quick] [--json FILE] [--markdown FILE] [--only device|ram|host|sealed] "
                 "[--commit HASH]\n");
      return 0;
    } else {
      fmt::print(stderr, "ferrite-doc-bench: unknown argument '{}' (try --help)\n", a);
      return 2;
    }
  }
  if (!only.empty() && only != "device" && only != "ram" && only != "host" && only != "sealed") {
    fmt::print(stderr, "ferrite-doc-bench: --only takes device, ram, host or sealed\n");
    return 2;
  }
  auto wanted = [&](std::string_view part) { return only.empty() || only == part; };
  bool all_ok = true;
  Out out;
  out.md = fmt::format("Results of `ferrite-doc-bench{}` at commit `{}`.\n\n", quick ? " --quick" : "", commit);

  if (wanted("device")) {
    DeviceSizes z;
    if (quick) z = {20, 2, 1};
    std::vector<DeviceRun> runs;
    for (bool m : {false, true})
      for (int n : {0, 1, 2}) {
        runs.push_back(run_device(n, m, z));
        if (!runs.back().ok) {
          all_ok = false;
          fmt::print(stderr, "ferrite-doc-bench: device run ({} indexes{}) failed: {}\n", n, m ? ", maintain" : "",
                     runs.back().error);
        }
      }
    device_output(runs, z, out);
  }
  if (wanted("ram")) {
    std::vector<RamRun> runs;
    for (std::uint32_t docs : {100u, 1000u}) {
      if (quick && docs > 100) continue;
      for (int n : {0, 1, 2}) {
        runs.push_back(run_ram(docs, n));
        if (!runs.back().ok) {
          all_ok = false;
          fmt::print(stderr, "ferrite-doc-bench: RAM run ({} docs, {} indexes) failed: {}\n", docs, n, runs.back().error);
        }
      }
    }
    ram_output(runs, out);
  }
  if (wanted("host")) {
    HostSizes z;
    if (quick) z = {500, 50, 50, 1};
    const HostResults h = run_host(z);
    for (const HostRow& r : h.rows)
      if (!r.ran && r.engine.starts_with("ferrite")) {
        all_ok = false;
        fmt::print(stderr, "ferrite-doc-bench: host run failed: {}\n", r.note);
      }
    host_output(h, out);
  }
#if FERRITE_HAVE_CRYPTO
  if (wanted("sealed")) {
    const std::uint32_t docs = quick ? 40 : 200;  // two engine keys each: within the 512-key index
    std::vector<SealedRun> runs;
    for (Sealing how : {Sealing::none, Sealing::names_shown, Sealing::names_hidden}) {
      runs.push_back(run_sealed(how, docs));
      if (!runs.back().ok) {
        all_ok = false;
        fmt::print(stderr, "ferrite-doc-bench: sealed run ({}) failed: {}\n", runs.back().label, runs.back().error);
      }
    }
    sealed_output(runs, docs, out);
  }
#endif
  fmt::print("{}", out.md);
  const std::string json = fmt::format("{{\"_meta\": {{\"commit\": \"{}\", \"mode\": \"{}\", \"seed\": {}}}{}\n}}\n",
                                       commit, quick ? "quick" : "full", seed, out.json);
  if (!json_path.empty() && !write_file(json_path, json)) {
    fmt::print(stderr, "ferrite-doc-bench: cannot write {}\n", json_path);
    return 1;
  }
  if (!md_path.empty() && !write_file(md_path, out.md)) {
    fmt::print(stderr, "ferrite-doc-bench: cannot write {}\n", md_path);
    return 1;
  }
  return all_ok ? 0 : 1;
}
