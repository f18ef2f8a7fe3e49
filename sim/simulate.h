// Replay of a training-step program on a model of the cluster: the entry point of sim/.
// Full path: every rank. Symmetric path: one representative rank per role (balanced routing, no
// stragglers or faults), its collectives standing for every copy of the role moving in step.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "hw/host_spec.h"
#include "hw/topology.h"
#include "ir/cluster_config.h"
#include "sim/program_view.h"
#include "sim/progress.h"
#include "sim/rank_classes.h"
#include "trace/measures.h"

namespace tandem::sim {

// Full: every rank. Symmetric: one rank per role (balanced routing). Classes: one rank per class of
// ranks that behave alike (sim/rank_classes.h: the same routing; with stragglers or link faults, split
// where those set ranks apart).
enum class Mode : uint8_t { Auto, Full, Symmetric, Classes };
const char* to_string(Mode m);

// A GPU whose kernels take `factor` times as long (thermal throttling, a weak part).
struct Straggler {
  int64_t rank = 0;
  double factor = 1.0;
};
// Largest slow-down a straggler may have (its kernel times must stay inside the engine's clock).
inline constexpr double kMaxStragglerFactor = 1000;
// "RANK:FACTOR" with 1 <= FACTOR <= kMaxStragglerFactor, e.g. "17:1.25". Throws std::invalid_argument.
Straggler parse_straggler(const std::string& spec);

// One executed op, for timelines.
struct OpRecord {
  int64_t rank;
  uint32_t role;
  int32_t op;             // index into the role's RankProgram::ops
  uint8_t stream;
  int32_t sms;            // SMs it ran on (compute: its share at start; communication: SMs held)
  int64_t start_ns, end_ns;
};

class OpSink {
 public:
  virtual ~OpSink() = default;
  virtual void record(const OpRecord& r) = 0;
};

struct SimOptions {
  Mode mode = Mode::Auto;
  std::vector<Straggler> stragglers;
  std::vector<hw::LinkFault> link_faults;
  hw::CostParams cost;
  hw::NetworkParams network;
  const hw::CalibrationTable* calibration = nullptr;
  // The host device's description (cluster.gpu "host"; required then, refused otherwise): ranks and
  // streams are threads sharing its cores; always the full path (docs/host.md).
  const hw::HostSpec* host = nullptr;
  OpSink* sink = nullptr;
  std::vector<int64_t> trace_ranks;   // ranks whose ops go to the sink; empty: every simulated rank
  // Called every kProgressEvents events with where the replay stands; it must not touch the
  // simulation (a progress line on a terminal, say).
  std::function<void(const SimProgress&)> progress;
  // Wall-clock bound: checked when the replay starts and every kProgressEvents events; past it,
  // simulate() throws TimeLimitReached (sim/progress.h). The default never comes.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};
inline constexpr uint64_t kProgressEvents = uint64_t(1) << 16;

// Time accounting of one simulated rank. The step's measures (phases, bubble, exposed communication
// with the cause of each compute gap) are trace/'s, taken as the ops complete: the same numbers the
// measures of the step's timeline give (docs/timeline.md, "Measures"); comm_ns and overlap_ns stay 0.
struct RankStats {
  int64_t rank = 0;
  uint32_t role = 0;
  double weight = 1;                  // ranks it stands for (symmetric path: the role's size)
  trace::RankMeasures measures;
  int64_t end_ns = 0;                 // its last op's end
  double compute_sm_ns = 0, comm_sm_ns = 0;   // SM-time of compute and communication kernels
  int64_t static_bytes = 0;           // weights, gradients, optimizer state
  int64_t activation_peak_bytes = 0;  // largest sum of live saved activations
  uint64_t ops = 0;
};

struct SimResult {
  std::string scenario;
  Mode mode = Mode::Full;
  int64_t num_ranks = 0;
  const hw::GpuSpec* gpu = nullptr;
  int64_t step_ns = 0;
  double tokens = 0;                            // tokens per step
  double model_flops = 0, model_flops_causal = 0;   // per step, whole cluster (GEMM + attention)
  std::vector<RankStats> ranks;                 // simulated ranks
  std::array<double, hw::kLinkKinds> link_bytes{};     // bytes moved per link kind, whole cluster
  std::array<double, hw::kLinkKinds> link_capacity{};  // summed capacity per link kind (bytes/s)
  uint64_t events = 0, transfers = 0, solves = 0, ops = 0;
  uint64_t calibrated_kernels = 0, extrapolated_kernels = 0;   // kernel estimates from the table
  double wall_s = 0;
};

// The path a replay takes and, on the class path, its classes. Auto: symmetric under balanced routing
// without stragglers or faults; else classes (exact_classes), unless stragglers or faults leave every rank a
// class of its own (then full); full where scale-up domains cut a stage's groups unlike.
// Throws std::invalid_argument where the path asked for does not fit (as simulate()).
struct PathChoice {
  Mode mode = Mode::Full;
  RankClasses classes;   // Mode::Classes
};
PathChoice choose_path(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options);

// Throws std::invalid_argument on options that do not fit the program (a symmetric path asked for
// skewed routing, stragglers or faults, a class path for ranks on unlike scale-up domains; a straggler
// or traced rank out of range) and std::runtime_error when the program deadlocks (naming the stuck ops),
// TimeLimitReached past options.deadline.
SimResult simulate(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options = {});

}  // namespace tandem::sim
