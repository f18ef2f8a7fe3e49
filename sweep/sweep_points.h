// The points of a sweep: the grid's combinations (first axis slowest, the zip axes together as the
// fastest dimension), each with its settings — fixed, axis values, matching per-point overrides,
// derived values — split into scenario overrides (--set strings) and the simulation's own options.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/scenario.h"
#include "sweep/sweep_definition.h"

namespace tandem::sweep {

struct SweepPoint {
  int64_t index = 0;
  nlohmann::json axes;                  // {axis path: value}, the point's coordinates
  std::vector<std::string> overrides;   // "path=JSON" for ir::load_scenario, in the order applied
  nlohmann::json sim;                   // {sim path: value} for the simulation's options (kSimPaths)
  nlohmann::json derived;               // {path: value} computed by the derived rules

  // {"point", "axes", "overrides", "sim", "derived"}: what identifies the point in its result file.
  nlohmann::json describe() const;
};

// The shape the derived rules read when a point does not set it itself.
struct BaseShape {
  int64_t nodes = 0, gpus_per_node = 0, pp = 1, tp = 1, micro_batch_seqs = 1, global_batch_seqs = 1;
  static BaseShape of(const ir::Scenario& s);
};

// All points in index order. Derived values that cannot be computed (a point whose pp × tp does not
// divide its GPUs) are left out: the scenario reader then refuses the point with its own reason.
std::vector<SweepPoint> expand_points(const SweepDefinition& d, const BaseShape& base);

// The multiple of `step` nearest to `target` (ties go down), at least `step`.
int64_t nearest_multiple(int64_t target, int64_t step);

}  // namespace tandem::sweep
