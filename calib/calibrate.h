// `tandem calibrate`'s work: from the measurements of traces (op_samples.h), the calibration table's
// points (shape -> time), the default cost model fitted per op class (time = overhead + scale x the
// model's time beyond its launch cost) and the links fitted from communication ops (time = latency +
// bus bytes / bandwidth), each with its residuals. docs/calibrate.md says how to read them.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "calib/linear_fit.h"
#include "calib/op_samples.h"
#include "hw/host_spec.h"

namespace tandem::calib {

// A class needs this many distinct shapes (sizes of the model's time) to be fitted; fewer keep the default.
inline constexpr size_t kMinFitPoints = 3;

struct ClassFit {
  std::string name;                 // hw::model_fit_class
  size_t shapes = 0;                // shapes measured of this class
  std::optional<LinearFit> fit;     // intercept: overhead ns; slope: time scale
  std::string kept_because;         // why no fit (kept at the default), when fit is empty
  double default_overhead_ns = 0.0; // the default model's launch cost of the class
  double default_efficiency = 0.0;  // the default efficiency the scale divides (see efficiency())
  // The efficiency the default model would need to give the fitted times: default / scale.
  double efficiency() const { return fit ? default_efficiency / fit->slope : default_efficiency; }
};

// One kernel class as lined up.
struct ClassLineup {
  std::string name;                 // hw::kernel_fit_class (trace::KernelClass names)
  int64_t measured = 0;             // Kineto kernels of the class
  int64_t simulated = 0;            // ops of the class in the simulated trace
  double measured_ns = 0.0;         // their summed times
  double simulated_ns = 0.0;
  bool paired = false;              // as many of each: paired by rank of time (by phase where the phases agree)
  bool by_phase = false;            // paired within each phase
};

struct LinkClassFit {
  std::string name;                 // "nvlink", "ib"
  size_t sizes = 0;                 // distinct (kind, bus bytes) measured
  int64_t ops = 0;
  std::optional<LinearFit> fit;     // intercept: latency ns; slope: ns per byte
  std::string kept_because;
  double bytes_per_s() const { return fit ? 1e9 / fit->slope : 0.0; }
};

struct CalibrateOptions {
  std::string device;               // the device model to fit (a GPU of hw/'s catalogue, or "host"); "": the traces' GPU
  // The host description (`tandem probe`) when the device is the host; nullptr: the host's classes are
  // not fitted (the report says why) and the points alone are written.
  const hw::HostSpec* host = nullptr;
  SampleOptions samples;
  // A Kineto trace's shapes: tandem's own trace of the same step (`tandem simulate --trace-pair`), whose
  // ops its kernels are lined up with class by class (kineto_lineup.h); nullptr: per kind only.
  const trace::Timeline* shapes = nullptr;
  std::string shapes_path;          // names it in messages and the report
};

struct Calibration {
  std::vector<std::string> inputs;  // trace paths
  Samples samples;
  std::string device;               // the table's `gpu`
  bool device_from_option = false;
  std::string device_missing;       // why classes could not be fitted against a model ("" when they could)
  std::vector<ClassFit> classes;    // every class measured, by name
  std::vector<LinkClassFit> links;  // every link class measured, by name
  std::string shapes_path;          // a Kineto trace's shapes came from this trace ("" : none)
  std::vector<ClassLineup> lineup;  // with them: every kernel class as lined up
};

// Throws io::InputError (exit code 2) for traces that cannot be calibrated from (op_samples.h) and for
// a --device the catalogue does not know.
Calibration calibrate(std::span<const TraceInput> traces, const CalibrateOptions& options = {});

}  // namespace tandem::calib
