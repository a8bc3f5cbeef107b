// Sinks and sources of backup streams: a buffer, a host file, a flash
// partition written sequentially.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"

module ferrite.backup;

namespace ferrite {

Task<Status> MemorySink::write(std::span<const std::byte> data) noexcept {
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  co_return Status{};
}

Task<Result<std::size_t>> MemorySource::read(std::span<std::byte> out) noexcept {
  const std::size_t n = std::min(out.size(), bytes_.size() - at_);
  if (n) std::memcpy(out.data(), bytes_.data() + at_, n);
  at_ += n;
  co_return n;
}

FileSink::~FileSink() {
  if (file_) std::fclose(file_);
}

Status FileSink::open(const char* path) noexcept {
  if (file_) std::fclose(file_);
  file_ = std::fopen(path, "wb");
  return file_ ? Status{} : fail(Errc::io);
}

Task<Status> FileSink::write(std::span<const std::byte> data) noexcept {
  if (!file_) co_return fail(Errc::invalid_argument);
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) co_return fail(Errc::io);
  co_return Status{};
}

Task<Status> FileSink::finish() noexcept {
  if (!file_) co_return fail(Errc::invalid_argument);
  const bool ok = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  co_return (ok && closed) ? Status{} : fail(Errc::io);
}

FileSource::~FileSource() {
  if (file_) std::fclose(file_);
}

Status FileSource::open(const char* path) noexcept {
  if (file_) std::fclose(file_);
  file_ = std::fopen(path, "rb");
  return file_ ? Status{} : fail(Errc::not_found);
}

Task<Result<std::size_t>> FileSource::read(std::span<std::byte> out) noexcept {
  if (!file_) co_return fail(Errc::invalid_argument);
  const std::size_t n = std::fread(out.data(), 1, out.size(), file_);
  if (n < out.size() && std::ferror(file_)) co_return fail(Errc::io);
  co_return n;
}

Task<Status> FileSource::rewind() noexcept {
  if (!file_) co_return fail(Errc::invalid_argument);
  co_return std::fseek(file_, 0, SEEK_SET) == 0 ? Status{} : fail(Errc::io);
}

// A partition sink programs whole units only (the flash may forbid a second
// program of a unit), so up to one unit waits in RAM until finish().
Task<Status> FlashSink::program_pending() noexcept {
  const Geometry& g = flash_.geometry();
  const std::uint32_t unit = g.program_unit();
  if (at_ + unit > g.total_size()) co_return fail(Errc::too_large);
  // Erase lazily: a sector is erased the first time the stream reaches it.
  while (erased_to_ <= g.sector_of(at_)) {
    FERRITE_CO_TRY(co_await flash_.erase(erased_to_));
    ++erased_to_;
  }
  FERRITE_CO_TRY(co_await flash_.program(at_, std::span<const std::byte>(unit_.data(), unit)));
  at_ += unit;
  pending_ = 0;
  co_return Status{};
}

Task<Status> FlashSink::write(std::span<const std::byte> data) noexcept {
  const std::uint32_t unit = flash_.geometry().program_unit();
  while (!data.empty()) {
    const std::size_t n = std::min<std::size_t>(unit - pending_, data.size());
    std::memcpy(unit_.data() + pending_, data.data(), n);
    pending_ += static_cast<std::uint32_t>(n);
    data = data.subspan(n);
    if (pending_ == unit) FERRITE_CO_TRY(co_await program_pending());
  }
  co_return Status{};
}

Task<Status> FlashSink::finish() noexcept {
  if (pending_ == 0) co_return Status{};
  const std::uint32_t unit = flash_.geometry().program_unit();
  std::fill(unit_.begin() + pending_, unit_.begin() + unit, flash_.geometry().erased_byte());
  co_return co_await program_pending();
}

Task<Result<std::size_t>> FlashSource::read(std::span<std::byte> out) noexcept {
  const std::uint32_t total = flash_.geometry().total_size();
  const std::size_t n = std::min<std::size_t>(out.size(), total - at_);
  if (n) FERRITE_CO_TRY(co_await flash_.read(at_, out.first(n)));
  at_ += static_cast<std::uint32_t>(n);
  co_return n;
}

}  // namespace ferrite
