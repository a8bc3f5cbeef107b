// ferrite-bench's std, fmt and peer-library headers: every translation unit
// of the benchmark includes this first, before its imports (module prologue
// rule: no std header may follow an import), then kv_bench.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "splitmix64.hpp"

#if FERRITE_BENCH_SQLITE
#include <sqlite3.h>
#endif
#if FERRITE_BENCH_LMDB
#include <lmdb.h>
#endif
