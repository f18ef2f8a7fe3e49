// The event loop of a replay: ranks issue each stream's ops in order once their dependencies are done;
// compute kernels share the SMs communication kernels leave, FP8 GEMMs up to the SMs they launch on; idle
// time of the compute stream is attributed to its cause (pipeline bubble, exposed communication, optimizer).
#include "sim/replay.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include <fmt/core.h>

namespace tandem::sim {

const char* to_string(Mode m) {
  switch (m) {
    case Mode::Auto: return "auto";
    case Mode::Full: return "full";
    case Mode::Symmetric: return "symmetric";
    case Mode::Classes: return "classes";
  }
  return "?";
}

Straggler parse_straggler(const std::string& spec) {
  const size_t colon = spec.find(':');
  auto bad = [&](const std::string& found) {
    throw std::invalid_argument(
        fmt::format("straggler '{}': expected RANK:FACTOR with 1 <= FACTOR <= {} (e.g. 17:1.25), found {}", spec, kMaxStragglerFactor, found));
  };
  if (colon == std::string::npos) bad("no ':'");
  Straggler s;
  try {
    size_t used = 0;
    const long long rank = std::stoll(spec.substr(0, colon), &used);
    if (used != colon || rank < 0) bad(fmt::format("rank '{}'", spec.substr(0, colon)));
    s.rank = rank;
    const std::string f = spec.substr(colon + 1);
    s.factor = std::stod(f, &used);
    if (used != f.size() || !(s.factor >= 1.0) || !(s.factor <= kMaxStragglerFactor)) bad(fmt::format("factor '{}'", f));
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).rfind("straggler", 0) == 0) throw;
    bad("a non-number");
  } catch (const std::out_of_range&) {
    bad("a number out of range");
  }
  return s;
}

namespace detail {

namespace {
// NOTE: DeepGEMM's FP8 GEMMs are persistent kernels launched on set_num_sms SMs; the other kernels
// launch grids over every free SM (the H800 trace: FP8 GEMM grids of 112 blocks, attention 32 x 128,
// cuBLAS BF16 GEMMs and norms by their shape). Only the former keep to plan.compute_sms.
bool launched_on_budget(const ir::OpPayload& p) {
  const auto* g = std::get_if<ir::Gemm>(&p);
  auto fp8 = [](ir::DType t) { return t == ir::DType::FP8E4M3 || t == ir::DType::FP8E5M2; };
  return g && (fp8(g->a) || fp8(g->b));
}
}  // namespace

Replay::Replay(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options, Mode mode,
               RankClasses classes)
    : program_(program),
      options_(options),
      mode_(mode),
      host_(options.host),
      gpu_(options.host ? options.host->device : hw::gpu_spec(cluster.gpu)),
      topology_(options.host ? hw::host_cluster(cluster, *options.host) : cluster, gpu_,
                options.host ? hw::host_network() : options.network, options.link_faults),
      cost_(gpu_, options.cost, options.calibration, options.host),
      builder_(topology_, cost_, program.expert_routing()),
      net_(builder_.capacities()),
      classes_(std::move(classes)) {
  if (topology_.gpus() < program.num_ranks())
    throw std::invalid_argument(fmt::format("the program has {} ranks but the cluster only {} GPUs", program.num_ranks(),
                                            topology_.gpus()));
  if (host_) machine_pool_ = SmPool(gpu_.sms, hw::kHostShareUnits);   // an op's thread uses one core at most
  build_roles();
  build_ranks();
}

void Replay::build_roles() {
  const auto& programs = program_.roles();
  roles_.resize(programs.size());
  std::vector<int64_t> ranks;
  for (size_t ri = 0; ri < programs.size(); ++ri) {
    const ir::RankProgram& p = programs[ri];
    RoleTables& t = roles_[ri];
    t.prog = &p;
    program_.ranks_of_role(ri, ranks);
    t.ranks = int64_t(ranks.size());
    t.pos.resize(p.ops.size());
    for (size_t i = 0; i < p.ops.size(); ++i) {
      auto& list = t.stream_ops[size_t(p.ops[i].stream)];
      t.pos[i] = int32_t(list.size());
      list.push_back(int32_t(i));
    }
    t.chunk_pos.assign(p.templates.size(), -1);
    t.comm_index.assign(p.templates.size(), -1);
    t.cost.assign(p.templates.size(), {});
    std::vector<double> tmpl_flops(p.templates.size()), tmpl_flops_causal(p.templates.size());
    for (size_t k = 0; k < p.templates.size(); ++k) {
      const ir::OpTemplate& ot = p.templates[k];
      const auto it = std::find(p.chunks.begin(), p.chunks.end(), ot.chunk);
      if (it != p.chunks.end()) t.chunk_pos[k] = int8_t(it - p.chunks.begin());
      const ir::OpKind kind = ir::kind_of(ot.payload);
      if (kind == ir::OpKind::Comm) t.comm_index[k] = t.comm_templates++;
      const bool model_math = (kind == ir::OpKind::Gemm || kind == ir::OpKind::Attention) && !ot.recompute &&
                              ot.phase != ir::Phase::Step;
      if (model_math) {
        tmpl_flops[k] = ir::op_flops(ot.payload, true);
        tmpl_flops_causal[k] = ir::op_flops(ot.payload, false);
      }
    }
    // Activation lifetime markers: a (chunk, mb) becomes live at its first forward op and is freed by
    // its last backward op (input- or weight-gradient), as the schedule evaluator of ir/ counts it.
    std::map<std::pair<int32_t, int32_t>, int32_t> first_f, last_b;
    for (size_t i = 0; i < p.ops.size(); ++i) {
      const ir::OpInstance& op = p.ops[i];
      const ir::OpTemplate& ot = p.templates[size_t(op.tmpl)];
      t.flops += tmpl_flops[size_t(op.tmpl)];
      t.flops_causal += tmpl_flops_causal[size_t(op.tmpl)];
      if (op.mb < 0 || ot.chunk < 0) continue;
      const auto key = std::make_pair(ot.chunk, op.mb);
      if (ot.phase == ir::Phase::F) {
        if (!first_f.count(key)) first_f[key] = int32_t(i);
      } else if (ot.phase == ir::Phase::B || ot.phase == ir::Phase::W) {
        last_b[key] = int32_t(i);
      }
    }
    t.act.assign(p.ops.size(), 0);
    for (const auto& [key, i] : first_f) t.act[size_t(i)] |= 1;
    for (const auto& [key, i] : last_b)
      if (first_f.count(key)) t.act[size_t(i)] |= 2;
    t.need.assign(p.ops.size(), {0, 0});
    t.p2p_begin.assign(p.ops.size() + 1, 0);
    t.p2p_deps.clear();
    for (size_t i = 0; i < p.ops.size(); ++i) {
      t.p2p_begin[i] = int32_t(t.p2p_deps.size());
      for (int32_t d : p.deps_of(i)) {
        const int ds = int(p.ops[size_t(d)].stream);
        if (ds == kAsyncStream)
          t.p2p_deps.push_back(t.pos[size_t(d)]);
        else
          t.need[i][size_t(ds)] = std::max(t.need[i][size_t(ds)], t.pos[size_t(d)] + 1);
      }
    }
    t.p2p_begin[p.ops.size()] = int32_t(t.p2p_deps.size());
    t.info.assign(p.templates.size(), {});
    for (size_t k = 0; k < p.templates.size(); ++k) {
      const ir::OpTemplate& ot = p.templates[k];
      RoleTables::TemplateInfo& in = t.info[k];
      in.comm = ir::kind_of(ot.payload) == ir::OpKind::Comm;
      in.budgeted = launched_on_budget(ot.payload);
      if (in.comm) in.cause = trace::gap_cause_of(ir::to_string(std::get<ir::Comm>(ot.payload).kind));
      in.phase = trace::compute_phase(
          ir::kind_of(ot.payload) == ir::OpKind::Optimizer ? trace::OpClass::Optimizer : trace::OpClass::Compute,
          ot.phase == ir::Phase::Step ? char(0) : ir::phase_letter(ot.phase));
    }
  }
}

void Replay::build_ranks() {
  const int64_t n = program_.num_ranks();
  slot_of_.assign(size_t(n), -1);
  std::vector<int64_t> sim_ranks;
  if (mode_ == Mode::Symmetric) {
    for (size_t r = 0; r < roles_.size(); ++r) sim_ranks.push_back(program_.representative(r));
  } else if (mode_ == Mode::Classes) {
    if (int64_t(classes_.of_rank.size()) != n) throw std::logic_error("the class path's classes do not cover the ranks");
    for (const auto& members : classes_.ranks) sim_ranks.push_back(members.front());
  } else {
    for (int64_t r = 0; r < n; ++r) sim_ranks.push_back(r);
  }
  const int64_t compute_sms = host_ ? hw::kHostShareUnits : program_.compute_sms(gpu_.sms);
  if (compute_sms < 1 || compute_sms > gpu_.sms)
    throw std::invalid_argument(
        fmt::format("FP8 GEMMs launched on {} SMs: expected 1..{} (the {}'s SMs)", compute_sms, gpu_.sms, gpu_.name));
  std::vector<char> traced(size_t(n), options_.trace_ranks.empty() ? 1 : 0);
  for (int64_t r : options_.trace_ranks) {
    if (r < 0 || r >= n)
      throw std::invalid_argument(fmt::format("traced rank {} is outside the program's ranks 0..{}", r, n - 1));
    traced[size_t(r)] = 1;
  }
  ranks_.resize(sim_ranks.size());
  for (size_t i = 0; i < sim_ranks.size(); ++i) {
    RankState& r = ranks_[i];
    r.rank = sim_ranks[i];
    r.role = uint32_t(program_.role_of(r.rank));
    r.pool = SmPool(gpu_.sms, compute_sms);
    r.record = options_.sink && traced[size_t(r.rank)];
    r.groups.assign(size_t(roles_[r.role].comm_templates), GroupInfo{});
    r.p2p_done.assign(roles_[r.role].stream_ops[size_t(kAsyncStream)].size() / 64 + 1, 0);
    r.stats.rank = r.rank;
    r.stats.role = r.role;
    r.stats.weight = mode_ == Mode::Symmetric ? double(roles_[r.role].ranks)
                     : mode_ == Mode::Classes ? double(classes_.ranks[classes_.of_rank[size_t(r.rank)]].size())
                                              : 1.0;
    r.stats.static_bytes = program_.static_bytes(r.role);
    r.measurer.emplace(int32_t(r.rank), roles_[r.role].prog->pp_index, 0, false);
    slot_of_[size_t(r.rank)] = int32_t(i);
    total_ops_ += roles_[r.role].prog->ops.size();
  }
  kept_link_ = builder_.kept_links(sim_ranks);
  for (const Straggler& s : options_.stragglers) {
    if (s.rank < 0 || s.rank >= n)
      throw std::invalid_argument(fmt::format("straggler rank {} is outside the program's ranks 0..{}", s.rank, n - 1));
    if (slot_of_[size_t(s.rank)] >= 0) ranks_[size_t(slot_of_[size_t(s.rank)])].slow *= s.factor;
  }
}

int64_t Replay::kernel_ns(RankState& r, int32_t tmpl, int64_t sms, bool count) {
  RoleTables::CostSlot& c = roles_[r.role].cost[size_t(tmpl)];
  int64_t ns = -1;
  uint8_t source = 0;
  for (uint8_t i = 0; i < c.used; ++i)
    if (c.sms[i] == sms) {
      ns = c.ns[i];
      source = c.source[i];
      break;
    }
  if (ns < 0) {
    const hw::KernelEstimate e = cost_.estimate(roles_[r.role].prog->templates[size_t(tmpl)].payload, sms);
    const uint8_t i = c.used < 4 ? c.used++ : (c.next++ & 3);
    c.sms[i] = int32_t(sms);
    c.ns[i] = ns = e.ns;
    c.source[i] = source = uint8_t(e.source);
  }
  if (count && source == uint8_t(hw::CostSource::Calibrated)) ++result_.calibrated_kernels;
  if (count && source == uint8_t(hw::CostSource::Extrapolated)) ++result_.extrapolated_kernels;
  return r.slow == 1.0 ? ns : int64_t(std::llround(double(ns) * r.slow));
}

bool Replay::ready(const RankState& r, const RoleTables& t, int32_t op) const {
  const std::array<int32_t, 2>& need = t.need[size_t(op)];
  if (r.done[0] < need[0] || r.done[1] < need[1]) return false;
  for (int32_t i = t.p2p_begin[size_t(op)]; i < t.p2p_begin[size_t(op) + 1]; ++i) {
    const int32_t pos = t.p2p_deps[size_t(i)];
    if (!((r.p2p_done[size_t(pos) / 64] >> (pos % 64)) & 1)) return false;
  }
  return true;
}

void Replay::try_start(uint32_t slot) {
  for (int s = 0; s < kStreams; ++s) {
    RankState& r = ranks_[slot];
    if (r.running[size_t(s)] >= 0) continue;
    const RoleTables& t = roles_[r.role];
    const auto& list = t.stream_ops[size_t(s)];
    if (r.next[size_t(s)] >= int32_t(list.size())) continue;
    if (s == kAsyncStream) {
      // Posted operations: issue every ready one in order without waiting for completions.
      while (ranks_[slot].next[size_t(s)] < int32_t(list.size())) {
        RankState& a = ranks_[slot];
        const int32_t op = list[size_t(a.next[size_t(s)])];
        if (!ready(a, t, op)) break;
        a.next[size_t(s)] += 1;
        a.p2p_in_flight += 1;
        start_op(slot, s, op);
      }
      continue;
    }
    const int32_t op = list[size_t(r.next[size_t(s)])];
    if (!ready(r, t, op)) continue;
    r.next[size_t(s)] += 1;
    start_op(slot, s, op);
  }
}

void Replay::start_op(uint32_t slot, int s, int32_t op) {
  RankState& r = ranks_[slot];
  const RoleTables& t = roles_[r.role];
  const ir::OpInstance& inst = t.prog->ops[size_t(op)];
  if (s != kAsyncStream) {
    r.running[size_t(s)] = op;
    r.start_ns[size_t(s)] = now_;
  }
  r.stats.ops += 1;
  ++started_ops_;
  if ((t.act[size_t(op)] & 1) && t.chunk_pos[size_t(inst.tmpl)] >= 0) {
    r.live_activation += t.prog->activation_bytes[size_t(t.chunk_pos[size_t(inst.tmpl)])];
    r.stats.activation_peak_bytes = std::max(r.stats.activation_peak_bytes, r.live_activation);
  }
  if (t.info[size_t(inst.tmpl)].comm)
    start_comm(slot, op);
  else
    start_compute(slot, s, op);
}

void Replay::start_compute(uint32_t slot, int s, int32_t op) {
  RankState& r = ranks_[slot];
  const RoleTables& t = roles_[r.role];
  const ir::OpInstance& inst = t.prog->ops[size_t(op)];
  computing_of(r) += 1;
  const int64_t sms = share_of(r, t.info[size_t(inst.tmpl)].budgeted);
  KernelProgress& k = r.kernel[size_t(s)];
  k = KernelProgress{1.0, now_, kernel_ns(r, inst.tmpl, sms, true), sms};
  r.kver[size_t(s)] += 1;
  queue_.push(k.finish_ns(), kKernelDone, slot, (uint64_t(s) << 32) | r.kver[size_t(s)]);
  rerate(slot);
}

int64_t Replay::share_of(RankState& r, bool budgeted) {
  if (!host_) return r.pool.share(r.computing, budgeted);
  const double threads = double(machine_computing_) + host_->background_threads;
  const double even = double(machine_pool_.total()) / std::max(1.0, threads);
  return std::clamp<int64_t>(int64_t(even), 1, hw::kHostShareUnits);
}

void Replay::rerate(uint32_t slot) {
  if (!host_) return rerate_rank(slot);
  // One core pool for the machine: a kernel starting or ending on any rank changes every rank's shares.
  if (machine_computing_ == 0) return;
  for (uint32_t i = 0; i < ranks_.size(); ++i) rerate_rank(i);
}

void Replay::rerate_rank(uint32_t slot) {
  RankState& r = ranks_[slot];
  if (computing_of(r) == 0) return;
  const RoleTables& t = roles_[r.role];
  for (int s = 0; s < kStreams; ++s) {
    const int32_t op = r.running[size_t(s)];
    if (op < 0) continue;
    const ir::OpInstance& inst = t.prog->ops[size_t(op)];
    const RoleTables::TemplateInfo& info = t.info[size_t(inst.tmpl)];
    if (info.comm) continue;
    const int64_t sms = share_of(r, info.budgeted);
    KernelProgress& k = r.kernel[size_t(s)];
    if (k.sms == sms) continue;
    r.stats.compute_sm_ns += double(now_ - k.since_ns) * double(k.sms);
    const int64_t finish = k.retime(now_, kernel_ns(r, inst.tmpl, sms, false), sms);
    r.kver[size_t(s)] += 1;
    queue_.push(finish, kKernelDone, slot, (uint64_t(s) << 32) | r.kver[size_t(s)]);
  }
}

void Replay::complete_op(uint32_t slot, int s, int32_t op, int64_t start) {
  RankState& r = ranks_[slot];
  const RoleTables& t = roles_[r.role];
  const ir::OpInstance& inst = t.prog->ops[size_t(op)];
  const RoleTables::TemplateInfo& info = t.info[size_t(inst.tmpl)];
  const bool comm = info.comm;
  if (s == kAsyncStream) {
    const int32_t pos = t.pos[size_t(op)];
    r.p2p_done[size_t(pos) / 64] |= uint64_t(1) << (pos % 64);
    r.p2p_in_flight -= 1;
  } else {
    r.running[size_t(s)] = -1;
    r.done[size_t(s)] += 1;
  }
  // The measures see each op as it completes (nondecreasing end times), as measure_timeline does.
  if (comm)
    r.measurer->add_comm(now_, info.cause);
  else if (s == int(ir::Stream::Compute))
    r.measurer->add_compute(start, now_, info.phase);
  else
    r.measurer->add_other(now_);
  if ((t.act[size_t(op)] & 2) && t.chunk_pos[size_t(inst.tmpl)] >= 0)
    r.live_activation -= t.prog->activation_bytes[size_t(t.chunk_pos[size_t(inst.tmpl)])];
  if (r.record) {
    int32_t sms = 0;
    if (comm)
      sms = int32_t(comm_sms(std::get<ir::Comm>(t.prog->templates[size_t(inst.tmpl)].payload)));
    else
      sms = int32_t(r.kernel[size_t(s)].sms);
    options_.sink->record(OpRecord{r.rank, r.role, op, uint8_t(s), sms, start, now_});
  }
  r.stats.end_ns = now_;
  try_start(slot);
}

SimResult Replay::run() {
  const auto wall0 = std::chrono::steady_clock::now();
  result_.scenario = program_.name();
  result_.mode = mode_;
  result_.num_ranks = program_.num_ranks();
  result_.gpu = &gpu_;
  result_.tokens = program_.tokens_per_step();
  for (const RoleTables& t : roles_) {
    result_.model_flops += t.flops * double(t.ranks);
    result_.model_flops_causal += t.flops_causal * double(t.ranks);
  }
  for (const hw::Link& l : topology_.links()) result_.link_capacity[size_t(l.kind)] += l.capacity_bytes_per_s;

  wall0_ = wall0;
  check_progress();
  for (uint32_t slot = 0; slot < ranks_.size(); ++slot) try_start(slot);
  for (;;) {
    if (net_.needs_solve() && (queue_.empty() || queue_.top_time() > now_)) {
      finishes_.clear();
      net_.solve(now_, finishes_);
      for (const auto& f : finishes_) queue_.push(f.time_ns, kNetDone, f.id, f.version);
      continue;
    }
    if (queue_.empty()) break;
    const Event e = queue_.pop();
    now_ = e.time_ns;
    if (queue_.popped() % kProgressEvents == 0) check_progress();
    switch (e.kind) {
      case kKernelDone: {
        RankState& r = ranks_[e.a];
        const int s = int(e.b >> 32);
        if (uint32_t(e.b) != r.kver[size_t(s)] || r.running[size_t(s)] < 0) break;
        KernelProgress& k = r.kernel[size_t(s)];
        r.stats.compute_sm_ns += double(now_ - k.since_ns) * double(k.sms);
        computing_of(r) -= 1;
        complete_op(e.a, s, r.running[size_t(s)], r.start_ns[size_t(s)]);
        rerate(e.a);
        break;
      }
      case kNetDone: {
        uint64_t owner = 0;
        if (net_.finish(e.a, uint32_t(e.b), &owner)) {
          const Collective& c = colls_[size_t(owner)];
          queue_.push(now_ + bundles_[size_t(c.bundle)]->latency_ns, kCommDone, uint32_t(owner), 0);
        }
        break;
      }
      case kCommDone: comm_done(e.a); break;
      default: break;
    }
  }
  for (const RankState& r : ranks_)
    for (int s = 0; s < kStreams; ++s)
      if (r.running[size_t(s)] >= 0 || r.next[size_t(s)] < int32_t(roles_[r.role].stream_ops[size_t(s)].size()) ||
          r.p2p_in_flight > 0)
        report_deadlock();
  check_progress(true);
  finish_accounting();
  for (size_t k = 0; k < link_bytes_.size(); ++k) result_.link_bytes[k] = link_bytes_[k].value();
  result_.events = queue_.popped();
  result_.transfers = net_.started();
  result_.solves = net_.solves();
  result_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return std::move(result_);
}

void Replay::check_progress(bool finished) const {
  const bool report = bool(options_.progress);
  const bool bounded = !finished && options_.deadline != std::chrono::steady_clock::time_point::max();
  if (!report && !bounded) return;
  const auto wall = std::chrono::steady_clock::now();
  const SimProgress p{now_, queue_.popped(), started_ops_, total_ops_, std::chrono::duration<double>(wall - wall0_).count(),
                      finished};
  if (report) options_.progress(p);
  if (bounded && wall >= options_.deadline)
    throw TimeLimitReached(fmt::format("the time limit was reached after {:.1f} s of simulation, at {:.3f} s of simulated "
                                       "time ({} events, {:.0f}% of {} ops issued)",
                                       p.wall_s, double(p.simulated_ns) * 1e-9, p.events,
                                       p.ops_total ? 100.0 * double(p.ops_started) / double(p.ops_total) : 0.0,
                                       p.ops_total),
                           p);
}

void Replay::finish_accounting() {
  int64_t step = 0;
  for (const RankState& r : ranks_) step = std::max(step, r.stats.end_ns);
  result_.step_ns = step;
  for (RankState& r : ranks_) {
    // The last gap of the compute stream up to the rank's end, then the wait for the slowest rank.
    r.stats.measures = r.measurer->finish(step);
    result_.ops += uint64_t(double(r.stats.ops) * r.stats.weight);
    result_.ranks.push_back(r.stats);
  }
}

void Replay::report_deadlock() const {
  std::string msg = "the step deadlocked: ";
  int shown = 0;
  auto show = [&](const RankState& r, int s, int32_t op, const char* state) {
    if (shown >= 6) return;
    const RoleTables& t = roles_[r.role];
    const ir::OpInstance& inst = t.prog->ops[size_t(op)];
    msg += fmt::format("{}rank {} stream {} {} op {} ({}, mb {})", shown ? "; " : "", r.rank, s, state, op,
                       t.prog->templates[size_t(inst.tmpl)].name(), inst.mb);
    ++shown;
  };
  for (const RankState& r : ranks_) {
    const RoleTables& t = roles_[r.role];
    for (int s = 0; s < kStreams; ++s) {
      const auto& list = t.stream_ops[size_t(s)];
      if (s == kAsyncStream) {
        for (int32_t i = 0; i < r.next[size_t(s)]; ++i)
          if (!((r.p2p_done[size_t(i) / 64] >> (i % 64)) & 1)) show(r, s, list[size_t(i)], "waits for its matching peer at");
      } else if (r.running[size_t(s)] >= 0) {
        show(r, s, r.running[size_t(s)], "waits for its matching peers at");
        continue;
      }
      if (r.next[size_t(s)] < int32_t(list.size()))
        show(r, s, list[size_t(r.next[size_t(s)])], "waits for a dependency before");
    }
  }
  throw std::runtime_error(msg);
}

}  // namespace detail

PathChoice choose_path(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options) {
  PathChoice choice;
  Mode mode = options.mode;
  if (hw::is_host_device(cluster.gpu) != (options.host != nullptr))
    throw std::invalid_argument(options.host ? fmt::format("a host description was given for cluster '{}' of {} GPUs: it "
                                                           "describes the host device only (cluster.gpu \"host\")",
                                                           cluster.name, cluster.gpu)
                                             : std::string("cluster.gpu \"host\" needs the host's description (tandem probe)"));
  // Every rank's threads share the host's cores: no rank stands for others.
  if (options.host && (mode == Mode::Symmetric || mode == Mode::Classes))
    throw std::invalid_argument("the host device is simulated on the full path only (every rank's threads share its cores)");
  // Ranks of a role (under balanced routing) or of a class behave alike when their scale-up domains and
  // leaf switches cut every stage's groups alike; stragglers and faults split the classes where they set ranks apart.
  const bool alike = !options.host && program.roles_alike_on_domains(cluster);
  const bool symmetric_ok =
      alike && options.stragglers.empty() && options.link_faults.empty() && program.balanced_routing();
  if (mode == Mode::Symmetric && !symmetric_ok)
    throw std::invalid_argument(
        "the symmetric path needs balanced routing, no stragglers, no link faults and scale-up domains and leaf switches "
        "that cut every stage's groups alike (every rank of a role alike); use the full path");
  if (mode == Mode::Classes && !alike)
    throw std::invalid_argument(
        "the class path needs scale-up domains and leaf switches that cut every stage's groups alike (every rank of a "
        "class alike); use the full path");
  if (mode == Mode::Auto && symmetric_ok) mode = Mode::Symmetric;
  if (mode == Mode::Auto && !alike) mode = Mode::Full;
  if (mode == Mode::Auto || mode == Mode::Classes) {
    const hw::Topology topology(cluster, hw::gpu_spec(cluster.gpu), options.network, options.link_faults);
    std::vector<int64_t> slow;
    for (const Straggler& s : options.stragglers) slow.push_back(s.rank);
    choice.classes = exact_classes(program, topology, slow, options.link_faults);
    // Auto: where stragglers or faults leave as many classes as ranks, the full path does the same work
    // without the classes' bookkeeping.
    const bool split = !options.stragglers.empty() || !options.link_faults.empty();
    if (mode == Mode::Auto)
      mode = !split || int64_t(choice.classes.ranks.size()) < program.num_ranks() ? Mode::Classes : Mode::Full;
  }
  choice.mode = mode;
  if (mode != Mode::Classes) choice.classes = {};
  return choice;
}

SimResult simulate(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options) {
  PathChoice choice = choose_path(program, cluster, options);
  detail::Replay replay(program, cluster, options, choice.mode, std::move(choice.classes));
  return replay.run();
}

}  // namespace tandem::sim
