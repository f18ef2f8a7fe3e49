// build_frame: rows on screen, their labels, bubbles, ops with level of detail, the ruler, the
// selection and flow lines; hit_test and event_rect for the mouse. See frame.h.
#include "viewer/frame.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/core.h>

namespace tandem::viewer {
namespace {

constexpr Rgba kOpText{15, 15, 20};

struct Ctx {
  const ViewModel& m;
  const Layout& L;
  const FrameParams& p;
  FrameGeometry& g;
  double scale = 1;                  // px per ns

  double px(int64_t t_abs, const TraceAxis& axis) const {
    return p.canvas_x0 + (static_cast<double>(t_abs - axis.origin_ns) * axis.time_scale - p.range.t0_ns) * scale;
  }
  // Absolute ns at pixel x of a trace on `axis`.
  double t_abs(double x, const TraceAxis& axis) const {
    return static_cast<double>(axis.origin_ns) + (p.range.t0_ns + (x - p.canvas_x0) / scale) / axis.time_scale;
  }
  float y_screen(float y_layout) const { return p.canvas_y0 + (y_layout - p.scroll_y); }

  void rect(double x0, float y0, double x1, float y1, Rgba c, RectKind k, int trace = -1, uint32_t ev = 0,
            uint32_t count = 0) {
    const float cx0 = static_cast<float>(std::max(x0, double(p.canvas_x0)));
    const float cx1 = static_cast<float>(std::min(x1, double(p.canvas_x1)));
    const float cy0 = std::max(y0, p.canvas_y0), cy1 = std::min(y1, p.canvas_y1);
    if (cx1 <= cx0 || cy1 <= cy0) return;
    g.rects.push_back({cx0, cy0, cx1, cy1, c.packed(), k, static_cast<int8_t>(trace), ev, count});
  }
};

bool name_matches(const FrameParams& p, int trace, uint32_t name) {
  if (!p.search || !p.search->active) return true;
  const auto& v = p.search->name_match[size_t(trace)];
  return name < v.size() && v[name];
}

// The mix of a merged block as bands stacked top to bottom, largest share first, each as tall as its
// share of the lane (whole pixels; bands under a pixel go to the largest), and whether it is dimmed.
struct BlockMix {
  std::array<uint8_t, kColourClasses> order{};
  std::array<int16_t, kColourClasses> px{};
  int bands = 0;
  bool dimmed = false;
  bool operator==(const BlockMix& o) const {
    if (bands != o.bands || dimmed != o.dimmed) return false;
    for (int b = 0; b < bands; ++b)
      if (order[size_t(b)] != o.order[size_t(b)] || px[size_t(b)] != o.px[size_t(b)]) return false;
    return true;
  }
};

BlockMix block_mix(const std::array<int64_t, kColourClasses>& tally, float lane_h, bool dimmed) {
  BlockMix mix;
  mix.dimmed = dimmed;
  std::array<uint8_t, kColourClasses> order{};
  for (int k = 0; k < kColourClasses; ++k) order[size_t(k)] = static_cast<uint8_t>(k);
  std::stable_sort(order.begin(), order.end(), [&](uint8_t a, uint8_t b) { return tally[a] > tally[b]; });
  int64_t total = 0;
  for (int64_t v : tally) total += v;
  const int h = std::max(1, static_cast<int>(std::lround(lane_h)));
  int used = 0;
  for (int k = 1; k < kColourClasses && total > 0; ++k) {
    const int px = static_cast<int>(static_cast<double>(tally[order[size_t(k)]]) / static_cast<double>(total) * h);
    if (px < 1) break;
    mix.order[size_t(mix.bands + 1)] = order[size_t(k)];
    mix.px[size_t(mix.bands + 1)] = static_cast<int16_t>(px);
    ++mix.bands;
    used += px;
  }
  mix.order[0] = order[0];
  mix.px[0] = static_cast<int16_t>(h - used);
  ++mix.bands;
  return mix;
}

// A run of merged blocks with the same mix, drawn once.
struct PendingBlock {
  bool open = false;
  double x0 = 0, x1 = 0;
  uint32_t first_event = 0, count = 0;
  BlockMix mix;
};

void flush_block(Ctx& c, int ti, PendingBlock& pb, float y0, float y1) {
  if (!pb.open) return;
  const double scale_y = static_cast<double>(y1 - y0) / std::max(1, static_cast<int>(std::lround(y1 - y0)));
  double y = y0;
  for (int b = 0; b < pb.mix.bands; ++b) {
    const double yb = b + 1 == pb.mix.bands ? y1 : y + pb.mix.px[size_t(b)] * scale_y;
    Rgba col = class_colour(static_cast<ColourClass>(pb.mix.order[size_t(b)]));
    if (pb.mix.dimmed) col = dim(col);
    c.rect(pb.x0, static_cast<float>(y), pb.x1, static_cast<float>(yb), col, RectKind::Merged, ti, pb.first_event,
           pb.count);
    y = yb;
  }
  ++c.g.merged_drawn;
  pb.open = false;
}

void emit_lane(Ctx& c, int ti, const trace::Lane& lane, float y0, float y1) {
  const LoadedTrace& t = c.m.traces[size_t(ti)];
  const auto& evs = t.tl.events;
  const auto& classes = t.idx.op_classes;
  const TraceAxis origin = t.axis();
  const FrameParams& p = c.p;
  const double min_px = p.min_px;
  const int64_t t0 = static_cast<int64_t>(std::floor(c.t_abs(p.canvas_x0, origin)));
  const int64_t t1 = static_cast<int64_t>(std::ceil(c.t_abs(p.canvas_x1, origin)));
  const size_t n = lane.events.size();
  const bool searching = p.search && p.search->active;
  const float text_y = y0 + (y1 - y0 - p.font_px) / 2;
  PendingBlock pending;
  size_t i = lane.first_ending_after(t0);
  while (i < n && lane.starts[i] < t1) {
    const double a = c.px(lane.starts[i], origin), b = c.px(lane.ends[i], origin);
    ++c.g.events_visited;
    const uint32_t ei = lane.events[i];
    if (b - a >= min_px) {
      flush_block(c, ti, pending, y0, y1);
      const trace::Event& e = evs[ei];
      Rgba col = class_colour(colour_class(classes[e.op], e.phase));
      if (searching && !name_matches(p, ti, e.name)) col = dim(col);
      // Ops of 4 px and more end a pixel early, so neighbours of one colour stay apart.
      c.rect(a, y0, b - a >= 4 ? b - 1 : b, y1, col, RectKind::Op, ti, ei);
      ++c.g.ops_drawn;
      const double vx0 = std::max(a, double(p.canvas_x0)), vx1 = std::min(b, double(p.canvas_x1));
      if (vx1 - vx0 >= p.min_label_px)
        c.g.texts.push_back({static_cast<float>(vx0 + 3), text_y, static_cast<float>(vx0 + 2),
                             static_cast<float>(vx1 - 2), kOpText.packed(), std::string(t.tl.name_of(e))});
      ++i;
      continue;
    }
    // A block of ops narrower than a pixel: extends while the next op is narrow, starts within a pixel
    // of the block's end and within merge_px of its start. Its mix is the time of the examined ops per
    // colour class; neighbouring blocks of the same mix are drawn as one.
    std::array<int64_t, kColourClasses> tally{};
    bool any_match = !searching;
    double bx1 = b;
    const double block_end = std::floor(a) + std::max(1.0f, p.merge_px);
    uint32_t count = 0;
    size_t j = i;
    int in_column = 0;
    while (j < n && lane.starts[j] < t1) {
      const double aj = c.px(lane.starts[j], origin), bj = c.px(lane.ends[j], origin);
      if (bj - aj >= min_px || aj > bx1 + min_px || (j > i && aj >= block_end)) break;
      const trace::Event& e = evs[lane.events[j]];
      tally[size_t(colour_class(classes[e.op], e.phase))] += std::max<int64_t>(e.dur_ns, 1);
      if (!any_match) any_match = name_matches(p, ti, e.name);
      bx1 = std::max(bx1, bj);
      ++count;
      ++j;
      if (j != i + 1) ++c.g.events_visited;
      if (++in_column >= p.lod_samples) {
        // Skip the rest of this pixel column by binary search; only its last op can be wide.
        const int64_t col_end = static_cast<int64_t>(std::ceil(c.t_abs(std::floor(bx1) + 1, origin)));
        size_t k = lane.first_starting_at_or_after(col_end);
        if (k > j && c.px(lane.ends[k - 1], origin) - c.px(lane.starts[k - 1], origin) >= min_px) --k;
        if (k > j) {
          bx1 = std::max(bx1, c.px(lane.ends[k - 1], origin));
          count += static_cast<uint32_t>(k - j);
          j = k;
        }
        in_column = 0;
      }
    }
    const BlockMix mix = block_mix(tally, y1 - y0, !any_match);
    const double x1 = std::max(bx1, a + min_px);
    if (pending.open && pending.mix == mix && a <= pending.x1 + min_px) {
      pending.x1 = std::max(pending.x1, x1);
      pending.count += count;
    } else {
      flush_block(c, ti, pending, y0, y1);
      pending = {true, a, x1, ei, count, mix};
    }
    i = j;
  }
  flush_block(c, ti, pending, y0, y1);
}

void emit_bubbles(Ctx& c, int ti, const trace::TrackBubbles& tb, float y0, float y1) {
  const LoadedTrace& t = c.m.traces[size_t(ti)];
  const TraceAxis origin = t.axis();
  const double t0 = c.t_abs(c.p.canvas_x0, origin), t1 = c.t_abs(c.p.canvas_x1, origin);
  const auto& gaps = tb.gaps;
  auto g = std::partition_point(gaps.begin(), gaps.end(), [&](const trace::Interval& v) { return double(v.end_ns) <= t0; });
  while (g != gaps.end() && double(g->start_ns) < t1) {
    const double a = c.px(g->start_ns, origin), b = c.px(g->end_ns, origin);
    if (b - a >= c.p.min_px) {
      c.rect(a, y0, b, y1, palette::kBubble, RectKind::Bubble, ti);
      ++c.g.bubbles_drawn;
      const double vx0 = std::max(a, double(c.p.canvas_x0)), vx1 = std::min(b, double(c.p.canvas_x1));
      if (vx1 - vx0 >= 70)
        c.g.texts.push_back({static_cast<float>(vx0 + 3), y0 + (y1 - y0 - c.p.font_px) / 2,
                             static_cast<float>(vx0 + 2), static_cast<float>(vx1 - 2), palette::kText.packed(),
                             "idle " + format_duration(static_cast<double>(g->length()))});
      ++g;
    } else {
      const double col_end = c.t_abs(std::floor(a) + 1, origin);
      auto next = std::partition_point(g, gaps.end(), [&](const trace::Interval& v) { return double(v.start_ns) < col_end; });
      g = std::max(next, g + 1);
    }
  }
}

// Lane index of `event` within its track (lanes are sorted by start), or -1.
int lane_of(const LoadedTrace& t, const trace::Track& track, uint32_t event) {
  const int64_t s = t.tl.events[event].start_ns;
  for (size_t l = 0; l < track.lanes.size(); ++l) {
    const auto& lane = track.lanes[l];
    auto it = std::lower_bound(lane.starts.begin(), lane.starts.end(), s);
    for (; it != lane.starts.end() && *it == s; ++it)
      if (lane.events[size_t(it - lane.starts.begin())] == event) return static_cast<int>(l);
  }
  return -1;
}

void emit_ruler(Ctx& c) {
  const FrameParams& p = c.p;
  c.g.rects.push_back({p.label_x0, p.ruler_y0, p.canvas_x1, p.canvas_y0, palette::kRuler.packed(), RectKind::Ruler});
  for (const Tick& tk : ruler_ticks(p.range, p.canvas_x0, p.canvas_x1)) {
    const float x = static_cast<float>(tk.x);
    c.g.rects.push_back({x, p.canvas_y0 - 6, x + 1, p.canvas_y0, palette::kTick.packed(), RectKind::Tick});
    c.g.texts.push_back({x + 3, p.ruler_y0 + 3, x, p.canvas_x1, palette::kDimText.packed(), tk.label});
  }
}

}  // namespace

bool event_rect(const ViewModel& m, const Layout& L, const FrameParams& p, int trace, uint32_t event, DrawRect& out) {
  const LoadedTrace& t = m.traces[size_t(trace)];
  const trace::Event& e = t.tl.events[event];
  const int64_t k = t.idx.find(e.pid, e.tid);
  if (k < 0) return false;
  const int64_t row = L.row_of_track[size_t(trace)][size_t(k)];
  if (row < 0) return false;
  const int lane = lane_of(t, t.idx.tracks[size_t(k)], event);
  if (lane < 0) return false;
  const Row& r = L.rows[size_t(row)];
  const double scale = (p.canvas_x1 - p.canvas_x0) / p.range.span();
  out.x0 = static_cast<float>(p.canvas_x0 + (double(e.start_ns - t.origin_ns) * t.time_scale - p.range.t0_ns) * scale);
  out.x1 = static_cast<float>(p.canvas_x0 + (double(e.end_ns() - t.origin_ns) * t.time_scale - p.range.t0_ns) * scale);
  out.y0 = p.canvas_y0 + (r.y - p.scroll_y) + L.track_pad + L.lane_h * static_cast<float>(lane);
  out.y1 = out.y0 + L.lane_h - 1;
  out.trace = static_cast<int8_t>(trace);
  out.event = event;
  out.kind = RectKind::Op;
  return true;
}

FrameGeometry build_frame(const ViewModel& m, const Layout& L, const FrameParams& p) {
  FrameGeometry g;
  Ctx c{m, L, p, g};
  c.scale = (p.canvas_x1 - p.canvas_x0) / std::max(1e-9, p.range.span());
  const float view_h = p.canvas_y1 - p.canvas_y0;
  for (size_t ri = L.first_row_at_or_below(p.scroll_y); ri < L.rows.size() && L.rows[ri].y < p.scroll_y + view_h; ++ri) {
    const Row& r = L.rows[ri];
    const float y0 = c.y_screen(r.y), y1 = c.y_screen(r.y + r.h);
    ++g.rows_drawn;
    const float label_clip0 = p.label_x0 + 2, label_clip1 = p.canvas_x0 - 4;
    const float text_y = y0 + (std::min(r.h, 20.0f) - p.font_px) / 2;
    if (r.kind != RowKind::Track) {
      const Rgba col = r.kind == RowKind::TraceHeader ? palette::kTraceHeader : palette::kHeader;
      g.rects.push_back({p.label_x0, std::max(y0, p.canvas_y0), p.canvas_x1, std::min(y1, p.canvas_y1), col.packed(),
                         RectKind::Header, static_cast<int8_t>(r.trace)});
      std::string text = r.label;
      if (r.bubble_share >= 0) text += fmt::format(" · bubble {:.1f}%", r.bubble_share * 100);
      if (r.kind == RowKind::TraceHeader && m.traces[size_t(r.trace)].time_scale != 1.0)
        text += fmt::format(" · own time axis, stretched {:.4g}x", m.traces[size_t(r.trace)].time_scale);
      if (y0 >= p.canvas_y0 - 1)
        g.texts.push_back({p.label_x0 + 4, text_y, label_clip0, p.canvas_x1, palette::kText.packed(), std::move(text)});
      continue;
    }
    const Rgba bg = (ri % 2) ? palette::kTrackOdd : palette::kTrackEven;
    g.rects.push_back({p.label_x0, std::max(y0, p.canvas_y0), p.canvas_x1, std::min(y1, p.canvas_y1), bg.packed(),
                       RectKind::Background, static_cast<int8_t>(r.trace)});
    if (y0 >= p.canvas_y0 - 1) {
      // The compute stream's bubble share, right-aligned in the label column; the label is clipped before it.
      float label_end = label_clip1;
      if (r.bubble_share >= 0) {
        std::string share = fmt::format("{:.1f}%", r.bubble_share * 100);
        const float w = static_cast<float>(share.size()) * p.font_px * 0.55f;
        label_end = p.canvas_x0 - 10 - w;
        g.texts.push_back({p.canvas_x0 - 6 - w, text_y, label_end, p.canvas_x0, palette::kBubble.packed(), std::move(share)});
      }
      g.texts.push_back({p.label_x0 + 4, text_y, label_clip0, label_end, palette::kText.packed(), r.label});
    }
    const LoadedTrace& t = m.traces[size_t(r.trace)];
    const trace::Track& track = t.idx.tracks[size_t(r.track)];
    const float lanes_y0 = y0 + L.track_pad;
    if (const int32_t b = t.bubbles_of_track[size_t(r.track)]; b >= 0)
      emit_bubbles(c, r.trace, t.summary.bubbles[size_t(b)], lanes_y0,
                   lanes_y0 + L.lane_h * static_cast<float>(std::max<size_t>(1, track.lanes.size())) - 1);
    for (size_t l = 0; l < track.lanes.size(); ++l) {
      const float ly0 = lanes_y0 + L.lane_h * static_cast<float>(l);
      if (ly0 > p.canvas_y1 || ly0 + L.lane_h < p.canvas_y0) continue;
      emit_lane(c, r.trace, track.lanes[l], ly0, ly0 + L.lane_h - 1);
    }
  }
  // Selection outline and flow lines on top.
  DrawRect sr;
  if (p.selected.trace >= 0 && p.selected.event >= 0 &&
      event_rect(m, L, p, p.selected.trace, static_cast<uint32_t>(p.selected.event), sr)) {
    const float x0 = sr.x0 - 1, x1 = std::max(sr.x1, sr.x0 + 2) + 1, y0 = sr.y0 - 1, y1 = sr.y1 + 1;
    c.rect(x0, y0, x1, y0 + 2, palette::kSelection, RectKind::Selection);
    c.rect(x0, y1 - 2, x1, y1, palette::kSelection, RectKind::Selection);
    c.rect(x0, y0, x0 + 2, y1, palette::kSelection, RectKind::Selection);
    c.rect(x1 - 2, y0, x1, y1, palette::kSelection, RectKind::Selection);
  }
  for (const FlowLink& f : p.flows) {
    DrawRect a, b;
    if (!event_rect(m, L, p, f.trace, f.from_event, a) || !event_rect(m, L, p, f.trace, f.to_event, b)) continue;
    g.lines.push_back({a.x1, (a.y0 + a.y1) / 2, b.x0, (b.y0 + b.y1) / 2, palette::kFlow.packed()});
  }
  emit_ruler(c);
  return g;
}

Hit hit_test(const ViewModel& m, const Layout& L, const FrameParams& p, float x, float y) {
  Hit h;
  if (y < p.canvas_y0 || y >= p.canvas_y1 || x < p.label_x0 || x >= p.canvas_x1) return h;
  const int64_t ri = L.row_at(p.scroll_y + (y - p.canvas_y0));
  if (ri < 0) return h;
  const Row& r = L.rows[size_t(ri)];
  h.row = ri;
  h.trace = r.trace;
  if (r.kind == RowKind::StageHeader) {
    h.kind = Hit::Kind::StageHeader;
    h.stage = r.stage;
    return h;
  }
  if (r.kind == RowKind::TraceHeader) {
    h.kind = Hit::Kind::TraceHeader;
    return h;
  }
  if (x < p.canvas_x0) return h;
  const LoadedTrace& t = m.traces[size_t(r.trace)];
  const trace::Track& track = t.idx.tracks[size_t(r.track)];
  const float ly = p.scroll_y + (y - p.canvas_y0) - r.y - L.track_pad;
  const double scale = (p.canvas_x1 - p.canvas_x0) / p.range.span();
  const double t_abs = double(t.origin_ns) + (p.range.t0_ns + (x - p.canvas_x0) / scale) / t.time_scale;
  const double tol = 2.0 / scale / t.time_scale;
  if (ly >= 0) {
    const auto lane_i = static_cast<size_t>(ly / L.lane_h);
    if (lane_i < track.lanes.size()) {
      const trace::Lane& lane = track.lanes[lane_i];
      // Prefer the op containing the cursor, else the nearest within two pixels.
      size_t i = lane.first_ending_after(static_cast<int64_t>(std::floor(t_abs - tol)));
      size_t best = lane.events.size();
      double best_d = tol + 1;
      for (size_t j = i; j < lane.events.size() && double(lane.starts[j]) <= t_abs + tol; ++j) {
        const double d = t_abs < double(lane.starts[j]) ? double(lane.starts[j]) - t_abs
                         : t_abs > double(lane.ends[j]) ? t_abs - double(lane.ends[j]) : 0.0;
        if (d < best_d) {
          best_d = d;
          best = j;
        }
        if (d == 0) break;
        if (j - i > 64) break;
      }
      if (best < lane.events.size()) {
        h.kind = Hit::Kind::Op;
        h.event = lane.events[best];
        const double half = 0.5 / scale / t.time_scale;
        h.ops_in_pixel = static_cast<uint32_t>(lane.first_starting_at_or_after(static_cast<int64_t>(std::ceil(t_abs + half))) -
                                               lane.first_starting_at_or_after(static_cast<int64_t>(std::floor(t_abs - half))));
        return h;
      }
    }
  }
  if (const int32_t b = t.bubbles_of_track[size_t(r.track)]; b >= 0) {
    const auto& gaps = t.summary.bubbles[size_t(b)].gaps;
    auto it = std::partition_point(gaps.begin(), gaps.end(), [&](const trace::Interval& v) { return double(v.end_ns) <= t_abs; });
    if (it != gaps.end() && double(it->start_ns) <= t_abs) {
      h.kind = Hit::Kind::Bubble;
      h.gap = *it;
    }
  }
  return h;
}

}  // namespace tandem::viewer
