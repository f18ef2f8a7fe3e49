// The default cost models (see cost_model.h) and the calibration override.
#include "hw/cost_model.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <variant>

#include "hw/calibration.h"
#include "hw/gemm_tiling.h"
#include "hw/host_cost.h"

namespace tandem::hw {

namespace {

bool is_fp8(ir::DType t) { return t == ir::DType::FP8E4M3 || t == ir::DType::FP8E5M2; }

int64_t to_ns(double seconds) { return int64_t(std::ceil(seconds * 1e9 - 1e-6)); }

struct ModelVisitor {
  const GpuSpec& gpu;
  const CostParams& p;
  int64_t sms;

  // Memory-bound time of `bytes` on `sms` SMs at `efficiency` of the HBM peak.
  double memory_s(double bytes, double efficiency) const {
    const double saturating = p.memory_saturation_sm_fraction * double(gpu.sms);
    const double slow = std::max(1.0, saturating / double(sms));
    return bytes / (gpu.hbm_bytes_per_s * efficiency) * slow;
  }
  double memory_s(double bytes) const { return memory_s(bytes, p.hbm_efficiency); }
  // The HBM efficiency a memory-bound kernel family reaches (CostParams: norms, casts, transposes, RoPE).
  double achieved_hbm_efficiency(const ir::OpPayload& op) const {
    if (std::holds_alternative<ir::Norm>(op)) return p.norm_hbm_efficiency;
    if (const auto* q = std::get_if<ir::Quantize>(&op)) return q->transpose ? p.cast_transpose_hbm_efficiency : p.cast_hbm_efficiency;
    if (const auto* e = std::get_if<ir::Elementwise>(&op); e && e->kind == ir::ElementwiseKind::Rope) return p.rope_hbm_efficiency;
    return p.hbm_efficiency;
  }
  double vector_s(double flops) const {
    return flops / (gpu.fp32_flops * p.vector_efficiency * double(sms) / double(gpu.sms));
  }
  KernelEstimate simple(const ir::OpPayload& op) const {
    const double mem = memory_s(ir::op_hbm_bytes(op), achieved_hbm_efficiency(op));
    const double vec = vector_s(ir::op_flops(op));
    KernelEstimate e;
    e.compute_bound = vec > mem;
    e.ns = p.kernel_launch_ns + to_ns(std::max(mem, vec));
    return e;
  }

  KernelEstimate operator()(const ir::Gemm& g) const {
    const ir::DType t = (is_fp8(g.a) || is_fp8(g.b)) ? ir::DType::FP8E4M3
                        : (g.a == ir::DType::FP32 && g.b == ir::DType::FP32) ? ir::DType::FP32
                                                                             : ir::DType::BF16;
    const double per_sm_flops = peak_flops(gpu, t) / double(gpu.sms);
    const double per_sm_hbm = gpu.hbm_bytes_per_s / double(gpu.sms);
    GemmTiling tiling;
    double k = double(g.k);
    if (g.group_rows.empty()) {
      tiling = gemm_tiling(g.m, g.n, sms);
    } else if (!g.groups_split_k) {
      // Contiguous layout: each group's rows padded to the 128-row block.
      int64_t rows = 0;
      for (int64_t r : g.group_rows) rows += (r + 127) / 128 * 128;
      tiling = gemm_tiling(std::max<int64_t>(rows, 1), g.n, sms, true);
    } else {
      // Weight gradient: one [m, n] output per group, k = the group's rows; tiles of all groups share
      // the waves, each with the mean k.
      const GemmTiling one = gemm_tiling(g.m, g.n, sms);
      int64_t rows = 0;
      for (int64_t r : g.group_rows) rows += r;
      tiling = one;
      tiling.tiles = one.tiles * g.groups();
      tiling.waves = (tiling.tiles + sms - 1) / sms;
      k = double(rows) / double(g.groups());
    }
    const double bm = double(tiling.block_m), bn = double(tiling.block_n);
    const bool fp8_wgrad = g.accumulate && t == ir::DType::FP8E4M3;
    const double mainloop = fp8_wgrad ? p.gemm_wgrad_mainloop_efficiency : p.gemm_mainloop_efficiency;
    const double tile_s = 2.0 * bm * bn * k / (per_sm_flops * mainloop) +
                          bm * bn * double(ir::dtype_bytes(g.out)) / (per_sm_hbm * p.gemm_epilogue_efficiency) +
                          double(p.gemm_tile_overhead_ns) * 1e-9;
    const double compute = double(tiling.waves) * tile_s;
    const double mem = memory_s(ir::op_hbm_bytes(g));
    KernelEstimate e;
    e.compute_bound = compute >= mem;
    e.tiles = tiling.tiles;
    e.waves = tiling.waves;
    e.ns = p.gemm_launch_ns + to_ns(std::max(compute, mem));
    return e;
  }

  KernelEstimate operator()(const ir::Attention& a) const {
    const double flops = ir::op_flops(a);
    const double eff = a.backward ? p.attention_bwd_efficiency : p.attention_fwd_efficiency;
    // One tile per 128 query rows of one head (FlashAttention/FlashMLA-style work split).
    const int64_t tiles = std::max<int64_t>(1, a.seqs * a.heads * ((a.seq_len + 127) / 128));
    const int64_t waves = (tiles + sms - 1) / sms;
    const double tile_s = flops / double(tiles) / (peak_flops(gpu, a.dtype) / double(gpu.sms) * eff);
    const double compute = double(waves) * tile_s;
    const double mem = memory_s(ir::op_hbm_bytes(a));
    KernelEstimate e;
    e.compute_bound = compute >= mem;
    e.tiles = tiles;
    e.waves = waves;
    e.ns = p.kernel_launch_ns + to_ns(std::max(compute, mem));
    return e;
  }

  // The forward: its kernels' launches and two top-k passes over the scores (CostParams); the
  // vector-and-memory bound of the rest when that is longer. The backward: vector work.
  KernelEstimate operator()(const ir::Router& r) const {
    KernelEstimate e = simple(ir::OpPayload(r));
    if (r.backward) return e;
    const double topk = 2.0 * double(r.tokens) * double(r.experts) / p.router_topk_values_per_s *
                        std::max(1.0, double(gpu.sms) / double(sms));
    const int64_t ns = p.router_forward_kernels * p.kernel_launch_ns + to_ns(topk);
    if (ns > e.ns) {
      e.ns = ns;
      e.compute_bound = true;
    }
    return e;
  }

  KernelEstimate operator()(const ir::Comm&) const { return {}; }

  template <typename T>
  KernelEstimate operator()(const T& op) const {
    return simple(ir::OpPayload(op));
  }
};

}  // namespace

KernelEstimate CostModel::model(const ir::OpPayload& op, int64_t sms) const {
  sms = std::clamp<int64_t>(sms, 1, gpu_->sms);
  if (host_) return host_kernel_estimate(*host_, op, sms);
  return std::visit(ModelVisitor{*gpu_, params_, sms}, op);
}

int64_t CostModel::launch_ns(const ir::OpPayload& op) const {
  if (std::holds_alternative<ir::Comm>(op)) return 0;
  if (host_) return host_->op_overhead_ns;
  return std::holds_alternative<ir::Gemm>(op) ? params_.gemm_launch_ns : params_.kernel_launch_ns;
}

KernelEstimate CostModel::estimate(const ir::OpPayload& op, int64_t sms) const {
  KernelEstimate e = model(op, sms);
  if (!calibration_ || std::holds_alternative<ir::Comm>(op)) return e;
  const CalibrationTable::Lookup hit = calibration_->lookup(op);
  if (hit.hit == CalibrationTable::Hit::None) {
    // No point of this shape: the fit of the op's class, when the table has one (its launch cost, the
    // rest of the model's time scaled).
    if (const ModelFit* fit = calibration_->fit_for(op)) {
      const double body_ns = double(e.ns - launch_ns(op));
      e.ns = std::max<int64_t>(1, int64_t(std::llround(fit->overhead_ns + fit->time_scale * body_ns)));
      e.source = CostSource::Fitted;
    }
    return e;
  }
  // The table holds times measured on the whole GPU; fewer SMs scale it as the model scales.
  const KernelEstimate full = model(op, gpu_->sms);
  const double scale = double(e.ns) / double(std::max<int64_t>(full.ns, 1));
  if (hit.hit == CalibrationTable::Hit::Inside) {
    e.ns = std::max<int64_t>(1, int64_t(std::llround(hit.time_ns * scale)));
    e.source = CostSource::Calibrated;
  } else {
    // Outside the measured range: keep the measured/model ratio of the nearest measured point.
    const KernelEstimate edge = model(with_calibration_size(op, hit.edge_x), gpu_->sms);
    const double ratio = hit.time_ns / double(std::max<int64_t>(edge.ns, 1));
    e.ns = std::max<int64_t>(1, int64_t(std::llround(double(e.ns) * ratio)));
    e.source = CostSource::Extrapolated;
  }
  return e;
}

double bus_bytes_factor(ir::CommKind kind, int64_t ranks) {
  const double n = double(std::max<int64_t>(ranks, 1));
  switch (kind) {
    case ir::CommKind::AllReduce: return 2.0 * (n - 1.0) / n;
    case ir::CommKind::ReduceScatter:
    case ir::CommKind::AllGather:
    case ir::CommKind::AllToAllV: return (n - 1.0) / n;
    case ir::CommKind::Send:
    case ir::CommKind::Recv: return 1.0;
    case ir::CommKind::Notify: return 0.0;   // counts only: latency-bound
  }
  return 1.0;
}

}  // namespace tandem::hw
