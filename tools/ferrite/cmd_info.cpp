// info: what an image holds, from its headers (no key needed) and, when the
// store can be mounted, from the engine's statistics; geometries: the presets.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "geometry_spec.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

const char* state_name(std::uint8_t state) {
  switch (static_cast<SectorState>(state)) {
    case SectorState::live: return "live";
    case SectorState::retired: return "retired";
    case SectorState::erased: return "erased";
    default: return "free";
  }
}

void print_crypto(const SectorHeader& h) {
  if (!h.sealed()) {
    fmt::print("crypto       none (plain store)\n");
    return;
  }
  const CryptoBlockInfo c = crypto_info(h);
  std::string kdf = c.kdf == 0 ? "raw 32-byte key"
                    : c.kdf == 1 ? fmt::format("passphrase, Argon2id (opslimit {}, memlimit {} KiB)", c.opslimit,
                                               c.memlimit_kib)
                                 : fmt::format("unknown kdf {}", c.kdf);
  fmt::print("crypto       sealed: {}, {}\n", suite_name(c.suite), kdf);
  fmt::print("             key names {}, compression {}, construction {}\n",
             c.hides_keys() ? (c.prefix_rule() ? fmt::format("hidden (plain prefix rule {})", c.prefix_rule())
                                               : std::string("hidden"))
                            : std::string("plain"),
             c.compression() ? "on" : "off", c.construction);
}

Checked<int> run_info(const ParsedArgs& args) {
  auto keys = key_options_from(args);
  if (!keys) return keys.error();
  auto s = open_image(args.positionals[0], args, false, false);
  if (!s) return s.error();
  ImageSession& session = **s;
  const Geometry& g = *session.geometry;
  const SectorHeader& head = session.newest;
  fmt::print("image        {} ({} bytes)\n", session.image, session.bytes.size());
  fmt::print("geometry     {} ({} sectors, program unit {}, erased {:02x})\n", geometry_spec(g), g.sector_count(),
             g.program_unit(), static_cast<unsigned>(g.erased_byte()));
  fmt::print("format       version {}, {} records{}\n", head.version, (head.flags & 1u) ? "compact" : "full",
             (head.flags & 4u) ? ", authenticated log" : "");
  fmt::print("store id     {:#010x}\n", head.store_id);
  print_crypto(head);

  const bool can_mount = !head.sealed() || keys->any();
  if (can_mount) {
    auto w = Workspace::copy_of(session.image, session.bytes, false);
    if (!w) return w.error();
    session.workspace.emplace(std::move(*w));
    auto opened = OpenedStore::mount(session.workspace->path(), g, head, *keys);
    if (!opened) return opened.error();
    session.opened = std::move(*opened);
  }
  fmt::print("sectors\n  {:>3}  {:>8}  {:>7}  {:<8}  {:>8}  {:>11}  {}\n", "#", "offset", "size", "state", "sequence",
             "erase count", "fill");
  for (std::uint32_t i = 0; i < g.sector_count(); ++i) {
    const std::uint32_t off = g.sector_offset(i), size = g.sector_size(i);
    const auto h = read_header(session.bytes, off);
    std::string state, sequence = "-", erases = "-", fill = "-";
    if (h) {
      sequence = fmt::format("{}", h->sequence);
      erases = fmt::format("{}", h->erase_count);
    }
    if (can_mount) {
      const SectorInfo& info = session.store().sectors()[i];
      state = state_name(info.state);
      if (info.state == static_cast<std::uint8_t>(SectorState::live)) {
        fill = fmt::format("{:.1f}% ({} bytes)", 100.0 * info.used_bytes / size, info.used_bytes);
        sequence = fmt::format("{}", info.sequence);
      }
      if (h && h->store_id != head.store_id) state += " (another store's header)";
    } else {
      state = !h ? "no header" : h->store_id == head.store_id ? "header" : "other store";
    }
    fmt::print("  {:>3}  {:>8}  {:>7}  {:<8}  {:>8}  {:>11}  {}\n", i, fmt::format("{:#x}", off), size, state, sequence,
               erases, fill);
  }
  if (!can_mount) {
    fmt::print("keys         (sealed: give --key-file or --passphrase-env for keys, space and damage)\n");
    return exit_ok;
  }
  Store& store = session.store();
  const StoreStats st = store.stats();
  fmt::print("keys         {}{}\n", st.keys, store.hides_key_names() ? " (names hidden)" : "");
  fmt::print("space        live {} bytes, reclaimable {}, free {}, capacity {}\n", st.live_bytes, st.reclaimable_bytes,
             st.free_bytes, st.capacity_bytes);
  fmt::print("value limit  {} bytes (typed values: {})\n", store.value_limit(), store.value_limit() - 1);
  fmt::print("wear         erase counts {}..{}\n", st.erase_min, st.erase_max);
  fmt::print("damage       {} corrupt records, {} torn tails, {} damaged sectors, {} tampered keys{}\n",
             st.corrupt_records, st.torn_tails, st.damaged_sectors, st.tampered_keys,
             st.head_sealed ? " (head sealed: the next write opens a new sector)" : "");
  return exit_ok;
}

Checked<int> run_geometries(const ParsedArgs&) {
  print_presets(stdout);
  fmt::print("\nSPEC: RUN[+RUN...]@UNIT[,erased=00|ff]; RUN is COUNTxSIZE, SIZE in bytes or with k (x1024);\n"
             "UNIT the program unit (1, 2, 4, 8, 16, 32); erased defaults to ff. E.g. 8x4096@4, 4x16k+1x64k@4.\n");
  return exit_ok;
}

}  // namespace

void print_presets(std::FILE* out) {
  for (const GeometryPreset& p : geometry_presets()) fmt::print(out, "  {:<18} {:<14} {}\n", p.name, p.spec, p.about);
}

Command info_command() {
  return {"info", "IMAGE [options]", "geometry, format, crypto suite, sectors, space, keys and damage",
          "Readable without a key: a sealed store's suite and kdf come from its headers; with the key,\n"
          "info also mounts it for keys, space and damage counts.",
          image_option_specs(), 1, 1, run_info};
}

Command geometries_command() {
  return {"geometries", "", "list the geometry presets and the SPEC grammar", "", {}, 0, 0, run_geometries};
}

}  // namespace ferrite::tool
