// GPU FP8 block-scaled GEMMs against the CPU reference (fp8_gemm_nt / fp8_grouped_gemm_nt) on the
// same quantised inputs: the naive kernel bit for bit; the hand-written wgmma kernel (every compiled
// block_n) and cuBLASLt within BF16 rounding plus a bound on FP8 tensor-core accumulation, and a
// global similarity. Fresh random inputs per run, outputs poisoned with NaN and guarded at their end.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/fp8/fp8_gemm_cpu.h"
#include "kernels/gemm/fp8_gemm_cuda.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {

constexpr size_t kGuard = 64;  // poisoned elements after each output, which no kernel may write

int cpu_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// A quantised operand on the host, per expert: CPU-order scales (for the reference) and GemmReady
// scales (for the GPU), each expert's after the previous one's.
struct Operand {
  int64_t rows = 0, cols = 0;  // rows over all experts
  Fp8ScaleLayout layout = Fp8ScaleLayout::Tile1x128;
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<float> ready;

  Fp8MatrixView view() const { return {codes, scales, rows, cols, Fp8Format::E4M3, layout}; }
  // The same magnitudes with every sign cleared: the reference on these gives Σ|a·b|·scales.
  Operand magnitudes() const {
    Operand m = *this;
    for (auto& c : m.codes) c &= 0x7F;
    return m;
  }
};

Operand make_operand(int64_t rows_per_group, int64_t cols, Fp8ScaleLayout layout, int64_t groups, const std::string& name) {
  Operand op;
  op.rows = rows_per_group * groups;
  op.cols = cols;
  op.layout = layout;
  for (int64_t g = 0; g < groups; ++g) {
    const auto x = random_matrix(rows_per_group, cols, case_seed(fmt::format("{}{}", name, g)));
    std::vector<uint8_t> codes(x.size());
    std::vector<float> scales(static_cast<size_t>(fp8_scale_count(layout, rows_per_group, cols)));
    quantize_fp8(x, rows_per_group, cols, layout, {}, codes, scales);
    std::vector<float> ready(
        static_cast<size_t>(fp8_scale_storage_count(layout, Fp8ScaleStorage::GemmReady, rows_per_group, cols)), 0.0f);
    const int64_t units = layout == Fp8ScaleLayout::Tile1x128 ? rows_per_group : fp8_blocks_of(rows_per_group);
    for (int64_t u = 0; u < units; ++u) {
      const int64_t row = layout == Fp8ScaleLayout::Tile1x128 ? u : u * 128;
      for (int64_t cb = 0; cb < fp8_blocks_of(cols); ++cb) {
        ready[static_cast<size_t>(fp8_scale_storage_index(layout, Fp8ScaleStorage::GemmReady, rows_per_group, cols, row, cb * 128))] =
            scales[static_cast<size_t>(fp8_scale_index(layout, rows_per_group, cols, row, cb * 128))];
      }
    }
    op.codes.insert(op.codes.end(), codes.begin(), codes.end());
    op.scales.insert(op.scales.end(), scales.begin(), scales.end());
    op.ready.insert(op.ready.end(), ready.begin(), ready.end());
  }
  return op;
}

struct DeviceOperand {
  DeviceBuffer<uint8_t> codes;
  DeviceBuffer<float> scales;
  Fp8DeviceMatrix matrix;
};

DeviceOperand upload(const Operand& op) {
  DeviceOperand d{to_device(op.codes), to_device(op.ready), {}};
  d.matrix = {d.codes.data(), d.scales.data(), op.rows, op.cols, op.layout};
  return d;
}

// The reference d (BF16-rounded floats) and the magnitude bound Σ|a·b|·scales (FP32) for a dense or
// grouped product.
struct Reference {
  std::vector<float> d, magnitude;
};

Reference reference(const Operand& a, const Operand& b, int64_t groups, const std::vector<int64_t>& offsets) {
  const int64_t n = b.rows / groups;
  Reference r{std::vector<float>(static_cast<size_t>(a.rows * n)), std::vector<float>(static_cast<size_t>(a.rows * n))};
  const Operand a_abs = a.magnitudes(), b_abs = b.magnitudes();
  if (offsets.empty()) {
    fp8_gemm_nt(a.view(), b.view(), r.d, Fp8GemmOutput::Bf16, cpu_threads());
    fp8_gemm_nt(a_abs.view(), b_abs.view(), r.magnitude, Fp8GemmOutput::Fp32, cpu_threads());
  } else {
    fp8_grouped_gemm_nt(a.view(), b.view(), groups, offsets, r.d, Fp8GemmOutput::Bf16, cpu_threads());
    fp8_grouped_gemm_nt(a_abs.view(), b_abs.view(), groups, offsets, r.magnitude, Fp8GemmOutput::Fp32, cpu_threads());
  }
  return r;
}

// Naive: every element equal to the reference. Others: |d - ref| <= 2^-7·|ref| (one BF16 step either
// side: both are rounded from slightly different FP32 sums) + 2^-9·Σ|a·b|·scales (the tensor cores
// sum FP8 products with about 14 mantissa bits within each 32-deep slice; promotion to FP32 every
// 128), and the global similarity 1 - 2Σxy/(Σx²+Σy²) below 1e-5 (DeepGEMM's measure; BF16 rounding
// alone gives about 1e-6). No element may stay NaN, and the guard after d must keep its poison.
void check_result(const std::vector<uint16_t>& out, const Reference& ref, int64_t m, int64_t n, Fp8GemmBackend backend) {
  int64_t bad = 0;
  double sxy = 0, sxx = 0, syy = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    const float got = bf16_bits_to_float(out[static_cast<size_t>(i)]);
    const float want = ref.d[static_cast<size_t>(i)];
    const double tolerance = backend == Fp8GemmBackend::Naive
                                 ? 0.0
                                 : std::ldexp(std::abs(double(want)), -7) + std::ldexp(double(ref.magnitude[static_cast<size_t>(i)]), -9);
    const bool ok = std::isfinite(got) && std::abs(double(got) - double(want)) <= tolerance;
    if (!ok && ++bad <= 5) {
      INFO(fp8_gemm_backend_name(backend) << ": element (" << i / n << ", " << i % n << ") = " << got << ", reference "
                                          << want << ", tolerance " << tolerance);
      CHECK(ok);
    }
    sxy += double(got) * want;
    sxx += double(got) * got;
    syy += double(want) * want;
  }
  INFO(fp8_gemm_backend_name(backend) << ": " << bad << " of " << m * n << " elements outside the tolerance");
  CHECK(bad == 0);
  const double diff = (sxx + syy) > 0 ? 1.0 - 2.0 * sxy / (sxx + syy) : 0.0;
  INFO(fp8_gemm_backend_name(backend) << ": global difference " << diff);
  CHECK(diff < 1e-5);
  int64_t guard_written = 0;
  for (size_t i = static_cast<size_t>(m * n); i < out.size(); ++i) guard_written += out[i] != 0xFFFF;
  INFO(fp8_gemm_backend_name(backend) << ": " << guard_written << " elements written past the end of d");
  CHECK(guard_written == 0);
}

// Runs one backend (every compiled block_n for Wgmma) into a fresh poisoned output and checks it.
void run_and_check(Fp8GemmRunner& runner, Fp8GemmBackend backend, const DeviceOperand& a, const DeviceOperand& b,
                   const Fp8GroupLayout* groups, const Reference& ref, int64_t m, int64_t n) {
  std::vector<int64_t> block_ns = {0};
  if (backend == Fp8GemmBackend::Wgmma) {
    std::string why;
    if (!runner.wgmma_supported(&why)) {
      skip_part("wgmma backend: " + why);
      return;
    }
    block_ns.assign(std::begin(kFp8GemmBlockNs), std::end(kFp8GemmBlockNs));
  }
  for (const int64_t block_n : block_ns) {
    if (backend == Fp8GemmBackend::Wgmma) runner.set_wgmma_block_n(block_n);
    INFO(fp8_gemm_backend_name(backend) << (block_n ? " block_n " + std::to_string(block_n) : std::string()));
    auto d = poisoned<uint16_t>(static_cast<size_t>(m * n) + kGuard);
    try {
      if (groups) {
        runner.grouped_gemm_nt(a.matrix, b.matrix, *groups, d.data(), backend);
      } else {
        runner.gemm_nt(a.matrix, b.matrix, d.data(), backend);
      }
    } catch (const std::runtime_error& e) {
      // cuBLASLt may have no block-scaled kernel for shapes off its tiles: that is its limit, not a
      // wrong result; on 128-multiple shapes it must run.
      const bool off_tiles = m % 128 != 0 || n % 128 != 0 || a.matrix.cols % 128 != 0;
      if (backend == Fp8GemmBackend::CublasLt && off_tiles &&
          std::string(e.what()).find("has no block-scaled FP8 algorithm") != std::string::npos) {
        skip_part(e.what());
        continue;
      }
      throw;
    }
    check_result(to_host(d), ref, m, n, backend);
  }
  runner.set_wgmma_block_n(0);
}

void check_dense(int64_t m, int64_t n, int64_t k, Fp8ScaleLayout b_layout, std::vector<Fp8GemmBackend> backends) {
  INFO("dense m=" << m << " n=" << n << " k=" << k << (b_layout == Fp8ScaleLayout::Tile1x128 ? " b 1x128" : " b 128x128"));
  const Operand a = make_operand(m, k, Fp8ScaleLayout::Tile1x128, 1, "a");
  const Operand b = make_operand(n, k, b_layout, 1, "b");
  const Reference ref = reference(a, b, 1, {});
  const DeviceOperand da = upload(a), db = upload(b);
  Fp8GemmRunner runner;
  for (const auto backend : backends) run_and_check(runner, backend, da, db, nullptr, ref, m, n);
}

const std::vector<Fp8GemmBackend> kAllBackends = {Fp8GemmBackend::Naive, Fp8GemmBackend::Wgmma, Fp8GemmBackend::CublasLt};

}  // namespace

TEST_CASE("fp8 GEMM (CUDA): dense shapes against fp8_gemm_nt", "[cuda][fp8][gemm]") {
  if (!gpu_available()) return;
  check_dense(128, 128, 128, Fp8ScaleLayout::Block128x128, kAllBackends);
  check_dense(256, 384, 512, Fp8ScaleLayout::Block128x128, kAllBackends);
  // m, n and k off the tiles: partial m blocks, n tiles that straddle 128-column scale blocks, a K tail.
  check_dense(200, 264, 400, Fp8ScaleLayout::Block128x128, kAllBackends);
  // n off the 8-column groups and k = 16: the naive and wgmma backends only (cuBLASLt needs n % 8 == 0).
  check_dense(130, 77, 16, Fp8ScaleLayout::Block128x128, {Fp8GemmBackend::Naive, Fp8GemmBackend::Wgmma});
  check_dense(64, 2112, 1024, Fp8ScaleLayout::Block128x128, kAllBackends);
  check_dense(1, 2112, 256, Fp8ScaleLayout::Block128x128, {Fp8GemmBackend::Naive, Fp8GemmBackend::Wgmma});
}

TEST_CASE("fp8 GEMM (CUDA): a DeepSeek-V3 shape, m=4096 n=2112, reduced k", "[cuda][fp8][gemm]") {
  if (!gpu_available()) return;
  // The benchmark's 4096 x 2112 output (on 132 SMs the heuristic picks block_n 112) with k = 512.
  check_dense(4096, 2112, 512, Fp8ScaleLayout::Block128x128, kAllBackends);
}

TEST_CASE("fp8 GEMM (CUDA): weight-gradient layout, both operands 1x128", "[cuda][fp8][gemm]") {
  if (!gpu_available()) return;
  check_dense(256, 384, 640, Fp8ScaleLayout::Tile1x128, {Fp8GemmBackend::Naive, Fp8GemmBackend::CublasLt});
}

TEST_CASE("fp8 GEMM (CUDA): grouped with uneven expert segments", "[cuda][fp8][gemm]") {
  if (!gpu_available()) return;
  // 5 experts: 128, 0 (empty), 256, 384 and 128 rows; n = 264 (expert tiles run into the next expert's
  // rows, which must not leak), k = 400; then n = 256.
  const std::vector<int64_t> offsets = {0, 128, 128, 384, 768, 896};
  const int64_t groups = 5, m = offsets.back(), k = 400;
  for (const int64_t n : {264, 256}) {
    INFO("grouped n=" << n);
    const Operand a = make_operand(m, k, Fp8ScaleLayout::Tile1x128, 1, "a");
    const Operand b = make_operand(n, k, Fp8ScaleLayout::Block128x128, groups, "b");
    const Reference ref = reference(a, b, groups, offsets);
    const DeviceOperand da = upload(a), db = upload(b);
    const Fp8GroupLayout layout(offsets);
    Fp8GemmRunner runner;
    for (const auto backend : kAllBackends) run_and_check(runner, backend, da, db, &layout, ref, m, n);
  }
}

TEST_CASE("fp8 GEMM (CUDA): GPU quantisation in GemmReady storage feeds the GEMM", "[cuda][fp8][gemm]") {
  if (!gpu_available()) return;
  // End to end: quantise x and w on the GPU straight into the layout the GEMMs read, and compare with
  // the CPU quantising and multiplying the same values.
  const int64_t m = 192, n = 320, k = 384;
  const auto x = random_matrix(m, k, case_seed("x")), w = random_matrix(n, k, case_seed("w"));
  std::vector<uint8_t> xc(x.size()), wc(w.size());
  std::vector<float> xs(static_cast<size_t>(fp8_scale_count(Fp8ScaleLayout::Tile1x128, m, k)));
  std::vector<float> ws(static_cast<size_t>(fp8_scale_count(Fp8ScaleLayout::Block128x128, n, k)));
  quantize_fp8(x, m, k, Fp8ScaleLayout::Tile1x128, {}, xc, xs);
  quantize_fp8(w, n, k, Fp8ScaleLayout::Block128x128, {}, wc, ws);
  std::vector<float> ref(static_cast<size_t>(m * n));
  fp8_gemm_nt({xc, xs, m, k, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128},
              {wc, ws, n, k, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128}, ref);

  auto dx = to_device(x), dw = to_device(w);
  auto xcodes = poisoned<uint8_t>(x.size()), wcodes = poisoned<uint8_t>(w.size());
  auto xscales = poisoned<float>(static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, m, k)));
  auto wscales = poisoned<float>(static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, n, k)));
  quantize_fp8_cuda(dx.data(), Fp8InputType::F32, m, k, Fp8ScaleLayout::Tile1x128, {}, Fp8ScaleStorage::GemmReady,
                    xcodes.data(), xscales.data());
  quantize_fp8_cuda(dw.data(), Fp8InputType::F32, n, k, Fp8ScaleLayout::Block128x128, {}, Fp8ScaleStorage::GemmReady,
                    wcodes.data(), wscales.data());
  Fp8GemmRunner runner;
  auto d = poisoned<uint16_t>(static_cast<size_t>(m * n));
  runner.gemm_nt({xcodes.data(), xscales.data(), m, k, Fp8ScaleLayout::Tile1x128},
                 {wcodes.data(), wscales.data(), n, k, Fp8ScaleLayout::Block128x128}, d.data(), Fp8GemmBackend::Naive);
  const auto out = to_host(d);
  int64_t mismatches = 0;
  for (size_t i = 0; i < ref.size(); ++i) mismatches += bf16_bits_to_float(out[i]) != ref[i];
  CHECK(mismatches == 0);
}

TEST_CASE("fp8 GEMM argument checks", "[fp8][gemm]") {
  // No device needed: the checks are host code. Shapes by hand: a [256, 512], b [384, 512].
  alignas(16) static uint8_t codes[16];
  alignas(16) static float scales[4];
  alignas(16) static uint16_t out[8];
  const Fp8DeviceMatrix a{codes, scales, 256, 512, Fp8ScaleLayout::Tile1x128};
  const Fp8DeviceMatrix b{codes, scales, 384, 512, Fp8ScaleLayout::Block128x128};
  CHECK_NOTHROW(check_fp8_gemm_args(a, b, out, Fp8GemmBackend::Wgmma));
  CHECK_NOTHROW(check_fp8_gemm_args(a, b, out, Fp8GemmBackend::CublasLt));

  Fp8DeviceMatrix bad_a = a;
  bad_a.layout = Fp8ScaleLayout::Block128x128;
  CHECK_THROWS_WITH(check_fp8_gemm_args(bad_a, b, out, Fp8GemmBackend::Naive), Catch::Contains("a must have Tile1x128"));
  Fp8DeviceMatrix bad_b = b;
  bad_b.cols = 500;
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, bad_b, out, Fp8GemmBackend::Naive),
                    Catch::Contains("a.cols (512) must equal b.cols (500)"));
  bad_b = b;
  bad_b.layout = Fp8ScaleLayout::Tile1x128;
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, bad_b, out, Fp8GemmBackend::Wgmma), Catch::Contains("Block128x128"));
  CHECK_NOTHROW(check_fp8_gemm_args(a, bad_b, out, Fp8GemmBackend::CublasLt));
  // K = 520 is not a multiple of 16 (TMA and cuBLASLt need 16-byte rows); the naive kernel takes it.
  Fp8DeviceMatrix a520 = a, b520 = b;
  a520.cols = b520.cols = 520;
  CHECK_THROWS_WITH(check_fp8_gemm_args(a520, b520, out, Fp8GemmBackend::Wgmma), Catch::Contains("multiple of 16"));
  CHECK_NOTHROW(check_fp8_gemm_args(a520, b520, out, Fp8GemmBackend::Naive));
  // n = 383 is not a multiple of 8: cuBLASLt refuses, wgmma takes it.
  Fp8DeviceMatrix b383 = b;
  b383.rows = 383;
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, b383, out, Fp8GemmBackend::CublasLt), Catch::Contains("multiple of 8"));
  CHECK_NOTHROW(check_fp8_gemm_args(a, b383, out, Fp8GemmBackend::Wgmma));
  // Misaligned codes.
  Fp8DeviceMatrix a_off = a;
  a_off.codes = codes + 1;
  CHECK_THROWS_WITH(check_fp8_gemm_args(a_off, b, out, Fp8GemmBackend::Wgmma), Catch::Contains("16-byte aligned"));
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, b, nullptr, Fp8GemmBackend::Naive), Catch::Contains("d must not be null"));
  // Grouped: b.rows = 384 is not 5 experts' worth; a.rows must equal the last offset.
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, b, out, Fp8GemmBackend::Naive, 5, 256), Catch::Contains("groups (5)"));
  CHECK_THROWS_WITH(check_fp8_gemm_args(a, b, out, Fp8GemmBackend::Naive, 3, 384), Catch::Contains("last group offset (384)"));
  CHECK_NOTHROW(check_fp8_gemm_args(a, b, out, Fp8GemmBackend::Naive, 3, 256));
}

TEST_CASE("fp8 group offsets: bad input", "[fp8][gemm]") {
  CHECK_NOTHROW(check_fp8_group_offsets(std::vector<int64_t>{0, 128, 128, 384}));
  CHECK_THROWS_WITH(check_fp8_group_offsets(std::vector<int64_t>{0}), Catch::Contains("groups + 1 >= 2"));
  CHECK_THROWS_WITH(check_fp8_group_offsets(std::vector<int64_t>{128, 256}), Catch::Contains("offsets[0] must be 0, found 128"));
  CHECK_THROWS_WITH(check_fp8_group_offsets(std::vector<int64_t>{0, 256, 128}),
                    Catch::Contains("offsets[1] = 256 > offsets[2] = 128"));
  CHECK_THROWS_WITH(check_fp8_group_offsets(std::vector<int64_t>{0, 100}), Catch::Contains("offsets[1] = 100 is not a multiple of 128"));
}
