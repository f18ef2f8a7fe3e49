// ModelConfig: the DeepSeek-V3 family of models (MLA attention, DeepSeekMoE with shared and routed
// experts, group-limited routing, MTP), with field names following the public Hugging Face config.
#pragma once
#include <cstdint>
#include <string>

namespace tandem::ir {

enum class ScoreFunction : uint8_t { Sigmoid, Softmax };

struct ModelConfig {
  std::string name;
  int64_t vocab_size = 129280;
  int64_t hidden_size = 7168;
  int64_t num_layers = 61;              // main-model transformer layers (MTP not included)
  int64_t first_dense_layers = 3;       // first_k_dense_replace
  int64_t dense_intermediate = 18432;   // intermediate_size of the dense FFN layers
  // MLA attention
  int64_t num_heads = 128;
  int64_t q_lora_rank = 1536;           // 0: queries are projected directly (no low-rank q)
  int64_t kv_lora_rank = 512;
  int64_t qk_nope_head_dim = 128;
  int64_t qk_rope_head_dim = 64;
  int64_t v_head_dim = 128;
  // DeepSeekMoE
  int64_t routed_experts = 256;         // n_routed_experts
  int64_t shared_experts = 1;           // n_shared_experts
  int64_t moe_intermediate = 2048;      // moe_intermediate_size (width of one expert)
  int64_t experts_per_token = 8;        // num_experts_per_tok
  int64_t expert_groups = 8;            // n_group
  int64_t groups_per_token = 4;         // topk_group
  double route_scale = 2.5;             // routed_scaling_factor
  ScoreFunction score_function = ScoreFunction::Sigmoid;
  bool normalize_topk = true;           // norm_topk_prob
  // Multi-token prediction
  int64_t mtp_depth = 1;                // num_nextn_predict_layers
  double mtp_loss_weight = 0.3;         // lambda
  // Training knobs of the family
  double balance_loss_alpha = 0.0001;   // sequence-wise auxiliary loss weight
  double bias_update_speed = 0.001;     // gamma of the aux-loss-free bias update
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_embeddings = false;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t moe_layers() const { return num_layers - first_dense_layers; }
  bool is_moe_layer(int64_t layer) const { return layer >= first_dense_layers; }
};

}  // namespace tandem::ir
