// Classes of ranks that behave alike, for the class path: ranks of one role at the same place of their
// expert-parallel groups see the same routing (the same bytes to and from the same places), so without
// stragglers or faults they run the same ops at the same times; one rank per class is simulated. With
// stragglers or link faults the classes are refined until every member of a class provably does the same.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "hw/topology.h"
#include "sim/program_view.h"

namespace tandem::sim {

struct RankClasses {
  std::vector<uint32_t> of_rank;                 // the class of each rank
  std::vector<std::vector<int64_t>> ranks;       // per class its ranks, ascending; the first stands for the others
  int rounds = 0;                                // refine_classes: rounds until nothing split
};

// The classes of (role, index in the group of the role's first expert all-to-all), ordered by their
// first rank; a role without an all-to-all is one class. Premise (ProgramView::a2a_send_bytes): a rank's
// all-to-all bytes depend on its place in its group and its peers' places only, as routing by expert
// load gives them.
RankClasses expert_place_classes(const ProgramView& program);

// One class per role (the symmetric path's representatives), ordered by their first rank.
RankClasses role_classes(const ProgramView& program);

// The coarsest refinement of `start` in which ranks with different `mark`s lie in different classes and
// every two ranks of a class see the same classes, place by place, in each group they communicate in:
// the group of each collective of their role, the peer of each send and receive, and (with a topology)
// the ranks of their scale-up domain and of their leaf switch, which share their links. Colour refinement
// to a fixed point; classes ordered by their first rank. Premise (as ir::StepProgram gives them): a
// collective's group is a function of the rank, the comm group and the template's chunk; a send's peer of
// the rank and of the peer the role's first rank has for the same op.
RankClasses refine_classes(const ProgramView& program, const RankClasses& start, std::span<const uint64_t> mark,
                           const hw::Topology* topology);

// The classes the class path simulates exactly: expert_place_classes (role_classes under balanced
// routing), refined (refine_classes) where a straggler (its own mark), a degraded or failed link (the ranks
// of its nodes; for a failed one also the GPUs its traffic moves onto, one mark for those alike) sets ranks
// apart. Without stragglers or faults: the start.
RankClasses exact_classes(const ProgramView& program, const hw::Topology& topology, std::span<const int64_t> slow_ranks,
                          std::span<const hw::LinkFault> faults);

}  // namespace tandem::sim
