// Reading a backup stream back (docs/FORMAT.md §10), checking every byte:
// the header, each chunk's place, checksum or authentication, each entry,
// and the trailer's counts and digest.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"
#include <sodium.h>

module ferrite.backup;

namespace ferrite {

using namespace backupfmt;

namespace {

auto* u8(std::byte* p) noexcept { return reinterpret_cast<unsigned char*>(p); }

/// The sizes a typed value may have (docs/FORMAT.md §3.5); 0: any.
bool typed_size_fits(std::uint8_t type, std::uint32_t size) noexcept {
  switch (static_cast<ValueType>(type)) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return size == 1;
    case ValueType::u16: case ValueType::i16: return size == 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return size == 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return size == 8;
    default: return true;
  }
}

crypto_generichash_state* hash_state(std::array<std::byte, hash_space>& a) noexcept {
  return static_cast<crypto_generichash_state*>(aligned_hash_state(a));
}
crypto_secretstream_xchacha20poly1305_state* stream_state(std::array<std::byte, 64>& a) noexcept {
  return reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(a.data());
}

}  // namespace

const char* name_of(BackupFault fault) noexcept {
  switch (fault) {
    case BackupFault::none: return "none";
    case BackupFault::foreign: return "foreign";
    case BackupFault::version: return "version";
    case BackupFault::corrupt: return "corrupt";
    case BackupFault::truncated: return "truncated";
    case BackupFault::reordered: return "reordered";
    case BackupFault::wrong_key: return "wrong_key";
    case BackupFault::key_needed: return "key_needed";
    case BackupFault::too_large: return "too_large";
    case BackupFault::chain_start: return "chain_start";
    case BackupFault::other_store: return "other_store";
    case BackupFault::chain_gap: return "chain_gap";
    case BackupFault::other_restore: return "other_restore";
    case BackupFault::target: return "target";
    case BackupFault::source: return "source";
  }
  return "?";
}

BackupReader::BackupReader(ByteSource& source, Sealer* sealer, std::uint32_t max_value) noexcept
    : source_(source), sealer_(sealer), max_value_(std::min(max_value, max_entry_value)) {
  (void)sodium_init();  // as StreamWriter's
}

BackupReader::~BackupReader() {
  sodium_memzero(stream_.data(), stream_.size());
  sodium_memzero(chunk_.data(), chunk_.size());
  sodium_memzero(value_.data(), value_.size());
}

Status BackupReader::refuse(BackupFault fault, Errc error) noexcept {
  if (fault_ == BackupFault::none) fault_ = fault;
  ended_ = true;
  return fail(error);
}

Task<Status> BackupReader::fill(std::span<std::byte> out) noexcept {
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = co_await source_.read(out.subspan(got));
    if (!n) co_return refuse(BackupFault::source, n.error());
    if (*n == 0) co_return refuse(BackupFault::truncated, Errc::corrupt);
    got += *n;
  }
  summary_.stream_bytes += out.size();
  co_return Status{};
}

Task<Status> BackupReader::open() noexcept {
  if (opened_) co_return fail(Errc::invalid_argument);
  opened_ = true;
  BackupHeader& h = summary_.header;
  // Fewer than 4 bytes, or another magic: not a backup at all.
  std::size_t got = 0;
  while (got < BackupHeader::size) {
    auto n = co_await source_.read(std::span<std::byte>(h.raw).subspan(got));
    if (!n) co_return refuse(BackupFault::source, n.error());
    if (*n == 0) break;
    got += *n;
  }
  summary_.stream_bytes = got;
  if (got < 4) co_return refuse(BackupFault::foreign, Errc::foreign_format);
  if (got < BackupHeader::size) {
    if (auto st = decode_header(h, fault_); !st && fault_ == BackupFault::foreign) co_return refuse(fault_, st.error());
    fault_ = BackupFault::none;
    co_return refuse(BackupFault::truncated, Errc::corrupt);
  }
  if (auto st = decode_header(h, fault_); !st) co_return refuse(fault_, st.error());
  if (h.sealed) {
    if (!sealer_) co_return refuse(BackupFault::key_needed, Errc::wrong_key);
    // Loading the store's block derives the backup subkey from the key the
    // Sealer was given, and fails the block's own key check otherwise.
    if (auto st = sealer_->load_block(h.crypto_block); !st) {
      const Errc e = st.error();
      co_return refuse(e == Errc::wrong_key || e == Errc::config_mismatch ? BackupFault::wrong_key
                                                                           : BackupFault::corrupt,
                       e);
    }
    std::array<std::byte, 32> key{};
    std::array<std::byte, 16> check{};
    if (auto st = sealer_->backup_key(key); !st) co_return refuse(BackupFault::wrong_key, Errc::wrong_key);
    key_check(key, check);
    if (sodium_memcmp(check.data(), h.raw.data() + 108, 16) != 0) {
      sodium_memzero(key.data(), key.size());
      co_return refuse(BackupFault::wrong_key, Errc::wrong_key);
    }
    const int rc = crypto_secretstream_xchacha20poly1305_init_pull(stream_state(stream_), u8(h.raw.data() + 124),
                                                                    u8(key.data()));
    sodium_memzero(key.data(), key.size());
    if (rc != 0) co_return refuse(BackupFault::corrupt, Errc::corrupt);
  } else {
    crypto_generichash_init(hash_state(hash_), nullptr, 0, 32);
    crypto_generichash_update(hash_state(hash_), u8(h.raw.data()), h.raw.size());
  }
  chunk_.resize(chunk_prefix + StreamWriter::max_payload + seal_overhead + 4);
  co_return Status{};
}

Task<Status> BackupReader::next_chunk() noexcept {
  const bool sealed = summary_.header.sealed;
  std::byte* f = chunk_.data();
  FERRITE_CO_TRY(co_await fill(std::span<std::byte>(f, chunk_prefix)));
  const auto seq = static_cast<std::uint32_t>(get_le(f, 4));
  const auto type = static_cast<std::uint8_t>(f[4]);
  const auto body = static_cast<std::size_t>(get_le(f + 5, 2));
  if (seq != seq_) co_return refuse(BackupFault::reordered, Errc::corrupt);
  const std::size_t payload = sealed ? (body >= seal_overhead ? body - seal_overhead : 0) : body;
  if ((type != data_chunk && type != trailer_chunk) || (sealed && body < seal_overhead) ||
      (type == data_chunk && (payload == 0 || payload > StreamWriter::max_payload)) ||
      (type == trailer_chunk && payload != trailer_size))
    co_return refuse(BackupFault::corrupt, Errc::corrupt);
  const std::size_t size = chunk_prefix + body + (sealed ? 0 : 4);
  FERRITE_CO_TRY(co_await fill(std::span<std::byte>(f + chunk_prefix, size - chunk_prefix)));
  std::array<std::byte, 32> digest{};
  if (sealed) {
    std::array<std::byte, chunk_prefix + BackupHeader::size> ad{};
    std::memcpy(ad.data(), f, chunk_prefix);
    std::size_t ad_size = chunk_prefix;
    if (seq == 0) {
      std::memcpy(ad.data() + chunk_prefix, summary_.header.raw.data(), BackupHeader::size);
      ad_size += BackupHeader::size;
    }
    unsigned char tag = 0;
    // Opened in place: the plaintext lands where the ciphertext was.
    std::vector<std::byte> plain(payload);
    if (crypto_secretstream_xchacha20poly1305_pull(stream_state(stream_), u8(plain.data()), nullptr, &tag,
                                                   u8(f + chunk_prefix), body, u8(ad.data()), ad_size) != 0)
      co_return refuse(BackupFault::corrupt, Errc::corrupt);
    const unsigned char want = type == trailer_chunk ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                                     : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    if (tag != want) co_return refuse(BackupFault::corrupt, Errc::corrupt);
    std::memcpy(f + chunk_prefix, plain.data(), payload);
    sodium_memzero(plain.data(), plain.size());
  } else {
    if (get_le(f + chunk_prefix + body, 4) != crc32c(std::span<const std::byte>(f, chunk_prefix + body)))
      co_return refuse(BackupFault::corrupt, Errc::corrupt);
    if (type == trailer_chunk) crypto_generichash_final(hash_state(hash_), u8(digest.data()), digest.size());
    else crypto_generichash_update(hash_state(hash_), u8(f), size);
  }
  ++seq_;
  chunk_at_ = chunk_prefix;
  chunk_size_ = chunk_prefix + payload;
  if (type == data_chunk) {
    ++summary_.chunks;
    co_return Status{};
  }
  // The trailer: every count must agree with what was read.
  trailer_ = true;
  const std::byte* t = f + chunk_prefix;
  if (get_le(t, 8) != entries_ || get_le(t + 8, 8) != entry_bytes_ || get_le(t + 16, 8) != summary_.header.lsn_to ||
      get_le(t + 24, 4) != summary_.chunks || (!sealed && std::memcmp(t + 28, digest.data(), 32) != 0))
    co_return refuse(BackupFault::corrupt, Errc::corrupt);
  chunk_at_ = chunk_size_;
  co_return Status{};
}

Task<Status> BackupReader::take(std::span<std::byte> out) noexcept {
  std::size_t got = 0;
  while (got < out.size()) {
    if (chunk_at_ == chunk_size_) {
      if (trailer_) co_return refuse(BackupFault::corrupt, Errc::corrupt);  // an entry cut by the trailer
      FERRITE_CO_TRY(co_await next_chunk());
      if (trailer_) co_return refuse(BackupFault::corrupt, Errc::corrupt);
      continue;
    }
    const std::size_t n = std::min(out.size() - got, chunk_size_ - chunk_at_);
    std::memcpy(out.data() + got, chunk_.data() + chunk_at_, n);
    chunk_at_ += n;
    got += n;
  }
  co_return Status{};
}

Task<Result<bool>> BackupReader::next() noexcept {
  if (!opened_) co_return fail(Errc::invalid_argument);
  if (fault_ != BackupFault::none) co_return fail(Errc::invalid_argument);
  if (ended_) co_return false;
  // At an entry boundary: the next chunk may be the trailer.
  if (chunk_at_ == chunk_size_) {
    FERRITE_CO_TRY(co_await next_chunk());
    if (trailer_) {
      ended_ = true;
      summary_.entries = entries_;
      summary_.entry_bytes = entry_bytes_;
      co_return false;
    }
  }
  std::array<std::byte, entry_head> head{};
  FERRITE_CO_TRY(co_await take(head));
  const auto op = static_cast<std::uint8_t>(head[0]);
  const auto type = static_cast<std::uint8_t>(head[1]);
  const auto key_size = static_cast<std::uint8_t>(head[2]);
  const auto value_size = static_cast<std::uint32_t>(get_le(head.data() + 3, 4));
  if ((op != op_put && op != op_delete) || type > static_cast<std::uint8_t>(ValueType::blob) || key_size == 0 ||
      key_size > max_key_size || (op == op_delete && (type != 0 || value_size != 0)) ||
      value_size > max_entry_value || (op == op_put && !typed_size_fits(type, value_size)))
    co_return fail(refuse(BackupFault::corrupt, Errc::corrupt).error());
  if (value_size > max_value_) co_return fail(refuse(BackupFault::too_large, Errc::too_large).error());
  FERRITE_CO_TRY(co_await take(std::span<std::byte>(key_.data(), key_size)));
  // Backups never hold the restore marker (§10.4): one that does would
  // overwrite a restore's record of its own progress.
  const auto marker = as_bytes(restore_marker_key);
  if (key_size == marker.size() && std::memcmp(key_.data(), marker.data(), marker.size()) == 0)
    co_return fail(refuse(BackupFault::corrupt, Errc::corrupt).error());
  if (value_.size() < value_size) value_.resize(value_size);
  FERRITE_CO_TRY(co_await take(std::span<std::byte>(value_.data(), value_size)));
  erased_ = op == op_delete;
  type_ = static_cast<ValueType>(type);
  key_size_ = key_size;
  value_size_ = value_size;
  ++entries_;
  entry_bytes_ += entry_head + key_size + value_size;
  co_return true;
}

}  // namespace ferrite
