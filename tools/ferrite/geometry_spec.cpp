// The SPEC grammar and the presets (docs/TOOL.md, "Geometry").
#include <fmt/format.h>

import ferrite;
#include "tool.hpp"
#include "geometry_spec.hpp"

namespace ferrite::tool {

namespace {

constexpr GeometryPreset presets[] = {
    {"stm32f4-2x16k", "2x16k@4", "two 16 KiB sectors of an STM32F4 (sectors 1-2), 32-bit programming"},
    {"stm32f4-4x16k+64k", "4x16k+1x64k@4", "the STM32F4's first 128 KiB: four 16 KiB sectors and one of 64 KiB"},
    {"nrf52-4x4k", "4x4k@4", "four 4 KiB pages of an nRF52, 32-bit words"},
    {"esp32-4k", "6x4k@4", "ESP-IDF's default 24 KiB NVS partition: six 4 KiB sectors"},
};

std::optional<std::uint32_t> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint32_t> parse_size(std::string_view s) {
  std::uint32_t scale = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    scale = 1024;
    s.remove_suffix(1);
  }
  const auto v = parse_number(s);
  if (!v || *v == 0 || *v > std::numeric_limits<std::uint32_t>::max() / scale) return std::nullopt;
  return *v * scale;
}

}  // namespace

std::span<const GeometryPreset> geometry_presets() { return presets; }

Checked<Geometry> parse_geometry(std::string_view text) {
  for (const GeometryPreset& p : presets)
    if (p.name == text) return parse_geometry(p.spec);
  const auto bad = [&](std::string_view why) {
    return usage_error(fmt::format("geometry '{}': {} (SPEC is RUN[+RUN...]@UNIT[,erased=00|ff], RUN is COUNTxSIZE, "
                                   "e.g. 8x4096@4; or a preset: `ferrite geometries`)",
                                   text, why));
  };
  const auto at = text.find('@');
  if (at == std::string_view::npos) return bad("no @UNIT");
  std::string_view runs_text = text.substr(0, at);
  std::string_view rest = text.substr(at + 1);
  EraseValue erased = EraseValue::ones;
  if (const auto comma = rest.find(','); comma != std::string_view::npos) {
    const std::string_view opt = rest.substr(comma + 1);
    rest = rest.substr(0, comma);
    if (opt == "erased=ff" || opt == "erased=FF") erased = EraseValue::ones;
    else if (opt == "erased=00") erased = EraseValue::zeros;
    else return bad(fmt::format("unknown option '{}' (only erased=00 or erased=ff)", opt));
  }
  const auto unit = parse_number(rest);
  if (!unit || !(*unit == 1 || *unit == 2 || *unit == 4 || *unit == 8 || *unit == 16 || *unit == 32))
    return bad(fmt::format("program unit '{}' is not 1, 2, 4, 8, 16 or 32", rest));
  std::vector<SectorRun> runs;
  while (true) {
    const auto plus = runs_text.find('+');
    const std::string_view run = runs_text.substr(0, plus);
    const auto x = run.find('x');
    if (x == std::string_view::npos) return bad(fmt::format("run '{}' is not COUNTxSIZE", run));
    const auto count = parse_number(run.substr(0, x));
    const auto size = parse_size(run.substr(x + 1));
    if (!count || *count == 0) return bad(fmt::format("sector count '{}' is not a positive number", run.substr(0, x)));
    if (!size) return bad(fmt::format("sector size '{}' is not a positive size", run.substr(x + 1)));
    if (*size % *unit != 0) return bad(fmt::format("sector size {} is not a multiple of the unit {}", *size, *unit));
    runs.push_back({*count, *size});
    if (plus == std::string_view::npos) break;
    runs_text = runs_text.substr(plus + 1);
  }
  if (runs.size() > Geometry::max_runs) return bad(fmt::format("more than {} runs", Geometry::max_runs));
  auto g = Geometry::make(runs, *unit, erased);
  if (!g) return bad(g.error() == Errc::too_large ? "larger than 4 GiB" : describe(g.error()));
  std::uint32_t sectors = 0;
  for (const SectorRun& r : runs) sectors += r.count;
  if (sectors < 2) return bad("a store needs at least 2 sectors");
  return *g;
}

std::string geometry_spec(const Geometry& g) {
  std::string out;
  for (const SectorRun& r : g.runs()) {
    if (!out.empty()) out += '+';
    out += r.size % 1024 == 0 ? fmt::format("{}x{}k", r.count, r.size / 1024) : fmt::format("{}x{}", r.count, r.size);
  }
  out += fmt::format("@{}", g.program_unit());
  if (g.erase_value() == EraseValue::zeros) out += ",erased=00";
  return out;
}

std::uint32_t geometry_crc(std::span<const SectorRun> runs) {
  std::uint32_t crc = 0;
  for (const SectorRun& r : runs) {
    std::array<std::byte, 8> b{};
    for (int i = 0; i < 4; ++i) {
      b[i] = static_cast<std::byte>(r.count >> (8 * i));
      b[4 + i] = static_cast<std::byte>(r.size >> (8 * i));
    }
    crc = crc32c(b, crc);
  }
  return crc;
}

}  // namespace ferrite::tool
