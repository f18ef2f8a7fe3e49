// Names of op roles and chunk parts, as they appear in timelines and reports.
#include "ir/op_role.h"

#include <array>

namespace tandem::ir {

std::string_view to_string(OpRole r) {
  static constexpr std::array<std::string_view, 64> names = {
      "embedding", "final_norm", "head", "loss",
      "attn_norm", "q_down_quant", "q_down", "q_norm", "q_up_quant", "q_up", "kv_down", "kv_norm", "kv_up_quant", "kv_up", "rope",
      "attn_core", "o_proj_quant", "o_proj",
      "ffn_norm", "ffn_up_quant", "ffn_up", "ffn_swiglu", "ffn_down_quant", "ffn_down",
      "shared_up", "shared_swiglu", "shared_down_quant", "shared_down",
      "gate", "router", "dispatch_quant", "notify_dispatch", "dispatch", "permute", "expert_up", "expert_swiglu", "expert_down_quant",
      "expert_down", "unpermute", "cached_notify", "combine", "ffn_residual",
      "mtp_embed_norm", "mtp_hidden_norm", "mtp_proj",
      "pipe_send", "pipe_recv", "grad_reduce_scatter", "param_all_gather", "grad_all_reduce", "shared_grad_all_reduce",
      "optimizer_step",
      "q_latent_gather", "kv_latent_gather", "o_proj_scatter", "attn_residual", "ffn_gather", "ffn_scatter", "shared_gather",
      "shared_scatter", "scale_transpose", "weight_transpose", "cast_back", "rope_concat"};
  const size_t i = static_cast<size_t>(r);
  return i < names.size() ? names[i] : "?";
}

std::string_view to_string(ChunkPart p) {
  switch (p) {
    case ChunkPart::Attention: return "attention";
    case ChunkPart::Dispatch: return "dispatch";
    case ChunkPart::Mlp: return "mlp";
    case ChunkPart::Combine: return "combine";
    case ChunkPart::Other: return "other";
  }
  return "?";
}

}  // namespace tandem::ir
