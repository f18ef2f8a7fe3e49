// CUDA FP8 quantisation kernels (see fp8_quant_cuda.h). Memory-bound: one warp per 1x128 tile, one
// 256-thread block per 128x128 block or transposed tile. The arithmetic is fp8_convert_cuda.h's,
// shared with the host test that checks it against the CPU reference.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/fp8/fp8_convert_cuda.h"
#include "kernels/fp8/fp8_quant_cuda.h"

namespace tandem::kernels::cuda {
namespace {

namespace rules = tandem::kernels::fp8_rules;

constexpr int kTile = 128;
constexpr unsigned kFullMask = 0xffffffffu;

// Where one matrix's scales go: element (row_unit, col_block) at row_unit·row_stride + col_block·col_stride.
struct ScaleAddressing {
  int64_t row_stride;
  int64_t col_stride;
  __device__ int64_t index(int64_t row_unit, int64_t col_block) const {
    return row_unit * row_stride + col_block * col_stride;
  }
};

ScaleAddressing scale_addressing(Fp8ScaleLayout layout, Fp8ScaleStorage storage, int64_t rows, int64_t cols) {
  const int64_t ld = fp8_scale_ld(layout, storage, rows, cols);
  if (storage == Fp8ScaleStorage::GemmReady && layout == Fp8ScaleLayout::Tile1x128) return {1, ld};
  return {ld, 1};
}

__device__ __forceinline__ float load_value(const float* x, int64_t i) { return __ldg(x + i); }
__device__ __forceinline__ float load_value(const uint16_t* x, int64_t i) {
  return rules::float_of(static_cast<uint32_t>(__ldg(x + i)) << 16);
}

// Four consecutive values starting at x + i (i a multiple of 4, the pointer 16- or 8-byte aligned).
__device__ __forceinline__ void load4(const float* x, int64_t i, float (&v)[4]) {
  const float4 q = __ldg(reinterpret_cast<const float4*>(x + i));
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void load4(const uint16_t* x, int64_t i, float (&v)[4]) {
  const uint2 q = __ldg(reinterpret_cast<const uint2*>(x + i));
  v[0] = rules::float_of(q.x << 16), v[1] = rules::float_of(q.x & 0xffff0000u);
  v[2] = rules::float_of(q.y << 16), v[3] = rules::float_of(q.y & 0xffff0000u);
}

__device__ __forceinline__ float warp_nan_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = rules::nan_max(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// One warp per 1x128 tile: lane l holds columns 4l..4l+3 of the tile.
template <typename In>
__global__ void __launch_bounds__(256) quantize_tile_kernel(const In* __restrict__ x, int64_t rows, int64_t cols,
                                                            int64_t kblocks, bool e4m3, bool pow2, bool vectorised,
                                                            ScaleAddressing out, uint8_t* __restrict__ codes,
                                                            float* __restrict__ scales) {
  const int64_t tile_id = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (tile_id >= rows * kblocks) return;  // the whole warp leaves together
  const int64_t row = tile_id / kblocks;
  const int64_t tile = tile_id % kblocks;
  const int64_t c0 = tile * kTile + lane * 4;
  const int64_t base = row * cols + c0;
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (vectorised && c0 < cols) {
    load4(x, base, v);  // cols % 4 == 0, so all four are inside the row
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i)
      if (c0 + i < cols) v[i] = load_value(x, base + i);
  }
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    if (c0 + i < cols) amax = rules::nan_max(amax, fabsf(v[i]));
  amax = warp_nan_max(amax);
  const float scale = rules::scale_for_amax(amax, e4m3, pow2);
  uint32_t packed = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) packed |= static_cast<uint32_t>(rules::quantize_value(v[i], scale, e4m3)) << (8 * i);
  if (vectorised && c0 < cols) {
    *reinterpret_cast<uint32_t*>(codes + base) = packed;
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i)
      if (c0 + i < cols) codes[base + i] = static_cast<uint8_t>(packed >> (8 * i));
  }
  if (lane == 0) scales[out.index(row, tile)] = scale;
}

// One 256-thread block per 128x128 block: warp w takes rows w, w+8, ..., lane l columns 4l..4l+3.
// Two passes over the block: its amax, then the codes (the second read mostly hits L1/L2).
template <typename In>
__device__ __forceinline__ void load_row_part(const In* __restrict__ x, int64_t rows, int64_t cols, int64_t r,
                                              int64_t c0, bool vectorised, float (&v)[4]) {
#pragma unroll
  for (int j = 0; j < 4; ++j) v[j] = 0.0f;
  if (r >= rows) return;
  const int64_t base = r * cols + c0;
  if (vectorised && c0 < cols) {
    load4(x, base, v);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (c0 + j < cols) v[j] = load_value(x, base + j);
  }
}

template <typename In>
__global__ void __launch_bounds__(256) quantize_block_kernel(const In* __restrict__ x, int64_t rows, int64_t cols,
                                                             bool e4m3, bool pow2, bool vectorised,
                                                             ScaleAddressing out, uint8_t* __restrict__ codes,
                                                             float* __restrict__ scales) {
  __shared__ float warp_amax[8];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t rb = blockIdx.y, cb = blockIdx.x;
  const int64_t c0 = cb * kTile + lane * 4;
  float amax = 0.0f;
#pragma unroll 4
  for (int i = 0; i < 16; ++i) {
    const int64_t r = rb * kTile + warp + 8 * i;
    float v[4];
    load_row_part(x, rows, cols, r, c0, vectorised, v);
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (r < rows && c0 + j < cols) amax = rules::nan_max(amax, fabsf(v[j]));
  }
  amax = warp_nan_max(amax);
  if (lane == 0) warp_amax[warp] = amax;
  __syncthreads();
  amax = 0.0f;
#pragma unroll
  for (int w = 0; w < 8; ++w) amax = rules::nan_max(amax, warp_amax[w]);
  const float scale = rules::scale_for_amax(amax, e4m3, pow2);
#pragma unroll 2
  for (int i = 0; i < 16; ++i) {
    const int64_t r = rb * kTile + warp + 8 * i;
    if (r >= rows) break;
    float v[4];
    load_row_part(x, rows, cols, r, c0, vectorised, v);
    const int64_t base = r * cols + c0;
    uint32_t packed = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) packed |= static_cast<uint32_t>(rules::quantize_value(v[j], scale, e4m3)) << (8 * j);
    if (vectorised && c0 < cols) {
      *reinterpret_cast<uint32_t*>(codes + base) = packed;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (c0 + j < cols) codes[base + j] = static_cast<uint8_t>(packed >> (8 * j));
    }
  }
  if (threadIdx.x == 0) scales[out.index(rb, cb)] = scale;
}

// One 256-thread block per 128 (old rows) x 128 (old columns) tile. The codes are staged in shared
// memory (row stride 129 bytes: a warp reading down a column hits 32 banks), dequantised on read with
// their row's tile scale, and each old column becomes one output 1x128 tile: warp w handles old
// columns w·16 .. w·16+15, lane l old rows 4l..4l+3.
__global__ void __launch_bounds__(256) transpose_requantize_kernel(const uint8_t* __restrict__ codes,
                                                                   const float* __restrict__ scales,
                                                                   ScaleAddressing in, int64_t rows, int64_t cols,
                                                                   bool e4m3, bool pow2, bool vectorised,
                                                                   ScaleAddressing out,
                                                                   uint8_t* __restrict__ out_codes,
                                                                   float* __restrict__ out_scales) {
  constexpr int kStride = kTile + 1;
  __shared__ uint8_t tile[kTile * kStride];
  __shared__ float row_scale[kTile];
  const int64_t rb = blockIdx.y, cb = blockIdx.x;
  const int64_t r0 = rb * kTile, c0 = cb * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // Stage: 8 rows per pass, one 4-byte word (or 4 bytes) per thread.
  for (int pass = 0; pass < kTile / 8; ++pass) {
    const int local_r = pass * 8 + warp;
    const int64_t r = r0 + local_r;
    const int64_t c = c0 + lane * 4;
    uint32_t word = 0;
    if (r < rows) {
      if (vectorised && c < cols) {
        word = __ldg(reinterpret_cast<const uint32_t*>(codes + r * cols + c));
      } else {
        for (int j = 0; j < 4; ++j)
          if (c + j < cols) word |= static_cast<uint32_t>(codes[r * cols + c + j]) << (8 * j);
      }
    }
    for (int j = 0; j < 4; ++j) tile[local_r * kStride + lane * 4 + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  if (threadIdx.x < kTile) {
    const int64_t r = r0 + threadIdx.x;
    row_scale[threadIdx.x] = r < rows ? scales[in.index(r, cb)] : 0.0f;
  }
  __syncthreads();

  for (int i = 0; i < 16; ++i) {
    const int local_c = warp * 16 + i;
    const int64_t c = c0 + local_c;
    if (c >= cols) break;  // warp-uniform
    float v[4];
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int local_r = lane * 4 + j;
      v[j] = rules::mul_rn(rules::decode_fp8(tile[local_r * kStride + local_c], e4m3), row_scale[local_r]);
      if (r0 + local_r < rows) amax = rules::nan_max(amax, fabsf(v[j]));
    }
    amax = warp_nan_max(amax);
    const float scale = rules::scale_for_amax(amax, e4m3, pow2);
    uint32_t packed = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) packed |= static_cast<uint32_t>(rules::quantize_value(v[j], scale, e4m3)) << (8 * j);
    const int64_t out_r0 = r0 + lane * 4;  // output column
    const int64_t base = c * rows + out_r0;
    if (vectorised && out_r0 < rows) {
      *reinterpret_cast<uint32_t*>(out_codes + base) = packed;
    } else {
      for (int j = 0; j < 4; ++j)
        if (out_r0 + j < rows) out_codes[base + j] = static_cast<uint8_t>(packed >> (8 * j));
    }
    if (lane == 0) out_scales[out.index(c, rb)] = scale;
  }
}

// Byte transpose through a 64x64 shared tile (row stride 65): out [cols, rows] = inᵀ.
__global__ void __launch_bounds__(256) transpose_bytes_kernel(const uint8_t* __restrict__ in, int64_t rows,
                                                              int64_t cols, uint8_t* __restrict__ out) {
  constexpr int kSide = 64;
  __shared__ uint8_t tile[kSide * (kSide + 1)];
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kSide, c0 = static_cast<int64_t>(blockIdx.x) * kSide;
  for (int i = threadIdx.x; i < kSide * kSide; i += blockDim.x) {
    const int lr = i / kSide, lc = i % kSide;
    if (r0 + lr < rows && c0 + lc < cols) tile[lr * (kSide + 1) + lc] = in[(r0 + lr) * cols + c0 + lc];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kSide * kSide; i += blockDim.x) {
    const int lc = i / kSide, lr = i % kSide;  // consecutive threads write consecutive old rows
    if (r0 + lr < rows && c0 + lc < cols) out[(c0 + lc) * rows + r0 + lr] = tile[lr * (kSide + 1) + lc];
  }
}

__global__ void transpose_block_scales_kernel(const float* __restrict__ scales, ScaleAddressing in, int64_t rblocks,
                                              int64_t cblocks, ScaleAddressing out, float* __restrict__ out_scales) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rblocks * cblocks) return;
  const int64_t rb = i / cblocks, cb = i % cblocks;
  out_scales[out.index(cb, rb)] = scales[in.index(rb, cb)];
}

void check_dims(const char* function, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) {
    throw std::invalid_argument(std::string(function) + ": rows and cols must be >= 0, found rows=" +
                                std::to_string(rows) + ", cols=" + std::to_string(cols));
  }
  if (rows > (int64_t{1} << 31) * kTile || cols > (int64_t{1} << 31) * kTile) {
    throw std::invalid_argument(std::string(function) + ": matrix too large for the launch grid: rows=" +
                                std::to_string(rows) + ", cols=" + std::to_string(cols));
  }
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) throw std::invalid_argument(std::string(function) + ": " + name + " is null for a non-empty matrix");
}

bool aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename In>
void launch_quantize(const In* x, int64_t rows, int64_t cols, Fp8ScaleLayout layout, bool e4m3, bool pow2,
                     ScaleAddressing out, uint8_t* codes, float* scales, cudaStream_t stream) {
  const bool vectorised = cols % 4 == 0 && aligned(x, 4 * sizeof(In)) && aligned(codes, 4);
  if (layout == Fp8ScaleLayout::Tile1x128) {
    const int64_t kblocks = fp8_blocks_of(cols);
    const int64_t warps = rows * kblocks;
    const int64_t blocks = (warps + 7) / 8;
    if (blocks > 0x7fffffff) throw std::invalid_argument("quantize_fp8_cuda: too many tiles for one launch");
    quantize_tile_kernel<In><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(x, rows, cols, kblocks, e4m3, pow2,
                                                                                  vectorised, out, codes, scales);
  } else {
    const int64_t rblocks = fp8_blocks_of(rows), cblocks = fp8_blocks_of(cols);
    if (rblocks > 65535) throw std::invalid_argument("quantize_fp8_cuda: more than 65535 row blocks");
    const dim3 grid(static_cast<unsigned>(cblocks), static_cast<unsigned>(rblocks));
    quantize_block_kernel<In><<<grid, 256, 0, stream>>>(x, rows, cols, e4m3, pow2, vectorised, out, codes, scales);
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void quantize_fp8_cuda(const void* x, Fp8InputType type, int64_t rows, int64_t cols, Fp8ScaleLayout layout,
                       const Fp8QuantConfig& config, Fp8ScaleStorage storage, uint8_t* codes, float* scales,
                       cudaStream_t stream) {
  constexpr const char* kName = "quantize_fp8_cuda";
  check_dims(kName, rows, cols);
  if (rows == 0 || cols == 0) return;
  check_pointer(kName, "x", x);
  check_pointer(kName, "codes", codes);
  check_pointer(kName, "scales", scales);
  const bool e4m3 = config.format == Fp8Format::E4M3;
  const ScaleAddressing out = scale_addressing(layout, storage, rows, cols);
  if (type == Fp8InputType::F32) {
    launch_quantize(static_cast<const float*>(x), rows, cols, layout, e4m3, config.pow2_scales, out, codes, scales,
                    stream);
  } else {
    launch_quantize(static_cast<const uint16_t*>(x), rows, cols, layout, e4m3, config.pow2_scales, out, codes, scales,
                    stream);
  }
}

void transpose_requantize_fp8_cuda(const uint8_t* codes, const float* scales, Fp8ScaleStorage in_storage, int64_t rows,
                                   int64_t cols, const Fp8QuantConfig& config, Fp8ScaleStorage out_storage,
                                   uint8_t* out_codes, float* out_scales, cudaStream_t stream) {
  constexpr const char* kName = "transpose_requantize_fp8_cuda";
  check_dims(kName, rows, cols);
  if (rows == 0 || cols == 0) return;
  check_pointer(kName, "codes", codes);
  check_pointer(kName, "scales", scales);
  check_pointer(kName, "out_codes", out_codes);
  check_pointer(kName, "out_scales", out_scales);
  const int64_t rblocks = fp8_blocks_of(rows), cblocks = fp8_blocks_of(cols);
  if (rblocks > 65535) throw std::invalid_argument(std::string(kName) + ": more than 65535 row blocks");
  const ScaleAddressing in = scale_addressing(Fp8ScaleLayout::Tile1x128, in_storage, rows, cols);
  const ScaleAddressing out = scale_addressing(Fp8ScaleLayout::Tile1x128, out_storage, cols, rows);
  const bool vectorised = rows % 4 == 0 && cols % 4 == 0 && aligned(codes, 4) && aligned(out_codes, 4);
  const dim3 grid(static_cast<unsigned>(cblocks), static_cast<unsigned>(rblocks));
  transpose_requantize_kernel<<<grid, 256, 0, stream>>>(codes, scales, in, rows, cols,
                                                        config.format == Fp8Format::E4M3, config.pow2_scales,
                                                        vectorised, out, out_codes, out_scales);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void transpose_fp8_blocks_cuda(const uint8_t* codes, const float* scales, Fp8ScaleStorage storage, int64_t rows,
                               int64_t cols, uint8_t* out_codes, float* out_scales, cudaStream_t stream) {
  constexpr const char* kName = "transpose_fp8_blocks_cuda";
  check_dims(kName, rows, cols);
  if (rows == 0 || cols == 0) return;
  check_pointer(kName, "codes", codes);
  check_pointer(kName, "scales", scales);
  check_pointer(kName, "out_codes", out_codes);
  check_pointer(kName, "out_scales", out_scales);
  const int64_t row_tiles = (rows + 63) / 64;
  if (row_tiles > 65535) throw std::invalid_argument(std::string(kName) + ": more than 65535 tiles of 64 rows");
  const dim3 grid(static_cast<unsigned>((cols + 63) / 64), static_cast<unsigned>(row_tiles));
  transpose_bytes_kernel<<<grid, 256, 0, stream>>>(codes, rows, cols, out_codes);
  TANDEM_CUDA_CHECK_LAUNCH();
  const int64_t rblocks = fp8_blocks_of(rows), cblocks = fp8_blocks_of(cols);
  const ScaleAddressing in = scale_addressing(Fp8ScaleLayout::Block128x128, storage, rows, cols);
  const ScaleAddressing out = scale_addressing(Fp8ScaleLayout::Block128x128, storage, cols, rows);
  const int64_t n = rblocks * cblocks;
  transpose_block_scales_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(scales, in, rblocks, cblocks,
                                                                                            out, out_scales);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
