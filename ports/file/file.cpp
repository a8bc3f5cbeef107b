// The file-image flash: POSIX I/O, NOR rules, durability and the owner lock.
module;
#include "ferrite_modules.hpp"
// POSIX only after the shared prologue (see ferrite_std.hpp on include order).
#include <cerrno>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

module ferrite.file;

namespace ferrite::file {

namespace {

// Large enough to keep syscalls few, small enough for any host stack; a
// multiple of every program unit so chunks never split a unit.
constexpr std::size_t chunk_size = 16 * 1024;
// Attempts to lock a lock file that is not being unlinked under us.
constexpr int lock_attempts = 8;

bool pread_all(int fd, void* buf, std::size_t n, std::uint64_t offset) noexcept {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // an error, or the image is shorter than it was at open
    p += got;
    n -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

bool pwrite_all(int fd, const void* buf, std::size_t n, std::uint64_t offset) noexcept {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t put = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
    offset += static_cast<std::uint64_t>(put);
  }
  return true;
}

// The image never changes size after creation, so data-only sync suffices.
bool data_sync(int fd) noexcept {
#if defined(__linux__)
  return ::fdatasync(fd) == 0;
#else
  return ::fsync(fd) == 0;
#endif
}

// A rename or unlink is durable only once its directory is synced.
bool sync_parent_dir(const std::string& path) noexcept {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  const bool ok = ::fsync(dfd) == 0;
  ::close(dfd);
  return ok;
}

// The pid recorded in a lock file; 0 when there is none or it is garbage.
pid_t parse_pid(const char* text, std::size_t n) noexcept {
  std::int64_t v = 0;
  std::size_t i = 0;
  for (; i < n && text[i] >= '0' && text[i] <= '9'; ++i) {
    v = v * 10 + (text[i] - '0');
    if (v > std::numeric_limits<pid_t>::max()) return 0;
  }
  if (i == 0 || (i < n && text[i] != '\n')) return 0;
  return static_cast<pid_t>(v);
}

bool process_alive(pid_t pid) noexcept {
  // EPERM: it exists but belongs to someone else — still a live owner.
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

struct LockOutcome {
  Errc error = Errc::ok;
  int fd = -1;
  bool took_over_stale = false;
  long stale_owner = 0;
};

// Takes `<image>.lock`: flock() keeps out every other open file description
// (another FileFlash in this process or another process); the pid inside
// tells a crashed owner (dead pid: take over) from a live one that holds no
// flock, e.g. a tool that only writes the pid (busy).
LockOutcome acquire_lock(const std::string& lock_path) noexcept {
  for (int attempt = 0; attempt < lock_attempts; ++attempt) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return {Errc::io};
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const Errc e = errno == EWOULDBLOCK ? Errc::busy : Errc::io;
      ::close(fd);
      return {e};
    }
    // A closing owner unlinks the file while holding the flock; if we locked
    // that unlinked inode, try again with the file now at the path.
    struct stat held, named;
    if (::fstat(fd, &held) != 0 || ::stat(lock_path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      ::close(fd);
      continue;
    }
    char text[32];
    const ssize_t n = ::pread(fd, text, sizeof text, 0);
    const pid_t owner = n > 0 ? parse_pid(text, static_cast<std::size_t>(n)) : 0;
    bool stale = n > 0;  // any leftover content without a live owner is stale
    if (owner > 0 && owner != ::getpid() && process_alive(owner)) {
      ::close(fd);
      return {Errc::busy};
    }
    char pid_text[32];
    const int len = std::snprintf(pid_text, sizeof pid_text, "%ld\n", static_cast<long>(::getpid()));
    if (::ftruncate(fd, 0) != 0 || !pwrite_all(fd, pid_text, static_cast<std::size_t>(len), 0)) {
      ::unlink(lock_path.c_str());
      ::close(fd);
      return {Errc::io};
    }
    return {Errc::ok, fd, stale, static_cast<long>(owner)};
  }
  return {Errc::busy};
}

void release_lock(int fd, const std::string& lock_path) noexcept {
  // Unlink while still holding the flock, so nobody can lock the old inode
  // and believe it owns the image (acquire_lock re-checks the inode).
  ::unlink(lock_path.c_str());
  ::close(fd);
}

// Writes a fully erased image under a temporary name, then renames it into
// place: a crash during creation leaves no short image at `path`.
Errc create_image(const std::string& path, const Geometry& g) noexcept {
  const std::string tmp = path + ".creating";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errc::io;
  std::array<std::byte, chunk_size> blank;
  blank.fill(g.erased_byte());
  bool ok = true;
  for (std::uint64_t off = 0; ok && off < g.total_size(); off += chunk_size) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, g.total_size() - off));
    ok = pwrite_all(fd, blank.data(), n, off);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    ::unlink(tmp.c_str());
    return Errc::io;
  }
  return sync_parent_dir(path) ? Errc::ok : Errc::io;
}

// Opens the image, creating it when allowed; checks it is the right size.
Errc open_image(const std::string& path, const Geometry& g, bool create, int& fd_out) noexcept {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (!create) return Errc::not_found;
    if (const Errc e = create_image(path, g); e != Errc::ok) return e;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) return errno == EISDIR ? Errc::foreign_format : Errc::io;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errc::io;
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != g.total_size()) {
    ::close(fd);
    return Errc::foreign_format;
  }
  fd_out = fd;
  return Errc::ok;
}

}  // namespace

Result<FileFlash> FileFlash::open(std::string_view path, const Geometry& geometry, OpenMode mode) noexcept {
  if (path.empty()) return fail(Errc::invalid_argument);
  FileFlash dev(geometry);
  dev.path_.assign(path.data(), path.size());
  dev.lock_path_.assign(dev.path_).append(".lock");  // (operator+ here crashes g++-12 with modules)
  dev.durability_ = mode.durability;
  const LockOutcome lock = acquire_lock(dev.lock_path_);
  if (lock.error != Errc::ok) return fail(lock.error);
  dev.lock_fd_ = lock.fd;
  dev.took_over_stale_ = lock.took_over_stale;
  if (lock.took_over_stale) {
    char message[512];
    const int n = std::snprintf(message, sizeof message, "file flash %s: took over the stale lock of process %ld",
                                dev.path_.c_str(), lock.stale_owner);
    emit_event(EventLevel::info, std::string_view(message, n > 0 ? std::min<std::size_t>(n, sizeof message - 1) : 0));
  }
  // From here on, dev's destructor releases the lock on every error path.
  if (const Errc e = open_image(dev.path_, geometry, mode.create_if_missing, dev.fd_); e != Errc::ok)
    return fail(e);
  if (mode.check_reprogram && !geometry.reprogram_allowed()) {
    if (const Errc e = dev.load_programmed_map(); e != Errc::ok) return fail(e);
  }
  return Result<FileFlash>(std::move(dev));
}

FileFlash::FileFlash(FileFlash&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      lock_fd_(std::exchange(o.lock_fd_, -1)),
      path_(std::move(o.path_)),
      lock_path_(std::move(o.lock_path_)),
      geometry_(o.geometry_),
      durability_(o.durability_),
      took_over_stale_(o.took_over_stale_),
      dirty_(std::exchange(o.dirty_, false)),
      programmed_(std::move(o.programmed_)),
      stats_(o.stats_) {}

FileFlash& FileFlash::operator=(FileFlash&& o) noexcept {
  if (this != &o) {
    (void)close();
    fd_ = std::exchange(o.fd_, -1);
    lock_fd_ = std::exchange(o.lock_fd_, -1);
    path_ = std::move(o.path_);
    lock_path_ = std::move(o.lock_path_);
    geometry_ = o.geometry_;
    durability_ = o.durability_;
    took_over_stale_ = o.took_over_stale_;
    dirty_ = std::exchange(o.dirty_, false);
    programmed_ = std::move(o.programmed_);
    stats_ = o.stats_;
  }
  return *this;
}

FileFlash::~FileFlash() { (void)close(); }

Status FileFlash::sync() noexcept {
  if (fd_ < 0) return fail(Errc::not_mounted);
  if (!data_sync(fd_)) return fail(Errc::io);
  ++stats_.syncs;
  dirty_ = false;
  return {};
}

Status FileFlash::close() noexcept {
  Status result;
  if (fd_ >= 0) {
    if (dirty_) result = sync();
    ::close(std::exchange(fd_, -1));
  }
  if (lock_fd_ >= 0) release_lock(std::exchange(lock_fd_, -1), lock_path_);
  return result;
}

void FileFlash::submit(FlashRequest& r) noexcept {
  if (fd_ < 0) return r.complete(Errc::not_mounted);
  const std::uint64_t end = std::uint64_t{r.address} + r.length;
  switch (r.kind) {
    case FlashOpKind::read:
      if (end > geometry_.total_size()) return r.complete(Errc::out_of_bounds);
      return r.complete(read(r.address, {r.read_into, r.length}));
    case FlashOpKind::program:
      if (end > geometry_.total_size()) return r.complete(Errc::out_of_bounds);
      if (r.address % geometry_.program_unit() != 0 || r.length % geometry_.program_unit() != 0)
        return r.complete(Errc::misaligned);
      return r.complete(program(r.address, {r.program_from, r.length}));
    case FlashOpKind::erase:
      if (r.sector >= geometry_.sector_count()) return r.complete(Errc::out_of_bounds);
      return r.complete(erase(r.sector));
  }
  r.complete(Errc::invalid_argument);
}

Errc FileFlash::read(std::uint32_t address, std::span<std::byte> out) noexcept {
  if (!out.empty() && !pread_all(fd_, out.data(), out.size(), address)) return Errc::io;
  ++stats_.reads;
  stats_.bytes_read += out.size();
  return Errc::ok;
}

Errc FileFlash::program(std::uint32_t address, std::span<const std::byte> data) noexcept {
  if (const Errc e = check_program(address, data); e != Errc::ok) return e;
  // The check guarantees the stored result (old AND new for ones, OR for
  // zeros) equals `data`, so the data is written as is.
  if (!pwrite_all(fd_, data.data(), data.size(), address)) return Errc::io;
  const std::uint32_t unit = geometry_.program_unit();
  mark_units(address / unit, static_cast<std::uint32_t>(data.size() / unit), true);
  ++stats_.programs;
  stats_.bytes_programmed += data.size();
  return after_write();
}

Errc FileFlash::check_program(std::uint32_t address, std::span<const std::byte> data) noexcept {
  const std::uint32_t unit = geometry_.program_unit();
  if (!programmed_.empty()) {
    for (std::uint32_t u = address / unit, n = 0; n < data.size() / unit; ++u, ++n)
      if (unit_programmed(u)) return Errc::reprogram_forbidden;
  }
  const bool erased_ones = geometry_.erase_value() == EraseValue::ones;
  std::array<std::byte, chunk_size> current;
  for (std::size_t done = 0; done < data.size(); done += chunk_size) {
    const std::size_t n = std::min(chunk_size, data.size() - done);
    if (!pread_all(fd_, current.data(), n, std::uint64_t{address} + done)) return Errc::io;
    for (std::size_t i = 0; i < n; ++i) {
      const std::byte now = current[i], want = data[done + i];
      // A bit may only move away from the erased value.
      const std::byte back = erased_ones ? (want & ~now) : (now & ~want);
      if (back != std::byte{0}) return Errc::bits_not_erased;
    }
  }
  return Errc::ok;
}

Errc FileFlash::erase(std::uint32_t sector) noexcept {
  const std::uint32_t base = geometry_.sector_offset(sector), size = geometry_.sector_size(sector);
  std::array<std::byte, chunk_size> blank;
  blank.fill(geometry_.erased_byte());
  for (std::uint32_t off = 0; off < size; off += chunk_size) {
    const std::size_t n = std::min<std::size_t>(chunk_size, size - off);
    if (!pwrite_all(fd_, blank.data(), n, std::uint64_t{base} + off)) return Errc::io;
  }
  const std::uint32_t unit = geometry_.program_unit();
  mark_units(base / unit, size / unit, false);
  ++stats_.erases;
  return after_write();
}

Errc FileFlash::after_write() noexcept {
  if (durability_ == Durability::explicit_sync) {
    dirty_ = true;
    return Errc::ok;
  }
  // The operation's bytes are already in the file: a failed sync means they
  // may or may not survive a host crash, which the caller must treat as io.
  if (!data_sync(fd_)) return Errc::io;
  ++stats_.syncs;
  return Errc::ok;
}

Errc FileFlash::load_programmed_map() noexcept {
  const std::uint32_t unit = geometry_.program_unit();
  const std::uint32_t units = geometry_.total_size() / unit;
  programmed_.assign((units + 7) / 8, 0);
  std::array<std::byte, chunk_size> buf;
  const std::byte erased = geometry_.erased_byte();
  for (std::uint64_t off = 0; off < geometry_.total_size(); off += chunk_size) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, geometry_.total_size() - off));
    if (!pread_all(fd_, buf.data(), n, off)) return Errc::io;
    for (std::size_t i = 0; i < n; i += unit) {
      const bool blank = std::all_of(buf.begin() + i, buf.begin() + i + unit, [&](std::byte b) { return b == erased; });
      if (!blank) mark_units(static_cast<std::uint32_t>((off + i) / unit), 1, true);
    }
  }
  return Errc::ok;
}

bool FileFlash::unit_programmed(std::uint32_t u) const noexcept {
  return (programmed_[u / 8] >> (u % 8)) & 1u;
}

void FileFlash::mark_units(std::uint32_t first, std::uint32_t count, bool programmed) noexcept {
  if (programmed_.empty()) return;
  for (std::uint32_t u = first; u < first + count; ++u) {
    const auto bit = static_cast<std::uint8_t>(1u << (u % 8));
    if (programmed) programmed_[u / 8] |= bit; else programmed_[u / 8] &= static_cast<std::uint8_t>(~bit);
  }
}

}  // namespace ferrite::file
