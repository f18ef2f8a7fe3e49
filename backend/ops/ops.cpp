// run_op: from an op's payload kind and role to its op family; execute_op runs it with the CPU table.
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"
#include "ir/layout_kernels.h"

namespace tandem::backend {

void execute_op(RankRuntime& rt, int32_t index, Stream& stream) {
  const ir::OpInstance& op = rt.rp.ops[size_t(index)];
  const OpContext c{rt, index, op, rt.rp.tmpl(op), stream};
  OpKernels k(cpu_kernel_table(), KernelLaunch{*rt.device, stream, rt.options.gemm_threads, rt.options.exact, nullptr});
  run_op(c, k);
}

std::string op_kind_name(const ir::OpTemplate& t) {
  if (ir::kind_of(t.payload) == ir::OpKind::Elementwise) return std::string(ir::to_string(std::get<ir::Elementwise>(t.payload).kind));
  if (ir::kind_of(t.payload) == ir::OpKind::Comm) return std::string(ir::to_string(t.role));
  return std::string(ir::to_string(ir::kind_of(t.payload)));
}

void run_op(const OpContext& c, OpKernels& k) {
  // Scale and weight transposes, cast-backs and RoPE's copies re-lay out values the next ops read from
  // the tensors themselves (FP32 here, FP8 with its scales): nothing to compute (docs/backend.md).
  if (ir::is_layout_kernel(c.t.role)) return;
  switch (ir::kind_of(c.t.payload)) {
    case ir::OpKind::Gemm: return run_gemm(c, k);
    case ir::OpKind::Quantize: return run_quantize(c, k);
    case ir::OpKind::Norm: return run_norm(c, k);
    case ir::OpKind::Attention: return run_attention(c, k);
    case ir::OpKind::Router: return run_router(c, k);
    case ir::OpKind::Permute: return run_permute(c, k);
    case ir::OpKind::Optimizer: return run_optimizer(c, k);
    case ir::OpKind::Elementwise:
      switch (std::get<ir::Elementwise>(c.t.payload).kind) {
        case ir::ElementwiseKind::SwiGLU: return run_swiglu(c, k);
        case ir::ElementwiseKind::Rope: return run_rope(c, k);
        case ir::ElementwiseKind::Add: return run_residual(c, k);
        case ir::ElementwiseKind::Embedding: return run_embedding(c, k);
        case ir::ElementwiseKind::CrossEntropy: return run_loss(c, k);
        default: break;
      }
      break;
    case ir::OpKind::Comm:
      if (std::get<ir::Comm>(c.t.payload).group == ir::CommGroup::Tensor) return run_sequence_comm(c, k);
      switch (c.t.role) {
        case ir::OpRole::NotifyDispatch:
        case ir::OpRole::CachedNotify: return run_notify(c, k);
        case ir::OpRole::Dispatch: return run_dispatch(c, k);
        case ir::OpRole::Combine: return run_combine(c, k);
        case ir::OpRole::PipeSend:
        case ir::OpRole::PipeRecv: return run_pipeline(c, k);
        case ir::OpRole::GradReduceScatter:
        case ir::OpRole::GradAllReduce: return run_grad_reduce(c, k);
        case ir::OpRole::SharedGradAllReduce: return run_shared_grad_reduce(c, k);
        case ir::OpRole::ParamAllGather: return run_param_gather(c, k);
        default: break;
      }
      break;
  }
  throw std::logic_error(fmt::format("{}: the backend has no implementation for this op ({} {})", c.where(),
                                     ir::to_string(ir::kind_of(c.t.payload)), ir::to_string(c.t.role)));
}

}  // namespace tandem::backend
