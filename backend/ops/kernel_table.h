// The kernels a device supplies to the op layer (ops*.cpp), as a table in the manner of ggml's backend
// interface: one entry per kernel, on host spans; an entry a device lacks is null and the op layer runs
// the CPU table's entry instead, counted as a fallback. The CPU table (cpu_kernel_table.cpp) has every
// entry; the CUDA table (backend/cuda/cuda_ops*.cpp) stages operands on the GPU per call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/runtime/device.h"
#include "backend/execution/values.h"
#include "kernels/attention/attention_cpu.h"
#include "kernels/optim/adamw_cpu.h"
#include "kernels/permute/permute_cpu.h"
#include "kernels/router/router_cpu.h"

namespace tandem::backend {

// Where one kernel call runs: the rank's device and the op's stream, the CPU kernels' thread count,
// whether the step runs in FP32 everywhere, and the table's own per-rank state (the CUDA table's GEMM
// runners and counts; null for the CPU table).
struct KernelLaunch {
  Device& device;
  Stream& stream;
  int threads = 1;
  bool exact = false;
  void* device_state = nullptr;
};

// The entries' signatures. Matrices are row-major; "segments" are row offsets {0, r1, ..., m}: segment
// e of the rows pairs with block e of the weight operand (one block for a dense GEMM, one per local
// expert for a grouped one); empty segments are skipped and their output rows left as they are.
namespace kernel_fn {
// out[seg, n] = a[seg, k] · b_e[n, k]ᵀ. bf16_values: every operand and the output are BF16 values, so a
// device may multiply in BF16 (the CPU computes in FP32 either way).
using GemmNt = void(const KernelLaunch&, std::span<const float> a, std::span<const float> b, std::span<float> out,
                    std::span<const int64_t> segments, int64_t n, int64_t k, bool bf16_values);
// out[seg, n] = a[seg, k] · b_e[k, n] (the input gradient through a weight stored [out, in]).
using GemmNn = GemmNt;
// out_e[n, k] += a[seg, n]ᵀ · b[seg, k] (the weight gradient, accumulated in FP32).
using GemmTnAccumulate = void(const KernelLaunch&, std::span<const float> a, std::span<const float> b, std::span<float> out,
                              std::span<const int64_t> segments, int64_t n, int64_t k);
// out[seg, n] = a[seg, k] · b_eᵀ with a in E4M3 with 1x128 tile scales, b_e [n, k] with 128x128 block
// scales (one per segment); FP32 out (a device may round it to BF16).
using Fp8GemmNt = void(const KernelLaunch&, const Fp8Matrix& a, std::span<const Fp8Matrix* const> b, std::span<float> out,
                       std::span<const int64_t> segments);
// dw[n, k] += a[n, t] · b[k, t]ᵀ, both tiled 1x128 along t (the tokens): the FP8 weight gradient.
using Fp8GemmWgrad = void(const KernelLaunch&, const Fp8Matrix& a, const Fp8Matrix& b, std::span<float> dw);
// x [rows, cols] -> E4M3 with 1x128 tile scales.
using QuantizeFp8 = Fp8Matrix(const KernelLaunch&, std::span<const float> x, int64_t rows, int64_t cols, bool pow2_scales);
// An E4M3 [rows, cols] with 1x128 scales -> its transpose [cols, rows], requantised along the old rows.
using TransposeRequantizeFp8 = Fp8Matrix(const KernelLaunch&, std::span<const uint8_t> codes, std::span<const float> scales,
                                         int64_t rows, int64_t cols, bool pow2_scales);
using RmsNormForward = void(const KernelLaunch&, std::span<const float> x, std::span<const float> weight, int64_t rows,
                            int64_t dim, float eps, std::span<float> y, std::span<float> rstd);
// dx [rows, dim] written; dweight [dim] accumulated.
using RmsNormBackward = void(const KernelLaunch&, std::span<const float> x, std::span<const float> weight,
                             std::span<const float> dy, int64_t rows, int64_t dim, float eps, std::span<float> dx,
                             std::span<float> dweight);
// u [rows, 2·width] (gate | up) -> a [rows, width]; backward: da -> du [rows, 2·width].
using SwigluForward = void(const KernelLaunch&, std::span<const float> u, int64_t rows, int64_t width, std::span<float> a);
using SwigluBackward = void(const KernelLaunch&, std::span<const float> u, std::span<const float> da, int64_t rows,
                            int64_t width, std::span<float> du);
// logits [tokens, experts] -> scores [tokens, experts], topk [tokens, top_k], weights [tokens, top_k].
using RouterForward = void(const KernelLaunch&, std::span<const float> logits, std::span<const float> bias,
                           const kernels::RouterConfig& config, std::span<float> scores, std::span<int32_t> topk,
                           std::span<float> weights);
using RouterWeightsBackward = void(const KernelLaunch&, std::span<const float> scores, std::span<const int32_t> topk,
                                   std::span<const float> dweights, const kernels::RouterConfig& config,
                                   std::span<float> dscores);
using RouterSigmoidBackward = void(const KernelLaunch&, std::span<const float> scores, std::span<const float> dscores,
                                   std::span<float> dlogits);
using BuildPermuteIndex = kernels::PermuteIndex(const KernelLaunch&, std::span<const int32_t> ids, int64_t top_k,
                                                int64_t experts);
// out[r] = x[row_source[r] / top_k] for rows of `dim` elements of `element_bytes` (a copy: any type).
using PermuteForward = void(const KernelLaunch&, const void* x, int64_t element_bytes, const kernels::PermuteIndex& index,
                            int64_t dim, void* out);
using PermuteBackward = void(const KernelLaunch&, std::span<const float> rows, const kernels::PermuteIndex& index,
                             int64_t dim, std::span<float> dx);
using UnpermuteForward = void(const KernelLaunch&, std::span<const float> y, std::span<const float> weights,
                              const kernels::PermuteIndex& index, int64_t dim, std::span<float> out);
using UnpermuteBackward = void(const KernelLaunch&, std::span<const float> y, std::span<const float> weights,
                               std::span<const float> dout, const kernels::PermuteIndex& index, int64_t dim,
                               std::span<float> dy, std::span<float> dweights);
// Causal attention: q, k [batch·seq, heads, qk], v [.., v] -> out [.., v], lse [batch, heads, seq].
using AttentionForward = void(const KernelLaunch&, std::span<const float> q, std::span<const float> k,
                              std::span<const float> v, const kernels::AttentionShape& shape, std::span<float> out,
                              std::span<float> lse);
using AttentionBackward = void(const KernelLaunch&, std::span<const float> q, std::span<const float> k,
                               std::span<const float> v, std::span<const float> out, std::span<const float> lse,
                               std::span<const float> dout, const kernels::AttentionShape& shape, std::span<float> dq,
                               std::span<float> dk, std::span<float> dv);
// Whether the attention entries run this shape under this launch's precision (null: every shape).
using AttentionSupports = bool(const KernelLaunch&, const kernels::AttentionShape& shape);
// Rotary embedding of the last `rope_dim` columns per head (in place allowed); backward the inverse.
using RopeForward = void(const KernelLaunch&, std::span<const float> x, std::span<const int32_t> positions, int64_t heads,
                         int64_t rope_dim, std::span<const float> cos, std::span<const float> sin, std::span<float> out);
using RopeBackward = RopeForward;
// Mean cross-entropy over the targets (kernels::kIgnoreIndex skipped); lse [tokens] kept for the backward.
using CrossEntropyForward = double(const KernelLaunch&, std::span<const float> logits, std::span<const int32_t> targets,
                                   int64_t vocab, std::span<float> lse);
// dlogits = scale · (softmax − onehot) / counted targets.
using CrossEntropyBackward = void(const KernelLaunch&, std::span<const float> logits, std::span<const int32_t> targets,
                                  std::span<const float> lse, int64_t vocab, float scale, std::span<float> dlogits);
using EmbeddingForward = void(const KernelLaunch&, std::span<const int32_t> ids, std::span<const float> table, int64_t vocab,
                              int64_t dim, std::span<float> out);
using EmbeddingBackward = void(const KernelLaunch&, std::span<const int32_t> ids, std::span<const float> dout, int64_t vocab,
                               int64_t dim, std::span<float> dtable);
using AdamwStep = void(const KernelLaunch&, std::span<float> params, std::span<const float> grads, std::span<float> m,
                       std::span<float> v, int64_t step, const kernels::AdamWConfig& config);
using SumOfSquares = double(const KernelLaunch&, std::span<const float> values);
using ScaleInPlace = void(const KernelLaunch&, std::span<float> values, float factor);
}  // namespace kernel_fn

// One entry: its name (for counts and messages) and the device's function, null when it has none.
template <typename Fn>
struct KernelEntry {
  const char* name;
  Fn* run = nullptr;
};

struct KernelTable {
  const char* device;   // "cpu", "cuda"
  KernelEntry<kernel_fn::GemmNt> gemm_nt{"gemm_nt"};
  KernelEntry<kernel_fn::GemmNn> gemm_nn{"gemm_nn"};
  KernelEntry<kernel_fn::GemmTnAccumulate> gemm_tn_accumulate{"gemm_tn_accumulate"};
  KernelEntry<kernel_fn::Fp8GemmNt> fp8_gemm_nt{"fp8_gemm_nt"};
  KernelEntry<kernel_fn::Fp8GemmWgrad> fp8_gemm_wgrad{"fp8_gemm_wgrad"};
  KernelEntry<kernel_fn::QuantizeFp8> quantize_fp8{"quantize_fp8"};
  KernelEntry<kernel_fn::TransposeRequantizeFp8> transpose_requantize_fp8{"transpose_requantize_fp8"};
  KernelEntry<kernel_fn::RmsNormForward> rmsnorm_forward{"rmsnorm_forward"};
  KernelEntry<kernel_fn::RmsNormBackward> rmsnorm_backward{"rmsnorm_backward"};
  KernelEntry<kernel_fn::SwigluForward> swiglu_forward{"swiglu_forward"};
  KernelEntry<kernel_fn::SwigluBackward> swiglu_backward{"swiglu_backward"};
  KernelEntry<kernel_fn::RouterForward> router_forward{"router_forward"};
  KernelEntry<kernel_fn::RouterWeightsBackward> router_weights_backward{"router_weights_backward"};
  KernelEntry<kernel_fn::RouterSigmoidBackward> router_sigmoid_backward{"router_sigmoid_backward"};
  KernelEntry<kernel_fn::BuildPermuteIndex> build_permute_index{"build_permute_index"};
  KernelEntry<kernel_fn::PermuteForward> permute_forward{"permute_forward"};
  KernelEntry<kernel_fn::PermuteBackward> permute_backward{"permute_backward"};
  KernelEntry<kernel_fn::UnpermuteForward> unpermute_forward{"unpermute_forward"};
  KernelEntry<kernel_fn::UnpermuteBackward> unpermute_backward{"unpermute_backward"};
  KernelEntry<kernel_fn::AttentionForward> attention_forward{"attention_forward"};
  KernelEntry<kernel_fn::AttentionBackward> attention_backward{"attention_backward"};
  kernel_fn::AttentionSupports* attention_supports = nullptr;
  KernelEntry<kernel_fn::RopeForward> rope_forward{"rope_forward"};
  KernelEntry<kernel_fn::RopeBackward> rope_backward{"rope_backward"};
  KernelEntry<kernel_fn::CrossEntropyForward> cross_entropy_forward{"cross_entropy_forward"};
  KernelEntry<kernel_fn::CrossEntropyBackward> cross_entropy_backward{"cross_entropy_backward"};
  KernelEntry<kernel_fn::EmbeddingForward> embedding_forward{"embedding_forward"};
  KernelEntry<kernel_fn::EmbeddingBackward> embedding_backward{"embedding_backward"};
  KernelEntry<kernel_fn::AdamwStep> adamw_step{"adamw_step"};
  KernelEntry<kernel_fn::SumOfSquares> sum_of_squares{"sum_of_squares"};
  KernelEntry<kernel_fn::ScaleInPlace> scale_in_place{"scale_in_place"};

  // Every entry as (name, present), in declaration order.
  std::vector<std::pair<std::string, bool>> entries() const;
};

// The CPU table: every entry, on kernels/*_cpu (FP32, FP8 emulated).
const KernelTable& cpu_kernel_table();

// Kernel calls of the op layer: by entry name, run by the device's table or by the CPU table instead.
struct KernelCounts {
  std::map<std::string, int64_t> device, fallback;
};

// The kernels one op call uses: the device's table with the CPU table behind it. call() runs the
// device's entry, or the CPU's when the device has none (counted as a fallback in `counts` when given).
class OpKernels {
 public:
  OpKernels(const KernelTable& table, KernelLaunch launch, KernelCounts* counts = nullptr)
      : table_(table), launch_(launch), counts_(counts) {}

  template <typename Fn, typename... Args>
  decltype(auto) call(KernelEntry<Fn> KernelTable::*entry, Args&&... args) {
    return call_if(true, entry, std::forward<Args>(args)...);
  }
  // As call(), but the device's entry only when `device_can` (a shape or precision it does not run).
  template <typename Fn, typename... Args>
  decltype(auto) call_if(bool device_can, KernelEntry<Fn> KernelTable::*entry, Args&&... args) {
    const KernelEntry<Fn>& mine = table_.*entry;
    if (device_can && mine.run) {
      note(mine.name, false);
      return mine.run(launch_, std::forward<Args>(args)...);
    }
    KernelLaunch host = launch_;
    host.device_state = nullptr;
    note(mine.name, true);
    return (cpu_kernel_table().*entry).run(host, std::forward<Args>(args)...);
  }
  bool attention_supported(const kernels::AttentionShape& shape) const {
    return table_.attention_forward.run && table_.attention_backward.run &&
           (!table_.attention_supports || table_.attention_supports(launch_, shape));
  }

  const KernelTable& table() const { return table_; }
  int64_t device_calls() const { return device_calls_; }
  int64_t fallback_calls() const { return fallback_calls_; }

 private:
  void note(const char* name, bool fallback) {
    ++(fallback ? fallback_calls_ : device_calls_);
    if (counts_) ++(fallback ? counts_->fallback : counts_->device)[name];
  }
  const KernelTable& table_;
  KernelLaunch launch_;
  KernelCounts* counts_;
  int64_t device_calls_ = 0, fallback_calls_ = 0;
};

}  // namespace tandem::backend
