// ferrite.crypto — data at rest: authenticated encryption of every record
// (libsodium: XChaCha20-Poly1305-IETF, or AES-256-GCM where the CPU has it),
// key names hidden behind a keyed hash when asked (all of each name, or all
// but a plain prefix the application's rule keeps), a raw 32-byte key or a
// passphrase stretched with Argon2id, and zstd compression (optionally with a
// trained dictionary) before encryption. The exact construction is in
// docs/FORMAT.md §3.4, §3.7 and §2.2.
//
// A Sealer is the ValueCodec a Store uses: pass it in StoreConfig::codec
// (with StoreConfig::scratch of Store::scratch_needed(max_value, overhead())
// bytes). Key material lives only inside the Sealer and is wiped
// (sodium_memzero) when it is destroyed or the key is replaced; it is never
// logged. Mounting with the wrong key fails with Errc::wrong_key, distinct
// from Errc::corrupt; a store formatted with other SealOptions than the
// Sealer's fails with Errc::config_mismatch (the image never overrides the
// application's options).
module;
#include "ferrite_std.hpp"

export module ferrite.crypto;
export import ferrite.log;

export namespace ferrite {

enum class CipherSuite : std::uint8_t { xchacha20poly1305 = 1, aes256gcm = 2 };

/// Argon2id cost for passphrases (stored in the store, so mount reuses them).
struct KdfCost {
  std::uint32_t opslimit = 3;           ///< passes (libsodium's "moderate" is 3)
  std::uint32_t memlimit_kib = 64 * 1024;
};

/// Where random bytes come from: the salt of every sealed record and the
/// salts of a new store's crypto block (docs/FORMAT.md §2.2, §3.4).
struct Entropy {
  /// Fills `out` from a cryptographically secure source (an MCU's TRNG). It
  /// cannot fail: a source that can must wait or stop the device instead,
  /// since a predictable salt is what the salts exist to prevent. Null:
  /// libsodium's randombytes_buf (the host's generator).
  void (*fill)(void* context, std::span<std::byte> out) noexcept = nullptr;
  void* context = nullptr;
};

/// Sees every nonce seal() uses, for audits and tests that prove no (key,
/// nonce) pair repeats: `store` is the store salt of the crypto block, which
/// with the master key determines the record key.
struct NonceObserver {
  void (*seen)(void* context, std::span<const std::byte> store, std::span<const std::byte> nonce) noexcept = nullptr;
  void* context = nullptr;
};

/// The options of a sealed store. Format writes suite, hide_keys (with the
/// plain-prefix rule's id) and whether compression is on into the store;
/// mount refuses a store formatted with others (Errc::config_mismatch)
/// rather than adopt them.
struct SealOptions {
  CipherSuite suite = CipherSuite::xchacha20poly1305;
  bool hide_keys = false;       ///< store keyed hashes of key names, never the names
  /// With hide_keys: the leading bytes of each name that stay plain, so that
  /// keys sharing them can still be scanned (docs/FORMAT.md §3.7; the
  /// docstore's rule is ferrite::docstore_key_prefix). Its id is recorded in
  /// the store. Empty (the default): whole names are hashed.
  KeyPrefixRule plain_prefix{};
  /// zstd level; 0 stores values uncompressed. Off by default: a compressed
  /// value's sealed size tells how compressible the plaintext was (whether
  /// it repeats something known, say). Turn it on where the space it saves
  /// matters more than that.
  int compression_level = 0;
  std::uint32_t compress_min = 24;  ///< shorter values are never compressed
  /// The highest Argon2id cost accepted, at use_passphrase and at mount: a
  /// block asking for more is refused before the KDF runs (someone with the
  /// flash in hand could otherwise make mount spend minutes or gigabytes).
  /// Default: libsodium's MODERATE level.
  KdfCost max_kdf_cost{3, 256 * 1024};
  Entropy entropy{};
  NonceObserver nonce_observer{};
};

struct SealStats {
  std::uint64_t values_framed = 0;
  std::uint64_t plain_bytes = 0;     ///< value bytes given to frame()
  std::uint64_t framed_bytes = 0;    ///< bytes after compression (before the tag)
  std::uint64_t compressed = 0;      ///< values stored compressed
  std::uint64_t opened = 0;
  std::uint64_t rejected = 0;        ///< authentications that failed
  double ratio() const noexcept { return plain_bytes ? double(framed_bytes) / double(plain_bytes) : 1.0; }
};

/// True when libsodium initialised and, for AES-256-GCM, the CPU supports it.
[[nodiscard]] bool suite_available(CipherSuite suite) noexcept;

class Sealer final : public ValueCodec {
 public:
  static constexpr std::size_t key_size = 32;
  static constexpr std::size_t max_passphrase = 256;

  explicit Sealer(SealOptions options = {}) noexcept;
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;
  ~Sealer();

  /// Uses a 32-byte key. Errors: invalid_argument (size).
  Status use_key(std::span<const std::byte> key) noexcept;
  /// Uses a passphrase stretched with Argon2id (cost stored at format). The
  /// passphrase is wiped once a master key derived from it is in use (after
  /// format, or a mount it opens); the subkeys stay with the store's salts,
  /// so this Sealer mounts that store again without it. Errors:
  /// invalid_argument (empty, longer than max_passphrase, a cost below
  /// libsodium's minimum or above SealOptions::max_kdf_cost).
  Status use_passphrase(std::string_view passphrase, KdfCost cost = {}) noexcept;
  /// Whether the passphrase is still in RAM (given, and not used yet).
  bool holds_passphrase() const noexcept { return passphrase_size_ != 0; }
  /// Installs a zstd dictionary (from train_dictionary) for small values,
  /// digested once (a zstd CDict at the compression level and a DDict) so
  /// frame()/unframe() do not re-read it per value. Replacing a dictionary
  /// frees the previous one. The digested forms cost heap (about 66 KB for
  /// the CDict at level 3 and 29 KB for the DDict on x86-64) for 8x faster
  /// compression and 19x faster decompression of ~140-byte values.
  /// Errors: invalid_argument, no_memory (the previous dictionary then stays
  /// in use).
  Status use_dictionary(std::span<const std::byte> dictionary) noexcept;
  /// Trains a dictionary on sample values (zstd's ZDICT). Errors:
  /// invalid_argument (too few or too small samples to learn from).
  static Result<std::vector<std::byte>> train_dictionary(const std::vector<std::vector<std::byte>>& samples,
                                                         std::size_t capacity) noexcept;

  /// The key under which store_dictionary() keeps the dictionary.
  static constexpr std::string_view dictionary_key = "\xff" "ferrite/zstd-dictionary";
  /// Keeps `dictionary` in the store (itself stored without the dictionary)
  /// and starts using it. Errors: those of use_dictionary and Store::put.
  Task<Status> store_dictionary(Store& store, std::span<const std::byte> dictionary) noexcept;
  /// After mount: loads the dictionary the store keeps, if any (not_found
  /// otherwise). Values compressed with it need it to be read.
  Task<Status> load_dictionary(Store& store) noexcept;

  const SealStats& stats() const noexcept { return stats_; }
  CipherSuite suite() const noexcept { return options_.suite; }

  // ValueCodec
  Status create_block(std::span<std::byte> block) noexcept override;
  Status load_block(std::span<const std::byte> block) noexcept override;
  bool hides_keys() const noexcept override { return options_.hide_keys; }
  bool keeps_key_prefix() const noexcept override {
    return options_.hide_keys && options_.plain_prefix.plain_length != nullptr;
  }
  std::size_t stored_key(std::span<const std::byte> name, std::span<std::byte> out) noexcept override;
  std::uint32_t overhead() const noexcept override;
  Result<std::size_t> frame(std::span<const std::byte> value, std::span<std::byte> out) noexcept override;
  Result<std::size_t> framed_size(std::span<const std::byte> frame) const noexcept override;
  Result<std::size_t> unframe(std::span<const std::byte> frame, std::span<std::byte> out) noexcept override;
  std::size_t sealed_size(std::size_t plain_size) const noexcept override;
  Status seal(std::span<const std::byte> ad, std::span<std::byte> buf, std::size_t plain_size) noexcept override;
  Result<std::size_t> open(std::span<const std::byte> ad, std::span<std::byte> buf) noexcept override;
  /// BLAKE2b-128(data, key = index subkey): docs/FORMAT.md §2.2, §9.7.
  Status keyed_hash(std::span<const std::byte> data, std::span<std::byte, 16> out) noexcept override;
  void scrub(std::span<std::byte> buffer) noexcept override;
  /// The backup subkey of the store whose block this Sealer created or
  /// loaded last (docs/FORMAT.md §10.1): ferrite.backup seals and opens
  /// backup streams with it. Errors: wrong_key (no store's keys yet).
  Status backup_key(std::span<std::byte, key_size> out) const noexcept;

 private:
  Status check_options(std::span<const std::byte> block) const noexcept;
  Status derive(std::span<const std::byte> block) noexcept;
  void wipe() noexcept;
  void wipe_passphrase() noexcept;
  void random(std::span<std::byte> out) noexcept;
  std::size_t nonce_for(std::span<const std::byte> salt, std::span<const std::byte> ad,
                        std::span<std::byte, 24> nonce) const noexcept;

  SealOptions options_;
  bool have_key_ = false;           // secret_ holds a raw key
  bool passphrase_mode_ = false;    // the key is a passphrase (held or already wiped)
  bool keys_ready_ = false;         // the subkeys below belong to pw_salt_ and store_salt_
  KdfCost cost_{};
  std::array<std::byte, key_size> secret_{};            // raw key, when given one
  std::array<char, max_passphrase> passphrase_{};
  std::size_t passphrase_size_ = 0;
  std::array<std::byte, 16> pw_salt_{};
  std::array<std::byte, 16> store_salt_{};
  std::array<std::byte, key_size> record_key_{};
  std::array<std::byte, key_size> name_key_{};
  std::array<std::byte, key_size> index_key_{};
  std::array<std::byte, key_size> check_key_{};
  std::array<std::byte, key_size> backup_key_{};
  std::vector<std::byte> dictionary_;
  std::uint32_t dictionary_id_ = 0;
  void* cctx_ = nullptr;   // ZSTD_CCtx*
  void* dctx_ = nullptr;   // ZSTD_DCtx*
  void* cdict_ = nullptr;  // ZSTD_CDict* of dictionary_ at the compression level (null: none)
  void* ddict_ = nullptr;  // ZSTD_DDict* of dictionary_ (null: no dictionary installed)
  mutable SealStats stats_{};
};

}  // namespace ferrite
