// Whether the ranks of a pipeline stage sit alike on the cluster's scale-up domains: the condition under
// which one representative rank per stage stands exactly for the others (the simulator's symmetric path).
// A 72-GPU NVL72 domain cuts EP groups of 64 differently from one copy to the next; 8-GPU nodes do not.
#pragma once
#include <cstdint>

namespace tandem::ir {

// stage_ranks: the adjacent ranks of one stage (dp × tp); ep: the expert-parallel group (adjacent ranks
// within a stage); domain: GPUs per scale-up domain. True when every stage lies inside one domain, or
// stages start on domain boundaries and each EP group is whole domains or lies inside one.
bool stage_ranks_alike_on_domains(int64_t stage_ranks, int64_t ep, int64_t domain);

}  // namespace tandem::ir
