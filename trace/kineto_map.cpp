// Best-effort op kinds for PyTorch-profiler (Kineto) events: CUDA kernels are classified by the
// words their names carry (NCCL collectives, attention, GEMM libraries, norms, ...).
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "trace/trace_reader.h"

namespace tandem::trace {
namespace {

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

template <size_t N>
bool contains_any(const std::string& hay, const std::array<std::string_view, N>& needles) {
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view n) { return contains(hay, n); });
}

std::string kernel_kind(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Communication first: NCCL kernels and DeepEP-style expert dispatch/combine.
  // DeepEP as DeepSeek's own profile names it (dpsk::ep::internode::dispatch, combine, their notify
  // and layout kernels on the communication stream): the expert all-to-all.
  if (contains(n, "dpsk::ep::")) return std::string(op_kind::kAllToAll);
  if (contains(n, "nccl") || contains(n, "deep_ep") || contains(n, "deepep")) {
    if (contains(n, "allreduce")) return std::string(op_kind::kAllReduce);
    if (contains(n, "allgather")) return std::string(op_kind::kAllGather);
    if (contains(n, "reducescatter")) return std::string(op_kind::kReduceScatter);
    if (contains_any(n, std::array<std::string_view, 4>{"alltoall", "all_to_all", "dispatch", "combine"}))
      return std::string(op_kind::kAllToAll);
    if (contains(n, "sendrecv")) return "send_recv";
    if (contains(n, "send")) return std::string(op_kind::kSend);
    if (contains(n, "recv")) return std::string(op_kind::kRecv);
    return "send_recv";
  }
  if (contains_any(n, std::array<std::string_view, 5>{"flash", "fmha", "attention", "attn", "sdpa"}))
    return std::string(op_kind::kAttention);
  if (contains_any(n, std::array<std::string_view, 7>{"gemm", "cutlass", "cublas", "xmma", "matmul", "wgmma", "gemv"}))
    return std::string(op_kind::kGemm);
  if (contains(n, "norm")) return std::string(op_kind::kNorm);
  if (contains_any(n, std::array<std::string_view, 3>{"adam", "multi_tensor_apply", "optimizer"}))
    return std::string(op_kind::kOptimizer);
  if (contains_any(n, std::array<std::string_view, 3>{"topk", "router", "moe_gate"})) return std::string(op_kind::kRouter);
  if (contains_any(n, std::array<std::string_view, 3>{"quant", "fp8", "e4m3"})) return std::string(op_kind::kQuantize);
  if (contains_any(n, std::array<std::string_view, 4>{"permute", "index", "scatter", "gather"}))
    return std::string(op_kind::kPermute);
  if (contains_any(n, std::array<std::string_view, 5>{"elementwise", "vectorized", "softmax", "reduce", "silu"}))
    return std::string(op_kind::kElementwise);
  return "kernel";
}

}  // namespace

std::string kineto_op_kind(std::string_view cat, std::string_view name) {
  if (cat == "kernel") return kernel_kind(name);
  if (cat == "gpu_memcpy") return std::string(op_kind::kMemcpy);
  if (cat == "gpu_memset") return std::string(op_kind::kMemset);
  std::string c(cat);
  std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (c == "kernel") return kernel_kind(name);
  return c;
}

}  // namespace tandem::trace
