// Linear layers: every Gemm op of the program (forward, input-grad B, weight-grad W; dense, grouped
// over experts, the MTP projection over two inputs) and the FP8 casts (Quantize ops). FP8 GEMMs run
// the kernels' block-scaled reference on E4M3 codes (1x128 activation tiles, 128x128 weight blocks);
// BF16 GEMMs run the blocked FP32 GEMM on BF16-rounded operands. Weights are stored [out, in].
#include <stdexcept>

#include <fmt/format.h>

#include "backend/moe_state.h"
#include "backend/ops.h"
#include "kernels/gemm/gemm_cpu.h"

namespace tandem::backend {

namespace {

using kernels::Fp8GemmOutput;
using kernels::Fp8ScaleLayout;

bool grouped(const ir::OpTemplate& t) {
  return t.role == ir::OpRole::ExpertUp || t.role == ir::OpRole::ExpertDown;
}

// The activation inputs of a GEMM template (everything but the weight), in order.
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

// Rows of each local expert in the permuted order of this layer and micro-batch.
const std::vector<int64_t>& expert_offsets(const OpContext& c) {
  return c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false)->local_index.expert_offsets;
}

// y[m, n] = x[m, k] · W[n, k]ᵀ for one weight block (FP8 or float operands).
void forward_block(const OpContext& c, const Value& x, int64_t row0, int64_t rows, const Param& w, int64_t e, float* y) {
  const int64_t k = w.cols, n = w.rows;
  std::span<float> out(y, size_t(rows * n));
  if (x.is_fp8() && !c.exact()) {
    kernels::fp8_gemm_nt(x.fp8[0].row_view(row0, rows), w.fp8(e, false, c.rt.program.plan().precision.power_of_two_scales).view(),
                         out, Fp8GemmOutput::Fp32, c.rt.options.gemm_threads);
  } else {
    const auto xs = x.is_fp8() ? x.to_float() : std::vector<float>();
    const float* xp = (x.is_fp8() ? xs.data() : x.data.data()) + row0 * k;
    kernels::matmul_nt(std::span<const float>(xp, size_t(rows * k)),
                       std::span<const float>(w.value.data() + e * w.per_expert(), size_t(w.per_expert())), out, rows, n, k,
                       false, c.rt.options.gemm_threads);
  }
}

void gemm_forward(const OpContext& c) {
  const auto acts = activation_inputs(c);
  const Param& w = c.weight(weight_input(c));
  const int64_t n = w.rows, k = w.cols;
  ValuePtr x = c.read(acts.at(0));
  Value y;
  if (c.t.role == ir::OpRole::MtpProj) x = concat_columns(*x, *c.read(acts.at(1)));   // [emb norm | hidden norm] · Wᵀ
  const int64_t m = x->rows;
  if (x->cols != k) throw std::logic_error(fmt::format("{}: input has {} columns, the weight {}", c.where(), x->cols, k));
  y.rows = m;
  y.cols = n;
  y.data.resize(size_t(m * n));
  if (grouped(c.t)) {
    const auto& off = expert_offsets(c);
    for (int64_t e = 0; e + 1 < int64_t(off.size()); ++e)
      if (off[size_t(e + 1)] > off[size_t(e)])
        forward_block(c, *x, off[size_t(e)], off[size_t(e + 1)] - off[size_t(e)], w, e, y.data.data() + off[size_t(e)] * n);
    c.record().flops = 2.0 * double(m) * double(n) * double(k);
  } else {
    forward_block(c, *x, 0, m, w, 0, y.data.data());
  }
  // Fused residual add (output projections and the dense FFN's down projection).
  if (acts.size() == 2 && c.t.role != ir::OpRole::MtpProj) {
    const ValuePtr res = c.read(acts[1]);
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += res->data[i];
  }
  c.write(c.t.outputs.at(0), std::move(y));
}

// dx[m, k] = dy[m, n] · W[n, k] for one weight block.
void dgrad_block(const OpContext& c, const Value& gy, int64_t row0, int64_t rows, const Param& w, int64_t e, float* dx) {
  const int64_t k = w.cols, n = w.rows;
  std::span<float> out(dx, size_t(rows * k));
  if (gy.is_fp8() && !c.exact()) {
    kernels::fp8_gemm_nt(gy.fp8[0].row_view(row0, rows), w.fp8(e, true, c.rt.program.plan().precision.power_of_two_scales).view(),
                         out, Fp8GemmOutput::Fp32, c.rt.options.gemm_threads);
  } else {
    const auto gs = gy.is_fp8() ? gy.to_float() : std::vector<float>();
    const float* gp = (gy.is_fp8() ? gs.data() : gy.data.data()) + row0 * n;
    kernels::matmul_nn(std::span<const float>(gp, size_t(rows * n)),
                       std::span<const float>(w.value.data() + e * w.per_expert(), size_t(w.per_expert())), out, rows, k, n,
                       false, c.rt.options.gemm_threads);
  }
}

void gemm_dgrad(const OpContext& c) {
  const int32_t gy_tensor = c.t.inputs.at(0);
  const ValuePtr gy = c.read(gy_tensor);
  const Param& w = c.weight(c.t.inputs.at(1));
  const int64_t m = gy->rows, k = w.cols;
  Value dx;
  dx.rows = m;
  dx.cols = k;
  dx.data.resize(size_t(m * k));
  if (grouped(c.t)) {
    const auto& off = expert_offsets(c);
    for (int64_t e = 0; e + 1 < int64_t(off.size()); ++e)
      if (off[size_t(e + 1)] > off[size_t(e)])
        dgrad_block(c, *gy, off[size_t(e)], off[size_t(e + 1)] - off[size_t(e)], w, e, dx.data.data() + off[size_t(e)] * k);
    c.record().flops = 2.0 * double(m) * double(w.rows) * double(k);
  } else {
    dgrad_block(c, *gy, 0, m, w, 0, dx.data.data());
  }
  if (c.t.role == ir::OpRole::MtpProj) {   // the gradient splits over the two concatenated inputs
    auto [a, b] = split_columns(dx, k / 2);
    c.write(c.t.outputs.at(0), std::move(a));
    c.write(c.t.outputs.at(1), std::move(b));
    return;
  }
  c.write(c.t.outputs.at(0), std::move(dx));
  if (c.t.outputs.size() > 1) write_residual_gradient(c, gy_tensor);
}

void gemm_wgrad(const OpContext& c) {
  Param& w = c.rt.params.by_grad_tensor(c.t.outputs.at(0));
  ValuePtr x = c.read(c.t.inputs.at(0));
  const ValuePtr gy = c.read(c.t.inputs.back());
  const int64_t n = w.rows, k = w.cols;
  if (c.t.role == ir::OpRole::MtpProj) {
    // X is the concatenation [norm(embedding) | norm(hidden)]: the program lists both parts, then dY.
    if (c.t.inputs.size() != 3) throw std::logic_error(fmt::format("{}: expected inputs {{x1, x2, dy}}", c.where()));
    x = concat_columns(*x, *c.read(c.t.inputs.at(1)));
  }
  const bool fp8 = x->is_fp8() && gy->is_fp8() && !c.exact();
  auto block = [&](int64_t seg, int64_t row0, int64_t rows, int64_t e) {
    std::span<float> dw(w.grad.data() + e * w.per_expert(), size_t(w.per_expert()));
    if (fp8) {
      // dW[n, k] += dYᵀ[n, rows] · Xᵀ[k, rows]ᵀ, both operands tiled along the tokens.
      kernels::fp8_gemm_nt(gy->fp8[size_t(seg)].view(), x->fp8[size_t(seg)].view(), dw, Fp8GemmOutput::AccumulateFp32,
                           c.rt.options.gemm_threads);
    } else {
      const auto xs = x->is_fp8() ? x->to_float() : std::vector<float>();
      const auto gs = gy->is_fp8() ? gy->to_float() : std::vector<float>();
      const float* xp = (x->is_fp8() ? xs.data() : x->data.data()) + row0 * k;
      const float* gp = (gy->is_fp8() ? gs.data() : gy->data.data()) + row0 * n;
      kernels::matmul_tn(std::span<const float>(gp, size_t(rows * n)), std::span<const float>(xp, size_t(rows * k)), dw, n, k,
                         rows, true, c.rt.options.gemm_threads);
    }
  };
  if (grouped(c.t)) {
    const auto& off = expert_offsets(c);
    for (int64_t e = 0; e + 1 < int64_t(off.size()); ++e)
      if (off[size_t(e + 1)] > off[size_t(e)]) block(e, off[size_t(e)], off[size_t(e + 1)] - off[size_t(e)], e);
    c.record().flops = 2.0 * double(off.back()) * double(n) * double(k);
  } else {
    const int64_t rows = fp8 ? gy->fp8[0].cols : gy->rows;
    block(0, 0, rows, 0);
  }
}

// Transposed FP8 copy of rows [row0, row0 + rows) of v: [cols, rows] tiled along the old rows.
Fp8Matrix transposed_fp8(const Value& v, int64_t row0, int64_t rows, bool pow2) {
  const int64_t cols = v.is_fp8() ? v.fp8[0].cols : v.cols;
  Fp8Matrix out;
  out.rows = cols;
  out.cols = rows;
  out.layout = Fp8ScaleLayout::Tile1x128;
  out.codes.resize(size_t(rows * cols));
  out.scales.resize(size_t(kernels::fp8_scale_count(out.layout, cols, rows)));
  if (v.is_fp8()) {
    const auto view = v.fp8[0].row_view(row0, rows);
    kernels::Fp8QuantConfig config;
    config.pow2_scales = pow2;
    kernels::transpose_requantize_fp8(view.codes, view.scales, rows, cols, config, out.codes, out.scales);
  } else {
    std::vector<float> t(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + r)] = v.data[size_t((row0 + r) * cols + j)];
    out = quantize(t, cols, rows, Fp8ScaleLayout::Tile1x128, pow2);
  }
  return out;
}

}  // namespace

void write_residual_gradient(const OpContext& c, int32_t gy_tensor) {
  // The BF16 gradient itself when dY is read as its FP8 copy.
  const int32_t source = c.info(gy_tensor).fp8_copy_of >= 0 ? c.info(gy_tensor).fp8_copy_of : gy_tensor;
  const ValuePtr g = c.read(source);
  Value pass;
  pass.rows = g->rows;
  pass.cols = g->cols;
  pass.data = g->data;
  c.write(c.t.outputs.at(1), std::move(pass));
}

void run_gemm(const OpContext& c) {
  if (c.forward()) return gemm_forward(c);
  switch (c.t.phase) {
    case ir::Phase::F: gemm_forward(c); break;
    case ir::Phase::B: gemm_dgrad(c); break;
    case ir::Phase::W: gemm_wgrad(c); break;
    case ir::Phase::Step: throw std::logic_error(fmt::format("{}: a GEMM in the optimizer phase", c.where()));
  }
}

void run_quantize(const OpContext& c) {
  const auto& q = std::get<ir::Quantize>(c.t.payload);
  const ValuePtr x = c.read(c.t.inputs.at(0));
  Value out;
  if (c.exact()) {
    // FP32 mode: casts are identities (the GEMMs read the float values).
    out.rows = x->rows;
    out.cols = x->cols;
    out.data = x->to_float();
    c.write(c.t.outputs.at(0), std::move(out));
    return;
  }
  const bool pow2 = c.rt.program.plan().precision.power_of_two_scales;
  if (!q.transpose) {
    out.rows = x->rows;
    out.cols = x->cols;
    out.fp8.push_back(quantize(x->data, x->rows, x->cols, Fp8ScaleLayout::Tile1x128, pow2));
  } else if (grouped(c.t)) {
    // Grouped weight gradients reduce over each expert's rows: one transposed copy per expert segment.
    const auto& off = expert_offsets(c);
    out.rows = x->rows;
    out.cols = x->is_fp8() ? x->fp8[0].cols : x->cols;
    for (size_t e = 0; e + 1 < off.size(); ++e) out.fp8.push_back(transposed_fp8(*x, off[e], off[e + 1] - off[e], pow2));
  } else {
    out.rows = x->rows;
    out.cols = x->is_fp8() ? x->fp8[0].cols : x->cols;
    out.fp8.push_back(transposed_fp8(*x, 0, x->rows, pow2));
  }
  c.write(c.t.outputs.at(0), std::move(out));
}

}  // namespace tandem::backend
