// Pipeline send/receive, the end-of-step gradient reduction (ZeRO-1 reduce-scatter or all-reduce),
// the optimizer (AdamW on this rank's shard, gradient clipping, the NaN and loss-spike guard, the
// aux-loss-free bias update) and the all-gather of the updated BF16 weights.
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"
#include "kernels/common/bf16.h"
#include "kernels/optim/adamw_cpu.h"
#include "kernels/router/load_balance_cpu.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

constexpr int64_t kRoundTagBase = -1000;   // world all-reduces of the optimizer rounds (program tags are >= 0)

// The step's token-expert pairs of MoE layer `l` (exact integers, summed as doubles).
std::vector<int64_t> layer_load(const StepStats& st, int64_t l) {
  std::vector<int64_t> load(size_t(st.experts));
  for (int64_t e = 0; e < st.experts; ++e) load[size_t(e)] = int64_t(st.expert_load[size_t(l * st.experts + e)]);
  return load;
}

// What an optimizer round sums over the world: the squared norm of the gradients it updates, and in
// round 0 the guard's and the statistics' local sums.
struct WorldSums {
  double grad_sumsq = 0;
  double nonfinite_gradients = 0;   // ranks that hold a non-finite gradient value
  double loss_sum = 0, tokens = 0;
  double mtp_loss_sum = 0, mtp_tokens = 0;
  double balance_loss = 0;
  std::vector<double> expert_load;  // [moe layer][expert]
};

// The scalar fields round 0 carries, in their order on the wire (the loads follow them).
constexpr std::array kRoundZeroScalars{&WorldSums::nonfinite_gradients, &WorldSums::loss_sum, &WorldSums::tokens,
                                       &WorldSums::mtp_loss_sum, &WorldSums::mtp_tokens, &WorldSums::balance_loss};

// Sums every member's `sums` over the world group in one all-reduce (round 0: all fields; later
// rounds: the squared norm only).
void all_reduce_world(const OpContext& c, int32_t round, WorldSums& sums) {
  std::vector<double> wire{sums.grad_sumsq};
  if (round == 0) {
    for (auto field : kRoundZeroScalars) wire.push_back(sums.*field);
    wire.insert(wire.end(), sums.expert_load.begin(), sums.expert_load.end());
  }
  c.rt.comm->all_reduce_sum(c.rt.world_group(), wire.data(), wire.size(), ReduceType::F64, kRoundTagBase - round, c.stream);
  auto next = wire.begin();
  sums.grad_sumsq = *next++;
  if (round == 0) {
    for (auto field : kRoundZeroScalars) sums.*field = *next++;
    sums.expert_load.assign(next, wire.end());
  }
}

// The shards an optimizer op updates (chunk -1: every chunk of the rank); the gradients of the shards
// without a collective are this rank's own.
std::vector<ParamShard*> shards_to_update(RankRuntime& rt, int32_t chunk) {
  std::vector<ParamShard*> shards;
  for (auto& s : rt.params.shards())
    if (chunk < 0 || s.chunk == chunk) shards.push_back(&s);
  for (ParamShard* s : shards)
    if (s->group.size() == 1) {
      s->reduced.resize(size_t(s->hi - s->lo));
      s->gather(true, s->lo, s->hi - s->lo, s->reduced.data());
    }
  return shards;
}

bool any_nonfinite_gradient(const RankRuntime& rt) {
  for (const auto& p : rt.params.params())
    for (float g : p->grad)
      if (!std::isfinite(g)) return true;
  return false;
}

WorldSums local_sums(const RankRuntime& rt, int32_t round, double grad_sumsq) {
  WorldSums s;
  s.grad_sumsq = grad_sumsq;
  if (round != 0) return s;
  s.nonfinite_gradients = any_nonfinite_gradient(rt) ? 1 : 0;
  s.loss_sum = rt.local_loss_sum;
  s.tokens = double(rt.local_tokens);
  s.mtp_loss_sum = rt.local_mtp_sum;
  s.mtp_tokens = double(rt.local_mtp_tokens);
  s.balance_loss = rt.local_balance_sum;
  s.expert_load = rt.local_load;
  return s;
}

// The step's losses, token count and expert loads from the world sums; the load imbalance is the mean
// over the MoE layers that routed anything.
void record_step_stats(RankRuntime& rt, const WorldSums& sums) {
  const auto& m = rt.program.model();
  StepStats& st = rt.stats;
  st.tokens = int64_t(sums.tokens);
  st.loss = sums.tokens > 0 ? sums.loss_sum / sums.tokens : 0.0;
  st.mtp_loss = sums.mtp_tokens > 0 ? sums.mtp_loss_sum / sums.mtp_tokens : 0.0;
  st.balance_loss = sums.balance_loss;
  st.experts = m.routed_experts;
  st.moe_layers = m.routed_experts > 0 ? int64_t(rt.local_load.size()) / m.routed_experts : 0;
  st.expert_load = sums.expert_load;
  double imbalance = 0;
  int64_t counted = 0;
  for (int64_t l = 0; l < st.moe_layers; ++l) {
    const double x = kernels::expert_load_imbalance(layer_load(st, l));
    if (x > 0) {
      imbalance += x;
      ++counted;
    }
  }
  st.imbalance = counted ? imbalance / double(counted) : 0.0;
}

// The guard: non-finite values, or a loss far above the running mean, skip the update. Decides
// rt.skip_update and advances the guard's running mean and the applied-update count.
void apply_guard(RankRuntime& rt, const WorldSums& sums) {
  const StepConfig& cfg = rt.config;
  StepStats& st = rt.stats;
  GuardState& gs = rt.guard;
  const bool finite = sums.nonfinite_gradients == 0 && std::isfinite(st.loss) && std::isfinite(st.mtp_loss) &&
                      std::isfinite(st.balance_loss) && std::isfinite(sums.grad_sumsq);
  if (!finite) {
    st.skipped = true;
    st.skip_reason = sums.nonfinite_gradients != 0 || !std::isfinite(sums.grad_sumsq) ? "non-finite gradient" : "non-finite loss";
  } else if (cfg.spike_factor > 0 && gs.accepted >= cfg.spike_warmup && st.loss > cfg.spike_factor * gs.loss_mean) {
    st.skipped = true;
    st.skip_reason = fmt::format("loss spike: {:.4g} > {} x running mean {:.4g}", st.loss, cfg.spike_factor, gs.loss_mean);
  }
  if (cfg.apply_update) {
    if (st.skipped) {
      ++gs.skipped;
    } else {
      gs.loss_mean = gs.accepted == 0 ? st.loss : 0.9 * gs.loss_mean + 0.1 * st.loss;
      ++gs.accepted;
      ++rt.optimizer_steps;
    }
  }
  rt.skip_update = st.skipped || !cfg.apply_update;
}

// Aux-loss-free balancing: raise the bias of under-loaded experts, lower the over-loaded ones.
void update_router_biases(RankRuntime& rt) {
  const auto& m = rt.program.model();
  if (m.bias_update_speed <= 0) return;
  for (const auto& t : rt.rp.templates) {
    if (t.role != ir::OpRole::Router || t.phase != ir::Phase::F || t.recompute) continue;
    Param& bias = rt.params.by_tensor(t.in(S::Bias));
    kernels::update_router_bias(layer_load(rt.stats, rt.moe_layer_index(t.layer)), float(m.bias_update_speed), bias.value);
  }
}

// AdamW on each shard's range with the gradients clipped by the norm of the gradients this op updates
// (the whole gradient: the program has one optimizer op per rank, after the reductions of all its
// chunks); the updated values go to the working weights, BF16-rounded unless exact.
void apply_adamw(const OpContext& c, OpKernels& k, const std::vector<ParamShard*>& shards, double grad_sumsq) {
  const StepConfig& cfg = c.rt.config;
  const float clip_scale = kernels::clip_coefficient(std::sqrt(grad_sumsq), cfg.clip_norm);
  kernels::AdamWConfig ac;
  ac.lr = float(cfg.lr);
  ac.beta1 = float(cfg.beta1);
  ac.beta2 = float(cfg.beta2);
  ac.eps = float(cfg.eps);
  ac.weight_decay = float(cfg.weight_decay);
  for (ParamShard* s : shards) {
    if (s->hi <= s->lo) continue;
    if (clip_scale != 1.0f) k.call(&KernelTable::scale_in_place, s->reduced, clip_scale);
    k.call(&KernelTable::adamw_step, s->master, s->reduced, s->m, s->v, c.rt.optimizer_steps, ac);
    std::vector<float> working(s->master);
    round_bf16_unless(c.exact(), working);
    s->scatter_values(s->lo, s->hi - s->lo, working.data());
  }
}

}  // namespace

std::vector<std::byte> pack_values(const std::vector<float>& v, bool exact) {
  std::vector<std::byte> out(v.size() * (exact ? 4 : 2));
  if (exact) {
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t b = kernels::float_to_bf16_bits(v[i]);
      std::memcpy(out.data() + 2 * i, &b, 2);
    }
  }
  return out;
}

std::vector<float> unpack_values(const std::vector<std::byte>& bytes, size_t n, bool exact) {
  std::vector<float> out(n);
  if (exact) {
    std::memcpy(out.data(), bytes.data(), n * 4);
  } else {
    for (size_t i = 0; i < n; ++i) {
      uint16_t b;
      std::memcpy(&b, bytes.data() + 2 * i, 2);
      out[i] = kernels::bf16_bits_to_float(b);
    }
  }
  return out;
}

void run_pipeline(const OpContext& c, OpKernels&) {
  const int peer = int(c.rt.program.peer_rank(c.rt.rank, c.op));
  if (c.t.role == ir::OpRole::PipeSend) {
    const ValuePtr v = c.read(c.t.in(S::Input));
    const auto bytes = pack_values(v->data, c.exact());
    c.rt.comm->send(peer, bytes.data(), bytes.size(), c.op.tag, c.stream);
    c.record().bytes = double(bytes.size());
  } else {
    const int32_t received = c.t.out(S::Output);
    const auto& info = c.info(received);
    Value v;
    v.rows = info.shape[0];
    v.cols = info.shape[1];
    const size_t n = size_t(v.rows * v.cols);
    std::vector<std::byte> bytes(n * (c.exact() ? 4 : 2));
    c.rt.comm->recv(peer, bytes.data(), bytes.size(), c.op.tag, c.stream);
    v.data = unpack_values(bytes, n, c.exact());
    c.record().bytes = double(bytes.size());
    c.write(received, std::move(v));
  }
}

void run_grad_reduce(const OpContext& c, OpKernels&) {
  const auto& comm = std::get<ir::Comm>(c.t.payload);
  ParamShard& s = c.rt.params.shard_of(c.t.chunk, comm.group);
  const int64_t g = int64_t(s.group.size());
  if (c.t.role == ir::OpRole::GradReduceScatter) {
    std::vector<float> flat(size_t(s.shard * g), 0.0f);
    s.gather(true, 0, s.total, flat.data());
    s.reduced.assign(size_t(s.shard), 0.0f);
    c.rt.comm->reduce_scatter_sum(s.group, flat.data(), s.reduced.data(), size_t(s.shard), ReduceType::F32, c.op.tag, c.stream);
    s.reduced.resize(size_t(s.hi - s.lo));
    c.record().bytes = double(s.shard * (g - 1) * 4);
  } else {
    std::vector<float> flat(size_t(s.total));
    s.gather(true, 0, s.total, flat.data());
    c.rt.comm->all_reduce_sum(s.group, flat.data(), flat.size(), ReduceType::F32, c.op.tag, c.stream);
    s.reduced = std::move(flat);
    c.record().bytes = double(s.total * 4 * 2 * (g - 1) / std::max<int64_t>(1, g));
  }
}

// The copies of a shared weight (the embedding and the MTP module's copy on another rank) sum their
// gradients, so every copy receives the same update.
void run_shared_grad_reduce(const OpContext& c, OpKernels&) {
  Param& p = c.rt.params.by_grad_tensor(c.t.in(S::WeightGrad));
  std::vector<int> group;
  for (int64_t r : c.rt.program.group_ranks(c.rt.rank, c.op)) group.push_back(int(r));
  c.rt.comm->all_reduce_sum(group, p.grad.data(), p.grad.size(), ReduceType::F32, c.op.tag, c.stream);
  const int64_t g = int64_t(group.size());
  c.record().bytes = double(p.size() * 4 * 2 * (g - 1) / std::max<int64_t>(1, g));
}

void run_param_gather(const OpContext& c, OpKernels&) {
  const auto& comm = std::get<ir::Comm>(c.t.payload);
  ParamShard& s = c.rt.params.shard_of(c.t.chunk, comm.group);
  const int64_t g = int64_t(s.group.size());
  // Each member contributes its updated range (as stored: BF16 values, 2 bytes on the wire).
  std::vector<float> mine(size_t(s.shard), 0.0f);
  s.gather(false, s.lo, s.hi - s.lo, mine.data());
  const auto packed = pack_values(mine, c.exact());
  std::vector<std::byte> all(packed.size() * size_t(g));
  c.rt.comm->all_gather(s.group, packed.data(), all.data(), packed.size(), c.op.tag, c.stream);
  const auto values = unpack_values(all, size_t(s.shard * g), c.exact());
  for (int64_t j = 0; j < g; ++j) {
    if (j == s.member) continue;
    const int64_t lo = std::min(s.total, j * s.shard), hi = std::min(s.total, lo + s.shard);
    if (hi > lo) s.scatter_values(lo, hi - lo, values.data() + j * s.shard);
  }
  c.record().bytes = double(packed.size() * size_t(g - 1));
}

// One optimizer round: the world all-reduce of the squared gradient norm (round 0 with the guard's
// inputs and the step's statistics), the guard and the bias update (round 0), then AdamW.
void run_optimizer(const OpContext& c, OpKernels& k) {
  RankRuntime& rt = c.rt;
  const int32_t round = rt.optimizer_round++;
  const auto shards = shards_to_update(rt, c.t.chunk);
  double grad_sumsq = 0;
  for (ParamShard* s : shards)
    for (const auto& [from, n] : s->norm_ranges())
      grad_sumsq += k.call(&KernelTable::sum_of_squares, std::span<const float>(s->reduced).subspan(size_t(from), size_t(n)));
  WorldSums sums = local_sums(rt, round, grad_sumsq);
  all_reduce_world(c, round, sums);
  if (round == 0) {
    record_step_stats(rt, sums);
    apply_guard(rt, sums);
    if (!rt.skip_update) update_router_biases(rt);
  }
  rt.stats.grad_norm = std::sqrt(rt.stats.grad_norm * rt.stats.grad_norm + sums.grad_sumsq);
  if (rt.skip_update) return;
  apply_adamw(c, k, shards, sums.grad_sumsq);
}

}  // namespace tandem::backend
