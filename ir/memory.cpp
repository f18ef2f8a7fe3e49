// Per-rank memory accounting from the chunk templates and the schedule's peak of live activations.
#include "ir/memory.h"

#include <algorithm>

namespace tandem::ir {

std::vector<RankMemory> rank_memory(const StepProgram& program) {
  const auto& p = program.plan();
  const PipelineShape shape = program.pipeline();
  const PipelineTimes times = evaluate(shape, ChunkCosts{});
  const GradientGroups groups = gradient_groups(p, shape);
  std::vector<RankMemory> out;
  for (const RankProgram& rp : program.roles()) {
    RankMemory m;
    m.pp_index = rp.pp_index;
    m.chunks = rp.chunks;
    int64_t shard = 0;
    for (size_t i = 0; i < rp.chunks.size(); ++i) {
      // The groups of add_step_end (step_program.cpp): with tp = 1 all dense parameters are one.
      const int64_t params = rp.chunk_param_count[i], expert = rp.chunk_expert_param_count[i];
      const int64_t replicated = p.tp > 1 ? rp.chunk_tp_replicated_param_count[i] : 0;
      m.params += params;
      shard += zero_shard(params - expert - replicated, groups.tp_split, p.zero_stage) +
               zero_shard(replicated, groups.tp_replicated, p.zero_stage) + zero_shard(expert, groups.expert, p.zero_stage);
      m.activation_bytes_per_mb = std::max(m.activation_bytes_per_mb, rp.activation_bytes[i]);
    }
    m.weight_bytes = 2 * m.params;
    m.gradient_bytes = 4 * m.params;
    m.optimizer_bytes = (4 + 2 + 2) * shard;
    m.peak_live_micro_batches = times.peak_live_activations[size_t(rp.pp_index)];
    // Activations depend only on the order of chunk tasks on the rank: a forward keeps its chunk's
    // saved tensors until the backward that frees them (the weight-grad part when it is split off).
    int64_t live = 0;
    for (const ChunkTask& task : chunk_order(shape, rp.pp_index)) {
      auto bytes = [&](int32_t chunk) {
        const size_t i = size_t(std::find(rp.chunks.begin(), rp.chunks.end(), chunk) - rp.chunks.begin());
        return rp.activation_bytes[i];
      };
      if (task.kind == ChunkKind::Forward || task.kind == ChunkKind::ForwardBackward) live += bytes(task.fwd.chunk);
      m.activation_peak_bytes = std::max(m.activation_peak_bytes, live);
      if (task.kind == ChunkKind::Backward || task.kind == ChunkKind::BackwardWeight || task.kind == ChunkKind::ForwardBackward)
        live -= bytes(task.bwd.chunk);
    }
    out.push_back(m);
  }
  return out;
}

}  // namespace tandem::ir
