// Lists of ranks given on the command line ("all", or ranks and ranges like 0,128-135), for the options
// that choose ranks or stages: `tandem simulate --trace-ranks`, `tandem compare --ranks`, and
// `tandem-view --ranks` and `--stages`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tandem::io {

// The ranks of `text`, sorted and without repeats: "all" (every rank below `num_ranks`), or a list of
// ranks and ranges "0,128-135,2047". `num_ranks` <= 0: no upper bound but the 32-bit pid range ("all"
// is then refused). Throws std::invalid_argument naming `option`, what was expected and what was found.
std::vector<int64_t> parse_rank_list(const std::string& text, int64_t num_ranks, const std::string& option);

}  // namespace tandem::io
