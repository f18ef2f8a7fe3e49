// The chunk-pair window of `tandem simulate --trace-pair`: the simulated timeline cut to one
// steady-state forward+backward pair of one rank and re-based to the pair's start.
#ifdef TANDEM_SIM
#include "app/cmd_simulate_trace.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace tandem::app {

void keep_chunk_pair(trace::Timeline& tl, const ir::StepProgram& program, int64_t rank, const ir::ChunkPair& pair) {
  const std::vector<bool> keep = ir::chunk_pair_ops(program, pair);
  std::erase_if(tl.events, [&](const trace::Event& e) {
    return e.pid != rank || e.id < 0 || size_t(e.id) >= keep.size() || !keep[size_t(e.id)];
  });
  tl.flows.clear();
  int64_t start = std::numeric_limits<int64_t>::max();
  for (const trace::Event& e : tl.events) start = std::min(start, e.start_ns);
  if (tl.events.empty()) start = 0;
  for (trace::Event& e : tl.events) e.start_ns -= start;
  std::erase_if(tl.process_names, [&](const auto& p) { return p.first != rank; });
  std::erase_if(tl.thread_names, [&](const auto& t) { return t.first.first != rank; });
  const auto chunk = [](const ir::ChunkRef& c) { return fmt::format("mb {} chunk {}", c.mb, c.chunk); };
  tl.metadata.extra["trace_pair_stage"] = std::to_string(pair.pp_index);
  tl.metadata.extra["trace_pair_forward"] = chunk(pair.chunks.fwd);
  tl.metadata.extra["trace_pair_backward"] = chunk(pair.chunks.bwd);
  tl.metadata.extra["trace_pair_start_ns"] = std::to_string(start);
}

}  // namespace tandem::app
#endif  // TANDEM_SIM
