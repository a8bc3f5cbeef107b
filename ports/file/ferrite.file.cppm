// ferrite.file — a flash image in a host file (POSIX).
//
// The image is exactly geometry.total_size() bytes, byte i of the file being
// flash address i. Operations complete inline with pread/pwrite and obey the
// same physical rules as NOR flash, so an engine that runs on the image runs
// on the chip. One process at a time: the image is guarded by `<path>.lock`,
// a file holding the owner's pid and held with flock().
module;
#include "ferrite_std.hpp"

export module ferrite.file;
export import ferrite.flash;

export namespace ferrite::file {

/// When completed operations reach stable storage.
///  * every_op: each program and erase is made durable (fdatasync) before it
///    completes, so an OS crash or power cut of the host behaves like a cut on
///    the chip: every completed operation survives.
///  * explicit_sync: nothing is forced until sync() or close(). A killed
///    process still loses nothing (the data is in the page cache), but an OS
///    crash may lose or reorder any unsynced operation, which no flash chip
///    does; for benchmarks and tests, not for data that matters.
enum class Durability : std::uint8_t { every_op, explicit_sync };

struct OpenMode {
  /// Create a blank (fully erased) image when `path` does not exist.
  bool create_if_missing = false;
  Durability durability = Durability::every_op;
  /// On a geometry that forbids re-programming, refuse a program of a unit
  /// already programmed since its sector's erase (Errc::reprogram_forbidden),
  /// as ECC flash does. Costs one bit of RAM per program unit. Across a
  /// reopen a unit counts as programmed when it differs from the erased value
  /// (a unit programmed with all-erased data is forgotten: a miss, never a
  /// false error).
  bool check_reprogram = true;
};

/// Counters since open().
struct FileStats {
  std::uint64_t reads = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t programs = 0;
  std::uint64_t bytes_programmed = 0;
  std::uint64_t erases = 0;
  std::uint64_t syncs = 0;
};

/// A flash image file. Move-only owner of the image and its lock; moving is
/// for getting it out of the Result of open(): Flash views keep a pointer to
/// the device, so do not move it once a view exists.
///
/// Rules enforced per request, nothing written when one is broken:
/// bits_not_erased (a program would move a bit back to its erased state),
/// reprogram_forbidden (see OpenMode::check_reprogram), out_of_bounds (a
/// request past the image, for callers that bypass Flash's validation).
/// A host I/O failure is Errc::io; a closed (moved-from) device answers
/// Errc::not_mounted.
///
/// Every request completes inside submit(), so no coroutine is ever
/// suspended on this device and destroying one cancels nothing. A process
/// killed mid-operation leaves that one request's bytes partly written,
/// which is what the flash contract allows for a cut.
class FileFlash final : public FlashDevice {
 public:
  /// Opens (or creates) the image at `path` and takes its lock.
  /// A created image is written under a temporary name, synced and renamed,
  /// so a crash during creation never leaves a short image behind.
  /// Errors: busy (the lock is held by another FileFlash, in this process or
  /// another, or `<path>.lock` names a live process), not_found (no image
  /// and !create_if_missing), foreign_format (the file is not a regular file
  /// of exactly geometry.total_size() bytes), io.
  /// A lock left by a process that no longer exists is taken over:
  /// took_over_stale_lock() then returns true so the caller can log it.
  [[nodiscard]] static Result<FileFlash> open(std::string_view path, const Geometry& geometry,
                                              OpenMode mode = {}) noexcept;

  FileFlash(FileFlash&& other) noexcept;
  FileFlash& operator=(FileFlash&& other) noexcept;
  FileFlash(const FileFlash&) = delete;
  FileFlash& operator=(const FileFlash&) = delete;
  /// Closes as close() does, ignoring its result.
  ~FileFlash();

  const Geometry& geometry() const noexcept override { return geometry_; }
  /// Performs the request and completes it inline.
  void submit(FlashRequest& request) noexcept override;

  /// Makes every completed operation durable. Errors: io, not_mounted.
  [[nodiscard]] Status sync() noexcept;
  /// Syncs, closes the image, then removes and releases the lock. Afterwards
  /// the device answers not_mounted. Errors: io (from the final sync; the
  /// image is closed and the lock released all the same).
  [[nodiscard]] Status close() noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  bool took_over_stale_lock() const noexcept { return took_over_stale_; }
  Durability durability() const noexcept { return durability_; }
  const FileStats& stats() const noexcept { return stats_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& lock_path() const noexcept { return lock_path_; }

 private:
  explicit FileFlash(const Geometry& g) noexcept : geometry_(g) {}
  Errc read(std::uint32_t address, std::span<std::byte> out) noexcept;
  Errc program(std::uint32_t address, std::span<const std::byte> data) noexcept;
  Errc erase(std::uint32_t sector) noexcept;
  Errc check_program(std::uint32_t address, std::span<const std::byte> data) noexcept;
  Errc after_write() noexcept;
  Errc load_programmed_map() noexcept;
  bool unit_programmed(std::uint32_t unit) const noexcept;
  void mark_units(std::uint32_t first_unit, std::uint32_t count, bool programmed) noexcept;

  int fd_ = -1;
  int lock_fd_ = -1;
  std::string path_;
  std::string lock_path_;
  Geometry geometry_;
  Durability durability_ = Durability::every_op;
  bool took_over_stale_ = false;
  bool dirty_ = false;
  std::vector<std::uint8_t> programmed_;  // one bit per program unit; empty when not checked
  FileStats stats_{};
};

}  // namespace ferrite::file
