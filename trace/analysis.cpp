// Interval arithmetic and what is built on it: idle gaps of compute tracks, op-kind totals, SM split.
#include "trace/analysis.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_map>

namespace tandem::trace {

std::vector<Interval> merge_intervals(std::vector<Interval> v) {
  std::erase_if(v, [](const Interval& i) { return i.end_ns <= i.start_ns; });
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.start_ns < b.start_ns; });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (!out.empty() && i.start_ns <= out.back().end_ns) out.back().end_ns = std::max(out.back().end_ns, i.end_ns);
    else out.push_back(i);
  }
  return out;
}

int64_t total_length(const std::vector<Interval>& merged) {
  int64_t sum = 0;
  for (const auto& i : merged) sum += i.length();
  return sum;
}

std::vector<Interval> subtract_intervals(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  std::vector<Interval> out;
  size_t j = 0;
  for (const Interval& x : a) {
    int64_t cur = x.start_ns;
    while (j < b.size() && b[j].end_ns <= cur) ++j;
    size_t k = j;
    while (k < b.size() && b[k].start_ns < x.end_ns) {
      if (b[k].start_ns > cur) out.push_back({cur, b[k].start_ns});
      cur = std::max(cur, b[k].end_ns);
      ++k;
    }
    if (cur < x.end_ns) out.push_back({cur, x.end_ns});
  }
  return out;
}

std::vector<Interval> idle_gaps(const std::vector<Interval>& busy, Interval window, int64_t min_gap_ns) {
  std::vector<Interval> out;
  int64_t cur = window.start_ns;
  auto add = [&](int64_t s, int64_t e) {
    if (e > s && e - s >= std::max<int64_t>(min_gap_ns, 1)) out.push_back({s, e});
  };
  for (const Interval& b : busy) {
    if (b.end_ns <= window.start_ns) continue;
    if (b.start_ns >= window.end_ns) break;
    add(cur, std::min(b.start_ns, window.end_ns));
    cur = std::max(cur, b.end_ns);
  }
  add(cur, window.end_ns);
  return out;
}

std::vector<Interval> busy_intervals(const Timeline& tl, const TrackIndex& idx, const Track& track) {
  std::vector<Interval> v;
  v.reserve(track.event_count);
  for (const auto& lane : track.lanes)
    for (size_t i = 0; i < lane.events.size(); ++i) {
      const OpClass c = idx.op_classes[tl.events[lane.events[i]].op];
      if (c == OpClass::Annotation || c == OpClass::Host) continue;
      v.push_back({lane.starts[i], lane.ends[i]});
    }
  if (track.lanes.size() == 1) {
    // One lane is already sorted and disjoint: merge touching neighbours only.
    std::vector<Interval> out;
    for (const auto& i : v) {
      if (i.end_ns <= i.start_ns) continue;
      if (!out.empty() && i.start_ns <= out.back().end_ns) out.back().end_ns = std::max(out.back().end_ns, i.end_ns);
      else out.push_back(i);
    }
    return out;
  }
  return merge_intervals(std::move(v));
}

Interval step_window(const Timeline& tl) {
  auto [lo, hi] = tl.time_span();
  return {lo, hi};
}

std::vector<TrackBubbles> compute_bubbles(const Timeline& tl, const TrackIndex& idx, Interval step,
                                          int64_t min_gap_ns) {
  std::vector<TrackBubbles> out;
  for (size_t t = 0; t < idx.tracks.size(); ++t) {
    const Track& track = idx.tracks[t];
    if (track.role != TrackRole::Compute) continue;
    TrackBubbles b;
    b.track = t;
    b.gaps = idle_gaps(busy_intervals(tl, idx, track), step, min_gap_ns);
    b.idle_ns = total_length(b.gaps);
    b.share = step.length() > 0 ? static_cast<double>(b.idle_ns) / static_cast<double>(step.length()) : 0.0;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<OpKindTotal> op_kind_totals(const Timeline& tl) {
  struct Acc {
    int64_t count = 0, total = 0;
    std::set<int32_t> pids;
  };
  std::vector<Acc> acc(tl.string_count());
  for (const Event& e : tl.events) {
    Acc& a = acc[e.op];
    ++a.count;
    a.total += e.dur_ns;
    a.pids.insert(e.pid);
  }
  std::vector<OpKindTotal> out;
  for (uint32_t i = 0; i < acc.size(); ++i)
    if (acc[i].count)
      out.push_back({std::string(tl.str(i)), acc[i].count, acc[i].total, static_cast<int64_t>(acc[i].pids.size())});
  std::sort(out.begin(), out.end(), [](const OpKindTotal& a, const OpKindTotal& b) {
    return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.op < b.op;
  });
  return out;
}

double SmSplit::comm_share() const {
  const double total = compute_sm_ns + comm_sm_ns + other_sm_ns;
  return total > 0 ? comm_sm_ns / total : 0.0;
}

SmSplit sm_split(const Timeline& tl, const TrackIndex& idx) {
  SmSplit s;
  for (const Event& e : tl.events) {
    if (e.sms < 0) continue;
    s.present = true;
    const double v = static_cast<double>(e.sms) * static_cast<double>(e.dur_ns);
    switch (idx.op_classes[e.op]) {
      case OpClass::Compute:
      case OpClass::Optimizer: s.compute_sm_ns += v; break;
      case OpClass::Comm: s.comm_sm_ns += v; break;
      default: s.other_sm_ns += v; break;
    }
  }
  return s;
}

}  // namespace tandem::trace
