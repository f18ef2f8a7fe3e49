// Pipeline schedules as generators of per-rank chunk orders (1F1B, ZB1P = ZB-H1, DualPipe, DualPipeV,
// Megatron-LM's interleaved 1F1B),
// plus a unit-cost evaluator that replays those orders to get the makespan, per-rank idle time and peak
// live activations. Self-contained (std only); conventions and the exact sense of the bubble formulas
// are written down in docs/schedules.md.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tandem::ir {

enum class ScheduleKind : uint8_t { OneFOneB, ZeroBubble1P, DualPipe, DualPipeV, Interleaved };

std::string_view to_string(ScheduleKind kind);  // "1f1b", "zb1p", "dualpipe", "dualpipev", "interleaved"
std::optional<ScheduleKind> parse_schedule(std::string_view name);

enum class ChunkKind : uint8_t {
  Forward,
  Backward,         // full backward: input grad and weight grad together
  BackwardInput,    // input-grad part only; its BackwardWeight comes later in the same rank's order
  BackwardWeight,   // weight-grad part of an earlier BackwardInput
  ForwardBackward,  // DualPipe overlapped pair: Forward of `fwd` with a full Backward of `bwd`
};
std::string_view to_string(ChunkKind kind);  // "F", "B", "BI", "W", "FB"

// One micro-batch passing through one model chunk (virtual stage). Model chunks are numbered along the
// model from the embedding (0) to the loss (model_chunks - 1), whatever the direction of the pipeline.
struct ChunkRef {
  int32_t mb = -1;
  int32_t chunk = -1;
  friend bool operator==(const ChunkRef&, const ChunkRef&) = default;
};

// fwd is valid for Forward and ForwardBackward; bwd for Backward, BackwardInput, BackwardWeight and
// ForwardBackward. The unused one stays {-1, -1}.
struct ChunkTask {
  ChunkKind kind = ChunkKind::Forward;
  ChunkRef fwd;
  ChunkRef bwd;
  friend bool operator==(const ChunkTask&, const ChunkTask&) = default;
};

struct PipelineShape {
  ScheduleKind kind = ScheduleKind::OneFOneB;
  int32_t pp = 1;              // ranks in one pipeline
  int32_t micro_batches = 1;   // micro-batches per step (for DualPipe: both directions together)
  int32_t virtual_stages = 1;  // model chunks per rank under interleaved 1F1B (Megatron's virtual pipeline size)
};

// Limits that keep every index in int32 and the evaluator's tables small.
inline constexpr int32_t kMaxPipelineRanks = 1 << 16;
inline constexpr int32_t kMaxMicroBatches = 1 << 20;
inline constexpr int32_t kMaxVirtualStages = 1 << 10;

// Throws std::invalid_argument naming the schedule, the field, what was expected and what was found:
// pp < 1, micro_batches < 1, DualPipe with odd pp, odd micro-batches or fewer than 2 * pp micro-batches,
// DualPipeV with fewer than 2 * pp micro-batches (the assertions of the public DualPipe code);
// interleaved with fewer than 2 virtual stages or micro-batches not a multiple of pp (Megatron-LM's), and
// virtual_stages other than 1 for the other schedules.
void validate(const PipelineShape& shape);

// Model chunks the layers are split into: 1f1b, zb1p: pp; dualpipe: pp (each held by two ranks, one per
// direction); dualpipev: 2 * pp (two per rank, in a V); interleaved: pp * virtual_stages (chunk c on rank
// c mod pp). This is the "PP" of the DualPipe README's table.
int32_t model_chunks(const PipelineShape& shape);
// The rank that runs `chunk` for micro-batch `mb` (DualPipe: depends on the micro-batch's direction).
int32_t chunk_rank(const PipelineShape& shape, int32_t chunk, int32_t mb);
// Model chunks whose parameters `rank` holds, ascending (1 for 1f1b/zb1p, 2 for dualpipe/dualpipev,
// virtual_stages for interleaved: rank, rank + pp, ...).
std::vector<int32_t> chunks_on_rank(const PipelineShape& shape, int32_t rank);
// Parameter bytes held per rank relative to a 1F1B rank of the same pp: dualpipe 2 (two stages of
// 1/pp of the model each), the others 1 (dualpipev holds two chunks of 1/(2 pp) each).
int32_t parameter_copies(const PipelineShape& shape);
// Issue order of the chunk tasks on one rank.
std::vector<ChunkTask> chunk_order(const PipelineShape& shape, int32_t rank);

// ---- unit-cost evaluation ----

// Cost of each task kind in arbitrary time units. b: input-grad part, w: weight-grad part (a full
// Backward costs b + w); fb: an overlapped pair of a Forward and a full Backward.
struct ChunkCosts {
  double f = 1;
  double b = 1;
  double w = 1;
  double fb = 2;
};

struct TaskTime {
  double start = 0;
  double end = 0;
};

struct PipelineTimes {
  double makespan = 0;                         // latest end over all ranks; every rank starts at 0
  std::vector<double> busy;                    // per rank: summed task costs
  std::vector<double> idle;                    // per rank: makespan - busy (head, gaps and tail)
  std::vector<int32_t> peak_live_activations;  // per rank, in (micro-batch, model chunk) units
  std::vector<std::vector<TaskTime>> tasks;    // per rank, aligned with chunk_order(shape, rank)
};

// Replays chunk_order of every rank with the costs; see evaluate_orders.
PipelineTimes evaluate(const PipelineShape& shape, const ChunkCosts& costs);

// Replays the given per-rank orders (one list per rank). Each rank runs its tasks strictly in order;
// a task starts when the rank is free and its dependencies have ended (point-to-point time 0):
//   F(c, mb) after F(c-1, mb);
//   the input-grad part of B(c, mb) (Backward, BackwardInput, or the bwd of ForwardBackward) after
//   F(c, mb) and after the input-grad part of B(c+1, mb) (the last chunk: after its own F);
//   W(c, mb) after BackwardInput(c, mb).
// An activation is live on its rank from the start of its Forward until the end of the last backward
// task that reads it: the full Backward, or the BackwardWeight when the backward is split (the weight
// gradient needs the stored input). Throws std::logic_error when an order is incomplete, places a task
// on the wrong rank, or deadlocks (message names the stuck tasks).
PipelineTimes evaluate_orders(const PipelineShape& shape, const std::vector<std::vector<ChunkTask>>& orders,
                              const ChunkCosts& costs);
// The same with a cost per model chunk (chunk_costs[c] for the tasks of chunk c; a ForwardBackward pair
// costs its forward chunk's fb): chunks that differ, as a model's ends make them. Throws
// std::invalid_argument unless there is one entry per model chunk.
PipelineTimes evaluate_orders(const PipelineShape& shape, const std::vector<std::vector<ChunkTask>>& orders,
                              const std::vector<ChunkCosts>& chunk_costs);

// Throws std::logic_error unless every (mb, chunk) has exactly one Forward, one input-grad backward and
// one weight-grad backward (a full Backward or ForwardBackward counts as both), each on chunk_rank, and
// every BackwardWeight follows its BackwardInput on the same rank.
void check_orders(const PipelineShape& shape, const std::vector<std::vector<ChunkTask>>& orders);

// The bubble of the DualPipe README's table with PP = model_chunks(shape) and B = b + w (full backward):
// 1f1b (PP-1)(F+B), zb1p (PP-1)(F+B-2W), dualpipe/dualpipev (PP/2-1)(F&B+B-3W); interleaved
// (pp-1)(F+B)/V with F and B a whole stage's (V chunks), i.e. (pp-1)(f+b+w) in chunk costs.
double published_bubble(const PipelineShape& shape, const ChunkCosts& costs);

// Largest per-rank idle time: the sense in which the DualPipe formula holds (docs/schedules.md).
double max_idle(const PipelineTimes& times);

}  // namespace tandem::ir
