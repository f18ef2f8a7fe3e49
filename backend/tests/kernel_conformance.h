// The device-conformance suite of the kernel tables (backend/ops/kernel_table.h): every entry a table has
// runs on small fixed inputs and is compared with the CPU reference — the GEMMs with a double-precision
// product of the same (dequantised) operands, the other entries with kernels/*_cpu called directly.
// backend_tests runs it on the CPU table, backend_cuda_tests on the CUDA table where a GPU exists.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/ops/kernel_table.h"
#include "kernels/attention/rope_cpu.h"
#include "kernels/common/bf16.h"
#include "kernels/embedding/embedding_cpu.h"
#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/swiglu/swiglu_cpu.h"

namespace tandem::backend::test {

// Bounds on max |got − reference| / max(1, max |reference|) per family.
struct KernelTolerances {
  double fp32_gemm = 1e-5;     // float GEMMs against the double product
  double bf16_gemm = 1e-5;     // float GEMMs told their values are BF16 (a device may multiply in BF16)
  double fp8_gemm = 1e-5;      // FP8 GEMMs against the double product of the dequantised operands
  double math = 0;             // norm, SwiGLU, router, combine, cross-entropy, RoPE, embedding, optimizer
  double attention = 0;
};

namespace conformance {

// Values in [-scale, scale) from a fixed xorshift sequence.
inline std::vector<float> values(size_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x = scale * (float(s % 20001) / 10000.0f - 1.0f);
  }
  return v;
}

inline std::vector<float> bf16_rounded(std::vector<float> v) {
  for (auto& x : v) x = kernels::bf16_bits_to_float(kernels::float_to_bf16_bits(x));
  return v;
}

template <typename A, typename B>
double relative_error(const A& got, const B& ref) {
  REQUIRE(got.size() == ref.size());
  double err = 0, scale = 1;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::abs(double(ref[i])));
    const double d = std::abs(double(got[i]) - double(ref[i]));
    err = std::max(err, std::isnan(d) ? INFINITY : d);
  }
  return err / scale;
}

#define TANDEM_CHECK_CLOSE(got, ref, tol)                       \
  do {                                                          \
    const double tandem_err_ = conformance::relative_error(got, ref); \
    INFO(#got << ": relative error " << tandem_err_ << ", bound " << (tol)); \
    CHECK(tandem_err_ <= (tol));                                \
  } while (0)

// Segments {0, 5, 5, 12}: three weight blocks, the middle one without rows.
inline const std::vector<int64_t> kSegments{0, 5, 5, 12};

inline void check_float_gemms(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  const int64_t m = kSegments.back(), n = 24, k = 40, blocks = int64_t(kSegments.size()) - 1;
  const auto a = values(size_t(m * k), 1), b = values(size_t(blocks * n * k), 2);
  auto block_of = [](int64_t r) {
    size_t e = 0;
    while (r >= kSegments[e + 1]) ++e;
    return int64_t(e);
  };
  if (t.gemm_nt.run) {   // out[r, j] = Σ a[r, x] b_e[j, x]
    std::vector<double> ref(size_t(m * n), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t x = 0; x < k; ++x) ref[size_t(r * n + j)] += double(a[size_t(r * k + x)]) * b[size_t((block_of(r) * n + j) * k + x)];
    std::vector<float> out(ref.size());
    t.gemm_nt.run(l, a, b, out, kSegments, n, k, false);
    TANDEM_CHECK_CLOSE(out, ref, tol.fp32_gemm);
    // Dense, BF16 values, shapes a BF16 GEMM takes (multiples of 8).
    const auto ab = bf16_rounded(a), bb = bf16_rounded(std::vector<float>(b.begin(), b.begin() + n * k));
    std::vector<double> dense(size_t(m * n), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t x = 0; x < k; ++x) dense[size_t(r * n + j)] += double(ab[size_t(r * k + x)]) * bb[size_t(j * k + x)];
    std::vector<float> out16(dense.size());
    const std::vector<int64_t> whole{0, m};
    t.gemm_nt.run(l, ab, bb, out16, whole, n, k, true);
    TANDEM_CHECK_CLOSE(out16, dense, tol.bf16_gemm);
  }
  if (t.gemm_nn.run) {   // out[r, j] = Σ a[r, x] b_e[x, j] with b_e [k, n]
    std::vector<double> ref(size_t(m * n), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t x = 0; x < k; ++x) ref[size_t(r * n + j)] += double(a[size_t(r * k + x)]) * b[size_t((block_of(r) * k + x) * n + j)];
    std::vector<float> out(ref.size());
    t.gemm_nn.run(l, a, b, out, kSegments, n, k, false);
    TANDEM_CHECK_CLOSE(out, ref, tol.fp32_gemm);
  }
  if (t.gemm_tn_accumulate.run) {   // out_e[i, j] = init + Σ_{r in e} g[r, i] x[r, j], g [m, n], x [m, k]
    const auto g = values(size_t(m * n), 3), init = values(size_t(blocks * n * k), 4);
    std::vector<double> ref(init.begin(), init.end());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j) ref[size_t((block_of(r) * n + i) * k + j)] += double(g[size_t(r * n + i)]) * a[size_t(r * k + j)];
    std::vector<float> out = init;
    t.gemm_tn_accumulate.run(l, g, a, out, kSegments, n, k);
    TANDEM_CHECK_CLOSE(out, ref, tol.fp32_gemm);
  }
}

inline void check_fp8(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  using kernels::Fp8ScaleLayout;
  const int64_t m = kSegments.back(), n = 136, k = 256, blocks = int64_t(kSegments.size()) - 1;
  const auto xa = values(size_t(m * k), 5, 3.0f);
  const Fp8Matrix a = quantize(xa, m, k, Fp8ScaleLayout::Tile1x128, false);
  std::vector<Fp8Matrix> w;
  for (int64_t e = 0; e < blocks; ++e) w.push_back(quantize(values(size_t(n * k), 6 + uint64_t(e)), n, k, Fp8ScaleLayout::Block128x128, false));
  if (t.fp8_gemm_nt.run) {
    const auto da = a.dequantize();
    std::vector<double> ref(size_t(m * n), 0.0);
    std::vector<const Fp8Matrix*> ptrs;
    for (int64_t e = 0; e < blocks; ++e) {
      ptrs.push_back(&w[size_t(e)]);
      const auto dw = w[size_t(e)].dequantize();
      for (int64_t r = kSegments[size_t(e)]; r < kSegments[size_t(e + 1)]; ++r)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t x = 0; x < k; ++x) ref[size_t(r * n + j)] += double(da[size_t(r * k + x)]) * dw[size_t(j * k + x)];
    }
    std::vector<float> out(ref.size());
    t.fp8_gemm_nt.run(l, a, ptrs, out, kSegments);
    TANDEM_CHECK_CLOSE(out, ref, tol.fp8_gemm);
  }
  if (t.fp8_gemm_wgrad.run) {   // dw[i, j] += Σ_t ga[i, t] gb[j, t], both tiled along t
    const int64_t tokens = 256, rows_a = 24, rows_b = 40;
    const Fp8Matrix ga = quantize(values(size_t(rows_a * tokens), 9), rows_a, tokens, Fp8ScaleLayout::Tile1x128, false);
    const Fp8Matrix gb = quantize(values(size_t(rows_b * tokens), 10), rows_b, tokens, Fp8ScaleLayout::Tile1x128, false);
    const auto init = values(size_t(rows_a * rows_b), 11), fa = ga.dequantize(), fb = gb.dequantize();
    std::vector<double> ref(init.begin(), init.end());
    for (int64_t i = 0; i < rows_a; ++i)
      for (int64_t j = 0; j < rows_b; ++j)
        for (int64_t x = 0; x < tokens; ++x) ref[size_t(i * rows_b + j)] += double(fa[size_t(i * tokens + x)]) * fb[size_t(j * tokens + x)];
    std::vector<float> dw = init;
    t.fp8_gemm_wgrad.run(l, ga, gb, dw);
    TANDEM_CHECK_CLOSE(dw, ref, tol.fp8_gemm);
  }
  // The casts are exact: the same codes and scales as the reference (STYLE: FP8 rounding has one answer).
  for (bool pow2 : {false, true}) {
    INFO("pow2 scales " << pow2);
    if (t.quantize_fp8.run) {
      const Fp8Matrix ref = quantize(xa, m, k, Fp8ScaleLayout::Tile1x128, pow2);
      const Fp8Matrix got = t.quantize_fp8.run(l, xa, m, k, pow2);
      CHECK(got.rows == m);
      CHECK(got.cols == k);
      CHECK(got.codes == ref.codes);
      CHECK(got.scales == ref.scales);
    }
    if (t.transpose_requantize_fp8.run) {
      Fp8Matrix ref;
      ref.codes.resize(a.codes.size());
      ref.scales.resize(size_t(kernels::fp8_scale_count(Fp8ScaleLayout::Tile1x128, k, m)));
      kernels::Fp8QuantConfig config;
      config.pow2_scales = pow2;
      kernels::transpose_requantize_fp8(a.codes, a.scales, m, k, config, ref.codes, ref.scales);
      const Fp8Matrix got = t.transpose_requantize_fp8.run(l, a.codes, a.scales, m, k, pow2);
      CHECK(got.rows == k);
      CHECK(got.cols == m);
      CHECK(got.codes == ref.codes);
      CHECK(got.scales == ref.scales);
    }
  }
}

inline void check_layers(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  const int64_t rows = 7, dim = 48;
  const auto x = values(size_t(rows * dim), 12, 2.0f), w = values(size_t(dim), 13), dy = values(size_t(rows * dim), 14);
  if (t.rmsnorm_forward.run) {
    std::vector<float> ry(x.size()), rr(static_cast<size_t>(rows)), y(x.size()), r(static_cast<size_t>(rows));
    kernels::rmsnorm_forward(x, w, rows, dim, 1e-6f, ry, rr);
    t.rmsnorm_forward.run(l, x, w, rows, dim, 1e-6f, y, r);
    TANDEM_CHECK_CLOSE(y, ry, tol.math);
    TANDEM_CHECK_CLOSE(r, rr, tol.math);
  }
  if (t.rmsnorm_backward.run) {
    std::vector<float> ry(x.size()), rr(static_cast<size_t>(rows)), rdx(x.size()), rdw = values(size_t(dim), 15);
    kernels::rmsnorm_forward(x, w, rows, dim, 1e-6f, ry, rr);
    kernels::rmsnorm_backward_input(x, w, rr, dy, rows, dim, rdx);
    kernels::rmsnorm_backward_weight(x, rr, dy, rows, dim, rdw);
    std::vector<float> dx(x.size()), dw = values(size_t(dim), 15);
    t.rmsnorm_backward.run(l, x, w, dy, rows, dim, 1e-6f, dx, dw);
    TANDEM_CHECK_CLOSE(dx, rdx, tol.math);
    TANDEM_CHECK_CLOSE(dw, rdw, tol.math);   // accumulated onto what was there
  }
  const int64_t width = dim / 2;
  if (t.swiglu_forward.run) {
    std::vector<float> ref(size_t(rows * width)), got(ref.size());
    kernels::swiglu_forward_fused(x, rows, width, ref);
    t.swiglu_forward.run(l, x, rows, width, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  if (t.swiglu_backward.run) {
    const auto da = values(size_t(rows * width), 16);
    std::vector<float> ref(x.size()), got(x.size());
    kernels::swiglu_backward_fused(x, da, rows, width, ref);
    t.swiglu_backward.run(l, x, da, rows, width, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  // Cross-entropy over 7 tokens of a vocabulary of 48, one target ignored.
  std::vector<int32_t> targets{3, 0, 47, kernels::kIgnoreIndex, 12, 12, 30};
  std::vector<float> ref_lse(static_cast<size_t>(rows));
  const double ref_mean = kernels::cross_entropy_forward(x, targets, dim, kernels::kIgnoreIndex, ref_lse);
  if (t.cross_entropy_forward.run) {
    std::vector<float> lse(static_cast<size_t>(rows));
    const double mean = t.cross_entropy_forward.run(l, x, targets, dim, lse);
    CHECK(std::abs(mean - ref_mean) <= tol.math * std::max(1.0, std::abs(ref_mean)));
    TANDEM_CHECK_CLOSE(lse, ref_lse, tol.math);
  }
  if (t.cross_entropy_backward.run) {
    std::vector<float> ref(x.size()), got(x.size());
    kernels::cross_entropy_backward(x, targets, ref_lse, dim, kernels::kIgnoreIndex, 0.25f, ref);
    t.cross_entropy_backward.run(l, x, targets, ref_lse, dim, 0.25f, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  // Embedding rows of a [vocab 10, dim 48] table; the backward adds into the table's gradient.
  const std::vector<int32_t> ids{1, 9, 0, 1, 4};
  const auto table = values(size_t(10 * dim), 17);
  if (t.embedding_forward.run) {
    std::vector<float> ref(size_t(5 * dim)), got(ref.size());
    kernels::embedding_forward(ids, table, 10, dim, ref);
    t.embedding_forward.run(l, ids, table, 10, dim, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  if (t.embedding_backward.run) {
    const auto dout = values(size_t(5 * dim), 18);
    std::vector<float> ref = values(table.size(), 19), got = ref;
    kernels::embedding_backward_weight(ids, dout, 10, dim, ref);
    t.embedding_backward.run(l, ids, dout, 10, dim, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
}

inline void check_router_and_permute(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  kernels::RouterConfig cfg;
  cfg.experts = 8;
  cfg.top_k = 2;
  cfg.groups = 4;
  cfg.topk_groups = 2;
  cfg.route_scale = 2.5f;
  const int64_t tokens = 9, dim = 16;
  const auto logits = values(size_t(tokens * cfg.experts), 20, 4.0f), bias = values(size_t(cfg.experts), 21, 0.5f);
  std::vector<float> scores(size_t(tokens * cfg.experts)), weights(size_t(tokens * cfg.top_k));
  std::vector<int32_t> topk(size_t(tokens * cfg.top_k));
  kernels::router_forward(logits, bias, cfg, scores, topk, weights);
  if (t.router_forward.run) {
    std::vector<float> s(scores.size()), wt(weights.size());
    std::vector<int32_t> tk(topk.size());
    t.router_forward.run(l, logits, bias, cfg, s, tk, wt);
    CHECK(tk == topk);   // the choice is exact
    TANDEM_CHECK_CLOSE(s, scores, tol.math);
    TANDEM_CHECK_CLOSE(wt, weights, tol.math);
  }
  const auto dweights = values(weights.size(), 22);
  std::vector<float> dscores(scores.size());
  kernels::router_weights_backward(scores, topk, dweights, cfg, dscores);
  if (t.router_weights_backward.run) {
    std::vector<float> got(scores.size());
    t.router_weights_backward.run(l, scores, topk, dweights, cfg, got);
    TANDEM_CHECK_CLOSE(got, dscores, tol.math);
  }
  if (t.router_sigmoid_backward.run) {
    std::vector<float> ref(scores.size()), got(scores.size());
    kernels::router_sigmoid_backward(scores, dscores, ref);
    t.router_sigmoid_backward.run(l, scores, dscores, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  const kernels::PermuteIndex index = kernels::build_permute_index(topk, cfg.top_k, cfg.experts);
  if (t.build_permute_index.run) {   // exact: the same rows in the same order
    const kernels::PermuteIndex got = t.build_permute_index.run(l, topk, cfg.top_k, cfg.experts);
    CHECK(got.rows == index.rows);
    CHECK(got.expert_offsets == index.expert_offsets);
    CHECK(got.expert_counts == index.expert_counts);
    CHECK(got.row_source == index.row_source);
    CHECK(got.slot_row == index.slot_row);
  }
  const auto x = values(size_t(tokens * dim), 23);
  const auto rows = values(size_t(index.rows * dim), 24);
  if (t.permute_forward.run) {   // a copy of any element size: FP32 rows and single bytes
    std::vector<float> ref(size_t(index.rows * dim)), got(ref.size());
    kernels::permute_forward(x, index, dim, ref);
    t.permute_forward.run(l, x.data(), 4, index, dim, got.data());
    CHECK(got == ref);
    std::vector<uint8_t> bytes(size_t(tokens * dim)), moved(size_t(index.rows * dim));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 7);
    t.permute_forward.run(l, bytes.data(), 1, index, dim, moved.data());
    for (int64_t r = 0; r < index.rows; ++r)
      CHECK(moved[size_t(r * dim + 3)] == bytes[size_t((index.row_source[size_t(r)] / cfg.top_k) * dim + 3)]);
  }
  if (t.permute_backward.run) {
    std::vector<float> ref(x.size()), got(x.size());
    kernels::permute_backward(rows, index, dim, ref);
    t.permute_backward.run(l, rows, index, dim, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  if (t.unpermute_forward.run) {
    std::vector<float> ref(x.size()), got(x.size());
    kernels::unpermute_forward(rows, weights, index, dim, ref);
    t.unpermute_forward.run(l, rows, weights, index, dim, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  if (t.unpermute_backward.run) {
    std::vector<float> rdy(rows.size()), rdw(weights.size()), dy(rows.size()), dw(weights.size());
    kernels::unpermute_backward(rows, weights, x, index, dim, rdy, rdw);
    t.unpermute_backward.run(l, rows, weights, x, index, dim, dy, dw);
    TANDEM_CHECK_CLOSE(dy, rdy, tol.math);
    TANDEM_CHECK_CLOSE(dw, rdw, tol.math);
  }
}

// The attention core at DeepSeek-V3's head dims (qk 192, v 128): 2 sequences of 16 tokens, 2 heads.
inline void check_attention(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  const kernels::AttentionShape shape{2, 16, 2, 192, 128};
  if (!t.attention_forward.run || (t.attention_supports && !t.attention_supports(l, shape))) return;
  const int64_t rows = shape.batch * shape.seq * shape.heads;
  const auto q = bf16_rounded(values(size_t(rows * shape.qk_dim), 25)), k = bf16_rounded(values(size_t(rows * shape.qk_dim), 26));
  const auto v = bf16_rounded(values(size_t(rows * shape.v_dim), 27)), dout = bf16_rounded(values(size_t(rows * shape.v_dim), 28));
  std::vector<float> out(size_t(rows * shape.v_dim)), lse(size_t(shape.batch * shape.heads * shape.seq));
  kernels::attention_forward(q, k, v, shape, out, lse, 1);
  std::vector<float> got_out(out.size()), got_lse(lse.size());
  t.attention_forward.run(l, q, k, v, shape, got_out, got_lse);
  TANDEM_CHECK_CLOSE(got_out, out, tol.attention);
  TANDEM_CHECK_CLOSE(got_lse, lse, tol.attention);
  if (!t.attention_backward.run) return;
  // The backward reads the forward's output as the op layer keeps it: BF16 values under the recipe.
  const auto out16 = bf16_rounded(out);
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size()), gq(q.size()), gk(k.size()), gv(v.size());
  kernels::attention_backward(q, k, v, out16, lse, dout, shape, dq, dk, dv, 1);
  t.attention_backward.run(l, q, k, v, out16, lse, dout, shape, gq, gk, gv);
  TANDEM_CHECK_CLOSE(gq, dq, tol.attention);
  TANDEM_CHECK_CLOSE(gk, dk, tol.attention);
  TANDEM_CHECK_CLOSE(gv, dv, tol.attention);
}

inline void check_rope_and_optimizer(const KernelTable& t, const KernelLaunch& l, const KernelTolerances& tol) {
  const int64_t tokens = 6, heads = 2, rope = 8;
  std::vector<int32_t> positions{0, 1, 2, 0, 1, 2};
  std::vector<float> cos(size_t(3 * rope / 2)), sin(cos.size());
  kernels::rope_tables(3, rope, 10000.0, cos, sin);
  const auto x = values(size_t(tokens * heads * rope), 29);
  if (t.rope_forward.run) {
    std::vector<float> ref(x.size()), got(x.size());
    kernels::rope_forward(x, positions, heads, rope, cos, sin, ref);
    t.rope_forward.run(l, x, positions, heads, rope, cos, sin, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  if (t.rope_backward.run) {
    std::vector<float> ref(x.size()), got(x.size());
    kernels::rope_backward(x, positions, heads, rope, cos, sin, ref);
    t.rope_backward.run(l, x, positions, heads, rope, cos, sin, got);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
  const auto grads = values(100, 30);
  if (t.adamw_step.run) {
    kernels::AdamWConfig cfg;
    std::vector<float> p = values(100, 31), m = bf16_rounded(values(100, 32, 0.1f)), v(100, 0.01f);
    std::vector<float> rp = p, rm = m, rv = v;
    kernels::adamw_step(rp, grads, rm, rv, 3, cfg);
    t.adamw_step.run(l, p, grads, m, v, 3, cfg);
    TANDEM_CHECK_CLOSE(p, rp, tol.math);
    TANDEM_CHECK_CLOSE(m, rm, tol.math);
    TANDEM_CHECK_CLOSE(v, rv, tol.math);
  }
  if (t.sum_of_squares.run) {
    const double ref = kernels::sum_of_squares(grads);
    CHECK(std::abs(t.sum_of_squares.run(l, grads) - ref) <= tol.math * ref);
  }
  if (t.scale_in_place.run) {
    std::vector<float> ref = grads, got = grads;
    kernels::scale_in_place(ref, 0.5f);
    t.scale_in_place.run(l, got, 0.5f);
    TANDEM_CHECK_CLOSE(got, ref, tol.math);
  }
}

}  // namespace conformance

// Every entry `table` has, against the CPU reference. Returns the entries it lacks (the op layer runs
// the CPU table's for them).
inline std::vector<std::string> check_kernel_table(const KernelTable& table, const KernelLaunch& launch,
                                                   const KernelTolerances& tol) {
  conformance::check_float_gemms(table, launch, tol);
  conformance::check_fp8(table, launch, tol);
  conformance::check_layers(table, launch, tol);
  conformance::check_router_and_permute(table, launch, tol);
  conformance::check_attention(table, launch, tol);
  conformance::check_rope_and_optimizer(table, launch, tol);
  std::vector<std::string> missing;
  for (const auto& [name, present] : table.entries())
    if (!present) missing.push_back(name);
  return missing;
}

}  // namespace tandem::backend::test
