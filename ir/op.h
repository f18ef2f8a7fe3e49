// Typed ops of the training step: one payload per kind (Gemm, Attention, Norm, Elementwise, Router,
// Quantize, Permute, Comm, Optimizer), each with FLOPs and HBM bytes as pure functions of the payload.
// An op is one kernel-sized unit, as a profiler shows it.
#pragma once
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "ir/dtype.h"

namespace tandem::ir {

enum class Phase : uint8_t { F, B, W, Step };   // forward, input-grad, weight-grad, optimizer step
char phase_letter(Phase p);                      // 'F', 'B', 'W', 'S'

// C[m, n] = A[m, k] · B[k, n]. Grouped (one GEMM per expert in one kernel): `group_rows` lists each
// expert's rows; they split m (C_g = A_g · B_g, B is [groups, k, n]) or, with groups_split_k, split k
// (weight gradients: C_g = A_g · B_g over the group's rows, C is [groups, m, n]).
struct Gemm {
  int64_t m = 0, n = 0, k = 0;
  DType a = DType::BF16, b = DType::BF16, out = DType::BF16;
  ScaleGranularity a_scale = ScaleGranularity::None;   // Tile1x128 for FP8 activations
  ScaleGranularity b_scale = ScaleGranularity::None;   // Block128x128 for FP8 weights
  std::vector<int64_t> group_rows;                      // empty: dense
  bool groups_split_k = false;      // weight-grad of a grouped GEMM: groups split K, C is [groups, m, n]
  bool accumulate = false;                              // C += A·B (weight-gradient accumulation)
  int64_t groups() const { return group_rows.empty() ? 1 : static_cast<int64_t>(group_rows.size()); }
};

// MLA attention core over `seqs` sequences of `seq_len` tokens (after the projections).
struct Attention {
  int64_t seqs = 1, seq_len = 0, heads = 0;
  int64_t qk_head_dim = 192, v_head_dim = 128;
  bool causal = true;
  bool backward = false;            // the backward kernel (dQ, dK, dV together)
  DType dtype = DType::BF16;
};

enum class NormKind : uint8_t { RMSNorm };
struct Norm {
  NormKind kind = NormKind::RMSNorm;
  int64_t rows = 0, cols = 0;
  bool backward = false;
  DType dtype = DType::BF16;
};

enum class ElementwiseKind : uint8_t { SwiGLU, Rope, Add, Scale, Embedding, CrossEntropy, Copy };
std::string_view to_string(ElementwiseKind k);
struct Elementwise {
  ElementwiseKind kind = ElementwiseKind::Add;
  int64_t elements = 0;              // output elements
  int64_t read_bytes = 0, write_bytes = 0;
  double flops_per_element = 1.0;
};

// Gating scores, bias, group-limited top-k selection and weights for `tokens` tokens.
struct Router {
  int64_t tokens = 0, experts = 0, groups = 1, groups_per_token = 1, top_k = 1;
  bool backward = false;
};

// Cast to FP8 with per-tile/per-block scales (optionally transposed, for the backward pass).
struct Quantize {
  int64_t rows = 0, cols = 0;
  DType from = DType::BF16, to = DType::FP8E4M3;
  ScaleGranularity granularity = ScaleGranularity::Tile1x128;
  bool transpose = false;
};

// Reorder token rows by expert before the grouped GEMM (or back, with the weighted sum, after it).
struct Permute {
  int64_t tokens = 0, top_k = 1, hidden = 0;
  DType dtype = DType::BF16;
  bool unpermute = false;
};

// Notify: DeepEP's handshake before an expert all-to-all (notify_dispatch, cached_notify): every
// member sends each peer `bytes` of counts (0: none, the layout is cached) between two barriers across
// the group; latency-bound, it holds its SMs throughout.
enum class CommKind : uint8_t { AllToAllV, AllReduce, ReduceScatter, AllGather, Send, Recv, Notify };
// Expert: the EP group of a stage; Pipeline: point to point; Data: every rank holding a copy of the
// chunk's dense weights; ExpertData: every rank holding the same experts (the same EP index);
// SharedWeight: the ranks of one data-parallel index holding a copy of a shared weight (the
// embedding and the MTP module's copy of it). With tensor parallelism, Data holds the ranks of one TP
// index (the copies of a TP-split weight); Tensor: the TP group (one pipeline position and data-parallel
// index); ReplicatedData: every rank holding a copy of the chunk's TP-replicated weights (Data × Tensor).
enum class CommGroup : uint8_t { Expert, Pipeline, Data, ExpertData, SharedWeight, Tensor, ReplicatedData };
enum class CommPurpose : uint8_t {
  Dispatch, Combine, DispatchGrad, CombineGrad,   // expert all-to-all, forward and backward
  Activation, ActivationGrad,                      // pipeline send/receive
  GradReduceScatter, ParamAllGather, GradAllReduce, // ZeRO-1 / DualPipe copy reduction
  SharedGradAllReduce,                             // the copies of a shared weight (tied embeddings)
  // Sequence parallelism: the all-gather of sequence-split activations into a TP region, the
  // reduce-scatter of a TP region's partial sums back onto the split; the backward swaps them.
  SequenceGather, SequenceScatter, SequenceGatherGrad, SequenceScatterGrad
};
std::string_view to_string(CommKind k);
std::string_view to_string(CommPurpose p);

struct Comm {
  CommKind kind = CommKind::Send;
  CommGroup group = CommGroup::Pipeline;
  CommPurpose purpose = CommPurpose::Activation;
  int64_t bytes = 0;                 // bytes this rank contributes (a2a: sum over peers, send: message,
                                     // notify: counts sent to each peer)
  int64_t group_size = 1;            // ranks in the collective
  int64_t sms = 0;                   // SMs the kernel holds (0: copy engines / negligible)
  DType dtype = DType::BF16;
  int32_t peer_chunk = -1;           // send/recv: the model chunk at the other end
};

struct Optimizer {
  int64_t params = 0;                // parameters updated on this rank (its ZeRO shard)
  DType master = DType::FP32, moments = DType::BF16, weights = DType::BF16;
};

enum class OpKind : uint8_t { Gemm, Attention, Norm, Elementwise, Router, Quantize, Permute, Comm, Optimizer };
using OpPayload = std::variant<Gemm, Attention, Norm, Elementwise, Router, Quantize, Permute, Comm, Optimizer>;
std::string_view to_string(OpKind k);     // "gemm", "attention", ... (the timeline's `op` arg)

inline OpKind kind_of(const OpPayload& p) { return static_cast<OpKind>(p.index()); }

// Floating-point operations of one execution. Attention counts the causal mask's actual work
// unless `count_causal_as_full` is set (the convention of published MFU figures).
double op_flops(const OpPayload& p, bool count_causal_as_full = false);
// Bytes read from and written to HBM by one execution (0 for communication: see Comm::bytes).
double op_hbm_bytes(const OpPayload& p);

}  // namespace tandem::ir
