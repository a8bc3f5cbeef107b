// libFuzzer target: the input is a flash image (4 x 4 KiB, 4-byte program
// unit, 512-byte engine values). It is mounted, the docstore opened, and
// every collection read (stats, count, find, get, index queries) and written
// once. Errors are fine; a crash, a sanitizer report, a walk that does not
// end or an ok answer carrying a document that does not parse is a finding.
// The body is doc_open_driver.hpp, which test_doc_campaigns.cpp also runs
// over mutated real docstore images (campaign doc-open-fuzz).
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_doc_open
//   FERRITE_DOC_OPEN_CORPUS=corpus build/test/test_doc_campaigns "mount and open*"  # seeds: real images
//   build-fuzz/test/fuzz/fuzz_doc_open -max_total_time=60 -timeout=10 -max_len=16384 corpus/
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
import ferrite;
import ferrite.sim;
#include "doc_open_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (const char* why = doc_open_fuzz::check_doc_open(data, size)) {
    std::fprintf(stderr, "fuzz_doc_open: %s\n", why);
    std::abort();
  }
  return 0;
}
