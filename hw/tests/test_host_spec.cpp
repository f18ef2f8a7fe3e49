// Tests of the host device: its description's reader (every bad field refused, naming it) and writer
// (what is written reads back), and the cost of an op on a core or a part of one, computed by hand.
#include <catch2/catch.hpp>

#include "hw/cost_model.h"
#include "hw/host_cost.h"
#include "hw/host_spec.h"
#include "io/input_error.h"

using namespace tandem;

namespace {

nlohmann::json good() {
  return nlohmann::json::parse(R"({"format": "tandem-host", "version": 2, "machine": "test CPU", "cores": 2,
    "memory_bytes": 25769803776, "gemm_flops_per_s": 1e9, "fp8_gemm_flops_per_s": 5e8,
    "attention_flops_per_s": 2e9, "quantize_bytes_per_s": 1e8, "memory_bytes_per_s": 4e9,
    "op_overhead_ns": 5000, "copy_bytes_per_s": 1e9, "handoff_latency_ns": 10000, "parallel_cores": 2})");
}

std::string error_of(const nlohmann::json& doc) {
  try {
    hw::parse_host_spec(doc, "host.json");
  } catch (const io::InputError& e) {
    return e.what();
  }
  return "";
}

nlohmann::json with(const std::string& field, const nlohmann::json& value) {
  nlohmann::json j = good();
  j[field] = value;
  return j;
}

}  // namespace

TEST_CASE("a host description reads back what was written", "[hw][host]") {
  const hw::HostSpec h = hw::parse_host_spec(good(), "host.json");
  CHECK(h.cores == 2);
  CHECK(h.gemm_flops_per_s == 1e9);
  CHECK(h.handoff_latency_ns == 10000);
  CHECK(h.device.name == "host");
  CHECK(h.device.sms == 2 * hw::kHostShareUnits);
  // Two vCPUs that do one CPU's work: the pool holds one core.
  CHECK(hw::parse_host_spec(with("parallel_cores", 1.0), "host.json").device.sms == hw::kHostShareUnits);
  const hw::HostSpec again = hw::parse_host_spec(hw::host_spec_json(h), "again");
  CHECK(hw::host_spec_json(again) == hw::host_spec_json(h));
  CHECK(hw::is_host_device("Host"));
  CHECK_FALSE(hw::is_host_device("H800"));
}

TEST_CASE("bad host descriptions are refused naming the file, the field, what was expected and found", "[hw][host]") {
  CHECK(error_of(nlohmann::json::array()).find("host.json") != std::string::npos);
  CHECK(error_of(with("format", "tandem-calibration")).find("format") != std::string::npos);
  CHECK(error_of(with("version", 3)).find("version") != std::string::npos);
  // A description of the first version lacks parallel_cores: probe again.
  CHECK(error_of(with("version", 1)).find("run tandem probe again") != std::string::npos);
  CHECK(error_of(with("parallel_cores", 3)).find("parallel_cores") != std::string::npos);   // more than its 2 cores
  CHECK(error_of(with("parallel_cores", 0)).find("parallel_cores") != std::string::npos);
  const std::string negative = error_of(with("gemm_flops_per_s", -1));
  CHECK(negative.find("host.json") != std::string::npos);
  CHECK(negative.find("gemm_flops_per_s") != std::string::npos);
  CHECK(negative.find("positive") != std::string::npos);
  CHECK(negative.find("-1") != std::string::npos);
  CHECK(error_of(with("memory_bytes_per_s", 0)).find("memory_bytes_per_s") != std::string::npos);
  CHECK(error_of(with("copy_bytes_per_s", "fast")).find("copy_bytes_per_s") != std::string::npos);
  CHECK(error_of(with("cores", 0)).find("cores") != std::string::npos);
  CHECK(error_of(with("cores", 2.5)).find("cores") != std::string::npos);
  CHECK(error_of(with("op_overhead_ns", -5)).find("op_overhead_ns") != std::string::npos);
  CHECK(error_of(with("machine", 3)).find("machine") != std::string::npos);
  CHECK(error_of(with("turbo", true)).find("unknown field 'turbo'") != std::string::npos);
  nlohmann::json missing = good();
  missing.erase("handoff_latency_ns");
  CHECK(error_of(missing).find("handoff_latency_ns") != std::string::npos);
  CHECK(error_of(missing).find("missing") != std::string::npos);
  CHECK_THROWS_AS(hw::load_host_spec("/nonexistent/host.json"), io::InputError);
}

TEST_CASE("an op on the host costs overhead + work / rate on a core, stretched on part of one", "[hw][host]") {
  const hw::HostSpec h = hw::parse_host_spec(good(), "host.json");
  ir::Gemm g;
  g.m = g.n = g.k = 100;
  g.a = g.b = ir::DType::FP32;
  // 2 x 100^3 = 2e6 FLOPs at 1e9 FLOP/s = 2 ms, plus 5 us.
  CHECK(hw::host_kernel_estimate(h, g, hw::kHostShareUnits).ns == 2005000);
  // Half a core: twice as long; more than a core: no faster (one thread per stream).
  CHECK(hw::host_kernel_estimate(h, g, hw::kHostShareUnits / 2).ns == 4010000);
  CHECK(hw::host_kernel_estimate(h, g, 2 * hw::kHostShareUnits).ns == 2005000);
  // FP8 GEMMs at their own (emulated) rate: 2e6 / 5e8 = 4 ms.
  g.a = g.b = ir::DType::FP8E4M3;
  CHECK(hw::host_kernel_estimate(h, g, hw::kHostShareUnits).ns == 4005000);
  // Memory-bound kinds by the IR's bytes: a norm moving B bytes at 4 GB/s.
  ir::Norm n;
  n.rows = 1000;
  n.cols = 1000;
  const double bytes = ir::op_hbm_bytes(n);
  CHECK(hw::host_kernel_estimate(h, n, hw::kHostShareUnits).ns == int64_t(std::ceil(5000 + bytes / 4e9 * 1e9 - 1e-6)));
  // Through the CostModel, with the host's GpuSpec: the whole machine's units are one core for one op.
  const hw::CostModel model(h.device, {}, nullptr, &h);
  CHECK(model.estimate(g, h.device.sms).ns == 4005000);
}
