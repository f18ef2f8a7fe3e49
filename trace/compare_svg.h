// The bar chart of a comparison (`tandem compare --svg`): predicted and measured busy time per op kind,
// side by side, each bar labelled with its time and the kind with its error. Self-contained SVG text.
#pragma once
#include <string>

#include "trace/compare.h"

namespace tandem::trace {

// The chart as SVG text. The axis is linear, or logarithmic (decades) when the longest and the
// shortest non-zero bar differ by more than kLogAxisRatio, so a CPU run and an H800 prediction both show.
inline constexpr double kLogAxisRatio = 100.0;
std::string compare_svg(const Comparison& c);

}  // namespace tandem::trace
