// ferrite.posix — ferrite in a Linux event loop (host only).
//
// EventLoop is a small epoll reactor that also turns a ferrite RunLoop: file
// descriptors and timerfd timers get callbacks, and ferrite's coroutines run
// in between. ThreadedFlash puts a device that completes inline (the file
// image, ferrite::file::FileFlash, does blocking pread/pwrite/fdatasync)
// behind a worker thread: submit() only queues, the worker performs the
// operation, completes the request (FlashRequest::complete posts the awaiting
// coroutine to its RunLoop, which is safe from any thread) and wakes the
// EventLoop through an eventfd. The loop thread therefore never blocks on the
// device: timers and other descriptors keep being served while a put, a
// mount or a garbage collection is in flight.
//
//   ferrite::posix::EventLoop loop;
//   auto image = ferrite::file::FileFlash::open("store.img", geometry, {.create_if_missing = true});
//   ferrite::posix::ThreadedFlash device(*image, loop);
//   ferrite::Store store(ferrite::Flash(device, &loop.tasks()), memory.config());
//   auto t = store.mount();
//   loop.run(t);          // serves timers and fds until the mount is done
module;
#include "ferrite_std.hpp"

export module ferrite.posix;
export import ferrite.flash;

export namespace ferrite::posix {

/// A single-threaded epoll reactor driving a ferrite RunLoop. Every member
/// except wake() runs on the loop's thread.
class EventLoop {
 public:
  using FdCallback = void (*)(void* context, std::uint32_t events) noexcept;
  using TimerCallback = void (*)(void* context, std::uint64_t expirations) noexcept;
  static constexpr std::size_t max_watches = 32;

  /// Creates the epoll instance and its wake-up eventfd. ok() tells whether
  /// that worked (it fails only when the process is out of descriptors).
  EventLoop() noexcept;
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool ok() const noexcept { return epoll_fd_ >= 0 && wake_fd_ >= 0; }
  /// The ferrite run loop turned by this event loop.
  RunLoop& tasks() noexcept { return tasks_; }

  /// Calls `callback(context, events)` when `fd` reports `events` (EPOLLIN,
  /// EPOLLOUT, ...). Errors: no_memory (max_watches reached), io.
  Status watch(int fd, std::uint32_t events, FdCallback callback, void* context) noexcept;
  void unwatch(int fd) noexcept;
  /// A periodic timerfd (CLOCK_MONOTONIC): `callback(context, expirations)`
  /// every `period_ns`. Returns the timer's descriptor (for remove_timer).
  Result<int> add_timer(std::uint64_t period_ns, TimerCallback callback, void* context) noexcept;
  void remove_timer(int timer_fd) noexcept;

  /// Wakes a blocked run_once(). Safe from any thread (an eventfd write).
  void wake() noexcept;

  /// One iteration: turn the ferrite loop once; then wait for descriptors
  /// (not at all when ferrite made progress, else up to `timeout_ms`, -1 =
  /// forever) and dispatch their callbacks. Returns false when epoll failed.
  bool run_once(int timeout_ms = -1) noexcept;
  /// Starts `t` and iterates until it is done. False: epoll failed.
  template <class T>
  bool run(Task<T>& t) noexcept {
    t.start();
    while (!t.done()) {
      if (!run_once()) return false;
    }
    return true;
  }

  std::uint64_t iterations() const noexcept { return iterations_; }
  /// epoll_wait calls that blocked (timeout != 0) and returned with events.
  std::uint64_t blocking_waits() const noexcept { return blocking_waits_; }
  std::uint64_t wakeups() const noexcept { return wakeups_; }

 private:
  struct Watch {
    int fd = -1;
    bool timer = false;
    FdCallback on_fd = nullptr;
    TimerCallback on_timer = nullptr;
    void* context = nullptr;
  };
  Status add(Watch w, std::uint32_t events) noexcept;
  void dispatch(int fd, std::uint32_t events) noexcept;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  RunLoop tasks_;
  std::array<Watch, max_watches> watches_{};
  std::uint64_t iterations_ = 0;
  std::uint64_t blocking_waits_ = 0;
  std::uint64_t wakeups_ = 0;
};

/// A device whose requests are performed by a worker thread on `inner`.
///
/// `inner` must complete inline (FileFlash, SimFlash, a RAM fake); it is only
/// ever called from the worker, one request at a time, in submission order.
/// Completion: the worker completes the request (posting its coroutine to the
/// request's RunLoop, or to `loop.tasks()` when the view has none) and then
/// wakes `loop`. Requests live in the awaiting coroutines' frames, so those
/// must not be destroyed while a request is in flight; the destructor waits
/// for the worker to finish what was queued.
class ThreadedFlash final : public FlashDevice {
 public:
  /// Starts the worker thread. `inner` and `loop` must outlive this object.
  ThreadedFlash(FlashDevice& inner, EventLoop& loop) noexcept;
  /// Completes what is queued, then stops and joins the worker.
  ~ThreadedFlash();
  ThreadedFlash(const ThreadedFlash&) = delete;
  ThreadedFlash& operator=(const ThreadedFlash&) = delete;

  const Geometry& geometry() const noexcept override;
  /// Queues the request for the worker; never completes inline.
  void submit(FlashRequest& request) noexcept override;

  /// Requests submitted and not yet completed.
  std::size_t in_flight() const noexcept;
  std::uint64_t completed() const noexcept;
  /// Requests that were still queued when the worker performed one (how
  /// often the loop thread got ahead of the device).
  std::uint64_t max_queue_depth() const noexcept;
  /// Artificial extra time per operation on the worker (tests, demos).
  void set_extra_latency_us(std::uint32_t us) noexcept;

 private:
  struct Impl;
  FlashDevice& inner_;
  EventLoop& loop_;
  Impl* impl_;
};

}  // namespace ferrite::posix
