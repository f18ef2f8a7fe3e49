// BF16 emulation: float -> bf16 with round-to-nearest-even and back. The recipe keeps some tensors
// (GEMM outputs, AdamW moments) in BF16; the CPU references store them as bf16-rounded floats.
#pragma once
#include <bit>
#include <cstdint>
#include <span>

namespace tandem::kernels {

// The 16-bit pattern of x rounded to BF16 (nearest, ties to even). NaN stays a quiet NaN with its
// sign; overflow past the largest BF16 rounds to infinity as IEEE rounding does.
inline uint16_t float_to_bf16_bits(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_bits_to_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// x rounded to the nearest BF16 value (ties to even), as a float.
inline float round_to_bf16(float x) { return bf16_bits_to_float(float_to_bf16_bits(x)); }

// Rounds every element in place.
inline void round_to_bf16(std::span<float> values) {
  for (float& v : values) v = round_to_bf16(v);
}

}  // namespace tandem::kernels
