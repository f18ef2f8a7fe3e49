// FP8 encoding, decoding and scale rules as __host__ __device__ functions: the same integer steps as
// the CPU reference (fp8_cpu.cpp), so the CUDA quantisation kernels give the CPU's bits. Compiles
// as plain C++ too, which lets a host test compare it with the reference without a GPU.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TANDEM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TANDEM_HOST_DEVICE inline
#endif

namespace tandem::kernels::fp8_rules {

// Smallest amax a scale is computed from (kFp8MinAmax in fp8_cpu.h) and the largest magnitudes.
inline constexpr float kMinAmax = 1e-4f;
inline constexpr float kE4M3Max = 448.0f;
inline constexpr float kE5M2Max = 57344.0f;

TANDEM_HOST_DEVICE uint32_t bits_of(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  return u;
#endif
}

TANDEM_HOST_DEVICE float float_of(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof(x));
  return x;
#endif
}

// a / b rounded to nearest even (IEEE division; never the approximate device division).
TANDEM_HOST_DEVICE float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// a · b rounded to nearest even, never contracted into a fused multiply-add.
TANDEM_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

TANDEM_HOST_DEVICE bool is_nan(float x) { return (bits_of(x) & 0x7fffffffu) > 0x7f800000u; }

// The running maximum of the CPU reference (`if (!(v <= a)) a = v`): a NaN on either side wins.
TANDEM_HOST_DEVICE float nan_max(float a, float b) { return (b > a || is_nan(b)) ? b : a; }

// float_to_fp8: round to nearest even, saturate finite overflow and infinities to ±max, NaN to
// sign | 0x7F, float subnormals to ±0. e4m3 selects E4M3 (else E5M2).
TANDEM_HOST_DEVICE uint8_t encode_fp8(float x, bool e4m3) {
  const int mantissa_bits = e4m3 ? 3 : 2;
  const int bias = e4m3 ? 7 : 15;
  const uint32_t max_code = e4m3 ? 0x7Eu : 0x7Bu;
  const uint32_t u = bits_of(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7Fu);
  if (magnitude == 0x7f800000u) return static_cast<uint8_t>(sign | max_code);
  if (magnitude < 0x00800000u) return static_cast<uint8_t>(sign);
  // x = significand · 2^(e-23); count x in FP8 quanta 2^(max(e, emin) - M), ties to even.
  const int e = static_cast<int>(magnitude >> 23) - 127;
  const int emin = 1 - bias;
  const int e_eff = e > emin ? e : emin;
  const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
  const int shift = 23 - mantissa_bits + (e_eff - e);
  if (shift >= 32) return static_cast<uint8_t>(sign);
  uint32_t quanta = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (quanta & 1u))) ++quanta;
  // quanta holds the implicit bit for normals; a carry moves into the exponent field.
  const int64_t code = (static_cast<int64_t>(e_eff + bias - 1) << mantissa_bits) + quanta;
  return static_cast<uint8_t>(sign | static_cast<uint32_t>(code < max_code ? code : max_code));
}

// fp8_to_float: exact; NaN codes give the positive quiet NaN (as the reference's table does).
TANDEM_HOST_DEVICE float decode_fp8(uint8_t code, bool e4m3) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  if (e4m3) {
    const uint32_t exponent = (code >> 3) & 0xFu;
    const uint32_t mantissa = code & 0x7u;
    if (exponent == 0xFu && mantissa == 0x7u) return float_of(0x7fc00000u);
    if (exponent == 0) return float_of(sign | bits_of(static_cast<float>(mantissa) * 0.001953125f));  // m · 2^-9
    return float_of(sign | ((exponent + 120u) << 23) | (mantissa << 20));  // 2^(e-7) · (1 + m/8)
  }
  const uint32_t exponent = (code >> 2) & 0x1Fu;
  const uint32_t mantissa = code & 0x3u;
  if (exponent == 0x1Fu) return mantissa == 0 ? float_of(sign | 0x7f800000u) : float_of(0x7fc00000u);
  if (exponent == 0) return float_of(sign | bits_of(static_cast<float>(mantissa) * 1.52587890625e-05f));  // m · 2^-16
  return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 21));  // 2^(e-15) · (1 + m/4)
}

// fp8_scale_for_amax: max(amax, 1e-4) / fp8_max; with pow2, rounded up to a power of two (a scale
// that already is one stays). NaN stays NaN; infinities are not rounded.
TANDEM_HOST_DEVICE float scale_for_amax(float amax, bool e4m3, bool pow2) {
  const float clamped = amax < kMinAmax ? kMinAmax : amax;
  float scale = div_rn(clamped, e4m3 ? kE4M3Max : kE5M2Max);
  const uint32_t u = bits_of(scale);
  if (pow2 && (u & 0x7f800000u) != 0x7f800000u) {
    // scale >= 1e-4 / 57344 is a normal float: 1.f · 2^(E-127). Keep 2^(E-127) when f == 0,
    // else go up to 2^(E-126).
    const uint32_t exponent_field = (u >> 23) & 0xFFu;
    scale = float_of(((u & 0x7fffffu) == 0 ? exponent_field : exponent_field + 1u) << 23);
  }
  return scale;
}

// The code of x in a tile or block with this scale: encode_fp8(x / scale).
TANDEM_HOST_DEVICE uint8_t quantize_value(float x, float scale, bool e4m3) { return encode_fp8(div_rn(x, scale), e4m3); }

}  // namespace tandem::kernels::fp8_rules
