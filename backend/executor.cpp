// Executor: extended dependencies per role, per-step issue of every rank's ops onto its streams,
// failure handling across ranks, and the timeline of the step (see executor.h).
#include "backend/executor.h"

#include <algorithm>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include <fmt/format.h>

#include "backend/cpu_device.h"
#include "backend/inproc_communicator.h"
#include "ir/op.h"

namespace tandem::backend {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string_view op_kind_name(const ir::OpTemplate& t) {
  if (ir::kind_of(t.payload) == ir::OpKind::Comm) return ir::to_string(std::get<ir::Comm>(t.payload).kind);
  return ir::to_string(ir::kind_of(t.payload));
}

}  // namespace

namespace {

// The order the executor issues a role's ops in: the program's issue order, except that an op whose
// inputs are produced only by later ops waits until they are issued (DualPipe's pair expansion puts
// the MTP module's head ops before the MTP layer that feeds them). An op needs, per input: the
// producers issued before it (all of them for a gradient, the newest for a value), or when there are
// none, all producers (a gradient) or the first (a value); and its program dependencies.
std::vector<int32_t> repaired_order(const ir::RankProgram& rp, const RoleAnalysis& a, int64_t& deferred) {
  const size_t n = rp.ops.size();
  auto key = [&](int32_t tensor, int32_t mb) {
    const bool step_wide = rp.tensors[size_t(tensor)].role != ir::TensorRole::Activation;
    return (int64_t(a.canonical[size_t(tensor)]) << 32) | uint32_t((step_wide ? -1 : mb) + 1);
  };
  std::unordered_map<int64_t, std::vector<int32_t>> producers;
  for (size_t i = 0; i < n; ++i)
    for (int32_t o : rp.tmpl(rp.ops[i]).outputs) producers[key(o, rp.ops[i].mb)].push_back(int32_t(i));
  std::vector<std::vector<int32_t>> needs(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& op = rp.ops[i];
    auto& need = needs[i];
    for (int32_t d : rp.deps_of(i)) need.push_back(d);
    for (int32_t in : rp.tmpl(op).inputs) {
      const auto it = producers.find(key(in, op.mb));
      if (it == producers.end()) continue;
      std::vector<int32_t> before, all;
      for (int32_t p : it->second)
        if (p != int32_t(i)) (p < int32_t(i) ? before : all).push_back(p);
      const bool acc = a.accumulate[size_t(a.canonical[size_t(in)])] != 0;
      if (!before.empty()) {
        if (acc) need.insert(need.end(), before.begin(), before.end());
        else need.push_back(before.back());
      } else if (!all.empty()) {
        if (acc) need.insert(need.end(), all.begin(), all.end());
        else need.push_back(all.front());
      }
    }
  }
  std::vector<int32_t> order;
  order.reserve(n);
  std::vector<char> placed(n, 0);
  std::vector<int32_t> waiting;
  auto ready = [&](int32_t i) {
    for (int32_t x : needs[size_t(i)])
      if (!placed[size_t(x)]) return false;
    return true;
  };
  for (size_t i = 0; i < n; ++i) {
    if (!ready(int32_t(i))) {
      waiting.push_back(int32_t(i));
      ++deferred;
      continue;
    }
    order.push_back(int32_t(i));
    placed[i] = 1;
    for (bool progress = true; progress && !waiting.empty();) {
      progress = false;
      for (size_t w = 0; w < waiting.size(); ++w)
        if (ready(waiting[w])) {
          order.push_back(waiting[w]);
          placed[size_t(waiting[w])] = 1;
          waiting.erase(waiting.begin() + long(w));
          progress = true;
          break;
        }
    }
  }
  if (!waiting.empty()) {
    const auto& op = rp.ops[size_t(waiting.front())];
    throw std::logic_error(fmt::format("pipeline position {}: op {} {} (mb {}) waits for inputs no op of the rank produces in time",
                                       rp.pp_index, waiting.front(), rp.tmpl(op).name(), op.mb));
  }
  return order;
}

}  // namespace

// Canonical tensors, accumulation, the issue order, extended dependencies (every producer placed
// before an op for each of its inputs, same micro-batch or step-wide, not just the last one; the
// program's dependencies; the route gradient the combine backward hands to the router backward of the
// same layer) and the read positions of W ops.
RoleAnalysis analyse_role(const ir::RankProgram& rp) {
  RoleAnalysis a;
  std::unordered_map<std::string, int32_t> first;
  a.canonical.resize(rp.tensors.size());
  a.accumulate.assign(rp.tensors.size(), 0);
  for (size_t i = 0; i < rp.tensors.size(); ++i) {
    a.canonical[i] = first.emplace(rp.tensors[i].name, int32_t(i)).first->second;
    a.accumulate[i] = rp.tensors[i].role == ir::TensorRole::Activation && ends_with(rp.tensors[i].name, ".grad");
  }
  a.order = repaired_order(rp, a, a.deferred);
  a.position.resize(rp.ops.size());
  for (size_t p = 0; p < a.order.size(); ++p) a.position[size_t(a.order[p])] = int32_t(p);
  a.deps.resize(rp.ops.size());
  a.read_cutoff.resize(rp.ops.size());
  std::unordered_map<int64_t, std::vector<int32_t>> producers;
  std::map<std::pair<int32_t, int32_t>, int32_t> combine_backward;   // (layer, mb) -> op
  std::map<std::tuple<int, int32_t, int32_t, int32_t>, int32_t> first_backward;   // (role, layer, chunk, mb) -> position
  auto key = [&](int32_t tensor, int32_t mb) {
    const bool step_wide = rp.tensors[size_t(tensor)].role != ir::TensorRole::Activation;
    return (int64_t(a.canonical[size_t(tensor)]) << 32) | uint32_t((step_wide ? -1 : mb) + 1);
  };
  for (int32_t i : a.order) {
    const auto& op = rp.ops[size_t(i)];
    const auto& t = rp.tmpl(op);
    auto& d = a.deps[size_t(i)];
    for (int32_t x : rp.deps_of(size_t(i))) d.push_back(x);
    for (int32_t in : t.inputs) {
      const auto it = producers.find(key(in, op.mb));
      if (it != producers.end()) d.insert(d.end(), it->second.begin(), it->second.end());
    }
    if (t.role == ir::OpRole::Router && t.phase == ir::Phase::B) {
      const auto it = combine_backward.find({t.layer, op.mb});
      if (it != combine_backward.end()) d.push_back(it->second);
    }
    if (t.role == ir::OpRole::Combine && t.phase == ir::Phase::B) combine_backward[{t.layer, op.mb}] = i;
    std::sort(d.begin(), d.end());
    d.erase(std::unique(d.begin(), d.end()), d.end());
    for (int32_t x : d)
      if (a.position[size_t(x)] >= a.position[size_t(i)])
        throw std::logic_error(fmt::format("pipeline position {}: op {} depends on op {}, issued after it", rp.pp_index, i, x));
    for (int32_t o : t.outputs) producers[key(o, op.mb)].push_back(i);
    const auto family = std::make_tuple(int(t.role), t.layer, t.chunk, op.mb);
    a.read_cutoff[size_t(i)] = a.position[size_t(i)];
    if (t.phase == ir::Phase::B && !t.recompute) first_backward.emplace(family, a.position[size_t(i)]);
    if (t.phase == ir::Phase::W) {
      const auto it = first_backward.find(family);
      if (it != first_backward.end()) a.read_cutoff[size_t(i)] = it->second;
    }
  }
  return a;
}

void check_cpu_plan(const ir::StepProgram& program) {
  const auto& m = program.model();
  const auto& p = program.plan();
  const std::string where = program.scenario().source;
  auto refuse = [&](const std::string& field, const std::string& expected, const std::string& found) {
    throw std::invalid_argument(fmt::format("{}: the CPU backend cannot run this plan: at {}: expected {}, found {}", where,
                                            field, expected, found));
  };
  if (p.tp != 1) refuse("plan.tp", "1 (tensor parallelism is not modelled)", std::to_string(p.tp));
  if (p.zero_stage != 0 && p.zero_stage != 1) refuse("plan.zero_stage", "0 or 1", std::to_string(p.zero_stage));
  if (m.score_function != ir::ScoreFunction::Sigmoid) refuse("model.score_function", "\"sigmoid\"", "\"softmax\"");
  if (m.tie_embeddings) refuse("model.tie_embeddings", "false", "true");
  if (m.mtp_depth > 1) refuse("model.mtp_depth", "0 or 1", std::to_string(m.mtp_depth));
  if (m.routed_experts % p.ep != 0)
    refuse("plan.ep", fmt::format("a divisor of model.routed_experts ({})", m.routed_experts), std::to_string(p.ep));
  if (m.expert_groups < 1 || m.routed_experts % m.expert_groups != 0)
    refuse("model.expert_groups", fmt::format("a divisor of model.routed_experts ({})", m.routed_experts), std::to_string(m.expert_groups));
  if (m.groups_per_token < 1 || m.groups_per_token > m.expert_groups)
    refuse("model.groups_per_token", fmt::format("1..{} (model.expert_groups)", m.expert_groups), std::to_string(m.groups_per_token));
  const int64_t per_group = m.routed_experts / std::max<int64_t>(1, m.expert_groups);
  if (m.experts_per_token < 1 || m.experts_per_token > m.groups_per_token * per_group)
    refuse("model.experts_per_token", fmt::format("1..{} (experts in the kept groups)", m.groups_per_token * per_group),
           std::to_string(m.experts_per_token));
  if (per_group < 2 && m.expert_groups > 1) refuse("model.expert_groups", "groups of at least 2 experts (group score = sum of the top 2)", std::to_string(m.expert_groups));
  if (p.precision.fp8 && (p.precision.activation_tile != 128 || p.precision.weight_block != 128))
    refuse("plan.precision", "128 for activation_tile and weight_block (the FP8 kernels' tile)",
           fmt::format("{} and {}", p.precision.activation_tile, p.precision.weight_block));
  constexpr int64_t kMaxRanks = 64;
  if (program.num_ranks() > kMaxRanks)
    refuse("world size", fmt::format("at most {} ranks (each rank is a set of threads)", kMaxRanks), std::to_string(program.num_ranks()));
}

int64_t cpu_memory_estimate_bytes(const ir::StepProgram& program, int64_t rank) {
  const auto& rp = program.program_of(rank);
  int64_t params = 0, activations = 0;
  for (const auto& t : rp.tensors) {
    const int64_t n = t.shape[0] * t.shape[1] * t.shape[2];
    if (t.role == ir::TensorRole::Weight) params += n;
    else if (t.role == ir::TensorRole::Activation) activations += n;
  }
  // Parameters: value, gradient, master and two moments (4 bytes each); activations as floats for
  // every micro-batch, twice for versions, FP8 copies and gradient parts.
  return params * 20 + activations * 4 * 2 * std::max<int64_t>(1, program.plan().micro_batches());
}

Executor::Executor(const ir::StepProgram& program, const BackendOptions& options, ExecutorParts parts)
    : program_(program), options_(options), parts_(std::move(parts)) {
  check_cpu_plan(program);
  if (!parts_.device) parts_.device = [](int64_t r) { return std::make_unique<CpuDevice>(int(r), ir::kStreams); };
  if (!parts_.communicator) {
    world_ = std::make_shared<InProcessWorld>(int(program.num_ranks()), std::chrono::milliseconds(options.comm_timeout_ms));
    parts_.communicator = [world = world_](int64_t r) { return std::make_unique<InProcessCommunicator>(world, int(r)); };
  }
  if (!parts_.run_op) parts_.run_op = execute_op;
  for (const auto& role : program.roles()) analyses_.push_back(std::make_unique<RoleAnalysis>(analyse_role(role)));
  for (int64_t r = 0; r < program.num_ranks(); ++r) {
    auto dev = parts_.device(r);
    auto comm = parts_.communicator(r);
    const auto& analysis = *analyses_[size_t(program.coord(r).pp_index)];
    ranks_.push_back(std::make_unique<RankRuntime>(program, r, options, analysis, std::move(dev), std::move(comm)));
    auto& rt = *ranks_.back();
    start_.emplace_back();
    end_.emplace_back();
    for (size_t i = 0; i < rt.rp.ops.size(); ++i) {
      start_.back().push_back(rt.device->create_event());
      end_.back().push_back(rt.device->create_event());
    }
  }
}

Executor::~Executor() = default;

void Executor::issue(RankRuntime& rt) {
  const auto& deps = rt.analysis.deps;
  auto& starts = start_[size_t(rt.rank)];
  auto& ends = end_[size_t(rt.rank)];
  for (const int32_t op_index : rt.analysis.order) {
    const size_t i = size_t(op_index);
    const int s = int(rt.rp.ops[i].stream);
    Stream& stream = rt.device->stream(s);
    // Events complete in order on their stream: the latest dependency on each other stream suffices.
    int32_t latest[ir::kStreams] = {-1, -1, -1};
    for (int32_t d : deps[i]) {
      const int ds = int(rt.rp.ops[size_t(d)].stream);
      if (ds != s) latest[ds] = std::max(latest[ds], d);
    }
    for (int ds = 0; ds < ir::kStreams; ++ds)
      if (latest[ds] >= 0) stream.wait(*ends[size_t(latest[ds])]);
    stream.record(*starts[i]);
    RankRuntime* r = &rt;
    const int32_t index = int32_t(i);
    const auto* run_op = &parts_.run_op;
    stream.launch([r, index, &stream, run_op] {
      try {
        (*run_op)(*r, index, stream);
      } catch (const CommAborted&) {
        throw;
      } catch (const std::exception& e) {
        const auto& op = r->rp.ops[size_t(index)];
        const std::string what = fmt::format("rank {} op {} {} (mb {}): {}", r->rank, index, r->rp.tmpl(op).name(), op.mb, e.what());
        r->comm->abort(what);
        throw std::runtime_error(what);
      }
    });
    stream.record(*ends[i]);
  }
}

StepStats Executor::run_step(const std::vector<ReplicaBatch>& batches, const StepConfig& config, trace::Timeline* timeline,
                             int64_t time_origin_ns) {
  const auto& plan = program_.plan();
  if (int64_t(batches.size()) != plan.dp)
    throw std::invalid_argument(fmt::format("run_step: {} replica batches for dp = {}", batches.size(), plan.dp));
  const size_t window = size_t(plan.micro_batch_seqs * (plan.seq_len + 2));
  for (size_t d = 0; d < batches.size(); ++d) {
    if (int64_t(batches[d].size()) != plan.micro_batches())
      throw std::invalid_argument(fmt::format("run_step: replica {} has {} micro-batches, the plan has {}", d, batches[d].size(), plan.micro_batches()));
    for (const auto& w : batches[d])
      if (w.size() != window) throw std::invalid_argument(fmt::format("run_step: a micro-batch of {} tokens, expected {}", w.size(), window));
  }
  if (failed_)
    throw std::runtime_error("the executor's ranks were aborted by an earlier failure; make a new executor");
  for (auto& rt : ranks_) {
    rt->clear_step();
    rt->windows = batches[size_t(rt->coord.dp_index)];
    rt->config = config;
  }
  std::vector<std::exception_ptr> errors(ranks_.size());
  std::vector<std::thread> hosts;
  for (size_t r = 0; r < ranks_.size(); ++r)
    hosts.emplace_back([&, r] {
      try {
        issue(*ranks_[r]);
        ranks_[r]->device->synchronize();
      } catch (...) {
        errors[r] = std::current_exception();
        ranks_[r]->comm->abort(fmt::format("rank {} failed", r));
      }
    });
  for (auto& h : hosts) h.join();
  std::exception_ptr first, first_any;
  for (auto& e : errors) {
    if (!e) continue;
    if (!first_any) first_any = e;
    try {
      std::rethrow_exception(e);
    } catch (const CommAborted&) {
    } catch (...) {
      if (!first) first = e;
    }
  }
  if (first_any) {
    failed_ = true;
    for (auto& rt : ranks_)
      if (auto* cpu = dynamic_cast<CpuDevice*>(rt->device.get())) cpu->reset_failures();
    std::rethrow_exception(first ? first : first_any);
  }
  if (timeline) append_timeline(*timeline, time_origin_ns);
  return ranks_[0]->stats;
}

void Executor::append_timeline(trace::Timeline& tl, int64_t origin_ns) const {
  static const char* kStreamNames[ir::kStreams] = {"compute", "comm", "p2p"};
  std::map<std::tuple<int64_t, int64_t, int64_t>, uint32_t> sends;   // (from, to, tag) -> event
  std::vector<std::tuple<int64_t, int64_t, int64_t, uint32_t>> recvs;
  for (const auto& rt : ranks_) {
    const int32_t pid = int32_t(rt->rank);
    tl.process_names[pid] = fmt::format("rank {} (pp {}, dp {}, ep {})", rt->rank, rt->coord.pp_index, rt->coord.dp_index,
                                        rt->coord.ep_index);
    for (int s = 0; s < ir::kStreams; ++s) tl.thread_names[{pid, s}] = kStreamNames[s];
    for (size_t i = 0; i < rt->rp.ops.size(); ++i) {
      const auto& op = rt->rp.ops[i];
      const auto& t = rt->rp.tmpl(op);
      const int64_t t0 = start_[size_t(rt->rank)][i]->time_ns(), t1 = end_[size_t(rt->rank)][i]->time_ns();
      auto& e = tl.add_event(t.name(), pid, int32_t(op.stream), t0 - origin_ns, std::max<int64_t>(0, t1 - t0), op_kind_name(t));
      const OpRecord& rec = rt->records[i];
      e.id = int64_t(i);
      e.stage = int32_t(rt->coord.pp_index);
      e.layer = t.layer;
      e.mb = op.mb;
      e.phase = t.phase == ir::Phase::Step ? 0 : ir::phase_letter(t.phase);
      e.flops = rec.flops >= 0 ? rec.flops : ir::op_flops(t.payload);
      e.bytes = rec.bytes >= 0 ? rec.bytes : ir::op_hbm_bytes(t.payload);
      if (ir::kind_of(t.payload) == ir::OpKind::Comm) {
        const auto& c = std::get<ir::Comm>(t.payload);
        if (c.kind == ir::CommKind::Send) sends[{rt->rank, program_.peer_rank(rt->rank, op), op.tag}] = uint32_t(tl.events.size() - 1);
        if (c.kind == ir::CommKind::Recv) recvs.emplace_back(program_.peer_rank(rt->rank, op), rt->rank, op.tag, uint32_t(tl.events.size() - 1));
      }
    }
  }
  int64_t flow_id = int64_t(tl.flows.size());
  for (const auto& [from, to, tag, ev] : recvs) {
    const auto it = sends.find({from, to, tag});
    if (it != sends.end()) tl.add_flow(++flow_id, it->second, ev);
  }
}

// ---- RankRuntime and OpContext ----

RankRuntime::RankRuntime(const ir::StepProgram& prog, int64_t r, const BackendOptions& opts, const RoleAnalysis& a,
                         std::unique_ptr<Device> dev, std::unique_ptr<Communicator> c)
    : program(prog), rank(r), coord(prog.coord(r)), rp(prog.program_of(r)), options(opts), analysis(a), device(std::move(dev)),
      comm(std::move(c)), params(prog, r, InitConfig{opts.seed, prog.model().num_layers}, opts.exact), store(a.accumulate) {
  records.resize(rp.ops.size());
  for (size_t i = 0; i < rp.tensors.size(); ++i) tensor_index_.emplace(rp.tensors[i].name, int32_t(i));
}

int32_t RankRuntime::tensor_named(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) throw std::logic_error(fmt::format("rank {}: the program has no tensor {}", rank, name));
  return it->second;
}

void RankRuntime::clear_step() {
  store.clear();
  {
    std::lock_guard lock(aux_mutex_);
    aux_.clear();
  }
  params.zero_grads();
  std::fill(records.begin(), records.end(), OpRecord{});
  local_loss_sum = local_mtp_sum = local_balance_sum = 0;
  local_tokens = local_mtp_tokens = 0;
  const auto& m = program.model();
  const int64_t moe_layers = m.num_layers - m.first_dense_layers + (m.mtp_depth > 0 ? 1 : 0);
  local_load.assign(size_t(std::max<int64_t>(0, moe_layers) * m.routed_experts), 0.0);
  optimizer_round = 0;
  skip_update = false;
  stats = StepStats{};
}

int64_t RankRuntime::moe_layer_index(int32_t layer) const {
  const auto& m = program.model();
  if (layer < m.first_dense_layers) return -1;
  return layer - m.first_dense_layers;   // the MTP layer (num_layers) is the last
}

std::vector<int> RankRuntime::world_group() const {
  std::vector<int> g(size_t(program.num_ranks()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = int(i);
  return g;
}

ValuePtr OpContext::read(int32_t tensor) const {
  const auto& ti = info(tensor);
  const bool step_wide = ti.role != ir::TensorRole::Activation;
  const int32_t canonical = rt.analysis.canonical[size_t(tensor)];
  const int32_t at = rt.analysis.accumulate[size_t(canonical)] ? rt.analysis.read_cutoff[size_t(index)] : rt.analysis.position[size_t(index)];
  return rt.store.read(canonical, step_wide ? -1 : op.mb, at, ti.dtype == ir::DType::BF16 && !exact(), ti.name);
}

void OpContext::write(int32_t tensor, Value value) const {
  const auto& ti = info(tensor);
  if (ti.dtype == ir::DType::BF16) round_bf16_unless(exact(), value.data);
  const bool step_wide = ti.role != ir::TensorRole::Activation;
  rt.store.write(rt.analysis.canonical[size_t(tensor)], step_wide ? -1 : op.mb, rt.analysis.position[size_t(index)],
                 std::make_shared<const Value>(std::move(value)));
}

std::string OpContext::where() const {
  return fmt::format("rank {} op {} {} (mb {})", rt.rank, index, t.name(), op.mb);
}

}  // namespace tandem::backend
