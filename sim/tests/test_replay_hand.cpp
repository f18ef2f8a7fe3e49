// Replays of hand-built programs whose timelines are computed by hand: SM contention, an all-to-all
// over IB (with and without an SM limit, over degraded and failed NICs), a DualPipe-style overlapped
// pair, and a 1F1B pipeline with unit costs.
#include <catch2/catch.hpp>

#include <limits>

#include "hand_program.h"
#include "hw/calibration.h"
#include "ir/schedule.h"
#include "sim/event_queue.h"
#include "sim/report.h"
#include "sim/simulate.h"

using namespace tandem;
using sim::test::HandProgram;
using sim::test::Records;
using sim::test::test_cluster;

namespace {

// Compute-bound: 112 x 132 tiles of 128x128 (see hw/tests/test_cost_model.cpp).
ir::Gemm big_gemm() {
  ir::Gemm g;
  g.m = 128 * 112;
  g.n = 128 * 132;
  g.k = 7168;
  g.a = g.b = ir::DType::FP8E4M3;
  return g;
}

sim::SimResult run(const HandProgram& p, const ir::ClusterConfig& c, Records* rec = nullptr,
                   std::vector<hw::LinkFault> faults = {}, std::vector<sim::Straggler> stragglers = {},
                   const hw::CalibrationTable* cal = nullptr) {
  sim::SimOptions o;
  o.mode = sim::Mode::Full;
  o.sink = rec;
  o.link_faults = std::move(faults);
  o.stragglers = std::move(stragglers);
  o.calibration = cal;
  return sim::simulate(p, c, o);
}

}  // namespace

TEST_CASE("a compute-bound GEMM beside a kernel holding 20 of 132 SMs takes 132/112 as long", "[sim][sm]") {
  // Rank 0 runs the GEMM while an all-to-all holding 20 SMs (10 ms over NVLink) is in flight, so the GEMM
  // gets 112 SMs from start to end: its time is the model's at 112 SMs, whose part after the 4 us launch
  // is 132/112 of the part at 132 SMs (132 vs 112 full waves of the same tile).
  HandProgram p(2);
  const int32_t gemm = p.op(0, big_gemm(), ir::Stream::Compute);
  p.all_to_all({0, 1}, 1.58e9, 20, 7);
  p.finish();
  Records rec;
  const sim::SimResult r = run(p, test_cluster(1, 2), &rec);
  const hw::CostModel model(hw::gpu_spec("H800"));
  const int64_t d112 = model.estimate(big_gemm(), 112).ns, d132 = model.estimate(big_gemm(), 132).ns;
  const sim::OpRecord& g = rec.find(0, gemm);
  CHECK(g.start_ns == 0);
  CHECK(g.end_ns == d112);
  CHECK(g.sms == 112);
  CHECK(double(d112 - 4000) / double(d132 - 4000) == Approx(132.0 / 112.0).epsilon(1e-6));
  // The all-to-all: each GPU sends 1.58 GB; the SM limit 20 x 7.9 GB/s = 158 GB/s is below NVLink's
  // 160 GB/s, so 1.58e9 / 158e9 = 10 ms, plus 3.33 us NVLink latency.
  CHECK(r.step_ns == 10'000'000 + 3330);
}

TEST_CASE("an all-to-all of known bytes over IB takes bytes / bandwidth plus latency", "[sim][network]") {
  // Two nodes of one GPU: each sends 400 MB to the other over its NIC at 50 GB/s x 0.8 = 40 GB/s:
  // 400e6 / 40e9 = 10 ms, plus the same-leaf IB latency of 2.8 us.
  HandProgram p(2);
  p.all_to_all({0, 1}, 400e6, 0, 7);
  p.finish();
  ir::ClusterConfig c = test_cluster(2, 1);
  CHECK(run(p, c).step_ns == 10'000'000 + 2800);
}

TEST_CASE("a communication kernel on few SMs is limited by what its SMs can push", "[sim][network][sm]") {
  // As above with 2 SMs: 2 x 7.9 GB/s = 15.8 GB/s per GPU < 40 GB/s of IB:
  // 400e6 / 15.8e9 s = 25316455.7 ns -> 25316456 ns, plus 2800 ns.
  HandProgram p(2);
  p.all_to_all({0, 1}, 400e6, 2, 7);
  p.finish();
  CHECK(run(p, test_cluster(2, 1)).step_ns == 25'316'456 + 2800);
}

TEST_CASE("DeepEP's notify kernels take their barriers' and exchange's latencies, holding their SMs", "[sim][network][notify]") {
  // An EP group of 8 GPUs on 4 nodes (2 per node, one leaf). A barrier: ceil(log2 4) = 2 rounds of
  // same-leaf IB (2 x 2800 ns) and one NVLink hop (3330 ns) = 8930 ns. notify_dispatch: two barriers
  // and the counts exchange (2800 + 3330 ns) plus the 2 us kernel launch = 2000 + 17860 + 6130 = 25990 ns;
  // cached_notify after it (no counts): 2000 + 17860 = 19860 ns, ending at 45850 ns.
  HandProgram p(8);
  const std::vector<int64_t> group{0, 1, 2, 3, 4, 5, 6, 7};
  const auto notify = p.notify(group, 4 * 5, 20, 7);
  const auto cached = p.notify(group, 0, 20, 8);
  const int32_t gemm = p.op(0, big_gemm(), ir::Stream::Compute);
  p.finish();
  Records rec;
  const sim::SimResult r = run(p, test_cluster(4, 2), &rec);
  CHECK(rec.find(0, notify[0]).end_ns == 25990);
  CHECK(rec.find(0, cached[0]).start_ns == 25990);
  CHECK(rec.find(0, cached[0]).end_ns == 45850);
  CHECK(rec.find(0, cached[0]).sms == 20);
  // The GEMM beside them runs on the 112 SMs they leave until 45850 ns, then on 132.
  CHECK(rec.find(0, gemm).sms == 132);
  CHECK(r.step_ns > 45850);
}

TEST_CASE("degraded and failed NICs slow or reroute the traffic", "[sim][network][faults]") {
  // Two nodes of two GPUs; GPU 0 (node 0) and GPU 2 (node 1) exchange 400 MB each over rail 0.
  HandProgram p(4);
  p.all_to_all({0, 2}, 400e6, 0, 7);
  p.finish();
  const ir::ClusterConfig c = test_cluster(2, 2);
  CHECK(run(p, c).step_ns == 10'000'000 + 2800);
  // NIC of GPU 0 at half speed (20 GB/s both ways): 400e6 / 20e9 = 20 ms.
  CHECK(run(p, c, nullptr, {hw::parse_link_fault("nic:0=0.5", false)}).step_ns == 20'000'000 + 2800);
  // NIC of GPU 0 failed: both directions take rail 1 (NVLink to GPU 1, IB 1 <-> 3, NVLink to GPU 2):
  // still 40 GB/s, latency 3330 + 2800 + 3330 ns.
  CHECK(run(p, c, nullptr, {hw::parse_link_fault("nic:0", true)}).step_ns == 10'000'000 + 9460);
}

TEST_CASE("an overlapped compute/communication pair takes the longer of the two", "[sim][sm][dualpipe]") {
  const hw::CostModel model(hw::gpu_spec("H800"));
  const int64_t d112 = model.estimate(big_gemm(), 112).ns, d132 = model.estimate(big_gemm(), 132).ns;
  SECTION("communication longer: the pair takes the communication's time") {
    // GEMM (about 3.1 ms at 112 SMs) beside a 10 ms all-to-all: max = 10 ms + 3.33 us.
    HandProgram p(2);
    p.op(0, big_gemm(), ir::Stream::Compute);
    p.all_to_all({0, 1}, 1.58e9, 20, 7);
    p.finish();
    REQUIRE(d112 < 10'000'000);
    CHECK(run(p, test_cluster(1, 2)).step_ns == 10'003'330);
  }
  SECTION("compute longer: the GEMM runs on 112 SMs while the all-to-all holds 20, then on 132") {
    // 158 MB at 158 GB/s = 1 ms + 3.33 us: until 1'003'330 ns the GEMM does 1'003'330 / d112 of its work,
    // the rest at the 132-SM rate: end = 1'003'330 + ceil((1 - 1'003'330 / d112) * d132).
    HandProgram p(2);
    const int32_t gemm = p.op(0, big_gemm(), ir::Stream::Compute);
    p.all_to_all({0, 1}, 158e6, 20, 7);
    p.finish();
    Records rec;
    run(p, test_cluster(1, 2), &rec);
    const double left = 1.0 - 1'003'330.0 / double(d112);
    const int64_t expect = 1'003'330 + int64_t(std::ceil(left * double(d132) - 1e-6));
    CHECK(rec.find(0, gemm).end_ns == expect);
    CHECK(expect < d112);    // faster than all of it on 112 SMs
    CHECK(expect > d132);    // slower than all of it on 132
  }
}

namespace {

// 1F1B over `pp` stages and `m` micro-batches, F and B as one op each (elementwise copies whose times
// the calibration table fixes), zero-byte sends (instant).
HandProgram one_f_one_b(int64_t pp, int32_t m) {
  HandProgram p(pp);
  auto fwd = [](int64_t elems) {
    ir::Elementwise e;
    e.kind = ir::ElementwiseKind::Copy;
    e.elements = elems;
    return e;
  };
  for (int64_t s = 0; s < pp; ++s) {
    std::vector<int32_t> f_op(size_t(m), -1);
    auto forward = [&](int32_t mb) {
      std::vector<int32_t> deps;
      if (s > 0) deps.push_back(p.recv(s, s - 1, 0, 1000 + (s - 1) * 100 + mb, mb));
      f_op[size_t(mb)] = p.op(s, fwd(1), ir::Stream::Compute, ir::Phase::F, mb, deps);
      if (s < pp - 1) p.send(s, s + 1, 0, 1000 + s * 100 + mb, mb, {f_op[size_t(mb)]});
    };
    auto backward = [&](int32_t mb) {
      std::vector<int32_t> deps{f_op[size_t(mb)]};
      if (s < pp - 1) deps.push_back(p.recv(s, s + 1, 0, 5000 + s * 100 + mb, mb, ir::Phase::B));
      const int32_t b = p.op(s, fwd(2), ir::Stream::Compute, ir::Phase::B, mb, deps);
      if (s > 0) p.send(s, s - 1, 0, 5000 + (s - 1) * 100 + mb, mb, {b}, ir::Phase::B);
    };
    const int32_t warm = int32_t(std::min<int64_t>(pp - s - 1, m));
    for (int32_t i = 0; i < warm; ++i) forward(i);
    for (int32_t i = 0; i < m - warm; ++i) {
      forward(warm + i);
      backward(i);
    }
    for (int32_t i = m - warm; i < m; ++i) backward(i);
  }
  p.finish();
  return p;
}

const char* kUnitCosts = R"({"format": "tandem-calibration", "version": 1, "points": [
  {"op": "elementwise", "kind": "copy", "elements": 1, "read_bytes": 0, "write_bytes": 0, "time_us": 1000},
  {"op": "elementwise", "kind": "copy", "elements": 2, "read_bytes": 0, "write_bytes": 0, "time_us": 2000}]})";

}  // namespace

TEST_CASE("a 1F1B pipeline with unit costs has the formula's bubble", "[sim][pipeline]") {
  // PP = 4, m = 8, F = 1 ms, B = 2 ms. Makespan (m + PP - 1)(F + B) = 11 x 3 = 33 ms; every stage is busy
  // m (F + B) = 24 ms, so its bubble is (PP - 1)(F + B) = 9 ms.
  const auto cal = hw::CalibrationTable::parse_text(kUnitCosts, "unit");
  const HandProgram p = one_f_one_b(4, 8);
  const sim::SimResult r = run(p, test_cluster(1, 4), nullptr, {}, {}, &cal);
  CHECK(r.step_ns == 33'000'000);
  for (const sim::RankStats& s : r.ranks) {
    INFO("stage " << s.rank);
    CHECK(s.measures.forward_ns == 8'000'000);
    CHECK(s.measures.backward_input_ns == 16'000'000);
    CHECK(s.measures.bubble_ns() == 9'000'000);
    CHECK(s.measures.exposed_comm_ns() == 0);
  }
  // The same as the schedule evaluator of ir/ and the published formula.
  const ir::PipelineShape shape{ir::ScheduleKind::OneFOneB, 4, 8};
  const ir::ChunkCosts costs{1, 2, 0, 3};
  CHECK(ir::published_bubble(shape, costs) == Approx(9.0));
  CHECK(ir::evaluate(shape, costs).makespan == Approx(33.0));
  CHECK(sim::make_report(r).bubble_fraction == Approx(9.0 / 33.0));
  CHECK(r.calibrated_kernels == 4 * 16);
}

TEST_CASE("a straggler's kernels take its factor longer and hold the pipeline back", "[sim][pipeline][straggler]") {
  // Stage 1 at twice the time: its F = 2 ms and B = 4 ms, so it is busy 8 x 6 = 48 ms and the others
  // wait for it. The step is at least its 48 ms plus the other stages' share of one micro-batch
  // before it (F on stage 0) and after it (B on stage 0): 48 + 1 + 2 = 51 ms.
  const auto cal = hw::CalibrationTable::parse_text(kUnitCosts, "unit");
  const HandProgram p = one_f_one_b(4, 8);
  const sim::SimResult r = run(p, test_cluster(1, 4), nullptr, {}, {{1, 2.0}}, &cal);
  CHECK(r.ranks[1].measures.forward_ns == 16'000'000);
  CHECK(r.ranks[1].measures.backward_input_ns == 32'000'000);
  CHECK(r.ranks[0].measures.forward_ns == 8'000'000);
  CHECK(r.step_ns >= 51'000'000);
  CHECK(r.step_ns > 33'000'000);
}

TEST_CASE("bad straggler specs are refused", "[sim][errors]") {
  CHECK(sim::parse_straggler("17:1.25").rank == 17);
  CHECK(sim::parse_straggler("17:1.25").factor == 1.25);
  CHECK(sim::parse_straggler("3:1000").factor == 1000);
  // Above 1000 the slowed kernels could run past the 64-bit clock (1e9 used to wrap it around).
  for (const char* bad : {"17", "x:2", "3:0.5", "3:abc", "-1:2", "3:2x", "3:1000.5", "3:1e9", "3:inf", "3:nan"}) {
    INFO(bad);
    CHECK_THROWS_WITH(sim::parse_straggler(bad), Catch::Contains("expected RANK:FACTOR"));
  }
  HandProgram p(2);
  p.op(0, big_gemm(), ir::Stream::Compute);
  p.finish();
  CHECK_THROWS_WITH(run(p, test_cluster(1, 2), nullptr, {}, {{5, 2.0}}), Catch::Contains("straggler rank 5"));
}

TEST_CASE("a program that waits for a transfer nobody sends reports the deadlock", "[sim][errors]") {
  HandProgram p(2);
  p.recv(1, 0, 100, 42, 0);
  p.op(1, big_gemm(), ir::Stream::Compute);
  p.finish();
  CHECK_THROWS_WITH(run(p, test_cluster(1, 2)), Catch::Contains("deadlocked") && Catch::Contains("rank 1"));
}

TEST_CASE("the event queue refuses times past its horizon instead of wrapping around", "[sim][engine][errors]") {
  sim::EventQueue q;
  q.push(sim::EventQueue::kHorizonNs, 0, 0, 0);   // 2^62 ns is still on the clock
  CHECK(q.pop().time_ns == sim::EventQueue::kHorizonNs);
  CHECK_THROWS_AS(q.push(sim::EventQueue::kHorizonNs + 1, 0, 0, 0), std::invalid_argument);
  // now + duration past 2^63 wraps to a negative time: reported as the horizon, not as time going back.
  CHECK_THROWS_WITH(q.push(std::numeric_limits<int64_t>::min(), 0, 0, 0), Catch::Contains("horizon"));
}
