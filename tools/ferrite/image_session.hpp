// An image opened for one command: its bytes as read, its geometry, its
// headers, the workspace copy and the mounted store.
#pragma once

namespace ferrite::tool {

struct ImageSession {
  std::optional<ImageLock> lock;     ///< held from the first read to the last write
  std::string image;                 ///< the path the user gave
  std::vector<std::byte> bytes;      ///< the image as read before anything ran
  std::optional<Geometry> geometry;
  std::vector<SectorHeader> headers;
  SectorHeader newest{};
  std::optional<Workspace> workspace;
  std::unique_ptr<OpenedStore> opened;

  Store& store() { return opened->store(); }
  /// Syncs the store's copy and renames it over the image (mutating commands).
  CheckedDone commit();
};

/// The options every command that opens an image takes: --geometry and the key options.
std::vector<OptionSpec> image_option_specs();

/// Reads `path`, resolves its geometry (--geometry or detection) and, when
/// `mount`, mounts a copy of it (next to it when `mutating`).
Checked<std::unique_ptr<ImageSession>> open_image(const std::string& path, const ParsedArgs& args, bool mutating,
                                                  bool mount = true);

/// A session on a new image: a blank copy beside `path` (renamed over it by
/// commit()) formatted with `geometry` and `keys` (create, restore).
Checked<std::unique_ptr<ImageSession>> create_image(const std::string& path, const Geometry& geometry,
                                                    const KeyOptions& keys);

/// An error of the mounted store as a ToolError (exit code by kind).
ToolError store_error(ImageSession& s, Errc e, std::string_view doing);

}  // namespace ferrite::tool
