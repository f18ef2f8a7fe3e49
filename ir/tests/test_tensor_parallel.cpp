// Tensor parallelism with sequence parallelism (plan.tp): rank coordinates and groups, the weights
// each TP rank holds, the all-gathers and reduce-scatters of a layer with their bytes (computed by
// hand for the tiny model), the gradient groups of split and replicated weights, and the memory.
#include <catch2/catch.hpp>

#include <map>

#include <fmt/format.h>

#include "ir/graph_check.h"
#include "ir/memory.h"
#include "ir/step_program.h"

using namespace tandem::ir;

namespace {

// tiny on 4 GPUs: pp 2, tp 2, dp 1, ep 2 (EP over the stage's dp × tp ranks). A micro-batch holds
// 4 × 64 = 256 tokens, 128 per rank of the TP group.
StepProgram tiny_tp2(std::vector<std::string> extra = {}) {
  extra.push_back("plan.tp=2");
  return StepProgram(load_scenario("tiny", extra));
}

const TensorInfo& tensor_named(const RankProgram& rp, const std::string& name) {
  for (const auto& t : rp.tensors)
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  return rp.tensors.front();
}

// Bytes of each TP collective of `layer`, by "role phase" (e.g. "q_latent_gather F").
std::map<std::string, int64_t> tp_collectives(const RankProgram& rp, int32_t layer) {
  std::map<std::string, int64_t> out;
  for (const auto& t : rp.templates)
    if (const auto* c = std::get_if<Comm>(&t.payload); c && c->group == CommGroup::Tensor && t.layer == layer) {
      const std::string key = fmt::format("{} {}", to_string(t.role), phase_letter(t.phase));
      CHECK(out.count(key) == 0);
      CHECK(c->group_size == 2);
      CHECK(t.stream == Stream::Compute);   // in line with the compute, as Megatron runs it without overlap
      CHECK(c->kind == (key.find("gather F") != std::string::npos || key.find("scatter B") != std::string::npos
                            ? CommKind::AllGather
                            : CommKind::ReduceScatter));
      out[key] = c->bytes;
    }
  return out;
}

}  // namespace

TEST_CASE("TP ranks are adjacent, and their groups follow the plan", "[ir][tp]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain", {"plan.tp=4"}));
  CHECK(p.plan().dp == 32);               // 2048 / (16 × 4)
  CHECK(p.plan().ranks_per_stage() == 128);
  const RankCoord c = p.coord(130);       // stage 1, its rank 2: dp 0, tp 2
  CHECK(c.pp_index == 1);
  CHECK(c.dp_index == 0);
  CHECK(c.tp_index == 2);
  CHECK(c.ep_group == 0);                 // EP 64 over the stage's 128 ranks: 2 / 64
  CHECK(c.ep_index == 2);
  CHECK(p.rank_of(c) == 130);
  const RankProgram& rp = p.program_of(130);
  auto group_of = [&](OpRole role) {
    for (const auto& op : rp.ops)
      if (rp.tmpl(op).role == role) return p.group_ranks(130, op);
    FAIL("no op " << to_string(role));
    return std::vector<int64_t>{};
  };
  CHECK(group_of(OpRole::QLatentGather) == std::vector<int64_t>{128, 129, 130, 131});   // one node
  const auto ep = group_of(OpRole::Dispatch);
  REQUIRE(ep.size() == 64);
  CHECK(ep.front() == 128);
  CHECK(ep.back() == 191);
  // Dense gradients: a TP-split weight's copies are the ranks of the same TP index (2 per stage
  // under DualPipe × 32 data-parallel), a replicated one's every rank of both stages holding the chunk.
  std::map<CommGroup, size_t> reduce;
  for (const auto& op : rp.ops)
    if (rp.tmpl(op).role == OpRole::GradReduceScatter) reduce[std::get<Comm>(rp.tmpl(op).payload).group] = p.group_ranks(130, op).size();
  CHECK(reduce[CommGroup::Data] == 2 * 32);
  CHECK(reduce[CommGroup::ReplicatedData] == 2 * 128);
  CHECK(reduce[CommGroup::ExpertData] == 2 * 2);    // 128 ranks / EP 64
  const auto data = [&] {
    for (const auto& op : rp.ops)
      if (rp.tmpl(op).role == OpRole::GradReduceScatter && std::get<Comm>(rp.tmpl(op).payload).group == CommGroup::Data)
        return p.group_ranks(130, op);
    return std::vector<int64_t>{};
  }();
  for (int64_t r : data) CHECK(p.coord(r).tp_index == 2);
}

TEST_CASE("a TP rank holds its part of the split weights and all of the replicated ones", "[ir][tp]") {
  const StepProgram p = tiny_tp2();
  const RankProgram& rp = p.program_of(0);
  // tiny: hidden 64, 4 heads (2 per rank), q_lora 32, kv_lora 32, qk 16 + 8, v 16, dense FFN 128,
  // shared expert 32, 8 routed experts over EP 2.
  auto shape = [&](const std::string& n) { return std::array<int64_t, 2>{tensor_named(rp, n).shape[0], tensor_named(rp, n).shape[1]}; };
  auto split = [&](const std::string& n) { return tensor_named(rp, n).tp_split; };
  CHECK(shape("L0.q_down.w") == std::array<int64_t, 2>{64, 32});        // replicated
  CHECK(split("L0.q_down.w") == TpSplit::Replicated);
  CHECK(shape("L0.q_up.w") == std::array<int64_t, 2>{32, 2 * 24});      // 2 heads × (16 + 8)
  CHECK(split("L0.q_up.w") == TpSplit::Columns);
  CHECK(shape("L0.kv_up.w") == std::array<int64_t, 2>{32, 2 * 32});     // 2 heads × (16 + 16)
  CHECK(shape("L0.o_proj.w") == std::array<int64_t, 2>{2 * 16, 64});
  CHECK(split("L0.o_proj.w") == TpSplit::Rows);
  CHECK(shape("L0.ffn.up.w") == std::array<int64_t, 2>{64, 2 * 64});    // gate and up halves of 128 / 2
  CHECK(split("L0.ffn.up.w") == TpSplit::Columns);
  CHECK(shape("L0.ffn.down.w") == std::array<int64_t, 2>{64, 64});
  CHECK(split("L0.ffn.down.w") == TpSplit::Rows);
  CHECK(shape("L1.shared.up.w") == std::array<int64_t, 2>{64, 2 * 16});
  CHECK(shape("L1.shared.down.w") == std::array<int64_t, 2>{16, 64});
  CHECK(tensor_named(rp, "L1.experts.up.w").shape == std::array<int64_t, 3>{64, 2 * 32, 4});   // EP-split, whole experts
  CHECK(split("L1.experts.up.w") == TpSplit::Replicated);
  CHECK(tensor_named(rp, "L1.o_proj.w.grad").tp_split == TpSplit::Rows);
  // Activations: the residual stream is sequence-split, the attention core's inputs are not.
  CHECK(tensor_named(rp, "L0.h_attn").shape[0] == 128);
  CHECK(tensor_named(rp, "L0.q_rope").shape == std::array<int64_t, 3>{256, 2 * 24, 1});
  CHECK(tensor_named(rp, "tokens").shape[0] == 128);
  // The program passes every check.
  const GraphCheck g = check_program(p, 0);
  CHECK(g.ok());
  for (const auto& problem : g.problems) INFO(problem);
}

TEST_CASE("a layer's TP all-gathers and reduce-scatters carry their hand-computed bytes", "[ir][tp]") {
  const StepProgram p = tiny_tp2();
  const RankProgram& rp = p.program_of(0);
  // Forward (bytes this rank contributes to an all-gather, the whole buffer of a reduce-scatter):
  //   q latent   [128, 32] BF16            = 8192, gathered into [256, 32]
  //   kv latent  [128, 32 + 8] BF16        = 10240
  //   o_proj     [256, 64] BF16 partials   = 32768, scattered onto [128, 64]
  //   FFN input  [128, 64] FP8 + one FP32 scale per 128 values = 8192 + 128 × 4 = 8704
  //   FFN output [256, 64] BF16            = 32768
  // Backward: an all-gather's gradient is a reduce-scatter of the gathered [256, c] BF16 gradient,
  // a reduce-scatter's an all-gather of the [128, 64] BF16 one (16384).
  const std::map<std::string, int64_t> dense{{"q_latent_gather F", 8192},  {"kv_latent_gather F", 10240},
                                             {"o_proj_scatter F", 32768},  {"ffn_gather F", 8704},
                                             {"ffn_scatter F", 32768},     {"q_latent_gather B", 256 * 32 * 2},
                                             {"kv_latent_gather B", 256 * 40 * 2}, {"o_proj_scatter B", 16384},
                                             {"ffn_gather B", 256 * 64 * 2}, {"ffn_scatter B", 16384}};
  CHECK(tp_collectives(rp, 0) == dense);
  std::map<std::string, int64_t> moe = dense;   // a MoE layer: the shared expert's instead of the FFN's
  for (const char* phase : {" F", " B"}) {
    moe[std::string("shared_gather") + phase] = moe[std::string("ffn_gather") + phase];
    moe[std::string("shared_scatter") + phase] = moe[std::string("ffn_scatter") + phase];
    moe.erase(std::string("ffn_gather") + phase);
    moe.erase(std::string("ffn_scatter") + phase);
  }
  CHECK(tp_collectives(rp, 1) == moe);
  // The routed experts see this rank's 128 tokens: dispatch sends 128 × 2 rows of 64 FP8 + 4 bytes.
  for (const auto& t : rp.templates)
    if (t.role == OpRole::Dispatch && t.phase == Phase::F && t.layer == 1) CHECK(std::get<Comm>(t.payload).bytes == 128 * 2 * (64 + 4));
  // Pipeline transfers carry the sequence split.
  for (const auto& t : rp.templates)
    if (t.role == OpRole::PipeSend) CHECK(std::get<Comm>(t.payload).bytes == 128 * 64 * 2);
}

TEST_CASE("memory per rank: split weights and activations shrink, replicated ones stay", "[ir][tp]") {
  const auto one = rank_memory(StepProgram(load_scenario("tiny", {"plan.pp=1", "cluster.gpus_per_node=2", "cluster.nics_per_node=2",
                                                                  "cluster.planes=2", "plan.global_batch_seqs=8"})));
  const auto two = rank_memory(StepProgram(load_scenario("tiny", {"plan.pp=1", "plan.tp=2", "plan.ep=2", "cluster.gpus_per_node=2",
                                                                  "cluster.nics_per_node=2", "cluster.planes=2",
                                                                  "plan.global_batch_seqs=4"})));
  REQUIRE(one.size() == 1);
  REQUIRE(two.size() == 1);
  // Per MLA block the split weights are q_up 32×96, kv_up 32×128 and o_proj 64×64 (11,264 of them),
  // per dense FFN up 64×256 and down 128×64 (24,576), per shared expert 64×64 and 32×64 (6,144):
  // tp 2 holds half of each. 5 attention blocks (4 layers + MTP), 1 dense FFN, 4 shared experts.
  const int64_t split = 5 * 11264 + 24576 + 4 * 6144;
  CHECK(one[0].params - two[0].params == split / 2);
  // Activations per micro-batch: each rank keeps fewer than at tp 1 (the sequence-split residual
  // stream and half the heads), though more than half (the gathered latents are whole).
  CHECK(two[0].activation_bytes_per_mb < one[0].activation_bytes_per_mb);
  CHECK(two[0].activation_bytes_per_mb > one[0].activation_bytes_per_mb / 2);
}

TEST_CASE("every schedule lays out a TP plan that passes the checks", "[ir][tp][check]") {
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev"})
    for (const char* fp8 : {"true", "false"}) {
      INFO(schedule << " fp8 " << fp8);
      const StepProgram p = tiny_tp2({std::string("plan.schedule=") + schedule, std::string("plan.precision.fp8=") + fp8});
      const GraphCheck g = check_program(p, 0);
      for (const auto& problem : g.problems) UNSCOPED_INFO(problem);
      CHECK(g.ok());
    }
}
