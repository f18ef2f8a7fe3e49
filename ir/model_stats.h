// Parameter counts and FLOPs of a ModelConfig, counted as the public DeepSeek-V3 figures count them:
// total parameters of the main model (MTP module reported apart), activated parameters per token,
// and training FLOPs per token (forward + backward) with attention causal or counted in full.
#pragma once
#include <cstdint>

#include "ir/model_config.h"

namespace tandem::ir {

struct LayerParams {
  int64_t attention = 0;      // MLA projections and their norms, the layer's two RMSNorm weights
  int64_t dense_ffn = 0;      // dense SwiGLU FFN (dense layers)
  int64_t shared_experts = 0; // shared experts (MoE layers)
  int64_t routed_experts = 0; // all routed experts (MoE layers)
  int64_t gate = 0;           // router weight and per-expert bias (MoE layers)
  int64_t total() const { return attention + dense_ffn + shared_experts + routed_experts + gate; }
};

LayerParams layer_params(const ModelConfig& m, int64_t layer);   // layer == num_layers: the MTP block
int64_t expert_params(const ModelConfig& m);                     // one routed expert (SwiGLU, 3 matrices)
int64_t embedding_params(const ModelConfig& m);
int64_t head_params(const ModelConfig& m);                       // output head + final norm
int64_t mtp_params(const ModelConfig& m);                        // MTP module, embedding/head shared with the main model

struct ModelStats {
  int64_t params_total = 0;          // main model, MTP excluded
  int64_t params_mtp = 0;
  int64_t params_activated = 0;      // per token, main model: non-expert + top-k routed + shared
  double flops_per_token = 0;        // training (3 × forward), main model + MTP, attention counted in full
  double flops_per_token_causal = 0; // same with the causal mask's actual attention work
  double forward_matmul_flops_per_token = 0;
  double forward_attention_flops_per_token = 0;        // in full
};

ModelStats model_stats(const ModelConfig& m, int64_t seq_len);

}  // namespace tandem::ir
