// SwiGLU forward and backward (see swiglu_cpu.h).
#include "kernels/swiglu/swiglu_cpu.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
void forward_row(const T* gate, const T* up, int64_t n, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <typename T>
void backward_row(const T* gate, const T* up, const T* dout, int64_t n, T* dgate, T* dup) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = gate[i];
    const T s = sigmoid(g);
    dgate[i] = dout[i] * up[i] * s * (T(1) + g * (T(1) - s));
    dup[i] = dout[i] * g * s;
  }
}

template <typename T>
void forward_impl(std::span<const T> gate, std::span<const T> up, std::span<T> out) {
  const auto n = static_cast<int64_t>(gate.size());
  check_size("swiglu_forward", "up", up.size(), n, "[gate.size()]");
  check_size("swiglu_forward", "out", out.size(), n, "[gate.size()]");
  forward_row(gate.data(), up.data(), n, out.data());
}

template <typename T>
void backward_impl(std::span<const T> gate, std::span<const T> up, std::span<const T> dout, std::span<T> dgate,
                   std::span<T> dup) {
  const auto n = static_cast<int64_t>(gate.size());
  for (auto [name, size] : {std::pair{"up", up.size()}, std::pair{"dout", dout.size()},
                            std::pair{"dgate", dgate.size()}, std::pair{"dup", dup.size()}}) {
    check_size("swiglu_backward", name, size, n, "[gate.size()]");
  }
  backward_row(gate.data(), up.data(), dout.data(), n, dgate.data(), dup.data());
}

template <typename T>
void forward_fused_impl(std::span<const T> h, int64_t rows, int64_t ffn, std::span<T> out) {
  constexpr const char* kName = "swiglu_forward_fused";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "ffn", ffn, 0);
  check_size(kName, "h", h.size(), rows * 2 * ffn, fmt::format("[rows={}, 2·ffn={}]", rows, 2 * ffn));
  check_size(kName, "out", out.size(), rows * ffn, fmt::format("[rows={}, ffn={}]", rows, ffn));
  for (int64_t r = 0; r < rows; ++r) {
    const T* hr = h.data() + r * 2 * ffn;
    forward_row(hr, hr + ffn, ffn, out.data() + r * ffn);
  }
}

template <typename T>
void backward_fused_impl(std::span<const T> h, std::span<const T> dout, int64_t rows, int64_t ffn, std::span<T> dh) {
  constexpr const char* kName = "swiglu_backward_fused";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "ffn", ffn, 0);
  check_size(kName, "h", h.size(), rows * 2 * ffn, fmt::format("[rows={}, 2·ffn={}]", rows, 2 * ffn));
  check_size(kName, "dout", dout.size(), rows * ffn, fmt::format("[rows={}, ffn={}]", rows, ffn));
  check_size(kName, "dh", dh.size(), rows * 2 * ffn, fmt::format("[rows={}, 2·ffn={}]", rows, 2 * ffn));
  for (int64_t r = 0; r < rows; ++r) {
    const T* hr = h.data() + r * 2 * ffn;
    T* dhr = dh.data() + r * 2 * ffn;
    backward_row(hr, hr + ffn, dout.data() + r * ffn, ffn, dhr, dhr + ffn);
  }
}

}  // namespace

void swiglu_forward(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
  forward_impl(gate, up, out);
}
void swiglu_forward(std::span<const double> gate, std::span<const double> up, std::span<double> out) {
  forward_impl(gate, up, out);
}
void swiglu_backward(std::span<const float> gate, std::span<const float> up, std::span<const float> dout,
                     std::span<float> dgate, std::span<float> dup) {
  backward_impl(gate, up, dout, dgate, dup);
}
void swiglu_backward(std::span<const double> gate, std::span<const double> up, std::span<const double> dout,
                     std::span<double> dgate, std::span<double> dup) {
  backward_impl(gate, up, dout, dgate, dup);
}
void swiglu_forward_fused(std::span<const float> h, int64_t rows, int64_t ffn, std::span<float> out) {
  forward_fused_impl(h, rows, ffn, out);
}
void swiglu_forward_fused(std::span<const double> h, int64_t rows, int64_t ffn, std::span<double> out) {
  forward_fused_impl(h, rows, ffn, out);
}
void swiglu_backward_fused(std::span<const float> h, std::span<const float> dout, int64_t rows, int64_t ffn,
                           std::span<float> dh) {
  backward_fused_impl(h, dout, rows, ffn, dh);
}
void swiglu_backward_fused(std::span<const double> h, std::span<const double> dout, int64_t rows, int64_t ffn,
                           std::span<double> dh) {
  backward_fused_impl(h, dout, rows, ffn, dh);
}

}  // namespace tandem::kernels
