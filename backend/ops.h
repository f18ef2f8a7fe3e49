// The CPU implementations of the program's ops, one function per family; execute_op (ops.cpp) picks
// one from the op's payload and role. Each reads its inputs and writes its outputs through the
// OpContext, so the values an op sees are the ones its position in the issue order allows.
#pragma once
#include "backend/runtime.h"

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
void run_router(const OpContext& c);        // ops_moe.cpp
void run_dispatch(const OpContext& c);
void run_combine(const OpContext& c);
void run_permute(const OpContext& c);
void run_pipeline(const OpContext& c);      // ops_step.cpp
void run_grad_reduce(const OpContext& c);
void run_param_gather(const OpContext& c);
void run_optimizer(const OpContext& c);

// Token ids of the op's micro-batch: token `offset + i` of each window for i in [0, seq_len)
// (offset 0: model inputs, 1: next-token targets and MTP inputs, 2: MTP targets).
std::vector<int32_t> token_ids(const OpContext& c, int offset);

}  // namespace tandem::backend
