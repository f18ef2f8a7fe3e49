// Column split/concat and the shared-rope key of MLA (see mla_layout_cpu.h).
#include "kernels/attention/mla_layout_cpu.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

void check_split(const char* name, size_t x, size_t xa, size_t xb, int64_t rows, int64_t a, int64_t b) {
  check_at_least(name, "rows", rows, 0);
  check_at_least(name, "a", a, 0);
  check_at_least(name, "b", b, 0);
  check_size(name, "x", x, rows * (a + b), fmt::format("[rows={}, a+b={}]", rows, a + b));
  check_size(name, "xa", xa, rows * a, fmt::format("[rows={}, a={}]", rows, a));
  check_size(name, "xb", xb, rows * b, fmt::format("[rows={}, b={}]", rows, b));
}

template <typename T>
void split_impl(std::span<const T> x, int64_t rows, int64_t a, int64_t b, std::span<T> xa, std::span<T> xb) {
  check_split("split_columns", x.size(), xa.size(), xb.size(), rows, a, b);
  for (int64_t r = 0; r < rows; ++r) {
    const T* src = x.data() + r * (a + b);
    std::copy(src, src + a, xa.data() + r * a);
    std::copy(src + a, src + a + b, xb.data() + r * b);
  }
}

template <typename T>
void concat_impl(std::span<const T> xa, std::span<const T> xb, int64_t rows, int64_t a, int64_t b, std::span<T> x) {
  check_split("concat_columns", x.size(), xa.size(), xb.size(), rows, a, b);
  for (int64_t r = 0; r < rows; ++r) {
    T* dst = x.data() + r * (a + b);
    std::copy(xa.data() + r * a, xa.data() + (r + 1) * a, dst);
    std::copy(xb.data() + r * b, xb.data() + (r + 1) * b, dst + a);
  }
}

void check_shared(const char* name, size_t k, size_t k_nope, size_t k_rope, int64_t tokens, int64_t heads,
                  int64_t nope, int64_t rope) {
  check_at_least(name, "tokens", tokens, 0);
  check_at_least(name, "heads", heads, 1);
  check_at_least(name, "nope", nope, 0);
  check_at_least(name, "rope", rope, 0);
  check_size(name, "k", k, tokens * heads * (nope + rope),
             fmt::format("[tokens={}, heads={}, nope+rope={}]", tokens, heads, nope + rope));
  check_size(name, "k_nope", k_nope, tokens * heads * nope, fmt::format("[tokens={}, heads={}, nope={}]", tokens, heads, nope));
  check_size(name, "k_rope", k_rope, tokens * rope, fmt::format("[tokens={}, rope={}]", tokens, rope));
}

template <typename T>
void shared_impl(std::span<const T> k_nope, std::span<const T> k_rope, int64_t tokens, int64_t heads, int64_t nope,
                 int64_t rope, std::span<T> k) {
  check_shared("concat_shared_rope", k.size(), k_nope.size(), k_rope.size(), tokens, heads, nope, rope);
  for (int64_t t = 0; t < tokens; ++t) {
    const T* kr = k_rope.data() + t * rope;
    for (int64_t h = 0; h < heads; ++h) {
      T* dst = k.data() + (t * heads + h) * (nope + rope);
      const T* kn = k_nope.data() + (t * heads + h) * nope;
      std::copy(kn, kn + nope, dst);
      std::copy(kr, kr + rope, dst + nope);
    }
  }
}

template <typename T>
void shared_backward_impl(std::span<const T> dk, int64_t tokens, int64_t heads, int64_t nope, int64_t rope,
                          std::span<T> dk_nope, std::span<T> dk_rope) {
  check_shared("concat_shared_rope_backward", dk.size(), dk_nope.size(), dk_rope.size(), tokens, heads, nope, rope);
  for (int64_t t = 0; t < tokens; ++t) {
    T* dr = dk_rope.data() + t * rope;
    std::fill(dr, dr + rope, T(0));
    for (int64_t h = 0; h < heads; ++h) {
      const T* src = dk.data() + (t * heads + h) * (nope + rope);
      std::copy(src, src + nope, dk_nope.data() + (t * heads + h) * nope);
      for (int64_t i = 0; i < rope; ++i) dr[i] += src[nope + i];
    }
  }
}

}  // namespace

void split_columns(std::span<const float> x, int64_t rows, int64_t a, int64_t b, std::span<float> xa,
                   std::span<float> xb) {
  split_impl(x, rows, a, b, xa, xb);
}
void split_columns(std::span<const double> x, int64_t rows, int64_t a, int64_t b, std::span<double> xa,
                   std::span<double> xb) {
  split_impl(x, rows, a, b, xa, xb);
}
void concat_columns(std::span<const float> xa, std::span<const float> xb, int64_t rows, int64_t a, int64_t b,
                    std::span<float> x) {
  concat_impl(xa, xb, rows, a, b, x);
}
void concat_columns(std::span<const double> xa, std::span<const double> xb, int64_t rows, int64_t a, int64_t b,
                    std::span<double> x) {
  concat_impl(xa, xb, rows, a, b, x);
}
void concat_shared_rope(std::span<const float> k_nope, std::span<const float> k_rope, int64_t tokens, int64_t heads,
                        int64_t nope, int64_t rope, std::span<float> k) {
  shared_impl(k_nope, k_rope, tokens, heads, nope, rope, k);
}
void concat_shared_rope(std::span<const double> k_nope, std::span<const double> k_rope, int64_t tokens,
                        int64_t heads, int64_t nope, int64_t rope, std::span<double> k) {
  shared_impl(k_nope, k_rope, tokens, heads, nope, rope, k);
}
void concat_shared_rope_backward(std::span<const float> dk, int64_t tokens, int64_t heads, int64_t nope,
                                 int64_t rope, std::span<float> dk_nope, std::span<float> dk_rope) {
  shared_backward_impl(dk, tokens, heads, nope, rope, dk_nope, dk_rope);
}
void concat_shared_rope_backward(std::span<const double> dk, int64_t tokens, int64_t heads, int64_t nope,
                                 int64_t rope, std::span<double> dk_nope, std::span<double> dk_rope) {
  shared_backward_impl(dk, tokens, heads, nope, rope, dk_nope, dk_rope);
}

}  // namespace tandem::kernels
