// make_golden — writes the golden images of test/golden/ (README.md there):
// each image's history (typed values of every type, untyped bytes, updates
// that become compact records, erased keys, a committed transaction) and
// the export JSON of what it must read back. Sealed images draw their salts
// from a deterministic source, so the program writes the same bytes every
// run. It never replaces an existing image: the committed ones are the
// reference that old devices hold.
//
//   make_golden DIR
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>

#include "ferrite_try.hpp"
import ferrite;
import ferrite.file;
#include "golden_contents.hpp"

namespace {

using ferrite::Errc;
using ferrite::Status;
using ferrite::Task;
using ferrite::ValueType;

/// SplitMix64: a deterministic stand-in for the TRNG (never for real stores).
struct Counter {
  std::uint64_t state;
};
void deterministic_fill(void* context, std::span<std::byte> out) noexcept {
  auto* c = static_cast<Counter*>(context);
  for (std::byte& b : out) {
    std::uint64_t z = (c->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    b = static_cast<std::byte>(z ^ (z >> 31));
  }
}

Task<Status> put_value(ferrite::Store& s, const golden::Value& v) {
  const auto key = ferrite::as_bytes(v.key);
  if (v.type == ValueType::untyped) co_return co_await s.put(key, v.bytes);
  co_return co_await s.put_typed(key, v.type, v.bytes);
}

/// The history every image gets. Its end state is golden::final_contents().
Task<Status> write_history(ferrite::Store& s) {
  const auto final = golden::final_contents();
  // Keys that are written and then erased (DELETE records).
  FERRITE_CO_TRY(co_await s.put_as("tmp/a", std::uint32_t{1}));
  FERRITE_CO_TRY(co_await s.put("tmp/b", "to be erased"));
  FERRITE_CO_TRY(co_await s.put("tmp/c", "erased by the transaction"));
  // Every final value, with earlier versions first for some: same-size
  // updates become compact records, other updates full ones.
  for (std::uint32_t i = 100; i < 105; ++i) FERRITE_CO_TRY(co_await s.put_as("counter", i));
  FERRITE_CO_TRY(co_await s.put_as("device/name", std::string_view("sensor 7")));
  FERRITE_CO_TRY(co_await s.put_as("num/u8", std::uint8_t{1}));
  for (const golden::Value& v : final)
    if (v.key.rfind("txn/", 0) != 0) FERRITE_CO_TRY(co_await put_value(s, v));
  FERRITE_CO_TRY(co_await s.erase("tmp/a"));
  FERRITE_CO_TRY(co_await s.erase("tmp/b"));
  // A committed transaction: two puts and an erase, all or nothing.
  ferrite::Transaction txn(s);
  FERRITE_CO_TRY(co_await txn.put("txn/a", "alpha"));
  FERRITE_CO_TRY(co_await txn.put("txn/b", "beta"));
  FERRITE_CO_TRY(co_await txn.erase("tmp/c"));
  FERRITE_CO_TRY(co_await txn.commit());
  co_return Status{};
}

std::string hex(std::span<const std::byte> b) {
  std::string out;
  for (std::byte x : b) out += fmt::format("{:02x}", static_cast<unsigned>(x));
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7F; }) &&
         s.find('\xfe') == std::string_view::npos;
}

template <class T>
T as(const golden::Value& v) {
  T x;
  std::memcpy(&x, v.bytes.data(), sizeof(T));
  return x;
}

std::string double_text(double d) {
  if (std::isnan(d)) return "\"nan\"";
  if (std::isinf(d)) return d > 0 ? "\"inf\"" : "\"-inf\"";
  std::string t = fmt::format("{}", d);
  if (t.find_first_of(".e") == std::string::npos) t += ".0";
  return t;
}

/// The export JSON (docs/TOOL.md) of the final contents, written here
/// independently of the ferrite command that the golden test checks.
std::string expected_json() {
  std::string out = "{\n  \"format\": \"ferrite-export\",\n  \"version\": 1,\n  \"keys\": [";
  bool first = true;
  for (const golden::Value& v : golden::final_contents()) {
    out += first ? "\n    {" : ",\n    {";
    first = false;
    out += printable(v.key) ? "\"key\": " + json_string(v.key) : "\"key_hex\": \"" + hex(ferrite::as_bytes(v.key)) + "\"";
    out += fmt::format(", \"type\": \"{}\", ", ferrite::name_of(v.type));
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < v.bytes.size() && i < 8; ++i) bits |= std::uint64_t{static_cast<std::uint8_t>(v.bytes[i])} << (8 * i);
    switch (v.type) {
      case ValueType::u8: out += fmt::format("\"value\": {}", as<std::uint8_t>(v)); break;
      case ValueType::u16: out += fmt::format("\"value\": {}", as<std::uint16_t>(v)); break;
      case ValueType::u32: out += fmt::format("\"value\": {}", as<std::uint32_t>(v)); break;
      case ValueType::u64: out += fmt::format("\"value\": {}", as<std::uint64_t>(v)); break;
      case ValueType::i8: out += fmt::format("\"value\": {}", as<std::int8_t>(v)); break;
      case ValueType::i16: out += fmt::format("\"value\": {}", as<std::int16_t>(v)); break;
      case ValueType::i32: out += fmt::format("\"value\": {}", as<std::int32_t>(v)); break;
      case ValueType::i64: out += fmt::format("\"value\": {}", as<std::int64_t>(v)); break;
      case ValueType::f32: out += fmt::format("\"value\": {}, \"bits\": \"{:08x}\"", double_text(as<float>(v)), bits); break;
      case ValueType::f64: out += fmt::format("\"value\": {}, \"bits\": \"{:016x}\"", double_text(as<double>(v)), bits); break;
      case ValueType::boolean: out += as<std::uint8_t>(v) ? "\"value\": true" : "\"value\": false"; break;
      case ValueType::string: out += "\"value\": " + json_string({reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size()}); break;
      default: out += "\"hex\": \"" + hex(v.bytes) + "\""; break;
    }
    out += "}";
  }
  return out + "\n  ]\n}\n";
}

bool write_text(const std::string& path, std::string_view text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

int make(const std::string& dir, const golden::Image& image) {
  const std::string path = dir + "/" + std::string(image.name) + ".img";
  if (::access(path.c_str(), F_OK) == 0) {
    fmt::print("{}: exists, kept (golden images are never regenerated)\n", path);
    return 0;
  }
  const ferrite::Geometry g = golden::geometry_of(image);
  ferrite::file::OpenMode mode;
  mode.create_if_missing = true;
  auto dev = ferrite::file::FileFlash::open(path, g, mode);
  if (!dev) {
    fmt::print(stderr, "{}: {}\n", path, ferrite::describe(dev.error()));
    return 1;
  }
  Counter entropy{image.entropy_seed};
  ferrite::SealOptions options;
  options.entropy = {&deterministic_fill, &entropy};
  std::optional<ferrite::Sealer> sealer;
  if (image.sealing != golden::Sealing::plain) {
    sealer.emplace(options);
    const Status k = image.sealing == golden::Sealing::key_file
                         ? sealer->use_key(golden::key())
                         : sealer->use_passphrase(golden::passphrase, golden::passphrase_cost);
    if (!k) return 1;
  }
  golden::StoreMemory memory;
  ferrite::Store store(ferrite::Flash(*dev), memory.config(g, sealer ? &*sealer : nullptr));
  if (const Status f = ferrite::sync_wait(store.format()); !f) {
    fmt::print(stderr, "{}: format: {}\n", path, ferrite::describe(f.error()));
    return 1;
  }
  if (const Status h = ferrite::sync_wait(write_history(store)); !h) {
    fmt::print(stderr, "{}: history: {}\n", path, ferrite::describe(h.error()));
    return 1;
  }
  store.unmount();
  if (!dev->close()) return 1;
  if (!write_text(dir + "/" + std::string(image.name) + ".json", expected_json())) return 1;
  fmt::print("{}: written\n", path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: make_golden DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  int rc = 0;
  for (const golden::Image& image : golden::images) rc |= make(dir, image);
  const auto k = golden::key();
  const std::string key_path = dir + "/golden.key";
  if (::access(key_path.c_str(), F_OK) != 0 &&
      !write_text(key_path, std::string_view(reinterpret_cast<const char*>(k.data()), k.size())))
    rc = 1;
  return rc;
}
