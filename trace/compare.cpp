// Lining up a predicted and a measured timeline and computing both sides' measures: each side is cut
// to one step and to the compared ranks, its ops are sorted by their matching key and the two sorted
// lists are walked together; the measures of docs/timeline.md give the step, phase and stream rows.
#include "trace/compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/input_error.h"
#include "trace/analysis.h"
#include "trace/kernel_class.h"
#include "trace/measures.h"
#include "trace/track_index.h"

namespace tandem::trace {

std::string_view to_string(Matching m) { return m == Matching::Identity ? "identity" : "kind_order"; }

std::optional<double> SidePair::error() const {
  if (measured_s == 0.0) return predicted_s == 0.0 ? std::optional<double>(0.0) : std::nullopt;
  return (predicted_s - measured_s) / measured_s;
}

namespace {

constexpr double kNsPerS = 1e9;

bool own_source(TraceSource s) { return s == TraceSource::Sim || s == TraceSource::Cpu || s == TraceSource::Cuda; }

// Whether an event is an op (device work or a tandem op), not host work or an annotation range.
bool is_op(OpClass c) { return c != OpClass::Host && c != OpClass::Annotation; }

}  // namespace

std::string rank_ranges(const std::vector<int32_t>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(ranks[i]) : fmt::format("{}-{}", ranks[i], ranks[j]);
    i = j + 1;
  }
  return out;
}

namespace {

// The matching key of an op: identity uses (rank, id); kind order uses (rank position, stream role,
// kind, phase, layer, occurrence).
struct OpKey {
  int32_t rank = 0;
  int32_t role = 0;
  std::string_view kind;
  char phase = 0;
  int32_t layer = -1;
  int64_t n = 0;
  auto operator<=>(const OpKey&) const = default;
};

struct KeyedOp {
  OpKey key;
  uint32_t event;
};

// One side: the caller's timeline, or a copy of it cut to one step or to some ranks.
struct Side {
  const Timeline* source;
  Timeline cut;
  bool is_cut = false;
  TrackIndex idx;
  std::vector<KeyedOp> ops;          // sorted by key
  const Timeline& tl() const { return is_cut ? cut : *source; }
  // Keeps the events `keep` says yes to, in order (on a copy, made the first time). Flows are not
  // compared and are dropped.
  template <typename Keep>
  void keep_events(Keep keep) {
    if (!is_cut) {
      cut = *source;
      is_cut = true;
    }
    std::erase_if(cut.events, [&](const Event& e) { return !keep(e); });
    cut.flows.clear();
  }
};

// The `step` arg of each event (-1 when absent), looked up by the arg's string id.
std::vector<int64_t> steps_of(const Timeline& tl) {
  std::vector<int64_t> out(tl.events.size(), -1);
  const uint32_t key = tl.find_string("step");
  if (key == UINT32_MAX) return out;
  for (size_t i = 0; i < tl.events.size(); ++i)
    for (const Arg& a : tl.args_of(tl.events[i]))
      if (a.key == key && a.type == ArgType::Int) out[i] = a.int_value;
  return out;
}

// Cuts a side to one step: a trace holding several (`tandem run --steps N`) keeps options.step, or
// its last one.
void select_step(Side& s, CompareSide& side, const CompareOptions& options) {
  const std::vector<int64_t> steps = steps_of(s.tl());
  std::set<int64_t> held;
  for (int64_t s : steps)
    if (s >= 0) held.insert(s);
  side.steps_held = int64_t(held.size());
  if (held.empty()) return;
  if (held.size() == 1) {
    side.step = *held.begin();
    return;
  }
  side.step = options.step >= 0 ? options.step : *held.rbegin();
  if (!held.contains(side.step))
    throw io::InputError(options.step_option, "", fmt::format("a step that {} holds ({})", side.path, fmt::join(held, ",")),
                         std::to_string(side.step));
  size_t i = 0;
  s.keep_events([&](const Event&) { return steps[i++] == side.step; });
}

// The pids holding at least one op, sorted.
std::vector<int32_t> op_ranks(const Timeline& tl, const std::vector<OpClass>& classes) {
  std::set<int32_t> pids;
  for (const Event& e : tl.events)
    if (is_op(classes[e.op])) pids.insert(e.pid);
  return {pids.begin(), pids.end()};
}

// The number of GPUs of a trace's world: its metadata's `gpus` (tandem's own traces), else its ranks.
int64_t world_size(const Timeline& tl, const std::vector<int32_t>& ranks) {
  if (auto it = tl.metadata.extra.find("gpus"); it != tl.metadata.extra.end()) {
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0) return v;
  }
  return int64_t(ranks.size());
}

// Checks that every rank asked for is held, then keeps those (the timeline is cut only when some
// pids are left out).
void select_ranks(Side& s, CompareSide& side, const std::vector<int32_t>& asked, const std::vector<int32_t>& held,
                  const std::string& option) {
  for (int32_t r : asked)
    if (!std::binary_search(held.begin(), held.end(), r))
      throw io::InputError(option, "", fmt::format("ranks that {} holds ({})", side.path, rank_ranges(held)),
                           fmt::format("rank {}", r));
  side.ranks = asked;
  std::sort(side.ranks.begin(), side.ranks.end());
  side.ranks.erase(std::unique(side.ranks.begin(), side.ranks.end()), side.ranks.end());
  // Cut unless every pid is a compared rank (a Kineto trace's host process holds no op and is cut).
  std::set<int32_t> present;
  for (const Event& e : s.tl().events) present.insert(e.pid);
  if (present.size() == side.ranks.size()) return;
  const std::set<int32_t> keep(side.ranks.begin(), side.ranks.end());
  s.keep_events([&](const Event& e) { return keep.contains(e.pid); });
}

// The role an op is lined up under: a side stream's kernels line up with the compute stream's (the
// prediction runs its weight gradients on the one compute stream).
TrackRole role_of(const Side& s, const Event& e) {
  const int64_t t = s.idx.find(e.pid, e.tid);
  const TrackRole r = t < 0 ? TrackRole::Compute : s.idx.tracks[size_t(t)].role;
  return r == TrackRole::Side ? TrackRole::Compute : r;
}

// Whether any op of the side carries a phase, a layer.
std::pair<bool, bool> carries_phase_layer(const Side& s) {
  bool phase = false, layer = false;
  for (const Event& e : s.tl().events)
    if (is_op(s.idx.op_classes[e.op])) {
      phase = phase || e.phase != 0;
      layer = layer || e.layer >= 0;
    }
  return {phase, layer};
}

void key_ops(Side& s, const Comparison& c, const std::vector<int32_t>& ranks) {
  const Matching m = c.matching;
  s.ops.clear();
  for (uint32_t i = 0; i < s.tl().events.size(); ++i) {
    const Event& e = s.tl().events[i];
    if (!is_op(s.idx.op_classes[e.op])) continue;
    KeyedOp k{{}, i};
    if (m == Matching::Identity) {
      k.key.rank = e.pid;
      k.key.n = e.id;
    } else {
      k.key.rank = int32_t(std::lower_bound(ranks.begin(), ranks.end(), e.pid) - ranks.begin());
      k.key.role = int32_t(role_of(s, e));
      k.key.kind = s.tl().op_of(e);
      k.key.phase = c.by_phase ? e.phase : char(0);
      k.key.layer = c.by_layer ? e.layer : -1;
      k.key.n = e.start_ns;   // order within the group; replaced by the occurrence below
    }
    s.ops.push_back(k);
  }
  const auto by_key = [&](const KeyedOp& a, const KeyedOp& b) {
    if (a.key != b.key) return a.key < b.key;
    const Event &x = s.tl().events[a.event], &y = s.tl().events[b.event];
    return std::tie(x.tid, a.event) < std::tie(y.tid, b.event);
  };
  std::sort(s.ops.begin(), s.ops.end(), by_key);
  if (m == Matching::KindOrder) {
    int64_t n = 0;
    for (size_t i = 0; i < s.ops.size(); ++i) {
      OpKey& k = s.ops[i].key;
      const bool same_group = i > 0 && std::tie(k.rank, k.role, k.kind, k.phase, k.layer) ==
                                           std::tie(s.ops[i - 1].key.rank, s.ops[i - 1].key.role, s.ops[i - 1].key.kind,
                                                    s.ops[i - 1].key.phase, s.ops[i - 1].key.layer);
      n = same_group ? n + 1 : 0;
      k.n = n;
    }
  }
}

// Kineto kernel names run to kilobytes of template arguments: a label keeps the first 120 characters.
std::string op_label(const Timeline& tl, const Event& e) {
  const std::string name = io::cut_for_message(tl.name_of(e), 120);
  return e.id >= 0 ? fmt::format("rank {} id {} {}", e.pid, e.id, name) : fmt::format("rank {} {} {}", e.pid, tl.op_of(e), name);
}

void list_op(OpList& l, std::string label) {
  if (l.first.size() < kFirstListed) l.first.push_back(std::move(label));
  ++l.count;
}

double seconds(double ns) { return ns / kNsPerS; }

// Busy time per stream: the union of each track's events, summed over ranks; counted ops.
struct StreamTotal {
  int64_t busy_ns = 0, count = 0;
};
std::map<std::string, StreamTotal> stream_totals(const Side& s, Matching m) {
  std::map<std::string, StreamTotal> out;
  for (const Track& t : s.idx.tracks) {
    int64_t count = 0;
    for (const Lane& lane : t.lanes)
      for (uint32_t i : lane.events) count += is_op(s.idx.op_classes[s.tl().events[i].op]) ? 1 : 0;
    if (count == 0) continue;
    std::string name;
    if (m == Matching::Identity) {
      auto it = s.tl().thread_names.find({t.pid, t.tid});
      name = it != s.tl().thread_names.end() ? it->second : fmt::format("stream {}", t.tid);
    } else {
      name = std::string(to_string(t.role));
    }
    StreamTotal& st = out[name];
    st.busy_ns += total_length(busy_intervals(s.tl(), s.idx, t));
    st.count += count;
  }
  return out;
}

}  // namespace

Comparison compare_timelines(const Timeline& predicted, const std::string& predicted_path, const Timeline& measured,
                             const std::string& measured_path, const CompareOptions& options) {
  Comparison c;
  Side p{&predicted, {}, false, {}, {}}, m{&measured, {}, false, {}, {}};
  c.predicted.path = predicted_path;
  c.measured.path = measured_path;
  for (auto [s, side] : {std::pair{&p, &c.predicted}, std::pair{&m, &c.measured}}) {
    side->source = s->tl().metadata.source;
    side->scenario = s->tl().metadata.scenario;
    select_step(*s, *side, options);
  }
  if (options.step >= 0 && c.predicted.steps_held <= 1 && c.measured.steps_held <= 1)
    throw io::InputError(options.step_option, "", "a trace holding several steps to choose from",
                         fmt::format("{} and {} holding one each", predicted_path, measured_path));

  // Identity needs tandem's own traces on both sides, every op carrying its id.
  const std::vector<OpClass> p_classes = classify_op_strings(p.tl()), m_classes = classify_op_strings(m.tl());
  const auto all_ids = [](const Timeline& tl, const std::vector<OpClass>& classes) {
    return std::all_of(tl.events.begin(), tl.events.end(),
                       [&](const Event& e) { return !is_op(classes[e.op]) || e.id >= 0; });
  };
  c.matching = own_source(p.tl().metadata.source) && own_source(m.tl().metadata.source) && all_ids(p.tl(), p_classes) &&
                       all_ids(m.tl(), m_classes)
                   ? Matching::Identity
                   : Matching::KindOrder;

  const std::vector<int32_t> p_held = op_ranks(p.tl(), p_classes), m_held = op_ranks(m.tl(), m_classes);
  for (const auto& [held, side] : {std::pair{&p_held, &c.predicted}, std::pair{&m_held, &c.measured}})
    if (held->empty())
      throw io::InputError(side->path, "",
                           side->step >= 0 ? fmt::format("ops in step {}", side->step) : "a trace with at least one op",
                           fmt::format("{} events, none of them an op (host work and annotations only)",
                                       (side == &c.predicted ? p : m).tl().events.size()));
  if (c.matching == Matching::Identity) {
    const int64_t pw = world_size(p.tl(), p_held), mw = world_size(m.tl(), m_held);
    if (pw != mw)
      throw io::InputError(measured_path, "metadata.gpus",
                           fmt::format("the world of {} GPUs of {} (ops are lined up by rank and id)", pw, predicted_path),
                           fmt::format("{} GPUs", mw));
  }
  // Ranks: those asked for, else (identity) the ranks both sides hold, else every rank of each side.
  std::vector<int32_t> p_ranks = options.predicted_ranks, m_ranks = options.measured_ranks;
  if (c.matching == Matching::Identity && p_ranks.empty() && m_ranks.empty()) {
    std::set_intersection(p_held.begin(), p_held.end(), m_held.begin(), m_held.end(), std::back_inserter(p_ranks));
    if (p_ranks.empty())
      throw io::InputError(measured_path, "", fmt::format("ranks in common with {} ({})", predicted_path, rank_ranges(p_held)),
                           fmt::format("ranks {}", rank_ranges(m_held)));
    m_ranks = p_ranks;
  }
  select_ranks(p, c.predicted, p_ranks.empty() ? p_held : p_ranks, p_held, options.ranks_option);
  select_ranks(m, c.measured, m_ranks.empty() ? m_held : m_ranks, m_held, options.ranks_option);

  p.idx = build_track_index(p.tl());
  m.idx = build_track_index(m.tl());
  if (c.matching == Matching::KindOrder) {
    const auto [p_phase, p_layer] = carries_phase_layer(p);
    const auto [m_phase, m_layer] = carries_phase_layer(m);
    c.by_phase = p_phase && m_phase;
    c.by_layer = p_layer && m_layer;
  }
  key_ops(p, c, c.predicted.ranks);
  key_ops(m, c, c.measured.ranks);
  c.predicted.ops = int64_t(p.ops.size());
  c.measured.ops = int64_t(m.ops.size());

  // Walk both sorted lists together.
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (size_t i = 0, j = 0; i < p.ops.size() || j < m.ops.size();) {
    if (j == m.ops.size() || (i < p.ops.size() && p.ops[i].key < m.ops[j].key)) {
      list_op(c.only_predicted, op_label(p.tl(), p.tl().events[p.ops[i++].event]));
    } else if (i == p.ops.size() || m.ops[j].key < p.ops[i].key) {
      list_op(c.only_measured, op_label(m.tl(), m.tl().events[m.ops[j++].event]));
    } else {
      pairs.emplace_back(p.ops[i++].event, m.ops[j++].event);
    }
  }
  c.matched = int64_t(pairs.size());
  if (c.matching == Matching::Identity)
    for (const auto& [a, b] : pairs)
      if (p.tl().name_of(p.tl().events[a]) != m.tl().name_of(m.tl().events[b]))
        list_op(c.name_mismatches, fmt::format("{} vs {}", op_label(p.tl(), p.tl().events[a]), m.tl().name_of(m.tl().events[b])));

  // The largest absolute errors; ties by rank, id and name so the list does not depend on the order.
  const auto abs_diff = [&](const std::pair<uint32_t, uint32_t>& x) {
    return std::llabs(p.tl().events[x.first].dur_ns - m.tl().events[x.second].dur_ns);
  };
  const auto larger = [&](const auto& x, const auto& y) {
    const int64_t dx = abs_diff(x), dy = abs_diff(y);
    if (dx != dy) return dx > dy;
    const Event &ex = p.tl().events[x.first], &ey = p.tl().events[y.first];
    return std::tuple(ex.pid, ex.id, p.tl().name_of(ex), x.first) < std::tuple(ey.pid, ey.id, p.tl().name_of(ey), y.first);
  };
  const size_t top = std::min(kTopOps, pairs.size());
  std::partial_sort(pairs.begin(), pairs.begin() + ptrdiff_t(top), pairs.end(), larger);
  for (size_t i = 0; i < top; ++i) {
    const Event &a = p.tl().events[pairs[i].first], &b = m.tl().events[pairs[i].second];
    c.top_ops.push_back({std::string(p.tl().name_of(a)), std::string(p.tl().op_of(a)), a.pid, a.id,
                         {seconds(double(a.dur_ns)), seconds(double(b.dur_ns))}});
  }

  // The measures of each side.
  const Measures pm = measure_timeline(p.tl(), p.idx), mm = measure_timeline(m.tl(), m.idx);
  c.step = {seconds(double(pm.step_ns)), seconds(double(mm.step_ns))};
  const MeanMeasures pa = mean_measures(pm.ranks), ma = mean_measures(mm.ranks);
  const auto row = [](std::string name, double p_ns, double m_ns) {
    return CompareRow{std::move(name), {seconds(p_ns), seconds(m_ns)}, 0, 0};
  };
  c.phases = {row("forward", pa.forward_ns, ma.forward_ns),
              row("backward_input", pa.backward_input_ns, ma.backward_input_ns),
              row("backward_weight", pa.backward_weight_ns, ma.backward_weight_ns),
              row("optimizer", pa.optimizer_ns, ma.optimizer_ns),
              row("other", pa.other_compute_ns, ma.other_compute_ns),
              row("bubble", pa.bubble_ns, ma.bubble_ns),
              row("exposed_comm", pa.exposed_comm_ns, ma.exposed_comm_ns),
              row("communication", pa.comm_ns, ma.comm_ns),
              row("overlap", pa.overlap_ns, ma.overlap_ns)};

  // Per op kind: every op of the compared ranks (host work and annotations aside).
  std::map<std::string, CompareRow> kinds;
  for (const auto& [s, predicted_side] : {std::pair{&pm, true}, std::pair{&mm, false}})
    for (const OpKindTotal& k : s->kinds) {
      if (!is_op(op_class(k.op))) continue;
      CompareRow& r = kinds[k.op];
      r.name = k.op;
      (predicted_side ? r.time.predicted_s : r.time.measured_s) = seconds(double(k.total_ns));
      (predicted_side ? r.predicted_count : r.measured_count) = k.count;
    }
  for (auto& [k, r] : kinds) c.kinds.push_back(std::move(r));
  std::stable_sort(c.kinds.begin(), c.kinds.end(), [](const CompareRow& a, const CompareRow& b) {
    return std::max(a.time.predicted_s, a.time.measured_s) > std::max(b.time.predicted_s, b.time.measured_s);
  });

  // Per kernel class: the same sums, each op under its class (trace/kernel_class.h).
  std::map<std::string, CompareRow> classes;
  for (const auto& [s, predicted_side] : {std::pair{&p, true}, std::pair{&m, false}})
    for (const KeyedOp& k : s->ops) {
      const Event& e = s->tl().events[k.event];
      const auto cls = kernel_class_of(s->tl(), e);
      if (!cls) continue;
      CompareRow& r = classes[std::string(to_string(*cls))];
      r.name = to_string(*cls);
      (predicted_side ? r.time.predicted_s : r.time.measured_s) += seconds(double(e.dur_ns));
      ++(predicted_side ? r.predicted_count : r.measured_count);
    }
  for (auto& [k, r] : classes) c.classes.push_back(std::move(r));
  std::stable_sort(c.classes.begin(), c.classes.end(), [](const CompareRow& a, const CompareRow& b) {
    return std::max(a.time.predicted_s, a.time.measured_s) > std::max(b.time.predicted_s, b.time.measured_s);
  });

  std::map<std::string, CompareRow> streams;
  for (const auto& [s, predicted_side] : {std::pair{&p, true}, std::pair{&m, false}})
    for (const auto& [name, t] : stream_totals(*s, c.matching)) {
      CompareRow& r = streams[name];
      r.name = name;
      (predicted_side ? r.time.predicted_s : r.time.measured_s) = seconds(double(t.busy_ns));
      (predicted_side ? r.predicted_count : r.measured_count) = t.count;
    }
  for (auto& [k, r] : streams) c.streams.push_back(std::move(r));
  return c;
}

}  // namespace tandem::trace
