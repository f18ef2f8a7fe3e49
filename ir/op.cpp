// FLOPs and HBM bytes of each op payload, and the names ops carry into timelines.
// The formulas count what the kernel does: GEMMs 2mnk, attention by its matmuls, others by elements.
#include "ir/op.h"

namespace tandem::ir {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::FP32: return "fp32";
    case DType::BF16: return "bf16";
    case DType::FP8E4M3: return "fp8_e4m3";
    case DType::FP8E5M2: return "fp8_e5m2";
    case DType::INT32: return "int32";
    case DType::INT64: return "int64";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType t : {DType::FP32, DType::BF16, DType::FP8E4M3, DType::FP8E5M2, DType::INT32, DType::INT64})
    if (to_string(t) == name) return t;
  return std::nullopt;
}

std::string_view to_string(ScaleGranularity g) {
  switch (g) {
    case ScaleGranularity::None: return "none";
    case ScaleGranularity::Tile1x128: return "tile_1x128";
    case ScaleGranularity::Block128x128: return "block_128x128";
    case ScaleGranularity::Tensor: return "tensor";
  }
  return "?";
}

char phase_letter(Phase p) {
  switch (p) {
    case Phase::F: return 'F';
    case Phase::B: return 'B';
    case Phase::W: return 'W';
    case Phase::Step: return 'S';
  }
  return '?';
}

std::string_view to_string(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::SwiGLU: return "swiglu";
    case ElementwiseKind::Rope: return "rope";
    case ElementwiseKind::Add: return "add";
    case ElementwiseKind::Scale: return "scale";
    case ElementwiseKind::Embedding: return "embedding";
    case ElementwiseKind::CrossEntropy: return "cross_entropy";
    case ElementwiseKind::Copy: return "copy";
  }
  return "?";
}

std::string_view to_string(CommKind k) {
  switch (k) {
    case CommKind::AllToAllV: return "all_to_all";
    case CommKind::AllReduce: return "all_reduce";
    case CommKind::ReduceScatter: return "reduce_scatter";
    case CommKind::AllGather: return "all_gather";
    case CommKind::Send: return "send";
    case CommKind::Recv: return "recv";
    case CommKind::Notify: return "notify";
  }
  return "?";
}

std::string_view to_string(CommPurpose p) {
  switch (p) {
    case CommPurpose::Dispatch: return "dispatch";
    case CommPurpose::Combine: return "combine";
    case CommPurpose::DispatchGrad: return "dispatch_grad";
    case CommPurpose::CombineGrad: return "combine_grad";
    case CommPurpose::Activation: return "activation";
    case CommPurpose::ActivationGrad: return "activation_grad";
    case CommPurpose::GradReduceScatter: return "grad_reduce_scatter";
    case CommPurpose::ParamAllGather: return "param_all_gather";
    case CommPurpose::GradAllReduce: return "grad_all_reduce";
    case CommPurpose::SharedGradAllReduce: return "shared_grad_all_reduce";
    case CommPurpose::SequenceGather: return "sequence_gather";
    case CommPurpose::SequenceScatter: return "sequence_scatter";
    case CommPurpose::SequenceGatherGrad: return "sequence_gather_grad";
    case CommPurpose::SequenceScatterGrad: return "sequence_scatter_grad";
  }
  return "?";
}

std::string_view to_string(OpKind k) {
  switch (k) {
    case OpKind::Gemm: return "gemm";
    case OpKind::Attention: return "attention";
    case OpKind::Norm: return "norm";
    case OpKind::Elementwise: return "elementwise";
    case OpKind::Router: return "router";
    case OpKind::Quantize: return "quantize";
    case OpKind::Permute: return "permute";
    case OpKind::Comm: return "comm";
    case OpKind::Optimizer: return "optimizer";
  }
  return "?";
}

namespace {

double scale_bytes(ScaleGranularity g, int64_t rows, int64_t cols) {
  switch (g) {
    case ScaleGranularity::None: return 0.0;
    case ScaleGranularity::Tile1x128: return 4.0 * double(rows) * double((cols + 127) / 128);
    case ScaleGranularity::Block128x128: return 4.0 * double((rows + 127) / 128) * double((cols + 127) / 128);
    case ScaleGranularity::Tensor: return 4.0;
  }
  return 0.0;
}

struct FlopsVisitor {
  bool full_causal;
  double operator()(const Gemm& g) const { return 2.0 * double(g.m) * double(g.n) * double(g.k); }
  double operator()(const Attention& a) const {
    const double l = double(a.seq_len);
    // Share of the score matrix a causal kernel computes: (L+1)/(2L), rounded to blocks in practice.
    const double mask = (a.causal && !full_causal) ? (l + 1.0) / (2.0 * l) : 1.0;
    const double per_head = a.backward
        // recompute S = QKᵀ, dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q
        ? 2.0 * l * l * double(3 * a.qk_head_dim + 2 * a.v_head_dim)
        // S = QKᵀ and O = P V
        : 2.0 * l * l * double(a.qk_head_dim + a.v_head_dim);
    return double(a.seqs) * double(a.heads) * per_head * mask;
  }
  double operator()(const Norm& n) const { return (n.backward ? 8.0 : 4.0) * double(n.rows) * double(n.cols); }
  double operator()(const Elementwise& e) const { return e.flops_per_element * double(e.elements); }
  double operator()(const Router& r) const {
    // sigmoid + bias + group scores + top-k selection, per token and expert
    return (r.backward ? 4.0 : 8.0) * double(r.tokens) * double(r.experts);
  }
  double operator()(const Quantize& q) const { return 3.0 * double(q.rows) * double(q.cols); }
  double operator()(const Permute& p) const {
    return p.unpermute ? 2.0 * double(p.tokens) * double(p.top_k) * double(p.hidden) : 0.0;
  }
  double operator()(const Comm&) const { return 0.0; }
  double operator()(const Optimizer& o) const { return 12.0 * double(o.params); }
};

struct BytesVisitor {
  double operator()(const Gemm& g) const {
    const double m = double(g.m), n = double(g.n), k = double(g.k), groups = double(g.groups());
    const double a = m * k * double(dtype_bytes(g.a)) + scale_bytes(g.a_scale, g.m, g.k);
    double b = k * n * double(dtype_bytes(g.b)) + scale_bytes(g.b_scale, g.k, g.n);
    double c = m * n * double(dtype_bytes(g.out));
    if (g.groups_split_k) c *= groups; else b *= groups;
    return a + b + c * (g.accumulate ? 2.0 : 1.0);
  }
  double operator()(const Attention& a) const {
    const double tokens = double(a.seqs) * double(a.seq_len) * double(a.heads);
    const double e = double(dtype_bytes(a.dtype));
    const double qkv = tokens * double(2 * a.qk_head_dim + a.v_head_dim) * e;
    const double o = tokens * double(a.v_head_dim) * e;
    const double lse = tokens * 4.0;
    return a.backward ? 2.0 * qkv + 2.0 * o + lse : qkv + o + lse;
  }
  double operator()(const Norm& n) const {
    const double x = double(n.rows) * double(n.cols) * double(dtype_bytes(n.dtype));
    return n.backward ? 3.0 * x : 2.0 * x;
  }
  double operator()(const Elementwise& e) const { return double(e.read_bytes + e.write_bytes); }
  double operator()(const Router& r) const {
    return (r.backward ? 3.0 : 2.0) * 4.0 * double(r.tokens) * double(r.experts);
  }
  double operator()(const Quantize& q) const {
    const double elems = double(q.rows) * double(q.cols);
    return elems * double(dtype_bytes(q.from) + dtype_bytes(q.to)) + scale_bytes(q.granularity, q.rows, q.cols);
  }
  double operator()(const Permute& p) const {
    return 2.0 * double(p.tokens) * double(p.top_k) * double(p.hidden) * double(dtype_bytes(p.dtype));
  }
  double operator()(const Comm&) const { return 0.0; }
  double operator()(const Optimizer& o) const {
    // read: FP32 master, two moments, FP32 gradient; write: master, moments, BF16 weights
    const double mom = 2.0 * double(dtype_bytes(o.moments));
    return double(o.params) * (2.0 * (double(dtype_bytes(o.master)) + mom) + 4.0 + double(dtype_bytes(o.weights)));
  }
};

}  // namespace

double op_flops(const OpPayload& p, bool count_causal_as_full) {
  return std::visit(FlopsVisitor{count_causal_as_full}, p);
}

double op_hbm_bytes(const OpPayload& p) { return std::visit(BytesVisitor{}, p); }

}  // namespace tandem::ir
