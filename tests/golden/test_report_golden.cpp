// The golden-report comparison itself: seconds pinned to integer nanoseconds, every moved field named
// with its old and new value, tolerances (integers exact, other numbers to nine digits), added and
// removed fields, and golden files that are not what they should be.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tests/golden/report_golden.h"

using namespace tandem::golden;
using nlohmann::json;

TEST_CASE("seconds become integers of nanoseconds and other fields stay", "[golden]") {
  const json report = json::parse(R"({"step_time_s": 1.234567891, "phases": {"bubble_s": 0.0000000125},
                                      "stages": [{"exposed_comm_s": 2e-9, "memory_peak_bytes": 17}],
                                      "mfu_bf16": 0.5, "tokens_per_s": 2.5e6, "scenario": "tiny", "out_of_memory": false})");
  const json pinned = pinned_form(report);
  CHECK(pinned["step_time_ns"] == 1234567891);
  CHECK(pinned["step_time_ns"].is_number_integer());
  CHECK(pinned["phases"]["bubble_ns"] == 13);   // 12.5 ns rounds half away from zero
  CHECK(pinned["stages"][0]["exposed_comm_ns"] == 2);
  CHECK(pinned["stages"][0]["memory_peak_bytes"] == 17);
  CHECK(pinned["mfu_bf16"] == 0.5);
  CHECK(pinned["tokens_per_s"] == 2.5e6);   // a rate, not a time
  CHECK(pinned["scenario"] == "tiny");
  CHECK_FALSE(pinned.contains("step_time_s"));
  CHECK(pinned_form(pinned) == pinned);   // already pinned: unchanged
}

TEST_CASE("a moved field is named with its old and new value", "[golden]") {
  const json old = json::parse(R"({"step_time_ns": 1000000, "phases": {"bubble_ns": 500, "forward_ns": 7},
                                   "stages": [{"bubble_ns": 1}, {"bubble_ns": 2}], "scenario": "tiny"})");
  json now = old;
  CHECK(diff(old, now).empty());
  now["step_time_ns"] = 1000100;
  now["stages"][1]["bubble_ns"] = 3;
  const auto changes = diff(old, now);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].path == "stages[1].bubble_ns");   // document (key) order
  CHECK(changes[0].old_value == "2");
  CHECK(changes[0].new_value == "3");
  CHECK(changes[0].change == "+1 (+50%)");
  CHECK(changes[1].path == "step_time_ns");
  CHECK(changes[1].change == "+100 (+0.01%)");
  const std::string text = describe(changes);
  CHECK(text.find("stages[1].bubble_ns") != std::string::npos);
  CHECK(text.find("1000000") != std::string::npos);
  CHECK(text.find("1000100") != std::string::npos);
}

TEST_CASE("integers must be equal and other numbers agree to nine significant digits", "[golden]") {
  CHECK(diff(json{{"a_ns", 5}}, json{{"a_ns", 6}}).size() == 1);
  CHECK(diff(json{{"mfu", 0.5}}, json{{"mfu", 0.5 * (1 + 1e-12)}}).empty());
  CHECK(diff(json{{"mfu", 0.5}}, json{{"mfu", 0.5 * (1 + 1e-8)}}).size() == 1);
  CHECK(diff(json{{"x", 0.0}}, json{{"x", 1e-300}}).size() == 1);
  CHECK(diff(json{{"flag", false}}, json{{"flag", true}}).size() == 1);
  CHECK(diff(json{{"gpu", "H800"}}, json{{"gpu", "H100"}}).size() == 1);
}

TEST_CASE("added and removed fields are changes", "[golden]") {
  const json old = json::parse(R"({"a_ns": 1, "list": [1, 2]})");
  const json now = json::parse(R"({"b_ns": 1, "list": [1, 2, 3]})");
  const auto changes = diff(old, now);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].path == "b_ns");
  CHECK(changes[0].old_value == "(absent)");
  CHECK(changes[1].path == "list[2]");
  CHECK(changes[1].old_value == "(absent)");
  CHECK(changes[2].path == "a_ns");
  CHECK(changes[2].new_value == "(absent)");
}

TEST_CASE("golden files that are not golden reports are named with what is wrong", "[golden]") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tandem_golden_test_" + std::to_string(getpid()) + ".json")).string();
  auto write = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  };
  write("{\"command\": [\"simulate\"], \"report\": {\"step_time_ns\": 1}}");
  const GoldenFile g = read_golden(path);
  CHECK(g.command == std::vector<std::string>{"simulate"});
  CHECK(read_golden(path).report == json{{"step_time_ns", 1}});
  CHECK(json::parse(golden_text(g)) == json{{"command", {"simulate"}}, {"report", {{"step_time_ns", 1}}}});
  write("{\"command\": [\"simulate\", 3], \"report\": {}}");
  CHECK_THROWS_WITH(read_golden(path), path + ": command[1]: expected a string, found 3");
  write("{\"command\": [\"simulate\"]}");
  CHECK_THROWS_WITH(read_golden(path), path + ": report: expected an object (the pinned report), found nothing");
  write("{\"command\": ");
  CHECK_THROWS_WITH(read_golden(path), Catch::StartsWith(path + ": expected JSON, found a syntax error at byte"));
  std::remove(path.c_str());
  CHECK_THROWS_WITH(read_golden(path), Catch::Contains("expected a readable golden report file"));
}
