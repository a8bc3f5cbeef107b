#include <sodium.h>
#include <cstdio>
#include <chrono>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>
#include <zdict.h>
#include <zstd.h>
#include <catch2/catch.hpp>
import ferrite.crypto;
import ferrite.txn;
import ferrite.sim;
#include "log_rig.hpp"
#include "powerloss_campaign.hpp"
#include "test_keys.hpp"

using ferrite::Errc;
using ferrite::Sealer;
using ferrite::SealOptions;
using rig::Rig;

namespace {

constexpr ferrite::KdfCost cheap{1, 8};  // tests only: the minimum Argon2id cost

bool image_contains(const Rig& r, std::string_view needle) {
  const auto img = r.sim.image();
  for (std::size_t i = 0; i + needle.size() <= img.size(); ++i)
    if (std::memcmp(img.data() + i, needle.data(), needle.size()) == 0) return true;
  return false;
}

std::string sensor_document(int i) {
  return "{\"sensor\":\"thermo-" + std::to_string(i % 7) + "\",\"unit\":\"celsius\",\"value\":" +
         std::to_string(20 + i % 13) + "." + std::to_string(i % 10) + ",\"battery\":" + std::to_string(90 - i % 40) +
         ",\"status\":\"ok\",\"ts\":" + std::to_string(1700000000 + i * 60) + "}";
}

/// Entropy whose bytes a test can predict: a counter.
struct CountingEntropy {
  std::uint8_t next = 0x10;
  static void fill(void* self, std::span<std::byte> out) noexcept {
    auto& e = *static_cast<CountingEntropy*>(self);
    for (std::byte& b : out) b = static_cast<std::byte>(e.next++);
  }
  ferrite::Entropy hook() noexcept { return {&CountingEntropy::fill, this}; }
};

/// BLAKE2b-256(store salt ++ label, key = master): docs/FORMAT.md §2.2.
std::array<unsigned char, 32> subkey_of(std::span<const std::byte> master, const std::byte* store_salt,
                                        std::string_view label) {
  std::array<unsigned char, 32> k{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(master.data()), master.size(), k.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(store_salt), 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_generichash_final(&st, k.data(), k.size());
  return k;
}

const char* suite_name(ferrite::CipherSuite suite) {
  return suite == ferrite::CipherSuite::aes256gcm ? "aes-256-gcm" : "xchacha20-poly1305";
}

}  // namespace

TEST_CASE("every sealing mode round-trips values and survives a remount", "[crypto]") {
  struct Mode {
    const char* name;
    ferrite::CipherSuite suite;
    bool passphrase, hide, compress;
  };
  const Mode modes[] = {
      {"xchacha/key", ferrite::CipherSuite::xchacha20poly1305, false, false, false},
      {"xchacha/key/hidden/zstd", ferrite::CipherSuite::xchacha20poly1305, false, true, true},
      {"xchacha/passphrase/zstd", ferrite::CipherSuite::xchacha20poly1305, true, false, true},
      {"aes-gcm/key/hidden", ferrite::CipherSuite::aes256gcm, false, true, false},
  };
  for (const Mode& m : modes) {
    if (!ferrite::suite_available(m.suite)) {
      WARN(m.name << ": suite not available on this CPU");
      continue;
    }
    INFO(m.name);
    SealOptions o;
    o.suite = m.suite;
    o.hide_keys = m.hide;
    o.compression_level = m.compress ? 3 : 0;
    Sealer sealer(o);
    if (m.passphrase) CHECK(sealer.use_passphrase("correct horse battery staple", cheap));
    else CHECK(sealer.use_key(test_key(1)));
    Rig r(rig::geometry(3, 16384, 4), 256, true, false, 1, 4096, &sealer);
    REQUIRE(r.format());
    std::map<std::string, std::string> model;
    for (int i = 0; i < 300; ++i) {
      const std::string k = "sensor/" + std::to_string(i % 37);
      const std::string v = i % 50 == 0 ? std::string() : sensor_document(i);
      CHECK(r.put(k, v));
      model[k] = v;
    }
    CHECK(r.put("big", std::string(4096, 'b')));
    model["big"] = std::string(4096, 'b');
    CHECK(r.erase("sensor/3"));
    model.erase("sensor/3");
    for (auto& [k, v] : model) CHECK(r.get(k) == v);
    CHECK(r.get("sensor/3") == "!not_found");
    CHECK(ferrite::sync_wait(r.store->size_of("big")).value_or(0) == 4096);
    // Neither names (when hidden) nor values reach flash in clear.
    CHECK_FALSE(image_contains(r, "celsius"));
    CHECK(image_contains(r, "sensor/1") == !m.hide);
    r.reboot();
    REQUIRE(r.mount());
    for (auto& [k, v] : model) CHECK(r.get(k) == v);
    CHECK(r.store->stats().gc_runs >= 0u);
    if (m.compress) CHECK(sealer.stats().ratio() < 0.9);
    if (m.hide) CHECK(r.keys() == std::vector<std::string>{"!unsupported"});
    else CHECK(r.keys("sensor/1").size() == 11);
  }
}

TEST_CASE("a scan of a sealed store reports each value's own size, not its sealed size", "[crypto][scan]") {
  SealOptions o;
  o.compression_level = 3;
  Sealer sealer(o);
  CHECK(sealer.use_key(test_key(4)));
  Rig r(rig::geometry(3, 16384, 4), 64, true, false, 1, 4096, &sealer);
  REQUIRE(r.format());
  std::map<std::string, std::size_t> sizes;
  for (int i = 0; i < 20; ++i) {
    const std::string v = i % 4 == 0 ? std::string(300 + i, 'z') : sensor_document(i);  // compressible, or not
    CHECK(r.put("doc/" + std::to_string(i), v));
    sizes["doc/" + std::to_string(i)] = v.size();
  }
  auto scan = [&] {
    std::map<std::string, std::size_t> seen;
    auto c = r.store->scan("doc/");
    for (;;) {
      auto more = ferrite::sync_wait(c.next());
      CHECK(more);
      if (!more || !*more) break;
      seen[std::string(c.key_string())] = c.value_size();
    }
    return seen;
  };
  CHECK(scan() == sizes);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(scan() == sizes);
}

TEST_CASE("a cursor over a sealed store reads each value as get does, also after a write between step and read",
          "[crypto][scan][cursor]") {
  SealOptions o;
  o.compression_level = 3;
  Sealer sealer(o);
  CHECK(sealer.use_key(test_key(6)));
  Rig r(rig::geometry(3, 16384, 4), 64, true, false, 1, 1024, &sealer);
  REQUIRE(r.format());
  std::map<std::string, std::string> model;
  for (int i = 0; i < 20; ++i) {
    const std::string v = i % 4 == 0 ? std::string(300 + i, 'z') : sensor_document(i);  // compressible, or not
    CHECK(r.put("doc/" + std::to_string(i), v));
    model["doc/" + std::to_string(i)] = v;
  }
  auto read = [](ferrite::Cursor& c) {
    std::vector<std::byte> out(1024);
    auto n = ferrite::sync_wait(c.read_value(out));
    if (!n) return std::string("!") + ferrite::name_of(n.error());
    return std::string(reinterpret_cast<const char*>(out.data()), *n);
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (auto dir : {ferrite::Direction::forward, ferrite::Direction::reverse}) {
      auto c = r.store->range(rig::bytes("doc/"), rig::bytes("doc0"), dir);
      std::size_t steps = 0;
      while (ferrite::sync_wait(c.next()).value_or(false)) {
        ++steps;
        const std::string k(c.key_string());
        const std::string v = read(c);
        CHECK(v == r.get(k));
        CHECK(v == model[k]);
        CHECK(c.value_size() == v.size());
      }
      CHECK(steps == model.size());
    }
    r.reboot();
    REQUIRE(r.mount());
  }
  auto c = r.store->scan("doc/", ferrite::Direction::reverse);
  CHECK(ferrite::sync_wait(c.next()).value_or(false));
  CHECK(c.key_string() == "doc/9");
  CHECK(r.put("doc/9", "changed"));
  CHECK(read(c) == "changed");
  std::array<std::byte, 3> small{};
  CHECK(ferrite::sync_wait(c.read_value(small)).error() == Errc::buffer_too_small);
  CHECK(r.put("doc/90", "a new key shifts the index"));
  CHECK(read(c) == "changed");
  CHECK(r.erase("doc/9"));
  CHECK(read(c) == "!not_found");
  CHECK(ferrite::sync_wait(c.next()).value_or(false));
  CHECK(c.key_string() == "doc/8");
  CHECK(read(c) == model["doc/8"]);
}

TEST_CASE("a sealed put that meets programmed units behind the head's last record still lands",
          "[crypto][powerloss]") {
  // Units a cut program left reading erased are still programmed: the write
  // there is refused. With no second free sector the retry must collect,
  // which reuses the scratch holding the sealed frame: put frames again.
  Sealer sealer;
  CHECK(sealer.use_key(test_key(5)));
  Rig r(rig::geometry(2, 4096, 4), 64, true, false, 1, 256, &sealer);
  REQUIRE(r.format());
  for (int i = 0; i < 10; ++i) CHECK(r.put("key" + std::to_string(i), "value-" + std::to_string(i)));
  REQUIRE(rig::program_blank_tail(r, 0));
  CHECK(r.put("key3", "after the refused write"));
  CHECK(r.get("key3") == "after the refused write");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("key3") == "after the refused write");
  for (int i = 0; i < 10; ++i)
    if (i != 3) CHECK(r.get("key" + std::to_string(i)) == "value-" + std::to_string(i));
}

TEST_CASE("a wrong key or passphrase is reported as wrong_key, distinct from corruption", "[crypto]") {
  Sealer right;
  CHECK(right.use_key(test_key(1)));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &right);
  REQUIRE(r.format());
  CHECK(r.put("a", "secret"));
  const std::vector<std::byte> image(r.sim.image().begin(), r.sim.image().end());

  Sealer wrong;
  CHECK(wrong.use_key(test_key(2)));
  Rig w(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &wrong);
  w.sim.load_image(image);
  CHECK(w.mount().error() == Errc::wrong_key);

  Sealer by_passphrase;
  CHECK(by_passphrase.use_passphrase("not the key", cheap));
  Rig p(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &by_passphrase);
  p.sim.load_image(image);
  CHECK(p.mount().error() == Errc::wrong_key);

  Rig none(rig::geometry(2, 8192, 4), 64);
  none.sim.load_image(image);
  CHECK(none.mount().error() == Errc::wrong_key);

  // A damaged crypto block is damage, never mistaken for a wrong key: the
  // header crc covers the block, so the only header of this store is gone.
  Sealer again;
  CHECK(again.use_key(test_key(1)));
  Rig c(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &again);
  c.sim.load_image(image);
  c.sim.flip_bit(32 + 30, 2);
  CHECK(c.mount().error() == Errc::foreign_format);

  // And a key offered to a plain store is refused.
  Rig plain(rig::geometry(2, 8192, 4), 64);
  REQUIRE(plain.format());
  Sealer stray;
  CHECK(stray.use_key(test_key(1)));
  Rig q(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &stray);
  q.sim.load_image(plain.sim.image());
  CHECK(q.mount().error() == Errc::invalid_argument);
}

TEST_CASE("passphrase stores remount with the same passphrase and refuse another", "[crypto]") {
  Sealer s;
  CHECK(s.use_passphrase("open sesame", cheap));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  REQUIRE(r.format());
  CHECK(r.put("k", "v"));
  Sealer again;
  CHECK(again.use_passphrase("open sesame", cheap));
  Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &again);
  m.sim.load_image(r.sim.image());
  REQUIRE(m.mount());
  CHECK(m.get("k") == "v");
  CHECK(Sealer().use_passphrase("", cheap).error() == Errc::invalid_argument);
  CHECK(Sealer().use_key(std::span<const std::byte>()).error() == Errc::invalid_argument);
}

TEST_CASE("the sealed record construction matches docs/FORMAT.md byte for byte", "[crypto][kat]") {
  for (const auto suite : {ferrite::CipherSuite::xchacha20poly1305, ferrite::CipherSuite::aes256gcm}) {
    if (!ferrite::suite_available(suite)) {
      WARN(suite_name(suite) << ": suite not available on this CPU");
      continue;
    }
    INFO(suite_name(suite));
    CountingEntropy entropy;
    SealOptions o;
    o.suite = suite;
    o.entropy = entropy.hook();
    Sealer s(o);
    const auto key = test_key(9);
    CHECK(s.use_key(key));
    Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    if (!r.format()) {
      FAIL_CHECK("format");
      continue;
    }
    CHECK(r.put("k1", "hello"));
    const auto img = r.sim.image();
    // Crypto block after the 32-byte header; records after align(96) + align(8).
    const std::byte* block = img.data() + 32;
    CHECK(static_cast<std::uint8_t>(block[0]) == static_cast<std::uint8_t>(suite));
    CHECK(static_cast<std::uint8_t>(block[1]) == 0);  // raw key
    CHECK(static_cast<std::uint8_t>(block[2]) == 0);  // names shown, no compression
    CHECK(static_cast<std::uint8_t>(block[3]) == 1);  // salted record nonces
    // No KDF cost, no passphrase salt.
    for (std::size_t i = 4; i < 28; ++i) CHECK(static_cast<std::uint8_t>(block[i]) == 0);
    // The store salt came from the entropy hook (nothing else drew before it).
    for (std::size_t i = 0; i < 16; ++i) CHECK(static_cast<std::uint8_t>(block[28 + i]) == 0x10 + i);
    // key check = BLAKE2b-128(block bytes 0..43, key = key-check subkey)
    const auto check_key = subkey_of(key, block + 28, "ferrite key check v1");
    std::array<unsigned char, 16> check{};
    crypto_generichash(check.data(), check.size(), reinterpret_cast<const unsigned char*>(block), 44, check_key.data(),
                       check_key.size());
    CHECK(std::memcmp(check.data(), block + 44, 16) == 0);

    auto le32 = [&](std::size_t at) {
      return std::uint32_t(img[at]) | std::uint32_t(img[at + 1]) << 8 | std::uint32_t(img[at + 2]) << 16 |
             std::uint32_t(img[at + 3]) << 24;
    };
    // Records start at align(96) + align(8) = 104 with the sector's OPEN:
    // a META record (type 2) sealing tail, previous sequence, previous end.
    const std::uint32_t open_w = le32(104);
    CHECK(((open_w >> 8) & 7u) == 2);            // META
    CHECK(((open_w >> 11) & 0x3Fu) == 2);        // OPEN
    CHECK((open_w >> 17) == s.sealed_size(12));
    const std::uint32_t rec = 104 + (8 + (open_w >> 17) + 3) / 4 * 4;
    const std::uint32_t w = le32(rec);
    CHECK((w & 0x80u) != 0);
    CHECK(((w >> 8) & 7u) == 0);                 // PUT
    CHECK(((w >> 11) & 0x3Fu) + 1 == 2);         // key "k1"
    const std::uint32_t stored = w >> 17;
    CHECK(stored == 8 + 3 + 5 + 16);             // salt + frame (raw) + tag
    CHECK(stored == s.sealed_size(3 + 5));
    const std::byte* value = img.data() + rec + 8 + 2;
    // The record's salt came from the hook too: consecutive counter bytes.
    for (std::size_t i = 1; i < 8; ++i)
      CHECK(static_cast<std::uint8_t>(value[i]) == static_cast<std::uint8_t>(static_cast<std::uint8_t>(value[0]) + i));
    CHECK(static_cast<std::uint8_t>(value[0]) >= 0x20);
    const auto record_key = subkey_of(key, block + 28, "ferrite record key v1");
    // AD = store id | sequence | offset | w | key.
    std::array<unsigned char, 18> ad{};
    std::memcpy(ad.data(), img.data() + 20, 4);     // store id from the header
    std::memcpy(ad.data() + 4, img.data() + 8, 4);  // sector sequence
    const std::uint32_t offset = rec;
    std::memcpy(ad.data() + 8, &offset, 4);
    std::memcpy(ad.data() + 12, &w, 4);
    ad[16] = 'k';
    ad[17] = '1';
    std::vector<unsigned char> plain(stored);
    unsigned long long n = 0;
    int rc = -1;
    const auto* cipher = reinterpret_cast<const unsigned char*>(value + 8);
    if (suite == ferrite::CipherSuite::xchacha20poly1305) {
      // nonce = salt ++ AD[0..11] ++ four zero bytes
      std::array<unsigned char, 24> nonce{};
      std::memcpy(nonce.data(), value, 8);
      std::memcpy(nonce.data() + 8, ad.data(), 12);
      rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &n, nullptr, cipher, stored - 8, ad.data(),
                                                      ad.size(), nonce.data(), record_key.data());
    } else {
      // nonce = salt ++ crc32c(AD[0..11]) little-endian
      std::array<unsigned char, 12> nonce{};
      std::memcpy(nonce.data(), value, 8);
      const std::uint32_t crc = ferrite::crc32c(std::as_bytes(std::span(ad).first(12)));
      for (int i = 0; i < 4; ++i) nonce[8 + i] = static_cast<unsigned char>(crc >> (8 * i));
      rc = crypto_aead_aes256gcm_decrypt(plain.data(), &n, nullptr, cipher, stored - 8, ad.data(), ad.size(),
                                         nonce.data(), record_key.data());
    }
    CHECK(rc == 0);
    CHECK(n == 8);
    CHECK(plain[0] == 0);  // raw frame
    CHECK(plain[1] == 5);
    CHECK(plain[2] == 0);
    CHECK(std::string(reinterpret_cast<const char*>(plain.data() + 3), 5) == "hello");
  }
}

TEST_CASE("two seals of one plaintext at one position differ in salt and ciphertext, and both open",
          "[crypto][nonce]") {
  for (const auto suite : {ferrite::CipherSuite::xchacha20poly1305, ferrite::CipherSuite::aes256gcm}) {
    if (!ferrite::suite_available(suite)) {
      WARN(suite_name(suite) << ": suite not available on this CPU");
      continue;
    }
    INFO(suite_name(suite));
    SealOptions o;
    o.suite = suite;
    Sealer s(o);
    CHECK(s.use_key(test_key(21)));
    std::array<std::byte, 60> block{};
    CHECK(s.create_block(block));
    CHECK(s.overhead() == 7 + 16 + 8);
    const std::string text = "the same plaintext, twice";
    const std::size_t n = text.size();
    CHECK(s.sealed_size(n) == n + 24);
    std::array<std::byte, 20> ad{};
    for (std::size_t i = 0; i < ad.size(); ++i) ad[i] = static_cast<std::byte>(i * 3 + 1);
    auto sealed = [&] {
      std::vector<std::byte> buf(s.sealed_size(n));
      std::memcpy(buf.data(), text.data(), n);
      CHECK(s.seal(ad, buf, n));
      return buf;
    };
    const auto first = sealed(), second = sealed();
    CHECK(std::memcmp(first.data(), second.data(), 8) != 0);            // the salts
    CHECK(std::memcmp(first.data() + 8, second.data() + 8, n + 16) != 0);  // the ciphertexts and tags
    for (const auto& one : {first, second}) {
      auto buf = one;
      const auto opened = s.open(ad, buf);
      CHECK(opened.value_or(0) == n);
      CHECK(std::string(reinterpret_cast<const char*>(buf.data()), n) == text);
      // What followed the plaintext (a copy of its last bytes, the tag) is wiped.
      for (std::size_t i = n; i < buf.size(); ++i) CHECK(buf[i] == std::byte{0});
    }
    // The salt is in the nonce, so it is authenticated: no bit of it can change.
    const auto rejected = s.stats().rejected;
    for (std::size_t i = 0; i < 8; ++i)
      for (unsigned bit = 0; bit < 8; ++bit) {
        auto buf = first;
        buf[i] ^= static_cast<std::byte>(1u << bit);
        CHECK(s.open(ad, buf).error() == Errc::corrupt);
      }
    CHECK(s.stats().rejected == rejected + 64);
    // Neither can the position.
    auto moved = first;
    ad[8] ^= std::byte{4};
    CHECK(s.open(ad, moved).error() == Errc::corrupt);
  }
}

namespace {

/// Every (store salt, nonce) a Sealer reports, and how many seals there were.
struct NonceLog {
  std::set<std::vector<std::byte>> pairs;
  std::set<std::vector<std::byte>> positions;  // the nonce bytes after the salt
  std::size_t seals = 0;
  static void seen(void* self, std::span<const std::byte> store, std::span<const std::byte> nonce) noexcept {
    auto& log = *static_cast<NonceLog*>(self);
    ++log.seals;
    std::vector<std::byte> pair(store.begin(), store.end());
    pair.insert(pair.end(), nonce.begin(), nonce.end());
    log.pairs.insert(pair);
    log.positions.emplace(nonce.begin() + 8, nonce.end());
  }
  ferrite::NonceObserver hook() noexcept { return {&NonceLog::seen, this}; }
};

}  // namespace

TEST_CASE("the nonce observer sees no nonce twice, over many seals at the same positions", "[crypto][nonce]") {
  for (const auto suite : {ferrite::CipherSuite::xchacha20poly1305, ferrite::CipherSuite::aes256gcm}) {
    if (!ferrite::suite_available(suite)) {
      WARN(suite_name(suite) << ": suite not available on this CPU");
      continue;
    }
    INFO(suite_name(suite));
    const std::size_t nonce_size = suite == ferrite::CipherSuite::aes256gcm ? 12 : 24;
    // Directly: 20,000 seals at 4 positions.
    {
      NonceLog log;
      SealOptions o;
      o.suite = suite;
      o.nonce_observer = log.hook();
      Sealer s(o);
      CHECK(s.use_key(test_key(22)));
      std::array<std::byte, 60> block{};
      CHECK(s.create_block(block));
      std::array<std::byte, 20> ad{};
      std::vector<std::byte> buf(s.sealed_size(4));
      for (std::uint32_t i = 0; i < 20000; ++i) {
        ad[8] = static_cast<std::byte>(i % 4);
        std::memcpy(buf.data(), &i, 4);
        CHECK(s.seal(ad, buf, 4));
      }
      CHECK(log.seals == 20000);
      CHECK(log.pairs.size() == log.seals);
      CHECK(log.positions.size() == 4);
      CHECK(log.pairs.begin()->size() == 16 + nonce_size);
      CHECK(std::memcmp(log.pairs.begin()->data(), block.data() + 28, 16) == 0);  // the store salt
    }
    // Through a store whose image is rolled back again and again: the device
    // writes other values at the positions it had used.
    NonceLog log;
    SealOptions o;
    o.suite = suite;
    o.nonce_observer = log.hook();
    Sealer s(o);
    CHECK(s.use_key(test_key(23)));
    Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 256, &s);
    if (!r.format()) {
      FAIL_CHECK("format");
      continue;
    }
    CHECK(r.put("config", "first"));
    const std::vector<std::byte> image(r.sim.image().begin(), r.sim.image().end());
    // Values of one length, so every round writes at the same offsets.
    auto value = [](int round, int i) {
      return "round " + std::to_string(100 + round) + " value " + std::to_string(10 + i);
    };
    for (int round = 0; round < 40; ++round) {
      Rig again(rig::geometry(2, 8192, 4), 64, true, false, 1, 256, &s);
      again.sim.load_image(image);
      CHECK(again.mount());
      for (int i = 0; i < 20; ++i) CHECK(again.put("pin" + std::to_string(i % 3), value(round, i)));
      CHECK(again.get("pin2") == value(round, 17));
    }
    INFO("seals " << log.seals << ", positions " << log.positions.size());
    CHECK(log.seals >= 1 + 40 * 20);
    CHECK(log.positions.size() <= 2 + 20);  // every position of the rounds sealed 40 times (and the OPEN record)
    CHECK(log.pairs.size() == log.seals);
  }
}

namespace {

/// Edits the crypto block of every sector that has a header, then makes both
/// crcs right again (the block's own and the header's, which covers the
/// block): what someone with the flash in hand can do.
template <class Edit>
void edit_block(Rig& r, Edit edit) {
  auto img = r.sim.raw();
  const auto& g = r.sim.geometry();
  for (std::uint32_t sector = 0; sector < g.sector_count(); ++sector) {
    std::byte* h = img.data() + g.sector_offset(sector);
    if (std::memcmp(h, "FeRt", 4) != 0) continue;
    const std::span<std::byte> block(h + 32, 64);
    edit(block.first(60));
    const std::uint32_t block_crc = ferrite::crc32c(block.first(60));
    for (int i = 0; i < 4; ++i) block[60 + i] = static_cast<std::byte>(block_crc >> (8 * i));
    const std::uint32_t crc = ferrite::crc32c(block, ferrite::crc32c(std::span<const std::byte>(h, 28)));
    for (int i = 0; i < 4; ++i) h[28 + i] = static_cast<std::byte>(crc >> (8 * i));
  }
}

void put_le32(std::span<std::byte> at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::byte>(v >> (8 * i));
}

}  // namespace

TEST_CASE("a store formatted with other options answers config_mismatch, whatever the key", "[crypto][config]") {
  // The application's options win: mount never adopts the image's.
  SealOptions formatted;
  formatted.compression_level = 3;
  Sealer writer(formatted);
  CHECK(writer.use_key(test_key(31)));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &writer);
  CHECK(r.format());
  CHECK(r.put("a", "b"));
  const std::vector<std::byte> image(r.sim.image().begin(), r.sim.image().end());
  auto mount_with = [&](SealOptions o, std::uint8_t key_seed) {
    Sealer s(o);
    CHECK(s.use_key(test_key(key_seed)));
    Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    m.sim.load_image(image);
    const auto st = m.mount();
    return st ? std::string("ok") : std::string(ferrite::name_of(st.error()));
  };
  CHECK(mount_with(formatted, 31) == "ok");
  SealOptions other = formatted;
  other.compression_level = 9;  // the level is not part of the store, only whether it compresses
  CHECK(mount_with(other, 31) == "ok");
  CHECK(mount_with(SealOptions{}, 31) == "config_mismatch");  // compression off
  other = formatted;
  other.hide_keys = true;
  CHECK(mount_with(other, 31) == "config_mismatch");
  other = formatted;
  other.suite = ferrite::CipherSuite::aes256gcm;  // refused before asking whether the CPU has it
  CHECK(mount_with(other, 31) == "config_mismatch");
  other.suite = ferrite::CipherSuite::xchacha20poly1305;
  CHECK(mount_with(other, 32) == "wrong_key");
  other.hide_keys = true;
  CHECK(mount_with(other, 32) == "config_mismatch");  // options are compared before any key is tried

  // A passphrase Sealer with other options does not even run Argon2id: its
  // passphrase is still there after the refusal.
  Sealer by_passphrase(formatted);
  CHECK(by_passphrase.use_passphrase("open sesame", cheap));
  Rig p(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &by_passphrase);
  CHECK(p.format());
  Sealer mismatched;  // compression off
  CHECK(mismatched.use_passphrase("open sesame", cheap));
  Rig q(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &mismatched);
  q.sim.load_image(p.sim.image());
  CHECK(q.mount().error() == Errc::config_mismatch);
  CHECK(mismatched.holds_passphrase());
}

TEST_CASE("a crypto block asking for an Argon2id cost above the bound is refused before the KDF runs",
          "[crypto][config]") {
  Sealer writer;
  CHECK(writer.use_passphrase("open sesame", cheap));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &writer);
  CHECK(r.format());
  CHECK(r.put("a", "b"));
  auto mount_edited = [&](std::uint32_t ops, std::uint32_t mem_kib, Sealer& s) {
    Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    m.sim.load_image(r.sim.image());
    edit_block(m, [&](std::span<std::byte> block) {
      put_le32(block.subspan(4), ops);
      put_le32(block.subspan(8), mem_kib);
    });
    return m.mount();
  };
  // 64 passes over 4 GiB: minutes of Argon2id, or gigabytes, if it ran.
  Sealer bombed;
  CHECK(bombed.use_passphrase("open sesame", cheap));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(mount_edited(64, 4u * 1024 * 1024, bombed).error() == Errc::config_mismatch);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(bombed.holds_passphrase());
  // One dimension above the bound is enough: the default is libsodium's MODERATE (3 passes, 256 MiB).
  CHECK(SealOptions{}.max_kdf_cost.opslimit == 3);
  CHECK(SealOptions{}.max_kdf_cost.memlimit_kib == 256u * 1024);
  CHECK(mount_edited(4, 8, bombed).error() == Errc::config_mismatch);
  CHECK(mount_edited(1, 256 * 1024 + 1, bombed).error() == Errc::config_mismatch);
  // Below libsodium's minimum is no cost anyone formatted with: damage.
  CHECK(mount_edited(0, 8, bombed).error() == Errc::corrupt);
  CHECK(mount_edited(1, 4, bombed).error() == Errc::corrupt);
  // An edited cost within the bound runs the KDF, and the key check fails.
  CHECK(mount_edited(2, 8, bombed).error() == Errc::wrong_key);
  // Nobody formats what their own mount would refuse.
  CHECK(Sealer().use_passphrase("x", {4, 8}).error() == Errc::invalid_argument);
  CHECK(Sealer().use_passphrase("x", {1, 256 * 1024 + 1}).error() == Errc::invalid_argument);
  CHECK(Sealer().use_passphrase("x", {0, 8}).error() == Errc::invalid_argument);
  CHECK(Sealer().use_passphrase("x", {3, 256 * 1024}));
  SealOptions generous;
  generous.max_kdf_cost = {4, 8};
  CHECK(Sealer(generous).use_passphrase("x", {4, 8}));
}

TEST_CASE("an edited crypto block never mounts, whichever of its first 44 bytes changed", "[crypto][config][tamper]") {
  // The key check covers bytes 0..43, so an edit is refused as an option
  // mismatch, as damage, or as a wrong key: never accepted.
  for (const bool passphrase : {false, true}) {
    INFO((passphrase ? "passphrase" : "raw key"));
    Sealer writer;
    if (passphrase) CHECK(writer.use_passphrase("open sesame", cheap));
    else CHECK(writer.use_key(test_key(41)));
    Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &writer);
    CHECK(r.format());
    CHECK(r.put("a", "b"));
    std::size_t cases = 0, mounted = 0, bad_flags = 0;
    for (std::size_t at = 0; at < 44; ++at) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        // The writer itself (its keys kept, its passphrase gone), and a fresh
        // Sealer that must derive.
        Sealer fresh;
        if (passphrase) CHECK(fresh.use_passphrase("open sesame", cheap));
        else CHECK(fresh.use_key(test_key(41)));
        for (Sealer* s : {&writer, &fresh}) {
          Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, s);
          m.sim.load_image(r.sim.image());
          edit_block(m, [&](std::span<std::byte> block) { block[at] ^= static_cast<std::byte>(1u << bit); });
          const auto st = m.mount();
          ++cases;
          if (st) {
            ++mounted;
            if (mounted < 5) FAIL_CHECK("byte " << at << " bit " << bit << ": mounted");
          } else if (at == 2 && st.error() != Errc::config_mismatch && st.error() != Errc::wrong_key) {
            ++bad_flags;
          }
        }
      }
    }
    CHECK(cases == 44 * 8 * 2);
    CHECK(mounted == 0);
    CHECK(bad_flags == 0);
    // Untouched, both still mount.
    Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &writer);
    m.sim.load_image(r.sim.image());
    CHECK(m.mount());
    CHECK(m.get("a") == "b");
  }
}

TEST_CASE("a Sealer wipes its passphrase once it has a key, and mounts its own store again without it",
          "[crypto][passphrase]") {
  Sealer s;
  CHECK_FALSE(s.holds_passphrase());
  CHECK(s.use_passphrase("open sesame", cheap));
  CHECK(s.holds_passphrase());
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  CHECK(r.format());
  CHECK_FALSE(s.holds_passphrase());
  CHECK(r.put("k", "v"));
  // Remount with the same Sealer: the subkeys it kept with the store's salts.
  r.reboot();
  CHECK(r.mount());
  CHECK(r.get("k") == "v");
  CHECK(r.put("k", "w"));

  // A fresh Sealer holds its passphrase until a mount has used it.
  Sealer fresh;
  CHECK(fresh.use_passphrase("open sesame", cheap));
  Rig m(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &fresh);
  m.sim.load_image(r.sim.image());
  CHECK(m.mount());
  CHECK_FALSE(fresh.holds_passphrase());
  CHECK(m.get("k") == "w");

  // A passphrase that does not open the store stays (a key rotation seals a
  // new block with it right after).
  Sealer wrong;
  CHECK(wrong.use_passphrase("not it", cheap));
  Rig w(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &wrong);
  w.sim.load_image(r.sim.image());
  CHECK(w.mount().error() == Errc::wrong_key);
  CHECK(wrong.holds_passphrase());

  // Another store under the same passphrase has other salts: without the
  // passphrase, the Sealer cannot open it, and can once given it again.
  Sealer other_writer;
  CHECK(other_writer.use_passphrase("open sesame", cheap));
  Rig other(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &other_writer);
  CHECK(other.format());
  CHECK(other.put("k", "other"));
  Rig o(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  o.sim.load_image(other.sim.image());
  CHECK(o.mount().error() == Errc::wrong_key);
  // Nor format a new store: that needs the passphrase to make new salts.
  Rig blank(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  CHECK(blank.format().error() == Errc::wrong_key);
  CHECK(s.use_passphrase("open sesame", cheap));
  o.reboot();
  CHECK(o.mount());
  CHECK(o.get("k") == "other");
  CHECK_FALSE(s.holds_passphrase());
}

TEST_CASE("sealed stores do not compress unless asked", "[crypto][zstd]") {
  CHECK(SealOptions{}.compression_level == 0);
  Sealer s;
  CHECK(s.use_key(test_key(51)));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  CHECK(r.format());
  const std::string compressible(600, 'z');
  CHECK(r.put("z", compressible));
  CHECK(r.get("z") == compressible);
  CHECK(s.stats().compressed == 0);
  CHECK(s.stats().framed_bytes == compressible.size() + 3);
  CHECK(static_cast<std::uint8_t>(r.sim.image()[32 + 2]) == 0);  // the block's flags: compression off
}

namespace {

/// Rewrites the crc of the full record at `rec` (partition offset) as if it
/// had been written there: what an attacker who knows the format can do.
void fix_crc(Rig& r, std::uint32_t rec) {
  auto img = r.sim.raw();
  const auto& g = r.sim.geometry();
  const std::uint32_t sector = g.sector_of(rec), base = g.sector_offset(sector);
  auto le32 = [&](std::size_t at) {
    return std::uint32_t(img[at]) | std::uint32_t(img[at + 1]) << 8 | std::uint32_t(img[at + 2]) << 16 |
           std::uint32_t(img[at + 3]) << 24;
  };
  const std::uint32_t w = le32(rec), klen = ((w >> 11) & 0x3F) + 1, vlen = w >> 17;
  std::array<std::byte, 8> pos{};
  const std::uint32_t seq = le32(base + 8), off = rec - base;
  std::memcpy(pos.data(), &seq, 4);
  std::memcpy(pos.data() + 4, &off, 4);
  std::uint32_t crc = ferrite::crc32c(pos);
  crc = ferrite::crc32c(std::span<const std::byte>(img.data() + rec, 4), crc);
  crc = ferrite::crc32c(std::span<const std::byte>(img.data() + rec + 8, klen + vlen), crc);
  for (int i = 0; i < 4; ++i) img[rec + 4 + i] = static_cast<std::byte>(crc >> (8 * i));
}

std::uint32_t record_size(const Rig& r, std::uint32_t rec) {
  const auto img = r.sim.image();
  const std::uint32_t w = std::uint32_t(img[rec]) | std::uint32_t(img[rec + 1]) << 8 |
                          std::uint32_t(img[rec + 2]) << 16 | std::uint32_t(img[rec + 3]) << 24;
  const std::uint32_t kind = (w >> 8) & 7u;
  const std::uint32_t key_len = (kind == 2 || kind == 5) ? 0 : ((w >> 11) & 0x3F) + 1;  // META, TXN_COMMIT: none
  const std::uint32_t n = 8 + key_len + (w >> 17);
  return (n + 3) / 4 * 4;
}

}  // namespace

TEST_CASE("records moved, swapped, replayed or spliced from another store make the store refuse to mount",
          "[crypto][tamper]") {
  Sealer s;
  CHECK(s.use_key(test_key(3)));
  Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
  REQUIRE(r.format());
  CHECK(r.put("pin", "1234"));   // after the sector's OPEN record
  CHECK(r.put("pin", "9999"));   // the latest
  const std::uint32_t first = 104 + record_size(r, 104), second = first + record_size(r, first);
  const std::uint32_t tail = second + record_size(r, second);
  auto mount_error = [&](Rig& t) {
    auto st = t.mount();
    return st ? Errc::ok : st.error();
  };
  // Replay: the old record copied into the erased tail, crc made valid there.
  {
    Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    t.sim.load_image(r.sim.image());
    std::memcpy(t.sim.raw().data() + tail, r.sim.image().data() + first, record_size(r, first));
    fix_crc(t, tail);
    CHECK(mount_error(t) == Errc::tampered);  // never the replayed "1234"
  }
  // Swap: the two records exchange places (same size), crcs fixed.
  {
    Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    t.sim.load_image(r.sim.image());
    const std::uint32_t n = record_size(r, first);
    std::memcpy(t.sim.raw().data() + first, r.sim.image().data() + second, n);
    std::memcpy(t.sim.raw().data() + second, r.sim.image().data() + first, n);
    fix_crc(t, first);
    fix_crc(t, second);
    CHECK(mount_error(t) == Errc::tampered);
  }
  // Splice: the same key and position written by another store (same key material).
  {
    Sealer s2;
    CHECK(s2.use_key(test_key(3)));
    Rig other(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s2);
    REQUIRE(other.format());
    CHECK(other.put("pin", "0000"));
    CHECK(other.put("pin", "1111"));
    Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    t.sim.load_image(r.sim.image());
    std::memcpy(t.sim.raw().data() + second, other.sim.image().data() + second, record_size(r, second));
    fix_crc(t, second);
    CHECK(mount_error(t) == Errc::tampered);
  }
  // A forged deletion (valid crc, no valid tag) does not delete: it refuses the mount.
  {
    Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    t.sim.load_image(r.sim.image());
    auto img = t.sim.raw();
    const std::uint32_t w = 0x80u | (1u << 8) | (2u << 11) | (24u << 17);  // DELETE, key "pin", sealed empty
    for (int i = 0; i < 4; ++i) img[tail + i] = static_cast<std::byte>(w >> (8 * i));
    std::memcpy(img.data() + tail + 8, "pin", 3);
    for (int i = 0; i < 24; ++i) img[tail + 11 + i] = std::byte{0x5A};
    fix_crc(t, tail);
    CHECK(mount_error(t) == Errc::tampered);
  }
  // The image as written mounts and reads the latest value.
  {
    Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    t.sim.load_image(r.sim.image());
    CHECK(mount_error(t) == Errc::ok);
    CHECK(t.get("pin") == "9999");
  }
}

TEST_CASE("every single-bit flip in a sealed record is detected, never returned as data", "[crypto][tamper]") {
  std::size_t cases = 0, failures = 0;
  for (bool compress : {false, true}) {
    SealOptions o;
    o.compression_level = compress ? 3 : 0;
    Sealer s(o);
    CHECK(s.use_key(test_key(4)));
    Rig r(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
    REQUIRE(r.format());
    std::map<std::string, std::string> truth;
    for (int i = 0; i < 6; ++i) {
      const std::string k = "key" + std::to_string(i), v = sensor_document(i);
      CHECK(r.put(k, v));
      truth[k] = v;
    }
    CHECK(r.erase("key5"));
    truth.erase("key5");
    const std::vector<std::byte> image(r.sim.image().begin(), r.sim.image().end());
    const std::uint32_t end = 104 + r.store->stats().records_written * 0 + 8192 / 2;
    // Every bit of every written record byte (the sector header area aside).
    std::uint32_t last = 104;
    for (std::uint32_t a = 104; a < end; ++a)
      if (image[a] != std::byte{0xFF}) last = a;
    for (std::uint32_t a = 104; a <= last; ++a) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        Rig t(rig::geometry(2, 8192, 4), 64, true, false, 1, 1024, &s);
        t.sim.load_image(image);
        t.sim.flip_bit(a, bit);
        ++cases;
        bool bad = false;
        if (t.mount()) {
          // A changed record fails its crc or its tag. If its crc fails it
          // drops out of the log, and mount reports that: as corruption, or
          // — for the last record, indistinguishable from a write cut by
          // power — as a torn tail that seals the head. Then a key may show
          // the value it had before (or be absent), never anything else.
          const auto st = t.store->stats();
          const bool reported = st.corrupt_records > 0 || st.head_sealed;
          for (auto& [k, v] : truth) {
            const std::string got = t.get(k);
            if (got == v || got == "!corrupt" || got == "!tampered") continue;
            if (got == "!not_found" && reported) continue;
            bad = true;
          }
          const std::string gone = t.get("key5");
          if (gone != "!not_found" && gone != "!corrupt" && gone != "!tampered" &&
              !(reported && gone == sensor_document(5)))
            bad = true;
        }
        if (bad) {
          ++failures;
          if (failures < 5) std::fprintf(stderr, "tamper: flip at %u bit %u undetected\n", a, bit);
        }
      }
    }
  }
  std::printf("campaign tamper: %zu cases, %zu failures\n", cases, failures);
  std::fflush(stdout);
  CHECK(failures == 0);
  CHECK(cases > 5000);
}

TEST_CASE("compression with a trained dictionary shrinks small documents further", "[crypto][zstd]") {
  std::vector<std::vector<std::byte>> samples;
  for (int i = 0; i < 400; ++i) {
    const std::string d = sensor_document(i * 7 + 1);
    samples.emplace_back(reinterpret_cast<const std::byte*>(d.data()), reinterpret_cast<const std::byte*>(d.data()) + d.size());
  }
  auto dict = Sealer::train_dictionary(samples, 2048);
  REQUIRE(dict);
  SealOptions o;
  o.compression_level = 3;
  Sealer plain(o), with_dict(o);
  CHECK(plain.use_key(test_key(5)));
  CHECK(with_dict.use_key(test_key(5)));
  CHECK(with_dict.use_dictionary(*dict));
  CHECK(with_dict.use_dictionary({}).error() == Errc::invalid_argument);
  Rig a(rig::geometry(3, 16384, 4), 256, true, false, 1, 1024, &plain);
  Rig b(rig::geometry(3, 16384, 4), 256, true, false, 1, 4096, &with_dict);
  REQUIRE(a.format());
  REQUIRE(b.format());
  for (int i = 0; i < 100; ++i) {
    CHECK(a.put("d" + std::to_string(i), sensor_document(i)));
    CHECK(b.put("d" + std::to_string(i), sensor_document(i)));
  }
  INFO("ratio plain " << plain.stats().ratio() << " dict " << with_dict.stats().ratio());
  CHECK(with_dict.stats().ratio() < plain.stats().ratio());
  CHECK(with_dict.stats().ratio() < 0.7);
  for (int i = 0; i < 100; ++i) CHECK(b.get("d" + std::to_string(i)) == sensor_document(i));
  // Kept in the store: a fresh sealer after a reboot loads it and reads everything.
  CHECK(ferrite::sync_wait(with_dict.store_dictionary(*b.store, *dict)));
  CHECK(b.put("after", sensor_document(5)));
  Sealer fresh(o);
  CHECK(fresh.use_key(test_key(5)));
  Rig c(rig::geometry(3, 16384, 4), 256, true, false, 1, 4096, &fresh);
  c.sim.load_image(b.sim.image());
  REQUIRE(c.mount());
  CHECK(c.get("d7") == "!unsupported");  // compressed with a dictionary it does not have yet
  CHECK(ferrite::sync_wait(fresh.load_dictionary(*c.store)));
  for (int i = 0; i < 100; ++i) CHECK(c.get("d" + std::to_string(i)) == sensor_document(i));
  CHECK(c.get("after") == sensor_document(5));
  std::printf("compression ratio on sensor documents: zstd %.3f, zstd+dictionary %.3f\n", plain.stats().ratio(),
              with_dict.stats().ratio());
}

namespace {

std::vector<std::byte> sensor_dictionary(int salt) {
  std::vector<std::vector<std::byte>> samples;
  for (int i = 0; i < 400; ++i) {
    const std::string d = sensor_document(i * 7 + salt);
    samples.emplace_back(reinterpret_cast<const std::byte*>(d.data()), reinterpret_cast<const std::byte*>(d.data()) + d.size());
  }
  auto dict = Sealer::train_dictionary(samples, 2048);
  return dict ? *dict : std::vector<std::byte>();
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("dictionary frames match zstd's one-shot dictionary calls in both directions", "[crypto][zstd]") {
  // Frames written before the dictionary was digested once (zstd's
  // ZSTD_compress_usingDict) must still read back, and readers that use the
  // raw dictionary must read the frames written now: same header, same
  // dictionary id (in ferrite's head and in the zstd frame header).
  const auto dict = sensor_dictionary(1);
  REQUIRE(dict.size() > 8);
  const unsigned id = ZDICT_getDictID(dict.data(), dict.size());
  REQUIRE(id != 0);
  for (int level : {1, 3, 9}) {
    INFO("level " << level);
    SealOptions o;
    o.compression_level = level;
    Sealer s(o);
    CHECK(s.use_dictionary(dict));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    REQUIRE(cctx);
    REQUIRE(dctx);
    for (int i = 0; i < 50; ++i) {
      const std::string doc = sensor_document(i);
      // Old writer -> this reader.
      std::vector<std::byte> old_frame(7 + doc.size());
      const std::size_t n = ZSTD_compress_usingDict(cctx, old_frame.data() + 7, doc.size(), doc.data(), doc.size(),
                                                    dict.data(), dict.size(), level);
      REQUIRE_FALSE(ZSTD_isError(n));
      old_frame.resize(7 + n);
      old_frame[0] = std::byte{2};
      old_frame[1] = static_cast<std::byte>(doc.size());
      old_frame[2] = static_cast<std::byte>(doc.size() >> 8);
      for (int b = 0; b < 4; ++b) old_frame[3 + b] = static_cast<std::byte>(id >> (8 * b));
      std::string back(doc.size(), '\0');
      const auto got = s.unframe(old_frame, std::as_writable_bytes(std::span(back)));
      CHECK(got.value_or(0) == doc.size());
      CHECK(back == doc);
      // This writer -> a raw-dictionary reader.
      std::vector<std::byte> frame(doc.size() + 7);
      const auto made = s.frame(bytes_of(doc), frame);
      REQUIRE(made);
      frame.resize(*made);
      CHECK(static_cast<std::uint8_t>(frame[0]) == 2);
      CHECK((static_cast<std::size_t>(frame[1]) | static_cast<std::size_t>(frame[2]) << 8) == doc.size());
      std::uint32_t head_id = 0;
      for (int b = 0; b < 4; ++b) head_id |= std::uint32_t(frame[3 + b]) << (8 * b);
      CHECK(head_id == id);
      CHECK(ZSTD_getDictID_fromFrame(frame.data() + 7, frame.size() - 7) == id);
      std::string raw(doc.size(), '\0');
      const std::size_t m =
          ZSTD_decompress_usingDict(dctx, raw.data(), raw.size(), frame.data() + 7, frame.size() - 7, dict.data(), dict.size());
      CHECK(m == doc.size());
      CHECK(raw == doc);
    }
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
}

TEST_CASE("replacing the dictionary, or mounting at another compression level, keeps every value readable",
          "[crypto][zstd]") {
  const auto first = sensor_dictionary(1), second = sensor_dictionary(3);
  REQUIRE(first.size() > 8);
  REQUIRE(second.size() > 8);
  SealOptions o;
  o.compression_level = 3;
  Sealer writer(o);
  CHECK(writer.use_key(test_key(8)));
  CHECK(writer.use_dictionary(second));
  CHECK(writer.use_dictionary(first));  // replaces (and frees) the digested second one
  CHECK(writer.use_dictionary(first));
  Rig r(rig::geometry(3, 16384, 4), 256, true, false, 1, 4096, &writer);
  REQUIRE(r.format());
  for (int i = 0; i < 40; ++i) CHECK(r.put("d" + std::to_string(i), sensor_document(i)));
  CHECK(writer.stats().compressed == 40);
  // The store records only that compression is on, not the level: a sealer
  // at level 1 with the dictionary installed (and digested at level 1)
  // before mount reads and writes it.
  SealOptions level1;
  level1.compression_level = 1;
  Sealer reader(level1);
  CHECK(reader.use_key(test_key(8)));
  CHECK(reader.use_dictionary(first));
  Rig m(rig::geometry(3, 16384, 4), 256, true, false, 1, 4096, &reader);
  m.sim.load_image(r.sim.image());
  CHECK(m.mount());
  for (int i = 0; i < 40; ++i) CHECK(m.get("d" + std::to_string(i)) == sensor_document(i));
  for (int i = 40; i < 60; ++i) CHECK(m.put("d" + std::to_string(i), sensor_document(i)));
  CHECK(reader.stats().compressed == 20);
  for (int i = 0; i < 60; ++i) CHECK(m.get("d" + std::to_string(i)) == sensor_document(i));
  // The other dictionary cannot read them, and says so.
  CHECK(reader.use_dictionary(second));
  CHECK(m.get("d7") == "!unsupported");
  CHECK(reader.use_dictionary(first));
  CHECK(m.get("d7") == sensor_document(7));
  // A dictionary with a valid id but damaged tables is refused, and the one
  // in use stays.
  auto damaged = first;
  for (std::size_t i = 8; i < 64 && i < damaged.size(); ++i) damaged[i] = std::byte{0xFF};
  CHECK(reader.use_dictionary(damaged).error() == Errc::invalid_argument);
  CHECK(m.get("d41") == sensor_document(41));
}

TEST_CASE("transactions work on a sealed store", "[crypto][txn]") {
  Sealer s;
  CHECK(s.use_key(test_key(6)));
  Rig r(rig::geometry(3, 8192, 4), 64, true, false, 1, 512, &s);
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  ferrite::Transaction t(*r.store);
  CHECK(ferrite::sync_wait(t.put("a", "2")));
  CHECK(ferrite::sync_wait(t.put("b", "3")));
  CHECK(ferrite::sync_wait(t.erase("zz")));
  CHECK(ferrite::sync_wait(t.commit()));
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("a") == "2");
  CHECK(r.get("b") == "3");
}

TEST_CASE("a power cut at any write of a sealed, compressed store loses nothing acknowledged", "[crypto][powerloss]") {
  SealOptions o;
  o.compression_level = 3;
  o.compress_min = 8;
  Sealer s(o);
  CHECK(s.use_key(test_key(7)));
  const campaign::Geometry geometries[] = {{"sealed 2x2K/u4", 2, 2048, 4, 64}, {"sealed 3x2K/u8", 3, 2048, 8, 64}};
  const double scale = campaign::campaign_scale();
  campaign::Tally tally;
  for (const auto& g : geometries) {
    const int workloads = std::max(1, static_cast<int>(8 * scale));
    for (int w = 0; w < workloads; ++w) campaign::run(g, 0x5EA1ED00u + w * 37 + g.unit, 350, tally, &s);
  }
  std::printf("campaign powerloss-kv-sealed: %zu cases, %zu failures\n", tally.cases, tally.failures);
  std::fflush(stdout);
  CHECK(tally.failures == 0);
  CHECK(tally.cases >= static_cast<std::size_t>(scale >= 1.0 ? 5000 : 500));
}

TEST_CASE("a sealed write a power cut left weak stays refused once the log has moved on past it", "[crypto][powerloss]") {
  // The mount that finds the head's last record unstable refuses it as a
  // torn tail and seals the head; the next write opens a sector whose OPEN
  // pins the end before that record. When the record later reads right by
  // chance, it lies past the pinned end: never acknowledged, it is voided,
  // not applied and not taken for tampering (FORMAT.md §5.1).
  const auto g = rig::geometry(3, 1024, 4);
  const std::string fresh("\xFF\xFF\xFF\xFE", 4);
  std::size_t weak_sealed = 0, failures = 0;
  for (std::uint64_t seed = 1; seed <= 800 && failures == 0; ++seed) {
    Sealer sealer;
    CHECK(sealer.use_key(test_key(13)));
    Rig r(g, 64, true, false, seed, 256, &sealer);
    if (!r.format() || !r.put("K", "old") || !r.put("L", "other")) continue;
    r.sim.cut_power_at(r.sim.mutating_ops());
    (void)r.put("K", fresh);
    if (!r.sim.power_is_lost() || r.sim.weak_bit_count() == 0) continue;
    r.reboot();
    if (!r.mount()) {
      ++failures;
      FAIL_CHECK("seed " << seed << ": the first mount after the cut failed");
      break;
    }
    const std::string first = r.get("K");
    if (!r.store->stats().head_sealed) continue;  // read as torn or whole: nothing moves on
    ++weak_sealed;
    CHECK(first == "old");
    CHECK(r.put("M", "moves the log on"));
    for (int m = 0; m < 24; ++m) {
      r.reboot();
      const auto mounted = r.mount();
      const std::string again = mounted ? r.get("K") : std::string("(mount: ") + ferrite::name_of(mounted.error()) + ")";
      if (again != first) {
        ++failures;
        FAIL_CHECK("seed " << seed << ": K read '" << first << "' at the first mount, '" << again << "' at mount "
                           << m + 2);
        break;
      }
    }
  }
  INFO(weak_sealed << " cuts left a weak sealed record and a sealed head");
  CHECK(weak_sealed >= 3);
  CHECK(failures == 0);
}

TEST_CASE("key rotation re-seals every record under the new key, and a power cut at any step loses nothing",
          "[crypto][rotation][powerloss]") {
  Sealer old_key;
  CHECK(old_key.use_key(test_key(11)));
  const auto g = rig::geometry(5, 4096, 4);
  Rig setup(g, 64, true, false, 1, 256, &old_key);
  REQUIRE(setup.format());
  std::map<std::string, std::string> truth;
  for (int i = 0; i < 400; ++i) {
    const std::string k = "k" + std::to_string(i % 61), v = sensor_document(i).substr(0, 10 + i % 40);
    const auto pst = setup.put(k, v);
    if (!pst) {
      const auto st = setup.store->stats();
      std::fprintf(stderr, "put %d failed %s: live %u cap %u free %u sectors live %u free %u sealed %d\n", i,
                   ferrite::name_of(pst.error()), st.live_bytes, st.capacity_bytes, st.free_bytes, st.live_sectors,
                   st.free_sectors, st.head_sealed);
      for (const auto& si : setup.store->sectors())
        std::fprintf(stderr, "  seq %u state %u used %u live %u\n", si.sequence, si.state, si.used_bytes, si.live_bytes);
      break;
    }
    CHECK(setup.get(k) == v);
    truth[k] = v;
  }
  const std::vector<std::byte> image(setup.sim.image().begin(), setup.sim.image().end());
  auto all_read = [&](Rig& r) {
    std::size_t bad = 0;
    for (auto& [k, v] : truth) bad += r.get(k) != v;
    return bad;
  };
  // The uncut rotation: how many program/erase steps it takes.
  std::uint64_t steps = 0;
  {
    Sealer new_key;
    CHECK(new_key.use_key(test_key(12)));
    Rig r(g, 64, true, false, 1, 256, &new_key);
    r.config.previous_codec = &old_key;
    r.store.emplace(r.flash, r.config);
    r.sim.load_image(image);
    REQUIRE(r.mount());
    CHECK(r.store->sectors_under_previous_key() > 0);
    const auto base = r.sim.mutating_ops();
    CHECK(ferrite::sync_wait(r.store->reseal()));
    steps = r.sim.mutating_ops() - base;
    CHECK(r.store->sectors_under_previous_key() == 0);
    CHECK(all_read(r) == 0);
    // Done: the new key alone opens it, the old one no longer does.
    Rig only_new(g, 64, true, false, 1, 256, &new_key);
    only_new.sim.load_image(r.sim.image());
    REQUIRE(only_new.mount());
    CHECK(all_read(only_new) == 0);
    Rig only_old(g, 64, true, false, 1, 256, &old_key);
    only_old.sim.load_image(r.sim.image());
    CHECK(only_old.mount().error() == Errc::wrong_key);
  }
  CHECK(steps > 10);
  std::size_t cases = 0, failures = 0;
  for (std::uint64_t k = 0; k < steps; ++k) {
    Sealer new_key;
    CHECK(new_key.use_key(test_key(12)));
    Rig r(g, 64, true, false, 100 + k, 256, &new_key);
    r.config.previous_codec = &old_key;
    r.store.emplace(r.flash, r.config);
    r.sim.load_image(image);
    REQUIRE(r.mount());
    r.sim.cut_power_at(r.sim.mutating_ops() + k);
    const auto cut = ferrite::sync_wait(r.store->reseal());
    ++cases;
    std::string failure;
    if (cut) failure = "the cut did not land";
    r.reboot();
    if (failure.empty() && !r.mount()) failure = "mount with both keys failed";
    if (failure.empty() && all_read(r) != 0) failure = "a value changed after the cut";
    if (failure.empty()) {
      const auto again = ferrite::sync_wait(r.store->reseal());
      if (!again) {
        failure = std::string("reseal did not finish after the cut: ") + ferrite::name_of(again.error());
        for (const auto& si : r.store->sectors())
          std::fprintf(stderr, "  sector seq %u state %u old %u used %u live %u\n", si.sequence, si.state, si.old_key,
                       si.used_bytes, si.live_bytes);
        const auto st = r.store->stats();
        std::fprintf(stderr, "  live %u capacity %u free %u sealed %d\n", st.live_bytes, st.capacity_bytes, st.free_bytes,
                     st.head_sealed);
      }
    }
    if (failure.empty()) {
      Rig only_new(g, 64, true, false, 1, 256, &new_key);
      only_new.sim.load_image(r.sim.image());
      if (auto m = only_new.mount(); !m) {
        failure = std::string("the new key alone does not open the finished rotation: ") + ferrite::name_of(m.error());
        const ferrite::Refusal why = only_new.store->last_refusal();
        std::fprintf(stderr, "  refusal: %s (value %u, limit %u): %s\n", why.field, why.value, why.limit, why.reason);
        for (const auto& si : r.store->sectors())
          std::fprintf(stderr, "  sector seq %u state %u old %u used %u live %u\n", si.sequence, si.state, si.old_key,
                       si.used_bytes, si.live_bytes);
      }
      else if (all_read(only_new) != 0) failure = "a value changed after the rotation";
    }
    if (!failure.empty()) {
      ++failures;
      if (failures < 5) std::fprintf(stderr, "rotation cut %llu: %s\n", static_cast<unsigned long long>(k), failure.c_str());
    }
  }
  std::printf("campaign powerloss-rotate: %zu cases, %zu failures\n", cases, failures);
  std::fflush(stdout);
  CHECK(failures == 0);
}

TEST_CASE("a sealed store keeps a typed value's tag inside the sealed value", "[crypto][typed]") {
  using ferrite::ValueType;
  for (bool hide : {false, true}) {
    INFO("hidden names: " << hide);
    SealOptions o;
    o.hide_keys = hide;
    Sealer sealer(o);
    CHECK(sealer.use_key(test_key(9)));
    Rig r(rig::geometry(3, 4096, 4), 64, true, false, 1, 512, &sealer);
    REQUIRE(r.format());
    auto& s = *r.store;
    CHECK(ferrite::sync_wait(s.put_as("d", 2.5)));
    CHECK(ferrite::sync_wait(s.put_as("name", std::string_view("secret-name"))));
    CHECK(r.put("raw", "\x0a" "bytes"));
    auto check_all = [&] {
      CHECK(ferrite::sync_wait(s.get_as<double>("d")).value_or(0) == 2.5);
      CHECK(ferrite::sync_wait(s.get_as<std::uint64_t>("d")).error() == Errc::type_mismatch);
      CHECK(ferrite::sync_wait(s.type_of("name")).value_or(ValueType::untyped) == ValueType::string);
      CHECK(ferrite::sync_wait(s.type_of("raw")).value_or(ValueType::blob) == ValueType::untyped);
      CHECK(r.get("name") == "secret-name");
      CHECK(r.get("raw") == "\x0a" "bytes");
      CHECK(ferrite::sync_wait(s.size_of("name")).value_or(0) == 11);
      CHECK(ferrite::sync_wait(s.get_as<std::uint32_t>("n")).value_or(0) == 599);
      if (!hide) {
        auto c = s.scan("");
        std::map<std::string, std::pair<ValueType, std::uint32_t>> seen;
        for (;;) {
          auto more = ferrite::sync_wait(c.next());
          CHECK(more);
          if (!more || !*more) break;
          seen[std::string(c.key_string())] = {c.type(), c.value_size()};
        }
        CHECK(seen.at("d") == std::pair{ValueType::f64, 8u});
        CHECK(seen.at("name") == std::pair{ValueType::string, 11u});
        CHECK(seen.at("raw") == std::pair{ValueType::untyped, 6u});
        CHECK(seen.at("n") == std::pair{ValueType::u32, 4u});
      }
    };
    // Updates and garbage collection reseal the tag with the value.
    for (std::uint32_t i = 0; i < 600; ++i) CHECK(ferrite::sync_wait(s.put_as("n", i)));
    CHECK(s.stats().gc_runs > 0);
    check_all();
    CHECK(!image_contains(r, "secret-name"));
    r.reboot();
    REQUIRE(r.mount());
    check_all();
  }
}
