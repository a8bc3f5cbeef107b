// create: a new image, formatted and filled from CSV or JSON.
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
#include "values.hpp"
#include "input_records.hpp"
#include "store_writes.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

Checked<KdfCost> parse_kdf_cost(std::string_view text) {
  const auto comma = text.find(',');
  KdfCost cost;
  const auto number = [](std::string_view s, std::uint32_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
  };
  if (comma == std::string_view::npos || !number(text.substr(0, comma), cost.opslimit) ||
      !number(text.substr(comma + 1), cost.memlimit_kib))
    return usage_error(fmt::format("--kdf-cost '{}' is not OPS,MEMORY_KIB (e.g. 3,65536)", text));
  return cost;
}

Checked<int> run_create(const ParsedArgs& args) {
  const std::string& image = args.positionals[0];
  const auto spec = args.value("geometry");
  if (!spec) return usage_error("--geometry PRESET|SPEC is required (ferrite geometries lists the presets)");
  auto geometry = parse_geometry(*spec);
  if (!geometry) return geometry.error();
  auto keys = key_options_from(args);
  if (!keys) return keys.error();
  keys->hide_keys = args.has("hide-keys");
  if (const auto cost = args.value("kdf-cost")) {
    if (!keys->passphrase_env) return usage_error("--kdf-cost needs --passphrase-env");
    auto c = parse_kdf_cost(*cost);
    if (!c) return c.error();
    keys->kdf_cost = *c;
  }
  if (file_exists(image) && !args.has("force"))
    return usage_error(fmt::format("{} exists (--force replaces it)", image));
  auto lock = ImageLock::take(image, true);
  if (!lock) return lock.error();
  std::vector<InputRecord> records;
  const auto from = args.value("from");
  if (from) {
    auto r = read_records(*from);
    if (!r) return r.error();
    records = std::move(*r);
  }
  auto created = create_image(image, *geometry, *keys);
  if (!created) return created.error();
  ImageSession& session = **created;
  if (auto written = write_records(session, records, from ? *from : std::string()); !written)
    return written.error();
  if (auto c = session.commit(); !c) return c.error();
  return exit_ok;
}

}  // namespace

Command create_command() {
  std::vector<OptionSpec> options{
      {"geometry", "PRESET|SPEC", "the flash layout (required)"},
      {"from", "FILE", "keys and values to store: FILE.json (export format) or FILE.csv (nvs_partition_gen)"},
  };
  for (const OptionSpec& o : key_option_specs()) options.push_back(o);
  options.push_back({"hide-keys", "", "sealed: store keyed hashes of key names, never the names"});
  options.push_back({"kdf-cost", "OPS,KIB", "with --passphrase-env: Argon2id passes and memory (default 3,65536)"});
  options.push_back({"force", "", "replace IMAGE when it exists"});
  return {"create", "IMAGE --geometry PRESET|SPEC [options]", "format a new image, optionally filled from CSV or JSON",
          "The image is written under a temporary name and renamed into place only when every key\n"
          "was stored: a bad line, a value too large or a full store leaves no image behind.\n"
          "With --key-file or --passphrase-env the store is sealed (XChaCha20-Poly1305).",
          options, 1, 1, run_create};
}

}  // namespace ferrite::tool
