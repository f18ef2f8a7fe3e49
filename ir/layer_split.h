// The split of the model's layers over the schedule's model chunks: the even split, and the split that
// balances what each pipeline stage computes per micro-batch, given a cost per layer and for the
// model's ends (embedding on the first chunk; final norm, head, loss and MTP module on the last).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "ir/schedule.h"

namespace tandem::ir {

// What one micro-batch costs (forward + backward) in each part of the model, in the caller's units
// (the simulator's cost model gives nanoseconds; tests use unit costs). Nothing here knows about time.
struct LayerCosts {
  std::vector<int64_t> layer;     // per model layer
  int64_t first_chunk = 0;        // the embedding, on model chunk 0
  int64_t last_chunk = 0;         // final norm, output head, loss and MTP module, on the last chunk
};

// Where a program's layer counts came from.
enum class SplitSource : uint8_t {
  Given,      // plan.layers_per_stage
  Balanced,   // balanced_layer_split on the modelled costs (the default)
  Even,       // even_layer_split: no costs were given, or the balanced search was too large
};
std::string_view to_string(SplitSource s);   // "given", "balanced", "even"

// A program's layer split and what it was balanced on.
struct LayerSplit {
  SplitSource source = SplitSource::Even;
  std::vector<int64_t> layers;        // per model chunk
  LayerCosts costs;                   // empty (no layers) when the program was built without op costs
  std::vector<int64_t> stage_cost;    // per pipeline rank, from costs (empty without them)
};

// Layers per model chunk: num_layers / chunks each, the remainder to the chunks after the first (the
// first also carries the embedding), then to the first.
std::vector<int64_t> even_layer_split(int64_t num_layers, int32_t chunks);

// The most states (layers taken from the front x from the back, per stage group) balanced_layer_split
// holds, and 64 times as many choices it tries, before it gives up (24 bytes a state): 1F1B is never
// near it; DualPipe reaches it near 1400 layers on pp 2, 500 on pp 16.
inline constexpr int64_t kMaxSplitStates = int64_t(1) << 21;

// Layers per model chunk (at least one each) that balance the stages' costs. A stage's cost is the sum
// of the costs of the chunks its rank holds: one chunk under 1F1B and ZB1P; under DualPipe and
// DualPipeV the pair {c, chunks-1-c}, which the rank runs in every overlapped F&B round; under
// interleaved 1F1B its V chunks {r, r+pp, ...}, which it runs for every micro-batch (a local search
// from the even split, not the exact search below: see layer_split.cpp). The split
//   1. minimises the largest stage cost (which sets the pipeline's pace);
//   2. among those, minimises the sum of squared chunk costs (even chunks within a pair too);
//   3. among those, gives fewer layers to the outermost pair's lower chunk first, then its upper
//      chunk, then the next pair's (for 1F1B: fewer layers to earlier stages, which hold the most
//      live activations).
// With max_stage_layers > 0, no stage holds more layers than that (StepProgram passes the most a stage
// holds in the even split: moving layers off the stages with the model's ends must not pile more on
// the others than the memory of the even split was sized for).
// Exact (a dynamic program over the layers taken from both ends of the model); empty when it would
// pass max_states or no split meets max_stage_layers. Throws std::invalid_argument when there are
// fewer layers than chunks or a cost is negative.
std::vector<int64_t> balanced_layer_split(const LayerCosts& costs, const PipelineShape& shape, int64_t max_stage_layers = 0,
                                          int64_t max_states = kMaxSplitStates);

// Per model chunk: its layers' costs plus the ends it carries.
std::vector<int64_t> chunk_costs(const LayerCosts& costs, const std::vector<int64_t>& layers_per_chunk);
// Per pipeline rank: the summed cost of the chunks it holds (chunks_on_rank).
std::vector<int64_t> stage_costs(const LayerCosts& costs, const std::vector<int64_t>& layers_per_chunk,
                                 const PipelineShape& shape);

// The stage that sets the pace: the largest cost, the lowest index on ties (-1 when empty).
int32_t pace_stage(const std::vector<int64_t>& stage_cost);
// The largest stage cost over the mean (1 when every cost is 0; 0 when empty).
double max_over_mean(const std::vector<int64_t>& stage_cost);

}  // namespace tandem::ir
