// `tandem inspect SCENARIO`: parameters, FLOPs per token, the layer split (each stage's modelled compute
// per micro-batch) and the memory of every pipeline position (weights, gradients, ZeRO-1 optimizer
// state, peak activations); `--check` adds the Boost.Graph checks (no deadlock, matched receives, critical path).
#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/command_registry.h"
#include "app/gpu_memory.h"
#include "app/output_check.h"
#include "app/program_build.h"
#include "ir/graph_check.h"
#include "ir/memory.h"
#include "ir/model_stats.h"
#include "ir/step_program.h"

namespace tandem::app {
namespace {

struct InspectOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  bool json = false;
  bool check = false;
};

std::string gib(int64_t bytes) { return fmt::format("{:.2f}", double(bytes) / double(1ll << 30)); }

void run_inspect(const InspectOptions& o) {
  using namespace tandem::ir;
  const auto t0 = std::chrono::steady_clock::now();
  Scenario scenario = load_scenario(o.scenario, o.overrides);
  check_against_hardware(scenario);
  const ModelStats stats = model_stats(scenario.model, scenario.plan.seq_len);
  const StepProgram program = make_step_program(std::move(scenario));
  const auto memory = rank_memory(program);
  const auto t1 = std::chrono::steady_clock::now();
  GraphCheck check;
  if (o.check) check = check_program(program);
  const auto t2 = std::chrono::steady_clock::now();
  const int64_t gpu_bytes = gpu_memory_bytes(program.cluster().gpu);
  const auto& p = program.plan();

  nlohmann::json j;
  j["scenario"] = program.scenario().name;
  j["model"] = program.model().name;
  j["params_total"] = stats.params_total;
  j["params_mtp"] = stats.params_mtp;
  j["params_activated"] = stats.params_activated;
  j["flops_per_token"] = stats.flops_per_token;
  j["flops_per_token_causal"] = stats.flops_per_token_causal;
  j["world_size"] = program.num_ranks();
  j["plan"] = {{"pp", p.pp}, {"dp", p.dp}, {"ep", p.ep}, {"tp", p.tp}, {"schedule", std::string(to_string(p.schedule))},
               {"micro_batches", p.micro_batches()}, {"tokens_per_step", p.global_batch_tokens()}};
  j["gpu_memory_bytes"] = gpu_bytes;
  j["program"] = {{"roles", program.roles().size()}, {"op_instances", program.total_op_instances()},
                  {"bytes", program.memory_footprint_bytes()},
                  {"build_s", std::chrono::duration<double>(t1 - t0).count()}};
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& m : memory) {
    std::vector<std::array<int32_t, 2>> layers;
    for (int32_t c : m.chunks) layers.push_back(program.chunk_layers()[size_t(c)]);
    ranks.push_back({{"pp_index", m.pp_index}, {"chunks", m.chunks}, {"layers", layers}, {"params", m.params},
                     {"weight_bytes", m.weight_bytes}, {"gradient_bytes", m.gradient_bytes},
                     {"optimizer_bytes", m.optimizer_bytes}, {"activation_bytes_per_micro_batch", m.activation_bytes_per_mb},
                     {"peak_live_micro_batches", m.peak_live_micro_batches},
                     {"activation_peak_bytes", m.activation_peak_bytes}, {"total_bytes", m.total_bytes()},
                     {"fits", gpu_bytes <= 0 || m.total_bytes() <= gpu_bytes}});
  }
  j["ranks"] = ranks;
  const LayerSplit& split = program.layer_split();
  j["layer_split"] = {{"split", std::string(to_string(split.source))}, {"layers_per_chunk", split.layers}};
  if (!split.stage_cost.empty()) {
    j["layer_split"]["stage_modelled_ns"] = split.stage_cost;
    j["layer_split"]["max_over_mean"] = max_over_mean(split.stage_cost);
    j["layer_split"]["pace_stage"] = pace_stage(split.stage_cost);
  }
  if (o.check) {
    j["check"] = {{"ok", check.ok()}, {"acyclic", check.acyclic}, {"unmatched_receives", check.unmatched_receives},
                  {"unmatched_sends", check.unmatched_sends}, {"identity_errors", check.identity_errors},
                  {"slot_errors", check.slot_errors},
                  {"unwritten_reads", check.unwritten_reads}, {"critical_path_ops", check.critical_path_ops},
                  {"vertices", check.vertices}, {"edges", check.edges}, {"problems", check.problems},
                  {"check_s", std::chrono::duration<double>(t2 - t1).count()}};
  }
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
  } else {
    const ir::ClusterConfig& c = program.cluster();
    // The scale-up domain when it is not one switched server (an NVL72 rack, a CloudMatrix384, a mesh).
    const std::string domain = c.domain_size() == c.gpus_per_node && c.scaleup_fabric == ir::ScaleUpFabric::Switch
                                   ? std::string()
                                   : fmt::format(" in scale-up domains of {} ({})", c.domain_size(),
                                                 c.scaleup_fabric == ir::ScaleUpFabric::Mesh ? "mesh" : "switch");
    fmt::print("scenario      {}  ({} GPUs {} x {}{}, model {})\n", program.scenario().name, program.num_ranks(), c.nodes,
               c.gpus_per_node, domain, program.model().name);
    fmt::print("plan          pp {}  dp {}  ep {}  tp {}  schedule {}  micro-batches {}  tokens/step {}\n", p.pp, p.dp, p.ep,
               p.tp, to_string(p.schedule), p.micro_batches(), p.global_batch_tokens());
    fmt::print("parameters    total {:.2f}B (main model)  MTP {:.2f}B  activated {:.2f}B per token\n",
               double(stats.params_total) / 1e9, double(stats.params_mtp) / 1e9, double(stats.params_activated) / 1e9);
    fmt::print("FLOPs/token   {:.3e} (training, attention in full)  {:.3e} (causal)\n", stats.flops_per_token,
               stats.flops_per_token_causal);
    fmt::print("program       {} roles, {} op instances, {:.1f} MiB, built in {:.3f} s\n", program.roles().size(),
               program.total_op_instances(), double(program.memory_footprint_bytes()) / (1 << 20),
               std::chrono::duration<double>(t1 - t0).count());
    std::string layers;
    for (int64_t n : split.layers) layers += (layers.empty() ? "" : ",") + std::to_string(n);
    fmt::print("layer split   {} ({} per model chunk){}\n", to_string(split.source), layers,
               split.stage_cost.empty()
                   ? std::string()
                   : fmt::format("; modelled compute per micro-batch max/mean {:.3f}, stage {} sets the pace",
                                 max_over_mean(split.stage_cost), pace_stage(split.stage_cost)));
    fmt::print("\nmemory per rank (GiB; GPU {} {})\n", program.cluster().gpu, gpu_bytes > 0 ? gib(gpu_bytes) : "unknown");
    fmt::print("{:>5} {:>9} {:>7} {:>13} {:>10} {:>8} {:>8} {:>9} {:>6} {:>11} {:>8}  {}\n", "stage", "chunks", "layers",
               "modelled ms", "params", "weights", "grads", "optimizer", "live", "activations", "total", "fits");
    for (const auto& m : memory) {
      std::string chunks;
      int64_t stage_layers = 0;
      for (int32_t c : m.chunks) {
        chunks += (chunks.empty() ? "" : ",") + std::to_string(c);
        stage_layers += split.layers[size_t(c)];
      }
      const std::string modelled =
          split.stage_cost.empty() ? "?" : fmt::format("{:.2f}", double(split.stage_cost[size_t(m.pp_index)]) * 1e-6);
      fmt::print("{:>5} {:>9} {:>7} {:>13} {:>9.2f}B {:>8} {:>8} {:>9} {:>6} {:>11} {:>8}  {}\n", m.pp_index, chunks,
                 stage_layers, modelled, double(m.params) / 1e9, gib(m.weight_bytes), gib(m.gradient_bytes),
                 gib(m.optimizer_bytes), m.peak_live_micro_batches, gib(m.activation_peak_bytes), gib(m.total_bytes()),
                 gpu_bytes <= 0 ? "?" : (m.total_bytes() <= gpu_bytes ? "yes" : "NO"));
    }
    if (o.check) {
      fmt::print("\ncheck         {}: acyclic {}, unmatched receives {}, unmatched sends {}, critical path {} ops "
                 "({} vertices, {} edges, {:.3f} s)\n",
                 check.ok() ? "ok" : "FAILED", check.acyclic ? "yes" : "no", check.unmatched_receives, check.unmatched_sends,
                 check.critical_path_ops, check.vertices, check.edges, std::chrono::duration<double>(t2 - t1).count());
      for (const auto& problem : check.problems) fmt::print("  {}\n", problem);
    }
  }
  if (o.check && !check.ok()) throw CommandExit{1, "inspect: the step program failed its checks"};
}

const RegisterCommand reg(10, "inspect", [](CLI::App& root) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = root.add_subcommand(
      "inspect", "Parameters, FLOPs per token and memory per rank of a scenario (file or embedded name)");
  cmd->add_option("scenario", opts->scenario, "Scenario JSON file, or an embedded scenario name (tandem presets)")
      ->required();
  cmd->add_option("--set", opts->overrides, "Override a field, e.g. --set plan.pp=8 (repeatable)");
  cmd->add_flag("--json", opts->json, "Print JSON instead of a table");
  cmd->add_flag("--check", opts->check, "Check the step program: no deadlock, matched receives, critical path");
  cmd->callback([opts] { run_inspect(*opts); });
});

}  // namespace
}  // namespace tandem::app
