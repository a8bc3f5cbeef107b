// The image's owner lock, `<image>.lock`, taken the way ferrite.file takes
// it (flock on the file, our pid inside): while a command runs, no
// FileFlash (a simulator, a test rig) writes the image, and two commands
// never interleave a copy and a rename.
#pragma once

namespace ferrite::tool {

class ImageLock {
 public:
  /// Takes the lock of `image`. Errors (usage): busy (another process
  /// holds it), I/O. A directory where the lock file cannot be created
  /// (read-only) yields an unlocked ImageLock when `required` is false.
  static Checked<ImageLock> take(const std::string& image, bool required);

  ImageLock(ImageLock&& other) noexcept;
  ImageLock& operator=(ImageLock&&) = delete;
  ImageLock(const ImageLock&) = delete;
  ~ImageLock();  ///< removes the lock file while still holding it

 private:
  ImageLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace ferrite::tool
