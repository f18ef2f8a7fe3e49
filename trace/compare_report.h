// The report of a comparison (trace/compare.h) as `tandem compare` prints it: an aligned text table, and
// JSON with the keys of docs/compare.md.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "trace/compare.h"

namespace tandem::trace {

// Times in s, ms, us or ns by their size; errors as signed percentages ("n/a" where undefined).
std::string to_table(const Comparison& c);
// Times in seconds; errors as signed fractions (null where undefined).
nlohmann::json to_json(const Comparison& c);

}  // namespace tandem::trace
