// `tandem simulate --trace`: the ranks to keep in the timeline (--trace-ranks, app/rank_list.h). The timeline itself is
// sim::TimelineSink's, built by trace/'s one builder of program timelines (the executor's too).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "app/rank_list.h"
#include "sim/timeline_sink.h"

namespace tandem::app {

using sim::TimelineSink;   // the simulator's timeline (sim/timeline_sink.h)

}  // namespace tandem::app
