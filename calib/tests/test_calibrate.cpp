// Fits of hand-made traces whose times were generated from known parameters: GEMMs at overhead 5 us
// and efficiency 0.3625 (half the default 0.725: scale 2), all-to-alls at 10 us + bytes / 20 GB/s,
// recovered within 1e-6; a class with too few shapes kept at the default; the table written reads
// back through hw/ with its points, fits and links.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

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

constexpr double kOverheadNs = 5000.0;
constexpr double kScale = 2.0;   // default GEMM mainloop efficiency 0.725 / measured 0.3625

// GEMMs of four shapes, each time = 5 us + 2 x (the H800 model's time less its 4 us launch): whole
// nanoseconds, so the fit sees exact points. Two steps, so nothing is dropped.
trace::Timeline generated_trace() {
  trace::Timeline tl = calib::test::own_trace(trace::TraceSource::Cuda);
  const hw::CostModel model(hw::gpu_spec("H800"));
  const int64_t shapes[][3] = {{128, 7168, 2048}, {1024, 2112, 7168}, {4096, 4096, 7168}, {4096, 24576, 1536}};
  int64_t id = 0, t = 0;
  for (const auto& s : shapes) {
    ir::Gemm g;
    g.m = s[0];
    g.n = s[1];
    g.k = s[2];
    g.a = g.b = ir::DType::FP8E4M3;
    const double body = double(model.model(g, 132).ns - model.launch_ns(g));
    const int64_t time = int64_t(kOverheadNs + kScale * body);
    for (int64_t step = 1; step <= 2; ++step) {
      calib::test::gemm_event(tl, 0, id, step, g.m, g.n, g.k, t, time);
      t += time + 1000;
    }
    ++id;
  }
  // One norm shape only: too few to fit.
  calib::test::norm_event(tl, 0, id++, 1, 4096, 7168, t, 9000);
  // All-to-alls of 2 ranks: time = 10 us + bus bytes / 20 GB/s (bus bytes = size / 2): whole ns.
  for (int64_t size : {int64_t(40'000), int64_t(400'000), int64_t(4'000'000)}) {
    const int64_t time = 10'000 + size / 2 / 20;
    calib::test::a2a_event(tl, 0, id, 1, size, 2, 1000 + id, t, time);
    calib::test::a2a_event(tl, 1, id, 1, size, 2, 1000 + id, t, time);
    t += time;
    ++id;
  }
  return tl;
}

const ClassFit* find_class(const Calibration& c, const std::string& name) {
  for (const ClassFit& f : c.classes)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("a GEMM class's overhead and efficiency are recovered from generated times", "[calib][calibrate]") {
  const trace::Timeline tl = generated_trace();
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  const Calibration c = calibrate(in);
  CHECK(c.device == "H800");
  const ClassFit* gemm = find_class(c, "gemm_fp8");
  REQUIRE(gemm);
  REQUIRE(gemm->fit);
  CHECK(gemm->shapes == 4);
  CHECK(std::fabs(gemm->fit->intercept - kOverheadNs) / kOverheadNs < 1e-6);
  CHECK(std::fabs(gemm->fit->slope - kScale) / kScale < 1e-6);
  CHECK(std::fabs(gemm->efficiency() - 0.3625) < 1e-6);
  CHECK(gemm->fit->max_relative_error < 1e-6);
  CHECK(gemm->default_overhead_ns == 4000.0);

  const ClassFit* norm = find_class(c, "norm");
  REQUIRE(norm);
  CHECK_FALSE(norm->fit);
  CHECK_THAT(norm->kept_because, Contains("1 shape of distinct size; a fit needs 3"));
}

TEST_CASE("a link's bandwidth and latency are recovered from all-to-alls", "[calib][calibrate]") {
  const trace::Timeline tl = generated_trace();
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  const Calibration c = calibrate(in);
  REQUIRE(c.links.size() == 1);
  const LinkClassFit& l = c.links[0];
  CHECK(l.name == "nvlink");
  REQUIRE(l.fit);
  CHECK(std::fabs(l.fit->intercept - 10'000.0) / 10'000.0 < 1e-6);
  CHECK(std::fabs(l.bytes_per_s() - 20e9) / 20e9 < 1e-6);
  CHECK(l.ops == 6);
  CHECK(l.sizes == 3);
}

TEST_CASE("the table written reads back with its points, fits and links", "[calib][calibrate]") {
  const trace::Timeline tl = generated_trace();
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  const Calibration c = calibrate(in);
  const nlohmann::ordered_json file = calibration_file(c);
  CHECK(file["version"] == 2);
  CHECK(file["gpu"] == "H800");
  const hw::CalibrationTable t = hw::CalibrationTable::parse_text(file.dump(), "c.json");
  CHECK(t.gpu() == "H800");
  CHECK(t.points() == 5);   // four GEMM shapes and the norm
  REQUIRE(t.fits().count("gemm_fp8"));
  CHECK(t.fits().at("gemm_fp8").overhead_ns == Approx(kOverheadNs));
  CHECK(t.fits().at("gemm_fp8").time_scale == Approx(kScale));
  REQUIRE(t.links().count("nvlink"));
  CHECK(t.links().at("nvlink").bytes_per_s == Approx(20e9));
  CHECK(t.links().at("nvlink").latency_ns == Approx(10'000.0));

  // A measured shape is looked up at its time; a GEMM of another shape gets the fitted model.
  ir::Gemm measured;
  measured.m = 4096;
  measured.n = 4096;
  measured.k = 7168;
  measured.a = measured.b = ir::DType::FP8E4M3;
  const hw::CostModel plain(hw::gpu_spec("H800"));
  const hw::CostModel calibrated(hw::gpu_spec("H800"), {}, &t);
  const double body = double(plain.model(measured, 132).ns - 4000);
  CHECK(double(calibrated.estimate(measured, 132).ns) == Approx(kOverheadNs + kScale * body).margin(1));
  ir::Gemm other = measured;
  other.n = 1536;
  const hw::KernelEstimate e = calibrated.estimate(other, 132);
  CHECK(e.source == hw::CostSource::Fitted);
  CHECK(double(e.ns) == Approx(kOverheadNs + kScale * double(plain.model(other, 132).ns - 4000)).margin(1));
}

TEST_CASE("the device option names a GPU of the catalogue", "[calib][calibrate]") {
  const trace::Timeline tl = generated_trace();
  const std::vector<TraceInput> in = {{"m.json", &tl}};
  CalibrateOptions o;
  o.device = "B300X";
  CHECK_THROWS_WITH(calibrate(in, o), Contains("--device") && Contains("'B300X'"));
  o.device = "h100";
  CHECK(calibrate(in, o).device == "H100");
}
