// Report of a simulated step: throughput and MFU from the replay, phases, bubble and exposed
// communication from trace/'s measures of each simulated rank (see report.h).
#include "sim/report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace tandem::sim {

StageBalance stage_balance(const ir::StepProgram& program) {
  const ir::LayerSplit& split = program.layer_split();
  StageBalance out;
  if (split.stage_cost.empty()) return out;
  out.split = std::string(ir::to_string(split.source));
  out.layers_per_chunk = split.layers;
  const ir::PipelineShape shape = program.pipeline();
  for (int32_t r = 0; r < shape.pp; ++r) {
    int64_t layers = 0;
    for (int32_t c : ir::chunks_on_rank(shape, r)) layers += split.layers[size_t(c)];
    out.stage_layers.push_back(layers);
    out.stage_modelled_s.push_back(double(split.stage_cost[size_t(r)]) * 1e-9);
  }
  out.max_over_mean = ir::max_over_mean(split.stage_cost);
  out.pace_stage = ir::pace_stage(split.stage_cost);
  return out;
}

Report make_report(const SimResult& r) {
  Report out;
  out.scenario = r.scenario;
  out.mode = to_string(r.mode);
  out.gpu = std::string(r.gpu->name);
  out.gpus = r.num_ranks;
  out.hbm_bytes = r.gpu->hbm_bytes;
  const double step = double(r.step_ns) * 1e-9;
  const double gpus = double(r.num_ranks);
  out.step_time_s = step;
  out.tokens_per_step = r.tokens;
  if (step > 0) {
    out.tokens_per_s = r.tokens / step;
    out.tokens_per_s_per_gpu = out.tokens_per_s / gpus;
    const double denom = step * gpus;
    out.mfu_bf16 = r.model_flops / (denom * r.gpu->bf16_flops);
    out.mfu_bf16_causal = r.model_flops_causal / (denom * r.gpu->bf16_flops);
    const double fp8 = r.gpu->fp8_flops > 0 ? r.gpu->fp8_flops : r.gpu->bf16_flops;
    out.mfu_fp8 = r.model_flops / (denom * fp8);
    out.mfu_fp8_causal = r.model_flops_causal / (denom * fp8);
    if (r.tokens > 0) out.gpu_hours_per_trillion_tokens = gpus * step / 3600.0 * 1e12 / r.tokens;
  }
  double sm_compute = 0, sm_comm = 0;
  std::map<uint32_t, StageReport> stages;
  std::vector<trace::RankMeasures> measures;
  std::vector<double> weights;
  for (const RankStats& s : r.ranks) {
    const double w = s.weight;
    measures.push_back(s.measures);
    weights.push_back(w);
    sm_compute += w * s.compute_sm_ns;
    sm_comm += w * s.comm_sm_ns;
    StageReport& st = stages[s.role];
    st.stage = s.role;
    st.ranks += int64_t(w);
    st.static_bytes = std::max(st.static_bytes, s.static_bytes);
    st.activation_peak_bytes = std::max(st.activation_peak_bytes, s.activation_peak_bytes);
  }
  const trace::MeanMeasures mean = trace::mean_measures(measures, weights);
  out.forward_s = mean.forward_ns * 1e-9;
  out.backward_input_s = mean.backward_input_ns * 1e-9;
  out.backward_weight_s = mean.backward_weight_ns * 1e-9;
  out.optimizer_s = mean.optimizer_ns * 1e-9;
  out.other_compute_s = mean.other_compute_ns * 1e-9;
  out.bubble_s = mean.bubble_ns * 1e-9;
  out.exposed_comm_s = mean.exposed_comm_ns * 1e-9;
  out.steady_s = mean.steady_ns * 1e-9;
  out.pipeline_wait_s = mean.wait_ns[size_t(trace::GapCause::Pipeline)] * 1e-9;
  out.all_to_all_wait_s = mean.wait_ns[size_t(trace::GapCause::AllToAll)] * 1e-9;
  out.collective_wait_s = mean.wait_ns[size_t(trace::GapCause::Collective)] * 1e-9;
  out.issue_gap_s = mean.wait_ns[size_t(trace::GapCause::None)] * 1e-9;
  out.tail_s = mean.tail_ns * 1e-9;
  // Stages are pipeline positions: the measures' stage of a rank is its role's pp_index.
  for (const trace::StageMeasures& sm : trace::stage_measures(measures, weights)) {
    auto it = stages.find(uint32_t(sm.stage));
    if (it == stages.end()) continue;
    it->second.bubble_s = sm.mean.bubble_ns * 1e-9;
    it->second.exposed_comm_s = sm.mean.exposed_comm_ns * 1e-9;
  }
  if (step > 0) {
    out.bubble_fraction = out.bubble_s / step;
    out.exposed_comm_fraction = out.exposed_comm_s / step;
    const double total_sm = double(r.step_ns) * double(r.gpu->sms) * gpus;
    out.sm_compute = sm_compute / total_sm;
    out.sm_comm = sm_comm / total_sm;
    out.sm_idle = std::max(0.0, 1.0 - out.sm_compute - out.sm_comm);
    auto util = [&](hw::LinkKind a, hw::LinkKind b) {
      const double cap = r.link_capacity[size_t(a)] + r.link_capacity[size_t(b)];
      return cap > 0 ? (r.link_bytes[size_t(a)] + r.link_bytes[size_t(b)]) / (cap * step) : 0.0;
    };
    out.nvlink_util = util(hw::LinkKind::NvlinkOut, hw::LinkKind::NvlinkIn);
    out.ib_util = util(hw::LinkKind::NicOut, hw::LinkKind::NicIn);
  }
  for (auto& [role, st] : stages) {
    st.memory_peak_bytes = st.static_bytes + st.activation_peak_bytes;
    st.out_of_memory = st.memory_peak_bytes > r.gpu->hbm_bytes;
    out.memory_peak_bytes = std::max(out.memory_peak_bytes, st.memory_peak_bytes);
    out.out_of_memory = out.out_of_memory || st.out_of_memory;
    out.stages.push_back(st);
  }
  out.events = r.events;
  out.transfers = r.transfers;
  out.solves = r.solves;
  out.ops = r.ops;
  out.calibrated_kernels = r.calibrated_kernels;
  out.extrapolated_kernels = r.extrapolated_kernels;
  // The host device has its own measured cost model, outside the catalogue: nothing borrowed.
  if (r.gpu && hw::find_gpu(r.gpu->name) && hw::borrows_h800_efficiencies(*r.gpu))
    out.efficiency_basis = std::string(hw::kEfficiencyBasisGpu);
  out.wall_s = r.wall_s;
  return out;
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["mode"] = r.mode;
  j["gpu"] = r.gpu;
  j["gpus"] = r.gpus;
  j["step_time_s"] = r.step_time_s;
  j["tokens_per_step"] = r.tokens_per_step;
  j["tokens_per_s"] = r.tokens_per_s;
  j["tokens_per_s_per_gpu"] = r.tokens_per_s_per_gpu;
  j["mfu_bf16"] = r.mfu_bf16;
  j["mfu_fp8"] = r.mfu_fp8;
  j["mfu_bf16_causal"] = r.mfu_bf16_causal;
  j["mfu_fp8_causal"] = r.mfu_fp8_causal;
  j["gpu_hours_per_trillion_tokens"] = r.gpu_hours_per_trillion_tokens;
  j["bubble_fraction"] = r.bubble_fraction;
  j["exposed_comm_fraction"] = r.exposed_comm_fraction;
  j["phases"] = {{"forward_s", r.forward_s},   {"backward_input_s", r.backward_input_s},
                 {"backward_weight_s", r.backward_weight_s}, {"bubble_s", r.bubble_s},
                 {"steady_s", r.steady_s},     {"optimizer_s", r.optimizer_s},
                 {"other_compute_s", r.other_compute_s}, {"exposed_comm_s", r.exposed_comm_s}};
  j["compute_idle"] = {{"pipeline_wait_s", r.pipeline_wait_s}, {"all_to_all_wait_s", r.all_to_all_wait_s},
                       {"collective_wait_s", r.collective_wait_s}, {"issue_gap_s", r.issue_gap_s},
                       {"tail_s", r.tail_s}};
  j["sm_time"] = {{"compute", r.sm_compute}, {"comm", r.sm_comm}, {"idle", r.sm_idle}};
  j["links"] = {{"nvlink_util", r.nvlink_util}, {"ib_util", r.ib_util}};
  nlohmann::json peaks = nlohmann::json::array(), stages = nlohmann::json::array();
  for (const StageReport& s : r.stages) {
    peaks.push_back(s.memory_peak_bytes);
    stages.push_back({{"stage", s.stage},
                      {"ranks", s.ranks},
                      {"bubble_s", s.bubble_s},
                      {"exposed_comm_s", s.exposed_comm_s},
                      {"static_bytes", s.static_bytes},
                      {"activation_peak_bytes", s.activation_peak_bytes},
                      {"memory_peak_bytes", s.memory_peak_bytes},
                      {"out_of_memory", s.out_of_memory}});
  }
  j["memory_peak_bytes"] = peaks;
  j["out_of_memory"] = r.out_of_memory;
  j["gpu_memory_bytes"] = r.hbm_bytes;
  j["stages"] = stages;
  if (!r.balance.split.empty())
    j["stage_balance"] = {{"split", r.balance.split},
                          {"layers_per_chunk", r.balance.layers_per_chunk},
                          {"stage_layers", r.balance.stage_layers},
                          {"stage_modelled_s", r.balance.stage_modelled_s},
                          {"max_over_mean", r.balance.max_over_mean},
                          {"pace_stage", r.balance.pace_stage}};
  j["simulation"] = {{"events", r.events},
                     {"transfers", r.transfers},
                     {"network_solves", r.solves},
                     {"ops", r.ops},
                     {"calibrated_kernels", r.calibrated_kernels},
                     {"extrapolated_kernels", r.extrapolated_kernels}};
  // Only when borrowed, so that the H800's reports (tests/golden) keep their fields.
  if (!r.efficiency_basis.empty()) {
    nlohmann::json figures = nlohmann::json::array();
    for (const char* f : kBorrowedEfficiencyFigures) figures.push_back(f);
    j["borrowed_efficiency"] = {{"from_gpu", r.efficiency_basis}, {"gpu", r.gpu}, {"figures", figures},
                                {"kernels_from_calibration", r.calibrated_kernels + r.extrapolated_kernels}};
  }
  return j;
}

std::string to_table(const Report& r) {
  std::string s;
  auto line = [&](const std::string& key, const std::string& value) { s += fmt::format("{:<32} {}\n", key, value); };
  // A figure that rests on borrowed efficiencies carries a '*' before its value (key column kept aligned).
  const bool borrowed = !r.efficiency_basis.empty();
  auto flagged = [&](const std::string& key, const std::string& value) { line(borrowed ? key + " *" : key, value); };
  // Shares below 0.1% keep two significant digits (the tiny model's MFU on an H800 is 0.023%, not 0.0%).
  auto pct = [](double v) { return v > 0 && v < 1e-3 ? fmt::format("{:.2g}%", 100.0 * v) : fmt::format("{:.1f}%", 100.0 * v); };
  // Units per figure: times in the unit of the step (the tiny scenario's 4 ms step reads 4.214 ms, not
  // 0.004 s), memory in the unit of the largest stage (its 5.5 MiB peak is not 0.0 GiB).
  const auto [time_scale, time_unit] = r.step_time_s >= 1.0    ? std::pair{1.0, "s"}
                                       : r.step_time_s >= 1e-3 ? std::pair{1e3, "ms"}
                                                               : std::pair{1e6, "us"};
  auto t = [&, time_scale = time_scale](double seconds) { return fmt::format("{:.3f}", seconds * time_scale); };
  const double memory_max = double(r.memory_peak_bytes);
  const auto [memory_scale, memory_unit] = memory_max >= double(1ll << 30)   ? std::pair{double(1ll << 30), "GiB"}
                                           : memory_max >= double(1ll << 20) ? std::pair{double(1ll << 20), "MiB"}
                                                                              : std::pair{1024.0, "KiB"};
  auto mem = [&, memory_scale = memory_scale](int64_t bytes) { return double(bytes) / memory_scale; };
  line("scenario", fmt::format("{}  ({} x {}, {} path)", r.scenario, r.gpus, r.gpu, r.mode));
  flagged("step time", fmt::format("{} {}", t(r.step_time_s), time_unit));
  flagged("tokens per second", fmt::format("{:.0f}  ({:.1f} per GPU)", r.tokens_per_s, r.tokens_per_s_per_gpu));
  flagged("MFU, BF16 peak", fmt::format("{}  (causal attention {})", pct(r.mfu_bf16), pct(r.mfu_bf16_causal)));
  flagged("MFU, FP8 peak", fmt::format("{}  (causal attention {})", pct(r.mfu_fp8), pct(r.mfu_fp8_causal)));
  flagged("GPU-hours per trillion tokens", fmt::format("{:.0f}", r.gpu_hours_per_trillion_tokens));
  flagged("bubble", fmt::format("{}  ({} {} per rank: pipeline wait {}, issue gaps {}, tail {})", pct(r.bubble_fraction),
                             t(r.bubble_s), time_unit, t(r.pipeline_wait_s), t(r.issue_gap_s), t(r.tail_s)));
  flagged("exposed communication", fmt::format("{}  ({} {} per rank: all-to-all {}, collectives {})",
                                            pct(r.exposed_comm_fraction), t(r.exposed_comm_s), time_unit,
                                            t(r.all_to_all_wait_s), t(r.collective_wait_s)));
  flagged(fmt::format("phases ({}, mean per rank)", time_unit),
       fmt::format("forward {}  backward-input {}  backward-weight {}  optimizer {}  other {}  "
                   "bubble {}  exposed comm {}  (steady window {})",
                   t(r.forward_s), t(r.backward_input_s), t(r.backward_weight_s), t(r.optimizer_s), t(r.other_compute_s),
                   t(r.bubble_s), t(r.exposed_comm_s), t(r.steady_s)));
  flagged("SM-time", fmt::format("compute {}  communication {}  idle {}", pct(r.sm_compute), pct(r.sm_comm), pct(r.sm_idle)));
  flagged("link utilisation", fmt::format("NVLink {}  InfiniBand {}", pct(r.nvlink_util), pct(r.ib_util)));
  const StageBalance& b = r.balance;
  if (!b.split.empty())
    flagged("stage balance", fmt::format("{} layer split; modelled compute per micro-batch max/mean {:.3f}, stage {} sets the "
                                      "pace ({:.2f} ms)",
                                      b.split, b.max_over_mean, b.pace_stage, 1e3 * b.stage_modelled_s[size_t(b.pace_stage)]));
  line(fmt::format("peak memory per stage ({})", memory_unit),
       fmt::format("GPU has {:.1f} GiB{}", double(r.hbm_bytes) / double(1ll << 30), r.out_of_memory ? "  -- OUT OF MEMORY" : ""));
  for (const StageReport& st : r.stages) {
    const size_t i = size_t(st.stage);
    const std::string balance = i < b.stage_layers.size()
                                    ? fmt::format("   {:>3} layers, modelled {:.2f} ms", b.stage_layers[i], 1e3 * b.stage_modelled_s[i])
                                    : std::string();
    s += fmt::format("  stage {:>3}: {:>6.1f} = static {:>5.1f} + activations {:>5.1f}   bubble {} {}{}{}{}\n", st.stage,
                     mem(st.memory_peak_bytes), mem(st.static_bytes), mem(st.activation_peak_bytes), t(st.bubble_s), time_unit,
                     balance,
                     st.out_of_memory ? "  OUT OF MEMORY" : "", borrowed ? "  *" : "");
  }
  line("simulation", fmt::format("{} events, {} transfers{}", r.events, r.transfers,
                                 r.calibrated_kernels + r.extrapolated_kernels > 0
                                     ? fmt::format(", {} kernels calibrated, {} outside the table", r.calibrated_kernels,
                                                   r.extrapolated_kernels)
                                     : ""));
  if (borrowed)
    s += fmt::format("* rests on efficiencies fitted on the {} (GEMM, attention, HBM, communication kernels, links), borrowed "
                     "for the {}: a calibration table of the {} replaces the kernels' (tandem calibrate)\n",
                     r.efficiency_basis, r.gpu, r.gpu);
  return s;
}

}  // namespace tandem::sim
