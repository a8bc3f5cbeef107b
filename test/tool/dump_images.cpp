// Writes the images of dump_images.hpp into a directory, each with its
// geometry and what `ferrite dump --json` prints for it:
//   DIR/NNNN.img   the flash image
//   DIR/NNNN.spec  its geometry (docs/DUMP.md grammar)
//   DIR/NNNN.json  the dump
//   DIR/NNNN.txt   how the image was made
//   DIR/NNNN.state what the engine reads after mounting the image (plain
//                  stores): one line per key, `KEYHEX TAG VALUEHEX`, in key
//                  order; `mount ERROR` when the engine refuses the image
// Usage: dump_images DIR COUNT. test/tool/dump_differential.py runs it and
// decodes every image again with tools/ferrite_dump.py.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
import ferrite.txn;
import ferrite.sim;
import ferrite.file;
#if FERRITE_HAVE_CRYPTO
import ferrite.crypto;
#endif
#include "dump.hpp"
#include "dump_images.hpp"

namespace {

bool write_file(const std::string& path, const void* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const std::byte b : bytes) {
    s += digits[static_cast<std::uint8_t>(b) >> 4];
    s += digits[static_cast<std::uint8_t>(b) & 15];
  }
  return s;
}

/// The keys and values the engine reads from `image` once mounted.
std::string engine_state(const dump_images::Image& image) {
  rig::Rig r(image.geometry, 64, true, false, 1, 4096);
  r.sim.load_image(image.bytes);
  if (auto st = r.mount(); !st) return std::string("mount ") + ferrite::name_of(st.error()) + "\n";
  std::string out;
  auto c = r.store->scan(std::span<const std::byte>{});
  for (;;) {
    auto more = ferrite::sync_wait(c.next());
    if (!more) return out + "scan " + ferrite::name_of(more.error()) + "\n";
    if (!*more) break;
    std::vector<std::byte> value(c.value_size());
    auto n = ferrite::sync_wait(c.read_value(value));
    if (!n) return out + "read " + ferrite::name_of(n.error()) + "\n";
    value.resize(*n);
    out += hex(c.key()) + " " + std::to_string(static_cast<int>(c.type())) + " " + hex(value) + "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dump_images DIR COUNT\n");
    return 2;
  }
  const std::string dir = argv[1];
  const long count = std::strtol(argv[2], nullptr, 10);
  for (long n = 0; n < count; ++n) {
    const dump_images::Image image = dump_images::make(static_cast<std::uint64_t>(n));
    char stem[32];
    std::snprintf(stem, sizeof stem, "/%04ld", n);
    const std::string base = dir + stem;
    if (!write_file(base + ".img", image.bytes.data(), image.bytes.size()) ||
        !write_file(base + ".spec", image.spec.data(), image.spec.size()) ||
        !write_file(base + ".txt", image.story.data(), image.story.size())) {
      std::fprintf(stderr, "dump_images: cannot write %s.*\n", base.c_str());
      return 2;
    }
    if (!image.sealed) {
      const std::string state = engine_state(image);
      if (!write_file(base + ".state", state.data(), state.size())) return 2;
    }
    // The dump reads the image file through the file port, as `ferrite dump` does.
    auto file = ferrite::file::FileFlash::open(base + ".img", image.geometry);
    if (!file) {
      std::fprintf(stderr, "dump_images: cannot open %s.img: %s\n", base.c_str(), ferrite::name_of(file.error()));
      return 2;
    }
    ferrite::Flash flash(*file);
    std::FILE* out = std::fopen((base + ".json").c_str(), "wb");
    if (!out) return 2;
    const int code = ferrite::tool::dump(image.geometry, flash, ferrite::tool::DumpFormat::json, out);
    std::fclose(out);
    if (code == 2) {
      std::fprintf(stderr, "dump_images: image %ld could not be dumped\n", n);
      return 2;
    }
  }
  std::printf("dump_images: %ld images in %s\n", count, dir.c_str());
  return 0;
}
