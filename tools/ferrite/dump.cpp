// `ferrite dump` (docs/DUMP.md): the walk of ferrite.inspect as JSON or as
// a table.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
import ferrite.inspect;

#include "dump.hpp"

namespace ferrite::tool {

namespace {

namespace in = ferrite::inspect;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string hex_of(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const std::byte b : bytes) {
    s += digits[static_cast<std::uint8_t>(b) >> 4];
    s += digits[static_cast<std::uint8_t>(b) & 15];
  }
  return s;
}

/// The bytes as text when they are all printable ASCII (and not empty).
std::optional<std::string> text_of(std::span<const std::byte> bytes) {
  if (bytes.empty()) return std::nullopt;
  std::string s;
  for (const std::byte b : bytes) {
    const auto c = static_cast<std::uint8_t>(b);
    if (c < 0x20 || c > 0x7E) return std::nullopt;
    s += static_cast<char>(c);
  }
  return s;
}

std::uint32_t le32(const std::vector<std::byte>& v, std::size_t at) {
  std::uint32_t x = 0;
  for (int i = 0; i < 4; ++i) x |= std::uint32_t{static_cast<std::uint8_t>(v[at + i])} << (8 * i);
  return x;
}

constexpr std::uint8_t kind_meta = 2, kind_txn_commit = 5, kind_typed = 6;

std::string_view sector_state_name(in::SectorState s) {
  switch (s) {
    case in::SectorState::live: return "live";
    case in::SectorState::retired: return "retired";
    case in::SectorState::blank: return "blank";
    case in::SectorState::garbage: return "garbage";
  }
  return "garbage";
}
std::string_view header_state_name(in::HeaderState s) {
  switch (s) {
    case in::HeaderState::blank: return "blank";
    case in::HeaderState::garbage: return "garbage";
    case in::HeaderState::foreign: return "foreign";
    case in::HeaderState::valid: return "valid";
  }
  return "garbage";
}
std::string_view marker_name(in::MarkerState s) {
  switch (s) {
    case in::MarkerState::absent: return "absent";
    case in::MarkerState::valid: return "valid";
    case in::MarkerState::invalid: return "invalid";
  }
  return "invalid";
}
std::string_view end_name(in::EndState s) {
  switch (s) {
    case in::EndState::blank: return "blank";
    case in::EndState::torn: return "torn";
    case in::EndState::full: return "full";
  }
  return "torn";
}

struct Json {
  Writer& w;
  void key(std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void str(std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void field(std::string_view k, std::uint64_t v) {
    key(k);
    w.Uint64(v);
  }
  void field(std::string_view k, std::string_view v) {
    key(k);
    str(v);
  }
  void flag(std::string_view k, bool v) {
    key(k);
    w.Bool(v);
  }
  void null(std::string_view k) {
    key(k);
    w.Null();
  }
  void text_or_null(std::string_view k, const std::optional<std::string>& t) {
    if (t) field(k, *t);
    else null(k);
  }
};

/// The plaintext fields of a META or TXN_COMMIT value, when it has the
/// length FORMAT.md gives it.
void write_fields(Json& j, const in::Item& it, bool sealed) {
  j.key("fields");
  const std::vector<std::byte>& v = it.value;
  if (sealed || it.form != in::Form::full) {
    j.w.Null();
    return;
  }
  if (it.kind == kind_meta && it.key_field == 0 && v.size() == 4) {
    j.w.StartObject();
    j.field("tail", le32(v, 0));
    j.w.EndObject();
  } else if (it.kind == kind_meta && it.key_field == 1 && v.size() == 8) {
    j.w.StartObject();
    j.field("sector", le32(v, 0) & 0xFFFFu);
    j.field("reserved", le32(v, 0) >> 16);
    j.field("erase_count", le32(v, 4));
    j.w.EndObject();
  } else if (it.kind == kind_meta && it.key_field == 2 && v.size() == 12) {
    j.w.StartObject();
    j.field("tail", le32(v, 0));
    j.field("previous_sequence", le32(v, 4));
    j.field("previous_end", le32(v, 8));
    j.w.EndObject();
  } else if (it.kind == kind_meta && it.key_field == 6 && v.size() == 4) {
    j.w.StartObject();
    j.field("from", le32(v, 0));
    j.w.EndObject();
  } else if (it.kind == kind_txn_commit && v.size() == 8) {
    j.w.StartObject();
    j.field("count", le32(v, 0));
    j.field("crcs", le32(v, 4));
    j.w.EndObject();
  } else {
    j.w.Null();
  }
}

void write_item(Json& j, const in::Item& it, bool sealed) {
  j.w.StartObject();
  if (it.damage) {
    j.field("type", "damage");
    j.field("offset", it.offset);
    j.field("size", it.size);
    j.field("why", in::damage_name(it.why));
    j.field("verdict", it.torn ? "torn" : "corrupt");
    j.w.EndObject();
    return;
  }
  j.field("type", "record");
  j.field("offset", it.offset);
  j.field("size", it.size);
  j.field("form", it.form == in::Form::full ? "full" : "compact");
  j.field("kind", in::kind_name(it.kind));
  const bool is_meta = it.form == in::Form::full && it.kind == kind_meta;
  if (is_meta) {
    j.field("meta_type", it.key_field);
    const std::string_view name = in::meta_name(it.key_field);
    if (name.empty()) j.null("meta");
    else j.field("meta", name);
  } else {
    j.null("meta_type");
    j.null("meta");
  }
  j.field("slot", it.slot);
  j.field("key_hex", hex_of(it.key));
  j.text_or_null("key_text", text_of(it.key));
  j.field("value_size", it.value_size);
  if (sealed) j.null("value_hex");
  else j.field("value_hex", hex_of(it.value));
  j.flag("sealed", sealed);
  if (it.kind == kind_typed && !sealed && !it.value.empty()) {
    const auto tag = static_cast<std::uint8_t>(it.value[0]);
    j.field("type_tag", tag);
    j.field("type_name", in::type_name(tag));
  } else {
    j.null("type_tag");
    j.null("type_name");
  }
  j.field("crc", it.crc);
  if (it.form == in::Form::compact) j.field("binding", it.binding);
  else j.null("binding");
  if (it.txn == in::TxnState::committed) j.field("txn", it.commit);
  else if (it.txn == in::TxnState::uncommitted) j.field("txn", "uncommitted");
  else j.null("txn");
  write_fields(j, it, sealed);
  j.w.EndObject();
}

void write_sector(Json& j, const in::Sector& s, bool sealed) {
  j.w.StartObject();
  j.field("index", s.index);
  j.field("address", s.address);
  j.field("size", s.size);
  j.field("state", sector_state_name(s.state));
  j.key("header");
  j.w.StartObject();
  const in::Header& h = s.header;
  j.field("state", header_state_name(h.state));
  j.field("magic", h.magic);
  j.field("version", h.version);
  j.field("log2_unit", h.log2_unit);
  j.field("erased", h.erased);
  j.field("flags", h.flags);
  j.field("sequence", h.sequence);
  j.field("tail", h.tail);
  j.field("erase_count", h.erase_count);
  j.field("store_id", h.store_id);
  j.field("geometry_crc", h.geometry_crc);
  j.field("crc", h.crc);
  j.flag("crc_ok", h.crc_ok);
  j.w.EndObject();
  j.key("crypto");
  if (s.crypto) {
    const in::CryptoBlock& c = *s.crypto;
    j.w.StartObject();
    j.field("suite", c.suite);
    j.field("kdf", c.kdf);
    j.field("flags", c.flags);
    j.field("construction", c.construction);
    j.field("opslimit", c.opslimit);
    j.field("memlimit_kib", c.memlimit_kib);
    j.field("crc", c.crc);
    j.flag("crc_ok", c.crc_ok);
    j.flag("same_as_newest", c.same_as_newest);
    j.w.EndObject();
  } else {
    j.w.Null();
  }
  j.field("marker", marker_name(s.marker));
  j.flag("all_erased", s.all_erased);
  j.field("records_start", s.records_start);
  j.field("records_end", s.records_end);
  if (!s.walked) {
    j.null("records");
    j.null("end");
    j.null("end_slot");
    j.w.EndObject();
    return;
  }
  j.key("records");
  j.w.StartArray();
  for (const in::Item& it : s.items) write_item(j, it, sealed);
  j.w.EndArray();
  j.key("end");
  j.w.StartObject();
  j.field("offset", s.end_offset);
  j.field("state", end_name(s.end));
  j.field("corrupt_runs", s.corrupt_runs);
  j.field("uncommitted_batches", s.uncommitted_batches);
  j.w.EndObject();
  j.key("end_slot");
  if (s.end_slot) write_item(j, *s.end_slot, sealed);
  else j.w.Null();
  j.w.EndObject();
}

struct Totals {
  std::uint64_t live = 0, retired = 0, blank = 0, garbage = 0, records = 0, damage = 0, torn = 0, corrupt = 0,
                uncommitted = 0;
};

Totals totals_of(const in::Image& image) {
  Totals t;
  for (const in::Sector& s : image.sectors) {
    t.live += s.state == in::SectorState::live;
    t.retired += s.state == in::SectorState::retired;
    t.blank += s.state == in::SectorState::blank;
    t.garbage += s.state == in::SectorState::garbage;
    for (const in::Item& it : s.items) {
      t.records += !it.damage;
      t.damage += it.damage;
    }
    t.torn += s.walked && s.end == in::EndState::torn;
    t.corrupt += s.corrupt_runs;
    t.uncommitted += s.uncommitted_batches;
  }
  return t;
}

void write_json(const Geometry& g, const in::Image& image, std::FILE* out) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  Json j{w};
  const bool sealed = image.store && image.store->sealed();
  w.StartObject();
  j.field("format", "ferrite-dump");
  j.field("dump_version", 1);
  j.key("geometry");
  w.StartObject();
  j.key("runs");
  w.StartArray();
  for (const SectorRun& r : g.runs()) {
    w.StartObject();
    j.field("count", r.count);
    j.field("size", r.size);
    w.EndObject();
  }
  w.EndArray();
  j.field("unit", g.program_unit());
  j.field("erased", static_cast<std::uint8_t>(g.erased_byte()));
  j.field("size", g.total_size());
  j.field("crc", image.geometry_crc);
  w.EndObject();
  j.key("store");
  if (image.store) {
    const in::Store& st = *image.store;
    w.StartObject();
    j.field("store_id", st.store_id);
    j.field("version", st.version);
    j.field("flags", st.flags);
    j.flag("sealed", st.sealed());
    j.flag("compact", (st.flags & 1u) != 0);
    j.field("newest_sequence", st.newest_sequence);
    j.field("newest_sector", st.newest_sector);
    j.field("tail", st.tail);
    w.EndObject();
  } else {
    w.Null();
  }
  j.key("log_order");
  w.StartArray();
  for (const in::Sector& s : image.sectors) w.Uint64(s.index);
  w.EndArray();
  j.key("sectors");
  w.StartArray();
  for (const in::Sector& s : image.sectors) write_sector(j, s, sealed);
  w.EndArray();
  const Totals t = totals_of(image);
  j.key("summary");
  w.StartObject();
  j.field("sectors", image.sectors.size());
  j.field("live", t.live);
  j.field("retired", t.retired);
  j.field("blank", t.blank);
  j.field("garbage", t.garbage);
  j.field("records", t.records);
  j.field("damage", t.damage);
  j.field("torn", t.torn);
  j.field("corrupt", t.corrupt);
  j.field("uncommitted_batches", t.uncommitted);
  j.flag("clean", image.clean());
  w.EndObject();
  w.EndObject();
  std::fwrite(buffer.GetString(), 1, buffer.GetSize(), out);
  std::fputc('\n', out);
}

std::string shown(std::span<const std::byte> bytes, std::size_t limit) {
  if (auto t = text_of(bytes)) return '"' + (t->size() > limit ? t->substr(0, limit) + "..." : *t) + '"';
  std::string h = hex_of(bytes.first(std::min(bytes.size(), limit / 2)));
  return bytes.size() > limit / 2 ? "0x" + h + "..." : "0x" + h;
}

void write_text(const in::Image& image, std::FILE* out) {
  const bool sealed = image.store && image.store->sealed();
  if (image.store) {
    const in::Store& st = *image.store;
    std::fprintf(out, "store %08x  version %u  flags 0x%x%s  newest sequence %u (sector %u)  tail %u\n", st.store_id,
                 st.version, st.flags, sealed ? " (sealed)" : "", st.newest_sequence, st.newest_sector, st.tail);
  } else {
    std::fprintf(out, "no store: no sector has a valid header\n");
  }
  for (const in::Sector& s : image.sectors) {
    const in::Header& h = s.header;
    std::fprintf(out, "\nsector %u @0x%x (%u bytes): %s, header %s", s.index, s.address, s.size,
                 std::string(sector_state_name(s.state)).c_str(), std::string(header_state_name(h.state)).c_str());
    if (h.state == in::HeaderState::valid)
      std::fprintf(out, ", sequence %u, tail %u, erased %u times, marker %s", h.sequence, h.tail, h.erase_count,
                   std::string(marker_name(s.marker)).c_str());
    if (s.crypto)
      std::fprintf(out, ", crypto suite %u kdf %u flags 0x%x%s", s.crypto->suite, s.crypto->kdf, s.crypto->flags,
                   s.crypto->crc_ok ? "" : " (crc fails)");
    std::fprintf(out, "\n");
    if (!s.walked) continue;
    std::fprintf(out, "  %-7s %-6s %-7s %-12s %-4s %-24s %-6s %s\n", "offset", "size", "form", "kind", "slot", "key",
                 "value", "notes");
    for (const in::Item& it : s.items) {
      if (it.damage) {
        std::fprintf(out, "  %-7u %-6u %-7s %-12s %-4s %-24s %-6s %s\n", it.offset, it.size, "-", "DAMAGE", "-",
                     std::string(in::damage_name(it.why)).c_str(), "-", it.torn ? "torn tail" : "corrupt");
        continue;
      }
      std::string kind(in::kind_name(it.kind));
      if (it.form == in::Form::full && it.kind == kind_meta) {
        const std::string_view m = in::meta_name(it.key_field);
        kind += "(" + (m.empty() ? std::to_string(it.key_field) : std::string(m)) + ")";
      }
      std::string notes;
      if (it.form == in::Form::compact) notes += "binding @" + std::to_string(it.binding) + " ";
      if (it.kind == kind_typed && !sealed && !it.value.empty())
        notes += "type " + std::string(in::type_name(static_cast<std::uint8_t>(it.value[0]))) + " ";
      if (it.txn == in::TxnState::committed) notes += "batch @" + std::to_string(it.commit) + " ";
      if (it.txn == in::TxnState::uncommitted) notes += "batch uncommitted ";
      if (!sealed && !it.value.empty() && it.kind != kind_txn_commit && it.kind != kind_meta)
        notes += "= " + shown(it.value, 32);
      if (sealed) notes += "sealed";
      std::fprintf(out, "  %-7u %-6u %-7s %-12s %-4u %-24s %-6u %s\n", it.offset, it.size,
                   it.form == in::Form::full ? "full" : "compact", kind.c_str(), it.slot,
                   it.key.empty() ? "-" : shown(it.key, 22).c_str(), it.value_size, notes.c_str());
    }
    std::fprintf(out, "  end @%u: %s\n", s.end_offset, std::string(end_name(s.end)).c_str());
    if (s.end_slot)
      std::fprintf(out, "  end slot: %s\n",
                   s.end_slot->damage ? "damaged" : std::string(in::kind_name(s.end_slot->kind)).c_str());
  }
  const Totals t = totals_of(image);
  std::fprintf(out,
               "\n%zu sectors: %llu live, %llu retired, %llu blank, %llu garbage; %llu records, %llu damaged runs "
               "(%llu torn tails, %llu corrupt), %llu uncommitted batches: %s\n",
               image.sectors.size(), static_cast<unsigned long long>(t.live),
               static_cast<unsigned long long>(t.retired), static_cast<unsigned long long>(t.blank),
               static_cast<unsigned long long>(t.garbage), static_cast<unsigned long long>(t.records),
               static_cast<unsigned long long>(t.damage), static_cast<unsigned long long>(t.torn),
               static_cast<unsigned long long>(t.corrupt), static_cast<unsigned long long>(t.uncommitted),
               image.clean() ? "clean" : "damage found");
}

}  // namespace

int dump(const ferrite::Geometry& geometry, ferrite::Flash& flash, DumpFormat format, std::FILE* out) {
  if (geometry.total_size() != flash.geometry().total_size()) {
    std::fprintf(stderr, "dump: the geometry covers %u bytes, the image holds %u\n", geometry.total_size(),
                 flash.geometry().total_size());
    return 2;
  }
  auto bytes = ferrite::sync_wait(in::read_image(flash), flash.loop());
  if (!bytes) {
    std::fprintf(stderr, "dump: reading the image failed: %s\n", std::string(ferrite::name_of(bytes.error())).c_str());
    return 2;
  }
  const in::Image image = in::walk(geometry, *bytes);
  if (format == DumpFormat::json) write_json(geometry, image, out);
  else write_text(image, out);
  return image.clean() ? 0 : 1;
}

}  // namespace ferrite::tool
