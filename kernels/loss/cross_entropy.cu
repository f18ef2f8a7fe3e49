// CUDA cross-entropy kernels (cross_entropy_cuda.h): one 256-thread block per token reads its row
// once (16-byte loads when the row allows), each thread keeping a running (max, Σ exp(x − max)); the
// pairs are merged by a fixed xor-shuffle tree and then in warp order. One 1024-thread block sums the
// token losses in double (contiguous spans, then a fixed tree). The backward is elementwise per row.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/loss/cross_entropy_cuda.h"
#include "kernels/loss/cross_entropy_rules_cuda.h"

namespace tandem::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTotalThreads = 1024;
constexpr unsigned kFullMask = 0xffffffffu;

// Sixteen bytes of the row: 4 floats or 8 BF16 values.
template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T));

__device__ __forceinline__ void load16(const float* p, float (&v)[4]) {
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void load16(const uint16_t* p, float (&v)[8]) {
  const uint4 q = *reinterpret_cast<const uint4*>(p);
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) v[2 * i] = __uint_as_float(w[i] << 16), v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
}
__device__ __forceinline__ void store16(float* p, const float (&v)[4]) {
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void store16(uint16_t* p, const float (&v)[8]) {
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) w[i] = act::bf16_bits(v[2 * i]) | (static_cast<uint32_t>(act::bf16_bits(v[2 * i + 1])) << 16);
  *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const T* __restrict__ logits, const int32_t* __restrict__ targets, int64_t vocab,
                                 int32_t ignore_index, bool vectorised, float* __restrict__ lse,
                                 float* __restrict__ token_loss) {
  __shared__ float warp_m[kThreads / 32], warp_s[kThreads / 32];
  const int64_t t = blockIdx.x;
  const int32_t y = targets[t];
  if (y == ignore_index) {  // the whole block leaves together
    if (threadIdx.x == 0) lse[t] = 0.0f, token_loss[t] = 0.0f;
    return;
  }
  const T* row = logits + t * vocab;
  ce_rules::OnlineLse acc;
  if (vectorised) {
    for (int64_t u = threadIdx.x; u < vocab / kVec<T>; u += kThreads) {
      float v[kVec<T>];
      load16(row + u * kVec<T>, v);
#pragma unroll
      for (int i = 0; i < kVec<T>; ++i) acc.add(v[i]);
    }
  } else {
    for (int64_t j = threadIdx.x; j < vocab; j += kThreads) acc.add(act::load(row, j));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const float om = __shfl_xor_sync(kFullMask, acc.m, offset), os = __shfl_xor_sync(kFullMask, acc.s, offset);
    acc.merge(om, os);
  }
  if (threadIdx.x % 32 == 0) warp_m[threadIdx.x / 32] = acc.m, warp_s[threadIdx.x / 32] = acc.s;
  __syncthreads();
  if (threadIdx.x == 0) {
    ce_rules::OnlineLse total;
    for (int w = 0; w < kThreads / 32; ++w) total.merge(warp_m[w], warp_s[w]);
    const float l = total.lse();
    lse[t] = l;
    token_loss[t] = y >= 0 && y < vocab ? l - act::load(row, y) : __int_as_float(0x7fc00000);
  }
}

// One block: counted, invalid and the double sum of token_loss over the counted tokens.
__global__ void __launch_bounds__(kTotalThreads)
    cross_entropy_totals_kernel(const float* __restrict__ token_loss, const int32_t* __restrict__ targets,
                                int64_t tokens, int64_t vocab, int32_t ignore_index,
                                CrossEntropyTotals* __restrict__ totals) {
  __shared__ double sum[kTotalThreads];
  __shared__ int64_t counted[kTotalThreads], invalid[kTotalThreads];
  const int64_t per = (tokens + kTotalThreads - 1) / kTotalThreads;
  const int64_t lo = threadIdx.x * per, hi = lo + per < tokens ? lo + per : tokens;
  double s = 0.0;
  int64_t c = 0, bad = 0;
  for (int64_t t = lo; t < hi; ++t) {
    const int32_t y = targets[t];
    if (y == ignore_index) continue;
    s += static_cast<double>(token_loss[t]);
    ++c;
    bad += y < 0 || y >= vocab;
  }
  sum[threadIdx.x] = s, counted[threadIdx.x] = c, invalid[threadIdx.x] = bad;
  __syncthreads();
  for (int stride = kTotalThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      sum[threadIdx.x] += sum[threadIdx.x + stride];
      counted[threadIdx.x] += counted[threadIdx.x + stride];
      invalid[threadIdx.x] += invalid[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    totals->loss_sum = sum[0];
    totals->counted = counted[0];
    totals->invalid = invalid[0];
    totals->mean_loss = counted[0] == 0 ? 0.0 : sum[0] / static_cast<double>(counted[0]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const T* __restrict__ logits, const int32_t* __restrict__ targets,
                                  const float* __restrict__ lse, const CrossEntropyTotals* __restrict__ totals,
                                  int64_t vocab, int32_t ignore_index, float dloss, bool vectorised,
                                  T* __restrict__ dlogits) {
  const int64_t t = blockIdx.x;
  const int32_t y = targets[t];
  const T* row = logits + t * vocab;
  T* out = dlogits + t * vocab;
  const int64_t counted = totals->counted;
  const float scale = counted == 0 ? 0.0f : __fdiv_rn(dloss, static_cast<float>(counted));
  const bool ignored = y == ignore_index, invalid = !ignored && (y < 0 || y >= vocab);
  const float l = ignored ? 0.0f : lse[t];
  // dlogits[v] = exp(x − lse) · scale (− scale at the target); 0 when ignored, NaN when invalid.
  const auto grad = [&](float x, int64_t v) {
    if (ignored) return 0.0f;
    if (invalid) return __int_as_float(0x7fc00000);
    const float p = __fmul_rn(expf(__fsub_rn(x, l)), scale);
    return v == y ? __fsub_rn(p, scale) : p;
  };
  if (vectorised) {
    for (int64_t u = threadIdx.x; u < vocab / kVec<T>; u += kThreads) {
      float v[kVec<T>];
      load16(row + u * kVec<T>, v);
#pragma unroll
      for (int i = 0; i < kVec<T>; ++i) v[i] = grad(v[i], u * kVec<T> + i);
      store16(out + u * kVec<T>, v);
    }
  } else {
    for (int64_t j = threadIdx.x; j < vocab; j += kThreads) act::store(out, j, grad(act::load(row, j), j));
  }
}

[[noreturn]] void bad(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) bad(function, std::string(name) + " is null");
}

void check_common(const char* function, ActType type, int64_t tokens, int64_t vocab) {
  if (type != ActType::F32 && type != ActType::BF16) bad(function, "type must be ActType::F32 or ActType::BF16");
  if (tokens < 0 || tokens > 0x7fffffff) bad(function, "tokens must be in [0, 2^31), found " + std::to_string(tokens));
  if (vocab < 1 || vocab > 0x7fffffff) bad(function, "vocab must be in [1, 2^31), found " + std::to_string(vocab));
}

// 16-byte loads need every row to start on 16 bytes: vocab a multiple of the vector and aligned buffers.
bool can_vectorise(ActType type, int64_t vocab, const void* a, const void* b) {
  const int64_t per = type == ActType::F32 ? 4 : 8;
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return vocab % per == 0 && aligned(a) && (b == nullptr || aligned(b));
}

}  // namespace

void cross_entropy_forward_cuda(const void* logits, ActType type, const int32_t* targets, int64_t tokens, int64_t vocab,
                                int32_t ignore_index, float* lse, float* token_loss, CrossEntropyTotals* totals,
                                cudaStream_t stream) {
  constexpr const char* kName = "cross_entropy_forward_cuda";
  check_common(kName, type, tokens, vocab);
  check_pointer(kName, "totals", totals);
  if (tokens > 0) {
    check_pointer(kName, "logits", logits);
    check_pointer(kName, "targets", targets);
    check_pointer(kName, "lse", lse);
    check_pointer(kName, "token_loss", token_loss);
    const bool vec = can_vectorise(type, vocab, logits, nullptr);
    const auto grid = static_cast<unsigned>(tokens);
    if (type == ActType::F32) {
      cross_entropy_forward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(logits), targets, vocab,
                                                                  ignore_index, vec, lse, token_loss);
    } else {
      cross_entropy_forward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const uint16_t*>(logits), targets, vocab,
                                                                  ignore_index, vec, lse, token_loss);
    }
    TANDEM_CUDA_CHECK_LAUNCH();
  }
  cross_entropy_totals_kernel<<<1, kTotalThreads, 0, stream>>>(token_loss, targets, tokens, vocab, ignore_index, totals);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward_cuda(const void* logits, ActType type, const int32_t* targets, const float* lse,
                                 const CrossEntropyTotals* totals, int64_t tokens, int64_t vocab, int32_t ignore_index,
                                 float dloss, void* dlogits, cudaStream_t stream) {
  constexpr const char* kName = "cross_entropy_backward_cuda";
  check_common(kName, type, tokens, vocab);
  if (tokens == 0) return;
  check_pointer(kName, "logits", logits);
  check_pointer(kName, "targets", targets);
  check_pointer(kName, "lse", lse);
  check_pointer(kName, "totals", totals);
  check_pointer(kName, "dlogits", dlogits);
  const bool vec = can_vectorise(type, vocab, logits, dlogits);
  const auto grid = static_cast<unsigned>(tokens);
  if (type == ActType::F32) {
    cross_entropy_backward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(logits), targets, lse, totals,
                                                                 vocab, ignore_index, dloss, vec,
                                                                 static_cast<float*>(dlogits));
  } else {
    cross_entropy_backward_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const uint16_t*>(logits), targets, lse,
                                                                 totals, vocab, ignore_index, dloss, vec,
                                                                 static_cast<uint16_t*>(dlogits));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
