// Opening and formatting stores on image files, sealed or plain.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "opened_store.hpp"

namespace ferrite::tool {

namespace {

constexpr OptionSpec key_specs[] = {
    {"key-file", "FILE", "a sealed store's key: a file of exactly 32 raw bytes"},
    {"passphrase-env", "VAR", "a sealed store's passphrase, read from the environment variable VAR"},
};

/// The most keys an image's index is sized for: the key-order permutation
/// addresses 2^16 entries, and no key takes less than 16 bytes of flash.
std::size_t index_capacity(const Geometry& g) {
  return std::min<std::size_t>(65535, g.total_size() / 16 + 16);
}

}  // namespace

std::span<const OptionSpec> key_option_specs() { return key_specs; }

Checked<KeyOptions> key_options_from(const ParsedArgs& args) {
  KeyOptions k;
  k.key_file = args.value("key-file");
  k.passphrase_env = args.value("passphrase-env");
  if (k.key_file && k.passphrase_env) return usage_error("give --key-file or --passphrase-env, not both");
  return k;
}

std::string refusal_text(const Refusal& r) {
  if (!r) return "";
  return fmt::format("{} {} against limit {}: {}", r.field, r.value, r.limit, r.reason);
}

std::string OpenedStore::explain(Errc e) const {
  std::string out = describe(e);
  if (store_) {
    const Refusal r = store_->last_refusal();
    if (r && r.code == e) out += " (" + refusal_text(r) + ")";
  }
  return out;
}

CheckedDone OpenedStore::open_device(const std::string& path, const Geometry& geometry) {
  file::OpenMode mode;
  mode.durability = file::Durability::explicit_sync;
  auto dev = file::FileFlash::open(path, geometry, mode);
  if (!dev) return usage_error(fmt::format("cannot open the image copy {}: {}", path, describe(dev.error())));
  device_.emplace(std::move(*dev));
  const std::size_t keys = index_capacity(geometry);
  index_.resize(keys);
  order_.resize(keys);
  sectors_.resize(geometry.sector_count());
  return done();
}

CheckedDone OpenedStore::make_sealer(SealOptions options, const KeyOptions& keys, bool formatting) {
  sealer_.emplace(options);
  if (keys.key_file) {
    auto key = read_file(*keys.key_file);
    if (!key) return usage_error("key file " + key.error().what);
    if (key->size() != Sealer::key_size)
      return usage_error(fmt::format("key file {} holds {} bytes: a key is exactly {} raw bytes", *keys.key_file,
                                     key->size(), Sealer::key_size));
    const Status s = sealer_->use_key(*key);
    std::fill(key->begin(), key->end(), std::byte{0});
    if (!s) return usage_error(fmt::format("key file {}: {}", *keys.key_file, describe(s.error())));
    return done();
  }
  const char* pass = std::getenv(keys.passphrase_env->c_str());
  if (!pass) return usage_error(fmt::format("the environment variable {} is not set", *keys.passphrase_env));
  if (!*pass) return usage_error(fmt::format("the environment variable {} is empty", *keys.passphrase_env));
  const KdfCost cost = formatting && keys.kdf_cost ? *keys.kdf_cost : KdfCost{};
  if (const Status s = sealer_->use_passphrase(pass, cost); !s)
    return usage_error(fmt::format("passphrase from {}: {} (at most {} bytes; Argon2id cost within libsodium's "
                                   "limits)",
                                   *keys.passphrase_env, describe(s.error()), Sealer::max_passphrase));
  return done();
}

void OpenedStore::make_store() {
  StoreConfig c;
  c.index = index_;
  c.order = order_;
  c.sectors = sectors_;
  c.max_value_size = static_cast<std::uint32_t>(max_value_size_limit);
  if (sealer_) {
    scratch_.resize(Store::scratch_needed(c.max_value_size, sealer_->overhead()));
    c.codec = &*sealer_;
    c.scratch = scratch_;
  }
  store_.emplace(Flash(*device_), c);
}

Checked<std::unique_ptr<OpenedStore>> OpenedStore::mount(const std::string& path, const Geometry& geometry,
                                                         const SectorHeader& newest, const KeyOptions& keys) {
  auto s = std::make_unique<OpenedStore>();
  if (auto d = s->open_device(path, geometry); !d) return d.error();
  if (newest.sealed()) {
    const CryptoBlockInfo info = crypto_info(newest);
    if (!keys.any())
      return usage_error(fmt::format("the store is sealed ({}, {}): give --key-file or --passphrase-env",
                                     suite_name(info.suite), info.kdf == 1 ? "passphrase (Argon2id)" : "raw key"));
    SealOptions o;
    o.suite = info.suite == 2 ? CipherSuite::aes256gcm : CipherSuite::xchacha20poly1305;
    o.hide_keys = info.hides_keys();
    o.compression_level = info.compression() ? 3 : 0;
    if (info.prefix_rule() == docstore_key_prefix.id) {
      o.plain_prefix = docstore_key_prefix;
    } else if (info.prefix_rule() != 0) {
      return usage_error(fmt::format("the store keeps key-name prefixes by rule {}, which this tool does not know",
                                     info.prefix_rule()));
    }
    if (auto k = s->make_sealer(o, keys, false); !k) return k.error();
  } else if (keys.any()) {
    return usage_error("the store is not sealed: it needs no key (drop --key-file / --passphrase-env)");
  }
  s->make_store();
  if (const Status m = sync_wait(s->store_->mount()); !m) {
    const Errc e = m.error();
    std::string what = "mount: " + s->explain(e);
    if (e == Errc::wrong_key) what = "wrong key: " + s->explain(e);
    const Refusal r = s->store_->last_refusal();
    if (e == Errc::tampered && r) what = "mount: " + std::string(describe(e)) + " (" + refusal_text(r) + ")";
    return ToolError{exit_code_of(e), what};
  }
  return s;
}

Checked<std::unique_ptr<OpenedStore>> OpenedStore::format(const std::string& path, const Geometry& geometry,
                                                          const KeyOptions& keys) {
  auto s = std::make_unique<OpenedStore>();
  if (auto d = s->open_device(path, geometry); !d) return d.error();
  if (keys.any()) {
    SealOptions o;
    o.hide_keys = keys.hide_keys;
    if (auto k = s->make_sealer(o, keys, true); !k) return k.error();
  } else if (keys.hide_keys) {
    return usage_error("--hide-keys needs a sealed store (--key-file or --passphrase-env)");
  }
  s->make_store();
  if (const Status f = sync_wait(s->store_->format()); !f) {
    const Refusal r = s->store_->config_report();
    return usage_error(fmt::format("format: {}{}", describe(f.error()), r ? " (" + refusal_text(r) + ")" : ""));
  }
  return s;
}

CheckedDone OpenedStore::close() {
  if (store_) store_->unmount();
  if (device_) {
    if (const Status s = device_->close(); !s)
      return usage_error(fmt::format("cannot sync the image: {}", describe(s.error())));
  }
  return done();
}

}  // namespace ferrite::tool
