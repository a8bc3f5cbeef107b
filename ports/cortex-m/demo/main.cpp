// ferrite firmware demo for QEMU mps2-an386 (Cortex-M4F) / mps2-an385 (M3).
//
// A ferrite store on a RAM-backed NOR flash, behind the deferred-completion
// controller (ferrite.deferred) with latency 0: every flash operation is only
// queued by submit() and is performed and completed from the SysTick
// interrupt (DeferredFlash::on_interrupt), which posts the awaiting coroutine
// to the RunLoop. The main super-loop turns the loop and sleeps with WFI when
// nothing is ready. Coroutine frames come from a static FrameArena: the
// program replaces the global operator new and fails if it is ever called.
//
// Workload: format, two concurrent worker coroutines doing a few thousand
// randomized puts/erases/gets (splitmix64) checked against a model in a fixed
// array, periodic maintain(); then a new Store object mounts the same flash
// (a reboot) and every key is verified against the model. Exit status 0 when
// everything matched, non-zero otherwise (QEMU exits with it through
// semihosting). `stat NAME VALUE` lines feed scripts/size-report.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
import ferrite.log;
import ferrite.deferred;
import ferrite.stm32f4;  // only for its object size (stat below)

extern "C" std::uint32_t ferrite_demo_stack_unused(void);
extern "C" std::uint32_t ferrite_demo_stack_size(void);
extern "C" void ferrite_demo_stack_repaint(void);

// ---------------------------------------------------------------------------
// No heap: count every global operator new and every malloc() call (linked
// with -Wl,--wrap=malloc; newlib's stdio allocates its buffers through
// _malloc_r, which is not counted). ferrite must call neither.
namespace {
volatile unsigned g_heap_news = 0;
volatile unsigned g_mallocs = 0;
}
extern "C" void* __real_malloc(std::size_t n);
extern "C" void* __wrap_malloc(std::size_t n) {
  g_mallocs = g_mallocs + 1;
  return __real_malloc(n);
}
void* operator new(std::size_t n) {
  g_heap_news = g_heap_news + 1;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) {
  g_heap_news = g_heap_news + 1;
  return std::malloc(n ? n : 1);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_heap_news = g_heap_news + 1;
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using ferrite::Errc;
using ferrite::FlashOpKind;
using ferrite::FlashRequest;
using ferrite::Geometry;
using ferrite::Status;
using ferrite::Task;

// ---------------------------------------------------------------------------
// Cortex-M system registers (ARMv7-M architecture reference manual, B3.3).
struct SysTickRegs {
  volatile std::uint32_t csr, rvr, cvr, calib;
};
SysTickRegs* const systick = reinterpret_cast<SysTickRegs*>(0xE000E010u);
constexpr std::uint32_t cpu_hz = 25'000'000;  // mps2: 25 MHz
constexpr std::uint32_t tick_hz = 50'000;     // one flash completion per 20 us tick

inline void wait_for_interrupt() noexcept { __asm volatile("wfi" ::: "memory"); }

// True when the semihosting command line (QEMU: -semihosting-config
// ...,arg=WORD) contains `word`. Used by the negative test.
bool command_line_has(const char* word) noexcept {
  static char line[128];
  struct {
    char* buffer;
    int length;
  } block{line, int(sizeof line - 1)};
  register std::uintptr_t r0 __asm("r0") = 0x15;  // SYS_GET_CMDLINE
  register void* r1 __asm("r1") = &block;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  if (r0 != 0) return false;
  line[block.length < int(sizeof line) ? block.length : int(sizeof line) - 1] = 0;
  return std::strstr(line, word) != nullptr;
}

// ---------------------------------------------------------------------------
// A RAM NOR flash: erase to 0xFF, programming only clears bits, and a unit may
// be programmed once between erases (ECC flash rules). Completes inline; the
// deferred controller in front of it makes completions asynchronous.
constexpr std::uint32_t sector_size = 4096;
constexpr std::uint32_t sector_count = 8;
constexpr std::uint32_t program_unit = 4;
constexpr std::uint32_t unit_count = sector_size * sector_count / program_unit;

alignas(4) std::byte g_nor[sector_size * sector_count];
std::uint8_t g_programmed[unit_count / 8];

class RamNorFlash final : public ferrite::FlashDevice {
 public:
  RamNorFlash() noexcept : geometry_(*Geometry::uniform(sector_count, sector_size, program_unit)) {
    std::memset(g_nor, 0xFF, sizeof g_nor);
  }
  const Geometry& geometry() const noexcept override { return geometry_; }
  void submit(FlashRequest& r) noexcept override {
    switch (r.kind) {
      case FlashOpKind::read:
        std::memcpy(r.read_into, g_nor + r.address, r.length);
        return r.complete(Errc::ok);
      case FlashOpKind::program: {
        const std::uint32_t first = r.address / program_unit, n = r.length / program_unit;
        for (std::uint32_t u = first; u < first + n; ++u)
          if (programmed(u)) return r.complete(Errc::reprogram_forbidden);
        for (std::uint32_t i = 0; i < r.length; ++i)
          if ((g_nor[r.address + i] & r.program_from[i]) != r.program_from[i])
            return r.complete(Errc::bits_not_erased);
        for (std::uint32_t i = 0; i < r.length; ++i) g_nor[r.address + i] &= r.program_from[i];
        for (std::uint32_t u = first; u < first + n; ++u) g_programmed[u / 8] |= std::uint8_t(1u << (u % 8));
        ++programs;
        return r.complete(Errc::ok);
      }
      case FlashOpKind::erase: {
        const std::uint32_t off = geometry_.sector_offset(r.sector);
        std::memset(g_nor + off, 0xFF, sector_size);
        for (std::uint32_t u = off / program_unit; u < (off + sector_size) / program_unit; ++u)
          g_programmed[u / 8] &= std::uint8_t(~(1u << (u % 8)));
        ++erases;
        return r.complete(Errc::ok);
      }
    }
  }
  std::uint32_t programs = 0;
  std::uint32_t erases = 0;

 private:
  static bool programmed(std::uint32_t u) noexcept { return (g_programmed[u / 8] >> (u % 8)) & 1u; }
  Geometry geometry_;
};

// ---------------------------------------------------------------------------
// The interrupt side.
ferrite::deferred::DeferredFlash* volatile g_controller = nullptr;
volatile std::uint32_t g_ticks = 0;
volatile std::uint32_t g_irq_completions = 0;

// ---------------------------------------------------------------------------
// Coroutine frames: a static arena behind a recording allocator.
alignas(8) std::byte g_arena_storage[4096];

struct FrameProbe {
  ferrite::FrameArena* arena = nullptr;
  std::uint32_t last = 0;
  static constexpr int max_sizes = 32;
  std::uint32_t sizes[max_sizes]{};
  std::uint32_t counts[max_sizes]{};
  int distinct = 0;

  static void* allocate(void* ctx, std::size_t n) noexcept {
    auto* self = static_cast<FrameProbe*>(ctx);
    self->last = static_cast<std::uint32_t>(n);
    int i = 0;
    while (i < self->distinct && self->sizes[i] != n) ++i;
    if (i == self->distinct && i < max_sizes) self->sizes[self->distinct++] = static_cast<std::uint32_t>(n);
    if (i < max_sizes) ++self->counts[i];
    return self->arena->allocate(n);
  }
  static void deallocate(void* ctx, void* p, std::size_t) noexcept { static_cast<FrameProbe*>(ctx)->arena->deallocate(p); }
};
FrameProbe g_probe;

// ---------------------------------------------------------------------------
// Workload.
constexpr int key_count = 64;
constexpr std::uint32_t max_value = 40;

std::uint64_t splitmix64(std::uint64_t& s) noexcept {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct ModelEntry {
  bool present = false;
  std::uint8_t size = 0;
  std::byte value[max_value]{};
};
ModelEntry g_model[key_count];

struct Counts {
  std::uint32_t puts = 0, erases = 0, gets = 0, not_found = 0, maintains = 0, mismatches = 0;
};
Counts g_counts;

int make_key(int n, char (&buf)[16]) noexcept { return std::snprintf(buf, sizeof buf, "key/%02d", n); }

void mismatch(const char* what, int key, Errc e) noexcept {
  ++g_counts.mismatches;
  if (g_counts.mismatches <= 10) std::printf("MISMATCH %s key/%02d: %s\n", what, key, ferrite::name_of(e));
}

// Checks one key against the model (the store's answer must match exactly).
Task<Status> check_key(ferrite::Store& store, int n) noexcept {
  char name[16];
  const int len = make_key(n, name);
  std::byte out[max_value];
  auto r = co_await store.get(std::string_view(name, std::size_t(len)), out);
  const ModelEntry& m = g_model[n];
  ++g_counts.gets;
  if (!m.present) {
    if (r || r.error() != Errc::not_found) mismatch("get(absent)", n, r ? Errc::ok : r.error());
    else ++g_counts.not_found;
  } else if (!r) {
    mismatch("get", n, r.error());
  } else if (*r != m.size || std::memcmp(out, m.value, m.size) != 0) {
    mismatch("get(value)", n, Errc::ok);
  }
  co_return Status{};
}

Task<Status> worker(ferrite::Store& store, int id, std::uint64_t seed, int ops_per_worker) noexcept {
  std::uint64_t rng = seed;
  std::byte value[max_value];
  for (int op = 0; op < ops_per_worker; ++op) {
    const std::uint64_t r = splitmix64(rng);
    const int n = int((r >> 8) % (key_count / 2)) * 2 + id;  // worker `id` owns keys n % 2 == id
    char name[16];
    const std::string_view key(name, std::size_t(make_key(n, name)));
    const unsigned dice = unsigned(r % 100);
    if (dice < 70) {
      const std::uint32_t size = std::uint32_t((r >> 40) % (max_value + 1));
      std::uint64_t fill = splitmix64(rng);
      for (std::uint32_t i = 0; i < size; ++i) {
        if (i % 8 == 0 && i) fill = splitmix64(rng);
        value[i] = std::byte(fill >> (8 * (i % 8)));
      }
      auto st = co_await store.put(ferrite::as_bytes(key), std::span<const std::byte>(value, size));
      ++g_counts.puts;
      if (!st) {
        mismatch("put", n, st.error());
      } else {
        g_model[n].present = true;
        g_model[n].size = std::uint8_t(size);
        std::memcpy(g_model[n].value, value, size);
      }
    } else if (dice < 90) {
      auto st = co_await store.erase(key);
      ++g_counts.erases;
      if (g_model[n].present ? !st : (st || st.error() != Errc::not_found))
        mismatch("erase", n, st ? Errc::ok : st.error());
      g_model[n].present = false;
    } else {
      (void)co_await check_key(store, n);
    }
    if (op % 250 == 249) {
      auto m = co_await store.maintain();
      ++g_counts.maintains;
      if (!m) mismatch("maintain", -1, m.error());
    }
  }
  co_return Status{};
}

Task<Status> verify_all(ferrite::Store& store) noexcept {
  for (int n = 0; n < key_count; ++n) (void)co_await check_key(store, n);
  co_return Status{};
}

// Runs tasks to completion on the super-loop: turn the loop; when nothing is
// ready, sleep until the next interrupt (SysTick completes flash operations).
ferrite::RunLoop g_loop;
std::uint32_t g_sleeps = 0;
std::uint32_t g_workload_stack = 0;
ferrite::FrameStats g_phase1{};

template <class... T>
void run(T&... tasks) noexcept {
  (tasks.start(), ...);
  while (!(tasks.done() && ...)) {
    if (!g_loop.run_once()) {
      ++g_sleeps;
      wait_for_interrupt();
    }
  }
}

template <class T>
Status result_of(Task<T>& t) noexcept {
  if (!t.valid()) return ferrite::fail(Errc::no_memory);
  auto r = t.take_result();
  return r ? Status{} : Status{ferrite::fail(r.error())};
}

void stat(const char* name, unsigned long v) noexcept { std::printf("stat %s %lu\n", name, v); }

ferrite::StoreMemory<100, sector_count> g_memory;         // 100-key store, as in the RAM target
ferrite::StoreMemory<100, sector_count> g_memory_reboot;  // the second Store (after "reboot")

}  // namespace

extern "C" void SysTick_Handler(void) {
  g_ticks = g_ticks + 1;
  ferrite::deferred::DeferredFlash* c = g_controller;
  if (c && c->on_interrupt()) g_irq_completions = g_irq_completions + 1;
}

int main() {
  ferrite::FrameArena arena(g_arena_storage);
  g_probe.arena = &arena;
  ferrite::set_frame_allocator({&FrameProbe::allocate, &FrameProbe::deallocate, &g_probe});

  RamNorFlash nor;
  ferrite::deferred::DeferredFlash controller(nor, g_loop, ferrite::deferred::LatencyTicks{0, 0, 0});
  g_controller = &controller;
  systick->rvr = cpu_hz / tick_hz - 1;
  systick->cvr = 0;
  systick->csr = 0x7;  // processor clock, interrupt, enable

  ferrite::Flash flash(controller, &g_loop);
  int rc = 0;
  std::printf("ferrite firmware demo: %lu x %lu B sectors, program unit %lu, flash ops completed from SysTick\n",
              (unsigned long)sector_count, (unsigned long)sector_size, (unsigned long)program_unit);
  {
    ferrite::Store store(flash, g_memory.config());
    auto fmt = store.format();
    run(fmt);
    if (Status st = result_of(fmt); !st) {
      std::printf("format failed: %s\n", ferrite::name_of(st.error()));
      return 2;
    }
    auto a = worker(store, 0, 0x5EED0001, 2000);
    auto b = worker(store, 1, 0x5EED0002, 2000);
    // Stack used by the workload alone: ferrite's coroutines, the run loop
    // and the SysTick handler (no printf on this path unless a check fails).
    ferrite_demo_stack_repaint();
    const std::uint32_t unused_before = ferrite_demo_stack_unused();
    run(a, b);
    g_workload_stack = unused_before - ferrite_demo_stack_unused();
    if (!result_of(a) || !result_of(b)) ++g_counts.mismatches;
    if (command_line_has("inject-mismatch")) {  // negative test: the check must catch this
      g_model[0].present = true;
      g_model[0].size = 1;
      g_model[0].value[0] = std::byte{0x5A};
      g_model[1].present = false;
    }
    auto v = verify_all(store);
    run(v);
    const ferrite::StoreStats s = store.stats();
    std::printf("workload: %lu puts, %lu erases, %lu gets (%lu not found), %lu maintain calls; "
                "keys=%lu gc_runs=%lu records_copied=%lu sectors_erased=%lu erase_min/max=%lu/%lu\n",
                (unsigned long)g_counts.puts, (unsigned long)g_counts.erases, (unsigned long)g_counts.gets,
                (unsigned long)g_counts.not_found, (unsigned long)g_counts.maintains, (unsigned long)s.keys,
                (unsigned long)s.gc_runs, (unsigned long)s.records_copied, (unsigned long)s.sectors_erased,
                (unsigned long)s.erase_min, (unsigned long)s.erase_max);
    stat("store_object_bytes", sizeof(ferrite::Store));
    stat("store_ram_bytes_100_keys", store.ram_bytes());
    // The key-order permutation takes 2 B per key in builds with scans (none without).
    const unsigned long order_bytes = ferrite::scans_built ? sizeof(std::uint16_t) : 0;
    stat("order_bytes_per_key", order_bytes);
    stat("index_bytes_per_key", sizeof(ferrite::IndexEntry) + order_bytes);
    stat("sector_info_bytes", sizeof(ferrite::SectorInfo));
    // An index-less store (StoreConfig::index empty; needs compact_records
    // off) keeps only the Store object and the sector table in RAM.
    stat("store_ram_bytes_index_less", sizeof(ferrite::Store) + sector_count * sizeof(ferrite::SectorInfo));
    stat("deferred_flash_bytes", sizeof(ferrite::deferred::DeferredFlash));
    stat("stm32f4_driver_bytes", sizeof(ferrite::stm32f4::Stm32f4Flash<>));
    stat("run_loop_bytes", sizeof(ferrite::RunLoop));
  }
  // Reboot: a new Store object over the same flash mounts and must see exactly the model.
  {
    ferrite::Store store(flash, g_memory_reboot.config());
    {
      // Finished Tasks keep their frames until destroyed: these go before
      // the single caller below is measured, as an application's would.
      auto m = store.mount();
      run(m);
      if (Status st = result_of(m); !st) {
        std::printf("mount failed: %s\n", ferrite::name_of(st.error()));
        return 3;
      }
      const std::uint32_t before = g_counts.mismatches;
      auto v = verify_all(store);
      run(v);
      std::printf("remount: %lu keys, verified %d keys against the model, %lu mismatches\n",
                  (unsigned long)store.stats().keys, key_count, (unsigned long)(g_counts.mismatches - before));
    }

    // One caller alone (no concurrency): its frame high-water is what an
    // application with a single store task must size the arena for.
    g_phase1 = ferrite::frame_stats();
    ferrite::reset_frame_stats();
    auto w = worker(store, 0, 0x5EED0003, 1000);
    run(w);
    if (!result_of(w)) ++g_counts.mismatches;
    stat("frames_high_water_single_caller_bytes", ferrite::frame_stats().high_water_bytes);
    auto v2 = verify_all(store);
    run(v2);

    // Frame sizes of the public calls (a lazy Task allocates its frame when created).
    char k[16] = "key/00";
    std::byte buf[8]{};
    const std::string_view key(k, 6);
    auto probe = [&](const char* name, auto&& task) {
      std::printf("frame %s %lu\n", name, (unsigned long)g_probe.last);
      (void)task;
    };
    probe("Store::put", store.put(ferrite::as_bytes(key), std::span<const std::byte>(buf)));
    probe("Store::get", store.get(key, buf));
    probe("Store::erase", store.erase(key));
    probe("Store::mount", store.mount());
    probe("Store::format", store.format());
    probe("Store::maintain", store.maintain());
  }
  g_controller = nullptr;
  systick->csr = 0;

  const ferrite::FrameStats now = ferrite::frame_stats();
  ferrite::FrameStats fs = g_phase1;  // format + two concurrent workers + remount
  fs.allocations += now.allocations;
  fs.failures += now.failures;
  fs.largest_frame = std::max(fs.largest_frame, now.largest_frame);
  fs.live_frames = now.live_frames;
  for (int i = 0; i < g_probe.distinct; ++i)
    std::printf("frame_size %lu x%lu\n", (unsigned long)g_probe.sizes[i], (unsigned long)g_probe.counts[i]);
  stat("flash_ops_completed_by_irq", g_irq_completions);
  stat("flash_ops_total", (unsigned long)controller.completed());
  stat("flash_programs", nor.programs);
  stat("flash_erases", nor.erases);
  stat("systick_interrupts", g_ticks);
  stat("loop_resumptions", g_loop.resumptions());
  stat("wfi_sleeps", g_sleeps);
  stat("frame_allocations", fs.allocations);
  stat("frame_failures", fs.failures);
  stat("largest_frame", fs.largest_frame);
  stat("frames_high_water_bytes", fs.high_water_bytes);
  stat("arena_capacity", arena.capacity());
  stat("arena_high_water_bytes", arena.high_water_bytes());
  stat("arena_failures", arena.failures());
  stat("stack_size", ferrite_demo_stack_size());
  stat("stack_used_workload_bytes", g_workload_stack);
  stat("stack_used_bytes", ferrite_demo_stack_size() - ferrite_demo_stack_unused());
  stat("heap_operator_new_calls", g_heap_news);
  stat("malloc_calls", g_mallocs);
  stat("mismatches", g_counts.mismatches);

  if (g_counts.mismatches != 0) rc = 1;
  if (g_heap_news != 0 || g_mallocs != 0) {
    std::printf("FAIL: heap used: operator new %u times, malloc %u times\n", unsigned(g_heap_news),
                unsigned(g_mallocs));
    rc = 1;
  }
  if (controller.completed() == 0 || g_irq_completions != controller.completed()) {
    std::printf("FAIL: not every flash operation completed from the interrupt\n");
    rc = 1;
  }
  if (fs.failures != 0 || fs.live_frames != 0) {
    std::printf("FAIL: frame arena failures=%lu live=%lu\n", (unsigned long)fs.failures, (unsigned long)fs.live_frames);
    rc = 1;
  }
  std::printf("ferrite firmware demo: %s\n", rc == 0 ? "PASS" : "FAIL");
  return rc;
}
