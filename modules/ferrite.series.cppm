// ferrite.series — series logs: timestamped readings of several series in
// an append-only ring of erase sectors of a partition of their own.
//
// The on-flash format is docs/FORMAT.md §11; the guide is docs/SERIES.md.
// In short: a reading is one entry appended to the head sector and gets the
// next sequence number; readings are ordered by that number, not by their
// timestamps, so an application clock that jumps back or forward never
// blocks an append. When the ring is full the oldest sector is erased
// (rollover, write amplification 1, no copying) or the append answers
// no_space. RAM is 20 bytes per sector whatever the number of readings.
//
// Every call is a coroutine: co_await it (arguments must stay alive until it
// returns). A SeriesLog is not shared between concurrent callers: one
// coroutine (or a caller's own mutex) drives it.
module;
#include "ferrite_std.hpp"

export module ferrite.series;
export import ferrite.log;

export namespace ferrite {

/// What the RAM of a series log keeps per sector: 20 bytes, whatever the
/// number of readings. Storage is supplied by the caller (SeriesConfig).
class SeriesSector {
 public:
  enum class State : std::uint8_t { unknown = 0, blank, dirty, live };
  State state() const noexcept { return static_cast<State>(seq_hi_state_ >> 24); }
  /// Sequence number of the sector's first entry (live sectors).
  std::uint64_t first_seq() const noexcept {
    return (std::uint64_t{seq_hi_state_ & 0xFFFFFFu} << 32) | seq_lo_;
  }
  /// Smallest and largest timestamp of its readings (live sectors with readings).
  std::int64_t min_ts() const noexcept {
    return static_cast<std::int64_t>((std::uint64_t{min_hi_} << 32) | min_lo_);
  }
  /// The largest timestamp; a span that does not fit 32 bits reads as INT64_MAX
  /// (the sector is then scanned by every time range past its min_ts()).
  std::int64_t max_ts() const noexcept;
  bool has_readings() const noexcept { return span_ != no_readings; }

 private:
  friend class SeriesLog;
  static constexpr std::uint32_t no_readings = 0xFFFFFFFFu;
  static constexpr std::uint32_t wide_span = 0xFFFFFFFEu;
  void set(State s, std::uint64_t first_seq) noexcept {
    seq_lo_ = static_cast<std::uint32_t>(first_seq);
    seq_hi_state_ = (static_cast<std::uint32_t>(s) << 24) | static_cast<std::uint32_t>((first_seq >> 32) & 0xFFFFFFu);
    min_lo_ = min_hi_ = 0;
    span_ = no_readings;
  }
  void widen(std::int64_t ts) noexcept;
  std::uint32_t seq_lo_ = 0;
  std::uint32_t seq_hi_state_ = 0;  // first_seq bits 32..55, state in bits 24..31
  std::uint32_t min_lo_ = 0;
  std::uint32_t min_hi_ = 0;
  std::uint32_t span_ = no_readings;  // max_ts - min_ts; wide_span when it does not fit
};

/// The floor a clear(series) set: readings of `series` below `seq` are hidden.
struct SeriesFloor {
  std::uint64_t seq = 0;  ///< 0: the slot is unused
  std::uint8_t series = 0;
};

struct SeriesConfig {
  /// One entry per sector of the partition (the first ones are used). Required.
  std::span<SeriesSector> sectors{};
  /// Floors of clear(series), one per series that may be cleared while older
  /// readings of it remain on flash. Empty: clear(series) answers no_space
  /// (clear_all() needs none).
  std::span<SeriesFloor> floors{};
  /// Holds the entry being written: scratch_needed(max_payload) bytes. Required.
  std::span<std::byte> scratch{};
  /// Largest payload append() accepts (also bounded by the smallest sector).
  std::uint32_t max_payload = 256;
  /// When every sector is in use: erase the oldest (true) or answer no_space.
  bool rollover = true;
  /// Seals every entry (docs/FORMAT.md §11.4): a codec whose keys are
  /// loaded, e.g. the Sealer a sealed Store mounted with. Null: plain.
  ValueCodec* codec = nullptr;
  /// The log's id, written in its sector headers. Sealed logs: part of every
  /// nonce; choose it unlike the store id of a store sealed under the same
  /// key and unlike every other series log sealed under it. Not 0.
  std::uint32_t log_id = 1;
};

/// Caller-owned memory for a series log over up to Sectors sectors.
template <std::size_t Sectors, std::size_t MaxPayload = 256, std::size_t Floors = 8>
struct SeriesMemory {
  std::array<SeriesSector, Sectors> sectors{};
  std::array<SeriesFloor, Floors> floors{};
  // Header, payload (sealed: up to 64 bytes more), crc, program-unit padding.
  std::array<std::byte, MaxPayload + 64 + 20 + 32> scratch{};
  SeriesConfig config(bool rollover = true) noexcept {
    SeriesConfig c;
    c.sectors = sectors;
    c.floors = floors;
    c.scratch = scratch;
    c.max_payload = MaxPayload;
    c.rollover = rollover;
    return c;
  }
};

struct SeriesStats {
  std::uint64_t next_seq = 1;       ///< what the next append answers
  std::uint64_t oldest_seq = 1;     ///< no reading below it is left on flash
  /// oldest_seq after the next rollover: the readings below it go first.
  std::uint64_t rollover_floor = 1;
  std::uint32_t live_sectors = 0;
  std::uint32_t free_sectors = 0;   ///< sectors the log can open without dropping readings
  std::uint32_t head_room = 0;      ///< bytes left in the head sector (0: the next append opens a sector)
  std::uint32_t sectors_erased = 0; ///< erases since mount
  std::uint32_t rollovers = 0;      ///< sectors of readings dropped by rollover since mount
  std::uint32_t damaged_entries = 0;///< entries skipped for failing their checksum (mount and reads)
};

/// One reading a SeriesCursor stands on.
struct SeriesReading {
  std::uint64_t seq = 0;
  std::int64_t timestamp = 0;
  std::uint8_t series = 0;
  std::span<const std::byte> payload{};  ///< in the cursor's buffer, valid until its next step
};

class SeriesLog;

/// Walks readings of a series log, oldest first (range_seq, range_time,
/// since) or newest first (last). Each step reads and verifies one entry
/// (a sealed log also opens it); damaged entries are skipped, never
/// yielded. Appends between steps are seen by forward cursors; a reading
/// that rollover erases between steps is skipped.
class [[nodiscard]] SeriesCursor {
 public:
  /// Advances; false at the end. Errors: not_mounted, buffer_too_small (a
  /// payload larger than the cursor's buffer; the cursor stays before it),
  /// tampered (a sealed entry that fails to open), flash errors.
  Task<Result<bool>> next() noexcept;
  const SeriesReading& reading() const noexcept { return reading_; }

 private:
  friend class SeriesLog;
  static constexpr std::size_t window = 16;
  Task<Result<bool>> step_forward() noexcept;
  Task<Result<bool>> step_reverse() noexcept;
  Task<Status> refill() noexcept;
  /// Starts walking sector `s` (reads its header); false when it is no longer the sector it was.
  Task<Result<bool>> enter(std::uint32_t s, bool from_top) noexcept;
  bool admits(std::uint8_t kind, std::uint8_t series, std::uint64_t seq, std::int64_t ts) const noexcept;
  SeriesLog* log_ = nullptr;
  std::uint64_t first_ = 0;       // first_seq of sector_
  std::uint32_t crc_ = 0;         // its header crc
  std::span<std::byte> buffer_{};
  SeriesReading reading_{};
  std::uint64_t seq_from_ = 0, seq_to_ = 0;  // inclusive bounds
  std::int64_t ts_from_ = 0, ts_to_ = 0;     // inclusive bounds
  std::uint64_t remaining_ = 0;              // readings still to yield
  bool all_series_ = false;
  bool reverse_ = false;
  bool started_ = false;
  bool done_ = false;
  std::uint8_t series_ = 0;
  std::uint32_t sector_ = 0xFFFFFFFFu;  // the sector being walked
  std::uint32_t offset_ = 0;      // forward: next entry; reverse: entries below it are left
  std::uint64_t next_seq_ = 0;    // forward: the seq expected at offset_
  // Reverse: the offsets and seqs of up to `window` entries below offset_.
  std::array<std::uint32_t, window> offsets_{};
  std::array<std::uint64_t, window> seqs_{};
  std::uint32_t held_ = 0;
};

/// Per-bucket result of SeriesLog::aggregate.
struct SeriesBucket {
  std::int64_t start = 0;  ///< first timestamp of the bucket
  std::uint64_t count = 0;
  double min = 0, max = 0, sum = 0;
  double average() const noexcept { return count ? sum / static_cast<double>(count) : 0.0; }
};

/// Where aggregate() finds the number in a payload: a little-endian field at
/// a byte offset (packed C structs, the usual sensor reading), or a callback
/// for anything else (e.g. a CBOR document path through doc::View).
struct SeriesField {
  enum class Kind : std::uint8_t { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64, callback };
  Kind kind = Kind::f32;
  std::uint32_t offset = 0;
  /// kind == callback: the number of a payload; an error skips the reading.
  Result<double> (*extract)(void* context, std::span<const std::byte> payload) noexcept = nullptr;
  void* context = nullptr;

  static SeriesField at(Kind k, std::uint32_t offset) noexcept { return SeriesField{k, offset, nullptr, nullptr}; }
  static SeriesField by(Result<double> (*f)(void*, std::span<const std::byte>) noexcept, void* ctx) noexcept {
    return SeriesField{Kind::callback, 0, f, ctx};
  }
  /// The number, or invalid_argument when the payload is too short.
  Result<double> read(std::span<const std::byte> payload) const noexcept;
};

/// A series log over its own partition (docs/SERIES.md).
class SeriesLog {
 public:
  SeriesLog(Flash flash, SeriesConfig config) noexcept;
  SeriesLog(const SeriesLog&) = delete;
  SeriesLog& operator=(const SeriesLog&) = delete;

  /// Bytes SeriesConfig::scratch needs for payloads up to `max_payload`
  /// (sealing adds `codec_overhead`, ValueCodec::sealed_size minus the plain
  /// size) on program unit `unit`.
  static constexpr std::size_t scratch_needed(std::size_t max_payload, std::size_t codec_overhead = 0,
                                              std::uint32_t unit = 32) noexcept {
    return (entry_overhead + max_payload + codec_overhead + unit - 1) / unit * unit;
  }
  static constexpr std::uint32_t header_bytes = 32;   ///< sector header before the unit padding
  static constexpr std::uint32_t entry_overhead = 20; ///< entry bytes besides the payload

  /// Reads the partition and rebuilds the RAM state (docs/FORMAT.md §11.3).
  /// An erased partition is an empty log: there is no format step. Reads
  /// only. Errors: already_mounted, invalid_argument (config: fewer sector
  /// entries than sectors, no scratch, log id 0, a geometry that leaves no
  /// room for a payload: last_refusal()), foreign_format (sectors of another
  /// log id or sealing), wrong_key (a sealed log without a codec, or one its
  /// codec does not open), no_space (more cleared series than floors),
  /// flash errors.
  Task<Status> mount() noexcept;
  void unmount() noexcept { mounted_ = false; }
  bool mounted() const noexcept { return mounted_; }

  /// Appends a reading of `series` at `timestamp` (any value: the clock may
  /// go back or jump) and answers its sequence number: one more than any
  /// number given before, also across power cuts. Durable when it returns.
  /// Errors: not_mounted, too_large (payload above payload_limit():
  /// last_refusal()), no_space (every sector holds readings and rollover is
  /// off: nothing changed), flash errors (power_lost: the reading is either
  /// entirely there after mount or not at all).
  Task<Result<std::uint64_t>> append(std::uint8_t series, std::int64_t timestamp,
                                     std::span<const std::byte> payload) noexcept;

  /// Hides every reading of `series` written so far (a clear entry; space
  /// comes back with rollover). Errors: not_mounted, no_space (no room for
  /// the entry, or no free floor slot: last_refusal()), flash errors.
  Task<Status> clear(std::uint8_t series) noexcept;
  /// Hides every reading of every series, and lets the log reuse their
  /// sectors without rollover. Works on a full log (it may erase the oldest
  /// sector first: its readings are being cleared). Errors: not_mounted,
  /// flash errors.
  Task<Status> clear_all() noexcept;

  /// Newest first: the last `n` readings of `series`. `buffer` holds a
  /// payload (payload_limit() bytes always suffice).
  SeriesCursor last(std::uint8_t series, std::uint64_t n, std::span<std::byte> buffer) noexcept;
  /// Oldest first: readings of `series` with from <= timestamp <= to.
  SeriesCursor range_time(std::uint8_t series, std::int64_t from, std::int64_t to,
                          std::span<std::byte> buffer) noexcept;
  /// Oldest first: readings of `series` with first <= seq <= last.
  SeriesCursor range_seq(std::uint8_t series, std::uint64_t first, std::uint64_t last,
                         std::span<std::byte> buffer) noexcept;
  /// Oldest first: every reading of every series from `seq` on (backups,
  /// uploads: resume with the seq after the last one handled).
  SeriesCursor since(std::uint64_t seq, std::span<std::byte> buffer) noexcept;

  /// Readings of `series` with from <= timestamp <= to. Reads the entry
  /// headers of the sectors whose time span meets the range. Errors:
  /// not_mounted, flash errors.
  Task<Result<std::uint64_t>> count(std::uint8_t series, std::int64_t from, std::int64_t to) noexcept;

  /// Time-window aggregation: buckets.size() buckets of `width` time units
  /// from `from` on; each reading of `series` in [from, from + width *
  /// buckets.size()) adds the number `field` reads from its payload to its
  /// bucket. Readings whose field cannot be read are skipped. `buffer` holds
  /// a payload. Errors: not_mounted, invalid_argument (width <= 0, no
  /// bucket), buffer_too_small, tampered, flash errors.
  Task<Status> aggregate(std::uint8_t series, std::int64_t from, std::int64_t width, SeriesField field,
                         std::span<SeriesBucket> buckets, std::span<std::byte> buffer) noexcept;

  /// Largest payload append() accepts.
  std::uint32_t payload_limit() const noexcept { return payload_limit_; }
  SeriesStats stats() const noexcept;
  /// Why the last call refused (too_large, no_space, invalid_argument).
  Refusal last_refusal() const noexcept { return refusal_; }
  const Geometry& geometry() const noexcept { return flash_.geometry(); }
  /// The per-sector RAM (docs/SERIES.md).
  std::span<const SeriesSector> sectors() const noexcept { return sectors_; }

 private:
  friend class SeriesCursor;
  struct Entry {
    std::uint32_t size = 0;  // on flash, padded
    std::uint16_t len = 0;
    std::uint8_t series = 0;
    std::uint8_t kind = 0;
    std::uint32_t index = 0;
    std::int64_t ts = 0;
    bool verified = false;   // the crc held
    std::array<std::byte, 16> raw{};  // the header bytes as read
  };
  enum Kind : std::uint8_t { reading_kind = 1, clear_series_kind = 2, clear_all_kind = 3 };

  // Format helpers (src/series/format.cpp).
  std::uint32_t header_size() const noexcept;
  std::uint32_t align(std::uint32_t n) const noexcept;
  void encode_header(std::span<std::byte, 32> out, std::uint64_t first_seq, std::uint32_t sector) const noexcept;
  Task<Result<std::uint64_t>> read_header(std::uint32_t sector, std::uint32_t& crc,
                                          bool* rollover = nullptr) noexcept;
  /// Rollover keeps one sector free: erases the oldest once every sector holds readings.
  Task<Status> keep_spare() noexcept;
  /// Reads the entry at `offset` of `sector`: its header, then its payload
  /// into `payload` (or through a small buffer when empty) and its crc.
  /// corrupt when the header is not an entry expected at `index`.
  /// With `check` false, only the 16 header bytes are read (verified stays false).
  Task<Result<Entry>> read_entry(std::uint32_t sector, std::uint32_t offset, std::uint32_t index,
                                 std::uint32_t header_crc, std::span<std::byte> payload, bool check = true) noexcept;
  /// The rest of an entry read with `check` false: payload and crc.
  Task<Status> read_rest(std::uint32_t sector, std::uint32_t offset, Entry& e, std::uint32_t header_crc,
                         std::span<std::byte> payload) noexcept;
  void note_recent(std::uint32_t offset) noexcept;
  void refuse(Errc code, const char* field, std::uint32_t value, std::uint32_t limit, const char* reason) noexcept {
    refusal_ = Refusal{code, field, value, limit, reason};
  }

  // Ring order (src/series/ring.cpp).
  static constexpr std::uint32_t none = 0xFFFFFFFFu;
  std::uint32_t oldest() const noexcept;
  std::uint32_t newer(std::uint32_t sector) const noexcept;  // next live sector by first_seq
  std::uint32_t older(std::uint32_t sector) const noexcept;
  /// One past the last sequence number sector `s` may hold.
  std::uint64_t end_seq(std::uint32_t s) const noexcept;
  std::uint32_t live_count() const noexcept;
  bool hidden(std::uint8_t series, std::uint64_t seq) const noexcept;
  std::uint64_t floor_of(std::uint8_t series) const noexcept;

  // Mount (src/series/mount.cpp).
  struct SectorWalk {
    std::uint32_t entries = 0;      // entries below the bound: one past the last verifying entry's index
    std::uint32_t good_end = 0;     // offset after the last verifying entry
    std::uint32_t last_good = 0;    // offset of the last verifying entry
    bool clean_tail = false;        // nothing but blank units after good_end
  };
  Task<Result<SectorWalk>> mount_sector(std::uint32_t sector, bool is_head, std::uint64_t first_seq,
                                        std::uint32_t header_crc, std::uint64_t end) noexcept;
  void drop_dead_floors() noexcept;
  Status note_clear(std::uint8_t kind, std::uint8_t series, std::uint64_t seq) noexcept;

  // Writing (src/series/append.cpp).
  Task<Result<std::uint64_t>> write_entry(std::uint8_t kind, std::uint8_t series, std::int64_t ts,
                                          std::span<const std::byte> payload, bool may_drop) noexcept;
  Task<Status> open_sector(bool may_drop) noexcept;
  Task<Result<bool>> reads_blank(std::uint32_t sector) noexcept;
  Result<std::size_t> build_entry(std::uint8_t kind, std::uint8_t series, std::int64_t ts,
                                  std::span<const std::byte> payload, std::uint64_t seq) noexcept;
  void finish_entry(std::size_t plain_len, std::uint32_t index, std::uint32_t header_crc) noexcept;
  std::size_t sealed_ad(std::span<std::byte, 24> ad, std::uint8_t kind, std::uint8_t series, std::int64_t ts,
                        std::uint64_t seq) const noexcept;
  Result<std::size_t> open_payload(const Entry& e, std::uint64_t seq, std::span<std::byte> payload) noexcept;

  Flash flash_;
  SeriesConfig config_;
  std::span<SeriesSector> sectors_{};
  std::uint32_t sector_count_ = 0;
  std::uint32_t payload_limit_ = 0;
  bool mounted_ = false;
  bool head_open_ = false;        // appends may go after head_end_
  std::uint32_t head_ = none;
  std::uint32_t head_end_ = 0;
  std::uint32_t head_crc_ = 0;     // the head's header crc (entry crc seed)
  std::uint64_t next_seq_ = 1;
  // One past the last seq the head holds. Below next_seq_ when mount raised
  // it past a header a cut left without entries: an entry of the head that
  // a cut interrupted must stay out of reads even if it reads right later.
  std::uint64_t head_end_seq_ = 1;
  std::uint64_t floor_all_ = 0;
  // Mount: clear entries at or below the oldest valid header's first_seq
  // hide nothing that is left, and take no floor slot.
  std::uint64_t floors_ignored_up_to_ = 0;
  std::size_t entry_len_ = 0;      // bytes of the entry built in scratch
  // Offsets of the head's last entries (64 bytes whatever the number of
  // readings): newest-first reads start there instead of at the sector's
  // first entry.
  static constexpr std::uint32_t recent_window = 16;
  std::array<std::uint32_t, recent_window> recent_{};
  std::uint32_t recent_count_ = 0;
  std::uint32_t recent_at_ = 0;
  std::uint64_t recent_end_seq_ = 0;  // one past the seq of the newest offset noted
  Refusal refusal_{};
  SeriesStats counters_{};
};

/// "Handled up to seq X" (uploaded, backed up, acknowledged by a server):
/// a u64 kept under a key of a Store, beside the series log rather than in
/// it, so that marking progress never re-programs the log.
class UploadMark {
 public:
  UploadMark(Store& store, std::string_view key) noexcept : store_(&store), key_(key) {}
  /// The mark; 0 when never set. Errors: those of Store::get_as (type_mismatch
  /// for a key holding something else).
  Task<Result<std::uint64_t>> get() noexcept;
  /// Sets the mark. A mark never goes back: a smaller `seq` than the stored
  /// one leaves it and answers invalid_argument. Errors: those of Store::put_as.
  Task<Status> set(std::uint64_t seq) noexcept;

 private:
  Store* store_;
  std::string_view key_;
};

}  // namespace ferrite
