// Vertical layout of the timeline: per trace (compare mode stacks two), pipeline-stage groups with
// a header each, and inside them one row per rank and stream, as tall as the track's lanes.
// Pure: rows and their y offsets for a model, the collapsed groups and the ranks and stages chosen.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "viewer/model.h"

namespace tandem::viewer {

enum class RowKind : uint8_t { TraceHeader, StageHeader, Track };

struct Row {
  RowKind kind = RowKind::Track;
  int trace = 0;
  int32_t stage = -1;
  int64_t track = -1;                // index into the trace's TrackIndex (Track rows)
  float y = 0.0f;                    // top, in layout space (0 = first row)
  float h = 0.0f;
  std::string label;
  double bubble_share = -1.0;        // compute tracks and stage headers; -1 when none
};

struct LayoutOptions {
  float lane_h = 18.0f;
  float track_pad = 2.0f;            // above and below the lanes of a track
  float header_h = 20.0f;
  std::set<std::pair<int, int32_t>> collapsed;   // (trace, stage) groups shown as their header only
  std::set<int32_t> ranks;           // ranks (process ids) shown; empty: every rank
  std::set<int32_t> stages;          // pipeline stages shown; empty: every stage
};

struct Layout {
  std::vector<Row> rows;
  float total_h = 0.0f;
  float lane_h = 18.0f;
  float track_pad = 2.0f;
  std::vector<std::vector<int64_t>> row_of_track;   // [trace][track] -> row index, -1 when collapsed or left out
  std::vector<size_t> tracks_kept;   // per trace: tracks of the chosen ranks and stages (folded ones too)

  // Index of the first row whose bottom is below `y` (layout space).
  size_t first_row_at_or_below(float y) const;
  // The row containing `y`, or -1.
  int64_t row_at(float y) const;
};

Layout build_layout(const ViewModel& m, const LayoutOptions& opt);

// "rank 3 · compute": the process name (or "rank N") and the thread name (or the track role).
std::string track_label(const LoadedTrace& t, const trace::Track& track);

}  // namespace tandem::viewer
