// Scenario inheritance: a whole scenario or one of its parts (model, cluster, plan) names a "base" — an
// embedded preset or a JSON file — and gives only what changes, merged onto the base as a JSON merge
// patch (RFC 7386: objects merge key by key, null removes a key, anything else replaces).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::ir {

// The scenario document `doc`, read from `file`, with every base expanded (its own and its parts'),
// and every part given as a preset name replaced by the preset's object. No "base" key is left.
// Relative file bases are found beside `file` (beside the working directory for presets and options).
// Throws ScenarioError naming the JSON path of the base that is unknown, not a JSON object of the
// right kind, or part of a cycle (a -> b -> a), or a chain deeper than kMaxBaseChain.
nlohmann::json resolve_bases(const nlohmann::json& doc, const std::string& file);

// A part (`kind`: "model", "cluster" or "plan") given as a preset name, a base or an object, resolved.
nlohmann::json resolve_part_bases(const nlohmann::json& part, const std::string& kind, const std::string& file);

// The resolved JSON of an embedded preset, by the name `tandem presets` lists: a scenario (its parts
// expanded, plan.dp derived, validated as load_scenario does), "models/NAME" or "clusters/NAME" (bases
// expanded). A bare model or cluster name is found when no scenario has it. Throws ScenarioError
// (option `option`) naming the presets when `name` is none of them.
nlohmann::json resolve_preset(const std::string& name, const std::string& option);

// Longest chain of bases followed (a base of a base of ...).
inline constexpr int kMaxBaseChain = 8;

}  // namespace tandem::ir
