// The one Catch2 main (the single header is slow to compile: build it once).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
