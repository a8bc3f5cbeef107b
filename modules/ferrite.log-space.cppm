// ferrite.log:space — what the engine keeps per sector, the bound of the
// largest live record (both feed the space rule, docs/FORMAT.md §6.2), and
// the pace maintain() collects at.
module;
#include "ferrite_std.hpp"

export module ferrite.log:space;

export namespace ferrite {

/// Per-sector bookkeeping (16 bytes per sector). Storage supplied by the
/// caller. Byte counts fit 24 bits: a store's sectors hold at most
/// max_sector_bytes (config_report() field "sector size").
struct SectorInfo {
  std::uint32_t sequence = 0;
  std::uint32_t erase_count = 0;
  std::uint32_t live_bytes : 24 = 0;  ///< full-record bytes GC must copy when it retires this sector
  std::uint32_t state : 8 = 0;        ///< a SectorState
  std::uint32_t used_bytes : 24 = 0;  ///< bytes written after the header
  std::uint32_t vouched : 1 = 0;      ///< mount: an ERASED record names this sector
  std::uint32_t old_key : 1 = 0;      ///< sealed store: records sealed under the previous key
  std::uint32_t skips : 1 = 0;        ///< a SKIP lies in this sector (change cursors look for what it voids)
  std::uint32_t vouches_previous : 1 = 0;  ///< mount: its header says the sector before it ends whole (flag bit 3)
  /// Header flag bit 4, until a SHARED record or damage: no two live keys
  /// share a hash here, so replay may match a record by its hash alone.
  std::uint32_t unique_hashes : 1 = 0;
  /// mount: a record matched by hash alone superseded an entry bound here
  /// (in a sector retired at the end, that entry may have been stale).
  std::uint32_t matched_by_hash : 1 = 0;
  /// Header flag bit 5: a summary of the sector before it may follow its
  /// header (docs/FORMAT.md §5.2).
  std::uint32_t summary_follows : 1 = 0;
};

/// Largest erase sector a store uses: SectorInfo counts the bytes after a
/// sector's header in 24 bits.
inline constexpr std::uint32_t max_sector_bytes = 1u << 24;

enum class SectorState : std::uint8_t { garbage = 0, erased, live, retired };

/// How much collection each Store::maintain() call does (src/log/pace.cpp).
/// It learns how many bytes the application writes between two calls (a
/// moving average of how far the log advanced) and, from the runway (the
/// bytes writes may still take before one would have to collect), the calls
/// left. Collection then keeps the victim's live bytes at most half of what
/// the budget copies in those calls: nothing is copied while the victim is
/// small next to the runway (updates may yet empty it for free), and the
/// victim is empty before the runway ends even if writes come twice as
/// fast as measured. Holds no flash state: a remount starts it afresh.
class MaintenancePace {
 public:
  static constexpr std::uint32_t unknown = 0xFFFFFFFFu;
  /// The application wrote `bytes` to the log since the last call.
  void note_writes(std::uint32_t bytes) noexcept;
  /// Bytes written per call (moving average); `fallback` before any sample.
  std::uint32_t per_call(std::uint32_t fallback) const noexcept;
  /// Calls left before `runway` bytes are written at `per_call` a call.
  static std::uint32_t calls_left(std::uint32_t runway, std::uint32_t per_call) noexcept;
  /// Bytes to copy now: what brings `debt` down to half of what `budget`
  /// bytes a call copy in the calls after this one, at most `budget`.
  static std::uint32_t due(std::uint32_t debt, std::uint32_t calls_left, std::uint32_t budget) noexcept;
  /// The pace collection needs: `debt` over the calls left, rounded up.
  static std::uint32_t needed(std::uint32_t debt, std::uint32_t calls_left) noexcept;
  /// Where the log ended when the last call returned (an LSN; 0: no call yet).
  std::uint64_t mark() const noexcept { return mark_; }
  void set_mark(std::uint64_t lsn) noexcept { mark_ = lsn; }

 private:
  std::uint64_t mark_ = 0;
  std::uint32_t per_call_x16_ = 0;  // moving average, in 1/16 bytes
  bool sampled_ = false;
};

}  // namespace ferrite

namespace ferrite {

static_assert(sizeof(SectorInfo) == 16);  // FERRITE_STORE_BYTES_PER_SECTOR (ferrite.h)

/// How many live records fall in each power-of-two size class: bounds the
/// largest live record in O(1) time and 26 bytes of RAM, without a sorted
/// list. A record of `size` bytes counts in class c, the smallest with
/// size <= 16 << c; largest_bound() is that class's limit for the highest
/// class holding a record, so it is at least the largest live record and
/// less than twice it (docs/FORMAT.md §6.2). Counts fit 16 bits: the index
/// holds at most 65,535 keys, one live record each.
class LiveRecordSizes {
 public:
  static constexpr std::uint32_t classes = 13;  // 16 B .. 64 KiB: every record size (FORMAT.md §3)

  void add(std::uint32_t size) noexcept { ++count_[class_of(size)]; }
  /// remove(), unless no record of that size class is counted.
  void remove_counted(std::uint32_t size) noexcept {
    if (count_[class_of(size)] != 0) --count_[class_of(size)];
  }
  void remove(std::uint32_t size) noexcept { --count_[class_of(size)]; }
  void clear() noexcept { count_ = {}; }
  /// The limit of the class a record of `size` bytes counts in: what
  /// largest_bound() becomes once it is live.
  static std::uint32_t bound_of(std::uint32_t size) noexcept { return std::uint32_t{16} << class_of(size); }
  /// An upper bound of every live record's size (0: none is live).
  std::uint32_t largest_bound() const noexcept {
    for (std::uint32_t c = classes; c-- > 0;)
      if (count_[c] != 0) return std::uint32_t{16} << c;
    return 0;
  }
  /// An upper bound of the sum of the `n` largest live records, each taken
  /// as its class's limit but at most `cap` and at least `floor` (what a
  /// record of `floor` bytes fills when fewer than `n` are live).
  std::uint64_t largest_sum(std::uint32_t n, std::uint32_t cap, std::uint32_t floor) const noexcept {
    std::uint64_t sum = 0;
    for (std::uint32_t c = classes; c-- > 0 && n > 0;) {
      const std::uint32_t taken = std::min<std::uint32_t>(count_[c], n);
      sum += std::uint64_t{taken} * std::max(std::min(std::uint32_t{16} << c, cap), floor);
      n -= taken;
    }
    return sum + std::uint64_t{n} * floor;
  }

 private:
  static std::uint32_t class_of(std::uint32_t size) noexcept {
    const std::uint32_t c = size <= 16 ? 0 : static_cast<std::uint32_t>(std::bit_width(size - 1)) - 4;
    return c < classes ? c : classes - 1;
  }
  std::array<std::uint16_t, classes> count_{};
};

}  // namespace ferrite

// The engine's own, not exported.
namespace ferrite {

/// The live records' bytes: their sum, and their sizes by class.
struct LiveBytes {
  std::uint32_t total = 0;
  LiveRecordSizes sizes;  // bounds the largest live record: capacity()
  void add(std::uint32_t size) noexcept {
    total += size;
    sizes.add(size);
  }
  void remove(std::uint32_t size) noexcept {
    total -= size;
    sizes.remove(size);
  }
};

/// Where garbage collection stands.
struct Collection {
  std::uint32_t victim = 0xFFFFFFFFu;  // sector being collected, or none
  std::uint32_t cursor = 0;            // index-less: next offset in the victim
  std::uint32_t position = 0;          // indexed: index position the last step stopped at...
  std::uint32_t position_epoch = 0;    // ...valid while the index's epoch is this
};

/// The write in flight, a put or an erase of one key: the record it
/// makes live (0: none) and the one it replaces (0: none). Not known (a
/// batch, a repair): the incoming record counts as live beside every
/// live one (FORMAT.md §6.2).
template <bool Built>
struct WriteInFlight {
  bool known = false;
  std::uint32_t adds = 0;
  std::uint32_t removes = 0;
};
/// Without mixed_sectors nothing reads it: never known, and no bytes.
template <>
struct WriteInFlight<false> {
  static constexpr bool known = false;
  static constexpr std::uint32_t adds = 0, removes = 0;
  constexpr WriteInFlight() noexcept = default;
  constexpr WriteInFlight(bool, std::uint32_t, std::uint32_t) noexcept {}
};
/// Clears the write in flight when the write ends.
template <bool Built>
struct InFlightGuard {
  WriteInFlight<Built>& write;
  ~InFlightGuard() { write = {}; }
};
template <>
struct InFlightGuard<false> {
  explicit InFlightGuard(WriteInFlight<false>&) noexcept {}
};

}  // namespace ferrite
