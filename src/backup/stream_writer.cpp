// The framing of a backup stream (docs/FORMAT.md §10): header, data chunks
// of at most 4 KiB of entries, trailer. Plain streams carry a crc32c per
// chunk and a BLAKE2b of the stream; sealed ones are a libsodium
// secretstream under the Sealer's backup subkey.
module;
#include "ferrite_modules.hpp"
#include "ferrite_try.hpp"
#include <sodium.h>

module ferrite.backup;

namespace ferrite {

using namespace backupfmt;

namespace {

auto* u8(std::byte* p) noexcept { return reinterpret_cast<unsigned char*>(p); }
auto* u8(const std::byte* p) noexcept { return reinterpret_cast<const unsigned char*>(p); }

constexpr std::byte magic[4] = {std::byte{0x46}, std::byte{0x65}, std::byte{0x42}, std::byte{0x6B}};
constexpr std::uint8_t stream_version = 1;

static_assert(sizeof(crypto_generichash_state) + 64 <= hash_space && alignof(crypto_generichash_state) <= 64);
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <= 64);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == seal_overhead);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == 32);

}  // namespace

namespace backupfmt {

void encode_header(BackupHeader& h, std::span<const std::byte, 16> key_check,
                   std::span<const std::byte, 24> stream_header) noexcept {
  std::byte* r = h.raw.data();
  std::fill(h.raw.begin(), h.raw.end(), std::byte{0});
  std::memcpy(r, magic, 4);
  r[4] = std::byte{stream_version};
  r[5] = static_cast<std::byte>(h.kind);
  r[6] = std::byte{h.sealed ? std::uint8_t{1} : std::uint8_t{0}};
  r[7] = std::byte{h.docstore ? std::uint8_t{1} : std::uint8_t{0}};
  put_le(r + 8, h.store_id, 4);
  put_le(r + 12, h.lsn_from, 8);
  put_le(r + 20, h.lsn_to, 8);
  put_le(r + 28, static_cast<std::uint64_t>(h.created), 8);
  put_le(r + 36, static_cast<std::uint64_t>(h.since), 8);
  if (h.sealed) {
    std::memcpy(r + 44, h.crypto_block.data(), crypto_block_size);
    std::memcpy(r + 108, key_check.data(), 16);
    std::memcpy(r + 124, stream_header.data(), 24);
  }
  put_le(r + 148, crc32c(std::span<const std::byte>(r, 148)), 4);
}

Status decode_header(BackupHeader& h, BackupFault& fault) noexcept {
  const std::byte* r = h.raw.data();
  if (std::memcmp(r, magic, 4) != 0) {
    fault = BackupFault::foreign;
    return fail(Errc::foreign_format);
  }
  if (r[4] != std::byte{stream_version}) {
    fault = BackupFault::version;
    return fail(Errc::unsupported);
  }
  const auto kind = static_cast<std::uint8_t>(r[5]), cipher = static_cast<std::uint8_t>(r[6]),
             flags = static_cast<std::uint8_t>(r[7]);
  if (get_le(r + 148, 4) != crc32c(std::span<const std::byte>(r, 148)) || kind < 1 || kind > 3 || cipher > 1 ||
      flags > 1) {
    fault = BackupFault::corrupt;
    return fail(Errc::corrupt);
  }
  h.kind = static_cast<BackupKind>(kind);
  h.sealed = cipher == 1;
  h.docstore = flags == 1;
  h.store_id = static_cast<std::uint32_t>(get_le(r + 8, 4));
  h.lsn_from = get_le(r + 12, 8);
  h.lsn_to = get_le(r + 20, 8);
  h.created = static_cast<std::int64_t>(get_le(r + 28, 8));
  h.since = static_cast<std::int64_t>(get_le(r + 36, 8));
  std::memcpy(h.crypto_block.data(), r + 44, crypto_block_size);
  return {};
}

void key_check(std::span<const std::byte, 32> key, std::span<std::byte, 16> out) noexcept {
  static constexpr std::string_view label = "ferrite backup key check v1";
  crypto_generichash(u8(out.data()), out.size(), reinterpret_cast<const unsigned char*>(label.data()), label.size(),
                     u8(key.data()), key.size());
}

}  // namespace backupfmt

StreamWriter::StreamWriter(ByteSink& sink, BackupHeader header, const Sealer* sealer) noexcept
    : sink_(sink), sealer_(sealer) {
  // libsodium picks its fastest BLAKE2b and ChaCha20 code here; without it a
  // plain backup would run on the portable code (and its RNG unseeded).
  (void)sodium_init();
  summary_.header = header;
}

StreamWriter::~StreamWriter() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(stream_.data(), stream_.size());
  sodium_memzero(payload_.data(), payload_.size());
  sodium_memzero(frame_.data(), frame_.size());
}

Task<Status> StreamWriter::out(std::span<const std::byte> bytes) noexcept {
  if (!summary_.header.sealed && !failed_)  // the trailer is not hashed
    crypto_generichash_update(static_cast<crypto_generichash_state*>(aligned_hash_state(hash_)), u8(bytes.data()),
                              bytes.size());
  summary_.stream_bytes += bytes.size();
  co_return co_await sink_.write(bytes);
}

Task<Status> StreamWriter::start() noexcept {
  if (started_) co_return fail(Errc::invalid_argument);
  BackupHeader& h = summary_.header;
  std::array<std::byte, 16> check{};
  std::array<std::byte, 24> stream_header{};
  if (h.sealed) {
    if (!sealer_) co_return fail(Errc::wrong_key);
    FERRITE_CO_TRY(sealer_->backup_key(key_));
    key_check(key_, check);
    crypto_secretstream_xchacha20poly1305_init_push(
        reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(stream_.data()), u8(stream_header.data()),
        u8(key_.data()));
  } else {
    crypto_generichash_init(static_cast<crypto_generichash_state*>(aligned_hash_state(hash_)), nullptr, 0, 32);
  }
  encode_header(h, check, stream_header);
  payload_.reserve(max_payload);
  frame_.resize(chunk_prefix + max_payload + seal_overhead + 4);
  started_ = true;
  auto st = co_await out(h.raw);
  if (!st) failed_ = true;
  co_return st;
}

Task<Status> StreamWriter::emit(std::uint8_t type, std::span<const std::byte> payload) noexcept {
  const bool sealed = summary_.header.sealed;
  const std::size_t body = payload.size() + (sealed ? seal_overhead : 0);
  std::byte* f = frame_.data();
  put_le(f, seq_, 4);
  f[4] = std::byte{type};
  put_le(f + 5, body, 2);
  std::size_t size = chunk_prefix + body;
  if (sealed) {
    // Additional data: the prefix, and for the first chunk the header too,
    // so that neither can be changed without failing authentication.
    std::array<std::byte, chunk_prefix + BackupHeader::size> ad{};
    std::memcpy(ad.data(), f, chunk_prefix);
    std::size_t ad_size = chunk_prefix;
    if (seq_ == 0) {
      std::memcpy(ad.data() + chunk_prefix, summary_.header.raw.data(), BackupHeader::size);
      ad_size += BackupHeader::size;
    }
    const unsigned char tag = type == trailer_chunk ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                                    : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    crypto_secretstream_xchacha20poly1305_push(
        reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(stream_.data()), u8(f + chunk_prefix),
        nullptr, u8(payload.data()), payload.size(), u8(ad.data()), ad_size, tag);
  } else {
    std::memcpy(f + chunk_prefix, payload.data(), payload.size());
    put_le(f + size, crc32c(std::span<const std::byte>(f, size)), 4);
    size += 4;
  }
  ++seq_;
  co_return co_await out(std::span<const std::byte>(f, size));
}

Task<Status> StreamWriter::append(std::span<const std::byte> bytes) noexcept {
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), max_payload - payload_.size());
    payload_.insert(payload_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    bytes = bytes.subspan(n);
    if (payload_.size() == max_payload) {
      FERRITE_CO_TRY(co_await emit(data_chunk, payload_));
      ++summary_.chunks;
      sodium_memzero(payload_.data(), payload_.size());
      payload_.clear();
    }
  }
  co_return Status{};
}

Task<Status> StreamWriter::put(ValueType type, std::span<const std::byte> key,
                               std::span<const std::byte> value) noexcept {
  if (!started_ || failed_) co_return fail(Errc::invalid_argument);
  if (key.empty() || key.size() > max_key_size) co_return fail(Errc::invalid_argument);
  if (value.size() > max_entry_value) co_return fail(Errc::too_large);
  std::array<std::byte, entry_head> head{};
  head[0] = std::byte{op_put};
  head[1] = static_cast<std::byte>(type);
  head[2] = static_cast<std::byte>(key.size());
  put_le(head.data() + 3, value.size(), 4);
  Status st = co_await append(head);
  if (st) st = co_await append(key);
  if (st) st = co_await append(value);
  if (!st) {
    failed_ = true;
    co_return st;
  }
  ++summary_.entries;
  summary_.entry_bytes += entry_head + key.size() + value.size();
  co_return Status{};
}

Task<Status> StreamWriter::erase(std::span<const std::byte> key) noexcept {
  if (!started_ || failed_) co_return fail(Errc::invalid_argument);
  if (key.empty() || key.size() > max_key_size) co_return fail(Errc::invalid_argument);
  std::array<std::byte, entry_head> head{};
  head[0] = std::byte{op_delete};
  head[2] = static_cast<std::byte>(key.size());
  Status st = co_await append(head);
  if (st) st = co_await append(key);
  if (!st) {
    failed_ = true;
    co_return st;
  }
  ++summary_.entries;
  summary_.entry_bytes += entry_head + key.size();
  co_return Status{};
}

Task<Result<BackupSummary>> StreamWriter::finish() noexcept {
  if (!started_ || failed_) co_return fail(Errc::invalid_argument);
  if (!payload_.empty()) {
    auto st = co_await emit(data_chunk, payload_);
    if (!st) failed_ = true;
    FERRITE_CO_TRY(st);
    ++summary_.chunks;
    payload_.clear();
  }
  failed_ = true;  // one finish, and the trailer is not hashed
  std::array<std::byte, trailer_size> trailer{};
  put_le(trailer.data(), summary_.entries, 8);
  put_le(trailer.data() + 8, summary_.entry_bytes, 8);
  put_le(trailer.data() + 16, summary_.header.lsn_to, 8);
  put_le(trailer.data() + 24, summary_.chunks, 4);
  if (!summary_.header.sealed)
    crypto_generichash_final(static_cast<crypto_generichash_state*>(aligned_hash_state(hash_)), u8(trailer.data() + 28), 32);
  FERRITE_CO_TRY(co_await emit(trailer_chunk, trailer));
  FERRITE_CO_TRY(co_await sink_.finish());
  co_return summary_;
}

}  // namespace ferrite
