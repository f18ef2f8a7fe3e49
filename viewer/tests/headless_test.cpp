// Headless rendering tests: the golden timeline drawn through EGL + OpenGL + ImGui into an image,
// checked pixel by pixel (not blank; forward ops, bubbles and communication in their colours at
// the places worked out from the layout), and the tandem-view command writing a PNG. When no EGL
// context can be made the tests say so (WARN with the reason) instead of passing silently.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "tests/run_pipe.h"
#include "trace/trace_reader.h"
#include "viewer/headless.h"
#include "viewer/png_io.h"

using namespace tandem;
using namespace tandem::viewer;

namespace {

std::string tmp_path(const std::string& name) { return "/tmp/" + std::to_string(::getpid()) + "_" + name; }

const std::string kGolden = std::string(TANDEM_TRACE_TEST_DATA) + "/golden_2x2.json";

tandem::testing::CommandResult run_view(const std::string& args) {
  return tandem::testing::run_pipe(std::string("'") + TANDEM_VIEW_BIN + "' " + args + " 2>&1");
}

bool near(Rgba a, Rgba b, int tol = 2) {
  return std::abs(a.r - b.r) <= tol && std::abs(a.g - b.g) <= tol && std::abs(a.b - b.b) <= tol;
}

// Where the golden timeline's rank 0 / rank 1 compute lanes are for a window of w x h showing
// [0, 94] µs, from the UI regions and the layout (header 20, track 22, lanes start 2 px in).
struct GoldenPlace {
  float x0, x1, rank0_y, rank1_y, rank0_comm_y;
  float x_at_us(double us) const { return static_cast<float>(x0 + (x1 - x0) * us / 94.0); }
};
GoldenPlace golden_place(int w, int h) {
  const UiRegions ui = ui_regions(float(w), float(h));
  const float top = ui.frame.canvas_y0;
  return {ui.frame.canvas_x0, ui.frame.canvas_x1, top + 20 + 2, top + 84 + 2, top + 42 + 2};
}

ViewerApp golden_app() {
  std::vector<LoadedTrace> v;
  v.push_back(load_trace_file(kGolden));
  ViewerApp app(make_view_model(std::move(v)));
  app.set_range({0, 94000});
  return app;
}

// The colour at (x, y) and at two neighbours must all be `want` (text never covers all three).
void check_colour(const Image& img, float x, float y, Rgba want, const char* what) {
  const int xi = static_cast<int>(x), yi = static_cast<int>(y);
  for (int dx : {-2, 0, 2}) {
    const Rgba got = img.at(xi + dx, yi);
    INFO(what << " at (" << xi + dx << ", " << yi << "): got " << int(got.r) << "," << int(got.g) << "," << int(got.b)
              << " want " << int(want.r) << "," << int(want.g) << "," << int(want.b));
    CHECK(near(got, want));
  }
}

}  // namespace

TEST_CASE("headless screenshot of the golden timeline has the right colours in the right places",
          "[viewer][headless]") {
  ViewerApp app = golden_app();
  Screenshot shot;
  try {
    shot = render_screenshot(app, 1200, 500);
  } catch (const HeadlessError& e) {
    WARN("SKIPPED (no headless OpenGL here): " << e.what());
    return;
  }
  INFO("renderer " << shot.renderer);
  const Image& img = shot.image;
  REQUIRE(img.width == 1200);
  REQUIRE(img.height == 500);
  // Not blank: many colours, and less than 90% of the pixels in the background colour.
  std::set<uint32_t> colours;
  size_t background = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const Rgba c = img.at(x, y);
      colours.insert(c.packed());
      background += near(c, palette::kBackground, 0);
    }
  CHECK(colours.size() > 20);
  CHECK(background < size_t(img.width) * size_t(img.height) * 9 / 10);

  const GoldenPlace g = golden_place(1200, 500);
  // The geometry the UI drew agrees with the hand-computed places.
  CHECK(shot.params.canvas_x0 == Approx(g.x0));
  bool found_f0 = false;
  for (const auto& r : shot.geometry.rects) {
    if (r.kind != RectKind::Op) continue;
    const auto& tl = app.model().traces[0].tl;
    if (tl.name_of(tl.events[r.event]) != "L0.F mb0") continue;
    found_f0 = true;
    CHECK(r.x0 == Approx(g.x_at_us(0)));
    CHECK(r.x1 == Approx(g.x_at_us(10) - 1));   // a 1 px gap before the next op
    CHECK(r.y0 == Approx(g.rank0_y));
  }
  CHECK(found_f0);
  // Sample one pixel below each lane's top edge, away from the centred labels.
  const Rgba forward = class_colour(ColourClass::Forward);
  check_colour(img, g.x_at_us(5), g.rank0_y + 1, forward, "rank 0 F mb0 [0,10) µs");
  check_colour(img, g.x_at_us(43), g.rank1_y + 1, forward, "rank 1 F mb1 [38,48) µs");
  check_colour(img, g.x_at_us(30), g.rank0_y + 1, palette::kBubble, "rank 0 bubble [20,40) µs");
  check_colour(img, g.x_at_us(6), g.rank1_y + 1, palette::kBubble, "rank 1 bubble [0,12) µs");
  check_colour(img, g.x_at_us(89), g.rank1_y + 1, palette::kBubble, "rank 1 bubble [84,94) µs");
  check_colour(img, g.x_at_us(48), g.rank0_y + 1, class_colour(ColourClass::BackwardInput), "rank 0 B mb0 [40,56) µs");
  check_colour(img, g.x_at_us(60), g.rank0_y + 1, class_colour(ColourClass::BackwardWeight), "rank 0 W mb0 [56,64) µs");
  check_colour(img, g.x_at_us(11), g.rank0_comm_y + 1, class_colour(ColourClass::Comm), "rank 0 send [10,12) µs");
  // Between the comm ops the comm track shows its background, not a bubble.
  const Rgba between = img.at(static_cast<int>(g.x_at_us(30)), static_cast<int>(g.rank0_comm_y + 1));
  CHECK_FALSE(near(between, palette::kBubble, 30));
}

TEST_CASE("png files round trip", "[viewer][png]") {
  Image img;
  img.width = 3;
  img.height = 2;
  img.rgba = {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 128};
  const std::string path = tmp_path("tandem_viewer_png_test.png");
  write_png(path, img);
  const Image back = read_png(path);
  CHECK(back.width == 3);
  CHECK(back.height == 2);
  CHECK(back.rgba == img.rgba);
  CHECK(back.at(2, 1) == Rgba{7, 8, 9, 128});
  CHECK_THROWS_AS(back.at(3, 0), std::out_of_range);
  std::remove(path.c_str());
  CHECK_THROWS_WITH(read_png("/nonexistent.png"), Catch::Contains("cannot read /nonexistent.png"));
  Image bad;
  CHECK_THROWS_WITH(write_png(path, bad), Catch::Contains("cannot write"));
}

TEST_CASE("tandem-view --screenshot writes a PNG of the timeline", "[viewer][headless][cli]") {
  const std::string out = tmp_path("tandem_view_cli_test.png");
  std::remove(out.c_str());
  const auto r = run_view("'" + kGolden + "' --screenshot " + out + " --width 1000 --height 400 --range 0:94");
  if (r.exit_code == 3) {
    WARN("SKIPPED (no headless OpenGL here): " << r.output);
    return;
  }
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("wrote " + out + " (1000x400"));
  const Image img = read_png(out);
  CHECK(img.width == 1000);
  CHECK(img.height == 400);
  const GoldenPlace g = golden_place(1000, 400);
  check_colour(img, g.x_at_us(5), g.rank0_y + 1, class_colour(ColourClass::Forward), "rank 0 F mb0");
  check_colour(img, g.x_at_us(30), g.rank0_y + 1, palette::kBubble, "rank 0 bubble");
  std::remove(out.c_str());
}

TEST_CASE("tandem-view reports bad traces and options clearly", "[viewer][cli][bad]") {
  const std::string bad = tmp_path("tandem_view_bad_trace.json");
  {
    FILE* f = std::fopen(bad.c_str(), "w");
    REQUIRE(f);
    std::fputs("{\"traceEvents\":[\n{\"ph\":\"X\",\"ts\":\"soon\",\"dur\":1}\n", f);
    std::fclose(f);
  }
  auto r = run_view("'" + bad + "' --summary");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("error: " + bad + ":2:16 (byte 32): event #0: field \"ts\": expected a number"));
  // Built by appending: GCC 12's -Wrestrict misfires on "'" + std::string(...) at -O3.
  std::string truncated = "'";
  truncated.append(TANDEM_TRACE_TEST_DATA).append("/bad_truncated.json' --summary");
  r = run_view(truncated);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("truncated"));
  r = run_view("'" + kGolden + "' --range 5 --summary");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("expected t0:t1"));
  r = run_view("/nonexistent.json");
  CHECK(r.exit_code == 2);
  // A screenshot that cannot be written is a bad option, found before the trace is read.
  r = run_view("'" + kGolden + "' --screenshot /nonexistent/dir/out.png");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("--screenshot /nonexistent/dir/out.png: cannot write this file"));
  r = run_view("'" + kGolden + "' --screenshot /tmp");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("it is a directory"));
  // Ranks and stages to show: a bad list, and a list with none of the trace's ranks (0 and 1).
  r = run_view("'" + kGolden + "' --ranks 1-x --summary");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("error: --ranks '1-x': expected ranks and ranges like 0,128-135"));
  r = run_view("'" + kGolden + "' --ranks 5,7 --stages 0 --summary");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("error: --ranks 5,7 --stages 0: expected ranks and stages of " + kGolden +
                                       ", found none of them there (its ranks 0..1, stages 0..1)"));
  CHECK(r.output.find("bubble") == std::string::npos);   // nothing printed before the refusal
  r = run_view("'" + kGolden + "' --stages 1 --summary");
  CHECK(r.exit_code == 0);
  r = run_view("'" + kGolden + "' --summary");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("bubble 23.4%") && Catch::Contains("exposed communication 0.0% (0.000 ms per rank"));
  std::remove(bad.c_str());
}

TEST_CASE("tandem-view A B --summary prints the difference table of tandem compare", "[viewer][cli][compare]") {
  // The golden trace against itself: every op lined up by identity, every error 0.
  const auto r = run_view("'" + kGolden + "' '" + kGolden + "' --summary");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("identity (rank, step, id): 22 ops matched, 0 only predicted, 0 only measured"));
  CHECK_THAT(r.output, Catch::Contains("step time") && Catch::Contains("(measured / predicted 1x)"));
  CHECK_THAT(r.output, !Catch::Contains("n/a"));
  // A trace of one GPU against the golden trace's two ranks: identity matching refuses, nothing printed.
  const std::string one = tmp_path("tandem_view_one_gpu.json");
  {
    FILE* f = std::fopen(one.c_str(), "w");
    REQUIRE(f);
    std::fputs(R"({"traceEvents":[{"ph":"X","name":"L0.F mb0","pid":0,"tid":0,"ts":0,"dur":1,"args":{"op":"gemm","id":0}}],)"
               R"("metadata":{"source":"cpu","gpus":"1"}})",
               f);
    std::fclose(f);
  }
  const auto refused = run_view("'" + kGolden + "' '" + one + "' --summary");
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Catch::Contains("at metadata.gpus: expected the world of 2 GPUs"));
  CHECK_THAT(refused.output, !Catch::Contains("step time"));
  std::remove(one.c_str());
}
