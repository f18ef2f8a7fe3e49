// Per-class corrections of the default cost model, fitted to measured kernel times by `tandem
// calibrate` (docs/calibrate.md): time = overhead + scale x (the default model's time less its launch
// cost). A class is an op kind split where the default model uses different peaks or efficiencies.
#pragma once
#include <optional>
#include <string_view>

#include "ir/op.h"

namespace tandem::hw {

struct ModelFit {
  double overhead_ns = 0.0;   // replaces the kind's launch cost (gemm_launch_ns, kernel_launch_ns)
  double time_scale = 1.0;    // multiplies the model's time beyond the launch: default efficiency / fitted
};

// "gemm_fp8", "gemm_bf16", "gemm_fp32", "attention_fwd", "attention_bwd", "norm", "elementwise",
// "router", "quantize", "permute", "optimizer"; none for communication (fitted as links).
std::optional<std::string_view> model_fit_class(const ir::OpPayload& op);
// The finer class a fit may also be kept for, named as a profiler's kernel classes are (trace/
// kernel_class.h): "grouped_fp8_gemm", "dense_fp8_gemm", "wgrad_gemm" (accumulating FP8), "other_gemm",
// "cast_transpose", "rope" (and its copies), "swiglu", "other" (other elementwise work), and for the
// rest the class above ("attention_fwd", "norm", ...). A table's fit of the finer class wins
// (CalibrationTable::fit_for): a Kineto trace lined up with a simulation of its step gives them.
std::optional<std::string_view> kernel_fit_class(const ir::OpPayload& op);
// Whether `name` is one of the classes above, of either kind.
bool is_model_fit_class(std::string_view name);
// The classes, comma-separated, for messages.
std::string_view model_fit_class_names();

}  // namespace tandem::hw
