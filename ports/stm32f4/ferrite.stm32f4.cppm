// ferrite.stm32f4 — a register-level driver for the STM32F4 embedded flash
// (STM32F405/407/415/417, RM0090 section 3, "Embedded Flash memory interface"),
// behind ferrite's FlashDevice contract. No vendor HAL.
//
// Programming and erasing are interrupt driven: submit() unlocks the control
// register, configures it and starts the operation (one program-unit write,
// or SER + SNB + STRT), and returns; the flash interrupt (EOP with EOPIE,
// OPERR with ERRIE) calls on_interrupt(), which programs the next unit or
// completes the request (FlashRequest::complete posts the awaiting coroutine
// to its RunLoop). Reads are memory-mapped loads and complete inline when the
// controller is idle.
//
// The registers are reached through an access policy, so that host tests can
// run the very same driver against a model of the controller: on hardware
// DirectAccess does plain volatile loads and stores.
//
// Hardware wiring (STM32F407, 1 MiB):
//
//   ferrite::stm32f4::Stm32f4Flash<> flash(ferrite::stm32f4::flash_registers(),
//                                          ferrite::stm32f4::flash_memory());
//   extern "C" void FLASH_IRQHandler() { flash.on_interrupt(); }   // + NVIC_EnableIRQ(4)
//
// and run ferrite from the code that executes from another sector than the
// ones the store erases (the CPU stalls on flash reads while the controller
// is busy; RM0090 3.5.4), e.g. keep the store in sectors the firmware does
// not occupy (Flash::partition).
module;
#include "ferrite_std.hpp"

export module ferrite.stm32f4;
export import ferrite.flash;

export namespace ferrite::stm32f4 {

/// The flash interface registers (RM0090 3.9), at 0x40023C00 on the part.
struct FlashRegisters {
  volatile std::uint32_t ACR;      ///< 0x00 access control
  volatile std::uint32_t KEYR;     ///< 0x04 key
  volatile std::uint32_t OPTKEYR;  ///< 0x08 option key
  volatile std::uint32_t SR;       ///< 0x0C status
  volatile std::uint32_t CR;       ///< 0x10 control
  volatile std::uint32_t OPTCR;    ///< 0x14 option control
};

/// Register bits (RM0090 3.9.1-3.9.6).
namespace bits {
// FLASH_KEYR unlock sequence.
inline constexpr std::uint32_t key1 = 0x45670123u;
inline constexpr std::uint32_t key2 = 0xCDEF89ABu;
// FLASH_ACR
inline constexpr std::uint32_t acr_icen = 1u << 9;
inline constexpr std::uint32_t acr_dcen = 1u << 10;
inline constexpr std::uint32_t acr_icrst = 1u << 11;
inline constexpr std::uint32_t acr_dcrst = 1u << 12;
// FLASH_SR
inline constexpr std::uint32_t sr_eop = 1u << 0;
inline constexpr std::uint32_t sr_operr = 1u << 1;
inline constexpr std::uint32_t sr_wrperr = 1u << 4;
inline constexpr std::uint32_t sr_pgaerr = 1u << 5;
inline constexpr std::uint32_t sr_pgperr = 1u << 6;
inline constexpr std::uint32_t sr_pgserr = 1u << 7;
inline constexpr std::uint32_t sr_bsy = 1u << 16;
inline constexpr std::uint32_t sr_errors = sr_operr | sr_wrperr | sr_pgaerr | sr_pgperr | sr_pgserr;
// FLASH_CR
inline constexpr std::uint32_t cr_pg = 1u << 0;
inline constexpr std::uint32_t cr_ser = 1u << 1;
inline constexpr std::uint32_t cr_mer = 1u << 2;
inline constexpr std::uint32_t cr_snb_shift = 3;
inline constexpr std::uint32_t cr_snb_mask = 0xFu << cr_snb_shift;
inline constexpr std::uint32_t cr_psize_shift = 8;
inline constexpr std::uint32_t cr_psize_mask = 3u << cr_psize_shift;
inline constexpr std::uint32_t cr_strt = 1u << 16;
inline constexpr std::uint32_t cr_eopie = 1u << 24;
inline constexpr std::uint32_t cr_errie = 1u << 25;
inline constexpr std::uint32_t cr_lock = 1u << 31;
// FLASH_OPTCR: nWRP[11:0] at bits 27:16, a 0 bit write-protects that sector.
inline constexpr std::uint32_t optcr_nwrp_shift = 16;
}  // namespace bits

/// Program parallelism (FLASH_CR.PSIZE), chosen by the supply voltage
/// (RM0090 table 6): x8 for 1.8-2.1 V, x16 up to 2.7 V, x32 for 2.7-3.6 V.
/// It is also ferrite's program unit (1, 2 or 4 bytes). x64 needs an external
/// VPP and is not supported.
enum class Parallelism : std::uint8_t { x8 = 0, x16 = 1, x32 = 2 };

constexpr std::uint32_t unit_bytes(Parallelism p) noexcept { return 1u << static_cast<unsigned>(p); }

struct Stm32f4Config {
  Parallelism parallelism = Parallelism::x32;
  /// 512 (STM32F405/407xE: sectors 0-7) or 1024 (xG: sectors 0-11).
  std::uint32_t flash_kib = 1024;
  /// Set FLASH_CR.LOCK again whenever the controller goes idle (a stray
  /// write then cannot start an operation). Unlocking costs two stores.
  bool lock_when_idle = true;
};

/// 4 x 16 KiB + 1 x 64 KiB + 7 x 128 KiB (1 MiB; 3 x 128 KiB for 512 KiB),
/// erased to 0xFF, program unit = the parallelism, no re-program between
/// erases. invalid_argument for another size.
[[nodiscard]] Result<Geometry> geometry_for(const Stm32f4Config& config) noexcept;

/// How an error in FLASH_SR maps to ferrite's Errc (first match wins):
///   PGAERR (alignment: the data crosses a row / is not aligned) -> misaligned
///   PGPERR (access size differs from PSIZE)                      -> misaligned
///   WRPERR (sector write-protected by the option bytes)          -> io
///   PGSERR (programming sequence: a write without PG, PG with SER ...) -> io
///   OPERR alone                                                 -> io
/// The raw flags of the last failure stay available (last_error_flags()).
/// Errc::ok when `sr` has no error flag.
[[nodiscard]] Errc errc_from_status(std::uint32_t sr) noexcept;

/// Hardware access: volatile loads and stores, a DSB after each program
/// store so the write reaches the flash interface before FLASH_SR is read.
struct DirectAccess {
  std::uint32_t load(const volatile std::uint32_t& reg) const noexcept { return reg; }
  void store(volatile std::uint32_t& reg, std::uint32_t value) const noexcept { reg = value; }
  void program(std::byte* at, std::uint32_t value, std::uint32_t width) const noexcept {
    switch (width) {
      case 1: *reinterpret_cast<volatile std::uint8_t*>(at) = static_cast<std::uint8_t>(value); break;
      case 2: *reinterpret_cast<volatile std::uint16_t*>(at) = static_cast<std::uint16_t>(value); break;
      default: *reinterpret_cast<volatile std::uint32_t*>(at) = value; break;
    }
#if defined(__ARM_ARCH)
    __asm volatile("dsb" ::: "memory");
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }
};

/// The registers and the memory-mapped array of the part (for DirectAccess).
inline FlashRegisters* flash_registers() noexcept { return reinterpret_cast<FlashRegisters*>(0x40023C00u); }
inline std::byte* flash_memory() noexcept { return reinterpret_cast<std::byte*>(0x08000000u); }

/// The driver. `Access` provides load(reg), store(reg, value) and
/// program(address, value, width); see DirectAccess.
///
/// Requests: reads complete inline when the controller is idle. Programs and
/// erases are started in submit() and completed from on_interrupt(); requests
/// arriving while one is in progress wait in a FIFO of queue_capacity entries
/// (a full queue completes the newcomer with Errc::busy).
///
/// Checks before touching the hardware: out_of_bounds, misaligned (address or
/// length not a multiple of the program unit; ferrite::Flash has already
/// checked this), reprogram_forbidden (a unit of the range is not erased:
/// the hardware would silently AND the data into it, and ferrite relies on
/// the port refusing this), busy (FLASH_SR.BSY set by someone else), io
/// (FLASH_CR stays locked after the key sequence: a wrong sequence locks it
/// until the next reset). Errors the controller reports map as described at
/// errc_from_status().
///
/// Interrupt safety: on_interrupt() may preempt anything but itself; submit()
/// runs on the loop's thread. Single core: the queue indexes are atomics and
/// an operation is started only by submit() when the controller is idle or
/// by on_interrupt() when the previous one ends.
template <class Access = DirectAccess>
class Stm32f4Flash final : public FlashDevice {
 public:
  static constexpr std::size_t queue_capacity = 8;

  /// `regs`: the flash interface registers; `array`: the flash memory as
  /// mapped (device address 0 = 0x08000000 on the part). A configuration
  /// geometry_for() rejects leaves the device answering invalid_argument.
  Stm32f4Flash(FlashRegisters* regs, std::byte* array, Stm32f4Config config = {}, Access access = {}) noexcept
      : regs_(regs),
        array_(array),
        config_(config),
        access_(access),
        geometry_(geometry_for(config).value_or(*geometry_for(Stm32f4Config{}))),
        valid_(geometry_for(config).has_value()),
        unit_(unit_bytes(config.parallelism)) {}
  Stm32f4Flash(const Stm32f4Flash&) = delete;
  Stm32f4Flash& operator=(const Stm32f4Flash&) = delete;

  const Geometry& geometry() const noexcept override { return geometry_; }

  void submit(FlashRequest& r) noexcept override {
    if (const Errc e = precheck(r); e != Errc::ok) return r.complete(e);
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) >= queue_capacity) {
      ++rejected_;
      return r.complete(Errc::busy);
    }
    ring_[tail % queue_capacity] = &r;
    tail_.store(tail + 1, std::memory_order_release);
    // An interrupt that ends the current operation between the store above
    // and this test starts the request itself; then active_ is set again.
    if (!active_.load(std::memory_order_acquire)) start_queued();
  }

  /// The flash global interrupt (FLASH_IRQHandler). Returns false when there
  /// was nothing to do (a spurious or already handled interrupt).
  bool on_interrupt() noexcept {
    ++interrupts_;
    FlashRequest* r = current_;
    if (!active_.load(std::memory_order_acquire) || !r) return false;
    const std::uint32_t sr = access_.load(regs_->SR);
    if (sr & bits::sr_errors) {
      finish(fail_with(sr));
      return true;
    }
    if (!(sr & bits::sr_eop) || (sr & bits::sr_bsy)) return false;
    access_.store(regs_->SR, bits::sr_eop);  // rc_w1
    if (r->kind == FlashOpKind::program) {
      done_ += unit_;
      if (done_ < r->length) {
        if (const Errc e = program_unit(); e != Errc::ok) finish(e);
        return true;
      }
    } else {
      flush_data_cache();
    }
    finish(Errc::ok);
    return true;
  }

  /// FLASH_SR error bits of the last operation that failed (0: none yet).
  std::uint32_t last_error_flags() const noexcept { return last_error_flags_; }
  /// Requests submitted and not yet completed.
  std::size_t in_flight() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }
  bool idle() const noexcept { return !active_.load(std::memory_order_acquire); }
  std::uint64_t interrupts() const noexcept { return interrupts_; }
  std::uint64_t programs_started() const noexcept { return units_programmed_; }
  std::uint64_t erases_started() const noexcept { return erases_started_; }
  std::uint64_t rejected() const noexcept { return rejected_; }
  /// Key sequences after which FLASH_CR stayed locked (Errc::io each).
  std::uint64_t unlock_failures() const noexcept { return unlock_failures_; }
  const Stm32f4Config& config() const noexcept { return config_; }
  Access& access() noexcept { return access_; }

 private:
  Errc precheck(const FlashRequest& r) const noexcept {
    if (!valid_) return Errc::invalid_argument;
    const std::uint32_t total = geometry_.total_size();
    switch (r.kind) {
      case FlashOpKind::read:
        if (r.address > total || r.length > total - r.address) return Errc::out_of_bounds;
        return Errc::ok;
      case FlashOpKind::program:
        if (r.length == 0 || !r.program_from) return Errc::invalid_argument;
        if (r.address > total || r.length > total - r.address) return Errc::out_of_bounds;
        if (r.address % unit_ != 0 || r.length % unit_ != 0) return Errc::misaligned;
        return Errc::ok;
      case FlashOpKind::erase:
        if (r.sector >= geometry_.sector_count()) return Errc::out_of_bounds;
        return Errc::ok;
    }
    return Errc::invalid_argument;
  }

  // Starts queued requests until one stays in progress or the queue is empty.
  void start_queued() noexcept {
    // Exchanges, not compare-exchanges: for a flag the same, and a
    // compare-exchange given one memory order is not inlined at -Oz (a switch
    // over every order pair, ~480 B).
    if (active_.exchange(true, std::memory_order_acq_rel)) return;
    for (;;) {
      const std::uint32_t head = head_.load(std::memory_order_relaxed);
      if (head == tail_.load(std::memory_order_acquire)) {
        active_.store(false, std::memory_order_release);
        // A submit() that saw active_ still set has queued meanwhile: take it.
        if (head != tail_.load(std::memory_order_acquire) && !active_.exchange(true, std::memory_order_acq_rel))
          continue;
        return;
      }
      FlashRequest* r = ring_[head % queue_capacity];
      current_ = r;
      done_ = 0;
      Errc outcome = Errc::ok;
      if (start(*r, outcome)) return;  // in progress: on_interrupt() carries on
      // Finished at once (a read, or refused before or at the start).
      if (r->kind != FlashOpKind::read) relax_control();
      current_ = nullptr;
      head_.store(head + 1, std::memory_order_release);
      r->complete(outcome);
    }
  }

  // True: the operation is running and completes from on_interrupt().
  // False: it is over, with `outcome` (reads complete here).
  bool start(FlashRequest& r, Errc& outcome) noexcept {
    if (r.kind == FlashOpKind::read) {
      std::memcpy(r.read_into, array_ + r.address, r.length);
      outcome = Errc::ok;
      return false;
    }
    if (access_.load(regs_->SR) & bits::sr_bsy) {
      outcome = Errc::busy;
      return false;
    }
    if (r.kind == FlashOpKind::program) {
      // The hardware ANDs new data into a programmed word without a word
      // of complaint: refuse it here, as ferrite expects from a port.
      const std::byte erased = geometry_.erased_byte();
      for (std::uint32_t i = 0; i < r.length; ++i) {
        if (array_[r.address + i] != erased) {
          outcome = Errc::reprogram_forbidden;
          return false;
        }
      }
    }
    if (!unlock()) {
      ++unlock_failures_;
      outcome = Errc::io;
      return false;
    }
    access_.store(regs_->SR, bits::sr_eop | bits::sr_errors);  // clear stale flags (rc_w1)
    const std::uint32_t base = (access_.load(regs_->CR) & ~(bits::cr_pg | bits::cr_ser | bits::cr_mer |
                                                           bits::cr_snb_mask | bits::cr_psize_mask | bits::cr_strt)) |
                               (static_cast<std::uint32_t>(config_.parallelism) << bits::cr_psize_shift) |
                               bits::cr_eopie | bits::cr_errie;
    if (r.kind == FlashOpKind::program) {
      access_.store(regs_->CR, base | bits::cr_pg);
      outcome = program_unit();
    } else {
      // Sector erase: SER and SNB, then STRT (RM0090 3.6.3).
      const std::uint32_t cr = base | bits::cr_ser | (r.sector << bits::cr_snb_shift);
      access_.store(regs_->CR, cr);
      access_.store(regs_->CR, cr | bits::cr_strt);
      ++erases_started_;
      outcome = check_started();
    }
    return outcome == Errc::ok;
  }

  // Writes the next program unit of the current request.
  Errc program_unit() noexcept {
    const FlashRequest& r = *current_;
    std::uint32_t value = 0;
    for (std::uint32_t i = 0; i < unit_; ++i)
      value |= std::uint32_t{static_cast<std::uint8_t>(r.program_from[done_ + i])} << (8 * i);
    ++units_programmed_;
    access_.program(array_ + r.address + done_, value, unit_);
    return check_started();
  }

  // Errors are flagged at the access that caused them, and PGSERR raises no
  // interrupt (OPERR covers alignment, parallelism and protection only), so
  // the status is read back at once.
  Errc check_started() noexcept {
    const std::uint32_t sr = access_.load(regs_->SR);
    if (sr & bits::sr_errors) return fail_with(sr);
    return Errc::ok;
  }

  Errc fail_with(std::uint32_t sr) noexcept {
    last_error_flags_ = sr & bits::sr_errors;
    access_.store(regs_->SR, sr & bits::sr_errors);  // rc_w1
    return errc_from_status(sr);
  }

  bool unlock() noexcept {
    if (!(access_.load(regs_->CR) & bits::cr_lock)) return true;
    access_.store(regs_->KEYR, bits::key1);
    access_.store(regs_->KEYR, bits::key2);
    return !(access_.load(regs_->CR) & bits::cr_lock);
  }

  void relax_control() noexcept {
    std::uint32_t cr = access_.load(regs_->CR);
    if (cr & bits::cr_lock) return;
    cr &= ~(bits::cr_pg | bits::cr_ser | bits::cr_snb_mask | bits::cr_strt);
    if (config_.lock_when_idle) cr |= bits::cr_lock;
    access_.store(regs_->CR, cr);
  }

  // After an erase the ART data cache may still hold the old contents
  // (RM0090 3.5.2): reset it, which is only allowed while it is disabled.
  void flush_data_cache() noexcept {
    const std::uint32_t acr = access_.load(regs_->ACR);
    if (!(acr & bits::acr_dcen)) return;
    access_.store(regs_->ACR, acr & ~bits::acr_dcen);
    access_.store(regs_->ACR, (acr & ~bits::acr_dcen) | bits::acr_dcrst);
    access_.store(regs_->ACR, acr & ~bits::acr_dcen);
    access_.store(regs_->ACR, acr);
  }

  // Ends the current request (on_interrupt or a failed follow-up unit) and
  // starts the next queued one.
  void finish(Errc e) noexcept {
    FlashRequest* r = current_;
    relax_control();
    current_ = nullptr;
    head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    active_.store(false, std::memory_order_release);
    r->complete(e);
    start_queued();
  }

  FlashRegisters* regs_;
  std::byte* array_;
  Stm32f4Config config_;
  [[no_unique_address]] Access access_;
  Geometry geometry_;
  bool valid_;
  std::uint32_t unit_;
  std::array<FlashRequest*, queue_capacity> ring_{};
  std::atomic<std::uint32_t> head_{0};
  std::atomic<std::uint32_t> tail_{0};
  std::atomic<bool> active_{false};
  FlashRequest* current_ = nullptr;
  std::uint32_t done_ = 0;  // bytes of the current program already written
  std::uint32_t last_error_flags_ = 0;
  std::uint64_t interrupts_ = 0;
  std::uint64_t units_programmed_ = 0;
  std::uint64_t erases_started_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t unlock_failures_ = 0;
};

/// Compiled once in the port's implementation unit.
extern template class Stm32f4Flash<DirectAccess>;

}  // namespace ferrite::stm32f4
