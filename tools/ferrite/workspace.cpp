// Private copies of images, committed by rename.
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "workspace.hpp"

namespace ferrite::tool {

namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Creates a unique file from `pattern` (ending in XXXXXX) holding `bytes`.
/// `mode`: the permissions the file gets (mkstemp's are 0600).
Checked<std::string> temporary_with(std::string pattern, std::span<const std::byte> bytes, std::size_t fill_size,
                                    std::byte fill, mode_t mode) {
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) return usage_error(fmt::format("cannot create a temporary file {}: {}", pattern, std::strerror(errno)));
  ::fchmod(fd, mode);
  const auto write_all = [fd](const std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  };
  bool ok = write_all(bytes.data(), bytes.size());
  if (ok && fill_size > 0) {
    const std::vector<std::byte> block(std::min<std::size_t>(fill_size, 1 << 16), fill);
    for (std::size_t left = fill_size; ok && left > 0;) {
      const std::size_t n = std::min(left, block.size());
      ok = write_all(block.data(), n);
      left -= n;
    }
  }
  const int e = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(pattern.c_str());
    return usage_error(fmt::format("cannot write the temporary file {}: {}", pattern, std::strerror(e)));
  }
  return pattern;
}

/// What a new file gets: 0666 less the umask.
mode_t new_file_mode() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666 & ~mask;
}

}  // namespace

Checked<Workspace> Workspace::copy_of(const std::string& image, std::span<const std::byte> bytes, bool mutating) {
  std::string pattern;
  mode_t mode = 0600;
  if (mutating) {
    struct stat st {};
    mode = ::stat(image.c_str(), &st) == 0 ? (st.st_mode & 07777) : new_file_mode();
    pattern = directory_of(image) + "/." + base_of(image) + ".ferrite-XXXXXX";
  } else {
    const char* tmp = std::getenv("TMPDIR");
    pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferrite-" + base_of(image) + "-XXXXXX";
  }
  auto path = temporary_with(pattern, bytes, 0, std::byte{0}, mode);
  if (!path) return path.error();
  return Workspace(*path, mutating ? image : std::string());
}

Checked<Workspace> Workspace::blank_beside(const std::string& image, std::size_t size, std::byte erased) {
  auto path = temporary_with(directory_of(image) + "/." + base_of(image) + ".ferrite-XXXXXX", {}, size, erased,
                             new_file_mode());
  if (!path) return path.error();
  return Workspace(*path, image);
}

Workspace::Workspace(Workspace&& other) noexcept : path_(std::move(other.path_)), image_(std::move(other.image_)) {
  other.path_.clear();
}

Workspace::~Workspace() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

CheckedDone Workspace::commit() {
  if (image_.empty()) return usage_error("internal: a read-only workspace cannot be committed");
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    return usage_error(fmt::format("cannot sync {}: {}", path_, std::strerror(e)));
  }
  ::close(fd);
  if (::rename(path_.c_str(), image_.c_str()) != 0)
    return usage_error(fmt::format("cannot replace {}: {}", image_, std::strerror(errno)));
  path_.clear();
  const int dir = ::open(directory_of(image_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // the rename itself durable; a directory that refuses fsync loses nothing written
    ::close(dir);
  }
  return done();
}

}  // namespace ferrite::tool
