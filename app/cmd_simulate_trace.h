// `tandem simulate --trace`: the ranks to keep in the timeline (--trace-ranks). The timeline itself is
// sim::TimelineSink's, built by trace/'s one builder of program timelines (the executor's too).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/timeline_sink.h"

namespace tandem::app {

using sim::TimelineSink;   // the simulator's timeline (sim/timeline_sink.h)

// "all", or a list of ranks and ranges: "0,128-135,2047". Throws std::invalid_argument.
std::vector<int64_t> parse_rank_list(const std::string& text, int64_t num_ranks);

}  // namespace tandem::app
