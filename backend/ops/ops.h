// The op layer: each op family's semantics written once (operands, bookkeeping, loss and statistics
// accumulation, FP8 copies, what is kept for the backward), its math through the kernels of an
// OpKernels (the device's kernel table, the CPU table behind it). run_op (ops.cpp) picks the family from
// the op's payload and role; every op reads and writes through the OpContext, so the values it sees are
// the ones its position in the issue order allows.
#pragma once
#include <span>

#include "backend/ops/kernel_table.h"
#include "backend/execution/runtime.h"

namespace tandem::backend {

void run_gemm(const OpContext& c, OpKernels& k);          // ops_linear.cpp
void run_quantize(const OpContext& c, OpKernels& k);
void run_norm(const OpContext& c, OpKernels& k);          // ops_layers.cpp
void run_swiglu(const OpContext& c, OpKernels& k);
void run_residual(const OpContext& c, OpKernels& k);
void run_embedding(const OpContext& c, OpKernels& k);
void run_loss(const OpContext& c, OpKernels& k);
void run_rope(const OpContext& c, OpKernels& k);          // ops_attention.cpp
void run_attention(const OpContext& c, OpKernels& k);
void run_router(const OpContext& c, OpKernels& k);        // ops_router.cpp
void run_notify(const OpContext& c, OpKernels& k);        // ops_moe.cpp
void run_dispatch(const OpContext& c, OpKernels& k);
void run_combine(const OpContext& c, OpKernels& k);
void run_permute(const OpContext& c, OpKernels& k);
void run_pipeline(const OpContext& c, OpKernels& k);      // ops_step.cpp
void run_grad_reduce(const OpContext& c, OpKernels& k);
void run_shared_grad_reduce(const OpContext& c, OpKernels& k);
void run_param_gather(const OpContext& c, OpKernels& k);
void run_optimizer(const OpContext& c, OpKernels& k);
void run_sequence_comm(const OpContext& c, OpKernels& k); // ops_sequence.cpp

// Any op, chosen by payload and role, with the kernels of `k` (execute_op: the CPU table; the CUDA
// runner: the CUDA table).
void run_op(const OpContext& c, OpKernels& k);

// The name an op is counted under: the elementwise kind, the communication role, else the op kind.
std::string op_kind_name(const ir::OpTemplate& t);

// Float values on the wire: BF16 (2 bytes a value; the values are BF16-rounded), or FP32 in the exact mode.
std::vector<std::byte> pack_values(const std::vector<float>& v, bool exact);
std::vector<float> unpack_values(const std::vector<std::byte>& bytes, size_t n, bool exact);

// Token ids of the op's micro-batch: token `offset + i` of each window for i in [0, seq_len)
// (offset 0: model inputs, 1: next-token targets and MTP inputs, 2: MTP targets); with TP, the rows
// of this rank's sequence split.
std::vector<int32_t> token_ids(const OpContext& c, int offset);

}  // namespace tandem::backend
