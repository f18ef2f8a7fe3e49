// Expert parallelism on the GPU (staged): the expert-side permutation (Permute ops) and the row math of
// dispatch and combine around their all-to-alls (MoeRowMath: the weighted combine, its backward, the
// permutation's backward, the FP8 cast of the combine backward's rows). The all-to-alls themselves stay
// the in-process communicator's (ops_moe.cpp); the host index the CPU builds is uploaded as it is, and the
// Permute op also builds it with the CUDA kernel and checks that the two agree.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "backend/moe_state.h"
#include "kernels/fp8/fp8_quant_cuda.h"
#include "kernels/permute/permute_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

constexpr kc::ActType kF32 = kc::ActType::F32;

// The host index on the device, as the CUDA permute kernels read it (no padding).
kc::PermuteIndexView upload_index(OpStage& stage, const kernels::PermuteIndex& idx) {
  if (idx.align_rows != 1) throw std::logic_error("a padded permute index in the staged runner");
  kc::PermuteIndexView v;
  v.tokens = idx.tokens;
  v.top_k = idx.top_k;
  v.experts = idx.experts;
  v.align_rows = 1;
  v.row_capacity = kc::permute_row_capacity(idx.tokens, idx.top_k, idx.experts, 1);
  if (v.row_capacity != idx.rows)
    throw std::logic_error(fmt::format("a permute index of {} rows for {} pairs", idx.rows, v.row_capacity));
  v.expert_offsets = stage.upload(idx.expert_offsets);
  v.expert_counts = stage.upload(idx.expert_counts);
  v.row_source = stage.upload(idx.row_source);
  v.slot_row = stage.upload(idx.slot_row);
  v.invalid_ids = stage.alloc<int32_t>(1);
  stage.zero(v.invalid_ids, sizeof(int32_t));
  v.workspace = stage.alloc<int32_t>(size_t(std::max<int64_t>(1, kc::permute_workspace_count(idx.tokens, idx.top_k, idx.experts))));
  return v;
}

// Builds the index of `ids` ([tokens, top_k]) with the CUDA kernel and compares it with the host's.
void check_device_index(OpStage& stage, std::span<const int32_t> ids, const kernels::PermuteIndex& host, const OpContext& c) {
  kc::PermuteIndexView v;
  v.tokens = host.tokens;
  v.top_k = host.top_k;
  v.experts = host.experts;
  v.align_rows = 1;
  v.row_capacity = host.rows;
  v.expert_offsets = stage.alloc<int64_t>(host.expert_offsets.size());
  v.expert_counts = stage.alloc<int64_t>(host.expert_counts.size());
  v.row_source = stage.alloc<int32_t>(host.row_source.size());
  v.slot_row = stage.alloc<int64_t>(host.slot_row.size());
  v.invalid_ids = stage.alloc<int32_t>(1);
  v.workspace = stage.alloc<int32_t>(size_t(std::max<int64_t>(1, kc::permute_workspace_count(host.tokens, host.top_k, host.experts))));
  kc::build_permute_index_cuda(stage.upload(ids), v, stage.stream());
  std::vector<int64_t> offsets(host.expert_offsets.size());
  std::vector<int32_t> rows(host.row_source.size());
  stage.download(std::span(offsets), v.expert_offsets);
  stage.download(std::span(rows), v.row_source);
  stage.finish();
  if (offsets != host.expert_offsets || rows != host.row_source)
    throw std::logic_error(fmt::format("{}: the CUDA permute index differs from the host's", c.where()));
}

class CudaMoeRowMath final : public MoeRowMath {
 public:
  void permute_backward(const OpContext& c, std::span<const float> rows, const kernels::PermuteIndex& index, int64_t dim,
                        std::span<float> dx) const override {
    if (dx.empty()) return;
    OpStage stage(*c.rt.device, c.stream);
    const auto v = upload_index(stage, index);
    const float* dr = stage.upload(rows);
    float* out = stage.alloc<float>(dx.size());
    kc::permute_backward_cuda(dr, kF32, v, dim, out, stage.stream());
    stage.download(dx, out);
    stage.finish();
  }
  void unpermute_forward(const OpContext& c, std::span<const float> y, std::span<const float> weights,
                         const kernels::PermuteIndex& index, int64_t dim, std::span<float> out) const override {
    if (out.empty()) return;
    OpStage stage(*c.rt.device, c.stream);
    const auto v = upload_index(stage, index);
    const float* dy = stage.upload(y);
    const float* dw = stage.upload(weights);
    float* d = stage.alloc<float>(out.size());
    kc::unpermute_forward_cuda(dy, kF32, dw, v, dim, d, stage.stream());
    stage.download(out, d);
    stage.finish();
  }
  void unpermute_backward(const OpContext& c, std::span<const float> y, std::span<const float> weights,
                          std::span<const float> dout, const kernels::PermuteIndex& index, int64_t dim, std::span<float> dy,
                          std::span<float> dweights) const override {
    if (dweights.empty()) return;
    OpStage stage(*c.rt.device, c.stream);
    const auto v = upload_index(stage, index);
    const float* d_y = stage.upload(y);
    const float* d_w = stage.upload(weights);
    const float* d_out = stage.upload(dout);
    float* d_dy = stage.alloc<float>(dy.size());
    float* d_dw = stage.alloc<float>(dweights.size());
    kc::unpermute_backward_cuda(d_y, d_w, d_out, kF32, v, dim, d_dy, d_dw, stage.stream());
    stage.download(dy, d_dy);
    stage.download(dweights, d_dw);
    stage.finish();
  }
  Fp8Matrix quantize_rows(const OpContext& c, std::span<const float> x, int64_t rows, int64_t cols, bool pow2) const override {
    Fp8Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.layout = kernels::Fp8ScaleLayout::Tile1x128;
    m.codes.resize(size_t(rows * cols));
    m.scales.resize(size_t(kernels::fp8_scale_count(m.layout, rows, cols)));
    if (m.codes.empty()) return m;
    kernels::Fp8QuantConfig config;
    config.pow2_scales = pow2;
    OpStage stage(*c.rt.device, c.stream);
    const float* dx = stage.upload(x);
    uint8_t* codes = stage.alloc<uint8_t>(m.codes.size());
    float* scales = stage.alloc<float>(m.scales.size());
    kc::quantize_fp8_cuda(dx, kc::Fp8InputType::F32, rows, cols, m.layout, config, kc::Fp8ScaleStorage::RowMajor, codes, scales,
                          stage.stream());
    stage.download(std::span(m.codes), codes);
    stage.download(std::span(m.scales), scales);
    stage.finish();
    return m;
  }
};

}  // namespace

void cuda_dispatch(const OpContext& c, const Env&) { run_dispatch(c, CudaMoeRowMath()); }
void cuda_combine(const OpContext& c, const Env&) { run_combine(c, CudaMoeRowMath()); }

// Permute F: received rows into local-expert segments; Unpermute F: back into received order; their
// backward ops move gradients the other way (see run_permute). FP8 rows move codes and scales with the
// permute kernel's byte copies; the inverse of an FP8 permutation (not in the recipe's programs) and an
// empty layer stay on the host.
void cuda_permute(const OpContext& c, const Env&) {
  const auto& q = std::get<ir::Permute>(c.t.payload);
  auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false);
  const ValuePtr x = c.read(c.t.inputs.at(0));
  const bool to_experts = !q.unpermute;
  if (s->recv_expert.empty() || (x->is_fp8() && !to_experts)) return run_permute(c);
  OpStage stage(*c.rt.device, c.stream);
  if (c.t.role == ir::OpRole::Permute && c.forward()) {
    const int64_t local = c.rt.program.model().routed_experts / c.rt.program.plan().ep;
    s->local_index = kernels::build_permute_index(s->recv_expert, 1, local);   // read by the expert GEMMs too
    check_device_index(stage, s->recv_expert, s->local_index, c);
  }
  const kernels::PermuteIndex& idx = s->local_index;
  if (x->rows != idx.rows) throw std::logic_error(fmt::format("{}: {} rows for an index of {}", c.where(), x->rows, idx.rows));
  const auto v = upload_index(stage, idx);
  Value out;
  out.rows = x->rows;
  if (x->is_fp8()) {
    const Fp8Matrix& m = x->fp8[0];
    Fp8Matrix o;
    o.rows = m.rows;
    o.cols = m.cols;
    o.codes.resize(m.codes.size());
    o.scales.resize(m.scales.size());
    const int64_t kb = kc::fp8_blocks_of(m.cols);
    uint8_t* codes = stage.alloc<uint8_t>(o.codes.size());
    float* scales = stage.alloc<float>(o.scales.size());
    kc::permute_forward_cuda(stage.upload(m.codes), 1, v, m.cols, codes, stage.stream());
    kc::permute_forward_cuda(stage.upload(m.scales), 4, v, kb, scales, stage.stream());
    stage.download(std::span(o.codes), codes);
    stage.download(std::span(o.scales), scales);
    stage.finish();
    out.cols = m.cols;
    out.fp8.push_back(std::move(o));
  } else {
    out.cols = x->cols;
    out.data.resize(x->data.size());
    const float* dx = stage.upload(x->data);
    float* d = stage.alloc<float>(out.data.size());
    if (to_experts) {
      kc::permute_forward_cuda(dx, 4, v, x->cols, d, stage.stream());
    } else {
      // Back to received order: the combine of one slot with weight 1, out[r] = x[slot_row[r]].
      const std::vector<float> ones(size_t(idx.tokens), 1.0f);
      kc::unpermute_forward_cuda(dx, kF32, stage.upload(ones), v, x->cols, d, stage.stream());
    }
    stage.download(std::span(out.data), d);
    stage.finish();
  }
  c.write(c.t.outputs.at(0), std::move(out));
}

}  // namespace tandem::backend::cuda_ops
