// Flash: validation before the port, partitions, inline and deferred completion.
#include <catch2/catch.hpp>
import ferrite.flash;
import ferrite.deferred;

using ferrite::Errc;
using ferrite::Flash;
using ferrite::FlashOpKind;
using ferrite::FlashRequest;
using ferrite::Geometry;
using ferrite::RunLoop;
using ferrite::SectorRun;
using ferrite::Status;
using ferrite::Task;
using ferrite::deferred::DeferredFlash;

namespace {

constexpr std::uint32_t KiB = 1024;

// A RAM NOR flash that completes inline and records every request reaching it.
class RecordingFlash final : public ferrite::FlashDevice {
 public:
  struct Seen {
    FlashOpKind kind;
    std::uint32_t address, length, sector;
  };
  explicit RecordingFlash(const Geometry& g) : g_(g), bytes_(g.total_size(), g.erased_byte()) {}
  const Geometry& geometry() const noexcept override { return g_; }
  void submit(FlashRequest& r) noexcept override {
    if (record) seen.push_back({r.kind, r.address, r.length, r.sector});
    switch (r.kind) {
      case FlashOpKind::read: std::memcpy(r.read_into, bytes_.data() + r.address, r.length); break;
      case FlashOpKind::program:
        for (std::uint32_t i = 0; i < r.length; ++i) bytes_[r.address + i] &= r.program_from[i];
        break;
      case FlashOpKind::erase:
        std::fill_n(bytes_.begin() + g_.sector_offset(r.sector), g_.sector_size(r.sector), g_.erased_byte());
        break;
    }
    r.complete(Errc::ok);
  }
  std::byte at(std::uint32_t a) const { return bytes_[a]; }
  bool record = true;
  std::vector<Seen> seen;

 private:
  Geometry g_;
  std::vector<std::byte> bytes_;
};

Geometry uniform(std::uint32_t n, std::uint32_t size, std::uint32_t unit) { return *Geometry::uniform(n, size, unit); }

Task<Status> program_at(Flash f, std::uint32_t a, std::span<const std::byte> d) { co_return co_await f.program(a, d); }
Task<Status> read_at(Flash f, std::uint32_t a, std::span<std::byte> out) { co_return co_await f.read(a, out); }
Task<Status> erase_at(Flash f, std::uint32_t s) { co_return co_await f.erase(s); }

Task<long> read_many(Flash f, long n) {
  std::array<std::byte, 4> buf{};
  long ok = 0;
  for (long i = 0; i < n; ++i) {
    Status s = co_await f.read(static_cast<std::uint32_t>(i % 64) * 4, buf);
    ok += s.has_value() ? 1 : 0;
  }
  co_return ok;
}

Task<void> writer(Flash f, std::vector<int>& trace, int id, std::uint32_t base, int steps) {
  for (int i = 0; i < steps; ++i) {
    const std::array<std::byte, 4> data{std::byte(id), std::byte(i), std::byte{0}, std::byte{0}};
    Status s = co_await f.program(base + static_cast<std::uint32_t>(i) * 4, data);
    CHECK(s.has_value());
    trace.push_back(id);
  }
}

std::vector<std::byte> bytes(std::size_t n, unsigned v) { return std::vector<std::byte>(n, std::byte(v)); }

}  // namespace

TEST_CASE("misaligned and empty programs never reach the device", "[flash][validation]") {
  RecordingFlash dev(uniform(4, KiB, 8));
  Flash f(dev);
  auto eight = bytes(8, 0);
  auto four = bytes(4, 0);
  CHECK(ferrite::sync_wait(program_at(f, 4, eight)).error() == Errc::misaligned);
  CHECK(ferrite::sync_wait(program_at(f, 8, four)).error() == Errc::misaligned);
  CHECK(ferrite::sync_wait(program_at(f, 8, {})).error() == Errc::invalid_argument);
  CHECK(dev.seen.empty());
  CHECK(ferrite::sync_wait(program_at(f, 8, eight)).has_value());
  CHECK(dev.seen.size() == 1);
}

TEST_CASE("out-of-bounds reads, programs and erases never reach the device", "[flash][validation]") {
  RecordingFlash dev(uniform(4, KiB, 4));
  Flash f(dev);
  auto four = bytes(4, 0);
  std::array<std::byte, 8> buf{};
  CHECK(ferrite::sync_wait(read_at(f, 4 * KiB - 4, buf)).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(read_at(f, 4 * KiB + 4, std::span(buf).first(4))).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(read_at(f, 0xFFFFFFF8u, buf)).error() == Errc::out_of_bounds);  // no wrap-around
  CHECK(ferrite::sync_wait(program_at(f, 4 * KiB, four)).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(program_at(f, 0xFFFFFFFCu, four)).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(erase_at(f, 4)).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(erase_at(f, 0xFFFFFFFFu)).error() == Errc::out_of_bounds);
  CHECK(dev.seen.empty());
  // The last bytes are in bounds.
  CHECK(ferrite::sync_wait(read_at(f, 4 * KiB - 8, buf)).has_value());
  CHECK(ferrite::sync_wait(program_at(f, 4 * KiB - 4, four)).has_value());
  CHECK(ferrite::sync_wait(erase_at(f, 3)).has_value());
  CHECK(dev.seen.size() == 3);
}

TEST_CASE("valid requests reach the device with their exact address, length and sector", "[flash]") {
  RecordingFlash dev(uniform(4, KiB, 4));
  Flash f(dev);
  const auto data = bytes(8, 0x5A);
  CHECK(ferrite::sync_wait(program_at(f, 16, data)).has_value());
  std::array<std::byte, 8> back{};
  CHECK(ferrite::sync_wait(read_at(f, 16, back)).has_value());
  CHECK(back[0] == std::byte{0x5A});
  CHECK(back[7] == std::byte{0x5A});
  CHECK(ferrite::sync_wait(erase_at(f, 2)).has_value());
  CHECK(dev.seen.size() == 3);
  CHECK(dev.seen[0].kind == FlashOpKind::program);
  CHECK(dev.seen[0].address == 16);
  CHECK(dev.seen[0].length == 8);
  CHECK(dev.seen[1].kind == FlashOpKind::read);
  CHECK(dev.seen[1].address == 16);
  CHECK(dev.seen[2].kind == FlashOpKind::erase);
  CHECK(dev.seen[2].sector == 2);
  CHECK(dev.seen[2].address == 2 * KiB);
  CHECK(dev.seen[2].length == KiB);
}

TEST_CASE("a partition translates addresses and sector indexes and bounds them", "[flash][partition]") {
  RecordingFlash dev(uniform(6, KiB, 4));
  auto p = Flash::partition(dev, 2, 3);
  CHECK(p.has_value());
  if (!p) return;
  CHECK(p->geometry().sector_count() == 3);
  CHECK(p->geometry().total_size() == 3 * KiB);
  auto four = bytes(4, 0x11);
  std::array<std::byte, 4> buf{};
  CHECK(ferrite::sync_wait(program_at(*p, 0, four)).has_value());
  CHECK(ferrite::sync_wait(erase_at(*p, 1)).has_value());
  CHECK(ferrite::sync_wait(read_at(*p, 3 * KiB - 4, buf)).has_value());
  CHECK(dev.seen.size() == 3);
  CHECK(dev.seen[0].address == 2 * KiB);
  CHECK(dev.at(2 * KiB) == std::byte{0x11});
  CHECK(dev.seen[1].sector == 3);
  CHECK(dev.seen[1].address == 3 * KiB);
  CHECK(dev.seen[1].length == KiB);
  CHECK(dev.seen[2].address == 5 * KiB - 4);
  // The rest of the device is out of the partition's reach.
  CHECK(ferrite::sync_wait(read_at(*p, 3 * KiB, buf)).error() == Errc::out_of_bounds);
  CHECK(ferrite::sync_wait(erase_at(*p, 3)).error() == Errc::out_of_bounds);
  CHECK(dev.seen.size() == 3);
  CHECK(Flash::partition(dev, 5, 2).error() == Errc::out_of_bounds);
  CHECK(Flash::partition(dev, 6, 1).error() == Errc::out_of_bounds);
  CHECK(Flash::partition(dev, 0, 0).error() == Errc::out_of_bounds);
}

TEST_CASE("a partition of a non-uniform device erases the right physical sector", "[flash][partition]") {
  constexpr SectorRun runs[] = {{4, 16 * KiB}, {1, 64 * KiB}, {7, 128 * KiB}};
  RecordingFlash dev(*Geometry::make(runs, 4));
  auto p = Flash::partition(dev, 4, 2);  // the 64 KiB sector and the first 128 KiB one
  CHECK(p.has_value());
  if (!p) return;
  CHECK(p->geometry().sector_size(0) == 64 * KiB);
  CHECK(p->geometry().sector_size(1) == 128 * KiB);
  CHECK(ferrite::sync_wait(erase_at(*p, 1)).has_value());
  CHECK(dev.seen.size() == 1);
  CHECK(dev.seen[0].sector == 5);
  CHECK(dev.seen[0].address == 128 * KiB);
  CHECK(dev.seen[0].length == 128 * KiB);
}

TEST_CASE("a million inline flash completions run in constant stack", "[flash]") {
  RecordingFlash dev(uniform(2, KiB, 4));
  dev.record = false;
  CHECK(ferrite::sync_wait(read_many(Flash(dev), 1'000'000)) == 1'000'000);
}

TEST_CASE("a program on a deferred device really suspends until the loop completes it", "[flash][deferred]") {
  RecordingFlash ram(uniform(2, KiB, 4));
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  dev.set_latency_ticks(1, 3, 1);
  auto data = bytes(4, 0x42);
  Task<Status> t = program_at(Flash(dev, &loop), 8, data);
  t.start();
  CHECK_FALSE(t.done());
  CHECK(dev.in_flight() == 1);
  CHECK(ram.seen.empty());  // the controller has not performed it yet
  CHECK(loop.run_once());
  CHECK(loop.run_once());
  CHECK_FALSE(t.done());
  CHECK(ram.seen.empty());
  CHECK(loop.run_once());  // third tick: performed and completion posted
  CHECK(ram.seen.size() == 1);
  CHECK_FALSE(t.done());  // resumed on the next turn, not inside poll()
  CHECK(loop.run_once());
  CHECK(t.done());
  CHECK(t.take_result().has_value());
  CHECK(ram.at(8) == std::byte{0x42});
  CHECK(dev.in_flight() == 0);
}

TEST_CASE("a deferred operation can be finished by the end-of-operation interrupt", "[flash][deferred]") {
  RecordingFlash ram(uniform(2, KiB, 4));
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  dev.set_latency_ticks(0, 0, 0);  // only the interrupt finishes operations
  Task<Status> t = erase_at(Flash(dev, &loop), 1);
  t.start();
  CHECK_FALSE(loop.run_once());  // nothing progresses by itself
  CHECK_FALSE(loop.run_once());
  CHECK_FALSE(t.done());
  CHECK(dev.on_interrupt());  // what the flash ISR does
  CHECK(ram.seen.size() == 1);
  CHECK_FALSE(dev.on_interrupt());  // a spurious interrupt finds nothing to finish
  CHECK(loop.run_once());
  CHECK(t.done());
  CHECK(t.take_result().has_value());
}

TEST_CASE("several coroutines interleave their flash operations on one loop", "[flash][deferred]") {
  RecordingFlash ram(uniform(2, KiB, 4));
  RunLoop loop;
  DeferredFlash dev(ram, loop);
  Flash f(dev, &loop);
  std::vector<int> trace;
  std::vector<Task<void>> tasks;
  for (int id = 1; id <= 3; ++id) tasks.push_back(writer(f, trace, id, static_cast<std::uint32_t>(id) * 64, 4));
  for (auto& t : tasks) t.start();
  CHECK(dev.max_queue_depth() == 3);
  while (loop.run_once()) {
  }
  for (auto& t : tasks) CHECK(t.done());
  CHECK(trace.size() == 12);
  // Single-channel FIFO controller: each round serves every writer once.
  CHECK(trace == std::vector<int>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  for (std::uint32_t id = 1; id <= 3; ++id)
    for (std::uint32_t i = 0; i < 4; ++i) {
      CHECK(ram.at(id * 64 + i * 4) == std::byte(id));
      CHECK(ram.at(id * 64 + i * 4 + 1) == std::byte(i));
    }
  CHECK(dev.in_flight() == 0);
}
