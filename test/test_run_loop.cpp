// RunLoop scheduling, event sources, the idle hook, AsyncMutex and sync_wait.
#include <catch2/catch.hpp>
import ferrite.core;

using ferrite::AsyncMutex;
using ferrite::RunLoop;
using ferrite::Task;

namespace {

Task<void> record_after_yield(RunLoop& loop, std::vector<int>& out, int id) {
  out.push_back(-id);  // ran up to the yield
  co_await loop.yield();
  out.push_back(id);
}

Task<int> yield_times(RunLoop& loop, int n) {
  for (int i = 0; i < n; ++i) co_await loop.yield();
  co_return n;
}

Task<void> hold_then_record(AsyncMutex& m, std::vector<int>& order, int id) {
  auto guard = co_await m.lock();
  CHECK(guard.owns_lock());
  order.push_back(id);
}

Task<void> wait_for_lock(AsyncMutex& m, bool& got) {
  auto guard = co_await m.lock();
  got = guard.owns_lock();
}

struct Shared {
  long counter = 0;
  bool inside = false;
  int violations = 0;
};

Task<void> contend(RunLoop& loop, AsyncMutex& m, Shared& s, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    {
      auto guard = co_await m.lock();
      if (s.inside) ++s.violations;
      s.inside = true;
      const long seen = s.counter;
      co_await loop.yield();  // others run while we hold the lock
      s.counter = seen + 1;   // a lost update would show in the final count
      s.inside = false;
    }
    co_await loop.yield();
  }
}

struct CountingSource final : ferrite::EventSource {
  int polls = 0;
  int busy_for = 0;  // polls that report progress
  bool poll() noexcept override {
    ++polls;
    if (busy_for > 0) {
      --busy_for;
      return true;
    }
    return false;
  }
};

bool count_idle(void* ctx) noexcept {
  ++*static_cast<int*>(ctx);
  return false;
}

}  // namespace

TEST_CASE("posted coroutines resume in the order they were posted", "[core][loop]") {
  RunLoop loop;
  std::vector<int> out;
  std::vector<Task<void>> tasks;
  for (int id = 1; id <= 5; ++id) tasks.push_back(record_after_yield(loop, out, id));
  for (auto& t : tasks) t.start();
  CHECK(out == std::vector<int>{-1, -2, -3, -4, -5});
  CHECK(loop.run_once());
  CHECK(out == std::vector<int>{-1, -2, -3, -4, -5, 1, 2, 3, 4, 5});
  for (auto& t : tasks) CHECK(t.done());
  CHECK(loop.resumptions() == 5);
}

TEST_CASE("yield puts a coroutine behind the work already queued and drive finishes it", "[core][loop]") {
  RunLoop loop;
  Task<int> t = yield_times(loop, 3);
  CHECK(loop.drive(t));
  CHECK(t.done());
  CHECK(t.take_result() == 3);
  CHECK(loop.resumptions() == 3);
  CHECK(loop.turns() >= 3);
}

TEST_CASE("drive returns false when the loop runs dry before the task finishes", "[core][loop]") {
  RunLoop loop;
  AsyncMutex m(&loop);
  auto held = m.try_lock();
  bool got = false;
  Task<void> t = wait_for_lock(m, got);
  CHECK_FALSE(loop.drive(t));  // nothing will ever wake it while `held` lives
  CHECK_FALSE(t.done());
  CHECK(m.waiters() == 1);
  held.release();  // hands the lock to the waiter and posts it
  // drive() would start() the task again; a suspended task is only resumed
  // by its wakeup, so turn the loop instead.
  while (!t.done() && loop.run_once()) {
  }
  CHECK(t.done());
  CHECK(got);
  CHECK_FALSE(m.locked());
}

TEST_CASE("the idle hook runs only on turns where nothing else happened", "[core][loop]") {
  RunLoop loop;
  int idle = 0;
  loop.set_idle_hook(&count_idle, &idle);
  std::vector<int> out;
  Task<void> t = record_after_yield(loop, out, 1);
  t.start();
  CHECK(loop.run_once());  // resumed a coroutine: not idle
  CHECK(idle == 0);
  CHECK_FALSE(loop.run_once());  // nothing to do: idle
  CHECK(idle == 1);
  loop.set_idle_hook([](void*) noexcept { return true; }, nullptr);
  CHECK(loop.run_once());  // the hook reports progress
}

TEST_CASE("every registered source is polled each turn until removed", "[core][loop]") {
  RunLoop loop;
  CountingSource a, b;
  a.busy_for = 2;
  loop.add_source(a);
  loop.add_source(b);
  CHECK(loop.run_once());
  CHECK(loop.run_once());
  CHECK_FALSE(loop.run_once());  // a stopped progressing
  CHECK(a.polls == 3);
  CHECK(b.polls == 3);
  loop.remove_source(a);
  CHECK_FALSE(loop.run_once());
  CHECK(a.polls == 3);
  CHECK(b.polls == 4);
  loop.remove_source(b);
  loop.remove_source(b);  // removing twice is harmless
  CHECK_FALSE(loop.run_once());
  CHECK(b.polls == 4);
}

TEST_CASE("the async mutex hands ownership to waiters in arrival order", "[core][mutex]") {
  RunLoop loop;
  AsyncMutex m(&loop);
  std::vector<int> order;
  auto first = m.try_lock();
  CHECK(first.owns_lock());
  std::vector<Task<void>> tasks;
  for (int id = 1; id <= 3; ++id) tasks.push_back(hold_then_record(m, order, id));
  for (auto& t : tasks) t.start();
  CHECK(m.waiters() == 3);
  CHECK(order.empty());
  first.release();
  CHECK(m.locked());  // handed over, never free in between
  CHECK(m.waiters() == 2);
  while (loop.run_once()) {
  }
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK_FALSE(m.locked());
  CHECK(m.waiters() == 0);
}

TEST_CASE("without a loop the next owner is resumed inline on unlock", "[core][mutex]") {
  AsyncMutex m;
  std::vector<int> order;
  auto first = m.try_lock();
  Task<void> t = hold_then_record(m, order, 7);
  t.start();
  CHECK_FALSE(t.done());
  first.release();
  CHECK(t.done());
  CHECK(order == std::vector<int>{7});
  CHECK_FALSE(m.locked());
}

TEST_CASE("try_lock fails while held and a guard unlocks on release, move and destruction", "[core][mutex]") {
  AsyncMutex m;
  {
    auto g = m.try_lock();
    CHECK(g.owns_lock());
    CHECK(m.locked());
    auto again = m.try_lock();
    CHECK_FALSE(again.owns_lock());
    auto moved = std::move(g);
    CHECK_FALSE(g.owns_lock());
    CHECK(moved.owns_lock());
    CHECK(m.locked());
    moved.release();
    CHECK_FALSE(moved.owns_lock());
    CHECK_FALSE(m.locked());
    g = m.try_lock();
    CHECK(g.owns_lock());
  }
  CHECK_FALSE(m.locked());
}

TEST_CASE("many coroutines contending with yields keep mutual exclusion", "[core][mutex]") {
  RunLoop loop;
  AsyncMutex m(&loop);
  Shared s;
  constexpr int workers = 50, rounds = 20;
  std::vector<Task<void>> tasks;
  for (int i = 0; i < workers; ++i) tasks.push_back(contend(loop, m, s, rounds));
  for (auto& t : tasks) t.start();
  while (loop.run_once()) {
  }
  for (auto& t : tasks) CHECK(t.done());
  CHECK(s.violations == 0);
  CHECK(s.counter == long{workers} * rounds);
  CHECK_FALSE(m.locked());
  CHECK(m.waiters() == 0);
}

TEST_CASE("sync_wait runs inline tasks without a loop and yielding tasks with one", "[core][loop]") {
  CHECK(ferrite::sync_wait([]() -> Task<int> { co_return 5; }()) == 5);
  RunLoop loop;
  CHECK(ferrite::sync_wait(yield_times(loop, 4), &loop) == 4);
  CHECK(loop.resumptions() == 4);
}
