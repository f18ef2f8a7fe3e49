// Running a sweep's points: those without a stored record, this process's share of them (every
// size-th from its rank), on `jobs` threads, each record stored as it finishes; and the records of
// all points gathered back, sorted by point, whichever way they were run.
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweep/point_runner.h"
#include "sweep/sweep_directory.h"

namespace tandem::sweep {

struct RunShare {
  int jobs = 1;              // threads in this process
  int rank = 0, ranks = 1;   // this process among those sharing the sweep
  bool progress = true;      // a progress line on a terminal
};

struct RunCounts {
  size_t stored = 0;   // points whose record was already there (a resumed sweep)
  size_t ran = 0;      // points this process simulated
};

// Throws io::OutputError when a record cannot be written (the first such error, after the threads end).
RunCounts run_points(const std::string& scenario, const std::vector<SweepPoint>& points, const SweepDirectory& dir,
                     const ScenarioCheck& check, const RunShare& share);

// Every point's stored record, in point order. Throws std::runtime_error naming a point without one.
std::vector<nlohmann::json> gather_records(const std::vector<SweepPoint>& points, const SweepDirectory& dir);

}  // namespace tandem::sweep
