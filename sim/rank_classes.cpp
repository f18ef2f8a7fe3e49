// Classes of ranks by role and place in their expert-parallel group (see rank_classes.h).
#include "sim/rank_classes.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <variant>

namespace tandem::sim {

RankClasses expert_place_classes(const ProgramView& program) {
  const int64_t n = program.num_ranks();
  std::vector<int64_t> place(size_t(n), -1), role_ranks, group;
  std::vector<uint32_t> role_of(size_t(n), 0);
  for (size_t role = 0; role < program.roles().size(); ++role) {
    program.ranks_of_role(role, role_ranks);
    const ir::RankProgram& prog = program.roles()[role];
    const ir::OpInstance* a2a = nullptr;
    for (const ir::OpInstance& op : prog.ops) {
      const auto* c = std::get_if<ir::Comm>(&prog.templates[size_t(op.tmpl)].payload);
      if (c && c->kind == ir::CommKind::AllToAllV && c->group == ir::CommGroup::Expert) {
        a2a = &op;
        break;
      }
    }
    for (int64_t m : role_ranks) {
      role_of[size_t(m)] = uint32_t(role);
      if (!a2a) {
        place[size_t(m)] = 0;
        continue;
      }
      if (place[size_t(m)] >= 0) continue;
      // One call per group: every member of a group names the same group.
      program.group_ranks(m, *a2a, group);
      for (size_t i = 0; i < group.size(); ++i) place[size_t(group[i])] = int64_t(i);
      if (place[size_t(m)] < 0) throw std::logic_error("a rank's expert group does not hold the rank itself");
    }
  }
  RankClasses c;
  c.of_rank.assign(size_t(n), 0);
  std::map<std::pair<uint32_t, int64_t>, uint32_t> index;
  for (int64_t r = 0; r < n; ++r) {
    if (place[size_t(r)] < 0) throw std::logic_error("rank " + std::to_string(r) + " plays no role");
    const auto [it, added] = index.try_emplace({role_of[size_t(r)], place[size_t(r)]}, uint32_t(c.ranks.size()));
    if (added) c.ranks.emplace_back();
    c.of_rank[size_t(r)] = it->second;
    c.ranks[it->second].push_back(r);
  }
  return c;
}

}  // namespace tandem::sim
