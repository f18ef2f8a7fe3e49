// The CPU kernel table (kernel_table.h): every entry, each a thin adapter over kernels/*_cpu (FP32
// math, FP8 emulated with E4M3 codes and block scales). It is the reference the other devices' tables
// are checked against, and the table an entry a device lacks falls back to.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/kernel_table.h"
#include "kernels/attention/rope_cpu.h"
#include "kernels/embedding/embedding_cpu.h"
#include "kernels/gemm/gemm_cpu.h"
#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/swiglu/swiglu_cpu.h"

namespace tandem::backend {

namespace {

using std::span;

// Rows and first row of segment e, or 0 rows when it is empty.
struct Segment {
  int64_t row0, rows;
};
Segment segment(span<const int64_t> segments, size_t e) { return {segments[e], segments[e + 1] - segments[e]}; }

void gemm_nt(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out, span<const int64_t> segments,
             int64_t n, int64_t k, bool) {
  for (size_t e = 0; e + 1 < segments.size(); ++e) {
    const auto [row0, rows] = segment(segments, e);
    if (rows <= 0) continue;
    kernels::matmul_nt(a.subspan(size_t(row0 * k), size_t(rows * k)), b.subspan(e * size_t(n * k), size_t(n * k)),
                       out.subspan(size_t(row0 * n), size_t(rows * n)), rows, n, k, false, l.threads);
  }
}

void gemm_nn(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out, span<const int64_t> segments,
             int64_t n, int64_t k, bool) {
  for (size_t e = 0; e + 1 < segments.size(); ++e) {
    const auto [row0, rows] = segment(segments, e);
    if (rows <= 0) continue;
    kernels::matmul_nn(a.subspan(size_t(row0 * k), size_t(rows * k)), b.subspan(e * size_t(n * k), size_t(n * k)),
                       out.subspan(size_t(row0 * n), size_t(rows * n)), rows, n, k, false, l.threads);
  }
}

void gemm_tn_accumulate(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out,
                        span<const int64_t> segments, int64_t n, int64_t k) {
  for (size_t e = 0; e + 1 < segments.size(); ++e) {
    const auto [row0, rows] = segment(segments, e);
    if (rows <= 0) continue;
    kernels::matmul_tn(a.subspan(size_t(row0 * n), size_t(rows * n)), b.subspan(size_t(row0 * k), size_t(rows * k)),
                       out.subspan(e * size_t(n * k), size_t(n * k)), n, k, rows, true, l.threads);
  }
}

void fp8_gemm_nt(const KernelLaunch& l, const Fp8Matrix& a, span<const Fp8Matrix* const> b, span<float> out,
                 span<const int64_t> segments) {
  if (b.size() + 1 != segments.size())
    throw std::logic_error(fmt::format("fp8_gemm_nt: {} weight blocks for {} segments", b.size(), segments.size() - 1));
  for (size_t e = 0; e + 1 < segments.size(); ++e) {
    const auto [row0, rows] = segment(segments, e);
    if (rows <= 0) continue;
    const int64_t n = b[e]->rows;
    kernels::fp8_gemm_nt(a.row_view(row0, rows), b[e]->view(), out.subspan(size_t(row0 * n), size_t(rows * n)),
                         kernels::Fp8GemmOutput::Fp32, l.threads);
  }
}

void fp8_gemm_wgrad(const KernelLaunch& l, const Fp8Matrix& a, const Fp8Matrix& b, span<float> dw) {
  kernels::fp8_gemm_nt(a.view(), b.view(), dw, kernels::Fp8GemmOutput::AccumulateFp32, l.threads);
}

Fp8Matrix quantize_fp8(const KernelLaunch&, span<const float> x, int64_t rows, int64_t cols, bool pow2_scales) {
  return quantize(x, rows, cols, kernels::Fp8ScaleLayout::Tile1x128, pow2_scales);
}

Fp8Matrix transpose_requantize_fp8(const KernelLaunch&, span<const uint8_t> codes, span<const float> scales, int64_t rows,
                                   int64_t cols, bool pow2_scales) {
  Fp8Matrix out;
  out.rows = cols;
  out.cols = rows;
  out.layout = kernels::Fp8ScaleLayout::Tile1x128;
  out.codes.resize(size_t(rows * cols));
  out.scales.resize(size_t(kernels::fp8_scale_count(out.layout, cols, rows)));
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2_scales;
  kernels::transpose_requantize_fp8(codes, scales, rows, cols, config, out.codes, out.scales);
  return out;
}

void rmsnorm_forward(const KernelLaunch&, span<const float> x, span<const float> weight, int64_t rows, int64_t dim, float eps,
                     span<float> y, span<float> rstd) {
  kernels::rmsnorm_forward(x, weight, rows, dim, eps, y, rstd);
}

void rmsnorm_backward(const KernelLaunch&, span<const float> x, span<const float> weight, span<const float> dy, int64_t rows,
                      int64_t dim, float eps, span<float> dx, span<float> dweight) {
  std::vector<float> y(x.size()), rstd(static_cast<size_t>(rows));
  kernels::rmsnorm_forward(x, weight, rows, dim, eps, y, rstd);
  kernels::rmsnorm_backward_input(x, weight, rstd, dy, rows, dim, dx);
  kernels::rmsnorm_backward_weight(x, rstd, dy, rows, dim, dweight);
}

void swiglu_forward(const KernelLaunch&, span<const float> u, int64_t rows, int64_t width, span<float> a) {
  kernels::swiglu_forward_fused(u, rows, width, a);
}

void swiglu_backward(const KernelLaunch&, span<const float> u, span<const float> da, int64_t rows, int64_t width,
                     span<float> du) {
  kernels::swiglu_backward_fused(u, da, rows, width, du);
}

void router_forward(const KernelLaunch&, span<const float> logits, span<const float> bias, const kernels::RouterConfig& config,
                    span<float> scores, span<int32_t> topk, span<float> weights) {
  kernels::router_forward(logits, bias, config, scores, topk, weights);
}

void router_weights_backward(const KernelLaunch&, span<const float> scores, span<const int32_t> topk, span<const float> dweights,
                             const kernels::RouterConfig& config, span<float> dscores) {
  kernels::router_weights_backward(scores, topk, dweights, config, dscores);
}

void router_sigmoid_backward(const KernelLaunch&, span<const float> scores, span<const float> dscores, span<float> dlogits) {
  kernels::router_sigmoid_backward(scores, dscores, dlogits);
}

kernels::PermuteIndex build_permute_index(const KernelLaunch&, span<const int32_t> ids, int64_t top_k, int64_t experts) {
  return kernels::build_permute_index(ids, top_k, experts);
}

void permute_forward(const KernelLaunch&, const void* x, int64_t element_bytes, const kernels::PermuteIndex& index, int64_t dim,
                     void* out) {
  const size_t row_bytes = size_t(dim * element_bytes);
  for (int64_t r = 0; r < index.rows; ++r) {
    auto* dst = static_cast<std::byte*>(out) + size_t(r) * row_bytes;
    const int32_t source = index.row_source[size_t(r)];
    if (source < 0) {
      std::memset(dst, 0, row_bytes);   // padding
    } else {
      std::memcpy(dst, static_cast<const std::byte*>(x) + size_t(source / index.top_k) * row_bytes, row_bytes);
    }
  }
}

void permute_backward(const KernelLaunch&, span<const float> rows, const kernels::PermuteIndex& index, int64_t dim,
                      span<float> dx) {
  kernels::permute_backward(rows, index, dim, dx);
}

void unpermute_forward(const KernelLaunch&, span<const float> y, span<const float> weights, const kernels::PermuteIndex& index,
                       int64_t dim, span<float> out) {
  kernels::unpermute_forward(y, weights, index, dim, out);
}

void unpermute_backward(const KernelLaunch&, span<const float> y, span<const float> weights, span<const float> dout,
                        const kernels::PermuteIndex& index, int64_t dim, span<float> dy, span<float> dweights) {
  kernels::unpermute_backward(y, weights, dout, index, dim, dy, dweights);
}

void attention_forward(const KernelLaunch& l, span<const float> q, span<const float> k, span<const float> v,
                       const kernels::AttentionShape& shape, span<float> out, span<float> lse) {
  kernels::attention_forward(q, k, v, shape, out, lse, l.threads);
}

void attention_backward(const KernelLaunch& l, span<const float> q, span<const float> k, span<const float> v,
                        span<const float> out, span<const float> lse, span<const float> dout,
                        const kernels::AttentionShape& shape, span<float> dq, span<float> dk, span<float> dv) {
  kernels::attention_backward(q, k, v, out, lse, dout, shape, dq, dk, dv, l.threads);
}

void rope_forward(const KernelLaunch&, span<const float> x, span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                  span<const float> cos, span<const float> sin, span<float> out) {
  kernels::rope_forward(x, positions, heads, rope_dim, cos, sin, out);
}

void rope_backward(const KernelLaunch&, span<const float> dy, span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                   span<const float> cos, span<const float> sin, span<float> dx) {
  kernels::rope_backward(dy, positions, heads, rope_dim, cos, sin, dx);
}

double cross_entropy_forward(const KernelLaunch&, span<const float> logits, span<const int32_t> targets, int64_t vocab,
                             span<float> lse) {
  return kernels::cross_entropy_forward(logits, targets, vocab, kernels::kIgnoreIndex, lse);
}

void cross_entropy_backward(const KernelLaunch&, span<const float> logits, span<const int32_t> targets, span<const float> lse,
                            int64_t vocab, float scale, span<float> dlogits) {
  kernels::cross_entropy_backward(logits, targets, lse, vocab, kernels::kIgnoreIndex, scale, dlogits);
}

void embedding_forward(const KernelLaunch&, span<const int32_t> ids, span<const float> table, int64_t vocab, int64_t dim,
                       span<float> out) {
  kernels::embedding_forward(ids, table, vocab, dim, out);
}

void embedding_backward(const KernelLaunch&, span<const int32_t> ids, span<const float> dout, int64_t vocab, int64_t dim,
                        span<float> dtable) {
  kernels::embedding_backward_weight(ids, dout, vocab, dim, dtable);
}

void adamw_step(const KernelLaunch&, span<float> params, span<const float> grads, span<float> m, span<float> v, int64_t step,
                const kernels::AdamWConfig& config) {
  kernels::adamw_step(params, grads, m, v, step, config);
}

double sum_of_squares(const KernelLaunch&, span<const float> values) { return kernels::sum_of_squares(values); }

void scale_in_place(const KernelLaunch&, span<float> values, float factor) { kernels::scale_in_place(values, factor); }

KernelTable make_cpu_table() {
  KernelTable t{"cpu"};
  t.gemm_nt.run = gemm_nt;
  t.gemm_nn.run = gemm_nn;
  t.gemm_tn_accumulate.run = gemm_tn_accumulate;
  t.fp8_gemm_nt.run = fp8_gemm_nt;
  t.fp8_gemm_wgrad.run = fp8_gemm_wgrad;
  t.quantize_fp8.run = quantize_fp8;
  t.transpose_requantize_fp8.run = transpose_requantize_fp8;
  t.rmsnorm_forward.run = rmsnorm_forward;
  t.rmsnorm_backward.run = rmsnorm_backward;
  t.swiglu_forward.run = swiglu_forward;
  t.swiglu_backward.run = swiglu_backward;
  t.router_forward.run = router_forward;
  t.router_weights_backward.run = router_weights_backward;
  t.router_sigmoid_backward.run = router_sigmoid_backward;
  t.build_permute_index.run = build_permute_index;
  t.permute_forward.run = permute_forward;
  t.permute_backward.run = permute_backward;
  t.unpermute_forward.run = unpermute_forward;
  t.unpermute_backward.run = unpermute_backward;
  t.attention_forward.run = attention_forward;
  t.attention_backward.run = attention_backward;
  t.rope_forward.run = rope_forward;
  t.rope_backward.run = rope_backward;
  t.cross_entropy_forward.run = cross_entropy_forward;
  t.cross_entropy_backward.run = cross_entropy_backward;
  t.embedding_forward.run = embedding_forward;
  t.embedding_backward.run = embedding_backward;
  t.adamw_step.run = adamw_step;
  t.sum_of_squares.run = sum_of_squares;
  t.scale_in_place.run = scale_in_place;
  return t;
}

}  // namespace

std::vector<std::pair<std::string, bool>> KernelTable::entries() const {
  std::vector<std::pair<std::string, bool>> out;
  auto add = [&](const auto& e) { out.emplace_back(e.name, e.run != nullptr); };
  add(gemm_nt);
  add(gemm_nn);
  add(gemm_tn_accumulate);
  add(fp8_gemm_nt);
  add(fp8_gemm_wgrad);
  add(quantize_fp8);
  add(transpose_requantize_fp8);
  add(rmsnorm_forward);
  add(rmsnorm_backward);
  add(swiglu_forward);
  add(swiglu_backward);
  add(router_forward);
  add(router_weights_backward);
  add(router_sigmoid_backward);
  add(build_permute_index);
  add(permute_forward);
  add(permute_backward);
  add(unpermute_forward);
  add(unpermute_backward);
  add(attention_forward);
  add(attention_backward);
  add(rope_forward);
  add(rope_backward);
  add(cross_entropy_forward);
  add(cross_entropy_backward);
  add(embedding_forward);
  add(embedding_backward);
  add(adamw_step);
  add(sum_of_squares);
  add(scale_in_place);
  return out;
}

const KernelTable& cpu_kernel_table() {
  static const KernelTable table = make_cpu_table();
  return table;
}

}  // namespace tandem::backend
