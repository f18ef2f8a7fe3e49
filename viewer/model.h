// What the viewer holds for each opened trace: the Timeline, its track index, the summary (trace/'s
// measures: bubble, exposed communication, overlap; idle gaps, SM split) and load timings; in compare mode the
// comparison of the two traces (trace/compare.h, as `tandem compare` prints it).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "trace/analysis.h"
#include "trace/compare.h"
#include "trace/measures.h"
#include "trace/timeline.h"
#include "trace/trace_reader.h"
#include "trace/track_index.h"

namespace tandem::viewer {

// Where a trace's times sit on screen: screen time = (t - origin_ns) * time_scale.
struct TraceAxis {
  int64_t origin_ns = 0;
  double time_scale = 1.0;
};

struct LoadedTrace {
  std::string path;                  // or a name for timelines built in memory
  trace::Timeline tl;
  trace::TrackIndex idx;
  trace::Summary summary;
  std::vector<int32_t> bubbles_of_track;   // per track: index into summary.bubbles, or -1
  int64_t origin_ns = 0;             // the step's start: time 0 on screen
  // Screen ns per ns of this trace: 1, or with own time axes (compare mode) the first trace's step
  // over this one's, so both steps span the same width whatever their lengths.
  double time_scale = 1.0;
  TraceAxis axis() const { return {origin_ns, time_scale}; }
  trace::ReadStats stats;
  double read_s = 0, index_s = 0, analysis_s = 0;
};

// Indexes and analyses a timeline already in memory.
LoadedTrace make_loaded_trace(std::string name, trace::Timeline tl);
// Reads, indexes and analyses a trace file (throws trace::TraceError on bad input).
LoadedTrace load_trace_file(const std::string& path);

struct ViewModel {
  std::vector<LoadedTrace> traces;           // one, or two in compare mode (A above B)
  // Compare mode: `tandem compare` of A (predicted) and B (measured), or why they cannot be compared.
  std::optional<trace::Comparison> comparison;
  std::string comparison_error;
  double end_ns() const;                     // longest step on screen among the traces
};

// Compare mode: each trace on its own time axis, aligned at its step start and stretched to the first
// trace's step (`own`), or all on one axis (time_scale 1). The ruler reads the first trace's time.
void set_own_time_axes(ViewModel& m, bool own);

ViewModel make_view_model(std::vector<LoadedTrace> traces);

}  // namespace tandem::viewer
