// What the attention kernels share (included by attention_fwd.cu and attention_bwd.cu only): PTX
// wrappers (cp.async, ldmatrix, mma.sync m16n8k16 BF16), the tile loader with zero-filled rows past
// the sequence, the lane -> ldmatrix address patterns, and the host-side argument checks.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/attention/attention_cpu.h"
#include "kernels/attention/attention_tiling.h"

namespace tandem::kernels::cuda::attention_detail {

// ---------------------------------------------------------------------------------------------
// PTX wrappers. mma.sync.m16n8k16 (row.col, BF16 in, FP32 accumulate), lane = 4·g + t:
//   A 16x16: a0 = (row g, cols 2t, 2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B 16x8:  b0 = (k rows 2t, 2t+1, col g), b1 = (k rows 2t+8, 2t+9, col g)
//   C 16x8:  c0, c1 = (row g, cols 2t, 2t+1), c2, c3 = (row g+8, cols 2t, 2t+1)
// Each 32-bit register holds two BF16, the lower column (or k) index in the low half.
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; when !valid nothing is read and the 16 bytes are zero-filled.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
}
// 4 bytes global -> shared, zero-filled when !valid.
__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Four 8x8 BF16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives
// matrix i's (row lane/4, cols 2(lane%4), +1); with .trans, (rows 2(lane%4), +1; col lane/4).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(smem))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(smem))
               : "memory");
}

// d += a · b for one 16x8x16 step.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to BF16 (nearest even) in one register, `lo` in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}
__device__ __forceinline__ float2 unpack_bf16(uint32_t u) {
  __nv_bfloat162 v;
  memcpy(&v, &u, sizeof(u));
  return __bfloat1622float2(v);
}

// A fragment of an m16n8k16 step from C fragments of two adjacent n8 tiles (columns 16j..16j+15 of
// a 16-row accumulator, e.g. P or dS), rounded to BF16: the accumulator becomes the next product's A.
__device__ __forceinline__ void accum_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack_bf16(lo[0], lo[1]);
  a[1] = pack_bf16(lo[2], lo[3]);
  a[2] = pack_bf16(hi[0], hi[1]);
  a[3] = pack_bf16(hi[2], hi[3]);
}

using attention_tiling::a_operand_lane;
using attention_tiling::b_rows_lane;
using attention_tiling::b_trans_lane;
using attention_tiling::LanePos;

// ---------------------------------------------------------------------------------------------
// Tile loads: rows [row0, row0 + kRows) of a [.., ld]-strided BF16 matrix into a padded shared tile
// (row stride kSmemLd), 16 bytes per cp.async; rows at or past `rows_valid` are zero-filled.
// ---------------------------------------------------------------------------------------------
template <int kRows, int kCols, int kSmemLd>
__device__ __forceinline__ void load_tile_async(__nv_bfloat16* smem, const __nv_bfloat16* gmem, int64_t ld, int64_t row0,
                                                int64_t rows_valid, int tid) {
  constexpr int kChunksPerRow = kCols / 8;
  constexpr int kChunks = kRows * kChunksPerRow;
  static_assert(kChunks % attention_tiling::kThreads == 0, "tile chunks must split evenly over the threads");
#pragma unroll
  for (int c = tid; c < kChunks; c += attention_tiling::kThreads) {
    const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const bool valid = row0 + r < rows_valid;
    const __nv_bfloat16* src = valid ? gmem + (row0 + r) * ld + col : gmem;
    cp_async_16(smem + r * kSmemLd + col, src, valid);
  }
}

// kRows FP32 values [row0, row0 + kRows) of a contiguous vector (lse, delta), zero past rows_valid;
// threads 0..kRows-1 each copy one.
template <int kRows>
__device__ __forceinline__ void load_row_values_async(float* smem, const float* gmem, int64_t row0, int64_t rows_valid,
                                                      int tid) {
  if (tid < kRows) {
    const bool valid = row0 + tid < rows_valid;
    cp_async_4(smem + tid, valid ? gmem + row0 + tid : gmem, valid);
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.
// ---------------------------------------------------------------------------------------------

inline float softmax_scale() { return 1.0f / std::sqrt(static_cast<float>(attention_tiling::kQkDim)); }
inline constexpr float kLog2e = 1.4426950408889634f;

// Throws std::invalid_argument naming `function` unless the shape is one the kernels run and every
// pointer is non-null (when its tensor has elements) and aligned: BF16 tensors to 16 bytes (cp.async
// copies 16 bytes), FP32 ones to 4.
struct PointerArg {
  const char* name;
  const void* ptr;
  int64_t elements;
  int64_t align_bytes;
};
inline void check_args(const char* function, const AttentionShape& s, std::initializer_list<PointerArg> pointers) {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(function) + ": " + what); };
  if (s.batch < 0 || s.seq < 0) {
    fail("shape.batch and shape.seq must be >= 0, got batch " + std::to_string(s.batch) + ", seq " + std::to_string(s.seq));
  }
  if (s.heads < 1) fail("shape.heads must be >= 1, got " + std::to_string(s.heads));
  if (s.qk_dim != attention_tiling::kQkDim || s.v_dim != attention_tiling::kVDim) {
    fail("only qk_dim 192 and v_dim 128 (MLA: 128 nope + 64 rope, value 128) are compiled, got qk_dim " +
         std::to_string(s.qk_dim) + ", v_dim " + std::to_string(s.v_dim));
  }
  if (s.batch > 65535 || s.heads > 65535) {
    fail("batch and heads must be at most 65535 (grid dimensions), got batch " + std::to_string(s.batch) + ", heads " +
         std::to_string(s.heads));
  }
  if (s.seq > (int64_t{1} << 30)) fail("shape.seq must be at most 2^30, got " + std::to_string(s.seq));
  for (const PointerArg& p : pointers) {
    if (p.elements == 0) continue;
    if (p.ptr == nullptr) fail(std::string(p.name) + " is null");
    if (reinterpret_cast<uintptr_t>(p.ptr) % static_cast<uintptr_t>(p.align_bytes) != 0) {
      fail(std::string(p.name) + " must be " + std::to_string(p.align_bytes) + "-byte aligned");
    }
  }
}

// Element counts of the tensors.
inline int64_t qk_elements(const AttentionShape& s) { return s.batch * s.seq * s.heads * s.qk_dim; }
inline int64_t v_elements(const AttentionShape& s) { return s.batch * s.seq * s.heads * s.v_dim; }
inline int64_t lse_elements(const AttentionShape& s) { return s.batch * s.heads * s.seq; }

}  // namespace tandem::kernels::cuda::attention_detail
