// The cooperative run loop and the async mutex.
module;
#include "ferrite_modules.hpp"

module ferrite.core;

namespace ferrite {

void RunLoop::post(Wakeup& w) noexcept {
  Wakeup* head = posted_.load(std::memory_order_relaxed);
  do {
    w.next = head;
  } while (!posted_.compare_exchange_weak(head, &w, std::memory_order_release, std::memory_order_relaxed));
}

void RunLoop::add_source(EventSource& s) noexcept {
  s.next_source = sources_;
  sources_ = &s;
}

void RunLoop::remove_source(EventSource& s) noexcept {
  for (EventSource** p = &sources_; *p; p = &(*p)->next_source) {
    if (*p == &s) {
      *p = s.next_source;
      s.next_source = nullptr;
      return;
    }
  }
}

void RunLoop::set_idle_hook(bool (*hook)(void*) noexcept, void* context) noexcept {
  idle_hook_ = hook;
  idle_context_ = context;
}

bool RunLoop::run_once() noexcept {
  ++turns_;
  bool progressed = false;
  // Take the whole posted stack at once, then reverse it so wakeups run in
  // the order they were posted.
  Wakeup* stack = posted_.exchange(nullptr, std::memory_order_acquire);
  Wakeup* fifo = nullptr;
  while (stack) {
    Wakeup* next = stack->next;
    stack->next = fifo;
    fifo = stack;
    stack = next;
  }
  while (fifo) {
    Wakeup* w = fifo;
    fifo = fifo->next;
    ++resumptions_;
    progressed = true;
    w->handle.resume();  // may destroy *w: read nothing from it afterwards
  }
  for (EventSource* s = sources_; s;) {
    EventSource* next = s->next_source;  // a source may remove itself
    progressed = s->poll() || progressed;
    s = next;
  }
  if (!progressed && idle_hook_) progressed = idle_hook_(idle_context_);
  return progressed || posted_.load(std::memory_order_acquire) != nullptr;
}

void AsyncMutex::enqueue(LockAwaiter* a) noexcept {
  ++waiting_;
  a->next = nullptr;
  if (tail_) tail_->next = a; else head_ = a;
  tail_ = a;
}

void AsyncMutex::unlock() noexcept {
  LockAwaiter* next = head_;
  if (!next) {
    locked_ = false;
    return;
  }
  head_ = next->next;
  if (!head_) tail_ = nullptr;
  --waiting_;
  // Ownership passes to `next` without ever becoming free.
  if (loop_) loop_->post(next->node); else next->node.handle.resume();
}

}  // namespace ferrite
