// Navigation tests: zoom keeps the point under the cursor, drag pan, W/S/A/D, clamping, --range
// parsing, duration text and ruler ticks.
#include <catch2/catch.hpp>

#include "viewer/view.h"

using namespace tandem::viewer;

TEST_CASE("zoom at the cursor keeps the anchor time at the same pixel", "[viewer][view]") {
  const ViewRange r{0, 1000};
  // Anchor 250 (pixel 250 of 1000): zooming 2x gives [125, 625], where 250 is still a quarter in.
  const ViewRange z = zoom_at(r, 2.0, 250);
  CHECK(z.t0_ns == Approx(125));
  CHECK(z.t1_ns == Approx(625));
  CHECK(time_at_px(z, 0, 1000, 250) == Approx(250));
  CHECK(zoom_at(z, 0.5, 250).t0_ns == Approx(0));
  CHECK(zoom_at(r, 0.0, 10).t1_ns == 1000);   // nonsense factor: unchanged
}

TEST_CASE("drag pan and keys move the range", "[viewer][view]") {
  const ViewRange r{1000, 2000};
  // Dragging 100 px right over a 500 px canvas shows 1/5 of the span (200 ns) earlier times.
  const ViewRange p = pan_by_pixels(r, 100, 500);
  CHECK(p.t0_ns == Approx(800));
  CHECK(p.t1_ns == Approx(1800));
  // D for 0.2 s pans half the span per second: 0.1 · 1000 = 100 ns later.
  const ViewRange d = apply_keys(r, {false, false, false, true}, 0.2, 1500);
  CHECK(d.t0_ns == Approx(1100));
  // W for 1 s zooms 3x at the anchor: span 1000 -> 333.3 around 1500.
  const ViewRange w = apply_keys(r, {true, false, false, false}, 1.0, 1500);
  CHECK(w.span() == Approx(1000.0 / 3));
  CHECK((w.t0_ns + w.t1_ns) / 2 == Approx(1500));
  // W and S together cancel.
  CHECK(apply_keys(r, {true, true, false, false}, 1.0, 1500).span() == Approx(1000));
}

TEST_CASE("clamp keeps the view near the data", "[viewer][view]") {
  // Span limited to 1.2x the data (0..100) and at least 10 ns.
  CHECK(clamp_range({-1000, 1000}, 0, 100).span() == Approx(120));
  CHECK(clamp_range({50, 51}, 0, 100).span() == Approx(10));
  // Far to the right: moved back so a tenth of the view still shows data.
  const ViewRange r = clamp_range({500, 550}, 0, 100);
  CHECK(r.t0_ns == Approx(95));
  CHECK(r.span() == Approx(50));
  const ViewRange in{10, 60};
  CHECK(clamp_range(in, 0, 100).t0_ns == Approx(10));
}

TEST_CASE("range option parsing", "[viewer][view]") {
  ViewRange r;
  std::string err;
  REQUIRE(parse_range("0:94", r, &err));
  CHECK(r.t0_ns == 0);
  CHECK(r.t1_ns == 94000);   // microseconds by default
  REQUIRE(parse_range("1.5ms:3ms", r, &err));
  CHECK(r.t0_ns == Approx(1.5e6));
  CHECK(r.t1_ns == Approx(3e6));
  REQUIRE(parse_range("100ns:2us", r, &err));
  CHECK(r.t0_ns == Approx(100));
  CHECK(r.t1_ns == Approx(2000));
  REQUIRE(parse_range("0:1s", r, &err));
  CHECK(r.t1_ns == Approx(1e9));
  CHECK_FALSE(parse_range("5", r, &err));
  CHECK_THAT(err, Catch::Contains("expected t0:t1"));
  CHECK_FALSE(parse_range("a:b", r, &err));
  CHECK_THAT(err, Catch::Contains("two numbers"));
  CHECK_FALSE(parse_range("5:5", r, &err));
  CHECK_THAT(err, Catch::Contains("end must be after the start"));
  CHECK_FALSE(parse_range("1:2parsecs", r, &err));
}

TEST_CASE("durations and ruler ticks", "[viewer][view]") {
  CHECK(format_duration(0) == "0 ns");
  CHECK(format_duration(20000) == "20 µs");
  CHECK(format_duration(12500000) == "12.5 ms");
  CHECK(format_duration(1234) == "1.23 µs");
  CHECK(format_duration(2.5e9) == "2.50 s");
  // 94 µs over 940 px with ticks at least 90 px apart: minimum step 9 µs, so 10 µs.
  CHECK(tick_step_ns(94000, 940, 90) == 10000);
  const auto ticks = ruler_ticks({0, 94000}, 100, 1040);
  REQUIRE(ticks.size() == 10);   // 0, 10, ..., 90 µs
  CHECK(ticks[0].x == Approx(100));
  CHECK(ticks[2].x == Approx(300));
  CHECK(ticks[2].label == "20 µs");
  CHECK(tick_step_ns(1e9, 1000, 90) == 1e8);   // 90 ms minimum: 100 ms
  CHECK(tick_step_ns(1e9, 1000, 200) == 2e8);  // 200 ms minimum: 200 ms
}
