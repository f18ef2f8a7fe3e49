// The layout and precision kernels of the FP8 step (see layout_kernels.h), inserted into a built
// chunk's issue orders. Their shapes follow from the ops they serve; their counts per layer are those
// of DeepSeek's H800 profile (docs/h800-pair.md): 16 scale transposes, 9 weight transposes, 3
// cast-backs and 4 RoPE copies.
#include "ir/layout_kernels.h"

#include <variant>

namespace tandem::ir {

namespace {

using S = OperandSlot;

bool is_fp8(DType t) { return t == DType::FP8E4M3 || t == DType::FP8E5M2; }

class LayoutKernels {
 public:
  LayoutKernels(RankProgram& rp, const Scenario& scenario)
      : rp_(rp), m_(scenario.model), fp8_(scenario.plan.precision.fp8) {}

  // The forward order with the kernels inserted.
  std::vector<int32_t> forward(const std::vector<int32_t>& ids) {
    std::vector<int32_t> out;
    for (int32_t id : ids) {
      const OpTemplate t = rp_.templates[size_t(id)];
      before_forward(t, out);
      out.push_back(id);
      after(t, out);
    }
    return out;
  }

  // The backward order; `forward_ids` to find a backward op's forward op (the output projection's input).
  std::vector<int32_t> backward(const std::vector<int32_t>& ids, const std::vector<int32_t>& forward_ids) {
    std::vector<int32_t> out;
    for (int32_t id : ids) {
      const OpTemplate t = rp_.templates[size_t(id)];
      if (t.recompute) {
        before_forward(t, out);
        // A recomputed SwiGLU's input was kept, in FP8 under the recipe.
        if (fp8_ && is_swiglu(t)) {
          const Tensor x = shape(t.in(S::Input));
          add(t, OpRole::CastBack, Quantize{x.rows, x.cols, DType::FP8E4M3, DType::BF16, ScaleGranularity::Tile1x128, false},
              {{t.in(S::Input), S::Input}}, out);
        }
      } else {
        before_backward(t, forward_ids, out);
      }
      out.push_back(id);
      if (t.recompute) after(t, out);
    }
    return out;
  }

 private:
  struct Tensor {
    int64_t rows, cols;
  };
  Tensor shape(int32_t tensor) const {
    const TensorInfo& info = rp_.tensors[size_t(tensor)];
    return {info.shape[0] * info.shape[2], info.shape[1]};
  }
  static bool is_swiglu(const OpTemplate& t) {
    const auto* e = std::get_if<Elementwise>(&t.payload);
    return e && e->kind == ElementwiseKind::SwiGLU;
  }
  static bool is_rope(const OpTemplate& t) {
    const auto* e = std::get_if<Elementwise>(&t.payload);
    return e && e->kind == ElementwiseKind::Rope;
  }
  // A dense FP8 GEMM reading 1x128-tiled activations (grouped ones take their scales as laid out).
  static const Gemm* dense_fp8(const OpTemplate& t) {
    const auto* g = std::get_if<Gemm>(&t.payload);
    return g && is_fp8(g->a) && g->a_scale == ScaleGranularity::Tile1x128 && g->group_rows.empty() ? g : nullptr;
  }
  // The transpose of the scales of a GEMM's [m, k] operand: m x ceil(k / 128) FP32 values.
  Quantize scale_transpose(const Gemm& g) const {
    return Quantize{g.m, (g.k + 127) / 128, DType::FP32, DType::FP32, ScaleGranularity::None, true};
  }
  // The copy of the query heads' no-rope part into the concatenated [tokens, heads, qk] query.
  Elementwise rope_copy(const OpTemplate& rope) const {
    const Tensor q = shape(rope.outputs.at(0).tensor);
    const int64_t elements = q.rows * q.cols / m_.qk_head_dim() * m_.qk_nope_head_dim;
    return Elementwise{ElementwiseKind::Copy, elements, 2 * elements, 2 * elements, 0.0};
  }

  void add(const OpTemplate& served, OpRole role, OpPayload payload, std::vector<Operand> in, std::vector<int32_t>& out) {
    rp_.templates.push_back(OpTemplate{role, served.phase, served.part, Stream::Compute, served.chunk, served.layer,
                                       served.recompute, std::move(payload), std::move(in), {}});
    out.push_back(int32_t(rp_.templates.size() - 1));
  }
  // Before a forward (or recomputed) op.
  void before_forward(const OpTemplate& t, std::vector<int32_t>& out) {
    if (const Gemm* g = dense_fp8(t)) add(t, OpRole::ScaleTranspose, scale_transpose(*g), {{t.in(S::Input), S::Input}}, out);
  }
  // After a forward (or recomputed) op.
  void after(const OpTemplate& t, std::vector<int32_t>& out) {
    if (is_rope(t)) add(t, OpRole::RopeConcat, rope_copy(t), {{t.out(S::Query), S::Input}}, out);
  }
  void before_backward(const OpTemplate& t, const std::vector<int32_t>& forward_ids, std::vector<int32_t>& out) {
    const auto* g = std::get_if<Gemm>(&t.payload);
    if (g && t.phase == Phase::B && is_fp8(g->a) && t.has_in(S::Weight)) {
      if (t.role == OpRole::OProj)
        for (int32_t f : forward_ids) {
          const OpTemplate& p = rp_.templates[size_t(f)];
          if (p.role == OpRole::OProj && p.layer == t.layer && std::holds_alternative<Gemm>(p.payload)) {
            const Tensor x = shape(p.in(S::Input));
            add(t, OpRole::CastBack, Quantize{x.rows, x.cols, DType::FP8E4M3, DType::BF16, ScaleGranularity::Tile1x128, false},
                {{p.in(S::Input), S::Input}}, out);
            break;
          }
        }
      const Tensor w = shape(t.in(S::Weight));
      add(t, OpRole::WeightTranspose, Quantize{w.rows, w.cols, DType::FP8E4M3, DType::FP8E4M3, ScaleGranularity::Block128x128, true},
          {{t.in(S::Weight), S::Weight}}, out);
      if (dense_fp8(t)) add(t, OpRole::ScaleTranspose, scale_transpose(*g), {{t.in(S::OutputGrad), S::Input}}, out);
    }
    if (is_rope(t) && t.phase == Phase::B) {
      // The query's and the key's gradients split back into their no-rope and rope parts.
      const Elementwise copy = rope_copy(t);
      for (int i = 0; i < 2; ++i) add(t, OpRole::RopeConcat, copy, {{t.in(S::QueryGrad), S::Input}}, out);
    }
  }

  RankProgram& rp_;
  const ModelConfig& m_;
  bool fp8_;
};

}  // namespace

void add_layout_kernels(RankProgram& rp, ChunkTemplates& chunk, const Scenario& scenario) {
  LayoutKernels k(rp, scenario);
  const std::vector<int32_t> forward_ids = chunk.forward;
  chunk.forward = k.forward(chunk.forward);
  chunk.backward = k.backward(chunk.backward, forward_ids);
}

}  // namespace tandem::ir
