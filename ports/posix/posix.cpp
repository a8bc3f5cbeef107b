// ferrite.posix: the epoll reactor and the worker-thread device adapter.
module;
#include "ferrite_modules.hpp"
// Only after the shared prologue (see ferrite_std.hpp on include order).
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

module ferrite.posix;

namespace ferrite::posix {

// ---------------------------------------------------------------------------
// EventLoop

EventLoop::EventLoop() noexcept {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ >= 0 && wake_fd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      ::close(wake_fd_);
      wake_fd_ = -1;
    }
  }
}

EventLoop::~EventLoop() {
  for (Watch& w : watches_)
    if (w.fd >= 0 && w.timer) ::close(w.fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status EventLoop::add(Watch w, std::uint32_t events) noexcept {
  if (!ok()) return fail(Errc::io);
  Watch* slot = nullptr;
  for (Watch& s : watches_) {
    if (s.fd < 0) {
      slot = &s;
      break;
    }
  }
  if (!slot) return fail(Errc::no_memory);
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = w.fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.fd, &ev) != 0) return fail(Errc::io);
  *slot = w;
  return {};
}

Status EventLoop::watch(int fd, std::uint32_t events, FdCallback callback, void* context) noexcept {
  if (fd < 0 || !callback) return fail(Errc::invalid_argument);
  return add(Watch{fd, false, callback, nullptr, context}, events);
}

void EventLoop::unwatch(int fd) noexcept {
  for (Watch& w : watches_) {
    if (w.fd == fd && fd >= 0) {
      (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      w = Watch{};
    }
  }
}

Result<int> EventLoop::add_timer(std::uint64_t period_ns, TimerCallback callback, void* context) noexcept {
  if (period_ns == 0 || !callback) return fail(Errc::invalid_argument);
  const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return fail(Errc::io);
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(period_ns / 1'000'000'000u);
  spec.it_interval.tv_nsec = static_cast<long>(period_ns % 1'000'000'000u);
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(fd, 0, &spec, nullptr) != 0) {
    ::close(fd);
    return fail(Errc::io);
  }
  if (Status st = add(Watch{fd, true, nullptr, callback, context}, EPOLLIN); !st) {
    ::close(fd);
    return fail(st.error());
  }
  return fd;
}

void EventLoop::remove_timer(int timer_fd) noexcept {
  for (Watch& w : watches_) {
    if (w.fd == timer_fd && w.timer) {
      (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, timer_fd, nullptr);
      ::close(timer_fd);
      w = Watch{};
    }
  }
}

void EventLoop::wake() noexcept {
  const std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  // EAGAIN: the counter is saturated, the loop is awake anyway.
}

void EventLoop::dispatch(int fd, std::uint32_t events) noexcept {
  if (fd == wake_fd_) {
    std::uint64_t n;
    while (::read(wake_fd_, &n, sizeof n) > 0) {
    }
    ++wakeups_;
    return;
  }
  for (Watch& w : watches_) {
    if (w.fd != fd) continue;
    if (w.timer) {
      std::uint64_t expirations = 0;
      if (::read(fd, &expirations, sizeof expirations) == sizeof expirations && expirations > 0)
        w.on_timer(w.context, expirations);
    } else {
      w.on_fd(w.context, events);
    }
    return;
  }
}

bool EventLoop::run_once(int timeout_ms) noexcept {
  ++iterations_;
  const bool progressed = tasks_.run_once();
  // A completion posted after run_once() looked also wrote the eventfd, so
  // blocking here cannot miss it.
  const int timeout = progressed ? 0 : timeout_ms;
  std::array<epoll_event, 16> events{};
  int n;
  do {
    n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;
  if (n > 0 && timeout != 0) ++blocking_waits_;
  for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)].data.fd, events[static_cast<std::size_t>(i)].events);
  return true;
}

// ---------------------------------------------------------------------------
// ThreadedFlash

struct ThreadedFlash::Impl {
  std::mutex mutex;
  std::condition_variable work;
  std::vector<FlashRequest*> queue;  // FIFO: [head, size)
  std::size_t head = 0;
  bool stopping = false;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> max_depth{0};
  std::atomic<std::uint32_t> extra_latency_us{0};
  FlashRequest forward{};
  std::thread worker;
};

namespace {

Errc perform(FlashDevice& inner, FlashRequest& forward, const FlashRequest& r) noexcept {
  forward.kind = r.kind;
  forward.address = r.address;
  forward.length = r.length;
  forward.sector = r.sector;
  forward.read_into = r.read_into;
  forward.program_from = r.program_from;
  forward.result = Errc::ok;
  forward.loop = nullptr;
  // An inner device that completes later would resume this no-op.
  forward.wakeup = Wakeup{nullptr, std::noop_coroutine()};
  forward.state.store(0, std::memory_order_relaxed);
  inner.submit(forward);
  if (forward.state.load(std::memory_order_acquire) != 2) return Errc::unsupported;
  return forward.result;
}

}  // namespace

ThreadedFlash::ThreadedFlash(FlashDevice& inner, EventLoop& loop) noexcept
    : inner_(inner), loop_(loop), impl_(new Impl) {
  Impl* impl = impl_;
  FlashDevice* dev = &inner_;
  EventLoop* ev = &loop_;
  impl->worker = std::thread([impl, dev, ev] {
    std::unique_lock<std::mutex> lock(impl->mutex);
    for (;;) {
      impl->work.wait(lock, [impl] { return impl->stopping || impl->head < impl->queue.size(); });
      if (impl->head == impl->queue.size()) return;  // stopping, nothing left
      FlashRequest* r = impl->queue[impl->head++];
      const std::uint64_t depth = impl->queue.size() - impl->head + 1;
      if (depth > impl->max_depth.load(std::memory_order_relaxed)) impl->max_depth.store(depth, std::memory_order_relaxed);
      if (impl->head == impl->queue.size()) {
        impl->queue.clear();
        impl->head = 0;
      }
      lock.unlock();
      if (const std::uint32_t us = impl->extra_latency_us.load(std::memory_order_relaxed))
        std::this_thread::sleep_for(std::chrono::microseconds(us));
      const Errc outcome = perform(*dev, impl->forward, *r);
      impl->completed.fetch_add(1, std::memory_order_relaxed);
      impl->in_flight.fetch_sub(1, std::memory_order_acq_rel);
      r->complete(outcome);  // posts the coroutine; *r may be gone after this
      ev->wake();
      lock.lock();
    }
  });
}

ThreadedFlash::~ThreadedFlash() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work.notify_one();
  impl_->worker.join();
  delete impl_;
}

const Geometry& ThreadedFlash::geometry() const noexcept { return inner_.geometry(); }

void ThreadedFlash::submit(FlashRequest& request) noexcept {
  // Completion must reach a loop: resuming inline would run the coroutine
  // on the worker thread.
  if (!request.loop) request.loop = &loop_.tasks();
  impl_->in_flight.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->queue.push_back(&request);
  }
  impl_->work.notify_one();
}

std::size_t ThreadedFlash::in_flight() const noexcept { return impl_->in_flight.load(std::memory_order_acquire); }
std::uint64_t ThreadedFlash::completed() const noexcept { return impl_->completed.load(std::memory_order_acquire); }
std::uint64_t ThreadedFlash::max_queue_depth() const noexcept { return impl_->max_depth.load(std::memory_order_relaxed); }
void ThreadedFlash::set_extra_latency_us(std::uint32_t us) noexcept {
  impl_->extra_latency_us.store(us, std::memory_order_relaxed);
}

}  // namespace ferrite::posix
