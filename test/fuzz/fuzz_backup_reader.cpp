// libFuzzer target: the input is a backup stream. verify() and restore()
// must agree with a reader; a refused stream leaves the restore target as it
// was, an accepted one restores exactly its entries (backup_reader_driver.hpp,
// which test_backup.cpp also runs over damaged real backups).
//
//   meson setup build-fuzz --native-file native/clang16.ini -Dfuzz=true \
//     -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
//   ninja -C build-fuzz test/fuzz/fuzz_backup_reader
//   build-fuzz/test/fuzz/fuzz_backup_reader -max_total_time=60 -max_len=16384 corpus/
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
import ferrite;
import ferrite.sim;
#include "backup_reader_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (const char* why = backup_fuzz::check_backup(data, size)) {
    std::fprintf(stderr, "fuzz_backup_reader: %s\n", why);
    std::abort();
  }
  return 0;
}
