// FP8 emulation on the CPU: E4M3 / E5M2 encoding (round to nearest even, saturating), per 1x128 tile
// and per 128x128 block scaling of row-major matrices, dequantisation and the transposes of the backward.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// E4M3: 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinity, NaN = S.1111.111, max 448,
//       smallest subnormal 2^-9. E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like
//       infinities and NaNs, max 57344, smallest subnormal 2^-16.
enum class Fp8Format : uint8_t { E4M3, E5M2 };

// Side of a scaling tile or block: scales cover 1x128 tiles of a row, or 128x128 blocks.
inline constexpr int64_t kFp8BlockSize = 128;
// Smallest amax a scale is computed from, so an all-zero tile gets a finite, nonzero scale.
inline constexpr float kFp8MinAmax = 1e-4f;

float fp8_max(Fp8Format format);  // 448 or 57344

// x rounded to the nearest FP8 value, ties to the even mantissa. Finite values beyond the largest
// FP8 value, and infinities, saturate to ±max; NaN gives the NaN code 0x7F (0xFF when negative).
uint8_t float_to_fp8(float x, Fp8Format format);
float fp8_to_float(uint8_t code, Fp8Format format);
float round_to_fp8(float x, Fp8Format format);  // fp8_to_float(float_to_fp8(x))

// out[i] = fp8_to_float(codes[i]) (unscaled values).
void fp8_decode(std::span<const uint8_t> codes, Fp8Format format, std::span<float> out);

// Tile1x128: one scale per 128 consecutive elements of a row (activations); scales [rows, ceil(cols/128)].
// Block128x128: one scale per 128x128 block (weights); scales [ceil(rows/128), ceil(cols/128)].
// Partial tiles and blocks at the right and bottom edges have their own scale.
enum class Fp8ScaleLayout : uint8_t { Tile1x128, Block128x128 };

int64_t fp8_scale_count(Fp8ScaleLayout layout, int64_t rows, int64_t cols);
// Index into the scales of element (row, col).
int64_t fp8_scale_index(Fp8ScaleLayout layout, int64_t rows, int64_t cols, int64_t row, int64_t col);

struct Fp8QuantConfig {
  Fp8Format format = Fp8Format::E4M3;
  bool pow2_scales = false;  // round each scale up to a power of two (exact rescaling, UE8M0-style)
};

// scale = max(amax, 1e-4) / fp8_max, rounded up to 2^ceil(log2(scale)) when pow2_scales.
float fp8_scale_for_amax(float amax, const Fp8QuantConfig& config);

// codes[r, c] = float_to_fp8(x[r, c] / scale of its tile or block); x ≈ fp8_to_float(code) · scale.
// x and codes [rows, cols]; scales as the layout says.
void quantize_fp8(std::span<const float> x, int64_t rows, int64_t cols, Fp8ScaleLayout layout,
                  const Fp8QuantConfig& config, std::span<uint8_t> codes, std::span<float> scales);

// x[r, c] = fp8_to_float(codes[r, c]) · scale of its tile or block.
void dequantize_fp8(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows, int64_t cols,
                    Fp8ScaleLayout layout, Fp8Format format, std::span<float> x);

// For the weight-gradient GEMM, whose reduction runs over tokens: dequantises x (codes [rows, cols],
// 1x128 tiles along cols), transposes and quantises again in 1x128 tiles along the old rows:
// out_codes [cols, rows], out_scales [cols, ceil(rows/128)]. The result is rounded twice.
void transpose_requantize_fp8(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows,
                              int64_t cols, const Fp8QuantConfig& config, std::span<uint8_t> out_codes,
                              std::span<float> out_scales);

// A 128x128 block stays a block under transposition, so a block-scaled weight transposes exactly:
// out_codes [cols, rows] = codesᵀ, out_scales [ceil(cols/128), ceil(rows/128)] = scalesᵀ.
void transpose_fp8_blocks(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows, int64_t cols,
                          std::span<uint8_t> out_codes, std::span<float> out_scales);

}  // namespace tandem::kernels
