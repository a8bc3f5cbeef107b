// The body of the backup-reader fuzz target (fuzz_backup_reader.cpp), also
// run by test_backup.cpp over damaged real backups: the input is a backup
// stream. verify() and restore() must agree: an error leaves the restore
// target exactly as it was; success restores exactly the entries a reader
// yields, applied in order. Include after `import ferrite; import ferrite.sim;`.
#pragma once

namespace backup_fuzz {

/// Null when the input behaved; otherwise what went wrong.
inline const char* check_backup(const std::uint8_t* data, std::size_t size) {
  using namespace ferrite;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto g = Geometry::uniform(8, 4096, 4, EraseValue::ones, false);
  if (!g) return "geometry";
  sim::SimFlash sim(*g);
  Flash flash(sim);
  StoreMemory<256, 8> memory;
  StoreConfig config = memory.config();
  config.max_value_size = 512;
  Store target(flash, config);
  if (!sync_wait(target.format())) return "format";
  if (!sync_wait(target.put("own", "kept"))) return "put";

  // What a reader yields, replayed on a map: the state a restore must give.
  std::map<std::string, std::string> model;
  model["own"] = "kept";
  MemorySource source(input);
  BackupReader reader(source, nullptr, target.value_limit());
  bool readable = static_cast<bool>(sync_wait(reader.open()));
  if (readable) {
    model.clear();
    for (;;) {
      auto more = sync_wait(reader.next());
      if (!more) {
        readable = false;
        break;
      }
      if (!*more) break;
      const std::string key(reinterpret_cast<const char*>(reader.key().data()), reader.key().size());
      if (reader.erased()) model.erase(key);
      else model[key] = std::string(reinterpret_cast<const char*>(reader.value().data()), reader.value().size());
    }
    if (readable && reader.header().kind != BackupKind::full) readable = false;  // not a chain on its own
  }
  if (!readable) {
    model.clear();
    model["own"] = "kept";
  }
  ByteSource* chain[] = {&source};
  RestoreOptions options;
  options.mode = RestoreMode::in_place;
  options.replace_existing = true;
  const Verdict v = sync_wait(restore(chain, target, options));
  if (static_cast<bool>(v) != readable) {
    // A readable full backup the target cannot take (a typed value of the
    // wrong size, too many keys) is refused by the target, after clearing.
    if (readable && v.fault == BackupFault::target) return nullptr;
    return readable ? "restore refused a backup the reader accepts" : "restore accepted a backup the reader refuses";
  }
  // The target, key by key.
  std::map<std::string, std::string> got;
  auto cur = target.scan();
  std::array<std::byte, 600> buf{};
  for (;;) {
    auto more = sync_wait(cur.next());
    if (!more) return "scan of the target failed";
    if (!*more) break;
    const std::string key(cur.key_string());
    if (key == restore_marker_key) continue;
    auto n = sync_wait(cur.read_value(buf));
    if (!n) return "read of the target failed";
    got[key] = std::string(reinterpret_cast<const char*>(buf.data()), *n);
  }
  if (got != model) return readable ? "restored state differs from the backup" : "a refused backup changed the target";
  return nullptr;
}

}  // namespace backup_fuzz
