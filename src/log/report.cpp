// What a Store refuses and why, in words: config_report() and
// last_refusal(). A unit of its own so that a firmware that never asks links
// none of the sentences (the constructor runs the string-free
// config_fault()).
module;
#include "ferrite_modules.hpp"

module ferrite.log;

namespace ferrite {

namespace {

enum ConfigCheck : std::uint8_t {
  fine = 0,  // StoreEngine::config_fine
  clamped = 1,  // StoreEngine::config_clamped
  sector_count,
  sector_table,
  order_size,
  index_size,
  partition_bytes,
  partition_units,
  value_room,
  sector_size,
  no_crypto,
  sealed_index,
  counter,
  scratch,
  no_index_less,
  no_order,
  no_verify,
  no_summaries,
  summaries_store,
  no_mixed_sectors,
  sector_bytes,
};

std::uint32_t clip(std::size_t v) noexcept { return static_cast<std::uint32_t>(std::min<std::size_t>(v, 0xFFFFFFFFu)); }

}  // namespace

StoreEngine::ConfigFault StoreEngine::config_fault() const noexcept {
  // Computed from the configuration each time (Store keeps no copy of it).
  const std::uint32_t count = geometry_.sector_count();
  const std::uint32_t overhead = sealed() ? seal_.codec->overhead() : 0;
  const auto fault = [](ConfigCheck check, std::size_t value, std::size_t limit) {
    return ConfigFault{check, clip(value), clip(limit)};
  };
  if (count < 2) return fault(sector_count, count, 2);
  if (!mixed_sectors_built && geometry_.smallest_sector() != geometry_.largest_sector())
    return fault(no_mixed_sectors, geometry_.largest_sector(), geometry_.smallest_sector());
  if (sectors_.size() != count) return fault(sector_table, sectors_.size(), count);
  if (geometry_.largest_sector() > max_sector_bytes)
    return fault(sector_bytes, geometry_.largest_sector(), max_sector_bytes);
  if (index_.has_order() && index_.order_capacity() != index_.capacity())
    return fault(order_size, index_.order_capacity(), index_.capacity());
  if (index_.capacity() > 0xFFFF) return fault(index_size, index_.capacity(), 0xFFFF);
  if (geometry_.total_size() > (1u << 31)) return fault(partition_bytes, geometry_.total_size(), 1u << 31);
  if (index_.has_storage() && geometry_.total_size() / unit_ > max_index_units)
    return fault(partition_units, geometry_.total_size() / unit_, max_index_units);
  if (geometry_value_limit() < min_useful_value_limit)
    return fault(value_room, geometry_value_limit(), min_useful_value_limit);
  if (geometry_.smallest_sector() < header_size_ + 2 * slack_)
    return fault(sector_size, geometry_.smallest_sector(), header_size_ + 2 * slack_);
  if (!index_less_built && !index_.has_storage()) return fault(no_index_less, 0, 1);
  if (index_.order_refused()) return fault(no_order, 1, 0);
  if (verify_.refused()) return fault(no_verify, 1, 0);
  if (summaries_.refused()) return fault(no_summaries, 1, 0);
  if (summaries_ && (codec_wanted_ || !index_.has_storage())) return fault(summaries_store, 1, 0);
  if (codec_wanted_ && !sealed_stores_built) return fault(no_crypto, 1, 0);
  if (sealed() && !index_.has_storage()) return fault(sealed_index, 0, 1);
  if (counter_wanted_ && !sealed()) return fault(counter, 1, 0);
  if (sealed() && seal_.scratch.size() < scratch_needed(value_limit_, overhead))
    return fault(scratch, seal_.scratch.size(), scratch_needed(value_limit_, overhead));
  if (asked_value_size_ > value_limit_) return fault(clamped, asked_value_size_, value_limit_);
  return {};
}

Refusal Store::config_report() const noexcept {
  const ConfigFault f = config_fault();
  const auto refuse = [&](const char* field, const char* reason) {
    return Refusal{Errc::invalid_argument, field, f.value, f.limit, reason};
  };
  switch (static_cast<ConfigCheck>(f.check)) {
    case fine: return Refusal{};
    case clamped:
      return Refusal{Errc::ok, "max_value_size", f.value, f.limit,
                     value_limit_ == geometry_value_limit()
                         ? "StoreConfig::max_value_size was clamped to value_limit(): a record takes at most a third "
                           "of the smallest sector's payload, less 8 bytes of header and a 64-byte key"
                         : "StoreConfig::max_value_size was clamped to value_limit(): the format's limit is 32,767 "
                           "bytes less the codec's overhead"};
    case sector_count: return refuse("sectors", "a store needs at least 2 erase sectors (value: the partition's)");
    case sector_table:
      return refuse("sectors",
                    "StoreConfig::sectors needs one entry per sector of the partition (value: entries, limit: "
                    "sectors), e.g. StoreMemory<Keys, Sectors> with Sectors >= the partition's sectors");
    case order_size: return refuse("order", "StoreConfig::order must be empty or as long as the index");
    case index_size: return refuse("index", "the RAM index holds at most 65,535 keys");
    case partition_bytes: return refuse("partition bytes", "a partition holds at most 2 GiB");
    case partition_units:
      return refuse("partition units",
                    "an indexed store addresses at most 2^24 program units (run index-less or use a smaller "
                    "partition)");
    case value_room:
      return refuse("value_limit",
                    "the smallest sector leaves too little room for a value (a record takes at most a third of a "
                    "sector's payload, less 8 bytes of header, a 64-byte key and a sealed store's overhead): use "
                    "larger sectors");
    case sector_size:
      return refuse("sector size", "the smallest sector must hold its header and two of the largest records");
    case no_crypto:
      return refuse("codec", "this build has no sealed stores (built without ferrite.crypto: libsodium, zstd, or meson option sealing)");
    case sealed_index: return refuse("index", "a sealed store needs the RAM index");
    case counter:
      return refuse("counter", "a rollback counter protects sealed stores only (StoreConfig::codec is not set)");
    case no_index_less:
      return refuse("index", "this build has no index-less stores (meson option index_less): give StoreConfig::index");
    case no_order:
      return refuse("order", "this build has no scans (meson option scans): leave StoreConfig::order empty");
    case no_verify:
      return refuse("verify_writes", "this build has no verify_writes (meson option verify_writes)");
    case no_summaries:
      return refuse("sector_summaries", "this build has no sector summaries (meson option summaries)");
    case summaries_store:
      return refuse("sector_summaries", "sector summaries are for plain stores with the RAM index (no codec)");
    case no_mixed_sectors:
      // Reached only without the option: a build with it carries no words for it.
      if constexpr (!mixed_sectors_built)
        return refuse("sector sizes",
                      "this build has no stores on sectors of different sizes (meson option mixed_sectors): use a "
                      "partition whose sectors have one size (value: the largest sector, limit: the smallest)");
      break;
    case sector_bytes:
      return refuse("sector size", "a store's sectors hold at most 16 MiB (max_sector_bytes)");
    case scratch:
      return refuse("scratch", "StoreConfig::scratch must hold Store::scratch_needed(max value, codec overhead) bytes");
  }
  return Refusal{};
}

Refusal Store::last_refusal() const noexcept {
  switch (refused_.what) {
    case Refused::none: return Refusal{};
    case Refused::config: return config_report();
    case Refused::key_empty:
      return {Errc::invalid_argument, "key", 0, 1, "a key has 1 to 64 bytes"};
    case Refused::key_long:
      return {Errc::too_large, "key", refused_.value, refused_.limit, "a key has 1 to 64 bytes (value: its length)"};
    case Refused::value_long:
      return {Errc::too_large, "value", refused_.value, refused_.limit,
              "the value is longer than value_limit() (a typed value: value_limit() - 1, its tag takes a byte); "
              "config_report() says where the limit comes from"};
    case Refused::type_size:
      return {Errc::invalid_argument, "type", refused_.value, refused_.limit,
              "a typed value's size must fit its type (value: the size given, limit: the type's; 0: untyped "
              "is not a type to put_typed)"};
    case Refused::index_full:
      return {Errc::no_memory, "index", refused_.value, refused_.limit,
              "the RAM index is full (value: keys, limit: StoreConfig::index entries)"};
    case Refused::capacity:
      return {Errc::no_space, "live bytes", refused_.value, refused_.limit,
              "the store would hold more live bytes than its capacity (value: live bytes with this write, limit: "
              "stats().capacity_bytes, with this write's record counted: the sectors' payload less one sector kept free "
              "for garbage collection and, per sector, room for the largest live record or this one); each record "
              "costs 8 bytes + key + value, rounded to the program unit"};
    case Refused::room:
      return {Errc::no_space, "free space", refused_.value, refused_.limit,
              "no room for the record even after garbage collection (value: record bytes, limit: free bytes)"};
    case Refused::batch_long:
      return {Errc::too_large, "batch", refused_.value, refused_.limit,
              "the batch is larger than max_batch_bytes() (one sector's payload less a record's reserve)"};
    case Refused::mounted:
      return {Errc::already_mounted, "mounted", 1, 0,
              "the store is mounted: call unmount() first (formatting a mounted store would discard every key)"};
    case Refused::batch_record:
      return {Errc::unsupported, "transactions", refused_.value, refused_.limit,
              "the log holds a transaction's records and this build has none (meson option transactions): mount "
              "it with a build that has them; nothing was written (value: sector sequence, limit: offset)"};
    case Refused::tampered:
      return tamper_report();
  }
  return Refusal{};
}

}  // namespace ferrite
