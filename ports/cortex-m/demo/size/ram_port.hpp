// A blocking RAM NOR flash and a run loop for the size firmwares: every flash
// operation completes inline, so a Task runs to completion on the loop. NOR
// rules (erase to 0xFF, programming only clears bits) are kept so the engine
// meets what real flash does; nothing here is measured (it is the
// application's code, outside ferrite's figures).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

namespace size_fw {

constexpr std::uint32_t sector_size = 4096;
constexpr std::uint32_t sector_count = 8;
constexpr std::uint32_t program_unit = 4;

alignas(4) inline std::byte g_nor[sector_size * sector_count];

class RamNor final : public ferrite::FlashDevice {
 public:
  RamNor() noexcept : geometry_(*ferrite::Geometry::uniform(sector_count, sector_size, program_unit)) {
    std::memset(g_nor, 0xFF, sizeof g_nor);
  }
  const ferrite::Geometry& geometry() const noexcept override { return geometry_; }
  void submit(ferrite::FlashRequest& r) noexcept override {
    switch (r.kind) {
      case ferrite::FlashOpKind::read:
        std::memcpy(r.read_into, g_nor + r.address, r.length);
        return r.complete(ferrite::Errc::ok);
      case ferrite::FlashOpKind::program:
        for (std::uint32_t i = 0; i < r.length; ++i)
          if ((g_nor[r.address + i] & r.program_from[i]) != r.program_from[i])
            return r.complete(ferrite::Errc::bits_not_erased);
        for (std::uint32_t i = 0; i < r.length; ++i) g_nor[r.address + i] &= r.program_from[i];
        return r.complete(ferrite::Errc::ok);
      case ferrite::FlashOpKind::erase:
        std::memset(g_nor + geometry_.sector_offset(r.sector), 0xFF, sector_size);
        return r.complete(ferrite::Errc::ok);
    }
  }

 private:
  ferrite::Geometry geometry_;
};

inline ferrite::RunLoop g_loop;

// Runs a task to completion on the loop and returns its result.
template <class T>
T run(ferrite::Task<T> t) noexcept {
  return ferrite::sync_wait(std::move(t), &g_loop);
}

// Coroutine frames from a static arena (the firmware has no heap use).
alignas(8) inline std::byte g_arena_storage[4096];
inline void use_frame_arena(ferrite::FrameArena& arena) noexcept {
  ferrite::set_frame_allocator({[](void* c, std::size_t n) noexcept { return static_cast<ferrite::FrameArena*>(c)->allocate(n); },
                                [](void* c, void* p, std::size_t) noexcept { static_cast<ferrite::FrameArena*>(c)->deallocate(p); },
                                &arena});
}

inline int g_failures = 0;
inline void expect(bool ok, const char* what) noexcept {
  if (!ok) {
    ++g_failures;
    std::printf("FAILED %s\n", what);
  }
}

}  // namespace size_fw
