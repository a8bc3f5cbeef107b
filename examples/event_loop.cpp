// ferrite-event-loop — ferrite driven from a Linux epoll loop.
//
//   ferrite-event-loop [IMAGE] [--latency-us N]
//
// A store on a flash image file (ferrite.file), behind ferrite.posix's
// ThreadedFlash: the blocking pread/pwrite/fdatasync run on a worker thread
// and completions come back through an eventfd, so the loop thread stays free.
// Meanwhile the same loop serves a 1 ms timerfd ("other work": it counts
// ticks) and a 100 ms status timer. The program formats the store, writes and
// updates keys, remounts it with a new Store object, verifies every key, and
// reports how many timer ticks the loop served while store operations were in
// flight. By default each flash operation takes an extra 300 us on the worker
// (a slow medium, e.g. NOR behind SPI); --latency-us 0 uses the bare file.
// Without IMAGE a temporary image is used and removed. Exit status 0 when
// every value read back matches and the loop kept ticking during the I/O.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unistd.h>
import ferrite.log;
import ferrite.file;
import ferrite.posix;

namespace {

using ferrite::Errc;
using ferrite::Status;
using ferrite::Task;

double now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

struct Activity {
  std::uint64_t ticks = 0;           // 1 ms timer expirations served
  std::uint64_t ticks_in_flight = 0; // ... while a flash operation was in flight
  ferrite::posix::ThreadedFlash* device = nullptr;
  int status_lines = 0;
  static void on_tick(void* self, std::uint64_t n) noexcept {
    auto* a = static_cast<Activity*>(self);
    a->ticks += n;
    if (a->device && a->device->in_flight() > 0) a->ticks_in_flight += n;
  }
  static void on_status(void* self, std::uint64_t) noexcept {
    auto* a = static_cast<Activity*>(self);
    if (a->status_lines++ < 20)
      std::printf("  [loop] %llu ticks so far, %llu of them with flash I/O in flight\n",
                  static_cast<unsigned long long>(a->ticks), static_cast<unsigned long long>(a->ticks_in_flight));
  }
};

// The application's work: one coroutine using the store.
Task<Status> workload(ferrite::Store& store, int keys, int rounds) {
  char key[32], value[64];
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < keys; ++k) {
      std::snprintf(key, sizeof key, "sensor/%03d", k);
      const int n = std::snprintf(value, sizeof value, "round %d reading %d", r, (k * 7919 + r * 104729) % 100000);
      if (Status st = co_await store.put(key, std::string_view(value, std::size_t(n))); !st) co_return st;
    }
  }
  co_return Status{};
}

Task<ferrite::Result<int>> verify(ferrite::Store& store, int keys, int rounds) {
  int bad = 0;
  char key[32], expected[64];
  std::array<std::byte, 64> out{};
  for (int k = 0; k < keys; ++k) {
    std::snprintf(key, sizeof key, "sensor/%03d", k);
    const int n = std::snprintf(expected, sizeof expected, "round %d reading %d", rounds - 1,
                                (k * 7919 + (rounds - 1) * 104729) % 100000);
    auto got = co_await store.get(key, out);
    if (!got || *got != std::size_t(n) || std::memcmp(out.data(), expected, std::size_t(n)) != 0) ++bad;
  }
  co_return bad;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  unsigned latency_us = 300;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--latency-us") == 0 && i + 1 < argc) latency_us = unsigned(std::atoi(argv[++i]));
    else path = argv[i];
  }
  char tmpdir[] = "/tmp/ferrite-event-loop-XXXXXX";
  const bool temporary = path.empty();
  if (temporary) {
    if (!::mkdtemp(tmpdir)) return 2;
    path = std::string(tmpdir) + "/store.img";
  }
  const auto geometry = *ferrite::Geometry::uniform(8, 4096, 4);
  auto image = ferrite::file::FileFlash::open(path, geometry, {true});
  if (!image) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), ferrite::describe(image.error()));
    return 2;
  }

  ferrite::posix::EventLoop loop;
  ferrite::posix::ThreadedFlash device(*image, loop);
  device.set_extra_latency_us(latency_us);
  Activity activity{0, 0, &device};
  (void)loop.add_timer(1'000'000, &Activity::on_tick, &activity);
  (void)loop.add_timer(100'000'000, &Activity::on_status, &activity);
  ferrite::Flash flash(device, &loop.tasks());

  constexpr int keys = 40, rounds = 5;
  int rc = 0;
  const double t0 = now_ms();
  {
    ferrite::StoreMemory<64, 8> memory;
    ferrite::Store store(flash, memory.config());
    auto fmt = store.format();
    loop.run(fmt);
    if (Status st = fmt.take_result(); !st) {
      std::fprintf(stderr, "format: %s\n", ferrite::describe(st.error()));
      return 1;
    }
    auto work = workload(store, keys, rounds);
    loop.run(work);
    if (Status st = work.take_result(); !st) {
      std::fprintf(stderr, "workload: %s\n", ferrite::describe(st.error()));
      rc = 1;
    }
  }
  const double t1 = now_ms();
  ferrite::StoreMemory<64, 8> memory;
  ferrite::Store store(flash, memory.config());
  auto mount = store.mount();
  loop.run(mount);
  int bad = -1;
  if (Status st = mount.take_result(); st) {
    auto v = verify(store, keys, rounds);
    loop.run(v);
    auto r = v.take_result();
    bad = r ? *r : -1;
  }
  const double t2 = now_ms();
  std::printf("ferrite-event-loop: %d puts in %.1f ms, remount + %d gets in %.1f ms, %llu flash ops on the worker\n",
              keys * rounds, t1 - t0, keys, t2 - t1, static_cast<unsigned long long>(device.completed()));
  std::printf("ferrite-event-loop: timer ticks served: %llu, %llu of them while flash I/O was in flight\n",
              static_cast<unsigned long long>(activity.ticks),
              static_cast<unsigned long long>(activity.ticks_in_flight));
  std::printf("ferrite-event-loop: verified %d keys after remount: %d mismatches\n", keys, bad);
  if (bad != 0) rc = 1;
  if (latency_us > 0 && activity.ticks_in_flight == 0) {
    std::printf("ferrite-event-loop: FAIL: the loop served no timer while I/O was in flight\n");
    rc = 1;
  }
  (void)image->close();
  if (temporary) {
    ::unlink(path.c_str());
    ::unlink((path + ".lock").c_str());
    ::rmdir(tmpdir);
  }
  std::printf("ferrite-event-loop: %s\n", rc == 0 ? "OK" : "FAIL");
  return rc;
}
