// Parameter and FLOP arithmetic of the DeepSeek-V3 family. For deepseek-v3-671b this gives
// 671.0B total (main model), 11.5B for the MTP block and 37.6B activated per token.
#include "ir/model_stats.h"

namespace tandem::ir {

namespace {
int64_t attention_params(const ModelConfig& m) {
  const int64_t h = m.hidden_size, heads = m.num_heads;
  int64_t p = 0;
  if (m.q_lora_rank > 0) {
    p += h * m.q_lora_rank + m.q_lora_rank;                    // q down-projection + its RMSNorm
    p += m.q_lora_rank * heads * m.qk_head_dim();              // q up-projection
  } else {
    p += h * heads * m.qk_head_dim();                          // direct q projection
  }
  p += h * (m.kv_lora_rank + m.qk_rope_head_dim);              // kv down-projection + decoupled rope key
  p += m.kv_lora_rank;                                         // kv latent RMSNorm
  p += m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim);  // kv up-projection
  p += heads * m.v_head_dim * h;                               // output projection
  p += 2 * h;                                                  // input and post-attention RMSNorms
  return p;
}
}  // namespace

int64_t expert_params(const ModelConfig& m) { return 3 * m.hidden_size * m.moe_intermediate; }
int64_t embedding_params(const ModelConfig& m) { return m.vocab_size * m.hidden_size; }
int64_t head_params(const ModelConfig& m) {
  return (m.tie_embeddings ? 0 : m.vocab_size * m.hidden_size) + m.hidden_size;
}

LayerParams layer_params(const ModelConfig& m, int64_t layer) {
  LayerParams p;
  p.attention = attention_params(m);
  if (layer < m.num_layers && !m.is_moe_layer(layer)) {
    p.dense_ffn = 3 * m.hidden_size * m.dense_intermediate;
  } else {
    p.shared_experts = m.shared_experts * expert_params(m);
    p.routed_experts = m.routed_experts * expert_params(m);
    p.gate = m.routed_experts * m.hidden_size + m.routed_experts;  // weight + bias
  }
  return p;
}

int64_t mtp_params(const ModelConfig& m) {
  if (m.mtp_depth == 0) return 0;
  // Per depth: RMSNorm of the embedding and of the hidden state, the 2h -> h projection, one MoE block,
  // and the RMSNorm before the output head (the head itself is the main model's).
  const int64_t h = m.hidden_size;
  return m.mtp_depth * (3 * h + 2 * h * h + layer_params(m, m.num_layers).total());
}

ModelStats model_stats(const ModelConfig& m, int64_t seq_len) {
  ModelStats s;
  const int64_t emb = embedding_params(m), head = head_params(m);
  int64_t layers_total = 0, layers_active = 0;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    const LayerParams p = layer_params(m, l);
    layers_total += p.total();
    layers_active += p.attention + p.dense_ffn + p.shared_experts + p.gate;
    if (p.routed_experts > 0) layers_active += m.experts_per_token * expert_params(m);
  }
  s.params_total = emb + head + layers_total;
  s.params_mtp = mtp_params(m);
  s.params_activated = emb + head + layers_active;

  // Forward matmul FLOPs per token: 2 per activated weight, embedding lookup excluded, head included.
  const LayerParams mtp_block = layer_params(m, m.num_layers);
  const int64_t mtp_active = m.mtp_depth == 0 ? 0
      : m.mtp_depth * (2 * m.hidden_size * m.hidden_size + mtp_block.attention + mtp_block.shared_experts +
                       mtp_block.gate + m.experts_per_token * expert_params(m) + m.vocab_size * m.hidden_size);
  const double matmul_params = double(s.params_activated - emb) + double(mtp_active);
  s.forward_matmul_flops_per_token = 2.0 * matmul_params;
  // Attention core per token and layer, in full: QKᵀ (2·L·qk) and PV (2·L·v) per head.
  const double attn_layers = double(m.num_layers + m.mtp_depth);
  const double attn_full = 2.0 * double(seq_len) * double(m.num_heads) * double(m.qk_head_dim() + m.v_head_dim) * attn_layers;
  s.forward_attention_flops_per_token = attn_full;
  const double causal_share = (double(seq_len) + 1.0) / (2.0 * double(seq_len));
  s.flops_per_token = 3.0 * (s.forward_matmul_flops_per_token + attn_full);
  s.flops_per_token_causal = 3.0 * (s.forward_matmul_flops_per_token + attn_full * causal_share);
  return s;
}

}  // namespace tandem::ir
