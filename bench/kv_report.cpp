// ferrite-bench's output: the tables on stdout, ferrite's targets, the JSON
// object and the CSV files.

#include "kv_bench.hpp"

namespace kvbench {

std::string num(double v, int prec) {
  if (std::isinf(v)) return "inf";
  return fmt::format("{:.{}f}", v, prec);
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

double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

namespace {

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

const RunResult* find(const std::vector<RunResult>& runs, std::string_view label) {
  for (const RunResult& r : runs)
    if (r.spec.label == label && r.ok) return &r;
  return nullptr;
}

}  // namespace

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

}  // namespace kvbench
