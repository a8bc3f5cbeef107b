// ferrite-backup-bench — host throughput of backups and restores
// (ferrite.backup): a docstore of N documents with one index on the
// simulated flash, backed up in full to RAM, verified, restored into a second
// partition, then opened (which rebuilds the index), plain and sealed. See
// "Backups" in bench/README.md.
//
//   ferrite-backup-bench            10,000 documents
//   ferrite-backup-bench --quick    500 (the meson smoke test)
//   ferrite-backup-bench --docs N
//
// Figures are host wall-clock time of the whole call (the simulated flash
// is RAM, so this is ferrite's CPU cost: framing, hashing or sealing, the
// engine's reads and batches), best of 3 runs. Exit status: 0 when every
// run completed and the restored store matched, 1 otherwise.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

import ferrite;
import ferrite.sim;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::array<std::byte, 32> key_bytes() {
  std::array<std::byte, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i * 13 + 5);
  return k;
}

struct Node {
  Node(ferrite::Flash f, ferrite::Sealer* sealer) : flash(f), index(40000), order(40000), sectors(64) {
    config.index = index;
    config.order = order;
    config.sectors = sectors;
    config.max_value_size = 1024;
    if (sealer) {
      scratch.resize(ferrite::Store::scratch_needed(1024, sealer->overhead()));
      config.codec = sealer;
      config.scratch = scratch;
    }
    store.emplace(flash, config);
  }
  ferrite::Flash flash;
  std::vector<ferrite::IndexEntry> index;
  std::vector<std::uint16_t> order;
  std::vector<ferrite::SectorInfo> sectors;
  std::vector<std::byte> scratch;
  ferrite::StoreConfig config{};
  std::optional<ferrite::Store> store;
};

ferrite::Flash part(ferrite::sim::SimFlash& sim, std::uint32_t first, std::uint32_t count) {
  auto f = ferrite::Flash::partition(sim, first, count);
  if (!f) std::abort();
  return *f;
}

std::vector<std::byte> document(int i) {
  std::vector<std::byte> out(512);
  ferrite::doc::Writer w(out);
  w.object(4);
  w.key("sensor");
  w.integer(i % 97);
  w.key("reading");
  w.real(20.0 + (i % 1000) * 0.01);
  w.key("label");
  const std::string label = "device-" + std::to_string(i) + "-" + std::string(40, 'x');
  w.string(label);
  w.key("ok");
  w.boolean(i % 7 != 0);
  out.resize(w.size());
  return out;
}

struct Figures {
  double backup_s = 1e9, verify_s = 1e9, restore_s = 1e9, open_s = 1e9;
  std::uint64_t entries = 0, stream_bytes = 0, entry_bytes = 0;
  bool ok = true;
};

Figures run(int docs, bool sealed) {
  Figures best;
  for (int round = 0; round < 3; ++round) {
    auto g = ferrite::Geometry::uniform(128, 65536, 4, ferrite::EraseValue::ones, false);
    if (!g) std::abort();
    ferrite::sim::SimFlash sim(*g);
    std::unique_ptr<ferrite::Sealer> s1, s2, reader;
    if (sealed) {
      s1 = std::make_unique<ferrite::Sealer>();
      s2 = std::make_unique<ferrite::Sealer>();
      reader = std::make_unique<ferrite::Sealer>();
      if (!s1->use_key(key_bytes()) || !s2->use_key(key_bytes()) || !reader->use_key(key_bytes())) std::abort();
    }
    Node source(part(sim, 0, 64), s1.get()), target(part(sim, 64, 64), s2.get());
    if (!ferrite::sync_wait(source.store->format())) return best.ok = false, best;
    std::vector<std::byte> workspace(ferrite::workspace_needed(4096));
    ferrite::DocConfig dc;
    dc.workspace = workspace;
    ferrite::DocStore db(*source.store, dc);
    if (!ferrite::sync_wait(db.open())) return best.ok = false, best;
    ferrite::IndexSpec spec;
    spec.name = "by_sensor";
    spec.paths[0] = "sensor";
    if (!ferrite::sync_wait(db.create_index("readings", spec))) return best.ok = false, best;
    for (int i = 0; i < docs; ++i) {
      const auto d = document(i);
      auto v = ferrite::doc::View::parse(d);
      if (!v || !ferrite::sync_wait(db.insert("readings", *v))) return best.ok = false, best;
    }

    ferrite::MemorySink sink;
    sink.buffer().reserve(std::size_t(docs) * 200);
    ferrite::BackupOptions o;
    o.sealer = s1.get();
    auto t = Clock::now();
    auto summary = ferrite::sync_wait(ferrite::backup(db, sink, o));
    const double backup_s = seconds_since(t);
    if (!summary) return best.ok = false, best;

    ferrite::MemorySource source_bytes(sink.bytes());
    t = Clock::now();
    const auto verdict = ferrite::sync_wait(ferrite::verify(source_bytes, reader.get()));
    const double verify_s = seconds_since(t);
    if (!verdict) return best.ok = false, best;

    ferrite::ByteSource* chain[] = {&source_bytes};
    ferrite::RestoreOptions ro;
    ro.sealer = reader.get();
    t = Clock::now();
    const auto restored = ferrite::sync_wait(ferrite::restore(chain, *target.store, ro));
    const double restore_s = seconds_since(t);
    if (!restored) return best.ok = false, best;

    std::vector<std::byte> workspace2(ferrite::workspace_needed(4096));
    ferrite::DocConfig dc2;
    dc2.workspace = workspace2;
    ferrite::DocStore copy(*target.store, dc2);
    t = Clock::now();
    const auto opened = ferrite::sync_wait(copy.open());
    const double open_s = seconds_since(t);
    if (!opened) return best.ok = false, best;
    auto n = ferrite::sync_wait(copy.count("readings", ferrite::doc::Query{}));
    if (!n || *n != static_cast<std::uint32_t>(docs)) return best.ok = false, best;

    best.backup_s = std::min(best.backup_s, backup_s);
    best.verify_s = std::min(best.verify_s, verify_s);
    best.restore_s = std::min(best.restore_s, restore_s);
    best.open_s = std::min(best.open_s, open_s);
    best.entries = summary->entries;
    best.stream_bytes = summary->stream_bytes;
    best.entry_bytes = summary->entry_bytes;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int docs = 10000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) docs = 500;
    else if (std::strcmp(argv[i], "--docs") == 0 && i + 1 < argc) docs = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: ferrite-backup-bench [--quick] [--docs N]\n");
      return 2;
    }
  }
  std::printf("%d documents (one index), full backup of the docstore to RAM, best of 3\n\n", docs);
  std::printf("| stream | entries | stream bytes | backup MB/s | backup entries/s | verify MB/s | restore MB/s |"
              " restore entries/s | open (index rebuild) s |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  bool ok = true;
  for (bool sealed : {false, true}) {
    const Figures f = run(docs, sealed);
    if (!f.ok) {
      std::printf("| %s | failed |\n", sealed ? "sealed" : "plain");
      ok = false;
      continue;
    }
    const double mb = double(f.stream_bytes) / 1e6;
    std::printf("| %s | %llu | %llu | %.1f | %.0f | %.1f | %.1f | %.0f | %.3f |\n", sealed ? "sealed" : "plain",
                static_cast<unsigned long long>(f.entries), static_cast<unsigned long long>(f.stream_bytes),
                mb / f.backup_s, double(f.entries) / f.backup_s, mb / f.verify_s, mb / f.restore_s,
                double(f.entries) / f.restore_s, f.open_s);
  }
  return ok ? 0 : 1;
}
