// The golden images (test/golden/): every image written by an earlier
// version mounts with this one and reads back exactly what was written, so
// a format change that would strand old devices fails here.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt/format.h>
import ferrite;
import ferrite.file;
#include "golden/golden_contents.hpp"

namespace {

using ferrite::Status;

/// A private copy of a committed image (mounting takes a lock file beside
/// the image, and the tree must stay as it is).
struct ImageCopy {
  std::string dir, path;
  explicit ImageCopy(const std::string& source) {
    char tmpl[] = "/tmp/ferrite-golden-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    dir = d ? d : "";
    path = dir + "/image.img";
    std::FILE* in = std::fopen(source.c_str(), "rb");
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (in && out) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) std::fwrite(buf, 1, n, out);
    }
    if (in) std::fclose(in);
    if (out) std::fclose(out);
  }
  ~ImageCopy() {
    ::unlink(path.c_str());
    ::unlink((path + ".lock").c_str());
    ::rmdir(dir.c_str());
  }
};

void check_image(const golden::Image& image) {
  INFO(image.name);
  const ferrite::Geometry g = golden::geometry_of(image);
  ImageCopy copy(std::string(FERRITE_GOLDEN_DIR) + "/" + std::string(image.name) + ".img");
  auto dev = ferrite::file::FileFlash::open(copy.path, g);
  REQUIRE(dev);
  std::optional<ferrite::Sealer> sealer;
  if (image.sealing != golden::Sealing::plain) {
    sealer.emplace();
    const Status k = image.sealing == golden::Sealing::key_file ? sealer->use_key(golden::key())
                                                                : sealer->use_passphrase(golden::passphrase, golden::passphrase_cost);
    CHECK(k);
  }
  golden::StoreMemory memory;
  ferrite::Store store(ferrite::Flash(*dev), memory.config(g, sealer ? &*sealer : nullptr));
  const Status m = ferrite::sync_wait(store.mount());
  REQUIRE(m);
  const auto expected = golden::final_contents();
  const ferrite::StoreStats st = store.stats();
  CHECK(st.keys == expected.size());
  CHECK(st.corrupt_records == 0);
  CHECK(st.torn_tails == 0);
  for (const golden::Value& v : expected) {
    INFO(v.key);
    const auto key = ferrite::as_bytes(v.key);
    auto type = ferrite::sync_wait(store.type_of(key));
    REQUIRE(type);
    CHECK(*type == v.type);
    std::vector<std::byte> got;
    CHECK(ferrite::sync_wait(store.get_into(key, got)));
    CHECK(got == v.bytes);
  }
  for (std::string_view gone : {"tmp/a", "tmp/b", "tmp/c"}) {
    auto has = ferrite::sync_wait(store.contains(gone));
    REQUIRE(has);
    CHECK(!*has);
  }
  store.unmount();
  CHECK(dev->close());
}

}  // namespace

TEST_CASE("every golden image mounts and reads back every value with its type", "[golden]") {
  for (const golden::Image& image : golden::images) check_image(image);
}

TEST_CASE("a golden sealed image refuses another key", "[golden]") {
  const golden::Image& image = golden::images[4];
  REQUIRE(image.sealing == golden::Sealing::key_file);
  const ferrite::Geometry g = golden::geometry_of(image);
  ImageCopy copy(std::string(FERRITE_GOLDEN_DIR) + "/" + std::string(image.name) + ".img");
  auto dev = ferrite::file::FileFlash::open(copy.path, g);
  REQUIRE(dev);
  ferrite::Sealer sealer;
  std::array<std::byte, 32> other{};
  CHECK(sealer.use_key(other));
  std::vector<ferrite::IndexEntry> index(256);
  std::vector<ferrite::SectorInfo> sectors(g.sector_count());
  std::vector<std::byte> scratch;
  ferrite::StoreConfig c;
  c.index = index;
  c.sectors = sectors;
  scratch.resize(ferrite::Store::scratch_needed(c.max_value_size, sealer.overhead()));
  c.codec = &sealer;
  c.scratch = scratch;
  ferrite::Store store(ferrite::Flash(*dev), c);
  const Status m = ferrite::sync_wait(store.mount());
  CHECK(m.error() == ferrite::Errc::wrong_key);
  CHECK(dev->close());
}
