// Token embedding lookup and its weight gradient (CPU reference). The double overloads exist for
// the gradient checks; the float ones are what the backend runs.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// out[t, :] = table[ids[t], :]. ids [tokens], table [vocab, dim], out [tokens, dim].
// An id outside [0, vocab) is an error naming its position.
void embedding_forward(std::span<const int32_t> ids, std::span<const float> table, int64_t vocab, int64_t dim,
                       std::span<float> out);
void embedding_forward(std::span<const int32_t> ids, std::span<const double> table, int64_t vocab, int64_t dim,
                       std::span<double> out);

// Phase W: dtable[ids[t], :] += dout[t, :] for t in increasing order (adds into dtable [vocab, dim]).
void embedding_backward_weight(std::span<const int32_t> ids, std::span<const float> dout, int64_t vocab,
                               int64_t dim, std::span<float> dtable);
void embedding_backward_weight(std::span<const int32_t> ids, std::span<const double> dout, int64_t vocab,
                               int64_t dim, std::span<double> dtable);

}  // namespace tandem::kernels
