// Loading traces for the viewer: read, index, analyse, each step timed.
#include "viewer/model.h"

#include <algorithm>
#include <chrono>

#include "io/input_error.h"

namespace tandem::viewer {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

LoadedTrace make_loaded_trace(std::string name, trace::Timeline tl) {
  LoadedTrace lt;
  lt.path = std::move(name);
  lt.tl = std::move(tl);
  auto t0 = std::chrono::steady_clock::now();
  lt.idx = trace::build_track_index(lt.tl);
  lt.index_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  lt.summary = trace::summarize(lt.tl, lt.idx);
  lt.analysis_s = seconds_since(t0);
  lt.origin_ns = lt.summary.step.start_ns;
  lt.bubbles_of_track.assign(lt.idx.tracks.size(), -1);
  for (size_t i = 0; i < lt.summary.bubbles.size(); ++i)
    lt.bubbles_of_track[lt.summary.bubbles[i].track] = static_cast<int32_t>(i);
  return lt;
}

LoadedTrace load_trace_file(const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  trace::ReadStats stats;
  trace::Timeline tl = trace::read_trace(path, &stats);
  const double read_s = seconds_since(t0);
  LoadedTrace lt = make_loaded_trace(path, std::move(tl));
  lt.stats = stats;
  lt.read_s = read_s;
  return lt;
}

double ViewModel::end_ns() const {
  double end = 0;
  for (const auto& t : traces) end = std::max(end, static_cast<double>(t.summary.step_ns) * t.time_scale);
  return end;
}

void set_own_time_axes(ViewModel& m, bool own) {
  for (auto& t : m.traces) {
    const double first = double(m.traces.front().summary.step_ns), step = double(t.summary.step_ns);
    t.time_scale = own && first > 0 && step > 0 ? first / step : 1.0;
  }
}

ViewModel make_view_model(std::vector<LoadedTrace> traces) {
  ViewModel m;
  m.traces = std::move(traces);
  if (m.traces.size() == 2) {
    try {
      m.comparison = trace::compare_timelines(m.traces[0].tl, m.traces[0].path, m.traces[1].tl, m.traces[1].path);
    } catch (const io::InputError& e) {
      m.comparison_error = e.what();
    }
  }
  return m;
}

}  // namespace tandem::viewer
