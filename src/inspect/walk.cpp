// Walking an image without mounting it (docs/FORMAT.md §1-§7, docs/DUMP.md).
// Every read goes through a bounds-checked view: the bytes are the input.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.inspect;

namespace ferrite::inspect {

namespace {

constexpr std::uint32_t header_magic = 0x74526546u;  // "FeRt"
constexpr std::uint32_t marker_magic = 0x78526546u;  // "FeRx"
constexpr std::uint32_t header_bytes = 32;
constexpr std::uint32_t crypto_bytes = 64;
constexpr std::uint32_t marker_bytes = 8;
constexpr std::uint32_t full_head = 8;
constexpr std::uint32_t compact_head = 4;
constexpr std::uint32_t sealing_overhead = 24;  // salt and tag (FORMAT.md §3.4)
constexpr std::uint32_t max_meta_value = 48;
constexpr std::uint32_t max_binding_distance_units = 65535;  // FORMAT.md §7
constexpr std::uint32_t max_sequence = 0xFFFFFF00u;
constexpr std::uint8_t max_slot = 126;

enum Kind : std::uint8_t { put, erase, meta, txn_put, txn_erase, txn_commit, typed_put, tampered };
constexpr std::uint8_t retire = 0;
constexpr std::uint8_t skip = 6;

std::uint32_t le32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(p[i])} << (8 * i);
  return v;
}

std::uint32_t crc_of_u32s(std::initializer_list<std::uint32_t> words, std::uint32_t crc) noexcept {
  for (const std::uint32_t w : words) {
    std::array<std::byte, 4> b{};
    for (int i = 0; i < 4; ++i) b[i] = static_cast<std::byte>(w >> (8 * i));
    crc = crc32c(b, crc);
  }
  return crc;
}

/// `n` bytes of `bytes` from `at`, the missing ones (past the end) erased.
std::vector<std::byte> take(std::span<const std::byte> bytes, std::uint64_t at, std::uint32_t n, std::byte erased) {
  std::vector<std::byte> out(n, erased);
  for (std::uint32_t i = 0; i < n && at + i < bytes.size(); ++i) out[i] = bytes[at + i];
  return out;
}

bool all_equal(std::span<const std::byte> bytes, std::byte value) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [value](std::byte b) { return b == value; });
}

std::uint32_t align_up(std::uint64_t n, std::uint32_t unit) noexcept {
  const std::uint64_t a = (n + unit - 1) / unit * unit;
  return a > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(a);
}

Header parse_header(std::span<const std::byte> block96, const Geometry& g, std::uint32_t geometry_crc) noexcept {
  Header h;
  const std::byte* b = block96.data();
  h.magic = le32(b);
  h.version = static_cast<std::uint8_t>(b[4]);
  h.log2_unit = static_cast<std::uint8_t>(b[5]);
  h.erased = static_cast<std::uint8_t>(b[6]);
  h.flags = static_cast<std::uint8_t>(b[7]);
  h.sequence = le32(b + 8);
  h.tail = le32(b + 12);
  h.erase_count = le32(b + 16);
  h.store_id = le32(b + 20);
  h.geometry_crc = le32(b + 24);
  h.crc = le32(b + 28);
  std::uint32_t crc = crc32c(block96.first(28));
  if (h.flags & 2u) crc = crc32c(block96.subspan(header_bytes, crypto_bytes), crc);
  h.crc_ok = crc == h.crc;
  if (all_equal(block96.first(header_bytes), g.erased_byte())) {
    h.state = HeaderState::blank;
  } else if (h.magic != header_magic || !h.crc_ok) {
    h.state = HeaderState::garbage;
  } else if ((h.version != 1 && h.version != 2) || (h.version == 2 && !(h.flags & 2u)) || h.log2_unit > 5 ||
             (1u << h.log2_unit) != g.program_unit() || std::byte{h.erased} != g.erased_byte() ||
             h.geometry_crc != geometry_crc) {
    h.state = HeaderState::foreign;
  } else if (h.tail > h.sequence || h.sequence == 0 || h.sequence >= max_sequence) {
    h.state = HeaderState::garbage;
  } else {
    h.state = HeaderState::valid;
  }
  return h;
}

struct Binding {
  bool bound = false;
  std::uint32_t offset = 0;
  std::vector<std::byte> key;
  std::uint32_t value_size = 0;
  bool typed = false;
};

/// The outcome of reading one position of a record area.
struct Parsed {
  enum What : std::uint8_t { blank, bad, record } what = bad;
  Damage why = Damage::bad_framing;
  Item item;
};

/// One sector's record area, read as FORMAT.md §3-§4.1 say.
class SectorWalk {
 public:
  SectorWalk(std::span<const std::byte> sector, std::uint32_t sequence, std::uint32_t unit, std::byte erased,
             bool sealed)
      : bytes_(sector), sequence_(sequence), unit_(unit), erased_(erased), sealed_(sealed) {}

  void run(Sector& out) {
    const std::uint32_t end = out.records_end;
    std::uint32_t offset = out.records_start;
    std::uint32_t good_end = offset;
    bool stopped_blank = false;
    while (offset < end) {
      Parsed p = parse(offset, end);
      if (p.what == Parsed::blank) {
        if (all_equal(bytes_.subspan(offset, end - offset), erased_)) {
          stopped_blank = true;
          break;
        }
        open_damage(offset, Damage::blank_unit);
        offset += unit_;
        continue;
      }
      if (p.what == Parsed::bad) {
        open_damage(offset, p.why);
        offset += unit_;
        continue;
      }
      const std::uint8_t kind = p.item.kind;
      if (p.item.form == Form::full && (kind == txn_put || kind == txn_erase || kind == txn_commit)) {
        offset = batch(out, offset, end, std::move(p), good_end);
        continue;
      }
      flush_damage(out, offset);
      if (closes_torn_region(p.item, out.records_start, good_end))
        close_torn_region();
      else
        end_bad_region(out);
      offset += p.item.size;
      good_end = offset;
      apply(p.item);
      out.items.push_back(std::move(p.item));
    }
    flush_damage(out, std::min(offset, end));
    for (const std::size_t i : closed_torn_) out.items[i].torn = true;
    if (in_bad_) {
      for (const std::size_t i : region_) out.items[i].torn = true;
      out.end = EndState::torn;
    } else {
      out.end = stopped_blank || out.records_start >= end ? EndState::blank : EndState::full;
    }
    out.end_offset = good_end;
  }

  /// A sealed sector's end slot, from `at` to the end of the sector.
  std::optional<Item> end_slot(std::uint32_t at) {
    if (at >= bytes_.size() || all_equal(bytes_.subspan(at), erased_)) return std::nullopt;
    const std::uint32_t size = static_cast<std::uint32_t>(bytes_.size());
    Parsed p = parse(at, size);
    if (p.what == Parsed::record) return std::move(p.item);
    Item d;
    d.damage = true;
    d.offset = at;
    d.size = size - at;
    d.why = p.what == Parsed::blank ? Damage::blank_unit : p.why;
    d.torn = true;
    return d;
  }

 private:
  std::uint32_t batch(Sector& out, std::uint32_t offset, std::uint32_t end, Parsed first, std::uint32_t& good_end) {
    // Consecutive TXN_PUT/TXN_DELETE records, then their TXN_COMMIT (§4.1).
    std::vector<Item> members;
    std::uint32_t p = offset, crcs = 0;
    Parsed at = std::move(first);
    for (;;) {
      if (at.what != Parsed::record || at.item.form != Form::full ||
          (at.item.kind != txn_put && at.item.kind != txn_erase))
        break;
      std::array<std::byte, 4> c{};
      for (int i = 0; i < 4; ++i) c[i] = static_cast<std::byte>(at.item.crc >> (8 * i));
      crcs = crc32c(c, crcs);
      p += at.item.size;
      members.push_back(std::move(at.item));
      if (p >= end) {
        at = Parsed{};
        break;
      }
      at = parse(p, end);
    }
    bool committed = false;
    if (at.what == Parsed::record && at.item.form == Form::full && at.item.kind == txn_commit && !members.empty()) {
      // A sealed commit's count and crcs are sealed: the commit that follows
      // the members is taken as theirs.
      committed = sealed_ || (at.item.value.size() == 8 && le32(at.item.value.data()) == members.size() &&
                              le32(at.item.value.data() + 4) == crcs);
    }
    if (committed) {
      flush_damage(out, offset);
      end_bad_region(out);
      for (Item& m : members) {
        m.txn = TxnState::committed;
        m.commit = p;
        apply(m);
        out.items.push_back(std::move(m));
      }
      const std::uint32_t next = p + at.item.size;
      out.items.push_back(std::move(at.item));
      good_end = next;
      return next;
    }
    // Nothing may follow a batch without its commit: a bad region starts
    // where its records end (at the lone commit when it has none).
    if (!members.empty()) {
      flush_damage(out, offset);
      for (Item& m : members) {
        m.txn = TxnState::uncommitted;
        out.items.push_back(std::move(m));
      }
      ++out.uncommitted_batches;
    }
    open_damage(p, Damage::uncommitted_batch);
    return std::max(p, offset + unit_);
  }

  void open_damage(std::uint32_t at, Damage why) {
    in_bad_ = true;
    if (damage_from_ != none) return;
    damage_from_ = at;
    damage_why_ = why;
  }
  void flush_damage(Sector& out, std::uint32_t until) {
    if (damage_from_ == none) return;
    if (until > damage_from_) {
      Item d;
      d.damage = true;
      d.offset = damage_from_;
      d.size = until - damage_from_;
      d.why = damage_why_;
      region_.push_back(out.items.size());
      out.items.push_back(std::move(d));
    }
    damage_from_ = none;
  }
  void end_bad_region(Sector& out) {
    if (in_bad_) ++out.corrupt_runs;
    in_bad_ = false;
    region_.clear();
  }

  /// A SKIP whose `from` lies above the sector's first record position and at
  /// or below the end of the last good record closes the bad region before it as a
  /// torn write (FORMAT.md §3.3). A sealed SKIP's `from` is sealed: without
  /// the key the walk cannot match it, so it reads as a record after damage.
  bool closes_torn_region(const Item& item, std::uint32_t records_start, std::uint32_t good_end) const {
    if (!in_bad_ || sealed_ || item.form != Form::full || item.kind != meta || item.key_field != skip ||
        item.value.size() != 4)
      return false;
    const std::uint32_t from = le32(item.value.data());
    return from > records_start && from <= good_end;
  }
  void close_torn_region() {
    for (const std::size_t i : region_) closed_torn_.push_back(i);
    in_bad_ = false;
    region_.clear();
  }

  void apply(const Item& item) {
    if (item.form != Form::full || item.kind == meta || item.kind == txn_commit) return;
    for (Binding& b : slots_)
      if (b.bound && b.key == item.key) b = Binding{};
    if ((item.kind == put || item.kind == typed_put) && item.slot != 0) {
      Binding& b = slots_[item.slot];
      b.bound = true;
      b.offset = item.offset;
      b.key = item.key;
      b.value_size = item.value_size;
      b.typed = item.kind == typed_put;
    }
  }

  Parsed parse(std::uint32_t offset, std::uint32_t end) const {
    Parsed p;
    const std::uint32_t room = end - offset;
    if (all_equal(bytes_.subspan(offset, std::min(unit_, room)), erased_)) {
      p.what = Parsed::blank;
      return p;
    }
    const auto b0 = static_cast<std::uint8_t>(bytes_[offset]);
    Item& it = p.item;
    it.offset = offset;
    if (b0 >= 1 && b0 <= max_slot) {
      const Binding& b = slots_[b0];
      if (!b.bound || (offset - b.offset) / unit_ > max_binding_distance_units) {
        p.why = Damage::unbound_slot;
        return p;
      }
      const std::uint32_t size = align_up(std::uint64_t{compact_head} + b.value_size, unit_);
      if (size > room) return p;
      std::uint32_t crc = crc32c(b.key);
      crc = crc_of_u32s({sequence_, offset}, crc);
      crc = crc32c(bytes_.subspan(offset, 1), crc);
      crc = crc32c(bytes_.subspan(offset + compact_head, b.value_size), crc);
      it.crc = le32(bytes_.data() + offset) >> 8;
      if ((crc & 0xFFFFFFu) != it.crc) {
        p.why = Damage::crc_mismatch;
        return p;
      }
      it.form = Form::compact;
      it.kind = b.typed ? typed_put : put;
      it.slot = b0;
      it.size = size;
      it.key = b.key;
      it.value_size = b.value_size;
      const auto v = bytes_.subspan(offset + compact_head, b.value_size);
      it.value.assign(v.begin(), v.end());
      it.binding = b.offset;
      p.what = Parsed::record;
      return p;
    }
    if (!(b0 & 0x80u) || b0 == 0xFFu || room < full_head) return p;
    const std::uint32_t w = le32(bytes_.data() + offset);
    const std::uint8_t slot = w & 0x7Fu;
    const std::uint8_t kind = (w >> 8) & 0x7u;
    const std::uint8_t key_field = (w >> 11) & 0x3Fu;
    const std::uint32_t value_size = w >> 17;
    const std::uint32_t sealed_empty = sealed_ ? sealing_overhead : 0;
    std::uint32_t key_size = 0;
    bool framed = true;
    switch (kind) {
      case put:
      case typed_put:
        key_size = key_field + 1u;
        framed = !sealed_ || slot == 0;
        break;
      case txn_put:
        key_size = key_field + 1u;
        framed = slot == 0;
        break;
      case erase:
      case txn_erase:
        key_size = key_field + 1u;
        framed = slot == 0 && value_size == sealed_empty;
        break;
      case tampered:
        key_size = key_field + 1u;
        framed = sealed_ && slot == 0 && value_size == 8 + sealing_overhead;
        break;
      case meta:
        framed = slot == 0 && value_size <= max_meta_value;
        break;
      case txn_commit:
        framed = slot == 0 && key_field == 0 && value_size == 8 + sealed_empty;
        break;
      default:
        framed = false;
    }
    if (!framed) return p;
    const std::uint32_t size = align_up(std::uint64_t{full_head} + key_size + value_size, unit_);
    if (size > room) return p;
    it.crc = le32(bytes_.data() + offset + 4);
    std::uint32_t crc = crc_of_u32s({sequence_, offset}, 0);
    crc = crc32c(bytes_.subspan(offset, 4), crc);
    const auto key = bytes_.subspan(offset + full_head, key_size);
    const auto value = bytes_.subspan(offset + full_head + key_size, value_size);
    crc = crc32c(key, crc);
    crc = crc32c(value, crc);
    if (crc != it.crc) {
      p.why = Damage::crc_mismatch;
      return p;
    }
    if (kind == meta && key_field == retire && !sealed_ && value_size == 4 && le32(value.data()) > sequence_) {
      p.why = Damage::bad_retire;  // a RETIRE names older sectors only (§3.3)
      return p;
    }
    it.form = Form::full;
    it.kind = kind;
    it.key_field = key_field;
    it.slot = slot;
    it.size = size;
    it.key.assign(key.begin(), key.end());
    it.value_size = value_size;
    it.value.assign(value.begin(), value.end());
    p.what = Parsed::record;
    return p;
  }

  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  std::span<const std::byte> bytes_;
  std::uint32_t sequence_;
  std::uint32_t unit_;
  std::byte erased_;
  bool sealed_;
  std::array<Binding, max_slot + 1> slots_{};
  bool in_bad_ = false;
  std::uint32_t damage_from_ = none;
  Damage damage_why_ = Damage::bad_framing;
  std::vector<std::size_t> region_;  // the damage items of the current bad region
  std::vector<std::size_t> closed_torn_;  // damage items of bad regions a SKIP closed
};

}  // namespace

std::uint32_t geometry_crc(const Geometry& geometry) noexcept {
  std::uint32_t crc = 0;
  for (const SectorRun& r : geometry.runs()) crc = crc_of_u32s({r.count, r.size}, crc);
  return crc;
}

bool Image::clean() const noexcept {
  if (!store) return false;
  for (const Sector& s : sectors) {
    if (s.state == SectorState::garbage) return false;
    if (!s.walked) continue;
    if (s.uncommitted_batches > 0 || s.end == EndState::torn || s.corrupt_runs > 0) return false;
    if (s.end_slot && s.end_slot->damage) return false;
  }
  return true;
}

Image walk(const Geometry& g, std::span<const std::byte> image) {
  Image out;
  out.geometry_crc = geometry_crc(g);
  const std::byte erased = g.erased_byte();
  const std::uint32_t unit = g.program_unit();
  // Missing bytes read erased: one owned copy keeps every later read in bounds.
  std::vector<std::byte> padded;
  if (image.size() != g.total_size()) {
    padded = take(image, 0, g.total_size(), erased);
    image = padded;
  }
  const std::uint32_t count = g.sector_count();
  std::vector<Sector> sectors(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Sector& s = sectors[i];
    s.index = i;
    s.address = g.sector_offset(i);
    s.size = g.sector_size(i);
    const auto whole = image.subspan(s.address, s.size);
    s.header = parse_header(take(whole, 0, header_bytes + crypto_bytes, erased), g, out.geometry_crc);
    s.all_erased = all_equal(whole, erased);
  }
  // The store: the one whose sector carries the highest sequence (§1, §5).
  for (const Sector& s : sectors) {
    if (s.header.state != HeaderState::valid) continue;
    if (!out.store || s.header.sequence > out.store->newest_sequence) {
      Store st;
      st.store_id = s.header.store_id;
      st.version = s.header.version;
      st.flags = s.header.flags;
      st.newest_sequence = s.header.sequence;
      st.newest_sector = s.index;
      out.store = st;
    }
  }
  const bool sealed = out.store && out.store->sealed();
  const std::uint32_t marker_at = align_up(header_bytes + (sealed ? crypto_bytes : 0), unit);
  const std::uint32_t records_start = marker_at + align_up(marker_bytes, unit);
  const std::uint32_t end_slot = sealed ? align_up(full_head + 4 + sealing_overhead, unit) : 0;
  std::vector<std::byte> newest_block;
  if (out.store)
    newest_block = take(image, std::uint64_t{sectors[out.store->newest_sector].address} + header_bytes, crypto_bytes,
                        erased);
  std::uint32_t tail = 0;
  for (Sector& s : sectors) {
    const auto whole = image.subspan(s.address, s.size);
    const std::vector<std::byte> marker = take(whole, marker_at, marker_bytes, erased);
    if (all_equal(marker, erased)) {
      s.marker = MarkerState::absent;
    } else {
      const std::uint32_t check = crc_of_u32s({s.header.sequence, s.header.store_id}, 0);
      s.marker = le32(marker.data()) == marker_magic && le32(marker.data() + 4) == check ? MarkerState::valid
                                                                                          : MarkerState::invalid;
    }
    s.records_start = records_start;
    s.records_end = s.size > end_slot ? s.size - end_slot : 0;
    if (s.header.state != HeaderState::valid) {
      s.state = s.header.state == HeaderState::blank ? SectorState::blank : SectorState::garbage;
      continue;
    }
    if (s.header.flags & 2u) {
      const std::vector<std::byte> block = take(whole, header_bytes, crypto_bytes, erased);
      CryptoBlock c;
      c.suite = static_cast<std::uint8_t>(block[0]);
      c.kdf = static_cast<std::uint8_t>(block[1]);
      c.flags = static_cast<std::uint8_t>(block[2]);
      c.construction = static_cast<std::uint8_t>(block[3]);
      c.opslimit = le32(block.data() + 4);
      c.memlimit_kib = le32(block.data() + 8);
      c.crc = le32(block.data() + 60);
      c.crc_ok = crc32c(std::span<const std::byte>(block).first(60)) == c.crc;
      c.same_as_newest = block == newest_block;
      s.crypto = c;
    }
    if (s.header.store_id != out.store->store_id) {
      s.state = SectorState::garbage;  // another store's
      continue;
    }
    tail = std::max(tail, s.header.tail);
    if (s.marker == MarkerState::valid) tail = std::max(tail, s.header.sequence + 1);
    s.walked = true;
    s.end_offset = s.records_start;
    if (s.records_start < s.records_end) {
      // The walk reads a copy of exactly the sector: a read past its end is
      // a read past an allocation, which AddressSanitizer reports.
      const std::vector<std::byte> copy(whole.begin(), whole.end());
      SectorWalk w(copy, s.header.sequence, unit, erased, sealed);
      w.run(s);
      if (sealed) s.end_slot = w.end_slot(s.records_end);
    }
    if (!sealed) {
      for (const Item& it : s.items)
        if (!it.damage && it.form == Form::full && it.kind == meta && it.key_field == retire && it.value.size() == 4)
          tail = std::max(tail, le32(it.value.data()));
    }
  }
  if (out.store) out.store->tail = tail;
  for (Sector& s : sectors)
    if (s.walked) s.state = s.header.sequence >= tail ? SectorState::live : SectorState::retired;
  const auto rank = [](const Sector& s) {
    return s.state == SectorState::live ? 0 : s.state == SectorState::retired ? 1 : 2;
  };
  std::stable_sort(sectors.begin(), sectors.end(), [&](const Sector& a, const Sector& b) {
    const int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb;
    if (ra < 2 && a.header.sequence != b.header.sequence) return a.header.sequence < b.header.sequence;
    return a.index < b.index;
  });
  out.sectors = std::move(sectors);
  return out;
}

Task<Result<std::vector<std::byte>>> read_image(Flash flash) noexcept {
  const Geometry& g = flash.geometry();
  std::vector<std::byte> image(g.total_size());
  for (std::uint32_t i = 0; i < g.sector_count(); ++i) {
    const std::span<std::byte> sector = std::span<std::byte>(image).subspan(g.sector_offset(i), g.sector_size(i));
    FERRITE_CO_TRY(co_await flash.read(g.sector_offset(i), sector));
  }
  co_return image;
}

std::string_view kind_name(std::uint8_t kind) noexcept {
  static constexpr std::array<std::string_view, 8> names = {"PUT",        "DELETE",     "META",      "TXN_PUT",
                                                            "TXN_DELETE", "TXN_COMMIT", "TYPED_PUT", "TAMPERED"};
  return kind < names.size() ? names[kind] : std::string_view{};
}

std::string_view meta_name(std::uint8_t type) noexcept {
  static constexpr std::array<std::string_view, 8> names = {"RETIRE", "ERASED",  "OPEN", "",
                                                            "SUMMARY", "",       "SKIP", "SHARED"};
  return type < names.size() ? names[type] : std::string_view{};
}

std::string_view type_name(std::uint8_t tag) noexcept {
  static constexpr std::array<std::string_view, 14> names = {"unknown", "u8",  "i8",    "u16",  "i16",
                                                             "u32",     "i32", "u64",   "i64",  "float",
                                                             "double",  "bool", "string", "blob"};
  return tag < names.size() ? names[tag] : names[0];
}

std::string_view damage_name(Damage why) noexcept {
  switch (why) {
    case Damage::blank_unit: return "blank_unit";
    case Damage::bad_framing: return "bad_framing";
    case Damage::crc_mismatch: return "crc_mismatch";
    case Damage::unbound_slot: return "unbound_slot";
    case Damage::bad_retire: return "bad_retire";
    case Damage::uncommitted_batch: return "uncommitted_batch";
  }
  return "bad_framing";
}

}  // namespace ferrite::inspect
