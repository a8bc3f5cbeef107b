// A store on an image file: the file device, the sealer for a sealed store,
// the store and the memory it runs in, kept at fixed addresses (the store
// keeps pointers to all of them).
#pragma once

namespace ferrite::tool {

/// --key-file / --passphrase-env, and what create adds.
struct KeyOptions {
  std::optional<std::string> key_file;        ///< 32 raw bytes
  std::optional<std::string> passphrase_env;  ///< the variable holding the passphrase
  bool hide_keys = false;                     ///< create: store keyed hashes of key names
  std::optional<KdfCost> kdf_cost;            ///< create with a passphrase: Argon2id cost
  bool any() const { return key_file || passphrase_env; }
};

/// The key options every command that opens an image accepts.
std::span<const OptionSpec> key_option_specs();
/// Reads them from parsed arguments. Errors (usage): both given.
Checked<KeyOptions> key_options_from(const ParsedArgs& args);

class OpenedStore {
 public:
  /// Mounts the store in the image file at `path` (the workspace copy),
  /// formatted with `geometry`; `newest` is its newest sector header
  /// (sealed: its crypto block gives the options to mount with). Errors:
  /// a key missing or given for a plain store, wrong key (usage, with the
  /// engine's refusal), damage (corrupt, tampered: 1).
  static Checked<std::unique_ptr<OpenedStore>> mount(const std::string& path, const Geometry& geometry,
                                                     const SectorHeader& newest, const KeyOptions& keys);
  /// Formats a new store in the blank image file at `path`.
  static Checked<std::unique_ptr<OpenedStore>> format(const std::string& path, const Geometry& geometry,
                                                      const KeyOptions& keys);

  Store& store() { return *store_; }
  bool sealed() const { return sealer_.has_value(); }
  /// The sealed store's Sealer (null for a plain store).
  Sealer* sealer() { return sealer_ ? &*sealer_ : nullptr; }
  /// Syncs and closes the image file.
  CheckedDone close();
  /// One line on an engine error: its description, and the store's
  /// refusal (which limit, which value) when it has one.
  std::string explain(Errc e) const;

  OpenedStore() = default;
  OpenedStore(const OpenedStore&) = delete;
  OpenedStore& operator=(const OpenedStore&) = delete;

 private:
  CheckedDone open_device(const std::string& path, const Geometry& geometry);
  CheckedDone make_sealer(SealOptions options, const KeyOptions& keys, bool formatting);
  void make_store();

  std::optional<file::FileFlash> device_;
  std::optional<Sealer> sealer_;
  std::optional<Store> store_;
  std::vector<IndexEntry> index_;
  std::vector<std::uint16_t> order_;
  std::vector<SectorInfo> sectors_;
  std::vector<std::byte> scratch_;
};

/// The refusal of the store's last call, as text ("" when none).
std::string refusal_text(const Refusal& r);

}  // namespace ferrite::tool
