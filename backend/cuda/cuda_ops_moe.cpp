// The CUDA kernel table's MoE entries (kernel_table.h has what each computes): the permutation index
// built by the CUDA kernel and brought back to the host (the op layer keeps it for the later ops), the
// permute (a copy of any element size: FP8 codes, scales, FP32 rows), its backward, and the weighted
// combine with its backward. The host index goes up as it is for each call.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/permute/permute_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

using std::span;
constexpr kc::ActType kF32 = kc::ActType::F32;

// The host index on the device, as the CUDA permute kernels read it (no padding).
kc::PermuteIndexView upload_index(OpStage& stage, const kernels::PermuteIndex& idx) {
  if (idx.align_rows != 1) throw std::logic_error("a padded permute index in the CUDA kernel table");
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

kernels::PermuteIndex build_permute_index(const KernelLaunch& l, span<const int32_t> ids, int64_t top_k, int64_t experts) {
  kernels::PermuteIndex idx;
  idx.tokens = top_k > 0 ? int64_t(ids.size()) / top_k : 0;
  idx.top_k = top_k;
  idx.experts = experts;
  idx.align_rows = 1;
  idx.rows = kc::permute_row_capacity(idx.tokens, top_k, experts, 1);
  idx.expert_offsets.assign(size_t(experts + 1), 0);
  idx.expert_counts.assign(size_t(experts), 0);
  idx.row_source.resize(size_t(idx.rows));
  idx.slot_row.resize(size_t(idx.tokens * top_k));
  if (idx.rows == 0) return idx;   // every segment empty: nothing to launch
  OpStage stage(l);
  kc::PermuteIndexView v;
  v.tokens = idx.tokens;
  v.top_k = top_k;
  v.experts = experts;
  v.align_rows = 1;
  v.row_capacity = idx.rows;
  v.expert_offsets = stage.alloc<int64_t>(idx.expert_offsets.size());
  v.expert_counts = stage.alloc<int64_t>(idx.expert_counts.size());
  v.row_source = stage.alloc<int32_t>(idx.row_source.size());
  v.slot_row = stage.alloc<int64_t>(idx.slot_row.size());
  v.invalid_ids = stage.alloc<int32_t>(1);
  stage.zero(v.invalid_ids, sizeof(int32_t));
  v.workspace = stage.alloc<int32_t>(size_t(std::max<int64_t>(1, kc::permute_workspace_count(idx.tokens, top_k, experts))));
  kc::build_permute_index_cuda(stage.upload(ids), v, stage.stream());
  int32_t invalid = 0;
  stage.download(span(idx.expert_offsets), v.expert_offsets);
  stage.download(span(idx.expert_counts), v.expert_counts);
  stage.download(span(idx.row_source), v.row_source);
  stage.download(span(idx.slot_row), v.slot_row);
  stage.download(span(&invalid, 1), v.invalid_ids);
  stage.finish();
  if (invalid > 0) throw std::out_of_range(fmt::format("build_permute_index: {} expert ids outside [0, {})", invalid, experts));
  return idx;
}

void permute_forward(const KernelLaunch& l, const void* x, int64_t element_bytes, const kernels::PermuteIndex& index, int64_t dim,
                     void* out) {
  if (index.rows == 0 || dim == 0) return;
  OpStage stage(l);
  const auto v = upload_index(stage, index);
  const size_t in_bytes = size_t(index.tokens * dim * element_bytes), out_bytes = size_t(index.rows * dim * element_bytes);
  const auto* dx = stage.upload(span(static_cast<const std::byte*>(x), in_bytes));
  auto* d = stage.alloc<std::byte>(out_bytes);
  kc::permute_forward_cuda(dx, element_bytes, v, dim, d, stage.stream());
  stage.download(span(static_cast<std::byte*>(out), out_bytes), d);
  stage.finish();
}

void permute_backward(const KernelLaunch& l, span<const float> rows, const kernels::PermuteIndex& index, int64_t dim,
                      span<float> dx) {
  if (dx.empty()) return;
  OpStage stage(l);
  const auto v = upload_index(stage, index);
  float* out = stage.alloc<float>(dx.size());
  kc::permute_backward_cuda(stage.upload(rows), kF32, v, dim, out, stage.stream());
  stage.download(dx, out);
  stage.finish();
}

void unpermute_forward(const KernelLaunch& l, span<const float> y, span<const float> weights, const kernels::PermuteIndex& index,
                       int64_t dim, span<float> out) {
  if (out.empty()) return;
  OpStage stage(l);
  const auto v = upload_index(stage, index);
  float* d = stage.alloc<float>(out.size());
  kc::unpermute_forward_cuda(stage.upload(y), kF32, stage.upload(weights), v, dim, d, stage.stream());
  stage.download(out, d);
  stage.finish();
}

void unpermute_backward(const KernelLaunch& l, span<const float> y, span<const float> weights, span<const float> dout,
                        const kernels::PermuteIndex& index, int64_t dim, span<float> dy, span<float> dweights) {
  if (dweights.empty()) return;
  OpStage stage(l);
  const auto v = upload_index(stage, index);
  float* d_dy = stage.alloc<float>(dy.size());
  float* d_dw = stage.alloc<float>(dweights.size());
  kc::unpermute_backward_cuda(stage.upload(y), stage.upload(weights), stage.upload(dout), kF32, v, dim, d_dy, d_dw, stage.stream());
  stage.download(dy, d_dy);
  stage.download(dweights, d_dw);
  stage.finish();
}

}  // namespace

void add_moe_kernels(KernelTable& table) {
  table.build_permute_index.run = build_permute_index;
  table.permute_forward.run = permute_forward;
  table.permute_backward.run = permute_backward;
  table.unpermute_forward.run = unpermute_forward;
  table.unpermute_backward.run = unpermute_backward;
}

}  // namespace tandem::backend::cuda_ops
