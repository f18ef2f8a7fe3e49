// Fuzz target: scenario files (ir/scenario.h, load_scenario): any bytes read as a scenario JSON file give a
// validated Scenario, or a ScenarioError / InputError naming what is wrong.
#include <cstdint>

#include "fuzz/fuzz_target.h"
#include "io/input_error.h"
#include "ir/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  fuzz::with_scratch_file(fuzz::as_string(data, size), "scenario.json", [](const std::string& path) {
    fuzz::expect_result_or_refusal<ir::ScenarioError, io::InputError>("scenario_file", [&] { ir::load_scenario(path); });
  });
  return 0;
}
