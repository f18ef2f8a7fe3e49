// kernels_cuda_bench: FP8 block-scaled GEMM TFLOPS on the DeepSeek-V3 shapes (DeepGEMM's table) for
// the hand-written wgmma kernel, cuBLASLt's block-scaled FP8 and cuBLASLt BF16, in one run. Each
// shape is validated before it is timed: the naive kernel's output is checked bit for bit against
// the CPU reference on sampled rows, then every backend against the naive output. Without a GPU it
// says so and exits with status 2. `kernels_cuda_bench attention ...` runs attention_bench.cpp instead,
// `kernels_cuda_bench memory ...` memory_bench.cpp (router, permute, SwiGLU, RMSNorm, cross-entropy).
#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kernels/bench_cuda/attention_bench.h"
#include "kernels/bench_cuda/bench_data_cuda.h"
#include "kernels/bench_cuda/memory_bench.h"
#include "kernels/common/bf16.h"
#include "kernels/common/cuda_check_cuda.h"
#include "kernels/common/cuda_device_cuda.h"
#include "kernels/fp8/fp8_gemm_cpu.h"
#include "kernels/fp8/fp8_quant_cuda.h"
#include "kernels/gemm/bf16_gemm_cuda.h"
#include "kernels/gemm/fp8_gemm_cuda.h"
#include "kernels/gemm/gemm_cpu.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;

namespace {

// m x n x k as in DeepGEMM's README: m rows of activations (tokens), n output features, k the
// reduction; grouped: `groups` experts of m rows each. published: DeepGEMM on H800 (README of
// 2025-02-25, NVCC 12.8), /work/shared/data/h800-published.json.
struct Shape {
  std::string name;
  int64_t groups;  // 0: dense
  int64_t m, n, k;
  double published_tflops;
};

const std::vector<Shape> kShapes = {
    {"4096x7168x16384", 0, 4096, 7168, 16384, 1358},
    {"4096x4096x7168", 0, 4096, 4096, 7168, 1304},
    {"4096x2112x7168", 0, 4096, 2112, 7168, 1058},
    {"8x(4096x4096x7168)", 8, 4096, 4096, 7168, 1288},
    {"8x(4096x7168x2048)", 8, 4096, 7168, 2048, 1093},
};

struct Options {
  int iters = 20;
  int warmup = 3;
  std::string filter;
  int64_t block_n = 0;
  uint64_t seed = 0;
  std::string json;
  bool skip_bf16 = false;
};

struct Timing {
  double median_us = 0, min_us = 0;
  bool valid = false;
  std::string note;
};

struct Row {
  Shape shape;
  int64_t block_n = 0;
  std::optional<Timing> wgmma, cublaslt, bf16, naive;
};

double flops_of(const Shape& s) { return 2.0 * std::max<int64_t>(s.groups, 1) * s.m * s.n * s.k; }
double tflops(const Shape& s, double us) { return us > 0 ? flops_of(s) / (us * 1e-6) / 1e12 : 0.0; }

// Times `run` (one GEMM) `iters` times after `warmup` runs, each after an L2 flush, with CUDA events.
template <typename Run>
Timing time_it(Run&& run, const Options& o, void* scratch, size_t scratch_bytes) {
  const bench::CudaTiming c = bench::time_cuda(run, o.warmup, o.iters, scratch, scratch_bytes);
  Timing t;
  t.median_us = c.median_us;
  t.min_us = c.min_us;
  t.valid = true;
  return t;
}

std::vector<uint16_t> copy_back(const uint16_t* d, size_t count) {
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint16_t> host(count);
  TANDEM_CUDA_CHECK(cudaMemcpy(host.data(), d, count * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  return host;
}

// Compares a backend's output with the naive kernel's: no NaN left from the poison, and the global
// similarity 1 - 2Σxy/(Σx²+Σy²) below 1e-5 (the tests' bound); reports the largest relative error
// among elements above 1% of the largest magnitude.
bool compare(const std::vector<uint16_t>& got, const std::vector<uint16_t>& ref, std::string& note) {
  double sxy = 0, sxx = 0, syy = 0, max_ref = 0;
  int64_t non_finite = 0;
  for (size_t i = 0; i < ref.size(); ++i) max_ref = std::max(max_ref, std::abs(double(bf16_bits_to_float(ref[i]))));
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double x = bf16_bits_to_float(got[i]), y = bf16_bits_to_float(ref[i]);
    if (!std::isfinite(x)) {
      ++non_finite;
      continue;
    }
    sxy += x * y, sxx += x * x, syy += y * y;
    if (std::abs(y) > 0.01 * max_ref) worst = std::max(worst, std::abs(x - y) / std::abs(y));
  }
  const double diff = sxx + syy > 0 ? 1.0 - 2.0 * sxy / (sxx + syy) : 0.0;
  note = fmt::format("diff {:.2e}, max rel err {:.2e}, non-finite {}", diff, worst, non_finite);
  return non_finite == 0 && diff < 1e-5;
}

// Rows of the naive output recomputed by the CPU reference from the same codes and scales (copied
// back, scales reordered from GemmReady): they must agree bit for bit.
bool check_naive_rows(const Shape& s, const uint8_t* a_codes, const float* a_scales, const uint8_t* b_codes,
                      const float* b_scales, const std::vector<uint16_t>& naive, std::string& note) {
  const int64_t groups = std::max<int64_t>(s.groups, 1), rows = groups * s.m, n = s.n, k = s.k;
  const int64_t kblocks = fp8_blocks_of(k), a_ld = fp8_scale_ld(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, rows, k);
  const int64_t b_ld = fp8_scale_ld(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, n, k);
  const int64_t b_count = fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, n, k);
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t mismatches = 0;
  for (const int64_t row : {int64_t{0}, rows / 2 + 1, rows - 1}) {
    const int64_t g = row / s.m;
    std::vector<uint8_t> a_row(static_cast<size_t>(k)), b(static_cast<size_t>(n * k));
    std::vector<float> a_ready(static_cast<size_t>(kblocks * a_ld)), b_ready(static_cast<size_t>(b_count));
    TANDEM_CUDA_CHECK(cudaMemcpy(a_row.data(), a_codes + row * k, a_row.size(), cudaMemcpyDeviceToHost));
    TANDEM_CUDA_CHECK(cudaMemcpy(a_ready.data(), a_scales, a_ready.size() * sizeof(float), cudaMemcpyDeviceToHost));
    TANDEM_CUDA_CHECK(cudaMemcpy(b.data(), b_codes + g * n * k, b.size(), cudaMemcpyDeviceToHost));
    TANDEM_CUDA_CHECK(cudaMemcpy(b_ready.data(), b_scales + g * b_count, b_ready.size() * sizeof(float), cudaMemcpyDeviceToHost));
    std::vector<float> a_s(static_cast<size_t>(kblocks)), b_s(static_cast<size_t>(fp8_blocks_of(n) * kblocks));
    for (int64_t kb = 0; kb < kblocks; ++kb) a_s[static_cast<size_t>(kb)] = a_ready[static_cast<size_t>(kb * a_ld + row)];
    for (int64_t nb = 0; nb < fp8_blocks_of(n); ++nb) {
      for (int64_t kb = 0; kb < kblocks; ++kb) b_s[static_cast<size_t>(nb * kblocks + kb)] = b_ready[static_cast<size_t>(nb * b_ld + kb)];
    }
    std::vector<float> ref(static_cast<size_t>(n));
    fp8_gemm_nt({a_row, a_s, 1, k, Fp8Format::E4M3, Fp8ScaleLayout::Tile1x128},
                {b, b_s, n, k, Fp8Format::E4M3, Fp8ScaleLayout::Block128x128}, ref, Fp8GemmOutput::Bf16, threads);
    for (int64_t j = 0; j < n; ++j) {
      mismatches += bf16_bits_to_float(naive[static_cast<size_t>(row * n + j)]) != ref[static_cast<size_t>(j)];
    }
  }
  note = fmt::format("naive vs CPU reference on 3 rows: {} mismatches", mismatches);
  return mismatches == 0;
}

// One row of the BF16 GEMM recomputed on the CPU in FP32: within one BF16 step plus 1e-5 of Σ|a·b|.
bool check_bf16_row(const Shape& s, const uint16_t* a, const uint16_t* b, const std::vector<uint16_t>& d, std::string& note) {
  const int64_t n = s.n, k = s.k, row = s.m / 2;  // in expert 0
  std::vector<uint16_t> a_bits(static_cast<size_t>(k)), b_bits(static_cast<size_t>(n * k));
  TANDEM_CUDA_CHECK(cudaMemcpy(a_bits.data(), a + row * k, a_bits.size() * 2, cudaMemcpyDeviceToHost));
  TANDEM_CUDA_CHECK(cudaMemcpy(b_bits.data(), b, b_bits.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<float> av(a_bits.size()), bv(b_bits.size()), aa(av.size()), ba(bv.size());
  for (size_t i = 0; i < av.size(); ++i) av[i] = bf16_bits_to_float(a_bits[i]), aa[i] = std::abs(av[i]);
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = bf16_bits_to_float(b_bits[i]), ba[i] = std::abs(bv[i]);
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<float> ref(static_cast<size_t>(n)), mag(static_cast<size_t>(n));
  matmul_nt(av, bv, ref, 1, n, k, false, threads);
  matmul_nt(aa, ba, mag, 1, n, k, false, threads);
  int64_t bad = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double got = bf16_bits_to_float(d[static_cast<size_t>(row * n + j)]);
    bad += !(std::abs(got - ref[j]) <= std::ldexp(std::abs(double(ref[j])), -7) + 1e-5 * mag[j]);
  }
  note = fmt::format("bf16 vs CPU on row {}: {} outside tolerance", row, bad);
  return bad == 0;
}

Row run_shape(const Shape& s, const Options& o, Fp8GemmRunner& fp8, Bf16GemmRunner& bf16, void* scratch,
              size_t scratch_bytes) {
  Row row{s};
  const int64_t groups = std::max<int64_t>(s.groups, 1), m = groups * s.m, n = s.n, k = s.k;
  fmt::print("\n== {} ({}) ==\n", s.name, s.groups ? "grouped" : "dense");
  std::fflush(stdout);

  // Inputs: x [m, k] and the experts' weights [groups·n, k], quantised on the GPU into GemmReady storage.
  DeviceBuffer<uint8_t> a_codes(static_cast<size_t>(m * k)), b_codes(static_cast<size_t>(groups * n * k));
  const int64_t b_count = fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, n, k);
  DeviceBuffer<float> a_scales(static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, m, k)));
  DeviceBuffer<float> b_scales(static_cast<size_t>(groups * b_count));
  DeviceBuffer<uint16_t> a_bf16(static_cast<size_t>(m * k)), b_bf16(static_cast<size_t>(groups * n * k));
  {
    DeviceBuffer<float> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(groups * n * k));
    bench::fill_random_tiles(x.data(), m, k, o.seed ^ 0x1111, 8);
    bench::fill_random_tiles(w.data(), groups * n, k, o.seed ^ 0x2222, 8);
    quantize_fp8_cuda(x.data(), Fp8InputType::F32, m, k, Fp8ScaleLayout::Tile1x128, {}, Fp8ScaleStorage::GemmReady,
                      a_codes.data(), a_scales.data());
    for (int64_t g = 0; g < groups; ++g) {
      quantize_fp8_cuda(w.data() + g * n * k, Fp8InputType::F32, n, k, Fp8ScaleLayout::Block128x128, {},
                        Fp8ScaleStorage::GemmReady, b_codes.data() + g * n * k, b_scales.data() + g * b_count);
    }
    bench::to_bf16(x.data(), a_bf16.data(), m * k);
    bench::to_bf16(w.data(), b_bf16.data(), groups * n * k);
    TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  }
  const Fp8DeviceMatrix a{a_codes.data(), a_scales.data(), m, k, Fp8ScaleLayout::Tile1x128};
  const Fp8DeviceMatrix b{b_codes.data(), b_scales.data(), groups * n, k, Fp8ScaleLayout::Block128x128};
  std::vector<int64_t> offsets;
  for (int64_t g = 0; g <= groups; ++g) offsets.push_back(g * s.m);
  std::optional<Fp8GroupLayout> layout;
  if (s.groups) layout.emplace(offsets);

  const size_t out_count = static_cast<size_t>(m * n);
  DeviceBuffer<uint16_t> d(out_count), d_ref(out_count);
  auto fp8_run = [&](Fp8GemmBackend backend, uint16_t* out) {
    if (layout) {
      fp8.grouped_gemm_nt(a, b, *layout, out, backend);
    } else {
      fp8.gemm_nt(a, b, out, backend);
    }
  };
  auto bf16_run = [&] {
    for (int64_t g = 0; g < groups; ++g) {
      bf16.gemm_nt(a_bf16.data() + g * s.m * k, b_bf16.data() + g * n * k, d.data() + g * s.m * n, s.m, n, k);
    }
  };

  // The reference: the naive kernel (timed once), checked against the CPU on sampled rows.
  TANDEM_CUDA_CHECK(cudaMemset(d_ref.data(), 0xFF, d_ref.bytes()));
  {
    cudaEvent_t start, stop;
    TANDEM_CUDA_CHECK(cudaEventCreate(&start));
    TANDEM_CUDA_CHECK(cudaEventCreate(&stop));
    TANDEM_CUDA_CHECK(cudaEventRecord(start));
    fp8_run(Fp8GemmBackend::Naive, d_ref.data());
    TANDEM_CUDA_CHECK(cudaEventRecord(stop));
    TANDEM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    TANDEM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    row.naive = Timing{ms * 1e3, ms * 1e3, false, ""};
  }
  const auto ref = copy_back(d_ref.data(), out_count);
  row.naive->valid = check_naive_rows(s, a_codes.data(), a_scales.data(), b_codes.data(), b_scales.data(), ref, row.naive->note);
  fmt::print("  naive     : {} -> {}\n", row.naive->note, row.naive->valid ? "ok" : "FAILED");
  if (!row.naive->valid) return row;

  auto validate_and_time = [&](Fp8GemmBackend backend) -> Timing {
    Timing t;
    try {
      TANDEM_CUDA_CHECK(cudaMemset(d.data(), 0xFF, d.bytes()));
      fp8_run(backend, d.data());
      const bool ok = compare(copy_back(d.data(), out_count), ref, t.note);
      fmt::print("  {:<10}: {} -> {}\n", fp8_gemm_backend_name(backend), t.note, ok ? "ok" : "FAILED");
      std::fflush(stdout);
      if (!ok) return t;
      const std::string note = t.note;
      t = time_it([&] { fp8_run(backend, d.data()); }, o, scratch, scratch_bytes);
      t.note = note;
    } catch (const std::exception& e) {
      t.valid = false;
      t.note = e.what();
      fmt::print("  {:<10}: error: {}\n", fp8_gemm_backend_name(backend), e.what());
    }
    return t;
  };

  std::string why;
  if (fp8.wgmma_supported(&why)) {
    fp8.set_wgmma_block_n(o.block_n);
    row.block_n = fp8.wgmma_tiling(m, n).block_n;
    row.wgmma = validate_and_time(Fp8GemmBackend::Wgmma);
    fp8.set_wgmma_block_n(0);
  } else {
    fmt::print("  wgmma     : not run: {}\n", why);
  }
  row.cublaslt = validate_and_time(Fp8GemmBackend::CublasLt);
  if (!o.skip_bf16) {
    Timing t;
    try {
      TANDEM_CUDA_CHECK(cudaMemset(d.data(), 0xFF, d.bytes()));
      bf16_run();
      const bool ok = check_bf16_row(s, a_bf16.data(), b_bf16.data(), copy_back(d.data(), out_count), t.note);
      fmt::print("  bf16      : {} -> {}\n", t.note, ok ? "ok" : "FAILED");
      if (ok) {
        const std::string note = t.note;
        t = time_it(bf16_run, o, scratch, scratch_bytes);
        t.note = note;
      }
    } catch (const std::exception& e) {
      t.note = e.what();
      fmt::print("  bf16      : error: {}\n", e.what());
    }
    row.bf16 = t;
  }
  return row;
}

std::string cell(const Shape& s, const std::optional<Timing>& t) {
  if (!t) return "-";
  if (!t->valid) return "FAILED";
  return fmt::format("{:.0f}", tflops(s, t->median_us));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "attention") return bench::attention_bench_main(argc - 1, argv + 1);
  if (argc > 1 && std::string(argv[1]) == "memory") return bench::memory_bench_main(argc - 1, argv + 1);
  Options o;
  CLI::App app{"FP8 block-scaled GEMM benchmark: hand-written wgmma kernel vs cuBLASLt FP8 vs cuBLASLt BF16"};
  app.add_option("--iters", o.iters, "timed runs per backend (median reported)")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  app.add_option("--filter", o.filter, "only shapes whose name contains this");
  app.add_option("--block-n", o.block_n, "force the wgmma kernel's block_n (64, 96, 112, 128; 0 = heuristic)");
  app.add_option("--seed", o.seed, "input seed (default: from the clock)");
  app.add_option("--json", o.json, "also write the results as JSON lines to this file");
  app.add_flag("--skip-bf16", o.skip_bf16, "do not run the cuBLASLt BF16 baseline");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());

  const CudaDeviceStatus status = cuda_device_status();
  if (status.count == 0) {
    fmt::print(stderr, "kernels_cuda_bench: no CUDA device ({}); nothing to measure\n", status.reason);
    return 2;
  }
  try {
    Fp8GemmRunner fp8;
    Bf16GemmRunner bf16;
    const CudaDeviceInfo& info = fp8.device_info();
    fmt::print("device {} (compute capability {}.{}, {} SMs, {} MiB L2, clock {} MHz); seed {}; {} timed runs, median\n",
               info.name, info.cc_major, info.cc_minor, info.sms, info.l2_bytes >> 20, info.clock_khz / 1000, o.seed,
               o.iters);
    const size_t scratch_bytes = std::max<size_t>(static_cast<size_t>(info.l2_bytes) * 4, size_t{256} << 20);
    DeviceBuffer<uint8_t> scratch(scratch_bytes);

    std::vector<Row> rows;
    for (const Shape& s : kShapes) {
      if (!o.filter.empty() && s.name.find(o.filter) == std::string::npos) continue;
      rows.push_back(run_shape(s, o, fp8, bf16, scratch.data(), scratch_bytes));
    }

    bool all_valid = true;
    fmt::print("\n{:<20} {:>7} {:>10} {:>13} {:>13} {:>11} {:>9} {:>12}\n", "m x n x k", "block_n", "wgmma", "cuBLASLt FP8",
               "cuBLASLt BF16", "wgmma/cuLt", "naive", "DeepGEMM H800");
    fmt::print("{:<20} {:>7} {:>10} {:>13} {:>13} {:>11} {:>9} {:>12}\n", "", "", "TFLOPS", "TFLOPS", "TFLOPS", "", "TFLOPS",
               "TFLOPS (pub.)");
    std::ofstream json;
    if (!o.json.empty()) json.open(o.json);
    for (const Row& r : rows) {
      for (const auto* t : {&r.wgmma, &r.cublaslt, &r.bf16, &r.naive}) all_valid = all_valid && (!*t || (*t)->valid);
      std::string ratio = "-";
      if (r.wgmma && r.wgmma->valid && r.cublaslt && r.cublaslt->valid) {
        ratio = fmt::format("{:.2f}", r.cublaslt->median_us / r.wgmma->median_us);
      }
      fmt::print("{:<20} {:>7} {:>10} {:>13} {:>13} {:>11} {:>9} {:>12.0f}\n", r.shape.name, r.block_n ? std::to_string(r.block_n) : "-",
                 cell(r.shape, r.wgmma), cell(r.shape, r.cublaslt), cell(r.shape, r.bf16), ratio, cell(r.shape, r.naive),
                 r.shape.published_tflops);
      if (json) {
        auto entry = [&](const char* name, const std::optional<Timing>& t) {
          if (!t) return std::string();
          return fmt::format(", \"{}\": {{\"valid\": {}, \"median_us\": {:.3f}, \"tflops\": {:.1f}}}", name, t->valid ? "true" : "false",
                             t->median_us, t->valid ? tflops(r.shape, t->median_us) : 0.0);
        };
        json << fmt::format("{{\"device\": \"{}\", \"shape\": \"{}\", \"groups\": {}, \"m\": {}, \"n\": {}, \"k\": {}, \"block_n\": {}{}{}{}{}}}\n",
                            info.name, r.shape.name, r.shape.groups, r.shape.m, r.shape.n, r.shape.k, r.block_n,
                            entry("wgmma", r.wgmma), entry("cublaslt_fp8", r.cublaslt), entry("cublaslt_bf16", r.bf16),
                            entry("naive", r.naive));
      }
    }
    fmt::print("\nwgmma/cuLt: cuBLASLt FP8 time over wgmma time (> 1: the hand-written kernel is faster). Grouped\n"
               "cuBLASLt runs one call per expert. All outputs validated before timing.\n");
    return all_valid ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "kernels_cuda_bench: {}\n", e.what());
    return 1;
  }
}
