// Size firmware `kv-full`: every call of the key/value engine and of
// ferrite.txn, once, on a blocking RAM flash (run under QEMU, exit status 0
// when every answer was the expected one). scripts/size-report measures what
// ferrite links into it; nothing here is a benchmark.
#include <cstdint>
#include <cstdio>
#include <cstring>
import ferrite.log;
import ferrite.txn;
#include "ram_port.hpp"

using namespace size_fw;
using ferrite::Errc;
using ferrite::Task;

namespace {

ferrite::StoreMemory<100, sector_count> g_memory;
ferrite::StoreMemory<1, sector_count> g_index_less;

Task<ferrite::Result<std::uint32_t>> scan_all(ferrite::Store& store) noexcept {
  std::uint32_t n = 0;
  std::byte value[32];
  auto cursor = store.scan("k/", ferrite::Direction::reverse);
  for (;;) {
    auto more = co_await cursor.next();
    if (!more) co_return ferrite::fail(more.error());
    if (!*more) break;
    if (!co_await cursor.read_value(value)) co_return ferrite::fail(Errc::corrupt);
    ++n;
  }
  auto ranged = store.range(ferrite::as_bytes(std::string_view("k/0")), ferrite::as_bytes(std::string_view("k/5")));
  while (true) {
    auto more = co_await ranged.next();
    if (!more || !*more) break;
    ++n;
  }
  co_return n;
}

Task<ferrite::Result<std::uint32_t>> changes(ferrite::Store& store) noexcept {
  std::uint32_t n = 0;
  std::byte value[32];
  auto cursor = store.changes_since(store.oldest_lsn());
  for (;;) {
    auto more = co_await cursor.next();
    if (!more) co_return ferrite::fail(more.error());
    if (!*more) break;
    if (!cursor.erased() && !co_await cursor.read_value(value)) co_return ferrite::fail(Errc::corrupt);
    ++n;
  }
  co_return n;
}

Task<ferrite::Status> transaction(ferrite::Store& store) noexcept {
  ferrite::Transaction txn(store);
  std::byte out[16];
  (void)co_await txn.get("k/1", out);
  if (auto st = co_await txn.put("t/a", "1"); !st) co_return st;
  if (auto st = co_await txn.erase("k/2"); !st) co_return st;
  co_return co_await txn.commit();
}

}  // namespace

int main() {
  ferrite::FrameArena arena(g_arena_storage);
  use_frame_arena(arena);
  RamNor nor;
  ferrite::Flash flash(nor, &g_loop);
  {
    ferrite::StoreConfig config = g_memory.config();
    config.verify_writes = true;
    ferrite::Store store(flash, config);
    expect(static_cast<bool>(run(store.format())), "format");
    char key[8];
    for (int i = 0; i < 10; ++i) {
      std::snprintf(key, sizeof key, "k/%d", i);
      expect(static_cast<bool>(run(store.put(key, "value"))), "put");
    }
    expect(static_cast<bool>(run(store.put_as("typed", std::int32_t{42}))), "put_as");
    auto typed = run(store.get_as<std::int32_t>("typed"));
    expect(typed && *typed == 42, "get_as");
    expect(static_cast<bool>(run(store.type_of("typed"))), "type_of");
    std::byte out[32];
    expect(static_cast<bool>(run(store.get("k/3", out))), "get");
    expect(static_cast<bool>(run(store.erase("k/3"))), "erase");
    expect(static_cast<bool>(run(store.contains("k/4"))), "contains");
    expect(static_cast<bool>(run(store.size_of("k/4"))), "size_of");
    expect(static_cast<bool>(run(scan_all(store))), "scan");
    expect(static_cast<bool>(run(store.count_range({}, {}))), "count_range");
    expect(static_cast<bool>(run(changes(store))), "changes_since");
    expect(static_cast<bool>(run(transaction(store))), "transaction");
    expect(static_cast<bool>(run(store.maintain())), "maintain");
    expect(static_cast<bool>(run(store.count_keys())), "count_keys");
    expect(run(store.reseal()).error() == Errc::unsupported, "reseal");
    (void)store.stats();
    (void)store.last_refusal();
    store.unmount();
    expect(static_cast<bool>(run(store.mount())), "mount");
  }
  {
    // Index-less: lookups scan the flash (a store formatted without compact records).
    ferrite::StoreConfig config;
    config.sectors = g_index_less.sectors;
    config.compact_records = false;
    ferrite::Store store(flash, config);
    expect(static_cast<bool>(run(store.format())), "index-less format");
    expect(static_cast<bool>(run(store.put("k/9", "v"))), "index-less put");
    store.unmount();
    expect(static_cast<bool>(run(store.mount())), "index-less mount");
    std::byte out[32];
    expect(static_cast<bool>(run(store.get("k/9", out))), "index-less get");
    expect(static_cast<bool>(run(store.erase("k/9"))), "index-less erase");
    expect(static_cast<bool>(run(store.maintain())), "index-less maintain");
  }
  std::printf("size firmware kv-full: %d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
