// Shapes for a Kineto trace, which carries none: its kernels lined up, kernel class by kernel class,
// with the ops of tandem's own trace of the same step (`tandem simulate --trace-pair`), whose args hold
// each op's payload. Where a class has as many kernels as ops they pair by rank of time and give
// points by shape; where it has not, the class is fitted from its totals. docs/calibrate.md, "Kineto".
#pragma once
#include <string>
#include <vector>

#include "calib/calibrate.h"
#include "hw/cost_model.h"
#include "trace/timeline.h"

namespace tandem::calib {

// The simulated ops stand for a class's measured kernels when they are at least this share of them
// (the router's 7 kernels per layer in one op: yes; 4 residual adds for 315 PyTorch glue kernels: no).
inline constexpr double kMinSimulatedShare = 0.25;

struct KinetoLineup {
  std::vector<ShapeSample> shapes;  // from the paired classes, as collect_samples sorts them
  std::vector<ClassFit> classes;    // per kernel class: least squares over its shapes, or from its totals
  std::vector<ClassLineup> lineup;  // every class seen on either side, by name
};

// `measured`: a Kineto trace read through a map (its kernels carry their class); `simulated`: tandem's
// trace of the same step. `model` is the device's default model. Throws io::InputError when the
// simulated trace is not tandem's own (no payload args to read), naming `simulated_path`.
KinetoLineup line_up_kineto(const trace::Timeline& measured, const trace::Timeline& simulated,
                            const std::string& simulated_path, const hw::CostModel& model);

}  // namespace tandem::calib
