// Opening an image for a command.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "image_lock.hpp"
#include "opened_store.hpp"
#include "image_session.hpp"

namespace ferrite::tool {

std::vector<OptionSpec> image_option_specs() {
  std::vector<OptionSpec> out{
      {"geometry", "PRESET|SPEC", "the image's geometry (default: detected from its sector headers)"}};
  for (const OptionSpec& o : key_option_specs()) out.push_back(o);
  return out;
}

CheckedDone ImageSession::commit() {
  if (opened)
    if (auto c = opened->close(); !c) return c;
  return workspace->commit();
}

Checked<std::unique_ptr<ImageSession>> open_image(const std::string& path, const ParsedArgs& args, bool mutating,
                                                  bool mount) {
  auto keys = key_options_from(args);
  if (!keys) return keys.error();
  auto s = std::make_unique<ImageSession>();
  s->image = path;
  if (file_exists(path)) {
    auto lock = ImageLock::take(path, mutating);
    if (!lock) return lock.error();
    s->lock.emplace(std::move(*lock));
  }
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  s->bytes = std::move(*bytes);
  auto g = resolve_geometry(s->bytes, args.value("geometry"));
  if (!g) return g.error();
  s->geometry = *g;
  s->headers = headers_of(s->bytes, *g);
  const SectorHeader* head = newest(s->headers);
  if (!head) return usage_error("not a ferrite image: no valid sector header");
  s->newest = *head;
  if (!mount) return s;
  auto w = Workspace::copy_of(path, s->bytes, mutating);
  if (!w) return w.error();
  s->workspace.emplace(std::move(*w));
  auto opened = OpenedStore::mount(s->workspace->path(), *g, s->newest, *keys);
  if (!opened) return opened.error();
  s->opened = std::move(*opened);
  return s;
}

Checked<std::unique_ptr<ImageSession>> create_image(const std::string& path, const Geometry& geometry,
                                                    const KeyOptions& keys) {
  auto s = std::make_unique<ImageSession>();
  s->image = path;
  s->geometry = geometry;
  auto w = Workspace::blank_beside(path, geometry.total_size(), geometry.erased_byte());
  if (!w) return w.error();
  s->workspace.emplace(std::move(*w));
  auto opened = OpenedStore::format(s->workspace->path(), geometry, keys);
  if (!opened) return opened.error();
  s->opened = std::move(*opened);
  return s;
}

ToolError store_error(ImageSession& s, Errc e, std::string_view doing) {
  return ToolError{exit_code_of(e), fmt::format("{}: {}", doing, s.opened->explain(e))};
}

}  // namespace ferrite::tool
