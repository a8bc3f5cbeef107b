// Task: values through chains, constant stack for synchronous completions,
// frames from a bounded arena, exhaustion as an error value.
#include <catch2/catch.hpp>
import ferrite.core;

using ferrite::Errc;
using ferrite::FrameArena;
using ferrite::Result;
using ferrite::Task;

namespace {

Task<int> forty() { co_return 40; }
Task<int> plus_one(int v) { co_return v + 1; }
Task<int> chain() {
  const int a = co_await forty();
  const int b = co_await plus_one(a);
  co_return b + 1;
}

Task<void> set_flag(bool& flag) {
  flag = true;
  co_return;
}

Task<int> one() { co_return 1; }
Task<long> count_ones(long n) {
  long sum = 0;
  for (long i = 0; i < n; ++i) sum += co_await one();
  co_return sum;
}

// noinline keeps clang from eliding these frames into their caller's
// (HALO), so the allocator really sees every one of them.
[[gnu::noinline]] Task<Result<int>> leaf(int v) { co_return v; }

[[gnu::noinline]] Task<Result<int>> nested(int depth) {
  if (depth == 0) co_return co_await leaf(1);
  int sum = 0;
  for (int i = 0; i < 3; ++i) {
    Result<int> r = co_await nested(depth - 1);
    if (!r) co_return r;
    sum += *r;
  }
  co_return sum;
}

[[gnu::noinline]] Task<Result<int>> await_leaf() {
  Result<int> r = co_await leaf(5);
  co_return r;
}

// Installs an allocator for one test and always puts the heap back.
struct AllocatorScope {
  explicit AllocatorScope(ferrite::FrameAllocator a) noexcept { ferrite::set_frame_allocator(a); }
  ~AllocatorScope() { ferrite::set_frame_allocator(ferrite::heap_frame_allocator()); }
};

}  // namespace

TEST_CASE("a task chain returns its value to the caller", "[core][task]") {
  CHECK(ferrite::sync_wait(chain()) == 42);
  bool flag = false;
  ferrite::sync_wait(set_flag(flag));
  CHECK(flag);
}

TEST_CASE("a task does not run until it is awaited or started", "[core][task]") {
  bool flag = false;
  Task<void> t = set_flag(flag);
  CHECK(t.valid());
  CHECK_FALSE(t.done());
  CHECK_FALSE(flag);
  t.start();
  CHECK(flag);
  CHECK(t.done());
}

TEST_CASE("a million synchronously completing co_awaits run in constant stack", "[core][task]") {
  CHECK(ferrite::sync_wait(count_ones(1'000'000)) == 1'000'000);
}

TEST_CASE("a bounded frame arena serves nested tasks and ends empty", "[core][task][arena]") {
  alignas(std::max_align_t) static std::byte storage[4096];
  FrameArena arena{std::span<std::byte>(storage)};
  CHECK(arena.capacity() > 0);
  CHECK(arena.capacity() <= sizeof storage);
  {
    AllocatorScope scope(arena.allocator());
    ferrite::reset_frame_stats();
    Result<int> r = ferrite::sync_wait(nested(4));
    CHECK(r.has_value());
    CHECK(*r == 81);  // 3^4 leaves of value 1
    CHECK(arena.used_bytes() == 0);
    CHECK(arena.high_water_bytes() > 0);
    CHECK(arena.high_water_bytes() <= arena.capacity());
    CHECK(arena.failures() == 0);
    const ferrite::FrameStats s = ferrite::frame_stats();
    CHECK(s.allocations >= 5);  // at least one chain of nested(4..0) + leaf
    CHECK(s.failures == 0);
    CHECK(s.live_frames == 0);
    CHECK(s.live_bytes == 0);
    CHECK(s.largest_frame > 0);
  }
  CHECK(ferrite::frame_allocator().context == ferrite::heap_frame_allocator().context);
  CHECK(ferrite::frame_allocator().allocate == ferrite::heap_frame_allocator().allocate);
}

TEST_CASE("an exhausted arena yields an invalid task whose await gives no_memory", "[core][task][arena]") {
  alignas(std::max_align_t) static std::byte storage[4096];
  FrameArena arena{std::span<std::byte>(storage)};
  {
    AllocatorScope scope(arena.allocator());
    ferrite::reset_frame_stats();
    Task<Result<int>> outer = await_leaf();  // allocated while there is room
    CHECK(outer.valid());

    // Fill the arena with frames that are never started.
    std::vector<Task<Result<int>>> hogs;
    for (int i = 0; i < 1000; ++i) {
      Task<Result<int>> t = leaf(i);
      if (!t.valid()) break;
      hogs.push_back(std::move(t));
    }
    CHECK(!hogs.empty());
    CHECK(hogs.size() < 1000);
    CHECK(arena.failures() == 1);

    // A top-level task that could not be allocated.
    Task<Result<int>> none = leaf(9);
    CHECK_FALSE(none.valid());
    CHECK(none.done());
    CHECK(ferrite::sync_wait(std::move(none)).error() == Errc::no_memory);

    // A nested call inside a running coroutine: the await reports it.
    Result<int> r = ferrite::sync_wait(std::move(outer));
    CHECK_FALSE(r.has_value());
    CHECK(r.error() == Errc::no_memory);
    CHECK(ferrite::frame_stats().failures == 3);

    // Freed frames make room again.
    hogs.clear();
    CHECK(arena.used_bytes() == 0);
    Result<int> again = ferrite::sync_wait(leaf(3));
    CHECK(again.has_value());
    CHECK(*again == 3);
    CHECK(arena.used_bytes() == 0);
  }
}

TEST_CASE("frame stats count allocations, live frames and bytes", "[core][task]") {
  ferrite::reset_frame_stats();
  const ferrite::FrameStats before = ferrite::frame_stats();
  {
    Task<Result<int>> a = leaf(1);
    Task<Result<int>> b = leaf(2);
    const ferrite::FrameStats during = ferrite::frame_stats();
    CHECK(during.allocations == before.allocations + 2);
    CHECK(during.live_frames == before.live_frames + 2);
    CHECK(during.live_bytes > before.live_bytes);
    CHECK(during.high_water_bytes >= during.live_bytes);
    CHECK(during.largest_frame > 0);
  }
  const ferrite::FrameStats after = ferrite::frame_stats();
  CHECK(after.live_frames == before.live_frames);
  CHECK(after.live_bytes == before.live_bytes);
  CHECK(after.failures == 0);
}

TEST_CASE("a moved task keeps its frame and an emptied task is invalid", "[core][task]") {
  Task<int> a = forty();
  Task<int> b = std::move(a);
  CHECK_FALSE(a.valid());
  CHECK(b.valid());
  CHECK(ferrite::sync_wait(std::move(b)) == 40);
}
