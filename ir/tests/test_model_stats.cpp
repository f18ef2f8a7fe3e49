// Parameter and FLOP counts against the public DeepSeek-V3 figures and hand-computed small cases.
#include <catch2/catch.hpp>

#include "ir/model_stats.h"
#include "ir/scenario.h"

using namespace tandem::ir;

namespace {
ModelConfig preset_model(const std::string& name) {
  const std::string* text = find_preset("models/" + name);
  REQUIRE(text != nullptr);
  nlohmann::json doc = {{"model", nlohmann::json::parse(*text)},
                        {"cluster", "h800"},
                        {"plan", {{"pp", 1}, {"ep", 1}, {"seq_len", 4096}, {"global_batch_seqs", 2048}, {"schedule", "1f1b"}}}};
  doc["cluster"] = {{"base", "h800"}, {"nodes", 1}, {"gpus_per_node", 1}, {"nics_per_node", 1}, {"planes", 1}};
  return parse_scenario(doc, "test").model;
}
}  // namespace

TEST_CASE("DeepSeek-V3 counts as published: 671B total, about 37B activated", "[ir][params]") {
  const ModelConfig m = preset_model("deepseek-v3-671b");
  const ModelStats s = model_stats(m, 4096);
  // Main model without MTP: 671B within 0.5%.
  CHECK(double(s.params_total) == Approx(671e9).epsilon(0.005));
  // Exact value from the arithmetic of model_stats.cpp: embedding 926,679,040 + head 926,686,208 (with final norm)
  // + 61 attention blocks of 187,121,664 + 3 dense FFNs of 396,361,728 + 58 MoE FFNs of 11,320,164,608.
  CHECK(s.params_total == 671026419200);
  // Activated: every non-expert parameter plus 8 routed and 1 shared expert per MoE layer: 37B within 3%.
  CHECK(double(s.params_activated) == Approx(37e9).epsilon(0.03));
  // MTP module (embedding and head shared): three norms 3h + the projection 2h^2 + one MoE layer = 11.6B.
  CHECK(s.params_mtp == 3 * 7168 + 2 * 7168LL * 7168 + 187121664 + 11320164608LL);
  // Training FLOPs per token: 6 x activated matmul parameters plus attention, about 2.9e11 with attention in full.
  CHECK(s.flops_per_token > s.flops_per_token_causal);
  CHECK(s.flops_per_token == Approx(2.92e11).epsilon(0.01));
}

TEST_CASE("DeepSeek-V2-Lite counts: 15.7B total, 2.4B activated", "[ir][params]") {
  const ModelStats s = model_stats(preset_model("deepseek-v2-lite"), 4096);
  CHECK(double(s.params_total) == Approx(15.7e9).epsilon(0.02));
  // The V2-Lite card's 2.4B leaves the input embedding (102400 x 2048 = 0.21B) out: 2.66B - 0.21B = 2.45B.
  CHECK(double(s.params_activated - 102400LL * 2048) == Approx(2.4e9).epsilon(0.03));
  CHECK(s.params_mtp == 0);
}

TEST_CASE("FLOPs per token of a hand-sized model", "[ir][flops]") {
  ModelConfig m;
  m.vocab_size = 10;
  m.hidden_size = 4;
  m.num_layers = 1;
  m.first_dense_layers = 1;
  m.dense_intermediate = 8;
  m.num_heads = 1;
  m.q_lora_rank = 0;
  m.kv_lora_rank = 2;
  m.qk_nope_head_dim = 2;
  m.qk_rope_head_dim = 2;
  m.v_head_dim = 2;
  m.mtp_depth = 0;
  // attention params: q 4*1*4=16, kv_down 4*(2+2)=16, kv_norm 2, kv_up 2*1*(2+2)=8, o 1*2*4=8, norms 2*4=8 -> 58
  // dense FFN 3*4*8 = 96; embedding 40; head 40 + final norm 4.
  const ModelStats s = model_stats(m, 8);
  CHECK(s.params_total == 58 + 96 + 40 + 44);
  CHECK(s.params_activated == s.params_total);
  // forward matmul FLOPs: 2 x (total - embedding) = 2 x 198 = 396; attention in full: 2*8*1*(4+2) = 96.
  CHECK(s.forward_matmul_flops_per_token == 396.0);
  CHECK(s.forward_attention_flops_per_token == 96.0);
  CHECK(s.flops_per_token == 3.0 * (396.0 + 96.0));
  // causal: attention share (8+1)/16
  CHECK(s.flops_per_token_causal == 3.0 * (396.0 + 96.0 * 9.0 / 16.0));
}
