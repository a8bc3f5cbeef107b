// ferrite.log:index — the RAM index: what the engine keeps in RAM to find a
// key's latest record without reading the log (docs/FORMAT.md §7). Only
// IndexEntry, the storage a caller supplies, is exported; the rest is the
// engine's own.
module;
#include "ferrite_std.hpp"

export module ferrite.log:index;
import :build;

export namespace ferrite {

/// One key of the RAM index (12 bytes). Storage is supplied by the caller.
/// The key's name and length stay on flash, in the full record that binds
/// it; the entry holds what a lookup needs to find and size the latest
/// record (docs/FORMAT.md §7).
class IndexEntry {
 public:
  /// crc32c of the key as stored.
  std::uint32_t hash() const noexcept { return hash_; }
  /// The slot the key's binding record holds (0 = none).
  std::uint8_t slot() const noexcept { return static_cast<std::uint8_t>((where_ >> 24) & 0x7Fu); }
  /// Length on flash of the key's latest value.
  /// The current key's value size (for a sealed store, the plain value's).
  std::uint32_t value_size() const noexcept { return value_size_; }
  /// Partition offset of the key's latest record (`unit`: the program unit).
  std::uint32_t location(std::uint32_t unit) const noexcept { return (where_ & 0xFFFFFFu) * unit; }
  /// Partition offset of the full record that binds the key (its location
  /// unless the latest record is compact).
  std::uint32_t binding(std::uint32_t unit) const noexcept { return ((where_ & 0xFFFFFFu) - back_) * unit; }

 private:
  friend class RamIndex;
  std::uint32_t hash_ = 0;
  std::uint32_t where_ = 0;         // location in program units (bits 0..23), slot (bits 24..30), typed (bit 31)
  std::uint16_t back_ = 0;          // program units from the binding record to the latest record
  std::uint16_t value_size_ = 0;
};

/// Largest partition an indexed store addresses: 2^24 program units.
inline constexpr std::uint32_t max_index_units = 1u << 24;

}  // namespace ferrite

namespace ferrite {

/// Sealed stores: whether a key's latest record failed authentication
/// (pending: the TAMPERED record that says so is still to be written).
enum class Tamper : std::uint8_t { none, pending, recorded };

/// An index entry with everything spelled out (IndexEntry is its packed form).
struct IndexedKey {
  std::uint32_t hash = 0;
  std::uint32_t location = 0;        // partition offset of the latest record
  std::uint32_t binding = 0;         // partition offset of the full record binding the key
  std::uint32_t binding_word = 0;    // the binding's header word when read (0: not read)
  std::uint32_t binding_crc = 0;     // the binding's checksum when binding_named
  std::uint16_t value_size = 0;      // on flash: a typed value's tag included
  std::uint8_t key_size = 0;         // 0 until read from the binding
  std::uint8_t slot = 0;
  bool typed = false;                // the binding is a TYPED_PUT: the value starts with its tag
  Tamper tamper = Tamper::none;      // sealed: the key's latest record failed authentication
  bool binding_named = false;        // locate read the binding's checksum and key (the one looked up)
};

/// What a lookup found of a key.
/// What a lookup makes of a candidate of the key's hash whose name, read
/// from flash, no longer hashes to it: a name that decayed (a summarized
/// sector's names are not read at mount, FORMAT.md §5.2), most likely this
/// key's. A reader reports it (corrupt, when no other entry is the key); a
/// write and mount replay adopt it as the key's entry, to be superseded, as
/// a full replay would have dropped the record that no longer verifies.
enum class DecayedName : std::uint8_t { report, adopt };

struct Located {
  bool found = false;
  bool decayed = false;              // the entry's binding has a decayed name: write a full record
  std::size_t position = 0;          // index position (indexed mode)
  IndexedKey entry{};
};

/// The RAM index: the caller's IndexEntry storage, sorted by key hash (keys
/// of one hash in insertion order); the slots compact records name (FORMAT.md
/// §3.2); and the key-order permutation (StoreConfig::order), a list of
/// index positions in key order, valid or to be rebuilt. Pure RAM: whatever
/// needs a key's name (which stays on flash) is the Store's.
class RamIndex {
 public:
  static constexpr std::size_t none = 0xFFFFFFFFu;

  RamIndex(std::span<IndexEntry> entries, std::span<std::uint16_t> order) noexcept
      : entries_(entries), order_(order) {}

  /// Whether the store has an index (false: an index-less store).
  bool has_storage() const noexcept { return !entries_.empty(); }
  std::size_t capacity() const noexcept { return entries_.size(); }
  std::uint32_t size() const noexcept { return count_; }
  bool full() const noexcept { return count_ >= entries_.size(); }
  /// Bytes of the caller's storage: entries and permutation.
  std::size_t storage_bytes() const noexcept { return entries_.size_bytes() + order_.size_bytes(); }
  const IndexEntry& operator[](std::size_t position) const noexcept { return entries_[position]; }
  /// Bumped whenever positions shift (insert, remove, clear): a position
  /// remembered under another epoch must be looked up again.
  std::uint32_t epoch() const noexcept { return epoch_; }

  /// The first position whose hash is not below `hash`.
  std::size_t lower_bound(std::uint32_t hash) const noexcept;
  /// The position of the only entry with `hash`; none when no entry or
  /// several have it.
  std::size_t only_with(std::uint32_t hash) const noexcept;
  /// Whether an entry has `hash`.
  bool holds(std::uint32_t hash) const noexcept;
  /// Whether no two entries share a hash (FORMAT.md §2, flag bit 4).
  bool hashes_unique() const noexcept;
  /// The position of the key holding `slot`, or none.
  std::size_t position_of_slot(std::uint8_t slot) const noexcept;

  /// The entry at `position`, its key size unknown (0). `unit`: the program
  /// unit locations count in; `sealed`: the slot field says Tamper.
  IndexedKey unpack(std::size_t position, std::uint32_t unit, bool sealed) const noexcept;
  /// Packs `e` at `position` (callers store only what an IndexEntry can address).
  void store(std::size_t position, const IndexedKey& e, std::uint32_t unit) noexcept;
  /// Inserts `e` after the entries of its hash and returns its position;
  /// the caller checks full() first. A valid permutation keeps every other
  /// key in order, with one rank (its last) still to be placed
  /// (place_in_order).
  std::size_t insert(const IndexedKey& e, std::uint32_t unit) noexcept;
  void remove(std::size_t position) noexcept;
  /// Forgets every key and slot (unmount, format, a remount).
  void clear() noexcept;

  /// The slots of compact records: a free one (0: none left), taken.
  std::uint8_t allocate_slot() noexcept;
  void mark_slot(std::uint8_t slot) noexcept;
  void release_slot(std::uint8_t slot) noexcept;

  /// Whether the store keeps the key-order permutation (and, in a build
  /// without scans, a configuration asked for one: refused).
  bool has_order() const noexcept { return !order_.empty(); }
  bool order_refused() const noexcept { return order_.refused(); }
  std::size_t order_capacity() const noexcept { return order_.size(); }
  /// False in a build without scans, so that code keeping the order folds away.
  bool order_valid() const noexcept { return has_order() && order_valid_; }
  void set_order_valid(bool valid) noexcept { order_valid_ = valid; }
  /// The index position of the key at `rank` in key order.
  std::uint16_t order_at(std::size_t rank) const noexcept { return order_[rank]; }
  /// Puts `position` at `rank` of the sorted ranks [0, count), shifting the
  /// ranks after it.
  void place_in_order(std::size_t rank, std::size_t count, std::size_t position) noexcept;

 private:
  std::span<IndexEntry> entries_;
  OrderSlots<scans_built> order_;
  std::uint32_t count_ = 0;
  std::uint32_t epoch_ = 0;
  std::array<std::uint32_t, 4> slots_used_{};
  bool order_valid_ = false;
};

}  // namespace ferrite
