// The steady-state chunk pair of a stage (simulate --trace-pair): on the tiny model under DualPipe
// (pp 2, 4 micro-batches), the kept ops are one forward chunk and one backward chunk of one stage,
// with their expert all-to-alls and without the pipeline's sends and receives.
#include <catch2/catch.hpp>

#include <set>
#include <stdexcept>
#include <tuple>

#include "ir/chunk_pair.h"
#include "ir/scenario.h"
#include "ir/step_program.h"

using namespace tandem::ir;

TEST_CASE("chunk pair: one forward and one backward chunk of one stage", "[ir][chunk_pair]") {
  const StepProgram program(load_scenario("tiny", {"plan.schedule=dualpipe"}));
  REQUIRE(program.pipeline().micro_batches == 4);
  for (int64_t stage = 0; stage < 2; ++stage) {
    const ChunkPair pair = steady_chunk_pair(program, stage, "--trace-pair");
    CHECK(pair.chunks.kind == ChunkKind::ForwardBackward);
    // The middle of the stage's overlapped pairs: neither the first nor the last task.
    const auto order = chunk_order(program.pipeline(), int32_t(stage));
    CHECK(order[size_t(pair.task)] == pair.chunks);
    CHECK(pair.task > 0);
    CHECK(size_t(pair.task) + 1 < order.size());

    const RankProgram& rp = program.roles()[size_t(stage)];
    const std::vector<bool> keep = chunk_pair_ops(program, pair);
    REQUIRE(keep.size() == rp.ops.size());
    std::set<std::tuple<int32_t, int32_t, bool>> chunks;   // (mb, chunk, backward)
    int64_t forward = 0, backward = 0, a2a = 0, forward_all = 0;
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const OpTemplate& t = rp.tmpl(rp.ops[i]);
      const bool is_forward_of_pair = t.phase == Phase::F && rp.ops[i].mb == pair.chunks.fwd.mb && t.chunk == pair.chunks.fwd.chunk;
      const auto* comm = std::get_if<Comm>(&t.payload);
      if (is_forward_of_pair && !(comm && comm->group != CommGroup::Expert)) ++forward_all;
      if (!keep[i]) continue;
      chunks.insert({rp.ops[i].mb, t.chunk, t.phase != Phase::F});
      (t.phase == Phase::F ? forward : backward) += 1;
      if (comm) {
        CHECK(comm->group == CommGroup::Expert);   // no pipeline send/receive, no gradient collective
        ++a2a;
      }
    }
    // Exactly two chunks: the forward of one micro-batch and the backward of another.
    CHECK(chunks == std::set<std::tuple<int32_t, int32_t, bool>>{{pair.chunks.fwd.mb, pair.chunks.fwd.chunk, false},
                                                                 {pair.chunks.bwd.mb, pair.chunks.bwd.chunk, true}});
    CHECK(forward > 0);
    CHECK(forward == forward_all);   // the whole forward chunk
    CHECK(backward > forward);       // a backward runs input and weight gradients
    CHECK(a2a > 0);                  // tiny has ep 2: dispatch and combine, forward and backward
  }
}

TEST_CASE("chunk pair: schedules without overlapped pairs and stages out of range are refused", "[ir][chunk_pair]") {
  const StepProgram one_f_one_b(load_scenario("tiny"));
  CHECK_THROWS_WITH(steady_chunk_pair(one_f_one_b, 0, "--trace-pair"),
                    Catch::Contains("--trace-pair: expected a schedule that overlaps") && Catch::Contains("found 1f1b"));
  const StepProgram dualpipe(load_scenario("tiny", {"plan.schedule=dualpipe"}));
  CHECK_THROWS_AS(steady_chunk_pair(dualpipe, 2, "--trace-pair"), std::invalid_argument);
  CHECK_THROWS_WITH(steady_chunk_pair(dualpipe, -1, "--trace-pair"), Catch::Contains("[0, 1], found -1"));
}
