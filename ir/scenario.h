// Scenario: a model, a cluster and a plan, read from one JSON file whose parts are preset names or
// inline objects, with `--set path=value` overrides. Every bad field raises ScenarioError naming the
// file, the JSON path, what was expected and what was found.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/input_error.h"
#include "ir/cluster_config.h"
#include "ir/model_config.h"
#include "ir/parallel_plan.h"
#include "ir/reliability_config.h"

namespace tandem::ir {

// A bad scenario: the file (or preset, or option), the JSON path, what was expected and what was
// found. One kind of io::InputError, so every command answers it with exit code 2.
class ScenarioError : public io::InputError {
 public:
  using io::InputError::InputError;
  const std::string& file() const { return where(); }
};

struct Scenario {
  std::string name;          // file stem or preset name
  std::string source;        // file path (or "preset:<name>")
  ModelConfig model;
  ClusterConfig cluster;
  ParallelPlan plan;
  ReliabilityConfig reliability;   // the "reliability" section (optional): goodput at scale
  nlohmann::json resolved;   // the scenario with presets expanded and overrides applied
};

// Largest scenario file read (bigger files are refused before parsing).
inline constexpr size_t kMaxScenarioFileBytes = 16u << 20;

// `path_or_preset`: a file path, or the name of an embedded scenario ("deepseek-v3-pretrain").
// `overrides`: "plan.pp=8" style; the value is JSON if it parses as JSON, else a string.
Scenario load_scenario(const std::string& path_or_preset, const std::vector<std::string>& overrides = {});
Scenario parse_scenario(const nlohmann::json& doc, const std::string& source,
                        const std::vector<std::string>& overrides = {});

// Validation of the whole scenario (plan against model and cluster); load_scenario calls it.
void validate_scenario(const Scenario& s);

// Embedded presets: "models/<name>", "clusters/<name>", and scenario names.
std::vector<std::string> preset_names();
const std::string* find_preset(const std::string& key);

}  // namespace tandem::ir
