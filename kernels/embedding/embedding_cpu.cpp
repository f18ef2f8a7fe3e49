// Token embedding lookup and its weight gradient (see embedding_cpu.h).
#include "kernels/embedding/embedding_cpu.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

void check_ids(const char* name, std::span<const int32_t> ids, int64_t vocab) {
  for (size_t t = 0; t < ids.size(); ++t) {
    check_arg(ids[t] >= 0 && ids[t] < vocab, name,
              fmt::format("ids[{}] = {} is outside the vocabulary [0, {})", t, ids[t], vocab));
  }
}

template <typename T>
void forward_impl(std::span<const int32_t> ids, std::span<const T> table, int64_t vocab, int64_t dim,
                  std::span<T> out) {
  constexpr const char* kName = "embedding_forward";
  const auto tokens = static_cast<int64_t>(ids.size());
  check_size(kName, "table", table.size(), vocab * dim, fmt::format("[vocab={}, dim={}]", vocab, dim));
  check_size(kName, "out", out.size(), tokens * dim, fmt::format("[tokens={}, dim={}]", tokens, dim));
  check_ids(kName, ids, vocab);
  for (int64_t t = 0; t < tokens; ++t) {
    const T* row = table.data() + static_cast<int64_t>(ids[static_cast<size_t>(t)]) * dim;
    std::copy(row, row + dim, out.data() + t * dim);
  }
}

template <typename T>
void backward_weight_impl(std::span<const int32_t> ids, std::span<const T> dout, int64_t vocab, int64_t dim,
                          std::span<T> dtable) {
  constexpr const char* kName = "embedding_backward_weight";
  const auto tokens = static_cast<int64_t>(ids.size());
  check_size(kName, "dout", dout.size(), tokens * dim, fmt::format("[tokens={}, dim={}]", tokens, dim));
  check_size(kName, "dtable", dtable.size(), vocab * dim, fmt::format("[vocab={}, dim={}]", vocab, dim));
  check_ids(kName, ids, vocab);
  for (int64_t t = 0; t < tokens; ++t) {
    T* row = dtable.data() + static_cast<int64_t>(ids[static_cast<size_t>(t)]) * dim;
    const T* g = dout.data() + t * dim;
    for (int64_t d = 0; d < dim; ++d) row[d] += g[d];
  }
}

}  // namespace

void embedding_forward(std::span<const int32_t> ids, std::span<const float> table, int64_t vocab, int64_t dim,
                       std::span<float> out) {
  forward_impl(ids, table, vocab, dim, out);
}
void embedding_forward(std::span<const int32_t> ids, std::span<const double> table, int64_t vocab, int64_t dim,
                       std::span<double> out) {
  forward_impl(ids, table, vocab, dim, out);
}
void embedding_backward_weight(std::span<const int32_t> ids, std::span<const float> dout, int64_t vocab,
                               int64_t dim, std::span<float> dtable) {
  backward_weight_impl(ids, dout, vocab, dim, dtable);
}
void embedding_backward_weight(std::span<const int32_t> ids, std::span<const double> dout, int64_t vocab,
                               int64_t dim, std::span<double> dtable) {
  backward_weight_impl(ids, dout, vocab, dim, dtable);
}

}  // namespace tandem::kernels
