// Size firmware `docstore`: the document layer on the engine (collections,
// insert, get, find, count, update, remove), once each, on a blocking RAM
// flash (run under QEMU, exit status 0 when every answer was the expected
// one). scripts/size-report measures what ferrite links into it.
#include <cstdint>
#include <cstdio>
#include <cstring>
import ferrite.log;
import ferrite.docstore;
#include "ram_port.hpp"

using namespace size_fw;
using ferrite::Errc;
using ferrite::Task;
using ferrite::doc::Query;

namespace {

ferrite::StoreMemory<100, sector_count> g_memory;
ferrite::DocStoreMemory<4, 4, 512> g_docs;

Task<ferrite::Result<std::uint32_t>> find_all(ferrite::DocStore& db) noexcept {
  std::uint32_t n = 0;
  auto cursor = db.find("sensors", Query::path("temperature").gt(20));
  for (;;) {
    auto more = co_await cursor.next();
    if (!more) co_return ferrite::fail(more.error());
    if (!*more) break;
    ++n;
  }
  co_return n;
}

}  // namespace

int main() {
  ferrite::FrameArena arena(g_arena_storage);
  use_frame_arena(arena);
  RamNor nor;
  ferrite::Flash flash(nor, &g_loop);
  ferrite::Store store(flash, g_memory.config());
  expect(static_cast<bool>(run(store.format())), "format");
  ferrite::DocStore db(store, g_docs.config());
  expect(static_cast<bool>(run(db.open())), "open");
  expect(static_cast<bool>(run(db.create_collection("sensors"))), "create_collection");
  std::byte buf[64];
  for (int i = 0; i < 5; ++i) {
    ferrite::doc::Writer w(buf);
    w.object(2).key("sensor").integer(i).key("temperature").real(18.5 + i);
    auto doc = w.finish();
    expect(doc && run(db.insert("sensors", *doc)), "insert");
  }
  std::byte out[128];
  expect(static_cast<bool>(run(db.get("sensors", 1, out))), "get");
  auto found = run(find_all(db));
  expect(found && *found == 3, "find");
  expect(static_cast<bool>(run(db.count("sensors", Query::path("sensor").eq(2)))), "count");
  ferrite::doc::Writer w(buf);
  w.object(1).key("temperature").real(30.0);
  auto patch = w.finish();
  expect(patch && run(db.update("sensors", Query::path("sensor").eq(1), *patch)), "update");
  expect(static_cast<bool>(run(db.remove("sensors", Query::path("sensor").eq(0)))), "remove");
  std::printf("size firmware docstore: %d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
