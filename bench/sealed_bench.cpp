// ferrite-bench's crypto and compression section (built when meson found
// libsodium and zstd): the cost of a sealed store (ferrite::Sealer) against a
// plain one on the same operation stream, and zstd on realistic sensor
// documents through the Sealer's own frame()/unframe(). See "Crypto and
// compression" in bench/README.md.

#include "kv_bench.hpp"
#include "sealed_bench.hpp"

#if FERRITE_HAVE_CRYPTO
namespace kvbench::sealed {
namespace {

using Blob = std::vector<std::byte>;

/// An operation stream with values of any length (W1 converted, or sensor
/// documents). Same shape as Workload: 100 initial puts, updates, gets.
struct KvWorkload {
  std::array<std::array<char, key_size>, key_count> keys{};
  std::vector<Blob> initial;  // value of key i
  struct KvOp {
    std::uint8_t key = 0;
    Blob value;
  };
  std::vector<KvOp> updates;
  std::vector<std::uint8_t> gets;
  std::vector<Blob> final;        // expected values after the updates
  std::uint64_t put_bytes = 0;    // key + value bytes over the initial puts and the updates
  std::size_t max_value = 0;

  std::span<const std::byte> key(std::size_t i) const noexcept {
    return {reinterpret_cast<const std::byte*>(keys[i].data()), key_size};
  }
  std::string_view key_sv(std::size_t i) const noexcept { return {keys[i].data(), key_size}; }
  void finish() {
    final = initial;
    put_bytes = 0;
    max_value = 0;
    for (const Blob& b : initial) {
      put_bytes += key_size + b.size();
      max_value = std::max(max_value, b.size());
    }
    for (const KvOp& op : updates) {
      final[op.key] = op.value;
      put_bytes += key_size + op.value.size();
      max_value = std::max(max_value, op.value.size());
    }
  }
  double mean_value() const {
    return static_cast<double>(put_bytes) / static_cast<double>(key_count + updates.size()) - key_size;
  }
};

KvWorkload from_workload(const Workload& w) {
  KvWorkload k;
  k.keys = w.keys;
  for (std::size_t i = 0; i < key_count; ++i) k.initial.emplace_back(w.initial[i].begin(), w.initial[i].begin() + w.value_size);
  for (const Op& op : w.updates) k.updates.push_back({op.key, Blob(op.value.begin(), op.value.begin() + w.value_size)});
  k.gets = w.gets;
  k.finish();
  return k;
}

Blob as_blob(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return Blob(p, p + s.size());
}

/// A fleet of 100 environmental sensors (node-000..node-099) whose readings
/// drift: each document is one JSON reading of one node, 130-150 bytes, e.g.
/// {"device":"node-017","fw":"2.3.7","seq":4,"ts":1732250042,"temp_c":21.4,"rh":48.2,
///  "co2_ppm":612,"battery_mv":3712,"rssi":-71,"status":"ok"}
class SensorFleet {
 public:
  SensorFleet(std::uint64_t seed, std::uint64_t ts0) : rng_{seed}, ts_(ts0) {
    for (Node& n : nodes_) {
      n.temp_dc = 180 + static_cast<int>(rng_.next() % 80);    // 18.0 .. 25.9 C
      n.rh_dpct = 350 + static_cast<int>(rng_.next() % 250);   // 35.0 .. 59.9 %
      n.co2 = 420 + static_cast<int>(rng_.next() % 400);       // ppm
      n.battery = 3500 + static_cast<int>(rng_.next() % 650);  // mV
      n.rssi = -55 - static_cast<int>(rng_.next() % 35);
      n.seq = static_cast<std::uint32_t>(rng_.next() % 5000);
    }
  }
  std::uint64_t draw() { return rng_.next(); }
  std::string next_doc(std::size_t node) {
    Node& n = nodes_[node];
    ts_ += 1 + rng_.next() % 12;  // the fleet reports every few seconds
    ++n.seq;
    n.temp_dc = walk(n.temp_dc, 3, 120, 320);
    n.rh_dpct = walk(n.rh_dpct, 8, 200, 850);
    n.co2 = walk(n.co2, 20, 400, 1600);
    n.battery -= static_cast<int>(rng_.next() % 3);
    if (n.battery < 3300) n.battery = 4150;  // recharged
    n.rssi = walk(n.rssi, 3, -95, -40);
    const char* status = n.battery < 3450 ? "low_battery" : n.co2 > 1000 ? "ventilate"
                                                        : rng_.next() % 64 == 0 ? "retry" : "ok";
    return fmt::format(R"({{"device":"node-{:03}","fw":"{}","seq":{},"ts":{},"temp_c":{}.{},"rh":{}.{},)"
                       R"("co2_ppm":{},"battery_mv":{},"rssi":{},"status":"{}"}})",
                       node, node % 4 == 0 ? "2.4.1" : "2.3.7", n.seq, ts_, n.temp_dc / 10, n.temp_dc % 10,
                       n.rh_dpct / 10, n.rh_dpct % 10, n.co2, n.battery, n.rssi, status);
  }

 private:
  struct Node {
    int temp_dc = 0, rh_dpct = 0, co2 = 0, battery = 0, rssi = 0;
    std::uint32_t seq = 0;
  };
  int walk(int v, int step, int lo, int hi) {
    v += static_cast<int>(rng_.next() % static_cast<std::uint64_t>(2 * step + 1)) - step;
    return std::clamp(v, lo, hi);
  }
  SplitMix64 rng_;
  std::uint64_t ts_;
  std::array<Node, key_count> nodes_{};
};

constexpr std::uint64_t docs_ts0 = 1732250000;                 // measured set
constexpr std::uint64_t training_seed = workload_seed + 1;     // training set: another stream,
constexpr std::uint64_t training_ts0 = docs_ts0 - 30 * 86400;  // a month earlier
constexpr std::size_t dictionary_capacity = 2048;

/// D: key k<i> holds the latest document of node-<i>; update = key next() % 100,
/// then that node's next document; gets as W3.
KvWorkload document_workload(std::uint64_t seed, std::uint64_t ts0, std::size_t updates, std::size_t gets) {
  KvWorkload w;
  SensorFleet fleet(seed, ts0);
  for (std::size_t i = 0; i < key_count; ++i) {
    const std::string k = fmt::format("k{:03}", i);
    std::memcpy(w.keys[i].data(), k.data(), key_size);
    w.initial.push_back(as_blob(fleet.next_doc(i)));
  }
  w.updates.resize(updates);
  for (auto& op : w.updates) {
    op.key = static_cast<std::uint8_t>(fleet.draw() % key_count);
    op.value = as_blob(fleet.next_doc(op.key));
  }
  w.gets.resize(gets);
  for (std::uint8_t& k : w.gets) k = static_cast<std::uint8_t>(fleet.draw() % key_count);
  w.finish();
  return w;
}

std::vector<Blob> training_documents(std::size_t n) {
  SensorFleet fleet(training_seed, training_ts0);
  std::vector<Blob> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(as_blob(fleet.next_doc(fleet.draw() % key_count)));
  return v;
}

/// The store key: 32 bytes from splitmix64 seeded with the workload seed ^ "key".
std::array<std::byte, ferrite::Sealer::key_size> bench_key() {
  SplitMix64 rng{workload_seed ^ 0x6B6579ull};
  std::array<std::byte, ferrite::Sealer::key_size> k{};
  for (std::size_t i = 0; i < k.size(); i += 8) {
    const std::uint64_t x = rng.next();
    for (std::size_t b = 0; b < 8; ++b) k[i + b] = static_cast<std::byte>(x >> (8 * b));
  }
  return k;
}

struct Spec {
  std::string label;
  std::string what;
  std::uint32_t sectors = 2, sector_size = 16384;
  bool sealed = false;
  ferrite::SealOptions options{};
  bool dictionary = false;  // zstd dictionary trained on other documents, kept in the store
};

struct Run {
  Spec spec;
  bool ok = false;
  bool skipped = false;
  std::string error;  // failure, or why skipped
  std::uint64_t puts = 0, bytes_programmed = 0, erases = 0;
  double wa = 0, record_bytes = 0;  // bytes programmed per put
  double upd_mean = 0, upd_p50 = 0, upd_p99 = 0, upd_max = 0, run_device_ms = 0;
  double put_bytes_read = 0, get_us = 0, get_bytes_read = 0, startup_us = 0;
  double host_ns_update = 0, host_cpu_ns_update = 0, host_ns_get = 0;
  std::uint32_t gc_runs = 0, records_copied = 0;
  // The Sealer during the updates: framed bytes / value bytes, share of
  // values stored compressed, frame() calls per put.
  double frame_ratio = 1, compressed_share = 0, frames_per_put = 0;
  std::size_t dictionary_bytes = 0;
};

constexpr std::size_t store_keys = key_count + 1;  // the 100 keys + the dictionary
using SealMemory = Memory<store_keys>;

/// Everything one store needs; the sealer (when sealed) must outlive it.
struct Bench {
  std::unique_ptr<ferrite::sim::SimFlash> device;
  std::optional<ferrite::Flash> flash;
  std::unique_ptr<SealMemory> mem = std::make_unique<SealMemory>();
  std::unique_ptr<ferrite::Sealer> sealer;
  Blob scratch;
  std::optional<ferrite::Store> store;
  RunSpec geo;

  Bench(const Spec& s, std::unique_ptr<ferrite::sim::SimFlash> dev) : device(std::move(dev)) {
    geo.label = s.label;
    geo.sectors = s.sectors;
    geo.sector_size = s.sector_size;
    flash.emplace(*device);
    if (s.sealed) {
      sealer = std::make_unique<ferrite::Sealer>(s.options);
      (void)sealer->use_key(bench_key());
    }
  }
  /// A new Store object on fresh memory (and a fresh Sealer with the same key), not mounted.
  void build(const Spec& s, bool fresh_sealer) {
    store.reset();
    *mem = SealMemory{};
    if (s.sealed && fresh_sealer) {
      sealer = std::make_unique<ferrite::Sealer>(s.options);
      (void)sealer->use_key(bench_key());
    }
    ferrite::StoreConfig c = config_for(*mem, geo);
    if (sealer) {
      scratch.assign(ferrite::Store::scratch_needed(c.max_value_size, sealer->overhead()), std::byte{0});
      c.codec = sealer.get();
      c.scratch = scratch;
    }
    store.emplace(*flash, c);
  }
  /// format, and keep the dictionary in the store.
  Errc format(const Spec& s, const Blob* dict) {
    build(s, false);
    if (auto st = sync_wait(store->format()); !st) return st.error();
    if (s.dictionary) {
      if (!dict || !sealer) return Errc::invalid_argument;
      if (auto st = sync_wait(sealer->store_dictionary(*store, *dict)); !st) return st.error();
    }
    return Errc::ok;
  }
};

Errc check_value(ferrite::Store& store, const KvWorkload& w, std::size_t k, std::span<std::byte> out, bool& wrong) {
  auto got = sync_wait(store.get(w.key(k), out));
  if (!got) return got.error();
  const Blob& want = w.final[k];
  wrong = *got != want.size() || (!want.empty() && std::memcmp(out.data(), want.data(), want.size()) != 0);
  return Errc::ok;
}

std::string verify_every_key(ferrite::Store& store, const KvWorkload& w, std::string_view when) {
  std::array<std::byte, 512> out{};
  for (std::size_t i = 0; i < key_count; ++i) {
    bool wrong = false;
    if (Errc e = check_value(store, w, i, out, wrong); e != Errc::ok) return fail_text(fmt::format("get {}", when), e);
    if (wrong) return fmt::format("{}: key {} read back wrong", when, w.key_sv(i));
  }
  return {};
}

/// Host ns per update and per get on SimFlash with instant timing, median of
/// `repeats` runs (each on a new store).
bool host_times(Run& r, const KvWorkload& w, const Blob* dict, int repeats) {
  std::vector<double> upd, cpu, get;
  std::array<std::byte, 512> out{};
  for (int rep = 0; rep < repeats; ++rep) {
    const ferrite::Geometry g = make_geometry(RunSpec{r.spec.label, r.spec.sectors, r.spec.sector_size});
    Bench b(r.spec, std::make_unique<ferrite::sim::SimFlash>(g, 1, ferrite::sim::TimingModel::instant()));
    if (Errc e = b.format(r.spec, dict); e != Errc::ok) {
      r.error = fail_text("host run format", e);
      return false;
    }
    for (std::size_t i = 0; i < key_count; ++i)
      if (auto st = sync_wait(b.store->put(w.key(i), w.initial[i])); !st) {
        r.error = fail_text("host run put", st.error());
        return false;
      }
    const double c0 = thread_cpu_ns();
    const auto t0 = Clock::now();
    for (const auto& op : w.updates)
      if (auto st = sync_wait(b.store->put(w.key(op.key), op.value)); !st) {
        r.error = fail_text("host run update", st.error());
        return false;
      }
    const auto t1 = Clock::now();
    const double c1 = thread_cpu_ns();
    for (std::uint8_t k : w.gets) {
      bool wrong = false;
      if (Errc e = check_value(*b.store, w, k, out, wrong); e != Errc::ok || wrong) {
        r.error = e != Errc::ok ? fail_text("host run get", e) : fmt::format("host run: key {} read back wrong", w.key_sv(k));
        return false;
      }
    }
    const auto t2 = Clock::now();
    const double n = static_cast<double>(std::max<std::size_t>(1, w.updates.size()));
    upd.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    cpu.push_back((c1 - c0) / n);
    get.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() /
                  static_cast<double>(std::max<std::size_t>(1, w.gets.size())));
  }
  r.host_ns_update = median(upd);
  r.host_cpu_ns_update = median(cpu);
  r.host_ns_get = median(get);
  return true;
}

Run run_device(const Spec& s, const KvWorkload& w, const Blob* dict, int repeats) {
  Run r;
  r.spec = s;
  if (s.sealed && !ferrite::suite_available(s.options.suite)) {
    r.skipped = true;
    r.error = "cipher suite not available on this CPU";
    return r;
  }
  const ferrite::Geometry g = make_geometry(RunSpec{s.label, s.sectors, s.sector_size});
  auto sim_owner = std::make_unique<ferrite::sim::SimFlash>(g, 1, ferrite::sim::TimingModel::stm32f4());
  ferrite::sim::SimFlash& sim = *sim_owner;
  Bench b(s, std::move(sim_owner));
  if (Errc e = b.format(s, dict); e != Errc::ok) {
    r.error = fail_text("format", e);
    return r;
  }
  if (s.dictionary) r.dictionary_bytes = dict->size();
  // The run starts after format (and after the dictionary was stored).
  sim.reset_counters();
  const auto& c = sim.counters();
  const ferrite::SealStats before = b.sealer ? b.sealer->stats() : ferrite::SealStats{};
  for (std::size_t i = 0; i < key_count; ++i)
    if (auto st = sync_wait(b.store->put(w.key(i), w.initial[i])); !st) {
      r.error = fail_text("initial put", st.error());
      return r;
    }
  std::vector<float> lat;
  lat.reserve(w.updates.size());
  for (const auto& op : w.updates) {
    const double t0 = c.device_time_us;
    if (auto st = sync_wait(b.store->put(w.key(op.key), op.value)); !st) {
      r.error = fail_text("update", st.error());
      return r;
    }
    lat.push_back(static_cast<float>(c.device_time_us - t0));
  }
  r.puts = key_count + w.updates.size();
  r.bytes_programmed = c.bytes_programmed;
  r.erases = c.erase_ops;
  r.wa = static_cast<double>(c.bytes_programmed) / static_cast<double>(w.put_bytes);
  r.record_bytes = static_cast<double>(c.bytes_programmed) / static_cast<double>(r.puts);
  r.put_bytes_read = static_cast<double>(c.bytes_read) / static_cast<double>(r.puts);
  r.run_device_ms = c.device_time_us / 1000;
  if (!lat.empty()) {
    double sum = 0;
    for (float x : lat) sum += x;
    r.upd_mean = sum / static_cast<double>(lat.size());
    r.upd_p50 = percentile(lat, 0.50);
    r.upd_p99 = percentile(lat, 0.99);
    r.upd_max = *std::max_element(lat.begin(), lat.end());
  }
  if (b.sealer) {
    const ferrite::SealStats& after = b.sealer->stats();
    const double plain = static_cast<double>(after.plain_bytes - before.plain_bytes);
    const double framed_n = static_cast<double>(after.values_framed - before.values_framed);
    r.frame_ratio = plain > 0 ? static_cast<double>(after.framed_bytes - before.framed_bytes) / plain : 1.0;
    r.compressed_share = framed_n > 0 ? static_cast<double>(after.compressed - before.compressed) / framed_n : 0.0;
    r.frames_per_put = framed_n / static_cast<double>(r.puts);
  }
  const ferrite::StoreStats st = b.store->stats();
  r.gc_runs = st.gc_runs;
  r.records_copied = st.records_copied;

  if (std::string e = verify_every_key(*b.store, w, "after the updates"); !e.empty()) {
    r.error = e;
    return r;
  }
  // W3-like gets, each verified.
  {
    std::array<std::byte, 512> out{};
    const std::uint64_t read0 = c.bytes_read;
    const double t0 = c.device_time_us;
    for (std::uint8_t k : w.gets) {
      bool wrong = false;
      if (Errc e = check_value(*b.store, w, k, out, wrong); e != Errc::ok || wrong) {
        r.error = e != Errc::ok ? fail_text("get", e) : fmt::format("get: key {} read back wrong", w.key_sv(k));
        return r;
      }
    }
    const double n = static_cast<double>(std::max<std::size_t>(1, w.gets.size()));
    r.get_bytes_read = static_cast<double>(c.bytes_read - read0) / n;
    r.get_us = (c.device_time_us - t0) / n;
  }
  // Reboot: a new Store and a new Sealer (same key) mount the image; the
  // dictionary is loaded from the store; every key is verified.
  {
    b.build(s, /*fresh_sealer=*/true);
    const double t0 = c.device_time_us;
    if (auto m = sync_wait(b.store->mount()); !m) {
      r.error = fail_text("mount", m.error());
      return r;
    }
    r.startup_us = c.device_time_us - t0;
    if (s.dictionary)
      if (auto st2 = sync_wait(b.sealer->load_dictionary(*b.store)); !st2) {
        r.error = fail_text("load_dictionary", st2.error());
        return r;
      }
    if (std::string e = verify_every_key(*b.store, w, "after remount"); !e.empty()) {
      r.error = e;
      return r;
    }
  }
  if (!host_times(r, w, dict, repeats)) return r;
  r.ok = true;
  return r;
}

// -- Per-operation figures: frame()/unframe() on documents, seal()/open() --

struct CodecRow {
  std::string name;
  int level = 0;
  bool dictionary = false;
  std::size_t docs = 0;
  std::uint64_t doc_bytes = 0, framed_bytes = 0;
  std::size_t compressed = 0;
  double ratio = 1, sealed_ratio = 1, min_ratio = 1, max_ratio = 1;
  double frame_ns = 0, unframe_ns = 0;
};

struct AeadRow {
  std::string op;
  std::size_t bytes = 0;
  double ns = 0;
};

struct OpsResult {
  bool ok = true;
  std::string error;
  std::size_t training_docs = 0, training_bytes = 0, dictionary_bytes = 0;
  double train_ms = 0;
  std::vector<CodecRow> codecs;
  std::vector<AeadRow> aead;
};

/// frame() every document (timed), unframe() every frame (timed), verify
/// every decoded document; median over `rounds` rounds of the per-op mean.
bool measure_codec(CodecRow& row, const std::vector<Blob>& docs, const Blob* dict, int rounds, std::string& err) {
  ferrite::SealOptions o;
  o.compression_level = row.level;
  ferrite::Sealer sealer(o);  // frame()/unframe() need no key
  if (dict)
    if (auto st = sealer.use_dictionary(*dict); !st) {
      err = fail_text("use_dictionary", st.error());
      return false;
    }
  std::vector<Blob> frames(docs.size());
  std::vector<double> fr, ur;
  Blob out(4096);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < docs.size(); ++i) frames[i].resize(docs[i].size() + sealer.overhead());
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < docs.size(); ++i) {
      auto n = sealer.frame(docs[i], frames[i]);
      if (!n) {
        err = fail_text("frame", n.error());
        return false;
      }
      frames[i].resize(*n);
    }
    const auto t1 = Clock::now();
    for (const Blob& f : frames) {
      auto n = sealer.unframe(f, out);
      if (!n) {
        err = fail_text("unframe", n.error());
        return false;
      }
    }
    const auto t2 = Clock::now();
    const double n = static_cast<double>(std::max<std::size_t>(1, docs.size()));
    fr.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    ur.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / n);
  }
  // Verify every document round-trips, and count.
  row.docs = docs.size();
  row.min_ratio = INFINITY;
  row.max_ratio = 0;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    auto n = sealer.unframe(frames[i], out);
    if (!n || *n != docs[i].size() || std::memcmp(out.data(), docs[i].data(), docs[i].size()) != 0) {
      err = fmt::format("{}: document {} did not round-trip through frame()/unframe()", row.name, i);
      return false;
    }
    row.doc_bytes += docs[i].size();
    row.framed_bytes += frames[i].size();
    row.compressed += frames[i][0] != std::byte{0};
    const double q = static_cast<double>(frames[i].size()) / static_cast<double>(docs[i].size());
    row.min_ratio = std::min(row.min_ratio, q);
    row.max_ratio = std::max(row.max_ratio, q);
  }
  row.ratio = static_cast<double>(row.framed_bytes) / static_cast<double>(row.doc_bytes);
  row.sealed_ratio =
      static_cast<double>(row.framed_bytes + sealer.sealed_size(0) * docs.size()) / static_cast<double>(row.doc_bytes);
  row.frame_ns = median(fr);
  row.unframe_ns = median(ur);
  return true;
}

/// seal()/open() of `size`-byte frames (the engine's 20-byte associated data,
/// the offset changing per op), and stored_key() of a 4-byte name; median of
/// `rounds` rounds of `ops` operations, every open verified.
bool measure_aead(OpsResult& res, ferrite::CipherSuite suite, const char* name, std::size_t size, std::size_t ops,
                  int rounds, bool key_hash) {
  ferrite::SealOptions o;
  o.suite = suite;
  o.hide_keys = key_hash;
  ferrite::Sealer sealer(o);
  (void)sealer.use_key(bench_key());
  std::array<std::byte, 60> block{};
  if (auto st = sealer.create_block(block); !st) {
    res.error = fail_text(fmt::format("{}: create_block", name), st.error());
    return false;
  }
  Blob plain(size), buf(sealer.sealed_size(size));
  for (std::size_t i = 0; i < size; ++i) plain[i] = static_cast<std::byte>(i * 37 + 11);
  std::array<std::byte, 20> ad{};
  for (std::size_t i = 0; i < ad.size(); ++i) ad[i] = static_cast<std::byte>(i);
  std::vector<Blob> sealed(ops);
  std::vector<double> sr, orr, kr;
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < ops; ++i) {
      std::memcpy(ad.data() + 8, &i, 4);  // the record offset
      std::memcpy(buf.data(), plain.data(), size);
      if (!sealer.seal(ad, buf, size)) {
        res.error = fmt::format("{}: seal failed", name);
        return false;
      }
      if (round == 0) sealed[i] = buf;
    }
    const auto t1 = Clock::now();
    for (std::size_t i = 0; i < ops; ++i) {
      std::memcpy(ad.data() + 8, &i, 4);
      std::memcpy(buf.data(), sealed[i].data(), buf.size());
      auto n = sealer.open(ad, buf);
      if (!n || *n != size || std::memcmp(buf.data(), plain.data(), size) != 0) {
        res.error = fmt::format("{}: open of a sealed frame failed or read back wrong", name);
        return false;
      }
    }
    const auto t2 = Clock::now();
    const double n = static_cast<double>(std::max<std::size_t>(1, ops));
    sr.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    orr.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / n);
    if (key_hash) {
      std::array<std::byte, 64> out{};
      std::array<char, 4> kname{'k', '0', '0', '0'};
      const auto k0 = Clock::now();
      for (std::size_t i = 0; i < ops; ++i) {
        kname[3] = static_cast<char>('0' + i % 10);
        if (sealer.stored_key(std::as_bytes(std::span(kname)), out) != 16) {
          res.error = "stored_key did not return a 16-byte hash";
          return false;
        }
      }
      kr.push_back(std::chrono::duration<double, std::nano>(Clock::now() - k0).count() / n);
    }
  }
  res.aead.push_back({fmt::format("{} seal", name), size, median(sr)});
  res.aead.push_back({fmt::format("{} open", name), size, median(orr)});
  if (key_hash) res.aead.push_back({"hide_keys: keyed BLAKE2b of a key name", 4, median(kr)});
  return true;
}

struct Results {
  bool ran = false;
  std::vector<Run> c1, c2;  // [0] = the plain store
  OpsResult ops;
  std::size_t c1_updates = 0, c2_updates = 0, gets = 0, measured_docs = 0;
  double doc_mean = 0;
  std::size_t doc_min = 0, doc_max = 0;
  int repeats = 0;
  bool aes_available = false;
};

/// W1's names are k000..k099: this rule keeps their first byte plain and
/// hashes the rest (docs/FORMAT.md §3.7), as a kind byte would be kept.
std::size_t first_byte_plain(std::span<const std::byte>) noexcept { return 1; }

Results run_all(const Workload& w1, std::size_t doc_updates, std::size_t gets, bool quick, int repeats,
                const std::string& only) {
  Results res;
  res.repeats = repeats;
  res.gets = gets;
  res.aes_available = ferrite::suite_available(ferrite::CipherSuite::aes256gcm);
  auto selected = [&](const std::string& label) { return only.empty() || label.find(only) != std::string::npos; };
  auto opts = [](ferrite::CipherSuite suite, int level, bool hide) {
    ferrite::SealOptions o;
    o.suite = suite;
    o.compression_level = level;
    o.hide_keys = hide;
    return o;
  };
  auto prefix_opts = [&](ferrite::CipherSuite suite, int level) {
    ferrite::SealOptions o = opts(suite, level, true);
    o.plain_prefix = {&first_byte_plain, 1};
    return o;
  };
  // Sealed stores compress only when asked (SealOptions' default is 0): the
  // rows that measure compression say so.
  const int zstd3 = 3;
  using ferrite::CipherSuite;

  // C1: W1 on 2 x 16 KiB.
  const std::vector<Spec> c1 = {
      {"C1-plain-2x16k", "plain store", 2, 16384, false, {}, false},
      {"C1-xchacha-2x16k", "XChaCha20-Poly1305, zstd level 3", 2, 16384, true,
       opts(CipherSuite::xchacha20poly1305, zstd3, false), false},
      {"C1-xchacha-nozstd-2x16k", "XChaCha20-Poly1305, compression_level 0", 2, 16384, true,
       opts(CipherSuite::xchacha20poly1305, 0, false), false},
      {"C1-aesgcm-2x16k", "AES-256-GCM, zstd level 3", 2, 16384, true, opts(CipherSuite::aes256gcm, zstd3, false),
       false},
      {"C1-xchacha-hidekeys-2x16k", "XChaCha20-Poly1305, zstd level 3 + hide_keys", 2, 16384, true,
       opts(CipherSuite::xchacha20poly1305, zstd3, true), false},
      {"C1-xchacha-prefix-2x16k", "XChaCha20-Poly1305, zstd level 3 + hide_keys, 1-byte plain prefix", 2, 16384,
       true, prefix_opts(CipherSuite::xchacha20poly1305, zstd3), false},
  };
  // C2: sensor documents on 4 x 16 KiB.
  const std::vector<Spec> c2 = {
      {"C2-plain-4x16k", "plain store", 4, 16384, false, {}, false},
      {"C2-xchacha-nozstd-4x16k", "XChaCha20-Poly1305, compression_level 0", 4, 16384, true,
       opts(CipherSuite::xchacha20poly1305, 0, false), false},
      {"C2-xchacha-4x16k", "XChaCha20-Poly1305, zstd level 3", 4, 16384, true,
       opts(CipherSuite::xchacha20poly1305, zstd3, false), false},
      {"C2-xchacha-dict-4x16k", "XChaCha20-Poly1305, zstd level 3 + 2 KiB dictionary", 4, 16384, true,
       opts(CipherSuite::xchacha20poly1305, zstd3, false), true},
  };
  const bool want_c1 = std::any_of(c1.begin(), c1.end(), [&](const Spec& s) { return selected(s.label); });
  const bool want_c2 = std::any_of(c2.begin(), c2.end(), [&](const Spec& s) { return selected(s.label); });
  const bool want_c3 = selected("C3-compress");
  const bool want_c4 = selected("C4-aead");
  if (!want_c1 && !want_c2 && !want_c3 && !want_c4) return res;
  res.ran = true;

  if (want_c1) {
    const KvWorkload w = from_workload(w1);
    res.c1_updates = w.updates.size();
    for (const Spec& s : c1)  // the plain row always runs: the ratios need it
      if (&s == &c1.front() || selected(s.label)) res.c1.push_back(run_device(s, w, nullptr, repeats));
  }

  if (want_c2 || want_c3 || want_c4) {
    const KvWorkload docs = document_workload(workload_seed, docs_ts0, doc_updates, gets);
    res.c2_updates = docs.updates.size();
    // The measured set: every document the D workload puts.
    std::vector<Blob> measured = docs.initial;
    for (const auto& op : docs.updates) measured.push_back(op.value);
    res.measured_docs = measured.size();
    res.doc_min = SIZE_MAX;
    for (const Blob& d : measured) {
      res.doc_min = std::min(res.doc_min, d.size());
      res.doc_max = std::max(res.doc_max, d.size());
    }
    res.doc_mean = docs.mean_value();

    const std::vector<Blob> training = training_documents(quick ? 400 : 2000);
    res.ops.training_docs = training.size();
    for (const Blob& d : training) res.ops.training_bytes += d.size();
    const auto t0 = Clock::now();
    auto dict = ferrite::Sealer::train_dictionary(training, dictionary_capacity);
    res.ops.train_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!dict) {
      res.ops.ok = false;
      res.ops.error = fail_text("train_dictionary", dict.error());
      return res;
    }
    res.ops.dictionary_bytes = dict->size();

    if (want_c2)
      for (const Spec& s : c2)
        if (&s == &c2.front() || selected(s.label)) res.c2.push_back(run_device(s, docs, &*dict, repeats));

    if (want_c3) {
      const int rounds = quick ? 1 : std::max(3, repeats);
      CodecRow rows[] = {{"raw frame (compression_level 0)", 0, false},
                         {"zstd level 3", 3, false},
                         {"zstd level 3 + dictionary", 3, true}};
      for (CodecRow& row : rows) {
        if (!measure_codec(row, measured, row.dictionary ? &*dict : nullptr, rounds, res.ops.error)) {
          res.ops.ok = false;
          return res;
        }
        res.ops.codecs.push_back(row);
      }
    }
    if (want_c4) {
      const std::size_t ops = quick ? 200 : 20000;
      const int rounds = quick ? 1 : std::max(3, repeats);
      const std::size_t doc_frame = static_cast<std::size_t>(std::lround(res.doc_mean)) + 3;
      struct A {
        CipherSuite suite;
        const char* name;
      };
      for (const A& a : {A{CipherSuite::xchacha20poly1305, "XChaCha20-Poly1305"}, A{CipherSuite::aes256gcm, "AES-256-GCM"}}) {
        if (!ferrite::suite_available(a.suite)) continue;
        for (std::size_t size : {std::size_t{7}, doc_frame})
          if (!measure_aead(res.ops, a.suite, a.name, size, ops, rounds,
                            a.suite == CipherSuite::xchacha20poly1305 && size == 7)) {
            res.ops.ok = false;
            return res;
          }
      }
    }
  }
  return res;
}

bool all_ok(const Results& r) {
  if (!r.ops.ok) return false;
  for (const auto* v : {&r.c1, &r.c2})
    for (const Run& x : *v)
      if (!x.ok && !x.skipped) return false;
  return true;
}

double ratio_of(double a, double b) { return b != 0 ? a / b : NAN; }

void print(const Results& res) {
  if (!res.ran) return;
  fmt::print("\nCrypto and compression (ferrite.crypto Sealer vs a plain store on the same operations; x plain = "
             "sealed / plain)\n");
  auto table = [&](const std::vector<Run>& runs, const char* title) {
    if (runs.empty()) return;
    fmt::print("{}\n", title);
    constexpr std::string_view row =
        "{:<26} {:>8} {:>6} {:>7} {:>6} {:>9} {:>7} {:>6} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>6} {:>6} {:>6} {:>5}\n";
    fmt::print(fmt::runtime(row), "label", "prog B", "B/put", "WA", "x", "upd us", "x", "p99", "erases", "get us",
               "mnt us", "host ns", "x", "get ns", "x", "frame", "zstd%", "fr/put");
    const Run& p = runs.front();
    for (const Run& r : runs) {
      if (r.skipped) {
        fmt::print("{:<26} skipped: {}\n", r.spec.label, r.error);
        continue;
      }
      if (!r.ok) {
        fmt::print("{:<26} FAILED: {}\n", r.spec.label, r.error);
        continue;
      }
      const bool base = p.ok;
      fmt::print(fmt::runtime(row), r.spec.label, r.bytes_programmed, num(r.record_bytes, 1), num(r.wa, 3),
                 base ? num(ratio_of(r.wa, p.wa), 2) : "-", num(r.upd_mean, 1),
                 base ? num(ratio_of(r.upd_mean, p.upd_mean), 2) : "-", num(r.upd_p99, 0), r.erases, num(r.get_us, 1),
                 num(r.startup_us, 0), num(r.host_ns_update, 0),
                 base ? num(ratio_of(r.host_ns_update, p.host_ns_update), 2) : "-", num(r.host_ns_get, 0),
                 base ? num(ratio_of(r.host_ns_get, p.host_ns_get), 2) : "-",
                 r.spec.sealed ? num(r.frame_ratio, 3) : "-", r.spec.sealed ? num(100 * r.compressed_share, 0) : "-",
                 r.spec.sealed ? num(r.frames_per_put, 1) : "-");
    }
  };
  table(res.c1, fmt::format("W1 ({} updates of 4-byte values, 100 keys) on 2 x 16 KiB, 4-byte unit:", res.c1_updates).c_str());
  table(res.c2, fmt::format("D: sensor documents ({} updates, 100 keys, {}-{} B, mean {:.1f} B) on 4 x 16 KiB, 4-byte unit:",
                            res.c2_updates, res.doc_min, res.doc_max, res.doc_mean)
                    .c_str());
  if (!res.c1.empty() || !res.c2.empty())
    fmt::print("(B/put: bytes programmed per put; WA: bytes programmed / (key + value bytes put); upd us: device time\n"
               " per update, mean (flash only: the MCU's CPU time for the crypto is not modelled); mnt us: mount after\n"
               " the run; host ns: wall clock per update / get on SimFlash with instant timing, median of {} runs;\n"
               " frame: framed / value bytes over the updates; zstd%: frames stored compressed; fr/put: frame() calls per put)\n",
               res.repeats);
  for (const auto* v : {&res.c1, &res.c2})
    for (const Run& r : *v)
      if (r.ok && r.spec.sealed)
        fmt::print("{:<26} {} | gc runs {}, records copied {}, flash bytes read per put {:.1f}{}\n", r.spec.label,
                   r.spec.what, r.gc_runs, r.records_copied, r.put_bytes_read,
                   r.dictionary_bytes ? fmt::format(", dictionary {} B kept in the store", r.dictionary_bytes) : "");
  if (!res.ops.ok) fmt::print("crypto per-operation figures FAILED: {}\n", res.ops.error);
  if (!res.ops.codecs.empty()) {
    fmt::print("\nCompression of {} sensor documents ({}-{} B, mean {:.1f} B) through Sealer::frame()/unframe();\n"
               "dictionary: {} B trained by Sealer::train_dictionary (capacity {}) on {} other documents ({} B) in {:.0f} ms\n",
               res.measured_docs, res.doc_min, res.doc_max, res.doc_mean, res.ops.dictionary_bytes, dictionary_capacity,
               res.ops.training_docs, res.ops.training_bytes, res.ops.train_ms);
    fmt::print("{:<34} {:>8} {:>8} {:>13} {:>11} {:>9} {:>11}\n", "codec", "frame/B", "sealed/B", "min/max", "compressed",
               "frame ns", "unframe ns");
    for (const CodecRow& c : res.ops.codecs)
      fmt::print("{:<34} {:>8} {:>8} {:>13} {:>10}% {:>9} {:>11}\n", c.name, num(c.ratio, 3), num(c.sealed_ratio, 3),
                 fmt::format("{}/{}", num(c.min_ratio, 2), num(c.max_ratio, 2)),
                 num(100.0 * static_cast<double>(c.compressed) / static_cast<double>(std::max<std::size_t>(1, c.docs)), 0),
                 num(c.frame_ns, 0), num(c.unframe_ns, 0));
    fmt::print("(frame/B: frame bytes / document bytes, the 3-byte frame head (7 with a dictionary id) included;\n"
               " sealed/B: plus the 8-byte salt and the 16-byte tag; ns: host wall clock per document)\n");
  }
  if (!res.ops.aead.empty()) {
    fmt::print("\nAEAD per operation (Sealer::seal/open in place, 20-byte associated data; host ns, median of runs)\n");
    for (const AeadRow& a : res.ops.aead) fmt::print("{:<40} {:>5} B {:>8} ns\n", a.op, a.bytes, num(a.ns, 0));
  }
}

std::string json(const Results& res) {
  if (!res.ran) return {};
  auto run_json = [](const Run& r, const Run& p) {
    std::string o = fmt::format("{{\"label\": \"{}\", \"what\": \"{}\", \"sectors\": {}, \"sector_size\": {}, "
                                "\"sealed\": {}",
                                json_escape(r.spec.label), json_escape(r.spec.what), r.spec.sectors, r.spec.sector_size,
                                r.spec.sealed);
    if (r.spec.sealed)
      o += fmt::format(", \"suite\": \"{}\", \"compression_level\": {}, \"hide_keys\": {}, \"dictionary\": {}",
                       r.spec.options.suite == ferrite::CipherSuite::aes256gcm ? "aes256gcm" : "xchacha20poly1305",
                       r.spec.options.compression_level, r.spec.options.hide_keys, r.spec.dictionary);
    if (r.skipped) return o + fmt::format(", \"skipped\": \"{}\"}}", json_escape(r.error));
    if (!r.ok) return o + fmt::format(", \"error\": \"{}\"}}", json_escape(r.error));
    const bool base = p.ok;
    auto x = [&](double a, double b) { return jnum(base ? ratio_of(a, b) : NAN); };
    o += fmt::format(
        ", \"puts\": {}, \"bytes_programmed\": {}, \"bytes_per_put\": {}, \"write_amplification\": {}, "
        "\"update_us_mean\": {}, \"update_us_p50\": {}, \"update_us_p99\": {}, \"update_us_max\": {}, "
        "\"run_device_ms\": {}, \"erases\": {}, \"gc_runs\": {}, \"records_copied\": {}, \"put_bytes_read\": {}, "
        "\"get_us_mean\": {}, \"get_bytes_read\": {}, \"startup_us\": {}, \"host_ns_per_update\": {}, "
        "\"host_cpu_ns_per_update\": {}, \"host_ns_per_get\": {}, \"frame_ratio\": {}, \"compressed_share\": {}, "
        "\"frames_per_put\": {}, \"dictionary_bytes\": {}, \"x_plain\": {{\"write_amplification\": {}, "
        "\"update_us_mean\": {}, \"erases\": {}, \"host_ns_per_update\": {}, \"host_ns_per_get\": {}}}}}",
        r.puts, r.bytes_programmed, jnum(r.record_bytes), jnum(r.wa), jnum(r.upd_mean), jnum(r.upd_p50),
        jnum(r.upd_p99), jnum(r.upd_max), jnum(r.run_device_ms), r.erases, r.gc_runs, r.records_copied,
        jnum(r.put_bytes_read), jnum(r.get_us), jnum(r.get_bytes_read), jnum(r.startup_us), jnum(r.host_ns_update),
        jnum(r.host_cpu_ns_update), jnum(r.host_ns_get), jnum(r.spec.sealed ? r.frame_ratio : NAN),
        jnum(r.spec.sealed ? r.compressed_share : NAN), jnum(r.spec.sealed ? r.frames_per_put : NAN),
        r.dictionary_bytes, x(r.wa, p.wa), x(r.upd_mean, p.upd_mean),
        x(static_cast<double>(r.erases), static_cast<double>(p.erases)), x(r.host_ns_update, p.host_ns_update),
        x(r.host_ns_get, p.host_ns_get));
    return o;
  };
  auto runs = [&](const std::vector<Run>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ",\n      " : "") + run_json(v[i], v.front());
    return s + "]";
  };
  std::string codecs = "[";
  for (std::size_t i = 0; i < res.ops.codecs.size(); ++i) {
    const CodecRow& c = res.ops.codecs[i];
    codecs += fmt::format("{}{{\"codec\": \"{}\", \"compression_level\": {}, \"dictionary\": {}, \"documents\": {}, "
                          "\"document_bytes\": {}, \"frame_bytes\": {}, \"compressed\": {}, \"frame_ratio\": {}, "
                          "\"sealed_ratio\": {}, \"min_ratio\": {}, \"max_ratio\": {}, \"frame_ns\": {}, "
                          "\"unframe_ns\": {}}}",
                          i ? ",\n      " : "", json_escape(c.name), c.level, c.dictionary, c.docs, c.doc_bytes,
                          c.framed_bytes, c.compressed, jnum(c.ratio), jnum(c.sealed_ratio), jnum(c.min_ratio),
                          jnum(c.max_ratio), jnum(c.frame_ns), jnum(c.unframe_ns));
  }
  codecs += "]";
  std::string aead = "[";
  for (std::size_t i = 0; i < res.ops.aead.size(); ++i)
    aead += fmt::format("{}{{\"op\": \"{}\", \"bytes\": {}, \"ns\": {}}}", i ? ", " : "",
                        json_escape(res.ops.aead[i].op), res.ops.aead[i].bytes, jnum(res.ops.aead[i].ns));
  aead += "]";
  return fmt::format(
      ",\n  \"_crypto\": {{\"w1_updates\": {}, \"doc_updates\": {}, \"gets\": {}, \"host_repeats\": {}, "
      "\"aes256gcm_available\": {}, \"documents\": {{\"count\": {}, \"min_bytes\": {}, \"max_bytes\": {}, "
      "\"mean_bytes\": {}}}, \"dictionary\": {{\"capacity\": {}, \"bytes\": {}, \"training_documents\": {}, "
      "\"training_bytes\": {}, \"train_ms\": {}}}, \"ok\": {}, \"error\": \"{}\",\n    \"w1\": {},\n    \"docs\": {},\n"
      "    \"compression\": {},\n    \"aead\": {}}}",
      res.c1_updates, res.c2_updates, res.gets, res.repeats, res.aes_available, res.measured_docs,
      res.measured_docs ? res.doc_min : 0, res.doc_max, jnum(res.doc_mean), dictionary_capacity,
      res.ops.dictionary_bytes, res.ops.training_docs, res.ops.training_bytes, jnum(res.ops.train_ms), res.ops.ok,
      json_escape(res.ops.error), runs(res.c1), runs(res.c2), codecs, aead);
}

}  // namespace

Outcome run_and_print(const Workload& w1, std::size_t doc_updates, std::size_t gets, bool quick, int repeats,
                      const std::string& only) {
  const Results res = run_all(w1, doc_updates, gets, quick, repeats, only);
  print(res);
  Outcome out;
  out.ran = res.ran;
  out.ok = all_ok(res);
  out.json = json(res);
  return out;
}

}  // namespace kvbench::sealed
#endif  // FERRITE_HAVE_CRYPTO
