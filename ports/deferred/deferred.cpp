// The deferred-completion flash controller: queue, ticks, interrupt.
module;
#include "ferrite_modules.hpp"

module ferrite.deferred;

namespace ferrite::deferred {

DeferredFlash::DeferredFlash(FlashDevice& inner, RunLoop& loop, LatencyTicks latency) noexcept
    : inner_(inner), loop_(loop), latency_(latency) {
  loop_.add_source(*this);
}

DeferredFlash::~DeferredFlash() {
  // Leaving requests queued would strand their coroutines forever; failing
  // them is the only outcome their awaiters can act on.
  (void)cancel_all(Errc::cancelled);
  loop_.remove_source(*this);
}

const Geometry& DeferredFlash::geometry() const noexcept { return inner_.geometry(); }

void DeferredFlash::set_latency_ticks(std::uint32_t read, std::uint32_t program, std::uint32_t erase) noexcept {
  latency_ = LatencyTicks{read, program, erase};
}

std::uint32_t DeferredFlash::latency_of(FlashOpKind kind) const noexcept {
  switch (kind) {
    case FlashOpKind::read: return latency_.read;
    case FlashOpKind::program: return latency_.program;
    case FlashOpKind::erase: return latency_.erase;
  }
  return latency_.read;
}

std::size_t DeferredFlash::in_flight() const noexcept {
  return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
}

void DeferredFlash::submit(FlashRequest& request) noexcept {
  // Completion must go through a loop: resuming inline would run the
  // awaiting coroutine inside poll() or, worse, inside an interrupt handler.
  if (!request.loop) request.loop = &loop_;
  const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
  const std::uint32_t head = head_.load(std::memory_order_acquire);
  if (tail - head >= queue_capacity) {
    ++rejected_;
    request.complete(Errc::busy);
    return;
  }
  ring_[tail % queue_capacity] = &request;
  tail_.store(tail + 1, std::memory_order_release);
  max_depth_ = std::max<std::size_t>(max_depth_, tail + 1 - head);
}

bool DeferredFlash::poll() noexcept {
  ++ticks_;
  const std::uint32_t head = head_.load(std::memory_order_acquire);
  if (head == tail_.load(std::memory_order_acquire)) return false;
  if (!timing_ || timing_index_ != head) {
    // A new operation reached the controller: its time starts with this tick.
    timing_ = true;
    timing_index_ = head;
    remaining_ = latency_of(ring_[head % queue_capacity]->kind);
  }
  if (remaining_ == 0) return false;  // interrupt-driven: time alone does not finish it
  if (--remaining_ > 0) return true;
  (void)finish_current(true, Errc::ok);
  return true;
}

bool DeferredFlash::on_interrupt() noexcept { return finish_current(true, Errc::ok); }

std::size_t DeferredFlash::cancel_all(Errc reason) noexcept {
  std::size_t n = 0;
  while (finish_current(false, reason)) ++n;
  return n;
}

Errc DeferredFlash::perform_on_inner(const FlashRequest& r) noexcept {
  forward_.kind = r.kind;
  forward_.address = r.address;
  forward_.length = r.length;
  forward_.sector = r.sector;
  forward_.read_into = r.read_into;
  forward_.program_from = r.program_from;
  forward_.result = Errc::ok;
  forward_.loop = nullptr;
  // Should a misbehaving inner complete later, it resumes a no-op instead of
  // a dangling coroutine.
  forward_.wakeup = Wakeup{nullptr, std::noop_coroutine()};
  forward_.state.store(0, std::memory_order_relaxed);
  inner_.submit(forward_);
  if (forward_.state.load(std::memory_order_acquire) != 2) return Errc::unsupported;
  return forward_.result;
}

bool DeferredFlash::finish_current(bool perform, Errc reason) noexcept {
  // An exchange, not a compare-exchange: for a flag the same, and on
  // Cortex-M a compare-exchange given one memory order is not inlined (a
  // switch over every order pair, ~480 B).
  if (finishing_.exchange(true, std::memory_order_acquire)) return false;
  const std::uint32_t head = head_.load(std::memory_order_relaxed);
  if (head == tail_.load(std::memory_order_acquire)) {
    finishing_.store(false, std::memory_order_release);
    return false;
  }
  FlashRequest* r = ring_[head % queue_capacity];
  const Errc outcome = perform ? perform_on_inner(*r) : reason;
  if (perform) ++completed_;
  // Free the slot before complete(): once completed, the request (in the
  // awaiter's frame) may be gone, and the next operation may start.
  head_.store(head + 1, std::memory_order_release);
  finishing_.store(false, std::memory_order_release);
  r->complete(outcome);
  return true;
}

}  // namespace ferrite::deferred
