// ferrite.log:sealed — what a sealed store keeps beside its log (docs/FORMAT.md
// §3.6): its codecs, scratch and rollback counter, the OPEN and end-slot
// sizes, and what mount found wrong. A build without sealed stores keeps an
// empty stand-in with the same names. The engine's own; nothing here is
// exported.
module;
#include "ferrite_std.hpp"

export module ferrite.log:sealed;
import ferrite.flash;
import :build;
import :api;

namespace ferrite {

/// What mount found wrong with a sealed store's log (last_refusal()).
enum class TamperFinding : std::uint8_t {
  none, legacy, record_auth, hole, no_open, pin, missing, rollback, bad_open, too_many_failures,
  duplicate, ahead, end_slot,
};

/// What a sealed store keeps beside its log (FORMAT.md §3.6).
struct SealedState {
  explicit SealedState(const StoreConfig& config) noexcept
      : codec(config.codec),
        previous_codec(config.codec ? config.previous_codec : nullptr),
        scratch(config.scratch),
        counter(config.codec ? config.counter : nullptr) {}
  ValueCodec* codec = nullptr;
  ValueCodec* previous_codec = nullptr;
  std::span<std::byte> scratch;
  RollbackCounter* counter = nullptr;
  std::size_t scratch_used = 0;        // bytes of scratch A and B that may hold plaintext
  std::uint32_t scratch_clobbers = 0;  // collections that overwrote scratch A
  std::uint32_t open_size = 0;         // the OPEN record every sealed sector starts with
  std::uint32_t end_slot = 0;          // a sealed sector's last bytes: room for one RETIRE (FORMAT.md §3.6)
  std::uint32_t last_open_sequence = 0;  // mount: newest replayed sector that holds an OPEN record
  std::uint32_t last_open_sector = 0xFFFFFFFFu;  // none
  std::uint32_t last_open_end = 0;       // offset past the last acknowledged record of that sector
  std::uint32_t tamper_pending = 0;      // entries in Tamper::pending (a TAMPERED record to write)
  TamperFinding finding = TamperFinding::none;
  bool have_previous_block = false;
  bool end_slot_open = false;   // retire_in_end_slot: append may write into the end slot
  bool authenticating = false;  // mount: open every sealed record, not only the small ones
  bool auth_failed = false;     // read_record: the last record passed its crc, failed its tag
};
/// A build without sealed stores keeps none of that: the same names, each
/// an Absent field (reads give the value a store without a codec has,
/// writes are dropped), so the code behind sealed() compiles unchanged and
/// folds away, and the Store spends no byte on it.
struct NoSealedState {
  explicit NoSealedState(const StoreConfig&) noexcept {}
  static constexpr Absent<ValueCodec*, nullptr> codec{};
  static constexpr Absent<ValueCodec*, nullptr> previous_codec{};
  static constexpr std::span<std::byte> scratch{};
  static constexpr Absent<RollbackCounter*, nullptr> counter{};
  static constexpr Absent<std::size_t, 0> scratch_used{};
  static constexpr Absent<std::uint32_t, 0> scratch_clobbers{};
  static constexpr Absent<std::uint32_t, 0> open_size{};
  static constexpr Absent<std::uint32_t, 0> end_slot{};
  static constexpr Absent<std::uint32_t, 0> last_open_sequence{};
  static constexpr Absent<std::uint32_t, 0xFFFFFFFFu> last_open_sector{};  // none
  static constexpr Absent<std::uint32_t, 0> last_open_end{};
  static constexpr Absent<std::uint32_t, 0> tamper_pending{};
  static constexpr Absent<TamperFinding, TamperFinding::none> finding{};
  static constexpr Absent<bool, false> have_previous_block{};
  static constexpr Absent<bool, false> end_slot_open{};
  static constexpr Absent<bool, false> authenticating{};
  static constexpr Absent<bool, false> auth_failed{};
};
/// The engine's member: the real state, or the stand-in.
using SealState = std::conditional_t<sealed_stores_built, SealedState, NoSealedState>;

}  // namespace ferrite
