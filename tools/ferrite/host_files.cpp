// Whole-file reads and writes for the ferrite command.
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"

namespace ferrite::tool {

Checked<std::vector<std::byte>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return ToolError{e == ENOENT ? exit_damaged : exit_usage, fmt::format("{}: {}", path, std::strerror(e))};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return usage_error(fmt::format("{}: not a regular file", path));
  }
  std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return usage_error(fmt::format("{}: read failed: {}", path, n == 0 ? "file shrank" : std::strerror(e)));
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return out;
}

CheckedDone write_file(const std::string& path, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return usage_error(fmt::format("{}: {}", path, std::strerror(errno)));
  std::size_t put = 0;
  while (put < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + put, bytes.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return usage_error(fmt::format("{}: write failed: {}", path, std::strerror(e)));
    }
    put += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return usage_error(fmt::format("{}: {}", path, std::strerror(errno)));
  return done();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace ferrite::tool
