// Recomputation by module (plan.recompute): the list a scenario gives, the older flag, the forward ops
// re-run in the backward for each module, the activation bytes they free (a hand-computed case) and
// a valid program for every module under every kind of schedule.
#include <catch2/catch.hpp>

#include <algorithm>

#include "ir/graph_check.h"
#include "ir/memory.h"
#include "ir/step_program.h"

using namespace tandem::ir;

namespace {

RecomputeModules none() { return {false, false, false, false, false, false}; }

// Recomputed templates of one role on a rank.
int64_t recomputed(const RankProgram& rp, OpRole role) {
  return std::count_if(rp.templates.begin(), rp.templates.end(), [&](const OpTemplate& t) { return t.recompute && t.role == role; });
}

int64_t recomputed_total(const RankProgram& rp) {
  return std::count_if(rp.templates.begin(), rp.templates.end(), [](const OpTemplate& t) { return t.recompute; });
}

}  // namespace

TEST_CASE("plan.recompute reads a list of modules and the older flag stays valid", "[scenario][recompute]") {
  CHECK(load_scenario("tiny").plan.recompute == RecomputeModules{});
  const RecomputeModules dflt{};
  CHECK((dflt.norm && dflt.mla_up_proj && dflt.moe_act && !dflt.core_attn && !dflt.mlp && !dflt.full));
  CHECK(load_scenario("tiny", {"plan.recompute_norm_and_swiglu=true"}).plan.recompute == RecomputeModules{});
  CHECK(load_scenario("tiny", {"plan.recompute_norm_and_swiglu=false"}).plan.recompute == none());
  CHECK(load_scenario("tiny", {"plan.recompute=[]"}).plan.recompute == none());
  RecomputeModules two = none();
  two.core_attn = two.mlp = true;
  CHECK(load_scenario("tiny", {R"(plan.recompute=["core_attn","mlp"])"}).plan.recompute == two);
  RecomputeModules full = none();
  full.full = true;
  CHECK(load_scenario("tiny", {R"(plan.recompute=["full"])"}).plan.recompute == full);
  // DeepSeek-V3's scenarios say the older flag: the default list.
  CHECK(load_scenario("deepseek-v3-pretrain").plan.recompute == RecomputeModules{});

  auto error = [](std::vector<std::string> overrides) {
    try {
      load_scenario("tiny", overrides);
    } catch (const ScenarioError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Contains;
  CHECK_THAT(error({R"(plan.recompute=["norm","mpl"])"}),
             Contains("plan.recompute[1]") && Contains("norm, mla_up_proj, core_attn, moe_act, mlp, full") &&
                 Contains("\"mpl\"") && Contains("did you mean \"mlp\""));
  CHECK_THAT(error({"plan.recompute=full"}), Contains("plan.recompute") && Contains("a list of module names"));
  CHECK_THAT(error({"plan.recompute=[3]"}), Contains("plan.recompute[0]") && Contains("the integer 3"));
  // Both: the list decides (a scenario that says the flag, with --set plan.recompute=...).
  CHECK(load_scenario("deepseek-v3-pretrain", {"plan.recompute=[]"}).plan.recompute == none());
  CHECK(load_scenario("tiny", {"plan.recompute=[]", "plan.recompute_norm_and_swiglu=true"}).plan.recompute == none());
  CHECK(load_scenario("tiny", {R"(plan.recompute=["full"])", "plan.recompute_norm_and_swiglu=false"}).plan.recompute == full);
}

TEST_CASE("each recompute module re-runs its forward ops at the start of the layer's backward", "[ir][recompute]") {
  // tiny under 1F1B, pp 2: position 0 holds layers 0 (dense) and 1 (MoE).
  const StepProgram off(load_scenario("tiny", {"plan.recompute=[]"}));
  CHECK(recomputed_total(off.program_of(0)) == 0);
  const StepProgram dflt(load_scenario("tiny"));
  const RankProgram& d = dflt.program_of(0);
  CHECK(recomputed(d, OpRole::AttnNorm) == 2);
  CHECK(recomputed(d, OpRole::QUp) == 2);
  CHECK(recomputed(d, OpRole::Rope) == 2);
  CHECK(recomputed(d, OpRole::FfnSwiglu) == 1);
  CHECK(recomputed(d, OpRole::ExpertSwiglu) == 1);
  CHECK(recomputed(d, OpRole::AttnCore) == 0);
  CHECK(recomputed(d, OpRole::FfnUp) == 0);

  const StepProgram core(load_scenario("tiny", {R"(plan.recompute=["core_attn"])"}));
  CHECK(recomputed(core.program_of(0), OpRole::AttnCore) == 2);
  CHECK(recomputed_total(core.program_of(0)) == 2);

  const StepProgram mlp(load_scenario("tiny", {R"(plan.recompute=["mlp"])"}));
  // The dense layer's up cast, up-projection, SwiGLU and down cast; not its down-projection.
  for (OpRole role : {OpRole::FfnUpQuant, OpRole::FfnUp, OpRole::FfnSwiglu, OpRole::FfnDownQuant})
    CHECK(recomputed(mlp.program_of(0), role) == 1);
  CHECK(recomputed(mlp.program_of(0), OpRole::FfnDown) == 0);
  CHECK(recomputed(mlp.program_of(0), OpRole::AttnNorm) == 0);

  const StepProgram full(load_scenario("tiny", {R"(plan.recompute=["full"])"}));
  const RankProgram& f = full.program_of(0);
  for (OpRole role : {OpRole::AttnNorm, OpRole::QDown, OpRole::AttnCore, OpRole::OProj, OpRole::FfnUp, OpRole::ExpertUp,
                      OpRole::ExpertDown, OpRole::SharedUp, OpRole::Permute})
    CHECK(recomputed(f, role) >= 1);
  // Not the layer's output (the dense FFN's down-projection with the residual, the MoE's residual sum),
  // the routing, nor the all-to-all.
  for (OpRole role : {OpRole::FfnDown, OpRole::FfnResidual, OpRole::Router, OpRole::Gate, OpRole::Dispatch, OpRole::Combine,
                      OpRole::Embedding})
    CHECK(recomputed(f, role) == 0);
  for (const OpTemplate& t : f.templates)
    if (t.recompute) CHECK(t.part == ChunkPart::Other);   // run first in a DualPipe pair's backward
}

TEST_CASE("recomputation frees activation memory: a hand-computed case", "[ir][memory][recompute]") {
  // tiny, BF16 recipe, 1F1B on pp 2: a micro-batch is 64 × 4 = 256 tokens. Position 0 holds layers 0
  // (dense) and 1; position 1 layers 2, 3 and the MTP module's layer.
  // core_attn: the attention core's output [256, 4 heads × 16] BF16 = 256 × 64 × 2 = 32,768 bytes per
  // layer, kept for the output projection's weight gradient and the core's backward, is recomputed
  // instead (its inputs are kept or recomputed already by mla_up_proj): 2 × 32,768 = 65,536 bytes less
  // on chunk 0, 3 × 32,768 = 98,304 on chunk 1.
  // mlp: the dense FFN's up-projection output [256, 2 × 128] BF16 = 131,072 bytes, kept for the SwiGLU
  // recomputation, is recomputed from the (recomputed) FFN norm: 131,072 bytes less on chunk 0 only.
  const std::string bf16 = "plan.precision=bf16";
  const StepProgram base(load_scenario("tiny", {bf16}));
  const StepProgram core(load_scenario("tiny", {bf16, R"(plan.recompute=["norm","mla_up_proj","moe_act","core_attn"])"}));
  const StepProgram mlp(load_scenario("tiny", {bf16, R"(plan.recompute=["norm","mla_up_proj","moe_act","mlp"])"}));
  auto saved = [](const StepProgram& p, int64_t rank) { return p.program_of(rank).activation_bytes.at(0); };
  CHECK(saved(base, 0) - saved(core, 0) == 65536);
  CHECK(saved(base, 2) - saved(core, 2) == 98304);
  CHECK(saved(base, 0) - saved(mlp, 0) == 131072);
  CHECK(saved(base, 2) - saved(mlp, 2) == 0);
  // Position 0 keeps pp = 2 micro-batches alive under 1F1B, position 1 one.
  const auto mb = rank_memory(base), mc = rank_memory(core);
  CHECK(mb[0].peak_live_micro_batches == 2);
  CHECK(mb[0].activation_peak_bytes - mc[0].activation_peak_bytes == 2 * 65536);
  CHECK(mb[1].activation_peak_bytes - mc[1].activation_peak_bytes == 98304);
  // Nothing recomputed keeps more; everything (full) keeps least.
  const StepProgram off(load_scenario("tiny", {bf16, "plan.recompute=[]"}));
  const StepProgram full(load_scenario("tiny", {bf16, R"(plan.recompute=["full"])"}));
  CHECK(saved(off, 0) > saved(base, 0));
  CHECK(saved(full, 0) < saved(core, 0));
  CHECK(saved(full, 0) < saved(mlp, 0));
}

TEST_CASE("every recompute module gives a valid program under every kind of schedule", "[ir][program][check][recompute]") {
  for (const char* modules : {"[]", R"(["core_attn"])", R"(["mlp"])", R"(["full"])", R"(["norm","full","core_attn"])"})
    for (const std::vector<std::string>& plan : std::vector<std::vector<std::string>>{
             {"plan.schedule=1f1b"}, {"plan.schedule=zb1p"}, {"plan.schedule=dualpipe"}, {"plan.schedule=dualpipev"},
             {"plan.schedule=interleaved", "plan.virtual_stages=2"}}) {
      INFO(modules << " " << plan.front());
      std::vector<std::string> overrides = plan;
      overrides.push_back(std::string("plan.recompute=") + modules);
      const StepProgram p(load_scenario("tiny", overrides));
      const GraphCheck c = check_program(p);
      for (const auto& problem : c.problems) UNSCOPED_INFO(problem);
      CHECK(c.ok());
      CHECK(c.unwritten_reads == 0);
    }
}
