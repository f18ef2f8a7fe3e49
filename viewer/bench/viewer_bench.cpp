// viewer_bench: load time (read, index, analysis) and per-frame CPU time of the viewer for a trace
// file: layout + level-of-detail geometry (build_frame) for several views, and the whole ImGui
// frame (UI + draw lists, no GPU). Optionally a dense single-lane timeline built in memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <imgui.h>

#include "io/standard_output.h"
#include "viewer/app.h"
#include "viewer/frame.h"
#include "viewer/layout.h"
#include "viewer/model.h"

using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

struct Stats {
  double mean = 0, max = 0;
  size_t visited = 0, rects = 0;
};

Stats time_frames(const viewer::ViewModel& m, const viewer::Layout& L, viewer::FrameParams p, int frames,
                  double pan_per_frame) {
  Stats s;
  double total = 0;
  for (int i = 0; i < frames; ++i) {
    const auto t0 = Clock::now();
    const viewer::FrameGeometry g = viewer::build_frame(m, L, p);
    const double dt = ms_since(t0);
    total += dt;
    s.max = std::max(s.max, dt);
    s.visited = g.events_visited;
    s.rects = g.rects.size();
    const double shift = p.range.span() * pan_per_frame;
    p.range = {p.range.t0_ns + shift, p.range.t1_ns + shift};
  }
  s.mean = total / frames;
  return s;
}

void frame_report(const viewer::ViewModel& m, int width, int height, int frames) {
  const auto t0 = Clock::now();
  const viewer::Layout L = viewer::build_layout(m, {});
  fmt::print("layout: {} rows, {:.0f} px tall, built in {:.2f} ms\n", L.rows.size(), L.total_h, ms_since(t0));
  const viewer::UiRegions ui = viewer::ui_regions(float(width), float(height));
  const double end = m.end_ns();
  struct View {
    const char* name;
    double t0, t1;
    float scroll;
    double pan;
  };
  const float mid_scroll = std::max(0.0f, L.total_h / 2);
  const std::vector<View> views = {
      {"whole step, top rows", 0, end, 0, 0},
      {"whole step, middle rows", 0, end, mid_scroll, 0},
      {"10% of the step", end * 0.45, end * 0.55, mid_scroll, 0},
      {"0.1% of the step", end * 0.4995, end * 0.5005, mid_scroll, 0},
      {"panning 1%/frame over 10%", end * 0.3, end * 0.4, mid_scroll, 0.01},
  };
  fmt::print("build_frame at {}x{} (canvas {:.0f} px wide), {} frames each:\n", width, height,
             ui.frame.canvas_x1 - ui.frame.canvas_x0, frames);
  for (const View& v : views) {
    viewer::FrameParams p = ui.frame;
    p.range = {v.t0, v.t1};
    p.scroll_y = v.scroll;
    const Stats s = time_frames(m, L, p, frames, v.pan);
    fmt::print("  {:<28} mean {:7.3f} ms  max {:7.3f} ms  ({} lane events visited, {} rects)\n", v.name, s.mean, s.max,
               s.visited, s.rects);
  }
}

void imgui_report(viewer::ViewModel m, int width, int height, int frames) {
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;
  io.DisplaySize = ImVec2(float(width), float(height));
  io.DeltaTime = 1.0f / 60.0f;
  io.BackendFlags |= ImGuiBackendFlags_RendererHasVtxOffset;   // as the OpenGL 3 renderer sets it
  unsigned char* pixels = nullptr;
  int w = 0, h = 0;
  io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
  viewer::ViewerApp app(std::move(m));
  double total = 0, worst = 0;
  size_t vertices = 0;
  for (int i = 0; i < frames + 2; ++i) {
    const auto t0 = Clock::now();
    ImGui::NewFrame();
    app.draw(float(width), float(height));
    ImGui::Render();
    const double dt = ms_since(t0);
    if (i >= 2) {   // the first frames settle ImGui's layout
      total += dt;
      worst = std::max(worst, dt);
    }
    vertices = size_t(ImGui::GetDrawData()->TotalVtxCount);
  }
  fmt::print("ImGui frame (UI + draw lists, no GPU), whole step: mean {:.3f} ms  max {:.3f} ms  ({} vertices)\n",
             total / frames, worst, vertices);
  ImGui::DestroyContext();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"viewer_bench: load and frame CPU times of tandem-view for a trace", "viewer_bench"};
  std::string path;
  int width = 1920, height = 1080, frames = 30;
  int64_t dense = 0;
  cli.add_option("trace", path, "trace file (e.g. from tandem-gen-trace)");
  cli.add_option("--width", width, "window width");
  cli.add_option("--height", height, "window height");
  cli.add_option("--frames", frames, "frames per measurement")->check(CLI::Range(1, 100000));
  cli.add_option("--dense", dense, "also time one lane of this many 1 µs ops built in memory");
  CLI11_PARSE(cli, argc, argv);
  if (!path.empty()) {
    viewer::LoadedTrace t;
    const auto t0 = Clock::now();
    try {
      t = viewer::load_trace_file(path);
    } catch (const std::exception& e) {
      fmt::print(stderr, "error: {}\n", e.what());
      return 2;
    }
    const double total = ms_since(t0) / 1e3;
    fmt::print("{}: {:.1f} MB, {} events, {} flows, {} tracks, {} ranks\n", path, double(t.stats.bytes) / 1e6,
               t.tl.events.size(), t.tl.flows.size(), t.idx.tracks.size(), t.idx.ranks.size());
    fmt::print("load: {:.2f} s total = read {:.2f} s ({:.0f} MB/s) + index {:.2f} s + analysis {:.2f} s; peak RSS {:.0f} MB\n",
               total, t.read_s, double(t.stats.bytes) / 1e6 / t.read_s, t.index_s, t.analysis_s, peak_rss_mb());
    std::vector<viewer::LoadedTrace> v;
    v.push_back(std::move(t));
    viewer::ViewModel m = viewer::make_view_model(std::move(v));
    frame_report(m, width, height, frames);
    imgui_report(std::move(m), width, height, frames);
  }
  if (dense > 0) {
    trace::Timeline tl;
    for (int64_t i = 0; i < dense; ++i) tl.add_event("op", 0, 0, i * 1100, 1000, "gemm").phase = 'F';
    std::vector<viewer::LoadedTrace> v;
    v.push_back(viewer::make_loaded_trace("dense", std::move(tl)));
    const viewer::ViewModel m = viewer::make_view_model(std::move(v));
    fmt::print("dense lane of {} ops:\n", dense);
    frame_report(m, width, height, frames);
  }
  return io::finish_standard_output(0);   // the report reached stdout, or exit code 1
}
