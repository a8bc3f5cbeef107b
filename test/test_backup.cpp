// Backups and restore (ferrite.backup): full and incremental backups, plain
// and sealed, of stores and docstores; verify on damaged, foreign and
// wrong-key backups; chains with gaps; restore staged or in place, resumed
// after a cut; the sinks and sources; and random damage that must never
// reach a restore target.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite;
import ferrite.sim;
#include "backup_rig.hpp"
#include "doc_rig.hpp"
#include "fuzz/backup_reader_driver.hpp"

using ferrite::BackupFault;
using ferrite::Errc;
using ferrite::MemorySink;
using ferrite::MemorySource;
using ferrite::ValueType;
using ferrite::sync_wait;
using backuprig::bytes;
using backuprig::dump;
using backuprig::Rig;

#define CHECK_OR_RETURN(expr)                 \
  do {                                        \
    const bool ok_ = static_cast<bool>(expr); \
    INFO(#expr);                              \
    CHECK(ok_);                               \
    if (!ok_) return;                         \
  } while (0)

namespace {

ferrite::Status put(ferrite::Store& s, std::string_view k, std::string_view v) { return sync_wait(s.put(k, v)); }

/// Puts, typed puts, overwrites, deletes and a transaction.
void workload(ferrite::Store& s, int round) {
  const std::string r = std::to_string(round);
  for (int i = 0; i < 40; ++i) CHECK(put(s, "k" + std::to_string(i), "v" + r + "-" + std::to_string(i)));
  CHECK(sync_wait(s.put_as("count", static_cast<std::uint32_t>(round * 100))));
  CHECK(sync_wait(s.put_as("ratio", 0.25 * round)));
  CHECK(sync_wait(s.put_as("name", std::string_view("ferrite-" + r))));
  for (int i = round; i < 40; i += 5) CHECK(sync_wait(s.erase("k" + std::to_string(i))));
  CHECK(put(s, "big" + r, std::string(700, static_cast<char>('a' + round))));
  ferrite::Transaction t(s);
  CHECK(sync_wait(t.put("t1", "one" + r)));
  CHECK(sync_wait(t.put("t2", "two" + r)));
  CHECK(sync_wait(t.erase("k" + std::to_string(round + 1))));
  CHECK(sync_wait(t.commit()));
}

ferrite::Verdict restore_all(Rig& rig, std::vector<MemorySink*> sinks, ferrite::RestoreOptions o) {
  std::vector<MemorySource> sources;
  sources.reserve(sinks.size());
  for (auto* s : sinks) sources.emplace_back(s->bytes());
  std::vector<ferrite::ByteSource*> chain;
  for (auto& s : sources) chain.push_back(&s);
  return sync_wait(ferrite::restore(chain, *rig.target.store, o));
}

ferrite::Verdict verify_all(Rig& rig, std::vector<const MemorySink*> sinks) {
  std::vector<MemorySource> sources;
  sources.reserve(sinks.size());
  for (auto* s : sinks) sources.emplace_back(s->bytes());
  std::vector<ferrite::ByteSource*> chain;
  for (auto& s : sources) chain.push_back(&s);
  return sync_wait(ferrite::verify(chain, rig.reading_sealer.get()));
}

ferrite::Verdict verify_bytes(std::span<const std::byte> b, ferrite::Sealer* sealer = nullptr) {
  MemorySource src(b);
  return sync_wait(ferrite::verify(src, sealer));
}

bool contains(std::span<const std::byte> hay, std::string_view needle) {
  auto n = bytes(needle);
  return std::search(hay.begin(), hay.end(), n.begin(), n.end()) != hay.end();
}

/// A full backup then two incrementals of a store under the workload.
struct Chain {
  MemorySink full, inc1, inc2;
  std::uint64_t lsn = 0;
};

void make_chain(Rig& rig, Chain& c) {
  ferrite::Store& s = *rig.source.store;
  workload(s, 1);
  auto f = sync_wait(ferrite::backup(s, c.full, rig.options()));
  CHECK(f);
  if (!f) return;
  workload(s, 2);
  auto i1 = sync_wait(ferrite::incremental_backup(s, c.inc1, f->header.lsn_to, rig.options()));
  CHECK(i1);
  if (!i1) return;
  workload(s, 3);
  auto i2 = sync_wait(ferrite::incremental_backup(s, c.inc2, i1->header.lsn_to, rig.options()));
  CHECK(i2);
}

void round_trip(bool sealed) {
  Rig rig(8, 8192, 1024, sealed);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  Chain c;
  make_chain(rig, c);
  CHECK(verify_all(rig, {&c.full, &c.inc1, &c.inc2}));
  const auto v = restore_all(rig, {&c.full, &c.inc1, &c.inc2}, rig.restore_options());
  INFO(ferrite::name_of(v.error) << " " << ferrite::name_of(v.fault));
  CHECK_OR_RETURN(v);
  const auto original = dump(*rig.source.store);
  CHECK(original.size() > 30);
  CHECK(backuprig::difference(original, dump(*rig.target.store)) == "");
  CHECK(original.at("count").type == ValueType::u32);
  // After a reboot too, and the marker says complete.
  rig.target.reboot();
  CHECK_OR_RETURN(sync_wait(rig.target.store->mount()));
  CHECK(backuprig::difference(original, dump(*rig.target.store)) == "");
  auto state = sync_wait(ferrite::restore_state(*rig.target.store));
  CHECK_OR_RETURN(state);
  CHECK(state->state == ferrite::RestoreState::complete);
  CHECK(state->store_id == rig.source.store->store_id());
  CHECK(state->backups == 3);
}

}  // namespace

TEST_CASE("a full backup and two incrementals of a plain store restore it key by key", "[backup][restore]") {
  round_trip(false);
}

TEST_CASE("a full backup and two incrementals of a sealed store restore it key by key", "[backup][restore][sealed]") {
  round_trip(true);
}

TEST_CASE("a full backup alone restores the store as it was when the backup began", "[backup][restore]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  workload(*rig.source.store, 1);
  const auto before = dump(*rig.source.store);
  MemorySink full;
  auto f = sync_wait(ferrite::backup(*rig.source.store, full, rig.options()));
  CHECK_OR_RETURN(f);
  CHECK(f->header.kind == ferrite::BackupKind::full);
  CHECK(f->header.lsn_from == 0);
  CHECK(f->header.lsn_to == rig.source.store->lsn());
  CHECK(f->entries == before.size());
  CHECK(f->stream_bytes == full.bytes().size());
  workload(*rig.source.store, 2);  // not in the backup
  CHECK(restore_all(rig, {&full}, rig.restore_options()));
  CHECK(backuprig::difference(dump(*rig.target.store), before) == "");
}

TEST_CASE("a sealed backup shows no value and opens with the store's key only", "[backup][sealed][errors]") {
  Rig rig(8, 8192, 1024, true);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  CHECK(put(*rig.source.store, "secret", "PLAINTEXT-VALUE-4242"));
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  CHECK_FALSE(contains(full.bytes(), "PLAINTEXT-VALUE-4242"));
  CHECK(verify_bytes(full.bytes(), rig.reading_sealer.get()));

  ferrite::Sealer other;
  CHECK(other.use_key(test_key(9)));
  auto v = verify_bytes(full.bytes(), &other);
  CHECK(v.error == Errc::wrong_key);
  CHECK(v.fault == BackupFault::wrong_key);
  v = verify_bytes(full.bytes(), nullptr);
  CHECK(v.error == Errc::wrong_key);
  CHECK(v.fault == BackupFault::key_needed);

  // A sealed store without its Sealer, or one that hides names, gives no backup.
  MemorySink none;
  ferrite::BackupOptions o;
  CHECK(sync_wait(ferrite::backup(*rig.source.store, none, o)).error() == Errc::wrong_key);
}

TEST_CASE("a plain backup carries crc32c chunks and a BLAKE2b the stream must match", "[backup][errors]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  for (int i = 0; i < 300; ++i) CHECK(put(*rig.source.store, "key" + std::to_string(i), std::string(40, 'x')));
  MemorySink full;
  auto f = sync_wait(ferrite::backup(*rig.source.store, full, rig.options()));
  CHECK_OR_RETURN(f);
  CHECK(f->chunks >= 3);  // several 4 KiB chunks
  auto b = full.buffer();
  CHECK(verify_bytes(b));

  SECTION("a flipped bit in a chunk is corrupt") {
    b[ferrite::BackupHeader::size + 100] ^= std::byte{4};
    auto v = verify_bytes(b);
    CHECK(v.error == Errc::corrupt);
    CHECK(v.fault == BackupFault::corrupt);
  }
  SECTION("a flipped bit in the header is corrupt") {
    b[30] ^= std::byte{1};
    CHECK(verify_bytes(b).fault == BackupFault::corrupt);
  }
  SECTION("a stream cut anywhere is truncated") {
    for (std::size_t cut : {std::size_t{200}, b.size() / 2, b.size() - 1}) {
      auto v = verify_bytes(std::span<const std::byte>(b).first(cut));
      CHECK(v.error == Errc::corrupt);
      CHECK(v.fault == BackupFault::truncated);
    }
  }
  SECTION("two chunks swapped are reordered") {
    const std::size_t chunk = 7 + 4096 + 4, first = ferrite::BackupHeader::size;
    std::vector<std::byte> tmp(b.begin() + first, b.begin() + first + chunk);
    std::copy(b.begin() + first + chunk, b.begin() + first + 2 * chunk, b.begin() + first);
    std::copy(tmp.begin(), tmp.end(), b.begin() + first + chunk);
    auto v = verify_bytes(b);
    CHECK(v.error == Errc::corrupt);
    CHECK(v.fault == BackupFault::reordered);
  }
  SECTION("bytes that are not a backup are foreign") {
    std::string text = "this is not a ferrite backup at all, only text of some length........";
    auto v = verify_bytes(bytes(text));
    CHECK(v.error == Errc::foreign_format);
    CHECK(v.fault == BackupFault::foreign);
    CHECK(verify_bytes(bytes("Fe")).fault == BackupFault::foreign);
    CHECK(verify_bytes({}).fault == BackupFault::foreign);
  }
  SECTION("another version is unsupported") {
    b[4] = std::byte{9};
    auto v = verify_bytes(b);
    CHECK(v.error == Errc::unsupported);
    CHECK(v.fault == BackupFault::version);
  }
}

TEST_CASE("a sealed backup detects corruption, truncation and reordering", "[backup][sealed][errors]") {
  Rig rig(8, 8192, 1024, true);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  for (int i = 0; i < 300; ++i) CHECK(put(*rig.source.store, "key" + std::to_string(i), std::string(40, 'x')));
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  auto b = full.buffer();
  auto* key = rig.reading_sealer.get();
  CHECK(verify_bytes(b, key));
  SECTION("corrupt") {
    b[ferrite::BackupHeader::size + 500] ^= std::byte{1};
    CHECK(verify_bytes(b, key).fault == BackupFault::corrupt);
  }
  SECTION("an edited header fails the first chunk's authentication") {
    b[30] ^= std::byte{1};
    // The crc catches it first; fix the crc and authentication still does.
    CHECK(verify_bytes(b, key).fault == BackupFault::corrupt);
    const auto crc = ferrite::crc32c(std::span<const std::byte>(b).first(148));
    for (int i = 0; i < 4; ++i) b[148 + i] = static_cast<std::byte>(crc >> (8 * i));
    CHECK(verify_bytes(b, key).fault == BackupFault::corrupt);
  }
  SECTION("truncated, even at a chunk boundary") {
    const std::size_t chunk = 7 + 4096 + 17;
    auto v = verify_bytes(std::span<const std::byte>(b).first(ferrite::BackupHeader::size + chunk), key);
    CHECK(v.fault == BackupFault::truncated);
  }
  SECTION("reordered") {
    const std::size_t chunk = 7 + 4096 + 17, first = ferrite::BackupHeader::size;
    std::vector<std::byte> tmp(b.begin() + first, b.begin() + first + chunk);
    std::copy(b.begin() + first + chunk, b.begin() + first + 2 * chunk, b.begin() + first);
    std::copy(tmp.begin(), tmp.end(), b.begin() + first + chunk);
    CHECK(verify_bytes(b, key).fault == BackupFault::reordered);
  }
}

TEST_CASE("restore refuses a chain with a gap, from another store, or without a full backup first",
          "[backup][restore][errors]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  Chain c;
  make_chain(rig, c);
  // The target holds a store of its own: a refused restore leaves it as it is.
  CHECK_OR_RETURN(sync_wait(rig.target.store->format()));
  CHECK(put(*rig.target.store, "mine", "kept"));
  const auto before = dump(*rig.target.store);

  auto v = restore_all(rig, {&c.full, &c.inc2}, rig.restore_options());
  CHECK(v.error == Errc::history_lost);
  CHECK(v.fault == BackupFault::chain_gap);
  CHECK(v.backup == 1);
  CHECK(verify_all(rig, {&c.full, &c.inc2}).fault == BackupFault::chain_gap);

  v = restore_all(rig, {&c.inc1, &c.inc2}, rig.restore_options());
  CHECK(v.error == Errc::invalid_argument);
  CHECK(v.fault == BackupFault::chain_start);

  // An incremental of another store with the right LSNs is still refused.
  Rig other;
  CHECK_OR_RETURN(sync_wait(other.source.store->format(ferrite::FormatOptions{77})));
  workload(*other.source.store, 1);
  MemorySink foreign_inc;
  CHECK_OR_RETURN(sync_wait(ferrite::incremental_backup(*other.source.store, foreign_inc,
                                                        other.source.store->oldest_lsn(), other.options())));
  v = restore_all(rig, {&c.full, &foreign_inc}, rig.restore_options());
  CHECK(v.error == Errc::invalid_argument);
  CHECK(v.fault == BackupFault::other_store);

  // A damaged last backup: nothing applied.
  MemorySink bad = c.inc2;
  bad.buffer()[bad.buffer().size() - 3] ^= std::byte{1};
  v = restore_all(rig, {&c.full, &c.inc1, &bad}, rig.restore_options());
  CHECK(v.error == Errc::corrupt);
  CHECK(v.backup == 2);

  CHECK(rig.target.store->mounted());
  CHECK(backuprig::difference(dump(*rig.target.store), before) == "");
  CHECK(sync_wait(ferrite::restore_state(*rig.target.store))->state == ferrite::RestoreState::none);
}

TEST_CASE("an incremental backup answers history_lost once the log no longer reaches back", "[backup][errors]") {
  Rig rig(4, 4096, 256);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  const std::uint64_t start = rig.source.store->lsn();
  CHECK(put(*rig.source.store, "gone", "soon"));
  CHECK(sync_wait(rig.source.store->erase("gone")));
  for (int i = 0; i < 400 && rig.source.store->oldest_lsn() <= start; ++i)
    CHECK(put(*rig.source.store, "k" + std::to_string(i % 8), std::string(100, 'a' + i % 26)));
  CHECK_OR_RETURN(rig.source.store->oldest_lsn() > start);
  MemorySink inc;
  auto r = sync_wait(ferrite::incremental_backup(*rig.source.store, inc, start, rig.options()));
  CHECK_OR_RETURN(!r);
  CHECK(r.error() == Errc::history_lost);
  // From what the log still holds, it works.
  MemorySink ok;
  CHECK(sync_wait(ferrite::incremental_backup(*rig.source.store, ok, rig.source.store->oldest_lsn(), rig.options())));
}

TEST_CASE("an incremental backup carries deletes that a full backup of the same moment does not need",
          "[backup][restore]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  CHECK(put(*rig.source.store, "a", "1"));
  CHECK(put(*rig.source.store, "b", "2"));
  MemorySink full, inc;
  auto f = sync_wait(ferrite::backup(*rig.source.store, full, rig.options()));
  CHECK_OR_RETURN(f);
  CHECK(sync_wait(rig.source.store->erase("a")));
  auto i = sync_wait(ferrite::incremental_backup(*rig.source.store, inc, f->header.lsn_to, rig.options()));
  CHECK_OR_RETURN(i);
  CHECK(i->entries == 1);
  CHECK(i->header.lsn_from == f->header.lsn_to);
  CHECK(restore_all(rig, {&full, &inc}, rig.restore_options()));
  const auto d = dump(*rig.target.store);
  CHECK(d.size() == 1);
  CHECK(d.count("b") == 1);
}

TEST_CASE("a full backup taken while writers run, with the next incremental, restores the final state",
          "[backup][restore][online]") {
  for (bool sealed : {false, true}) {
    Rig rig(8, 8192, 1024, sealed);
    CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
    ferrite::Store& s = *rig.source.store;
    for (int i = 0; i < 200; ++i) CHECK(put(s, "k" + std::to_string(1000 + i), "start"));
    MemorySink full, inc;
    auto o = rig.options();
    o.entries_per_step = 3;
    ferrite::FullBackup b(s, full, o);
    CHECK_OR_RETURN(sync_wait(b.start()));
    int step = 0;
    for (;;) {
      // Between steps: overwrite keys ahead of and behind the walk, delete
      // some, add new ones on both sides.
      CHECK(put(s, "k" + std::to_string(1000 + (step * 7) % 200), "during-" + std::to_string(step)));
      if (step % 3 == 0) CHECK(sync_wait(s.erase("k" + std::to_string(1000 + (step * 13) % 200))));
      if (step % 4 == 0) CHECK(put(s, "a-new-" + std::to_string(step), "x"));
      if (step % 5 == 0) CHECK(put(s, "z-new-" + std::to_string(step), "y"));
      auto more = sync_wait(b.step());
      CHECK_OR_RETURN(more);
      ++step;
      if (!*more) break;
    }
    CHECK(step > 30);
    auto i = sync_wait(ferrite::incremental_backup(s, inc, b.summary().header.lsn_to, rig.options()));
    CHECK_OR_RETURN(i);
    const auto v = restore_all(rig, {&full, &inc}, rig.restore_options());
    INFO(ferrite::name_of(v.error) << " " << ferrite::name_of(v.fault) << " backup " << v.backup);
    CHECK(v);
    CHECK(backuprig::difference(dump(*rig.target.store), dump(s)) == "");
  }
}

TEST_CASE("an incremental backup in steps stops at the position it began with", "[backup][online]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  ferrite::Store& s = *rig.source.store;
  MemorySink full, inc1, inc2;
  auto f = sync_wait(ferrite::backup(s, full, rig.options()));
  CHECK_OR_RETURN(f);
  for (int i = 0; i < 50; ++i) CHECK(put(s, "k" + std::to_string(i), "v"));
  auto o = rig.options();
  o.entries_per_step = 4;
  ferrite::IncrementalBackup b(s, inc1, f->header.lsn_to, o);
  CHECK_OR_RETURN(sync_wait(b.start()));
  int step = 0;
  for (;;) {
    CHECK(put(s, "later" + std::to_string(step++), "w"));
    auto more = sync_wait(b.step());
    CHECK_OR_RETURN(more);
    if (!*more) break;
  }
  CHECK(b.summary().entries == 50);
  auto i2 = sync_wait(ferrite::incremental_backup(s, inc2, b.summary().header.lsn_to, rig.options()));
  CHECK_OR_RETURN(i2);
  CHECK(i2->entries == static_cast<std::uint64_t>(step));
  CHECK(restore_all(rig, {&full, &inc1, &inc2}, rig.restore_options()));
  CHECK(backuprig::difference(dump(*rig.target.store), dump(s)) == "");
}

TEST_CASE("restore in place needs consent, then replaces the store's data with the backup's",
          "[backup][restore][in_place]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  workload(*rig.source.store, 1);
  const auto saved = dump(*rig.source.store);
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  workload(*rig.source.store, 2);
  CHECK(put(*rig.source.store, "only-after", "x"));

  MemorySource src(full.bytes());
  ferrite::ByteSource* chain[] = {&src};
  ferrite::RestoreOptions o = rig.restore_options();
  o.mode = ferrite::RestoreMode::in_place;
  auto v = sync_wait(ferrite::restore(chain, *rig.source.store, o));
  CHECK(v.error == Errc::invalid_argument);
  CHECK(dump(*rig.source.store).count("only-after") == 1);

  o.replace_existing = true;
  v = sync_wait(ferrite::restore(chain, *rig.source.store, o));
  CHECK_OR_RETURN(v);
  CHECK(backuprig::difference(dump(*rig.source.store), saved) == "");
  CHECK(sync_wait(ferrite::restore_state(*rig.source.store))->state == ferrite::RestoreState::complete);
}

TEST_CASE("a restore cut by a power loss resumes from its marker and the docstore waits for it",
          "[backup][restore][powerloss]") {
  Rig rig(8, 8192, 1024);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  CHECK_OR_RETURN(rig.source.open_db());
  const std::string filler(60, 'q');
  for (int i = 0; i < 120; ++i)
    CHECK(sync_wait(rig.source.db->insert("c", docrig::view(docrig::obj({{"n", i}, {"s", std::string_view(filler)}})))));
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.db, full, rig.options())));
  MemorySource src(full.bytes());
  ferrite::ByteSource* chain[] = {&src};
  // Cut well inside the staging batches.
  rig.sim.cut_power_at(rig.sim.mutating_ops() + 40);
  auto v = sync_wait(ferrite::restore(chain, *rig.target.store, rig.restore_options()));
  CHECK(v.error == Errc::power_lost);
  rig.sim.restore_power();
  rig.target.reboot();
  CHECK_OR_RETURN(sync_wait(rig.target.store->mount()));
  auto state = sync_wait(ferrite::restore_state(*rig.target.store));
  CHECK_OR_RETURN(state);
  CHECK(state->state == ferrite::RestoreState::staging);
  CHECK(state->entries_applied > 0);
  CHECK(rig.target.open_db().error() == Errc::busy);
  v = sync_wait(ferrite::restore(chain, *rig.target.store, rig.restore_options()));
  CHECK_OR_RETURN(v);
  CHECK(rig.target.open_db());
  CHECK(backuprig::difference(backuprig::without_index_entries(dump(*rig.target.store)),
                              backuprig::without_index_entries(dump(*rig.source.store))) == "");
}

TEST_CASE("a restored docstore rebuilds its indexes and answers every query as the original",
          "[backup][restore][docstore]") {
  for (bool sealed : {false, true}) {
    Rig rig(16, 8192, 1024, sealed);
    docrig::TestClock clock;
    CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
    CHECK_OR_RETURN(rig.source.open_db(clock.clock()));
    ferrite::DocStore& db = *rig.source.db;
    auto make_index = [&](std::string_view c, std::string_view name, std::string_view path, bool unique) {
      ferrite::IndexSpec spec;
      spec.name = name;
      spec.paths[0] = path;
      spec.unique = unique;
      return sync_wait(db.create_index(c, spec));
    };
    CHECK(make_index("people", "by_age", "age", false));
    CHECK(make_index("people", "by_mail", "mail", true));
    for (int i = 0; i < 60; ++i) {
      clock.now = 1000 + i;
      const std::string mail = "p" + std::to_string(i) + "@x", text(30 + i, 'n');
      CHECK(sync_wait(db.insert("people", docrig::view(docrig::obj(
                                              {{"age", 20 + i % 30}, {"mail", std::string_view(mail)}})))));
      CHECK(sync_wait(db.insert("notes", docrig::view(docrig::obj({{"text", std::string_view(text)}})))));
    }
    // A chunked document (larger than one engine value).
    const std::string long_text(2500, 'L');
    CHECK(sync_wait(db.insert("notes", docrig::view(docrig::obj({{"text", std::string_view(long_text)}})))));
    MemorySink full, inc;
    auto f = sync_wait(ferrite::backup(db, full, rig.options()));
    CHECK_OR_RETURN(f);
    CHECK(f->header.docstore);
    // Then removes, updates, a new index and a new collection.
    CHECK(sync_wait(db.remove("people", docrig::Query::path("age").lt(25))));
    const auto set_age = docrig::obj({{"age", 41}});
    const auto patch = set_age;  // a merge patch
    auto updated = sync_wait(db.update("people", docrig::Query::path("age").eq(40), docrig::view(patch)));
    INFO(ferrite::name_of(updated ? Errc::ok : updated.error()));
    CHECK(updated);
    CHECK(make_index("notes", "by_text", "text", false));
    CHECK(sync_wait(db.insert("later", docrig::view(docrig::obj({{"x", 1}})))));
    auto i = sync_wait(ferrite::incremental_backup(db, inc, f->header.lsn_to, rig.options()));
    CHECK_OR_RETURN(i);
    const auto v = restore_all(rig, {&full, &inc}, rig.restore_options());
    INFO("sealed " << sealed << ": " << ferrite::name_of(v.error) << " " << ferrite::name_of(v.fault));
    CHECK_OR_RETURN(v);
    CHECK_OR_RETURN(rig.target.open_db(clock.clock()));
    ferrite::DocStore& copy = *rig.target.db;
    // Document by document.
    for (std::string_view c : {"people", "notes", "later"}) {
      auto cur_a = db.find(c, docrig::Query{});
      std::vector<std::byte> a(5000), b(5000);
      int n = 0;
      for (;;) {
        auto more = sync_wait(cur_a.next());
        CHECK_OR_RETURN(more);
        if (!*more) break;
        ++n;
        auto got_a = sync_wait(db.get(c, cur_a.id(), a));
        auto got_b = sync_wait(copy.get(c, cur_a.id(), b));
        CHECK_OR_RETURN(got_a);
        CHECK_OR_RETURN(got_b);
        CHECK(std::equal(a.begin(), a.begin() + *got_a, b.begin(), b.begin() + *got_b));
      }
      auto count_a = sync_wait(db.count(c, docrig::Query{}));
      auto count_b = sync_wait(copy.count(c, docrig::Query{}));
      CHECK(count_a);
      CHECK(count_b);
      if (count_a && count_b) CHECK(*count_a == *count_b);
      CHECK(n > 0);
    }
    // Indexes rebuilt, used, and answering like the original's.
    for (const auto& q : {docrig::Query::path("age").eq(33), docrig::Query::path("mail").eq("p17@x")}) {
      auto plan = sync_wait(copy.explain("people", q));
      CHECK_OR_RETURN(plan);
      CHECK(plan->access == ferrite::doc::Plan::Access::index_range);
      std::vector<std::int64_t> ids_a, ids_b;
      for (auto* d : {&db, &copy}) {
        auto cur = d->find("people", q);
        for (;;) {
          auto more = sync_wait(cur.next());
          if (!more || !*more) break;
          (d == &db ? ids_a : ids_b).push_back(cur.id());
        }
      }
      CHECK(!ids_a.empty());
      CHECK(ids_a == ids_b);
    }
    // The engine keys too, except the index entries, whose bytes depend on
    // the store's key when hashed.
    CHECK(backuprig::difference(backuprig::without_index_entries(dump(*rig.target.store)),
                                backuprig::without_index_entries(dump(*rig.source.store))) == "");
    // The unique index still refuses a duplicate.
    CHECK(sync_wait(copy.insert("people", docrig::view(docrig::obj({{"mail", "p59@x"}})))).error() == Errc::exists);
  }
}

TEST_CASE("a documents-since-time backup carries what was written since, and no deletes", "[backup][docstore]") {
  Rig rig(8, 8192, 1024);
  docrig::TestClock clock;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  CHECK_OR_RETURN(rig.source.open_db(clock.clock()));
  ferrite::DocStore& db = *rig.source.db;
  clock.now = 100;
  for (int i = 0; i < 10; ++i) CHECK(sync_wait(db.insert("c", docrig::view(docrig::obj({{"i", i}})))));
  MemorySink full, since;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(db, full, rig.options())));
  clock.now = 200;
  for (int i = 10; i < 15; ++i) CHECK(sync_wait(db.insert("c", docrig::view(docrig::obj({{"i", i}})))));
  CHECK(sync_wait(db.remove("c", docrig::Query::path("i").eq(3))));
  auto s = sync_wait(ferrite::incremental_backup_since_time(db, since, 150, rig.options()));
  CHECK_OR_RETURN(s);
  CHECK(s->header.kind == ferrite::BackupKind::documents_since);
  CHECK(s->header.since == 150);
  CHECK(restore_all(rig, {&full, &since}, rig.restore_options()));
  CHECK_OR_RETURN(rig.target.open_db(clock.clock()));
  auto n = sync_wait(rig.target.db->count("c", docrig::Query{}));
  CHECK_OR_RETURN(n);
  CHECK(*n == 15);  // document 4 (i = 3) is still there: the delete is not carried
}

TEST_CASE("backups go to a host file and to a flash partition and read back the same", "[backup][streams]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  workload(*rig.source.store, 1);
  MemorySink memory;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, memory, rig.options())));

  const char* path = "test_backup.stream.tmp";
  ferrite::FileSink file;
  CHECK_OR_RETURN(file.open(path));
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, file, rig.options())));
  ferrite::FileSource from_file;
  CHECK_OR_RETURN(from_file.open(path));
  CHECK(sync_wait(ferrite::verify(from_file)));
  ferrite::ByteSource* file_chain[] = {&from_file};
  CHECK(sync_wait(ferrite::restore(file_chain, *rig.target.store, rig.restore_options())));
  CHECK(backuprig::difference(dump(*rig.target.store), dump(*rig.source.store)) == "");
  std::remove(path);
  ferrite::FileSource missing;
  CHECK(missing.open(path).error() == Errc::not_found);

  // A flash partition: an older, longer backup there is overwritten.
  for (int i = 0; i < 200; ++i) CHECK(put(*rig.source.store, "extra" + std::to_string(i), std::string(50, 'e')));
  ferrite::FlashSink long_sink(rig.backup_part);
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, long_sink, rig.options())));
  for (int i = 0; i < 200; ++i) CHECK(sync_wait(rig.source.store->erase("extra" + std::to_string(i))));
  ferrite::FlashSink sink(rig.backup_part);
  auto f = sync_wait(ferrite::backup(*rig.source.store, sink, rig.options()));
  CHECK_OR_RETURN(f);
  CHECK(sink.bytes_written() >= f->stream_bytes);
  ferrite::FlashSource from_flash(rig.backup_part);
  CHECK(sync_wait(ferrite::verify(from_flash)));
  ferrite::ByteSource* flash_chain[] = {&from_flash};
  CHECK(sync_wait(ferrite::restore(flash_chain, *rig.target.store, rig.restore_options())));
  CHECK(backuprig::difference(dump(*rig.target.store), dump(*rig.source.store)) == "");

  // A partition too small for the stream.
  ferrite::sim::SimFlash small(Rig::geometry(1, 1024));
  ferrite::FlashSink tiny{ferrite::Flash(small)};
  CHECK(sync_wait(ferrite::backup(*rig.source.store, tiny, rig.options())).error() == Errc::too_large);
}

TEST_CASE("random damage to a backup is an error, never a crash or a partial restore", "[backup][fuzz]") {
  for (bool sealed : {false, true}) {
    Rig rig(8, 8192, 1024, sealed);
    CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
    Chain c;
    make_chain(rig, c);
    CHECK_OR_RETURN(sync_wait(rig.target.store->format()));
    CHECK(put(*rig.target.store, "target-own", "untouched"));
    const auto before = dump(*rig.target.store);
    std::uint64_t state = sealed ? 99 : 7;
    auto next = [&state] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return state >> 33;
    };
    int refused = 0, cases = 0;
    for (int i = 0; i < 150; ++i) {
      MemorySink bad = c.full;
      auto& b = bad.buffer();
      switch (next() % 4) {
        case 0: b[next() % b.size()] ^= static_cast<std::byte>(1 + next() % 255); break;
        case 1: b.resize(next() % b.size()); break;
        case 2: {  // a block moved elsewhere
          const std::size_t n = 1 + next() % 64, from = next() % (b.size() - n), to = next() % (b.size() - n);
          std::vector<std::byte> tmp(b.begin() + from, b.begin() + from + n);
          std::copy(tmp.begin(), tmp.end(), b.begin() + to);
          if (from == to) b[to] ^= std::byte{1};
          break;
        }
        default:
          for (std::size_t j = next() % b.size(); j < b.size(); j += 1 + next() % 1000)
            b[j] = static_cast<std::byte>(next());
      }
      if (b == c.full.buffer()) continue;
      ++cases;
      auto v = restore_all(rig, {&bad, &c.inc1, &c.inc2}, rig.restore_options());
      if (!v) ++refused;
      CHECK_FALSE(v);
      CHECK(backuprig::difference(dump(*rig.target.store), before) == "");
    }
    CHECK(refused == cases);
  }
}

TEST_CASE("the backup-reader fuzz driver finds nothing in damaged real backups", "[backup][fuzz]") {
  Rig rig(8, 8192, 400);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  for (int i = 0; i < 60; ++i) CHECK(put(*rig.source.store, "key" + std::to_string(i), std::string(30 + i, 'v')));
  CHECK(sync_wait(rig.source.store->put_as("typed", std::uint16_t{7})));
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  const auto& original = full.buffer();
  auto run = [](const std::vector<std::byte>& b) {
    return backup_fuzz::check_backup(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
  };
  const char* why = run(original);
  INFO((why ? why : "ok"));
  CHECK(why == nullptr);
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int i = 0; i < 200; ++i) {
    std::vector<std::byte> b = original;
    const auto n = 1 + next() % 4;
    for (std::uint64_t j = 0; j < n; ++j) b[next() % b.size()] = static_cast<std::byte>(next());
    if (next() % 3 == 0) b.resize(next() % b.size());
    why = run(b);
    INFO("case " << i << ": " << (why ? why : "ok"));
    CHECK(why == nullptr);
  }
}

TEST_CASE("restore in place refuses a store that holds another chain's unfinished restore",
          "[backup][restore][in_place][errors]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  workload(*rig.source.store, 1);
  MemorySink one, two;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, one, rig.options())));
  workload(*rig.source.store, 2);
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, two, rig.options())));
  CHECK_OR_RETURN(sync_wait(rig.target.store->format()));
  CHECK(put(*rig.target.store, "mine", "x"));
  ferrite::RestoreOptions o = rig.restore_options();
  o.mode = ferrite::RestoreMode::in_place;
  o.replace_existing = true;
  // The first restore is cut after a few batches.
  rig.sim.cut_power_at(rig.sim.mutating_ops() + 30);
  CHECK(restore_all(rig, {&one}, o).error == Errc::power_lost);
  rig.sim.restore_power();
  rig.target.reboot();
  CHECK_OR_RETURN(sync_wait(rig.target.store->mount()));
  CHECK(sync_wait(ferrite::restore_state(*rig.target.store))->state == ferrite::RestoreState::replacing);
  const auto during = dump(*rig.target.store);
  auto v = restore_all(rig, {&two}, o);
  CHECK(v.error == Errc::conflict);
  CHECK(v.fault == BackupFault::other_restore);
  CHECK(backuprig::difference(dump(*rig.target.store), during) == "");
  // The same chain resumes; then the other one may replace it.
  CHECK(restore_all(rig, {&one}, o));
  CHECK(restore_all(rig, {&two}, o));
}

TEST_CASE("restore refuses entries larger than the target's values before touching it",
          "[backup][restore][errors]") {
  Rig rig(8, 8192, 1024);
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  CHECK(put(*rig.source.store, "large", std::string(900, 'L')));
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  // A target whose values are smaller.
  ferrite::sim::SimFlash sim(Rig::geometry(8, 8192));
  backuprig::Node small(ferrite::Flash(sim), 256, nullptr);
  CHECK_OR_RETURN(sync_wait(small.store->format()));
  CHECK(put(*small.store, "mine", "kept"));
  MemorySource src(full.bytes());
  ferrite::ByteSource* chain[] = {&src};
  auto v = sync_wait(ferrite::restore(chain, *small.store, rig.restore_options()));
  CHECK(v.error == Errc::too_large);
  CHECK(v.fault == BackupFault::too_large);
  CHECK(dump(*small.store).count("mine") == 1);
}

TEST_CASE("restore in place refuses a store whose keys cannot be walked, before writing anything",
          "[backup][restore][in_place][errors]") {
  Rig rig;
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  workload(*rig.source.store, 1);
  MemorySink full;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, full, rig.options())));
  // A sealed store that hides its key names.
  ferrite::SealOptions hidden;
  hidden.hide_keys = true;
  ferrite::Sealer sealer(hidden);
  CHECK_OR_RETURN(sealer.use_key(test_key(3)));
  ferrite::sim::SimFlash sim(Rig::geometry(8, 8192));
  backuprig::Node node(ferrite::Flash(sim), 1024, &sealer);
  CHECK_OR_RETURN(sync_wait(node.store->format()));
  CHECK(put(*node.store, "mine", "kept"));
  MemorySource src(full.bytes());
  ferrite::ByteSource* chain[] = {&src};
  ferrite::RestoreOptions o = rig.restore_options();
  o.mode = ferrite::RestoreMode::in_place;
  o.replace_existing = true;
  auto v = sync_wait(ferrite::restore(chain, *node.store, o));
  CHECK(v.error == Errc::unsupported);
  CHECK(v.fault == BackupFault::target);
  CHECK(sync_wait(ferrite::restore_state(*node.store))->state == ferrite::RestoreState::none);
  std::string value;
  CHECK(sync_wait(node.store->get_string("mine", value)));
  CHECK(value == "kept");
  // Nor can it be backed up: its names are not on flash.
  MemorySink none;
  ferrite::BackupOptions bo;
  bo.sealer = &sealer;
  CHECK(sync_wait(ferrite::backup(*node.store, none, bo)).error() == Errc::unsupported);
}

TEST_CASE("backup calls out of order or with bad arguments answer a clear error and write nothing",
          "[backup][errors]") {
  Rig rig;
  MemorySink sink;
  // Not mounted yet.
  CHECK(sync_wait(ferrite::backup(*rig.source.store, sink, rig.options())).error() == Errc::not_mounted);
  CHECK(sync_wait(ferrite::restore_state(*rig.source.store)).error() == Errc::not_mounted);
  CHECK(sink.bytes().empty());
  CHECK_OR_RETURN(sync_wait(rig.source.store->format()));
  // A step before start().
  ferrite::FullBackup full(*rig.source.store, sink, rig.options());
  CHECK(sync_wait(full.step()).error() == Errc::invalid_argument);
  ferrite::IncrementalBackup inc(*rig.source.store, sink, 0, rig.options());
  CHECK(sync_wait(inc.step()).error() == Errc::invalid_argument);
  // An LSN beyond the store's.
  CHECK(sync_wait(ferrite::incremental_backup(*rig.source.store, sink, rig.source.store->lsn() + 1, rig.options()))
            .error() == Errc::invalid_argument);
  CHECK(sink.bytes().empty());
  // An empty chain.
  auto v = sync_wait(ferrite::restore(std::span<ferrite::ByteSource* const>{}, *rig.target.store, rig.restore_options()));
  CHECK(v.error == Errc::invalid_argument);
  CHECK(sync_wait(ferrite::verify(std::span<ferrite::ByteSource* const>{})).error == Errc::invalid_argument);
  // In place into a store that is not mounted.
  MemorySink good;
  CHECK_OR_RETURN(sync_wait(ferrite::backup(*rig.source.store, good, rig.options())));
  MemorySource src(good.bytes());
  ferrite::ByteSource* chain[] = {&src};
  ferrite::RestoreOptions o;
  o.mode = ferrite::RestoreMode::in_place;
  o.replace_existing = true;
  CHECK(sync_wait(ferrite::restore(chain, *rig.target.store, o)).error == Errc::not_mounted);
  // A reader used before open().
  ferrite::BackupReader reader(src);
  CHECK(sync_wait(reader.next()).error() == Errc::invalid_argument);
}
