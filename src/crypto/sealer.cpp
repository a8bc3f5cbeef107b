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
constexpr std::size_t at_suite = 0, at_kdf = 1, at_flags = 2, at_cons = 3, at_ops = 4, at_mem = 8, at_pw_salt = 12,
                      at_store_salt = 28, at_check = 44, block_used = 60;
constexpr std::size_t salt_size = 16, check_size = 16, tag_size = 16;
// Sealed records (docs/FORMAT.md §3.4): salt(8) ++ ciphertext ++ tag(16).
constexpr std::size_t record_salt_size = 8, position_size = 12;
// 1: record nonces carry a fresh salt; 0 (0.2.0) built them from the position
// alone, which a rolled-back image makes repeat.
constexpr std::uint8_t construction = 1;

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == record_salt_size + position_size + 4);
static_assert(crypto_aead_aes256gcm_NPUBBYTES == record_salt_size + 4);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == tag_size && crypto_aead_aes256gcm_ABYTES == tag_size);
// The documented default bound is libsodium's MODERATE level.
static_assert(SealOptions{}.max_kdf_cost.opslimit == crypto_pwhash_OPSLIMIT_MODERATE);
static_assert(std::size_t{SealOptions{}.max_kdf_cost.memlimit_kib} * 1024 == crypto_pwhash_MEMLIMIT_MODERATE);

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

// A plain-prefix rule needs hidden names, a function and an id that fits
// flags bits 4..7 (docs/FORMAT.md §2.2, §3.7).
constexpr std::uint8_t max_prefix_rule_id = 15;
constexpr std::size_t max_plain_prefix = 48, name_hash_size = 16;

bool prefix_rule_valid(const SealOptions& o) noexcept {
  const KeyPrefixRule& r = o.plain_prefix;
  if (!r.plain_length && r.id == 0) return true;
  return o.hide_keys && r.plain_length && r.id >= 1 && r.id <= max_prefix_rule_id;
}

std::uint8_t flags_for(const SealOptions& o) noexcept {
  const std::uint8_t rule = o.hide_keys && o.plain_prefix.plain_length ? o.plain_prefix.id : 0;
  return static_cast<std::uint8_t>((o.hide_keys ? 1 : 0) | (o.compression_level > 0 ? 2 : 0) | (rule << 4));
}

struct Subkeys {
  std::array<std::byte, 32> record, name, index, check, backup;
};

void derive_subkeys(Subkeys& k, std::span<const std::byte> master, std::span<const std::byte> store_salt) noexcept {
  subkey(k.record, master, store_salt, "ferrite record key v1");
  subkey(k.name, master, store_salt, "ferrite name key v1");
  subkey(k.index, master, store_salt, "ferrite index key v1");
  subkey(k.check, master, store_salt, "ferrite key check v1");
  subkey(k.backup, master, store_salt, "ferrite backup key v1");
}

/// Over every byte before the check, so that an edit of the options, the
/// cost or a salt fails like a wrong key instead of being believed.
void key_check(std::span<std::byte> out, std::span<const std::byte> block,
               std::span<const std::byte> check_key) noexcept {
  crypto_generichash(u8(out.data()), check_size, u8(block.data()), at_check, u8(check_key.data()), check_key.size());
}

}  // namespace

bool suite_available(CipherSuite suite) noexcept {
  if (!sodium_ready()) return false;
  return suite == CipherSuite::xchacha20poly1305 || (suite == CipherSuite::aes256gcm && crypto_aead_aes256gcm_is_available());
}

Sealer::Sealer(SealOptions options) noexcept : options_(options) {
  (void)sodium_ready();
  cctx_ = ZSTD_createCCtx();
  dctx_ = ZSTD_createDCtx();
}

Sealer::~Sealer() {
  wipe();
  wipe_passphrase();
  sodium_memzero(secret_.data(), secret_.size());
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_));
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
}

void Sealer::wipe() noexcept {
  sodium_memzero(record_key_.data(), record_key_.size());
  sodium_memzero(name_key_.data(), name_key_.size());
  sodium_memzero(index_key_.data(), index_key_.size());
  sodium_memzero(check_key_.data(), check_key_.size());
  sodium_memzero(backup_key_.data(), backup_key_.size());
  sodium_memzero(pw_salt_.data(), pw_salt_.size());
  sodium_memzero(store_salt_.data(), store_salt_.size());
  keys_ready_ = false;
}

void Sealer::wipe_passphrase() noexcept {
  sodium_memzero(passphrase_.data(), passphrase_.size());
  passphrase_size_ = 0;
}

void Sealer::random(std::span<std::byte> out) noexcept {
  if (options_.entropy.fill) options_.entropy.fill(options_.entropy.context, out);
  else randombytes_buf(out.data(), out.size());
}

Status Sealer::use_key(std::span<const std::byte> key) noexcept {
  if (key.size() != key_size) return fail(Errc::invalid_argument);
  wipe();
  wipe_passphrase();
  std::memcpy(secret_.data(), key.data(), key_size);
  have_key_ = true;
  passphrase_mode_ = false;
  return {};
}

Status Sealer::use_passphrase(std::string_view passphrase, KdfCost cost) noexcept {
  if (passphrase.empty() || passphrase.size() > max_passphrase) return fail(Errc::invalid_argument);
  const std::uint64_t memlimit = std::uint64_t{cost.memlimit_kib} * 1024;
  if (cost.opslimit < crypto_pwhash_OPSLIMIT_MIN || memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      memlimit > crypto_pwhash_memlimit_max())
    return fail(Errc::invalid_argument);
  // Never format a store whose own mount would refuse it.
  if (cost.opslimit > options_.max_kdf_cost.opslimit || cost.memlimit_kib > options_.max_kdf_cost.memlimit_kib)
    return fail(Errc::invalid_argument);
  wipe();
  wipe_passphrase();
  sodium_memzero(secret_.data(), secret_.size());
  std::memcpy(passphrase_.data(), passphrase.data(), passphrase.size());
  passphrase_size_ = passphrase.size();
  cost_ = cost;
  have_key_ = false;
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
  dictionary_.assign(dictionary.begin(), dictionary.end());
  dictionary_id_ = id;
  return {};
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

Status Sealer::check_options(std::span<const std::byte> block) const noexcept {
  // Everything here is decided before a key is derived: the application's
  // options win over the image's, and a block that asks for an Argon2id cost
  // above the bound costs nothing to refuse.
  const auto at = [&](std::size_t i) { return static_cast<std::uint8_t>(block[i]); };
  if (!prefix_rule_valid(options_)) return fail(Errc::invalid_argument);
  if (at(at_cons) != construction || at(at_kdf) > 1) return fail(Errc::unsupported);
  if (at(at_suite) != static_cast<std::uint8_t>(CipherSuite::xchacha20poly1305) &&
      at(at_suite) != static_cast<std::uint8_t>(CipherSuite::aes256gcm))
    return fail(Errc::corrupt);
  if (at(at_suite) != static_cast<std::uint8_t>(options_.suite) || at(at_flags) != flags_for(options_))
    return fail(Errc::config_mismatch);
  if (at(at_kdf) == 1) {
    const std::uint32_t ops = get32(block.data() + at_ops), mem_kib = get32(block.data() + at_mem);
    const std::uint64_t memlimit = std::uint64_t{mem_kib} * 1024;
    if (ops > options_.max_kdf_cost.opslimit || mem_kib > options_.max_kdf_cost.memlimit_kib ||
        memlimit > crypto_pwhash_memlimit_max())
      return fail(Errc::config_mismatch);
    if (ops < crypto_pwhash_OPSLIMIT_MIN || memlimit < crypto_pwhash_MEMLIMIT_MIN) return fail(Errc::corrupt);
  }
  if (!suite_available(options_.suite)) return fail(Errc::unsupported);
  return {};
}

Status Sealer::derive(std::span<const std::byte> block) noexcept {
  const auto pw_salt = block.subspan(at_pw_salt, salt_size), store_salt = block.subspan(at_store_salt, salt_size);
  std::array<std::byte, check_size> check{};
  if (passphrase_mode_ && !holds_passphrase()) {
    // The passphrase was wiped after it gave these subkeys: they open the
    // store of those salts and no other.
    if (!keys_ready_ || std::memcmp(pw_salt.data(), pw_salt_.data(), salt_size) != 0 ||
        std::memcmp(store_salt.data(), store_salt_.data(), salt_size) != 0)
      return fail(Errc::wrong_key);
    key_check(check, block, check_key_);
    if (sodium_memcmp(check.data(), block.data() + at_check, check_size) != 0) return fail(Errc::wrong_key);
    return {};
  }
  std::array<std::byte, key_size> master{};
  if (passphrase_mode_) {
    const std::uint32_t ops = get32(block.data() + at_ops), mem_kib = get32(block.data() + at_mem);
    const int rc = crypto_pwhash(u8(master.data()), master.size(), passphrase_.data(), passphrase_size_,
                                 u8(pw_salt.data()), ops, std::size_t{mem_kib} * 1024, crypto_pwhash_ALG_ARGON2ID13);
    if (rc != 0) {
      sodium_memzero(master.data(), master.size());
      return fail(Errc::no_memory);
    }
  } else {
    master = secret_;
  }
  Subkeys k;
  derive_subkeys(k, master, store_salt);
  sodium_memzero(master.data(), master.size());
  key_check(check, block, k.check);
  if (sodium_memcmp(check.data(), block.data() + at_check, check_size) != 0) {
    // Not this key's store (or an edited block): the subkeys of the store
    // this Sealer opened before stay, and so does the passphrase, which a
    // rotation needs next to seal the new block.
    sodium_memzero(&k, sizeof k);
    return fail(Errc::wrong_key);
  }
  record_key_ = k.record;
  name_key_ = k.name;
  index_key_ = k.index;
  check_key_ = k.check;
  backup_key_ = k.backup;
  sodium_memzero(&k, sizeof k);
  std::memcpy(pw_salt_.data(), pw_salt.data(), salt_size);
  std::memcpy(store_salt_.data(), store_salt.data(), salt_size);
  keys_ready_ = true;
  wipe_passphrase();
  return {};
}

Status Sealer::create_block(std::span<std::byte> block) noexcept {
  if (!sodium_ready() || block.size() < block_used) return fail(Errc::unsupported);
  if (!prefix_rule_valid(options_)) return fail(Errc::invalid_argument);
  if (passphrase_mode_ ? !holds_passphrase() : !have_key_) return fail(Errc::wrong_key);
  if (!suite_available(options_.suite)) return fail(Errc::unsupported);
  std::fill(block.begin(), block.end(), std::byte{0});
  block[at_suite] = static_cast<std::byte>(options_.suite);
  block[at_kdf] = std::byte{passphrase_mode_ ? std::uint8_t{1} : std::uint8_t{0}};
  block[at_flags] = static_cast<std::byte>(flags_for(options_));
  block[at_cons] = std::byte{construction};
  if (passphrase_mode_) {
    put32(block.data() + at_ops, cost_.opslimit);
    put32(block.data() + at_mem, cost_.memlimit_kib);
    random(block.subspan(at_pw_salt, salt_size));
  }
  random(block.subspan(at_store_salt, salt_size));
  std::array<std::byte, key_size> master{};
  if (passphrase_mode_) {
    const int rc = crypto_pwhash(u8(master.data()), master.size(), passphrase_.data(), passphrase_size_,
                                 u8(block.data() + at_pw_salt), cost_.opslimit, std::size_t{cost_.memlimit_kib} * 1024,
                                 crypto_pwhash_ALG_ARGON2ID13);
    if (rc != 0) {
      sodium_memzero(master.data(), master.size());
      return fail(Errc::no_memory);
    }
    wipe_passphrase();
  } else {
    master = secret_;
  }
  Subkeys k;
  derive_subkeys(k, master, block.subspan(at_store_salt, salt_size));
  sodium_memzero(master.data(), master.size());
  key_check(block.subspan(at_check, check_size), block, k.check);
  record_key_ = k.record;
  name_key_ = k.name;
  index_key_ = k.index;
  check_key_ = k.check;
  backup_key_ = k.backup;
  sodium_memzero(&k, sizeof k);
  std::memcpy(pw_salt_.data(), block.data() + at_pw_salt, salt_size);
  std::memcpy(store_salt_.data(), block.data() + at_store_salt, salt_size);
  keys_ready_ = true;
  return {};
}

Status Sealer::load_block(std::span<const std::byte> block) noexcept {
  if (!sodium_ready() || block.size() < block_used) return fail(Errc::unsupported);
  if (auto st = check_options(block); !st) return st;
  const bool by_passphrase = block[at_kdf] == std::byte{1};
  if (by_passphrase != passphrase_mode_ || (!passphrase_mode_ && !have_key_)) return fail(Errc::wrong_key);
  return derive(block);
}

std::size_t Sealer::stored_key(std::span<const std::byte> name, std::span<std::byte> out) noexcept {
  if (!options_.hide_keys) {
    std::memcpy(out.data(), name.data(), name.size());
    return name.size();
  }
  std::size_t plain = 0;
  if (options_.plain_prefix.plain_length) {
    plain = options_.plain_prefix.plain_length(name);
    if (plain >= name.size()) {
      std::memcpy(out.data(), name.data(), name.size());
      return name.size();
    }
    plain = std::min(plain, max_plain_prefix);
    std::memcpy(out.data(), name.data(), plain);
  }
  // A keyed hash of the whole name: the same name always maps to the same
  // 16 bytes, which say nothing about the name without the key (and equal
  // tails under different prefixes hash apart).
  crypto_generichash(u8(out.data() + plain), name_hash_size, u8(name.data()), name.size(), u8(name_key_.data()),
                     name_key_.size());
  return plain + name_hash_size;
}

Status Sealer::backup_key(std::span<std::byte, key_size> out) const noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  std::memcpy(out.data(), backup_key_.data(), key_size);
  return {};
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

std::uint32_t Sealer::overhead() const noexcept { return 7 + tag_size + record_salt_size; }

std::size_t Sealer::sealed_size(std::size_t plain_size) const noexcept {
  return record_salt_size + plain_size + tag_size;
}

Result<std::size_t> Sealer::frame(std::span<const std::byte> value, std::span<std::byte> out) noexcept {
  // [codec u8][value size u16][dictionary id u32, dictionary frames only][payload]
  if (value.size() > 0xFFFF || out.size() < value.size() + 7) return fail(Errc::too_large);
  ++stats_.values_framed;
  stats_.plain_bytes += value.size();
  // use_dictionary digests the dictionary at the compression level, which
  // never changes after construction: with compression on, a dictionary
  // always has its CDict.
  const bool with_dict = !dictionary_.empty() && cdict_;
  const std::size_t head = with_dict ? 7 : 3;
  if (options_.compression_level > 0 && value.size() >= options_.compress_min && cctx_) {
    // Compress into the room a raw frame would take: if it does not fit, it
    // did not pay.
    const std::size_t room = value.size() + 3 - head;
    std::size_t n;
    if (with_dict) {
      n = ZSTD_compress_usingCDict(static_cast<ZSTD_CCtx*>(cctx_), out.data() + head, room, value.data(), value.size(),
                                   static_cast<const ZSTD_CDict*>(cdict_));
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

std::size_t Sealer::nonce_for(std::span<const std::byte> salt, std::span<const std::byte> ad,
                              std::span<std::byte, 24> nonce) const noexcept {
  // salt ++ position (store id, sequence, offset). The position keeps seals
  // at different places apart for certain; the salt keeps apart those a
  // rolled-back image or a cloned device makes at the same place.
  std::fill(nonce.begin(), nonce.end(), std::byte{0});
  std::memcpy(nonce.data(), salt.data(), record_salt_size);
  if (options_.suite == CipherSuite::aes256gcm) {
    // 12 bytes leave 4 for the position: its crc32c (FORMAT.md §3.4 bounds
    // the collisions).
    put32(nonce.data() + record_salt_size, crc32c(ad.first(position_size)));
    return crypto_aead_aes256gcm_NPUBBYTES;
  }
  std::memcpy(nonce.data() + record_salt_size, ad.data(), position_size);
  return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
}

Status Sealer::seal(std::span<const std::byte> ad, std::span<std::byte> buf, std::size_t plain_size) noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  if (ad.size() < position_size || buf.size() < sealed_size(plain_size)) return fail(Errc::invalid_argument);
  if (plain_size) std::memmove(buf.data() + record_salt_size, buf.data(), plain_size);
  const std::span<std::byte> salt = buf.first(record_salt_size);
  random(salt);
  std::array<std::byte, 24> nonce_bytes{};
  const auto nonce = std::span<const std::byte>(nonce_bytes).first(nonce_for(salt, ad, nonce_bytes));
  if (options_.nonce_observer.seen) options_.nonce_observer.seen(options_.nonce_observer.context, store_salt_, nonce);
  unsigned char* text = u8(buf.data() + record_salt_size);
  unsigned long long clen = 0;
  int rc;
  if (options_.suite == CipherSuite::aes256gcm) {
    rc = crypto_aead_aes256gcm_encrypt(text, &clen, text, plain_size, u8(ad.data()), ad.size(), nullptr,
                                       u8(nonce.data()), u8(record_key_.data()));
  } else {
    rc = crypto_aead_xchacha20poly1305_ietf_encrypt(text, &clen, text, plain_size, u8(ad.data()), ad.size(), nullptr,
                                                    u8(nonce.data()), u8(record_key_.data()));
  }
  if (rc != 0 || clen != plain_size + tag_size) return fail(Errc::io);
  return {};
}

Result<std::size_t> Sealer::open(std::span<const std::byte> ad, std::span<std::byte> buf) noexcept {
  if (!keys_ready_) return fail(Errc::wrong_key);
  if (ad.size() < position_size || buf.size() < sealed_size(0)) return fail(Errc::corrupt);
  std::array<std::byte, 24> nonce_bytes{};
  const auto nonce =
      std::span<const std::byte>(nonce_bytes).first(nonce_for(buf.first(record_salt_size), ad, nonce_bytes));
  unsigned char* text = u8(buf.data() + record_salt_size);
  const std::size_t clen = buf.size() - record_salt_size;
  unsigned long long mlen = 0;
  int rc;
  if (options_.suite == CipherSuite::aes256gcm) {
    rc = crypto_aead_aes256gcm_decrypt(text, &mlen, nullptr, text, clen, u8(ad.data()), ad.size(), u8(nonce.data()),
                                       u8(record_key_.data()));
  } else {
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(text, &mlen, nullptr, text, clen, u8(ad.data()), ad.size(),
                                                    u8(nonce.data()), u8(record_key_.data()));
  }
  if (rc != 0) {
    ++stats_.rejected;
    return fail(Errc::corrupt);
  }
  // The engine reads the plaintext at the start of the buffer. The move
  // leaves a copy of its last bytes behind it: wipe those with the tag.
  if (mlen) std::memmove(buf.data(), text, static_cast<std::size_t>(mlen));
  sodium_memzero(buf.data() + mlen, buf.size() - static_cast<std::size_t>(mlen));
  ++stats_.opened;
  return static_cast<std::size_t>(mlen);
}

}  // namespace ferrite
