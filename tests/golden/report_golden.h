// Golden reports of `tandem simulate --json`: the report in its pinned form (times as integers of
// nanoseconds) and the field-by-field difference between two of them, shared by the test that checks
// tests/golden/*.json and by the tool that scripts/refresh-golden.sh runs to rewrite them.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::golden {

// Bad input (a golden file, a report, an option): one line naming it, what was expected, what was found.
struct GoldenError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A golden file: {"command": [arguments of tandem], "report": pinned report}.
struct GoldenFile {
  std::vector<std::string> command;   // e.g. {"simulate", "scenarios/tiny.json", "--json"}
  nlohmann::json report;
};

// The pinned form of a report: every number under a key ending in "_s" becomes an integer of
// nanoseconds under the same key ending in "_ns" (llround of seconds x 1e9); rates ("_per_s") and
// everything else are kept.
nlohmann::json pinned_form(const nlohmann::json& report);

// Relative tolerance for numbers that are not integers (MFU, fractions, tokens/s): nine significant
// digits. Integers (nanoseconds, bytes, counts) must be equal.
inline constexpr double kRelativeTolerance = 1e-9;

// One field that differs: its JSON path (e.g. "phases.bubble_ns", "stages[1].memory_peak_bytes") and
// the old and new values as JSON text ("(absent)" when the field is missing on that side).
struct FieldChange {
  std::string path;
  std::string old_value, new_value;
  std::string change;   // "+1234 (+0.012%)" for numbers, empty otherwise
};

// Every field of `now` and `old` (pinned forms) whose value moved, in document order.
std::vector<FieldChange> diff(const nlohmann::json& old, const nlohmann::json& now);

// The changes as an aligned table, one field per line.
std::string describe(const std::vector<FieldChange>& changes);

// Reads and writes golden files; read throws GoldenError naming the file and JSON path.
GoldenFile read_golden(const std::string& path);
std::string golden_text(const GoldenFile& g);   // indented JSON, one field per line, final newline

// Runs `tandem` (binary path) with `command` in `source_dir` and returns the pinned form of the JSON it
// prints. Throws GoldenError when it fails or prints something that is not a JSON object.
nlohmann::json run_report(const std::string& tandem, const std::string& source_dir,
                          const std::vector<std::string>& command);

}  // namespace tandem::golden
