// Executor: per-step issue of every rank's ops onto its streams in the program's order, waiting for
// the program's dependencies; failure handling across ranks, and the timeline of the step (see executor.h).
#include "backend/execution/executor.h"

#include <algorithm>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include <fmt/format.h>

#include "backend/runtime/cpu_device.h"
#include "backend/runtime/inproc_communicator.h"
#include "ir/op.h"
#include "trace/program_timeline.h"

namespace tandem::backend {

// Nothing is added to the program's dependencies: the IR decides the order and the graph.
std::vector<std::vector<int32_t>> program_stream_waits(const ir::RankProgram& rp) {
  std::vector<std::vector<int32_t>> waits(rp.ops.size());
  for (size_t i = 0; i < rp.ops.size(); ++i) {
    const int s = int(rp.ops[i].stream);
    int32_t latest[ir::kStreams] = {-1, -1, -1};
    for (int32_t d : rp.deps_of(i)) {
      if (size_t(d) >= i) throw std::logic_error(fmt::format("pipeline position {}: op {} depends on op {}, issued after it", rp.pp_index, i, d));
      const int ds = int(rp.ops[size_t(d)].stream);
      if (ds != s) latest[ds] = std::max(latest[ds], d);
    }
    for (int ds = 0; ds < ir::kStreams; ++ds)
      if (latest[ds] >= 0) waits[i].push_back(latest[ds]);
    std::sort(waits[i].begin(), waits[i].end());
  }
  return waits;
}

void check_cpu_plan(const ir::StepProgram& program) {
  const auto& m = program.model();
  const auto& p = program.plan();
  const std::string where = program.scenario().source;
  auto refuse = [&](const std::string& field, const std::string& expected, const std::string& found) {
    throw std::invalid_argument(fmt::format("{}: the CPU backend cannot run this plan: at {}: expected {}, found {}", where,
                                            field, expected, found));
  };
  // With TP a rank routes whole sequences only when they do not straddle its split: the sequence-wise
  // balance loss needs every token of a sequence on one rank (the program has no collective for it).
  if (p.tp > 1 && m.balance_loss_alpha > 0 && p.micro_batch_seqs % p.tp != 0)
    refuse("plan.micro_batch_seqs",
           fmt::format("a multiple of plan.tp = {} (each rank of a TP group holds whole sequences for the sequence-wise balance loss)", p.tp),
           std::to_string(p.micro_batch_seqs));
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
  for (const auto& role : program.roles()) waits_.push_back(program_stream_waits(role));
  for (int64_t r = 0; r < program.num_ranks(); ++r) {
    auto dev = parts_.device(r);
    auto comm = parts_.communicator(r);
    ranks_.push_back(std::make_unique<RankRuntime>(program, r, options, std::move(dev), std::move(comm)));
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
  const auto& waits = waits_[size_t(rt.coord.pp_index)];
  auto& starts = start_[size_t(rt.rank)];
  auto& ends = end_[size_t(rt.rank)];
  for (size_t i = 0; i < rt.rp.ops.size(); ++i) {
    Stream& stream = rt.device->stream(int(rt.rp.ops[i].stream));
    for (int32_t w : waits[i]) stream.wait(*ends[size_t(w)]);
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
  // The one builder of program timelines (trace/program_timeline.h), as the simulator's: the same
  // identity, names and payload args; times from the device's events, flops and bytes as measured.
  trace::ProgramTimelineBuilder builder(tl, program_, ranks_.empty() ? 0 : ranks_[0]->config.step);
  std::vector<trace::OpTiming> times;
  for (const auto& rt : ranks_) {
    times.assign(rt->rp.ops.size(), trace::OpTiming{});
    for (size_t i = 0; i < times.size(); ++i) {
      const int64_t t0 = start_[size_t(rt->rank)][i]->time_ns(), t1 = end_[size_t(rt->rank)][i]->time_ns();
      const OpRecord& rec = rt->records[i];
      times[i] = trace::OpTiming{t0 - origin_ns, std::max(t0, t1) - origin_ns, -1, rec.flops, rec.bytes};
    }
    builder.add_rank(rt->rank, times);
  }
  builder.finish();
}

// ---- RankRuntime and OpContext ----

namespace {

std::vector<char> accumulating_tensors(const ir::RankProgram& rp) {
  std::vector<char> out(rp.tensors.size());
  for (size_t i = 0; i < rp.tensors.size(); ++i) out[i] = rp.tensors[i].accumulates();
  return out;
}

}  // namespace

RankRuntime::RankRuntime(const ir::StepProgram& prog, int64_t r, const BackendOptions& opts, std::unique_ptr<Device> dev,
                         std::unique_ptr<Communicator> c)
    : program(prog), rank(r), coord(prog.coord(r)), rp(prog.program_of(r)), options(opts), device(std::move(dev)),
      comm(std::move(c)), params(prog, r, InitConfig{opts.seed, prog.model().num_layers}, opts.exact),
      store(accumulating_tensors(rp)) {
  records.resize(rp.ops.size());
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
  const int32_t at = ti.accumulates() ? rt.rp.gradient_cutoff[size_t(index)] : index;
  return rt.store.read(tensor, step_wide ? -1 : op.mb, at, ti.dtype == ir::DType::BF16 && !exact(), ti.name);
}

void OpContext::write(int32_t tensor, Value value) const {
  const auto& ti = info(tensor);
  if (ti.dtype == ir::DType::BF16) round_bf16_unless(exact(), value.data);
  const bool step_wide = ti.role != ir::TensorRole::Activation;
  rt.store.write(tensor, step_wide ? -1 : op.mb, index, std::make_shared<const Value>(std::move(value)));
}

std::string OpContext::where() const {
  return fmt::format("rank {} op {} {} (mb {})", rt.rank, index, t.name(), op.mb);
}

}  // namespace tandem::backend
