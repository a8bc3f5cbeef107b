// ferrite.deferred: latency, the single-channel queue, interrupts, cancellation.
#include <catch2/catch.hpp>
#include <thread>
import ferrite.flash;
import ferrite.deferred;

using ferrite::Errc;
using ferrite::Flash;
using ferrite::FlashOpKind;
using ferrite::FlashRequest;
using ferrite::Geometry;
using ferrite::RunLoop;
using ferrite::Status;
using ferrite::Task;
using ferrite::deferred::DeferredFlash;
using ferrite::deferred::LatencyTicks;

namespace {

// A RAM flash completing inline; `fail_with` makes every request fail.
class RamFlash final : public ferrite::FlashDevice {
 public:
  explicit RamFlash(const Geometry& g) : g_(g), bytes_(g.total_size(), g.erased_byte()) {}
  const Geometry& geometry() const noexcept override { return g_; }
  void submit(FlashRequest& r) noexcept override {
    ++requests;
    if (fail_with != Errc::ok) return r.complete(fail_with);
    switch (r.kind) {
      case FlashOpKind::read: std::memcpy(r.read_into, bytes_.data() + r.address, r.length); break;
      case FlashOpKind::program:
        for (std::uint32_t i = 0; i < r.length; ++i) bytes_[r.address + i] &= r.program_from[i];
        break;
      case FlashOpKind::erase:
        std::fill_n(bytes_.begin() + g_.sector_offset(r.sector), g_.sector_size(r.sector), g_.erased_byte());
        break;
    }
    r.complete(Errc::ok);
  }
  std::byte at(std::uint32_t a) const { return bytes_[a]; }
  Errc fail_with = Errc::ok;
  int requests = 0;

 private:
  Geometry g_;
  std::vector<std::byte> bytes_;
};

// A device that never completes: wrapping it is a wiring error.
class SilentFlash final : public ferrite::FlashDevice {
 public:
  explicit SilentFlash(const Geometry& g) : g_(g) {}
  const Geometry& geometry() const noexcept override { return g_; }
  void submit(FlashRequest& r) noexcept override { held = &r; }
  FlashRequest* held = nullptr;

 private:
  Geometry g_;
};

Geometry small() { return *Geometry::uniform(4, 1024, 4); }

Task<Status> program_at(Flash f, std::uint32_t a, std::span<const std::byte> d) { co_return co_await f.program(a, d); }
Task<Status> read_at(Flash f, std::uint32_t a, std::span<std::byte> out) { co_return co_await f.read(a, out); }
Task<Status> erase_at(Flash f, std::uint32_t s) { co_return co_await f.erase(s); }

Task<int> program_many(Flash f, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    const std::array<std::byte, 4> data{std::byte(i), std::byte(i >> 8), std::byte{0}, std::byte{0}};
    Status s = co_await f.program(static_cast<std::uint32_t>(i % 1024) * 4, data);
    ok += s.has_value() ? 1 : 0;
  }
  co_return ok;
}

// Polls the device directly (one tick each) until `t` has its completion
// posted; returns the number of ticks it took.
template <class T>
int ticks_until_completed(DeferredFlash& dev, Task<T>& t) {
  const auto before = dev.completed();
  t.start();
  int ticks = 0;
  while (dev.completed() == before && ticks < 100) {
    (void)dev.poll();
    ++ticks;
  }
  return ticks;
}

void drain(RunLoop& loop) {
  while (loop.run_once()) {
  }
}

const std::array<std::byte, 4> zeros{};

}  // namespace

TEST_CASE("each kind of operation completes after its configured number of ticks", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  CHECK(dev.latency_ticks().read == 1);
  dev.set_latency_ticks(2, 3, 5);
  CHECK(dev.latency_ticks().program == 3);
  Flash f(dev, &loop);
  std::array<std::byte, 4> buf{};

  Task<Status> r = read_at(f, 0, buf);
  CHECK(ticks_until_completed(dev, r) == 2);
  Task<Status> p = program_at(f, 0, zeros);
  CHECK(ticks_until_completed(dev, p) == 3);
  Task<Status> e = erase_at(f, 0);
  CHECK(ticks_until_completed(dev, e) == 5);
  CHECK(ram.requests == 3);
  drain(loop);
  CHECK(r.done());
  CHECK(p.done());
  CHECK(e.done());
  CHECK(dev.ticks() >= 10);
}

TEST_CASE("queued operations are served one at a time in submission order", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop, LatencyTicks{1, 2, 1});
  Flash f(dev, &loop);
  std::vector<Task<Status>> tasks;
  for (std::uint32_t i = 0; i < 5; ++i) tasks.push_back(program_at(f, i * 4, zeros));
  for (auto& t : tasks) t.start();
  CHECK(dev.in_flight() == 5);
  CHECK(dev.max_queue_depth() == 5);
  for (int done = 1; done <= 5; ++done) {
    (void)dev.poll();
    (void)dev.poll();
    CHECK(dev.completed() == static_cast<std::uint64_t>(done));
    CHECK(dev.in_flight() == static_cast<std::size_t>(5 - done));
    // The next one has not been performed early.
    CHECK(ram.requests == done);
  }
  drain(loop);
  for (auto& t : tasks) {
    CHECK(t.done());
    CHECK(t.take_result().has_value());
  }
  CHECK(dev.max_queue_depth() == 5);
}

TEST_CASE("a request beyond the queue capacity is refused with busy", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop, LatencyTicks{0, 0, 0});
  Flash f(dev, &loop);
  std::vector<Task<Status>> tasks;
  const std::size_t n = DeferredFlash::queue_capacity + 2;
  for (std::size_t i = 0; i < n; ++i) tasks.push_back(program_at(f, static_cast<std::uint32_t>(i) * 4, zeros));
  for (auto& t : tasks) t.start();
  CHECK(dev.in_flight() == DeferredFlash::queue_capacity);
  CHECK(dev.max_queue_depth() == DeferredFlash::queue_capacity);
  CHECK(dev.rejected() == 2);
  CHECK(tasks[n - 1].done());
  CHECK(tasks[n - 1].take_result().error() == Errc::busy);
  CHECK(tasks[n - 2].take_result().error() == Errc::busy);
  CHECK_FALSE(tasks[0].done());
  CHECK(dev.cancel_all() == DeferredFlash::queue_capacity);
  drain(loop);
  for (std::size_t i = 0; i < DeferredFlash::queue_capacity; ++i) {
    CHECK(tasks[i].done());
    CHECK(tasks[i].take_result().error() == Errc::cancelled);
  }
  CHECK(ram.requests == 0);
}

TEST_CASE("cancel_all fails every queued request without touching the flash", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop, LatencyTicks{4, 4, 4});
  Flash f(dev, &loop);
  std::vector<Task<Status>> tasks;
  for (std::uint32_t i = 0; i < 3; ++i) tasks.push_back(program_at(f, i * 4, zeros));
  for (auto& t : tasks) t.start();
  (void)dev.poll();  // the first one is part-way through
  CHECK(dev.cancel_all(Errc::cancelled) == 3);
  CHECK(dev.in_flight() == 0);
  CHECK(dev.cancel_all() == 0);
  for (auto& t : tasks) CHECK_FALSE(t.done());  // resumed by the loop, not inline
  drain(loop);
  for (auto& t : tasks) {
    CHECK(t.done());
    CHECK(t.take_result().error() == Errc::cancelled);
  }
  CHECK(ram.requests == 0);
  CHECK(ram.at(0) == std::byte{0xFF});
  // The device keeps working afterwards.
  Task<Status> next = program_at(f, 0, zeros);
  next.start();
  drain(loop);
  CHECK(next.done());
  CHECK(next.take_result().has_value());
  CHECK(ram.at(0) == std::byte{0x00});
}

TEST_CASE("the inner device's error reaches the awaiting coroutine", "[deferred]") {
  RamFlash ram(small());
  ram.fail_with = Errc::bits_not_erased;
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  Task<Status> t = program_at(Flash(dev, &loop), 0, zeros);
  t.start();
  drain(loop);
  CHECK(t.done());
  CHECK(t.take_result().error() == Errc::bits_not_erased);
}

TEST_CASE("a request from a view without a loop is resumed on the device's loop", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  Task<Status> t = erase_at(Flash(dev), 2);
  t.start();
  CHECK(dev.poll());  // performed and posted, not resumed inside poll()
  CHECK(ram.requests == 1);
  CHECK_FALSE(t.done());
  CHECK(loop.run_once());
  CHECK(t.done());
  CHECK(t.take_result().has_value());
}

TEST_CASE("an inner device that does not complete inline is reported as unsupported", "[deferred]") {
  SilentFlash silent(small());
  RunLoop loop;
  DeferredFlash dev(silent, loop);
  Task<Status> t = erase_at(Flash(dev, &loop), 0);
  t.start();
  drain(loop);
  CHECK(t.done());
  CHECK(t.take_result().error() == Errc::unsupported);
  CHECK(silent.held != nullptr);
  // A late completion by the misbehaving device resumes nothing.
  if (silent.held) silent.held->complete(Errc::ok);
  CHECK_FALSE(loop.run_once());
}

TEST_CASE("destroying the device cancels what is queued and leaves the loop", "[deferred]") {
  RamFlash ram(small());
  RunLoop loop;
  Task<Status> t;
  {
    DeferredFlash dev(ram, loop, LatencyTicks{0, 0, 0});
    t = erase_at(Flash(dev, &loop), 1);
    t.start();
    CHECK_FALSE(loop.run_once());
  }
  CHECK_FALSE(t.done());
  CHECK(loop.run_once());
  CHECK(t.done());
  CHECK(t.take_result().error() == Errc::cancelled);
  CHECK_FALSE(loop.run_once());  // no source left to poll
  CHECK(ram.requests == 0);
}

TEST_CASE("interrupts from another thread complete operations while the loop runs", "[deferred][isr]") {
  RamFlash ram(small());
  RunLoop loop;
  DeferredFlash dev(ram, loop, LatencyTicks{0, 0, 0});
  constexpr int n = 2000;
  Task<int> t = program_many(Flash(dev, &loop), n);
  std::atomic<bool> stop{false};
  int interrupts = 0;
  // Stands in for the flash controller's ISR preempting the main loop.
  std::thread isr([&] {
    while (!stop.load(std::memory_order_acquire)) {
      if (dev.on_interrupt()) ++interrupts; else std::this_thread::yield();
    }
  });
  t.start();
  while (!t.done())
    if (!loop.run_once()) std::this_thread::yield();
  stop.store(true, std::memory_order_release);
  isr.join();
  CHECK(t.take_result() == n);
  CHECK(interrupts == n);
  CHECK(dev.completed() == static_cast<std::uint64_t>(n));
  CHECK(ram.requests == n);
  CHECK(dev.in_flight() == 0);
}
