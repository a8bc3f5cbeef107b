// verify: mount, then read every live value; report what is damaged.
#include <fmt/format.h>

import ferrite;
import ferrite.file;
import ferrite.inspect;
#include "tool.hpp"
#include "args.hpp"
#include "image_headers.hpp"
#include "workspace.hpp"
#include "opened_store.hpp"
#include "image_lock.hpp"
#include "image_session.hpp"
#include "values.hpp"
#include "key_text.hpp"
#include "progress.hpp"
#include "commands.hpp"

namespace ferrite::tool {

namespace {

Checked<int> run_verify(const ParsedArgs& args) {
  auto s = open_image(args.positionals[0], args, false);
  if (!s) return s.error();
  ImageSession& session = **s;
  Store& store = session.store();
  std::vector<std::string> problems;
  std::uint32_t keys = 0;
  std::uint64_t bytes = 0;
  if (store.hides_key_names() && !store.stats().keys_known) problems.push_back("key count unknown");
  {
    Progress progress("verify", store.stats().keys);
    auto cursor = store.scan();
    std::vector<std::byte> value;
    while (true) {
      auto step = sync_wait(cursor.next());
      if (!step) {
        if (step.error() == Errc::unsupported) {
          problems.push_back("keys not walked: the store hides key names (values are checked by mount only)");
          break;
        }
        return store_error(session, step.error(), "walking keys");
      }
      if (!*step) break;
      value.resize(cursor.value_size());
      auto got = sync_wait(cursor.read_value(value));
      progress.advance();
      if (!got) {
        problems.push_back(fmt::format("key '{}': {}", key_display(cursor.key()), describe(got.error())));
        continue;
      }
      ++keys;
      bytes += *got;
    }
  }
  const StoreStats st = store.stats();
  std::vector<std::string> damage;
  if (st.corrupt_records) damage.push_back(fmt::format("{} corrupt record(s) (failed their checksum)", st.corrupt_records));
  for (std::uint32_t n = 0; n < st.tampered_keys; ++n) {
    std::array<std::byte, max_key_size> k{};
    auto len = sync_wait(store.tampered_key(n, k));
    if (!len) break;
    damage.push_back(fmt::format("tampered key (as stored) '{}': its latest record fails authentication",
                                 key_display(std::span<const std::byte>(k.data(), *len))));
  }
  for (const std::string& p : problems)
    if (p.rfind("key '", 0) == 0) damage.push_back(p);
  const bool strict = args.has("strict");
  std::vector<std::string> traces;
  if (st.torn_tails) traces.push_back(fmt::format("{} torn tail(s) (a write cut by power loss, or damage to the last record)", st.torn_tails));
  if (st.damaged_sectors)
    traces.push_back(fmt::format("{} damaged sector header(s) (an erase cut by power loss, or damage)", st.damaged_sectors));
  if (st.head_sealed) traces.push_back("the head is sealed (its tail is not blank: the next write opens a new sector)");

  // Where: the damaged runs ferrite.inspect finds in the sectors the mounted
  // store holds live (a walk by checksums: no key needed).
  std::vector<std::string> places;
  const auto info = store.sectors();
  const inspect::Image walked = inspect::walk(*session.geometry, session.bytes);
  for (const inspect::Sector& sector : walked.sectors) {
    if (info[sector.index].state != static_cast<std::uint8_t>(SectorState::live)) continue;
    for (const inspect::Item& item : sector.items) {
      if (!item.damage) continue;
      places.push_back(fmt::format("sector {} (sequence {}) offset {:#x} (image offset {:#x}): {} bad bytes, {}{}",
                                   sector.index, sector.header.sequence, item.offset, sector.address + item.offset,
                                   item.size, item.torn ? "a torn tail" : "a damaged record before a good one",
                                   item.why == inspect::Damage::uncommitted_batch ? " (a batch without its commit)" : ""));
    }
  }

  fmt::print("{}: {} keys, {} value bytes read back\n", session.image, keys, bytes);
  for (const std::string& p : problems)
    if (p.rfind("key '", 0) != 0) fmt::print("note: {}\n", p);
  for (const std::string& t : traces) fmt::print("{}: {}\n", strict ? "damage" : "power-cut trace", t);
  for (const std::string& d : damage) fmt::print("damage: {}\n", d);
  for (const std::string& p : places) fmt::print("  at {}\n", p);
  const bool damaged = !damage.empty() || (strict && !traces.empty());
  fmt::print("{}\n", damaged ? "DAMAGED" : "clean");
  std::fflush(stdout);
  if (damaged)
    fmt::print(stderr, "ferrite: verify: {} is damaged ({} finding{})\n", session.image,
               damage.size() + (strict ? traces.size() : 0), damage.size() + (strict ? traces.size() : 0) == 1 ? "" : "s");
  return damaged ? exit_damaged : exit_ok;
}

}  // namespace

Command verify_command() {
  auto options = image_option_specs();
  options.push_back({"strict", "", "count torn tails and damaged sector headers as damage too"});
  return {"verify", "IMAGE [options]", "full integrity check: mount and read back every live value",
          "Exit 0 clean, 1 damaged: corrupt records, keys whose value no longer reads back, sealed\n"
          "records that fail authentication (mount refusing a tampered log is exit 1 too). Torn tails\n"
          "and damaged sector headers are what a power cut leaves; they count with --strict.",
          options, 1, 1, run_verify};
}

}  // namespace ferrite::tool
