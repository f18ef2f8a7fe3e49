// Whole-scenario checks, the one place every command's scenario passes: the plan against the model
// and the cluster (world size factoring, EP against experts and data parallelism, schedule
// constraints, layer split, batch divisibility), the cluster against the topology model, and the
// size of the step program. A refused plan's message names the nearest plans that pass
// (plan_suggestions.h).
#include <numeric>

#include <fmt/format.h>

#include "ir/plan_suggestions.h"
#include "ir/program_size.h"
#include "ir/scenario.h"
#include "ir/schedule.h"

namespace tandem::ir {

namespace {

// plan.tp against the model (it splits the attention heads, the FFN widths and, for sequence
// parallelism, the tokens of a micro-batch) and the cluster (a TP group stays inside one scale-up domain).
void tensor_parallel_rules(const Scenario& s) {
  const auto& m = s.model;
  const auto& p = s.plan;
  if (p.tp == 1) return;
  auto require = [&](int64_t value, const std::string& what) {
    if (value % p.tp != 0)
      throw ScenarioError(s.source, "plan.tp", fmt::format("a divisor of {} = {}", what, value), std::to_string(p.tp));
  };
  require(m.num_heads, "model.num_heads");
  require(m.hidden_size, "model.hidden_size");
  if (m.first_dense_layers > 0) require(m.dense_intermediate, "model.dense_intermediate");
  const bool moe = m.moe_layers() > 0 || m.mtp_depth > 0;
  if (moe && m.shared_experts > 0)
    require(m.shared_experts * m.moe_intermediate, "the shared experts' width (shared_experts × moe_intermediate)");
  require(p.seq_len * p.micro_batch_seqs, "the tokens of a micro-batch (seq_len × micro_batch_seqs, split by sequence parallelism)");
  if (s.cluster.domain_size() % p.tp != 0)
    throw ScenarioError(s.source, "plan.tp",
                        fmt::format("a divisor of the scale-up domain's {} GPUs (a TP group stays on NVLink)", s.cluster.domain_size()),
                        std::to_string(p.tp));
}

// Interleaved 1F1B's virtual stages (Megatron-LM's rule, read for stages of unequal size): each stage
// holds at most ceil(layers / pp) layers, the even split's fullest stage, and its virtual stages split
// them evenly, so their count divides it. A given layers_per_stage lists the pp × V chunks instead.
void virtual_stage_rules(const Scenario& s) {
  const auto& p = s.plan;
  if (p.schedule != ScheduleKind::Interleaved) {
    if (p.virtual_stages != 1)
      throw ScenarioError(s.source, "plan.virtual_stages", "1 unless plan.schedule is \"interleaved\"",
                          fmt::format("{} with schedule \"{}\"", p.virtual_stages, to_string(p.schedule)));
    return;
  }
  if (p.virtual_stages < 2)
    throw ScenarioError(s.source, "plan.virtual_stages", "at least 2 with schedule \"interleaved\" (one virtual stage is 1f1b)",
                        std::to_string(p.virtual_stages));
  const int64_t per_stage = (s.model.num_layers + p.pp - 1) / p.pp;
  if (p.layers_per_stage.empty() && per_stage % p.virtual_stages != 0)
    throw ScenarioError(s.source, "plan.virtual_stages",
                        fmt::format("a divisor of the {} layers per stage ({} layers over pp = {}), or plan.layers_per_stage "
                                    "with {} × {} chunks", per_stage, s.model.num_layers, p.pp, p.pp, p.virtual_stages),
                        std::to_string(p.virtual_stages));
}

// The plan against the model and cluster. With `suggest`, the refusals that another global batch,
// micro-batch size, pp or ep can mend end with the nearest such plans (" (would work: ...)").
void plan_rules(const Scenario& s, bool suggest) {
  const auto& m = s.model;
  const auto& c = s.cluster;
  const auto& p = s.plan;
  const std::string& f = s.source;
  const int64_t world = c.world_size();
  auto mend = [&](std::string found) {
    if (!suggest) return found;
    const std::string nearby = nearby_plans(s);
    return nearby.empty() ? found : found + " (would work: " + nearby + ")";
  };
  const bool moe = m.moe_layers() > 0 || m.mtp_depth > 0;   // the MTP module's layer is an MoE layer
  if (p.pp * p.dp * p.tp != world)
    throw ScenarioError(f, "plan", fmt::format("pp × dp × tp = the world size {} (nodes {} × {} GPUs)", world, c.nodes, c.gpus_per_node),
                        fmt::format("{} × {} × {} = {}", p.pp, p.dp, p.tp, p.pp * p.dp * p.tp));
  tensor_parallel_rules(s);
  if (p.ranks_per_stage() % p.ep != 0)
    throw ScenarioError(f, "plan.ep",
                        p.tp == 1 ? fmt::format("a divisor of dp = {} (EP groups are carved out of the data-parallel ranks of a stage)", p.dp)
                                  : fmt::format("a divisor of dp × tp = {} (EP groups are carved out of the ranks of a stage)",
                                                p.ranks_per_stage()),
                        mend(std::to_string(p.ep)));
  if (moe && m.routed_experts % p.ep != 0)
    throw ScenarioError(f, "plan.ep", fmt::format("a divisor of the {} routed experts", m.routed_experts), mend(std::to_string(p.ep)));
  if (p.global_batch_seqs % (p.dp * p.micro_batch_seqs) != 0)
    throw ScenarioError(f, "plan.global_batch_seqs",
                        fmt::format("a multiple of dp × micro_batch_seqs = {} × {} = {}", p.dp, p.micro_batch_seqs, p.dp * p.micro_batch_seqs),
                        mend(std::to_string(p.global_batch_seqs)));
  if (p.micro_batches() > kMaxMicroBatches)
    throw ScenarioError(f, "plan.global_batch_seqs",
                        fmt::format("at most {} micro-batches per step (global_batch_seqs / (dp × micro_batch_seqs))", kMaxMicroBatches),
                        mend(fmt::format("{} / ({} × {}) = {} micro-batches", p.global_batch_seqs, p.dp, p.micro_batch_seqs, p.micro_batches())));
  virtual_stage_rules(s);
  const PipelineShape shape{p.schedule, int32_t(p.pp), int32_t(p.micro_batches()), int32_t(p.virtual_stages)};
  try {
    validate(shape);
  } catch (const std::invalid_argument& e) {
    throw ScenarioError(f, "plan.schedule", std::string("a schedule that fits the plan: ") + e.what(),
                        mend(fmt::format("\"{}\" with pp = {} and {} micro-batches per step", to_string(p.schedule), p.pp, p.micro_batches())));
  }
  const int64_t chunks = model_chunks(shape);
  if (!p.layers_per_stage.empty()) {
    if (int64_t(p.layers_per_stage.size()) != chunks)
      throw ScenarioError(f, "plan.layers_per_stage", fmt::format("{} entries (one per model chunk of {})", chunks, to_string(p.schedule)),
                          fmt::format("{} entries", p.layers_per_stage.size()));
    const int64_t sum = std::accumulate(p.layers_per_stage.begin(), p.layers_per_stage.end(), int64_t(0));
    if (sum != m.num_layers)
      throw ScenarioError(f, "plan.layers_per_stage", fmt::format("counts that sum to num_layers = {}", m.num_layers),
                          fmt::format("a sum of {}", sum));
  } else if (m.num_layers < chunks) {
    throw ScenarioError(f, "plan.pp", fmt::format("at most {} model chunks for {} layers ({} splits the model into {})",
                                                  m.num_layers, m.num_layers, to_string(p.schedule), chunks),
                        mend(std::to_string(p.pp)));
  }
  if (p.ep > 1 && p.max_nodes_per_token > 0 && moe) {
    // Node-limited routing counts scale-up domains: a token's copies leave over the NICs once per domain.
    const int64_t ep_nodes = std::max<int64_t>(1, p.ep / c.domain_size());
    const int64_t per_node = std::max<int64_t>(1, m.routed_experts / ep_nodes);
    if (p.max_nodes_per_token * per_node < m.experts_per_token)
      throw ScenarioError(f, "plan.max_nodes_per_token",
                          fmt::format("enough scale-up domains for {} experts per token ({} experts per domain)", m.experts_per_token, per_node),
                          std::to_string(p.max_nodes_per_token));
  }
  // NOTE: DeepEP's dispatch and combine are kernels on SMs; with none there is nothing that moves the
  // tokens (tandem has no copy-engine all-to-all), and the simulator would make them free (docs/simulator.md).
  if (moe && p.comm_sms < 1)
    throw ScenarioError(f, "plan.comm_sms",
                        "at least 1 SM for the all-to-all kernels (they run on SMs; a copy-engine all-to-all is not modelled)",
                        std::to_string(p.comm_sms));
}

}  // namespace

void check_plan_rules(const Scenario& s) { plan_rules(s, false); }

void validate_scenario(const Scenario& s) {
  plan_rules(s, true);
  const auto& c = s.cluster;
  const std::string& f = s.source;
  // The topology (hw/topology.h) has one NIC per GPU, GPU i of every node on plane i mod planes:
  // refused here, so that inspect refuses what simulate would.
  if (c.nics_per_node != c.gpus_per_node)
    throw ScenarioError(f, "cluster.nics_per_node", fmt::format("one NIC per GPU: gpus_per_node = {}", c.gpus_per_node),
                        std::to_string(c.nics_per_node));
  if (c.gpus_per_node % c.planes != 0)
    throw ScenarioError(f, "cluster.planes", fmt::format("a divisor of gpus_per_node = {}", c.gpus_per_node), std::to_string(c.planes));
  // Last: the estimate builds small programs of the scenario's shapes, which needs the rest to hold.
  check_program_size(s);
}

}  // namespace tandem::ir
