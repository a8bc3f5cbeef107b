// ferrite-large-bench's results and how they are printed: a console table,
// one JSON object (bench/large_results.json) and markdown tables
// (bench/large_results.md). Plain C++ + fmt (included before the imports).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace large {

struct Options {
  bool quick = false;
  std::string json_path, markdown_path, only, commit = "unknown";
};

struct MountCost {
  std::uint64_t bytes_read = 0;
  std::uint64_t read_ops = 0;
  double device_us = 0;
};

struct FillResult {
  std::string label;
  bool ok = false;
  std::string error;
  std::uint32_t chip_bytes = 0;
  std::uint32_t keys = 0;            // keys when the first new key was refused
  std::uint32_t live_bytes = 0;      // live bytes then
  std::uint32_t capacity_bytes = 0;  // stats().capacity_bytes then
  std::size_t updates = 0;           // same-length updates at full
  std::size_t refused_updates = 0;   // ... refused (each one is a failure of the engine's promise)
  std::uint32_t capacity_after_mount = 0;
  MountCost mount;
};

struct RunResult {
  std::string label;
  bool ok = false;
  std::string error;
  bool maintain = false;
  bool summaries = false;  // StoreConfig::sector_summaries
  std::uint32_t chip_bytes = 0, sectors = 0;
  // load phase
  std::uint32_t load_keys = 0, load_live_bytes = 0, capacity_bytes = 0;
  std::size_t load_refused = 0;
  MountCost mount_after_load;
  // operation phase
  std::size_t ops = 0;
  std::size_t refused[3] = {0, 0, 0};  // by OpKind: insert, update, erase
  std::uint64_t user_bytes = 0, bytes_programmed = 0, erases = 0;
  std::uint32_t erase_min = 0, erase_max = 0;
  double device_us = 0;  // operations and maintenance
  std::vector<float> put_us, op_us, maintain_us;
  std::size_t ops_erasing = 0, ops_copying = 0;
  std::uint32_t end_keys = 0, end_live_bytes = 0, end_capacity_bytes = 0;
  MountCost mount_at_end;
  // summary
  double put_p50 = 0, put_p99 = 0, put_max = 0, op_mean = 0;
  double maintain_mean = 0, maintain_max = 0, wa = 0, us_per_op = 0;
};

struct Results {
  std::size_t ops = 0, fill_updates = 0;
  bool quick = false;
  std::string commit;
  std::vector<FillResult> fills;
  std::vector<RunResult> runs;
};

inline double percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(std::max<std::size_t>(rank, 1), v.size()) - 1];
}

inline double mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

inline void summarize(RunResult& r) {
  r.put_p50 = percentile(r.put_us, 0.50);
  r.put_p99 = percentile(r.put_us, 0.99);
  r.put_max = r.put_us.empty() ? 0 : *std::max_element(r.put_us.begin(), r.put_us.end());
  r.op_mean = mean(r.op_us);
  r.maintain_mean = mean(r.maintain_us);
  r.maintain_max = r.maintain_us.empty() ? 0 : *std::max_element(r.maintain_us.begin(), r.maintain_us.end());
  r.wa = r.user_bytes ? static_cast<double>(r.bytes_programmed) / static_cast<double>(r.user_bytes) : 0;
  r.us_per_op = r.ops ? r.device_us / static_cast<double>(r.ops) : 0;
}

inline double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }

inline void print_fill(const FillResult& f) {
  if (!f.ok) {
    fmt::print("{:<24} FAILED: {}\n", f.label, f.error);
    return;
  }
  fmt::print("{:<24} capacity {:>6} B ({:.1f} % of chip), full at {:>6} B live ({:.1f} %), {} keys; "
             "{} of {} updates at full refused; mount {} B {:.0f} us\n",
             f.label, f.capacity_bytes, pct(f.capacity_bytes, f.chip_bytes), f.live_bytes,
             pct(f.live_bytes, f.chip_bytes), f.keys, f.refused_updates, f.updates, f.mount.bytes_read,
             f.mount.device_us);
}

inline void print_run(const RunResult& r) {
  if (!r.ok) {
    fmt::print("{:<24} FAILED: {}\n", r.label, r.error);
    return;
  }
  fmt::print("{:<24} cap {:.1f} % live {:.1f} % ({} keys) | mount load {} B {:.0f} us, end {} B {:.0f} us | "
             "put p50/p99/max {:.0f}/{:.0f}/{:.0f} us | maint mean/max {:.0f}/{:.0f} us | WA {:.3f} | "
             "erases {} | {:.0f} us/op | refused {}/{}/{}\n",
             r.label, pct(r.capacity_bytes, r.chip_bytes), pct(r.load_live_bytes, r.chip_bytes), r.load_keys,
             r.mount_after_load.bytes_read, r.mount_after_load.device_us, r.mount_at_end.bytes_read,
             r.mount_at_end.device_us, r.put_p50, r.put_p99, r.put_max, r.maintain_mean, r.maintain_max, r.wa,
             r.erases, r.us_per_op, r.refused[0], r.refused[1], r.refused[2]);
}

inline void json_mount(std::string& o, const char* name, const MountCost& m) {
  o += fmt::format("\"{}\": {{\"bytes_read\": {}, \"read_ops\": {}, \"device_us\": {:.2f}}}", name, m.bytes_read,
                   m.read_ops, m.device_us);
}

inline std::string json_text(const Results& res) {
  std::string o = "{\n";
  o += fmt::format("  \"_meta\": {{\"commit\": \"{}\", \"mode\": \"{}\", \"operations\": {}, \"fill_updates\": {}, "
                   "\"timing\": \"stm32f4\", \"program_unit\": 4}},\n",
                   res.commit, res.quick ? "quick" : "full", res.ops, res.fill_updates);
  o += "  \"fill\": [\n";
  for (std::size_t i = 0; i < res.fills.size(); ++i) {
    const FillResult& f = res.fills[i];
    o += fmt::format("    {{\"label\": \"{}\", \"ok\": {}, \"error\": \"{}\", \"chip_bytes\": {}, \"capacity_bytes\": {}, "
                     "\"capacity_fraction\": {:.4f}, \"full_live_bytes\": {}, \"full_live_fraction\": {:.4f}, "
                     "\"keys\": {}, \"updates_at_full\": {}, \"refused_updates_at_full\": {}, "
                     "\"capacity_after_mount\": {}, ",
                     f.label, f.ok, f.error, f.chip_bytes, f.capacity_bytes, f.capacity_bytes / double(f.chip_bytes),
                     f.live_bytes, f.live_bytes / double(f.chip_bytes), f.keys, f.updates, f.refused_updates,
                     f.capacity_after_mount);
    json_mount(o, "mount", f.mount);
    o += i + 1 < res.fills.size() ? "},\n" : "}\n";
  }
  o += "  ],\n  \"runs\": [\n";
  for (std::size_t i = 0; i < res.runs.size(); ++i) {
    const RunResult& r = res.runs[i];
    o += fmt::format("    {{\"label\": \"{}\", \"ok\": {}, \"error\": \"{}\", \"maintain\": {}, \"summaries\": {}, "
                     "\"chip_bytes\": {}, \"sectors\": {}, \"capacity_bytes\": {}, \"capacity_fraction\": {:.4f}, \"load_keys\": {}, "
                     "\"load_live_bytes\": {}, \"load_live_fraction\": {:.4f}, \"load_refused\": {}, ",
                     r.label, r.ok, r.error, r.maintain, r.summaries, r.chip_bytes, r.sectors, r.capacity_bytes,
                     r.capacity_bytes / double(r.chip_bytes), r.load_keys, r.load_live_bytes,
                     r.load_live_bytes / double(r.chip_bytes), r.load_refused);
    json_mount(o, "mount_after_load", r.mount_after_load);
    o += ", ";
    json_mount(o, "mount_at_end", r.mount_at_end);
    o += fmt::format(", \"operations\": {}, \"refused_inserts\": {}, \"refused_updates\": {}, \"refused_erases\": {}, "
                     "\"put_us_p50\": {:.2f}, \"put_us_p99\": {:.2f}, \"put_us_max\": {:.2f}, \"op_us_mean\": {:.2f}, "
                     "\"ops_erasing\": {}, \"ops_copying\": {}, \"maintain_us_mean\": {:.2f}, \"maintain_us_max\": {:.2f}, "
                     "\"user_bytes\": {}, \"bytes_programmed\": {}, \"write_amplification\": {:.4f}, \"erases\": {}, "
                     "\"erase_min\": {}, \"erase_max\": {}, \"device_us\": {:.2f}, \"device_us_per_op\": {:.3f}, "
                     "\"end_keys\": {}, \"end_live_bytes\": {}, \"end_capacity_bytes\": {}}}",
                     r.ops, r.refused[0], r.refused[1], r.refused[2], r.put_p50, r.put_p99, r.put_max, r.op_mean,
                     r.ops_erasing, r.ops_copying, r.maintain_mean, r.maintain_max, r.user_bytes, r.bytes_programmed,
                     r.wa, r.erases, r.erase_min, r.erase_max, r.device_us, r.us_per_op, r.end_keys, r.end_live_bytes,
                     r.end_capacity_bytes);
    o += i + 1 < res.runs.size() ? ",\n" : "\n";
  }
  o += "  ]\n}\n";
  return o;
}

inline std::string markdown_text(const Results& res) {
  std::string o = fmt::format(
      "Results of `ferrite-large-bench` at commit `{}` ({} run: {} operations per run, {} updates at full; "
      "simulated STM32F4 flash, program unit 4 B, device time from its timing model).\n\n",
      res.commit, res.quick ? "quick" : "full", res.ops, res.fill_updates);
  o += "**Capacity** (fill: new keys until the first refusal, then same-length updates with the store full)\n\n";
  o += "| run | chip B | capacity B | capacity | live at full | keys | updates at full refused | capacity after mount | mount B | mount us |\n";
  o += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const FillResult& f : res.fills) {
    if (!f.ok) {
      o += fmt::format("| {} | FAILED: {} |||||||||\n", f.label, f.error);
      continue;
    }
    o += fmt::format("| {} | {} | {} | {:.1f} % | {:.1f} % | {} | {} of {} | {} | {} | {:.0f} |\n", f.label,
                     f.chip_bytes, f.capacity_bytes, pct(f.capacity_bytes, f.chip_bytes),
                     pct(f.live_bytes, f.chip_bytes), f.keys, f.refused_updates, f.updates, f.capacity_after_mount,
                     f.mount.bytes_read, f.mount.device_us);
  }
  o += "\n**Workload L** (load, then the operation mix; Lm: `maintain()` after every operation; Ls: Lm with sector summaries, `StoreConfig::sector_summaries`)\n\n";
  o += "| run | capacity | live | keys | mount after load B / us | mount at end B / reads / us | put p50 / p99 / max us "
       "| maintain mean / max us | WA | erases (min/max per sector) | us/op | refused new/upd |\n";
  o += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RunResult& r : res.runs) {
    if (!r.ok) {
      o += fmt::format("| {} | FAILED: {} |||||||||||\n", r.label, r.error);
      continue;
    }
    o += fmt::format(
        "| {} | {:.1f} % | {:.1f} % | {} | {} / {:.0f} | {} / {} / {:.0f} | {:.0f} / {:.0f} / {:.0f} | {} | "
        "{:.3f} | {} ({}/{}) | {:.0f} | {}/{} |\n",
        r.label, pct(r.capacity_bytes, r.chip_bytes), pct(r.load_live_bytes, r.chip_bytes), r.load_keys,
        r.mount_after_load.bytes_read, r.mount_after_load.device_us, r.mount_at_end.bytes_read,
        r.mount_at_end.read_ops, r.mount_at_end.device_us, r.put_p50, r.put_p99, r.put_max,
        r.maintain ? fmt::format("{:.0f} / {:.0f}", r.maintain_mean, r.maintain_max) : std::string("-"), r.wa,
        r.erases, r.erase_min, r.erase_max, r.us_per_op, r.refused[0], r.refused[1]);
  }
  return o;
}

inline bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    fmt::print(stderr, "cannot write {}\n", path);
    return false;
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

inline bool write_outputs(const Results& res, const Options& opt) {
  bool ok = true;
  if (!opt.json_path.empty()) ok = write_file(opt.json_path, json_text(res)) && ok;
  if (!opt.markdown_path.empty()) ok = write_file(opt.markdown_path, markdown_text(res)) && ok;
  return ok;
}

}  // namespace large
