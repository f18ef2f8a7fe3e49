// Token permutation for MoE on the CPU: rows of (token, slot) pairs grouped by expert (stable), with
// the maps both ways; permute (dispatch side) and unpermute with the weighted combine, and both
// backwards. A padded variant aligns each expert's segment to 128 rows for the grouped FP8 GEMM.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace tandem::kernels {

// Where each (token, slot) pair goes. Rows are ordered by expert, then by token, then by slot; with
// align_rows > 1 each expert's segment is followed by zero rows up to a multiple of align_rows.
struct PermuteIndex {
  int64_t tokens = 0;
  int64_t top_k = 0;
  int64_t experts = 0;
  int64_t align_rows = 1;
  int64_t rows = 0;                     // rows of the permuted buffer, padding included
  std::vector<int64_t> expert_offsets;  // [experts + 1] first row of each expert's segment; [experts] = rows
  std::vector<int64_t> expert_counts;   // [experts] real (unpadded) rows of each expert
  std::vector<int32_t> row_source;      // [rows] t·top_k + k of the pair a row holds, −1 for padding
  std::vector<int64_t> slot_row;        // [tokens·top_k] the row pair (t, k) went to
};

// topk_idx [tokens, top_k] expert ids in [0, experts). align_rows = 1 gives the dense layout
// (rows = tokens·top_k); 128 gives the layout of fp8_grouped_gemm_nt (offsets multiples of 128).
PermuteIndex build_permute_index(std::span<const int32_t> topk_idx, int64_t top_k, int64_t experts,
                                 int64_t align_rows = 1);

// out[r, :] = x[row_source[r] / top_k, :], 0 for padding rows. x [tokens, dim], out [rows, dim].
void permute_forward(std::span<const float> x, const PermuteIndex& index, int64_t dim, std::span<float> out);
void permute_forward(std::span<const double> x, const PermuteIndex& index, int64_t dim, std::span<double> out);

// Phase B, writes dx [tokens, dim]: dx[t, :] = Σ_k dout[slot_row[t·top_k + k], :], k in order.
void permute_backward(std::span<const float> dout, const PermuteIndex& index, int64_t dim, std::span<float> dx);
void permute_backward(std::span<const double> dout, const PermuteIndex& index, int64_t dim, std::span<double> dx);

// The combine: out[t, :] = Σ_k weights[t, k] · y[slot_row[t·top_k + k], :], k in order.
// y [rows, dim] (expert outputs in permuted order), weights [tokens, top_k], out [tokens, dim].
void unpermute_forward(std::span<const float> y, std::span<const float> weights, const PermuteIndex& index,
                       int64_t dim, std::span<float> out);
void unpermute_forward(std::span<const double> y, std::span<const double> weights, const PermuteIndex& index,
                       int64_t dim, std::span<double> out);

// Phase B, writes dy [rows, dim] and dweights [tokens, top_k]:
// dy[slot_row[t, k], :] = weights[t, k] · dout[t, :] (padding rows 0), dweights[t, k] = dout[t, :]·y[slot_row[t, k], :].
void unpermute_backward(std::span<const float> y, std::span<const float> weights, std::span<const float> dout,
                        const PermuteIndex& index, int64_t dim, std::span<float> dy, std::span<float> dweights);
void unpermute_backward(std::span<const double> y, std::span<const double> weights, std::span<const double> dout,
                        const PermuteIndex& index, int64_t dim, std::span<double> dy, std::span<double> dweights);

}  // namespace tandem::kernels
