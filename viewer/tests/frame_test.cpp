// Layout and frame geometry tests without a GPU: row placement of the golden timeline, where its
// ops and bubbles land in pixels (worked out by hand), level of detail on dense lanes, search
// dimming, selection, hit testing, folded stages and compare mode.
#include <catch2/catch.hpp>

#include <algorithm>

#include "trace/trace_reader.h"
#include "viewer/frame.h"
#include "viewer/layout.h"

using namespace tandem;
using namespace tandem::viewer;

namespace {

ViewModel golden_model() {
  std::vector<LoadedTrace> v;
  v.push_back(make_loaded_trace("golden", trace::read_trace(std::string(TANDEM_TRACE_TEST_DATA) + "/golden_2x2.json")));
  return make_view_model(std::move(v));
}

// Canvas 940 px wide from x = 200 showing [0, 94] µs: 10 px per µs. Rows start at y = 50.
FrameParams golden_params() {
  FrameParams p;
  p.label_x0 = 0;
  p.canvas_x0 = 200;
  p.canvas_x1 = 1140;
  p.ruler_y0 = 28;
  p.canvas_y0 = 50;
  p.canvas_y1 = 400;
  p.range = {0, 94000};
  return p;
}

const DrawRect* op_rect(const FrameGeometry& g, const trace::Timeline& tl, std::string_view name) {
  for (const auto& r : g.rects)
    if (r.kind == RectKind::Op && tl.name_of(tl.events[r.event]) == name) return &r;
  return nullptr;
}

ViewModel dense_model(const std::vector<std::pair<int64_t, int64_t>>& ops) {
  trace::Timeline tl;
  for (const auto& [s, d] : ops) tl.add_event("op", 0, 0, s, d, "gemm").phase = 'F';
  std::vector<LoadedTrace> v;
  v.push_back(make_loaded_trace("dense", std::move(tl)));
  return make_view_model(std::move(v));
}

}  // namespace

TEST_CASE("layout of the golden timeline: stage headers and one row per rank and stream", "[viewer][layout]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  // stage 0 header, rank 0 compute, rank 0 comm, stage 1 header, rank 1 compute, rank 1 comm.
  REQUIRE(L.rows.size() == 6);
  CHECK(L.rows[0].kind == RowKind::StageHeader);
  CHECK(L.rows[0].label == "- stage 0 · 1 rank");
  CHECK(L.rows[0].bubble_share == Approx(22.0 / 94.0));
  CHECK(L.rows[1].label == "rank 0 · compute");
  CHECK(L.rows[1].bubble_share == Approx(22.0 / 94.0));
  CHECK(L.rows[2].bubble_share < 0);   // communication tracks have no bubbles
  // Header 20 px, a one-lane track 2 + 18 + 2 = 22 px: y = 0, 20, 42, 64, 84, 106; total 128.
  CHECK(L.rows[1].y == 20);
  CHECK(L.rows[3].y == 64);
  CHECK(L.rows[5].y == 106);
  CHECK(L.total_h == 128);
  CHECK(L.row_of_track[0][2] == 4);    // track 2 is rank 1 compute
  CHECK(L.row_at(63.5f) == 2);
  CHECK(L.row_at(500) == -1);

  LayoutOptions folded;
  folded.collapsed.insert({0, 0});
  const Layout F = build_layout(m, folded);
  REQUIRE(F.rows.size() == 4);
  CHECK(F.rows[0].label == "+ stage 0 · 1 rank");
  CHECK(F.row_of_track[0][0] == -1);
  CHECK(F.row_of_track[0][2] == 2);
}

TEST_CASE("golden frame: ops and bubbles at their hand-computed pixels", "[viewer][frame]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  const FrameParams p = golden_params();
  const FrameGeometry g = build_frame(m, L, p);
  const auto& tl = m.traces[0].tl;
  // Rank 0 compute lane: row y 20 + pad 2 + canvas top 50 = 72, lane height 18 (drawn 17).
  const DrawRect* f0 = op_rect(g, tl, "L0.F mb0");   // [0, 10) µs -> x 200..300
  REQUIRE(f0);
  CHECK(f0->x0 == Approx(200));
  CHECK(f0->x1 == Approx(299));                     // ops 4 px and wider end a pixel early
  CHECK(f0->y0 == Approx(72));
  CHECK(f0->y1 == Approx(89));
  CHECK(f0->rgba == class_colour(ColourClass::Forward).packed());
  const DrawRect* b1 = op_rect(g, tl, "L1.B mb0");   // rank 1 [22, 38) µs -> x 420..580, y 50+84+2
  REQUIRE(b1);
  CHECK(b1->x0 == Approx(420));
  CHECK(b1->x1 == Approx(579));
  CHECK(b1->y0 == Approx(136));
  CHECK(b1->rgba == class_colour(ColourClass::BackwardInput).packed());
  CHECK(op_rect(g, tl, "send act mb0")->rgba == class_colour(ColourClass::Comm).packed());
  CHECK(op_rect(g, tl, "optimizer")->rgba == class_colour(ColourClass::Optimizer).packed());
  CHECK(op_rect(g, tl, "L0.W mb0")->rgba == class_colour(ColourClass::BackwardWeight).packed());
  // Bubbles: rank 0 [20,40) and [64,66) µs, rank 1 [0,12) and [84,94) µs.
  std::vector<std::pair<float, float>> bubbles;
  for (const auto& r : g.rects)
    if (r.kind == RectKind::Bubble) {
      bubbles.emplace_back(r.x0, r.x1);
      CHECK(r.rgba == palette::kBubble.packed());
    }
  REQUIRE(bubbles.size() == 4);
  CHECK(bubbles[0].first == Approx(400));
  CHECK(bubbles[0].second == Approx(600));
  CHECK(bubbles[1].first == Approx(840));
  CHECK(bubbles[1].second == Approx(860));
  CHECK(bubbles[2].first == Approx(200));
  CHECK(bubbles[2].second == Approx(320));
  CHECK(bubbles[3].first == Approx(1040));
  CHECK(g.ops_drawn == 22);
  CHECK(g.merged_drawn == 0);
  CHECK(g.rows_drawn == 6);
  // The 20 µs bubble (200 px) is labelled; the 2 µs one (20 px) is not.
  CHECK(std::count_if(g.texts.begin(), g.texts.end(), [](const DrawText& t) { return t.text == "idle 20 µs"; }) == 1);
}

TEST_CASE("golden frame: zoom, scroll and clipping", "[viewer][frame]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  FrameParams p = golden_params();
  p.range = {30000, 40000};   // 10 µs over 940 px: only rank 1's B mb0 [22,38) and F mb1 [38,48) on compute
  p.scroll_y = 64;            // stage 1 header at the top
  const FrameGeometry g = build_frame(m, L, p);
  const auto& tl = m.traces[0].tl;
  CHECK(g.rows_drawn == 3);
  const DrawRect* b = op_rect(g, tl, "L1.B mb0");
  REQUIRE(b);
  CHECK(b->x0 == Approx(200));                     // clipped at the canvas edge
  CHECK(b->x1 == Approx(200 + 8000 * 0.094 - 1));  // 38 µs -> 200 + 752 px, less the 1 px separator
  CHECK(b->y0 == Approx(50 + 20 + 2));
  CHECK(op_rect(g, tl, "L0.F mb0") == nullptr);    // stage 0 scrolled away
}

TEST_CASE("level of detail: a dense lane costs pixels, not ops", "[viewer][frame][lod]") {
  // 100000 ops of 1 µs every 1.1 µs: 110 ms over a 1000 px canvas is 110 µs (100 ops) per pixel.
  std::vector<std::pair<int64_t, int64_t>> ops;
  for (int64_t i = 0; i < 100000; ++i) ops.emplace_back(i * 1100, 1000);
  const ViewModel m = dense_model(ops);
  const Layout L = build_layout(m, {});
  FrameParams p;
  p.canvas_x0 = 0;
  p.canvas_x1 = 1000;
  p.canvas_y0 = 0;
  p.canvas_y1 = 100;
  p.range = {0, 110e6};
  const FrameGeometry g = build_frame(m, L, p);
  // One block, no gap of a pixel anywhere; it covers the canvas in the forward colour.
  CHECK(g.merged_drawn == 1);
  CHECK(g.ops_drawn == 0);
  const auto merged = std::find_if(g.rects.begin(), g.rects.end(), [](const DrawRect& r) { return r.kind == RectKind::Merged; });
  REQUIRE(merged != g.rects.end());
  CHECK(merged->x0 == Approx(0));
  CHECK(merged->x1 == Approx(1000).margin(1));
  CHECK(merged->count == 100000);
  CHECK(merged->rgba == class_colour(ColourClass::Forward).packed());
  // At most lod_samples + 1 ops examined per pixel column (the rest are skipped by binary search).
  CHECK(g.events_visited <= 1000u * 10);

  // Zoomed to 500 ops over 1000 px each op is 1.8 px: drawn one by one.
  p.range = {0, 550e3};
  const FrameGeometry z = build_frame(m, L, p);
  CHECK(z.merged_drawn == 0);
  CHECK(z.ops_drawn == 500);
}

TEST_CASE("level of detail: a wide op after tiny ones in the same pixel is drawn on its own", "[viewer][frame][lod]") {
  // Ten 5 ns ops from 0 to 50 ns, then one op [50 ns, 100.05 µs). At 100.5 ns per pixel the ten
  // share pixel 0 with the wide op's start: eight are sampled, two skipped, the wide one kept.
  std::vector<std::pair<int64_t, int64_t>> ops;
  for (int i = 0; i < 10; ++i) ops.emplace_back(i * 5, 5);
  ops.emplace_back(50, 100000);
  const ViewModel m = dense_model(ops);
  FrameParams p;
  p.canvas_x0 = 0;
  p.canvas_x1 = 1000;
  p.canvas_y0 = 0;
  p.canvas_y1 = 100;
  p.range = {0, 100500};
  const FrameGeometry g = build_frame(m, build_layout(m, {}), p);
  CHECK(g.merged_drawn == 1);
  CHECK(g.ops_drawn == 1);
  for (const auto& r : g.rects) {
    if (r.kind == RectKind::Merged) CHECK(r.count == 10);
    if (r.kind == RectKind::Op) {
      CHECK(r.event == 10);
      CHECK(r.x0 == Approx(50 / 100.5));
    }
  }
}

TEST_CASE("level of detail: a merged span is drawn as the mix of what it covers", "[viewer][frame][lod]") {
  // 100000 ops of 1 µs every 1.1 µs, three forward then one weight-gradient, over and over: any eight
  // consecutive ops (the samples of a pixel column) hold 6 F and 2 W by time, so every block's mix is
  // 3/4 forward, 1/4 weight gradient: a lane drawn 17 px tall (18 less a 1 px gap) -> W band
  // floor(17 / 4) = 4 px, F band 13 px.
  trace::Timeline tl;
  for (int64_t i = 0; i < 100000; ++i) tl.add_event("op", 0, 0, i * 1100, 1000, "gemm").phase = i % 4 == 3 ? 'W' : 'F';
  std::vector<LoadedTrace> v;
  v.push_back(make_loaded_trace("mix", std::move(tl)));
  const ViewModel m = make_view_model(std::move(v));
  const Layout L = build_layout(m, {});
  FrameParams p;
  p.canvas_x0 = 0;
  p.canvas_x1 = 1000;
  p.canvas_y0 = 0;
  p.canvas_y1 = 200;
  p.range = {0, 110e6};
  const FrameGeometry g = build_frame(m, L, p);
  CHECK(g.merged_drawn == 1);   // one mix everywhere: one block of two bands
  std::vector<DrawRect> bands;
  for (const auto& r : g.rects)
    if (r.kind == RectKind::Merged) bands.push_back(r);
  REQUIRE(bands.size() == 2);
  CHECK(bands[0].rgba == class_colour(ColourClass::Forward).packed());
  CHECK(bands[1].rgba == class_colour(ColourClass::BackwardWeight).packed());
  const float lane_y0 = 20 + 2;   // below the "no stage" header, inside the track's padding
  CHECK(bands[0].y0 == Approx(lane_y0));
  CHECK(bands[0].y1 == Approx(lane_y0 + 13));
  CHECK(bands[1].y1 == Approx(lane_y0 + 17));
  CHECK(bands[0].x1 == Approx(1000).margin(1));
  CHECK(bands[0].count == 100000);

  // Forward in the first half, weight gradient in the second: two blocks that meet at the middle, each
  // of one colour, not one block of the colour that holds most of the time.
  trace::Timeline halves;
  for (int64_t i = 0; i < 100000; ++i) halves.add_event("op", 0, 0, i * 1100, 1000, "gemm").phase = i < 50000 ? 'F' : 'W';
  std::vector<LoadedTrace> w;
  w.push_back(make_loaded_trace("halves", std::move(halves)));
  const ViewModel h = make_view_model(std::move(w));
  const FrameGeometry gh = build_frame(h, build_layout(h, {}), p);
  CHECK(gh.merged_drawn == 2);
  std::vector<DrawRect> blocks;
  for (const auto& r : gh.rects)
    if (r.kind == RectKind::Merged) blocks.push_back(r);
  REQUIRE(blocks.size() == 2);
  CHECK(blocks[0].rgba == class_colour(ColourClass::Forward).packed());
  CHECK(blocks[1].rgba == class_colour(ColourClass::BackwardWeight).packed());
  CHECK(blocks[0].x1 == Approx(500).margin(4));
  CHECK(blocks[1].x0 == Approx(500).margin(4));
  CHECK(blocks[0].count + blocks[1].count == 100000);
}

TEST_CASE("layout shows only the ranks and stages chosen", "[viewer][layout]") {
  const ViewModel m = golden_model();
  LayoutOptions rank1;
  rank1.ranks = {1};
  const Layout A = build_layout(m, rank1);
  REQUIRE(A.rows.size() == 3);   // stage 1 header, rank 1 compute and communication
  CHECK(A.rows[0].label == "- stage 1 · 1 rank");
  CHECK(A.rows[1].label == "rank 1 · compute");
  CHECK(A.tracks_kept == std::vector<size_t>{2});
  CHECK(A.row_of_track[0][0] == -1);   // rank 0's tracks are left out
  LayoutOptions stage0;
  stage0.stages = {0};
  const Layout B = build_layout(m, stage0);
  REQUIRE(B.rows.size() == 3);
  CHECK(B.rows[0].label == "- stage 0 · 1 rank");
  LayoutOptions none;
  none.ranks = {0};
  none.stages = {1};   // rank 0 is on stage 0
  const Layout C = build_layout(m, none);
  CHECK(C.rows.empty());
  CHECK(C.tracks_kept == std::vector<size_t>{0});
}

TEST_CASE("search dims ops whose names do not match", "[viewer][frame]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  FrameParams p = golden_params();
  SearchState s;
  s.active = true;
  const auto& tl = m.traces[0].tl;
  s.name_match.assign(1, std::vector<uint8_t>(tl.string_count(), 0));
  s.name_match[0][tl.find_string("L0.F mb0")] = 1;
  p.search = &s;
  const FrameGeometry g = build_frame(m, L, p);
  CHECK(op_rect(g, tl, "L0.F mb0")->rgba == class_colour(ColourClass::Forward).packed());
  CHECK(op_rect(g, tl, "L0.F mb1")->rgba == dim(class_colour(ColourClass::Forward)).packed());
}

TEST_CASE("selection outline and flow lines", "[viewer][frame]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  FrameParams p = golden_params();
  const auto& tl = m.traces[0].tl;
  const auto send = tl.flows[0].from_event;   // rank 0 "send act mb0" [10,12) -> rank 1 "recv act mb0"
  p.selected = {0, int64_t(send)};
  p.flows = {{0, tl.flows[0].from_event, tl.flows[0].to_event}};
  const FrameGeometry g = build_frame(m, L, p);
  CHECK(std::count_if(g.rects.begin(), g.rects.end(), [](const DrawRect& r) { return r.kind == RectKind::Selection; }) == 4);
  REQUIRE(g.lines.size() == 1);
  // From the send's end (12 µs, x 320) on rank 0 comm (lane 50+42+2 .. +17, middle 102.5) to the
  // receive's start (10 µs, x 300) on rank 1 comm (middle 50+106+2+8.5 = 166.5).
  CHECK(g.lines[0].x0 == Approx(320));
  CHECK(g.lines[0].y0 == Approx(102.5));
  CHECK(g.lines[0].x1 == Approx(300));
  CHECK(g.lines[0].y1 == Approx(166.5));
}

TEST_CASE("hit test finds ops, bubbles and headers", "[viewer][frame]") {
  const ViewModel m = golden_model();
  const Layout L = build_layout(m, {});
  const FrameParams p = golden_params();
  const auto& tl = m.traces[0].tl;
  Hit h = hit_test(m, L, p, 250, 80);   // 5 µs on rank 0 compute
  REQUIRE(h.kind == Hit::Kind::Op);
  CHECK(tl.name_of(tl.events[size_t(h.event)]) == "L0.F mb0");
  CHECK(h.ops_in_pixel == 0);            // no op starts within half a pixel of 5 µs
  h = hit_test(m, L, p, 301, 80);        // 10.1 µs: inside F mb1
  CHECK(tl.name_of(tl.events[size_t(h.event)]) == "L0.F mb1");
  h = hit_test(m, L, p, 500, 80);        // 30 µs: the bubble [20, 40)
  REQUIRE(h.kind == Hit::Kind::Bubble);
  CHECK(h.gap == trace::Interval{20000, 40000});
  h = hit_test(m, L, p, 500, 60);        // stage 0 header row
  CHECK(h.kind == Hit::Kind::StageHeader);
  CHECK(h.stage == 0);
  CHECK(hit_test(m, L, p, 500, 102).kind == Hit::Kind::None);   // rank 0 comm, 30 µs: nothing
  CHECK(hit_test(m, L, p, 500, 20).kind == Hit::Kind::None);    // the ruler
}

TEST_CASE("compare mode stacks two traces with headers", "[viewer][layout][compare]") {
  std::vector<LoadedTrace> v;
  const std::string path = std::string(TANDEM_TRACE_TEST_DATA) + "/golden_2x2.json";
  v.push_back(make_loaded_trace("A.json", trace::read_trace(path)));
  trace::Timeline b = trace::read_trace(path);
  for (auto& e : b.events) e.start_ns += 5000;   // B starts later: both are drawn from their own step start
  b.events[0].dur_ns += 3000;
  v.push_back(make_loaded_trace("B.json", std::move(b)));
  const ViewModel m = make_view_model(std::move(v));
  const Layout L = build_layout(m, {});
  REQUIRE(L.rows.size() == 14);
  CHECK(L.rows[0].kind == RowKind::TraceHeader);
  CHECK_THAT(L.rows[0].label, Catch::StartsWith("A · A.json · sim"));
  CHECK(L.rows[7].kind == RowKind::TraceHeader);
  CHECK(L.rows[8].trace == 1);
  // The comparison of tandem compare: B's first GEMM is 3 us longer.
  REQUIRE(m.comparison);
  CHECK(m.comparison->matching == trace::Matching::Identity);
  CHECK(m.comparison->kinds[0].name == "gemm");
  CHECK((m.comparison->kinds[0].time.measured_s - m.comparison->kinds[0].time.predicted_s) == Approx(3e-6));
  // Both traces' first forward op starts at x 200 (time 0 of each step).
  const FrameGeometry g = build_frame(m, L, golden_params());
  int firsts = 0;
  for (const auto& r : g.rects)
    if (r.kind == RectKind::Op && m.traces[size_t(r.trace)].tl.name_of(m.traces[size_t(r.trace)].tl.events[r.event]) == "L0.F mb0") {
      CHECK(r.x0 == Approx(200));
      ++firsts;
    }
  CHECK(firsts == 2);
}

TEST_CASE("compare mode with own time axes draws both steps over the same width", "[viewer][layout][compare]") {
  // B is A at half the speed: every time doubled, a 188 us step against 94 us.
  std::vector<LoadedTrace> v;
  const std::string path = std::string(TANDEM_TRACE_TEST_DATA) + "/golden_2x2.json";
  v.push_back(make_loaded_trace("A.json", trace::read_trace(path)));
  trace::Timeline b = trace::read_trace(path);
  for (auto& e : b.events) {
    e.start_ns *= 2;
    e.dur_ns *= 2;
  }
  v.push_back(make_loaded_trace("B.json", std::move(b)));
  ViewModel m = make_view_model(std::move(v));
  CHECK(m.end_ns() == Approx(188000));
  set_own_time_axes(m, true);
  CHECK(m.traces[0].time_scale == 1.0);
  CHECK(m.traces[1].time_scale == Approx(0.5));   // A's step over B's
  CHECK(m.end_ns() == Approx(94000));
  const Layout L = build_layout(m, {});
  FrameParams p = golden_params();
  p.canvas_y1 = 2000;   // every row on screen
  const FrameGeometry g = build_frame(m, L, p);
  // Each op of B is drawn where the same op of A is: both steps span 200..1140 px.
  std::vector<std::vector<const DrawRect*>> by_event(2, std::vector<const DrawRect*>(m.traces[0].tl.events.size()));
  for (const auto& r : g.rects)
    if (r.kind == RectKind::Op) by_event[size_t(r.trace)][r.event] = &r;
  int compared = 0;
  for (size_t i = 0; i < by_event[0].size(); ++i) {
    if (!by_event[0][i] || !by_event[1][i]) continue;
    CHECK(by_event[1][i]->x0 == Approx(by_event[0][i]->x0).margin(0.01));
    CHECK(by_event[1][i]->x1 == Approx(by_event[0][i]->x1).margin(0.01));
    ++compared;
  }
  CHECK(compared >= 10);
  // The mouse finds B's op under the same pixel, and B's header says it is stretched.
  DrawRect r;
  REQUIRE(event_rect(m, L, p, 1, 0, r));
  const Hit h = hit_test(m, L, p, (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2);
  CHECK(h.kind == Hit::Kind::Op);
  CHECK(h.trace == 1);
  CHECK(h.event == 0);
  CHECK(std::any_of(g.texts.begin(), g.texts.end(),
                    [](const DrawText& t) { return t.text.find("own time axis, stretched 0.5x") != std::string::npos; }));
  set_own_time_axes(m, false);
  CHECK(m.traces[1].time_scale == 1.0);
  CHECK(m.end_ns() == Approx(188000));
}
