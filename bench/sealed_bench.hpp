// ferrite-bench's crypto and compression section (sealed_bench.cpp), built
// when the build has ferrite.crypto. Included after kv_bench.hpp.
#pragma once

#if FERRITE_HAVE_CRYPTO
namespace kvbench::sealed {

/// What main needs of the section: whether it ran, whether every run
/// completed and verified, and its JSON keys (each starting with ",\n").
struct Outcome {
  bool ran = false;
  bool ok = true;
  std::string json;
};

/// Runs W1 and sensor documents (`doc_updates` updates), sealed against
/// plain, and zstd and AEAD per operation; prints the tables.
Outcome run_and_print(const Workload& w1, std::size_t doc_updates, std::size_t gets, bool quick, int repeats,
                      const std::string& only);

}  // namespace kvbench::sealed
#endif  // FERRITE_HAVE_CRYPTO
