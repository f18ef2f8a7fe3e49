// The host device's cost model (host_cost.h).
#include "hw/host_cost.h"

#include <algorithm>
#include <cmath>
#include <variant>

namespace tandem::hw {

namespace {
bool is_fp8(ir::DType t) { return t == ir::DType::FP8E4M3 || t == ir::DType::FP8E5M2; }
}  // namespace

double host_core_ns(const HostSpec& h, const ir::OpPayload& op) {
  double work_s = 0;
  if (const auto* g = std::get_if<ir::Gemm>(&op)) {
    const double rate = is_fp8(g->a) || is_fp8(g->b) ? h.fp8_gemm_flops_per_s : h.gemm_flops_per_s;
    work_s = ir::op_flops(op) / rate;
  } else if (std::holds_alternative<ir::Attention>(op)) {
    work_s = ir::op_flops(op) / h.attention_flops_per_s;
  } else if (std::holds_alternative<ir::Quantize>(op)) {
    work_s = ir::op_hbm_bytes(op) / h.quantize_bytes_per_s;
  } else if (std::holds_alternative<ir::Comm>(op)) {
    return 0;   // communication: the in-process copy (host_cluster), not a kernel
  } else {
    work_s = ir::op_hbm_bytes(op) / h.memory_bytes_per_s;
  }
  return double(h.op_overhead_ns) + work_s * 1e9;
}

KernelEstimate host_kernel_estimate(const HostSpec& h, const ir::OpPayload& op, int64_t share_units) {
  KernelEstimate e;
  if (std::holds_alternative<ir::Comm>(op)) return e;
  const double share = double(std::clamp<int64_t>(share_units, 1, kHostShareUnits)) / double(kHostShareUnits);
  e.ns = std::max<int64_t>(1, int64_t(std::ceil(host_core_ns(h, op) / share - 1e-6)));
  e.compute_bound = std::holds_alternative<ir::Gemm>(op) || std::holds_alternative<ir::Attention>(op);
  return e;
}

}  // namespace tandem::hw
