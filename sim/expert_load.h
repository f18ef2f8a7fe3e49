// Per-expert load files for skewed-routing what-ifs: a JSON array of non-negative numbers (one per
// routed expert, any scale) or the same numbers separated by whitespace or commas, '#' comments.
#pragma once
#include <string>
#include <vector>

namespace tandem::sim {

// Throws io::InputError naming the source, the position, what was expected and found; files are read
// within 16 MiB, JSON through io's bounded reader.
std::vector<double> parse_expert_load(const std::string& text, const std::string& source, int64_t experts);
std::vector<double> load_expert_load(const std::string& path, int64_t experts);

}  // namespace tandem::sim
