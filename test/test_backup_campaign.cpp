// The powerloss-restore campaign: a power cut at every flash operation of a
// restore (format of the target, the marker, each staging batch, the flip,
// the clearing of an in-place restore), and of a full backup written to a
// flash partition while the store is being written. After each cut and a
// remount, the target holds its old state, or an unfinished restore that
// the docstore refuses to use and that resuming finishes with exactly the
// backup's state; the source store keeps every acknowledged write.
#include <chrono>
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
#include "campaign_scale.hpp"
#include "backup_rig.hpp"

using ferrite::Errc;
using ferrite::MemorySink;
using ferrite::MemorySource;
using ferrite::sync_wait;
using backuprig::Dump;
using backuprig::Rig;

namespace {

struct Random {
  std::uint64_t state;
  explicit Random(std::uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint32_t below(std::uint32_t n) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<std::uint32_t>(state % n);
  }
};

std::string value_for(Random& r, int i) {
  return std::string(8 + r.below(180), static_cast<char>('a' + (i + r.below(26)) % 26));
}

/// Writes a random history: puts, overwrites, typed puts, erases, batches.
bool write_history(ferrite::Store& s, Random& r, int operations) {
  for (int i = 0; i < operations; ++i) {
    const std::string key = "k" + std::to_string(r.below(40));
    const auto op = r.below(10);
    ferrite::Status st;
    if (op < 6) st = sync_wait(s.put(key, value_for(r, i)));
    else if (op == 6) st = sync_wait(s.put_as(key, static_cast<std::uint32_t>(r.below(1000))));
    else if (op == 7) {
      st = sync_wait(s.erase(key));
      if (!st && st.error() == Errc::not_found) st = {};
    } else {
      ferrite::Transaction t(s);
      st = sync_wait(t.put(key, value_for(r, i)));
      if (st) st = sync_wait(t.put("k" + std::to_string(r.below(40)), value_for(r, i + 1)));
      if (st) st = sync_wait(t.commit());
    }
    if (!st) return false;
  }
  return true;
}

struct Tally {
  std::size_t cases = 0, failures = 0;
  std::size_t staged = 0, in_place = 0, backups = 0, second_cuts = 0, whole_despite_cut = 0;
  void fail(const std::string& what) {
    ++failures;
    if (failures <= 12) {
      std::fprintf(stderr, "powerloss-restore failure: %s\n", what.c_str());
      UNSCOPED_INFO(what);
    }
  }
};

std::vector<ferrite::ByteSource*> chain_of(std::vector<MemorySource>& sources) {
  std::vector<ferrite::ByteSource*> chain;
  for (auto& s : sources) chain.push_back(&s);
  return chain;
}

/// One workload: a source history backed up as a full and an incremental,
/// and a target with data of its own; then a cut at every flash operation
/// of restoring the chain into the target.
void restore_workload(std::uint64_t seed, bool sealed, bool in_place, Tally& t) {
  Rig rig(6, 4096, 512, sealed, static_cast<std::uint8_t>(seed));
  Random r(seed);
  const std::string tag = "seed " + std::to_string(seed) + (sealed ? " sealed" : " plain") +
                          (in_place ? " in place" : " staging");
  if (!sync_wait(rig.source.store->format()) || !write_history(*rig.source.store, r, 60)) {
    t.fail(tag + ": setup");
    return;
  }
  MemorySink full, inc;
  auto f = sync_wait(ferrite::backup(*rig.source.store, full, rig.options()));
  if (!f || !write_history(*rig.source.store, r, 40)) {
    t.fail(tag + ": full backup");
    return;
  }
  auto i = sync_wait(ferrite::incremental_backup(*rig.source.store, inc, f->header.lsn_to, rig.options()));
  if (!i) {
    t.fail(tag + ": incremental backup");
    return;
  }
  const Dump expected = backuprig::dump(*rig.source.store);
  // The target: a store of its own. In place, the restore goes into it.
  ferrite::Store* target = in_place ? &*rig.target.store : &*rig.target.store;
  if (!sync_wait(target->format()) || !write_history(*target, r, 30)) {
    t.fail(tag + ": target setup");
    return;
  }
  const Dump old = backuprig::dump(*target);
  const std::vector<std::byte> snapshot(rig.sim.image().begin(), rig.sim.image().end());
  std::vector<MemorySource> sources{MemorySource(full.bytes()), MemorySource(inc.bytes())};
  const auto chain = chain_of(sources);
  auto options = rig.restore_options();
  if (in_place) {
    options.mode = ferrite::RestoreMode::in_place;
    options.replace_existing = true;
  }
  auto remount = [&]() -> ferrite::Status {
    rig.sim.restore_power();
    rig.target.reboot();
    return sync_wait(rig.target.store->mount());
  };

  for (std::uint64_t k = 0;; ++k) {
    rig.sim.load_image(snapshot);
    if (!remount()) {
      t.fail(tag + ": remount of the snapshot");
      return;
    }
    const std::uint64_t base = rig.sim.mutating_ops();
    rig.sim.cut_power_at(base + k);
    const auto v = sync_wait(ferrite::restore(chain, *rig.target.store, options));
    const bool cut = rig.sim.power_is_lost();
    if (!cut) {
      // Past the last operation: the restore finished. Done with this workload.
      if (!v || backuprig::difference(backuprig::dump(*rig.target.store), expected) != "")
        t.fail(tag + ": uncut restore: " + ferrite::name_of(v.error));
      return;
    }
    ++t.cases;
    (in_place ? t.in_place : t.staged) += 1;
    const std::string where = tag + " cut " + std::to_string(k) + ": ";
    auto mounted = remount();
    std::optional<ferrite::RestoreProgress> state;
    if (mounted) {
      auto s = sync_wait(ferrite::restore_state(*rig.target.store));
      if (!s) {
        t.fail(where + "restore_state " + ferrite::name_of(s.error()));
        continue;
      }
      state = *s;
    }
    if (in_place && !mounted) {
      t.fail(where + "the store in place no longer mounts: " + ferrite::name_of(mounted.error()));
      continue;
    }
    if (state && state->state == ferrite::RestoreState::complete) {
      const auto diff = backuprig::difference(backuprig::dump(*rig.target.store), expected);
      if (!diff.empty()) t.fail(where + "complete but " + diff);
      continue;
    }
    if (state && state->state == ferrite::RestoreState::none && in_place) {
      // Before the marker: the old data, untouched.
      const auto diff = backuprig::difference(backuprig::dump(*rig.target.store), old);
      if (!diff.empty()) t.fail(where + "no marker but the data changed: " + diff);
    }
    if (state && state->state != ferrite::RestoreState::none) {
      // Unfinished: the docstore must refuse the store.
      ferrite::DocStore db(*rig.target.store);
      const auto opened = sync_wait(db.open());
      if (opened || opened.error() != Errc::busy)
        t.fail(where + "docstore open during an unfinished restore: " +
               ferrite::name_of(opened ? Errc::ok : opened.error()));
    }
    // Resume, sometimes through a second cut.
    Random again(seed * 1000 + k);
    if (again.below(4) == 0) {
      ++t.second_cuts;
      rig.sim.cut_power_at(rig.sim.mutating_ops() + again.below(40));
      (void)sync_wait(ferrite::restore(chain, *rig.target.store, options));
      if (!remount() && in_place) {
        t.fail(where + "no mount after the second cut");
        continue;
      }
    }
    if (!in_place && !rig.target.store->mounted()) rig.target.reboot();
    const auto resumed = sync_wait(ferrite::restore(chain, *rig.target.store, options));
    if (!resumed) {
      t.fail(where + "resume: " + ferrite::name_of(resumed.error) + " " + ferrite::name_of(resumed.fault));
      continue;
    }
    if (!remount()) {
      t.fail(where + "no mount after the resumed restore");
      continue;
    }
    const auto diff = backuprig::difference(backuprig::dump(*rig.target.store), expected);
    if (!diff.empty()) t.fail(where + "resumed restore differs: " + diff);
    auto s = sync_wait(ferrite::restore_state(*rig.target.store));
    if (!s || s->state != ferrite::RestoreState::complete) t.fail(where + "resumed restore not complete");
    ferrite::DocStore db(*rig.target.store);
    if (!sync_wait(db.open())) t.fail(where + "docstore refuses the restored store");
  }
}

/// A full backup to a flash partition, written between steps while the
/// store is written too; a cut at every operation of either.
void backup_workload(std::uint64_t seed, bool sealed, Tally& t) {
  Rig rig(6, 4096, 512, sealed, static_cast<std::uint8_t>(seed));
  Random setup(seed);
  const std::string tag = "backup seed " + std::to_string(seed) + (sealed ? " sealed" : " plain");
  if (!sync_wait(rig.source.store->format()) || !write_history(*rig.source.store, setup, 50)) {
    t.fail(tag + ": setup");
    return;
  }
  const Dump initial = backuprig::dump(*rig.source.store);
  const std::vector<std::byte> snapshot(rig.sim.image().begin(), rig.sim.image().end());
  auto remount = [&]() -> ferrite::Status {
    rig.sim.restore_power();
    rig.source.reboot();
    return sync_wait(rig.source.store->mount());
  };
  for (std::uint64_t k = 0;; ++k) {
    rig.sim.load_image(snapshot);
    if (!remount()) {
      t.fail(tag + ": remount of the snapshot");
      return;
    }
    ferrite::Store& s = *rig.source.store;
    Dump acknowledged = initial;
    std::optional<std::pair<std::string, std::optional<std::string>>> in_flight;
    Random r(seed * 7 + 1);
    rig.sim.cut_power_at(rig.sim.mutating_ops() + k);
    ferrite::FlashSink sink(rig.backup_part);
    auto o = rig.options();
    o.entries_per_step = 4;
    ferrite::FullBackup b(s, sink, o);
    bool finished = false;
    ferrite::Status st = sync_wait(b.start());
    for (int step = 0; st && !finished; ++step) {
      const std::string key = "k" + std::to_string(r.below(40));
      if (r.below(4) == 0) {
        in_flight.emplace(key, std::nullopt);
        st = sync_wait(s.erase(key));
        if (!st && st.error() == Errc::not_found) st = {};
        if (st) acknowledged.erase(key);
      } else {
        const std::string v = value_for(r, step);
        in_flight.emplace(key, v);
        st = sync_wait(s.put(key, v));
        if (st) acknowledged[key] = backuprig::Value{ferrite::ValueType::untyped, v};
      }
      if (!st) break;
      in_flight.reset();
      auto more = sync_wait(b.step());
      if (!more) st = ferrite::fail(more.error());
      else finished = !*more;
    }
    const bool cut = rig.sim.power_is_lost();
    if (!cut) {
      if (!st) t.fail(tag + ": uncut run failed: " + ferrite::name_of(st.error()));
      return;  // past the last operation
    }
    ++t.cases;
    ++t.backups;
    const std::string where = tag + " cut " + std::to_string(k) + ": ";
    if (!remount()) {
      t.fail(where + "the source no longer mounts");
      continue;
    }
    // Every acknowledged write is there; the one in flight is old or new.
    Dump now = backuprig::dump(*rig.source.store);
    if (in_flight) {
      const auto& [key, value] = *in_flight;
      auto it = now.find(key);
      const bool is_new = value ? (it != now.end() && it->second.bytes == *value) : it == now.end();
      if (is_new) {
        if (value) acknowledged[key] = backuprig::Value{ferrite::ValueType::untyped, *value};
        else acknowledged.erase(key);
      }
    }
    const auto diff = backuprig::difference(now, acknowledged);
    if (!diff.empty()) t.fail(where + "source lost an acknowledged write: " + diff);
    // The stream on the partition: whole and verified, or refused.
    ferrite::FlashSource from(rig.backup_part);
    const auto v = sync_wait(ferrite::verify(from, rig.reading_sealer.get()));
    if (finished && !v) t.fail(where + "a finished backup does not verify");
    // A cut in the program of the stream's last unit may still have left
    // every bit in place: the stream then verifies (its trailer and digest
    // or final tag say it is whole).
    if (!finished && v) ++t.whole_despite_cut;
  }
}

}  // namespace

TEST_CASE("powerloss-restore: a cut anywhere in a restore or a backup loses nothing and resumes",
          "[backup][campaign]") {
  const double scale = campaign::campaign_scale();
  const auto started = std::chrono::steady_clock::now();
  Tally t;
  const int restore_workloads = std::max(1, static_cast<int>(14 * scale));
  const int backup_workloads = std::max(1, static_cast<int>(6 * scale));
  for (int w = 0; w < restore_workloads; ++w) {
    restore_workload(100 + w, w % 3 == 1, false, t);
    restore_workload(200 + w, w % 3 == 2, true, t);
  }
  for (int w = 0; w < backup_workloads; ++w) backup_workload(300 + w, w % 2 == 1, t);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("campaign powerloss-restore: %zu cases, %zu failures\n", t.cases, t.failures);
  std::printf("  (%zu cuts in staged restores, %zu in in-place restores, %zu in backups to flash while writing"
              " (%zu of them in its last program yet whole); %zu resumes cut again; %.1f s)\n",
              t.staged, t.in_place, t.backups, t.whole_despite_cut, t.second_cuts, seconds);
  std::fflush(stdout);
  CHECK(t.failures == 0);
  CHECK(t.cases >= static_cast<std::size_t>(scale >= 1.0 ? 10000 : 1000));
}
