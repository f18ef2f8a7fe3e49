// execute_op: from an op's payload kind and role to its CPU implementation.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops.h"

namespace tandem::backend {

void execute_op(RankRuntime& rt, int32_t index, Stream& stream) {
  const ir::OpInstance& op = rt.rp.ops[size_t(index)];
  run_cpu_op(OpContext{rt, index, op, rt.rp.tmpl(op), stream});
}

void run_cpu_op(const OpContext& c) {
  switch (ir::kind_of(c.t.payload)) {
    case ir::OpKind::Gemm: return run_gemm(c);
    case ir::OpKind::Quantize: return run_quantize(c);
    case ir::OpKind::Norm: return run_norm(c);
    case ir::OpKind::Attention: return run_attention(c);
    case ir::OpKind::Router: return run_router(c);
    case ir::OpKind::Permute: return run_permute(c);
    case ir::OpKind::Optimizer: return run_optimizer(c);
    case ir::OpKind::Elementwise:
      switch (std::get<ir::Elementwise>(c.t.payload).kind) {
        case ir::ElementwiseKind::SwiGLU: return run_swiglu(c);
        case ir::ElementwiseKind::Rope: return run_rope(c);
        case ir::ElementwiseKind::Add: return run_residual(c);
        case ir::ElementwiseKind::Embedding: return run_embedding(c);
        case ir::ElementwiseKind::CrossEntropy: return run_loss(c);
        default: break;
      }
      break;
    case ir::OpKind::Comm:
      switch (c.t.role) {
        case ir::OpRole::Dispatch: return run_dispatch(c);
        case ir::OpRole::Combine: return run_combine(c);
        case ir::OpRole::PipeSend:
        case ir::OpRole::PipeRecv: return run_pipeline(c);
        case ir::OpRole::GradReduceScatter:
        case ir::OpRole::GradAllReduce: return run_grad_reduce(c);
        case ir::OpRole::SharedGradAllReduce: return run_shared_grad_reduce(c);
        case ir::OpRole::ParamAllGather: return run_param_gather(c);
        default: break;
      }
      break;
  }
  throw std::logic_error(fmt::format("{}: the CPU backend has no implementation for this op ({} {})", c.where(),
                                     ir::to_string(ir::kind_of(c.t.payload)), ir::to_string(c.t.role)));
}

}  // namespace tandem::backend
