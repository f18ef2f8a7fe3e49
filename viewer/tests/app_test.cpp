// ViewerApp interaction tests through ImGui without a renderer: mouse input is fed frame by frame
// (hover, press, release), and the resulting view range, selection, folding and search checked.
#include <catch2/catch.hpp>

#include <imgui.h>

#include <cmath>

#include "viewer/app.h"

using namespace tandem;
using namespace tandem::viewer;

namespace {

constexpr float kW = 1200, kH = 500;

// An ImGui context able to build frames without a GPU (the font atlas is built on the CPU).
struct CpuImGui {
  CpuImGui() {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(kW, kH);
    io.DeltaTime = 1.0f / 60.0f;
    io.BackendFlags |= ImGuiBackendFlags_RendererHasVtxOffset;
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  }
  ~CpuImGui() { ImGui::DestroyContext(); }
  void frame(ViewerApp& app) {
    ImGui::NewFrame();
    app.draw(kW, kH);
    ImGui::Render();
    ImGuiIO& io = ImGui::GetIO();
    io.MouseWheel = 0;
  }
  void mouse(float x, float y, bool down) {
    ImGui::GetIO().MousePos = ImVec2(x, y);
    ImGui::GetIO().MouseDown[0] = down;
  }
};

ViewerApp golden_app() {
  std::vector<LoadedTrace> v;
  v.push_back(load_trace_file(std::string(TANDEM_TRACE_TEST_DATA) + "/golden_2x2.json"));
  ViewerApp app(make_view_model(std::move(v)));
  app.set_range({0, 94000});
  return app;
}

}  // namespace

TEST_CASE("app: click selects the op under the cursor, click on a stage header folds it", "[viewer][app]") {
  CpuImGui gui;
  ViewerApp app = golden_app();
  gui.frame(app);
  const FrameParams p = app.last_params();
  const float x = float(px_at_time(p.range, p.canvas_x0, p.canvas_x1, 5000));   // inside F mb0 [0,10) µs
  const float y = p.canvas_y0 + 20 + 2 + 8;                                     // rank 0 compute lane
  gui.mouse(x, y, false);
  gui.frame(app);
  gui.mouse(x, y, true);
  gui.frame(app);
  gui.mouse(x, y, false);
  gui.frame(app);
  const auto& tl = app.model().traces[0].tl;
  REQUIRE(app.selection().event >= 0);
  CHECK(tl.name_of(tl.events[size_t(app.selection().event)]) == "L0.F mb0");
  // Clicking the stage 0 header (first row) folds its two tracks away.
  REQUIRE(app.layout().rows.size() == 6);
  gui.mouse(x, p.canvas_y0 + 10, false);
  gui.frame(app);
  gui.mouse(x, p.canvas_y0 + 10, true);
  gui.frame(app);
  gui.mouse(x, p.canvas_y0 + 10, false);
  gui.frame(app);
  CHECK(app.layout().rows.size() == 4);
}

TEST_CASE("app: wheel zooms at the cursor, drag pans, D pans", "[viewer][app]") {
  CpuImGui gui;
  ViewerApp app = golden_app();
  gui.frame(app);
  const FrameParams p = app.last_params();
  // ImGui floors mouse positions, so the anchor is the time at the whole pixel.
  const float x = std::floor(float(px_at_time(p.range, p.canvas_x0, p.canvas_x1, 47000)));
  const double anchor = time_at_px(p.range, p.canvas_x0, p.canvas_x1, x);
  const float y = p.canvas_y0 + 30;
  gui.mouse(x, y, false);
  gui.frame(app);
  ImGui::GetIO().MouseWheel = 2;   // two notches: 1.25^2 = 1.5625x
  gui.frame(app);
  ViewRange r = app.range();
  CHECK(r.span() == Approx(94000 / 1.5625));
  CHECK(time_at_px(r, p.canvas_x0, p.canvas_x1, x) == Approx(anchor));
  // Drag 100 px to the right: earlier times by 100 / canvas width of the span.
  const double before_t0 = r.t0_ns, span = r.span();
  gui.mouse(x, y, true);
  gui.frame(app);
  for (int i = 1; i <= 10; ++i) {
    gui.mouse(x + 10.0f * float(i), y, true);
    gui.frame(app);
  }
  gui.mouse(x + 100, y, false);
  gui.frame(app);
  r = app.range();
  CHECK(r.t0_ns == Approx(before_t0 - 100.0 / (p.canvas_x1 - p.canvas_x0) * span));
  CHECK(app.selection().event < 0);   // a drag is not a click
  // D held for one 0.1 s frame pans by half the span per second: 5% of the span.
  const double t0 = r.t0_ns;
  ImGui::GetIO().KeysDown['D'] = true;
  ImGui::GetIO().DeltaTime = 0.1f;
  gui.frame(app);
  ImGui::GetIO().KeysDown['D'] = false;
  CHECK(app.range().t0_ns == Approx(t0 + 0.05 * span));
}

TEST_CASE("app: search counts matching ops and jumps to the next one", "[viewer][app]") {
  CpuImGui gui;
  ViewerApp app = golden_app();
  gui.frame(app);
  // Names with "mb1": F, B, W on both ranks (6), two sends and two receives (4).
  app.set_search("MB1");
  CHECK(app.search_hits() == 10);
  // From the view centre (47 µs) the next match by start time is rank 1's "L1.B mb1" at 48 µs.
  app.find_next_match();
  const auto& tl = app.model().traces[0].tl;
  REQUIRE(app.selection().event >= 0);
  CHECK(tl.name_of(tl.events[size_t(app.selection().event)]) == "L1.B mb1");
  gui.frame(app);
  CHECK((app.range().t0_ns + app.range().t1_ns) / 2 == Approx(48000 + 8000));   // centred on [48, 64) µs
  app.set_search("");
  CHECK(app.search_hits() == 0);
}

TEST_CASE("app: typing in the search box and pressing Enter jumps to a match", "[viewer][app]") {
  CpuImGui gui;
  ImGuiIO& io = ImGui::GetIO();
  io.KeyMap[ImGuiKey_Enter] = 257;   // any free index, as a backend maps it
  ViewerApp app = golden_app();
  gui.frame(app);
  // Click into the search field (top left of the toolbar) and type.
  gui.mouse(20, 14, false);
  gui.frame(app);
  gui.mouse(20, 14, true);
  gui.frame(app);
  gui.mouse(20, 14, false);
  gui.frame(app);
  io.AddInputCharactersUTF8("L1.W");
  gui.frame(app);
  CHECK(app.search_hits() == 2);   // L1.W mb0, L1.W mb1
  io.KeysDown[257] = true;
  gui.frame(app);
  io.KeysDown[257] = false;
  gui.frame(app);
  // The view centre is 47 µs: the next "L1.W" op is L1.W mb0 at 64 µs.
  const auto& tl = app.model().traces[0].tl;
  REQUIRE(app.selection().event >= 0);
  CHECK(tl.name_of(tl.events[size_t(app.selection().event)]) == "L1.W mb0");
}
