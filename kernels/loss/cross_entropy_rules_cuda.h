// The running log-sum-exp of the CUDA cross-entropy (cross_entropy.cu) as a __host__ __device__
// struct: each thread's (max, Σ exp(x − max)) over its elements and the merge of two such pairs. The
// host test replays a block's threads, xor-shuffle tree and warp order with it, without a GPU.
#pragma once
#include <cmath>

#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::ce_rules {

TANDEM_HOST_DEVICE float exp_f(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  return std::exp(x);
#endif
}

// Running (m, s) with s = Σ exp(x − m): a larger x rescales s. −inf adds nothing; a NaN makes s NaN
// (m never is), and the NaN survives every merge, so a NaN logit gives a NaN lse as in the reference.
struct OnlineLse {
  float m = -INFINITY;
  float s = 0.0f;
  TANDEM_HOST_DEVICE void add(float x) {
    if (x > m) {
      s = s * exp_f(m - x) + 1.0f;  // exp(−inf) = 0 for the first element
      m = x;
    } else if (x != -INFINITY) {
      s += exp_f(x - m);
    }
  }
  TANDEM_HOST_DEVICE void merge(float om, float os) {
    const float nm = m > om ? m : om;
    if (nm == -INFINITY) {  // nothing finite on either side: s is 0, or NaN after a NaN
      s += os;
      return;
    }
    s = s * exp_f(m - nm) + os * exp_f(om - nm);
    m = nm;
  }
  TANDEM_HOST_DEVICE float lse() const {
#if defined(__CUDA_ARCH__)
    return m + logf(s);
#else
    return m + std::log(s);
#endif
  }
};

}  // namespace tandem::kernels::ce_rules
