// ferrite.inspect — reading a ferrite.log image without mounting it: every
// sector's header, retire marker and crypto block, and every record of the
// sectors of the store in the order they were written, with what verifies
// and what does not (docs/FORMAT.md §1-§7, docs/DUMP.md).
//
// For post-mortems on hosts: a walk never changes the flash, never needs a
// key, and never stops at damage. It parses bytes only, so any input, however
// broken, gives a walk: nothing is read outside the image. Values and names
// of a sealed store stay as their stored bytes. Host only (it allocates);
// firmware never links it.
module;
#include "ferrite_std.hpp"

export module ferrite.inspect;
export import ferrite.flash;

export namespace ferrite::inspect {

/// What a sector's first 32 bytes are (FORMAT.md §2, §5 step 1).
enum class HeaderState : std::uint8_t {
  blank,    ///< every byte reads the erased value
  garbage,  ///< no magic, a crc that fails, or fields no writer produces
  foreign,  ///< a header, but of another version, unit, erased value or geometry
  valid,
};
/// A sector's place in the store (FORMAT.md §1), decided from the headers,
/// the retire markers and the verified RETIRE records alone.
enum class SectorState : std::uint8_t { live, retired, blank, garbage };
enum class MarkerState : std::uint8_t { absent, valid, invalid };
enum class Form : std::uint8_t { full, compact };
/// Why the first position of a damaged run holds no record.
enum class Damage : std::uint8_t {
  blank_unit,         ///< a unit that reads erased with written bytes after it
  bad_framing,        ///< not a record this format writes (byte 0, kind, lengths, size)
  crc_mismatch,       ///< framed right, checksum fails
  unbound_slot,       ///< compact record without a binding in its sector
  bad_retire,         ///< a RETIRE naming a tail above its own sector
  uncommitted_batch,  ///< what follows batch records without their commit
};
/// How a sector's record area ends.
enum class EndState : std::uint8_t { blank, torn, full };
enum class TxnState : std::uint8_t { none, committed, uncommitted };

struct Header {
  HeaderState state = HeaderState::blank;
  std::uint32_t magic = 0;
  std::uint8_t version = 0;
  std::uint8_t log2_unit = 0;
  std::uint8_t erased = 0;
  std::uint8_t flags = 0;
  std::uint32_t sequence = 0;
  std::uint32_t tail = 0;
  std::uint32_t erase_count = 0;
  std::uint32_t store_id = 0;
  std::uint32_t geometry_crc = 0;
  std::uint32_t crc = 0;
  bool crc_ok = false;
};

/// The 64-byte crypto block of a sealed store's sector (FORMAT.md §2.2).
struct CryptoBlock {
  std::uint8_t suite = 0;
  std::uint8_t kdf = 0;
  std::uint8_t flags = 0;
  std::uint8_t construction = 0;
  std::uint32_t opslimit = 0;
  std::uint32_t memlimit_kib = 0;
  std::uint32_t crc = 0;
  bool crc_ok = false;
  bool same_as_newest = false;  ///< byte for byte the block of the store's newest header
};

/// One entry of a sector's record area: a record whose checksum verifies,
/// or a run of bytes that holds none.
struct Item {
  bool damage = false;
  std::uint32_t offset = 0;  ///< in the sector
  std::uint32_t size = 0;
  // Damage runs:
  Damage why = Damage::bad_framing;
  bool torn = false;  ///< the damage runs to the end of the record area
  // Records:
  Form form = Form::full;
  std::uint8_t kind = 0;       ///< FORMAT.md §3.1 kinds; compact: PUT or TYPED_PUT
  std::uint8_t key_field = 0;  ///< bits 11..16 of the header word (META: the meta type)
  std::uint8_t slot = 0;
  std::vector<std::byte> key;  ///< as stored; compact: the binding's
  std::uint32_t value_size = 0;
  std::vector<std::byte> value;  ///< the value field as stored (sealed bytes in a sealed store)
  std::uint32_t crc = 0;         ///< stored crc (compact: the crc24)
  std::uint32_t binding = 0;     ///< compact: offset of the binding record
  TxnState txn = TxnState::none;
  std::uint32_t commit = 0;  ///< TXN_PUT/TXN_DELETE of a committed batch: offset of its TXN_COMMIT
};

struct Sector {
  std::uint32_t index = 0;
  std::uint32_t address = 0;
  std::uint32_t size = 0;
  SectorState state = SectorState::garbage;
  Header header{};
  std::optional<CryptoBlock> crypto;  ///< sectors of a sealed store with a valid header
  MarkerState marker = MarkerState::absent;
  bool all_erased = false;
  std::uint32_t records_start = 0;
  std::uint32_t records_end = 0;
  bool walked = false;  ///< the sectors of the store (live and retired) are walked
  std::vector<Item> items;
  std::uint32_t end_offset = 0;  ///< just past the last verified record or committed batch
  EndState end = EndState::blank;
  std::optional<Item> end_slot;  ///< sealed stores: the end slot, when not blank
  std::uint32_t corrupt_runs = 0;   ///< damaged runs a verified record follows
  std::uint32_t uncommitted_batches = 0;
};

struct Store {
  std::uint32_t store_id = 0;
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  std::uint32_t newest_sequence = 0;
  std::uint32_t newest_sector = 0;
  std::uint32_t tail = 0;
  bool sealed() const noexcept { return (flags & 2u) != 0; }
};

struct Image {
  std::uint32_t geometry_crc = 0;
  std::optional<Store> store;       ///< none when no sector has a valid header
  std::vector<Sector> sectors;      ///< in log order: live by sequence, retired by sequence, then the others
  /// Damage found: a damaged run, an uncommitted batch or a torn end slot in
  /// a walked sector, a garbage sector, or no store at all.
  bool clean() const noexcept;
};

/// crc32c of the partition's sector layout (FORMAT.md §2, `geometry`).
std::uint32_t geometry_crc(const Geometry& geometry) noexcept;

/// Walks an image of `geometry` held in memory. An image whose size is not
/// the geometry's is read as far as it goes: missing bytes read erased.
Image walk(const Geometry& geometry, std::span<const std::byte> image);

/// Reads every sector of `flash` into memory, sector by sector (no mount).
/// Errors: the flash's read errors.
Task<Result<std::vector<std::byte>>> read_image(Flash flash) noexcept;

/// FORMAT.md names: "PUT", "DELETE", "META", ...; "RETIRE", "ERASED",
/// "OPEN" or "" for other meta types; §3.5's type names or "unknown".
std::string_view kind_name(std::uint8_t kind) noexcept;
std::string_view meta_name(std::uint8_t type) noexcept;
std::string_view type_name(std::uint8_t tag) noexcept;
std::string_view damage_name(Damage why) noexcept;

}  // namespace ferrite::inspect
