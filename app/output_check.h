// Checks of the command's inputs that need more than the scenario: output files that must be
// writable before any work starts, and the scenario against the GPU catalogue (a known GPU, fewer
// communication SMs than it has, no more compute SMs). Each failure ends the command with exit code 2.
#pragma once
#include <string>

#include "ir/scenario.h"

namespace tandem::app {

// `path` (given to `option`) can be written the way the writers do it (io::OutputFile: a temporary
// file beside it, then renamed). Creates nothing that stays; ends with exit code 2 and the reason
// otherwise.
void check_output_file(const std::string& path, const std::string& option);

// `dir` (given to `option`) exists as a directory or is created now; exit code 2 otherwise.
void ensure_output_dir(const std::string& dir, const std::string& option);

// The scenario's GPU is in hw/'s catalogue, plan.comm_sms leaves it SMs for compute and
// plan.compute_sms is not more than it has; throws ir::ScenarioError naming the file and the path.
// Does nothing in a build without hw/.
void check_against_hardware(const ir::Scenario& scenario);

}  // namespace tandem::app
