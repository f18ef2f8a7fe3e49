// Classes of ranks that behave alike, for the class path: ranks of one role at the same place of their
// expert-parallel groups see the same routing (the same bytes to and from the same places), so without
// stragglers or faults they run the same ops at the same times; one rank per class is simulated.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/program_view.h"

namespace tandem::sim {

struct RankClasses {
  std::vector<uint32_t> of_rank;                 // the class of each rank
  std::vector<std::vector<int64_t>> ranks;       // per class its ranks, ascending; the first stands for the others
};

// The classes of (role, index in the group of the role's first expert all-to-all), ordered by their
// first rank; a role without an all-to-all is one class. Premise (ProgramView::a2a_send_bytes): a rank's
// all-to-all bytes depend on its place in its group and its peers' places only, as routing by expert
// load gives them.
RankClasses expert_place_classes(const ProgramView& program);

}  // namespace tandem::sim
