// FP8 E4M3/E5M2 encoding and decoding, 1x128 / 128x128 scaling, dequantisation and the transposes
// of the backward pass (see fp8_cpu.h and docs/kernels.md for the rules).
#include "kernels/fp8/fp8_cpu.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

struct FormatBits {
  int mantissa_bits;
  int bias;
  uint8_t max_code;  // code of the largest finite magnitude
};

constexpr FormatBits bits_of(Fp8Format format) {
  return format == Fp8Format::E4M3 ? FormatBits{3, 7, 0x7E} : FormatBits{2, 15, 0x7B};
}

float decode_slow(uint8_t code, Fp8Format format) {
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (format == Fp8Format::E4M3) {
    const int exponent = (code >> 3) & 0xF;
    const int mantissa = code & 0x7;
    if (exponent == 0xF && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
    if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);  // m/8 · 2^-6
    return sign * std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);      // (1 + m/8) · 2^(e-7)
  }
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 0x3;
  if (exponent == 0x1F) {
    return mantissa == 0 ? sign * std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -16);  // m/4 · 2^-14
  return sign * std::ldexp(static_cast<float>(4 + mantissa), exponent - 17);       // (1 + m/4) · 2^(e-15)
}

const std::array<float, 256>& decode_table(Fp8Format format) {
  static const auto tables = [] {
    std::array<std::array<float, 256>, 2> t{};
    for (int c = 0; c < 256; ++c) {
      t[0][c] = decode_slow(static_cast<uint8_t>(c), Fp8Format::E4M3);
      t[1][c] = decode_slow(static_cast<uint8_t>(c), Fp8Format::E5M2);
    }
    return t;
  }();
  return tables[format == Fp8Format::E4M3 ? 0 : 1];
}

const char* layout_shape(Fp8ScaleLayout layout) {
  return layout == Fp8ScaleLayout::Tile1x128 ? "[rows, ceil(cols/128)]" : "[ceil(rows/128), ceil(cols/128)]";
}

int64_t blocks_of(int64_t n) { return (n + kFp8BlockSize - 1) / kFp8BlockSize; }

}  // namespace

float fp8_max(Fp8Format format) { return format == Fp8Format::E4M3 ? 448.0f : 57344.0f; }

uint8_t float_to_fp8(float x, Fp8Format format) {
  const FormatBits fb = bits_of(format);
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const auto sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7Fu);   // NaN
  if (magnitude == 0x7f800000u) return static_cast<uint8_t>(sign | fb.max_code);  // ±inf saturates
  if (magnitude < 0x00800000u) return sign;  // zero and float subnormals (< 2^-126) round to ±0
  // x = significand · 2^(e-23) with a 24-bit significand. The FP8 quantum at x is 2^(max(e, emin) - M):
  // count x in quanta, rounding the dropped bits to nearest, ties to even.
  const int e = static_cast<int>(magnitude >> 23) - 127;
  const int emin = 1 - fb.bias;
  const int e_eff = std::max(e, emin);
  const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
  const int shift = 23 - fb.mantissa_bits + (e_eff - e);
  if (shift >= 32) return sign;  // below a quarter of the smallest subnormal
  uint32_t quanta = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (quanta & 1u))) ++quanta;
  // quanta includes the implicit bit for normals (2^M .. 2^(M+1)), so adding it to the exponent field
  // minus one gives the code; a carry to 2^(M+1) moves into the exponent, a subnormal reaching 2^M
  // becomes the smallest normal.
  const int64_t code = (static_cast<int64_t>(e_eff + fb.bias - 1) << fb.mantissa_bits) + quanta;
  return static_cast<uint8_t>(sign | std::min<int64_t>(code, fb.max_code));
}

float fp8_to_float(uint8_t code, Fp8Format format) { return decode_table(format)[code]; }

float round_to_fp8(float x, Fp8Format format) { return fp8_to_float(float_to_fp8(x, format), format); }

void fp8_decode(std::span<const uint8_t> codes, Fp8Format format, std::span<float> out) {
  check_size("fp8_decode", "out", out.size(), static_cast<int64_t>(codes.size()), "[codes.size()]");
  const auto& table = decode_table(format);
  for (size_t i = 0; i < codes.size(); ++i) out[i] = table[codes[i]];
}

int64_t fp8_scale_count(Fp8ScaleLayout layout, int64_t rows, int64_t cols) {
  return layout == Fp8ScaleLayout::Tile1x128 ? rows * blocks_of(cols) : blocks_of(rows) * blocks_of(cols);
}

int64_t fp8_scale_index(Fp8ScaleLayout layout, int64_t /*rows*/, int64_t cols, int64_t row, int64_t col) {
  const int64_t row_unit = layout == Fp8ScaleLayout::Tile1x128 ? row : row / kFp8BlockSize;
  return row_unit * blocks_of(cols) + col / kFp8BlockSize;
}

float fp8_scale_for_amax(float amax, const Fp8QuantConfig& config) {
  // NaN amax stays NaN (the tile then quantises to NaN codes); otherwise clamp from below.
  const float clamped = amax < kFp8MinAmax ? kFp8MinAmax : amax;
  float scale = clamped / fp8_max(config.format);
  if (config.pow2_scales && std::isfinite(scale)) {
    int exponent = 0;
    const float fraction = std::frexp(scale, &exponent);  // scale = fraction · 2^exponent, fraction in [0.5, 1)
    scale = std::ldexp(1.0f, fraction == 0.5f ? exponent - 1 : exponent);
  }
  return scale;
}

void quantize_fp8(std::span<const float> x, int64_t rows, int64_t cols, Fp8ScaleLayout layout,
                  const Fp8QuantConfig& config, std::span<uint8_t> codes, std::span<float> scales) {
  constexpr const char* kName = "quantize_fp8";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "cols", cols, 0);
  const std::string shape = fmt::format("[rows={}, cols={}]", rows, cols);
  check_size(kName, "x", x.size(), rows * cols, shape);
  check_size(kName, "codes", codes.size(), rows * cols, shape);
  check_size(kName, "scales", scales.size(), fp8_scale_count(layout, rows, cols), layout_shape(layout));
  std::vector<float> amax(scales.size(), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float& a = amax[static_cast<size_t>(fp8_scale_index(layout, rows, cols, r, c))];
      const float v = std::abs(x[static_cast<size_t>(r * cols + c)]);
      if (!(v <= a)) a = v;  // NaN wins, so a NaN input makes its tile NaN
    }
  }
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = fp8_scale_for_amax(amax[i], config);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      const float scale = scales[static_cast<size_t>(fp8_scale_index(layout, rows, cols, r, c))];
      codes[i] = float_to_fp8(x[i] / scale, config.format);
    }
  }
}

void dequantize_fp8(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows, int64_t cols,
                    Fp8ScaleLayout layout, Fp8Format format, std::span<float> x) {
  constexpr const char* kName = "dequantize_fp8";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "cols", cols, 0);
  const std::string shape = fmt::format("[rows={}, cols={}]", rows, cols);
  check_size(kName, "codes", codes.size(), rows * cols, shape);
  check_size(kName, "x", x.size(), rows * cols, shape);
  check_size(kName, "scales", scales.size(), fp8_scale_count(layout, rows, cols), layout_shape(layout));
  const auto& table = decode_table(format);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      x[i] = table[codes[i]] * scales[static_cast<size_t>(fp8_scale_index(layout, rows, cols, r, c))];
    }
  }
}

void transpose_requantize_fp8(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows,
                              int64_t cols, const Fp8QuantConfig& config, std::span<uint8_t> out_codes,
                              std::span<float> out_scales) {
  constexpr const char* kName = "transpose_requantize_fp8";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "cols", cols, 0);
  check_size(kName, "codes", codes.size(), rows * cols, fmt::format("[rows={}, cols={}]", rows, cols));
  check_size(kName, "scales", scales.size(), fp8_scale_count(Fp8ScaleLayout::Tile1x128, rows, cols),
             "[rows, ceil(cols/128)]");
  check_size(kName, "out_codes", out_codes.size(), rows * cols, fmt::format("[cols={}, rows={}]", cols, rows));
  check_size(kName, "out_scales", out_scales.size(), fp8_scale_count(Fp8ScaleLayout::Tile1x128, cols, rows),
             "[cols, ceil(rows/128)]");
  std::vector<float> x(static_cast<size_t>(rows * cols));
  dequantize_fp8(codes, scales, rows, cols, Fp8ScaleLayout::Tile1x128, config.format, x);
  std::vector<float> xt(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) xt[static_cast<size_t>(c * rows + r)] = x[static_cast<size_t>(r * cols + c)];
  }
  quantize_fp8(xt, cols, rows, Fp8ScaleLayout::Tile1x128, config, out_codes, out_scales);
}

void transpose_fp8_blocks(std::span<const uint8_t> codes, std::span<const float> scales, int64_t rows, int64_t cols,
                          std::span<uint8_t> out_codes, std::span<float> out_scales) {
  constexpr const char* kName = "transpose_fp8_blocks";
  check_at_least(kName, "rows", rows, 0);
  check_at_least(kName, "cols", cols, 0);
  check_size(kName, "codes", codes.size(), rows * cols, fmt::format("[rows={}, cols={}]", rows, cols));
  check_size(kName, "out_codes", out_codes.size(), rows * cols, fmt::format("[cols={}, rows={}]", cols, rows));
  const int64_t rb = blocks_of(rows), cb = blocks_of(cols);
  check_size(kName, "scales", scales.size(), rb * cb, "[ceil(rows/128), ceil(cols/128)]");
  check_size(kName, "out_scales", out_scales.size(), rb * cb, "[ceil(cols/128), ceil(rows/128)]");
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out_codes[static_cast<size_t>(c * rows + r)] = codes[static_cast<size_t>(r * cols + c)];
  }
  for (int64_t i = 0; i < rb; ++i) {
    for (int64_t j = 0; j < cb; ++j) out_scales[static_cast<size_t>(j * rb + i)] = scales[static_cast<size_t>(i * cb + j)];
  }
}

}  // namespace tandem::kernels
