// Fuzz target: per-expert load files (sim/expert_load.h, parse_expert_load): any text, read for 8 and for
// 256 routed experts, gives that many non-negative finite loads with a positive sum, or the parser's
// documented std::invalid_argument / InputError.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "fuzz/fuzz_target.h"
#include "io/input_error.h"
#include "sim/expert_load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  const std::string text = fuzz::as_string(data, size);
  for (const int64_t experts : {int64_t(8), int64_t(256)}) {
    fuzz::expect_result_or_refusal<std::invalid_argument, io::InputError>("expert_load", [&] {
      const std::vector<double> loads = sim::parse_expert_load(text, "fuzz-loads.json", experts);
      if (int64_t(loads.size()) != experts) fuzz::finding("expert_load", "an accepted file with another number of loads");
      double sum = 0;
      for (double l : loads) {
        if (!(l >= 0) || !std::isfinite(l)) fuzz::finding("expert_load", "an accepted load that is negative or not finite");
        sum += l;
      }
      if (!(sum > 0)) fuzz::finding("expert_load", "accepted loads without a positive sum");
    });
  }
  return 0;
}
