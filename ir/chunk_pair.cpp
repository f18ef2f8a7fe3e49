// The steady-state chunk pair of a pipeline position and the ops that belong to it.
#include "ir/chunk_pair.h"

#include <stdexcept>
#include <variant>

#include <fmt/format.h>

namespace tandem::ir {

ChunkPair steady_chunk_pair(const StepProgram& program, int64_t pp_index, const char* option) {
  const PipelineShape shape = program.pipeline();
  if (pp_index < 0 || pp_index >= shape.pp)
    throw std::invalid_argument(fmt::format("{}: expected a pipeline stage in [0, {}], found {}", option, shape.pp - 1, pp_index));
  const std::vector<ChunkTask> order = chunk_order(shape, int32_t(pp_index));
  std::vector<int32_t> pairs;
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i].kind == ChunkKind::ForwardBackward) pairs.push_back(int32_t(i));
  if (pairs.empty())
    throw std::invalid_argument(fmt::format(
        "{}: expected a schedule that overlaps a forward with a backward chunk (dualpipe, dualpipev) and a stage that "
        "runs such pairs, found {} with none on stage {}",
        option, to_string(shape.kind), pp_index));
  const int32_t task = pairs[pairs.size() / 2];
  return {int32_t(pp_index), task, order[size_t(task)]};
}

std::vector<bool> chunk_pair_ops(const StepProgram& program, const ChunkPair& pair) {
  const RankProgram& rp = program.roles()[size_t(pair.pp_index)];
  std::vector<bool> keep(rp.ops.size(), false);
  for (size_t i = 0; i < rp.ops.size(); ++i) {
    const OpInstance& op = rp.ops[i];
    const OpTemplate& t = rp.tmpl(op);
    if (const auto* c = std::get_if<Comm>(&t.payload); c && c->group != CommGroup::Expert) continue;
    const ChunkRef ref{op.mb, t.chunk};
    keep[i] = t.phase == Phase::F ? ref == pair.chunks.fwd : (t.phase == Phase::B || t.phase == Phase::W) && ref == pair.chunks.bwd;
  }
  return keep;
}

}  // namespace tandem::ir
