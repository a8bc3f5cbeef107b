// ferrite-bench's host comparisons: ferrite on a RAM-backed simulated flash
// and on the file port against SQLite and LMDB, in the same process.

#include "kv_bench.hpp"

namespace kvbench {
namespace {

double ops_per_s(Clock::duration d, std::size_t n) {
  const double s = std::chrono::duration<double>(d).count();
  return s > 0 ? static_cast<double>(n) / s : 0;
}

struct TempDir {
  std::string path;
  std::vector<std::string> files;
  explicit TempDir(const std::string& base) {
    std::string tmpl = base + "/ferrite-bench-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data())) path = buf.data();
  }
  ~TempDir() {
    if (path.empty()) return;
    for (const std::string& f : files) ::unlink((path + "/" + f).c_str());
    ::rmdir(path.c_str());
  }
  bool ok() const { return !path.empty(); }
  std::string file(const std::string& name) {
    files.push_back(name);
    return path + "/" + name;
  }
};

/// Whether a peer has its scratch directory; its note says so when not.
bool usable(const TempDir& dir, Peer& p) {
  if (!dir.ok()) p.note = "no temp dir";
  return dir.ok();
}

std::string fs_type(const std::string& path);

/// A peer's initial puts, then its first `n` updates, timed: `put(key
/// index, value)` says whether the put succeeded.
template <class Put>
bool load_and_update(const Workload& w, std::size_t n, Put&& put, Clock::duration& update_time) {
  for (std::size_t i = 0; i < key_count; ++i)
    if (!put(i, w.initial[i])) return false;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i)
    if (!put(w.updates[i].key, w.updates[i].value)) return false;
  update_time = Clock::now() - t0;
  return true;
}

/// A peer's run completed: `puts` updates took `put_time`, `gets` gets (0:
/// not measured) `get_time`, in a directory on `dir`'s file system.
void ran(Peer& p, Clock::duration put_time, std::size_t puts, Clock::duration get_time, std::size_t gets,
         const std::string& dir) {
  p.ran = true;
  p.put_ops = ops_per_s(put_time, puts);
  if (gets) p.get_ops = ops_per_s(get_time, gets);
  p.note = fs_type(dir);
}

std::string fs_type(const std::string& path) {
  struct statfs st{};
  if (::statfs(path.c_str(), &st) != 0) return "?";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0x01021994ul: return "tmpfs";
    case 0xEF53ul: return "ext4";
    case 0x58465342ul: return "xfs";
    case 0x9123683Eul: return "btrfs";
    case 0x794C7630ul: return "overlayfs";
    default: return fmt::format("fs 0x{:x}", static_cast<unsigned long>(st.f_type));
  }
}

Peer ferrite_ram_peer(const Workload& w) {
  Peer p("ferrite (SimFlash, instant timing, 2x16KiB)");
  RunSpec s{"host", 2, 16384, 4, w.value_size};
  const ferrite::Geometry g = make_geometry(s);
  ferrite::sim::SimFlash sim(g, 1, ferrite::sim::TimingModel::instant());
  ferrite::Flash flash(sim);
  auto mem = std::make_unique<Memory<key_count>>();
  ferrite::Store store(flash, config_for(*mem, s));
  if (!sync_wait(store.format())) return p;
  for (std::size_t i = 0; i < key_count; ++i)
    if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return p;
  const auto t0 = Clock::now();
  for (const Op& op : w.updates)
    if (!sync_wait(store.put(w.key(op.key), w.val(op.value)))) return p;
  const auto t1 = Clock::now();
  Value out{};
  for (std::uint8_t k : w.gets) {
    auto r = sync_wait(store.get(w.key(k), out));
    if (!r || std::memcmp(out.data(), w.final[k].data(), w.value_size) != 0) return p;
  }
  const auto t2 = Clock::now();
  p.put_ops = ops_per_s(t1 - t0, w.updates.size());
  p.get_ops = ops_per_s(t2 - t1, w.gets.size());
  p.ran = true;
  return p;
}

#if FERRITE_BENCH_FILE
/// ferrite on the file port, every program and erase fdatasync'ed.
Peer ferrite_file_peer(const Workload& w, const std::string& dir_base, std::size_t updates) {
  Peer p("ferrite (file port, every_op fdatasync, 2x16KiB)");
  TempDir dir(dir_base);
  if (!usable(dir, p)) return p;
  const std::string path = dir.file("ferrite.img");
  dir.files.push_back("ferrite.img.lock");
  RunSpec s{"durable", 2, 16384, 4, w.value_size};
  const ferrite::Geometry g = make_geometry(s);
  ferrite::file::OpenMode mode;
  mode.create_if_missing = true;
  mode.durability = ferrite::file::Durability::every_op;
  auto dev = ferrite::file::FileFlash::open(path, g, mode);
  if (!dev) {
    p.note = fail_text("open", dev.error());
    return p;
  }
  {
    ferrite::Flash flash(*dev);
    auto mem = std::make_unique<Memory<key_count>>();
    ferrite::Store store(flash, config_for(*mem, s));
    if (!sync_wait(store.format())) return p;
    for (std::size_t i = 0; i < key_count; ++i)
      if (!sync_wait(store.put(w.key(i), w.val(w.initial[i])))) return p;
    const std::uint64_t syncs0 = dev->stats().syncs;
    const std::size_t n = std::min(updates, w.updates.size());
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = w.updates[i];
      if (auto st = sync_wait(store.put(w.key(op.key), w.val(op.value))); !st) {
        p.note = fail_text("put", st.error());
        return p;
      }
    }
    const auto t1 = Clock::now();
    p.put_ops = ops_per_s(t1 - t0, n);
    p.note = fmt::format("{:.2f} fdatasync per update, {}", static_cast<double>(dev->stats().syncs - syncs0) / n,
                         fs_type(dir.path));
    p.ran = true;
  }
  (void)dev->close();
  return p;
}
#endif

#if FERRITE_BENCH_SQLITE
/// SQLite: table (k TEXT PRIMARY KEY, v BLOB), WAL, one transaction per put
/// (autocommit), upsert; gets by primary key.
Peer sqlite_peer(const Workload& w, const std::string& dir_base, bool full_sync, std::size_t updates,
                 bool do_gets) {
  Peer p(full_sync ? "SQLite (WAL, synchronous=FULL)" : "SQLite (WAL, synchronous=NORMAL)");
  TempDir dir(dir_base);
  if (!usable(dir, p)) return p;
  const std::string path = dir.file("kv.db");
  dir.files.push_back("kv.db-wal");
  dir.files.push_back("kv.db-shm");
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    p.note = "open failed";
    sqlite3_close(db);
    return p;
  }
  auto exec = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; };
  bool ok = exec("PRAGMA journal_mode=WAL") &&
            exec(full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") &&
            exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)");
  sqlite3_stmt* put = nullptr;
  sqlite3_stmt* get = nullptr;
  ok = ok &&
       sqlite3_prepare_v2(db, "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                          -1, &put, nullptr) == SQLITE_OK &&
       sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = ?1", -1, &get, nullptr) == SQLITE_OK;
  auto do_put = [&](std::size_t k, const Value& v) {
    sqlite3_bind_text(put, 1, w.keys[k].data(), key_size, SQLITE_STATIC);
    sqlite3_bind_blob(put, 2, v.data(), static_cast<int>(w.value_size), SQLITE_STATIC);
    const bool done = sqlite3_step(put) == SQLITE_DONE;
    sqlite3_reset(put);
    return done;
  };
  const std::size_t n = std::min(updates, w.updates.size());
  Clock::duration put_time{};
  ok = ok && load_and_update(w, n, do_put, put_time);
  const auto t1 = Clock::now();
  if (ok && do_gets) {
    for (std::uint8_t k : w.gets) {
      sqlite3_bind_text(get, 1, w.keys[k].data(), key_size, SQLITE_STATIC);
      ok = sqlite3_step(get) == SQLITE_ROW &&
           static_cast<std::uint32_t>(sqlite3_column_bytes(get, 0)) == w.value_size &&
           std::memcmp(sqlite3_column_blob(get, 0), w.final[k].data(), w.value_size) == 0;
      sqlite3_reset(get);
      if (!ok) break;
    }
  }
  const auto t2 = Clock::now();
  if (ok) {
    ran(p, put_time, n, t2 - t1, do_gets ? w.gets.size() : 0, dir.path);
  } else {
    p.note = fmt::format("failed: {}", sqlite3_errmsg(db));
  }
  sqlite3_finalize(put);
  sqlite3_finalize(get);
  sqlite3_close(db);
  return p;
}
#endif

#if FERRITE_BENCH_LMDB
/// LMDB: one write transaction per put; gets in a reused read transaction
/// (mdb_txn_reset/renew). Default flags: commits are synced.
Peer lmdb_peer(const Workload& w, const std::string& dir_base, std::size_t updates, bool do_gets) {
  Peer p("LMDB (default sync)");
  TempDir dir(dir_base);
  if (!usable(dir, p)) return p;
  dir.files.push_back("data.mdb");
  dir.files.push_back("lock.mdb");
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  bool ok = mdb_env_create(&env) == 0 && mdb_env_set_mapsize(env, 64u << 20) == 0 &&
            mdb_env_open(env, dir.path.c_str(), 0, 0644) == 0;
  if (ok) {
    MDB_txn* txn = nullptr;
    ok = mdb_txn_begin(env, nullptr, 0, &txn) == 0 && mdb_dbi_open(txn, nullptr, 0, &dbi) == 0 &&
         mdb_txn_commit(txn) == 0;
  }
  auto do_put = [&](std::size_t k, const Value& v) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return false;
    MDB_val key{key_size, const_cast<char*>(w.keys[k].data())};
    MDB_val val{w.value_size, const_cast<std::byte*>(v.data())};
    if (mdb_put(txn, dbi, &key, &val, 0) != 0) {
      mdb_txn_abort(txn);
      return false;
    }
    return mdb_txn_commit(txn) == 0;
  };
  const std::size_t n = std::min(updates, w.updates.size());
  Clock::duration put_time{};
  ok = ok && load_and_update(w, n, do_put, put_time);
  const auto t1 = Clock::now();
  if (ok && do_gets) {
    MDB_txn* rtxn = nullptr;
    ok = mdb_txn_begin(env, nullptr, MDB_RDONLY, &rtxn) == 0;
    if (ok) mdb_txn_reset(rtxn);
    for (std::uint8_t k : w.gets) {
      if (!ok) break;
      ok = mdb_txn_renew(rtxn) == 0;
      MDB_val key{key_size, const_cast<char*>(w.keys[k].data())};
      MDB_val val{};
      ok = ok && mdb_get(rtxn, dbi, &key, &val) == 0 && val.mv_size == w.value_size &&
           std::memcmp(val.mv_data, w.final[k].data(), w.value_size) == 0;
      mdb_txn_reset(rtxn);
    }
    if (rtxn) mdb_txn_abort(rtxn);
  }
  const auto t2 = Clock::now();
  if (ok) {
    ran(p, put_time, n, t2 - t1, do_gets ? w.gets.size() : 0, dir.path);
  } else {
    p.note = "failed";
  }
  if (env) mdb_env_close(env);
  return p;
}
#endif

/// Median of each engine's figures over interleaved rounds (host noise).
std::vector<Peer> merge_rounds(const std::vector<std::vector<Peer>>& rounds) {
  std::vector<Peer> out = rounds.front();
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::vector<double> puts, gets;
    bool ran = true;
    for (const auto& round : rounds) {
      ran = ran && round[i].ran;
      puts.push_back(round[i].put_ops);
      gets.push_back(round[i].get_ops);
      if (!round[i].ran) out[i].note = round[i].note;
    }
    out[i].ran = ran;
    out[i].put_ops = median(puts);
    out[i].get_ops = median(gets);
  }
  return out;
}

}  // namespace

HostResults host_comparisons(const Workload& w, const std::string& durable_base, std::size_t durable_updates,
                             int rounds) {
  HostResults h;
  h.ram_dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  h.durable_dir = durable_base;
  h.durable_updates = std::min(durable_updates, w.updates.size());
  h.rounds = rounds;
  std::vector<std::vector<Peer>> ram_rounds, durable_rounds;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Peer> ram;
    ram.push_back(ferrite_ram_peer(w));
#if FERRITE_BENCH_SQLITE
    ram.push_back(sqlite_peer(w, h.ram_dir, false, w.updates.size(), true));
#else
    ram.push_back(Peer("SQLite", false, "not built (libsqlite3-dev missing)"));
#endif
#if FERRITE_BENCH_LMDB
    ram.push_back(lmdb_peer(w, h.ram_dir, w.updates.size(), true));
#else
    ram.push_back(Peer("LMDB", false, "not built (liblmdb-dev missing)"));
#endif
    ram_rounds.push_back(std::move(ram));

    std::vector<Peer> durable;
#if FERRITE_BENCH_FILE
    durable.push_back(ferrite_file_peer(w, durable_base, h.durable_updates));
#else
    durable.push_back(Peer("ferrite (file port)", false, "not built (host_ports=false)"));
#endif
#if FERRITE_BENCH_SQLITE
    durable.push_back(sqlite_peer(w, durable_base, true, h.durable_updates, false));
#endif
#if FERRITE_BENCH_LMDB
    durable.push_back(lmdb_peer(w, durable_base, h.durable_updates, false));
#endif
    durable_rounds.push_back(std::move(durable));
  }
  h.ram = merge_rounds(ram_rounds);
  h.durable = merge_rounds(durable_rounds);
  return h;
}

}  // namespace kvbench
