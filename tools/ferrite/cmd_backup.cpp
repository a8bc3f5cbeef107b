// backup, verify-backup, restore: backup streams of ferrite.backup
// (docs/BACKUP.md, docs/FORMAT.md §10) in host files.
#include <ctime>
#include <fmt/format.h>

import ferrite;
import ferrite.file;
#include "tool.hpp"
#include "args.hpp"
#include "geometry_spec.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

int exit_of(const Verdict& v) {
  switch (v.fault) {
    case BackupFault::corrupt:
    case BackupFault::truncated:
    case BackupFault::reordered:
    case BackupFault::chain_gap:
      return exit_damaged;
    default:
      return exit_code_of(v.error);
  }
}

std::string verdict_text(const Verdict& v, std::span<const std::string> files) {
  const std::string which = v.backup < files.size() ? files[v.backup] : std::string("the chain");
  return fmt::format("{}: {} ({}) after {} entries", which, describe(v.error), name_of(v.fault), v.entries);
}

/// A Sealer for a sealed backup: the key options, nothing else (the stream
/// carries its store's crypto block).
CheckedDone backup_sealer(const ParsedArgs& args, std::optional<Sealer>& sealer) {
  auto keys = key_options_from(args);
  if (!keys) return keys.error();
  if (!keys->any()) return done();
  sealer.emplace();
  if (keys->key_file) {
    auto key = read_file(*keys->key_file);
    if (!key) return usage_error("key file " + key.error().what);
    if (key->size() != Sealer::key_size)
      return usage_error(fmt::format("key file {} holds {} bytes: a key is exactly {} raw bytes", *keys->key_file,
                                     key->size(), Sealer::key_size));
    if (!sealer->use_key(*key)) return usage_error("the key file cannot be used");
  } else {
    const char* pass = std::getenv(keys->passphrase_env->c_str());
    if (!pass || !*pass) return usage_error(fmt::format("the environment variable {} is not set", *keys->passphrase_env));
    if (!sealer->use_passphrase(pass)) return usage_error("the passphrase cannot be used");
  }
  return done();
}

struct OpenChain {
  std::vector<std::unique_ptr<FileSource>> sources;
  std::vector<ByteSource*> chain;
};

Checked<OpenChain> open_chain(std::span<const std::string> files) {
  OpenChain c;
  for (const std::string& f : files) {
    auto src = std::make_unique<FileSource>();
    if (const Status o = src->open(f.c_str()); !o)
      return ToolError{o.error() == Errc::not_found ? exit_damaged : exit_usage,
                       fmt::format("{}: {}", f, describe(o.error()))};
    c.chain.push_back(src.get());
    c.sources.push_back(std::move(src));
  }
  return c;
}

Checked<int> run_backup(const ParsedArgs& args) {
  const std::string& out = args.positionals[1];
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  BackupOptions options;
  options.created = static_cast<std::int64_t>(std::time(nullptr));
  options.sealer = (*s)->opened->sealer();
  if (args.has("docstore")) options.filter = docstore_filter();
  FileSink sink;
  const std::string partial = out + ".partial";
  if (const Status o = sink.open(partial.c_str()); !o)
    return usage_error(fmt::format("{}: {}", partial, describe(o.error())));
  Result<BackupSummary> summary = fail(Errc::invalid_argument);
  if (const auto since = args.value("since-lsn")) {
    std::uint64_t lsn = 0;
    const auto [end, ec] = std::from_chars(since->data(), since->data() + since->size(), lsn);
    if (ec != std::errc{} || end != since->data() + since->size()) {
      std::remove(partial.c_str());
      return usage_error(fmt::format("--since-lsn '{}' is not a number", *since));
    }
    summary = sync_wait(incremental_backup((*s)->store(), sink, lsn, options));
  } else {
    summary = sync_wait(backup((*s)->store(), sink, options));
  }
  if (!summary) {
    std::remove(partial.c_str());
    return store_error(**s, summary.error(), "backup");
  }
  if (std::rename(partial.c_str(), out.c_str()) != 0) {
    std::remove(partial.c_str());
    return usage_error(fmt::format("cannot write {}", out));
  }
  fmt::print("{}: {} backup, {} entries, {} bytes, lsn {} to {} (--since-lsn {} continues it)\n", out,
             summary->header.kind == BackupKind::full ? "full" : "incremental", summary->entries,
             summary->stream_bytes, summary->header.lsn_from, summary->header.lsn_to, summary->header.lsn_to);
  return exit_ok;
}

Checked<int> run_verify_backup(const ParsedArgs& args) {
  std::optional<Sealer> sealer;
  if (auto k = backup_sealer(args, sealer); !k) return k.error();
  auto chain = open_chain(args.positionals);
  if (!chain) return chain.error();
  const Verdict v = sync_wait(verify(chain->chain, sealer ? &*sealer : nullptr));
  if (!v) return ToolError{exit_of(v), verdict_text(v, args.positionals)};
  fmt::print("{} backup(s), {} entries: ok\n", args.positionals.size(), v.entries);
  return exit_ok;
}

Checked<int> run_restore(const ParsedArgs& args) {
  const std::string& image = args.positionals[0];
  const std::vector<std::string> files(args.positionals.begin() + 1, args.positionals.end());
  const auto spec = args.value("geometry");
  if (!spec) return usage_error("--geometry PRESET|SPEC is required (the new image's layout)");
  auto geometry = parse_geometry(*spec);
  if (!geometry) return geometry.error();
  auto keys = key_options_from(args);
  if (!keys) return keys.error();
  if (file_exists(image) && !args.has("force"))
    return usage_error(fmt::format("{} exists (--force replaces it)", image));
  auto chain = open_chain(files);
  if (!chain) return chain.error();
  auto lock = ImageLock::take(image, true);
  if (!lock) return lock.error();
  auto created = create_image(image, *geometry, *keys);
  if (!created) return created.error();
  ImageSession& session = **created;
  // The backup opens with a Sealer of its own: opening loads the source
  // store's crypto block into it, which must not touch the target's keys.
  std::optional<Sealer> backup_key;
  if (auto k = backup_sealer(args, backup_key); !k) return k.error();
  RestoreOptions options;
  options.sealer = backup_key ? &*backup_key : nullptr;
  const Verdict v = sync_wait(restore(chain->chain, session.store(), options));
  if (!v) return ToolError{exit_of(v), verdict_text(v, files)};
  if (auto c = session.commit(); !c) return c.error();
  fmt::print("{}: {} entries restored\n", image, v.entries);
  return exit_ok;
}

}  // namespace

Command backup_command() {
  auto options = image_option_specs();
  options.push_back({"since-lsn", "LSN", "an incremental backup from LSN (the lsn_to a previous backup printed)"});
  options.push_back({"docstore", "", "a docstore backup: index entries left out, rebuilt at open after a restore"});
  return {"backup", "IMAGE OUT [options]", "write a backup stream of the store to the file OUT",
          "A full backup, or with --since-lsn an incremental one (docs/BACKUP.md). A sealed store's\n"
          "backup is sealed with its backup key. OUT appears only when the backup is complete.",
          options, 2, 2, run_backup};
}

Command verify_backup_command() {
  return {"verify-backup", "FILE [FILE...] [options]", "check a backup, or a chain (full, then incrementals), byte by byte",
          "Sealed backups need the store's key (--key-file or --passphrase-env). Exit 1 when a\n"
          "backup is corrupt, truncated or the chain has a gap; 2 for a wrong key or a foreign file.",
          {key_option_specs().begin(), key_option_specs().end()}, 1, 64, run_verify_backup};
}

Command restore_command() {
  std::vector<OptionSpec> options{{"geometry", "PRESET|SPEC", "the new image's layout (required)"}};
  for (const OptionSpec& o : key_option_specs()) options.push_back(o);
  options.push_back({"force", "", "replace IMAGE when it exists"});
  return {"restore", "IMAGE FILE [FILE...] --geometry G [options]", "restore a backup chain into a new image",
          "Verifies the whole chain, then restores it into a newly formatted store (sealed with the\n"
          "key options, which also open sealed backups); the image appears only when it is complete.",
          options, 2, 65, run_restore};
}

}  // namespace ferrite::tool
