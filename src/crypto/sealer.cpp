// The Sealer: key derivation and AEAD with libsodium, framing and
// compression with zstd. Every primitive comes from the libraries.
module;
#include "ferrite_modules.hpp"
#include <sodium.h>
#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>

module ferrite.crypto;

namespace ferrite {

namespace {

// Crypto block layout (docs/FORMAT.md §2.2), 60 bytes.
constexpr std::size_t at_suite = 0, at_kdf = 1, at_flags = 2, at_ops = 4, at_mem = 8, at_pw_salt = 12,
                      at_store_salt = 28, at_check = 44, block_used = 60;
constexpr std::size_t salt_size = 16, check_size = 16, tag_size = 16;

// Frame codecs (docs/FORMAT.md §3.4).
constexpr std::uint8_t frame_raw = 0, frame_zstd = 1, frame_zstd_dict = 2;

bool sodium_ready() noexcept {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

void put32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<std::uint8_t>(p[i])} << (8 * i);
  return v;
}
const unsigned char* u8(const std::byte* p) noexcept { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* u8(std::byte* p) noexcept { return reinterpret_cast<unsigned char*>(p); }

/// subkey = BLAKE2b-256(store salt ++ label, key = master).
void subkey(std::span<std::byte> out, std::span<const std::byte> master, std::span<const std::byte> salt,
            std::string_view label) noexcept {
  crypto_generichash_state st;
  crypto_generichash_init(&st, u8(master.data()), master.size(), out.size());
  crypto_generichash_update(&st, u8(salt.data()), salt.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_generichash_final(&st, u8(out.data()), out.size());
  sodium_memzero(&st, sizeof st);
}

}  // namespace

bool suite_available(CipherSuite suite) noexcept {
  if (!sodium_ready()) return false;
  return suite == CipherSuite::xchacha20poly1305 || (suite == CipherSuite::aes256gcm && crypto_aead_aes256gcm_is_available());
}

Sealer::Sealer(SealOptions options) noexcept : options_(options), suite_(options.suite), hide_keys_(options.hide_keys) {
  (void)sodium_ready();
  cctx_ = ZSTD_createCCtx();
  dctx_ = ZSTD_createDCtx();
}

Sealer::~Sealer() {
  wipe();
  sodium_memzero(secret_.data(), secret_.size());
  sodium_memzero(passphrase_.data(), passphrase_.size());
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
}

void Sealer::wipe() noexcept {
  sodium_memzero(record_key_.data(), record_key_.size());
  sodium_memzero(name_key_.data(), name_key_.size());
  sodium_memzero(index_key_.data(), index_key_.size());
  keys_ready_ = false;
}

Status Sealer::use_key(std::span<const std::byte> key) noexcept {
  if (key.size() != key_size) return fail(Errc::invalid_argument);
  wipe();
  sodium_memzero(passphrase_.data(), passphrase_.size());
  std::memcpy(secret_.data(), key.data(), key_size);
  have_secret_ = true;
  passphrase_mode_ = false;
  return {};
}

Status Sealer::use_passphrase(std::string_view passphrase, KdfCost cost) noexcept {
  if (passphrase.empty() || passphrase.size() > max_passphrase) return fail(Errc::invalid_argument);
  if (cost.opslimit < crypto_pwhash_OPSLIMIT_MIN || std::size_t{cost.memlimit_kib} * 1024 < crypto_pwhash_MEMLIMIT_MIN)
    return fail(Errc::invalid_argument);
  wipe();
  sodium_memzero(secret_.data(), secret_.size());
  sodium_memzero(passphrase_.data(), passphrase_.size());
  std::memcpy(passphrase_.data(), passphrase.data(), passphrase.size());
  passphrase_size_ = passphrase.size();
  cost_ = cost;
  have_secret_ = true;
  passphrase_mode_ = true;
  return {};
}

Status Sealer::use_dictionary(std::span<const std::byte> dictionary) noexcept {
  if (dictionary.size() < 8) return fail(Errc::invalid_argument);
  const unsigned id = ZDICT_getDictID(dictionary.data(), dictionary.size());
  if (id == 0) return fail(Errc::invalid_argument);
  // Digest the dictionary once (entropy tables, match-finder tables at the
  // compression level): the raw-dictionary calls redo that for every value.
  // The frames are the same zstd frames, carrying the same dictionary id, so
  // either side decodes what the other wrote.
  const int level = options_.compression_level;
  ZSTD_DDict* ddict = ZSTD_createDDict(dictionary.data(), dictionary.size());
  ZSTD_CDict* cdict = nullptr;
  if (ddict && level > 0) cdict = ZSTD_createCDict(dictionary.data(), dictionary.size(), level);
  if (!ddict || (level > 0 && !cdict)) {
    ZSTD_freeDDict(ddict);
    ZSTD_freeCDict(cdict);
    // zstd returns null for a malformed dictionary too: tell the two apart.
    const std::size_t header = ZDICT_getDictHeaderSize(dictionary.data(), dictionary.size());
    if (ZDICT_isError(header) && ZSTD_getErrorCode(header) != ZSTD_error_memory_allocation)
      return fail(Errc::invalid_argument);
    return fail(Errc::no_memory);
  }
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
  cdict_ = cdict;
  ddict_ = ddict;
  cdict_level_ = level;
  dictionary_.assign(dictionary.begin(), dictionary.end());
  dictionary_id_ = id;
  return {};
}

bool Sealer::prepare_cdict() noexcept {
  // The level can change after use_dictionary (load_block turns compression
  // on for a store formatted with it): digest again at the new level.
  if (cdict_ && cdict_level_ == options_.compression_level) return true;
  ZSTD_CDict* cdict = ZSTD_createCDict(dictionary_.data(), dictionary_.size(), options_.compression_level);
  if (!cdict) return false;
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  cdict_ = cdict;
  cdict_level_ = options_.compression_level;
  return true;
}

Task<Status> Sealer::store_dictionary(Store& store, std::span<const std::byte> dictionary) noexcept {
  if (dictionary.size() < 8 || ZDICT_getDictID(dictionary.data(), dictionary.size()) == 0)
    co_return fail(Errc::invalid_argument);
  // The dictionary itself must be readable before it is loaded: frame it
  // without one.
  std::vector<std::byte> saved;
  saved.swap(dictionary_);
  const std::uint32_t saved_id = std::exchange(dictionary_id_, 0u);
  auto st = co_await store.put(as_bytes(dictionary_key), dictionary);
  dictionary_.swap(saved);
  dictionary_id_ = saved_id;
  if (!st) co_return st;
  co_return use_dictionary(dictionary);
}

Task<Status> Sealer::load_dictionary(Store& store) noexcept {
  std::vector<std::byte> dictionary;
  if (auto st = co_await store.get_into(as_bytes(dictionary_key), dictionary); !st) co_return st;
  co_return use_dictionary(dictionary);
}

Result<std::vector<std::byte>> Sealer::train_dictionary(const std::vector<std::vector<std::byte>>& samples,
                                                        std::size_t capacity) noexcept {
  std::vector<std::byte> joined;
  std::vector<std::size_t> sizes;
  for (const auto& s : samples) {
    joined.insert(joined.end(), s.begin(), s.end());
    sizes.push_back(s.size());
  }
  std::vector<std::byte> dict(capacity);
  const std::size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                              static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) return fail(Errc::invalid_argument);
  dict.resize(n);
  return dict;
}

Status Sealer::derive(std::span<const std::byte> block) noexcept {
  // master: the raw key, or Argon2id(passphrase, salt, cost); subkeys from it
  // and the store's random salt; the master is wiped at once.
  std::array<std::byte, key_size> master{};
  if (block[at_kdf] == std::byte{1}) {
    if (!passphrase_mode_) return fail(Errc::wrong_key);
    const std::uint32_t ops = get32(block.data() + at_ops), mem_kib = get32(block.data() + at_mem);
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > 64 || mem_kib > 4u * 1024 * 1024) return fail(Errc::corrupt);
    if (crypto_pwhash(u8(master.data()), master.size(), passphrase_.data(), passphrase_size_,
                      u8(block.data() + at_pw_salt), ops, std::size_t{mem_kib} * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0)
      return fail(Errc::no_memory);
  } else if (block[at_kdf] == std::byte{0}) {
    if (passphrase_mode_) return fail(Errc::wrong_key);
    master = secret_;
  } else {
    return fail(Errc::unsupported);
  }
  const auto salt = block.subspan(at_store_salt, salt_size);
  subkey(record_key_, master, salt, "ferrite record key v1");
  subkey(name_key_, master, salt, "ferrite name key v1");
  subkey(index_key_, master, salt, "ferrite index key v1");
  std::array<std::byte, key_size> check_key{};
  subkey(check_key, master, salt, "ferrite key check v1");
  sodium_memzero(master.data(), master.size());
  std::array<std::byte, check_size> check{};
  crypto_generichash(u8(check.data()), check.size(), reinterpret_cast<const unsigned char*>("ferrite key check"), 17,
                     u8(check_key.data()), check_key.size());
  sodium_memzero(check_key.data(), check_key.size());
  keys_ready_ = true;
  if (sodium_memcmp(check.data(), block.data() + at_check, check_size) != 0) {
    wipe();
    return fail(Errc::wrong_key);
  }
  return {};
}

Status Sealer::create_block(std::span<std::byte> block) noexcept {
  if (!sodium_ready() || block.size() < block_used) return fail(Errc::unsupported);
  if (!have_secret_) return fail(Errc::wrong_key);
  if (!suite_available(options_.suite)) return fail(Errc::unsupported);
  std::fill(block.begin(), block.end(), std::byte{0});
  block[at_suite] = static_cast<std::byte>(options_.suite);
  block[at_kdf] = std::byte{passphrase_mode_ ? std::uint8_t{1} : std::uint8_t{0}};
  block[at_flags] = static_cast<std::byte>((options_.hide_keys ? 1 : 0) | (options_.compression_level > 0 ? 2 : 0));
  if (passphrase_mode_) {
    put32(block.data() + at_ops, cost_.opslimit);
    put32(block.data() + at_mem, cost_.memlimit_kib);
    randombytes_buf(block.data() + at_pw_salt, salt_size);
  }
  randombytes_buf(block.data() + at_store_salt, salt_size);
  // The key check is derived like the other subkeys; compute it by deriving
  // with a placeholder check and copying the result in.
  std::array<std::byte, key_size> master{};
  if (passphrase_mode_) {
    if (crypto_pwhash(u8(master.data()), master.size(), passphrase_.data(), passphrase_size_,
                      u8(block.data() + at_pw_salt), cost_.opslimit, std::size_t{cost_.memlimit_kib} * 1024,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
      return fail(Errc::no_memory);
  } else {
    master = secret_;
  }
  std::array<std::byte, key_size> check_key{};
  subkey(check_key, master, block.subspan(at_store_salt, salt_size), "ferrite key check v1");
  sodium_memzero(master.data(), master.size());
  crypto_generichash(u8(block.data() + at_check), check_size, reinterpret_cast<const unsigned char*>("ferrite key check"),
                     17, u8(check_key.data()), check_key.size());
  sodium_memzero(check_key.data(), check_key.size());
  return load_block(block);
}

Status Sealer::load_block(std::span<const std::byte> block) noexcept {
  if (!sodium_ready() || block.size() < block_used) return fail(Errc::unsupported);
  if (!have_secret_) return fail(Errc::wrong_key);
  const auto suite = static_cast<CipherSuite>(block[at_suite]);
  if (suite != CipherSuite::xchacha20poly1305 && suite != CipherSuite::aes256gcm) return fail(Errc::corrupt);
  if (!suite_available(suite)) return fail(Errc::unsupported);
  suite_ = suite;
  hide_keys_ = (static_cast<std::uint8_t>(block[at_flags]) & 1u) != 0;
  options_.compression_level = (static_cast<std::uint8_t>(block[at_flags]) & 2u) ? std::max(options_.compression_level, 1) : 0;
  return derive(block);
}

std::size_t Sealer::stored_key(std::span<const std::byte> name, std::span<std::byte> out) noexcept {
  if (!hide_keys_) {
    std::memcpy(out.data(), name.data(), name.size());
    return name.size();
  }
  // A keyed hash: the same name always maps to the same 16 bytes, which say
  // nothing about the name without the key.
  crypto_generichash(u8(out.data()), 16, u8(name.data()), name.size(), u8(name_key_.data()), name_key_.size());
  return 16;
}

Status Sealer::keyed_hash(std::span<const std::byte> data, std::span<std::byte, 16> out) noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  crypto_generichash(u8(out.data()), out.size(), u8(data.data()), data.size(), u8(index_key_.data()),
                     index_key_.size());
  return {};
}

void Sealer::scrub(std::span<std::byte> buffer) noexcept {
  if (!buffer.empty()) sodium_memzero(buffer.data(), buffer.size());
}

std::uint32_t Sealer::overhead() const noexcept { return 7 + tag_size; }

std::size_t Sealer::sealed_size(std::size_t plain_size) const noexcept { return plain_size + tag_size; }

Result<std::size_t> Sealer::frame(std::span<const std::byte> value, std::span<std::byte> out) noexcept {
  // [codec u8][value size u16][dictionary id u32, dictionary frames only][payload]
  if (value.size() > 0xFFFF || out.size() < value.size() + 7) return fail(Errc::too_large);
  ++stats_.values_framed;
  stats_.plain_bytes += value.size();
  const bool with_dict = !dictionary_.empty();
  const std::size_t head = with_dict ? 7 : 3;
  if (options_.compression_level > 0 && value.size() >= options_.compress_min && cctx_) {
    // Compress into the room a raw frame would take: if it does not fit, it
    // did not pay.
    const std::size_t room = value.size() + 3 - head;
    std::size_t n;
    if (with_dict && prepare_cdict()) {
      n = ZSTD_compress_usingCDict(static_cast<ZSTD_CCtx*>(cctx_), out.data() + head, room, value.data(), value.size(),
                                   static_cast<const ZSTD_CDict*>(cdict_));
    } else if (with_dict) {  // no memory to digest it at this level: the slow path, same frame
      n = ZSTD_compress_usingDict(static_cast<ZSTD_CCtx*>(cctx_), out.data() + head, room, value.data(), value.size(),
                                  dictionary_.data(), dictionary_.size(), options_.compression_level);
    } else {
      n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), out.data() + head, room, value.data(), value.size(),
                            options_.compression_level);
    }
    if (!ZSTD_isError(n) && n + head < value.size() + 3) {
      out[0] = std::byte{with_dict ? frame_zstd_dict : frame_zstd};
      out[1] = static_cast<std::byte>(value.size());
      out[2] = static_cast<std::byte>(value.size() >> 8);
      if (with_dict) put32(out.data() + 3, dictionary_id_);
      ++stats_.compressed;
      stats_.framed_bytes += n + head;
      return n + head;
    }
  }
  out[0] = std::byte{frame_raw};
  out[1] = static_cast<std::byte>(value.size());
  out[2] = static_cast<std::byte>(value.size() >> 8);
  if (!value.empty()) std::memmove(out.data() + 3, value.data(), value.size());
  stats_.framed_bytes += value.size() + 3;
  return value.size() + 3;
}

Result<std::size_t> Sealer::framed_size(std::span<const std::byte> frame) const noexcept {
  if (frame.size() < 3) return fail(Errc::corrupt);
  const auto codec = static_cast<std::uint8_t>(frame[0]);
  const std::size_t size = std::size_t{static_cast<std::uint8_t>(frame[1])} |
                           (std::size_t{static_cast<std::uint8_t>(frame[2])} << 8);
  if (codec == frame_raw && frame.size() != size + 3) return fail(Errc::corrupt);
  if (codec > frame_zstd_dict) return fail(Errc::corrupt);
  return size;
}

Result<std::size_t> Sealer::unframe(std::span<const std::byte> frame, std::span<std::byte> out) noexcept {
  auto size = framed_size(frame);
  if (!size) return size;
  if (out.size() < *size) return fail(Errc::buffer_too_small);
  const auto codec = static_cast<std::uint8_t>(frame[0]);
  if (codec == frame_raw) {
    if (*size) std::memcpy(out.data(), frame.data() + 3, *size);
    return *size;
  }
  if (!dctx_) return fail(Errc::no_memory);
  std::size_t n;
  if (codec == frame_zstd) {
    n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), out.data(), *size, frame.data() + 3, frame.size() - 3);
  } else {
    if (frame.size() < 7 || dictionary_.empty() || !ddict_ || get32(frame.data() + 3) != dictionary_id_)
      return fail(Errc::unsupported);  // needs the dictionary it was compressed with
    n = ZSTD_decompress_usingDDict(static_cast<ZSTD_DCtx*>(dctx_), out.data(), *size, frame.data() + 7,
                                   frame.size() - 7, static_cast<const ZSTD_DDict*>(ddict_));
  }
  // The size in the (authenticated) frame bounds the output: a frame that
  // decompresses to anything else is corrupt.
  if (ZSTD_isError(n) || n != *size) return fail(Errc::corrupt);
  return n;
}

void Sealer::nonce_for(std::span<const std::byte> ad, std::span<std::byte> nonce) const noexcept {
  // store id | sector sequence | offset from the associated data: unique for
  // every record ever written under this store's record key.
  std::fill(nonce.begin(), nonce.end(), std::byte{0});
  std::memcpy(nonce.data(), ad.data(), std::min<std::size_t>(12, nonce.size()));
}

Status Sealer::seal(std::span<const std::byte> ad, std::span<std::byte> buf, std::size_t plain_size) noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  if (ad.size() < 12 || buf.size() < plain_size + tag_size) return fail(Errc::invalid_argument);
  unsigned long long clen = 0;
  int rc;
  if (suite_ == CipherSuite::aes256gcm) {
    std::array<std::byte, crypto_aead_aes256gcm_NPUBBYTES> nonce{};
    nonce_for(ad, nonce);
    rc = crypto_aead_aes256gcm_encrypt(u8(buf.data()), &clen, u8(buf.data()), plain_size, u8(ad.data()), ad.size(),
                                       nullptr, u8(nonce.data()), u8(record_key_.data()));
  } else {
    std::array<std::byte, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
    nonce_for(ad, nonce);
    rc = crypto_aead_xchacha20poly1305_ietf_encrypt(u8(buf.data()), &clen, u8(buf.data()), plain_size, u8(ad.data()),
                                                    ad.size(), nullptr, u8(nonce.data()), u8(record_key_.data()));
  }
  if (rc != 0 || clen != plain_size + tag_size) return fail(Errc::io);
  return {};
}

Result<std::size_t> Sealer::open(std::span<const std::byte> ad, std::span<std::byte> buf) noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  if (ad.size() < 12 || buf.size() < tag_size) return fail(Errc::corrupt);
  unsigned long long mlen = 0;
  int rc;
  if (suite_ == CipherSuite::aes256gcm) {
    std::array<std::byte, crypto_aead_aes256gcm_NPUBBYTES> nonce{};
    nonce_for(ad, nonce);
    rc = crypto_aead_aes256gcm_decrypt(u8(buf.data()), &mlen, nullptr, u8(buf.data()), buf.size(), u8(ad.data()),
                                       ad.size(), u8(nonce.data()), u8(record_key_.data()));
  } else {
    std::array<std::byte, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
    nonce_for(ad, nonce);
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(u8(buf.data()), &mlen, nullptr, u8(buf.data()), buf.size(),
                                                    u8(ad.data()), ad.size(), u8(nonce.data()), u8(record_key_.data()));
  }
  if (rc != 0) {
    ++stats_.rejected;
    return fail(Errc::corrupt);
  }
  ++stats_.opened;
  return static_cast<std::size_t>(mlen);
}

}  // namespace ferrite
