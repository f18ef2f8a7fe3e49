// The op templates of one model chunk. Forward ops follow the DeepSeek-V3 kernels one by one; the
// backward is derived from them: a GEMM with a weight gives a dgrad (B) and a wgrad (W) GEMM, FP8
// GEMMs add the gradient quantisations, dispatch and combine swap roles, norms and SwiGLU are recomputed.
// With plan.tp > 1 the MLA and FFN blocks are Megatron's tensor-parallel regions with sequence parallelism.
#include "ir/chunk_builder.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "ir/layout_kernels.h"

namespace tandem::ir {

namespace {

using S = OperandSlot;

class Builder {
 public:
  Builder(RankProgram& rp, int32_t chunk, const ChunkContext& ctx)
      : rp_(rp), chunk_(chunk), ctx_(ctx), m_(ctx.scenario.model), p_(ctx.scenario.plan),
        tp_(p_.tp), region_tokens_(p_.micro_batch_tokens()), tokens_(region_tokens_ / tp_), fp8_(p_.precision.fp8) {}

  ChunkTemplates build();

 private:
  int32_t tensor(const std::string& name, int64_t rows, int64_t cols, DType dt, TensorRole role, int64_t depth = 1) {
    rp_.tensors.push_back({name, {rows, cols, depth}, dt, role, chunk_});
    return int32_t(rp_.tensors.size() - 1);
  }
  // An activation of `rows` tokens (0: the rank's sequence-split tokens).
  int32_t act(const std::string& name, int64_t cols, DType dt = DType::BF16, int64_t rows = 0) {
    return tensor(fmt::format("{}.{}", prefix_, name), rows > 0 ? rows : tokens_, cols, dt, TensorRole::Activation);
  }
  // A weight of this rank's shape: with a TP split, its part of the whole.
  int32_t weight(const std::string& name, int64_t rows, int64_t cols, InitClass init, bool expert = false, int64_t depth = 1,
                 TpSplit split = TpSplit::Replicated) {
    const int32_t w = tensor(fmt::format("{}.{}", prefix_, name), rows, cols, DType::BF16, TensorRole::Weight, depth);
    rp_.tensors[size_t(w)].init = init;
    rp_.tensors[size_t(w)].expert = expert;
    rp_.tensors[size_t(w)].tp_split = tp_ > 1 ? split : TpSplit::Replicated;
    const int64_t n = rows * cols * depth;
    out_.params += n;
    if (expert) out_.expert_params += n;
    if (!expert && rp_.tensors[size_t(w)].tp_split == TpSplit::Replicated) out_.tp_replicated_params += n;
    return w;
  }
  int64_t rows_of(int32_t x) const { return rp_.tensors[size_t(x)].shape[0]; }
  int32_t op(OpRole role, ChunkPart part, OpPayload payload, std::vector<Operand> in, std::vector<Operand> outs,
             Stream stream = Stream::Compute) {
    OpTemplate t{role, Phase::F, part, stream, chunk_, layer_, false, std::move(payload), std::move(in), std::move(outs)};
    rp_.templates.push_back(std::move(t));
    const int32_t id = int32_t(rp_.templates.size() - 1);
    out_.forward.push_back(id);
    return id;
  }
  // FP8 cast of an activation before a GEMM (1x128 tiles), or the BF16 tensor itself without FP8.
  int32_t cast(OpRole role, ChunkPart part, int32_t x) {
    if (!fp8_) return x;
    const auto& t = rp_.tensors[size_t(x)];
    const int64_t rows = t.shape[0], cols = t.shape[1];
    const int32_t y = act(rp_.tensors[size_t(x)].name.substr(prefix_.size() + 1) + ".fp8", cols, DType::FP8E4M3);
    rp_.tensors[size_t(y)].shape[0] = rows;
    rp_.tensors[size_t(y)].fp8_copy_of = x;
    op(role, part, Quantize{rows, cols, DType::BF16, DType::FP8E4M3, ScaleGranularity::Tile1x128, false}, {{x, S::Input}},
       {{y, S::Output}});
    return y;
  }
  Gemm linear_gemm(int64_t m, int64_t n, int64_t k, bool fp8) const {
    Gemm g{m, n, k};
    if (fp8) {
      g.a = g.b = DType::FP8E4M3;
      g.a_scale = ScaleGranularity::Tile1x128;
      g.b_scale = ScaleGranularity::Block128x128;
    }
    return g;
  }
  // y = x · W with W [k, n] (this rank's part of a column-parallel one); x already cast when FP8.
  int32_t linear(OpRole role, ChunkPart part, int32_t x, const std::string& wname, int64_t n, const std::string& yname,
                 bool fp8, TpSplit split = TpSplit::Replicated) {
    const int64_t k = rp_.tensors[size_t(x)].shape[1], rows = rows_of(x);
    const int32_t w = weight(wname, k, n, InitClass::Linear, false, 1, split);
    const int32_t y = act(yname, n, DType::BF16, rows);
    op(role, part, linear_gemm(rows, n, k, fp8), {{x, S::Input}, {w, S::Weight}}, {{y, S::Output}});
    return y;
  }
  // RMSNorm of x's leading `cols` columns (all of them when cols <= 0): the KV norm covers the
  // latent of kv_down's output and leaves the decoupled rope key after it alone.
  int32_t norm(OpRole role, ChunkPart part, int32_t x, const std::string& name, int64_t leading_cols = 0) {
    const int64_t cols = leading_cols > 0 ? leading_cols : rp_.tensors[size_t(x)].shape[1], rows = rows_of(x);
    const int32_t g = weight(name + ".weight", 1, cols, InitClass::Ones);
    const int32_t y = act(name, cols, DType::BF16, rows);
    op(role, part, Norm{NormKind::RMSNorm, rows, cols, false, DType::BF16}, {{x, S::Input}, {g, S::Weight}}, {{y, S::Output}});
    return y;
  }
  int32_t sequence_gather(OpRole role, ChunkPart part, int32_t x);
  int32_t sequence_scatter(OpRole role, ChunkPart part, int32_t x);
  int32_t residual_add(OpRole role, ChunkPart part, int32_t residual, int32_t x, const std::string& name);
  // DeepEP's cached_notify before an all-to-all that reuses the dispatch's layout: barriers only.
  Comm cached_notify(CommPurpose purpose) const {
    return Comm{CommKind::Notify, CommGroup::Expert, purpose, 0, p_.ep, p_.comm_sms, DType::INT32};
  }
  Elementwise elementwise(ElementwiseKind kind, int64_t elements, int64_t read, int64_t write, double flops) const {
    return Elementwise{kind, elements, read, write, flops};
  }

  int32_t attention_block(int32_t x);
  int32_t dense_ffn(int32_t x);
  int32_t moe_ffn(int32_t x);
  int32_t swiglu_ffn(OpRole up_q, OpRole up, OpRole act_role, OpRole down_q, OpRole down, ChunkPart part, int32_t x,
                     const std::string& name, int64_t width, int32_t residual);
  int32_t head_and_loss(int32_t hidden, const std::string& name, int32_t head = -1);
  int32_t mtp_embedding();
  // The operands of a forward op seen by its backward: its values (inputs but the weights) and
  // weights apart, the gradients of its outputs and of its values, each in its gradient slot.
  struct BackwardOperands {
    std::vector<Operand> values, weights, output_grads, value_grads;
  };
  void mirror_backward();
  void alias_gradients();
  void emit_recomputation(int32_t layer);
  bool recomputed(const OpTemplate& f) const;
  void backward_of(const OpTemplate& f);
  void backward_gemm(const OpTemplate& f, const BackwardOperands& o);
  void backward_comm(const OpTemplate& f, const BackwardOperands& o);
  void emit_backward(const OpTemplate& f, Phase phase, OpPayload payload, std::vector<Operand> in, std::vector<Operand> outs,
                     Stream stream, bool recompute = false);
  int32_t grad_of(int32_t t);
  Operand gradient(const Operand& x);   // x's gradient tensor in the gradient slot of x's slot

  RankProgram& rp_;
  int32_t chunk_;
  const ChunkContext& ctx_;
  const ModelConfig& m_;
  const ParallelPlan& p_;
  int64_t tp_;
  int64_t region_tokens_;              // tokens of the micro-batch: inside a TP region, the full sequence
  int64_t tokens_;                     // this rank's sequence-split part of them (all with tp = 1)
  int32_t stream_output_ = -1;         // the residual stream after the chunk's last layer
  bool fp8_;
  int32_t layer_ = -1;
  std::string prefix_;
  int32_t embedding_weight_ = -1;
  int32_t shared_copy_ = -1;           // this chunk's copy of a shared weight (-1: none)
  std::map<int32_t, int32_t> grads_;
  std::set<int32_t> layer_outputs_;    // each layer's output tensor (the next layer's input): never recomputed
  ChunkTemplates out_;
};

int32_t Builder::attention_block(int32_t x) {
  // With TP the heads are split (q_up, kv_up column-parallel, o_proj row-parallel); the low-rank down
  // projections and the norms are replicated and run on the rank's sequence split, and their latents
  // are all-gathered over the TP group before the up-projections (docs/ir.md, "Tensor parallelism").
  const auto A = ChunkPart::Attention;
  const int64_t heads = m_.num_heads / tp_, qk = m_.qk_head_dim(), T = region_tokens_;
  const int32_t n1 = norm(OpRole::AttnNorm, A, x, "attn_norm");
  const int32_t n1c = cast(OpRole::QDownQuant, A, n1);
  int32_t q;
  if (m_.q_lora_rank > 0) {
    const int32_t cq = sequence_gather(OpRole::QLatentGather, A,
                                       linear(OpRole::QDown, A, n1c, "q_down.w", m_.q_lora_rank, "q_latent", fp8_));
    const int32_t cqn = norm(OpRole::QNorm, A, cq, "q_norm");
    q = linear(OpRole::QUp, A, cast(OpRole::QUpQuant, A, cqn), "q_up.w", heads * qk, "q", fp8_, TpSplit::Columns);
  } else {
    q = linear(OpRole::QUp, A, sequence_gather(OpRole::QLatentGather, A, n1c), "q_proj.w", heads * qk, "q", fp8_, TpSplit::Columns);
  }
  const int32_t ckv = sequence_gather(
      OpRole::KvLatentGather, A, linear(OpRole::KvDown, A, n1c, "kv_down.w", m_.kv_lora_rank + m_.qk_rope_head_dim, "kv_latent", fp8_));
  const int32_t ckvn = norm(OpRole::KvNorm, A, ckv, "kv_norm", m_.kv_lora_rank);
  const int32_t kv = linear(OpRole::KvUp, A, cast(OpRole::KvUpQuant, A, ckvn), "kv_up.w",
                            heads * (m_.qk_nope_head_dim + m_.v_head_dim), "kv", fp8_, TpSplit::Columns);
  // RoPE on the rope part of every query head and on the shared rope key.
  const int64_t rope_elems = T * (heads + 1) * m_.qk_rope_head_dim;
  const int32_t qr = act("q_rope", heads * qk, DType::BF16, T);
  const int32_t kr = act("k_rope", m_.qk_rope_head_dim, DType::BF16, T);
  op(OpRole::Rope, A, elementwise(ElementwiseKind::Rope, rope_elems, rope_elems * 2, rope_elems * 2, 6.0),
     {{q, S::Query}, {ckv, S::KvLatent}}, {{qr, S::Query}, {kr, S::RopeKey}});
  const int32_t o = act("attn_out", heads * m_.v_head_dim, DType::BF16, T);
  Attention at{p_.micro_batch_seqs, p_.seq_len, heads, qk, m_.v_head_dim, true, false, DType::BF16};
  op(OpRole::AttnCore, A, at, {{qr, S::Query}, {kv, S::KeyValue}, {kr, S::RopeKey}}, {{o, S::Output}});
  // Output projection; the residual add is fused into its epilogue (with TP, after the reduce-scatter
  // of its partial sums).
  const int32_t oc = cast(OpRole::OProjQuant, A, o);
  const int32_t w = weight("o_proj.w", heads * m_.v_head_dim, m_.hidden_size, InitClass::OutputProjection, false, 1, TpSplit::Rows);
  const Gemm proj = linear_gemm(T, m_.hidden_size, heads * m_.v_head_dim, fp8_);
  if (tp_ > 1) {
    const int32_t partial = act("o_proj.partial", m_.hidden_size, DType::BF16, T);
    op(OpRole::OProj, A, proj, {{oc, S::Input}, {w, S::Weight}}, {{partial, S::Output}});
    return residual_add(OpRole::AttnResidual, A, x, sequence_scatter(OpRole::OProjScatter, A, partial), "h_attn");
  }
  const int32_t h = act("h_attn", m_.hidden_size);
  op(OpRole::OProj, A, proj, {{oc, S::Input}, {w, S::Weight}, {x, S::Residual}}, {{h, S::Output}});
  return h;
}

// Sequence parallelism: x [tokens/tp, c] all-gathered over the TP group into [tokens, c], in its own
// dtype (an FP8 copy travels as FP8 with its 1x128 scales). Megatron without TP-communication overlap:
// on the compute stream, which waits for it. x itself with tp = 1.
int32_t Builder::sequence_gather(OpRole role, ChunkPart part, int32_t x) {
  if (tp_ == 1) return x;
  const TensorInfo info = rp_.tensors[size_t(x)];
  const int64_t cols = info.shape[1];
  const int32_t y = tensor(info.name + ".gathered", region_tokens_, cols, info.dtype, TensorRole::Activation);
  const int64_t scales = info.dtype == DType::FP8E4M3 ? 4 * info.shape[0] * ((cols + 127) / 128) : 0;
  op(role, part, Comm{CommKind::AllGather, CommGroup::Tensor, CommPurpose::SequenceGather, info.bytes() + scales, tp_, 0, info.dtype},
     {{x, S::Input}}, {{y, S::Output}});
  return y;
}

// The partial sums x [tokens, c] of a row-parallel GEMM, reduce-scattered over the TP group onto this
// rank's sequence split [tokens/tp, c].
int32_t Builder::sequence_scatter(OpRole role, ChunkPart part, int32_t x) {
  const TensorInfo info = rp_.tensors[size_t(x)];
  const int32_t y = tensor(info.name + ".scattered", tokens_, info.shape[1], info.dtype, TensorRole::Activation);
  op(role, part, Comm{CommKind::ReduceScatter, CommGroup::Tensor, CommPurpose::SequenceScatter, info.bytes(), tp_, 0, info.dtype},
     {{x, S::Input}}, {{y, S::Output}});
  return y;
}

// residual + x, where a TP region's output can no longer fuse it into its last GEMM.
int32_t Builder::residual_add(OpRole role, ChunkPart part, int32_t residual, int32_t x, const std::string& name) {
  const int32_t y = act(name, m_.hidden_size);
  const int64_t e = tokens_ * m_.hidden_size;
  op(role, part, elementwise(ElementwiseKind::Add, e, 2 * 2 * e, 2 * e, 1.0), {{residual, S::Residual}, {x, S::Input}}, {{y, S::Output}});
  return y;
}

int32_t Builder::swiglu_ffn(OpRole up_q, OpRole up, OpRole act_role, OpRole down_q, OpRole down, ChunkPart part,
                            int32_t x, const std::string& name, int64_t width, int32_t residual) {
  // The shared expert reads the dispatch's FP8 copy; the dense FFN casts its own input.
  const bool already_cast = rp_.tensors[size_t(x)].dtype == DType::FP8E4M3 || up_q == up;
  const int32_t xc = already_cast ? x : cast(up_q, part, x);
  // With TP (x gathered over the sequence, `width` this rank's part) up is column-parallel, down
  // row-parallel: y holds partial sums for the caller to reduce-scatter.
  const int64_t rows = rows_of(xc);
  const int32_t u = linear(up, part, xc, name + ".up.w", 2 * width, name + ".up",
                           fp8_ && rp_.tensors[size_t(xc)].dtype == DType::FP8E4M3, TpSplit::Columns);
  const int32_t a = act(name + ".act", width, DType::BF16, rows);
  const int64_t e = rows * width;
  op(act_role, part, elementwise(ElementwiseKind::SwiGLU, e, 4 * e, 2 * e, 5.0), {{u, S::Input}}, {{a, S::Output}});
  const int32_t ac = cast(down_q, part, a);
  const int32_t w = weight(name + ".down.w", width, m_.hidden_size, InitClass::OutputProjection, false, 1, TpSplit::Rows);
  const int32_t y = act(name + ".out", m_.hidden_size, DType::BF16, rows);
  std::vector<Operand> in{{ac, S::Input}, {w, S::Weight}};
  if (residual >= 0) in.push_back({residual, S::Residual});
  op(down, part, linear_gemm(rows, m_.hidden_size, width, fp8_), in, {{y, S::Output}});
  return y;
}

int32_t Builder::dense_ffn(int32_t x) {
  const int32_t n2 = norm(OpRole::FfnNorm, ChunkPart::Mlp, x, "ffn_norm");
  if (tp_ == 1)
    return swiglu_ffn(OpRole::FfnUpQuant, OpRole::FfnUp, OpRole::FfnSwiglu, OpRole::FfnDownQuant, OpRole::FfnDown,
                      ChunkPart::Mlp, n2, "ffn", m_.dense_intermediate, x);
  // TP: cast on the sequence split, gather (FP8 under the recipe), the FFN's part, reduce-scatter, residual.
  const int32_t gathered = sequence_gather(OpRole::FfnGather, ChunkPart::Mlp, cast(OpRole::FfnUpQuant, ChunkPart::Mlp, n2));
  const int32_t partial = swiglu_ffn(OpRole::FfnUpQuant, OpRole::FfnUp, OpRole::FfnSwiglu, OpRole::FfnDownQuant, OpRole::FfnDown,
                                     ChunkPart::Mlp, gathered, "ffn", m_.dense_intermediate / tp_, -1);
  return residual_add(OpRole::FfnResidual, ChunkPart::Mlp, x, sequence_scatter(OpRole::FfnScatter, ChunkPart::Mlp, partial), "h_out");
}

int32_t Builder::moe_ffn(int32_t x) {
  const int64_t h = m_.hidden_size, k = m_.experts_per_token, ep = p_.ep;
  const int64_t local_experts = m_.routed_experts / ep;
  const int64_t routed_rows = tokens_ * k;      // token-expert pairs this rank's experts receive (balanced)
  const int32_t n2 = norm(OpRole::FfnNorm, ChunkPart::Attention, x, "ffn_norm");
  // Gating in BF16/FP32, then the group-limited top-k.
  const int32_t gw = weight("gate.w", h, m_.routed_experts, InitClass::Linear);
  const int32_t logits = act("gate_logits", m_.routed_experts, DType::FP32);
  op(OpRole::Gate, ChunkPart::Attention, Gemm{tokens_, m_.routed_experts, h, DType::BF16, DType::BF16, DType::FP32},
     {{n2, S::Input}, {gw, S::Weight}}, {{logits, S::Output}});
  const int32_t bias = tensor(prefix_ + ".gate.bias", 1, m_.routed_experts, DType::FP32, TensorRole::Weight);
  rp_.tensors[size_t(bias)].init = InitClass::Zeros;
  const int32_t route = act("route", 2 * k, DType::FP32);   // expert ids and weights
  op(OpRole::Router, ChunkPart::Attention,
     Router{tokens_, m_.routed_experts, m_.expert_groups, m_.groups_per_token, k, false}, {{logits, S::Input}, {bias, S::Bias}},
     {{route, S::Routing}});
  const bool fp8_dispatch = fp8_ && p_.precision.fp8_dispatch;
  const int32_t n2c = fp8_dispatch ? cast(OpRole::DispatchQuant, ChunkPart::Attention, n2) : n2;
  // DeepEP's notify_dispatch: the counts of rows for each expert (one int per local expert and one for
  // the rank) go to every peer, between two barriers, before the dispatch sizes its buffers.
  op(OpRole::NotifyDispatch, ChunkPart::Dispatch,
     Comm{CommKind::Notify, CommGroup::Expert, CommPurpose::Dispatch, 4 * (local_experts + 1), ep, p_.comm_sms, DType::INT32},
     {{route, S::Routing}}, {}, Stream::Comm);
  // Dispatch: every token goes to its k experts (FP8 + one scale per 128 values, or BF16).
  const int64_t row_bytes = fp8_dispatch ? h + 4 * ((h + 127) / 128) : 2 * h;
  const int32_t recv = tensor(prefix_ + ".dispatched", routed_rows, h, fp8_dispatch ? DType::FP8E4M3 : DType::BF16,
                              TensorRole::Activation);
  op(OpRole::Dispatch, ChunkPart::Dispatch,
     Comm{CommKind::AllToAllV, CommGroup::Expert, CommPurpose::Dispatch, routed_rows * row_bytes, ep, p_.comm_sms,
          fp8_dispatch ? DType::FP8E4M3 : DType::BF16},
     {{n2c, S::Input}, {route, S::Routing}}, {{recv, S::Output}}, Stream::Comm);
  // Routed experts: grouped GEMMs over this rank's experts, rows grouped by expert (balanced split).
  const int32_t perm = tensor(prefix_ + ".permuted", routed_rows, h, rp_.tensors[size_t(recv)].dtype, TensorRole::Activation);
  op(OpRole::Permute, ChunkPart::Mlp, Permute{tokens_, k, h, rp_.tensors[size_t(recv)].dtype, false}, {{recv, S::Input}},
     {{perm, S::Output}});
  std::vector<int64_t> groups(size_t(local_experts), routed_rows / local_experts);
  groups.back() += routed_rows - (routed_rows / local_experts) * local_experts;
  const int64_t I = m_.moe_intermediate;
  Gemm up = linear_gemm(routed_rows, 2 * I, h, fp8_);
  up.group_rows = groups;
  const int32_t wu = weight("experts.up.w", h, 2 * I, InitClass::Linear, true, local_experts);
  const int32_t u = tensor(prefix_ + ".experts.up", routed_rows, 2 * I, DType::BF16, TensorRole::Activation);
  op(OpRole::ExpertUp, ChunkPart::Mlp, up, {{perm, S::Input}, {wu, S::Weight}}, {{u, S::Output}});
  const int32_t a = tensor(prefix_ + ".experts.act", routed_rows, I, DType::BF16, TensorRole::Activation);
  const int64_t e = routed_rows * I;
  op(OpRole::ExpertSwiglu, ChunkPart::Mlp, elementwise(ElementwiseKind::SwiGLU, e, 4 * e, 2 * e, 5.0), {{u, S::Input}},
     {{a, S::Output}});
  int32_t ac = a;
  if (fp8_) {
    ac = tensor(prefix_ + ".experts.act.fp8", routed_rows, I, DType::FP8E4M3, TensorRole::Activation);
    rp_.tensors[size_t(ac)].fp8_copy_of = a;
    op(OpRole::ExpertDownQuant, ChunkPart::Mlp,
       Quantize{routed_rows, I, DType::BF16, DType::FP8E4M3, ScaleGranularity::Tile1x128, false}, {{a, S::Input}},
       {{ac, S::Output}});
  }
  Gemm down = linear_gemm(routed_rows, h, I, fp8_);
  down.group_rows = groups;
  const int32_t wd = weight("experts.down.w", I, h, InitClass::OutputProjection, true, local_experts);
  const int32_t d = tensor(prefix_ + ".experts.out", routed_rows, h, DType::BF16, TensorRole::Activation);
  op(OpRole::ExpertDown, ChunkPart::Mlp, down, {{ac, S::Input}, {wd, S::Weight}}, {{d, S::Output}});
  const int32_t back = tensor(prefix_ + ".experts.unpermuted", routed_rows, h, DType::BF16, TensorRole::Activation);
  op(OpRole::Unpermute, ChunkPart::Mlp, Permute{tokens_, k, h, DType::BF16, true}, {{d, S::Input}}, {{back, S::Output}});
  // Shared experts on the same FP8 input, overlapping the all-to-all.
  // With TP the shared experts are a TP region: their input gathered over the sequence, their
  // partial sums reduce-scattered back (the routed experts keep expert tensor parallelism 1).
  int32_t shared = -1;
  if (m_.shared_experts > 0) {
    shared = swiglu_ffn(OpRole::SharedUp, OpRole::SharedUp, OpRole::SharedSwiglu, OpRole::SharedDownQuant, OpRole::SharedDown,
                        ChunkPart::Mlp, sequence_gather(OpRole::SharedGather, ChunkPart::Mlp, n2c), "shared",
                        m_.shared_experts * I / tp_, -1);
    if (tp_ > 1) shared = sequence_scatter(OpRole::SharedScatter, ChunkPart::Mlp, shared);
  }
  // Combine: expert outputs return in BF16 and are summed with the routing weights at the source.
  const int32_t combined = act("combined", h);
  op(OpRole::CachedNotify, ChunkPart::Combine, cached_notify(CommPurpose::Combine), {{back, S::Input}}, {}, Stream::Comm);
  op(OpRole::Combine, ChunkPart::Combine,
     Comm{CommKind::AllToAllV, CommGroup::Expert, CommPurpose::Combine, routed_rows * 2 * h, ep, p_.comm_sms, DType::BF16},
     {{back, S::Input}, {route, S::Routing}}, {{combined, S::Output}}, Stream::Comm);
  // The block's output: the residual stream plus the routed experts' (and the shared experts') output.
  const int32_t out = act("h_out", h);
  std::vector<Operand> in{{x, S::Residual}, {combined, S::Input}};
  if (shared >= 0) in.push_back({shared, S::SharedExperts});
  const int64_t he = tokens_ * h;
  op(OpRole::FfnResidual, ChunkPart::Combine, elementwise(ElementwiseKind::Add, he, 2 * he * int64_t(in.size()), 2 * he, 2.0), in,
     {{out, S::Output}});
  return out;
}

// The final norm, the output head and the loss. `head` >= 0 is an existing head weight to share (the
// MTP module uses the main model's head, with a norm of its own, as DeepSeek-V3 does); returns the head.
int32_t Builder::head_and_loss(int32_t hidden, const std::string& name, int32_t head) {
  const int32_t n = norm(OpRole::FinalNorm, ChunkPart::Other, hidden, name + ".final_norm");
  const int32_t w = head >= 0 ? head : weight(name + ".head.w", m_.hidden_size, m_.vocab_size, InitClass::Linear);
  // BF16 logits: the loss kernel reads them once forward and once backward (softmax recomputed).
  const int32_t logits = act(name + ".logits", m_.vocab_size, DType::BF16);
  op(OpRole::Head, ChunkPart::Other, Gemm{tokens_, m_.vocab_size, m_.hidden_size, DType::BF16, DType::BF16, DType::BF16},
     {{n, S::Input}, {w, S::Weight}}, {{logits, S::Output}});
  const int32_t loss = tensor(prefix_ + "." + name + ".loss", 1, 1, DType::FP32, TensorRole::Activation);
  const int64_t e = tokens_ * m_.vocab_size;
  op(OpRole::Loss, ChunkPart::Other, elementwise(ElementwiseKind::CrossEntropy, e, 4 * e, 4, 5.0), {{logits, S::Input}},
     {{loss, S::Loss}});
  return w;
}

// The embedding the MTP module reads: the main model's wherever it is on this rank (the chunk's own,
// or the first chunk's when this rank holds both ends); else a copy kept equal to it (see SharedWeight).
int32_t Builder::mtp_embedding() {
  if (embedding_weight_ >= 0) return embedding_weight_;
  if (ctx_.shared_embedding >= 0) return ctx_.shared_embedding;
  const int32_t copy = weight("embedding_copy.w", m_.vocab_size, m_.hidden_size, InitClass::Table);
  rp_.tensors[size_t(copy)].shared = SharedWeight::Embedding;
  rp_.tensors[size_t(copy)].shared_replica = true;
  shared_copy_ = copy;
  return copy;
}

int32_t Builder::grad_of(int32_t t) {
  const auto it = grads_.find(t);
  if (it != grads_.end()) return it->second;
  const TensorInfo info = rp_.tensors[size_t(t)];
  const bool weight = info.role == TensorRole::Weight;
  const DType dt = weight ? DType::FP32 : DType::BF16;
  rp_.tensors.push_back({info.name + ".grad", info.shape, dt, weight ? TensorRole::Gradient : TensorRole::Activation, chunk_});
  const int32_t g = int32_t(rp_.tensors.size() - 1);
  rp_.tensors[size_t(g)].gradient_of = t;
  rp_.tensors[size_t(g)].expert = info.expert;
  rp_.tensors[size_t(g)].tp_split = info.tp_split;
  grads_[t] = g;
  return g;
}

// Whether plan.recompute re-runs forward op `f` in the backward pass instead of keeping its outputs
// (the default, DeepSeek-V3 section 3.2.3: RMSNorms, the MLA up-projections with their casts and RoPE,
// and SwiGLU, whose input is kept, in FP8 under the recipe). Only ops of the layers (and the MTP
// module's layer); `full` leaves out communication, the gating and routing (their outputs are small
// and the routing is decided once) and the op writing the layer's output (the next layer's input).
bool Builder::recomputed(const OpTemplate& f) const {
  const RecomputeModules& r = p_.recompute;
  if (f.layer < 0) return false;
  switch (f.role) {
    case OpRole::AttnNorm: case OpRole::QNorm: case OpRole::KvNorm: case OpRole::FfnNorm:
      if (r.norm) return true;
      break;
    case OpRole::QUpQuant: case OpRole::QUp: case OpRole::KvUpQuant: case OpRole::KvUp: case OpRole::Rope:
      if (r.mla_up_proj) return true;
      break;
    case OpRole::AttnCore:
      if (r.core_attn) return true;
      break;
    case OpRole::FfnSwiglu: case OpRole::SharedSwiglu: case OpRole::ExpertSwiglu:
      if (r.moe_act || (r.mlp && f.role == OpRole::FfnSwiglu)) return true;
      break;
    case OpRole::FfnUpQuant: case OpRole::FfnUp: case OpRole::FfnDownQuant:
      if (r.mlp) return true;
      break;
    default: break;
  }
  if (!r.full) return false;
  switch (f.role) {
    case OpRole::Embedding: case OpRole::MtpEmbedNorm: case OpRole::MtpHiddenNorm: case OpRole::MtpProj:
    case OpRole::FinalNorm: case OpRole::Head: case OpRole::Loss: case OpRole::Gate: case OpRole::Router:
      return false;
    default: break;
  }
  if (kind_of(f.payload) == OpKind::Comm) return false;
  return std::none_of(f.outputs.begin(), f.outputs.end(), [&](const Operand& o) { return layer_outputs_.count(o.tensor) > 0; });
}

void Builder::emit_backward(const OpTemplate& f, Phase phase, OpPayload payload, std::vector<Operand> in,
                            std::vector<Operand> outs, Stream stream, bool recompute) {
  OpTemplate t{f.role, phase, f.part, stream, chunk_, f.layer, recompute, std::move(payload), std::move(in), std::move(outs)};
  rp_.templates.push_back(std::move(t));
  out_.backward.push_back(int32_t(rp_.templates.size() - 1));
}

Operand Builder::gradient(const Operand& x) {
  const auto slot = gradient_slot(x.slot);
  if (!slot) throw std::logic_error(fmt::format("chunk {}: an operand in slot {} has no gradient", chunk_, to_string(x.slot)));
  return {grad_of(x.tensor), *slot};
}

// Gradients that are another tensor's: where two chunks of the rank meet or share the embedding, the
// earlier-built chunk's; an FP8 copy's is its BF16 source's (straight-through).
void Builder::alias_gradients() {
  if (ctx_.input_tensor >= 0 && ctx_.input_grad >= 0) grads_[ctx_.input_tensor] = ctx_.input_grad;
  // With TP every residual add passes its output's gradient on, so a chunk's residual stream has one
  // gradient tensor from its last layer back to its input: the earlier-built chunk's, when given.
  if (tp_ > 1 && ctx_.input_tensor >= 0 && ctx_.input_grad >= 0) grads_[stream_output_] = ctx_.input_grad;
  if (ctx_.shared_embedding >= 0 && ctx_.shared_embedding_grad >= 0) grads_[ctx_.shared_embedding] = ctx_.shared_embedding_grad;
  for (int32_t id : out_.forward) {
    const OpTemplate& f = rp_.templates[size_t(id)];
    if (kind_of(f.payload) == OpKind::Quantize) grads_[f.out(S::Output)] = grad_of(f.in(S::Input));
  }
}

// The recomputation of a layer's recomputed ops (plan.recompute) at the start of its backward. Under
// `full` they are all of part Other, so DualPipe's overlapped pairs run the whole recomputation before
// the layer's backward parts (the MLP's backward reads what the attention part recomputes).
void Builder::emit_recomputation(int32_t layer) {
  for (int32_t id : std::vector<int32_t>(out_.forward)) {
    OpTemplate g = rp_.templates[size_t(id)];
    if (g.layer != layer || !recomputed(g)) continue;
    if (p_.recompute.full) g.part = ChunkPart::Other;
    emit_backward(g, Phase::B, g.payload, g.inputs, g.outputs, Stream::Compute, true);
  }
}

// A GEMM's backward: dX = dY · Wᵀ (B; under FP8 from dY cast in 1x128 tiles; a fused residual input
// gets dY as its gradient from the same kernel, the MTP projection's second input its half of dX),
// then dW += Xᵀ · dY (W; under FP8 from X and dY transpose-requantised along the tokens).
void Builder::backward_gemm(const OpTemplate& f, const BackwardOperands& o) {
  const auto& T = rp_.tensors;
  const Gemm g = std::get<Gemm>(f.payload);
  const bool fp8 = g.a == DType::FP8E4M3;
  const int32_t x = f.in(S::Input), w = f.in(S::Weight), gy = o.output_grads.at(0).tensor;
  // An FP8 copy for this GEMM's backward, the GEMM's own: X may feed several GEMMs, and a residual
  // sum's output gradient is the tensor of its inputs' gradients too, read by each of their GEMMs
  // with the parts written by then. Its label names the GEMM.
  auto fp8_copy = [&](int32_t t, bool transposed) {
    const TensorInfo info = T[size_t(t)];
    const std::string label = fmt::format("{}.{}.{}", info.name, transposed ? "t" : "fp8", to_string(f.role));
    rp_.tensors.push_back({label, info.shape, DType::FP8E4M3, TensorRole::Activation, chunk_});
    rp_.tensors.back().fp8_copy_of = t;
    rp_.tensors.back().fp8_transposed = transposed;
    return int32_t(rp_.tensors.size() - 1);
  };
  int32_t gy_q = gy;
  if (fp8) {
    gy_q = fp8_copy(gy, false);
    emit_backward(f, Phase::B, Quantize{g.m, g.n, DType::BF16, DType::FP8E4M3, ScaleGranularity::Tile1x128, false},
                  {{gy, S::Input}}, {{gy_q, S::Output}}, Stream::Compute);
  }
  Gemm dgrad = g;               // dX[m, k] = dY[m, n] · Wᵀ
  dgrad.n = g.k;
  dgrad.k = g.n;
  dgrad.out = DType::BF16;
  emit_backward(f, Phase::B, dgrad, {{gy_q, S::OutputGrad}, {w, S::Weight}}, o.value_grads, Stream::Compute);
  int32_t x_t = x, gy_t = gy;
  if (fp8) {
    x_t = fp8_copy(x, true);
    gy_t = fp8_copy(gy, true);
    emit_backward(f, Phase::W, Quantize{g.m, g.k, DType::FP8E4M3, DType::FP8E4M3, ScaleGranularity::Tile1x128, true},
                  {{x, S::Input}}, {{x_t, S::Output}}, Stream::Compute);
    emit_backward(f, Phase::W, Quantize{g.m, g.n, DType::BF16, DType::FP8E4M3, ScaleGranularity::Tile1x128, true},
                  {{gy, S::Input}}, {{gy_t, S::Output}}, Stream::Compute);
  }
  Gemm wgrad = g;               // dW[k, n] = Xᵀ[k, m] · dY[m, n], accumulated over micro-batches
  wgrad.m = g.k;
  wgrad.n = g.n;
  wgrad.k = g.m;
  wgrad.out = DType::FP32;
  wgrad.accumulate = true;
  wgrad.groups_split_k = !g.group_rows.empty();
  // X of the MTP projection is [norm(emb) | norm(h)]: both halves feed the weight gradient.
  std::vector<Operand> w_in{{x_t, S::Input}};
  if (f.has_in(S::SecondInput)) {
    if (fp8) throw std::logic_error(fmt::format("{}: an FP8 GEMM over two inputs has no transposed copy of the second", f.name()));
    w_in.push_back({f.in(S::SecondInput), S::SecondInput});
  }
  w_in.push_back({gy_t, S::OutputGrad});
  emit_backward(f, Phase::W, wgrad, w_in, {gradient({w, S::Weight})}, Stream::Compute);
}

// Dispatch and combine swap roles: gradients of the dispatched tokens return to their source in BF16;
// output gradients go to the experts, FP8 like the forward dispatch when the recipe says so. The
// combine's backward also yields the routing weights' gradient, <dY, expert output> per pair, which
// the router's backward reads.
void Builder::backward_comm(const OpTemplate& f, const BackwardOperands& o) {
  Comm c = std::get<Comm>(f.payload);
  // Sequence parallelism: the gradient of an all-gather is a reduce-scatter of the gathered tensor's
  // gradient (BF16, every rank's part summed), that of a reduce-scatter an all-gather; same stream.
  if (c.group == CommGroup::Tensor) {
    const bool gather = c.kind == CommKind::AllGather;
    const TensorInfo& dy = rp_.tensors[size_t(o.output_grads.at(0).tensor)];
    c.kind = gather ? CommKind::ReduceScatter : CommKind::AllGather;
    c.purpose = gather ? CommPurpose::SequenceGatherGrad : CommPurpose::SequenceScatterGrad;
    c.dtype = DType::BF16;
    c.bytes = dy.bytes();
    emit_backward(f, Phase::B, c, {o.output_grads.at(0)}, {gradient({f.in(S::Input), S::Input})}, f.stream);
    return;
  }
  const int64_t rows = tokens_ * m_.experts_per_token, h = m_.hidden_size;
  if (c.purpose == CommPurpose::Dispatch) {
    c.purpose = CommPurpose::DispatchGrad;
    c.dtype = DType::BF16;
    c.bytes = rows * 2 * h;
  } else if (c.purpose == CommPurpose::Combine) {
    c.purpose = CommPurpose::CombineGrad;
    const bool f8 = fp8_ && p_.precision.fp8_dispatch;
    c.dtype = f8 ? DType::FP8E4M3 : DType::BF16;
    c.bytes = rows * (f8 ? h + 4 * ((h + 127) / 128) : 2 * h);
  }
  std::vector<Operand> gout{gradient({f.in(S::Input), S::Input})};
  if (c.purpose == CommPurpose::CombineGrad) gout.push_back(gradient({f.in(S::Routing), S::Routing}));
  // Both reuse the forward dispatch's layout: DeepEP's cached_notify first, waiting for the same tensor.
  OpTemplate notify = f;
  notify.role = OpRole::CachedNotify;
  emit_backward(notify, Phase::B, cached_notify(c.purpose), {{o.output_grads.at(0).tensor, S::Input}}, {}, Stream::Comm);
  emit_backward(f, Phase::B, c, {o.output_grads.at(0)}, gout, Stream::Comm);
}

// What the backward of one forward op reads and writes, by payload kind: each forward operand in the
// slot of its gradient (Input -> InputGrad, Output -> OutputGrad ...), the values it reads again in
// their forward slots.
void Builder::backward_of(const OpTemplate& f) {
  // A handshake has no backward: the backward all-to-alls bring their own (backward_comm).
  if (kind_of(f.payload) == OpKind::Comm && std::get<Comm>(f.payload).kind == CommKind::Notify) return;
  BackwardOperands o;
  for (const Operand& x : f.inputs) (x.slot == S::Weight || x.slot == S::Bias ? o.weights : o.values).push_back(x);
  for (const Operand& y : f.outputs)
    if (gradient_slot(y.slot)) o.output_grads.push_back(gradient(y));   // a loss has none: its backward starts there
  const bool sum = kind_of(f.payload) == OpKind::Elementwise && std::get<Elementwise>(f.payload).kind == ElementwiseKind::Add;
  if (!sum)   // a sum passes its output's gradient to every input: no tensors of their own
    for (const Operand& x : o.values)
      if (gradient_slot(x.slot)) o.value_grads.push_back(gradient(x));
  auto cat = [](std::vector<Operand> a, const std::vector<Operand>& b) { a.insert(a.end(), b.begin(), b.end()); return a; };
  const auto& dy = o.output_grads;
  const auto& dx = o.value_grads;
  switch (kind_of(f.payload)) {
    case OpKind::Quantize: break;  // straight-through (aliased)
    case OpKind::Gemm: backward_gemm(f, o); break;
    case OpKind::Attention: {
      // The core reads its forward output again (its log-sum-exp with it).
      Attention a = std::get<Attention>(f.payload);
      a.backward = true;
      std::vector<Operand> saved;
      for (const Operand& y : f.outputs) saved.push_back({y.tensor, S::Saved});
      emit_backward(f, Phase::B, a, cat(dy, cat(o.values, saved)), dx, Stream::Compute);
      break;
    }
    case OpKind::Norm: {
      Norm n = std::get<Norm>(f.payload);
      n.backward = true;
      std::vector<Operand> outs = dx;
      for (const Operand& w : o.weights) outs.push_back(gradient(w));   // the norm weight's gradient, same kernel
      emit_backward(f, Phase::B, n, cat(dy, cat(o.values, o.weights)), outs, Stream::Compute);
      break;
    }
    case OpKind::Elementwise: {
      const Elementwise e = std::get<Elementwise>(f.payload);
      if (e.kind == ElementwiseKind::Embedding) {
        emit_backward(f, Phase::W, e, cat(dy, o.values), {gradient(o.weights.at(0))}, Stream::Compute);
      } else if (e.kind == ElementwiseKind::Add) {
        for (const Operand& x : o.values) grads_[x.tensor] = dy.at(0).tensor;
      } else if (e.kind == ElementwiseKind::CrossEntropy) {
        emit_backward(f, Phase::B, e, o.values, dx, Stream::Compute);
      } else if (e.kind == ElementwiseKind::SwiGLU) {
        // dgate and dup from gate, up and dy: reads the input and a gradient of the output's size,
        // writes a gradient of the input's size, with about twice the forward's arithmetic.
        Elementwise b = e;
        b.elements = 2 * e.elements;
        b.read_bytes = e.read_bytes + e.write_bytes;
        b.write_bytes = e.read_bytes;
        emit_backward(f, Phase::B, b, cat(dy, o.values), dx, Stream::Compute);
      } else {
        emit_backward(f, Phase::B, e, cat(dy, o.values), dx, Stream::Compute);
      }
      break;
    }
    case OpKind::Router: {
      Router r = std::get<Router>(f.payload);
      r.backward = true;
      emit_backward(f, Phase::B, r, cat(dy, o.values), dx, Stream::Compute);
      break;
    }
    case OpKind::Permute: {
      Permute q = std::get<Permute>(f.payload);
      q.unpermute = !q.unpermute;
      q.dtype = DType::BF16;
      emit_backward(f, Phase::B, q, dy, dx, Stream::Compute);
      break;
    }
    case OpKind::Comm: backward_comm(f, o); break;
    case OpKind::Optimizer: break;
  }
}

// Walks the forward ops backwards and emits, for each, what its backward needs; a layer's
// recomputation comes first in its backward.
void Builder::mirror_backward() {
  alias_gradients();
  int32_t current_layer = -2;
  const std::vector<int32_t> fwd = out_.forward;
  for (size_t i = fwd.size(); i-- > 0;) {
    const OpTemplate f = rp_.templates[size_t(fwd[i])];
    if (p_.recompute.any() && f.layer != current_layer) {
      current_layer = f.layer;
      emit_recomputation(f.layer);
    }
    backward_of(f);
  }
}

ChunkTemplates Builder::build() {
  out_.chunk = chunk_;
  int32_t x = ctx_.input_tensor;
  prefix_ = fmt::format("C{}", chunk_);
  if (ctx_.first_chunk) {
    layer_ = -1;
    prefix_ = "embed";
    const int32_t ids = tensor("tokens", tokens_, 1, DType::INT32, TensorRole::Activation);
    rp_.tensors[size_t(ids)].step_input = true;
    embedding_weight_ = weight("embedding.w", m_.vocab_size, m_.hidden_size, InitClass::Table);
    x = act("h", m_.hidden_size);
    const int64_t e = tokens_ * m_.hidden_size;
    op(OpRole::Embedding, ChunkPart::Other, elementwise(ElementwiseKind::Embedding, e, 2 * e + 4 * tokens_, 2 * e, 0.0),
       {{ids, S::Tokens}, {embedding_weight_, S::Weight}}, {{x, S::Output}});
  } else if (x < 0) {
    prefix_ = fmt::format("C{}", chunk_);
    x = tensor(prefix_ + ".input", tokens_, m_.hidden_size, DType::BF16, TensorRole::Activation);
  }
  out_.input = ctx_.first_chunk ? -1 : x;
  const int32_t main_input = x;
  for (int32_t l = ctx_.first_layer; l < ctx_.last_layer; ++l) {
    layer_ = l;
    prefix_ = fmt::format("L{}", l);
    x = attention_block(x);
    x = m_.is_moe_layer(l) ? moe_ffn(x) : dense_ffn(x);
    layer_outputs_.insert(x);
  }
  (void)main_input;
  stream_output_ = x;
  if (ctx_.last_chunk) {
    const int32_t final_hidden = x;
    layer_ = -1;
    prefix_ = "head";
    const int32_t head = head_and_loss(final_hidden, "main");
    if (m_.mtp_depth > 0) {
      // MTP depth 1: embed the next tokens, norm both inputs, project 2h -> h, one MoE block, shared head.
      layer_ = int32_t(m_.num_layers);
      prefix_ = "mtp";
      const int32_t ids = tensor("mtp.tokens", tokens_, 1, DType::INT32, TensorRole::Activation);
      rp_.tensors[size_t(ids)].step_input = true;
      const int32_t emb = mtp_embedding();
      const int32_t e = act("embedded", m_.hidden_size);
      const int64_t n = tokens_ * m_.hidden_size;
      op(OpRole::Embedding, ChunkPart::Other, elementwise(ElementwiseKind::Embedding, n, 2 * n + 4 * tokens_, 2 * n, 0.0),
         {{ids, S::Tokens}, {emb, S::Weight}}, {{e, S::Output}});
      const int32_t en = norm(OpRole::MtpEmbedNorm, ChunkPart::Other, e, "embed_norm");
      const int32_t hn = norm(OpRole::MtpHiddenNorm, ChunkPart::Other, final_hidden, "hidden_norm");
      const int32_t pw = weight("proj.w", 2 * m_.hidden_size, m_.hidden_size, InitClass::Linear);
      const int32_t px = act("proj", m_.hidden_size);
      op(OpRole::MtpProj, ChunkPart::Other, Gemm{tokens_, m_.hidden_size, 2 * m_.hidden_size},
         {{en, S::Input}, {hn, S::SecondInput}, {pw, S::Weight}}, {{px, S::Output}});
      prefix_ = fmt::format("L{}", m_.num_layers);
      int32_t y = attention_block(px);
      y = moe_ffn(y);
      layer_outputs_.insert(y);
      layer_ = int32_t(m_.num_layers);
      prefix_ = "mtp";
      head_and_loss(y, "mtp", head);
    }
    out_.output = -1;
  } else {
    out_.output = x;
  }
  mirror_backward();
  if (out_.output >= 0) out_.output_grad = grad_of(out_.output);
  if (out_.input >= 0) out_.input_grad = grad_of(out_.input);
  out_.embedding = embedding_weight_;
  if (embedding_weight_ >= 0) out_.embedding_grad = grad_of(embedding_weight_);
  out_.shared_copy = shared_copy_;
  if (shared_copy_ >= 0) out_.shared_copy_grad = grad_of(shared_copy_);
  // Bytes kept from forward to backward per micro-batch: activations the backward reads, except what
  // it recomputes and the tensors it produces itself.
  std::vector<char> produced_in_backward(rp_.tensors.size(), 0), read_in_backward(rp_.tensors.size(), 0);
  for (int32_t id : out_.backward) {
    const OpTemplate& t = rp_.templates[size_t(id)];
    for (const Operand& o : t.outputs) produced_in_backward[size_t(o.tensor)] = 1;
  }
  for (int32_t id : out_.backward) {
    const OpTemplate& t = rp_.templates[size_t(id)];
    for (const Operand& i : t.inputs)
      if (!produced_in_backward[size_t(i.tensor)]) read_in_backward[size_t(i.tensor)] = 1;
  }
  // SwiGLU inputs are cached in FP8 (1x128 tiles) under the recipe: one byte per value plus scales.
  std::vector<char> fp8_cached(rp_.tensors.size(), 0);
  if (fp8_ && p_.recompute.moe_act)
    for (int32_t id : out_.forward) {
      const OpTemplate& t = rp_.templates[size_t(id)];
      if (t.role == OpRole::ExpertSwiglu || t.role == OpRole::SharedSwiglu || t.role == OpRole::FfnSwiglu)
        fp8_cached[size_t(t.in(S::Input))] = 1;
    }
  for (size_t t = 0; t < rp_.tensors.size(); ++t) {
    const TensorInfo& info = rp_.tensors[t];
    if (!read_in_backward[t] || info.role != TensorRole::Activation || info.chunk != chunk_) continue;
    const int64_t elems = info.shape[0] * info.shape[1] * info.shape[2];
    out_.saved_activation_bytes += fp8_cached[t] ? elems + 4 * info.shape[0] * ((info.shape[1] + 127) / 128) : info.bytes();
  }
  return out_;
}

}  // namespace

ChunkTemplates build_chunk(RankProgram& rp, int32_t chunk, const ChunkContext& ctx) {
  ChunkTemplates t = Builder(rp, chunk, ctx).build();
  add_layout_kernels(rp, t, ctx.scenario);
  return t;
}

}  // namespace tandem::ir
