// Tests of calibration tables: interpolation inside the measured range, the rule outside it, the
// override of the default model, and the parser's errors on bad input.
#include <filesystem>

#include <catch2/catch.hpp>

#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "io/input_error.h"

using namespace tandem;

namespace {
const char* kTable = R"({
  "format": "tandem-calibration", "version": 1, "gpu": "H800", "source": "hand-made",
  "points": [
    {"op": "gemm", "a": "fp8_e4m3", "m": 4096, "n": 7168, "k": 2048, "time_us": 150},
    {"op": "gemm", "a": "fp8_e4m3", "m": 1024, "n": 7168, "k": 2048, "time_us": 50},
    {"op": "norm", "rows": 4096, "cols": 7168, "time_us": 40}
  ]})";

ir::Gemm gemm(int64_t m) {
  ir::Gemm g;
  g.m = m;
  g.n = 7168;
  g.k = 2048;
  g.a = g.b = ir::DType::FP8E4M3;
  return g;
}

std::string error_of(const std::string& text) {
  try {
    hw::CalibrationTable::parse_text(text, "cal.json");
  } catch (const tandem::io::InputError& e) {
    return e.what();
  }
  return "";
}
std::string point_error(const std::string& point) {
  return error_of(R"({"format": "tandem-calibration", "version": 1, "points": [)" + point + "]}");
}
}  // namespace

TEST_CASE("calibration interpolates linearly inside the measured range", "[hw][calibration]") {
  const auto t = hw::CalibrationTable::parse_text(kTable, "cal.json");
  CHECK(t.curves() == 2);
  CHECK(t.points() == 3);
  CHECK(t.gpu() == "H800");
  // m = 2048 between 1024 (50 us) and 4096 (150 us): 50 + (2048-1024)/(4096-1024) * 100 = 83.333 us
  auto hit = t.lookup(gemm(2048));
  CHECK(hit.hit == hw::CalibrationTable::Hit::Inside);
  CHECK(hit.time_ns == Approx(83333.333));
  CHECK(t.lookup(gemm(4096)).time_ns == 150000.0);
  // A different n is another shape: no hit.
  ir::Gemm other = gemm(2048);
  other.n = 4096;
  CHECK(t.lookup(other).hit == hw::CalibrationTable::Hit::None);
  // Outside: the nearest measured point is reported.
  hit = t.lookup(gemm(8192));
  CHECK(hit.hit == hw::CalibrationTable::Hit::Outside);
  CHECK(hit.edge_x == 4096);
  CHECK(hit.time_ns == 150000.0);
}

TEST_CASE("calibrated times override the model and outside they scale it by the edge ratio", "[hw][calibration]") {
  const auto t = hw::CalibrationTable::parse_text(kTable, "cal.json");
  const hw::CostModel plain(hw::gpu_spec("H800"));
  const hw::CostModel cal(hw::gpu_spec("H800"), {}, &t);
  hw::KernelEstimate e = cal.estimate(gemm(2048), 132);
  CHECK(e.source == hw::CostSource::Calibrated);
  CHECK(e.ns == 83333);
  // Fewer SMs: the measured time scales as the model scales between 132 and 112 SMs.
  const double s = double(plain.model(gemm(2048), 112).ns) / double(plain.model(gemm(2048), 132).ns);
  CHECK(cal.estimate(gemm(2048), 112).ns == std::llround(83333.333 * s));
  // m = 8192 outside: model(8192) * 150 us / model(4096).
  e = cal.estimate(gemm(8192), 132);
  CHECK(e.source == hw::CostSource::Extrapolated);
  const double ratio = 150000.0 / double(plain.model(gemm(4096), 132).ns);
  CHECK(e.ns == std::llround(double(plain.model(gemm(8192), 132).ns) * ratio));
  // Shapes not in the table keep the model.
  ir::Attention a;
  a.seq_len = 128;
  a.heads = 2;
  CHECK(cal.estimate(a, 132).source == hw::CostSource::Model);
  CHECK(cal.estimate(a, 132).ns == plain.estimate(a, 132).ns);
}

TEST_CASE("calibration parser rejects bad input with path, expectation and finding", "[hw][calibration][errors]") {
  CHECK(error_of("{\"format\": ").find("truncated") != std::string::npos);
  CHECK(error_of("{\"format\": tandem}").find("invalid JSON") != std::string::npos);
  CHECK(error_of("[1, 2]").find("(top level): expected an object") != std::string::npos);
  CHECK(error_of(R"({"format": "other", "version": 1, "points": []})").find("format: expected \"tandem-calibration\"") !=
        std::string::npos);
  CHECK(error_of(R"({"format": "tandem-calibration", "version": 3, "points": []})").find("version: expected 1 or 2, found 3") !=
        std::string::npos);
  CHECK(error_of(R"({"format": "tandem-calibration", "version": 1})").find("points: expected an array") !=
        std::string::npos);
  CHECK(error_of(R"({"format": "tandem-calibration", "version": 1, "points": [], "extra": 1})")
            .find("unknown field 'extra'") != std::string::npos);
  CHECK(point_error("3").find("points[0]: expected an object, found 3") != std::string::npos);
  CHECK(point_error(R"({"op": "fft", "time_us": 1})").find("points[0].op: expected gemm") != std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "n": 8, "k": 8, "time_us": 1})").find("points[0].m: expected an integer, found nothing") !=
        std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "m": 8, "n": 8, "k": 8, "time_us": -3})")
            .find("time_us: expected a positive number, found -3") != std::string::npos);
  // 1e300 us used to reach the engine as a wrapped-around integer time (a faster step than 117 us gave).
  CHECK(point_error(R"({"op": "gemm", "m": 8, "n": 8, "k": 8, "time_us": 1e300})").find("time_us: expected a positive number of at most 1e9") !=
        std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "m": 8, "n": 8, "k": 8, "time_us": "fast"})").find("found \"fast\"") !=
        std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "m": 8.5, "n": 8, "k": 8, "time_us": 1})").find("m: expected an integer") !=
        std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "m": 0, "n": 8, "k": 8, "time_us": 1})").find("m: expected an integer in [1, ") !=
        std::string::npos);
  // A group count builds one row size per group: 9e15 groups used to be an allocation of 72 PB.
  CHECK(point_error(R"({"op": "gemm", "m": 8, "n": 8, "k": 8, "groups": 9e15, "time_us": 1})")
            .find("groups: expected an integer in [1, 1048576], found") != std::string::npos);
  CHECK(point_error(R"({"op": "gemm", "m": 8, "n": 8, "k": 8, "a": "int4", "time_us": 1})").find("a: expected a dtype") !=
        std::string::npos);
  CHECK(point_error(R"({"op": "norm", "rows": 8, "cols": 8, "colour": 1, "time_us": 1})")
            .find("unknown field 'colour'") != std::string::npos);
  CHECK(point_error(R"({"op": "norm", "rows": 8, "cols": 8, "time_us": 1}, {"op": "norm", "rows": 8, "cols": 8, "time_us": 2})")
            .find("points[1]: expected one time per shape") != std::string::npos);
  CHECK(point_error(R"({"op": "elementwise", "kind": "gelu", "elements": 8, "read_bytes": 8, "write_bytes": 8, "time_us": 1})")
            .find("kind: expected swiglu") != std::string::npos);
}

TEST_CASE("missing calibration file is reported with its path", "[hw][calibration][errors]") {
  try {
    hw::CalibrationTable::load("/nonexistent/cal.json");
    FAIL("expected an exception");
  } catch (const tandem::io::InputError& e) {
    CHECK(std::string(e.what()).find("/nonexistent/cal.json: at (file): expected a calibration table (JSON), found no such file") !=
          std::string::npos);
  }
  // A directory, and an endless input: refused before a byte is read.
  CHECK_THROWS_WITH(hw::CalibrationTable::load(std::filesystem::temp_directory_path().string()), Catch::Contains("found a directory"));
  CHECK_THROWS_WITH(hw::CalibrationTable::load("/dev/zero"), Catch::Contains("found a character device"));
}

TEST_CASE("hostile calibration tables: deep nesting, duplicate keys, numbers beyond a double", "[hw][calibration][errors]") {
  const std::string head = R"({"format": "tandem-calibration", "version": 1, "points": )";
  const std::string deep = error_of(head + std::string(100000, '[') + std::string(100000, ']') + "}");
  CHECK_THAT(deep, Catch::Contains("cal.json: at points[0][0]") && Catch::Contains("nested at most 128 levels deep"));
  CHECK(deep.size() < 400);
  CHECK_THAT(point_error(R"({"op": "norm", "rows": 8, "cols": 8, "time_us": 1, "time_us": 2})"),
             Catch::Contains("at points[0].time_us (line 1 col 110)") && Catch::Contains("(first at line 1 col 96)"));
  // 1e999 once escaped as a library exception (exit code 1): now a refusal that names the path.
  CHECK_THAT(point_error(R"({"op": "norm", "rows": 8, "cols": 8, "time_us": 1e999})"),
             Catch::Contains("cal.json: at points[0].time_us") && Catch::Contains("range of a double") &&
                 Catch::Contains("found the number 1e999"));
  const std::string long_op = point_error(R"({"op": ")" + std::string(100000, 'x') + R"(", "time_us": 1})");
  CHECK_THAT(long_op, Catch::Contains("points[0].op"));
  CHECK(long_op.size() < 600);
}
