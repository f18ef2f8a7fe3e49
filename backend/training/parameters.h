// The parameters one rank holds: working weights (BF16-rounded), FP32 gradient accumulators, the
// FP8 copies the GEMMs read (128x128 blocks, cached per weight version), and the ZeRO-1 shards of the
// optimizer state (FP32 master weights, BF16 moments) in the flat order shared by a group's members.
// Initial values depend only on the seed, the program's initialisation class, the weight's label (the
// original's for the copies of a shared weight) and the expert index, not on the plan (a TP part is
// its slice of the whole weight).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/execution/values.h"
#include "ir/step_program.h"

namespace tandem::backend {

// How a weight is used, which decides its storage layout.
enum class ParamKind : uint8_t {
  Linear,   // stored [experts][out, in], the transpose of the IR's [in, out]
  Table,    // embedding table [vocab, hidden], as the IR has it
  Vector,   // norm weights [n]
  Bias,     // routing bias [experts]: not trained by the optimizer, updated by the load rule
};

struct Param {
  std::string name;            // the IR tensor name, e.g. "L3.q_up.w"
  int32_t tensor = -1;         // index of the weight tensor in the RankProgram
  int32_t grad_tensor = -1;    // index of its gradient tensor (-1 for the routing bias)
  int32_t chunk = -1;
  ParamKind kind = ParamKind::Linear;
  ir::InitClass init = ir::InitClass::None;
  ir::SharedWeight shared = ir::SharedWeight::None;   // held on several ranks, kept equal
  bool shared_replica = false; // the copy on a rank without the original: not counted in the gradient norm
  bool expert = false;         // routed-expert weight (sharded over the expert-data group)
  int64_t experts = 1;         // local experts held (1 for non-expert weights)
  int64_t first_expert = 0;    // global index of local expert 0
  int64_t rows = 0, cols = 0;  // per expert, as stored: Linear [out, in], Table [vocab, hidden], Vector [1, n]
  // Tensor parallelism (plan.tp > 1): this rank's part of a split Linear weight (rows and cols are the
  // part's). Columns of the IR's [in, out] are stored rows [index·rows, (index+1)·rows) of the whole;
  // Rows are stored columns alike. A SwiGLU up-projection's stored rows are [gate | up]: the part holds
  // the same slice of each half (`halves`).
  ir::TpSplit tp_split = ir::TpSplit::Replicated;
  int64_t tp_parts = 1, tp_index = 0;
  bool halves = false;
  std::vector<float> value;    // [experts, rows, cols]
  std::vector<float> grad;     // same shape, FP32, summed over micro-batches
  int64_t version = 0;         // bumped whenever `value` changes

  int64_t per_expert() const { return rows * cols; }
  int64_t size() const { return experts * rows * cols; }
  // The whole weight this rank holds a part of (per expert; the part itself when not split).
  int64_t whole_rows() const { return tp_split == ir::TpSplit::Columns ? rows * tp_parts : rows; }
  int64_t whole_cols() const { return tp_split == ir::TpSplit::Rows ? cols * tp_parts : cols; }
  int64_t whole_per_expert() const { return whole_rows() * whole_cols(); }
  // Element `i` of one expert's part, as an index into that expert's whole weight.
  int64_t whole_index(int64_t i) const;
  // How many elements from `i` on (at most n) lie one after another in the whole weight too.
  int64_t whole_run(int64_t i, int64_t n) const;
  // Name of the element block for checkpoints and the initialisation seed: "L3.experts.up.w" + "[e]"
  // for experts; the original's label for every copy of a shared weight ("embed.embedding.w").
  std::string entry_name(int64_t local_expert) const;

  // FP8 copy of expert `e` (Block128x128 over [rows, cols]), or of its transpose [cols, rows].
  const Fp8Matrix& fp8(int64_t e, bool transposed, bool pow2_scales) const;

 private:
  mutable std::mutex fp8_mutex_;
  mutable int64_t fp8_version_ = -1;
  mutable std::vector<std::unique_ptr<Fp8Matrix>> fp8_, fp8_t_;
};

// Elements of one chunk's parameters of one kind in one flat order, split into equal shards over the
// ranks of its ZeRO group; this rank owns [lo, hi). The kinds are the program's gradient reductions:
// Data (dense parameters; with tp > 1 the TP-split ones), ReplicatedData (with tp > 1 the dense ones
// whole on every TP rank) and ExpertData (routed experts).
struct ParamShard {
  int32_t chunk = -1;
  ir::CommGroup kind = ir::CommGroup::Data;
  std::vector<Param*> params;    // sorted by name: the same order on every member
  int64_t total = 0;             // elements
  std::vector<int> group;        // ranks in group order; {this rank} when there is no collective
  int member = 0;
  int64_t shard = 0;             // ceil(total / group size)
  int64_t lo = 0, hi = 0;
  bool all_reduced = false;      // without ZeRO: every member of the group holds and updates [0, total)
  std::vector<float> master;     // [hi - lo] FP32
  std::vector<float> m, v;       // [hi - lo] BF16-rounded moments
  std::vector<float> reduced;    // [shard] the reduced gradient of this rank's range
  // The ranges of `reduced` (offset, count) the gradient norm counts: all but the copies of shared
  // weights, whose gradient equals the original's and is counted on the original's rank; of an
  // all-reduced gradient, which every member holds, the member's 1/group of it (each element once).
  std::vector<std::pair<int64_t, int64_t>> norm_ranges() const;
  // Copies flat elements [from, from + n) of the values (or gradients) into out.
  void gather(bool grads, int64_t from, int64_t n, float* out) const;
  // Writes flat elements [from, from + n) of the values from `in` (bumps versions).
  void scatter_values(int64_t from, int64_t n, const float* in);
};

// Numbers of the initialisation (the classes are ir::InitClass): N(0, 1) tables, N(0, 1/in)
// linears, output projections scaled by 1/sqrt(2·layers), norm weights 1, biases 0.
struct InitConfig {
  uint64_t seed = 1;
  int64_t num_layers = 1;
};

class ParamStore {
 public:
  // The weights of `program`'s rank `rank`. `exact`: keep FP32 working values (no BF16 rounding).
  ParamStore(const ir::StepProgram& program, int64_t rank, const InitConfig& init, bool exact);

  std::vector<std::unique_ptr<Param>>& params() { return params_; }
  const std::vector<std::unique_ptr<Param>>& params() const { return params_; }
  Param& by_tensor(int32_t tensor) const;       // weight tensor -> param (throws if none)
  Param& by_grad_tensor(int32_t tensor) const;  // gradient tensor -> param
  Param* find(const std::string& name) const;
  std::vector<ParamShard>& shards() { return shards_; }
  const std::vector<ParamShard>& shards() const { return shards_; }
  ParamShard& shard_of(int32_t chunk, ir::CommGroup kind);   // kind: the gradient reduction's group
  void zero_grads();
  int64_t total_elements() const;

  // The FP32 initial values of a parameter (what every rank computes for the same name and experts):
  // of a TP part, its slice of the whole weight's, so every tp starts from the same model.
  static std::vector<float> initial_values(const Param& p, const InitConfig& init);

 private:
  std::vector<std::unique_ptr<Param>> params_;
  std::unordered_map<int32_t, Param*> by_tensor_, by_grad_;
  std::vector<ParamShard> shards_;
};

}  // namespace tandem::backend
