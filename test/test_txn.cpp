#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <catch2/catch.hpp>
import ferrite.txn;
import ferrite.sim;
import ferrite.deferred;
#include "log_rig.hpp"
#include "crc_collisions.hpp"

using ferrite::Errc;
using ferrite::Transaction;
using rig::Rig;

namespace {

std::string tget(Transaction& t, std::string_view k) {
  std::array<std::byte, 256> buf{};
  auto n = ferrite::sync_wait(t.get(k, buf));
  if (!n) return std::string("!") + ferrite::name_of(n.error());
  return std::string(reinterpret_cast<const char*>(buf.data()), *n);
}
Errc tput(Transaction& t, std::string_view k, std::string_view v) { return ferrite::sync_wait(t.put(k, v)).error(); }
Errc commit(Transaction& t) { return ferrite::sync_wait(t.commit()).error(); }

}  // namespace

TEST_CASE("a committed transaction makes all its writes visible at once, durably", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  CHECK(r.put("gone", "x"));
  Transaction t(*r.store);
  CHECK(tput(t, "a", "2") == Errc::ok);
  CHECK(tput(t, "b", "3") == Errc::ok);
  CHECK(ferrite::sync_wait(t.erase("gone")).error() == Errc::ok);
  // Nothing is visible before commit.
  CHECK(r.get("a") == "1");
  CHECK(r.get("b") == "!not_found");
  CHECK(r.get("gone") == "x");
  CHECK(commit(t) == Errc::ok);
  CHECK(r.get("a") == "2");
  CHECK(r.get("b") == "3");
  CHECK(r.get("gone") == "!not_found");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("a") == "2");
  CHECK(r.get("b") == "3");
  CHECK(r.get("gone") == "!not_found");
}

TEST_CASE("a transaction reads its own writes and otherwise the committed state", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "committed"));
  Transaction t(*r.store);
  CHECK(tget(t, "a") == "committed");
  CHECK(tput(t, "a", "mine") == Errc::ok);
  CHECK(tget(t, "a") == "mine");
  CHECK(ferrite::sync_wait(t.erase("a")).error() == Errc::ok);
  CHECK(tget(t, "a") == "!not_found");
  CHECK(tput(t, "a", "again") == Errc::ok);
  CHECK(tget(t, "a") == "again");
  CHECK(t.pending_writes() == 1);
  CHECK(tget(t, "nope") == "!not_found");
  CHECK(commit(t) == Errc::ok);
  CHECK(r.get("a") == "again");
}

TEST_CASE("rollback and a dropped transaction write nothing to flash", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  const auto before = r.sim.counters().bytes_programmed;
  {
    Transaction t(*r.store);
    CHECK(tput(t, "a", "2") == Errc::ok);
    CHECK(tput(t, "b", "2") == Errc::ok);
  }
  Transaction t2(*r.store);
  CHECK(tput(t2, "a", "3") == Errc::ok);
  t2.rollback();
  CHECK(r.sim.counters().bytes_programmed == before);
  CHECK(r.get("a") == "1");
  CHECK(r.get("b") == "!not_found");
}

TEST_CASE("using a finished transaction is an error, not a second commit", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  Transaction t(*r.store);
  CHECK(tput(t, "a", "1") == Errc::ok);
  CHECK(commit(t) == Errc::ok);
  CHECK(commit(t) == Errc::invalid_argument);
  CHECK(tput(t, "a", "2") == Errc::invalid_argument);
  CHECK(tget(t, "a") == "!invalid_argument");
  Transaction u(*r.store);
  u.rollback();
  CHECK(commit(u) == Errc::invalid_argument);
  Transaction v(*r.store);
  CHECK(tput(v, "", "x") == Errc::invalid_argument);
  CHECK(tput(v, std::string(65, 'k'), "x") == Errc::too_large);
  CHECK(r.get("a") == "1");
}

TEST_CASE("a read-write conflict is reported and the loser writes nothing", "[txn][conflict]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("balance", "100"));
  Transaction t1(*r.store);
  Transaction t2(*r.store);
  CHECK(tget(t1, "balance") == "100");
  CHECK(tget(t2, "balance") == "100");
  CHECK(tput(t1, "balance", "90") == Errc::ok);
  CHECK(tput(t2, "balance", "80") == Errc::ok);  // buffered: t1 has not committed yet
  CHECK(commit(t1) == Errc::ok);
  CHECK(commit(t2) == Errc::conflict);           // what t2 read is stale now
  CHECK(r.get("balance") == "90");
  Transaction t3(*r.store);
  CHECK(tget(t3, "balance") == "90");
  CHECK(r.put("balance", "95"));
  CHECK(tget(t3, "balance") == "!conflict");     // a re-read would see another state
  CHECK(commit(t3) == Errc::conflict);
  CHECK(r.get("balance") == "95");
}

TEST_CASE("a blind write-write conflict is not a silent lost update", "[txn][conflict]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  Transaction t1(*r.store);
  CHECK(tput(t1, "k", "from t1") == Errc::ok);
  CHECK(r.put("k", "from outside"));
  CHECK(commit(t1) == Errc::conflict);
  CHECK(r.get("k") == "from outside");
}

TEST_CASE("a transaction never sees two states: a changed earlier read fails the next read", "[txn][conflict]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  CHECK(r.put("b", "1"));
  Transaction t(*r.store);
  CHECK(tget(t, "a") == "1");
  Transaction other(*r.store);
  CHECK(tput(other, "a", "2") == Errc::ok);
  CHECK(tput(other, "b", "2") == Errc::ok);
  CHECK(commit(other) == Errc::ok);
  CHECK(tget(t, "b") == "!conflict");
}

TEST_CASE("a transaction too large for a sector or for the free space fails before anything is visible",
          "[txn][full]") {
  Rig r(rig::geometry(3, 2048, 4), 256, true, false, 1, 64);
  REQUIRE(r.format());
  CHECK(r.put("keep", "me"));
  Transaction big(*r.store);
  for (int i = 0; i < 40; ++i) CHECK(tput(big, "k" + std::to_string(i), std::string(60, 'x')) == Errc::ok);
  CHECK(commit(big) == Errc::too_large);
  CHECK(r.get("k0") == "!not_found");
  // Fill the store, then a fitting batch that needs more than the free space.
  int stored = 0;
  while (r.put("fill" + std::to_string(stored), std::string(60, 'f'))) ++stored;
  Transaction more(*r.store);
  for (int i = 0; i < 8; ++i) CHECK(tput(more, "m" + std::to_string(i), std::string(60, 'm')) == Errc::ok);
  CHECK(commit(more) == Errc::no_space);
  CHECK(r.get("m0") == "!not_found");
  CHECK(r.get("keep") == "me");
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("m0") == "!not_found");
  CHECK(r.get("fill0") == std::string(60, 'f'));
}

TEST_CASE("a fixed workspace bounds a transaction's RAM and says when it is full", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  std::array<std::byte, 64> writes{};
  std::array<std::byte, 64> reads{};
  Transaction t(*r.store, writes, reads);
  CHECK(tput(t, "a", "0123456789") == Errc::ok);
  CHECK(tput(t, "b", std::string(60, 'v')) == Errc::no_memory);
  // A replacement that does not fit keeps the write it would have replaced.
  CHECK(tput(t, "a", std::string(60, 'w')) == Errc::no_memory);
  CHECK(t.pending_writes() == 1);
  CHECK(commit(t) == Errc::ok);
  CHECK(r.get("a") == "0123456789");
}

TEST_CASE("transactions on an index-less store are refused", "[txn]") {
  Rig r(rig::geometry(3, 4096, 4), 0);
  REQUIRE(r.format());
  Transaction t(*r.store);
  CHECK(tput(t, "a", "1") == Errc::unsupported);
}

// ---------------------------------------------------------------------------
// Power cuts during commits

namespace {

struct TxnOp {
  std::vector<std::pair<std::string, std::optional<std::string>>> writes;  // nullopt = erase
};

std::vector<TxnOp> make_txns(std::uint64_t seed, int count, int keys) {
  rig::Random rnd(seed);
  std::vector<TxnOp> out;
  for (int t = 0; t < count; ++t) {
    TxnOp op;
    const int n = 1 + static_cast<int>(rnd.below(50));
    std::set<int> used;
    for (int i = 0; i < n; ++i) {
      const int k = static_cast<int>(rnd.below(static_cast<std::uint32_t>(keys)));
      if (!used.insert(k).second) continue;
      if (rnd.below(8) == 0) op.writes.emplace_back("k" + std::to_string(k), std::nullopt);
      else op.writes.emplace_back("k" + std::to_string(k), "t" + std::to_string(t) + "-" + std::to_string(rnd.below(1000)));
    }
    out.push_back(std::move(op));
  }
  return out;
}

/// The writes of `op` as one Transaction, or (`blind`) as one Batch.
Errc commit_op(Rig& r, const TxnOp& op, bool blind) {
  Errc e = Errc::ok;
  if (blind) {
    ferrite::Batch b(*r.store);
    for (auto& [k, v] : op.writes) {
      e = (v ? b.put(k, *v) : b.erase(k)).error();
      if (e != Errc::ok) return e;
    }
    return ferrite::sync_wait(b.commit()).error();
  }
  Transaction t(*r.store);
  for (auto& [k, v] : op.writes) {
    e = v ? ferrite::sync_wait(t.put(k, *v)).error() : ferrite::sync_wait(t.erase(k)).error();
    if (e != Errc::ok) return e;
  }
  return ferrite::sync_wait(t.commit()).error();
}

/// Runs the transactions (`blind`: as batches); returns the index of the
/// one in flight at the cut (or -1).
int run_txns(Rig& r, const std::vector<TxnOp>& txns, std::map<std::string, std::string>& model, std::string& failure,
             bool blind = false) {
  for (std::size_t i = 0; i < txns.size(); ++i) {
    const Errc e = commit_op(r, txns[i], blind);
    if (e == Errc::power_lost) return static_cast<int>(i);
    if (e == Errc::ok) {
      for (auto& [k, v] : txns[i].writes) {
        if (v) model[k] = *v; else model.erase(k);
      }
    } else if (e != Errc::no_space && failure.empty()) {
      failure = std::string("txn failed: ") + ferrite::name_of(e);
    }
  }
  return -1;
}

std::string check_atomic(Rig& r, std::map<std::string, std::string>& model, const TxnOp* in_flight, int keys) {
  r.reboot();
  auto st = r.mount();
  if (!st) return std::string("mount: ") + ferrite::name_of(st.error());
  int seen_new = 0, seen_old = 0;
  std::set<std::string> in_txn;
  if (in_flight)
    for (auto& [k, v] : in_flight->writes) in_txn.insert(k);
  for (int i = 0; i < keys; ++i) {
    const std::string k = "k" + std::to_string(i);
    const std::string got = r.get(k);
    const std::string old = model.count(k) ? model[k] : "!not_found";
    if (in_txn.count(k)) {
      std::string fresh = "!not_found";
      for (auto& [wk, wv] : in_flight->writes)
        if (wk == k && wv) fresh = *wv;
      if (fresh == old) continue;  // the write changes nothing observable
      if (got == fresh) ++seen_new;
      else if (got == old) ++seen_old;
      else return k + ": got '" + got + "', want '" + old + "' or '" + fresh + "'";
      continue;
    }
    if (got != old) return k + ": got '" + got + "', want '" + old + "'";
  }
  if (seen_new && seen_old)
    return "torn transaction: " + std::to_string(seen_new) + " new, " + std::to_string(seen_old) + " old";
  if (in_flight && seen_new)
    for (auto& [k, v] : in_flight->writes) {
      if (v) model[k] = *v; else model.erase(k);
    }
  return "";
}

}  // namespace

TEST_CASE("a commit cut at any flash write leaves all or none of its writes", "[txn][powerloss]") {
  struct Geo {
    const char* name;
    std::uint32_t sectors, size, unit;
  };
  const Geo geos[] = {{"3x4K/u4", 3, 4096, 4}, {"4x4K/u8", 4, 4096, 8}, {"2x8K/u4", 2, 8192, 4}};
  const char* scale_env = std::getenv("FERRITE_CAMPAIGN_SCALE");
  double scale = scale_env ? std::atof(scale_env) : 1.0;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  if (!scale_env) scale = 0.2;
#endif
#endif
  constexpr int keys = 60;
  std::size_t cases = 0, failures = 0;
  for (const Geo& g : geos) {
    const int workloads = std::max(1, static_cast<int>(14 * scale));
    for (int w = 0; w < workloads; ++w) {
      const std::uint64_t seed = 0x7A11u + w * 31 + g.unit;
      const auto txns = make_txns(seed, 24, keys);
      std::uint64_t total = 0;
      {
        Rig r(rig::geometry(g.sectors, g.size, g.unit), 256, true, false, 1, 16);
        REQUIRE(r.format());
        const auto base = r.sim.mutating_ops();
        std::map<std::string, std::string> model;
        std::string failure;
        CHECK(run_txns(r, txns, model, failure) == -1);
        CHECK(failure.empty());
        total = r.sim.mutating_ops() - base;
      }
      for (std::uint64_t k = 0; k < total; ++k) {
        Rig r(rig::geometry(g.sectors, g.size, g.unit), 256, true, false, seed * 131 + k, 16);
        REQUIRE(r.format());
        r.sim.cut_power_at(r.sim.mutating_ops() + k);
        std::map<std::string, std::string> model;
        std::string failure;
        const int cut = run_txns(r, txns, model, failure);
        if (cut < 0) continue;
        ++cases;
        if (failure.empty()) failure = check_atomic(r, model, &txns[cut], keys);
        if (failure.empty()) {
          // Repair: a few more transactions on the recovered store, cut again.
          rig::Random rnd(seed ^ k);
          r.sim.cut_power_at(r.sim.mutating_ops() + rnd.below(120));
          std::vector<TxnOp> more(txns.begin() + cut, txns.begin() + std::min<std::size_t>(txns.size(), cut + 4));
          const int cut2 = run_txns(r, more, model, failure);
          if (failure.empty()) failure = check_atomic(r, model, cut2 >= 0 ? &more[cut2] : nullptr, keys);
          if (!failure.empty()) failure = "[second] " + failure;
        }
        if (!failure.empty()) {
          ++failures;
          if (failures <= 8) {
            std::fprintf(stderr, "powerloss-txn failure: %s seed %llu cut %llu: %s\n", g.name,
                         static_cast<unsigned long long>(seed), static_cast<unsigned long long>(k), failure.c_str());
            CHECK(failure.empty());
          }
        }
      }
    }
  }
  std::printf("campaign powerloss-txn: %zu cases, %zu failures\n", cases, failures);
  std::fflush(stdout);
  CHECK(failures == 0);
  CHECK(cases >= static_cast<std::size_t>(scale >= 1.0 ? 20000 : 1000));
}

// ---------------------------------------------------------------------------
// Concurrency: interleaved transfers on an interrupt-style port

namespace {

constexpr int accounts = 8;
constexpr int initial = 1000;

std::string account(int i) { return "acct" + std::to_string(i); }

ferrite::Task<ferrite::Result<int>> read_balance(Transaction& t, int i) {
  std::array<std::byte, 16> buf{};
  auto n = co_await t.get(account(i), buf);
  if (!n) co_return ferrite::fail(n.error());
  co_return std::atoi(std::string(reinterpret_cast<const char*>(buf.data()), *n).c_str());
}

struct Tally {
  int commits = 0;
  int conflicts = 0;
  int checks = 0;
  int violations = 0;
  int other_errors = 0;
  bool power_lost = false;
};

/// Sums every account in one transaction (retrying on conflict).
ferrite::Task<ferrite::Result<int>> total(ferrite::Store& store) {
  for (;;) {
    Transaction t(store);
    int sum = 0;
    ferrite::Errc e = ferrite::Errc::ok;
    for (int i = 0; i < accounts && e == ferrite::Errc::ok; ++i) {
      auto b = co_await read_balance(t, i);
      if (b) sum += *b; else e = b.error();
    }
    if (e == ferrite::Errc::conflict) continue;
    if (e != ferrite::Errc::ok) co_return ferrite::fail(e);
    co_return sum;
  }
}

ferrite::Task<void> transfer_worker(ferrite::Store& store, ferrite::RunLoop& loop, std::uint64_t seed, int rounds,
                                    Tally& tally) {
  rig::Random rnd(seed);
  for (int round = 0; round < rounds && !tally.power_lost; ++round) {
    const int from = static_cast<int>(rnd.below(accounts));
    const int to = (from + 1 + static_cast<int>(rnd.below(accounts - 1))) % accounts;
    const int amount = 1 + static_cast<int>(rnd.below(50));
    Transaction t(store);
    auto a = co_await read_balance(t, from);
    co_await loop.yield();  // let others interleave between read and write
    auto b = a ? co_await read_balance(t, to) : a;
    ferrite::Errc e = !a ? a.error() : !b ? b.error() : ferrite::Errc::ok;
    if (e == ferrite::Errc::ok) e = (co_await t.put(account(from), std::to_string(*a - amount))).error();
    if (e == ferrite::Errc::ok) e = (co_await t.put(account(to), std::to_string(*b + amount))).error();
    if (e == ferrite::Errc::ok) e = (co_await t.commit()).error();
    if (e == ferrite::Errc::conflict) {
      ++tally.conflicts;
      continue;
    }
    if (e == ferrite::Errc::power_lost) {
      tally.power_lost = true;
      co_return;
    }
    if (e != ferrite::Errc::ok) {
      ++tally.other_errors;
      continue;
    }
    ++tally.commits;
    auto sum = co_await total(store);
    if (!sum) {
      if (sum.error() == ferrite::Errc::power_lost) tally.power_lost = true; else ++tally.other_errors;
      continue;
    }
    ++tally.checks;
    if (*sum != accounts * initial) ++tally.violations;
  }
}

}  // namespace

TEST_CASE("interleaved transfers between accounts never create or lose money, even across power cuts",
          "[txn][concurrency]") {
  std::size_t cases = 0, failures = 0;
  int conflicts_seen = 0, commits_seen = 0;
  for (int run = 0; run < 41; ++run) {
    auto g = rig::geometry(3, 4096, 4);
    ferrite::sim::SimFlash sim(g, 1000 + run);
    ferrite::RunLoop loop;
    ferrite::deferred::DeferredFlash slow(sim, loop, {1, 2, 3});
    ferrite::Flash flash(slow, &loop);
    ferrite::StoreMemory<64, 4> mem;
    auto cfg = mem.config();
    cfg.max_value_size = 32;
    std::optional<ferrite::Store> store(std::in_place, flash, cfg);
    // Named closures: a coroutine lambda's captures live in the closure object.
    auto setup_fn = [&]() -> ferrite::Task<ferrite::Status> {
      auto st = co_await store->format();
      if (!st) co_return st;
      for (int i = 0; i < accounts; ++i) {
        st = co_await store->put(account(i), std::to_string(initial));
        if (!st) co_return st;
      }
      co_return ferrite::Status{};
    };
    auto setup = setup_fn();
    REQUIRE(loop.drive(setup));
    REQUIRE(setup.take_result());
    // Run 0 has no cut; the others cut at a spread of points.
    if (run > 0) sim.cut_power_at(sim.mutating_ops() + static_cast<std::uint64_t>(run) * 37);
    Tally tally;
    std::vector<ferrite::Task<void>> workers;
    for (int w = 0; w < 6; ++w) workers.push_back(transfer_worker(*store, loop, run * 100 + w, 40, tally));
    for (auto& w : workers) w.start();
    for (int turns = 0; turns < 2000000; ++turns) {
      bool all_done = true;
      for (auto& w : workers) all_done = all_done && w.done();
      if (all_done) break;
      if (!loop.run_once()) break;
    }
    bool all_done = true;
    for (auto& w : workers) all_done = all_done && w.done();
    CHECK(all_done);
    conflicts_seen += tally.conflicts;
    commits_seen += tally.commits;
    cases += static_cast<std::size_t>(tally.checks);
    failures += static_cast<std::size_t>(tally.violations + tally.other_errors);
    // After the (possible) cut: reboot, mount, and count the money.
    sim.restore_power();
    store.reset();
    ferrite::StoreMemory<64, 4> mem2;
    auto cfg2 = mem2.config();
    cfg2.max_value_size = 32;
    store.emplace(flash, cfg2);
    auto after_fn = [&]() -> ferrite::Task<ferrite::Result<int>> {
      auto st = co_await store->mount();
      if (!st) co_return ferrite::fail(st.error());
      co_return co_await total(*store);
    };
    auto after = after_fn();
    REQUIRE(loop.drive(after));
    auto sum = after.take_result();
    ++cases;
    if (!sum || *sum != accounts * initial) {
      ++failures;
      std::fprintf(stderr, "transfer run %d: after remount %s %d\n", run, sum ? "sum" : ferrite::name_of(sum.error()),
                   sum ? *sum : 0);
    }
  }
  std::printf("campaign transfer-invariant: %zu cases, %zu failures\n", cases, failures);
  std::printf("transfer-invariant: %d commits, %d conflicts retried\n", commits_seen, conflicts_seen);
  std::fflush(stdout);
  CHECK(failures == 0);
  CHECK(conflicts_seen > 0);
  CHECK(commits_seen > 200);
}

// ---------------------------------------------------------------------------
// Batches: blind writes, visible together

TEST_CASE("a batch makes its writes visible together and durably, a later write of a key replacing an earlier one",
          "[txn][batch]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  CHECK(r.put("a", "1"));
  CHECK(r.put("gone", "x"));
  ferrite::Batch b(*r.store);
  CHECK(b.put("a", "2"));
  CHECK(b.put("b", "first"));
  CHECK(b.erase("gone"));
  CHECK(b.put("b", "second"));
  CHECK(b.pending_writes() == 3);
  CHECK(r.get("a") == "1");  // nothing is visible before commit
  CHECK(r.get("b") == "!not_found");
  CHECK(ferrite::sync_wait(b.commit()));
  CHECK(b.pending_writes() == 0);
  CHECK(b.size_bytes() == 0);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("a") == "2");
  CHECK(r.get("b") == "second");
  CHECK(r.get("gone") == "!not_found");
  // The emptied batch is filled again; an empty one writes nothing.
  CHECK(b.put("c", "3"));
  CHECK(ferrite::sync_wait(b.commit()));
  CHECK(r.get("c") == "3");
  const auto before = r.sim.counters().bytes_programmed;
  CHECK(ferrite::sync_wait(b.commit()));
  CHECK(r.sim.counters().bytes_programmed == before);
}

TEST_CASE("a write a batch refuses leaves the batch as it was", "[txn][batch]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  std::array<std::byte, 48> space{};
  ferrite::Batch b(*r.store, space);
  CHECK(b.put("a", "kept"));
  const auto held = b.size_bytes();
  // A replacement that does not fit keeps the write it would have replaced.
  CHECK(b.put("a", std::string(60, 'v')).error() == Errc::no_memory);
  CHECK(b.put("", "v").error() == Errc::invalid_argument);
  CHECK(b.put(std::string(65, 'k'), "v").error() == Errc::too_large);
  CHECK(b.put("big", std::string(r.store->value_limit() + 1, 'v')).error() == Errc::too_large);
  CHECK(b.erase("").error() == Errc::invalid_argument);
  CHECK(b.pending_writes() == 1);
  CHECK(b.size_bytes() == held);
  CHECK(ferrite::sync_wait(b.commit()));
  CHECK(r.get("a") == "kept");
  CHECK(r.get("big") == "!not_found");
}

TEST_CASE("a batch larger than a sector or than the free space writes nothing", "[txn][batch][full]") {
  Rig r(rig::geometry(3, 2048, 4), 256, true, false, 1, 64);
  REQUIRE(r.format());
  CHECK(r.put("keep", "me"));
  ferrite::Batch big(*r.store);
  for (int i = 0; i < 40; ++i) CHECK(big.put("k" + std::to_string(i), std::string(60, 'x')));
  CHECK(ferrite::sync_wait(big.commit()).error() == Errc::too_large);
  CHECK(big.pending_writes() == 0);
  CHECK(r.get("k0") == "!not_found");
  int stored = 0;
  while (r.put("fill" + std::to_string(stored), std::string(60, 'f'))) ++stored;
  ferrite::Batch more(*r.store);
  for (int i = 0; i < 8; ++i) CHECK(more.put("m" + std::to_string(i), std::string(60, 'm')));
  CHECK(ferrite::sync_wait(more.commit()).error() == Errc::no_space);
  r.reboot();
  REQUIRE(r.mount());
  CHECK(r.get("m0") == "!not_found");
  CHECK(r.get("keep") == "me");
}

TEST_CASE("a batch on a store not mounted is refused", "[txn][batch]") {
  Rig r(rig::geometry(3, 4096, 4));
  REQUIRE(r.format());
  r.store->unmount();
  ferrite::Batch b(*r.store);
  CHECK(b.put("a", "1"));
  CHECK(ferrite::sync_wait(b.commit()).error() == Errc::not_mounted);
  CHECK(b.pending_writes() == 0);
}

TEST_CASE("batches on an index-less store are refused and write nothing", "[txn][batch]") {
  Rig r(rig::geometry(3, 4096, 4), 0);
  REQUIRE(r.format());
  ferrite::Batch b(*r.store);
  CHECK(b.put("a", "1"));
  const auto before = r.sim.counters().bytes_programmed;
  CHECK(ferrite::sync_wait(b.commit()).error() == Errc::unsupported);
  CHECK(r.sim.counters().bytes_programmed == before);
}

TEST_CASE("a batch commit cut at any flash write leaves all or none of its writes", "[txn][batch][powerloss]") {
  constexpr int keys = 40;
  std::size_t cases = 0, failures = 0;
  for (int w = 0; w < 3; ++w) {
    const std::uint64_t seed = 0xBA7Cu + w * 17;
    const auto batches = make_txns(seed, 16, keys);
    std::uint64_t total = 0;
    {
      Rig r(rig::geometry(3, 4096, 4), 256, true, false, 1, 16);
      REQUIRE(r.format());
      const auto base = r.sim.mutating_ops();
      std::map<std::string, std::string> model;
      std::string failure;
      CHECK(run_txns(r, batches, model, failure, true) == -1);
      CHECK(failure.empty());
      total = r.sim.mutating_ops() - base;
    }
    for (std::uint64_t k = 0; k < total; ++k) {
      Rig r(rig::geometry(3, 4096, 4), 256, true, false, seed * 131 + k, 16);
      REQUIRE(r.format());
      r.sim.cut_power_at(r.sim.mutating_ops() + k);
      std::map<std::string, std::string> model;
      std::string failure;
      const int cut = run_txns(r, batches, model, failure, true);
      if (cut < 0) continue;
      ++cases;
      if (failure.empty()) failure = check_atomic(r, model, &batches[cut], keys);
      if (!failure.empty()) {
        ++failures;
        if (failures <= 3) UNSCOPED_INFO("seed " << seed << " cut " << k << ": " << failure);
      }
    }
  }
  std::printf("campaign powerloss-batch: %zu cases, %zu failures\n", cases, failures);
  CHECK(cases > 100);
  CHECK(failures == 0);
}

TEST_CASE("a batch that gives a new key the hash of a live key, or two new keys one hash, keeps them apart at mount",
          "[txn][hashes]") {
  // FORMAT.md §3.3: the batch's records follow a SHARED record in a sector
  // whose header says hashes are unique; mount then compares names.
  const auto pairs = colliding_names(2);
  for (const bool in_one_batch : {false, true}) {
    INFO((in_one_batch ? "two new keys in one batch" : "a new key with a live key's hash"));
    const auto& [a, b] = pairs[in_one_batch ? 1 : 0];
    Rig r(rig::geometry(4, 2048, 4));
    REQUIRE(r.format());
    if (!in_one_batch) CHECK(r.put(a, "a0"));
    {
      Transaction t(*r.store);
      if (in_one_batch) CHECK(tput(t, a, "a0") == Errc::ok);
      CHECK(tput(t, b, "b0") == Errc::ok);
      CHECK(commit(t) == Errc::ok);
    }
    for (int i = 1; i <= 3; ++i) {
      Transaction t(*r.store);
      CHECK(tput(t, a, a + std::to_string(i)) == Errc::ok);
      CHECK(tput(t, b, b + std::to_string(i)) == Errc::ok);
      CHECK(commit(t) == Errc::ok);
    }
    r.reboot();
    REQUIRE(r.mount());
    CHECK(r.get(a) == a + "3");
    CHECK(r.get(b) == b + "3");
    CHECK(r.store->stats().keys == 2);
  }
}
