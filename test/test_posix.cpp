// ferrite.posix: the epoll event loop and the worker-thread device adapter.
// The central check: a store operation whose flash I/O can only proceed when
// the loop thread serves a timer. If any part of the put/mount blocked the
// loop thread, the timer would never fire and the operation would fail.
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <fcntl.h>
#include <ftw.h>
#include <sys/epoll.h>
#include <unistd.h>
import ferrite.log;
import ferrite.file;
import ferrite.posix;

using ferrite::Errc;
using ferrite::Flash;
using ferrite::Status;
using ferrite::Task;
using ferrite::posix::EventLoop;
using ferrite::posix::ThreadedFlash;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ferrite-posix-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    ::nftw(
        path.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); }, 8,
        FTW_DEPTH | FTW_PHYS);
  }
  std::string file(const char* name) const { return path + "/" + name; }
  std::string path;
};

ferrite::Geometry geometry() { return *ferrite::Geometry::uniform(4, 4096, 4); }

// An inline device behind a gate: every operation waits (on the worker
// thread) for a timer tick that the loop thread serves after the operation
// arrived. Operations are sequential, so an operation of N flash requests
// needs N distinct timer callbacks on the loop thread while it is in flight.
// After 10 s without a tick the request fails with Errc::io instead of
// hanging the test.
class GatedFlash final : public ferrite::FlashDevice {
 public:
  explicit GatedFlash(ferrite::FlashDevice& inner) : inner_(inner) {}
  const ferrite::Geometry& geometry() const noexcept override { return inner_.geometry(); }
  void submit(ferrite::FlashRequest& r) noexcept override {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t arrival = ticks_;
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ticks_ > arrival; })) {
      ++timeouts;
      lock.unlock();
      return r.complete(Errc::io);
    }
    ++served_;
    lock.unlock();
    inner_.submit(r);
  }
  void tick(std::uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    ticks_ += n;
    cv_.notify_all();
  }
  std::uint64_t served() {
    std::lock_guard<std::mutex> lock(mutex_);
    return served_;
  }
  int timeouts = 0;

 private:
  ferrite::FlashDevice& inner_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t ticks_ = 0, served_ = 0;
};

// The loop thread's "other work": a 1 ms timer that counts its callbacks
// and passes them on to the gate.
struct Ticker {
  GatedFlash* gate = nullptr;
  std::uint64_t ticks = 0;  // callbacks (several expirations may arrive at once)
  static void on_timer(void* self, std::uint64_t expirations) noexcept {
    auto* t = static_cast<Ticker*>(self);
    ++t->ticks;
    if (t->gate) t->gate->tick(expirations);
  }
};

template <class T>
T run(EventLoop& loop, Task<T> t) {
  REQUIRE(loop.run(t));
  return t.take_result();
}

std::string get(EventLoop& loop, ferrite::Store& s, std::string_view key) {
  std::string out;
  const Status st = run(loop, s.get_string(key, out));
  return st ? out : std::string("!") + ferrite::name_of(st.error());
}

}  // namespace

TEST_CASE("the event loop serves timers and descriptors", "[posix]") {
  EventLoop loop;
  REQUIRE(loop.ok());
  Ticker ticker;
  auto timer = loop.add_timer(1'000'000, &Ticker::on_timer, &ticker);
  REQUIRE(timer);
  int fds[2];
  REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  struct Reader {
    int fd;
    int bytes = 0;
    static void on_fd(void* self, std::uint32_t) noexcept {
      auto* r = static_cast<Reader*>(self);
      char buf[16];
      ssize_t n;
      while ((n = ::read(r->fd, buf, sizeof buf)) > 0) r->bytes += static_cast<int>(n);
    }
  } reader{fds[0]};
  REQUIRE(loop.watch(fds[0], EPOLLIN, &Reader::on_fd, &reader));
  ssize_t written = 0;  // checked after join: Catch is not thread-safe
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    written = ::write(fds[1], "ping", 4);
  });
  for (int i = 0; i < 10000 && (reader.bytes < 4 || ticker.ticks < 3); ++i) REQUIRE(loop.run_once(100));
  writer.join();
  CHECK(written == 4);
  CHECK(reader.bytes == 4);
  CHECK(ticker.ticks >= 3);
  CHECK(loop.blocking_waits() > 0);
  loop.unwatch(fds[0]);
  loop.remove_timer(*timer);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("the worker thread completes requests through the loop, in order", "[posix]") {
  TempDir dir;
  auto image = ferrite::file::FileFlash::open(dir.file("a.img"), geometry(), {true});
  REQUIRE(image);
  EventLoop loop;
  ThreadedFlash dev(*image, loop);
  Flash f(dev, &loop.tasks());
  std::vector<int> order;
  auto writer = [](Flash f, std::uint32_t at, int id, std::vector<int>& order) -> Task<Status> {
    const std::array<std::byte, 4> data{std::byte(id), std::byte{1}, std::byte{2}, std::byte{3}};
    Status st = co_await f.program(at, data);
    order.push_back(id);
    co_return st;
  };
  auto a = writer(f, 0, 1, order);
  auto b = writer(f, 4, 2, order);
  auto c = writer(f, 8, 3, order);
  a.start();
  b.start();
  c.start();
  // Never inline: all three are waiting for the worker.
  CHECK_FALSE(a.done());
  CHECK(dev.in_flight() <= 3);
  while (!(a.done() && b.done() && c.done())) REQUIRE(loop.run_once(1000));
  CHECK(a.take_result());
  CHECK(b.take_result());
  CHECK(c.take_result());
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(dev.completed() == 3);
  CHECK(dev.in_flight() == 0);
  CHECK(loop.wakeups() > 0);
  // An error from the inner device comes back as is.
  auto again = writer(f, 0, 9, order);
  CHECK(run(loop, std::move(again)).error() == Errc::reprogram_forbidden);
}

TEST_CASE("put and mount run while the loop keeps serving other work", "[posix]") {
  TempDir dir;
  const std::string path = dir.file("store.img");
  std::vector<std::pair<std::string, std::string>> written;
  {
    auto image = ferrite::file::FileFlash::open(path, geometry(), {true});
    REQUIRE(image);
    GatedFlash gate(*image);
    EventLoop loop;
    Ticker ticker{&gate};
    REQUIRE(loop.add_timer(1'000'000, &Ticker::on_timer, &ticker));
    ThreadedFlash dev(gate, loop);
    Flash flash(dev, &loop.tasks());
    ferrite::StoreMemory<32, 4> memory;
    ferrite::Store store(flash, memory.config());
    REQUIRE(run(loop, store.format()));

    for (int i = 0; i < 8; ++i) {
      const std::string key = "key" + std::to_string(i), value = "value-" + std::to_string(i * i);
      const std::uint64_t ticks = ticker.ticks, ops = gate.served();
      CHECK(run(loop, store.put(key, value)));
      // Each flash operation of the put waited for a timer tick that the
      // loop thread served while the put was in flight.
      CHECK(gate.served() > ops);
      CHECK(ticker.ticks - ticks >= gate.served() - ops);
      written.emplace_back(key, value);
    }
    CHECK(get(loop, store, "key3") == "value-9");

    ferrite::StoreMemory<32, 4> memory2;
    ferrite::Store again(flash, memory2.config());
    const std::uint64_t ticks = ticker.ticks, ops = gate.served();
    CHECK(run(loop, again.mount()));
    CHECK(gate.served() - ops >= 4);  // mount read every sector header at least
    CHECK(ticker.ticks - ticks >= gate.served() - ops);
    CHECK(again.stats().keys == 8);
    CHECK(gate.timeouts == 0);
    CHECK(image->close());
  }
  // Data round-trips through the file: reopen the image and mount.
  auto image = ferrite::file::FileFlash::open(path, geometry());
  REQUIRE(image);
  EventLoop loop;
  ThreadedFlash dev(*image, loop);
  ferrite::StoreMemory<32, 4> memory;
  ferrite::Store store(Flash(dev, &loop.tasks()), memory.config());
  REQUIRE(run(loop, store.mount()));
  for (const auto& [k, v] : written) CHECK(get(loop, store, k) == v);
  CHECK(get(loop, store, "missing") == "!not_found");
}
