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
//
// The parts: kv_runs.cpp (workloads and device runs), kv_host.cpp (host
// comparisons), kv_report.cpp (tables, targets, JSON, CSV), sealed_bench.cpp
// (crypto and compression); kv_bench.hpp declares what they share.

#include "kv_bench.hpp"
#include "sealed_bench.hpp"

namespace kvbench {
namespace {

int bench_main(int argc, char** argv) {
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
    const sealed::Outcome cr =
        sealed::run_and_print(w1, std::max<std::size_t>(1, updates / 4), gets, quick, repeats, only);
    crypto_json = cr.json;
    if (cr.ran && !cr.ok) {
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

}  // namespace
}  // namespace kvbench

int main(int argc, char** argv) { return kvbench::bench_main(argc, argv); }
