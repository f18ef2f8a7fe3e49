// Measurements from hand-made traces: the median over steps per op with the warm-up dropped (default
// and chosen), the median over the ops of one shape, communication timed from the last member's start,
// and refused input (unknown kinds, missing args, traces of another plan, a warm-up leaving no step).
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "calib/op_samples.h"
#include "calib/tests/hand_traces.h"
#include "io/input_error.h"

using namespace tandem;
using namespace tandem::calib;
using calib::test::gemm_event;
using calib::test::own_trace;
using Catch::Matchers::Contains;

namespace {

Samples samples_of(const trace::Timeline& tl, int64_t warmup = -1) {
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  SampleOptions o;
  o.warmup = warmup;
  return collect_samples(in, o);
}

std::string refusal(const std::vector<TraceInput>& in, int64_t warmup = -1) {
  SampleOptions o;
  o.warmup = warmup;
  try {
    collect_samples(in, o);
  } catch (const io::InputError& e) {
    return e.what();
  }
  return "accepted";
}

// One GEMM (rank 0, id 0) over three steps: 1000 ns in the first (cold), then 10 and 30 ns.
trace::Timeline three_steps() {
  trace::Timeline tl = own_trace();
  gemm_event(tl, 0, 0, 1, 128, 256, 512, 0, 1000);
  gemm_event(tl, 0, 0, 2, 128, 256, 512, 5000, 10);
  gemm_event(tl, 0, 0, 3, 128, 256, 512, 9000, 30);
  return tl;
}

}  // namespace

TEST_CASE("the first step of three is dropped as warm-up by default", "[calib][samples]") {
  const Samples s = samples_of(three_steps());
  CHECK(s.steps_held == 3);
  CHECK(s.warmup == 1);
  CHECK(s.warmup_default);
  REQUIRE(s.shapes.size() == 1);
  CHECK(s.shapes[0].time_ns == 20.0);   // median of 10 and 30
  CHECK(s.shapes[0].instances == 2);
  CHECK(s.ops_used == 2);
}

TEST_CASE("a warm-up of 0 keeps every step, of 2 the last", "[calib][samples]") {
  CHECK(samples_of(three_steps(), 0).shapes[0].time_ns == 30.0);   // median of 1000, 10, 30
  CHECK(samples_of(three_steps(), 2).shapes[0].time_ns == 30.0);
  CHECK_FALSE(samples_of(three_steps(), 0).warmup_default);
}

TEST_CASE("a trace of two steps keeps both by default", "[calib][samples]") {
  trace::Timeline tl = own_trace();
  gemm_event(tl, 0, 0, 1, 128, 256, 512, 0, 100);
  gemm_event(tl, 0, 0, 2, 128, 256, 512, 500, 300);
  const Samples s = samples_of(tl);
  CHECK(s.warmup == 0);
  CHECK(s.shapes[0].time_ns == 200.0);
}

TEST_CASE("ops of one shape give one point: the median of their medians", "[calib][samples]") {
  trace::Timeline tl = own_trace();
  // Three ops of the same shape (ids 0, 1 on rank 0, id 0 on rank 1) with 10, 20, 40 ns; one other shape.
  gemm_event(tl, 0, 0, 0, 128, 256, 512, 0, 10);
  gemm_event(tl, 0, 1, 0, 128, 256, 512, 100, 20);
  gemm_event(tl, 1, 0, 0, 128, 256, 512, 0, 40);
  gemm_event(tl, 1, 1, 0, 256, 256, 512, 100, 70);
  const Samples s = samples_of(tl);
  REQUIRE(s.shapes.size() == 2);
  CHECK(s.shapes[0].time_ns == 20.0);
  CHECK(s.shapes[0].identities == 3);
  CHECK(s.shapes[1].time_ns == 70.0);
}

TEST_CASE("an all-to-all is timed from the last member's start", "[calib][samples]") {
  trace::Timeline tl = own_trace();
  // Rank 0 starts at 0 and waits for rank 1, which starts at 400; both end at 1000: 600 ns each.
  calib::test::a2a_event(tl, 0, 5, 0, 4096, 2, 77, 0, 1000);
  calib::test::a2a_event(tl, 1, 5, 0, 4096, 2, 77, 400, 600);
  const Samples s = samples_of(tl);
  REQUIRE(s.comms.size() == 2);
  CHECK(s.comms[0].time_ns == 600.0);
  CHECK(s.comms[1].time_ns == 600.0);
  CHECK(s.comms[0].bus_bytes == 2048.0);   // 4096 x (2 - 1) / 2
  CHECK_FALSE(s.comms[0].across_nodes);    // 2 ranks of an 8-GPU node
}

TEST_CASE("on a host a compute op's time is its share of a core times its measured time", "[calib][samples]") {
  // Rank 0's GEMM runs 0-1000 ns; rank 1's GEMM of another shape runs 500-1500 ns; rank 0's second GEMM
  // runs alone, 2000-2100 ns. The cores do one core's work together (share = min(1, 1 / running)):
  //   rank 0's first: 1 running for 500 ns, 2 for 500 ns: mean 1.5, share 2/3 -> 666.67 ns;
  //   rank 1's: the same by symmetry -> 666.67 ns; the lone one: share 1 -> 100 ns.
  trace::Timeline tl = own_trace(trace::TraceSource::Cpu, "host");
  gemm_event(tl, 0, 0, 0, 128, 256, 512, 0, 1000);
  gemm_event(tl, 1, 0, 0, 256, 256, 512, 500, 1000);
  gemm_event(tl, 0, 1, 0, 64, 256, 512, 2000, 100);
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  SampleOptions o;
  o.core_share = [](double running) { return std::min(1.0, 1.0 / running); };
  const Samples s = collect_samples(in, o);
  REQUIRE(s.shapes.size() == 3);
  std::vector<double> times;
  for (const ShapeSample& sh : s.shapes) times.push_back(sh.time_ns);
  std::sort(times.begin(), times.end());
  CHECK(times[0] == Approx(100.0));
  CHECK(times[1] == Approx(2000.0 / 3));
  CHECK(times[2] == Approx(2000.0 / 3));
  // Unset: the times as measured.
  std::vector<double> raw;
  for (const ShapeSample& sh : samples_of(tl).shapes) raw.push_back(sh.time_ns);
  std::sort(raw.begin(), raw.end());
  CHECK(raw == std::vector<double>{100.0, 1000.0, 1000.0});
}

TEST_CASE("traces that cannot be calibrated from are refused", "[calib][samples]") {
  SECTION("an op kind tandem does not know") {
    trace::Timeline tl = own_trace();
    trace::Event& e = tl.add_event("mystery", 0, 0, 0, 10, "kernel");
    e.id = 0;
    CHECK_THAT(refusal({{"m.json", &tl}}), Contains("m.json") && Contains("unknown op kind 'kernel'"));
  }
  SECTION("a payload arg missing") {
    trace::Timeline tl = own_trace();
    trace::Event& e = tl.add_event("gemm", 0, 0, 0, 10, "gemm");
    e.id = 0;
    tl.add_arg(e, "m", int64_t(4));
    CHECK_THAT(refusal({{"m.json", &tl}}), Contains("gemm: arg 'n'"));
  }
  SECTION("an op without its identity") {
    trace::Timeline tl = own_trace();
    gemm_event(tl, 0, 0, 0, 1, 2, 3, 0, 10).id = -1;
    CHECK_THAT(refusal({{"m.json", &tl}}), Contains("an `id` arg"));
  }
  SECTION("traces of different plans, naming the field") {
    trace::Timeline a = three_steps(), b = three_steps();
    b.metadata.extra.insert_or_assign("plan", std::string(R"({"pp":2})"));
    CHECK_THAT(refusal({{"a.json", &a}, {"b.json", &b}}),
               Contains("b.json") && Contains("metadata.plan") && Contains("pp: 2 in b.json, 1 in a.json"));
  }
  SECTION("traces of different sources") {
    trace::Timeline a = three_steps(), b = three_steps();
    b.metadata.source = trace::TraceSource::Cuda;
    CHECK_THAT(refusal({{"a.json", &a}, {"b.json", &b}}), Contains("source 'cuda' against 'cpu'"));
  }
  SECTION("a warm-up that leaves no step") {
    const trace::Timeline tl = three_steps();
    CHECK_THAT(refusal({{"m.json", &tl}}, 3), Contains("--warmup") && Contains("3 step(s) m.json holds"));
  }
  SECTION("a trace without ops") {
    const trace::Timeline tl = own_trace();
    CHECK_THAT(refusal({{"m.json", &tl}}), Contains("m.json") && Contains("none"));
  }
}

TEST_CASE("a Kineto trace is measured per kind, its unknown kernels counted", "[calib][samples]") {
  trace::Timeline tl;
  tl.metadata.source = trace::TraceSource::Kineto;
  tl.add_event("sm90_gemm", 0, 7, 0, 100, "gemm");
  tl.add_event("sm90_gemm", 0, 7, 200, 300, "gemm");
  tl.add_event("sm90_gemm", 0, 7, 600, 200, "gemm");
  tl.add_event("mystery_kernel", 0, 7, 900, 50, "kernel");
  tl.add_event("aten::mm", 0, 1, 0, 900, "cpu_op");
  const Samples s = samples_of(tl);
  REQUIRE(s.kinds.size() == 1);
  CHECK(s.kinds[0].kind == "gemm");
  CHECK(s.kinds[0].count == 3);
  CHECK(s.kinds[0].median_ns == 200.0);
  CHECK(s.kinds[0].total_ns == 600.0);
  CHECK(s.unknown_kinds.at("mystery_kernel") == 1);
  CHECK(s.shapes.empty());
}
