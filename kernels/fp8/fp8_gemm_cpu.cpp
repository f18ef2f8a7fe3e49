// FP8 block-scaled GEMM reference (dense and grouped): decodes the codes, sums each 128-deep K block
// in FP32 with the blocked GEMM, and promotes the scaled block sums into an FP32 accumulator.
#include "kernels/fp8/fp8_gemm_cpu.h"

#include <fmt/format.h>

#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/common/check.h"
#include "kernels/gemm/gemm_cpu.h"

namespace tandem::kernels {
namespace {

int64_t blocks_of(int64_t n) { return (n + kFp8BlockSize - 1) / kFp8BlockSize; }

void check_view(const char* function, const char* name, const Fp8MatrixView& v) {
  check_at_least(function, fmt::format("{}.rows", name), v.rows, 0);
  check_at_least(function, fmt::format("{}.cols", name), v.cols, 0);
  check_size(function, fmt::format("{}.codes", name), v.codes.size(), v.rows * v.cols,
             fmt::format("[rows={}, cols={}]", v.rows, v.cols));
}

// One GEMM over m rows of a and n rows of b (one expert): d[m, n] from the decoded values, the
// row-tile scales of a ([m, kblocks]) and the scales of b in its layout ([n or ceil(n/128), kblocks]).
void block_scaled_gemm(const float* a_values, const float* a_scales, int64_t m, const float* b_values,
                       const float* b_scales, Fp8ScaleLayout b_layout, int64_t n, int64_t k, float* d,
                       Fp8GemmOutput output, int threads) {
  if (m == 0 || n == 0) return;
  const int64_t kblocks = blocks_of(k);
  std::vector<float> acc(static_cast<size_t>(m * n), 0.0f);
  std::vector<float> partial(static_cast<size_t>(m * n));
  for (int64_t kb = 0; kb < kblocks; ++kb) {
    const int64_t k0 = kb * kFp8BlockSize;
    const int64_t kc = std::min(kFp8BlockSize, k - k0);
    gemm_blocked(Trans::N, Trans::T, m, n, kc, 1.0f, a_values + k0, k, b_values + k0, k, 0.0f, partial.data(), n,
                 threads);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t b_row = b_layout == Fp8ScaleLayout::Tile1x128 ? j : j / kFp8BlockSize;
      const float sb = b_scales[b_row * kblocks + kb];
      for (int64_t i = 0; i < m; ++i) {
        const size_t idx = static_cast<size_t>(i * n + j);
        acc[idx] += partial[idx] * (a_scales[i * kblocks + kb] * sb);
      }
    }
  }
  for (int64_t i = 0; i < m * n; ++i) {
    const float v = acc[static_cast<size_t>(i)];
    switch (output) {
      case Fp8GemmOutput::Bf16: d[i] = round_to_bf16(v); break;
      case Fp8GemmOutput::Fp32: d[i] = v; break;
      case Fp8GemmOutput::AccumulateFp32: d[i] += v; break;
    }
  }
}

std::vector<float> decode(const Fp8MatrixView& v) {
  std::vector<float> out(v.codes.size());
  fp8_decode(v.codes, v.format, out);
  return out;
}

}  // namespace

void fp8_gemm_nt(const Fp8MatrixView& a, const Fp8MatrixView& b, std::span<float> d, Fp8GemmOutput output,
                 int threads) {
  constexpr const char* kName = "fp8_gemm_nt";
  check_view(kName, "a", a);
  check_view(kName, "b", b);
  check_arg(a.layout == Fp8ScaleLayout::Tile1x128, kName, "a must have Tile1x128 scales");
  check_arg(a.cols == b.cols, kName, fmt::format("a.cols ({}) must equal b.cols ({}): both are K", a.cols, b.cols));
  check_size(kName, "a.scales", a.scales.size(), fp8_scale_count(a.layout, a.rows, a.cols), "[m, ceil(k/128)]");
  check_size(kName, "b.scales", b.scales.size(), fp8_scale_count(b.layout, b.rows, b.cols),
             b.layout == Fp8ScaleLayout::Tile1x128 ? "[n, ceil(k/128)]" : "[ceil(n/128), ceil(k/128)]");
  check_size(kName, "d", d.size(), a.rows * b.rows, fmt::format("[m={}, n={}]", a.rows, b.rows));
  const auto a_values = decode(a);
  const auto b_values = decode(b);
  block_scaled_gemm(a_values.data(), a.scales.data(), a.rows, b_values.data(), b.scales.data(), b.layout, b.rows,
                    a.cols, d.data(), output, threads);
}

void fp8_grouped_gemm_nt(const Fp8MatrixView& a, const Fp8MatrixView& b, int64_t groups,
                         std::span<const int64_t> group_offsets, std::span<float> d, Fp8GemmOutput output,
                         int threads) {
  constexpr const char* kName = "fp8_grouped_gemm_nt";
  check_view(kName, "a", a);
  check_view(kName, "b", b);
  check_at_least(kName, "groups", groups, 1);
  check_arg(a.layout == Fp8ScaleLayout::Tile1x128, kName, "a must have Tile1x128 scales");
  check_arg(a.cols == b.cols, kName, fmt::format("a.cols ({}) must equal b.cols ({}): both are K", a.cols, b.cols));
  check_arg(b.rows % groups == 0, kName,
            fmt::format("b.rows ({}) must be groups ({}) times the expert's n", b.rows, groups));
  const int64_t n = b.rows / groups;
  const int64_t k = a.cols;
  const int64_t per_group_scales = fp8_scale_count(b.layout, n, k);
  check_size(kName, "group_offsets", group_offsets.size(), groups + 1, "[groups + 1]");
  check_size(kName, "a.scales", a.scales.size(), fp8_scale_count(a.layout, a.rows, a.cols), "[m, ceil(k/128)]");
  check_size(kName, "b.scales", b.scales.size(), groups * per_group_scales,
             b.layout == Fp8ScaleLayout::Tile1x128 ? "[groups, n, ceil(k/128)]" : "[groups, ceil(n/128), ceil(k/128)]");
  check_size(kName, "d", d.size(), a.rows * n, fmt::format("[m={}, n={}]", a.rows, n));
  check_arg(group_offsets[0] == 0, kName, fmt::format("group_offsets[0] must be 0, found {}", group_offsets[0]));
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t lo = group_offsets[static_cast<size_t>(g)], hi = group_offsets[static_cast<size_t>(g + 1)];
    check_arg(hi >= lo, kName, fmt::format("group_offsets must not decrease: [{}] = {} > [{}] = {}", g, lo, g + 1, hi));
    check_arg(hi % kFp8BlockSize == 0, kName,
              fmt::format("group_offsets[{}] = {} is not a multiple of {}", g + 1, hi, kFp8BlockSize));
  }
  check_arg(group_offsets[static_cast<size_t>(groups)] == a.rows, kName,
            fmt::format("group_offsets[groups] = {} must equal a.rows = {}", group_offsets[static_cast<size_t>(groups)], a.rows));

  const auto a_values = decode(a);
  const auto b_values = decode(b);
  const int64_t kblocks = blocks_of(k);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t row0 = group_offsets[static_cast<size_t>(g)];
    const int64_t rows = group_offsets[static_cast<size_t>(g + 1)] - row0;
    block_scaled_gemm(a_values.data() + row0 * k, a.scales.data() + row0 * kblocks, rows,
                      b_values.data() + g * n * k, b.scales.data() + g * per_group_scales, b.layout, n, k,
                      d.data() + row0 * n, output, threads);
  }
}

}  // namespace tandem::kernels
