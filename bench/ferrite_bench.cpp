// ferrite-bench — measures the storage engine on a simulated NOR flash with
// the STM32F4 timing model (16 us per 32-bit word programmed, 250 ms per
// 16 KiB erased, 0.05 us per byte read) and compares host throughput with
// SQLite and LMDB in the same process; when the build has ferrite.crypto
// (libsodium + zstd), also a sealed store against a plain one and zstd on
// sensor documents (labels C1-*, C2-*, C3-compress, C4-aead; JSON key
// "_crypto"). See bench/README.md for the method.
//
//   ferrite-bench                     every run, table on stdout
//   ferrite-bench --json FILE         also one JSON object keyed by run label
//   ferrite-bench --latency-csv FILE  per-update device time (label,index,us)
//   ferrite-bench --erase-csv FILE    per-sector erase counts (label,sector,run,lifetime)
//   ferrite-bench --quick             tiny sizes (the meson smoke test)
//   ferrite-bench --only SUBSTR       only runs whose label contains SUBSTR
//   ferrite-bench --no-host           skip the host comparisons
//   ferrite-bench --durable-dir DIR   where the durable comparison writes (default /tmp)
//
// Exit status: 0 when every run completed and verified, 1 when a run failed
// (an engine error or a value that read back wrong), 2 on bad arguments.
// Missed targets are reported, not turned into a failure.

// Every std / third-party header before the imports (module prologue rule).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "splitmix64.hpp"

#if FERRITE_BENCH_SQLITE
#include <sqlite3.h>
#endif
#if FERRITE_BENCH_LMDB
#include <lmdb.h>
#endif

import ferrite;
import ferrite.sim;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#if FERRITE_BENCH_FILE
import ferrite.file;
#endif

namespace {

using Clock = std::chrono::steady_clock;
using ferrite::Errc;
using ferrite::sync_wait;

// ---------------------------------------------------------------------------
// Workloads

using bench_random::SplitMix64;

constexpr std::uint64_t workload_seed = 0x5EEDC0FFEEull;
constexpr std::size_t key_count = 100;
constexpr std::size_t key_size = 4;
constexpr std::size_t max_value = 32;

using Value = std::array<std::byte, max_value>;

struct Op {
  std::uint8_t key = 0;
  Value value{};
};

/// The whole operation stream of one workload, drawn up front so every
/// engine sees exactly the same operations and no engine pays for the PRNG.
///  initial: value of key i = draw_value()       (i = 0..99, in order)
///  update:  key = next() % 100, then draw_value()
///  get:     key = next() % 100                  (W3, continues the stream)
/// draw_value() fills the value 8 bytes per next(), little-endian.
struct Workload {
  std::uint32_t value_size = 4;
  std::array<std::array<char, key_size>, key_count> keys{};
  std::array<Value, key_count> initial{};
  std::vector<Op> updates;
  std::vector<std::uint8_t> gets;
  std::array<Value, key_count> final{};  // expected values after the updates

  std::span<const std::byte> key(std::size_t i) const noexcept {
    return {reinterpret_cast<const std::byte*>(keys[i].data()), key_size};
  }
  std::string_view key_sv(std::size_t i) const noexcept { return {keys[i].data(), key_size}; }
  std::span<const std::byte> val(const Value& v) const noexcept { return {v.data(), value_size}; }
};

Workload make_workload(std::uint32_t value_size, std::size_t updates, std::size_t gets) {
  Workload w;
  w.value_size = value_size;
  SplitMix64 rng{workload_seed};
  auto draw = [&](Value& v) {
    for (std::uint32_t i = 0; i < value_size; i += 8) {
      const std::uint64_t x = rng.next();
      for (std::uint32_t b = 0; b < 8 && i + b < value_size; ++b) v[i + b] = static_cast<std::byte>(x >> (8 * b));
    }
  };
  for (std::size_t i = 0; i < key_count; ++i) {
    const std::string k = fmt::format("k{:03}", i);
    std::memcpy(w.keys[i].data(), k.data(), key_size);
    draw(w.initial[i]);
    w.final[i] = w.initial[i];
  }
  w.updates.resize(updates);
  for (Op& op : w.updates) {
    op.key = static_cast<std::uint8_t>(rng.next() % key_count);
    draw(op.value);
    w.final[op.key] = op.value;
  }
  w.gets.resize(gets);
  for (std::uint8_t& k : w.gets) k = static_cast<std::uint8_t>(rng.next() % key_count);
  return w;
}

// ---------------------------------------------------------------------------
// A bare RAM flash: no rule checks, no counters. Host CPU of the engine alone.

class RamFlash final : public ferrite::FlashDevice {
 public:
  explicit RamFlash(const ferrite::Geometry& g) : geometry_(g), image_(g.total_size(), g.erased_byte()) {}
  const ferrite::Geometry& geometry() const noexcept override { return geometry_; }
  void submit(ferrite::FlashRequest& r) noexcept override {
    switch (r.kind) {
      case ferrite::FlashOpKind::read:
        std::memcpy(r.read_into, image_.data() + r.address, r.length);
        break;
      case ferrite::FlashOpKind::program:
        for (std::uint32_t i = 0; i < r.length; ++i) image_[r.address + i] &= r.program_from[i];
        break;
      case ferrite::FlashOpKind::erase:
        std::fill_n(image_.begin() + r.address, r.length, geometry_.erased_byte());
        break;
    }
    r.complete(Errc::ok);
  }

 private:
  ferrite::Geometry geometry_;
  std::vector<std::byte> image_;
};

// ---------------------------------------------------------------------------
// Runs

struct RunSpec {
  std::string label;
  std::uint32_t sectors = 2;
  std::uint32_t sector_size = 16384;
  std::uint32_t unit = 4;
  std::uint32_t value_size = 4;
  bool maintain = false;  // W1m: maintain() between updates
  bool indexed = true;    // false: index-less store
  bool ordered = false;   // -ord: the store keeps the key-order permutation (ordered scans measured)
};

struct RunResult {
  RunSpec spec;
  bool ok = false;
  std::string error;

  std::uint64_t puts = 0;  // initial puts + updates
  std::uint64_t bytes_programmed = 0;
  std::uint64_t program_ops = 0;
  double write_amplification = 0;
  std::uint64_t erases = 0;
  std::vector<std::uint32_t> sector_erases;  // during the run (format excluded)
  std::vector<std::uint32_t> lifetime_erases;  // since the sim was built (format included)
  std::uint32_t erase_min = 0, erase_max = 0, life_min = 0, life_max = 0;
  double run_device_us = 0;

  std::vector<float> latencies;  // device us per update
  double update_us_mean = 0, update_us_p50 = 0, update_us_p99 = 0, update_us_max = 0;
  std::size_t slow_updates = 0;  // updates > 5 ms

  std::uint64_t maintain_calls = 0;
  double maintain_us_total = 0, maintain_us_max = 0;
  std::uint64_t maintain_erases = 0;

  double get_bytes_read = 0;
  double get_us_mean = 0;
  double startup_us = 0;
  std::uint64_t startup_bytes_read = 0;
  std::uint64_t startup_read_ops = 0;
  // -ord runs: a scan of every key right after the startup mount, then a
  // second one (the steady cost per step).
  double first_scan_us = 0;
  std::uint64_t first_scan_bytes_read = 0;
  double scan_bytes_per_step = 0;
  double scan_reads_per_step = 0;
  double put_bytes_read = 0;  // flash bytes read per put (lookups, unchanged-value check, GC)

  std::size_t store_ram = 0;       // Store::ram_bytes()
  std::size_t store_object = 0;    // sizeof(Store)
  std::size_t frames_high_water = 0;
  std::size_t largest_frame = 0;
  std::size_t ram_bytes = 0;       // store_ram + frames_high_water

  double host_ns_per_update = 0;      // SimFlash, instant timing
  double host_ns_per_update_ram = 0;  // bare RamFlash
  double host_ns_per_update_arena = 0;  // bare RamFlash + FrameArena (no malloc)
  double host_ns_per_get = 0;         // SimFlash, instant timing
  double host_cpu_ns_per_update = 0;  // the same three, thread CPU time instead of wall clock
  double host_cpu_ns_per_update_ram = 0;
  double host_cpu_ns_per_update_arena = 0;

  ferrite::StoreStats stats{};
};

std::string fail_text(std::string_view what, Errc e) { return fmt::format("{}: {}", what, ferrite::name_of(e)); }

double percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

ferrite::Geometry make_geometry(const RunSpec& s) {
  auto g = ferrite::Geometry::uniform(s.sectors, s.sector_size, s.unit, ferrite::EraseValue::ones,
                                      /*reprogram_allowed=*/false);
  if (!g) {
    fmt::print(stderr, "bad geometry for {}\n", s.label);
    std::exit(2);
  }
  return *g;
}

constexpr std::size_t max_sectors = 8;
template <std::size_t Keys>
using Memory = ferrite::StoreMemory<Keys, max_sectors>;

/// Store configuration sized to the workload: an index of exactly 100
/// entries (or none), no key-order permutation (the workloads do no ordered
/// scans) except for the -ord runs, the sector table cut to the geometry,
/// defaults otherwise.
template <std::size_t Keys>
ferrite::StoreConfig config_for(Memory<Keys>& m, const RunSpec& s) {
  ferrite::StoreConfig c = m.config(s.ordered);
  c.sectors = std::span<ferrite::SectorInfo>(m.sectors).first(s.sectors);
  if (!s.indexed) {
    // Index-less. Workaround for an engine bug: Store::put reads
    // index_[found.position] (src/log/api.cpp, "slot = found.found ? ...")
    // even when the index is empty, which dereferences a null span with
    // StoreMemory<0, N>. An empty span over real storage keeps that read in
    // bounds; the store still sees index_.size() == 0 and runs index-less.
    static_assert(Keys > 0, "index-less runs use Memory<1> (see above)");
    c.index = std::span<ferrite::IndexEntry>(m.index).first(0);
  }
  return c;
}

Errc verify_all(ferrite::Store& store, const Workload& w, std::size_t& bad) {
  Value out{};
  for (std::size_t i = 0; i < key_count; ++i) {
    auto r = sync_wait(store.get(w.key(i), out));
    if (!r) return r.error();
    if (*r != w.value_size || std::memcmp(out.data(), w.final[i].data(), w.value_size) != 0) ++bad;
  }
  return Errc::ok;
}

/// The update phase: initial puts, then updates (with maintenance between
/// them for W1m); `observe` wraps each update.
template <class OnUpdate>
Errc drive_updates(ferrite::Store& store, const Workload& w, const RunSpec& s, OnUpdate&& observe) {
  for (std::size_t i = 0; i < key_count; ++i)
    if (auto st = sync_wait(store.put(w.key(i), w.val(w.initial[i]))); !st) return st.error();
  for (std::size_t i = 0; i < w.updates.size(); ++i) {
    const Op& op = w.updates[i];
    if (auto st = observe(i, [&] { return sync_wait(store.put(w.key(op.key), w.val(op.value))); }); !st)
      return st.error();
    if (s.maintain) {
      auto m = sync_wait(store.maintain(ferrite::MaintenanceBudget{8, true}));
      if (!m) return m.error();
    }
  }
  return Errc::ok;
}

/// This thread's CPU time in ns: unlike the wall clock it does not count
/// time the thread spent descheduled on a busy machine.
double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// Host CPU per update: the update phase on a device with no device time,
/// timed with steady_clock (and the thread CPU clock into *cpu_ns), median of
/// `repeats` runs. For W1m the maintenance calls are inside the timed loop.
template <std::size_t Keys, class Device>
double host_ns(const RunSpec& s, const Workload& w, int repeats, double* get_ns, double* cpu_ns, bool arena,
               auto make_device) {
  std::vector<double> runs, get_runs, cpu_runs;
  // Firmware installs a FrameArena instead of the heap: measure that too.
  static std::array<std::byte, 16384> arena_storage;
  std::optional<ferrite::FrameArena> frame_arena;
  if (arena) {
    frame_arena.emplace(arena_storage);
    ferrite::set_frame_allocator(frame_arena->allocator());
  }
  struct Restore {
    bool on;
    ~Restore() {
      if (on) ferrite::set_frame_allocator(ferrite::heap_frame_allocator());
    }
  } restore{arena};
  for (int r = 0; r < repeats; ++r) {
    std::unique_ptr<Device> dev = make_device();
    ferrite::Flash flash(*dev);
    auto mem = std::make_unique<Memory<Keys>>();
    ferrite::Store store(flash, config_for(*mem, s));
    if (!sync_wait(store.format())) return -1;
    for (std::size_t i = 0; i < key_count; ++i)
      if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return -1;
    const double c0 = thread_cpu_ns();
    const auto t0 = Clock::now();
    for (const Op& op : w.updates) {
      if (!sync_wait(store.put(w.key(op.key), w.val(op.value)))) return -1;
      if (s.maintain && !sync_wait(store.maintain(ferrite::MaintenanceBudget{8, true}))) return -1;
    }
    const auto t1 = Clock::now();
    const double c1 = thread_cpu_ns();
    const double n = static_cast<double>(std::max<std::size_t>(1, w.updates.size()));
    runs.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    cpu_runs.push_back((c1 - c0) / n);
    if (get_ns) {
      Value out{};
      const auto g0 = Clock::now();
      for (std::uint8_t k : w.gets)
        if (!sync_wait(store.get(w.key(k), out))) return -1;
      const auto g1 = Clock::now();
      get_runs.push_back(std::chrono::duration<double, std::nano>(g1 - g0).count() /
                         static_cast<double>(std::max<std::size_t>(1, w.gets.size())));
    }
  }
  if (get_ns) *get_ns = median(get_runs);
  if (cpu_ns) *cpu_ns = median(cpu_runs);
  return median(runs);
}

template <std::size_t Keys>
RunResult run_ferrite(const RunSpec& s, const Workload& w, int host_repeats) {
  RunResult r;
  r.spec = s;
  const ferrite::Geometry g = make_geometry(s);
  ferrite::sim::SimFlash sim(g, 1, ferrite::sim::TimingModel::stm32f4());
  ferrite::Flash flash(sim);
  auto mem = std::make_unique<Memory<Keys>>();
  std::optional<ferrite::Store> store;
  store.emplace(flash, config_for(*mem, s));

  ferrite::reset_frame_stats();
  if (auto st = sync_wait(store->format()); !st) {
    r.error = fail_text("format", st.error());
    return r;
  }
  // The run starts after format: counters cover the puts (and gets) only.
  sim.reset_counters();

  r.latencies.reserve(w.updates.size());
  const auto& c = sim.counters();
  Errc e = drive_updates(*store, w, s, [&](std::size_t, auto&& put) {
    const double t0 = c.device_time_us;
    auto st = put();
    r.latencies.push_back(static_cast<float>(c.device_time_us - t0));
    return st;
  });
  if (e != Errc::ok) {
    r.error = fail_text("update phase", e);
    return r;
  }
  r.puts = key_count + w.updates.size();
  r.bytes_programmed = c.bytes_programmed;
  r.program_ops = c.program_ops;
  r.write_amplification = static_cast<double>(c.bytes_programmed) /
                          (static_cast<double>(r.puts) * static_cast<double>(key_size + w.value_size));
  r.erases = c.erase_ops;
  r.put_bytes_read = static_cast<double>(c.bytes_read) / static_cast<double>(r.puts);
  r.sector_erases = c.sector_erases;
  r.run_device_us = c.device_time_us;
  for (std::uint32_t i = 0; i < g.sector_count(); ++i) r.lifetime_erases.push_back(sim.lifetime_erases(i));
  r.erase_min = *std::min_element(r.sector_erases.begin(), r.sector_erases.end());
  r.erase_max = *std::max_element(r.sector_erases.begin(), r.sector_erases.end());
  r.life_min = *std::min_element(r.lifetime_erases.begin(), r.lifetime_erases.end());
  r.life_max = *std::max_element(r.lifetime_erases.begin(), r.lifetime_erases.end());

  if (!r.latencies.empty()) {
    double sum = 0;
    for (float x : r.latencies) sum += x;
    r.update_us_mean = sum / static_cast<double>(r.latencies.size());
    r.update_us_p50 = percentile(r.latencies, 0.50);
    r.update_us_p99 = percentile(r.latencies, 0.99);
    r.update_us_max = *std::max_element(r.latencies.begin(), r.latencies.end());
    for (float x : r.latencies) r.slow_updates += x > 5000.0f;
  }
  r.stats = store->stats();

  // Verify every key.
  std::size_t bad = 0;
  if (auto ve = verify_all(*store, w, bad); ve != Errc::ok || bad) {
    r.error = ve != Errc::ok ? fail_text("verify get", ve) : fmt::format("{} keys read back wrong", bad);
    return r;
  }

  // W3: random gets, each verified.
  {
    const std::uint64_t read0 = c.bytes_read;
    const double t0 = c.device_time_us;
    Value out{};
    for (std::uint8_t k : w.gets) {
      auto got = sync_wait(store->get(w.key(k), out));
      if (!got) {
        r.error = fail_text("W3 get", got.error());
        return r;
      }
      if (*got != w.value_size || std::memcmp(out.data(), w.final[k].data(), w.value_size) != 0) {
        r.error = fmt::format("W3: key {} read back wrong", w.key_sv(k));
        return r;
      }
    }
    const double n = static_cast<double>(std::max<std::size_t>(1, w.gets.size()));
    r.get_bytes_read = static_cast<double>(c.bytes_read - read0) / n;
    r.get_us_mean = (c.device_time_us - t0) / n;
  }

  // Startup: destroy the Store (unmount), build a new one on fresh memory, mount.
  {
    store.reset();
    *mem = Memory<Keys>{};
    store.emplace(flash, config_for(*mem, s));
    const std::uint64_t read0 = c.bytes_read;
    const std::uint64_t ops0 = c.read_ops;
    const double t0 = c.device_time_us;
    if (auto st = sync_wait(store->mount()); !st) {
      r.error = fail_text("mount", st.error());
      return r;
    }
    r.startup_us = c.device_time_us - t0;
    r.startup_bytes_read = c.bytes_read - read0;
    r.startup_read_ops = c.read_ops - ops0;
    bad = 0;
    if (auto ve = verify_all(*store, w, bad); ve != Errc::ok || bad) {
      r.error = ve != Errc::ok ? fail_text("get after mount", ve)
                               : fmt::format("{} keys read back wrong after mount", bad);
      return r;
    }
    if (s.ordered) {
      // The first ordered scan after mount, then a second (steady) one.
      for (int pass = 0; pass < 2; ++pass) {
        const std::uint64_t scan_read0 = c.bytes_read, scan_ops0 = c.read_ops;
        const double scan_t0 = c.device_time_us;
        std::size_t steps = 0;
        auto cursor = store->scan();
        for (;;) {
          auto more = sync_wait(cursor.next());
          if (!more) {
            r.error = fail_text("ordered scan", more.error());
            return r;
          }
          if (!*more) break;
          ++steps;
        }
        if (steps != w.final.size()) {
          r.error = fmt::format("ordered scan: {} keys of {}", steps, w.final.size());
          return r;
        }
        if (pass == 0) {
          r.first_scan_us = c.device_time_us - scan_t0;
          r.first_scan_bytes_read = c.bytes_read - scan_read0;
        } else {
          r.scan_bytes_per_step = static_cast<double>(c.bytes_read - scan_read0) / static_cast<double>(steps);
          r.scan_reads_per_step = static_cast<double>(c.read_ops - scan_ops0) / static_cast<double>(steps);
        }
      }
    }
  }

  const ferrite::FrameStats fs = ferrite::frame_stats();
  r.store_ram = store->ram_bytes();
  r.store_object = sizeof(ferrite::Store);
  r.frames_high_water = fs.high_water_bytes;
  r.largest_frame = fs.largest_frame;
  r.ram_bytes = r.store_ram + r.frames_high_water;

  // Host CPU.
  // Index-less updates scan the log (~0.5 ms of host time each): one repeat.
  const int repeats = s.indexed ? host_repeats : 1;
  r.host_ns_per_update = host_ns<Keys, ferrite::sim::SimFlash>(s, w, repeats, &r.host_ns_per_get,
                                                               &r.host_cpu_ns_per_update, false, [&] {
    return std::make_unique<ferrite::sim::SimFlash>(g, 1, ferrite::sim::TimingModel::instant());
  });
  r.host_ns_per_update_ram =
      host_ns<Keys, RamFlash>(s, w, repeats, nullptr, &r.host_cpu_ns_per_update_ram, false,
                              [&] { return std::make_unique<RamFlash>(g); });
  r.host_ns_per_update_arena =
      host_ns<Keys, RamFlash>(s, w, repeats, nullptr, &r.host_cpu_ns_per_update_arena, true,
                              [&] { return std::make_unique<RamFlash>(g); });
  if (r.host_ns_per_update < 0 || r.host_ns_per_update_ram < 0 || r.host_ns_per_update_arena < 0) {
    r.error = "host timing run failed";
    return r;
  }
  r.ok = true;
  return r;
}

/// W1m: replays the run (deterministic: same image, same decisions) with a
/// device-time probe around each maintain() call instead of each put.
template <std::size_t Keys>
void measure_maintenance(RunResult& r, const Workload& w) {
  const RunSpec& s = r.spec;
  const ferrite::Geometry g = make_geometry(s);
  ferrite::sim::SimFlash sim(g, 1, ferrite::sim::TimingModel::stm32f4());
  ferrite::Flash flash(sim);
  auto mem = std::make_unique<Memory<Keys>>();
  ferrite::Store store(flash, config_for(*mem, s));
  if (!sync_wait(store.format())) return;
  const auto& c = sim.counters();
  for (std::size_t i = 0; i < key_count; ++i)
    if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return;
  r.maintain_calls = 0;
  r.maintain_us_total = 0;
  r.maintain_us_max = 0;
  r.maintain_erases = 0;
  for (const Op& op : w.updates) {
    if (!sync_wait(store.put(w.key(op.key), w.val(op.value)))) return;
    const double t0 = c.device_time_us;
    auto m = sync_wait(store.maintain(ferrite::MaintenanceBudget{8, true}));
    if (!m) return;
    const double dt = c.device_time_us - t0;
    ++r.maintain_calls;
    r.maintain_us_total += dt;
    r.maintain_us_max = std::max(r.maintain_us_max, dt);
    r.maintain_erases += m->sectors_erased;
  }
}

RunResult run(const RunSpec& s, const Workload& w, int host_repeats) {
  RunResult r = s.indexed ? run_ferrite<key_count>(s, w, host_repeats) : run_ferrite<1>(s, w, host_repeats);
  if (r.ok && s.maintain) {
    if (s.indexed)
      measure_maintenance<key_count>(r, w);
    else
      measure_maintenance<1>(r, w);
  }
  return r;
}

// ---------------------------------------------------------------------------
// ferrite's own targets (W1 on 2 x 16 KiB, 4-byte unit, re-programming forbidden)

struct Targets {
  static constexpr double write_amplification = 1.3;
  static constexpr double update_us_mean = 250;
  static constexpr double worst_update_us = 5000;  // with maintenance in idle time
  static constexpr double erases_16k = 10;         // 10 erases of 16 KiB = 160 KiB erased
  static constexpr double erase_spread = 1.2;      // per-sector max / min
  static constexpr double get_bytes = 16;
  static constexpr double startup_us = 1000;
  static constexpr double ram_indexed = 1024;
  static constexpr double ram_index_less = 128;
  static constexpr double host_ns = 500;
};

/// Erase budget scaled to the same erased bytes: 10 x 16 KiB = 40 x 4 KiB.
double erase_target(const RunSpec& s) { return Targets::erases_16k * 16384.0 / s.sector_size; }
double spread(const RunResult& r) {
  return r.erase_min ? static_cast<double>(r.erase_max) / r.erase_min : (r.erase_max ? INFINITY : 1.0);
}
const char* mark(bool pass) { return pass ? "ok" : "MISS"; }

// ---------------------------------------------------------------------------
// Host comparisons

struct Peer {
  explicit Peer(std::string n, bool r = false, std::string why = {})
      : name(std::move(n)), ran(r), note(std::move(why)) {}
  std::string name;
  bool ran = false;
  std::string note;
  double put_ops = 0;  // ops/s
  double get_ops = 0;  // ops/s (0: not measured)
};

double ops_per_s(Clock::duration d, std::size_t n) {
  const double s = std::chrono::duration<double>(d).count();
  return s > 0 ? static_cast<double>(n) / s : 0;
}

struct TempDir {
  std::string path;
  std::vector<std::string> files;
  explicit TempDir(const std::string& base) {
    std::string tmpl = base + "/ferrite-bench-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data())) path = buf.data();
  }
  ~TempDir() {
    if (path.empty()) return;
    for (const std::string& f : files) ::unlink((path + "/" + f).c_str());
    ::rmdir(path.c_str());
  }
  bool ok() const { return !path.empty(); }
  std::string file(const std::string& name) {
    files.push_back(name);
    return path + "/" + name;
  }
};

std::string fs_type(const std::string& path) {
  struct statfs st{};
  if (::statfs(path.c_str(), &st) != 0) return "?";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0x01021994ul: return "tmpfs";
    case 0xEF53ul: return "ext4";
    case 0x58465342ul: return "xfs";
    case 0x9123683Eul: return "btrfs";
    case 0x794C7630ul: return "overlayfs";
    default: return fmt::format("fs 0x{:x}", static_cast<unsigned long>(st.f_type));
  }
}

Peer ferrite_ram_peer(const Workload& w) {
  Peer p("ferrite (SimFlash, instant timing, 2x16KiB)");
  RunSpec s{"host", 2, 16384, 4, w.value_size};
  const ferrite::Geometry g = make_geometry(s);
  ferrite::sim::SimFlash sim(g, 1, ferrite::sim::TimingModel::instant());
  ferrite::Flash flash(sim);
  auto mem = std::make_unique<Memory<key_count>>();
  ferrite::Store store(flash, config_for(*mem, s));
  if (!sync_wait(store.format())) return p;
  for (std::size_t i = 0; i < key_count; ++i)
    if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return p;
  const auto t0 = Clock::now();
  for (const Op& op : w.updates)
    if (!sync_wait(store.put(w.key(op.key), w.val(op.value)))) return p;
  const auto t1 = Clock::now();
  Value out{};
  for (std::uint8_t k : w.gets) {
    auto r = sync_wait(store.get(w.key(k), out));
    if (!r || std::memcmp(out.data(), w.final[k].data(), w.value_size) != 0) return p;
  }
  const auto t2 = Clock::now();
  p.put_ops = ops_per_s(t1 - t0, w.updates.size());
  p.get_ops = ops_per_s(t2 - t1, w.gets.size());
  p.ran = true;
  return p;
}

#if FERRITE_BENCH_FILE
/// ferrite on the file port, every program and erase fdatasync'ed.
Peer ferrite_file_peer(const Workload& w, const std::string& dir_base, std::size_t updates) {
  Peer p("ferrite (file port, every_op fdatasync, 2x16KiB)");
  TempDir dir(dir_base);
  if (!dir.ok()) {
    p.note = "no temp dir";
    return p;
  }
  const std::string path = dir.file("ferrite.img");
  dir.files.push_back("ferrite.img.lock");
  RunSpec s{"durable", 2, 16384, 4, w.value_size};
  const ferrite::Geometry g = make_geometry(s);
  ferrite::file::OpenMode mode;
  mode.create_if_missing = true;
  mode.durability = ferrite::file::Durability::every_op;
  auto dev = ferrite::file::FileFlash::open(path, g, mode);
  if (!dev) {
    p.note = fail_text("open", dev.error());
    return p;
  }
  {
    ferrite::Flash flash(*dev);
    auto mem = std::make_unique<Memory<key_count>>();
    ferrite::Store store(flash, config_for(*mem, s));
    if (!sync_wait(store.format())) return p;
    for (std::size_t i = 0; i < key_count; ++i)
      if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return p;
    const std::uint64_t syncs0 = dev->stats().syncs;
    const std::size_t n = std::min(updates, w.updates.size());
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = w.updates[i];
      if (auto st = sync_wait(store.put(w.key(op.key), w.val(op.value))); !st) {
        p.note = fail_text("put", st.error());
        return p;
      }
    }
    const auto t1 = Clock::now();
    p.put_ops = ops_per_s(t1 - t0, n);
    p.note = fmt::format("{:.2f} fdatasync per update, {}", static_cast<double>(dev->stats().syncs - syncs0) / n,
                         fs_type(dir.path));
    p.ran = true;
  }
  (void)dev->close();
  return p;
}
#endif

#if FERRITE_BENCH_SQLITE
/// SQLite: table (k TEXT PRIMARY KEY, v BLOB), WAL, one transaction per put
/// (autocommit), upsert; gets by primary key.
Peer sqlite_peer(const Workload& w, const std::string& dir_base, bool full_sync, std::size_t updates,
                 bool do_gets) {
  Peer p(full_sync ? "SQLite (WAL, synchronous=FULL)" : "SQLite (WAL, synchronous=NORMAL)");
  TempDir dir(dir_base);
  if (!dir.ok()) {
    p.note = "no temp dir";
    return p;
  }
  const std::string path = dir.file("kv.db");
  dir.files.push_back("kv.db-wal");
  dir.files.push_back("kv.db-shm");
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    p.note = "open failed";
    sqlite3_close(db);
    return p;
  }
  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; };
  bool ok = exec("PRAGMA journal_mode=WAL") &&
            exec(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") &&
            exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)");
  sqlite3_stmt* put = nullptr;
  sqlite3_stmt* get = nullptr;
  ok = ok &&
       sqlite3_prepare_v2(db, "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                          -1, &put, nullptr) == SQLITE_OK &&
       sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = ?1", -1, &get, nullptr) == SQLITE_OK;
  auto do_put = [&](std::size_t k, const Value& v) {
    sqlite3_bind_text(put, 1, w.keys[k].data(), key_size, SQLITE_STATIC);
    sqlite3_bind_blob(put, 2, v.data(), static_cast<int>(w.value_size), SQLITE_STATIC);
    const bool done = sqlite3_step(put) == SQLITE_DONE;
    sqlite3_reset(put);
    return done;
  };
  for (std::size_t i = 0; ok && i < key_count; ++i) ok = do_put(i, w.initial[i]);
  const std::size_t n = std::min(updates, w.updates.size());
  const auto t0 = Clock::now();
  for (std::size_t i = 0; ok && i < n; ++i) ok = do_put(w.updates[i].key, w.updates[i].value);
  const auto t1 = Clock::now();
  if (ok && do_gets) {
    for (std::uint8_t k : w.gets) {
      sqlite3_bind_text(get, 1, w.keys[k].data(), key_size, SQLITE_STATIC);
      ok = sqlite3_step(get) == SQLITE_ROW &&
           static_cast<std::uint32_t>(sqlite3_column_bytes(get, 0)) == w.value_size &&
           std::memcmp(sqlite3_column_blob(get, 0), w.final[k].data(), w.value_size) == 0;
      sqlite3_reset(get);
      if (!ok) break;
    }
  }
  const auto t2 = Clock::now();
  if (ok) {
    p.ran = true;
    p.put_ops = ops_per_s(t1 - t0, n);
    if (do_gets) p.get_ops = ops_per_s(t2 - t1, w.gets.size());
    p.note = fs_type(dir.path);
  } else {
    p.note = fmt::format("failed: {}", sqlite3_errmsg(db));
  }
  sqlite3_finalize(put);
  sqlite3_finalize(get);
  sqlite3_close(db);
  return p;
}
#endif

#if FERRITE_BENCH_LMDB
/// LMDB: one write transaction per put; gets in a reused read transaction
/// (mdb_txn_reset/renew). Default flags: commits are synced.
Peer lmdb_peer(const Workload& w, const std::string& dir_base, std::size_t updates, bool do_gets) {
  Peer p("LMDB (default sync)");
  TempDir dir(dir_base);
  if (!dir.ok()) {
    p.note = "no temp dir";
    return p;
  }
  dir.files.push_back("data.mdb");
  dir.files.push_back("lock.mdb");
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  bool ok = mdb_env_create(&env) == 0 && mdb_env_set_mapsize(env, 64u << 20) == 0 &&
            mdb_env_open(env, dir.path.c_str(), 0, 0644) == 0;
  if (ok) {
    MDB_txn* txn = nullptr;
    ok = mdb_txn_begin(env, nullptr, 0, &txn) == 0 && mdb_dbi_open(txn, nullptr, 0, &dbi) == 0 &&
         mdb_txn_commit(txn) == 0;
  }
  auto do_put = [&](std::size_t k, const Value& v) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return false;
    MDB_val key{key_size, const_cast<char*>(w.keys[k].data())};
    MDB_val val{w.value_size, const_cast<std::byte*>(v.data())};
    if (mdb_put(txn, dbi, &key, &val, 0) != 0) {
      mdb_txn_abort(txn);
      return false;
    }
    return mdb_txn_commit(txn) == 0;
  };
  for (std::size_t i = 0; ok && i < key_count; ++i) ok = do_put(i, w.initial[i]);
  const std::size_t n = std::min(updates, w.updates.size());
  const auto t0 = Clock::now();
  for (std::size_t i = 0; ok && i < n; ++i) ok = do_put(w.updates[i].key, w.updates[i].value);
  const auto t1 = Clock::now();
  if (ok && do_gets) {
    MDB_txn* rtxn = nullptr;
    ok = mdb_txn_begin(env, nullptr, MDB_RDONLY, &rtxn) == 0;
    if (ok) mdb_txn_reset(rtxn);
    for (std::uint8_t k : w.gets) {
      if (!ok) break;
      ok = mdb_txn_renew(rtxn) == 0;
      MDB_val key{key_size, const_cast<char*>(w.keys[k].data())};
      MDB_val val{};
      ok = ok && mdb_get(rtxn, dbi, &key, &val) == 0 && val.mv_size == w.value_size &&
           std::memcmp(val.mv_data, w.final[k].data(), w.value_size) == 0;
      mdb_txn_reset(rtxn);
    }
    if (rtxn) mdb_txn_abort(rtxn);
  }
  const auto t2 = Clock::now();
  if (ok) {
    p.ran = true;
    p.put_ops = ops_per_s(t1 - t0, n);
    if (do_gets) p.get_ops = ops_per_s(t2 - t1, w.gets.size());
    p.note = fs_type(dir.path);
  } else {
    p.note = "failed";
  }
  if (env) mdb_env_close(env);
  return p;
}
#endif

struct HostResults {
  std::vector<Peer> ram;      // [0] = ferrite
  std::vector<Peer> durable;  // [0] = ferrite
  std::size_t durable_updates = 0;
  int rounds = 0;
  std::string ram_dir, durable_dir;
};

/// Median of each engine's figures over interleaved rounds (host noise).
std::vector<Peer> merge_rounds(const std::vector<std::vector<Peer>>& rounds) {
  std::vector<Peer> out = rounds.front();
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::vector<double> puts, gets;
    bool ran = true;
    for (const auto& round : rounds) {
      ran = ran && round[i].ran;
      puts.push_back(round[i].put_ops);
      gets.push_back(round[i].get_ops);
      if (!round[i].ran) out[i].note = round[i].note;
    }
    out[i].ran = ran;
    out[i].put_ops = median(puts);
    out[i].get_ops = median(gets);
  }
  return out;
}

HostResults host_comparisons(const Workload& w, const std::string& durable_base, std::size_t durable_updates,
                             int rounds) {
  HostResults h;
  h.ram_dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  h.durable_dir = durable_base;
  h.durable_updates = std::min(durable_updates, w.updates.size());
  h.rounds = rounds;
  std::vector<std::vector<Peer>> ram_rounds, durable_rounds;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Peer> ram;
    ram.push_back(ferrite_ram_peer(w));
#if FERRITE_BENCH_SQLITE
    ram.push_back(sqlite_peer(w, h.ram_dir, false, w.updates.size(), true));
#else
    ram.push_back(Peer("SQLite", false, "not built (libsqlite3-dev missing)"));
#endif
#if FERRITE_BENCH_LMDB
    ram.push_back(lmdb_peer(w, h.ram_dir, w.updates.size(), true));
#else
    ram.push_back(Peer("LMDB", false, "not built (liblmdb-dev missing)"));
#endif
    ram_rounds.push_back(std::move(ram));

    std::vector<Peer> durable;
#if FERRITE_BENCH_FILE
    durable.push_back(ferrite_file_peer(w, durable_base, h.durable_updates));
#else
    durable.push_back(Peer("ferrite (file port)", false, "not built (host_ports=false)"));
#endif
#if FERRITE_BENCH_SQLITE
    durable.push_back(sqlite_peer(w, durable_base, true, h.durable_updates, false));
#endif
#if FERRITE_BENCH_LMDB
    durable.push_back(lmdb_peer(w, durable_base, h.durable_updates, false));
#endif
    durable_rounds.push_back(std::move(durable));
  }
  h.ram = merge_rounds(ram_rounds);
  h.durable = merge_rounds(durable_rounds);
  return h;
}

// ---------------------------------------------------------------------------
// Output

std::string num(double v, int prec = 0) {
  if (std::isinf(v)) return "inf";
  return fmt::format("{:.{}f}", v, prec);
}

void print_runs(const std::vector<RunResult>& runs) {
  fmt::print("\nPer run (device figures from SimFlash with the STM32F4 timing model; the run starts after format)\n");
  constexpr std::string_view row =
      "{:<15} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>5} {:>6} {:>8} {:>7} {:>8} {:>6} {:>5} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6}\n";
  fmt::print(fmt::runtime(row), "label", "prog B", "WA", "erases", "run m/M", "life m/M", "upd mean", "p50", "p99",
             "upd max", "get B", "start us", "st kB", "RAM", "frames", "lframe", "host", "cpu", "bare", "arena");
  for (const RunResult& r : runs) {
    if (!r.ok) {
      fmt::print("{:<15} FAILED: {}\n", r.spec.label, r.error);
      continue;
    }
    fmt::print(fmt::runtime(row), r.spec.label, r.bytes_programmed, num(r.write_amplification, 3), r.erases,
               fmt::format("{}/{}", r.erase_min, r.erase_max), fmt::format("{}/{}", r.life_min, r.life_max),
               num(r.update_us_mean, 1), num(r.update_us_p50, 0), num(r.update_us_p99, 0), num(r.update_us_max, 0),
               num(r.get_bytes_read, 1), num(r.startup_us, 0), num(r.startup_bytes_read / 1024.0, 1), r.ram_bytes,
               r.frames_high_water, r.largest_frame, num(r.host_ns_per_update, 0), num(r.host_cpu_ns_per_update, 0),
               num(r.host_cpu_ns_per_update_ram, 0), num(r.host_cpu_ns_per_update_arena, 0));
  }
  fmt::print("(us: simulated device time; erases m/M: per-sector min/max for the run and over the sim's lifetime\n"
             " including format; st kB: bytes read by mount; RAM = Store::ram_bytes() + frame high water;\n"
             " host: wall-clock ns per update on SimFlash (instant timing), median of runs; cpu: the same in\n"
             " thread CPU time; bare / arena: CPU ns on a bare RAM device, with malloc / a FrameArena for frames)\n");

  fmt::print("\nPass/miss against ferrite's targets. The targets are for W1; a figure in (parentheses) has no\n"
             "target for that run. Erases are scaled to the same erased bytes: 10 x 16 KiB = 40 x 4 KiB.\n");
  constexpr std::string_view prow =
      "{:<15} {:>10} {:>11} {:>14} {:>12} {:>11} {:>10} {:>13} {:>15} {:>11} {:>10}\n";
  fmt::print(fmt::runtime(prow), "label", "WA<=1.3", "mean<=250", "worst<=5ms", "erases", "spread<=1.2", "get<=16B",
             "startup<=1ms", "RAM<=1K/128", "host<=500", "cpu<=500");
  auto cell = [](bool applies, const std::string& value, bool pass) {
    return applies ? fmt::format("{} {}", value, mark(pass)) : fmt::format("({})", value);
  };
  for (const RunResult& r : runs) {
    if (!r.ok) continue;
    const bool w1 = r.spec.value_size == 4;
    const double ram_target = r.spec.indexed ? Targets::ram_indexed : Targets::ram_index_less;
    fmt::print(fmt::runtime(prow), r.spec.label,
               cell(true, num(r.write_amplification, 2), r.write_amplification <= Targets::write_amplification),
               cell(w1, num(r.update_us_mean, 0), r.update_us_mean <= Targets::update_us_mean),
               cell(r.spec.maintain, num(r.update_us_max, 0), r.update_us_max <= Targets::worst_update_us),
               cell(w1, fmt::format("{}/{}", r.erases, num(erase_target(r.spec))), r.erases <= erase_target(r.spec)),
               cell(true, num(spread(r), 2), spread(r) <= Targets::erase_spread),
               cell(w1 && r.spec.indexed, num(r.get_bytes_read, 0), r.get_bytes_read <= Targets::get_bytes),
               cell(w1, num(r.startup_us, 0), r.startup_us <= Targets::startup_us),
               cell(true, fmt::format("{}", r.ram_bytes), static_cast<double>(r.ram_bytes) <= ram_target),
               cell(w1, num(r.host_ns_per_update, 0), r.host_ns_per_update <= Targets::host_ns),
               cell(w1, num(r.host_cpu_ns_per_update, 0), r.host_cpu_ns_per_update <= Targets::host_ns));
  }
}

const RunResult* find(const std::vector<RunResult>& runs, std::string_view label) {
  for (const RunResult& r : runs)
    if (r.spec.label == label && r.ok) return &r;
  return nullptr;
}

void print_targets(const std::vector<RunResult>& runs) {
  struct Row {
    const char* figure;
    const char* kved;
    const char* littlefs;
    const char* flashdb;
    const char* target;
    double limit;
    std::string a_label, b_label;  // 2x16k / 8x4k
    double (*get)(const RunResult&);
  };
  const std::vector<Row> rows = {
      {"write amplification (W1)", "1.55", "3.91", "7.81", "<= 1.3", Targets::write_amplification, "W1-2x16k",
       "W1-8x4k", [](const RunResult& r) { return r.write_amplification; }},
      {"write amplification (W2)", "-", "2.13", "3.76", "<= 1.3", Targets::write_amplification, "W2-2x16k",
       "W2-8x4k", [](const RunResult& r) { return r.write_amplification; }},
      {"device us per update, mean", "367", "1,411", "1,438", "<= 250", Targets::update_us_mean, "W1-2x16k",
       "W1-8x4k", [](const RunResult& r) { return r.update_us_mean; }},
      {"worst update, us (maintain)", "254 ms", "394 ms", "270 ms", "<= 5,000", Targets::worst_update_us,
       "W1m-2x16k", "W1m-8x4k", [](const RunResult& r) { return r.update_us_max; }},
      {"erases for the run", "10", "38", "84", "<= 10 (x4 for 4K)", 0, "W1-2x16k", "W1-8x4k",
       [](const RunResult& r) { return static_cast<double>(r.erases); }},
      {"per-sector erase max/min", "-", "-", "-", "<= 1.2", Targets::erase_spread, "W1-2x16k", "W1-8x4k",
       [](const RunResult& r) { return spread(r); }},
      {"flash bytes read per get (W3)", "2,103", "8,672", "1,822", "<= 16", Targets::get_bytes, "W1-2x16k",
       "W1-8x4k", [](const RunResult& r) { return r.get_bytes_read; }},
      {"startup device time, us", "31,700", "600", "1,100", "<= 1,000", Targets::startup_us, "W1-2x16k", "W1-8x4k",
       [](const RunResult& r) { return r.startup_us; }},
      {"RAM for 100 keys, indexed (B)", "17", "508", "1,012", "<= 1,024", Targets::ram_indexed, "W1-2x16k",
       "W1-8x4k", [](const RunResult& r) { return static_cast<double>(r.ram_bytes); }},
      {"RAM, index-less (B)", "-", "-", "-", "<= 128", Targets::ram_index_less, "W1-2x16k-noidx",
       "W1-8x4k-noidx", [](const RunResult& r) { return static_cast<double>(r.ram_bytes); }},
      {"host ns per update (RAM flash)", "~600", "~50,000", "~1,900", "<= 500", Targets::host_ns, "W1-2x16k",
       "W1-8x4k", [](const RunResult& r) { return r.host_ns_per_update; }},
      {"  same, thread CPU time", "", "", "", "<= 500", Targets::host_ns, "W1-2x16k", "W1-8x4k",
       [](const RunResult& r) { return r.host_cpu_ns_per_update; }},
      {"  same, bare RAM device, CPU", "", "", "", "<= 500", Targets::host_ns, "W1-2x16k", "W1-8x4k",
       [](const RunResult& r) { return r.host_cpu_ns_per_update_ram; }},
  };
  fmt::print("\nTargets (ferrite's own; W1, 4-byte unit, re-programming forbidden)\n");
  fmt::print("{:<32} {:>7} {:>9} {:>8} {:>18} {:>12} {:>5} {:>12} {:>5}\n", "figure", "kved", "littlefs", "FlashDB",
             "target", "2x16KiB", "", "8x4KiB", "");
  for (const Row& row : rows) {
    std::string cells[2], marks[2];
    const std::string labels[2] = {row.a_label, row.b_label};
    for (int i = 0; i < 2; ++i) {
      const RunResult* r = find(runs, labels[i]);
      if (!r) {
        cells[i] = "-";
        continue;
      }
      const double v = row.get(*r);
      const double limit = row.limit > 0 ? row.limit : erase_target(r->spec);
      const int prec = v < 10 ? 2 : (v < 100 ? 1 : 0);
      cells[i] = num(v, prec);
      marks[i] = mark(v <= limit);
    }
    fmt::print("{:<32} {:>7} {:>9} {:>8} {:>18} {:>12} {:>5} {:>12} {:>5}\n", row.figure, row.kved, row.littlefs,
               row.flashdb, row.target, cells[0], marks[0], cells[1], marks[1]);
  }
}

void print_extra(const std::vector<RunResult>& runs) {
  fmt::print("\nDetails\n");
  for (const RunResult& r : runs) {
    if (!r.ok) continue;
    fmt::print("{:<16} puts {} (prog ops {}), run device time {:.1f} ms, gc runs {}, records copied {}, "
               "updates > 5 ms: {}, sector erases [{}], lifetime [{}]; RAM = Store {} (object {}) + frames {}; "
               "get {:.2f} us, host get {:.0f} ns; flash bytes read per put {:.1f}; mount: {} reads, {} bytes\n",
               r.spec.label, r.puts, r.program_ops, r.run_device_us / 1000, r.stats.gc_runs, r.stats.records_copied,
               r.slow_updates, fmt::join(r.sector_erases, " "), fmt::join(r.lifetime_erases, " "), r.store_ram,
               r.store_object, r.frames_high_water, r.get_us_mean, r.host_ns_per_get, r.put_bytes_read,
               r.startup_read_ops, r.startup_bytes_read);
    if (r.spec.ordered)
      fmt::print("{:<16} ordered: first scan after mount {:.0f} us ({} bytes read), then {:.1f} bytes in {:.1f} reads per step\n",
                 "", r.first_scan_us, r.first_scan_bytes_read, r.scan_bytes_per_step, r.scan_reads_per_step);
    if (r.spec.maintain)
      fmt::print("{:<16} maintain(): {} calls, {} erases, {:.1f} us mean, {:.0f} us max per call "
                 "(idle device time the application must give)\n",
                 "", r.maintain_calls, r.maintain_erases,
                 r.maintain_calls ? r.maintain_us_total / static_cast<double>(r.maintain_calls) : 0.0,
                 r.maintain_us_max);
  }
}

void print_host(const HostResults& h, std::size_t updates, std::size_t gets) {
  auto table = [](const std::vector<Peer>& peers, bool gets_too) {
    const Peer& f = peers.front();
    fmt::print("{:<48} {:>12} {:>12} {:>12} {:>12}  {}\n", "engine", "put ops/s", "ferrite/x", gets_too ? "get ops/s" : "",
               gets_too ? "ferrite/x" : "", "note");
    for (const Peer& p : peers) {
      if (!p.ran) {
        fmt::print("{:<48} {:>12}  {}\n", p.name, "skipped", p.note);
        continue;
      }
      const std::string pr = f.ran && p.put_ops > 0 ? num(f.put_ops / p.put_ops, 2) : "-";
      const std::string gr = f.ran && p.get_ops > 0 ? num(f.get_ops / p.get_ops, 2) : "-";
      fmt::print("{:<48} {:>12} {:>12} {:>12} {:>12}  {}\n", p.name, num(p.put_ops), pr,
                 gets_too ? num(p.get_ops) : "", gets_too ? gr : "", p.note);
    }
  };
  fmt::print("\nHost comparison, in memory (W1 keys/values: {} single-put transactions, then {} gets; peers in {};\n"
             "median of {} interleaved rounds; ferrite/x > 1 means ferrite is faster)\n",
             updates, gets, h.ram_dir, h.rounds);
  table(h.ram, true);
  fmt::print("\nHost comparison, durable commits ({} updates, each durable before the next; {}; median of {} rounds)\n",
             h.durable_updates, h.durable_dir, h.rounds);
  table(h.durable, false);
}

std::string json_escape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    o += ch;
  }
  return o;
}

std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{:.6g}", v);
}

struct BenchInfo {
  std::string mode;
  std::string commit;
  std::size_t updates = 0, gets = 0;
  double load_start = 0, load_end = 0;
  long cpus = 0;
};

double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

bool write_json(const std::string& path, const std::vector<RunResult>& runs, const HostResults* host,
                const BenchInfo& info, const std::string& extra) {
  std::string o = "{\n";
  o += fmt::format("  \"_meta\": {{\"seed\": \"0x5EEDC0FFEE\", \"mode\": \"{}\", \"updates\": {}, \"gets\": {}, "
                   "\"timing\": \"stm32f4: 0.05 us/B read, 16 us per 32-bit word programmed, 15625 us per KiB erased\", "
                   "\"wa_counts\": \"bytes programmed after format / ((100 initial puts + updates) x (key + value bytes))\", "
                   "\"host_load_avg_start\": {}, \"host_load_avg_end\": {}, \"host_cpus\": {}, \"commit\": \"{}\"}}",
                   info.mode, info.updates, info.gets, jnum(info.load_start), jnum(info.load_end), info.cpus,
                   json_escape(info.commit));
  for (const RunResult& r : runs) {
    o += fmt::format(",\n  \"{}\": {{", json_escape(r.spec.label));
    if (!r.ok) {
      o += fmt::format("\"error\": \"{}\"}}", json_escape(r.error));
      continue;
    }
    auto list = [](const std::vector<std::uint32_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); };
    o += fmt::format(
        "\"sectors\": {}, \"sector_size\": {}, \"program_unit\": {}, \"value_size\": {}, \"indexed\": {}, "
        "\"maintain\": {}, \"puts\": {}, \"bytes_programmed\": {}, \"write_amplification\": {}, "
        "\"update_us_mean\": {}, \"update_us_p50\": {}, \"update_us_p99\": {}, \"update_us_max\": {}, "
        "\"updates_over_5ms\": {}, \"erases\": {}, \"erase_min\": {}, \"erase_max\": {}, \"sector_erases\": {}, "
        "\"lifetime_erase_min\": {}, \"lifetime_erase_max\": {}, \"lifetime_erases\": {}, \"get_bytes_read\": {}, "
        "\"get_us_mean\": {}, \"startup_us\": {}, \"startup_bytes_read\": {}, \"startup_read_ops\": {}, "
        "\"put_bytes_read\": {}, \"ram_bytes\": {}, "
        "\"store_ram_bytes\": {}, \"store_object_bytes\": {}, \"frame_high_water_bytes\": {}, "
        "\"largest_frame\": {}, \"host_ns_per_update\": {}, \"host_ns_per_update_bare_ram\": {}, "
        "\"host_ns_per_update_arena\": {}, \"host_cpu_ns_per_update\": {}, \"host_cpu_ns_per_update_bare_ram\": {}, "
        "\"host_cpu_ns_per_update_arena\": {}, \"host_ns_per_get\": {}, \"gc_runs\": {}, \"records_copied\": {}",
        r.spec.sectors, r.spec.sector_size, r.spec.unit, r.spec.value_size, r.spec.indexed, r.spec.maintain, r.puts,
        r.bytes_programmed, jnum(r.write_amplification), jnum(r.update_us_mean), jnum(r.update_us_p50),
        jnum(r.update_us_p99), jnum(r.update_us_max), r.slow_updates, r.erases, r.erase_min, r.erase_max,
        list(r.sector_erases), r.life_min, r.life_max, list(r.lifetime_erases), jnum(r.get_bytes_read),
        jnum(r.get_us_mean), jnum(r.startup_us), r.startup_bytes_read, r.startup_read_ops, jnum(r.put_bytes_read),
        r.ram_bytes, r.store_ram, r.store_object,
        r.frames_high_water, r.largest_frame, jnum(r.host_ns_per_update), jnum(r.host_ns_per_update_ram),
        jnum(r.host_ns_per_update_arena), jnum(r.host_cpu_ns_per_update), jnum(r.host_cpu_ns_per_update_ram),
        jnum(r.host_cpu_ns_per_update_arena), jnum(r.host_ns_per_get), r.stats.gc_runs, r.stats.records_copied);
    if (r.spec.ordered)
      o += fmt::format(", \"ordered\": true, \"first_scan_us\": {}, \"first_scan_bytes_read\": {}, "
                       "\"scan_bytes_per_step\": {}, \"scan_reads_per_step\": {}",
                       jnum(r.first_scan_us), r.first_scan_bytes_read, jnum(r.scan_bytes_per_step),
                       jnum(r.scan_reads_per_step));
    if (r.spec.maintain)
      o += fmt::format(", \"maintain_calls\": {}, \"maintain_erases\": {}, \"maintain_us_mean\": {}, "
                       "\"maintain_us_max\": {}",
                       r.maintain_calls, r.maintain_erases,
                       jnum(r.maintain_calls ? r.maintain_us_total / static_cast<double>(r.maintain_calls) : 0),
                       jnum(r.maintain_us_max));
    o += "}";
  }
  if (host) {
    auto peers = [](const std::vector<Peer>& v) {
      std::string s = "[";
      for (std::size_t i = 0; i < v.size(); ++i) {
        const Peer& p = v[i];
        const Peer& f = v.front();
        s += fmt::format("{}{{\"engine\": \"{}\", \"ran\": {}, \"put_ops_per_s\": {}, \"get_ops_per_s\": {}, "
                         "\"ferrite_put_ratio\": {}, \"ferrite_get_ratio\": {}, \"note\": \"{}\"}}",
                         i ? ", " : "", json_escape(p.name), p.ran, jnum(p.put_ops), jnum(p.get_ops),
                         jnum(p.ran && f.ran && p.put_ops > 0 ? f.put_ops / p.put_ops : NAN),
                         jnum(p.ran && f.ran && p.get_ops > 0 ? f.get_ops / p.get_ops : NAN), json_escape(p.note));
      }
      return s + "]";
    };
    o += fmt::format(",\n  \"_host\": {{\"in_memory\": {}, \"durable\": {}, \"durable_updates\": {}, \"rounds\": {}, "
                     "\"ram_dir\": \"{}\", \"durable_dir\": \"{}\"}}",
                     peers(host->ram), peers(host->durable), host->durable_updates, host->rounds,
                     json_escape(host->ram_dir), json_escape(host->durable_dir));
  }
  o += extra;  // more top-level keys, each starting with ",\n"
  o += "\n}\n";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  const bool ok = std::fwrite(o.data(), 1, o.size(), f) == o.size();
  return std::fclose(f) == 0 && ok;
}

bool write_latency_csv(const std::string& path, const std::vector<RunResult>& runs) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  fmt::print(f, "label,update,device_us\n");
  for (const RunResult& r : runs)
    for (std::size_t i = 0; i < r.latencies.size(); ++i) fmt::print(f, "{},{},{:.2f}\n", r.spec.label, i, r.latencies[i]);
  return std::fclose(f) == 0;
}

bool write_erase_csv(const std::string& path, const std::vector<RunResult>& runs) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  fmt::print(f, "label,sector,run_erases,lifetime_erases\n");
  for (const RunResult& r : runs)
    for (std::size_t i = 0; i < r.sector_erases.size(); ++i)
      fmt::print(f, "{},{},{},{}\n", r.spec.label, i, r.sector_erases[i], r.lifetime_erases[i]);
  return std::fclose(f) == 0;
}

// ---------------------------------------------------------------------------
// Crypto and compression (built when meson found libsodium and zstd): the
// cost of a sealed store (ferrite::Sealer) against a plain one on the same
// operation stream, and zstd on realistic sensor documents through the
// Sealer's own frame()/unframe(). See "Crypto and compression" in bench/README.md.

#if FERRITE_HAVE_CRYPTO
namespace sealed {

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

}  // namespace sealed
#endif  // FERRITE_HAVE_CRYPTO

std::vector<RunSpec> all_runs() {
  std::vector<RunSpec> v;
  struct Geo {
    const char* name;
    std::uint32_t sectors, size;
  };
  const Geo geos[] = {{"2x16k", 2, 16384}, {"8x4k", 8, 4096}};
  for (std::uint32_t unit : {4u, 8u, 16u})
    for (std::uint32_t vs : {4u, 32u})
      for (const Geo& g : geos) {
        RunSpec s;
        s.label = fmt::format("W{}-{}{}", vs == 4 ? 1 : 2, g.name, unit == 4 ? "" : fmt::format("-u{}", unit));
        s.sectors = g.sectors;
        s.sector_size = g.size;
        s.unit = unit;
        s.value_size = vs;
        v.push_back(s);
      }
  for (const Geo& g : geos) {
    RunSpec s{fmt::format("W1m-{}", g.name), g.sectors, g.size, 4, 4, true, true};
    v.push_back(s);
  }
  for (const Geo& g : geos) {
    RunSpec s{fmt::format("W1-{}-noidx", g.name), g.sectors, g.size, 4, 4, false, false};
    v.push_back(s);
  }
  for (const Geo& g : geos) {
    RunSpec s{fmt::format("W1-{}-ord", g.name), g.sectors, g.size, 4, 4, false, true, true};
    v.push_back(s);
  }
  // Run order: W1 first, then W2.
  std::stable_sort(v.begin(), v.end(), [](const RunSpec& a, const RunSpec& b) {
    auto rank = [](const RunSpec& s) { return s.value_size == 4 ? (s.maintain ? 1 : (s.indexed ? 0 : 2)) : 3; };
    return rank(a) < rank(b);
  });
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, latency_path, erase_path, only, commit = "unknown", durable_dir = "/tmp";
  bool quick = false, host = true;
  std::size_t updates = 20000, gets = 10000, durable_updates = 1000;
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "ferrite-bench: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") json_path = value();
    else if (a == "--latency-csv") latency_path = value();
    else if (a == "--erase-csv") erase_path = value();
    else if (a == "--only") only = value();
    else if (a == "--commit") commit = value();
    else if (a == "--durable-dir") durable_dir = value();
    else if (a == "--updates") updates = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--durable-updates") durable_updates = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--quick") quick = true;
    else if (a == "--no-host") host = false;
    else if (a == "-h" || a == "--help") {
      fmt::print("usage: ferrite-bench [--quick] [--json FILE] [--latency-csv FILE] [--erase-csv FILE]\n"
                 "                     [--only SUBSTR] [--no-host] [--durable-dir DIR] [--updates N]\n"
                 "                     [--durable-updates N] [--commit HASH]\n");
      return 0;
    } else {
      fmt::print(stderr, "ferrite-bench: unknown argument '{}' (try --help)\n", a);
      return 2;
    }
  }
  if (quick) {
    updates = std::min<std::size_t>(updates, 500);
    gets = 200;
    durable_updates = std::min<std::size_t>(durable_updates, 20);
    repeats = 1;
  }

  BenchInfo info;
  info.mode = quick ? "quick" : "full";
  info.commit = commit;
  info.updates = updates;
  info.gets = gets;
  info.load_start = load_average();
  info.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const Workload w1 = make_workload(4, updates, gets);
  const Workload w2 = make_workload(32, updates, gets);
  fmt::print("ferrite-bench: seed 0x5EEDC0FFEE, 100 keys k000..k099, 100 initial puts + {} updates, {} gets (W3){}\n",
             updates, gets, quick ? " [--quick]" : "");
  fmt::print("device: SimFlash, STM32F4 timing (0.05 us/B read, 16 us per 32-bit word programmed, 250 ms per 16 KiB "
             "erased), re-programming forbidden\n");

  std::vector<RunResult> runs;
  bool all_ok = true;
  for (const RunSpec& s : all_runs()) {
    if (!only.empty() && s.label.find(only) == std::string::npos) continue;
    runs.push_back(run(s, s.value_size == 4 ? w1 : w2, repeats));
    if (!runs.back().ok) {
      all_ok = false;
      fmt::print(stderr, "ferrite-bench: {} failed: {}\n", s.label, runs.back().error);
    }
  }
  print_runs(runs);
  print_extra(runs);
  print_targets(runs);

  std::optional<HostResults> h;
  if (host) {
    h = host_comparisons(w1, durable_dir, durable_updates, quick ? 1 : 3);
    print_host(*h, w1.updates.size(), w1.gets.size());
    if (!h->ram.front().ran || !h->durable.front().ran) {
      all_ok = false;
      fmt::print(stderr, "ferrite-bench: a ferrite host comparison run failed: {} {}\n", h->ram.front().note,
                 h->durable.front().note);
    }
  }

  std::string crypto_json;
#if FERRITE_HAVE_CRYPTO
  {
    // Crypto and compression: W1 and sensor documents (a quarter as many
    // updates as W1: 5,000 by default), sealed vs plain.
    const sealed::Results cr = sealed::run_all(w1, std::max<std::size_t>(1, updates / 4), gets, quick, repeats, only);
    sealed::print(cr);
    crypto_json = sealed::json(cr);
    if (cr.ran && !sealed::all_ok(cr)) {
      all_ok = false;
      fmt::print(stderr, "ferrite-bench: a crypto/compression run failed\n");
    }
  }
#endif

  info.load_end = load_average();
  fmt::print("\nhost: {} CPUs, 1-min load average {:.1f} at start, {:.1f} at end{}\n", info.cpus, info.load_start,
             info.load_end,
             std::max(info.load_start, info.load_end) > static_cast<double>(info.cpus)
                 ? " -- the machine was busy: host timings (ns, ops/s) are inflated and noisy"
                 : "");
  if (!json_path.empty() && !write_json(json_path, runs, h ? &*h : nullptr, info, crypto_json)) {
    fmt::print(stderr, "ferrite-bench: cannot write {}\n", json_path);
    return 1;
  }
  if (!latency_path.empty() && !write_latency_csv(latency_path, runs)) {
    fmt::print(stderr, "ferrite-bench: cannot write {}\n", latency_path);
    return 1;
  }
  if (!erase_path.empty() && !write_erase_csv(erase_path, runs)) {
    fmt::print(stderr, "ferrite-bench: cannot write {}\n", erase_path);
    return 1;
  }
  return all_ok ? 0 : 1;
}
