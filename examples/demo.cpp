// ferrite-demo — ferrite on a simulated STM32F4 flash (1 MiB: 4 x 16 KiB,
// 1 x 64 KiB, 7 x 128 KiB sectors, 32-bit program unit, no re-programming).
//
// Until the key/value engine lands, the demo uses the flash layer directly:
// it erases the first 16 KiB sector, appends a few CRC-32C-checked records,
// scans them back, shows that bad requests come back as errors, and prints
// what the simulated device did and how long a real STM32F4 would have taken.
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.sim;

namespace {

using ferrite::Errc;
using ferrite::Flash;
using ferrite::Result;
using ferrite::Status;
using ferrite::Task;

// A demo record: key_len u16 | value_len u16 | seq u32 | crc32c u32 | key |
// value | padding to the program unit (left erased). The CRC covers the first
// 8 header bytes, the key and the value.
constexpr std::uint32_t header_size = 12;

struct Record {
  std::string_view key;
  std::string_view value;
};

void put_le(std::byte* p, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get_le(const std::byte* p, int bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::to_integer<std::uint32_t>(p[i]) << (8 * i);
  return v;
}
std::uint32_t round_up(std::uint32_t n, std::uint32_t unit) { return (n + unit - 1) / unit * unit; }

std::uint32_t record_crc(std::span<const std::byte> header8, std::span<const std::byte> body) {
  return ferrite::crc32c(body, ferrite::crc32c(header8));
}

/// Appends one record at `address`; returns the address after it.
Task<Result<std::uint32_t>> append(Flash& flash, std::uint32_t address, std::uint32_t seq, Record r) {
  const std::uint32_t body = static_cast<std::uint32_t>(r.key.size() + r.value.size());
  const std::uint32_t size = round_up(header_size + body, flash.geometry().program_unit());
  if (address + size > flash.geometry().sector_size(0)) co_return ferrite::fail(Errc::no_space);
  std::vector<std::byte> buf(size, flash.geometry().erased_byte());
  put_le(buf.data(), static_cast<std::uint32_t>(r.key.size()), 2);
  put_le(buf.data() + 2, static_cast<std::uint32_t>(r.value.size()), 2);
  put_le(buf.data() + 4, seq, 4);
  std::memcpy(buf.data() + header_size, r.key.data(), r.key.size());
  std::memcpy(buf.data() + header_size + r.key.size(), r.value.data(), r.value.size());
  put_le(buf.data() + 8, record_crc({buf.data(), 8}, {buf.data() + header_size, body}), 4);
  FERRITE_CO_TRY(co_await flash.program(address, buf));
  co_return address + size;
}

/// Reads records from the start of sector 0 until erased space; counts (and
/// prints) them.
Task<Result<std::uint32_t>> scan(Flash& flash, bool print) {
  const std::uint32_t end = flash.geometry().sector_size(0);
  const std::uint32_t unit = flash.geometry().program_unit();
  std::uint32_t address = 0, count = 0;
  std::array<std::byte, header_size> header{};
  while (address + header_size <= end) {
    FERRITE_CO_TRY(co_await flash.read(address, header));
    if (std::all_of(header.begin(), header.end(), [&](std::byte b) { return b == flash.geometry().erased_byte(); }))
      break;  // erased: the end of the log
    const std::uint32_t key_len = get_le(header.data(), 2), value_len = get_le(header.data() + 2, 2);
    // Lengths come from flash: bound them before trusting them.
    if (address + header_size + key_len + value_len > end) co_return ferrite::fail(Errc::corrupt);
    std::vector<std::byte> body(key_len + value_len);
    FERRITE_CO_TRY(co_await flash.read(address + header_size, body));
    if (record_crc({header.data(), 8}, body) != get_le(header.data() + 8, 4)) co_return ferrite::fail(Errc::corrupt);
    const auto* text = reinterpret_cast<const char*>(body.data());
    if (print)
      fmt::print("  @{:#06x} seq {}  {:<16} = {}\n", address, get_le(header.data() + 4, 4),
                 std::string_view(text, key_len), std::string_view(text + key_len, value_len));
    address += round_up(header_size + key_len + value_len, unit);
    ++count;
  }
  co_return count;
}

Task<Status> run(Flash& flash) {
  FERRITE_CO_TRY(co_await flash.erase(0));
  const std::array<Record, 5> records{{
      {"device/name", "greenhouse-7"},
      {"wifi/ssid", "orchard"},
      {"sensor/interval", "30s"},
      {"boot/count", "1"},
      {"boot/count", "2"},
  }};
  std::uint32_t address = 0, seq = 0;
  for (const Record& r : records) {
    ++seq;  // not inside the co_await: clang-16 reports a false -Wunsequenced there
    FERRITE_CO_TRY_ASSIGN(address, co_await append(flash, address, seq, r));
  }
  fmt::print("wrote {} records ({} bytes of sector 0)\n", records.size(), address);
  FERRITE_CO_TRY_ASSIGN(std::uint32_t found, co_await scan(flash, true));
  fmt::print("read back {} records, every CRC-32C checked\n", found);

  // Bad requests are values, not crashes; the stored records are untouched.
  const std::array<std::byte, 4> word{};
  const Status misaligned = co_await flash.program(2, word);
  const Status twice = co_await flash.program(0, word);
  std::array<std::byte, 4> sink{};
  const Status outside = co_await flash.read(flash.geometry().total_size(), sink);
  fmt::print("refused: program at 2 -> {}; program over record 1 -> {}; read past the end -> {}\n",
             ferrite::name_of(misaligned.error()), ferrite::name_of(twice.error()),
             ferrite::name_of(outside.error()));
  if (misaligned.error() != Errc::misaligned || twice.error() != Errc::reprogram_forbidden ||
      outside.error() != Errc::out_of_bounds)
    co_return ferrite::fail(Errc::io);
  FERRITE_CO_TRY_ASSIGN(std::uint32_t again, co_await scan(flash, false));
  if (again != found) co_return ferrite::fail(Errc::corrupt);
  fmt::print("all {} records still read back\n", again);
  co_return Status{};
}

}  // namespace

int main() {
  static constexpr std::array<ferrite::SectorRun, 3> stm32f4{{{4, 16 * 1024}, {1, 64 * 1024}, {7, 128 * 1024}}};
  auto geometry = ferrite::Geometry::make(stm32f4, 4);
  if (!geometry) {
    fmt::print(stderr, "geometry: {}\n", geometry.error());
    return 1;
  }
  ferrite::sim::SimFlash device(*geometry, 1, ferrite::sim::TimingModel::stm32f4());
  Flash flash(device);
  fmt::print("ferrite interface v{} on a simulated STM32F4: {} KiB in {} sectors, {}-byte program unit\n",
             ferrite::interface_version, geometry->total_size() / 1024, geometry->sector_count(),
             geometry->program_unit());

  const Status st = ferrite::sync_wait(run(flash));
  const auto& c = device.counters();
  fmt::print("device: {} reads ({} B), {} programs ({} B), {} erase(s); {:.1f} ms of STM32F4 device time\n",
             c.read_ops, c.bytes_read, c.program_ops, c.bytes_programmed, c.erase_ops, c.device_time_us / 1000.0);
  if (!st) {
    fmt::print(stderr, "demo failed: {} ({})\n", ferrite::name_of(st.error()), st.error());
    return 1;
  }
  fmt::print("demo: ok\n");
  return 0;
}
