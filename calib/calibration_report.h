// What `tandem calibrate` writes and prints: the calibration table file (hw/calibration.h's format,
// version 2) and the report of the fits (a table, or JSON with --json).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "calib/calibrate.h"

namespace tandem::calib {

// The table: gpu, source, per-class fits, fitted links, Kineto kinds, and one point per shape.
nlohmann::ordered_json calibration_file(const Calibration& c);

// The report: what was read (traces, steps, warm-up), per class and link class the points, the fitted
// parameters and residuals or why the default is kept.
std::string calibration_table(const Calibration& c);
nlohmann::ordered_json calibration_report_json(const Calibration& c);

}  // namespace tandem::calib
