// Schedules: names, shape validation, chunk placement, and hand-derived chunk orders and timings of small
// pipelines (PP=2, M=4 for every schedule; DualPipe PP=4, M=8 from the step structure of dualpipe.py).
#include <catch2/catch.hpp>

#include <limits>
#include <stdexcept>
#include <vector>

#include "ir/schedule.h"

using namespace tandem::ir;

namespace {

ChunkTask F(int32_t mb, int32_t c) { return {ChunkKind::Forward, {mb, c}, {}}; }
ChunkTask B(int32_t mb, int32_t c) { return {ChunkKind::Backward, {}, {mb, c}}; }
ChunkTask BI(int32_t mb, int32_t c) { return {ChunkKind::BackwardInput, {}, {mb, c}}; }
ChunkTask W(int32_t mb, int32_t c) { return {ChunkKind::BackwardWeight, {}, {mb, c}}; }
ChunkTask FB(int32_t fmb, int32_t fc, int32_t bmb, int32_t bc) {
  return {ChunkKind::ForwardBackward, {fmb, fc}, {bmb, bc}};
}

std::vector<std::vector<ChunkTask>> all_orders(const PipelineShape& s) {
  std::vector<std::vector<ChunkTask>> out;
  for (int32_t r = 0; r < s.pp; ++r) out.push_back(chunk_order(s, r));
  return out;
}

}  // namespace

TEST_CASE("schedule names round-trip and bad names are rejected", "[schedule]") {
  for (auto k : {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubble1P, ScheduleKind::DualPipe, ScheduleKind::DualPipeV,
                 ScheduleKind::Interleaved})
    CHECK(parse_schedule(to_string(k)) == k);
  CHECK(to_string(ScheduleKind::Interleaved) == "interleaved");
  CHECK(to_string(ScheduleKind::OneFOneB) == "1f1b");
  CHECK(to_string(ScheduleKind::ZeroBubble1P) == "zb1p");
  CHECK(to_string(ScheduleKind::DualPipe) == "dualpipe");
  CHECK(to_string(ScheduleKind::DualPipeV) == "dualpipev");
  for (const char* bad : {"", "1F1B", "dual pipe", "zb2p", "dualpipe ", "gpipe"}) CHECK_FALSE(parse_schedule(bad));
  CHECK(to_string(ChunkKind::ForwardBackward) == "FB");
  CHECK(to_string(ChunkKind::BackwardWeight) == "W");
}

TEST_CASE("validate rejects impossible pipeline shapes with clear messages", "[schedule]") {
  using Catch::Contains;
  CHECK_NOTHROW(validate({ScheduleKind::OneFOneB, 1, 1}));
  CHECK_NOTHROW(validate({ScheduleKind::ZeroBubble1P, 8, 3}));
  CHECK_NOTHROW(validate({ScheduleKind::DualPipe, 8, 16}));
  CHECK_NOTHROW(validate({ScheduleKind::DualPipeV, 3, 6}));
  CHECK_NOTHROW(validate({ScheduleKind::DualPipeV, 4, 9}));  // dualpipev takes odd micro-batch counts

  CHECK_THROWS_WITH(validate({ScheduleKind::OneFOneB, 0, 4}), Contains("pp must be in [1, 65536], found 0"));
  CHECK_THROWS_WITH(validate({ScheduleKind::ZeroBubble1P, -3, 4}), Contains("found -3"));
  CHECK_THROWS_WITH(validate({ScheduleKind::OneFOneB, 4, 0}), Contains("micro_batches must be in [1, "));
  CHECK_THROWS_WITH(validate({ScheduleKind::OneFOneB, kMaxPipelineRanks + 1, 4}), Contains("pp must be in"));
  CHECK_THROWS_WITH(validate({ScheduleKind::DualPipe, 5, 20}), Contains("dualpipe needs an even pp"));
  CHECK_THROWS_WITH(validate({ScheduleKind::DualPipe, 4, 9}), Contains("needs an even number of micro-batches"));
  CHECK_THROWS_WITH(validate({ScheduleKind::DualPipe, 8, 14}),
                    Contains("at least 2 * pp = 16 micro-batches, found 14"));
  CHECK_THROWS_WITH(validate({ScheduleKind::DualPipeV, 4, 7}), Contains("dualpipev needs at least 2 * pp = 8"));
  CHECK_THROWS_WITH(validate({ScheduleKind::DualPipe, 8, 14}), Contains("dualpipe (pp = 8, micro_batches = 14)"));
  CHECK_THROWS_AS(validate({ScheduleKind::DualPipe, 2, 2}), std::invalid_argument);
  CHECK_NOTHROW(validate({ScheduleKind::Interleaved, 4, 4, 2}));   // M = pp: every forward warms up
  CHECK_NOTHROW(validate({ScheduleKind::Interleaved, 1, 3, 5}));
  CHECK_THROWS_WITH(validate({ScheduleKind::Interleaved, 4, 8, 1}), Contains("interleaved needs virtual_stages in [2, 1024]"));
  CHECK_THROWS_WITH(validate({ScheduleKind::Interleaved, 4, 6, 2}),
                    Contains("interleaved (pp = 4, virtual_stages = 2, micro_batches = 6): interleaved needs a multiple of pp = 4"));
  CHECK_THROWS_WITH(validate({ScheduleKind::OneFOneB, 4, 8, 2}), Contains("virtual_stages other than 1 only with the interleaved"));
  CHECK_THROWS_WITH(validate({ScheduleKind::Interleaved, 1 << 10, 1 << 10, 128}), Contains("at most 65536 model chunks"));
  // Every query validates first.
  CHECK_THROWS_AS(chunk_order({ScheduleKind::DualPipe, 4, 6}, 0), std::invalid_argument);
  CHECK_THROWS_AS(model_chunks({ScheduleKind::DualPipeV, 4, 6}), std::invalid_argument);
}

TEST_CASE("chunk placement per schedule", "[schedule]") {
  SECTION("1f1b and zb1p: chunk c on rank c") {
    for (auto k : {ScheduleKind::OneFOneB, ScheduleKind::ZeroBubble1P}) {
      const PipelineShape s{k, 4, 8};
      CHECK(model_chunks(s) == 4);
      CHECK(parameter_copies(s) == 1);
      for (int32_t c = 0; c < 4; ++c) {
        CHECK(chunk_rank(s, c, 0) == c);
        CHECK(chunk_rank(s, c, 7) == c);
        CHECK(chunks_on_rank(s, c) == std::vector<int32_t>{c});
      }
    }
  }
  SECTION("dualpipe: first half of the micro-batches enters at rank 0, second half at rank pp-1") {
    const PipelineShape s{ScheduleKind::DualPipe, 4, 8};
    CHECK(model_chunks(s) == 4);
    CHECK(parameter_copies(s) == 2);
    CHECK(chunk_rank(s, 0, 0) == 0);
    CHECK(chunk_rank(s, 3, 3) == 3);
    CHECK(chunk_rank(s, 0, 4) == 3);  // reverse direction: chunk c on rank pp-1-c
    CHECK(chunk_rank(s, 3, 7) == 0);
    CHECK(chunk_rank(s, 1, 5) == 2);
    CHECK(chunks_on_rank(s, 0) == std::vector<int32_t>{0, 3});
    CHECK(chunks_on_rank(s, 1) == std::vector<int32_t>{1, 2});
    CHECK(chunks_on_rank(s, 2) == std::vector<int32_t>{1, 2});  // ranks r and pp-1-r hold the same stages
    CHECK(chunks_on_rank(s, 3) == std::vector<int32_t>{0, 3});
  }
  SECTION("dualpipev: chunks go down the ranks and come back up (a V)") {
    const PipelineShape s{ScheduleKind::DualPipeV, 4, 8};
    CHECK(model_chunks(s) == 8);
    CHECK(parameter_copies(s) == 1);  // two chunks of 1/8 of the model = one 1F1B stage of 1/4
    const int32_t expected_rank[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    for (int32_t c = 0; c < 8; ++c) CHECK(chunk_rank(s, c, 5) == expected_rank[c]);
    CHECK(chunks_on_rank(s, 0) == std::vector<int32_t>{0, 7});
    CHECK(chunks_on_rank(s, 3) == std::vector<int32_t>{3, 4});
  }
  SECTION("interleaved: chunk c on rank c mod pp, V chunks per rank") {
    const PipelineShape s{ScheduleKind::Interleaved, 4, 8, 3};
    CHECK(model_chunks(s) == 12);
    CHECK(parameter_copies(s) == 1);   // three chunks of 1/12 of the model = one 1F1B stage of 1/4
    for (int32_t c = 0; c < 12; ++c) CHECK(chunk_rank(s, c, 5) == c % 4);
    CHECK(chunks_on_rank(s, 0) == std::vector<int32_t>{0, 4, 8});
    CHECK(chunks_on_rank(s, 3) == std::vector<int32_t>{3, 7, 11});
  }
  SECTION("out-of-range queries throw") {
    const PipelineShape s{ScheduleKind::DualPipe, 4, 8};
    CHECK_THROWS_AS(chunk_rank(s, 4, 0), std::out_of_range);
    CHECK_THROWS_AS(chunk_rank(s, -1, 0), std::out_of_range);
    CHECK_THROWS_AS(chunk_rank(s, 0, 8), std::out_of_range);
    CHECK_THROWS_AS(chunks_on_rank(s, 4), std::out_of_range);
    CHECK_THROWS_AS(chunk_order(s, -1), std::out_of_range);
  }
}

TEST_CASE("1F1B with PP=2, M=4: order and unit-cost timeline", "[schedule]") {
  const PipelineShape s{ScheduleKind::OneFOneB, 2, 4};
  // Rank 0: one warm-up forward, then F/B pairs, then the last B. Rank 1 (last stage): no warm-up.
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(1, 0), B(0, 0), F(2, 0), B(1, 0), F(3, 0), B(2, 0), B(3, 0)});
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(0, 1), B(0, 1), F(1, 1), B(1, 1), F(2, 1), B(2, 1), F(3, 1), B(3, 1)});
  // F = 1, full B = b + w = 2.
  // r0: F0 [0,1] F1 [1,2]                  r1: F0 [1,2] B0 [2,4] F1 [4,5] B1 [5,7]
  // r0: B0 [4,6] F2 [6,7] B1 [7,9]          r1: F2 [7,8] B2 [8,10] F3 [10,11] B3 [11,13]
  // r0: F3 [9,10] B2 [10,12] B3 [13,15]     makespan 15, busy 4*(1+2) = 12, idle 3 = (PP-1)(F+B)
  const PipelineTimes t = evaluate(s, {1, 1, 1, 2});
  CHECK(t.makespan == 15);
  CHECK(t.busy == std::vector<double>{12, 12});
  CHECK(t.idle == std::vector<double>{3, 3});
  CHECK(t.tasks[0][7].start == 13);
  CHECK(t.tasks[1][2].start == 4);
  CHECK(t.peak_live_activations == std::vector<int32_t>{2, 1});
}

TEST_CASE("ZB1P with PP=2, M=4: order and unit-cost timeline", "[schedule]") {
  const PipelineShape s{ScheduleKind::ZeroBubble1P, 2, 4};
  // Rank r: PP-1-r warm-up F, r rounds of (F, B) with W deferred, then (F, B, W), then (B, W), then W's.
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(1, 0), BI(0, 0), W(0, 0), F(2, 0), BI(1, 0), W(1, 0),
                                                    F(3, 0), BI(2, 0), W(2, 0), BI(3, 0), W(3, 0)});
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(0, 1), BI(0, 1), F(1, 1), BI(1, 1), W(0, 1), F(2, 1), BI(2, 1),
                                                    W(1, 1), F(3, 1), BI(3, 1), W(2, 1), W(3, 1)});
  // F = B = W = 1.
  // r0: F0 [0,1] F1 [1,2]         r1: F0 [1,2] B0 [2,3] F1 [3,4] B1 [4,5] W0 [5,6]
  // r0: B0 [3,4] W0 [4,5] F2 [5,6] B1 [6,7] W1 [7,8] F3 [8,9]
  // r1: F2 [6,7] B2 [7,8] W1 [8,9] F3 [9,10] B3 [10,11] W2 [11,12] W3 [12,13]
  // r0: B2 [9,10] W2 [10,11] B3 [11,12] W3 [12,13]
  // makespan 13, busy 12, idle 1 = (PP-1)(F+B-2W) with B = 2.
  const PipelineTimes t = evaluate(s, {1, 1, 1, 2});
  CHECK(t.makespan == 13);
  CHECK(t.idle == std::vector<double>{1, 1});
  CHECK(t.tasks[1][4].start == 5);  // W0 on rank 1
  CHECK(t.tasks[0][8].start == 9);  // B2 on rank 0 waits for rank 1's B2
  CHECK(t.peak_live_activations == std::vector<int32_t>{2, 2});
}

TEST_CASE("DualPipe with PP=2, M=4: order and unit-cost timeline", "[schedule]") {
  const PipelineShape s{ScheduleKind::DualPipe, 2, 4};
  // Micro-batches 0,1 enter at rank 0 (chunk 0 on rank 0), 2,3 at rank 1 (chunk 0 on rank 1). Both ranks
  // are middle ranks (half_rank 0 of 1): step 2 F0 F1; step 4 with its first pair not overlapped (F0, B1),
  // then F1&B0; step 6 B1 then B0 split (W deferred); step 8 that W.
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(2, 1), F(1, 0), B(2, 1), FB(3, 1, 0, 0), B(3, 1),
                                                    BI(1, 0), W(1, 0)});
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(2, 0), F(0, 1), F(3, 0), B(0, 1), FB(1, 1, 2, 0), B(1, 1),
                                                    BI(3, 0), W(3, 0)});
  // F = B = W = 1, F&B = 3 (no overlap gain). Rank 0 (rank 1 is its mirror):
  // F(0,0) [0,1] F(2,1) [1,2] F(1,0) [2,3] B(2,1) [3,5] FB [5,8] (waits B(0,1) on rank 1, ends 5)
  // B(3,1) [8,10] BI(1,0) [10,11] (B(1,1) ends 10) W(1,0) [11,12]: makespan 12, idle 0 = (2/2-1)(...)
  PipelineTimes t = evaluate(s, {1, 1, 1, 3});
  CHECK(t.makespan == 12);
  CHECK(t.idle == std::vector<double>{0, 0});
  CHECK(t.tasks[0][4].start == 5);
  CHECK(t.tasks[0][6].start == 10);
  CHECK(t.peak_live_activations == std::vector<int32_t>{3, 3});  // PP + 1
  // F&B = 2: FB [5,7], B(3,1) [7,9], BI [9,10], W [10,11]: makespan 11 = busy.
  t = evaluate(s, {1, 1, 1, 2});
  CHECK(t.makespan == 11);
  CHECK(t.idle == std::vector<double>{0, 0});
}

TEST_CASE("DualPipeV with PP=2, M=4: order and unit-cost timeline", "[schedule]") {
  const PipelineShape s{ScheduleKind::DualPipeV, 2, 4};
  // 4 chunks: rank 0 holds 0 and 3, rank 1 holds 1 and 2. Rank 0 (half_rank 0 of 2): step 1 two F0,
  // step 2 F0 F1, step 3 B1 W1 F1, step 4 F0&B1 and F1&B0, step 5 B1 and F1&B0, step 6 B1 then B0 split,
  // step 7 W then B0 split, step 8 W.
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(1, 0), F(2, 0), F(0, 3), BI(0, 3), W(0, 3), F(1, 3),
                                                    FB(3, 0, 1, 3), FB(2, 3, 0, 0), B(2, 3), FB(3, 3, 1, 0), B(3, 3),
                                                    BI(2, 0), W(2, 0), BI(3, 0), W(3, 0)});
  // Rank 1 is the V's turn (the "last rank"): step 2 twice F0 F1, step 4 first pair not overlapped, step 6
  // splits from its second round on (half_rank 1 is odd), step 8 two W's in FIFO order.
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(0, 1), F(0, 2), F(1, 1), F(1, 2), F(2, 1), B(0, 2),
                                                    FB(2, 2, 0, 1), FB(3, 1, 1, 2), FB(3, 2, 1, 1), B(2, 2), B(2, 1),
                                                    BI(3, 2), BI(3, 1), W(3, 2), W(3, 1)});
  // F = B = W = 1, F&B = 3:
  // r0: F(0,0) [0,1] F(1,0) [1,2] F(2,0) [2,3] F(0,3) [3,4] BI(0,3) [4,5] W [5,6] F(1,3) [6,7] FB [7,10]
  // r1: F(0,1) [1,2] F(0,2) [2,3] F(1,1) [3,4] F(1,2) [4,5] F(2,1) [5,6] B(0,2) [6,8] FB(2,2|0,1) [8,11]
  // r0: FB(2,3|0,0) [11,14]    r1: FB(3,1|1,2) [11,14] FB(3,2|1,1) [14,17]
  // r0: B(2,3) [14,16] FB(3,3|1,0) [17,20]    r1: B(2,2) [17,19] B(2,1) [19,21]
  // r0: B(3,3) [20,22] BI(2,0) [22,23] W [23,24]   r1: BI(3,2) [22,23] BI(3,1) [23,24] W [24,25] W [25,26]
  // r0: BI(3,0) [24,25] W [25,26]. Makespan 26, busy 4 mb x 2 chunks x 3 = 24, idle 2 = (4/2-1)(3+2-3).
  const PipelineTimes t = evaluate(s, {1, 1, 1, 3});
  CHECK(t.makespan == 26);
  CHECK(t.busy == std::vector<double>{24, 24});
  CHECK(t.idle == std::vector<double>{2, 2});
  CHECK(t.tasks[0][10].start == 17);
  CHECK(t.tasks[1][5].start == 6);
  CHECK(t.tasks[0][14].start == 24);
  CHECK(t.peak_live_activations == std::vector<int32_t>{5, 5});  // PP + 1 with PP = 4 stages
}

TEST_CASE("DualPipe with PP=4, M=8 follows the step structure of dualpipe.py", "[schedule]") {
  const PipelineShape s{ScheduleKind::DualPipe, 4, 8};
  // Rank 0: half_rank 0 of 2, phase 0 = chunk 0 with mbs 0..3, phase 1 = chunk 3 with mbs 4..7.
  // steps: 1: 2 x F0 | 2: F0 F1 | 3: B1(split) W F1 | 4: F0&B1, F1&B0 | 5: B1, F1&B0 | 6: B1, B0(split) |
  // 7: W, B0(split) | 8: W
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(1, 0), F(2, 0), F(4, 3), BI(4, 3), W(4, 3), F(5, 3),
                                                    FB(3, 0, 5, 3), FB(6, 3, 0, 0), B(6, 3), FB(7, 3, 1, 0), B(7, 3),
                                                    BI(2, 0), W(2, 0), BI(3, 0), W(3, 0)});
  // Rank 1: middle rank (half_rank 1), phase 0 = chunk 1 with mbs 0..3, phase 1 = chunk 2 with mbs 4..7.
  // steps: 2: 2 x (F0 F1) | 4: F0, B1 (not overlapped), F1&B0, then F0&B1, F1&B0 | 6: B1 B0, B1 B0 split |
  // 8: W W (FIFO)
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(0, 1), F(4, 2), F(1, 1), F(5, 2), F(2, 1), B(4, 2),
                                                    FB(6, 2, 0, 1), FB(3, 1, 5, 2), FB(7, 2, 1, 1), B(6, 2), B(2, 1),
                                                    BI(7, 2), BI(3, 1), W(7, 2), W(3, 1)});
  // Rank 2 mirrors rank 1: its phase 0 is the reverse direction (chunk 1 for mbs 4..7).
  CHECK(chunk_order(s, 2) == std::vector<ChunkTask>{F(4, 1), F(0, 2), F(5, 1), F(1, 2), F(6, 1), B(0, 2),
                                                    FB(2, 2, 4, 1), FB(7, 1, 1, 2), FB(3, 2, 5, 1), B(2, 2), B(6, 1),
                                                    BI(3, 2), BI(7, 1), W(3, 2), W(7, 1)});
}

TEST_CASE("check_orders and evaluate_orders reject broken orders", "[schedule]") {
  using Catch::Contains;
  const PipelineShape s{ScheduleKind::OneFOneB, 2, 4};
  const ChunkCosts unit{1, 1, 1, 2};
  auto orders = all_orders(s);
  CHECK_NOTHROW(check_orders(s, orders));

  SECTION("wrong number of ranks") {
    orders.pop_back();
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("expected one order per rank (2), found 1"));
  }
  SECTION("missing task") {
    orders[1].pop_back();
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("no input-grad backward task for mb 3 chunk 1"));
  }
  SECTION("duplicate task") {
    orders[0].push_back(F(1, 0));
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("second forward of mb 1 chunk 0"));
  }
  SECTION("task on the wrong rank") {
    orders[0][0] = F(0, 1);
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("belongs on rank 1, found on rank 0"));
  }
  SECTION("reference out of range") {
    orders[0][0] = F(9, 0);
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("is outside micro-batches [0, 4)"));
  }
  SECTION("unused reference set") {
    orders[0][0].bwd = {0, 0};
    CHECK_THROWS_WITH(check_orders(s, orders), Contains("unused backward reference must be {-1, -1}"));
  }
  SECTION("weight grad before its input grad") {
    auto z = all_orders({ScheduleKind::ZeroBubble1P, 2, 4});
    std::swap(z[1][3], z[1][4]);  // BI(1,1) <-> W(0,1) is fine ...
    CHECK_NOTHROW(check_orders({ScheduleKind::ZeroBubble1P, 2, 4}, z));
    std::swap(z[1][1], z[1][3]);  // ... W(0,1) before BI(0,1) is not
    CHECK_THROWS_WITH(check_orders({ScheduleKind::ZeroBubble1P, 2, 4}, z),
                      Contains("weight-grad task before the input-grad task of mb 0 chunk 1"));
  }
  SECTION("deadlock across ranks") {
    // Rank 0 wants B0 before F1, rank 1 wants F1 before B0: rank 0 waits for rank 1's B0, which comes
    // after rank 1's F1, which waits for rank 0's F1.
    orders[0] = {F(0, 0), B(0, 0), F(1, 0), F(2, 0), B(1, 0), F(3, 0), B(2, 0), B(3, 0)};
    orders[1] = {F(0, 1), F(1, 1), B(0, 1), B(1, 1), F(2, 1), B(2, 1), F(3, 1), B(3, 1)};
    CHECK_THROWS_WITH(evaluate_orders(s, orders, unit), Contains("deadlock, 2 rank(s) cannot proceed"));
    CHECK_THROWS_WITH(evaluate_orders(s, orders, unit), Contains("rank 1 at task 1 F(mb 1 chunk 1) waits for F(mb 1 chunk 0) on rank 0"));
  }
  SECTION("bad costs") {
    CHECK_THROWS_WITH(evaluate(s, {1, -1, 1, 2}), Contains("finite and >= 0"));
    CHECK_THROWS_AS(evaluate(s, {1, 1, std::numeric_limits<double>::quiet_NaN(), 2}), std::invalid_argument);
  }
}

TEST_CASE("interleaved 1F1B with PP=2, V=2, M=4: Megatron's order and unit-cost timeline", "[schedule]") {
  const PipelineShape s{ScheduleKind::Interleaved, 2, 4, 2};
  // Virtual micro-batches in Megatron's table: micro-batches {0, 1} through virtual stage 0 (chunks 0, 1),
  // then through virtual stage 1 (chunks 2, 3), then {2, 3} the same; backwards take virtual stage 1 first.
  // Warm-up forwards (pp-1-r) 2 + (V-1) pp: 4 on rank 0, 2 on rank 1; then F/B pairs, then the rest.
  CHECK(chunk_order(s, 0) == std::vector<ChunkTask>{F(0, 0), F(1, 0), F(0, 2), F(1, 2), F(2, 0), B(0, 2), F(3, 0), B(1, 2),
                                                    F(2, 2), B(0, 0), F(3, 2), B(1, 0), B(2, 2), B(3, 2), B(2, 0), B(3, 0)});
  CHECK(chunk_order(s, 1) == std::vector<ChunkTask>{F(0, 1), F(1, 1), F(0, 3), B(0, 3), F(1, 3), B(1, 3), F(2, 1), B(0, 1),
                                                    F(3, 1), B(1, 1), F(2, 3), B(2, 3), F(3, 3), B(3, 3), B(2, 1), B(3, 1)});
  // Chunk F = 1, full B = 2 (a stage of two chunks: F = 2, B = 4).
  // r0: F(0,0) [0,1] F(1,0) [1,2] F(0,2) [2,3] F(1,2) [3,4] F(2,0) [4,5] B(0,2) [6,8] F(3,0) [8,9] B(1,2) [9,11]
  //     F(2,2) [11,12] B(0,0) [12,14] F(3,2) [14,15] B(1,0) [15,17] B(2,2) [18,20] B(3,2) [21,23] B(2,0) [23,25]
  //     B(3,0) [25,27]
  // r1: F(0,1) [1,2] F(1,1) [2,3] F(0,3) [3,4] B(0,3) [4,6] F(1,3) [6,7] B(1,3) [7,9] F(2,1) [9,10] B(0,1) [10,12]
  //     F(3,1) [12,13] B(1,1) [13,15] F(2,3) [15,16] B(2,3) [16,18] F(3,3) [18,19] B(3,3) [19,21] B(2,1) [21,23]
  //     B(3,1) [23,25]
  // makespan 27, busy 8 x 1 + 8 x 2 = 24, idle 3 = (PP-1)(F+B)/V = 1 x 6 / 2; 1F1B on the same stages: 30, idle 6.
  const PipelineTimes t = evaluate(s, {1, 1, 1, 2});
  CHECK(t.makespan == 27);
  CHECK(t.busy == std::vector<double>{24, 24});
  CHECK(t.idle == std::vector<double>{3, 3});
  CHECK(t.tasks[0][5].start == 6);
  CHECK(t.tasks[0][12].start == 18);
  CHECK(t.tasks[1][15].end == 25);
  CHECK(evaluate({ScheduleKind::OneFOneB, 2, 4}, {2, 2, 2, 4}).makespan == 30);
  // Live chunk activations: rank 0 holds its 4 warm-up forwards and F(2,0) before B(0,2) frees one: 5
  // chunks = 2.5 stages against 1F1B's 2; rank 1: 3 chunks = 1.5 stages against 1.
  CHECK(t.peak_live_activations == std::vector<int32_t>{5, 3});
}

TEST_CASE("interleaved 1F1B with PP=2, V=2, M=4: chunks of one rank that differ lose the bubble's gain", "[schedule]") {
  using Catch::Contains;
  const PipelineShape s{ScheduleKind::Interleaved, 2, 4, 2};
  const std::vector<std::vector<ChunkTask>> orders{chunk_order(s, 0), chunk_order(s, 1)};
  // Every chunk F = 2, full B = 4 (the timeline above, doubled): makespan 54, idle 6 = (PP-1)(F+B)/V.
  const PipelineTimes even = evaluate_orders(s, orders, std::vector<ChunkCosts>(4, ChunkCosts{2, 2, 2, 4}));
  CHECK(even.makespan == 54);
  CHECK(even.idle == std::vector<double>{6, 6});
  // Rank 1 holds chunk 1 at F = 1, B = 2 and chunk 3 at F = 3, B = 6: the same stage sum (4 F + 8 B per
  // micro-batch pair of chunks), the way a model's head makes the last chunk heavy.
  // r0: F(0,0) [0,2] F(1,0) [2,4] F(0,2) [4,6] F(1,2) [6,8] F(2,0) [8,10] B(0,2) [15,19] F(3,0) [19,21]
  //     B(1,2) [24,28] F(2,2) [28,30] B(0,0) [30,34] F(3,2) [34,36] B(1,0) [36,40] B(2,2) [40,44]
  //     B(3,2) [48,52] B(2,0) [52,56] B(3,0) [56,60]
  // r1: F(0,1) [2,3] F(1,1) [4,5] F(0,3) [6,9] B(0,3) [9,15] F(1,3) [15,18] B(1,3) [18,24] F(2,1) [24,25]
  //     B(0,1) [25,27] F(3,1) [27,28] B(1,1) [28,30] F(2,3) [30,33] B(2,3) [33,39] F(3,3) [39,42]
  //     B(3,3) [42,48] B(2,1) [48,50] B(3,1) [52,54]
  // Rank 0 waits for rank 1's heavy chunk 3 (B(0,2) from 10 to 15, B(1,2) from 21 to 24, B(3,2) from 44 to
  // 48), rank 1 for rank 0 while it runs its light chunk 1 (F(0,1), F(1,1), B(3,1)): makespan 60, idle 12,
  // twice the formula and as long as 1F1B on the same stages (5 x (4 + 8) = 60).
  std::vector<ChunkCosts> uneven(4, ChunkCosts{2, 2, 2, 4});
  uneven[1] = ChunkCosts{1, 1, 1, 2};
  uneven[3] = ChunkCosts{3, 3, 3, 6};
  const PipelineTimes t = evaluate_orders(s, orders, uneven);
  CHECK(t.makespan == 60);
  CHECK(t.busy == std::vector<double>{48, 48});
  CHECK(t.idle == std::vector<double>{12, 12});
  CHECK(t.tasks[0][5].start == 15);    // B(0,2) after B(0,3) on rank 1
  CHECK(t.tasks[0][7].start == 24);    // B(1,2) after B(1,3)
  CHECK(t.tasks[1][6].start == 24);    // F(2,1): rank 1 itself busy with chunk 3 until 24
  CHECK(t.tasks[1][15].start == 52);   // B(3,1) after B(3,2) on rank 0
  CHECK(evaluate({ScheduleKind::OneFOneB, 2, 4}, {4, 4, 4, 8}).makespan == 60);
  CHECK_THROWS_WITH(evaluate_orders(s, orders, std::vector<ChunkCosts>(3)), Contains("expected costs for 4 model chunks, found 3"));
  CHECK_THROWS_WITH(evaluate_orders(s, orders, std::vector<ChunkCosts>{{2, 2, 2, 4}, {1, -1, 1, 2}, {}, {}}),
                    Contains("finite and >= 0"));
}
