// Coroutine frame allocation: the pluggable allocator and the fixed arena.
module;
#include "ferrite_modules.hpp"

module ferrite.core;

namespace ferrite {

namespace {

void* heap_allocate(void*, std::size_t n) noexcept { return std::malloc(n); }
void heap_deallocate(void*, void* p, std::size_t) noexcept { std::free(p); }

FrameAllocator current{&heap_allocate, &heap_deallocate, nullptr};
FrameStats stats{};

// Arena block header: the block size including the header, and whether it is
// in use. Blocks tile the storage from start to end.
struct BlockHeader {
  std::uint32_t size;
  std::uint32_t used;
};
constexpr std::size_t block_align = alignof(std::max_align_t);
constexpr std::size_t header_size = (sizeof(BlockHeader) + block_align - 1) / block_align * block_align;

BlockHeader* header_at(std::byte* p) noexcept { return reinterpret_cast<BlockHeader*>(p); }

void* arena_allocate(void* ctx, std::size_t n) noexcept {
  return static_cast<FrameArena*>(ctx)->allocate(n);
}
void arena_deallocate(void* ctx, void* p, std::size_t) noexcept {
  static_cast<FrameArena*>(ctx)->deallocate(p);
}

}  // namespace

void detail::destroy_frame(std::coroutine_handle<> h) noexcept { h.destroy(); }
void detail::resume_frame(std::coroutine_handle<> h) noexcept { h.resume(); }

void set_frame_allocator(FrameAllocator a) noexcept { current = a; }
FrameAllocator frame_allocator() noexcept { return current; }
FrameAllocator heap_frame_allocator() noexcept { return {&heap_allocate, &heap_deallocate, nullptr}; }
FrameStats frame_stats() noexcept { return stats; }
void reset_frame_stats() noexcept {
  const std::size_t live = stats.live_frames, bytes = stats.live_bytes;
  stats = FrameStats{};
  stats.live_frames = live;
  stats.live_bytes = bytes;
  stats.high_water_bytes = bytes;
}

void* allocate_frame(std::size_t size) noexcept {
  void* p = current.allocate ? current.allocate(current.context, size) : nullptr;
  if (!p) {
    ++stats.failures;
    return nullptr;
  }
  ++stats.allocations;
  ++stats.live_frames;
  stats.live_bytes += size;
  stats.high_water_bytes = std::max(stats.high_water_bytes, stats.live_bytes);
  stats.largest_frame = std::max(stats.largest_frame, size);
  return p;
}

void deallocate_frame(void* frame, std::size_t size) noexcept {
  --stats.live_frames;
  stats.live_bytes -= size;
  current.deallocate(current.context, frame, size);
}

FrameArena::FrameArena(std::span<std::byte> storage) noexcept {
  // Align the start and trim the end so every block starts aligned.
  auto addr = reinterpret_cast<std::uintptr_t>(storage.data());
  std::size_t skip = (block_align - addr % block_align) % block_align;
  if (skip >= storage.size()) return;
  std::size_t len = (storage.size() - skip) / block_align * block_align;
  if (len <= header_size || len > std::numeric_limits<std::uint32_t>::max()) return;
  storage_ = storage.subspan(skip, len);
  *header_at(storage_.data()) = BlockHeader{static_cast<std::uint32_t>(len), 0};
}

FrameAllocator FrameArena::allocator() noexcept { return {&arena_allocate, &arena_deallocate, this}; }

void* FrameArena::allocate(std::size_t n) noexcept {
  const std::size_t need = header_size + (n + block_align - 1) / block_align * block_align;
  std::byte* p = storage_.data();
  std::byte* const end = p + storage_.size();
  while (p < end) {
    BlockHeader* h = header_at(p);
    if (!h->used) {
      // Coalesce with following free blocks first (frees are lazy).
      std::byte* q = p + h->size;
      while (q < end && !header_at(q)->used) {
        h->size += header_at(q)->size;
        q = p + h->size;
      }
      if (h->size >= need) {
        if (h->size - need >= header_size + block_align) {
          *header_at(p + need) = BlockHeader{static_cast<std::uint32_t>(h->size - need), 0};
          h->size = static_cast<std::uint32_t>(need);
        }
        h->used = 1;
        used_ += h->size;
        high_water_ = std::max(high_water_, used_);
        return p + header_size;
      }
    }
    p += h->size;
  }
  ++failures_;
  return nullptr;
}

void FrameArena::deallocate(void* frame) noexcept {
  BlockHeader* h = header_at(static_cast<std::byte*>(frame) - header_size);
  h->used = 0;
  used_ -= h->size;
}

}  // namespace ferrite
