// The measurements `tandem calibrate` fits, taken from traces: per op identity (rank, id) the median
// of its times over the steps kept (the first steps dropped as warm-up), then per shape (hw/'s
// calibration key) the median over the identities of that shape; communication ops with their bus
// bytes and link class; Kineto traces, which carry no shapes, per kind only.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/op.h"
#include "trace/timeline.h"

namespace tandem::calib {

struct TraceInput {
  std::string path;                 // names the trace in messages
  const trace::Timeline* timeline = nullptr;
};

struct SampleOptions {
  int64_t warmup = -1;              // steps dropped at the start of each trace; < 0: 1 when it holds >= 3, else 0
  std::string warmup_option = "--warmup";   // named in errors
  // The time on the whole device of an op that ran `time_ns` on `sms` SMs (the event's `sms` arg, > 0);
  // unset: times are taken as they are.
  std::function<double(const ir::OpPayload& op, int32_t sms, double time_ns)> whole_device_time;
  // Host traces: the part of a core a compute op's thread got while `running` compute ops (its own
  // included, the mean over its time, every rank of the trace) shared the machine, as the simulator
  // shares it (hw::HostSpec); its time on a whole core is its time times that. Unset: taken as it is.
  std::function<double(double running)> core_share;
};

// One shape of a compute kind (calibration key and size), with its median time.
struct ShapeSample {
  ir::OpPayload payload;
  std::string kind;                 // the trace's op kind
  double time_ns = 0.0;             // median over the identities of this shape (each a median over steps)
  int64_t identities = 0;           // ops of the program with this shape
  int64_t instances = 0;            // their executions in the steps kept
};

// One communication op of the program (an identity), with its median transfer time.
struct CommSample {
  ir::Comm comm;
  std::string kind;                 // "all_to_all", "send", ...
  double time_ns = 0.0;             // median over steps of the time from the last member's start to its end
  double bus_bytes = 0.0;           // bytes over the bottleneck link (hw::bus_bytes_factor)
  bool across_nodes = false;        // link class: "ib" when true, else "nvlink"
  int32_t rank = 0;
  int64_t id = -1;
};

// A kind of a trace without shapes (Kineto): what can be said without them.
struct KindSample {
  std::string kind;
  int64_t count = 0;
  double median_ns = 0.0, total_ns = 0.0;
};

struct Samples {
  std::string source;               // "cpu", "cuda", "sim" or "kineto" (every trace the same)
  std::string device;               // the traced scenario's GPU (metadata "gpu"); "" when not recorded
  std::string scenario;
  int64_t steps_held = 0;           // the most distinct steps one trace held
  int64_t warmup = 0;               // steps dropped at the start of each trace
  bool warmup_default = true;       // whether the count was chosen (not given)
  int64_t events = 0;               // events read (all traces)
  int64_t ops_used = 0;             // op executions measured (after warm-up)
  int64_t zero_time = 0;            // shapes or ops whose median time was 0 (left out)
  std::vector<ShapeSample> shapes;  // sorted by (key, size)
  std::vector<CommSample> comms;    // sorted by (rank, id)
  std::vector<KindSample> kinds;    // Kineto: per kind, by name
  std::map<std::string, int64_t> unknown_kinds;   // Kineto kernels no kind was found for: counted, not guessed
};

// Throws io::InputError (exit code 2) on traces that cannot be calibrated from: no ops, an op whose
// kind or payload args cannot be read (naming the event), traces of different sources, devices,
// models or plans (naming what differs), a warm-up that leaves no step.
Samples collect_samples(std::span<const TraceInput> traces, const SampleOptions& options = {});

// The median of `v` (the mean of the two middle values for an even count); `v` is reordered.
double median(std::vector<double>& v);

}  // namespace tandem::calib
