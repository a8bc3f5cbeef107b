// ferrite.file: image creation and checks, NOR rules, persistence, durability
// modes and the owner lock.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
import ferrite.flash;
import ferrite.file;

using ferrite::Errc;
using ferrite::EraseValue;
using ferrite::Flash;
using ferrite::Geometry;
using ferrite::Status;
using ferrite::Task;
using ferrite::file::Durability;
using ferrite::file::FileFlash;
using ferrite::file::OpenMode;

namespace {

// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ferrite-file-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path = p ? p : "";
  }
  ~TempDir() {
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
          const std::string full = path + "/" + name;
          if (::unlink(full.c_str()) != 0) ::rmdir(full.c_str());
        }
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  }
  std::string file(const char* name) const { return path + "/" + name; }
  std::size_t entries() const {
    std::size_t n = 0;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) n += std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..";
      ::closedir(d);
    }
    return n;
  }
};

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

long long size_of(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

std::string slurp(const std::string& p) {
  std::string out;
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

void write_text(const std::string& p, const std::string& text) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  CHECK(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

std::string pid_line(pid_t pid) { return std::to_string(static_cast<long>(pid)) + "\n"; }

Geometry geo(EraseValue ev = EraseValue::ones, bool reprogram = false) {
  return *Geometry::uniform(4, 4096, 4, ev, reprogram);
}

constexpr OpenMode create{.create_if_missing = true};

Task<Status> program_at(Flash f, std::uint32_t a, std::span<const std::byte> d) { co_return co_await f.program(a, d); }
Task<Status> read_at(Flash f, std::uint32_t a, std::span<std::byte> out) { co_return co_await f.read(a, out); }
Task<Status> erase_at(Flash f, std::uint32_t s) { co_return co_await f.erase(s); }

Errc program(FileFlash& dev, std::uint32_t a, std::initializer_list<unsigned> values) {
  std::vector<std::byte> d;
  for (unsigned v : values) d.push_back(std::byte(v));
  return ferrite::sync_wait(program_at(Flash(dev), a, d)).error();
}

std::vector<unsigned> read(FileFlash& dev, std::uint32_t a, std::size_t n) {
  std::vector<std::byte> d(n);
  const Status s = ferrite::sync_wait(read_at(Flash(dev), a, d));
  CHECK(s.has_value());
  std::vector<unsigned> out;
  for (std::byte b : d) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

Errc erase(FileFlash& dev, std::uint32_t s) { return ferrite::sync_wait(erase_at(Flash(dev), s)).error(); }

bool all_bytes_are(FileFlash& dev, unsigned v) {
  const auto all = read(dev, 0, dev.geometry().total_size());
  return std::all_of(all.begin(), all.end(), [&](unsigned b) { return b == v; });
}

}  // namespace

TEST_CASE("opening a missing image without create_if_missing is not_found and leaves nothing", "[file]") {
  TempDir dir;
  auto dev = FileFlash::open(dir.file("img"), geo());
  CHECK(dev.error() == Errc::not_found);
  CHECK(dir.entries() == 0);
  CHECK(FileFlash::open("", geo(), create).error() == Errc::invalid_argument);
}

TEST_CASE("a created image has the geometry's size and is fully erased", "[file]") {
  TempDir dir;
  const std::string img = dir.file("img");
  {
    auto dev = FileFlash::open(img, geo(), create);
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(dev->is_open());
    CHECK(dev->path() == img);
    CHECK(dev->lock_path() == img + ".lock");
    CHECK(dev->geometry() == geo());
    CHECK_FALSE(dev->took_over_stale_lock());
    CHECK(size_of(img) == 4 * 4096);
    CHECK(slurp(img + ".lock") == pid_line(::getpid()));
    CHECK_FALSE(exists(img + ".creating"));
    CHECK(all_bytes_are(*dev, 0xFF));
  }
  CHECK_FALSE(exists(img + ".lock"));  // closing removes the lock
  CHECK(dir.entries() == 1);
  {
    auto zeros = FileFlash::open(dir.file("zeros"), geo(EraseValue::zeros), create);
    CHECK(zeros.has_value());
    if (zeros) CHECK(all_bytes_are(*zeros, 0x00));
  }
}

TEST_CASE("an image of another size or kind is refused as foreign_format", "[file]") {
  TempDir dir;
  const std::string img = dir.file("img");
  write_text(img, std::string(100, 'x'));
  CHECK(FileFlash::open(img, geo(), create).error() == Errc::foreign_format);
  CHECK(slurp(img) == std::string(100, 'x'));  // untouched
  CHECK_FALSE(exists(img + ".lock"));
  {
    auto dev = FileFlash::open(dir.file("good"), geo(), create);
    CHECK(dev.has_value());
  }
  CHECK(FileFlash::open(dir.file("good"), *Geometry::uniform(8, 4096, 4)).error() == Errc::foreign_format);
  CHECK(FileFlash::open(dir.file("good"), *Geometry::uniform(4, 4096, 4)).has_value());
  CHECK(::mkdir(dir.file("adir").c_str(), 0755) == 0);
  CHECK(FileFlash::open(dir.file("adir"), geo()).error() == Errc::foreign_format);
}

TEST_CASE("programs and erases are read back after a reopen", "[file]") {
  TempDir dir;
  const std::string img = dir.file("img");
  {
    auto dev = FileFlash::open(img, geo(), create);
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(program(*dev, 0, {0x12, 0x34, 0x56, 0x78}) == Errc::ok);
    CHECK(program(*dev, 4096, {1, 2, 3, 4, 5, 6, 7, 8}) == Errc::ok);
    CHECK(program(*dev, 3 * 4096 + 4092, {0xA0, 0xA1, 0xA2, 0xA3}) == Errc::ok);
    CHECK(erase(*dev, 1) == Errc::ok);
    CHECK(dev->close().has_value());
  }
  auto dev = FileFlash::open(img, geo());
  CHECK(dev.has_value());
  if (!dev) return;
  CHECK(read(*dev, 0, 5) == std::vector<unsigned>{0x12, 0x34, 0x56, 0x78, 0xFF});
  CHECK(read(*dev, 4096, 8) == std::vector<unsigned>(8, 0xFF));
  CHECK(read(*dev, 3 * 4096 + 4092, 4) == std::vector<unsigned>{0xA0, 0xA1, 0xA2, 0xA3});
}

TEST_CASE("a program that would return a bit to the erased state is refused and writes nothing", "[file]") {
  TempDir dir;
  auto ones = FileFlash::open(dir.file("ones"), geo(EraseValue::ones, true), create);
  CHECK(ones.has_value());
  if (!ones) return;
  CHECK(program(*ones, 0, {0xF0, 0xFF, 0xFF, 0xFF}) == Errc::ok);
  CHECK(program(*ones, 0, {0x0F, 0xFF, 0xFF, 0xFF}) == Errc::bits_not_erased);
  CHECK(read(*ones, 0, 4) == std::vector<unsigned>{0xF0, 0xFF, 0xFF, 0xFF});
  CHECK(program(*ones, 0, {0x30, 0xFF, 0xFF, 0x00}) == Errc::ok);  // only clears bits: allowed here
  CHECK(read(*ones, 0, 4) == std::vector<unsigned>{0x30, 0xFF, 0xFF, 0x00});

  auto zeros = FileFlash::open(dir.file("zeros"), geo(EraseValue::zeros, true), create);
  CHECK(zeros.has_value());
  if (!zeros) return;
  CHECK(program(*zeros, 8, {0x0F, 0, 0, 0}) == Errc::ok);
  CHECK(program(*zeros, 8, {0x01, 0, 0, 0}) == Errc::bits_not_erased);
  CHECK(program(*zeros, 8, {0x3F, 0, 0, 1}) == Errc::ok);
  CHECK(read(*zeros, 8, 4) == std::vector<unsigned>{0x3F, 0, 0, 1});
}

TEST_CASE("re-programming a unit is refused where the geometry forbids it, also after a reopen", "[file]") {
  TempDir dir;
  const std::string img = dir.file("img");
  {
    auto dev = FileFlash::open(img, geo(), create);
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(program(*dev, 0, {0xFF, 0xFF, 0xFF, 0xFE}) == Errc::ok);
    CHECK(program(*dev, 0, {0xFF, 0xFF, 0xFF, 0xFC}) == Errc::reprogram_forbidden);
    CHECK(program(*dev, 4, {0xFF, 0xFF, 0xFF, 0xFF}) == Errc::ok);  // programmed, though it looks erased
    CHECK(program(*dev, 4, {0x00, 0x00, 0x00, 0x00}) == Errc::reprogram_forbidden);
    CHECK(read(*dev, 0, 8) == std::vector<unsigned>{0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF});
    CHECK(erase(*dev, 0) == Errc::ok);
    CHECK(program(*dev, 0, {0x00, 0x00, 0x00, 0x00}) == Errc::ok);
    CHECK(program(*dev, 4096, {0x11, 0x11, 0x11, 0x11}) == Errc::ok);
  }
  {
    auto dev = FileFlash::open(img, geo());
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(program(*dev, 0, {0x00, 0x00, 0x00, 0x00}) == Errc::reprogram_forbidden);
    CHECK(program(*dev, 4096, {0x01, 0x01, 0x01, 0x01}) == Errc::reprogram_forbidden);
    CHECK(program(*dev, 4, {0x00, 0x00, 0x00, 0x00}) == Errc::ok);  // erased since: programmable
  }
  auto lax = FileFlash::open(img, geo(), OpenMode{.check_reprogram = false});
  CHECK(lax.has_value());
  if (!lax) return;
  CHECK(program(*lax, 4096, {0x01, 0x01, 0x01, 0x01}) == Errc::ok);
  CHECK(program(*lax, 4096, {0x10, 0x01, 0x01, 0x01}) == Errc::bits_not_erased);
}

TEST_CASE("a second open of the same image in one process is busy until the first closes", "[file][lock]") {
  TempDir dir;
  const std::string img = dir.file("img");
  auto first = FileFlash::open(img, geo(), create);
  CHECK(first.has_value());
  if (!first) return;
  CHECK(FileFlash::open(img, geo()).error() == Errc::busy);
  CHECK(FileFlash::open(img, geo(), create).error() == Errc::busy);
  CHECK(exists(img + ".lock"));  // the refused opener removed nothing
  CHECK(first->close().has_value());
  CHECK_FALSE(exists(img + ".lock"));
  auto second = FileFlash::open(img, geo());
  CHECK(second.has_value());
  if (second) CHECK_FALSE(second->took_over_stale_lock());
}

TEST_CASE("a lock left by a process that no longer exists is taken over and reported", "[file][lock]") {
  TempDir dir;
  const std::string img = dir.file("img");
  { (void)FileFlash::open(img, geo(), create); }
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  CHECK(child > 0);
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);  // reaped: the pid is now dead
  write_text(img + ".lock", pid_line(child));
  static std::string events;
  events.clear();
  ferrite::set_event_sink({[](void*, ferrite::EventLevel level, std::string_view m) noexcept {
                             events += std::string(ferrite::name_of(level)) + ": " + std::string(m) + "\n";
                           },
                           nullptr, ferrite::EventLevel::info});
  {
    auto dev = FileFlash::open(img, geo());
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(dev->took_over_stale_lock());
    CHECK(slurp(img + ".lock") == pid_line(::getpid()));
  }
  ferrite::set_event_sink({});
  // The takeover is reported as an info event naming the dead owner.
  CHECK(events.find("info: ") == 0);
  CHECK(events.find("took over the stale lock of process " + std::to_string(child)) != std::string::npos);
  CHECK_FALSE(exists(img + ".lock"));
}

TEST_CASE("a lock file naming a live process is respected even without its flock", "[file][lock]") {
  TempDir dir;
  const std::string img = dir.file("img");
  { (void)FileFlash::open(img, geo(), create); }
  write_text(img + ".lock", pid_line(::getppid()));
  CHECK(FileFlash::open(img, geo()).error() == Errc::busy);
  CHECK(slurp(img + ".lock") == pid_line(::getppid()));  // left for its owner
  // Our own pid without our flock is a leftover of this process.
  write_text(img + ".lock", pid_line(::getpid()));
  auto dev = FileFlash::open(img, geo());
  CHECK(dev.has_value());
  if (dev) CHECK(dev->took_over_stale_lock());
}

TEST_CASE("every_op syncs each program and erase; explicit_sync only on sync and close", "[file][durability]") {
  TempDir dir;
  {
    auto dev = FileFlash::open(dir.file("every"), geo(), create);
    CHECK(dev.has_value());
    if (!dev) return;
    CHECK(dev->durability() == Durability::every_op);
    CHECK(program(*dev, 0, {0, 0, 0, 0}) == Errc::ok);
    CHECK(erase(*dev, 0) == Errc::ok);
    (void)read(*dev, 0, 4);
    CHECK(dev->stats().syncs == 2);
  }
  auto dev = FileFlash::open(dir.file("explicit"), geo(), OpenMode{.create_if_missing = true,
                                                                   .durability = Durability::explicit_sync});
  CHECK(dev.has_value());
  if (!dev) return;
  CHECK(dev->durability() == Durability::explicit_sync);
  CHECK(program(*dev, 0, {0, 0, 0, 0}) == Errc::ok);
  CHECK(erase(*dev, 1) == Errc::ok);
  CHECK(dev->stats().syncs == 0);
  CHECK(dev->sync().has_value());
  CHECK(dev->stats().syncs == 1);
  CHECK(program(*dev, 4, {0, 0, 0, 0}) == Errc::ok);
  CHECK(dev->close().has_value());  // syncs what is pending
  CHECK(dev->stats().syncs == 2);
  CHECK(dev->sync().error() == Errc::not_mounted);
}

TEST_CASE("counters track reads, programs and erases", "[file]") {
  TempDir dir;
  auto dev = FileFlash::open(dir.file("img"), geo(), create);
  CHECK(dev.has_value());
  if (!dev) return;
  CHECK(program(*dev, 0, {0, 0, 0, 0, 0, 0, 0, 0}) == Errc::ok);
  (void)read(*dev, 0, 16);
  (void)read(*dev, 100, 3);
  CHECK(erase(*dev, 2) == Errc::ok);
  CHECK(program(*dev, 0, {1, 1, 1, 1}) == Errc::reprogram_forbidden);  // refused: not counted
  const auto& s = dev->stats();
  CHECK(s.programs == 1);
  CHECK(s.bytes_programmed == 8);
  CHECK(s.reads == 2);
  CHECK(s.bytes_read == 19);
  CHECK(s.erases == 1);
}

TEST_CASE("a moved image keeps working and a closed one answers not_mounted", "[file]") {
  TempDir dir;
  const std::string img = dir.file("img");
  auto opened = FileFlash::open(img, geo(), create);
  CHECK(opened.has_value());
  if (!opened) return;
  FileFlash dev = std::move(*opened);
  CHECK_FALSE(opened->is_open());
  CHECK(program(*opened, 0, {0, 0, 0, 0}) == Errc::not_mounted);
  CHECK(program(dev, 0, {0, 0, 0, 0}) == Errc::ok);
  CHECK(exists(img + ".lock"));
  CHECK(dev.close().has_value());
  CHECK(dev.close().has_value());  // closing twice is harmless
  CHECK_FALSE(exists(img + ".lock"));
  CHECK(erase(dev, 0) == Errc::not_mounted);
  // Move-assigning over an open image closes it first.
  auto a = FileFlash::open(dir.file("a"), geo(), create);
  auto b = FileFlash::open(dir.file("b"), geo(), create);
  CHECK(a.has_value());
  CHECK(b.has_value());
  if (!a || !b) return;
  *a = std::move(*b);
  CHECK_FALSE(exists(dir.file("a") + ".lock"));
  CHECK(exists(dir.file("b") + ".lock"));
  CHECK(a->path() == dir.file("b"));
}

TEST_CASE("another process holding the image keeps us out until it dies, then its lock is stale", "[file][lock]") {
  TempDir dir;
  const std::string img = dir.file("img");
  { (void)FileFlash::open(img, geo(), create); }
  int ready[2], quit[2];
  CHECK(::pipe(ready) == 0);
  CHECK(::pipe(quit) == 0);
  const pid_t child = ::fork();
  if (child == 0) {
    // The owner: opens the image, reports, waits, then dies without closing.
    auto dev = FileFlash::open(img, geo());
    const char ok = dev ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    char c;
    (void)!::read(quit[0], &c, 1);
    ::_exit(0);
  }
  CHECK(child > 0);
  char ok = 0;
  CHECK(::read(ready[0], &ok, 1) == 1);
  CHECK(ok == 'y');
  CHECK(FileFlash::open(img, geo()).error() == Errc::busy);
  CHECK(slurp(img + ".lock") == pid_line(child));
  CHECK(::write(quit[1], "q", 1) == 1);
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
  for (int fd : {ready[0], ready[1], quit[0], quit[1]}) ::close(fd);
  auto dev = FileFlash::open(img, geo());
  CHECK(dev.has_value());
  if (dev) CHECK(dev->took_over_stale_lock());
}
