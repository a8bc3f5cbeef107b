// A register-level model of the STM32F4 embedded flash interface (RM0090
// section 3) for host tests of ferrite.stm32f4. Include after the std and
// Catch2 headers and after `import ferrite.stm32f4;`.
//
// The model owns the FlashRegisters block and the flash array the driver is
// given. The driver reaches both through ModelAccess, whose load/store/program
// calls land here, so every register access is seen in order and answered the
// way the peripheral answers it:
//  * FLASH_KEYR: KEY1 then KEY2 clears FLASH_CR.LOCK; any other write (a wrong
//    key, a key while unlocked) is a bus error that keeps FLASH_CR locked until
//    reset();
//  * FLASH_CR ignores writes while LOCK is set or while BSY; LOCK is set by
//    software; STRT with SER starts a sector erase of SNB, with MER a mass erase;
//  * a write to the flash array needs PG (and neither SER nor MER): otherwise
//    PGSERR. An access size other than PSIZE is PGPERR, a misaligned one PGAERR,
//    one into a sector whose nWRP bit is 0 WRPERR; with ERRIE those three also
//    set OPERR, which raises the interrupt (PGSERR raises none). Errors are
//    flagged at the access and nothing is written;
//  * an accepted program or erase sets BSY for program_ticks / erase_ticks
//    calls of tick(); at the end the data is ANDed in (programming only clears
//    bits) or the sector reads 0xFF, BSY and STRT clear, and with EOPIE the EOP
//    flag is set and the interrupt line goes up;
//  * FLASH_SR flags are cleared by writing 1 (rc_w1); BSY is read-only;
//  * FLASH_ACR.DCRST only acts while DCEN is 0.
// Anything a correct driver never does is counted in `violations` (with a
// note), so tests can assert that the driver followed the protocol.
#pragma once

namespace f4model {

namespace b = ferrite::stm32f4::bits;
using ferrite::stm32f4::FlashRegisters;

class Controller {
 public:
  explicit Controller(std::uint32_t flash_kib = 1024)
      : array(std::size_t{flash_kib} * 1024, std::byte{0xFF}), sector_count_(flash_kib == 512 ? 8 : 12) {
    reset();
  }

  FlashRegisters regs{};
  std::vector<std::byte> array;

  // -- configuration ---------------------------------------------------------
  std::uint32_t program_ticks = 1;
  std::uint32_t erase_ticks = 3;
  /// Clears nWRP for `sector` (write-protects it), as the option bytes would.
  void write_protect(std::uint32_t sector) { regs.OPTCR = regs.OPTCR & ~(1u << (b::optcr_nwrp_shift + sector)); }
  /// Makes BSY read 1, as if another master had started an operation.
  void force_busy(bool on) { foreign_busy_ = on; update_busy(); }
  /// A system reset: registers to their reset values, FLASH_CR locked (and
  /// a key lockout cleared), nothing in progress. The array and the option
  /// bytes (write protection) persist.
  void reset() {
    const std::uint32_t optcr = regs.OPTCR ? regs.OPTCR : 0x0FFFAAEDu;
    regs.ACR = 0;
    regs.KEYR = 0;
    regs.OPTKEYR = 0;
    regs.SR = 0;
    regs.CR = b::cr_lock;
    regs.OPTCR = optcr;
    key_stage_ = 0;
    locked_until_reset = false;
    busy_ticks_ = 0;
    op_ = Op::none;
  }

  // -- bus side (called through ModelAccess) ------------------------------------
  std::uint32_t load(const volatile std::uint32_t& reg) {
    ++reads;
    return reg;
  }

  void store(volatile std::uint32_t& reg, std::uint32_t v) {
    ++writes;
    if (&reg == &regs.KEYR) return write_keyr(v);
    if (&reg == &regs.SR) {
      regs.SR = regs.SR & ~(v & (b::sr_eop | b::sr_errors));
      return;
    }
    if (&reg == &regs.CR) return write_cr(v);
    if (&reg == &regs.ACR) return write_acr(v);
    reg = v;  // OPTKEYR, OPTCR: stored, not modelled further
  }

  void program(std::byte* at, std::uint32_t value, std::uint32_t width) {
    ++array_writes;
    const std::ptrdiff_t off = at - array.data();
    if (off < 0 || static_cast<std::size_t>(off) + width > array.size()) {
      violation("array write outside the flash");
      return;
    }
    const auto offset = static_cast<std::uint32_t>(off);
    if (regs.SR & b::sr_bsy) {  // the bus would stall until BSY clears
      violation("array write while BSY");
      return;
    }
    const std::uint32_t cr = regs.CR;
    std::uint32_t err = 0;
    if ((cr & b::cr_lock) || !(cr & b::cr_pg) || (cr & (b::cr_ser | b::cr_mer))) err = b::sr_pgserr;
    else if (width != psize_bytes(cr)) err = b::sr_pgperr;
    else if (offset % width != 0) err = b::sr_pgaerr;
    else if (protected_sector(sector_of(offset))) err = b::sr_wrperr;
    if (err) return flag_error(err);
    ++programs;
    widths_seen |= width;
    op_ = Op::program;
    op_offset_ = offset;
    op_value_ = value;
    op_width_ = width;
    busy_ticks_ = program_ticks;
    update_busy();
  }

  // -- time -------------------------------------------------------------------
  /// One tick of controller time; finishes the operation in progress when its
  /// time is up.
  void tick() {
    ++ticks;
    if (op_ == Op::none || --busy_ticks_ > 0) return;
    if (op_ == Op::program) {
      for (std::uint32_t i = 0; i < op_width_; ++i) {
        std::byte& cell = array[op_offset_ + i];
        if (cell != std::byte{0xFF}) ++reprogrammed_bytes;
        cell &= static_cast<std::byte>(op_value_ >> (8 * i));
      }
    } else if (op_ == Op::erase) {
      std::fill_n(array.begin() + sector_offset(op_sector_), sector_size(op_sector_), std::byte{0xFF});
      ++erases;
    } else if (op_ == Op::mass_erase) {
      std::fill(array.begin(), array.end(), std::byte{0xFF});
      ++erases;
    }
    op_ = Op::none;
    update_busy();
    regs.CR = regs.CR & ~b::cr_strt;
    if (regs.CR & b::cr_eopie) regs.SR = regs.SR | b::sr_eop;
  }

  /// The flash global interrupt line (NVIC input): EOP with EOPIE, OPERR with ERRIE.
  bool irq_line() const {
    return ((regs.SR & b::sr_eop) && (regs.CR & b::cr_eopie)) || ((regs.SR & b::sr_operr) && (regs.CR & b::cr_errie));
  }

  /// tick(), then run `handler` (the driver's on_interrupt) while the line is
  /// up, as the NVIC would. A handler that does not clear the cause is a
  /// violation (the interrupt would fire forever).
  template <class Handler>
  void tick_and_interrupt(Handler&& handler) {
    tick();
    for (int n = 0; irq_line(); ++n) {
      if (n == 4) {
        violation("interrupt line stays up after the handler ran");
        return;
      }
      ++irqs;
      handler();
    }
  }

  bool busy() const { return regs.SR & b::sr_bsy; }
  bool locked() const { return regs.CR & b::cr_lock; }

  // -- what happened -------------------------------------------------------------
  bool locked_until_reset = false;
  std::uint64_t reads = 0, writes = 0, array_writes = 0;
  std::uint64_t unlocks = 0, lockouts = 0, bus_errors = 0, cr_writes_ignored = 0;
  std::uint64_t programs = 0, erases = 0, ticks = 0, irqs = 0;
  std::uint64_t reprogrammed_bytes = 0;  ///< programs over bytes that were not erased
  std::uint64_t dcache_resets = 0, dcache_resets_ignored = 0;
  std::uint32_t widths_seen = 0;         ///< OR of the access widths of accepted programs
  std::vector<std::uint32_t> keyr_writes;
  std::vector<std::string> violations;

  std::uint32_t sector_count() const { return sector_count_; }
  std::uint32_t sector_size(std::uint32_t s) const { return s < 4 ? 16384 : s == 4 ? 65536 : 131072; }
  std::uint32_t sector_offset(std::uint32_t s) const {
    std::uint32_t off = 0;
    for (std::uint32_t i = 0; i < s; ++i) off += sector_size(i);
    return off;
  }

 private:
  enum class Op { none, program, erase, mass_erase };

  static std::uint32_t psize_bytes(std::uint32_t cr) { return 1u << ((cr & b::cr_psize_mask) >> b::cr_psize_shift); }
  std::uint32_t sector_of(std::uint32_t offset) const {
    std::uint32_t s = 0;
    while (s + 1 < sector_count_ && offset >= sector_offset(s + 1)) ++s;
    return s;
  }
  bool protected_sector(std::uint32_t s) const { return !(regs.OPTCR & (1u << (b::optcr_nwrp_shift + s))); }
  void violation(std::string what) { violations.push_back(std::move(what)); }
  void update_busy() {
    const bool busy = op_ != Op::none || foreign_busy_;
    regs.SR = busy ? (regs.SR | b::sr_bsy) : (regs.SR & ~b::sr_bsy);
  }
  void flag_error(std::uint32_t err) {
    std::uint32_t sr = regs.SR | err;
    // OPERR: alignment, parallelism or protection errors, only with ERRIE.
    if ((err & (b::sr_pgaerr | b::sr_pgperr | b::sr_wrperr)) && (regs.CR & b::cr_errie)) sr |= b::sr_operr;
    regs.SR = sr;
  }

  void write_keyr(std::uint32_t v) {
    keyr_writes.push_back(v);
    if (locked_until_reset) {
      ++bus_errors;
      return;
    }
    const bool unlocked = !(regs.CR & b::cr_lock);
    if (!unlocked && key_stage_ == 0 && v == b::key1) {
      key_stage_ = 1;
      return;
    }
    if (!unlocked && key_stage_ == 1 && v == b::key2) {
      key_stage_ = 0;
      regs.CR = regs.CR & ~b::cr_lock;
      ++unlocks;
      return;
    }
    // Wrong sequence: bus error, FLASH_CR locked until the next reset.
    ++bus_errors;
    ++lockouts;
    key_stage_ = 0;
    locked_until_reset = true;
    regs.CR = regs.CR | b::cr_lock;
  }

  void write_cr(std::uint32_t v) {
    if (regs.CR & b::cr_lock) {
      ++cr_writes_ignored;
      return;
    }
    if (regs.SR & b::sr_bsy) {
      ++cr_writes_ignored;
      violation("FLASH_CR written while BSY");
      return;
    }
    const std::uint32_t old = regs.CR;
    regs.CR = v & ~b::cr_strt;
    if (v & b::cr_lock) key_stage_ = 0;
    if (!(v & b::cr_strt) || (old & b::cr_strt) || (v & b::cr_lock)) return;
    // STRT: start an erase.
    if ((v & b::cr_pg) || ((v & b::cr_ser) && (v & b::cr_mer)) || !(v & (b::cr_ser | b::cr_mer))) {
      flag_error(b::sr_pgserr);
      return;
    }
    if (v & b::cr_ser) {
      const std::uint32_t snb = (v & b::cr_snb_mask) >> b::cr_snb_shift;
      if (snb >= sector_count_) return flag_error(b::sr_pgserr);
      if (protected_sector(snb)) return flag_error(b::sr_wrperr);
      op_ = Op::erase;
      op_sector_ = snb;
    } else {
      for (std::uint32_t s = 0; s < sector_count_; ++s)
        if (protected_sector(s)) return flag_error(b::sr_wrperr);
      op_ = Op::mass_erase;
    }
    regs.CR = v;  // STRT reads 1 until the end of the operation
    busy_ticks_ = erase_ticks;
    update_busy();
  }

  void write_acr(std::uint32_t v) {
    if (v & b::acr_dcrst) {
      if ((regs.ACR & b::acr_dcen) || (v & b::acr_dcen)) ++dcache_resets_ignored;
      else ++dcache_resets;
    }
    regs.ACR = v;
  }

  std::uint32_t sector_count_;
  int key_stage_ = 0;
  bool foreign_busy_ = false;
  Op op_ = Op::none;
  std::uint32_t busy_ticks_ = 0;
  std::uint32_t op_offset_ = 0, op_value_ = 0, op_width_ = 0, op_sector_ = 0;
};

/// The test's access policy: every access goes to the model, optionally
/// distorted to provoke the controller's error flags.
struct ModelAccess {
  Controller* model = nullptr;
  std::uint32_t width_override = 0;  ///< nonzero: program accesses of this size (PGPERR)
  std::uint32_t address_skew = 0;    ///< added to program addresses (PGAERR)
  bool drop_pg = false;              ///< FLASH_CR writes lose PG (PGSERR)
  bool wrong_key2 = false;           ///< the second key written is wrong (lockout)
  std::uint32_t fault_after_units = 0;  ///< distortions start after this many program accesses
  std::uint32_t units = 0;

  std::uint32_t load(const volatile std::uint32_t& reg) const { return model->load(reg); }
  void store(volatile std::uint32_t& reg, std::uint32_t v) const {
    if (&reg == &model->regs.CR && drop_pg) v &= ~b::cr_pg;
    if (&reg == &model->regs.KEYR && wrong_key2 && v == b::key2) v = 0x12345678u;
    model->store(reg, v);
  }
  void program(std::byte* at, std::uint32_t value, std::uint32_t width) {
    const bool distort = units++ >= fault_after_units;
    if (distort && width_override) width = width_override;
    if (distort) at += address_skew;
    model->program(at, value, width);
  }
};

}  // namespace f4model
