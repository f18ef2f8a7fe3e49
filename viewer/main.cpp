// tandem-view: opens one trace (or two, stacked for comparison) in a window, or with --screenshot
// renders one frame headless (EGL) into a PNG. Exit codes: 0 ok, 1 failure (an output that could not
// be written, standard output included), 2 bad input, 3 no headless rendering.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <GLFW/glfw3.h>
#include <fmt/core.h>
#include <imgui.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>

#include "trace/compare_report.h"
#include "io/option_values.h"
#include "io/rank_list.h"
#include "io/standard_output.h"
#include "viewer/app.h"
#include "viewer/headless.h"

using namespace tandem;

namespace {

int run_window(viewer::ViewerApp& app, int width, int height) {
  glfwSetErrorCallback([](int code, const char* what) { fmt::print(stderr, "glfw error {}: {}\n", code, what); });
  if (!glfwInit()) {
    fmt::print(stderr, "error: cannot open a window (no display?); use --screenshot out.png to render headless\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  GLFWwindow* window = glfwCreateWindow(width, height, "tandem-view", nullptr, nullptr);
  if (!window) {
    glfwTerminate();
    fmt::print(stderr, "error: cannot create an OpenGL 3.3 window; use --screenshot out.png to render headless\n");
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(1);
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;
  ImGui::StyleColorsDark();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");
  while (!glfwWindowShouldClose(window)) {
    glfwPollEvents();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    const ImVec2 size = ImGui::GetIO().DisplaySize;
    app.draw(size.x, size.y);
    ImGui::Render();
    int fb_w = 0, fb_h = 0;
    glfwGetFramebufferSize(window, &fb_w, &fb_h);
    glViewport(0, 0, fb_w, fb_h);
    const auto bg = viewer::palette::kBackground;
    glClearColor(bg.r / 255.0f, bg.g / 255.0f, bg.b / 255.0f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    glfwSwapBuffers(window);
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return 0;
}

void print_summary(const viewer::LoadedTrace& t) {
  const auto& s = t.summary;
  fmt::print("{}: {} events, {} ranks, step {:.3f} ms (read {:.2f} s, index {:.2f} s, analysis {:.2f} s)\n", t.path,
             s.events, s.ranks, double(s.step_ns) / 1e6, t.read_s, t.index_s, t.analysis_s);
  // The measures of docs/timeline.md, means over ranks: the numbers `tandem simulate` reports.
  const auto& m = s.mean;
  const auto wait_ms = [&](trace::GapCause c) { return m.wait_ns[size_t(c)] / 1e6; };
  fmt::print("  bubble {:.1f}% ({:.3f} ms per rank: pipeline wait {:.3f}, issue gaps {:.3f}, tail {:.3f})\n",
             s.bubble_share * 100, m.bubble_ns / 1e6, wait_ms(trace::GapCause::Pipeline), wait_ms(trace::GapCause::None),
             m.tail_ns / 1e6);
  fmt::print("  bubble by stage:");
  for (const auto& st : s.stages) fmt::print(" {} {:.1f}%", st.stage, st.bubble_share * 100);
  fmt::print("\n  exposed communication {:.1f}% ({:.3f} ms per rank: all-to-all {:.3f}, collectives {:.3f}; worst rank "
             "{:.3f} ms)\n",
             s.exposed_comm_share * 100, m.exposed_comm_ns / 1e6, wait_ms(trace::GapCause::AllToAll),
             wait_ms(trace::GapCause::Collective), double(s.exposed_comm_max_ns) / 1e6);
  fmt::print("  phases (ms per rank): forward {:.3f}  backward-input {:.3f}  backward-weight {:.3f}  optimizer {:.3f}  "
             "other {:.3f}\n",
             m.forward_ns / 1e6, m.backward_input_ns / 1e6, m.backward_weight_ns / 1e6, m.optimizer_ns / 1e6,
             m.other_compute_ns / 1e6);
  fmt::print("  communication {:.3f} ms per rank, {:.1f}% of it under compute\n", m.comm_ns / 1e6,
             m.overlap_share() * 100);
  if (s.sm.present) fmt::print("  SM time in communication kernels: {:.1f}%\n", s.sm.comm_share() * 100);
}

int run_viewer(int argc, char** argv) {
  CLI::App cli{"tandem-view: timelines of pipeline bubbles and overlap; two traces are stacked for comparison\n"
               "(simulated over measured). Reads this project's traces and PyTorch-profiler (Kineto) traces.",
               "tandem-view"};
  std::vector<std::string> paths;
  std::string screenshot, range_text, ranks_text, stages_text;
  int width = 1600, height = 900;
  bool summary = false, own_axes = false;
  cli.add_option("traces", paths, "TRACE [TRACE2]: one trace, or two to compare (A above B)")
      ->required()
      ->expected(1, 2)
      ->check(CLI::ExistingFile);
  cli.add_option("--screenshot", screenshot, "render one frame headless (EGL) into this PNG and exit");
  cli.add_option("--width", width, "window or screenshot width in pixels")->check(CLI::Range(64, 16384));
  cli.add_option("--height", height, "window or screenshot height in pixels")->check(CLI::Range(64, 16384));
  cli.add_option("--range", range_text, "visible time t0:t1 from the step start, in µs (or with ns/us/ms/s)");
  cli.add_flag("--own-axes", own_axes,
               "compare mode: each trace on its own time axis from its step start, the second stretched to the first "
               "one's step (the ruler reads the first's time)");
  cli.add_option("--ranks", ranks_text, "show only these ranks: 'all' or a list like 0,4-7 (the toolbar can change it)");
  cli.add_option("--stages", stages_text, "show only these pipeline stages: 'all' or a list like 0,15");
  cli.add_flag("--summary", summary,
               "print each trace's summary (step, bubbles, exposed communication) and, for two, the difference table "
               "of tandem compare");
  io::refuse_empty_values(cli);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);   // --help
    fmt::print(stderr, "error: {}\n", e.what());      // one line: the option, what was expected and found
    return 2;
  }
  // The PNG's place is checked before a trace of gigabytes is read for it.
  if (!screenshot.empty()) {
    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(screenshot).parent_path();
    std::string why;
    if (std::filesystem::is_directory(screenshot, ec)) why = "it is a directory";
    else if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) why = "the directory " + parent.string() + " does not exist";
    if (!why.empty()) {
      fmt::print(stderr, "error: --screenshot {}: cannot write this file: {}\n", screenshot, why);
      return 2;
    }
  }
  viewer::ViewRange range;
  std::string range_error;
  if (!range_text.empty() && !viewer::parse_range(range_text, range, &range_error)) {
    fmt::print(stderr, "error: {}\n", range_error);
    return 2;
  }
  std::set<int32_t> shown_ranks, shown_stages;
  try {
    for (auto [text, option, out] : {std::tuple{&ranks_text, "--ranks", &shown_ranks},
                                     std::tuple{&stages_text, "--stages", &shown_stages}})
      if (!text->empty() && *text != "all")
        for (int64_t v : io::parse_rank_list(*text, 0, option)) out->insert(static_cast<int32_t>(v));
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  std::vector<viewer::LoadedTrace> traces;
  try {
    for (const auto& p : paths) traces.push_back(viewer::load_trace_file(p));
  } catch (const trace::TraceError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  // The view model holds each trace's summary and, for two, their comparison (tandem compare's).
  viewer::ViewModel model = viewer::make_view_model(std::move(traces));
  viewer::ViewerApp app(std::move(model));
  if (!shown_ranks.empty() || !shown_stages.empty()) {
    app.set_shown(shown_ranks, shown_stages);
    // A choice that leaves a trace without a row is a mistake about that trace, said before any output.
    for (size_t ti = 0; ti < app.model().traces.size(); ++ti) {
      if (app.layout().tracks_kept[ti] > 0) continue;
      const auto& t = app.model().traces[ti];
      std::set<int32_t> ranks, stages;
      for (const auto& tr : t.idx.tracks) ranks.insert(tr.pid), stages.insert(t.idx.stage_of(tr.pid));
      std::string chosen;
      if (!ranks_text.empty()) chosen += "--ranks " + ranks_text;
      if (!stages_text.empty()) chosen += (chosen.empty() ? "" : " ") + std::string("--stages ") + stages_text;
      const std::string has = ranks.empty() ? std::string("it has no tracks")
                                            : fmt::format("its ranks {}..{}, stages {}..{}", *ranks.begin(),
                                                          *ranks.rbegin(), *stages.begin(), *stages.rbegin());
      fmt::print(stderr, "error: {}: expected ranks and stages of {}, found none of them there ({})\n", chosen, t.path,
                 has);
      return 2;
    }
  }
  if (summary) {
    if (app.model().traces.size() == 2 && !app.model().comparison) {
      fmt::print(stderr, "error: {}\n", app.model().comparison_error);
      return 2;
    }
    for (const auto& t : app.model().traces) print_summary(t);
    if (app.model().comparison) fmt::print("\n{}", trace::to_table(*app.model().comparison));
  }
  if (own_axes) app.set_own_time_axes(true);
  if (!range_text.empty()) app.set_range(range);
  if (screenshot.empty()) return summary ? 0 : run_window(app, width, height);
  try {
    const viewer::Screenshot shot = viewer::render_screenshot(app, width, height);
    viewer::write_png(screenshot, shot.image);
    fmt::print("wrote {} ({}x{}, {})\n", screenshot, width, height, shot.renderer);
  } catch (const viewer::HeadlessError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);   // a file size limit is a write error reported with exit 1, not a kill
  return io::finish_standard_output(run_viewer(argc, argv));
}
