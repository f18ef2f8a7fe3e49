// Token permutation by expert and the weighted combine, forward and backward (see permute_cpu.h).
#include "kernels/permute/permute_cpu.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

std::string rows_shape(const PermuteIndex& index, int64_t dim) {
  return fmt::format("[rows={}, dim={}]", index.rows, dim);
}
std::string tokens_shape(const PermuteIndex& index, int64_t dim) {
  return fmt::format("[tokens={}, dim={}]", index.tokens, dim);
}

void check_index(const char* name, const PermuteIndex& index, int64_t dim) {
  check_at_least(name, "dim", dim, 0);
  check_arg(static_cast<int64_t>(index.row_source.size()) == index.rows &&
                static_cast<int64_t>(index.slot_row.size()) == index.tokens * index.top_k,
            name, "the PermuteIndex is inconsistent (row_source or slot_row size); build it with build_permute_index");
}

template <typename T>
void permute_forward_impl(std::span<const T> x, const PermuteIndex& index, int64_t dim, std::span<T> out) {
  constexpr const char* kName = "permute_forward";
  check_index(kName, index, dim);
  check_size(kName, "x", x.size(), index.tokens * dim, tokens_shape(index, dim));
  check_size(kName, "out", out.size(), index.rows * dim, rows_shape(index, dim));
  for (int64_t r = 0; r < index.rows; ++r) {
    const int32_t src = index.row_source[static_cast<size_t>(r)];
    T* dst = out.data() + r * dim;
    if (src < 0) {
      std::fill(dst, dst + dim, T(0));
    } else {
      const T* row = x.data() + (src / index.top_k) * dim;
      std::copy(row, row + dim, dst);
    }
  }
}

template <typename T>
void permute_backward_impl(std::span<const T> dout, const PermuteIndex& index, int64_t dim, std::span<T> dx) {
  constexpr const char* kName = "permute_backward";
  check_index(kName, index, dim);
  check_size(kName, "dout", dout.size(), index.rows * dim, rows_shape(index, dim));
  check_size(kName, "dx", dx.size(), index.tokens * dim, tokens_shape(index, dim));
  for (int64_t t = 0; t < index.tokens; ++t) {
    T* dst = dx.data() + t * dim;
    std::fill(dst, dst + dim, T(0));
    for (int64_t k = 0; k < index.top_k; ++k) {
      const T* g = dout.data() + index.slot_row[static_cast<size_t>(t * index.top_k + k)] * dim;
      for (int64_t d = 0; d < dim; ++d) dst[d] += g[d];
    }
  }
}

template <typename T>
void unpermute_forward_impl(std::span<const T> y, std::span<const T> weights, const PermuteIndex& index, int64_t dim,
                            std::span<T> out) {
  constexpr const char* kName = "unpermute_forward";
  check_index(kName, index, dim);
  check_size(kName, "y", y.size(), index.rows * dim, rows_shape(index, dim));
  check_size(kName, "weights", weights.size(), index.tokens * index.top_k,
             fmt::format("[tokens={}, top_k={}]", index.tokens, index.top_k));
  check_size(kName, "out", out.size(), index.tokens * dim, tokens_shape(index, dim));
  for (int64_t t = 0; t < index.tokens; ++t) {
    T* dst = out.data() + t * dim;
    std::fill(dst, dst + dim, T(0));
    for (int64_t k = 0; k < index.top_k; ++k) {
      const size_t slot = static_cast<size_t>(t * index.top_k + k);
      const T w = weights[slot];
      const T* row = y.data() + index.slot_row[slot] * dim;
      for (int64_t d = 0; d < dim; ++d) dst[d] += w * row[d];
    }
  }
}

template <typename T>
void unpermute_backward_impl(std::span<const T> y, std::span<const T> weights, std::span<const T> dout,
                             const PermuteIndex& index, int64_t dim, std::span<T> dy, std::span<T> dweights) {
  constexpr const char* kName = "unpermute_backward";
  check_index(kName, index, dim);
  const std::string k_shape = fmt::format("[tokens={}, top_k={}]", index.tokens, index.top_k);
  check_size(kName, "y", y.size(), index.rows * dim, rows_shape(index, dim));
  check_size(kName, "weights", weights.size(), index.tokens * index.top_k, k_shape);
  check_size(kName, "dout", dout.size(), index.tokens * dim, tokens_shape(index, dim));
  check_size(kName, "dy", dy.size(), index.rows * dim, rows_shape(index, dim));
  check_size(kName, "dweights", dweights.size(), index.tokens * index.top_k, k_shape);
  for (int64_t r = 0; r < index.rows; ++r) {
    if (index.row_source[static_cast<size_t>(r)] < 0) std::fill(dy.data() + r * dim, dy.data() + (r + 1) * dim, T(0));
  }
  for (int64_t t = 0; t < index.tokens; ++t) {
    const T* g = dout.data() + t * dim;
    for (int64_t k = 0; k < index.top_k; ++k) {
      const size_t slot = static_cast<size_t>(t * index.top_k + k);
      const int64_t r = index.slot_row[slot];
      const T w = weights[slot];
      const T* row = y.data() + r * dim;
      T* dst = dy.data() + r * dim;
      T dot = 0;
      for (int64_t d = 0; d < dim; ++d) {
        dst[d] = w * g[d];
        dot += g[d] * row[d];
      }
      dweights[slot] = dot;
    }
  }
}

}  // namespace

PermuteIndex build_permute_index(std::span<const int32_t> topk_idx, int64_t top_k, int64_t experts,
                                 int64_t align_rows) {
  constexpr const char* kName = "build_permute_index";
  check_at_least(kName, "top_k", top_k, 1);
  check_at_least(kName, "experts", experts, 1);
  check_at_least(kName, "align_rows", align_rows, 1);
  check_arg(topk_idx.size() % static_cast<size_t>(top_k) == 0, kName,
            fmt::format("topk_idx has {} elements, not a multiple of top_k = {} ([tokens, top_k])", topk_idx.size(), top_k));
  PermuteIndex index;
  index.tokens = static_cast<int64_t>(topk_idx.size()) / top_k;
  index.top_k = top_k;
  index.experts = experts;
  index.align_rows = align_rows;
  index.expert_counts.assign(static_cast<size_t>(experts), 0);
  for (size_t i = 0; i < topk_idx.size(); ++i) {
    const int32_t e = topk_idx[i];
    check_arg(e >= 0 && e < experts, kName,
              fmt::format("topk_idx[{}, {}] = {} is outside [0, {})", i / static_cast<size_t>(top_k),
                          i % static_cast<size_t>(top_k), e, experts));
    ++index.expert_counts[static_cast<size_t>(e)];
  }
  index.expert_offsets.assign(static_cast<size_t>(experts + 1), 0);
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t count = index.expert_counts[static_cast<size_t>(e)];
    const int64_t padded = (count + align_rows - 1) / align_rows * align_rows;
    index.expert_offsets[static_cast<size_t>(e + 1)] = index.expert_offsets[static_cast<size_t>(e)] + padded;
  }
  index.rows = index.expert_offsets[static_cast<size_t>(experts)];
  index.row_source.assign(static_cast<size_t>(index.rows), -1);
  index.slot_row.assign(topk_idx.size(), -1);
  // Pairs in (token, slot) order fill each expert's segment front to back: a stable sort by expert.
  std::vector<int64_t> next(index.expert_offsets.begin(), index.expert_offsets.end() - 1);
  for (size_t i = 0; i < topk_idx.size(); ++i) {
    const int64_t r = next[static_cast<size_t>(topk_idx[i])]++;
    index.row_source[static_cast<size_t>(r)] = static_cast<int32_t>(i);
    index.slot_row[i] = r;
  }
  return index;
}

void permute_forward(std::span<const float> x, const PermuteIndex& index, int64_t dim, std::span<float> out) {
  permute_forward_impl(x, index, dim, out);
}
void permute_forward(std::span<const double> x, const PermuteIndex& index, int64_t dim, std::span<double> out) {
  permute_forward_impl(x, index, dim, out);
}
void permute_backward(std::span<const float> dout, const PermuteIndex& index, int64_t dim, std::span<float> dx) {
  permute_backward_impl(dout, index, dim, dx);
}
void permute_backward(std::span<const double> dout, const PermuteIndex& index, int64_t dim, std::span<double> dx) {
  permute_backward_impl(dout, index, dim, dx);
}
void unpermute_forward(std::span<const float> y, std::span<const float> weights, const PermuteIndex& index,
                       int64_t dim, std::span<float> out) {
  unpermute_forward_impl(y, weights, index, dim, out);
}
void unpermute_forward(std::span<const double> y, std::span<const double> weights, const PermuteIndex& index,
                       int64_t dim, std::span<double> out) {
  unpermute_forward_impl(y, weights, index, dim, out);
}
void unpermute_backward(std::span<const float> y, std::span<const float> weights, std::span<const float> dout,
                        const PermuteIndex& index, int64_t dim, std::span<float> dy, std::span<float> dweights) {
  unpermute_backward_impl(y, weights, dout, index, dim, dy, dweights);
}
void unpermute_backward(std::span<const double> y, std::span<const double> weights, std::span<const double> dout,
                        const PermuteIndex& index, int64_t dim, std::span<double> dy, std::span<double> dweights) {
  unpermute_backward_impl(y, weights, dout, index, dim, dy, dweights);
}

}  // namespace tandem::kernels
