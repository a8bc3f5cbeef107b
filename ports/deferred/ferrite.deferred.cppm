// ferrite.deferred — a flash device whose operations complete later, the way
// an MCU flash controller with an end-of-operation interrupt does.
//
// It wraps a device that completes inline (the simulated flash, the file
// image, a RAM fake) and turns every request into a real suspension: submit()
// only queues, and the operation finishes either after a number of run-loop
// ticks (poll()) or when on_interrupt() is called, the way a driver's ISR would
// finish it. Engines are tested against it so that every flash operation is a
// genuine suspension point, with other coroutines running in between.
module;
#include "ferrite_std.hpp"

export module ferrite.deferred;
export import ferrite.flash;

export namespace ferrite::deferred {

/// How many run-loop ticks each kind of operation takes once it reaches the
/// controller. 0 means "never by ticks": only on_interrupt() finishes it.
struct LatencyTicks {
  std::uint32_t read = 1;
  std::uint32_t program = 1;
  std::uint32_t erase = 1;
};

/// A single-channel flash controller in front of `inner`.
///
/// Queueing: requests wait in FIFO order in a fixed queue of queue_capacity
/// entries; the oldest one is "in the controller". A request submitted while
/// the queue is full completes at once with Errc::busy and never reaches the
/// inner device.
///
/// Completion: when the operation in the controller finishes (by ticks in
/// poll(), or by on_interrupt()), it is performed on `inner` with a private
/// request and the outcome (inner's Errc, e.g. bits_not_erased, power_lost)
/// is reported with FlashRequest::complete(), which posts the awaiting
/// coroutine to its run loop. A request whose view has no loop is resumed on
/// this device's loop, so a completion never resumes a coroutine inside
/// poll() or an interrupt handler.
///
/// Power loss: the inner device is touched only when an operation completes,
/// so a cut while a request is queued leaves the flash unchanged; the inner
/// device's contract applies to the operation being completed.
///
/// Cancellation: a queued request lives in the awaiting coroutine's frame, so
/// that coroutine must not be destroyed before its request completes (doing so
/// is undefined behaviour, as with a DMA buffer freed under a controller). To
/// abandon pending work, call cancel_all(), then turn the loop so the
/// coroutines resume and see the error; only then destroy them.
///
/// Requirements: `inner` completes inline (an inner that does not is a wiring
/// error: the request fails with Errc::unsupported); `inner` and `loop`
/// outlive this object. Everything except on_interrupt() runs on the loop's
/// thread; on_interrupt() may preempt it (see there).
class DeferredFlash final : public FlashDevice, public EventSource {
 public:
  /// Requests that can wait at once (32 pointers of RAM).
  static constexpr std::size_t queue_capacity = 32;

  /// Registers with `loop` as an event source.
  DeferredFlash(FlashDevice& inner, RunLoop& loop, LatencyTicks latency = {}) noexcept;
  /// Cancels what is still queued (Errc::cancelled, posted to the loop) and
  /// unregisters from the loop.
  ~DeferredFlash();
  DeferredFlash(const DeferredFlash&) = delete;
  DeferredFlash& operator=(const DeferredFlash&) = delete;

  const Geometry& geometry() const noexcept override;
  /// Queues the request; never completes inline (except Errc::busy when the
  /// queue is full).
  void submit(FlashRequest& request) noexcept override;
  /// One tick of device time. Returns true when an operation was in the
  /// controller and its time advanced (or it completed).
  bool poll() noexcept override;

  /// Applies to operations that reach the controller afterwards.
  void set_latency_ticks(std::uint32_t read, std::uint32_t program, std::uint32_t erase) noexcept;
  LatencyTicks latency_ticks() const noexcept { return latency_; }

  /// The end-of-operation interrupt: finishes the operation in the controller
  /// now, whatever its remaining ticks. ISR-safe: it touches only the lock-free
  /// queue indexes and completes through RunLoop::post. If it preempts a
  /// poll() that is already finishing the same operation, it does nothing.
  /// Returns false when the controller was idle (a spurious interrupt).
  bool on_interrupt() noexcept;

  /// Completes every queued request, the one in the controller included, with
  /// `reason` without performing it on the inner device. Returns how many.
  /// Call on the loop's thread with the interrupt masked.
  std::size_t cancel_all(Errc reason = Errc::cancelled) noexcept;

  /// Requests submitted and not yet completed (queued + in the controller).
  std::size_t in_flight() const noexcept;
  /// The largest in_flight() seen since construction.
  std::size_t max_queue_depth() const noexcept { return max_depth_; }
  /// poll() calls so far (device time in ticks).
  std::uint64_t ticks() const noexcept { return ticks_; }
  /// Operations performed on the inner device and completed.
  std::uint64_t completed() const noexcept { return completed_; }
  /// Requests refused with Errc::busy because the queue was full.
  std::uint64_t rejected() const noexcept { return rejected_; }

 private:
  bool finish_current(bool perform, Errc reason) noexcept;
  Errc perform_on_inner(const FlashRequest& r) noexcept;
  std::uint32_t latency_of(FlashOpKind kind) const noexcept;

  FlashDevice& inner_;
  RunLoop& loop_;
  LatencyTicks latency_;
  // Single-producer (submit) / single-consumer (whoever finishes the current
  // operation) ring; indexes run freely and wrap modulo 2^32.
  std::array<FlashRequest*, queue_capacity> ring_{};
  std::atomic<std::uint32_t> head_{0};
  std::atomic<std::uint32_t> tail_{0};
  // Claimed by poll(), on_interrupt() or cancel_all() while finishing one
  // operation, so an interrupt cannot complete a request twice.
  std::atomic<bool> finishing_{false};
  // Tick bookkeeping of the operation in the controller (loop thread only).
  bool timing_ = false;
  std::uint32_t timing_index_ = 0;
  std::uint32_t remaining_ = 0;
  FlashRequest forward_{};
  std::size_t max_depth_ = 0;
  std::uint64_t ticks_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace ferrite::deferred
