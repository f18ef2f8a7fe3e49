// FP8 quantisation on the GPU: per 1x128 tile (activations) and per 128x128 block (weights), the
// transpose-requantise of the weight-gradient GEMM's operands and the exact transposition of
// block-scaled weights. Same bits as the CPU reference (fp8_cpu.h) for finite inputs; the scales
// can be written in the reference's order or in the layout the GEMMs read (Fp8ScaleStorage).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/fp8/fp8_cpu.h"

namespace tandem::kernels::cuda {

// Where the scales of a quantised [rows, cols] matrix lie in device memory.
//   RowMajor:  the CPU reference's order (fp8_scale_index): Tile1x128 [rows, ceil(cols/128)],
//              Block128x128 [ceil(rows/128), ceil(cols/128)].
//   GemmReady: the order the GEMMs read, cuBLASLt's 1D / 2D block-scaling layouts (and DeepGEMM's
//              TMA-aligned activation scales): Tile1x128 [ceil(cols/128), round_up(rows, 4)], the
//              scales of one 128-column tile contiguous over the rows; Block128x128
//              [ceil(rows/128), round_up(ceil(cols/128), 4)]. Padding entries are never written
//              nor read by tandem's kernels.
enum class Fp8ScaleStorage : uint8_t { RowMajor, GemmReady };

// Element type of the matrix being quantised.
enum class Fp8InputType : uint8_t { F32, BF16 };

inline int64_t fp8_blocks_of(int64_t n) { return (n + kFp8BlockSize - 1) / kFp8BlockSize; }
inline int64_t fp8_round_up4(int64_t n) { return (n + 3) / 4 * 4; }

// Elements between consecutive outer units of the storage: RowMajor: ceil(cols/128); GemmReady
// Tile1x128: round_up(rows, 4) (between tiles); GemmReady Block128x128: round_up(ceil(cols/128), 4).
inline int64_t fp8_scale_ld(Fp8ScaleLayout layout, Fp8ScaleStorage storage, int64_t rows, int64_t cols) {
  if (storage == Fp8ScaleStorage::RowMajor) return fp8_blocks_of(cols);
  return layout == Fp8ScaleLayout::Tile1x128 ? fp8_round_up4(rows) : fp8_round_up4(fp8_blocks_of(cols));
}

// Floats to allocate for the scales (padding included).
inline int64_t fp8_scale_storage_count(Fp8ScaleLayout layout, Fp8ScaleStorage storage, int64_t rows, int64_t cols) {
  const int64_t ld = fp8_scale_ld(layout, storage, rows, cols);
  if (storage == Fp8ScaleStorage::RowMajor) return (layout == Fp8ScaleLayout::Tile1x128 ? rows : fp8_blocks_of(rows)) * ld;
  return (layout == Fp8ScaleLayout::Tile1x128 ? fp8_blocks_of(cols) : fp8_blocks_of(rows)) * ld;
}

// Index of the scale of element (row, col).
inline int64_t fp8_scale_storage_index(Fp8ScaleLayout layout, Fp8ScaleStorage storage, int64_t rows, int64_t cols,
                                       int64_t row, int64_t col) {
  const int64_t ld = fp8_scale_ld(layout, storage, rows, cols);
  const int64_t row_unit = layout == Fp8ScaleLayout::Tile1x128 ? row : row / kFp8BlockSize;
  const int64_t col_block = col / kFp8BlockSize;
  if (storage == Fp8ScaleStorage::GemmReady && layout == Fp8ScaleLayout::Tile1x128) return col_block * ld + row_unit;
  return row_unit * ld + col_block;
}

// codes[r, c] = float_to_fp8(x[r, c] / scale of its tile or block), as quantize_fp8 does.
// x: [rows, cols] row-major of `type`; codes [rows, cols]; scales fp8_scale_storage_count floats.
// Device pointers; runs on `stream`. NaN and infinite inputs give NaN codes whose sign may differ
// from the CPU reference's (x86 and CUDA produce different NaNs).
void quantize_fp8_cuda(const void* x, Fp8InputType type, int64_t rows, int64_t cols, Fp8ScaleLayout layout,
                       const Fp8QuantConfig& config, Fp8ScaleStorage storage, uint8_t* codes, float* scales,
                       cudaStream_t stream = nullptr);

// transpose_requantize_fp8 on the GPU: codes [rows, cols] with Tile1x128 scales in `in_storage`
// are dequantised, transposed and quantised in 1x128 tiles along the old rows: out_codes
// [cols, rows], out_scales Tile1x128 of a [cols, rows] matrix in `out_storage`.
void transpose_requantize_fp8_cuda(const uint8_t* codes, const float* scales, Fp8ScaleStorage in_storage, int64_t rows,
                                   int64_t cols, const Fp8QuantConfig& config, Fp8ScaleStorage out_storage,
                                   uint8_t* out_codes, float* out_scales, cudaStream_t stream = nullptr);

// transpose_fp8_blocks on the GPU: out_codes [cols, rows] = codesᵀ, Block128x128 scales transposed;
// both scale arrays in `storage`.
void transpose_fp8_blocks_cuda(const uint8_t* codes, const float* scales, Fp8ScaleStorage storage, int64_t rows,
                               int64_t cols, uint8_t* out_codes, float* out_scales, cudaStream_t stream = nullptr);

}  // namespace tandem::kernels::cuda
