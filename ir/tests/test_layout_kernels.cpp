// The layout and precision kernels of the FP8 step (ir/layout_kernels.h): per MoE layer of the
// DeepSeek-V3 pretraining program the counts DeepSeek's H800 profile shows (16 scale transposes, 9
// weight transposes, 3 cast-backs, 4 RoPE copies), each on the compute stream right before the op it
// serves, with its shape from that op; without FP8 only RoPE's copies remain.
#include <catch2/catch.hpp>

#include <map>

#include "ir/layout_kernels.h"
#include "ir/scenario.h"
#include "ir/step_program.h"

using namespace tandem::ir;

namespace {

// Templates of one MoE layer of the program's first rank, counted by role.
std::map<OpRole, int> layout_counts(const StepProgram& p, int32_t layer) {
  std::map<OpRole, int> n;
  for (const OpTemplate& t : p.program_of(0).templates)
    if (t.layer == layer && is_layout_kernel(t.role)) ++n[t.role];
  return n;
}

const std::vector<std::string> kPretrain{"plan.pp=4", "cluster.nodes=4", "plan.ep=8", "plan.global_batch_seqs=64"};

}  // namespace

TEST_CASE("an FP8 MoE layer launches the profile's layout kernels", "[ir][layout]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain", kPretrain));
  const Scenario& s = p.scenario();
  int32_t layer = -1;
  for (const OpTemplate& t : p.program_of(0).templates)
    if (t.layer >= 0 && s.model.is_moe_layer(t.layer)) {
      layer = t.layer;
      break;
    }
  REQUIRE(layer >= 0);
  const auto n = layout_counts(p, layer);
  // Dense FP8 GEMMs: q_down, q_up, kv_down, kv_up, o_proj, shared up and down, forward (7) and input
  // gradient (7), and the recomputed q_up and kv_up (2).
  CHECK(n.at(OpRole::ScaleTranspose) == 16);
  // The same 7 input-gradient GEMMs and the experts' two grouped ones.
  CHECK(n.at(OpRole::WeightTranspose) == 9);
  // The experts' and the shared expert's SwiGLU inputs and the attention output.
  CHECK(n.at(OpRole::CastBack) == 3);
  // Forward, recomputed, and two in RoPE's backward.
  CHECK(n.at(OpRole::RopeConcat) == 4);
}

TEST_CASE("a layout kernel takes its shape from the op it serves and sits right before it", "[ir][layout]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain", kPretrain));
  const RankProgram& rp = p.program_of(0);
  const Scenario& s = p.scenario();
  const int64_t tokens = s.plan.micro_batch_tokens();
  bool seen_scale = false, seen_weight = false;
  for (size_t i = 0; i + 1 < rp.ops.size(); ++i) {
    const OpTemplate& t = rp.tmpl(rp.ops[i]);
    // The op it serves: the next one that is not a layout kernel (a weight transpose is followed by
    // its GEMM's scale transpose).
    size_t j = i + 1;
    while (j + 1 < rp.ops.size() && is_layout_kernel(rp.tmpl(rp.ops[j]).role)) ++j;
    const OpTemplate& next = rp.tmpl(rp.ops[j]);
    if (t.role == OpRole::ScaleTranspose && t.phase == Phase::F && next.role == OpRole::QDown) {
      // q_down reads [tokens, 7168] in 1x128 tiles: tokens x 56 FP32 scales.
      const auto& q = std::get<Quantize>(t.payload);
      CHECK(q.rows == tokens);
      CHECK(q.cols == 56);
      CHECK(q.from == DType::FP32);
      CHECK(t.in(OperandSlot::Input) == next.in(OperandSlot::Input));
      seen_scale = true;
    }
    if (t.role == OpRole::WeightTranspose && next.role == OpRole::OProj) {
      // o_proj's [128 x 128, 7168] weight, FP8 in 128x128 blocks, transposed for dX = dY · Wᵀ.
      const auto& q = std::get<Quantize>(t.payload);
      CHECK(q.rows == s.model.num_heads * s.model.v_head_dim);
      CHECK(q.cols == s.model.hidden_size);
      CHECK(q.transpose);
      CHECK(q.granularity == ScaleGranularity::Block128x128);
      CHECK(next.phase == Phase::B);
      CHECK(t.in(OperandSlot::Weight) == next.in(OperandSlot::Weight));
      seen_weight = true;
    }
    if (is_layout_kernel(t.role)) {
      CHECK(t.outputs.empty());
      CHECK(t.stream == Stream::Compute);
    }
  }
  CHECK(seen_scale);
  CHECK(seen_weight);
}

TEST_CASE("without FP8 only RoPE's copies remain", "[ir][layout]") {
  std::vector<std::string> bf16 = kPretrain;
  bf16.push_back("plan.precision.fp8=false");
  const StepProgram p(load_scenario("deepseek-v3-pretrain", bf16));
  std::map<OpRole, int> n;
  for (const OpTemplate& t : p.program_of(0).templates)
    if (is_layout_kernel(t.role)) ++n[t.role];
  CHECK(n.count(OpRole::ScaleTranspose) == 0);
  CHECK(n.count(OpRole::WeightTranspose) == 0);
  CHECK(n.count(OpRole::CastBack) == 0);
  CHECK(n.at(OpRole::RopeConcat) > 0);
}
