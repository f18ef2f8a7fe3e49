// One frame of the timeline as plain geometry: which rectangles, texts and lines go where, in which
// colour, for a view range, a canvas and a scroll position. Only rows on screen are visited; in each
// lane, ops narrower than a pixel merge into blocks drawn as the mix of what they cover (stacked bands
// per colour class), and a pixel column holding many ops is skipped by binary search after a few
// samples, so the work per lane is bounded by its width in pixels.
// Pure (no ImGui, no GL): the UI draws this, the tests inspect it, the benchmark times it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "viewer/colours.h"
#include "viewer/layout.h"
#include "viewer/model.h"
#include "viewer/view.h"

namespace tandem::viewer {

enum class RectKind : uint8_t { Background, Header, Ruler, Bubble, Op, Merged, Selection, Tick };

struct DrawRect {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  uint32_t rgba = 0;
  RectKind kind = RectKind::Background;
  int8_t trace = -1;
  uint32_t event = 0;                // Op: the event; Merged: the first event of the block
  uint32_t count = 0;                // Merged: ops in the block (each of its bands says the same)
};

struct DrawText {
  float x = 0, y = 0;
  float clip_x0 = 0, clip_x1 = 0;    // horizontal clip
  uint32_t rgba = 0;
  std::string text;
};

struct DrawLine {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  uint32_t rgba = 0;
};

// Search: per trace, per string id of its Timeline, whether the name matches (empty: no search).
struct SearchState {
  bool active = false;
  std::vector<std::vector<uint8_t>> name_match;
};

struct Selection {
  int trace = -1;
  int64_t event = -1;
  bool operator==(const Selection&) const = default;
};

struct FlowLink {
  int trace = 0;
  uint32_t from_event = 0, to_event = 0;
};

struct FrameParams {
  ViewRange range;                   // ns relative to each trace's origin
  float label_x0 = 0;                // label column: [label_x0, canvas_x0)
  float canvas_x0 = 200, canvas_x1 = 1000;   // time axis
  float ruler_y0 = 0;                // ruler: [ruler_y0, canvas_y0)
  float canvas_y0 = 24, canvas_y1 = 600;     // rows
  float scroll_y = 0;                // layout y shown at canvas_y0
  float min_px = 1.0f;               // ops narrower than this merge
  float merge_px = 4.0f;             // a merged block's mix is taken again every this many pixels
  int lod_samples = 8;               // ops examined per pixel column before skipping the rest
  float font_px = 13.0f;
  float min_label_px = 40.0f;        // ops at least this wide show their name
  const SearchState* search = nullptr;
  Selection selected;
  std::vector<FlowLink> flows;       // lines from each send to its receive
};

struct FrameGeometry {
  std::vector<DrawRect> rects;       // in draw order
  std::vector<DrawText> texts;
  std::vector<DrawLine> lines;
  size_t rows_drawn = 0;
  size_t events_visited = 0;         // lane events looked at (the LOD work)
  size_t ops_drawn = 0, merged_drawn = 0, bubbles_drawn = 0;
};

FrameGeometry build_frame(const ViewModel& m, const Layout& L, const FrameParams& p);

struct Hit {
  enum class Kind : uint8_t { None, Op, Bubble, StageHeader, TraceHeader } kind = Kind::None;
  int trace = -1;
  int64_t event = -1;                // Op
  uint32_t ops_in_pixel = 0;         // Op: ops starting within the pixel under the cursor
  trace::Interval gap;               // Bubble (absolute ns)
  int64_t row = -1;
  int32_t stage = -1;                // StageHeader
};
// What is under (x, y): an op (within two pixels), a bubble, or a header row.
Hit hit_test(const ViewModel& m, const Layout& L, const FrameParams& p, float x, float y);

// The rectangle an event occupies on screen (unclipped), false when its row is collapsed.
bool event_rect(const ViewModel& m, const Layout& L, const FrameParams& p, int trace, uint32_t event,
                DrawRect& out);

}  // namespace tandem::viewer
