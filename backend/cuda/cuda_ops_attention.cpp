// The MLA attention core on the GPU (staged), with run_attention's semantics (ops_attention.cpp): K and V
// are assembled on the host from kv and the shared rope key, q, K, V go up as BF16 (the kernel's type;
// the host values are BF16 already under the recipe), the forward keeps the kernel's BF16 output and
// FP32 log-sum-exp for the backward. Only the head dims the kernel is compiled for (qk 192, v 128) and
// the BF16 recipe run here; other shapes and the FP32 mode run the CPU op.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/attention/attention_cuda.h"
#include "kernels/attention/mla_layout_cpu.h"

namespace tandem::backend::cuda_ops {

namespace {

struct CudaAttentionState {
  std::vector<uint16_t> out;       // [T, H, v] BF16 bits, the kernel's output
  std::vector<float> lse;          // [S, H, L]
};

}  // namespace

bool cuda_attention_supported(const OpContext& c) {
  const auto& m = c.rt.program.model();
  return !c.exact() && m.qk_head_dim() == kc::kAttentionQkDim && m.v_head_dim == kc::kAttentionVDim;
}

void cuda_attention(const OpContext& c, const Env&) {
  if (!cuda_attention_supported(c)) return run_attention(c);
  const auto& m = c.rt.program.model();
  const auto& p = c.rt.program.plan();
  const int64_t S = p.micro_batch_seqs, L = p.seq_len, H = m.num_heads, nope = m.qk_nope_head_dim, rope = m.qk_rope_head_dim;
  const int64_t qk = m.qk_head_dim(), vd = m.v_head_dim, T = S * L, rows = T * H;
  const kernels::AttentionShape shape{S, L, H, qk, vd};
  const bool backward = !c.forward();
  const ValuePtr q = c.read(c.t.inputs.at(backward ? 1 : 0));
  const ValuePtr kv = c.read(c.t.inputs.at(backward ? 2 : 1));
  const ValuePtr kr = c.read(c.t.inputs.at(backward ? 3 : 2));
  if (int64_t(q->data.size()) != rows * qk || int64_t(kv->data.size()) != rows * (nope + vd) || int64_t(kr->data.size()) != T * rope)
    throw std::logic_error(fmt::format("{}: attention inputs of {}, {} and {} values for {} tokens x {} heads", c.where(),
                                       q->data.size(), kv->data.size(), kr->data.size(), T, H));
  std::vector<float> k_nope(size_t(rows * nope)), V(size_t(rows * vd)), K(size_t(rows * qk));
  kernels::split_columns(kv->data, rows, nope, vd, k_nope, V);
  kernels::concat_shared_rope(k_nope, kr->data, T, H, nope, rope, K);
  OpStage stage(*c.rt.device, c.stream);
  const auto qb = float_to_bf16(q->data), kb = float_to_bf16(K), vb = float_to_bf16(V);
  const uint16_t* dq_in = stage.upload(qb);
  const uint16_t* dk_in = stage.upload(kb);
  const uint16_t* dv_in = stage.upload(vb);
  const std::string key = fmt::format("cuda.attn.L{}.mb{}", c.t.layer, c.mb());
  if (!backward) {
    auto st = c.rt.aux<CudaAttentionState>(key, true);
    st->out.resize(size_t(rows * vd));
    st->lse.resize(size_t(S * H * L));
    uint16_t* out = stage.alloc<uint16_t>(st->out.size());
    float* lse = stage.alloc<float>(st->lse.size());
    kc::attention_forward_cuda(dq_in, dk_in, dv_in, shape, out, lse, stage.stream());
    stage.download(std::span(st->out), out);
    stage.download(std::span(st->lse), lse);
    stage.finish();
    Value o;
    o.rows = T;
    o.cols = H * vd;
    o.data = bf16_to_float(st->out);
    c.write(c.t.outputs.at(0), std::move(o));
    return;
  }
  const ValuePtr dout = c.read(c.t.inputs.at(0));
  const auto st = c.rt.aux<CudaAttentionState>(key, false);
  const auto db = float_to_bf16(dout->data);
  uint16_t* dq = stage.alloc<uint16_t>(size_t(rows * qk));
  uint16_t* dk = stage.alloc<uint16_t>(size_t(rows * qk));
  uint16_t* dv = stage.alloc<uint16_t>(size_t(rows * vd));
  kc::attention_backward_cuda(dq_in, dk_in, dv_in, stage.upload(st->out), stage.upload(st->lse), stage.upload(db), shape, dq, dk, dv,
                              stage.stream());
  std::vector<uint16_t> dqb(size_t(rows * qk)), dkb(size_t(rows * qk)), dvb(size_t(rows * vd));
  stage.download(std::span(dqb), dq);
  stage.download(std::span(dkb), dk);
  stage.download(std::span(dvb), dv);
  stage.finish();
  const auto dK = bf16_to_float(dkb), dV = bf16_to_float(dvb);
  std::vector<float> dk_nope(size_t(rows * nope));
  Value dqv, dkv, dkr;
  dqv.rows = dkv.rows = dkr.rows = T;
  dqv.cols = H * qk;
  dqv.data = bf16_to_float(dqb);
  dkr.cols = rope;
  dkr.data.resize(size_t(T * rope));
  kernels::concat_shared_rope_backward(dK, T, H, nope, rope, dk_nope, dkr.data);
  dkv.cols = H * (nope + vd);
  dkv.data.resize(size_t(rows * (nope + vd)));
  kernels::concat_columns(dk_nope, dV, rows, nope, vd, dkv.data);
  c.write(c.t.outputs.at(0), std::move(dqv));
  c.write(c.t.outputs.at(1), std::move(dkv));
  c.write(c.t.outputs.at(2), std::move(dkr));
}

}  // namespace tandem::backend::cuda_ops
