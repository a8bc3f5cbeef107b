// The copy of an image a command works on, so that a failing command never
// modifies the image: a mutating command works on a copy in the image's
// directory and renames it over the image only when everything succeeded;
// a reading command works on a copy in $TMPDIR (mount never writes, but a
// copy makes that a fact of the command, not of the engine).
#pragma once

namespace ferrite::tool {

class Workspace {
 public:
  /// A copy of `bytes` (the image's contents) next to `image` when
  /// `mutating`, else in $TMPDIR (default /tmp).
  static Checked<Workspace> copy_of(const std::string& image, std::span<const std::byte> bytes, bool mutating);
  /// A blank image of `size` bytes of `erased` next to `image` (create).
  static Checked<Workspace> blank_beside(const std::string& image, std::size_t size, std::byte erased);

  Workspace(Workspace&& other) noexcept;
  Workspace& operator=(Workspace&&) = delete;
  Workspace(const Workspace&) = delete;
  ~Workspace();  ///< removes the copy unless it was committed

  const std::string& path() const { return path_; }
  /// Makes the copy durable and renames it over the image.
  CheckedDone commit();

 private:
  Workspace(std::string path, std::string image) : path_(std::move(path)), image_(std::move(image)) {}
  std::string path_;
  std::string image_;
};

}  // namespace ferrite::tool
