// demo.hpp — what the steps of ferrite-demo share: the simulated device and
// its partitions, a sealed store with its docstore, and small helpers.
// Included after `import ferrite; import ferrite.sim;`.
#pragma once

namespace demo {

using ferrite::Errc;
using ferrite::Status;
using ferrite::Task;
using ferrite::Result;

/// Fails a step when `ok` is false, saying what was expected.
Status expect(bool ok, std::string_view what);

/// A sealed store and its docstore on one partition. reboot() drops both
/// and builds them again from the same memory, as after a power-up.
class SealedStore {
 public:
  SealedStore(ferrite::Flash part, ferrite::Sealer& sealer);
  void reboot();
  Task<Status> format(std::uint32_t store_id);
  Task<Status> mount();
  /// Opens the docstore of the mounted store.
  Task<Status> open_documents();
  ferrite::Store& store() { return *store_; }
  ferrite::DocStore& db() { return *db_; }

 private:
  ferrite::Flash part_;
  ferrite::StoreMemory<256, 4> memory_;
  std::vector<std::byte> scratch_;
  ferrite::StoreConfig config_{};
  std::optional<ferrite::Store> store_;
  std::optional<ferrite::DocStore> db_;
};

/// Every document of a collection, id -> its bytes (CBOR).
using Documents = std::map<ferrite::DocId, std::vector<std::byte>>;
Task<Result<Documents>> all_documents(ferrite::DocStore& db, std::string_view collection);

/// Ids a query finds, in the order found.
Task<Result<std::vector<ferrite::DocId>>> ids_of(ferrite::DocStore& db, std::string_view collection,
                                                  const ferrite::doc::Query& query);

/// The query the compound index answers (patient_id and ts equal), and where
/// the transaction's visit lands.
inline constexpr std::string_view patient_query = R"({"patient_id": "P-1002", "ts": 1700086400})";
inline constexpr std::uint8_t heart_rate = 1;  // the series number of heart-rate readings
inline constexpr std::int64_t first_reading_ts = 1700090000;

// The steps, in the order main() runs them.
Task<Status> typed_settings(ferrite::Store& store);
Task<Status> patients(ferrite::DocStore& db);
Task<Status> vital_signs(ferrite::SeriesLog& log, ferrite::Store& store);
Task<Status> visit_transaction(ferrite::DocStore& db);
Task<Status> timeframe(ferrite::DocStore& db);
/// `store_sealer` is the one the store mounted with; `reader` holds the same key.
Task<Status> take_backup(ferrite::DocStore& db, ferrite::Sealer& store_sealer, ferrite::Sealer& reader,
                         ferrite::MemorySink& backup);
Task<Status> restore_and_compare(std::span<const std::byte> backup, ferrite::Sealer& sealer,
                                 SealedStore& source, SealedStore& target);

}  // namespace demo
