#include <catch2/catch.hpp>
import ferrite.core;

using ferrite::Errc;
using ferrite::Result;

TEST_CASE("a Result holds a value or an error, never both", "[core][result]") {
  Result<int> ok = 42;
  CHECK(ok.has_value());
  CHECK(*ok == 42);
  CHECK(ok.error() == Errc::ok);
  Result<int> bad = ferrite::fail(Errc::corrupt);
  CHECK_FALSE(bad.has_value());
  CHECK(bad.error() == Errc::corrupt);
  CHECK(bad.value_or(7) == 7);
}
