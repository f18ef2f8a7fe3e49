// Rows of the timeline grouped by trace and pipeline stage (see layout.h).
#include "viewer/layout.h"

#include <algorithm>
#include <map>

#include <fmt/core.h>

namespace tandem::viewer {

size_t Layout::first_row_at_or_below(float y) const {
  auto it = std::partition_point(rows.begin(), rows.end(), [&](const Row& r) { return r.y + r.h <= y; });
  return static_cast<size_t>(it - rows.begin());
}

int64_t Layout::row_at(float y) const {
  const size_t i = first_row_at_or_below(y);
  if (i < rows.size() && rows[i].y <= y) return static_cast<int64_t>(i);
  return -1;
}

std::string track_label(const LoadedTrace& t, const trace::Track& track) {
  std::string proc;
  if (auto it = t.tl.process_names.find(track.pid); it != t.tl.process_names.end()) proc = it->second;
  else proc = fmt::format("rank {}", track.pid);
  std::string thread;
  if (auto it = t.tl.thread_names.find({track.pid, track.tid}); it != t.tl.thread_names.end()) thread = it->second;
  else thread = fmt::format("{} {}", to_string(track.role), track.tid);
  return proc + " · " + thread;
}

Layout build_layout(const ViewModel& m, const LayoutOptions& opt) {
  Layout L;
  L.lane_h = opt.lane_h;
  L.track_pad = opt.track_pad;
  float y = 0;
  auto push = [&](Row r) {
    r.y = y;
    y += r.h;
    L.rows.push_back(std::move(r));
  };
  L.row_of_track.resize(m.traces.size());
  for (size_t ti = 0; ti < m.traces.size(); ++ti) {
    const LoadedTrace& t = m.traces[ti];
    L.row_of_track[ti].assign(t.idx.tracks.size(), -1);
    if (m.traces.size() > 1) {
      Row h;
      h.kind = RowKind::TraceHeader;
      h.trace = static_cast<int>(ti);
      h.h = opt.header_h;
      const auto src = trace::to_string(t.tl.metadata.source);
      h.label = fmt::format("{} · {}{}{} · step {:.3f} ms", ti == 0 ? "A" : "B", t.path, src.empty() ? "" : " · ",
                            src, static_cast<double>(t.summary.step_ns) / 1e6);
      push(std::move(h));
    }
    // Tracks by stage, then rank, then stream (tracks are already sorted by pid, tid).
    std::map<int32_t, std::vector<size_t>> by_stage;
    for (size_t k = 0; k < t.idx.tracks.size(); ++k) {
      const int32_t pid = t.idx.tracks[k].pid, stage = t.idx.stage_of(pid);
      if (!opt.ranks.empty() && !opt.ranks.count(pid)) continue;
      if (!opt.stages.empty() && !opt.stages.count(stage)) continue;
      by_stage[stage].push_back(k);
    }
    L.tracks_kept.push_back(0);
    for (const auto& [stage, tracks] : by_stage) L.tracks_kept.back() += tracks.size();
    std::map<int32_t, double> stage_share;
    for (const auto& s : t.summary.stages) stage_share[s.stage] = s.bubble_share;
    for (const auto& [stage, tracks] : by_stage) {
      std::set<int32_t> ranks;
      for (size_t k : tracks) ranks.insert(t.idx.tracks[k].pid);
      Row h;
      h.kind = RowKind::StageHeader;
      h.trace = static_cast<int>(ti);
      h.stage = stage;
      h.h = opt.header_h;
      const bool collapsed = opt.collapsed.count({static_cast<int>(ti), stage}) > 0;
      h.label = fmt::format("{} {} · {} rank{}", collapsed ? "+" : "-",
                            stage >= 0 ? fmt::format("stage {}", stage) : std::string("no stage"), ranks.size(),
                            ranks.size() == 1 ? "" : "s");
      if (auto it = stage_share.find(stage); it != stage_share.end()) h.bubble_share = it->second;
      push(std::move(h));
      if (collapsed) continue;
      for (size_t k : tracks) {
        const trace::Track& tr = t.idx.tracks[k];
        Row r;
        r.kind = RowKind::Track;
        r.trace = static_cast<int>(ti);
        r.stage = stage;
        r.track = static_cast<int64_t>(k);
        r.h = opt.track_pad * 2 + opt.lane_h * static_cast<float>(std::max<size_t>(1, tr.lanes.size()));
        r.label = track_label(t, tr);
        // A compute track shows its rank's bubble (the measures': pipeline waits, issue gaps, tail).
        if (t.bubbles_of_track[k] >= 0) r.bubble_share = std::max(0.0, t.summary.rank_bubble_share(tr.pid));
        L.row_of_track[ti][k] = static_cast<int64_t>(L.rows.size());
        push(std::move(r));
      }
    }
  }
  L.total_h = y;
  return L;
}

}  // namespace tandem::viewer
