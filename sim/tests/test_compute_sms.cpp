// The SMs FP8 GEMMs launch on (plan.compute_sms, DeepGEMM's set_num_sms): a GEMM whose time at 132,
// 120, 112 and 92 SMs is computed by hand from the cost model's tile formula, alone and beside a
// communication kernel (it gets the smaller of its launch SMs and what communication leaves).
#include <catch2/catch.hpp>

#include <stdexcept>

#include "hand_program.h"
#include "hw/cost_model.h"
#include "sim/simulate.h"

using namespace tandem;
using sim::test::HandProgram;
using sim::test::Records;
using sim::test::test_cluster;

namespace {

// 1408 x 1536 output (11 x 12 tiles of 128 x 128 = 132 tiles), k = 7168, FP8 in, BF16 out.
ir::Gemm one_wave_gemm(ir::DType in = ir::DType::FP8E4M3) {
  ir::Gemm g;
  g.m = 128 * 11;
  g.n = 128 * 12;
  g.k = 7168;
  g.a = g.b = in;
  return g;
}

// Hand-computed from hw/cost_model.cpp: ns = 4000 (launch) + ceil(waves x tile), with
//   tile = 2·128·bn·7168 / (1979e12 / 132 x 0.725) + 128·bn·2 B / (3.35e12 / 132 x 0.8) + 400 ns,
// and the tile heuristic (hw/gemm_tiling.h: fewest waves, then the fullest last wave) choosing bn:
// - 132 SMs: bn = 128, 132 tiles in 1 wave; tile = 21609.2 + 1613.9 + 400 = 23623.1 ns -> 27624 ns.
// - 120 and 112 SMs: no bn fits 132 tiles in one wave, so 2 waves; bn = 80 (11 x 20 = 220 tiles, the
//   fullest last wave; bn = 72 gives 242 tiles, 3 waves); tile = 13505.7 + 1008.7 + 400 = 14914.4 ns,
//   2 x 14914.4 = 29828.9 -> 33829 ns: 22% slower than 132 SMs, and 120 SMs are no faster than 112.
// - 92 SMs: 2 waves with bn = 96 (11 x 16 = 176 tiles; bn = 88 gives 198, 3 waves);
//   tile = 16206.9 + 1210.5 + 400 = 17817.3 ns, 2 x 17817.3 = 35634.7 -> 39635 ns.
// HBM: (1408·7168 + 1536·7168 + 1408·1536·2) B / (3.35e12 x 0.85) = 8.9 us, below all of them.
constexpr int64_t kAt132 = 27624, kAt112 = 33829, kAt92 = 39635;

struct Run {
  int64_t end_ns, sms;
};

// The GEMM on rank 0 with plan.compute_sms = `budget` (0: all SMs), beside an all-to-all of ranks 0
// and 1 holding `comm_sms` SMs for about 10 ms (1.58 GB over NVLink) when comm_sms > 0.
Run gemm_run(int64_t budget, int64_t comm_sms, ir::DType in = ir::DType::FP8E4M3) {
  HandProgram p(2);
  p.compute_sms_budget = budget;
  const int32_t gemm = p.op(0, one_wave_gemm(in), ir::Stream::Compute);
  if (comm_sms > 0) p.all_to_all({0, 1}, 1.58e9, comm_sms, 7);
  p.finish();
  Records rec;
  sim::SimOptions o;
  o.mode = sim::Mode::Full;
  o.sink = &rec;
  sim::simulate(p, test_cluster(1, 2), o);
  const sim::OpRecord& g = rec.find(0, gemm);
  REQUIRE(g.start_ns == 0);
  return {g.end_ns, g.sms};
}

}  // namespace

TEST_CASE("a GEMM launched on fewer SMs pays the extra wave even when no communication runs", "[sim][sm][compute_sms]") {
  SECTION("all 132 SMs: one wave") {
    const Run r = gemm_run(0, 0);
    CHECK(r.sms == 132);
    CHECK(r.end_ns == kAt132);
  }
  SECTION("launched on 112: two waves of narrower tiles") {
    const Run r = gemm_run(112, 0);
    CHECK(r.sms == 112);
    CHECK(r.end_ns == kAt112);
  }
  SECTION("launched on 120: still two waves, no faster than 112") {
    const Run r = gemm_run(120, 0);
    CHECK(r.sms == 120);
    CHECK(r.end_ns == kAt112);
  }
  SECTION("a BF16 GEMM (cuBLAS, a grid over every SM) keeps all 132") {
    const Run r = gemm_run(112, 0, ir::DType::BF16);
    CHECK(r.sms == 132);
    CHECK(r.end_ns == hw::CostModel(hw::gpu_spec("H800")).estimate(one_wave_gemm(ir::DType::BF16), 132).ns);
  }
}

TEST_CASE("beside a communication kernel a GEMM gets the smaller of its launch SMs and what is left", "[sim][sm][compute_sms]") {
  SECTION("launched on all SMs, 20 held by the all-to-all: 112") {
    const Run r = gemm_run(0, 20);
    CHECK(r.sms == 112);
    CHECK(r.end_ns == kAt112);
  }
  SECTION("launched on 112, 20 held: 112, as without the all-to-all") {
    const Run r = gemm_run(112, 20);
    CHECK(r.sms == 112);
    CHECK(r.end_ns == kAt112);
  }
  SECTION("launched on 112, 40 held: the 92 left") {
    const Run r = gemm_run(112, 40);
    CHECK(r.sms == 92);
    CHECK(r.end_ns == kAt92);
  }
}

TEST_CASE("FP8 GEMMs launched on more SMs than the GPU has are refused", "[sim][sm][compute_sms][errors]") {
  HandProgram p(1);
  p.compute_sms_budget = 133;
  p.op(0, one_wave_gemm(), ir::Stream::Compute);
  p.finish();
  sim::SimOptions o;
  o.mode = sim::Mode::Full;
  CHECK_THROWS_AS(sim::simulate(p, test_cluster(1, 1), o), std::invalid_argument);
  CHECK_THROWS_WITH(sim::simulate(p, test_cluster(1, 1), o), Catch::Contains("133 SMs") && Catch::Contains("1..132"));
}
