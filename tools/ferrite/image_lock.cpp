// The image's owner lock.
#include <cerrno>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "image_lock.hpp"

namespace ferrite::tool {

namespace {

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

Checked<ImageLock> ImageLock::take(const std::string& image, bool required) {
  const std::string path = image + ".lock";
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (!required && (errno == EACCES || errno == EROFS || errno == EPERM)) return ImageLock(-1, "");
      return usage_error(fmt::format("cannot create the lock {}: {}", path, std::strerror(errno)));
    }
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      ::close(fd);
      return usage_error(fmt::format("the image is in use ({} is held by another process)", path));
    }
    // An owner that closes unlinks the file while holding the flock: then
    // lock the file now at the path instead.
    struct stat held {}, named {};
    if (::fstat(fd, &held) != 0 || ::stat(path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      ::close(fd);
      continue;
    }
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    const long owner = n > 0 ? std::strtol(text, nullptr, 10) : 0;
    if (owner > 0 && owner != ::getpid() && process_alive(owner)) {
      ::close(fd);
      return usage_error(fmt::format("the image is in use ({} names the live process {})", path, owner));
    }
    const std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      ::unlink(path.c_str());
      ::close(fd);
      return usage_error(fmt::format("cannot write the lock {}", path));
    }
    return ImageLock(fd, path);
  }
  return usage_error(fmt::format("the image is in use ({} keeps changing hands)", path));
}

ImageLock::ImageLock(ImageLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

ImageLock::~ImageLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace ferrite::tool
