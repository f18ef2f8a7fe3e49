// Version 2 calibration tables: per-class fits and fitted links read and applied (a GEMM of a shape
// with no point: 5 us + 2 x the model beyond its 4 us launch; NVLink at 80 GB/s per direction of the
// nominal 400 / 2: efficiency 0.4), points written by calibration_point read back to the same key and
// size, and refused sections naming the path.
#include <catch2/catch.hpp>

#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "io/input_error.h"

using namespace tandem;
using Catch::Matchers::Contains;

namespace {

std::string table_with(const std::string& sections, int version = 2) {
  return R"({"format": "tandem-calibration", "version": )" + std::to_string(version) + R"(, "gpu": "H800", )" +
         sections + R"(, "points": []})";
}

std::string error_of(const std::string& text) {
  try {
    hw::CalibrationTable::parse_text(text, "c.json");
  } catch (const io::InputError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("a class fit replaces the launch cost and scales the rest of the model", "[hw][calibration]") {
  const hw::CalibrationTable t = hw::CalibrationTable::parse_text(
      table_with(R"("fits": {"gemm_fp8": {"overhead_us": 5, "time_scale": 2, "points": 4,
                    "rms_relative_error": 0.01, "max_relative_error": 0.02}})"),
      "c.json");
  ir::Gemm g;
  g.m = 4096;
  g.n = 7168;
  g.k = 2048;
  g.a = g.b = ir::DType::FP8E4M3;
  const hw::CostModel plain(hw::gpu_spec("H800"));
  const hw::CostModel fitted(hw::gpu_spec("H800"), {}, &t);
  const int64_t model_ns = plain.model(g, 132).ns;
  const hw::KernelEstimate e = fitted.estimate(g, 132);
  CHECK(e.source == hw::CostSource::Fitted);
  CHECK(e.ns == 5000 + 2 * (model_ns - 4000));
  // A BF16 GEMM is another class: the default model.
  g.a = g.b = ir::DType::BF16;
  CHECK(fitted.estimate(g, 132).source == hw::CostSource::Model);
}

TEST_CASE("a kernel class's fit wins over its op class's", "[hw][calibration]") {
  // gemm_fp8 covers every FP8 GEMM; wgrad_gemm only those accumulating into FP32 (the weight gradients).
  const hw::CalibrationTable t = hw::CalibrationTable::parse_text(
      table_with(R"("fits": {"gemm_fp8": {"overhead_us": 5, "time_scale": 2}, "wgrad_gemm": {"overhead_us": 1, "time_scale": 3}})"),
      "c.json");
  ir::Gemm g{4096, 7168, 2048, ir::DType::FP8E4M3, ir::DType::FP8E4M3, ir::DType::BF16};
  REQUIRE(t.fit_for(g) != nullptr);
  CHECK(t.fit_for(g)->time_scale == 2.0);
  g.accumulate = true;
  g.out = ir::DType::FP32;
  REQUIRE(t.fit_for(g) != nullptr);
  CHECK(t.fit_for(g)->time_scale == 3.0);
  CHECK(hw::kernel_fit_class(g) == "wgrad_gemm");
  // A RoPE copy is the rope class; a residual add "other".
  ir::Elementwise e;
  e.kind = ir::ElementwiseKind::Copy;
  CHECK(hw::kernel_fit_class(e) == "rope");
  e.kind = ir::ElementwiseKind::Add;
  CHECK(hw::kernel_fit_class(e) == "other");
  CHECK(hw::model_fit_class(e) == "elementwise");
}

TEST_CASE("fitted links set the cluster's NVLink and IB efficiency and latency", "[hw][calibration]") {
  const hw::CalibrationTable t = hw::CalibrationTable::parse_text(
      table_with(R"("links": {"nvlink": {"bytes_per_s": 80e9, "latency_us": 10},
                              "ib": {"bytes_per_s": 25e9, "latency_us": 4}})"),
      "c.json");
  ir::ClusterConfig cluster;   // H800: NVLink 400 GB/s both ways, NIC 50 GB/s, IB 2.8 / 3.7 us
  hw::NetworkParams network;
  t.apply_links(cluster, network);
  CHECK(network.nvlink_efficiency == Approx(0.4));   // 80 / (400 / 2)
  CHECK(cluster.nvlink_latency_ns == 10000);
  CHECK(network.ib_efficiency == Approx(0.5));       // 25 / 50
  CHECK(cluster.ib_latency_ns == 4000);
  CHECK(cluster.ib_cross_leaf_latency_ns == 4900);   // keeps its 0.9 us more
}

TEST_CASE("a written point reads back to the same key and size", "[hw][calibration]") {
  ir::Gemm grouped;
  grouped.n = 2048;
  grouped.k = 7168;
  grouped.group_rows = {100, 0, 37, 12};   // 149 rows in 4 groups
  grouped.m = 149;
  grouped.a = grouped.b = ir::DType::FP8E4M3;
  ir::Norm norm;
  norm.rows = 512;
  norm.cols = 7168;
  norm.backward = true;
  ir::Elementwise swiglu;
  swiglu.kind = ir::ElementwiseKind::SwiGLU;
  swiglu.elements = 1000;
  swiglu.read_bytes = 4000;
  swiglu.write_bytes = 2000;
  for (const ir::OpPayload& op : {ir::OpPayload(grouped), ir::OpPayload(norm), ir::OpPayload(swiglu)}) {
    const nlohmann::ordered_json point = hw::calibration_point(op, 12.5);
    const hw::CalibrationTable t =
        hw::CalibrationTable::parse_text(R"({"format": "tandem-calibration", "version": 2, "points": [)" +
                                             point.dump() + "]}",
                                         "c.json");
    const hw::CalibrationKey k = hw::calibration_key(op);
    REQUIRE(t.table().count(k.key));
    CHECK(t.table().at(k.key).front().x == k.x);
    CHECK(t.lookup(op).time_ns == 12500.0);
  }
}

TEST_CASE("bad fits and links are refused naming the path", "[hw][calibration]") {
  CHECK_THAT(error_of(table_with(R"("fits": {"gemm_fp4": {"overhead_us": 1, "time_scale": 1}})")),
             Contains("c.json: at fits.gemm_fp4: expected an op class"));
  CHECK_THAT(error_of(table_with(R"("fits": {"norm": {"overhead_us": 1, "time_scale": 0}})")),
             Contains("fits.norm.time_scale: expected a number > 0, found 0"));
  CHECK_THAT(error_of(table_with(R"("fits": {"norm": {"overhead_us": -1, "time_scale": 1}})")),
             Contains("fits.norm.overhead_us: expected a number >= 0"));
  CHECK_THAT(error_of(table_with(R"("fits": {"norm": {"time_scale": 1}})")),
             Contains("fits.norm.overhead_us") && Contains("missing"));
  CHECK_THAT(error_of(table_with(R"("fits": {"norm": {"overhead_us": 1, "time_scale": 1, "slope": 3}})")),
             Contains("unknown field 'slope'"));
  CHECK_THAT(error_of(table_with(R"("links": {"pcie": {"bytes_per_s": 1, "latency_us": 1}})")),
             Contains("links.pcie: expected a link class (nvlink, ib)"));
  CHECK_THAT(error_of(table_with(R"("links": {"ib": {"bytes_per_s": "fast", "latency_us": 1}})")),
             Contains("links.ib.bytes_per_s: expected a number > 0"));
  CHECK_THAT(error_of(table_with(R"("fits": {"norm": {"overhead_us": 1, "time_scale": 1e300}})")),
             Contains("fits.norm.time_scale: expected a number > 0 and at most 1e9"));
  CHECK_THAT(error_of(table_with(R"("links": {"ib": {"bytes_per_s": 1e-300, "latency_us": 1}})")),
             Contains("links.ib.bytes_per_s: expected a number >= 1"));
  CHECK_THAT(error_of(table_with(R"("fits": {})", 1)), Contains("at fits: expected no such field in a version 1 table"));
  CHECK_THAT(error_of(table_with(R"("fits": {})", 3)), Contains("at version: expected 1 or 2, found 3"));
}
