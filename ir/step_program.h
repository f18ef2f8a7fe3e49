// StepProgram: the whole training step as ops per rank and stream, in issue order, with the
// dependencies between them and the matching of sends, receives and collectives across ranks.
// Ranks of one pipeline position share one RankProgram: 2048 ranks hold PP programs, not 2048.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/layer_split.h"
#include "ir/op.h"
#include "ir/op_role.h"
#include "ir/operand_slot.h"
#include "ir/scenario.h"
#include "ir/schedule.h"

namespace tandem::ir {

enum class TensorRole : uint8_t { Weight, Gradient, OptimizerState, Activation };

// How a weight's initial values are drawn (the backend follows it): N(0, 1) tables, N(0, 1/in)
// linears, output projections (the GEMMs that write into the residual stream) scaled by
// 1/sqrt(2·layers), norm weights 1, routing biases 0.
enum class InitClass : uint8_t { None, Table, Linear, OutputProjection, Ones, Zeros };
std::string_view to_string(InitClass c);

// A weight held as one tensor per rank on several ranks (Megatron's tied embeddings): the copies start
// equal and their gradients are all-reduced between those ranks (CommGroup::SharedWeight), so they
// stay equal. Where both users live on one rank they are one tensor and nothing is shared.
enum class SharedWeight : uint8_t { None, Embedding };
// The label both copies of a shared weight draw their initial values from (the original's name).
std::string_view initial_value_key(SharedWeight s);

// How a weight lies on the ranks of a TP group (plan.tp): whole on each (replicated: norms, the MLA
// down-projections, the router, embedding and head; their gradients are reduced over the TP group
// too), or split: Columns holds columns [i·n/tp, (i+1)·n/tp) of a column-parallel [k, n] weight (a
// SwiGLU up-projection [k, 2w]: that slice of each half, gate and up), Rows rows [i·k/tp, (i+1)·k/tp)
// of a row-parallel one.
enum class TpSplit : uint8_t { Replicated, Columns, Rows };

// A tensor of the program: shape only, never data. Activation tensors are per micro-batch. Its
// identity is typed: what it is the gradient or the FP8 copy of, expert or not, how it starts. The
// name is a label for people and timelines; two tensors of one RankProgram never share one.
struct TensorInfo {
  std::string name;                 // e.g. "L5.q_up.w"
  std::array<int64_t, 3> shape{};   // unused trailing dims are 1
  DType dtype = DType::BF16;
  TensorRole role = TensorRole::Activation;
  int32_t chunk = -1;               // model chunk owning it (-1: rank-wide)
  int32_t gradient_of = -1;         // the tensor this one is the gradient of (-1: not a gradient)
  int32_t fp8_copy_of = -1;         // the tensor this one is an FP8 copy of (-1: none)
  bool fp8_transposed = false;      // that copy is transposed (quantised along the token dimension)
  bool step_input = false;          // read from the step's batch (token ids), produced by no op
  bool expert = false;              // a routed expert's weight, or its gradient
  InitClass init = InitClass::None; // weights: how they start
  SharedWeight shared = SharedWeight::None;
  bool shared_replica = false;      // the copy of a shared weight on a rank without the original
  TpSplit tp_split = TpSplit::Replicated;  // weights and their gradients: this rank's part (shape is the part's)
  int64_t bytes() const { return shape[0] * shape[1] * shape[2] * dtype_bytes(dtype); }
  // An activation gradient: every op writing it adds a part; a reader sees the sum (see RankProgram).
  bool accumulates() const { return gradient_of >= 0 && role == TensorRole::Activation; }
};

// In-order queues of a rank: kernels, expert all-to-all and collectives, pipeline point-to-point.
enum class Stream : uint8_t { Compute = 0, Comm = 1, P2P = 2 };
inline constexpr int kStreams = 3;

// An operand of an op: a tensor of the RankProgram and the slot it fills (ir/operand_slot.h).
struct Operand {
  int32_t tensor = -1;
  OperandSlot slot = OperandSlot::Input;
  bool operator==(const Operand&) const = default;
};

// One kernel of one model chunk, the same for every micro-batch. Its operands carry their slots;
// which slots each kind of op has is the table of ir/slot_rules.h. The operand lists keep the order
// the builder wrote them in, which means nothing: read an operand by its slot (in, out), or walk
// the lists for every tensor an op touches (dependencies, checks, memory).
struct OpTemplate {
  OpRole role;
  Phase phase;
  ChunkPart part = ChunkPart::Other;
  Stream stream = Stream::Compute;
  int32_t chunk = -1;               // model chunk (virtual pipeline stage)
  int32_t layer = -1;               // model layer; -1 outside the layers, num_layers for the MTP module
  bool recompute = false;           // a forward op re-run in the backward pass (norms, SwiGLU)
  OpPayload payload;
  std::vector<Operand> inputs, outputs;
  std::string name() const;         // "L5.q_up" style, used as the timeline event name
  // The tensor in slot `s`; throws std::logic_error naming the op and the slot when the op has none
  // there, or several (read those with ins).
  int32_t in(OperandSlot s) const;
  int32_t out(OperandSlot s) const;
  bool has_in(OperandSlot s) const;
  bool has_out(OperandSlot s) const;
  // Every tensor in slot `s`, in operand order (a gradient collective and the optimizer read many).
  std::vector<int32_t> ins(OperandSlot s) const;
};

// One op as issued on a rank: a template executed for one micro-batch (mb = -1 for step-wide ops).
struct OpInstance {
  int32_t tmpl = 0;
  int32_t mb = -1;
  Stream stream = Stream::Compute;
  int64_t tag = -1;                 // communication: equal on all ends of one transfer/collective
};

// The ops of every rank sharing one pipeline position. `ops` is the issue order; each stream runs its
// ops in that order. `deps` (CSR by op index) lists the earlier ops of the same rank an op waits for
// (beyond its stream predecessor); cross-rank waits come from the communication matching.
struct RankProgram {
  int32_t pp_index = 0;
  std::vector<int32_t> chunks;      // model chunks held by this rank
  std::vector<TensorInfo> tensors;
  std::vector<OpTemplate> templates;
  std::vector<int64_t> activation_bytes;  // per chunk in `chunks`: bytes saved for backward per micro-batch
  std::vector<int64_t> chunk_param_count; // per chunk in `chunks`: parameters held (experts: this rank's share)
  std::vector<int64_t> chunk_expert_param_count;  // per chunk: the routed-expert part of it
  std::vector<int64_t> chunk_tp_replicated_param_count;  // per chunk: dense parameters whole on every TP rank
  std::vector<OpInstance> ops;
  std::vector<int32_t> dep_offsets; // size ops.size() + 1
  std::vector<int32_t> deps;
  // Per op: an accumulating gradient is read as the sum of the parts written by ops issued before
  // this index. It is the op itself, except for a weight-gradient (W) op, which reads its output
  // gradient as the B op of the same kernel did: a residual sum's inputs share one gradient tensor
  // that keeps receiving parts, and a schedule may defer W ops past them (ZB1P).
  std::vector<int32_t> gradient_cutoff;
  std::span<const int32_t> deps_of(size_t op) const {
    return {deps.data() + dep_offsets[op], deps.data() + dep_offsets[op + 1]};
  }
  const OpTemplate& tmpl(const OpInstance& op) const { return templates[size_t(op.tmpl)]; }
};

// Where a rank sits in the plan. rank = (pp_index * dp + dp_index) * tp + tp_index: the ranks of one
// stage are adjacent (an EP group of 64 spans 8 consecutive nodes) and so are those of a TP group (one
// node). Experts are split over the stage's dp × tp ranks (expert tensor parallelism 1): with
// stage_index = dp_index * tp + tp_index, ep_group = stage_index / ep, ep_index = stage_index % ep.
struct RankCoord {
  int64_t pp_index = 0, dp_index = 0, ep_group = 0, ep_index = 0, tp_index = 0;
};

// The ranks over which one model chunk's gradients are reduced and its optimizer state is sharded
// (ZeRO-1), per kind of parameter: TP-split dense weights (the copies of the same part: every
// data-parallel index of one TP index), TP-replicated ones (every data-parallel and TP index) and
// routed experts (the ranks of the stage holding the same experts). Each times the copies of the
// chunk the schedule keeps (DualPipe: 2). With tp = 1 the first two are one group.
struct GradientGroups {
  int64_t tp_split = 1, tp_replicated = 1, expert = 1;
};
GradientGroups gradient_groups(const ParallelPlan& plan, const PipelineShape& shape);
// Parameters of one ZeRO shard over `group` ranks (all of them without ZeRO).
int64_t zero_shard(int64_t params, int64_t group, int64_t zero_stage);

// What one op template costs per micro-batch, in the caller's units (hw/modelled_op_cost: modelled
// nanoseconds). The default layer split balances the stages' sums of it.
using OpCostFn = std::function<int64_t(const OpTemplate&)>;

class StepProgram {
 public:
  // Builds the program; throws ScenarioError (see scenario.h) on plans it cannot lay out. Layers go to
  // the model chunks as plan.layers_per_stage says; without it, balanced on `op_cost`'s stage costs
  // (balanced_layer_split), or split evenly when no op_cost is given (docs/schedules.md, "Layer split").
  explicit StepProgram(Scenario scenario, const OpCostFn& op_cost = {});

  const Scenario& scenario() const { return scenario_; }
  const ModelConfig& model() const { return scenario_.model; }
  const ClusterConfig& cluster() const { return scenario_.cluster; }
  const ParallelPlan& plan() const { return scenario_.plan; }
  PipelineShape pipeline() const;

  int64_t num_ranks() const { return scenario_.plan.world_size(); }
  RankCoord coord(int64_t rank) const;
  int64_t rank_of(const RankCoord& c) const;   // from pp_index, dp_index and tp_index
  const std::vector<RankProgram>& roles() const { return roles_; }
  const RankProgram& program_of(int64_t rank) const { return roles_[size_t(coord(rank).pp_index)]; }

  // The layers of each model chunk: [first, last) in model layer numbers; the first chunk also holds
  // the embedding, the last the final norm, output head, loss and the MTP module.
  const std::vector<std::array<int32_t, 2>>& chunk_layers() const { return chunk_layers_; }
  // How the layers were split, with the costs per layer and per stage when op costs were given.
  const LayerSplit& layer_split() const { return layer_split_; }

  // Matching. Send/Recv: the rank at the other end. Collectives and all-to-all: the ranks taking part,
  // in group order (this rank included).
  int64_t peer_rank(int64_t rank, const OpInstance& op) const;
  std::vector<int64_t> group_ranks(int64_t rank, const OpInstance& op) const;
  // What names a collective's group without listing it: equal keys (of ops of any ranks) mean equal
  // group_ranks. {-1, 0, 0} for point-to-point ops.
  struct GroupKey {
    int32_t kind = -1;
    int64_t a = 0, b = 0;
    bool operator==(const GroupKey&) const = default;
  };
  GroupKey group_key(int64_t rank, const OpInstance& op) const;
  // Pipeline positions holding the embedding or the MTP module's copy of it, when the copy exists
  // (the members of a CommGroup::SharedWeight all-reduce); empty when no rank needs a copy.
  const std::vector<int32_t>& shared_weight_holders() const { return shared_embedding_holders_; }
  // All-to-all: bytes this rank sends to each member of group_ranks (by the routing model).
  std::vector<double> a2a_send_bytes(int64_t rank, const OpInstance& op) const;

  size_t total_op_instances() const;      // sum over roles
  size_t memory_footprint_bytes() const;  // approximate heap held by the program

 private:
  Scenario scenario_;
  std::vector<std::array<int32_t, 2>> chunk_layers_;
  LayerSplit layer_split_;
  std::vector<RankProgram> roles_;
  std::vector<double> expert_load_;       // normalised per routed expert (sums to 1)
  std::vector<int32_t> shared_embedding_holders_;
};

}  // namespace tandem::ir
