// MLA attention: RoPE on the rope part of every query head and on the shared rope key, and the causal
// attention core, on the kernel table (a device that does not run the model's head dims, or the FP32
// mode, leaves the core to the CPU table). Query heads are [nope | rope] (qk_head_dim), the up-projected
// kv holds per head [k_nope | v]; the key of head h is [k_nope_h | k_rope], the rope key shared by all heads.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"
#include "kernels/attention/mla_layout_cpu.h"
#include "kernels/attention/rope_cpu.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

struct Dims {
  int64_t seqs, len, heads, nope, rope, v, qk, latent;
  int64_t tokens() const { return seqs * len; }
};

Dims dims_of(const OpContext& c) {
  const auto& m = c.rt.program.model();
  const auto& p = c.rt.program.plan();
  // With TP the rank's heads (q_up and kv_up are column-split by head), on the gathered sequence.
  return {p.micro_batch_seqs, p.seq_len, m.num_heads / p.tp, m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim,
          m.qk_head_dim(), m.kv_lora_rank + m.qk_rope_head_dim};
}

// Position of every token in its sequence and the rotation tables.
struct RopeTables {
  std::vector<int32_t> positions;
  std::vector<float> cos, sin;
};

RopeTables rope_tables(const OpContext& c, const Dims& d) {
  RopeTables r;
  r.positions.resize(size_t(d.tokens()));
  for (int64_t t = 0; t < d.tokens(); ++t) r.positions[size_t(t)] = int32_t(t % d.len);
  r.cos.resize(size_t(d.len * d.rope / 2));
  r.sin.resize(r.cos.size());
  kernels::rope_tables(d.len, d.rope, c.rt.program.model().rope_theta, r.cos, r.sin);
  return r;
}

struct AttentionState {
  std::vector<float> out, lse;   // the core's FP32 output [T, H, v] and log-sum-exp [S, H, L]
};

std::string attention_key(const OpContext& c) {
  return "attn.L" + std::to_string(c.t.layer) + ".mb" + std::to_string(c.mb());
}

// K [T, H, qk] and V [T, H, v] of the core from kv [T, H, nope + v] and the shared rope key [T, rope].
void assemble(const Dims& d, const Value& kv, const Value& kr, std::vector<float>& K, std::vector<float>& V) {
  const int64_t rows = d.tokens() * d.heads;
  std::vector<float> k_nope(size_t(rows * d.nope));
  V.resize(size_t(rows * d.v));
  kernels::split_columns(kv.data, rows, d.nope, d.v, k_nope, V);
  K.resize(size_t(rows * d.qk));
  kernels::concat_shared_rope(k_nope, kr.data, d.tokens(), d.heads, d.nope, d.rope, K);
}

}  // namespace

// F: {query, kv_latent} -> {query (rotated), rope_key}: positions restart in every sequence.
// B: {query_grad, rope_key_grad, query, kv_latent} -> {query_grad, kv_latent_grad} (the inverse
// rotation; nope parts pass).
void run_rope(const OpContext& c, OpKernels& k) {
  const Dims d = dims_of(c);
  const int64_t T = d.tokens(), rows = T * d.heads;
  const RopeTables rt = rope_tables(c, d);
  std::vector<float> nope(size_t(rows * d.nope)), pe(size_t(rows * d.rope));
  std::vector<float> latent_part(size_t(T * (d.latent - d.rope))), k_pe(size_t(T * d.rope));
  if (c.forward()) {
    const ValuePtr q = c.read(c.t.in(S::Query));
    const ValuePtr latent = c.read(c.t.in(S::KvLatent));
    kernels::split_columns(q->data, rows, d.nope, d.rope, nope, pe);
    k.call(&KernelTable::rope_forward, pe, rt.positions, d.heads, d.rope, rt.cos, rt.sin, pe);
    Value qr = float_matrix(T, d.heads * d.qk);
    kernels::concat_columns(nope, pe, rows, d.nope, d.rope, qr.data);
    kernels::split_columns(latent->data, T, d.latent - d.rope, d.rope, latent_part, k_pe);
    Value kr = float_matrix(T, d.rope);
    k.call(&KernelTable::rope_forward, k_pe, rt.positions, 1, d.rope, rt.cos, rt.sin, kr.data);
    c.write(c.t.out(S::Query), std::move(qr));
    c.write(c.t.out(S::RopeKey), std::move(kr));
    return;
  }
  const ValuePtr dqr = c.read(c.t.in(S::QueryGrad));
  const ValuePtr dkr = c.read(c.t.in(S::RopeKeyGrad));
  kernels::split_columns(dqr->data, rows, d.nope, d.rope, nope, pe);
  k.call(&KernelTable::rope_backward, pe, rt.positions, d.heads, d.rope, rt.cos, rt.sin, pe);
  Value dq = float_matrix(T, d.heads * d.qk);
  kernels::concat_columns(nope, pe, rows, d.nope, d.rope, dq.data);
  k.call(&KernelTable::rope_backward, dkr->data, rt.positions, 1, d.rope, rt.cos, rt.sin, k_pe);
  std::fill(latent_part.begin(), latent_part.end(), 0.0f);   // the latent's norm part gets no gradient here
  Value dlatent = float_matrix(T, d.latent);
  kernels::concat_columns(latent_part, k_pe, T, d.latent - d.rope, d.rope, dlatent.data);
  c.write(c.t.out(S::QueryGrad), std::move(dq));
  c.write(c.t.out(S::KvLatentGrad), std::move(dlatent));
}

// F: {query, key_value, rope_key} -> output. B: {output_grad, query, key_value, rope_key, saved (the
// forward's output)} -> {query_grad, key_value_grad, rope_key_grad}.
void run_attention(const OpContext& c, OpKernels& k) {
  const Dims d = dims_of(c);
  const int64_t T = d.tokens(), rows = T * d.heads;
  const kernels::AttentionShape shape{d.seqs, d.len, d.heads, d.qk, d.v};
  const bool on_device = k.attention_supported(shape);
  const bool backward = !c.forward();
  const ValuePtr q = c.read(c.t.in(S::Query));
  const ValuePtr kv = c.read(c.t.in(S::KeyValue));
  const ValuePtr kr = c.read(c.t.in(S::RopeKey));
  if (int64_t(q->data.size()) != rows * d.qk || int64_t(kv->data.size()) != rows * (d.nope + d.v) ||
      int64_t(kr->data.size()) != T * d.rope)
    throw std::logic_error(fmt::format("{}: attention inputs of {}, {} and {} values for {} tokens x {} heads", c.where(),
                                       q->data.size(), kv->data.size(), kr->data.size(), T, d.heads));
  std::vector<float> K, V;
  assemble(d, *kv, *kr, K, V);
  if (!backward) {
    auto st = c.rt.aux<AttentionState>(attention_key(c), true);
    st->out.resize(size_t(rows * d.v));
    st->lse.resize(size_t(d.seqs * d.heads * d.len));
    k.call_if(on_device, &KernelTable::attention_forward, q->data, K, V, shape, st->out, st->lse);
    Value o;
    o.rows = T;
    o.cols = d.heads * d.v;
    o.data = st->out;
    c.write(c.t.out(S::Output), std::move(o));
    return;
  }
  // The core's own output and log-sum-exp from the forward (attn_out is its copy in the tensor's dtype).
  const ValuePtr dout = c.read(c.t.in(S::OutputGrad));
  const auto st = c.rt.aux<AttentionState>(attention_key(c), false);
  std::vector<float> dQ(q->data.size()), dK(K.size()), dV(V.size());
  k.call_if(on_device, &KernelTable::attention_backward, q->data, K, V, st->out, st->lse, dout->data, shape, dQ, dK, dV);
  std::vector<float> dk_nope(size_t(rows * d.nope));
  Value dq, dkv, dkr;
  dq.rows = dkv.rows = dkr.rows = T;
  dq.cols = d.heads * d.qk;
  dq.data = std::move(dQ);
  dkr.cols = d.rope;
  dkr.data.resize(size_t(T * d.rope));
  kernels::concat_shared_rope_backward(dK, T, d.heads, d.nope, d.rope, dk_nope, dkr.data);
  dkv.cols = d.heads * (d.nope + d.v);
  dkv.data.resize(size_t(rows * (d.nope + d.v)));
  kernels::concat_columns(dk_nope, dV, rows, d.nope, d.v, dkv.data);
  c.write(c.t.out(S::QueryGrad), std::move(dq));
  c.write(c.t.out(S::KeyValueGrad), std::move(dkv));
  c.write(c.t.out(S::RopeKeyGrad), std::move(dkr));
}

}  // namespace tandem::backend
