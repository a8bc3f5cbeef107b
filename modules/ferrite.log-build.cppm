// ferrite.log:build — what this build of the engine has: the features the
// meson options select (docs/BUILD.md), the format's limits, and the small
// types that let code behind a feature left out compile unchanged and fold
// away.
module;
#include "ferrite_std.hpp"

export module ferrite.log:build;

export namespace ferrite {

/// Whether this build has sealed stores (ferrite.crypto: libsodium and
/// zstd, and the meson option sealing). Without them the engine carries none
/// of their code.
#if FERRITE_HAVE_CRYPTO && FERRITE_WITH_SEALING
inline constexpr bool sealed_stores_built = true;
#else
inline constexpr bool sealed_stores_built = false;
#endif

/// The features this build has (meson options transactions, scans, changes,
/// index_less, verify_writes, mixed_sectors, typed_writes, summaries; the profile
/// option presets them, docs/SIZE.md). The API of a feature left out is not
/// declared; a configuration asking for index-less mode or verify_writes in
/// a build without them, or a store on sectors of different sizes in a
/// build without mixed_sectors, is refused (config_report()), and a mount
/// that meets records of a feature left out (a transaction's) answers
/// unsupported and writes nothing.
inline constexpr bool transactions_built = FERRITE_WITH_TRANSACTIONS;
inline constexpr bool scans_built = FERRITE_WITH_SCANS;
inline constexpr bool changes_built = FERRITE_WITH_CHANGES;
inline constexpr bool index_less_built = FERRITE_WITH_INDEX_LESS;
inline constexpr bool verify_writes_built = FERRITE_WITH_VERIFY_WRITES;
/// Stores on flash whose sectors differ in size, and the space rule they
/// need (docs/FORMAT.md §6.2).
inline constexpr bool mixed_sectors_built = FERRITE_WITH_MIXED_SECTORS;
inline constexpr bool typed_writes_built = FERRITE_WITH_TYPED_WRITES;
/// Sector summaries: written by maintain() when StoreConfig asks, read by
/// mount wherever they are (docs/FORMAT.md §5.2).
inline constexpr bool summaries_built = FERRITE_WITH_SUMMARIES;

/// Limits of the format (docs/FORMAT.md).
inline constexpr std::size_t crypto_block_size = 64;
inline constexpr std::size_t max_key_size = 64;
inline constexpr std::size_t max_value_size_limit = 32767;
inline constexpr std::size_t max_slots = 126;

}  // namespace ferrite

namespace ferrite {

/// A switch of StoreConfig whose feature the build may leave out: without
/// it the switch reads false as a constant, so the code behind it folds away;
/// refused() tells a configuration that asked for it anyway.
template <bool Built>
class BuildFlag {
 public:
  explicit BuildFlag(bool asked) noexcept : asked_(asked) {}
  constexpr explicit operator bool() const noexcept { return Built && asked_; }
  bool refused() const noexcept { return !Built && asked_; }

 private:
  bool asked_;
};

/// A field a build leaves out, for code that is compiled in every build but
/// runs only where the feature is: it reads as `Value`, drops what is
/// written to it, and takes no byte (declare it static).
template <class T, T Value>
struct Absent {
  constexpr operator T() const noexcept { return Value; }
  constexpr const Absent& operator=(T) const noexcept { return *this; }
  constexpr const Absent& operator++() const noexcept { return *this; }
  constexpr const Absent& operator--() const noexcept { return *this; }
  constexpr T operator->() const noexcept
    requires std::is_pointer_v<T>
  {
    return Value;
  }
};

/// The key-order permutation (StoreConfig::order): the caller's span, or,
/// in a build without scans, nothing at all (always empty, so the code that
/// keeps it folds away; refused() tells a configuration that gave one).
template <bool Built>
class OrderSlots {
 public:
  explicit OrderSlots(std::span<std::uint16_t> slots) noexcept : slots_(slots) {}
  bool empty() const noexcept { return slots_.empty(); }
  std::size_t size() const noexcept { return slots_.size(); }
  std::size_t size_bytes() const noexcept { return slots_.size_bytes(); }
  std::uint16_t& operator[](std::size_t i) const noexcept { return slots_[i]; }
  bool refused() const noexcept { return false; }

 private:
  std::span<std::uint16_t> slots_;
};
template <>
class OrderSlots<false> {
 public:
  explicit OrderSlots(std::span<std::uint16_t> slots) noexcept : asked_(!slots.empty()) {}
  static constexpr bool empty() noexcept { return true; }
  static constexpr std::size_t size() noexcept { return 0; }
  static constexpr std::size_t size_bytes() noexcept { return 0; }
  std::uint16_t& operator[](std::size_t) const noexcept { return sink_; }  // never reached: empty
  bool refused() const noexcept { return asked_; }

 private:
  bool asked_;
  mutable std::uint16_t sink_ = 0;
};

}  // namespace ferrite
