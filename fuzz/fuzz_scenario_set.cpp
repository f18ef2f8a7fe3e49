// Fuzz target: `--set path=value` overrides (ir/scenario.h, load_scenario with overrides): each line of the
// input is one override of the embedded scenario "tiny"; the result is a validated Scenario or a
// ScenarioError / InputError.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "io/input_error.h"
#include "ir/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  const std::string text = fuzz::as_string(data, size);
  std::vector<std::string> overrides;
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    overrides.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  fuzz::expect_result_or_refusal<ir::ScenarioError, io::InputError>("scenario_set",
                                                                    [&] { ir::load_scenario("tiny", overrides); });
  return 0;
}
