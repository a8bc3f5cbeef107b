// libFuzzer target: the input is a flash image. It is loaded into a SimFlash
// of a fixed geometry (3 x 512 bytes, 4-byte program unit), mounted, and a
// store that mounts is scanned, read and written to, then rebooted.
//
// Input layout: byte 0 picks the store configuration, byte 1 the checksum
// repair, the rest is the image (cut or padded with erased bytes to 1536).
// With repair on, the harness rewrites the header and record checksums it
// can find (docs/FORMAT.md) so that the fuzzer gets past the checksums to
// the logic behind them.
//
// Always a finding: a crash, a sanitizer report, a loop (the flash
// operation budget runs out). With FERRITE_FUZZ_STRICT=1 also: a mount error
// outside the documented set, a rule error (reprogram_forbidden,
// bits_not_erased, ...) from any call, a program aimed at a unit that is not
// erased, a get returning bytes that are not in the image, an acknowledged
// write that does not read back before or after a reboot.
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_mount
//   build-fuzz/test/fuzz/fuzz_mount -max_total_time=60 corpus/
//
// (-Dcpp_args=-fsanitize=fuzzer-no-link instruments the engine itself for
// coverage; without it only this file is instrumented.)
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>
import ferrite.log;
import ferrite.sim;

namespace {

using ferrite::Errc;

constexpr std::uint32_t sector_count = 3, sector_size = 512, unit = 4;
constexpr std::uint32_t first_record = 40;  // align(32) + align(8)

const ferrite::Geometry& geometry() {
  static const ferrite::Geometry g = [] {
    auto r = ferrite::Geometry::uniform(sector_count, sector_size, unit, ferrite::EraseValue::ones, false);
    if (!r) std::abort();
    return *r;
  }();
  return g;
}

bool strict() {
  static const bool s = [] {
    const char* e = std::getenv("FERRITE_FUZZ_STRICT");
    return e && *e == '1';
  }();
  return s;
}

[[noreturn]] void finding(const char* what, const char* detail = "") {
  std::fprintf(stderr, "fuzz_mount: %s %s\n", what, detail);
  std::abort();
}

std::uint32_t le32(const std::vector<std::byte>& b, std::size_t at) {
  return std::uint32_t(b[at]) | std::uint32_t(b[at + 1]) << 8 | std::uint32_t(b[at + 2]) << 16 |
         std::uint32_t(b[at + 3]) << 24;
}
void put_le32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
}
std::array<std::byte, 4> le32_bytes(std::uint32_t v) {
  return {std::byte(v), std::byte(v >> 8), std::byte(v >> 16), std::byte(v >> 24)};
}
std::uint32_t align_up(std::uint32_t n) { return (n + unit - 1) / unit * unit; }

/// Rewrites the checksums of every header with the magic and of the records
/// that follow it, as far as they parse.
void repair(std::vector<std::byte>& img) {
  for (std::uint32_t s = 0; s < sector_count; ++s) {
    const std::size_t base = std::size_t{s} * sector_size;
    if (le32(img, base) != 0x74526546u) continue;
    std::uint32_t geo = ferrite::crc32c(le32_bytes(sector_count));
    geo = ferrite::crc32c(le32_bytes(sector_size), geo);
    put_le32(img, base + 24, geo);
    put_le32(img, base + 28, ferrite::crc32c(std::span<const std::byte>(img).subspan(base, 28)));
    const std::uint32_t seq = le32(img, base + 8);
    std::map<unsigned, std::pair<std::uint32_t, std::uint32_t>> slots;  // slot -> key hash, value length
    std::uint32_t off = first_record;
    while (off + 8 <= sector_size) {
      const auto b0 = static_cast<std::uint8_t>(img[base + off]);
      std::uint32_t crc = ferrite::crc32c(le32_bytes(seq));
      if (b0 >= 1 && b0 <= 126) {
        if (!slots.count(b0)) break;
        const auto [hash, len] = slots[b0];
        const std::uint32_t size = align_up(4 + len);
        if (off + size > sector_size) break;
        crc = ferrite::crc32c(le32_bytes(seq), hash);
        crc = ferrite::crc32c(le32_bytes(off), crc);
        crc = ferrite::crc32c(std::span<const std::byte>(img).subspan(base + off, 1), crc);
        crc = ferrite::crc32c(std::span<const std::byte>(img).subspan(base + off + 4, len), crc);
        img[base + off + 1] = static_cast<std::byte>(crc);
        img[base + off + 2] = static_cast<std::byte>(crc >> 8);
        img[base + off + 3] = static_cast<std::byte>(crc >> 16);
        off += size;
        continue;
      }
      if (!(b0 & 0x80u) || b0 == 0xFF) break;
      const std::uint32_t w = le32(img, base + off);
      const unsigned kind = (w >> 8) & 7;
      const std::uint32_t klen = kind == 2 ? 0 : ((w >> 11) & 0x3F) + 1, vlen = w >> 17;
      const std::uint32_t size = align_up(8 + klen + vlen);
      if (off + size > sector_size) break;
      crc = ferrite::crc32c(le32_bytes(off), crc);
      crc = ferrite::crc32c(le32_bytes(w), crc);
      crc = ferrite::crc32c(std::span<const std::byte>(img).subspan(base + off + 8, klen + vlen), crc);
      put_le32(img, base + off + 4, crc);
      if (kind == 0 && (w & 0x7F))
        slots[w & 0x7F] = {ferrite::crc32c(std::span<const std::byte>(img).subspan(base + off + 8, klen)), vlen};
      off += size;
    }
  }
}

/// Counts programs aimed at units that are not erased; bounds the work.
struct Watch final : ferrite::FlashDevice {
  explicit Watch(ferrite::sim::SimFlash& s) : sim(s) {}
  const ferrite::Geometry& geometry() const noexcept override { return sim.geometry(); }
  void submit(ferrite::FlashRequest& r) noexcept override {
    if (++ops > 200'000) finding("loop: the flash operation budget ran out");
    if (r.kind == ferrite::FlashOpKind::program) {
      const auto img = sim.image();
      for (std::uint32_t i = 0; i < r.length && r.address + i < img.size(); ++i)
        if (img[r.address + i] != std::byte{0xFF} || sim.is_programmed(r.address + i)) {
          ++violations;
          break;
        }
    }
    sim.submit(r);
  }
  ferrite::sim::SimFlash& sim;
  std::uint64_t ops = 0;
  std::uint64_t violations = 0;
};

bool rule_error(Errc e) {
  return e == Errc::reprogram_forbidden || e == Errc::bits_not_erased || e == Errc::misaligned ||
         e == Errc::out_of_bounds || e == Errc::invalid_argument || e == Errc::worn_out;
}

bool mount_error_allowed(Errc e) {
  return e == Errc::not_formatted || e == Errc::foreign_format || e == Errc::no_memory || e == Errc::corrupt ||
         e == Errc::io || e == Errc::unsupported || e == Errc::invalid_argument || e == Errc::wrong_key;
}

struct Harness {
  ferrite::sim::SimFlash sim{geometry(), 1, ferrite::sim::TimingModel::instant()};
  Watch watch{sim};
  ferrite::Flash flash{watch};
  ferrite::StoreMemory<32, sector_count> memory{};
  ferrite::StoreConfig config{};
  std::optional<ferrite::Store> store;
  std::size_t index_keys = 32;
  bool ordered = true, compact = true, verify = false;

  void reboot() {
    memory = {};
    config = memory.config(ordered);
    config.index = std::span<ferrite::IndexEntry>(memory.index).first(index_keys);
    config.order = index_keys && ordered ? std::span<std::uint16_t>(memory.order).first(index_keys)
                                         : std::span<std::uint16_t>{};
    config.compact_records = compact;
    config.verify_writes = verify;
    config.max_value_size = 24;
    store.emplace(flash, config);
  }
  std::optional<std::string> get(std::string_view k, Errc* error = nullptr) {
    std::string out;
    auto st = ferrite::sync_wait(store->get_string(k, out));
    if (!st) {
      if (error) *error = st.error();
      if (strict() && rule_error(st.error())) finding("get failed with", ferrite::name_of(st.error()));
      return std::nullopt;
    }
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t pick = data[0], fix = data[1];
  std::vector<std::byte> img(std::size_t{sector_count} * sector_size, std::byte{0xFF});
  std::memcpy(img.data(), data + 2, std::min(size - 2, img.size()));
  if (fix & 1) repair(img);

  Harness h;
  h.index_keys = (pick & 3) == 0 ? 0 : (pick & 3) == 1 ? 2 : 32;
  h.ordered = (pick & 4) != 0;
  h.compact = (pick & 8) != 0;
  h.verify = (pick & 16) != 0;
  h.reboot();
  h.sim.load_image(img);
  auto st = ferrite::sync_wait(h.store->mount());
  if (!st) {
    if (strict() && !mount_error_allowed(st.error())) finding("mount failed with", ferrite::name_of(st.error()));
    return 0;
  }
  // Scan, bounded, and read every key found.
  std::vector<std::string> keys;
  {
    auto c = h.store->scan();
    for (int step = 0;; ++step) {
      if (step > 200) finding("scan does not end");
      auto more = ferrite::sync_wait(c.next());
      if (!more) {
        if (strict() && rule_error(more.error())) finding("scan failed with", ferrite::name_of(more.error()));
        break;
      }
      if (!*more) break;
      keys.emplace_back(c.key_string());
    }
  }
  for (const std::string& k : keys) {
    auto v = h.get(k);
    if (strict() && v && !v->empty()) {
      const auto* p = reinterpret_cast<const std::byte*>(v->data());
      if (std::search(img.begin(), img.end(), p, p + v->size()) == img.end())
        finding("get returned bytes that are not in the image for key", k.c_str());
    }
  }
  // Writes driven by the rest of byte 1.
  std::map<std::string, std::optional<std::string>> model;
  std::uint32_t r = 0x9E3779B9u ^ (std::uint32_t{fix} << 8) ^ pick;
  for (int i = 0; i < 8; ++i) {
    r = r * 1664525u + 1013904223u;
    const std::string key = (keys.empty() || (r >> 28) < 10) ? "k" + std::to_string((r >> 20) % 6)
                                                              : keys[(r >> 20) % keys.size()];
    ferrite::Status s{};
    if ((r >> 8) % 5 < 3) {
      const std::string value(1 + (r >> 12) % 12, static_cast<char>('a' + (r >> 4) % 26));
      s = ferrite::sync_wait(h.store->put(key, value));
      if (s) model[key] = value;
    } else if ((r >> 8) % 5 == 3) {
      s = ferrite::sync_wait(h.store->erase(key));
      if (s) model[key] = std::nullopt;
      if (!s && s.error() == Errc::not_found) s = {};
    } else {
      auto rep = ferrite::sync_wait(h.store->maintain({1 + (r >> 16) % 4, (r & 1) != 0}));
      if (!rep) s = ferrite::fail(rep.error());
    }
    if (!s) {
      if (strict() && rule_error(s.error())) finding("a write failed with", ferrite::name_of(s.error()));
      if (s.error() == Errc::not_mounted) return 0;
    }
  }
  if (strict() && h.watch.violations) finding("a write programmed a unit that was not erased");
  if (strict()) {
    for (const auto& [k, v] : model) {
      Errc e = Errc::ok;
      auto got = h.get(k, &e);
      if (v ? got != v : (got || e != Errc::not_found)) finding("an acknowledged write does not read back:", k.c_str());
    }
  }
  h.reboot();
  st = ferrite::sync_wait(h.store->mount());
  if (!st) {
    if (strict() && !model.empty()) finding("a store that took writes no longer mounts:", ferrite::name_of(st.error()));
    return 0;
  }
  if (strict()) {
    for (const auto& [k, v] : model) {
      Errc e = Errc::ok;
      auto got = h.get(k, &e);
      if (v ? got != v : (got || e != Errc::not_found)) finding("an acknowledged write is lost after a reboot:", k.c_str());
    }
  }
  return 0;
}
