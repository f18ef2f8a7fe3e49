// The MoE router: sigmoid scores, the biased group-limited top-k choice and the normalised weights;
// the sequence-wise balance loss (alpha) and the expert loads counted for the bias update; backward
// through the weights, the balance loss and the sigmoid to the gate logits. The scores, choice and
// weights run on the kernel table; the balance loss and the load count on the host.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"
#include "kernels/router/load_balance_cpu.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

// The whole sequences this rank routes per micro-batch: all of them, or with TP its sequence split's
// (check_cpu_plan asks micro_batch_seqs to be a multiple of tp when the balance loss is on).
int64_t rank_seqs(const OpContext& c) {
  const auto& plan = c.rt.program.plan();
  return plan.micro_batch_seqs / plan.tp;
}

// Each micro-batch's balance loss is a mean over its sequences (a rank's over those it routes); the
// step's is the mean over all.
double micro_batch_share(const OpContext& c) {
  const auto& plan = c.rt.program.plan();
  return double(rank_seqs(c)) / double(plan.global_batch_seqs);
}

// The balance loss's weight at this op's layer: alpha, times the MTP factor lambda in the MTP module
// (DeepSeek-V3 scales the whole MTP objective by lambda; its balance term is part of it).
double balance_weight(const OpContext& c) {
  const auto& m = c.rt.program.model();
  return m.balance_loss_alpha * (c.t.layer == m.num_layers ? m.mtp_loss_weight : 1.0);
}

struct RouterState {
  std::vector<float> scores;     // [tokens, experts] sigmoid scores
  std::vector<int32_t> topk;     // [tokens, top_k]
};

// The router's settings from the model.
kernels::RouterConfig router_config(const ir::ModelConfig& m) {
  kernels::RouterConfig r;
  r.experts = m.routed_experts;
  r.top_k = m.experts_per_token;
  r.groups = m.expert_groups;
  r.topk_groups = m.groups_per_token;
  r.route_scale = float(m.route_scale);
  return r;
}

// What a routing adds to the step's statistics: the balance loss's share of this micro-batch and the
// expert loads for the bias update.
void record_routing(const OpContext& c, std::span<const float> scores, std::span<const int32_t> topk) {
  const auto& m = c.rt.program.model();
  const auto& plan = c.rt.program.plan();
  if (m.balance_loss_alpha > 0)
    c.rt.local_balance_sum += micro_batch_share(c) * kernels::balance_loss_forward(scores, topk, rank_seqs(c), plan.seq_len,
                                                                                   m.routed_experts, m.experts_per_token,
                                                                                   balance_weight(c));
  const int64_t layer = c.rt.moe_layer_index(c.t.layer);
  std::vector<int64_t> load(size_t(m.routed_experts), 0);
  kernels::count_expert_load(topk, m.routed_experts, load);
  for (int64_t e = 0; e < m.routed_experts; ++e) c.rt.local_load[size_t(layer * m.routed_experts + e)] += double(load[size_t(e)]);
}

// The balance loss's gradient, added to the scores' gradient.
void add_balance_loss_gradient(const OpContext& c, std::span<const float> scores, std::span<const int32_t> topk,
                               std::span<float> dscores) {
  const auto& m = c.rt.program.model();
  const auto& plan = c.rt.program.plan();
  if (m.balance_loss_alpha > 0)
    kernels::balance_loss_backward(scores, topk, rank_seqs(c), plan.seq_len, m.routed_experts, m.experts_per_token,
                                   balance_weight(c), micro_batch_share(c), dscores);
}

}  // namespace

// F: {input (gate logits), bias} -> routing (ids in `ints`, weights in `data`, [tokens, top_k] each).
// B: {routing_grad (the combine backward's gradient of the weights), input} -> input_grad.
void run_router(const OpContext& c, OpKernels& k) {
  const auto& m = c.rt.program.model();
  const auto cfg = router_config(m);
  const std::string key = "router.L" + std::to_string(c.t.layer) + ".mb" + std::to_string(c.mb());
  if (c.t.phase == ir::Phase::F) {
    const ValuePtr logits = c.read(c.t.in(S::Input));
    const Param& bias = c.weight(c.t.in(S::Bias));
    const int64_t tokens = logits->rows;
    auto st = c.rt.aux<RouterState>(key, true);
    st->scores.resize(size_t(tokens * m.routed_experts));
    st->topk.resize(size_t(tokens * m.experts_per_token));
    Value route;
    route.rows = tokens;
    route.cols = 2 * m.experts_per_token;
    route.data.resize(st->topk.size());
    k.call(&KernelTable::router_forward, logits->data, bias.value, cfg, st->scores, st->topk, route.data);
    route.ints = st->topk;
    record_routing(c, st->scores, st->topk);
    c.write(c.t.out(S::Routing), std::move(route));
    return;
  }
  const auto st = c.rt.aux<RouterState>(key, false);
  const ValuePtr dweight = c.read(c.t.in(S::RoutingGrad));
  const int64_t tokens = int64_t(st->topk.size()) / m.experts_per_token;
  if (int64_t(dweight->data.size()) != tokens * m.experts_per_token)
    throw std::logic_error(fmt::format("{}: a weight gradient of {} values for [{}, {}]", c.where(), dweight->data.size(), tokens,
                                       m.experts_per_token));
  std::vector<float> dscores(st->scores.size());
  k.call(&KernelTable::router_weights_backward, st->scores, st->topk, dweight->data, cfg, dscores);
  add_balance_loss_gradient(c, st->scores, st->topk, dscores);
  Value dlogits;
  dlogits.rows = tokens;
  dlogits.cols = m.routed_experts;
  dlogits.data.resize(st->scores.size());
  k.call(&KernelTable::router_sigmoid_backward, st->scores, dscores, dlogits.data);
  c.write(c.t.out(S::InputGrad), std::move(dlogits));
}

}  // namespace tandem::backend
