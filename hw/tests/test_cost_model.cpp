// Tests of the cost models: the GEMM fit against the published DeepGEMM numbers, memory-bound
// kernels by HBM bytes, SM scaling with wave quantisation, communication SMs and bus factors.
#include <catch2/catch.hpp>

#include <cmath>

#include "hw/cost_model.h"

using namespace tandem;

namespace {
ir::Gemm fp8_gemm(int64_t m, int64_t n, int64_t k) {
  ir::Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = g.b = ir::DType::FP8E4M3;
  g.out = ir::DType::BF16;
  g.a_scale = ir::ScaleGranularity::Tile1x128;
  g.b_scale = ir::ScaleGranularity::Block128x128;
  return g;
}
}  // namespace

TEST_CASE("GEMM model reproduces DeepGEMM's published H800 FP8 throughput within 10%", "[hw][cost]") {
  // deepseek-ai/DeepGEMM README of 2025-02-25 (H800, NVCC 12.8), as collected in
  // ../shared/data/h800-published.json: {m, n, k, TFLOPS}.
  struct Point { int64_t groups, m, n, k; double tflops; };
  const Point points[] = {
      {1, 64, 2112, 7168, 206},     {1, 128, 7168, 16384, 645}, {1, 4096, 2112, 7168, 1058},
      {1, 4096, 24576, 1536, 990},  {1, 4096, 32768, 512, 590}, {1, 4096, 7168, 16384, 1358},
      {1, 4096, 4096, 7168, 1304},  {1, 4096, 7168, 2048, 1025},
      {8, 4096, 4096, 7168, 1288},  {8, 4096, 7168, 2048, 1093},   // grouped contiguous, m per group
  };
  const hw::CostModel model(hw::gpu_spec("H800"));
  for (const Point& p : points) {
    ir::Gemm g = fp8_gemm(p.m * p.groups, p.n, p.k);
    if (p.groups > 1) g.group_rows.assign(size_t(p.groups), p.m);
    const hw::KernelEstimate e = model.estimate(g, 132);
    const double tflops = 2.0 * double(p.m * p.groups) * double(p.n) * double(p.k) / (double(e.ns) * 1e-9) / 1e12;
    INFO("m=" << p.m << " n=" << p.n << " k=" << p.k << " groups=" << p.groups << " model " << tflops
              << " TFLOPS, published " << p.tflops);
    CHECK(std::abs(tflops / p.tflops - 1.0) < 0.10);
    CHECK(e.source == hw::CostSource::Model);
  }
}

TEST_CASE("memory-bound kernel takes its HBM bytes at its family's achieved efficiency plus launch", "[hw][cost]") {
  ir::Norm n;
  n.rows = 4096;
  n.cols = 7168;
  n.dtype = ir::DType::BF16;
  // bytes = read + write = 2 * 4096 * 7168 * 2 = 117440512
  // time  = 117440512 / (3.35e12 * 0.32) s = 109552.7 ns -> 109553 ns, + 2000 ns launch = 111553 ns
  // (the trace's ln_fwd of this shape: 104-127 us; vector work 4 * 4096 * 7168 flops / (66.9e12 * 0.5)
  // = 3.5 us is smaller)
  const hw::CostModel model(hw::gpu_spec("H800"));
  const hw::KernelEstimate e = model.estimate(n, 132);
  CHECK(e.ns == 111553);
  CHECK_FALSE(e.compute_bound);
  // With 33 SMs (a quarter) the kernel cannot saturate HBM: saturation at 66 SMs -> twice as slow:
  // 2 * 109552.7 = 219105.4 ns -> 219106 ns, + 2000 ns launch = 221106 ns.
  CHECK(model.estimate(n, 33).ns == 221106);
  // A residual add moves the same bytes at the generic efficiency: 117440512 / (3.35e12 * 0.85) s =
  // 41243.4 ns -> 41244 ns, + 2000 ns = 43244 ns.
  ir::Elementwise add;
  add.kind = ir::ElementwiseKind::Add;
  add.elements = 4096 * 7168;
  add.read_bytes = add.write_bytes = 4096 * 7168 * 2;
  add.flops_per_element = 1.0;
  CHECK(model.estimate(add, 132).ns == 43244);
}

TEST_CASE("casts, transposes and RoPE move their bytes at the trace's achieved bandwidth", "[hw][cost]") {
  const hw::CostModel model(hw::gpu_spec("H800"));
  // Per-token cast of [4096, 7168] BF16 to FP8 with 1x128 scales: 4096 * 7168 * (2 + 1) + 4096 * 56 * 4
  // = 88,997,888 bytes / (3.35e12 * 0.6) s = 44,277.6 ns -> 44278 + 2000 ns = 46278 ns (the trace: 42-53 us).
  ir::Quantize cast{4096, 7168, ir::DType::BF16, ir::DType::FP8E4M3, ir::ScaleGranularity::Tile1x128, false};
  CHECK(model.estimate(cast, 132).ns == 46278);
  // The same per channel, transposed: 88,997,888 / (3.35e12 * 0.72) s = 36,898.0 ns -> 36898 + 2000 =
  // 38898 ns (the trace: 36-47 us).
  cast.transpose = true;
  CHECK(model.estimate(cast, 132).ns == 38898);
  // RoPE over [4096, 129, 64] BF16 in place: 2 * 2 * 33,816,576 = 135,266,304 bytes / (3.35e12 * 0.31) s
  // = 130,251.6 ns -> 130252 + 2000 = 132252 ns (the trace: 126 + 5 us).
  ir::Elementwise rope;
  rope.kind = ir::ElementwiseKind::Rope;
  rope.elements = 4096 * 129 * 64;
  rope.read_bytes = rope.write_bytes = 2 * rope.elements;
  rope.flops_per_element = 6.0;
  CHECK(model.estimate(rope, 132).ns == 132252);
}

TEST_CASE("the router's forward costs its kernels' launches and two top-k passes", "[hw][cost]") {
  const hw::CostModel model(hw::gpu_spec("H800"));
  // 6 launches of 2 us and two top-k passes over [4096, 256] at 1.58e10 values/s:
  // 2 * 4096 * 256 / 1.58e10 s = 132,731.1 ns -> 132732 ns, + 12000 ns = 144732 ns (the profile: 150 us
  // of router kernels per layer's forward).
  ir::Router r{4096, 256, 8, 4, 8, false};
  CHECK(model.estimate(r, 132).ns == 144732);
  // The backward is vector work: 3 * 4 * 4096 * 256 bytes / (3.35e12 * 0.85) s = 4,418.9 ns -> 4419 +
  // 2000 ns = 6419 ns.
  r.backward = true;
  CHECK(model.estimate(r, 132).ns == 6419);
}

TEST_CASE("compute-bound GEMM on 112 of 132 SMs takes 132/112 as long, launch aside", "[hw][cost]") {
  // m = 128*112, n = 128*132: 112 x 132 = 14784 tiles of 128x128 -> 112 full waves on 132 SMs and 132
  // full waves on 112 SMs; k = 7168 keeps it compute-bound. Per-wave time is the same, so the part
  // after the fixed 4 us launch scales by 132/112.
  const hw::CostModel model(hw::gpu_spec("H800"));
  const ir::Gemm g = fp8_gemm(128 * 112, 128 * 132, 7168);
  const hw::KernelEstimate full = model.estimate(g, 132);
  const hw::KernelEstimate part = model.estimate(g, 112);
  REQUIRE(full.compute_bound);
  CHECK(full.waves == 112);
  CHECK(part.waves == 132);
  const double ratio = double(part.ns - 4000) / double(full.ns - 4000);
  CHECK(ratio == Approx(132.0 / 112.0).epsilon(1e-6));
}

TEST_CASE("FP8 weight-gradient GEMM runs its mainloop at the trace's lower efficiency", "[hw][cost]") {
  // dW[m, n] += Xᵀ · dY with m = 128*112, n = 128*132, k = 7168 tokens, FP32 output: 14784 tiles of
  // 128x128 on 132 SMs = 112 waves. One tile:
  //   mainloop 2 * 128 * 128 * 7168 / (1979e12 / 132 * 0.42) = 37301.54 ns
  //   epilogue 128 * 128 * 4 / (3.35e12 / 132 * 0.8)          =  3227.89 ns
  //   overhead                                                 =   400 ns   -> 40929.43 ns
  // 112 waves = 4584096.6 ns -> 4584097 ns (HBM: 2.17e9 bytes / 2.8475e12 = 0.76 ms, smaller), + 4 us launch.
  const hw::CostModel model(hw::gpu_spec("H800"));
  ir::Gemm g = fp8_gemm(128 * 112, 128 * 132, 7168);
  g.out = ir::DType::FP32;
  g.accumulate = true;
  const hw::KernelEstimate e = model.estimate(g, 132);
  CHECK(e.compute_bound);
  CHECK(e.waves == 112);
  CHECK(e.ns == 4588097);
  // 2 * 16896 * 14336 * 7168 flops in 4.588 ms: 757 TFLOPS, at the top of the trace's 485-754 range (a large shape).
}

TEST_CASE("communication kernel bandwidth grows with the SMs it holds", "[hw][cost]") {
  const hw::CostModel model(hw::gpu_spec("H800"));
  // DeepEP: 20 SMs -> 158 GB/s (7.9 GB/s per SM)
  CHECK(model.comm_kernel_bytes_per_s(20) == Approx(158e9));
  CHECK(model.comm_kernel_bytes_per_s(10) == Approx(79e9));
  CHECK(model.comm_kernel_bytes_per_s(0) == 0.0);   // copy engine: no SM limit
}

TEST_CASE("DeepEP's internode kernels move DeepEP's published EP64 bandwidth per SM of its benchmark", "[hw][cost][deepep]") {
  const hw::CostModel model(hw::gpu_spec("H800"));
  // README (February 2025 rows, on test_internode.py's 24 SMs): dispatch 46 GB/s, combine 45 GB/s of
  // rows per token and node visited. On 24 SMs those; on DeepSeek-V3's 20, 20/24 of them.
  CHECK(model.deepep_internode_bytes_per_s(24, true) == Approx(46e9).epsilon(1e-12));
  CHECK(model.deepep_internode_bytes_per_s(24, false) == Approx(45e9).epsilon(1e-12));
  CHECK(model.deepep_internode_bytes_per_s(20, true) == Approx(46e9 * 20 / 24).epsilon(1e-12));   // 38.33 GB/s
  CHECK(model.deepep_internode_bytes_per_s(20, false) == Approx(37.5e9).epsilon(1e-12));
  CHECK(model.deepep_internode_bytes_per_s(0, true) == 0.0);
}

TEST_CASE("bus factors follow nccl-tests", "[hw][cost]") {
  CHECK(hw::bus_bytes_factor(ir::CommKind::AllReduce, 8) == Approx(2.0 * 7 / 8));
  CHECK(hw::bus_bytes_factor(ir::CommKind::ReduceScatter, 4) == Approx(0.75));
  CHECK(hw::bus_bytes_factor(ir::CommKind::AllGather, 128) == Approx(127.0 / 128));
  CHECK(hw::bus_bytes_factor(ir::CommKind::Send, 2) == 1.0);
}

TEST_CASE("attention forward runs at FlashMLA's compute-bound efficiency", "[hw][cost]") {
  ir::Attention a;
  a.seqs = 1;
  a.seq_len = 4096;
  a.heads = 128;
  a.causal = false;
  // flops = 2 * 4096^2 * (192 + 128) * 128 = 1.374e12; tiles = 128 heads * 32 query blocks = 4096
  // -> 32 waves on 132 SMs (4096/132 = 31.03); time = waves * (flops/tiles) / (989.5e12/132 * 0.667)
  const hw::CostModel model(hw::gpu_spec("H800"));
  const hw::KernelEstimate e = model.estimate(a, 132);
  const double flops = 2.0 * 4096.0 * 4096.0 * 320.0 * 128.0;
  const double expect = 2000 + 32.0 * (flops / 4096.0) / (989.5e12 / 132.0 * 0.667) * 1e9;
  CHECK(e.waves == 32);
  CHECK(double(e.ns) == Approx(expect).margin(1.0));
}
