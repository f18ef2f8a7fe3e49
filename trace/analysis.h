// Timeline analysis shared by the viewer and `tandem compare`: interval arithmetic, the idle gaps of
// compute streams (drawn by the viewer), time per op kind and the SM-time split. The measures
// (bubble, exposed communication, overlap) are trace/measures.h's; the comparison trace/compare.h's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "trace/timeline.h"
#include "trace/track_index.h"

namespace tandem::trace {

// Half-open [start_ns, end_ns).
struct Interval {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t length() const { return end_ns - start_ns; }
  bool operator==(const Interval&) const = default;
};

// Sorted union of the intervals (touching intervals merge; empty ones vanish).
std::vector<Interval> merge_intervals(std::vector<Interval> v);
int64_t total_length(const std::vector<Interval>& merged);
// Parts of merged `a` not covered by merged `b`.
std::vector<Interval> subtract_intervals(const std::vector<Interval>& a, const std::vector<Interval>& b);
// Gaps of merged `busy` inside `window` no shorter than `min_gap_ns`.
std::vector<Interval> idle_gaps(const std::vector<Interval>& busy, Interval window, int64_t min_gap_ns = 0);

// Union of a track's events, annotations and host ranges excluded.
std::vector<Interval> busy_intervals(const Timeline& tl, const TrackIndex& idx, const Track& track);

// The step: from the earliest start to the latest end over all events.
Interval step_window(const Timeline& tl);

// Idle gaps of one compute track inside the step (all of them, whatever their cause: the measures
// split them into bubble and exposed communication).
struct TrackBubbles {
  size_t track = 0;                  // index into TrackIndex::tracks
  std::vector<Interval> gaps;
  int64_t idle_ns = 0;
  double share = 0.0;                // idle_ns / step length
};
std::vector<TrackBubbles> compute_bubbles(const Timeline& tl, const TrackIndex& idx, Interval step,
                                          int64_t min_gap_ns = 0);

struct OpKindTotal {
  std::string op;                    // "" for events without an op kind
  int64_t count = 0;
  int64_t total_ns = 0;
  int64_t ranks = 0;                 // distinct pids with this kind
};
// Sorted by total time, longest first (ties by name).
std::vector<OpKindTotal> op_kind_totals(const Timeline& tl);

// SM-time (SMs held × duration, in SM·ns) of the events that carry an `sms` arg.
struct SmSplit {
  bool present = false;
  double compute_sm_ns = 0.0;        // compute and optimizer kernels
  double comm_sm_ns = 0.0;           // communication kernels
  double other_sm_ns = 0.0;          // copies and the rest
  double comm_share() const;         // comm / (compute + comm + other), 0 when empty
};
SmSplit sm_split(const Timeline& tl, const TrackIndex& idx);


}  // namespace tandem::trace
