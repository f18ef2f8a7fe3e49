// Kernel class names and the class of an event: the reader's `class` arg for Kineto kernels, or a
// function of the op kind, phase and payload args for tandem's own ops.
#include "trace/kernel_class.h"

#include <array>

namespace tandem::trace {

namespace {

constexpr std::array<std::string_view, kKernelClasses> kNames = {
    "grouped_fp8_gemm", "dense_fp8_gemm", "wgrad_gemm", "other_gemm", "attention_fwd", "attention_bwd",
    "cast_transpose",   "norm",           "rope",       "swiglu",    "permute",       "router",
    "other",            "deepep_data",    "deepep_notify", "collective", "pipeline_p2p", "optimizer",
    "copy",             "unknown"};

std::string_view text_arg(const Timeline& tl, const Event& e, std::string_view key) {
  const Arg* a = tl.find_arg(e, key);
  return a && a->type == ArgType::Text ? tl.str(uint32_t(a->int_value)) : std::string_view();
}

bool is_fp8(std::string_view dtype) { return dtype.starts_with("fp8"); }

}  // namespace

std::string_view to_string(KernelClass c) { return kNames[size_t(c)]; }

std::optional<KernelClass> parse_kernel_class(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return KernelClass(i);
  return std::nullopt;
}

std::optional<KernelClass> kernel_class_of(const Timeline& tl, const Event& e) {
  const std::string_view kind = tl.op_of(e);
  const OpClass oc = op_class(kind);
  if (oc == OpClass::Host || oc == OpClass::Annotation) return std::nullopt;
  if (const std::string_view c = text_arg(tl, e, kClassArg); !c.empty())
    if (auto parsed = parse_kernel_class(c)) return parsed;
  if (kind == op_kind::kGemm) {
    const bool fp8 = is_fp8(text_arg(tl, e, "a_dtype")) || is_fp8(text_arg(tl, e, "b_dtype"));
    if (!fp8) return KernelClass::OtherGemm;
    if (e.phase == 'W') return KernelClass::WgradGemm;
    return tl.int_arg(e, "groups", 1) > 1 ? KernelClass::GroupedFp8Gemm : KernelClass::DenseFp8Gemm;
  }
  if (kind == op_kind::kAttention) return tl.int_arg(e, "backward", 0) == 1 ? KernelClass::AttentionBwd : KernelClass::AttentionFwd;
  if (kind == op_kind::kNorm) return KernelClass::Norm;
  if (kind == op_kind::kQuantize) return KernelClass::CastTranspose;
  if (kind == op_kind::kRouter) return KernelClass::Router;
  if (kind == op_kind::kPermute) return KernelClass::Permute;
  if (kind == op_kind::kElementwise) {
    const std::string_view k = text_arg(tl, e, "kind");
    if (k == "rope" || k == "copy") return KernelClass::Rope;   // tandem's only copies: RoPE's concatenations
    if (k == "swiglu") return KernelClass::Swiglu;
    return KernelClass::Other;
  }
  if (kind == op_kind::kAllToAll) return KernelClass::DeepepData;
  if (kind == "notify") return KernelClass::DeepepNotify;   // DeepEP's handshake before an all-to-all
  if (kind == op_kind::kSend || kind == op_kind::kRecv || kind == "send_recv") return KernelClass::PipelineP2p;
  if (oc == OpClass::Comm) return KernelClass::Collective;
  if (oc == OpClass::Optimizer) return KernelClass::Optimizer;
  if (oc == OpClass::Copy) return KernelClass::Copy;
  if (kind == "kernel") return KernelClass::Unknown;
  return KernelClass::Other;
}

}  // namespace tandem::trace
