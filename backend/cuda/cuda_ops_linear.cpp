// Linear layers on the GPU (staged): the Gemm ops and the FP8 casts, with the CPU ops' semantics
// (ops_linear.cpp). FP8 GEMMs run the kernels' block-scaled runner (grouped over expert segments padded
// to 128 rows; the weight gradient with both operands tiled along the tokens); float GEMMs run FP32
// cuBLASLt, or the BF16 cuBLASLt GEMM where operands and output are BF16 tensors (the same products).
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "backend/moe_state.h"
#include "kernels/common/bf16.h"
#include "kernels/fp8/fp8_quant_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

using kernels::Fp8ScaleLayout;

bool grouped(const ir::OpTemplate& t) { return t.role == ir::OpRole::ExpertUp || t.role == ir::OpRole::ExpertDown; }

std::vector<int32_t> activation_inputs(const OpContext& c) {
  std::vector<int32_t> out;
  for (int32_t in : c.t.inputs)
    if (c.info(in).role != ir::TensorRole::Weight) out.push_back(in);
  return out;
}

int32_t weight_input(const OpContext& c) {
  for (int32_t in : c.t.inputs)
    if (c.info(in).role == ir::TensorRole::Weight) return in;
  throw std::logic_error(fmt::format("{}: a GEMM without a weight input", c.where()));
}

// Row segments of the op: each local expert's rows for a grouped GEMM, one segment of `rows` otherwise.
std::vector<int64_t> segments(const OpContext& c, const Param& w, int64_t rows) {
  if (!grouped(c.t)) return {0, rows};
  const auto& off = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false)->local_index.expert_offsets;
  if (int64_t(off.size()) != w.experts + 1)
    throw std::logic_error(fmt::format("{}: {} expert segments for a weight of {} experts", c.where(), off.size() - 1, w.experts));
  return off;
}

// [cols, rows] from rows [row0, row0 + rows) of a [*, cols] float matrix.
std::vector<float> transpose_rows(const float* x, int64_t row0, int64_t rows, int64_t cols) {
  std::vector<float> t(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + r)] = x[(row0 + r) * cols + j];
  return t;
}

bool bf16_tensor(const OpContext& c, int32_t tensor) { return !c.exact() && c.info(tensor).dtype == ir::DType::BF16; }
bool pow2(const OpContext& c) { return c.rt.program.plan().precision.power_of_two_scales; }

// out[seg rows, n] = a[seg rows, k] · b_e[n, k]ᵀ per segment e (b_e = b + e·n·k), host floats in and out.
// BF16 cuBLASLt when `bf16` (every operand and the output are BF16 values) and the shapes allow, else FP32.
std::vector<float> float_gemm(const Env& env, OpStage& stage, std::span<const float> a, std::span<const float> b,
                              std::span<const int64_t> seg, int64_t n, int64_t k, bool bf16) {
  const int64_t m = seg.back();
  std::vector<float> out(size_t(m * n), 0.0f);
  if (m == 0 || n == 0 || k == 0) return out;
  if (bf16 && seg.size() == 2 && n % 8 == 0 && k % 8 == 0) {
    const auto ab = float_to_bf16(a), bb = float_to_bf16(b);
    const uint16_t* da = stage.upload(ab);
    const uint16_t* db = stage.upload(bb);
    uint16_t* dd = stage.alloc<uint16_t>(size_t(m * n));
    env.state.bf16_runner().gemm_nt(da, db, dd, m, n, k, stage.stream());
    std::vector<uint16_t> bits(size_t(m * n));
    stage.download(std::span(bits), dd);
    stage.finish();
    return bf16_to_float(bits);
  }
  const float* da = stage.upload(a);
  const float* db = stage.upload(b);
  float* dd = stage.alloc<float>(size_t(m * n));
  for (size_t e = 0; e + 1 < seg.size(); ++e)
    if (seg[e + 1] > seg[e])
      env.state.fp32_runner().gemm_nt(da + seg[e] * k, db + int64_t(e) * n * k, dd + seg[e] * n, seg[e + 1] - seg[e], n, k,
                                      stage.stream());
  stage.download(std::span(out), dd);
  stage.finish();
  return out;
}

// out[seg rows, n] (BF16 values) = a · b_eᵀ per segment on the FP8 runner: a Tile1x128 [m, k], b the
// stacked Block128x128 weights [experts·n, k].
std::vector<float> fp8_gemm(const Env& env, OpStage& stage, const Fp8Matrix& a, const HostFp8& b, std::span<const int64_t> seg,
                            int64_t n) {
  const int64_t m = seg.back();
  std::vector<float> out(size_t(m * n), 0.0f);
  const auto padded = seg.size() > 2 ? padded_offsets(seg) : std::vector<int64_t>(seg.begin(), seg.end());
  const int64_t rows = padded.back();
  if (rows == 0 || n == 0) return out;
  const auto da = upload_fp8(stage, tile_segments(a, seg, padded), Fp8ScaleLayout::Tile1x128);
  const auto db = upload_fp8(stage, b, Fp8ScaleLayout::Block128x128);
  uint16_t* dd = stage.alloc<uint16_t>(size_t(rows * n));
  auto& runner = env.state.fp8_runner();
  std::vector<uint16_t> bits(size_t(rows * n));
  if (seg.size() > 2) {
    const kc::Fp8GroupLayout layout(padded, stage.stream());
    const int64_t groups = int64_t(padded.size()) - 1;
    runner.grouped_gemm_nt(da, db, layout, dd, fp8_backend(env, da, db, dd, groups, rows), stage.stream());
    stage.download(std::span(bits), dd);
    stage.finish();
  } else {
    if (b.rows != n) throw std::logic_error(fmt::format("fp8 gemm: a weight of {} rows for n = {}", b.rows, n));
    runner.gemm_nt(da, db, dd, fp8_backend(env, da, db, dd), stage.stream());
    stage.download(std::span(bits), dd);
    stage.finish();
  }
  for (size_t g = 0; g + 1 < seg.size(); ++g)
    for (int64_t r = 0; r < seg[g + 1] - seg[g]; ++r)
      for (int64_t j = 0; j < n; ++j)
        out[size_t((seg[g] + r) * n + j)] = kernels::bf16_bits_to_float(bits[size_t((padded[g] + r) * n + j)]);
  return out;
}

void gemm_forward(const OpContext& c, const Env& env) {
  const auto acts = activation_inputs(c);
  const int32_t w_tensor = weight_input(c);
  const Param& w = c.weight(w_tensor);
  const int64_t n = w.rows, k = w.cols;
  ValuePtr x = c.read(acts.at(0));
  bool bf16 = bf16_tensor(c, acts.at(0)) && bf16_tensor(c, w_tensor) && bf16_tensor(c, c.t.outputs.at(0));
  if (c.t.role == ir::OpRole::MtpProj) {
    bf16 = bf16 && bf16_tensor(c, acts.at(1));
    x = concat_columns(*x, *c.read(acts.at(1)));
  }
  const bool residual = acts.size() == 2 && c.t.role != ir::OpRole::MtpProj;
  const int64_t m = x->rows;
  if (x->cols != k) throw std::logic_error(fmt::format("{}: input has {} columns, the weight {}", c.where(), x->cols, k));
  const auto seg = segments(c, w, m);
  if (seg.back() != m) throw std::logic_error(fmt::format("{}: expert segments of {} rows for {} rows", c.where(), seg.back(), m));
  OpStage stage(*c.rt.device, c.stream);
  Value y;
  y.rows = m;
  y.cols = n;
  if (x->is_fp8() && !c.exact()) {
    y.data = fp8_gemm(env, stage, x->fp8[0], stacked_weights(w, false, pow2(c)), seg, n);
  } else {
    const auto xs = x->is_fp8() ? x->to_float() : x->data;
    y.data = float_gemm(env, stage, xs, w.value, seg, n, k, bf16 && !residual);
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(m) * double(n) * double(k);
  if (residual) {   // the fused residual add, on the host in FP32 as the CPU op does it
    const ValuePtr res = c.read(acts[1]);
    if (res->data.size() != y.data.size()) throw std::logic_error(fmt::format("{}: a residual of another size", c.where()));
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += res->data[i];
  }
  c.write(c.t.outputs.at(0), std::move(y));
}

void gemm_dgrad(const OpContext& c, const Env& env) {
  const int32_t gy_tensor = c.t.inputs.at(0);
  const ValuePtr gy = c.read(gy_tensor);
  const Param& w = c.weight(c.t.inputs.at(1));
  const int64_t m = gy->rows, n = w.rows, k = w.cols;
  const auto seg = segments(c, w, m);
  OpStage stage(*c.rt.device, c.stream);
  Value dx;
  dx.rows = m;
  dx.cols = k;
  if (gy->is_fp8() && !c.exact()) {
    dx.data = fp8_gemm(env, stage, gy->fp8[0], stacked_weights(w, true, pow2(c)), seg, k);
  } else {
    std::vector<float> wt(size_t(w.size()));   // Wᵀ [k, n] per expert
    for (int64_t e = 0; e < w.experts; ++e) {
      const auto t = transpose_rows(w.value.data() + e * w.per_expert(), 0, n, k);
      std::copy(t.begin(), t.end(), wt.begin() + e * w.per_expert());
    }
    bool bf16 = bf16_tensor(c, gy_tensor) && bf16_tensor(c, c.t.inputs.at(1));
    for (int32_t out : c.t.outputs) bf16 = bf16 && bf16_tensor(c, out);
    const auto gs = gy->is_fp8() ? gy->to_float() : gy->data;
    dx.data = float_gemm(env, stage, gs, wt, seg, k, n, bf16);
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(m) * double(n) * double(k);
  if (c.t.role == ir::OpRole::MtpProj) {   // the gradient splits over the two concatenated inputs
    auto [a, b] = split_columns(dx, k / 2);
    c.write(c.t.outputs.at(0), std::move(a));
    c.write(c.t.outputs.at(1), std::move(b));
    return;
  }
  c.write(c.t.outputs.at(0), std::move(dx));
  if (c.t.outputs.size() > 1) write_residual_gradient(c, gy_tensor);
}

void gemm_wgrad(const OpContext& c, const Env& env) {
  Param& w = c.rt.params.by_grad_tensor(c.t.outputs.at(0));
  ValuePtr x = c.read(c.t.inputs.at(0));
  const ValuePtr gy = c.read(c.t.inputs.back());
  const int64_t n = w.rows, k = w.cols;
  if (c.t.role == ir::OpRole::MtpProj) {
    if (c.t.inputs.size() != 3) throw std::logic_error(fmt::format("{}: expected inputs {{x1, x2, dy}}", c.where()));
    x = concat_columns(*x, *c.read(c.t.inputs.at(1)));
  }
  const bool fp8 = x->is_fp8() && gy->is_fp8() && !c.exact();
  const int64_t rows = fp8 ? gy->fp8[0].cols : gy->rows;
  const auto seg = segments(c, w, grouped(c.t) ? -1 : rows);
  OpStage stage(*c.rt.device, c.stream);
  std::vector<std::vector<float>> parts(size_t(w.experts));   // dW of each segment [n, k]
  std::vector<std::vector<uint16_t>> bits(size_t(w.experts));
  if (fp8) {
    // dW[n, k] = dYᵀ[n, rows] · Xᵀ[k, rows]ᵀ: both operands tiled along the tokens (the Quantize ops'
    // transposed copies, one per expert segment), the runner's weight-gradient layout.
    for (size_t e = 0; e + 1 < seg.size(); ++e) {
      if (seg[e + 1] == seg[e]) continue;
      const Fp8Matrix& a = gy->fp8.at(grouped(c.t) ? e : 0);
      const Fp8Matrix& b = x->fp8.at(grouped(c.t) ? e : 0);
      if (a.rows != n || b.rows != k || a.cols != b.cols)
        throw std::logic_error(fmt::format("{}: weight-gradient operands [{}, {}] and [{}, {}] for a [{}, {}] weight", c.where(),
                                           a.rows, a.cols, b.rows, b.cols, n, k));
      const std::vector<int64_t> whole_a{0, a.rows}, whole_b{0, b.rows};
      const auto da = upload_fp8(stage, tile_segments(a, whole_a, whole_a), Fp8ScaleLayout::Tile1x128);
      const auto db = upload_fp8(stage, tile_segments(b, whole_b, whole_b), Fp8ScaleLayout::Tile1x128);
      uint16_t* dd = stage.alloc<uint16_t>(size_t(n * k));
      env.state.fp8_runner().gemm_nt(da, db, dd, fp8_backend(env, da, db, dd), stage.stream());
      bits[e].resize(size_t(n * k));
      stage.download(std::span(bits[e]), dd);
    }
    stage.finish();
    for (size_t e = 0; e < bits.size(); ++e)
      if (!bits[e].empty()) parts[e] = bf16_to_float(bits[e]);
  } else {
    const auto xs = x->is_fp8() ? x->to_float() : x->data;
    const auto gs = gy->is_fp8() ? gy->to_float() : gy->data;
    for (size_t e = 0; e + 1 < seg.size(); ++e) {
      const int64_t r = seg[e + 1] - seg[e];
      if (r == 0) continue;
      const auto gt = transpose_rows(gs.data(), seg[e], r, n);   // [n, r]
      const auto xt = transpose_rows(xs.data(), seg[e], r, k);   // [k, r]
      const std::vector<int64_t> one{0, n};
      parts[e] = float_gemm(env, stage, gt, xt, one, k, r, false);
    }
  }
  for (size_t e = 0; e < parts.size(); ++e) {   // accumulate over micro-batches in FP32 on the host
    if (parts[e].empty()) continue;
    float* g = w.grad.data() + int64_t(e) * w.per_expert();
    for (size_t i = 0; i < parts[e].size(); ++i) g[i] += parts[e][i];
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(seg.back()) * double(n) * double(k);
}

// Transposed FP8 copy of rows [row0, row0 + rows) of v on the GPU: [cols, rows] tiled along the old rows.
Fp8Matrix transposed_fp8(OpStage& stage, const Value& v, int64_t row0, int64_t rows, bool pow2_scales) {
  const int64_t cols = v.is_fp8() ? v.fp8[0].cols : v.cols;
  Fp8Matrix out;
  out.rows = cols;
  out.cols = rows;
  out.layout = Fp8ScaleLayout::Tile1x128;
  out.codes.resize(size_t(rows * cols));
  out.scales.resize(size_t(kernels::fp8_scale_count(out.layout, cols, rows)));
  if (rows == 0 || cols == 0) return out;
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2_scales;
  uint8_t* codes = stage.alloc<uint8_t>(out.codes.size());
  float* scales = stage.alloc<float>(out.scales.size());
  if (v.is_fp8()) {
    const Fp8Matrix& m = v.fp8[0];
    const int64_t kb = kc::fp8_blocks_of(cols);
    const uint8_t* dc = stage.upload(std::span<const uint8_t>(m.codes.data() + row0 * cols, size_t(rows * cols)));
    const float* ds = stage.upload(std::span<const float>(m.scales.data() + row0 * kb, size_t(rows * kb)));
    kc::transpose_requantize_fp8_cuda(dc, ds, kc::Fp8ScaleStorage::RowMajor, rows, cols, config, kc::Fp8ScaleStorage::RowMajor,
                                      codes, scales, stage.stream());
    stage.download(std::span(out.codes), codes);
    stage.download(std::span(out.scales), scales);
    stage.finish();
  } else {
    const auto t = transpose_rows(v.data.data(), row0, rows, cols);
    const float* dt = stage.upload(t);
    kc::quantize_fp8_cuda(dt, kc::Fp8InputType::F32, cols, rows, Fp8ScaleLayout::Tile1x128, config, kc::Fp8ScaleStorage::RowMajor,
                          codes, scales, stage.stream());
    stage.download(std::span(out.codes), codes);
    stage.download(std::span(out.scales), scales);
    stage.finish();
  }
  return out;
}

}  // namespace

void cuda_gemm(const OpContext& c, const Env& env) {
  if (c.forward()) return gemm_forward(c, env);
  switch (c.t.phase) {
    case ir::Phase::F: gemm_forward(c, env); break;
    case ir::Phase::B: gemm_dgrad(c, env); break;
    case ir::Phase::W: gemm_wgrad(c, env); break;
    case ir::Phase::Step: throw std::logic_error(fmt::format("{}: a GEMM in the optimizer phase", c.where()));
  }
}

// The FP8 casts with the CUDA quantiser (same bits as the CPU's for finite values; scales stored in
// the reference's order, as the host Value keeps them). The exact mode's identity casts stay on the CPU.
void cuda_quantize(const OpContext& c, const Env&) {
  const auto& q = std::get<ir::Quantize>(c.t.payload);
  const ValuePtr x = c.read(c.t.inputs.at(0));
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2(c);
  OpStage stage(*c.rt.device, c.stream);
  Value out;
  out.rows = x->rows;
  out.cols = x->is_fp8() ? x->fp8[0].cols : x->cols;
  if (!q.transpose) {
    if (x->is_fp8()) throw std::logic_error(fmt::format("{}: casting an FP8 value to FP8 again", c.where()));
    Fp8Matrix m;
    m.rows = x->rows;
    m.cols = x->cols;
    m.layout = Fp8ScaleLayout::Tile1x128;
    m.codes.resize(size_t(m.rows * m.cols));
    m.scales.resize(size_t(kernels::fp8_scale_count(m.layout, m.rows, m.cols)));
    if (!m.codes.empty()) {
      const float* dx = stage.upload(x->data);
      uint8_t* codes = stage.alloc<uint8_t>(m.codes.size());
      float* scales = stage.alloc<float>(m.scales.size());
      kc::quantize_fp8_cuda(dx, kc::Fp8InputType::F32, m.rows, m.cols, Fp8ScaleLayout::Tile1x128, config,
                            kc::Fp8ScaleStorage::RowMajor, codes, scales, stage.stream());
      stage.download(std::span(m.codes), codes);
      stage.download(std::span(m.scales), scales);
      stage.finish();
    }
    out.fp8.push_back(std::move(m));
  } else if (grouped(c.t)) {
    const auto& off = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false)->local_index.expert_offsets;
    for (size_t e = 0; e + 1 < off.size(); ++e) out.fp8.push_back(transposed_fp8(stage, *x, off[e], off[e + 1] - off[e], config.pow2_scales));
  } else {
    out.fp8.push_back(transposed_fp8(stage, *x, 0, x->rows, config.pow2_scales));
  }
  c.write(c.t.outputs.at(0), std::move(out));
}

}  // namespace tandem::backend::cuda_ops
