// ferrite.events — an optional persisted ring of ferrite.core's events.
//
// The events of emit_event() go to one synchronous EventSink; an EventRing
// gives that sink a small flash partition of its own (2..16 sectors) that
// keeps the newest events across reboots, erasing its oldest sector when it
// is full. The sink only copies an event into a bounded RAM queue (no flash
// I/O from inside emit_event); the application writes the queue to flash by
// awaiting flush() when it suits it (after a burst of work, on a timer,
// before sleeping). A full queue drops the event and counts it. Reading is
// newest first, through an EventCursor. RAM: the EventRing object and its
// queue, nothing per stored event. Bytes on flash: docs/FORMAT.md §12; how to
// enable it: docs/FIRMWARE.md, "Event ring".
module;
#include "ferrite_std.hpp"

export module ferrite.events;
export import ferrite.flash;

export namespace ferrite {

/// Where an event's timestamp comes from (the application's clock, in its
/// unit). Without one, events carry no timestamp.
struct EventClock {
  std::int64_t (*now)(void* context) noexcept = nullptr;
  void* context = nullptr;
};

/// Longest message a record holds (longer ones are cut); a ring with small
/// sectors holds less (EventRing::max_message()).
inline constexpr std::size_t max_event_message = 255;
/// Queue bytes one event takes besides its message.
inline constexpr std::size_t event_queue_overhead = 12;

struct EventRingConfig {
  /// The queue between the sink and flush() (caller storage on firmware;
  /// empty: 512 bytes on the heap). An event takes event_queue_overhead
  /// bytes plus its message.
  std::span<std::byte> queue{};
  EventClock clock{};
  /// Events below this level are neither queued nor counted.
  EventLevel threshold = EventLevel::info;
};

struct EventRingStats {
  std::uint32_t queued = 0;        ///< events waiting for flush()
  std::uint32_t queued_bytes = 0;  ///< queue bytes they use
  std::uint32_t dropped = 0;       ///< events a full queue refused since construction
  std::uint32_t written = 0;       ///< events flush() wrote since open()
  std::uint32_t rotations = 0;     ///< sectors opened since open() (each erased first)
  std::uint32_t sealed = 0;        ///< torn heads found by open() and programs the port refused
  std::uint32_t next_seq = 0;      ///< the sequence number the next written event gets
};

class EventRing;

/// Walks the ring's events newest first. Holds one message buffer.
class [[nodiscard]] EventCursor {
 public:
  /// Moves to the next older event; false past the oldest. Errors: flash errors.
  Task<Result<bool>> next() noexcept;
  EventLevel level() const noexcept { return level_; }
  std::uint32_t seq() const noexcept { return seq_; }
  bool has_timestamp() const noexcept { return has_timestamp_; }
  std::int64_t timestamp() const noexcept { return timestamp_; }
  std::string_view message() const noexcept { return {text_.data(), size_}; }

 private:
  friend class EventRing;
  explicit EventCursor(EventRing& ring) noexcept : ring_(&ring) {}
  EventRing* ring_;
  bool started_ = false;
  std::uint32_t generation_ = 0;   // of the sector being read; 0: past the oldest
  std::uint32_t sector_ = 0;
  std::uint32_t limit_ = 0;        // the next event starts before this offset
  std::uint32_t seq_limit_ = 0;    // and is numbered below this
  EventLevel level_ = EventLevel::info;
  bool has_timestamp_ = false;
  std::uint32_t seq_ = 0;
  std::int64_t timestamp_ = 0;
  std::uint8_t size_ = 0;
  std::array<char, max_event_message> text_{};
};

/// The ring on `flash` (a partition of its own: every sector is the ring's).
/// Not copyable; the flash device and the queue must outlive it.
class EventRing {
 public:
  explicit EventRing(Flash flash, EventRingConfig config = {}) noexcept;
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  /// Finds the newest sector and where the next event goes (docs/FORMAT.md
  /// §12.3). A blank or foreign partition is an empty ring (its first write
  /// erases). Errors: invalid_argument (fewer than 2 or more than 16
  /// sectors, or a sector too small for a header and one record), flash errors.
  Task<Status> open() noexcept;
  bool is_open() const noexcept { return open_; }

  /// The sink to install with set_event_sink(): it queues (push()).
  EventSink sink() noexcept;
  /// Queues one event (what the sink does). False when it was dropped: the
  /// queue is full (counted in stats().dropped) or below the threshold.
  bool push(EventLevel level, std::string_view message) noexcept;
  /// Writes every queued event, oldest first, rotating as needed. On an
  /// error the events not yet written stay queued. Errors: not_mounted
  /// (before open()), flash errors (power_lost, io, worn_out).
  Task<Status> flush() noexcept;

  /// A cursor at the newest written event (call next() first).
  EventCursor newest() noexcept { return EventCursor(*this); }
  EventRingStats stats() const noexcept;
  /// Longest message a record of this ring holds.
  std::size_t max_message() const noexcept { return max_message_; }
  /// RAM of the ring itself and of its queue.
  std::size_t ram_bytes() const noexcept { return sizeof(*this) + queue_.size(); }

 private:
  friend class EventCursor;
  struct Record;
  Task<Result<int>> read_record(std::uint32_t sector, std::uint32_t offset, Record& out,
                                std::span<char> text) noexcept;
  Task<Result<bool>> read_header(std::uint32_t sector, std::uint32_t& generation, std::uint32_t& first_seq,
                                 int reads) noexcept;
  Task<Status> scan_head() noexcept;
  Task<Status> rotate() noexcept;
  Task<Status> append(EventLevel level, bool timed, std::int64_t timestamp, std::string_view message) noexcept;
  std::uint32_t header_size() const noexcept;
  std::uint32_t record_size(std::size_t message) const noexcept;

  Flash flash_;
  EventRingConfig config_;
  std::span<std::byte> queue_{};
  std::vector<std::byte> own_queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t max_message_ = 0;
  bool open_ = false;
  bool has_head_ = false;
  bool sealed_ = false;            // the next write opens a new sector
  std::uint32_t head_ = 0;
  std::uint32_t head_generation_ = 0;
  std::uint32_t write_offset_ = 0;
  std::uint32_t next_seq_ = 1;
  EventRingStats stats_{};
  std::array<std::byte, 20 + max_event_message + Geometry::max_program_unit> scratch_{};
};

#if FERRITE_HAVE_FMT
/// "seq level message", or "seq level @timestamp message" (hosts only).
std::string format_event(const EventCursor& event);
#endif

}  // namespace ferrite
