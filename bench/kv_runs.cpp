// ferrite-bench's runs: the W1/W2 workloads and one run of ferrite on the
// simulated flash (device figures, verification, startup, host CPU).

#include "kv_bench.hpp"

namespace kvbench {

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

double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

namespace {

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

}  // namespace

RunResult run(const RunSpec& s, const Workload& w, int host_repeats) {
  RunResult r = s.indexed ? run_ferrite<key_count>(s, w, host_repeats) : run_ferrite<0>(s, w, host_repeats);
  if (r.ok && s.maintain) {
    if (s.indexed)
      measure_maintenance<key_count>(r, w);
    else
      measure_maintenance<0>(r, w);
  }
  return r;
}

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

}  // namespace kvbench
