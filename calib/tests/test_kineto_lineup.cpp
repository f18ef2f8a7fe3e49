// A Kineto trace lined up with a simulated trace of its step (calib/kineto_lineup.h), on hand-made
// traces: a class with as many kernels as ops gives a point per shape at the measured times (taken to
// the whole device from the SMs the simulated op had); a class with fewer ops is fitted from its
// totals; one with far fewer is kept at the default; bad inputs are refused naming what they are.
#include <catch2/catch.hpp>

#include "calib/calibrate.h"
#include "calib/calibration_report.h"
#include "calib/tests/hand_traces.h"
#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "io/input_error.h"

using namespace tandem;
using namespace tandem::calib;
using Catch::Matchers::Contains;

namespace {

trace::Event& kernel(trace::Timeline& tl, const std::string& op, const std::string& cls, int64_t start, int64_t dur) {
  trace::Event& e = tl.add_event(cls + "_kernel", 0, 7, start, dur, op);
  e.phase = 'F';
  tl.add_arg(e, "class", cls);
  return e;
}

trace::Timeline measured_trace() {
  trace::Timeline tl;
  tl.metadata.source = trace::TraceSource::Kineto;
  // Three dense FP8 GEMMs (their shapes: the simulated ones, in the same order).
  kernel(tl, "gemm", "dense_fp8_gemm", 0, 110'000);
  kernel(tl, "gemm", "dense_fp8_gemm", 200'000, 230'000);
  kernel(tl, "gemm", "dense_fp8_gemm", 500'000, 470'000);
  // Four norm kernels, 100 us each, for two simulated norm ops.
  for (int i = 0; i < 4; ++i) kernel(tl, "norm", "norm", 1'000'000 + i * 200'000, 100'000);
  // Ten router kernels for one simulated router op.
  for (int i = 0; i < 10; ++i) kernel(tl, "router", "router", 2'000'000 + i * 10'000, 5'000);
  return tl;
}

trace::Timeline simulated_trace() {
  trace::Timeline tl = calib::test::own_trace(trace::TraceSource::Sim);
  int64_t id = 0;
  for (int64_t m : {4096, 8192, 16384}) {
    trace::Event& e = calib::test::gemm_event(tl, 0, id, 0, m, 7168, 7168, (id + 1) * 1'000'000, 100'000);
    ++id;
    e.sms = 112;   // beside a communication kernel holding 20 SMs
    e.phase = 'F';
  }
  // The norms as a simulation of the default model times them (the class's fit from totals reads the
  // simulated durations).
  ir::Norm n;
  n.rows = 4096;
  n.cols = 7168;
  const int64_t norm_ns = hw::CostModel(hw::gpu_spec("H800")).model(n, 132).ns;
  for (int i = 0; i < 2; ++i) calib::test::norm_event(tl, 0, id++, 0, 4096, 7168, 5'000'000 + i * 200'000, norm_ns).phase = 'F';
  trace::Event& r = tl.add_event("router", 0, 0, 6'000'000, 10'000, "router");
  r.id = id++;
  r.phase = 'F';
  tl.add_arg(r, "step", int64_t(0));
  tl.add_arg(r, "tokens", int64_t(4096));
  tl.add_arg(r, "experts", int64_t(256));
  tl.add_arg(r, "groups", int64_t(8));
  tl.add_arg(r, "groups_per_token", int64_t(4));
  tl.add_arg(r, "top_k", int64_t(8));
  tl.add_arg(r, "backward", false);
  return tl;
}

Calibration lined_up(const trace::Timeline& measured, const trace::Timeline& simulated) {
  const std::vector<TraceInput> inputs{{"kineto.json", &measured}};
  CalibrateOptions o;
  o.device = "H800";
  o.shapes = &simulated;
  o.shapes_path = "pair.json";
  return calibrate(inputs, o);
}

const ClassFit& class_fit(const Calibration& c, const std::string& name) {
  for (const ClassFit& f : c.classes)
    if (f.name == name) return f;
  FAIL("no class " << name);
  throw;
}

}  // namespace

TEST_CASE("paired kernels give points by shape at their whole-device times", "[calib][kineto]") {
  const trace::Timeline measured = measured_trace(), simulated = simulated_trace();
  const Calibration c = lined_up(measured, simulated);
  const hw::CostModel model(hw::gpu_spec("H800"));
  // A kernel measured on the simulation's 112 SMs is taken to 132 as the model scales it, so the
  // simulation with the table (the op again on 112 SMs) gives back the measured time.
  REQUIRE(c.samples.shapes.size() == 3);
  const hw::CalibrationTable table = hw::CalibrationTable::parse(calibration_file(c), "c.json");
  const hw::CostModel calibrated(hw::gpu_spec("H800"), {}, &table);
  const double measured_ns[] = {110'000, 230'000, 470'000};
  int i = 0;
  for (int64_t m : {4096, 8192, 16384}) {
    const ir::Gemm g{m, 7168, 7168, ir::DType::FP8E4M3, ir::DType::FP8E4M3, ir::DType::BF16};
    const hw::KernelEstimate e = calibrated.estimate(g, 112);
    CHECK(e.source == hw::CostSource::Calibrated);
    CHECK(double(e.ns) == Approx(measured_ns[i++]).epsilon(1e-5));
  }
  const ClassFit& gemm = class_fit(c, "dense_fp8_gemm");
  CHECK(gemm.shapes == 3);
  CHECK(gemm.fit.has_value());
  REQUIRE(c.lineup.size() == 3);
  CHECK(c.lineup[0].name == "dense_fp8_gemm");
  CHECK(c.lineup[0].paired);
  CHECK(c.lineup[0].by_phase);
}

TEST_CASE("a class with fewer ops than kernels is fitted from its totals, one with far fewer kept", "[calib][kineto]") {
  const trace::Timeline measured = measured_trace(), simulated = simulated_trace();
  const Calibration c = lined_up(measured, simulated);
  // norm: 400 us measured over 2 ops of [4096, 7168] on 132 SMs: overhead 2 us (the default launch),
  // scale = (400 us - 2 x 2 us) / (2 x the model's time beyond its launch), so the two sum to 400 us.
  const ClassFit& norm = class_fit(c, "norm");
  REQUIRE(norm.fit.has_value());
  CHECK(norm.fit->intercept == 2000.0);
  const hw::CalibrationTable table = hw::CalibrationTable::parse(calibration_file(c), "c.json");
  const hw::CostModel calibrated(hw::gpu_spec("H800"), {}, &table);
  ir::Norm n;
  n.rows = 4096;
  n.cols = 7168;
  const hw::KernelEstimate e = calibrated.estimate(n, 132);
  CHECK(e.source == hw::CostSource::Fitted);
  CHECK(double(2 * e.ns) == Approx(400'000).epsilon(1e-5));
  // router: 1 op for 10 kernels is not the same work.
  const ClassFit& router = class_fit(c, "router");
  CHECK_FALSE(router.fit.has_value());
  CHECK_THAT(router.kept_because, Contains("1 simulated ops for 10 kernels"));
  CHECK_THAT(calibration_table(c), Contains("kernel classes lined up with the ops of pair.json"));
}

TEST_CASE("shapes are refused for a trace of tandem's own and from a trace without payloads", "[calib][kineto]") {
  const trace::Timeline simulated = simulated_trace();
  // tandem's own trace already has its shapes.
  CHECK_THROWS_WITH(lined_up(simulated, simulated), Contains("--shapes: expected a Kineto trace"));
  // A "simulated" trace whose ops carry no payload args.
  trace::Timeline bare = calib::test::own_trace(trace::TraceSource::Sim);
  bare.add_event("gemm", 0, 0, 0, 1000, "gemm");
  CHECK_THROWS_WITH(lined_up(measured_trace(), bare), Contains("pair.json: at event 'gemm'"));
}
