// libFuzzer target: arbitrary bytes as a CBOR document (View::parse, then
// canonical() and parse again must give an equal value) and as JSON text
// (json_to_cbor must answer a canonical document or a located error).
// The invariants are in doc_value_driver.hpp, which test_doc_value.cpp also
// runs over seeded inputs so that CI explores the same body.
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_doc_value
//   build-fuzz/test/fuzz/fuzz_doc_value -max_total_time=60 corpus/
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
import ferrite.docstore;
#include "doc_value_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (const char* why = doc_value_fuzz::check_doc_value(data, size)) {
    std::fprintf(stderr, "fuzz_doc_value: %s\n", why);
    std::abort();
  }
  return 0;
}
