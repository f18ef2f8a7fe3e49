// The classes of ops whose cost-model corrections are fitted separately (see model_fit.h).
#include "hw/model_fit.h"

#include <array>

namespace tandem::hw {
namespace {

constexpr std::array<std::string_view, 11> kClasses = {
    "gemm_fp8", "gemm_bf16", "gemm_fp32", "attention_fwd", "attention_bwd", "norm",
    "elementwise", "router", "quantize", "permute", "optimizer"};

bool is_fp8(ir::DType t) { return t == ir::DType::FP8E4M3 || t == ir::DType::FP8E5M2; }

struct ClassVisitor {
  // The GEMM model's peak follows the operand types the same way (cost_model.cpp).
  std::optional<std::string_view> operator()(const ir::Gemm& g) const {
    if (is_fp8(g.a) || is_fp8(g.b)) return kClasses[0];
    if (g.a == ir::DType::FP32 && g.b == ir::DType::FP32) return kClasses[2];
    return kClasses[1];
  }
  std::optional<std::string_view> operator()(const ir::Attention& a) const { return a.backward ? kClasses[4] : kClasses[3]; }
  std::optional<std::string_view> operator()(const ir::Norm&) const { return kClasses[5]; }
  std::optional<std::string_view> operator()(const ir::Elementwise&) const { return kClasses[6]; }
  std::optional<std::string_view> operator()(const ir::Router&) const { return kClasses[7]; }
  std::optional<std::string_view> operator()(const ir::Quantize&) const { return kClasses[8]; }
  std::optional<std::string_view> operator()(const ir::Permute&) const { return kClasses[9]; }
  std::optional<std::string_view> operator()(const ir::Optimizer&) const { return kClasses[10]; }
  std::optional<std::string_view> operator()(const ir::Comm&) const { return std::nullopt; }
};

constexpr std::array<std::string_view, 8> kKernelClasses = {
    "grouped_fp8_gemm", "dense_fp8_gemm", "wgrad_gemm", "other_gemm", "cast_transpose", "rope", "swiglu", "other"};

struct KernelClassVisitor {
  std::optional<std::string_view> operator()(const ir::Gemm& g) const {
    if (!is_fp8(g.a) && !is_fp8(g.b)) return kKernelClasses[3];
    if (g.accumulate) return kKernelClasses[2];
    return g.group_rows.empty() ? kKernelClasses[1] : kKernelClasses[0];
  }
  std::optional<std::string_view> operator()(const ir::Quantize&) const { return kKernelClasses[4]; }
  std::optional<std::string_view> operator()(const ir::Elementwise& e) const {
    if (e.kind == ir::ElementwiseKind::Rope || e.kind == ir::ElementwiseKind::Copy) return kKernelClasses[5];
    if (e.kind == ir::ElementwiseKind::SwiGLU) return kKernelClasses[6];
    return kKernelClasses[7];
  }
  template <typename T>
  std::optional<std::string_view> operator()(const T& op) const {
    return ClassVisitor{}(op);
  }
};

}  // namespace

std::optional<std::string_view> model_fit_class(const ir::OpPayload& op) { return std::visit(ClassVisitor{}, op); }

std::optional<std::string_view> kernel_fit_class(const ir::OpPayload& op) { return std::visit(KernelClassVisitor{}, op); }

bool is_model_fit_class(std::string_view name) {
  for (std::string_view c : kClasses)
    if (c == name) return true;
  for (std::string_view c : kKernelClasses)
    if (c == name) return true;
  return false;
}

std::string_view model_fit_class_names() {
  return "gemm_fp8, gemm_bf16, gemm_fp32, attention_fwd, attention_bwd, norm, elementwise, router, quantize, "
         "permute, optimizer, grouped_fp8_gemm, dense_fp8_gemm, wgrad_gemm, other_gemm, cast_transpose, rope, swiglu, other";
}

}  // namespace tandem::hw
