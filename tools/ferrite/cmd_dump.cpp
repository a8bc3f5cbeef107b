// dump: every sector and record of an image in log order, without mounting
// it (docs/DUMP.md); the walk and its printing are ferrite::tool::dump.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "geometry_spec.hpp"
#include "image_headers.hpp"
#include "image_lock.hpp"
#include "workspace.hpp"
#include "commands.hpp"
#include "dump.hpp"

namespace ferrite::tool {

namespace {

/// The geometry to walk with. A given one needs only the right size: a
/// returned device may have no valid header left, and dump is how to see
/// what is there. Detection needs headers (resolve_geometry says why not).
Checked<Geometry> dump_geometry(std::span<const std::byte> image, const std::optional<std::string>& given) {
  if (!given) return resolve_geometry(image, given);
  auto g = parse_geometry(*given);
  if (!g) return g.error();
  if (image.size() < g->total_size())
    return damage_error(fmt::format("the image is {} bytes, geometry {} needs {}: the image is truncated",
                                    image.size(), geometry_spec(*g), g->total_size()));
  if (image.size() > g->total_size())
    return usage_error(fmt::format("the image is {} bytes, geometry {} describes {}: geometry mismatch", image.size(),
                                   geometry_spec(*g), g->total_size()));
  return *g;
}

Checked<int> run_dump(const ParsedArgs& args) {
  const std::string& path = args.positionals[0];
  std::optional<ImageLock> lock;
  if (file_exists(path)) {
    auto taken = ImageLock::take(path, false);
    if (!taken) return taken.error();
    lock.emplace(std::move(*taken));
  }
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  auto geometry = dump_geometry(*bytes, args.value("geometry"));
  if (!geometry) return geometry.error();
  // The walk reads a copy, like every reading command: the image itself is
  // only ever read once, above.
  auto copy = Workspace::copy_of(path, *bytes, false);
  if (!copy) return copy.error();
  file::OpenMode mode;
  mode.durability = file::Durability::explicit_sync;
  mode.check_reprogram = false;
  auto device = file::FileFlash::open(copy->path(), *geometry, mode);
  if (!device) return usage_error(fmt::format("cannot open the image copy {}: {}", copy->path(), describe(device.error())));
  Flash flash(*device);
  const int code = dump(*geometry, flash, args.has("json") ? DumpFormat::json : DumpFormat::text, stdout);
  std::fflush(stdout);
  if (code == exit_damaged) fmt::print(stderr, "ferrite: dump: {} has damage (see the records marked bad)\n", path);
  return code;
}

}  // namespace

Command dump_command() {
  return {"dump",
          "IMAGE [--json] [--geometry PRESET|SPEC]",
          "every sector and record in log order, without mounting (post-mortem)",
          "Walks the image sector by sector without mounting it, never writes, needs no key and\n"
          "does not stop at damage: each sector's header, then each record with its offset, form,\n"
          "kind, slot, key, value size, checksum verdict and batch. --json prints the JSON of\n"
          "docs/DUMP.md (tools/ferrite_dump.py, a second decoder, prints the same). With --geometry\n"
          "an image whose headers are all gone is still walked. Exit 0 clean, 1 damage found.",
          {{"geometry", "PRESET|SPEC", "the image's geometry (default: detected from its sector headers)"},
           {"json", "", "print the JSON of docs/DUMP.md instead of a table"}},
          1,
          1,
          run_dump};
}

}  // namespace ferrite::tool
