// ferrite.sim — a RAM-simulated NOR flash for tests and benchmarks.
//
// SimFlash is a strict FlashDevice: it enforces the physical rules a real
// NOR flash imposes (programming only moves bits away from the erase value,
// no second program of a unit between erases where the geometry forbids it,
// wear-out) and injects every fault the engine must survive: power cut at the
// k-th program/erase with a torn program or torn erase, weak bits that read
// differently on every read, bit flips, silent and loud operation failures.
// Everything random is drawn from a seeded PRNG, so a seed plus a sequence of
// calls always gives the same image, the same tears and the same weak reads.
//
// Every request completes inline, inside submit(). The sim is single-threaded
// test infrastructure: it allocates its image on the heap and is not meant for
// MCU builds.
module;
#include "ferrite_std.hpp"

export module ferrite.sim;
export import ferrite.flash;

export namespace ferrite::sim {

/// Simulated device time, accumulated in Counters::device_time_us. The
/// numbers are those of the data sheet, not of the host running the sim.
struct TimingModel {
  double read_us_per_byte = 0;     ///< per byte read
  double program_us_per_word = 0;  ///< per 32-bit word; n bytes cost max(1, ceil(n / 4)) words
  double erase_us_per_kib = 0;     ///< per KiB of the erased sector (erase time scales with its size)

  /// STM32F4-like: 0.05 us per byte read, 16 us per 32-bit word programmed,
  /// 250 ms per 16 KiB sector erased (so 2 s for a 128 KiB sector).
  static constexpr TimingModel stm32f4() noexcept { return TimingModel{0.05, 16.0, 15625.0}; }
  /// Every operation takes no time.
  static constexpr TimingModel instant() noexcept { return TimingModel{}; }

  constexpr double read_us(std::uint32_t bytes) const noexcept { return read_us_per_byte * bytes; }
  constexpr double program_us(std::uint32_t bytes) const noexcept {
    return program_us_per_word * std::max<std::uint32_t>(1, (bytes + 3) / 4);
  }
  constexpr double erase_us(std::uint32_t sector_bytes) const noexcept {
    return erase_us_per_kib * (static_cast<double>(sector_bytes) / 1024.0);
  }
};

/// What a torn (power-cut) program leaves behind in its request's units.
enum class TearMode : std::uint8_t {
  /// A random prefix of the units is fully written (possibly all, possibly
  /// none), the next unit gets a random subset of its bits, the rest are
  /// untouched: how a controller writing word by word dies.
  prefix_then_partial,
  /// Every unit independently fully written, partly written or untouched.
  random_units,
};

/// Work the device did. Reset by SimFlash::reset_counters(); wear and
/// mutating_ops() are not counters and survive a reset.
struct Counters {
  std::uint64_t read_ops = 0;          ///< reads that reported ok (silent injected ones included)
  std::uint64_t bytes_read = 0;        ///< their bytes
  std::uint64_t program_ops = 0;       ///< programs the device started: completed, silently dropped or torn
  std::uint64_t bytes_programmed = 0;  ///< their full request lengths
  std::uint64_t erase_ops = 0;         ///< erases the device started: completed, silently dropped or torn
  /// Completed erases per device sector (sector_count() entries). A torn or
  /// silently dropped erase erased nothing and is not counted here.
  std::vector<std::uint32_t> sector_erases;
  /// Simulated time of every counted operation (torn ones charged in full).
  double device_time_us = 0;
};

/// Kinds of fault the sim injected, for SimFlash::faults().
enum class FaultKind : std::uint8_t {
  power_cut,       ///< the armed cut hit this operation (torn, or refused if it broke a rule)
  injected_error,  ///< fail_next(kind, error) reported `error`
  silent_drop,     ///< fail_next(kind, _, true): reported ok, changed nothing
  worn_out,        ///< refused because a sector passed its endurance
};

/// One injected fault. op_index is the mutating_ops() index of a program or
/// erase, or the number of mutating ops issued before a read.
struct FaultRecord {
  FaultKind what = FaultKind::power_cut;
  FlashOpKind op = FlashOpKind::read;
  std::uint64_t op_index = 0;
  std::uint32_t address = 0;  ///< device address of the request
  std::uint32_t length = 0;   ///< its length in bytes
};

/// A RAM NOR flash with rule enforcement and seeded fault injection.
///
/// Outcome of a request, checked in this order:
///  1. power lost (after a cut, until restore_power()): Errc::power_lost,
///     nothing changes, nothing is counted;
///  2. malformed (the sim does not trust ferrite::Flash): out_of_bounds for
///     a range or sector outside the device, misaligned for a program whose
///     address or length is not a multiple of the program unit,
///     invalid_argument for an empty program, a null buffer, or an erase
///     whose address/length do not match its sector; nothing is counted;
///  3. programs and erases now get their mutating_ops() index. If it is the
///     armed cut: power is lost, the operation is torn (unless rule 5 would
///     refuse it, then nothing changes) and it reports power_lost;
///  4. an injected failure of that kind (fail_next) is consumed;
///  5. rules: worn_out (a touched sector reached its endurance), then
///     reprogram_forbidden (a touched unit is programmed and the geometry
///     forbids re-programming), then bits_not_erased (the data would move a
///     bit back to the erase value); the request changes nothing;
///  6. the operation is applied and counted.
class SimFlash final : public FlashDevice {
 public:
  /// A fully erased device of geometry `g`. `seed` drives every random
  /// choice (tears, weak-bit reads, random flips).
  explicit SimFlash(Geometry g, std::uint64_t seed = 1, TimingModel timing = TimingModel::stm32f4());
  SimFlash(const SimFlash&) = delete;  // ferrite::Flash views point at the device
  SimFlash& operator=(const SimFlash&) = delete;
  ~SimFlash() = default;

  const Geometry& geometry() const noexcept override { return geometry_; }
  /// Executes the request and calls request.complete() before returning.
  void submit(FlashRequest& request) noexcept override;

  // -- counters -------------------------------------------------------------
  const Counters& counters() const noexcept { return counters_; }
  /// Zeroes every counter (not wear, not mutating_ops()).
  void reset_counters() noexcept;
  /// Programs and erases that reached the powered device since construction,
  /// whatever their outcome (refused, torn, silent, ok); malformed requests
  /// and requests while power is lost do not count. Op k of a run is what
  /// cut_power_at(k) tears, so 0..mutating_ops()-1 enumerates every crash point.
  std::uint64_t mutating_ops() const noexcept { return mutating_ops_; }
  /// Completed erases of device sector `sector` since construction (or
  /// since the last load_image()); what set_endurance() compares against.
  std::uint32_t lifetime_erases(std::uint32_t sector) const noexcept;
  const TimingModel& timing() const noexcept { return timing_; }
  void set_timing(TimingModel t) noexcept { timing_ = t; }

  // -- power ----------------------------------------------------------------
  /// Arms a cut at the program/erase whose mutating_ops() index is
  /// `op_index`: that op is torn and reports power_lost, and every later
  /// request fails with power_lost until restore_power(). An index already
  /// passed never fires. Replaces any earlier armed cut.
  void cut_power_at(std::uint64_t op_index) noexcept;
  /// Cuts power now, between operations: nothing is torn.
  void cut_power() noexcept;
  /// The reboot: power returns and the armed cut is cleared. The image,
  /// the programmed-unit tracking, wear and weak bits persist.
  void restore_power() noexcept;
  bool power_is_lost() const noexcept { return power_lost_; }
  /// How torn programs are shaped (default prefix_then_partial).
  void set_tear_mode(TearMode m) noexcept { tear_mode_ = m; }
  TearMode tear_mode() const noexcept { return tear_mode_; }

  // -- weak bits --------------------------------------------------------------
  /// Bits left weak by torn programs and erases. A weak bit reads as a fresh
  /// random value on every read until its sector is erased (or, for a bit a
  /// later completed program drives to the programmed value, until then).
  std::size_t weak_bit_count() const noexcept;
  /// Whether tears create weak bits (default on). Existing weak bits stay.
  void set_weak_bits(bool enabled) noexcept { weak_enabled_ = enabled; }
  /// True when bit `bit` (0..7) of byte `address` is weak; false out of range.
  bool is_weak(std::uint32_t address, unsigned bit) const noexcept;

  // -- bit flips (permanent changes of stored bits, not programs) ------------
  /// Toggles bit `bit` (0..7) of byte `address`, in either direction. The
  /// programmed-unit tracking does not change. Precondition: address <
  /// total_size() and bit < 8 (a test bug otherwise: aborts with a message).
  void flip_bit(std::uint32_t address, unsigned bit) noexcept;
  /// Toggles `n` bits chosen at random (with repetition) over the image.
  void flip_random_bits(std::size_t n) noexcept;
  /// Toggles `n` random bits of [address, address + length). Precondition:
  /// the range is non-empty and inside the device (aborts otherwise).
  void flip_random_bits_in(std::uint32_t address, std::uint32_t length, std::size_t n) noexcept;

  // -- wear and injected failures -------------------------------------------
  /// Once a sector has completed `erase_cycles` erases, erasing it or
  /// programming into it fails with worn_out and changes nothing. The
  /// default is unlimited.
  void set_endurance(std::uint32_t erase_cycles) noexcept { endurance_ = erase_cycles; }
  /// The next request of `kind` fails with `error` and changes nothing.
  /// With `silent`, it instead reports ok and does nothing (a program's data
  /// never lands, an erase erases nothing, a read leaves the buffer as it
  /// was); `error` is then ignored. One pending injection per kind; a new
  /// call replaces it, and fail_next(kind, Errc::ok) clears it.
  void fail_next(FlashOpKind kind, Errc error, bool silent = false) noexcept;

  // -- raw access -----------------------------------------------------------
  /// The stored bytes (weak bits show their stored value, not read noise).
  std::span<const std::byte> image() const noexcept { return image_; }
  /// Replaces the whole image (a golden image, a snapshot). Resets the
  /// tracking: a unit differing from the erase value counts as programmed,
  /// weak bits and wear are cleared; counters and power state are kept.
  /// Precondition: bytes.size() == total_size() (aborts otherwise).
  void load_image(std::span<const std::byte> bytes) noexcept;
  /// Direct mutable access for corruption tests; bypasses every rule and
  /// leaves the tracking as it was.
  std::span<std::byte> raw() noexcept { return image_; }
  /// True when the unit holding byte `address` counts as programmed since
  /// its sector's last erase.
  bool is_programmed(std::uint32_t address) const noexcept;

  // -- diagnostics ------------------------------------------------------------
  /// Every fault injected so far, oldest first (the log keeps the last 256).
  std::span<const FaultRecord> faults() const noexcept { return faults_; }
  /// One line for a failing test: geometry, counters, power, weak bits and
  /// the last fault.
  std::string describe() const;

 private:
  struct Injection {
    Errc error = Errc::ok;
    bool silent = false;
  };
  [[nodiscard]] Errc validate(const FlashRequest& r) const noexcept;
  [[nodiscard]] Errc program_rules(std::uint32_t address, std::uint32_t length, const std::byte* data) const noexcept;
  [[nodiscard]] std::optional<Injection> take_injection(FlashOpKind kind, const FlashRequest& r,
                                                        std::uint64_t op) noexcept;
  void do_read(FlashRequest& r) noexcept;
  void do_program(FlashRequest& r) noexcept;
  void do_erase(FlashRequest& r) noexcept;
  void add_weak_noise(std::uint32_t address, std::uint32_t length, std::byte* out) noexcept;
  void write_unit(std::uint32_t unit_index, const std::byte* data) noexcept;
  void write_unit_partly(std::uint32_t unit_index, const std::byte* data, std::uint64_t& rng) noexcept;
  void tear_program(std::uint32_t address, std::uint32_t length, const std::byte* data, std::uint64_t op) noexcept;
  void tear_erase(std::uint32_t sector, std::uint64_t op) noexcept;
  void set_weak(std::uint32_t address, std::byte mask) noexcept;
  void clear_weak(std::uint32_t address, std::byte mask) noexcept;
  void count_read(std::uint32_t length) noexcept;
  void count_program(std::uint32_t length) noexcept;
  void count_erase(std::uint32_t sector, bool completed) noexcept;
  void record(FaultKind what, const FlashRequest& r, std::uint64_t op) noexcept;

  Geometry geometry_;
  TimingModel timing_;
  std::uint64_t seed_;
  std::uint64_t fault_rng_;  // flips
  std::uint64_t noise_rng_;  // weak-bit reads; tears draw from a per-op stream
  std::vector<std::byte> image_;
  std::vector<std::byte> weak_;              // per byte: which bits are weak
  std::vector<std::uint8_t> programmed_;     // per program unit
  std::vector<std::uint32_t> weak_bits_;     // per sector: count of weak bits, to skip clean sectors fast
  std::vector<std::uint32_t> wear_;          // per sector: completed erases
  std::vector<FaultRecord> faults_;
  Counters counters_;
  std::uint64_t mutating_ops_ = 0;
  std::uint64_t cut_at_ = std::numeric_limits<std::uint64_t>::max();
  std::uint32_t endurance_ = std::numeric_limits<std::uint32_t>::max();
  std::array<Injection, 3> injections_{};
  TearMode tear_mode_ = TearMode::prefix_then_partial;
  bool power_lost_ = false;
  bool weak_enabled_ = true;
};

/// A rollback counter outside the flash image (as OTP or a secure element
/// would be): restoring or replacing the image leaves it where it is.
/// Tests set it back on purpose (set()) to model what a real counter forbids.
class SimCounter final : public RollbackCounter {
 public:
  Task<Result<std::uint64_t>> read() noexcept override;
  Task<Status> raise(std::uint64_t value) noexcept override;
  std::uint64_t value() const noexcept { return value_; }
  /// How many raises moved it (a real counter's cost is per raise).
  std::uint64_t raises() const noexcept { return raises_; }
  void set(std::uint64_t value) noexcept { value_ = value; }

 private:
  std::uint64_t value_ = 0;
  std::uint64_t raises_ = 0;
};

}  // namespace ferrite::sim
