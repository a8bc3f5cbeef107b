// C API: coroutine frames from a caller buffer (ferrite::FrameArena), and
// the frame counters.
#include "ferrite_modules.hpp"
#include "ferrite.h"
import ferrite;
#include "capi.hpp"

using namespace ferrite;

namespace {

alignas(FrameArena) unsigned char arena_storage[sizeof(FrameArena)];
FrameArena* arena = nullptr;
std::size_t arena_served = 0;

void* arena_allocate(void*, std::size_t n) noexcept {
  void* p = arena->allocate(n);
  if (p) ++arena_served;
  return p;
}
void arena_deallocate(void*, void* frame, std::size_t) noexcept { arena->deallocate(frame); }

}  // namespace

extern "C" {

ferrite_err ferrite_use_frame_arena(void* buf, size_t len) {
  if (frame_stats().live_frames != 0) return FERRITE_BUSY;
  if (!buf) {
    if (len != 0) return FERRITE_INVALID_ARGUMENT;
    set_frame_allocator(heap_frame_allocator());
    arena = nullptr;
    return FERRITE_OK;
  }
  if (len < 256 || reinterpret_cast<std::uintptr_t>(buf) % 8 != 0) return FERRITE_INVALID_ARGUMENT;
  arena = ::new (static_cast<void*>(arena_storage)) FrameArena(std::span<std::byte>(static_cast<std::byte*>(buf), len));
  if (arena->capacity() == 0) {
    arena = nullptr;
    set_frame_allocator(heap_frame_allocator());
    return FERRITE_INVALID_ARGUMENT;
  }
  set_frame_allocator(FrameAllocator{&arena_allocate, &arena_deallocate, nullptr});
  return FERRITE_OK;
}

void ferrite_frame_info_get(ferrite_frame_info* info) {
  if (!info) return;
  const FrameStats s = frame_stats();
  info->allocations = s.allocations;
  info->arena_allocations = arena_served;
  info->failures = s.failures;
  info->live_frames = s.live_frames;
  info->high_water_bytes = s.high_water_bytes;
  info->largest_frame = s.largest_frame;
  info->arena_capacity = arena ? arena->capacity() : 0;
  info->arena_high_water = arena ? arena->high_water_bytes() : 0;
}

void ferrite_frame_info_reset(void) {
  reset_frame_stats();
  arena_served = 0;
}

}  // extern "C"
