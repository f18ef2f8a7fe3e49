// The CPU implementations of the program's ops, one function per family; execute_op (ops.cpp) picks
// one from the op's payload and role. Each reads its inputs and writes its outputs through the
// OpContext, so the values an op sees are the ones its position in the issue order allows.
#pragma once
#include <span>

#include "backend/runtime.h"
#include "kernels/router/router_cpu.h"
#include "kernels/permute/permute_cpu.h"

namespace tandem::backend {

void run_gemm(const OpContext& c);          // ops_linear.cpp
void run_quantize(const OpContext& c);
void run_norm(const OpContext& c);          // ops_layers.cpp
void run_rope(const OpContext& c);
void run_attention(const OpContext& c);
void run_swiglu(const OpContext& c);
void run_residual(const OpContext& c);
void run_embedding(const OpContext& c);
void run_loss(const OpContext& c);
// The row math of dispatch and combine around their all-to-alls (kernels/permute's functions on the
// host); the CUDA op runner passes an implementation that runs it in the CUDA kernels.
class MoeRowMath {
 public:
  virtual ~MoeRowMath() = default;
  virtual void permute_backward(const OpContext& c, std::span<const float> rows, const kernels::PermuteIndex& index, int64_t dim,
                                std::span<float> dx) const;
  virtual void unpermute_forward(const OpContext& c, std::span<const float> y, std::span<const float> weights,
                                 const kernels::PermuteIndex& index, int64_t dim, std::span<float> out) const;
  virtual void unpermute_backward(const OpContext& c, std::span<const float> y, std::span<const float> weights,
                                  std::span<const float> dout, const kernels::PermuteIndex& index, int64_t dim,
                                  std::span<float> dy, std::span<float> dweights) const;
  // Rows [rows, cols] in E4M3 with 1x128 tile scales (the combine backward's FP8 send).
  virtual Fp8Matrix quantize_rows(const OpContext& c, std::span<const float> x, int64_t rows, int64_t cols, bool pow2) const;
};

void run_router(const OpContext& c);        // ops_router.cpp
void run_dispatch(const OpContext& c, const MoeRowMath& math = MoeRowMath());   // ops_moe.cpp
void run_combine(const OpContext& c, const MoeRowMath& math = MoeRowMath());
void run_permute(const OpContext& c);
void run_pipeline(const OpContext& c);      // ops_step.cpp
void run_grad_reduce(const OpContext& c);
void run_shared_grad_reduce(const OpContext& c);
void run_param_gather(const OpContext& c);
void run_optimizer(const OpContext& c);

// The CPU implementation of any op, chosen by payload and role (execute_op's dispatch; the CUDA
// runner falls back to it for the ops it has no kernel for).
void run_cpu_op(const OpContext& c);

// The router's settings from the model; what a routing adds to the step's statistics (the balance
// loss's share of this micro-batch and the expert loads for the bias update); and the balance loss's
// gradient added to the scores' gradient.
kernels::RouterConfig router_config(const ir::ModelConfig& m);
void record_routing(const OpContext& c, std::span<const float> scores, std::span<const int32_t> topk);
void add_balance_loss_gradient(const OpContext& c, std::span<const float> scores, std::span<const int32_t> topk,
                               std::span<float> dscores);

// A GEMM B op with a fused residual add: its second output (the residual input's gradient) is the
// output gradient unchanged, read in BF16 before the FP8 cast (`gy_tensor` may be the cast copy).
void write_residual_gradient(const OpContext& c, int32_t gy_tensor);

// Token ids of the op's micro-batch: token `offset + i` of each window for i in [0, seq_len)
// (offset 0: model inputs, 1: next-token targets and MTP inputs, 2: MTP targets).
std::vector<int32_t> token_ids(const OpContext& c, int offset);

}  // namespace tandem::backend
