// ferrite-bench's shared parts: the W1/W2 workloads, a run's specification
// and figures, the host comparisons' results and the output functions.
// Every translation unit of the benchmark includes it first: it brings the
// std, fmt and peer-library headers (kv_prologue.hpp) before the imports
// (module prologue rule: no std header may follow an import), then the
// imports, then the declarations.
#pragma once

#include "kv_prologue.hpp"

import ferrite;
import ferrite.sim;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#if FERRITE_BENCH_FILE
import ferrite.file;
#endif

namespace kvbench {

using Clock = std::chrono::steady_clock;
using ferrite::Errc;
using ferrite::sync_wait;

// ---------------------------------------------------------------------------
// Workloads (kv_runs.cpp)

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

Workload make_workload(std::uint32_t value_size, std::size_t updates, std::size_t gets);

// ---------------------------------------------------------------------------
// Runs (kv_runs.cpp)

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

std::string fail_text(std::string_view what, Errc e);
double percentile(std::vector<float> v, double p);
double median(std::vector<double> v);
ferrite::Geometry make_geometry(const RunSpec& s);
/// This thread's CPU time in ns: unlike the wall clock it does not count
/// time the thread spent descheduled on a busy machine.
double thread_cpu_ns();

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
  if (!s.indexed) c.index = {};  // index-less: lookups scan the log
  return c;
}

/// Every W1/W2 run of the table, W1 first.
std::vector<RunSpec> all_runs();
/// One run: device figures, verification, host CPU (and maintenance for W1m).
RunResult run(const RunSpec& s, const Workload& w, int host_repeats);

// ---------------------------------------------------------------------------
// Host comparisons (kv_host.cpp)

struct Peer {
  explicit Peer(std::string n, bool r = false, std::string why = {})
      : name(std::move(n)), ran(r), note(std::move(why)) {}
  std::string name;
  bool ran = false;
  std::string note;
  double put_ops = 0;  // ops/s
  double get_ops = 0;  // ops/s (0: not measured)
};


struct HostResults {
  std::vector<Peer> ram;      // [0] = ferrite
  std::vector<Peer> durable;  // [0] = ferrite
  std::size_t durable_updates = 0;
  int rounds = 0;
  std::string ram_dir, durable_dir;
};

HostResults host_comparisons(const Workload& w, const std::string& durable_base, std::size_t durable_updates,
                             int rounds);

// ---------------------------------------------------------------------------
// Output (kv_report.cpp)

std::string num(double v, int prec = 0);
std::string json_escape(std::string_view s);
std::string jnum(double v);

struct BenchInfo {
  std::string mode;
  std::string commit;
  std::size_t updates = 0, gets = 0;
  double load_start = 0, load_end = 0;
  long cpus = 0;
};

double load_average();
void print_runs(const std::vector<RunResult>& runs);
void print_extra(const std::vector<RunResult>& runs);
void print_targets(const std::vector<RunResult>& runs);
void print_host(const HostResults& h, std::size_t updates, std::size_t gets);
bool write_json(const std::string& path, const std::vector<RunResult>& runs, const HostResults* host,
                const BenchInfo& info, const std::string& extra);
bool write_latency_csv(const std::string& path, const std::vector<RunResult>& runs);
bool write_erase_csv(const std::string& path, const std::vector<RunResult>& runs);

}  // namespace kvbench
