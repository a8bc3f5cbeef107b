// ferrite.core — vocabulary shared by every layer: errors as values, Result,
// the lazy coroutine Task, frame allocation, the cooperative run loop, an
// async mutex and the CRC-32C used by the on-flash format.
//
// Nothing here throws or needs RTTI; the module builds with -fno-exceptions
// -fno-rtti and without a heap when the application installs a FrameArena.
module;
#include "ferrite_std.hpp"
#include "ferrite_version.hpp"  // generated: FERRITE_VERSION

export module ferrite.core;

export namespace ferrite {

// ---------------------------------------------------------------------------
// Errors

/// Every failure ferrite reports. Four classes are kept apart: the device
/// (io, power_lost, worn_out, and the request-rule violations a port
/// reports), the data (corrupt, foreign_format, not_formatted, wrong_key), the
/// resources (no_space, no_memory, too_large, busy) and the caller
/// (invalid_argument, not_found, conflict, ...).
enum class Errc : std::uint8_t {
  ok = 0,
  io,                   ///< the device failed or read back something else than was written
  corrupt,              ///< stored bytes fail their checksum or are inconsistent
  no_space,             ///< the store (or the arena) is full; nothing was changed
  not_found,            ///< no such key / record / collection
  too_large,            ///< key, value or request larger than the documented limit
  invalid_argument,     ///< the call's arguments break its contract
  wrong_key,            ///< the encryption key does not open this store
  conflict,             ///< a concurrent transaction changed what this one read or wrote
  busy,                 ///< a resource is held by someone else (another process, an operation in flight)
  no_memory,            ///< a bounded RAM resource (frame arena, index) is exhausted
  not_formatted,        ///< the flash region holds no ferrite store (blank)
  foreign_format,       ///< the region holds data that is not a ferrite store, or another geometry/version
  unsupported,          ///< the operation or geometry is not supported by this build or port
  misaligned,           ///< a program address or length is not a multiple of the program unit
  out_of_bounds,        ///< an address, length or sector index lies outside the device
  reprogram_forbidden,  ///< a unit was programmed twice between erases on flash that forbids it
  bits_not_erased,      ///< a program tried to move a bit back to its erased state
  worn_out,             ///< the sector passed its endurance; the operation failed
  power_lost,           ///< the (simulated) supply was cut; the device accepts nothing more
  cancelled,            ///< the operation was abandoned before it completed
  not_mounted,          ///< the store is not mounted (or was closed)
  buffer_too_small,     ///< the caller's buffer cannot hold the value; nothing was copied
  exists,               ///< the name or unique value is taken already; nothing was changed
  type_mismatch,        ///< the stored value has another type than the one asked for (get_as, Scalar::as)
  already_mounted,      ///< mount/format of a store that is mounted: unmount() first (nothing was changed)
  tampered,             ///< a sealed store's records or sectors fail authentication, or the log was rolled back
  config_mismatch,      ///< the store was formatted with other security options than the ones given (or a cost above the bound)
  history_lost,         ///< the log no longer holds that position: garbage collection retired the part asked for
};

/// A short identifier, e.g. "no_space".
[[nodiscard]] const char* name_of(Errc e) noexcept;
/// One readable sentence, e.g. "not enough free space in the store".
[[nodiscard]] const char* describe(Errc e) noexcept;

// ---------------------------------------------------------------------------
// Result

template <class E>
struct [[nodiscard]] Failure {
  E error;
};

/// `co_return fail(Errc::corrupt);` — an error for any Result<T>.
template <class E = Errc>
[[nodiscard]] constexpr Failure<E> fail(E e) noexcept {
  return Failure<E>{e};
}

/// A value or an error, never both (a small std::expected: clang-16 with
/// libstdc++-12 has none, and the MCU toolchains need the same type).
template <class T, class E = Errc>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  constexpr Result(T v) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(true), val_(std::move(v)) {}
  constexpr Result(Failure<E> f) noexcept : has_(false), err_(f.error) {}
  Result(const Result& o) noexcept(std::is_nothrow_copy_constructible_v<T>) : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&val_)) T(o.val_); else err_ = o.err_;
  }
  Result(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&val_)) T(std::move(o.val_)); else err_ = o.err_;
  }
  Result& operator=(Result o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    destroy();
    has_ = o.has_;
    if (has_) ::new (static_cast<void*>(&val_)) T(std::move(o.val_)); else err_ = o.err_;
    return *this;
  }
  ~Result() requires std::is_trivially_destructible_v<T> = default;
  ~Result() { destroy(); }

  constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }
  constexpr T& value() & noexcept { return val_; }
  constexpr const T& value() const& noexcept { return val_; }
  constexpr T&& value() && noexcept { return std::move(val_); }
  constexpr T& operator*() & noexcept { return val_; }
  constexpr const T& operator*() const& noexcept { return val_; }
  constexpr T&& operator*() && noexcept { return std::move(val_); }
  constexpr T* operator->() noexcept { return &val_; }
  constexpr const T* operator->() const noexcept { return &val_; }
  /// The error; Errc::ok when the result holds a value.
  constexpr E error() const noexcept { return has_ ? E{} : err_; }
  constexpr T value_or(T other) const& { return has_ ? val_ : std::move(other); }

 private:
  void destroy() noexcept {
    if (has_) val_.~T();
  }
  bool has_;
  union {
    T val_;
    E err_;
  };
};

/// Success or an error, nothing else.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  using value_type = void;
  using error_type = E;
  constexpr Result() noexcept = default;
  constexpr Result(Failure<E> f) noexcept : err_(f.error) {}
  constexpr bool has_value() const noexcept { return err_ == E{}; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr E error() const noexcept { return err_; }

 private:
  E err_{};
};

using Status = Result<void, Errc>;

/// Turns an Errc into a Status (Errc::ok is success).
[[nodiscard]] constexpr Status status_of(Errc e) noexcept {
  return e == Errc::ok ? Status{} : Status{fail(e)};
}

template <class R>
concept ResultType = requires(const R& r) {
  typename R::value_type;
  typename R::error_type;
  { r.has_value() } -> std::same_as<bool>;
};

// ---------------------------------------------------------------------------
// Coroutine frame allocation

/// Where coroutine frames come from. The default uses malloc; firmware
/// installs a FrameArena so that no heap is needed. Change it only while no
/// ferrite coroutine is alive (frames return to the allocator that was current
/// when they were freed).
struct FrameAllocator {
  void* (*allocate)(void* context, std::size_t size) noexcept = nullptr;
  void (*deallocate)(void* context, void* frame, std::size_t size) noexcept = nullptr;
  void* context = nullptr;
};

/// Counters over every frame allocation, whichever allocator served it.
struct FrameStats {
  std::size_t live_frames = 0;
  std::size_t live_bytes = 0;
  std::size_t high_water_bytes = 0;
  std::size_t allocations = 0;
  std::size_t failures = 0;
  std::size_t largest_frame = 0;
};

void set_frame_allocator(FrameAllocator a) noexcept;
[[nodiscard]] FrameAllocator frame_allocator() noexcept;
/// The malloc-backed allocator installed at start-up (hosted builds).
[[nodiscard]] FrameAllocator heap_frame_allocator() noexcept;
[[nodiscard]] FrameStats frame_stats() noexcept;
void reset_frame_stats() noexcept;

[[nodiscard]] void* allocate_frame(std::size_t size) noexcept;
void deallocate_frame(void* frame, std::size_t size) noexcept;

/// A fixed arena for coroutine frames: first-fit over caller-provided storage,
/// freed blocks coalesce. Exhaustion makes the coroutine call come back as an
/// invalid Task, whose co_await yields Errc::no_memory.
class FrameArena {
 public:
  explicit FrameArena(std::span<std::byte> storage) noexcept;
  FrameArena(const FrameArena&) = delete;
  FrameArena& operator=(const FrameArena&) = delete;

  [[nodiscard]] FrameAllocator allocator() noexcept;
  [[nodiscard]] void* allocate(std::size_t size) noexcept;
  void deallocate(void* frame) noexcept;

  std::size_t capacity() const noexcept { return storage_.size(); }
  std::size_t used_bytes() const noexcept { return used_; }
  std::size_t high_water_bytes() const noexcept { return high_water_; }
  std::size_t failures() const noexcept { return failures_; }

 private:
  std::span<std::byte> storage_;
  std::size_t used_ = 0;
  std::size_t high_water_ = 0;
  std::size_t failures_ = 0;
};

// ---------------------------------------------------------------------------
// Task

template <class T = void>
class Task;

namespace detail {

/// Destroys a coroutine frame. Deliberately out of line: clang-16 at -O2
/// elides the heap allocation of nested Task frames (HALO) yet still frees
/// them through the promise's operator delete, passing a pointer into the
/// parent frame to free(). An opaque destroy keeps the elision from firing.
void destroy_frame(std::coroutine_handle<> h) noexcept;
/// Resumes `h`; used only where symmetric transfer is unavailable (see
/// FERRITE_SYMMETRIC_TRANSFER). Out of line because clang-16's coroutine split
/// turns a resume at the end of an await_suspend into a musttail call, the
/// very call ARMv6-M cannot make.
void resume_frame(std::coroutine_handle<> h) noexcept;

// Symmetric transfer (an await_suspend returning the handle to resume) needs
// a guaranteed tail call. clang-16 cannot make one for ARMv6-M (Cortex-M0/M0+,
// thumbv6m): its backend aborts on the musttail call the coroutine split emits
// (fixed in later LLVM by not emitting it there). On that target a Task hands
// over by a flag instead: a child that finishes while its awaiter is still
// starting it lets the awaiter continue without suspending (so a loop of
// synchronously completing awaits still runs in constant stack), and one that
// finishes later resumes its awaiter by an ordinary call (the stack then
// grows with the nesting of the Tasks finishing together, never with loops).
// -DFERRITE_SYMMETRIC_TRANSFER=0 selects the hand-off on any target (a host
// build runs the test suite through it).
#ifndef FERRITE_SYMMETRIC_TRANSFER
#if defined(__ARM_ARCH_6M__)
#define FERRITE_SYMMETRIC_TRANSFER 0
#else
#define FERRITE_SYMMETRIC_TRANSFER 1
#endif
#endif

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
#if !FERRITE_SYMMETRIC_TRANSFER
  enum class Handoff : unsigned char { detached, starting, finished_while_starting };
  Handoff handoff = Handoff::detached;
#endif

  static void* operator new(std::size_t n) noexcept { return allocate_frame(n); }
  static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
#if FERRITE_SYMMETRIC_TRANSFER
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return h.promise().continuation;  // symmetric transfer: no stack growth
    }
#else
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.handoff == Handoff::starting) {
        p.handoff = Handoff::finished_while_starting;  // the awaiter goes on inline
        return;
      }
      // The awaiter may destroy this frame: nothing here touches it afterwards.
      resume_frame(p.continuation);
    }
#endif
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  // The core is built without exceptions: this cannot be reached.
  [[noreturn]] void unhandled_exception() noexcept { std::abort(); }
};

template <class T>
struct Promise : PromiseBase {
  alignas(T) unsigned char storage[sizeof(T)];
  bool has_value = false;
  template <class U>
    requires std::convertible_to<U&&, T>
  void return_value(U&& v) noexcept {
    ::new (static_cast<void*>(storage)) T(std::forward<U>(v));
    has_value = true;
  }
  T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
  ~Promise() {
    if (has_value) value().~T();
  }
};

template <>
struct Promise<void> : PromiseBase {
  void return_void() noexcept {}
};

}  // namespace detail

/// A lazily started coroutine returning T. Awaiting it starts it and resumes
/// the awaiter by symmetric transfer when it finishes, so a chain of a million
/// synchronously completing awaits runs in constant stack. Move-only; the
/// frame is destroyed with the Task. A Task whose frame could not be allocated
/// is invalid: awaiting it yields Errc::no_memory (T must be a Result then).
template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::Promise<T> {
    Task get_return_object() noexcept {
      return Task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    static Task get_return_object_on_allocation_failure() noexcept { return Task{}; }
  };
  using handle_type = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})), started_(std::exchange(o.started_, false)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
      started_ = std::exchange(o.started_, false);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  /// False when the frame could not be allocated.
  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }
  /// Starts a top-level task once; used by run loops, not coroutines. A task
  /// that is already running (suspended on something) is left alone: only
  /// what it waits for may resume it.
  void start() noexcept {
    if (h_ && !started_) {
      started_ = true;
      h_.resume();
    }
  }
  /// The result of a finished task (moves it out).
  T take_result() noexcept {
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      if (!h_) return invalid_result();
      return std::move(h_.promise().value());
    }
  }

  bool await_ready() const noexcept { return !h_ || h_.done(); }
#if FERRITE_SYMMETRIC_TRANSFER
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    started_ = true;
    return h_;
  }
#else
  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    using Handoff = detail::PromiseBase::Handoff;
    auto& p = h_.promise();
    p.continuation = awaiting;
    started_ = true;
    p.handoff = Handoff::starting;
    h_.resume();
    if (p.handoff == Handoff::finished_while_starting) return false;  // done: no suspension
    p.handoff = Handoff::detached;  // suspended: it resumes `awaiting` when it finishes
    return true;
  }
#endif
  T await_resume() noexcept { return take_result(); }

 private:
  explicit Task(handle_type h) noexcept : h_(h) {}
  static T invalid_result() noexcept {
    if constexpr (std::is_constructible_v<T, Failure<Errc>>) {
      return T{fail(Errc::no_memory)};
    } else {
      std::abort();  // a Task<T> whose T cannot carry an error ran out of frames
    }
  }
  void reset() noexcept {
    if (h_) {
      detail::destroy_frame(h_);
      h_ = {};
    }
  }
  handle_type h_{};
  bool started_ = false;
};

/// A result already at hand, awaited like a Task that completes at once:
/// what an operation returns in a build where it awaits nothing, so its
/// callers stay the same and no coroutine frame is made.
template <class T>
struct [[nodiscard]] Ready {
  T value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() noexcept { return std::move(value); }
};

// ---------------------------------------------------------------------------
// Run loop

/// An intrusive "resume me" node; owned by the suspended operation.
struct Wakeup {
  Wakeup* next = nullptr;
  std::coroutine_handle<> handle{};
};

/// Something the run loop polls each turn (a deferred flash controller, a
/// timer). poll() returns true when it made progress.
class EventSource {
 public:
  virtual bool poll() noexcept = 0;
  EventSource* next_source = nullptr;

 protected:
  ~EventSource() = default;
};

/// A single-threaded cooperative scheduler for super-loops and host tests.
/// post() may be called from an interrupt handler (lock-free push); every
/// other member runs on the loop's own thread.
class RunLoop {
 public:
  RunLoop() noexcept = default;
  RunLoop(const RunLoop&) = delete;
  RunLoop& operator=(const RunLoop&) = delete;

  /// Queue a suspended coroutine for resumption on the next turn.
  void post(Wakeup& w) noexcept;
  void add_source(EventSource& s) noexcept;
  void remove_source(EventSource& s) noexcept;
  /// Called once per turn when nothing else was ready (maintenance hook).
  void set_idle_hook(bool (*hook)(void*) noexcept, void* context) noexcept;

  /// One turn: resume everything posted so far, poll every source, and run the
  /// idle hook when nothing happened. Returns true when anything happened.
  bool run_once() noexcept;
  /// Start `t` and turn until it is done. Returns false (and leaves `t`
  /// unfinished) when the loop ran dry: nothing posted, no source progressing.
  template <class T>
  bool drive(Task<T>& t) noexcept {
    t.start();
    while (!t.done()) {
      if (!run_once()) return false;
    }
    return true;
  }
  /// Awaitable that reschedules the awaiting coroutine behind everything
  /// already queued (a cooperative yield).
  struct YieldAwaiter {
    RunLoop* loop;
    Wakeup node{};
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node.handle = h;
      loop->post(node);
    }
    void await_resume() const noexcept {}
  };
  [[nodiscard]] YieldAwaiter yield() noexcept { return YieldAwaiter{this}; }

  std::size_t turns() const noexcept { return turns_; }
  std::size_t resumptions() const noexcept { return resumptions_; }

 private:
  std::atomic<Wakeup*> posted_{nullptr};
  EventSource* sources_ = nullptr;
  bool (*idle_hook_)(void*) noexcept = nullptr;
  void* idle_context_ = nullptr;
  std::size_t turns_ = 0;
  std::size_t resumptions_ = 0;
};

/// Runs a task to completion from blocking code and returns its result. With
/// a loop, the loop is turned until the task finishes; without one, the task
/// must complete synchronously (all ports that complete inline). A task that
/// can never finish aborts: that is a wiring bug, not a runtime condition.
template <class T>
T sync_wait(Task<T> t, RunLoop* loop = nullptr) noexcept {
  if (!t.valid()) return t.take_result();
  t.start();
  while (!t.done()) {
    if (!loop || !loop->run_once()) std::abort();
  }
  return t.take_result();
}

// ---------------------------------------------------------------------------
// Async mutex

/// A FIFO mutex for coroutines. Ownership passes directly to the next waiter
/// on unlock, so no waiter can be starved by a late arrival. With a run loop
/// the next owner is resumed on the loop; without one, inline.
class AsyncMutex {
 public:
  explicit AsyncMutex(RunLoop* loop = nullptr) noexcept : loop_(loop) {}
  AsyncMutex(const AsyncMutex&) = delete;
  AsyncMutex& operator=(const AsyncMutex&) = delete;

  /// Move-only ownership token; unlocks when destroyed.
  class [[nodiscard]] Guard {
   public:
    Guard() noexcept = default;
    explicit Guard(AsyncMutex* m) noexcept : m_(m) {}
    Guard(Guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        release();
        m_ = std::exchange(o.m_, nullptr);
      }
      return *this;
    }
    ~Guard() { release(); }
    bool owns_lock() const noexcept { return m_ != nullptr; }
    void release() noexcept {
      if (m_) std::exchange(m_, nullptr)->unlock();
    }

   private:
    AsyncMutex* m_ = nullptr;
  };

  struct LockAwaiter {
    AsyncMutex* mutex;
    LockAwaiter* next = nullptr;
    Wakeup node{};
    bool await_ready() noexcept { return mutex->try_lock_raw(); }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node.handle = h;
      mutex->enqueue(this);
    }
    Guard await_resume() noexcept { return Guard{mutex}; }
  };

  [[nodiscard]] LockAwaiter lock() noexcept { return LockAwaiter{this}; }
  [[nodiscard]] Guard try_lock() noexcept { return try_lock_raw() ? Guard{this} : Guard{}; }
  bool locked() const noexcept { return locked_; }
  std::size_t waiters() const noexcept { return waiting_; }

 private:
  friend class Guard;
  bool try_lock_raw() noexcept {
    if (locked_) return false;
    locked_ = true;
    return true;
  }
  void enqueue(LockAwaiter* a) noexcept;
  void unlock() noexcept;

  RunLoop* loop_;
  bool locked_ = false;
  std::size_t waiting_ = 0;
  LockAwaiter* head_ = nullptr;
  LockAwaiter* tail_ = nullptr;
};

// ---------------------------------------------------------------------------
// Events

/// Levelled event reporting (not the storage log): ferrite's layers report
/// noteworthy happenings — a stale lock taken over, corruption skipped — to
/// one application-installed sink. Without a sink, events are dropped.
enum class EventLevel : std::uint8_t { debug = 0, info = 1, error = 2 };

struct EventSink {
  void (*write)(void* context, EventLevel level, std::string_view message) noexcept = nullptr;
  void* context = nullptr;
  EventLevel threshold = EventLevel::info;  ///< events below this level are dropped
};

void set_event_sink(EventSink sink) noexcept;
void emit_event(EventLevel level, std::string_view message) noexcept;
[[nodiscard]] const char* name_of(EventLevel level) noexcept;

// ---------------------------------------------------------------------------
// Checksums

/// CRC-32C (Castagnoli), the checksum of the on-flash format. `crc` chains:
/// crc32c(b, crc32c(a)) == crc32c(a ++ b).
[[nodiscard]] std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;
namespace detail {
/// The two table sizes crc32c() may be built with (meson option crc32c):
/// both are always compiled, so tests compare them in any build.
[[nodiscard]] std::uint32_t crc32c_table256(std::span<const std::byte> data, std::uint32_t crc) noexcept;
[[nodiscard]] std::uint32_t crc32c_table16(std::span<const std::byte> data, std::uint32_t crc) noexcept;
}  // namespace detail

/// Bumped when an exported interface changes shape; printed by the demo and
/// used by the incremental-rebuild test.
inline constexpr int interface_version = 2;

/// The release, from meson.build's project(version:), e.g. "0.2.0".
inline constexpr std::string_view version = FERRITE_VERSION;

}  // namespace ferrite

#if FERRITE_HAVE_FMT
template <>
struct fmt::formatter<ferrite::Errc> : fmt::formatter<std::string_view> {
  auto format(ferrite::Errc e, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(ferrite::describe(e), ctx);
  }
};
#endif
