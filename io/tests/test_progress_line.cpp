// ProgressLine: the text it shows, and silence where standard error is not a terminal (as under CTest).
#include <catch2/catch.hpp>

#include "io/progress_line.h"

using tandem::io::ProgressLine;

TEST_CASE("a progress line says the share done, the total and the time") {
  CHECK(ProgressLine::format("simulate", 41, 100, "ops", 2.34) == "simulate: 41% of 100 ops, 2.3 s");
  CHECK(ProgressLine::format("simulate", 40'000'000, 99'100'000, "ops", 12.0) == "simulate: 40% of 99.1 M ops, 12.0 s");
  CHECK(ProgressLine::format("x", 5, 0, "ops", 0) == "x: 0% of 0 ops, 0.0 s");
  CHECK(ProgressLine::format("x", 7, 5, "ops", 0) == "x: 100% of 5 ops, 0.0 s");   // never past 100%
}

TEST_CASE("a counted progress line says the items done, the rate and the time left") {
  // 12 points in 6 s: 2 points/s; 52 left take 26 s.
  CHECK(ProgressLine::format_counted("sweep", 12, 64, "points", 6.0) == "sweep: 12 of 64 points, 2 points/s, about 26 s left");
  CHECK(ProgressLine::format_counted("sweep", 0, 64, "points", 3.0) == "sweep: 0 of 64 points");   // no rate yet
  CHECK(ProgressLine::format_counted("sweep", 64, 64, "points", 8.0) == "sweep: 64 of 64 points, 8 points/s, about 0 s left");
}

TEST_CASE("a progress line is a no-op when disabled") {
  ProgressLine line("simulate", false);
  for (int i = 0; i < 1000; ++i) line.update(uint64_t(i), 1000);   // nothing printed, nothing thrown
  SUCCEED();
}
