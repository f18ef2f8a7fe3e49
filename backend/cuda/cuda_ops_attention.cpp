// The CUDA kernel table's attention core (kernel_table.h): q, K and V go up as BF16 (the kernel's type;
// the host values are BF16 already under the recipe), the output comes back as the kernel's BF16 values
// and the log-sum-exp as FP32; the backward reads them as the forward left them. The kernel is compiled
// for DeepSeek-V3's head dims (qk 192, v 128) and BF16: other shapes and the FP32 mode are not its own.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/attention/attention_cuda.h"
#include "kernels/common/bf16.h"

namespace tandem::backend::cuda_ops {

namespace {

using std::span;

bool attention_supports(const KernelLaunch& l, const kernels::AttentionShape& shape) {
  return !l.exact && shape.qk_dim == kc::kAttentionQkDim && shape.v_dim == kc::kAttentionVDim;
}

void to_float(span<const uint16_t> bits, span<float> out) {
  for (size_t i = 0; i < bits.size(); ++i) out[i] = kernels::bf16_bits_to_float(bits[i]);
}

void attention_forward(const KernelLaunch& l, span<const float> q, span<const float> k, span<const float> v,
                       const kernels::AttentionShape& shape, span<float> out, span<float> lse) {
  if (!attention_supports(l, shape))
    throw std::invalid_argument(fmt::format("CUDA attention: head dims qk {} and v {} (the kernel's: {} and {}), exact {}",
                                            shape.qk_dim, shape.v_dim, kc::kAttentionQkDim, kc::kAttentionVDim, l.exact));
  OpStage stage(l);
  const auto qb = float_to_bf16(q), kb = float_to_bf16(k), vb = float_to_bf16(v);   // alive until finish()
  uint16_t* d_out = stage.alloc<uint16_t>(out.size());
  float* d_lse = stage.alloc<float>(lse.size());
  kc::attention_forward_cuda(stage.upload(qb), stage.upload(kb), stage.upload(vb), shape, d_out, d_lse, stage.stream());
  std::vector<uint16_t> bits(out.size());
  stage.download(span(bits), d_out);
  stage.download(lse, d_lse);
  stage.finish();
  to_float(bits, out);
}

void attention_backward(const KernelLaunch& l, span<const float> q, span<const float> k, span<const float> v, span<const float> out,
                        span<const float> lse, span<const float> dout, const kernels::AttentionShape& shape, span<float> dq,
                        span<float> dk, span<float> dv) {
  if (!attention_supports(l, shape))
    throw std::invalid_argument(fmt::format("CUDA attention: head dims qk {} and v {} (the kernel's: {} and {}), exact {}",
                                            shape.qk_dim, shape.v_dim, kc::kAttentionQkDim, kc::kAttentionVDim, l.exact));
  OpStage stage(l);
  // Alive until finish(): the copies are asynchronous.
  const auto qb = float_to_bf16(q), kb = float_to_bf16(k), vb = float_to_bf16(v), ob = float_to_bf16(out), db = float_to_bf16(dout);
  uint16_t* d_dq = stage.alloc<uint16_t>(dq.size());
  uint16_t* d_dk = stage.alloc<uint16_t>(dk.size());
  uint16_t* d_dv = stage.alloc<uint16_t>(dv.size());
  kc::attention_backward_cuda(stage.upload(qb), stage.upload(kb), stage.upload(vb), stage.upload(ob), stage.upload(lse),
                              stage.upload(db), shape, d_dq, d_dk, d_dv, stage.stream());
  std::vector<uint16_t> bq(dq.size()), bk(dk.size()), bv(dv.size());
  stage.download(span(bq), d_dq);
  stage.download(span(bk), d_dk);
  stage.download(span(bv), d_dv);
  stage.finish();
  to_float(bq, dq);
  to_float(bk, dk);
  to_float(bv, dv);
}

}  // namespace

void add_attention_kernels(KernelTable& table) {
  table.attention_forward.run = attention_forward;
  table.attention_backward.run = attention_backward;
  table.attention_supports = attention_supports;
}

}  // namespace tandem::backend::cuda_ops
