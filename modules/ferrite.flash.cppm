// ferrite.flash — the device: geometry, the port contract, and awaitable
// read / program / erase with every request validated before it reaches a
// port.
//
// Power-loss contract of every port (what ferrite assumes, and what the
// simulated flash enforces):
//  * read changes nothing;
//  * a program cut by power loss leaves the units of that request undefined
//    (any subset of bits moved towards the programmed state, some of them
//    weak) and every other unit unchanged;
//  * an erase cut by power loss leaves that sector undefined and every other
//    sector unchanged.
// ferrite's promise in return: it programs every unit at most once between
// two erases of its sector, so it runs on ECC flash that forbids re-programming.
module;
#include "ferrite_std.hpp"

export module ferrite.flash;
export import ferrite.core;

export namespace ferrite {

/// `count` consecutive sectors of `size` bytes each.
struct SectorRun {
  std::uint32_t count = 0;
  std::uint32_t size = 0;
};

/// Which way programming moves bits. NOR flash erases to 0xFF and programs
/// by clearing bits; some devices erase to 0x00.
enum class EraseValue : std::uint8_t { ones = 0xFF, zeros = 0x00 };

/// The shape of a flash device or of a partition of one. A value type that
/// only exists valid: build it with Geometry::make or Geometry::uniform.
class Geometry {
 public:
  static constexpr std::size_t max_runs = 8;
  static constexpr std::uint32_t max_program_unit = 32;

  /// Validates and builds a geometry. Errors: invalid_argument for an empty
  /// layout, a program unit other than 1/2/4/8/16/32, a sector size that is
  /// not a positive multiple of the program unit, more than max_runs runs;
  /// too_large when the device exceeds 4 GiB.
  static constexpr Result<Geometry> make(std::span<const SectorRun> runs, std::uint32_t program_unit,
                                         EraseValue erase_value = EraseValue::ones,
                                         bool reprogram_allowed = false) noexcept {
    if (runs.empty() || runs.size() > max_runs) return fail(Errc::invalid_argument);
    if (program_unit == 0 || program_unit > max_program_unit || !std::has_single_bit(program_unit))
      return fail(Errc::invalid_argument);
    Geometry g;
    std::uint64_t total = 0;
    for (const SectorRun& r : runs) {
      if (r.count == 0 || r.size == 0 || r.size % program_unit != 0) return fail(Errc::invalid_argument);
      total += std::uint64_t{r.count} * r.size;
      g.runs_[g.run_count_++] = r;
      g.sector_count_ += r.count;
    }
    if (total > std::numeric_limits<std::uint32_t>::max()) return fail(Errc::too_large);
    g.total_size_ = static_cast<std::uint32_t>(total);
    g.program_unit_ = program_unit;
    g.erase_value_ = erase_value;
    g.reprogram_allowed_ = reprogram_allowed;
    return g;
  }
  static constexpr Result<Geometry> uniform(std::uint32_t sector_count, std::uint32_t sector_size,
                                            std::uint32_t program_unit,
                                            EraseValue erase_value = EraseValue::ones,
                                            bool reprogram_allowed = false) noexcept {
    const SectorRun run{sector_count, sector_size};
    return make(std::span<const SectorRun>(&run, 1), program_unit, erase_value, reprogram_allowed);
  }

  constexpr std::uint32_t sector_count() const noexcept { return sector_count_; }
  constexpr std::uint32_t total_size() const noexcept { return total_size_; }
  constexpr std::uint32_t program_unit() const noexcept { return program_unit_; }
  constexpr EraseValue erase_value() const noexcept { return erase_value_; }
  constexpr std::byte erased_byte() const noexcept { return static_cast<std::byte>(erase_value_); }
  constexpr bool reprogram_allowed() const noexcept { return reprogram_allowed_; }
  constexpr std::span<const SectorRun> runs() const noexcept { return {runs_.data(), run_count_}; }

  /// Size of sector `i` (i < sector_count()).
  constexpr std::uint32_t sector_size(std::uint32_t i) const noexcept {
    for (const SectorRun& r : runs()) {
      if (i < r.count) return r.size;
      i -= r.count;
    }
    return 0;
  }
  /// Byte offset of sector `i`; sector_count() gives total_size().
  constexpr std::uint32_t sector_offset(std::uint32_t i) const noexcept {
    std::uint32_t off = 0;
    for (const SectorRun& r : runs()) {
      if (i <= r.count) return off + i * r.size;
      off += r.count * r.size;
      i -= r.count;
    }
    return off;
  }
  /// The sector holding byte `address` (address < total_size()).
  constexpr std::uint32_t sector_of(std::uint32_t address) const noexcept {
    std::uint32_t index = 0;
    for (const SectorRun& r : runs()) {
      const std::uint64_t span = std::uint64_t{r.count} * r.size;
      if (address < span) return index + address / r.size;
      address -= static_cast<std::uint32_t>(span);
      index += r.count;
    }
    return index;
  }
  constexpr std::uint32_t largest_sector() const noexcept {
    std::uint32_t m = 0;
    for (const SectorRun& r : runs()) m = std::max(m, r.size);
    return m;
  }
  constexpr std::uint32_t smallest_sector() const noexcept {
    std::uint32_t m = std::numeric_limits<std::uint32_t>::max();
    for (const SectorRun& r : runs()) m = std::min(m, r.size);
    return m;
  }
  /// The geometry of sectors [first, first + count). Errors: out_of_bounds.
  constexpr Result<Geometry> slice(std::uint32_t first, std::uint32_t count) const noexcept {
    if (count == 0 || first >= sector_count_ || count > sector_count_ - first) return fail(Errc::out_of_bounds);
    std::array<SectorRun, max_runs> out{};
    std::size_t n = 0;
    std::uint32_t skip = first, want = count;
    for (const SectorRun& r : runs()) {
      if (skip >= r.count) {
        skip -= r.count;
        continue;
      }
      const std::uint32_t take = std::min(r.count - skip, want);
      out[n++] = SectorRun{take, r.size};
      want -= take;
      skip = 0;
      if (want == 0) break;
    }
    return make(std::span<const SectorRun>(out.data(), n), program_unit_, erase_value_, reprogram_allowed_);
  }

  friend constexpr bool operator==(const Geometry& a, const Geometry& b) noexcept {
    if (a.run_count_ != b.run_count_ || a.program_unit_ != b.program_unit_ || a.erase_value_ != b.erase_value_ ||
        a.reprogram_allowed_ != b.reprogram_allowed_)
      return false;
    for (std::size_t i = 0; i < a.run_count_; ++i)
      if (a.runs_[i].count != b.runs_[i].count || a.runs_[i].size != b.runs_[i].size) return false;
    return true;
  }

 private:
  constexpr Geometry() noexcept = default;
  std::array<SectorRun, max_runs> runs_{};
  std::size_t run_count_ = 0;
  std::uint32_t sector_count_ = 0;
  std::uint32_t total_size_ = 0;
  std::uint32_t program_unit_ = 1;
  EraseValue erase_value_ = EraseValue::ones;
  bool reprogram_allowed_ = false;
};

enum class FlashOpKind : std::uint8_t { read, program, erase };

/// One operation handed to a port. It lives in the awaiting coroutine's frame
/// until complete() is called, which the port must do exactly once — inline
/// from submit() or later, from the run loop or an interrupt handler.
class FlashRequest {
 public:
  FlashOpKind kind = FlashOpKind::read;
  std::uint32_t address = 0;        ///< device address (read/program) or sector start (erase)
  std::uint32_t length = 0;         ///< bytes (read/program) or sector size (erase)
  std::uint32_t sector = 0;         ///< device sector index (erase)
  std::byte* read_into = nullptr;   ///< destination of a read
  const std::byte* program_from = nullptr;  ///< source of a program

  /// Report the outcome. After this call the port must not touch the request.
  void complete(Errc result) noexcept;

  // Awaiter side (set up by FlashOp).
  Errc result = Errc::ok;
  RunLoop* loop = nullptr;
  Wakeup wakeup{};
  std::atomic<std::uint8_t> state{0};  // 0 pending, 1 suspended, 2 completed
};

/// The port interface: geometry plus one entry point. Ports in ports/ (the
/// simulated NOR flash, the file image, the deferred-completion wrapper, MCU
/// drivers) implement it. Requests arrive validated (bounds, alignment); the
/// port enforces the physical rules (bits only move one way, no re-program
/// where forbidden, wear-out) and reports them with their Errc.
class FlashDevice {
 public:
  virtual const Geometry& geometry() const noexcept = 0;
  virtual void submit(FlashRequest& request) noexcept = 0;

 protected:
  ~FlashDevice() = default;
};

/// Awaitable result of Flash::read/program/erase: co_await yields a Status.
class [[nodiscard]] FlashOp {
 public:
  /// `verdict` is the validation outcome: anything but ok completes the
  /// operation at once with that error, without reaching the port.
  FlashOp(FlashDevice* device, RunLoop* loop, Errc verdict, FlashOpKind kind, std::uint32_t address,
          std::uint32_t length, std::uint32_t sector, std::byte* read_into,
          const std::byte* program_from) noexcept
      : device_(device) {
    request_.kind = kind;
    request_.address = address;
    request_.length = length;
    request_.sector = sector;
    request_.read_into = read_into;
    request_.program_from = program_from;
    request_.loop = loop;
    request_.result = verdict;
  }
  FlashOp(const FlashOp&) = delete;
  FlashOp& operator=(const FlashOp&) = delete;

  FlashRequest& request() noexcept { return request_; }

  bool await_ready() const noexcept { return request_.result != Errc::ok; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    request_.wakeup.handle = h;
    device_->submit(request_);
    std::uint8_t expected = 0;
    // Completed inline: carry on without suspending (no stack growth).
    return request_.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel);
  }
  Status await_resume() const noexcept { return status_of(request_.result); }

 private:
  FlashDevice* device_;
  FlashRequest request_;
};

/// A validated view of a device or of a run of its sectors. Addresses and
/// sector indexes are relative to the view. Cheap to copy.
class Flash {
 public:
  /// The whole device; `loop` receives asynchronous completions.
  explicit Flash(FlashDevice& device, RunLoop* loop = nullptr) noexcept;
  /// Sectors [first, first + count) of `device`. Errors: out_of_bounds.
  static Result<Flash> partition(FlashDevice& device, std::uint32_t first_sector, std::uint32_t sector_count,
                                 RunLoop* loop = nullptr) noexcept;

  const Geometry& geometry() const noexcept { return geometry_; }
  RunLoop* loop() const noexcept { return loop_; }
  FlashDevice& device() const noexcept { return *device_; }

  /// Reads out.size() bytes at `address` (any alignment).
  /// Errors: out_of_bounds, io, power_lost.
  FlashOp read(std::uint32_t address, std::span<std::byte> out) noexcept;
  /// Programs data at `address`; address and size must be multiples of the
  /// program unit and non-empty. Errors: misaligned, out_of_bounds,
  /// invalid_argument (empty), and the port's reprogram_forbidden,
  /// bits_not_erased, worn_out, io, power_lost.
  FlashOp program(std::uint32_t address, std::span<const std::byte> data) noexcept;
  /// Erases sector `sector`. Errors: out_of_bounds, worn_out, io, power_lost.
  FlashOp erase(std::uint32_t sector) noexcept;

 private:
  Flash(FlashDevice& device, RunLoop* loop, Geometry g, std::uint32_t first_sector) noexcept;
  FlashDevice* device_;
  RunLoop* loop_;
  Geometry geometry_;
  std::uint32_t first_sector_ = 0;
  std::uint32_t base_ = 0;
};

/// A port hook next to the flash: a counter an attacker holding the flash cannot roll back: OTP fuses, a
/// secure element's monotonic counter, an RTC backup register in a tamper
/// domain, a second store on another chip. A sealed store keeps the
/// position of its latest record in it (docs/SECURITY.md): mount then tells
/// a rolled-back or truncated log from the current one. Raised after every
/// record the store appends, before the write is acknowledged.
class RollbackCounter {
 public:
  virtual Task<Result<std::uint64_t>> read() noexcept = 0;
  /// Raises the counter to `value`; a value at or below the current one
  /// leaves it as it is (a counter never goes down).
  virtual Task<Status> raise(std::uint64_t value) noexcept = 0;

 protected:
  ~RollbackCounter() = default;
};

}  // namespace ferrite
