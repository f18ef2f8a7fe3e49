// The CUDA kernel table's GEMMs and FP8 casts (kernel_table.h has what each entry computes): FP8 GEMMs
// on the kernels' block-scaled runner (grouped over expert segments padded to 128 rows; the weight
// gradient with both operands tiled along the tokens), float GEMMs on FP32 cuBLASLt, or on the BF16
// cuBLASLt GEMM when every operand and the output are BF16 values; the casts on the CUDA quantiser.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/common/bf16.h"
#include "kernels/fp8/fp8_quant_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

using kernels::Fp8ScaleLayout;
using std::span;

// [cols, rows] from rows [row0, row0 + rows) of a [*, cols] float matrix.
std::vector<float> transpose_rows(const float* x, int64_t row0, int64_t rows, int64_t cols) {
  std::vector<float> t(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + r)] = x[(row0 + r) * cols + j];
  return t;
}

void gemm_nt(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out, span<const int64_t> seg, int64_t n,
             int64_t k, bool bf16_values) {
  const int64_t m = seg.back();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill_n(out.begin() + seg.front() * n, size_t((m - seg.front()) * n), 0.0f);
    return;
  }
  Env& env = env_of(l);
  OpStage stage(l);
  if (bf16_values && seg.size() == 2 && seg[0] == 0 && n % 8 == 0 && k % 8 == 0) {
    const auto ab = float_to_bf16(a.first(size_t(m * k))), bb = float_to_bf16(b.first(size_t(n * k)));
    uint16_t* dd = stage.alloc<uint16_t>(size_t(m * n));
    env.state.bf16_runner().gemm_nt(stage.upload(ab), stage.upload(bb), dd, m, n, k, stage.stream());
    std::vector<uint16_t> bits(size_t(m * n));
    stage.download(span(bits), dd);
    stage.finish();
    for (size_t i = 0; i < bits.size(); ++i) out[i] = kernels::bf16_bits_to_float(bits[i]);
    return;
  }
  const float* da = stage.upload(a.first(size_t(m * k)));
  const float* db = stage.upload(b);
  float* dd = stage.alloc<float>(size_t(m * n));
  for (size_t e = 0; e + 1 < seg.size(); ++e)
    if (seg[e + 1] > seg[e])
      env.state.fp32_runner().gemm_nt(da + seg[e] * k, db + int64_t(e) * n * k, dd + seg[e] * n, seg[e + 1] - seg[e], n, k,
                                      stage.stream());
  stage.download(out.subspan(size_t(seg.front() * n), size_t((m - seg.front()) * n)), dd + seg.front() * n);
  stage.finish();
}

// out = a · b_e with b_e [k, n]: b_e transposed on the host, then gemm_nt.
void gemm_nn(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out, span<const int64_t> seg, int64_t n,
             int64_t k, bool bf16_values) {
  const size_t blocks = seg.size() - 1;
  std::vector<float> bt(blocks * size_t(n * k));   // b_eᵀ [n, k] per block
  for (size_t e = 0; e < blocks; ++e) {
    const auto t = transpose_rows(b.data() + e * size_t(n * k), 0, k, n);
    std::copy(t.begin(), t.end(), bt.begin() + std::ptrdiff_t(e * size_t(n * k)));
  }
  gemm_nt(l, a, bt, out, seg, n, k, bf16_values);
}

// out_e[n, k] += a_segᵀ · b_seg: both transposed on the host, multiplied as [n, r] · [k, r]ᵀ in FP32,
// added on the host.
void gemm_tn_accumulate(const KernelLaunch& l, span<const float> a, span<const float> b, span<float> out, span<const int64_t> seg,
                        int64_t n, int64_t k) {
  for (size_t e = 0; e + 1 < seg.size(); ++e) {
    const int64_t r = seg[e + 1] - seg[e];
    if (r == 0) continue;
    const auto at = transpose_rows(a.data(), seg[e], r, n);
    const auto bt = transpose_rows(b.data(), seg[e], r, k);
    std::vector<float> part(size_t(n * k));
    const std::vector<int64_t> whole{0, n};
    gemm_nt(l, at, bt, part, whole, k, r, false);
    float* dst = out.data() + e * size_t(n * k);
    for (size_t i = 0; i < part.size(); ++i) dst[i] += part[i];
  }
}

void fp8_gemm_nt(const KernelLaunch& l, const Fp8Matrix& a, span<const Fp8Matrix* const> blocks, span<float> out,
                 span<const int64_t> seg) {
  if (blocks.size() + 1 != seg.size())
    throw std::logic_error(fmt::format("fp8_gemm_nt: {} weight blocks for {} segments", blocks.size(), seg.size() - 1));
  const int64_t n = blocks.front()->rows;
  const auto padded = seg.size() > 2 ? padded_offsets(seg) : std::vector<int64_t>(seg.begin(), seg.end());
  const int64_t rows = padded.back();
  if (rows == 0 || n == 0) return;
  Env& env = env_of(l);
  OpStage stage(l);
  const auto da = upload_fp8(stage, tile_segments(a, seg, padded), Fp8ScaleLayout::Tile1x128);
  const auto db = upload_fp8(stage, stacked_weights(blocks), Fp8ScaleLayout::Block128x128);
  uint16_t* dd = stage.alloc<uint16_t>(size_t(rows * n));
  auto& runner = env.state.fp8_runner();
  if (seg.size() > 2) {
    const kc::Fp8GroupLayout layout(padded, stage.stream());
    const int64_t groups = int64_t(padded.size()) - 1;
    runner.grouped_gemm_nt(da, db, layout, dd, fp8_backend(env, da, db, dd, groups, rows), stage.stream());
  } else {
    runner.gemm_nt(da, db, dd, fp8_backend(env, da, db, dd), stage.stream());
  }
  std::vector<uint16_t> bits(size_t(rows * n));
  stage.download(span(bits), dd);
  stage.finish();
  for (size_t g = 0; g + 1 < seg.size(); ++g)
    for (int64_t r = 0; r < seg[g + 1] - seg[g]; ++r)
      for (int64_t j = 0; j < n; ++j)
        out[size_t((seg[g] + r) * n + j)] = kernels::bf16_bits_to_float(bits[size_t((padded[g] + r) * n + j)]);
}

// dw += a · bᵀ with both operands tiled along the tokens; the runner's BF16 output added in FP32.
void fp8_gemm_wgrad(const KernelLaunch& l, const Fp8Matrix& a, const Fp8Matrix& b, span<float> dw) {
  const int64_t n = a.rows, k = b.rows;
  if (a.cols != b.cols || int64_t(dw.size()) != n * k)
    throw std::logic_error(fmt::format("fp8_gemm_wgrad: operands [{}, {}] and [{}, {}] for {} outputs", a.rows, a.cols, b.rows,
                                       b.cols, dw.size()));
  if (n == 0 || k == 0 || a.cols == 0) return;
  Env& env = env_of(l);
  OpStage stage(l);
  const std::vector<int64_t> whole_a{0, a.rows}, whole_b{0, b.rows};
  const auto da = upload_fp8(stage, tile_segments(a, whole_a, whole_a), Fp8ScaleLayout::Tile1x128);
  const auto db = upload_fp8(stage, tile_segments(b, whole_b, whole_b), Fp8ScaleLayout::Tile1x128);
  uint16_t* dd = stage.alloc<uint16_t>(size_t(n * k));
  env.state.fp8_runner().gemm_nt(da, db, dd, fp8_backend(env, da, db, dd), stage.stream());
  std::vector<uint16_t> bits(size_t(n * k));
  stage.download(span(bits), dd);
  stage.finish();
  for (size_t i = 0; i < bits.size(); ++i) dw[i] += kernels::bf16_bits_to_float(bits[i]);
}

// An empty E4M3 matrix [rows, cols] with 1x128 tile scales, sized.
Fp8Matrix tile_matrix(int64_t rows, int64_t cols) {
  Fp8Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.layout = Fp8ScaleLayout::Tile1x128;
  m.codes.resize(size_t(rows * cols));
  m.scales.resize(size_t(kernels::fp8_scale_count(m.layout, rows, cols)));
  return m;
}

Fp8Matrix quantize_fp8(const KernelLaunch& l, span<const float> x, int64_t rows, int64_t cols, bool pow2_scales) {
  Fp8Matrix m = tile_matrix(rows, cols);
  if (m.codes.empty()) return m;
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2_scales;
  OpStage stage(l);
  uint8_t* codes = stage.alloc<uint8_t>(m.codes.size());
  float* scales = stage.alloc<float>(m.scales.size());
  kc::quantize_fp8_cuda(stage.upload(x.first(size_t(rows * cols))), kc::Fp8InputType::F32, rows, cols, Fp8ScaleLayout::Tile1x128,
                        config, kc::Fp8ScaleStorage::RowMajor, codes, scales, stage.stream());
  stage.download(span(m.codes), codes);
  stage.download(span(m.scales), scales);
  stage.finish();
  return m;
}

Fp8Matrix transpose_requantize_fp8(const KernelLaunch& l, span<const uint8_t> codes, span<const float> scales, int64_t rows,
                                   int64_t cols, bool pow2_scales) {
  Fp8Matrix out = tile_matrix(cols, rows);
  if (out.codes.empty()) return out;
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2_scales;
  OpStage stage(l);
  uint8_t* dc = stage.alloc<uint8_t>(out.codes.size());
  float* ds = stage.alloc<float>(out.scales.size());
  kc::transpose_requantize_fp8_cuda(stage.upload(codes), stage.upload(scales), kc::Fp8ScaleStorage::RowMajor, rows, cols, config,
                                    kc::Fp8ScaleStorage::RowMajor, dc, ds, stage.stream());
  stage.download(span(out.codes), dc);
  stage.download(span(out.scales), ds);
  stage.finish();
  return out;
}

}  // namespace

void add_linear_kernels(KernelTable& table) {
  table.gemm_nt.run = gemm_nt;
  table.gemm_nn.run = gemm_nn;
  table.gemm_tn_accumulate.run = gemm_tn_accumulate;
  table.fp8_gemm_nt.run = fp8_gemm_nt;
  table.fp8_gemm_wgrad.run = fp8_gemm_wgrad;
  table.quantize_fp8.run = quantize_fp8;
  table.transpose_requantize_fp8.run = transpose_requantize_fp8;
}

}  // namespace tandem::backend::cuda_ops
