// ferrite-bench's std, fmt and peer-library headers, which kv_bench.hpp
// includes before its imports.
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
