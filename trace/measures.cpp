// The step measures of a Timeline (see measures.h and docs/timeline.md): per rank, a sweep over its
// compute kernels in start order gives the busy time by phase and the idle gaps; each gap takes the
// cause of the communication that ended last inside it; the communication union gives the overlap.
#include "trace/measures.h"

#include <algorithm>
#include <map>

namespace tandem::trace {

std::string_view to_string(GapCause c) {
  switch (c) {
    case GapCause::Pipeline: return "pipeline";
    case GapCause::AllToAll: return "all_to_all";
    case GapCause::Collective: return "collective";
    case GapCause::None: return "issue";
  }
  return "?";
}

GapCause gap_cause_of(std::string_view k) {
  if (k == op_kind::kSend || k == op_kind::kRecv || k == "send_recv") return GapCause::Pipeline;
  if (k == op_kind::kAllToAll || k == op_kind::kNotify) return GapCause::AllToAll;   // DeepEP's handshakes with it
  if (k == op_kind::kAllReduce || k == op_kind::kReduceScatter || k == op_kind::kAllGather) return GapCause::Collective;
  return GapCause::None;
}

ComputePhase compute_phase(OpClass c, char phase) {
  if (c == OpClass::Optimizer) return ComputePhase::Optimizer;
  switch (phase) {
    case 'F': return ComputePhase::Forward;
    case 'B': return ComputePhase::BackwardInput;
    case 'W': return ComputePhase::BackwardWeight;
    default: return ComputePhase::Other;
  }
}

RankMeasurer::RankMeasurer(int32_t pid, int32_t stage, int64_t step_start_ns, bool keep_gaps)
    : keep_gaps_(keep_gaps), covered_ns_(step_start_ns) {
  m_.pid = pid;
  m_.stage = stage;
  m_.end_ns = step_start_ns;
}

// Among communication that ends at the same instant the cause taken is the highest of
// Pipeline < AllToAll < Collective, so the rule does not depend on the order events are listed in.
void RankMeasurer::close_gap(RankMeasures& m, int64_t to_ns) const {
  if (to_ns <= covered_ns_) return;
  ComputeGap g{covered_ns_, to_ns, GapCause::None, -1};
  int64_t best_end = covered_ns_;
  for (const CommEnd& c : pending_) {
    if (c.end_ns <= covered_ns_ || c.end_ns > to_ns || c.cause == GapCause::None) continue;
    if (c.end_ns > best_end || (c.end_ns == best_end && (g.cause == GapCause::None || c.cause > g.cause))) {
      best_end = c.end_ns;
      g.cause = c.cause;
      g.cause_event = c.event;
    }
  }
  m.wait_ns[size_t(g.cause)] += g.length();
  if (keep_gaps_) m.gaps.push_back(g);
}

void RankMeasurer::add_compute(int64_t start_ns, int64_t end_ns, ComputePhase phase) {
  add_other(end_ns);
  close_gap(m_, start_ns);
  pending_.clear();
  const int64_t from = std::max(covered_ns_, start_ns);
  if (end_ns > from) {
    const int64_t busy = end_ns - from;
    switch (phase) {
      case ComputePhase::Forward: m_.forward_ns += busy; break;
      case ComputePhase::BackwardInput: m_.backward_input_ns += busy; break;
      case ComputePhase::BackwardWeight: m_.backward_weight_ns += busy; break;
      case ComputePhase::Optimizer: m_.optimizer_ns += busy; break;
      case ComputePhase::Other: m_.other_compute_ns += busy; break;
    }
    covered_ns_ = end_ns;
  }
  if ((phase == ComputePhase::BackwardInput || phase == ComputePhase::BackwardWeight) && first_backward_ns_ < 0)
    first_backward_ns_ = start_ns;
  if (phase == ComputePhase::Forward) last_forward_end_ns_ = std::max(last_forward_end_ns_, end_ns);
}

void RankMeasurer::add_comm(int64_t end_ns, GapCause cause, int64_t event) {
  add_other(end_ns);
  if (end_ns > covered_ns_) pending_.push_back({end_ns, cause, event});
}

void RankMeasurer::add_other(int64_t end_ns) {
  m_.end_ns = any_ ? std::max(m_.end_ns, end_ns) : end_ns;
  any_ = true;
}

RankMeasures RankMeasurer::finish(int64_t step_end_ns) const {
  RankMeasures m = m_;
  close_gap(m, m.end_ns);
  m.tail_ns = step_end_ns - std::max(m.end_ns, covered_ns_);
  if (first_backward_ns_ >= 0 && last_forward_end_ns_ > first_backward_ns_)
    m.steady_ns = last_forward_end_ns_ - first_backward_ns_;
  return m;
}

namespace {

struct RankEvents {
  std::vector<uint32_t> compute;   // compute and optimizer kernels of the compute streams
  std::vector<uint32_t> comm;      // communication anywhere on the rank
  int64_t end_ns = 0;
  bool has_end = false;
};

// One rank of a timeline: the compute kernels merged into disjoint pieces in start order (a piece
// keeps the phase of the kernel that started first), fed with the communication by end time.
RankMeasures measure_rank(const Timeline& tl, const TrackIndex& idx, int32_t pid, const RankEvents& ev, Interval step) {
  struct Item {
    int64_t start_ns, end_ns;
    bool compute;
    ComputePhase phase;
    GapCause cause;
    uint32_t event;
  };
  std::vector<uint32_t> order = ev.compute;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Event& x = tl.events[a];
    const Event& y = tl.events[b];
    return x.start_ns != y.start_ns ? x.start_ns < y.start_ns : a < b;
  });
  std::vector<Item> items;
  items.reserve(order.size() + ev.comm.size());
  std::vector<Interval> compute;
  compute.reserve(order.size());
  int64_t covered = step.start_ns;
  for (uint32_t i : order) {
    const Event& e = tl.events[i];
    const ComputePhase phase = compute_phase(idx.op_classes[e.op], e.phase);
    const int64_t from = std::max(covered, e.start_ns), end = e.end_ns();
    // A kernel inside the ones before it adds no piece but still marks its phase's start and end.
    items.push_back({std::max(e.start_ns, covered), std::max(end, from), true, phase, GapCause::None, i});
    if (e.start_ns < covered && end <= covered) items.back().start_ns = items.back().end_ns = covered;
    covered = std::max(covered, end);
    if (e.dur_ns > 0) {
      if (!compute.empty() && e.start_ns <= compute.back().end_ns) compute.back().end_ns = std::max(compute.back().end_ns, end);
      else compute.push_back({e.start_ns, end});
    }
  }
  std::vector<Interval> comm;
  comm.reserve(ev.comm.size());
  for (uint32_t i : ev.comm) {
    const Event& e = tl.events[i];
    items.push_back({e.start_ns, e.end_ns(), false, ComputePhase::Other, gap_cause_of(tl.op_of(e)), i});
    comm.push_back({e.start_ns, e.end_ns()});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.end_ns != b.end_ns) return a.end_ns < b.end_ns;
    return !a.compute && b.compute;
  });
  RankMeasurer measurer(pid, idx.stage_of(pid), step.start_ns, true);
  for (const Item& it : items) {
    if (it.compute) measurer.add_compute(it.start_ns, it.end_ns, it.phase);
    else measurer.add_comm(it.end_ns, it.cause, it.event);
  }
  if (ev.has_end) measurer.add_other(ev.end_ns);
  RankMeasures m = measurer.finish(step.end_ns);

  const std::vector<Interval> comm_union = merge_intervals(std::move(comm));
  m.comm_ns = total_length(comm_union);
  m.overlap_ns = m.comm_ns - total_length(subtract_intervals(comm_union, compute));
  return m;
}

}  // namespace

Measures measure_timeline(const Timeline& tl, const TrackIndex& idx) {
  Measures out;
  out.step = step_window(tl);
  out.step_ns = out.step.length();
  std::map<int32_t, RankEvents> ranks;
  for (const Track& track : idx.tracks) {
    const bool compute_track = track.role == TrackRole::Compute || track.role == TrackRole::Side;
    RankEvents* rank = nullptr;
    for (const Lane& lane : track.lanes)
      for (uint32_t i : lane.events) {
        const Event& e = tl.events[i];
        const OpClass c = idx.op_classes[e.op];
        if (c == OpClass::Host || c == OpClass::Annotation) continue;
        if (!rank) rank = &ranks[track.pid];
        rank->end_ns = rank->has_end ? std::max(rank->end_ns, e.end_ns()) : e.end_ns();
        rank->has_end = true;
        if (c == OpClass::Comm) rank->comm.push_back(i);
        else if (compute_track && (c == OpClass::Compute || c == OpClass::Optimizer)) rank->compute.push_back(i);
      }
  }
  for (const auto& [pid, ev] : ranks)
    if (!ev.compute.empty()) out.ranks.push_back(measure_rank(tl, idx, pid, ev, out.step));
  out.kinds = op_kind_totals(tl);
  return out;
}

Measures measure_timeline(const Timeline& tl) { return measure_timeline(tl, build_track_index(tl)); }

namespace {

MeanMeasures mean_of(const std::vector<std::pair<const RankMeasures*, double>>& ranks) {
  MeanMeasures m;
  for (const auto& [r, w] : ranks) {
    m.ranks += w;
    m.forward_ns += w * double(r->forward_ns);
    m.backward_input_ns += w * double(r->backward_input_ns);
    m.backward_weight_ns += w * double(r->backward_weight_ns);
    m.optimizer_ns += w * double(r->optimizer_ns);
    m.other_compute_ns += w * double(r->other_compute_ns);
    m.bubble_ns += w * double(r->bubble_ns());
    m.exposed_comm_ns += w * double(r->exposed_comm_ns());
    m.tail_ns += w * double(r->tail_ns);
    for (size_t c = 0; c < kGapCauses; ++c) m.wait_ns[c] += w * double(r->wait_ns[c]);
    m.comm_ns += w * double(r->comm_ns);
    m.overlap_ns += w * double(r->overlap_ns);
    m.steady_ns += w * double(r->steady_ns);
  }
  if (m.ranks > 0) {
    for (double* v : {&m.forward_ns, &m.backward_input_ns, &m.backward_weight_ns, &m.optimizer_ns, &m.other_compute_ns,
                      &m.bubble_ns, &m.exposed_comm_ns, &m.tail_ns, &m.comm_ns, &m.overlap_ns, &m.steady_ns})
      *v /= m.ranks;
    for (double& v : m.wait_ns) v /= m.ranks;
  }
  return m;
}

}  // namespace

MeanMeasures mean_measures(std::span<const RankMeasures> ranks, std::span<const double> weights) {
  std::vector<std::pair<const RankMeasures*, double>> list;
  list.reserve(ranks.size());
  for (size_t i = 0; i < ranks.size(); ++i) list.emplace_back(&ranks[i], weights.empty() ? 1.0 : weights[i]);
  return mean_of(list);
}

std::vector<StageMeasures> stage_measures(std::span<const RankMeasures> ranks, std::span<const double> weights) {
  std::map<int32_t, std::vector<std::pair<const RankMeasures*, double>>> by_stage;
  for (size_t i = 0; i < ranks.size(); ++i)
    by_stage[ranks[i].stage].emplace_back(&ranks[i], weights.empty() ? 1.0 : weights[i]);
  std::vector<StageMeasures> out;
  for (const auto& [stage, list] : by_stage) out.push_back({stage, mean_of(list)});
  return out;
}

double Summary::rank_bubble_share(int32_t pid) const {
  for (const RankMeasures& r : measures.ranks)
    if (r.pid == pid) return step_ns > 0 ? double(r.bubble_ns()) / double(step_ns) : 0.0;
  return -1.0;
}

Summary summarize(const Timeline& tl, const TrackIndex& idx) {
  Summary s;
  s.measures = measure_timeline(tl, idx);
  s.step = s.measures.step;
  s.step_ns = s.measures.step_ns;
  s.events = tl.events.size();
  s.ranks = idx.ranks.size();
  s.bubbles = compute_bubbles(tl, idx, s.step);
  s.mean = mean_measures(s.measures.ranks);
  const double step = double(s.step_ns);
  auto share = [&](double ns) { return step > 0 ? ns / step : 0.0; };
  for (const StageMeasures& st : stage_measures(s.measures.ranks))
    s.stages.push_back({st.stage, int64_t(st.mean.ranks), share(st.mean.bubble_ns), st.mean.bubble_ns,
                        st.mean.exposed_comm_ns});
  s.bubble_share = share(s.mean.bubble_ns);
  s.exposed_comm_share = share(s.mean.exposed_comm_ns);
  s.exposed_comm_mean_ns = s.mean.exposed_comm_ns;
  s.comm_mean_ns = s.mean.comm_ns;
  int64_t by_phase[4] = {0, 0, 0, 0};   // F, B, W, none (optimizer and the rest)
  for (const RankMeasures& r : s.measures.ranks) {
    s.exposed_comm_max_ns = std::max(s.exposed_comm_max_ns, r.exposed_comm_ns());
    by_phase[0] += r.forward_ns;
    by_phase[1] += r.backward_input_ns;
    by_phase[2] += r.backward_weight_ns;
    by_phase[3] += r.optimizer_ns + r.other_compute_ns;
  }
  s.phases = {{'F', by_phase[0]}, {'B', by_phase[1]}, {'W', by_phase[2]}, {0, by_phase[3]}};
  s.sm = sm_split(tl, idx);
  s.kinds = s.measures.kinds;
  return s;
}

}  // namespace tandem::trace
