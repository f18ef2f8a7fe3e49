// Running one point of a sweep: its scenario loaded with the point's overrides, the simulation's
// options from its sim.* settings, one full simulation, and the record of the outcome — the report,
// or the refusal (bad scenario or options) or failure with its reason, never silently dropped.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "ir/scenario.h"
#include "sweep/sweep_points.h"

namespace tandem::sweep {

// Outcome of a point: "ok" (simulated; out_of_memory may still be true), "refused" (the scenario or
// the options are bad for this point: ep does not divide dp, a straggler beyond the GPUs), "failed"
// (the simulation itself failed: a deadlock).
inline constexpr const char* kStatusOk = "ok";
inline constexpr const char* kStatusRefused = "refused";
inline constexpr const char* kStatusFailed = "failed";

// Checks of a loaded scenario beyond the reader's (the command's check against the GPU catalogue);
// throws io::InputError.
using ScenarioCheck = std::function<void(const ir::Scenario&)>;

// The point's record: describe() plus "status", "reason" (refusals, failures and out-of-memory
// stages; "" otherwise), "out_of_memory" and "report" (`tandem simulate --json --goodput` without its
// "settings" echo; null unless ok). The same point
// gives the same record, whatever thread, process or machine runs it.
// A sim.* setting's value read as run_point reads it: io::InputError (naming `where` and the path)
// when it is not a valid straggler, link fault or mode, so that bad specs stop the sweep before it starts.
void check_sim_setting(const std::string& path, const nlohmann::json& value, const std::string& where);

nlohmann::json run_point(const std::string& scenario, const SweepPoint& point, const ScenarioCheck& check);

}  // namespace tandem::sweep
