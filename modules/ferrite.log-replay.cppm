// ferrite.log:replay — what a mount keeps while it replays the log
// (docs/FORMAT.md §5): the read-ahead window, the ranges a SKIP voids, and
// a sealed store's integrity checks. It lives in the mount's frame, never
// in the Store. The engine's own; nothing here is exported.
module;
#include "ferrite_std.hpp"

export module ferrite.log:replay;
import :build;

namespace ferrite {

/// What a sealed mount tracks while it replays (part of MountState).
struct SealedMount {
  // Positions of failing records not yet acknowledged.
  std::array<std::uint64_t, 8> failures{};
  std::uint32_t failure_count = 0;
  std::uint32_t skipped_max = 0;       // newest sector a retire marker had replay skip
  std::uint32_t missing_before = 0;    // newest sector an OPEN chains to that was not replayed (must be retired)
  std::uint64_t log_before_last = 0;   // the log's position before its last write
  std::uint64_t open_previous = 0;     // what the newest OPEN chains to, as a position
};
/// A build without sealed stores tracks nothing and spends no byte of the
/// mount's frame on it. The same names stay, static, so that the sealed
/// paths compile unchanged: nothing reaches them (each tests sealed() first).
struct NoSealedMount {
  static inline std::array<std::uint64_t, 1> failures{};
  static inline std::uint32_t failure_count = 0;
  static inline std::uint32_t skipped_max = 0;
  static inline std::uint32_t missing_before = 0;
  static inline std::uint64_t log_before_last = 0;
  static inline std::uint64_t open_previous = 0;
};
/// Ranges a SKIP voids (FORMAT.md §3.3) in which a mount applied records
/// that verified by chance: the mount starts again and steps over them.
struct VoidRange {
  std::uint32_t sequence = 0, from = 0, to = 0;
};
/// What only a mount needs: it lives in the mount's frame, not in the
/// store (StoreEngine::mount_ points at it while a mount runs).
struct MountState {
  [[no_unique_address]] std::conditional_t<sealed_stores_built, SealedMount, NoSealedMount> sealed;
  std::array<VoidRange, 4> voided{};
  std::uint8_t voided_count = 0;
  bool replay_again = false;  // a pass met bytes to void: replay once more
  bool recount = false;       // a RETIRE dropped entries whose sizes replay did not keep: size every entry from flash
  // The replay's read-ahead window: read_bytes serves sequential reads
  // from it while `windowed`, so each byte of the log is read from flash once.
  bool windowed = false;
  std::uint32_t window_address = 0xFFFFFFFFu;
  std::uint32_t window_size = 0;
  std::array<std::byte, 64> window{};
};

}  // namespace ferrite
