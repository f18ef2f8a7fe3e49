// Kernel classes: a finer grouping than the op kind, shared by both sides of a comparison (a grouped
// FP8 GEMM, a weight-gradient GEMM, DeepEP's data and notify kernels, ...). A Kineto trace's kernels
// get theirs from the map (trace/kineto_map.h); tandem's own ops from their kind, phase and payload.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "trace/timeline.h"

namespace tandem::trace {

enum class KernelClass : uint8_t {
  GroupedFp8Gemm,   // the experts' grouped FP8 GEMMs, forward and input gradient
  DenseFp8Gemm,     // dense FP8 GEMMs (attention projections, shared expert, dense FFN), F and B
  WgradGemm,        // FP8 weight-gradient GEMMs (accumulating into FP32), dense and grouped
  OtherGemm,        // other GEMMs: BF16 ones (router gate, output head), or GEMMs a map cannot tell apart
  AttentionFwd,
  AttentionBwd,     // the backward kernel with its pre- and post-processing
  CastTranspose,    // FP8 casts, cast-backs and transposes
  Norm,
  Rope,             // rotary embedding and the copies that concatenate its parts
  Swiglu,
  Permute,          // token reordering by expert and back (with the weighted sum)
  Router,           // gate scores, top-k, balance statistics
  Other,            // other compute: adds, scales, fills, reductions
  DeepepData,       // expert dispatch and combine moving tokens
  DeepepNotify,     // DeepEP's handshakes: notify, barriers, layout
  Collective,       // all-reduce, reduce-scatter, all-gather
  PipelineP2p,      // pipeline send and receive
  Optimizer,
  Copy,             // memcpy, memset
  Unknown,          // a kernel no rule of the map recognised
};
inline constexpr size_t kKernelClasses = size_t(KernelClass::Unknown) + 1;

std::string_view to_string(KernelClass c);   // "grouped_fp8_gemm", "wgrad_gemm", ...
std::optional<KernelClass> parse_kernel_class(std::string_view name);

// The arg a Kineto kernel carries its class in (a Text arg, set by the reader from the map).
inline constexpr std::string_view kClassArg = "class";

// The class of an event: its `class` arg when it has one (Kineto kernels), else from its op kind,
// phase and payload args (tandem's own traces: a GEMM in phase W is wgrad_gemm, an FP8 GEMM with
// several groups grouped_fp8_gemm, an elementwise op of kind rope rope, ...). Host work and
// annotations have no class.
std::optional<KernelClass> kernel_class_of(const Timeline& tl, const Event& e);

}  // namespace tandem::trace
