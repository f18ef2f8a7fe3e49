// The DeepSeek-V3 recipe presets (scenarios/deepseek-v3-*-megatron.json, -mi300x, -cloudmatrix384,
// docs/recipes.md): each is listed by `tandem presets`, resolves to the plan its source publishes, and
// passes inspect --check and simulates (each at most about 2 s on the symmetric path) within its GPUs' memory.
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;

namespace {

// What the preset must say: the published layout (GPUs, tp, pp, V, ep, batch) and the recipe.
struct RecipePreset {
  std::string name;
  std::string gpu;
  int gpus;
  int tp, pp, virtual_stages, ep;
  int global_batch_seqs;
  std::string schedule;
  std::string precision;           // "fp8", "bf16", or "" where the preset keeps the base's FP8 object
  std::vector<std::string> recompute;   // empty: the base scenario's default list
};

const std::vector<RecipePreset>& recipe_presets() {
  static const std::vector<RecipePreset> presets = {
      {"deepseek-v3-h100-megatron", "H100", 1024, 2, 8, 4, 64, 8192, "interleaved", "fp8", {"mla_up_proj", "mlp"}},
      {"deepseek-v3-b200-megatron", "B200", 256, 1, 16, 1, 8, 2048, "1f1b", "fp8", {"mla_up_proj"}},
      {"deepseek-v3-gb200-megatron", "GB200", 256, 1, 4, 4, 64, 4096, "interleaved", "bf16", {"mla_up_proj"}},
      {"deepseek-v3-gb300-megatron", "GB300", 256, 1, 2, 4, 32, 4096, "interleaved", "bf16", {"mla_up_proj"}},
      {"deepseek-v3-mi300x", "MI300X", 2048, 1, 16, 1, 64, 15360, "dualpipe", "", {}},
      {"deepseek-v3-cloudmatrix384", "Ascend910C", 2304, 1, 18, 1, 64, 15360, "dualpipe", "bf16", {}},
  };
  return presets;
}

}  // namespace

TEST_CASE("the DeepSeek-V3 recipe presets are listed and resolve to their published plans", "[cli][presets][recipes]") {
  const auto list = run_tandem("presets", false);
  REQUIRE(list.exit_code == 0);
  for (const auto& p : recipe_presets()) {
    INFO(p.name);
    CHECK_THAT(list.output, Catch::Contains(p.name + "\n"));
    const auto show = run_tandem("presets --show " + p.name, false);
    REQUIRE(show.exit_code == 0);
    const auto s = nlohmann::json::parse(show.output);
    CHECK(s["name"] == p.name);
    CHECK_FALSE(s["description"].get<std::string>().empty());
    CHECK(s["cluster"]["gpu"] == p.gpu);
    CHECK(s["cluster"]["nodes"].get<int>() * s["cluster"]["gpus_per_node"].get<int>() == p.gpus);
    const auto& plan = s["plan"];
    CHECK(plan["tp"] == p.tp);
    CHECK(plan["pp"] == p.pp);
    CHECK(plan["ep"] == p.ep);
    CHECK(plan["dp"] == p.gpus / (p.pp * p.tp));
    CHECK(plan["seq_len"] == 4096);
    CHECK(plan["micro_batch_seqs"] == 1);
    CHECK(plan["global_batch_seqs"] == p.global_batch_seqs);
    CHECK(plan["schedule"] == p.schedule);
    if (p.virtual_stages > 1) CHECK(plan["virtual_stages"] == p.virtual_stages);
    if (!p.precision.empty()) CHECK(plan["precision"] == p.precision);
    if (!p.recompute.empty()) CHECK(plan["recompute"] == nlohmann::json(p.recompute));
  }
}

TEST_CASE("each DeepSeek-V3 recipe preset builds a valid program and simulates within its GPUs' memory", "[cli][simulate][recipes]") {
  for (const auto& p : recipe_presets()) {
    INFO(p.name);
    const auto inspect = run_tandem("inspect " + p.name + " --json --check", false);
    REQUIRE(inspect.exit_code == 0);
    const auto i = nlohmann::json::parse(inspect.output);
    // The program is valid: acyclic across ranks, every receive with its send (at most 2.1 s, 0.5 GB).
    CHECK(i["check"]["ok"] == true);
    CHECK(i["world_size"] == p.gpus);
    CHECK(i["plan"]["tp"] == p.tp);
    CHECK(i["plan"]["pp"] == p.pp);
    CHECK(i["plan"]["ep"] == p.ep);
    CHECK(i["plan"]["micro_batches"] == p.global_batch_seqs / (p.gpus / (p.pp * p.tp)));
    CHECK(i["plan"]["tokens_per_step"] == int64_t(p.global_batch_seqs) * 4096);
    for (const auto& rank : i["ranks"]) CHECK(rank["fits"] == true);

    const auto simulate = run_tandem("simulate " + p.name + " --json", false);
    REQUIRE(simulate.exit_code == 0);
    const auto r = nlohmann::json::parse(simulate.output);
    CHECK(r["gpus"] == p.gpus);
    CHECK(r["out_of_memory"] == false);
    CHECK(r["step_time_s"].get<double>() > 0);
    CHECK(r["mfu_bf16"].get<double>() > 0);
    CHECK(r["mfu_bf16"].get<double>() < 1);
    CHECK(r["tokens_per_step"] == int64_t(p.global_batch_seqs) * 4096);
    // Every figure but memory rests on the H800's efficiencies on these GPUs, and says so.
    REQUIRE(r.contains("borrowed_efficiency"));
    CHECK(r["borrowed_efficiency"]["gpu"] == p.gpu);
  }
}
