// Fuzz target: calibration tables (hw/calibration.h, CalibrationTable::parse_text): any text gives a table
// whose curves are sorted by size with distinct sizes and positive finite times, or the parser's
// documented std::invalid_argument / InputError.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "fuzz/fuzz_target.h"
#include "hw/calibration.h"
#include "io/input_error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  const std::string text = fuzz::as_string(data, size);
  fuzz::expect_result_or_refusal<std::invalid_argument, io::InputError>("calibration", [&] {
    const hw::CalibrationTable table = hw::CalibrationTable::parse_text(text, "fuzz-calibration.json");
    size_t points = 0;
    for (const auto& [key, curve] : table.table()) {
      if (curve.empty()) fuzz::finding("calibration", "an accepted curve without points: " + key);
      for (size_t i = 0; i < curve.size(); ++i) {
        const auto& p = curve[i];
        if (!std::isfinite(p.x) || !(p.time_ns > 0) || !std::isfinite(p.time_ns))
          fuzz::finding("calibration", "an accepted point with a size or time that is not positive and finite: " + key);
        if (i > 0 && !(curve[i - 1].x < p.x)) fuzz::finding("calibration", "an accepted curve not sorted by distinct sizes: " + key);
      }
      points += curve.size();
    }
    if (points != table.points()) fuzz::finding("calibration", "points() disagrees with the curves");
  });
  return 0;
}
