// The precision recipes (plan.precision "fp8" and "bf16") in the program and in the cost model, by
// hand: BF16 GEMMs at the BF16 peak, a BF16 dispatch twice the FP8 one's bytes, no casts or scales.
#include <catch2/catch.hpp>

#include <variant>

#include "hw/cost_model.h"
#include "ir/step_program.h"

using namespace tandem;

TEST_CASE("plan.precision names a recipe and a bad one is refused with its path", "[hw][precision]") {
  const auto fp8 = ir::load_scenario("tiny", {"plan.precision=fp8"}).plan.precision;
  CHECK((fp8.fp8 && fp8.fp8_dispatch));
  const auto bf16 = ir::load_scenario("tiny", {"plan.precision=bf16"}).plan.precision;
  CHECK((!bf16.fp8 && !bf16.fp8_dispatch));
  CHECK(!ir::load_scenario("tiny", {R"(plan.precision={"recipe":"bf16"})"}).plan.precision.fp8);
  CHECK(!ir::load_scenario("tiny", {"plan.precision.fp8=false"}).plan.precision.fp8);   // the object form stays
  auto error = [](const std::string& set) {
    try {
      ir::load_scenario("tiny", {set});
    } catch (const ir::ScenarioError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Contains;
  CHECK_THAT(error("plan.precision=fp16"), Contains("at plan.precision:") && Contains("a recipe (fp8, bf16)") &&
                                                Contains("\"fp16\"") && Contains("did you mean \"fp8\""));
  CHECK_THAT(error("plan.precision=3"), Contains("at plan.precision:") && Contains("a recipe (fp8, bf16) or an object") &&
                                          Contains("the integer 3"));
  CHECK_THAT(error(R"(plan.precision={"recipe":"int8"})"), Contains("plan.precision.recipe") && Contains("one of fp8, bf16"));
  CHECK_THAT(error(R"(plan.precision={"recipe":"bf16","fp8_dispatch":true})"),
             Contains("plan.precision.fp8_dispatch") && Contains("no FP8 setting with recipe \"bf16\""));
}

TEST_CASE("the BF16 recipe: BF16 GEMMs, a BF16 all-to-all, no FP8 casts", "[hw][precision]") {
  const ir::StepProgram fp8(ir::load_scenario("deepseek-v3-pretrain"));
  const ir::StepProgram bf16(ir::load_scenario("deepseek-v3-pretrain", {"plan.precision=bf16"}));
  auto comm_bytes = [](const ir::RankProgram& rp, ir::CommPurpose purpose) -> int64_t {
    for (const auto& t : rp.templates)
      if (const auto* c = std::get_if<ir::Comm>(&t.payload))
        if (c->purpose == purpose && c->kind == ir::CommKind::AllToAllV) return c->bytes;
    return -1;
  };
  const ir::RankProgram& f = fp8.program_of(128);
  const ir::RankProgram& b = bf16.program_of(128);
  // Dispatch of 4096 tokens × 8 experts: FP8 7168 bytes + 56 FP32 scales a row, BF16 2 × 7168 bytes:
  // 234,881,024 + 7,340,032 = 242,221,056 against 469,762,048 (×1.94).
  CHECK(comm_bytes(f, ir::CommPurpose::Dispatch) == 242221056);
  CHECK(comm_bytes(b, ir::CommPurpose::Dispatch) == 469762048);
  // The combine's backward sends the output gradients to the experts: FP8 like the dispatch under the
  // FP8 recipe, BF16 under BF16. The combine and the dispatch's backward are BF16 in both.
  CHECK(comm_bytes(f, ir::CommPurpose::CombineGrad) == 242221056);
  CHECK(comm_bytes(b, ir::CommPurpose::CombineGrad) == 469762048);
  CHECK(comm_bytes(b, ir::CommPurpose::Combine) == comm_bytes(f, ir::CommPurpose::Combine));
  int64_t bf16_gemms = 0;
  for (const auto& t : b.templates) {
    CHECK_FALSE(std::holds_alternative<ir::Quantize>(t.payload));
    if (const auto* g = std::get_if<ir::Gemm>(&t.payload)) {
      CHECK((g->a == ir::DType::BF16 && g->b == ir::DType::BF16));
      CHECK(g->a_scale == ir::ScaleGranularity::None);
      ++bf16_gemms;
    }
  }
  CHECK(bf16_gemms > 0);
}

TEST_CASE("a BF16 GEMM runs at the BF16 peak: twice the FP8 mainloop", "[hw][precision]") {
  // m = 128·112, n = 128·132, k = 7168 on the H800: 14784 tiles of 128×128 on 132 SMs = 112 waves. A tile:
  //   mainloop BF16  2·128·128·7168 / (989.5e12 / 132 · 0.725) = 43218.34 ns   (FP8 at 1979e12: 21609.17 ns)
  //   epilogue       128·128·2 / (3.35e12 / 132 · 0.8)          =  1613.95 ns
  //   overhead                                                  =   400 ns
  // BF16: 112 × 45232.28 = 5066015.8 -> 5066016 ns + 4 us launch = 5070016 ns (HBM: 0.33 ms, smaller).
  // FP8:  112 × 23623.12 = 2645788.9 -> 2645789 ns + 4 us launch = 2649789 ns.
  const hw::CostModel model(hw::gpu_spec("H800"));
  ir::Gemm bf16{128 * 112, 128 * 132, 7168};
  ir::Gemm fp8 = bf16;
  fp8.a = fp8.b = ir::DType::FP8E4M3;
  fp8.a_scale = ir::ScaleGranularity::Tile1x128;
  fp8.b_scale = ir::ScaleGranularity::Block128x128;
  const hw::KernelEstimate eb = model.estimate(bf16, 132), ef = model.estimate(fp8, 132);
  CHECK(eb.compute_bound);
  CHECK(eb.waves == 112);
  CHECK(eb.ns == 5070016);
  CHECK(ef.ns == 2649789);
}
