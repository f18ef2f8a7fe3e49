// Ranking a sweep's points by one figure (`tandem sweep --top K --by FIGURE`): only points that were
// simulated and fit in memory take part; the direction follows the figure (times and costs: lower
// is better; throughput and MFU: higher).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::sweep {

// Times (names ending in _s), fractions of waiting, costs and memory: lower is better.
bool lower_is_better(const std::string& figure);

// The best `k` records by `figure` (ties: the lower point first). Throws io::InputError (naming
// `option`) when no simulated point has the figure, listing some that exist.
std::vector<nlohmann::json> top_points(const std::vector<nlohmann::json>& records, const std::string& figure, size_t k,
                                       const std::string& option = "--by");

// The table printed for them: rank, point, the axes, the figure.
std::string top_table(const std::vector<nlohmann::json>& top, const std::vector<std::string>& axis_paths,
                      const std::string& figure, size_t fitting, size_t total);

}  // namespace tandem::sweep
