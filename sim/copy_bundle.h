// Link loads of a collective on the symmetric and class paths, where each simulated member stands for
// several ranks moving in step (its copies): the Bundle that BundleBuilder gives when fed every copy
// one by one in the same order, bit for bit. A ring member's part is built from its neighbourhood, not
// the whole group; an all-to-all or handshake whose groups are translates of one another by whole
// nodes, each inside one leaf, is built for one group per shape and its loads replicated.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "hw/topology.h"
#include "sim/comm_bundles.h"
#include "sim/program_view.h"

namespace tandem::sim {

// A simulated member of a collective: its op and the ranks it stands for, in the order their parts
// are added (each rank in its own copy of the op).
struct CopyMember {
  const ir::OpInstance* op = nullptr;
  const ir::Comm* comm = nullptr;
  int64_t sms = 0;                     // SMs the op holds on this machine
  std::span<const int64_t> ranks;
};

class CopyBundleBuilder {
 public:
  CopyBundleBuilder(const ProgramView& program, const hw::Topology& topology, BundleBuilder& builder);

  // The parts of every rank of every member, in order; loads kept on the links marked in keep_link
  // (indexed by link; BundleBuilder::finish).
  Bundle build(std::span<const CopyMember> members, const std::vector<char>& keep_link);
  // Bundles built from one group per shape so far.
  uint64_t translated() const { return translated_; }

 private:
  // A communication group as the ranks of a ring need it: the members on each node in group order,
  // and for each member the node its ring leaves to (-1 when the group lies on one node).
  struct Group {
    std::vector<int64_t> ranks;
    std::unordered_map<int64_t, std::vector<int64_t>> on_node;
    std::vector<int64_t> next_node;    // per index in `ranks`
    bool ring_ready = false;
  };
  // The group of `rank` for `op`: group_ranks is asked once per group, not once per member.
  Group& group_of(int64_t rank, const ir::OpInstance& op);
  void prepare_ring(Group& g);
  // The ranks a member's part of a ring depends on (BundleBuilder::ring): the members on its node
  // and on the next node of the ring, in group order; the same part as with the whole group.
  std::span<const int64_t> ring_neighbourhood(Group& g, int64_t rank);
  // One member's part (all-to-all or handshake) added to the builder.
  void add_group_part(const CopyMember& cm, int64_t rank);
  // The bundle from one group per shape, when every group is a translate of its shape's first by whole
  // nodes, lies in one leaf and loads only its own GPUs' links; nullopt otherwise.
  std::optional<Bundle> build_by_translation(std::span<const CopyMember> members, const std::vector<char>& keep_link);

  const ProgramView& program_;
  const hw::Topology& topology_;
  BundleBuilder& builder_;
  struct Place {
    int32_t group, index;   // in groups_, in the group's ranks
  };
  std::unordered_map<int64_t, Place> place_;   // ranks of the groups seen in this build
  std::deque<Group> groups_;           // a deque: references to a group outlive later ones
  std::vector<int64_t> neighbourhood_;
  uint64_t translated_ = 0;
  std::vector<double> scratch_bytes_;
};

}  // namespace tandem::sim
