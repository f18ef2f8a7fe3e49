// The measures of a training step, computed from a Timeline by one library for every consumer
// (`tandem simulate`'s report, tandem-view, compare): step time, per rank the phases, bubble and
// exposed communication with the cause of each idle gap of the compute stream, overlap, per op kind
// busy time. docs/timeline.md ("Measures") defines each one.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "trace/analysis.h"
#include "trace/timeline.h"
#include "trace/track_index.h"

namespace tandem::trace {

// What ended last, on the rank, before the compute stream could start again after an idle gap.
enum class GapCause : uint8_t { Pipeline, AllToAll, Collective, None };
inline constexpr size_t kGapCauses = 4;
std::string_view to_string(GapCause c);   // "pipeline", "all_to_all", "collective", "issue"
// The cause an op kind stands for when it ends a gap: send/recv/send_recv Pipeline, all_to_all
// AllToAll, all_reduce/reduce_scatter/all_gather Collective; other kinds None (no cause).
GapCause gap_cause_of(std::string_view op_kind);

// An idle interval of a rank's compute stream inside [step start, the rank's last end].
struct ComputeGap {
  int64_t start_ns = 0, end_ns = 0;
  GapCause cause = GapCause::None;
  int64_t cause_event = -1;         // index into Timeline::events, -1 for None
  int64_t length() const { return end_ns - start_ns; }
};

// One rank. compute_ns() + bubble_ns() + exposed_comm_ns() = the step time.
struct RankMeasures {
  int32_t pid = 0;
  int32_t stage = -1;
  int64_t end_ns = 0;                                   // the rank's last event end
  // Busy time of the compute stream by phase (a union: overlapping kernels count once, for the
  // one that started first).
  int64_t forward_ns = 0, backward_input_ns = 0, backward_weight_ns = 0, optimizer_ns = 0, other_compute_ns = 0;
  std::array<int64_t, kGapCauses> wait_ns{};            // idle compute time by GapCause
  int64_t tail_ns = 0;                                  // from the rank's last end to the step's end
  int64_t comm_ns = 0;                                  // union of the rank's communication
  int64_t overlap_ns = 0;                               // of which under the rank's compute
  int64_t steady_ns = 0;                                // first backward start to last forward end (0: none)
  std::vector<ComputeGap> gaps;

  int64_t compute_ns() const {
    return forward_ns + backward_input_ns + backward_weight_ns + optimizer_ns + other_compute_ns;
  }
  int64_t bubble_ns() const { return wait_ns[size_t(GapCause::Pipeline)] + wait_ns[size_t(GapCause::None)] + tail_ns; }
  int64_t exposed_comm_ns() const {
    return wait_ns[size_t(GapCause::AllToAll)] + wait_ns[size_t(GapCause::Collective)];
  }
};

// Phase slot of a compute kernel: optimizer kernels (op kind "optimizer"), else by phase letter.
enum class ComputePhase : uint8_t { Forward, BackwardInput, BackwardWeight, Optimizer, Other };
ComputePhase compute_phase(OpClass c, char phase);

// The gap-attribution core of one rank, fed in the order a simulator completes ops: nondecreasing
// end time, communication before a compute kernel ending at the same instant. Compute kernels of
// the compute stream must be disjoint and in order (the timeline form merges overlapping ones
// first). Gives everything in RankMeasures except comm_ns and overlap_ns (which need the whole
// rank: measure_timeline computes them).
class RankMeasurer {
 public:
  RankMeasurer(int32_t pid, int32_t stage, int64_t step_start_ns, bool keep_gaps);
  void add_compute(int64_t start_ns, int64_t end_ns, ComputePhase phase);
  void add_comm(int64_t end_ns, GapCause cause, int64_t event = -1);
  void add_other(int64_t end_ns);   // any other op of the rank (it only moves the rank's end)
  // The last gap (up to the rank's end) and the tail (up to the step's end).
  RankMeasures finish(int64_t step_end_ns) const;

 private:
  struct CommEnd {
    int64_t end_ns;
    GapCause cause;
    int64_t event;
  };
  void close_gap(RankMeasures& m, int64_t to_ns) const;
  RankMeasures m_;
  bool keep_gaps_;
  bool any_ = false;
  int64_t covered_ns_;                 // the compute stream's busy end so far
  int64_t first_backward_ns_ = -1, last_forward_end_ns_ = -1;
  std::vector<CommEnd> pending_;       // communication ended since the last compute kernel
};

struct Measures {
  Interval step;                       // earliest start to latest end over all events
  int64_t step_ns = 0;
  std::vector<RankMeasures> ranks;     // ranks with a compute stream, by pid
  std::vector<OpKindTotal> kinds;      // busy time and count per op kind, longest first
};

// The measures of `tl`; compute streams are the tracks `idx` calls Compute.
Measures measure_timeline(const Timeline& tl, const TrackIndex& idx);
Measures measure_timeline(const Timeline& tl);

// Weighted means over ranks (all weights 1 when `weights` is empty, else one per rank), in ns.
struct MeanMeasures {
  double ranks = 0;                    // sum of the weights
  double forward_ns = 0, backward_input_ns = 0, backward_weight_ns = 0, optimizer_ns = 0, other_compute_ns = 0;
  double bubble_ns = 0, exposed_comm_ns = 0, tail_ns = 0;
  std::array<double, kGapCauses> wait_ns{};
  double comm_ns = 0, overlap_ns = 0, steady_ns = 0;
  // Communication hidden under compute: overlap / comm (0 without communication).
  double overlap_share() const { return comm_ns > 0 ? overlap_ns / comm_ns : 0.0; }
};
MeanMeasures mean_measures(std::span<const RankMeasures> ranks, std::span<const double> weights = {});

// Means per pipeline stage (ranks without a stage: stage -1), ascending by stage.
struct StageMeasures {
  int32_t stage = -1;
  MeanMeasures mean;
};
std::vector<StageMeasures> stage_measures(std::span<const RankMeasures> ranks, std::span<const double> weights = {});

struct StageSummary {
  int32_t stage = -1;                // -1: ranks without a stage arg
  int64_t ranks = 0;
  double bubble_share = 0.0;         // the stage's mean bubble over the step
  double bubble_ns = 0;              // mean bubble per rank (measures)
  double exposed_comm_ns = 0;        // mean exposed communication per rank (measures)
};

struct PhaseTotal {
  char phase = 0;
  int64_t total_ns = 0;
};

// What the viewer shows of a timeline: the measures (docs/timeline.md), their means over ranks, and
// the idle gaps of each compute track for drawing.
struct Summary {
  Interval step;
  int64_t step_ns = 0;
  size_t events = 0;
  size_t ranks = 0;
  Measures measures;
  MeanMeasures mean;                 // over the measured ranks, equal weights
  std::vector<StageSummary> stages;
  double bubble_share = 0.0;         // mean bubble over the step
  double exposed_comm_share = 0.0;   // mean exposed communication over the step
  int64_t exposed_comm_max_ns = 0;   // the worst rank
  double exposed_comm_mean_ns = 0.0;
  double comm_mean_ns = 0.0;         // mean communication busy time per rank
  SmSplit sm;
  std::vector<OpKindTotal> kinds;
  std::vector<PhaseTotal> phases;    // compute time per phase F, B, W and 0 (optimizer, none), all ranks
  std::vector<TrackBubbles> bubbles;
  // The bubble share of rank `pid` (its bubble over the step), -1 when the rank is not measured.
  double rank_bubble_share(int32_t pid) const;
};
Summary summarize(const Timeline& tl, const TrackIndex& idx);

}  // namespace tandem::trace
