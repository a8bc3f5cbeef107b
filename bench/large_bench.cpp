// ferrite-large-bench — workload L (bench/large_workload.hpp): thousands of
// keys, Zipf-skewed updates of 1-200-byte values, deletes and new keys, on
// the simulated flash with the STM32F4 timing model (the same device model
// as ferrite-bench). Every figure comes from the sim's exact counters and
// its device-time model, never from a host clock, so runs are repeatable.
//
//   ferrite-large-bench                 every run, tables on stdout
//   ferrite-large-bench --quick         small sizes (the meson smoke test)
//   ferrite-large-bench --json FILE     also the results as one JSON object
//   ferrite-large-bench --markdown FILE also the tables as markdown
//   ferrite-large-bench --only SUBSTR   only runs whose label contains SUBSTR
//   ferrite-large-bench --commit REV    commit named in the outputs
//
// Runs, per geometry: "fill" (new keys until the store refuses one, then
// same-length updates at full), "L" (load, then the operation mix with no
// maintenance), "Lm" (the same with maintain() after every operation) and
// "Ls" (Lm on a store with sector summaries, StoreConfig::sector_summaries).
// Exit status: 0 when every run completed and every key read back as the
// model says, 1 otherwise, 2 on bad arguments.

// Every std / third-party header before the imports (module prologue rule).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "large_workload.hpp"
#include "large_report.hpp"

import ferrite;
import ferrite.sim;

namespace {

using ferrite::Errc;
using ferrite::sync_wait;

constexpr std::size_t max_keys = 8192;
constexpr std::size_t max_sectors = 16;
using Memory = ferrite::StoreMemory<max_keys, max_sectors>;

struct Geo {
  std::string name;
  std::vector<ferrite::SectorRun> runs;
  double load_fraction;  // live bytes after the load phase, as a fraction of the chip
};

std::vector<Geo> geometries() {
  return {
      {"16x16k", {{16, 16384}}, 0.40},
      {"16-16-16-16-64k", {{4, 16384}, {1, 65536}}, 0.25},
      {"8x4k", {{8, 4096}}, 0.40},
      {"2x16k", {{2, 16384}}, 0.20},
  };
}

std::string fail_text(std::string_view what, Errc e) { return fmt::format("{}: {}", what, ferrite::name_of(e)); }

/// A store on a fresh simulated chip; remount() rebuilds the Store on fresh
/// RAM, as a reboot does, and measures the mount.
class Bench {
 public:
  explicit Bench(const ferrite::Geometry& g, bool summaries = false)
      : geometry_(g),
        sim_(g, 1, ferrite::sim::TimingModel::stm32f4()),
        flash_(sim_),
        mem_(std::make_unique<Memory>()),
        summaries_(summaries) {
    store_.emplace(flash_, config());
  }
  ferrite::Store& store() { return *store_; }
  const ferrite::sim::Counters& counters() const { return sim_.counters(); }
  ferrite::sim::SimFlash& sim() { return sim_; }
  const ferrite::Geometry& geometry() const { return geometry_; }

  Errc remount(large::MountCost& cost) {
    store_.reset();
    *mem_ = Memory{};
    store_.emplace(flash_, config());
    const auto& c = sim_.counters();
    const std::uint64_t b0 = c.bytes_read, o0 = c.read_ops;
    const double t0 = c.device_time_us;
    auto st = sync_wait(store_->mount());
    cost.bytes_read = c.bytes_read - b0;
    cost.read_ops = c.read_ops - o0;
    cost.device_us = c.device_time_us - t0;
    return st ? Errc::ok : st.error();
  }

 private:
  ferrite::StoreConfig config() {
    ferrite::StoreConfig c = mem_->config(false);
    c.sectors = std::span<ferrite::SectorInfo>(mem_->sectors).first(geometry_.sector_count());
    c.sector_summaries = summaries_;
    return c;
  }
  ferrite::Geometry geometry_;
  ferrite::sim::SimFlash sim_;
  ferrite::Flash flash_;
  std::unique_ptr<Memory> mem_;
  std::optional<ferrite::Store> store_;
  bool summaries_;
};

std::span<const std::byte> bytes(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

/// Runs one operation on the store; the model follows only when the store
/// acknowledged it. Returns ok, no_space (refused: the model is unchanged)
/// or the engine's error.
Errc run_op(ferrite::Store& store, large::Workload& w, large::Op& op, std::uint64_t& user_bytes) {
  const std::string key = large::Workload::key_name(op.id);
  Errc e = Errc::ok;
  if (op.kind == large::OpKind::erase) {
    auto st = sync_wait(store.erase(bytes(key)));
    if (!st) e = st.error();
    else user_bytes += key.size();
  } else {
    auto st = sync_wait(store.put(bytes(key), op.value));
    if (!st) e = st.error();
    else user_bytes += key.size() + op.value.size();
  }
  if (e == Errc::ok) w.apply(op);
  else if (e == Errc::no_space) w.reject(op);
  return e;
}

/// Every key ever created reads back as the model says (deleted and
/// refused ones: not_found).
std::string verify(ferrite::Store& store, const large::Workload& w) {
  std::array<std::byte, large::max_value> out{};
  std::size_t wrong = 0;
  for (std::uint32_t id = 0; id < w.keys_created(); ++id) {
    auto got = sync_wait(store.get(bytes(large::Workload::key_name(id)), out));
    if (!w.live(id)) {
      if (got || got.error() != Errc::not_found) ++wrong;
      continue;
    }
    if (!got) return fail_text(fmt::format("get {}", large::Workload::key_name(id)), got.error());
    const auto want = w.value(id);
    if (*got != want.size() || std::memcmp(out.data(), want.data(), want.size()) != 0) ++wrong;
  }
  return wrong ? fmt::format("{} keys read back wrong", wrong) : std::string{};
}

ferrite::Geometry make_geometry(const Geo& geo) {
  auto g = ferrite::Geometry::make(geo.runs, 4, ferrite::EraseValue::ones, false);
  if (!g) {
    fmt::print(stderr, "bad geometry {}\n", geo.name);
    std::exit(2);
  }
  return *g;
}

/// "fill": new keys until the store refuses one; then same-length updates
/// of Zipf-ranked keys with the store full, each of which must succeed (a
/// refused one fails the run: live bytes within capacity always fit).
large::FillResult run_fill(const Geo& geo, std::size_t updates) {
  large::FillResult r;
  r.label = "fill-" + geo.name;
  const ferrite::Geometry g = make_geometry(geo);
  r.chip_bytes = g.total_size();
  Bench b(g);
  if (auto st = sync_wait(b.store().format()); !st) return r.error = fail_text("format", st.error()), r;
  large::Workload w(max_keys);
  std::uint64_t user = 0;
  for (;;) {
    if (!w.room_for_new_key()) return r.error = "the index is too small for the chip", r;
    large::Op op = w.draw_insert();
    const Errc e = run_op(b.store(), w, op, user);
    if (e == Errc::no_space) break;
    if (e != Errc::ok) return r.error = fail_text("fill put", e), r;
  }
  const ferrite::StoreStats s = b.store().stats();
  r.keys = s.keys;
  r.capacity_bytes = s.capacity_bytes;
  r.live_bytes = s.live_bytes;
  for (std::size_t i = 0; i < updates; ++i) {
    large::Op op = w.draw_update(true);
    const Errc e = run_op(b.store(), w, op, user);
    if (e == Errc::no_space) ++r.refused_updates;
    else if (e != Errc::ok) return r.error = fail_text("update at full", e), r;
  }
  r.updates = updates;
  if (Errc e = b.remount(r.mount); e != Errc::ok) return r.error = fail_text("mount", e), r;
  r.capacity_after_mount = b.store().stats().capacity_bytes;
  r.error = verify(b.store(), w);
  if (r.error.empty() && r.refused_updates)
    r.error = fmt::format("{} of {} same-length updates refused with the store full", r.refused_updates, updates);
  r.ok = r.error.empty();
  return r;
}

enum class Mix { plain, maintained, summarized };
std::string mix_label(Mix m, const Geo& geo) {
  return (m == Mix::plain ? "L-" : m == Mix::maintained ? "Lm-" : "Ls-") + geo.name;
}

/// "L" / "Lm" / "Ls": load to the geometry's fraction of the chip, then
/// `ops` operations of the mix (maintain() after each one for "Lm" and "Ls",
/// on a store with sector summaries for "Ls").
large::RunResult run_mix(const Geo& geo, std::size_t ops, Mix mix) {
  large::RunResult r;
  r.label = mix_label(mix, geo);
  const bool maintain = mix != Mix::plain;
  r.maintain = maintain;
  r.summaries = mix == Mix::summarized;
  const ferrite::Geometry g = make_geometry(geo);
  r.chip_bytes = g.total_size();
  r.sectors = g.sector_count();
  Bench b(g, r.summaries);
  if (auto st = sync_wait(b.store().format()); !st) return r.error = fail_text("format", st.error()), r;
  b.sim().reset_counters();
  large::Workload w(max_keys);
  std::uint64_t user = 0;
  const auto target = static_cast<std::uint32_t>(geo.load_fraction * g.total_size());
  while (b.store().stats().live_bytes < target && w.room_for_new_key()) {
    large::Op op = w.draw_insert();
    const Errc e = run_op(b.store(), w, op, user);
    if (e == Errc::no_space) {
      if (++r.load_refused >= 16) break;
    } else if (e != Errc::ok) {
      return r.error = fail_text("load put", e), r;
    }
  }
  {
    const ferrite::StoreStats s = b.store().stats();
    r.load_keys = s.keys;
    r.load_live_bytes = s.live_bytes;
    r.capacity_bytes = s.capacity_bytes;
  }
  if (Errc e = b.remount(r.mount_after_load); e != Errc::ok) return r.error = fail_text("mount after load", e), r;

  const auto& c = b.counters();
  const std::uint64_t prog0 = c.bytes_programmed, erase0 = c.erase_ops;
  const std::vector<std::uint32_t> sector_erases0 = c.sector_erases;
  const double time0 = c.device_time_us;
  user = 0;
  r.op_us.reserve(ops);
  for (std::size_t i = 0; i < ops; ++i) {
    large::Op op = w.draw_op();
    const bool is_put = op.kind != large::OpKind::erase;
    const double t0 = c.device_time_us;
    const std::uint64_t e0 = c.erase_ops;
    const std::uint32_t copied0 = b.store().stats().records_copied;
    const Errc e = run_op(b.store(), w, op, user);
    if (e == Errc::no_space) {
      ++r.refused[static_cast<int>(op.kind)];
    } else if (e != Errc::ok) {
      return r.error = fail_text(fmt::format("operation {}", i), e), r;
    }
    const double us = c.device_time_us - t0;
    if (is_put) r.put_us.push_back(static_cast<float>(us));
    r.op_us.push_back(static_cast<float>(us));
    r.ops_erasing += c.erase_ops != e0;
    r.ops_copying += b.store().stats().records_copied != copied0;
    if (maintain) {
      const double m0 = c.device_time_us;
      auto m = sync_wait(b.store().maintain(ferrite::MaintenanceBudget{}));
      if (!m) return r.error = fail_text("maintain", m.error()), r;
      r.maintain_us.push_back(static_cast<float>(c.device_time_us - m0));
    }
  }
  r.ops = ops;
  r.user_bytes = user;
  r.bytes_programmed = c.bytes_programmed - prog0;
  r.erases = c.erase_ops - erase0;
  r.erase_min = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < c.sector_erases.size(); ++i) {
    const std::uint32_t n = c.sector_erases[i] - sector_erases0[i];
    r.erase_min = std::min(r.erase_min, n);
    r.erase_max = std::max(r.erase_max, n);
  }
  r.device_us = c.device_time_us - time0;
  {
    const ferrite::StoreStats s = b.store().stats();
    r.end_keys = s.keys;
    r.end_live_bytes = s.live_bytes;
    r.end_capacity_bytes = s.capacity_bytes;
  }
  if (Errc e = b.remount(r.mount_at_end); e != Errc::ok) return r.error = fail_text("mount at end", e), r;
  r.error = verify(b.store(), w);
  r.ok = r.error.empty();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  large::Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") opt.quick = true;
    else if (a == "--json") opt.json_path = value();
    else if (a == "--markdown") opt.markdown_path = value();
    else if (a == "--only") opt.only = value();
    else if (a == "--commit") opt.commit = value();
    else {
      fmt::print(stderr, "unknown argument {} (see the header of bench/large_bench.cpp)\n", a);
      return 2;
    }
  }
  const std::size_t ops = opt.quick ? 1500 : 40000;
  const std::size_t fill_updates = opt.quick ? 300 : 5000;
  large::Results res;
  res.ops = ops;
  res.fill_updates = fill_updates;
  res.quick = opt.quick;
  res.commit = opt.commit;
  for (const Geo& geo : geometries()) {
    const std::array mixes = {Mix::plain, Mix::maintained, Mix::summarized};
    const bool wanted = opt.only.empty() || ("fill-" + geo.name).find(opt.only) != std::string::npos ||
                        std::any_of(mixes.begin(), mixes.end(), [&](Mix m) {
                          return mix_label(m, geo).find(opt.only) != std::string::npos;
                        });
    if (!wanted) continue;
    if (opt.only.empty() || ("fill-" + geo.name).find(opt.only) != std::string::npos) {
      res.fills.push_back(run_fill(geo, fill_updates));
      large::print_fill(res.fills.back());
    }
    for (Mix m : mixes) {
      if (!opt.only.empty() && mix_label(m, geo).find(opt.only) == std::string::npos) continue;
      res.runs.push_back(run_mix(geo, ops, m));
      large::summarize(res.runs.back());
      large::print_run(res.runs.back());
    }
  }
  if (!large::write_outputs(res, opt)) return 1;
  bool ok = true;
  for (const auto& f : res.fills) ok = ok && f.ok;
  for (const auto& r : res.runs) ok = ok && r.ok;
  return ok ? 0 : 1;
}
