// The model and plan fields a checkpoint is tied to, and the naming of those that differ (see
// checkpoint_fingerprint.h).
#include "backend/training/checkpoint_fingerprint.h"

#include <map>

#include <fmt/format.h>

#include "io/json_document.h"

namespace tandem::backend {

nlohmann::json checkpoint_fingerprint(const ir::StepProgram& program) {
  const ir::ModelConfig& m = program.model();
  const ir::ParallelPlan& p = program.plan();
  nlohmann::json model = {
      {"vocab_size", m.vocab_size},
      {"hidden_size", m.hidden_size},
      {"num_layers", m.num_layers},
      {"first_dense_layers", m.first_dense_layers},
      {"dense_intermediate", m.dense_intermediate},
      {"num_heads", m.num_heads},
      {"q_lora_rank", m.q_lora_rank},
      {"kv_lora_rank", m.kv_lora_rank},
      {"qk_nope_head_dim", m.qk_nope_head_dim},
      {"qk_rope_head_dim", m.qk_rope_head_dim},
      {"v_head_dim", m.v_head_dim},
      {"routed_experts", m.routed_experts},
      {"shared_experts", m.shared_experts},
      {"moe_intermediate", m.moe_intermediate},
      {"experts_per_token", m.experts_per_token},
      {"expert_groups", m.expert_groups},
      {"groups_per_token", m.groups_per_token},
      {"route_scale", m.route_scale},
      {"score_function", m.score_function == ir::ScoreFunction::Sigmoid ? "sigmoid" : "softmax"},
      {"normalize_topk", m.normalize_topk},
      {"mtp_depth", m.mtp_depth},
      {"mtp_loss_weight", m.mtp_loss_weight},
      {"balance_loss_alpha", m.balance_loss_alpha},
      {"bias_update_speed", m.bias_update_speed},
      {"rms_norm_eps", m.rms_norm_eps},
      {"rope_theta", m.rope_theta},
      {"tie_embeddings", m.tie_embeddings},
  };
  nlohmann::json precision = {
      {"fp8", p.precision.fp8},
      {"activation_tile", p.precision.activation_tile},
      {"weight_block", p.precision.weight_block},
      {"fp8_dispatch", p.precision.fp8_dispatch},
      {"bf16_combine", p.precision.bf16_combine},
      {"power_of_two_scales", p.precision.power_of_two_scales},
  };
  nlohmann::json plan = {{"seq_len", p.seq_len}, {"global_batch_seqs", p.global_batch_seqs}, {"precision", precision}};
  return {{"model", model}, {"plan", plan}};
}

namespace {
// "model.num_layers" -> value, for every leaf of the object.
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j;
}
}  // namespace

std::string fingerprint_differences(const nlohmann::json& checkpoint, const nlohmann::json& run, size_t max_listed) {
  std::map<std::string, nlohmann::json> a, b;
  flatten(checkpoint, "", a);
  flatten(run, "", b);
  std::vector<std::string> listed;
  size_t differing = 0;
  auto note = [&](const std::string& key, const std::string& text) {
    if (listed.size() < max_listed) listed.push_back(key + ": " + text);
    ++differing;
  };
  for (const auto& [key, value] : b) {
    const auto it = a.find(key);
    if (it == a.end()) note(key, fmt::format("absent from the checkpoint, {} in this run", io::json_excerpt(value)));
    else if (it->second != value) note(key, fmt::format("{} in the checkpoint, {} in this run", io::json_excerpt(it->second), io::json_excerpt(value)));
  }
  for (const auto& [key, value] : a)
    if (!b.count(key)) note(key, fmt::format("{} in the checkpoint, unknown to this run", io::json_excerpt(value)));
  std::string out;
  for (const auto& l : listed) out += (out.empty() ? "" : "; ") + l;
  if (differing > listed.size()) out += fmt::format("; and {} more", differing - listed.size());
  return out;
}

}  // namespace tandem::backend
