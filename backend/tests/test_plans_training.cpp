// The CPU backend runs the plans of Megatron-LM recipes on the tiny model: interleaved 1F1B (two
// virtual stages per rank) trains like 1F1B, and recomputation by module, which re-runs forward ops in
// the backward, gives the same losses and gradients as keeping everything.
#include <catch2/catch.hpp>

#include "backend_test_util.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

namespace {

std::vector<StepLog> run(const std::vector<std::string>& overrides, int64_t steps, bool exact) {
  const auto program = tiny(overrides);
  TrainOptions o;
  o.steps = steps;
  o.backend.exact = exact;
  return train(*program, o);
}

}  // namespace

TEST_CASE("interleaved 1F1B trains the tiny model like 1F1B", "[training][plans]") {
  // pp 2 with 2 virtual stages: 4 chunks of one layer; position 0 runs layers 0 and 2, position 1 layers
  // 1 and 3 with the head and the MTP module (whose embedding is a copy there, as under 1F1B on pp 2).
  // Every micro-batch computes what it computes under 1F1B; the weight gradients add up in the same
  // micro-batch order per chunk, and the step's reductions may sum in another order: FP32 reordering.
  const auto one = run({}, 3, true), inter = run({"plan.schedule=interleaved", "plan.virtual_stages=2"}, 3, true);
  REQUIRE(inter.size() == 3);
  CHECK(inter[0].stats.loss == one[0].stats.loss);
  for (size_t i = 0; i < one.size(); ++i) {
    CHECK(inter[i].stats.loss == Approx(one[i].stats.loss).epsilon(1e-6));
    CHECK(inter[i].stats.mtp_loss == Approx(one[i].stats.mtp_loss).epsilon(1e-6));
    CHECK(inter[i].stats.grad_norm == Approx(one[i].stats.grad_norm).epsilon(1e-6));
  }
  // Under the FP8 recipe the first step is the same computation too.
  CHECK(run({"plan.schedule=interleaved", "plan.virtual_stages=2"}, 1, false)[0].stats.loss == run({}, 1, false)[0].stats.loss);
}

TEST_CASE("recomputation by module gives the losses and gradients of keeping everything", "[training][plans][recompute]") {
  // A recomputed op reads the same inputs and writes the same values as in the forward, so the
  // gradients are the same bit for bit, in FP32 and under the FP8 recipe alike.
  for (bool exact : {true, false}) {
    const auto kept = run({"plan.recompute=[]"}, 2, exact);
    for (const char* modules : {R"(["norm","mla_up_proj","moe_act"])", R"(["core_attn","mlp"])", R"(["full"])"}) {
      INFO(modules << (exact ? " FP32" : " FP8 recipe"));
      const auto got = run({std::string("plan.recompute=") + modules}, 2, exact);
      REQUIRE(got.size() == kept.size());
      for (size_t i = 0; i < kept.size(); ++i) {
        CHECK(got[i].stats.loss == kept[i].stats.loss);
        CHECK(got[i].stats.grad_norm == kept[i].stats.grad_norm);
        CHECK(got[i].stats.expert_load == kept[i].stats.expert_load);
      }
    }
  }
}
