// The golden images (test/golden/README.md): which images exist, what was
// written to them, and what each must read back forever. Shared by the
// program that wrote them (make_golden.cpp) and the test that mounts them
// (test/test_golden.cpp). Include after `import ferrite;`.
//
// Never change what an existing image's history writes or its expected
// contents: the images are committed bytes, made once. A new format version
// adds new images (and, if need be, a new history) beside these.
#pragma once

namespace golden {

enum class Sealing { plain, key_file, passphrase };

struct Image {
  std::string_view name;       ///< file name without .img / .json
  std::string_view preset;     ///< the ferrite command's geometry preset
  std::array<ferrite::SectorRun, 2> runs;
  std::uint32_t run_count;
  std::uint32_t unit;
  Sealing sealing;
  std::uint64_t entropy_seed;  ///< sealed: the salts' deterministic source
};

inline constexpr Image images[] = {
    {"plain-stm32f4-2x16k", "stm32f4-2x16k", {{{2, 16384}, {}}}, 1, 4, Sealing::plain, 0},
    {"plain-stm32f4-4x16k+64k", "stm32f4-4x16k+64k", {{{4, 16384}, {1, 65536}}}, 2, 4, Sealing::plain, 0},
    {"plain-nrf52-4x4k", "nrf52-4x4k", {{{4, 4096}, {}}}, 1, 4, Sealing::plain, 0},
    {"plain-esp32-4k", "esp32-4k", {{{6, 4096}, {}}}, 1, 4, Sealing::plain, 0},
    {"sealed-key-stm32f4-2x16k", "stm32f4-2x16k", {{{2, 16384}, {}}}, 1, 4, Sealing::key_file, 11},
    {"sealed-key-stm32f4-4x16k+64k", "stm32f4-4x16k+64k", {{{4, 16384}, {1, 65536}}}, 2, 4, Sealing::key_file, 12},
    {"sealed-key-nrf52-4x4k", "nrf52-4x4k", {{{4, 4096}, {}}}, 1, 4, Sealing::key_file, 13},
    {"sealed-key-esp32-4k", "esp32-4k", {{{6, 4096}, {}}}, 1, 4, Sealing::key_file, 14},
    {"sealed-passphrase-esp32-4k", "esp32-4k", {{{6, 4096}, {}}}, 1, 4, Sealing::passphrase, 15},
};

/// The key of the key_file images (test/golden/golden.key holds these bytes).
inline std::array<std::byte, 32> key() {
  std::array<std::byte, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(0x3C ^ (i * 37));
  return k;
}
/// The passphrase image's passphrase, and its (deliberately low) Argon2id cost.
inline constexpr std::string_view passphrase = "ferrite golden passphrase";
inline constexpr ferrite::KdfCost passphrase_cost{1, 8192};

inline ferrite::Geometry geometry_of(const Image& image) {
  return *ferrite::Geometry::make(std::span<const ferrite::SectorRun>(image.runs.data(), image.run_count), image.unit);
}

/// One key's final value.
struct Value {
  std::string key;
  ferrite::ValueType type;
  std::vector<std::byte> bytes;
};

template <class T>
Value typed(std::string key, T v) {
  Value out{std::move(key), ferrite::value_type_of<T>(), std::vector<std::byte>(sizeof(T))};
  std::memcpy(out.bytes.data(), &v, sizeof(T));
  return out;
}
inline Value text(std::string key, ferrite::ValueType type, std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {std::move(key), type, std::vector<std::byte>(p, p + s.size())};
}
inline Value pattern(std::string key, ferrite::ValueType type, std::size_t n, unsigned step) {
  Value out{std::move(key), type, std::vector<std::byte>(n)};
  for (std::size_t i = 0; i < n; ++i) out.bytes[i] = static_cast<std::byte>(i * step + 7);
  return out;
}

/// What every image holds at the end of its history, in key order.
inline std::vector<Value> final_contents() {
  using ferrite::ValueType;
  std::vector<Value> v{
      typed("counter", std::uint32_t{105}),
      text("device/name", ValueType::string, "sensor n\xc2\xb0" "7, hall B"),
      typed("num/bool", true),
      typed("num/double", 0.1 + 0.2),
      typed("num/double_inf", -std::numeric_limits<double>::infinity()),
      typed("num/float", 0.1f),
      typed("num/i16", std::int16_t{-30000}),
      typed("num/i32", std::int32_t{-2000000000}),
      typed("num/i64", std::numeric_limits<std::int64_t>::min()),
      typed("num/i8", std::int8_t{-100}),
      typed("num/u16", std::uint16_t{60000}),
      typed("num/u32", std::uint32_t{4000000000u}),
      typed("num/u64", std::numeric_limits<std::uint64_t>::max()),
      typed("num/u8", std::uint8_t{200}),
      pattern("raw/blob", ValueType::blob, 40, 3),
      pattern("raw/bytes", ValueType::untyped, 100, 5),
      text("raw/text", ValueType::untyped, "plain bytes, written by put"),
      text("txn/a", ValueType::untyped, "alpha"),
      text("txn/b", ValueType::untyped, "beta"),
  };
  v.push_back(text(std::string("\x01" "bin\xfe", 5), ValueType::untyped, "a binary key"));
  std::sort(v.begin(), v.end(), [](const Value& a, const Value& b) { return a.key < b.key; });
  return v;
}

/// The memory a golden store runs in (256 keys, the image's sectors, the
/// scratch a sealed one needs) and its configuration: the generator formats
/// and the test mounts with the same.
struct StoreMemory {
  std::vector<ferrite::IndexEntry> index = std::vector<ferrite::IndexEntry>(256);
  std::vector<std::uint16_t> order = std::vector<std::uint16_t>(256);
  std::vector<ferrite::SectorInfo> sectors;
  std::vector<std::byte> scratch;

  ferrite::StoreConfig config(const ferrite::Geometry& g, ferrite::Sealer* sealer) {
    sectors.assign(g.sector_count(), ferrite::SectorInfo{});
    ferrite::StoreConfig c;
    c.index = index;
    c.order = order;
    c.sectors = sectors;
    if (sealer) {
      scratch.resize(ferrite::Store::scratch_needed(c.max_value_size, sealer->overhead()));
      c.codec = sealer;
      c.scratch = scratch;
    }
    return c;
  }
};

}  // namespace golden
