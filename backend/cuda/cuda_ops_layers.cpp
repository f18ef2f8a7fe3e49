// The CUDA kernel table's RMSNorm, SwiGLU, cross-entropy and router entries (kernel_table.h has what
// each computes): activations go up as FP32 (the host values, already rounded as their dtype says), the
// kernels compute in FP32, results come back as FP32.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/loss/cross_entropy_cuda.h"
#include "kernels/norm/rmsnorm_cuda.h"
#include "kernels/router/router_cuda.h"
#include "kernels/swiglu/swiglu_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

using std::span;
constexpr kc::ActType kF32 = kc::ActType::F32;

void rmsnorm_forward(const KernelLaunch& l, span<const float> x, span<const float> weight, int64_t rows, int64_t dim, float eps,
                     span<float> y, span<float> rstd) {
  if (rows == 0) return;
  OpStage stage(l);
  float* dy = stage.alloc<float>(y.size());
  float* dr = stage.alloc<float>(size_t(rows));
  kc::rmsnorm_forward_cuda(stage.upload(x), kF32, stage.upload(weight), rows, dim, eps, dy, dr, stage.stream());
  stage.download(y, dy);
  stage.download(rstd, dr);
  stage.finish();
}

// The forward again for rstd, then dx and the weight gradient, added into dweight by the kernel's
// two-pass reduction.
void rmsnorm_backward(const KernelLaunch& l, span<const float> x, span<const float> weight, span<const float> dy, int64_t rows,
                      int64_t dim, float eps, span<float> dx, span<float> dweight) {
  if (rows == 0) return;
  OpStage stage(l);
  const float* dxin = stage.upload(x);
  const float* dw = stage.upload(weight);
  float* y = stage.alloc<float>(x.size());
  float* rstd = stage.alloc<float>(size_t(rows));
  kc::rmsnorm_forward_cuda(dxin, kF32, dw, rows, dim, eps, y, rstd, stage.stream());
  const float* ddy = stage.upload(dy);
  float* dxo = stage.alloc<float>(dx.size());
  float* partial = stage.alloc<float>(size_t(kc::rmsnorm_weight_partial_count(rows, dim)));
  float* dgrad = stage.upload(span<const float>(dweight));
  kc::rmsnorm_backward_input_cuda(dxin, dw, rstd, ddy, kF32, rows, dim, dxo, stage.stream());
  kc::rmsnorm_backward_weight_cuda(dxin, rstd, ddy, kF32, rows, dim, partial, dgrad, stage.stream());
  stage.download(dx, dxo);
  stage.download(dweight, dgrad);
  stage.finish();
}

void swiglu_forward(const KernelLaunch& l, span<const float> u, int64_t rows, int64_t width, span<float> a) {
  if (a.empty()) return;
  OpStage stage(l);
  float* da = stage.alloc<float>(a.size());
  kc::swiglu_forward_fused_cuda(stage.upload(u), kF32, rows, width, da, stage.stream());
  stage.download(a, da);
  stage.finish();
}

void swiglu_backward(const KernelLaunch& l, span<const float> u, span<const float> da, int64_t rows, int64_t width,
                     span<float> du) {
  if (du.empty()) return;
  OpStage stage(l);
  float* ddu = stage.alloc<float>(du.size());
  kc::swiglu_backward_fused_cuda(stage.upload(u), stage.upload(da), kF32, rows, width, ddu, stage.stream());
  stage.download(du, ddu);
  stage.finish();
}

double cross_entropy_forward(const KernelLaunch& l, span<const float> logits, span<const int32_t> targets, int64_t vocab,
                             span<float> lse) {
  const int64_t tokens = int64_t(targets.size());
  kc::CrossEntropyTotals totals;
  OpStage stage(l);
  float* dlse = stage.alloc<float>(size_t(tokens));
  float* token_loss = stage.alloc<float>(size_t(tokens));
  auto* dtotals = stage.alloc<kc::CrossEntropyTotals>(1);
  kc::cross_entropy_forward_cuda(stage.upload(logits), kF32, stage.upload(targets), tokens, vocab, kernels::kIgnoreIndex, dlse,
                                 token_loss, dtotals, stage.stream());
  stage.download(lse, dlse);
  stage.download(span(&totals, 1), dtotals);
  stage.finish();
  if (totals.invalid > 0)
    throw std::out_of_range(fmt::format("cross_entropy_forward: {} targets outside the vocabulary of {}", totals.invalid, vocab));
  return totals.mean_loss;
}

void cross_entropy_backward(const KernelLaunch& l, span<const float> logits, span<const int32_t> targets, span<const float> lse,
                            int64_t vocab, float scale, span<float> dlogits) {
  const int64_t tokens = int64_t(targets.size());
  if (dlogits.empty()) return;
  kc::CrossEntropyTotals totals;   // the backward reads the count of targets the mean is over
  totals.counted = std::count_if(targets.begin(), targets.end(), [](int32_t t) { return t != kernels::kIgnoreIndex; });
  OpStage stage(l);
  float* dg = stage.alloc<float>(dlogits.size());
  kc::cross_entropy_backward_cuda(stage.upload(logits), kF32, stage.upload(targets), stage.upload(lse),
                                  stage.upload(span<const kc::CrossEntropyTotals>(&totals, 1)), tokens, vocab, kernels::kIgnoreIndex,
                                  scale, dg, stage.stream());
  stage.download(dlogits, dg);
  stage.finish();
}

void router_forward(const KernelLaunch& l, span<const float> logits, span<const float> bias, const kernels::RouterConfig& config,
                    span<float> scores, span<int32_t> topk, span<float> weights) {
  const int64_t tokens = config.experts > 0 ? int64_t(logits.size()) / config.experts : 0;
  if (tokens == 0) return;
  OpStage stage(l);
  float* ds = stage.alloc<float>(scores.size());
  int32_t* dt = stage.alloc<int32_t>(topk.size());
  float* dw = stage.alloc<float>(weights.size());
  kc::router_forward_cuda(stage.upload(logits), stage.upload(bias), tokens, config, ds, dt, dw, stage.stream());
  stage.download(scores, ds);
  stage.download(topk, dt);
  stage.download(weights, dw);
  stage.finish();
}

void router_weights_backward(const KernelLaunch& l, span<const float> scores, span<const int32_t> topk, span<const float> dweights,
                             const kernels::RouterConfig& config, span<float> dscores) {
  const int64_t tokens = config.top_k > 0 ? int64_t(topk.size()) / config.top_k : 0;
  if (tokens == 0) return;
  OpStage stage(l);
  float* dd = stage.alloc<float>(dscores.size());
  kc::router_weights_backward_cuda(stage.upload(scores), stage.upload(topk), stage.upload(dweights), tokens, config, dd,
                                   stage.stream());
  stage.download(dscores, dd);
  stage.finish();
}

void router_sigmoid_backward(const KernelLaunch& l, span<const float> scores, span<const float> dscores, span<float> dlogits) {
  if (dlogits.empty()) return;
  OpStage stage(l);
  float* dl = stage.alloc<float>(dlogits.size());
  kc::router_sigmoid_backward_cuda(stage.upload(scores), stage.upload(dscores), int64_t(dlogits.size()), dl, stage.stream());
  stage.download(dlogits, dl);
  stage.finish();
}

}  // namespace

void add_layer_kernels(KernelTable& table) {
  table.rmsnorm_forward.run = rmsnorm_forward;
  table.rmsnorm_backward.run = rmsnorm_backward;
  table.swiglu_forward.run = swiglu_forward;
  table.swiglu_backward.run = swiglu_backward;
  table.cross_entropy_forward.run = cross_entropy_forward;
  table.cross_entropy_backward.run = cross_entropy_backward;
  table.router_forward.run = router_forward;
  table.router_weights_backward.run = router_weights_backward;
  table.router_sigmoid_backward.run = router_sigmoid_backward;
}

}  // namespace tandem::backend::cuda_ops
