// Linear layers: every Gemm op of the program (forward, input-grad B, weight-grad W; dense, grouped
// over experts, the MTP projection over two inputs) and the FP8 casts (Quantize ops), on the kernel
// table's GEMMs: FP8 operands as E4M3 codes (1x128 activation tiles, 128x128 weight blocks), float
// operands as BF16-rounded (or FP32) values. Weights are stored [out, in].
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/moe_state.h"
#include "backend/ops/ops.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

bool grouped(const ir::OpTemplate& t) {
  return t.role == ir::OpRole::ExpertUp || t.role == ir::OpRole::ExpertDown;
}

// Rows of each local expert in the permuted order of this layer and micro-batch.
const std::vector<int64_t>& expert_offsets(const OpContext& c) {
  return c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false)->local_index.expert_offsets;
}

// Row segments of the op: each local expert's rows for a grouped GEMM, one segment of `rows` otherwise.
std::vector<int64_t> segments(const OpContext& c, const Param& w, int64_t rows) {
  if (!grouped(c.t)) return {0, rows};
  const auto& off = expert_offsets(c);
  if (int64_t(off.size()) != w.experts + 1)
    throw std::logic_error(fmt::format("{}: {} expert segments for a weight of {} experts", c.where(), off.size() - 1, w.experts));
  return off;
}

// The weight's FP8 copy per expert (Block128x128; transposed for the input gradient).
std::vector<const Fp8Matrix*> fp8_blocks(const OpContext& c, const Param& w, bool transposed) {
  std::vector<const Fp8Matrix*> out;
  for (int64_t e = 0; e < w.experts; ++e) out.push_back(&w.fp8(e, transposed, c.rt.program.plan().precision.power_of_two_scales));
  return out;
}

// A tensor whose values are BF16 (so a device may run its GEMM in BF16).
bool bf16_values(const OpContext& c, int32_t tensor) { return !c.exact() && c.info(tensor).dtype == ir::DType::BF16; }

// The float values of a value: its data, or its FP8 matrix decoded into `storage`.
std::span<const float> float_values(const Value& v, std::vector<float>& storage) {
  if (!v.is_fp8()) return v.data;
  storage = v.to_float();
  return storage;
}

void write_residual_gradient(const OpContext& c, int32_t gy_tensor);

// y[m, n] = x[m, k] · W[n, k]ᵀ per weight block, then the fused residual add (output projections and
// the dense FFN's down projection) in FP32. The MTP projection multiplies [input | second input].
void gemm_forward(const OpContext& c, OpKernels& k) {
  const int32_t x_tensor = c.t.in(S::Input), w_tensor = c.t.in(S::Weight);
  const Param& w = c.weight(w_tensor);
  const int64_t n = w.rows, kdim = w.cols;
  ValuePtr x = c.read(x_tensor);
  bool bf16 = bf16_values(c, x_tensor) && bf16_values(c, w_tensor) && bf16_values(c, c.t.out(S::Output));
  if (c.t.has_in(S::SecondInput)) {   // [emb norm | hidden norm] · Wᵀ
    bf16 = bf16 && bf16_values(c, c.t.in(S::SecondInput));
    x = concat_columns(*x, *c.read(c.t.in(S::SecondInput)));
  }
  const bool residual = c.t.has_in(S::Residual);
  const int64_t m = x->rows;
  if (x->cols != kdim) throw std::logic_error(fmt::format("{}: input has {} columns, the weight {}", c.where(), x->cols, kdim));
  const auto seg = segments(c, w, m);
  if (seg.back() != m) throw std::logic_error(fmt::format("{}: expert segments of {} rows for {} rows", c.where(), seg.back(), m));
  Value y = float_matrix(m, n);
  if (x->is_fp8() && !c.exact()) {
    k.call(&KernelTable::fp8_gemm_nt, x->fp8[0], fp8_blocks(c, w, false), y.data, seg);
  } else {
    std::vector<float> storage;
    k.call(&KernelTable::gemm_nt, float_values(*x, storage), w.value, y.data, seg, n, kdim, bf16 && !residual);
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(m) * double(n) * double(kdim);
  if (residual) {
    const ValuePtr res = c.read(c.t.in(S::Residual));
    if (res->data.size() != y.data.size()) throw std::logic_error(fmt::format("{}: a residual of another size", c.where()));
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += res->data[i];
  }
  c.write(c.t.out(S::Output), std::move(y));
}

// dx[m, k] = dy[m, n] · W[n, k] per weight block; the residual's gradient is dy itself, the MTP
// projection's dx splits over its two inputs.
void gemm_dgrad(const OpContext& c, OpKernels& k) {
  const int32_t gy_tensor = c.t.in(S::OutputGrad), w_tensor = c.t.in(S::Weight);
  const ValuePtr gy = c.read(gy_tensor);
  const Param& w = c.weight(w_tensor);
  const int64_t m = gy->rows, n = w.rows, kdim = w.cols;
  const auto seg = segments(c, w, m);
  Value dx = float_matrix(m, kdim);
  if (gy->is_fp8() && !c.exact()) {
    k.call(&KernelTable::fp8_gemm_nt, gy->fp8[0], fp8_blocks(c, w, true), dx.data, seg);
  } else {
    bool bf16 = bf16_values(c, gy_tensor) && bf16_values(c, w_tensor);
    for (const ir::Operand& out : c.t.outputs) bf16 = bf16 && bf16_values(c, out.tensor);
    std::vector<float> storage;
    k.call(&KernelTable::gemm_nn, float_values(*gy, storage), w.value, dx.data, seg, kdim, n, bf16);
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(m) * double(n) * double(kdim);
  if (c.t.has_out(S::SecondInputGrad)) {   // the gradient splits over the two concatenated inputs
    auto [a, b] = split_columns(dx, kdim / 2);
    c.write(c.t.out(S::InputGrad), std::move(a));
    c.write(c.t.out(S::SecondInputGrad), std::move(b));
    return;
  }
  c.write(c.t.out(S::InputGrad), std::move(dx));
  if (c.t.has_out(S::ResidualGrad)) write_residual_gradient(c, gy_tensor);
}

// dW[n, k] += dYᵀ · X per weight block, accumulated over micro-batches in FP32.
void gemm_wgrad(const OpContext& c, OpKernels& k) {
  Param& w = c.rt.params.by_grad_tensor(c.t.out(S::WeightGrad));
  ValuePtr x = c.read(c.t.in(S::Input));
  const ValuePtr gy = c.read(c.t.in(S::OutputGrad));
  const int64_t n = w.rows, kdim = w.cols;
  // The MTP projection's X is the concatenation [norm(embedding) | norm(hidden)].
  if (c.t.has_in(S::SecondInput)) x = concat_columns(*x, *c.read(c.t.in(S::SecondInput)));
  const bool fp8 = x->is_fp8() && gy->is_fp8() && !c.exact();
  const auto seg = segments(c, w, fp8 ? gy->fp8[0].cols : gy->rows);
  if (fp8) {
    // dW[n, k] += dYᵀ[n, rows] · Xᵀ[k, rows]ᵀ: both operands tiled along the tokens (the Quantize ops'
    // transposed copies, one per expert segment).
    for (size_t e = 0; e + 1 < seg.size(); ++e) {
      if (seg[e + 1] == seg[e]) continue;
      const Fp8Matrix& a = gy->fp8.at(grouped(c.t) ? e : 0);
      const Fp8Matrix& b = x->fp8.at(grouped(c.t) ? e : 0);
      if (a.rows != n || b.rows != kdim || a.cols != b.cols)
        throw std::logic_error(fmt::format("{}: weight-gradient operands [{}, {}] and [{}, {}] for a [{}, {}] weight", c.where(),
                                           a.rows, a.cols, b.rows, b.cols, n, kdim));
      k.call(&KernelTable::fp8_gemm_wgrad, a, b, std::span<float>(w.grad).subspan(e * size_t(w.per_expert()), size_t(w.per_expert())));
    }
  } else {
    std::vector<float> xs, gs;
    k.call(&KernelTable::gemm_tn_accumulate, float_values(*gy, gs), float_values(*x, xs), w.grad, seg, n, kdim);
  }
  if (grouped(c.t)) c.record().flops = 2.0 * double(seg.back()) * double(n) * double(kdim);
}

// Transposed FP8 copy of rows [row0, row0 + rows) of v: [cols, rows] tiled along the old rows.
Fp8Matrix transposed_fp8(OpKernels& k, const Value& v, int64_t row0, int64_t rows, bool pow2) {
  if (v.is_fp8()) {
    const auto view = v.fp8[0].row_view(row0, rows);
    return k.call(&KernelTable::transpose_requantize_fp8, view.codes, view.scales, rows, v.fp8[0].cols, pow2);
  }
  const int64_t cols = v.cols;
  std::vector<float> t(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + r)] = v.data[size_t((row0 + r) * cols + j)];
  return k.call(&KernelTable::quantize_fp8, t, cols, rows, pow2);
}

void write_residual_gradient(const OpContext& c, int32_t gy_tensor) {
  // The BF16 gradient itself when dY is read as its FP8 copy.
  const int32_t source = c.info(gy_tensor).fp8_copy_of >= 0 ? c.info(gy_tensor).fp8_copy_of : gy_tensor;
  const ValuePtr g = c.read(source);
  Value pass;
  pass.rows = g->rows;
  pass.cols = g->cols;
  pass.data = g->data;
  c.write(c.t.out(S::ResidualGrad), std::move(pass));
}

}  // namespace

void run_gemm(const OpContext& c, OpKernels& k) {
  if (c.forward()) return gemm_forward(c, k);
  switch (c.t.phase) {
    case ir::Phase::F: gemm_forward(c, k); break;
    case ir::Phase::B: gemm_dgrad(c, k); break;
    case ir::Phase::W: gemm_wgrad(c, k); break;
    case ir::Phase::Step: throw std::logic_error(fmt::format("{}: a GEMM in the optimizer phase", c.where()));
  }
}

// The FP8 casts: 1x128 tiles along the rows, or the transposed copy tiled along the tokens that the
// weight-gradient GEMM reads (one per expert segment for a grouped GEMM). FP32 mode: identities.
void run_quantize(const OpContext& c, OpKernels& k) {
  const auto& q = std::get<ir::Quantize>(c.t.payload);
  const ValuePtr x = c.read(c.t.in(S::Input));
  Value out;
  if (c.exact()) {
    // FP32 mode: casts are identities (the GEMMs read the float values).
    out.rows = x->rows;
    out.cols = x->cols;
    out.data = x->to_float();
    c.write(c.t.out(S::Output), std::move(out));
    return;
  }
  const bool pow2 = c.rt.program.plan().precision.power_of_two_scales;
  out.rows = x->rows;
  out.cols = x->is_fp8() ? x->fp8[0].cols : x->cols;
  if (!q.transpose) {
    if (x->is_fp8()) throw std::logic_error(fmt::format("{}: casting an FP8 value to FP8 again", c.where()));
    out.fp8.push_back(k.call(&KernelTable::quantize_fp8, x->data, x->rows, x->cols, pow2));
  } else if (grouped(c.t)) {
    const auto& off = expert_offsets(c);
    for (size_t e = 0; e + 1 < off.size(); ++e) out.fp8.push_back(transposed_fp8(k, *x, off[e], off[e + 1] - off[e], pow2));
  } else {
    out.fp8.push_back(transposed_fp8(k, *x, 0, x->rows, pow2));
  }
  c.write(c.t.out(S::Output), std::move(out));
}

}  // namespace tandem::backend
