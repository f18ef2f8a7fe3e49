// Element types of the activations the memory-bound CUDA kernels read and write (FP32 or BF16; the
// arithmetic is FP32 either way), with their loads and stores as device functions, and the
// __host__ __device__ marker shared with the host tests. Plain C++ sees only the host part.
#pragma once
#include <cstdint>
#include <cstring>

#if !defined(TANDEM_HOST_DEVICE)
#if defined(__CUDACC__)
#define TANDEM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TANDEM_HOST_DEVICE inline
#endif
#endif

namespace tandem::kernels::cuda {

// F32: float. BF16: the top 16 bits of a float (uint16_t in memory), widened exactly on load and
// rounded to nearest even on store, as round_to_bf16 (kernels/common/bf16.h) does.
enum class ActType : uint8_t { F32, BF16 };

inline const char* act_type_name(ActType t) { return t == ActType::F32 ? "f32" : "bf16"; }
inline int64_t act_type_bytes(ActType t) { return t == ActType::F32 ? 4 : 2; }

#if defined(__CUDACC__)
namespace act {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const uint16_t* p, int64_t i) {
  return __uint_as_float(static_cast<uint32_t>(p[i]) << 16);
}

// Round to nearest even; NaN stays a quiet NaN with its sign (float_to_bf16_bits).
__device__ __forceinline__ uint16_t bf16_bits(float x) {
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(uint16_t* p, int64_t i, float v) { p[i] = bf16_bits(v); }

}  // namespace act
#endif

}  // namespace tandem::kernels::cuda
