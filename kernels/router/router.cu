// CUDA router kernels (router_cuda.h): one warp per token for the forward and the weights' backward,
// a grid-stride loop for the sigmoid's backward. The choice steps are router_rules_cuda.h's, which
// the host test checks against the CPU reference; all roundings are explicit (__f*_rn), never fused.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/router/router_cuda.h"
#include "kernels/router/router_rules_cuda.h"

namespace tandem::kernels::cuda {
namespace {

namespace rules = tandem::kernels::router_rules;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarpsPerBlock = 8;

// Per warp, in dynamic shared memory (floats): choice [experts + groups] (padded slots), score
// [experts], group score [groups].
__host__ __device__ int64_t router_smem_floats_per_warp(int64_t experts, int64_t groups) {
  return experts + groups + experts + groups;
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    router_forward_kernel(const float* __restrict__ logits, const float* __restrict__ bias, int tokens, int experts,
                          int groups, int topk_groups, int top_k, float route_scale, float* __restrict__ scores,
                          int32_t* __restrict__ topk_idx, float* __restrict__ topk_weight) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kWarpsPerBlock + warp;
  if (t >= tokens) return;  // the whole warp leaves together
  const int group_size = experts / groups;
  float* choice = smem + warp * static_cast<int>(router_smem_floats_per_warp(experts, groups));
  float* score = choice + experts + groups;
  float* gscore = score + experts;

  const float* lt = logits + static_cast<int64_t>(t) * experts;
  float* st = scores + static_cast<int64_t>(t) * experts;
  for (int e = lane; e < experts; e += 32) {
    const float s = rules::sigmoid(lt[e]);
    st[e] = s;
    score[e] = s;
    choice[rules::padded_slot(e, group_size)] = __fadd_rn(s, bias[e]);
  }
  __syncwarp();
  for (int g = lane; g < groups; g += 32) gscore[g] = rules::group_score(choice, g, group_size);
  __syncwarp();
  const uint64_t kept = rules::kept_groups(gscore, groups, topk_groups);  // every lane, same result

  // top_k rounds of a warp arg-max over the kept, untaken experts; lane l holds experts l + 32j
  // (bit j of `taken`). Lane k keeps the k-th choice.
  uint32_t taken = 0;
  int my_choice = 0;
  float sum = 0.0f;
  for (int k = 0; k < top_k; ++k) {
    float bv = 0.0f;
    int bi = -1;
    for (int j = 0; j * 32 + lane < experts; ++j) {
      const int e = j * 32 + lane;
      if (((taken >> j) & 1u) || !((kept >> (e / group_size)) & 1u)) continue;
      rules::take_better(bv, bi, choice[rules::padded_slot(e, group_size)], e);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      const float ov = __shfl_xor_sync(kFullMask, bv, offset);
      const int oi = __shfl_xor_sync(kFullMask, bi, offset);
      rules::take_better(bv, bi, ov, oi);
    }
    bi = __shfl_sync(kFullMask, bi, 0);  // one answer for all lanes, even if NaNs made them differ
    if (bi % 32 == lane) taken |= 1u << (bi / 32);
    if (lane == k) my_choice = bi;
    sum = __fadd_rn(sum, score[bi]);  // the reference's sum, in k order
  }
  if (lane < top_k) {
    const int64_t o = static_cast<int64_t>(t) * top_k + lane;
    topk_idx[o] = my_choice;
    topk_weight[o] = __fdiv_rn(__fmul_rn(route_scale, score[my_choice]), sum);
  }
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    router_weights_backward_kernel(const float* __restrict__ scores, const int32_t* __restrict__ topk_idx,
                                   const float* __restrict__ dweight, int tokens, int experts, int top_k,
                                   float route_scale, float* __restrict__ dscores) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kWarpsPerBlock + warp;
  if (t >= tokens) return;
  const float* st = scores + static_cast<int64_t>(t) * experts;
  const int32_t* idx = topk_idx + static_cast<int64_t>(t) * top_k;
  const float* dw = dweight + static_cast<int64_t>(t) * top_k;
  // Every lane computes the token's sums in the reference's order (top_k is small).
  bool valid = true;
  for (int k = 0; k < top_k; ++k) valid = valid && idx[k] >= 0 && idx[k] < experts;
  float sum = 0.0f, weighted = 0.0f;
  if (valid) {
    for (int k = 0; k < top_k; ++k) sum = __fadd_rn(sum, st[idx[k]]);
    for (int k = 0; k < top_k; ++k) weighted = __fadd_rn(weighted, __fdiv_rn(__fmul_rn(dw[k], st[idx[k]]), sum));
  }
  const float scale = __fdiv_rn(route_scale, sum);
  float* ds = dscores + static_cast<int64_t>(t) * experts;
  for (int e = lane; e < experts; e += 32) {
    float v = 0.0f;
    for (int k = 0; k < top_k; ++k)  // the last k naming e wins, as the reference's writes do
      if (idx[k] == e) v = __fmul_rn(scale, __fsub_rn(dw[k], weighted));
    ds[e] = valid ? v : __int_as_float(0x7fc00000);
  }
}

__global__ void router_sigmoid_backward_kernel(const float* __restrict__ scores, const float* __restrict__ dscores,
                                               int64_t count, float* __restrict__ dlogits) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float s = scores[i];
    dlogits[i] = __fmul_rn(__fmul_rn(dscores[i], s), __fsub_rn(1.0f, s));
  }
}

[[noreturn]] void bad(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) bad(function, std::string(name) + " is null");
}

// router_forward's rules plus the kernel's limits.
void check_router(const char* function, int64_t tokens, const RouterConfig& c) {
  const auto s = [](int64_t v) { return std::to_string(v); };
  if (tokens < 0 || tokens > 0x7fffffff) bad(function, "tokens must be in [0, 2^31), found " + s(tokens));
  if (c.experts < 1 || c.experts > kRouterMaxExperts)
    bad(function, "config.experts must be in [1, " + s(kRouterMaxExperts) + "], found " + s(c.experts));
  if (c.groups < 1 || c.groups > kRouterMaxGroups)
    bad(function, "config.groups must be in [1, " + s(kRouterMaxGroups) + "], found " + s(c.groups));
  if (c.experts % c.groups != 0)
    bad(function, "config.experts (" + s(c.experts) + ") must be a multiple of config.groups (" + s(c.groups) + ")");
  if (c.topk_groups < 1 || c.topk_groups > c.groups)
    bad(function, "config.topk_groups must be in [1, groups = " + s(c.groups) + "], found " + s(c.topk_groups));
  const int64_t eligible = c.topk_groups * (c.experts / c.groups);
  if (c.top_k < 1 || c.top_k > eligible || c.top_k > kRouterMaxTopK)
    bad(function, "config.top_k must be in [1, min(topk_groups · experts/groups = " + s(eligible) + ", " +
                      s(kRouterMaxTopK) + ")], found " + s(c.top_k));
}

unsigned warp_blocks(int64_t tokens) { return static_cast<unsigned>((tokens + kWarpsPerBlock - 1) / kWarpsPerBlock); }

}  // namespace

void router_forward_cuda(const float* logits, const float* bias, int64_t tokens, const RouterConfig& config,
                         float* scores, int32_t* topk_idx, float* topk_weight, cudaStream_t stream) {
  constexpr const char* kName = "router_forward_cuda";
  check_router(kName, tokens, config);
  if (tokens == 0) return;
  check_pointer(kName, "logits", logits);
  check_pointer(kName, "bias", bias);
  check_pointer(kName, "scores", scores);
  check_pointer(kName, "topk_idx", topk_idx);
  check_pointer(kName, "topk_weight", topk_weight);
  const size_t smem =
      static_cast<size_t>(kWarpsPerBlock * router_smem_floats_per_warp(config.experts, config.groups)) * sizeof(float);
  // At most 8 · (2·1024 + 2·64) floats = 68 KiB: above the default 48 KiB for the largest configs.
  if (smem > 48 * 1024) {
    TANDEM_CUDA_CHECK(cudaFuncSetAttribute(router_forward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
  }
  router_forward_kernel<<<warp_blocks(tokens), kWarpsPerBlock * 32, smem, stream>>>(
      logits, bias, static_cast<int>(tokens), static_cast<int>(config.experts), static_cast<int>(config.groups),
      static_cast<int>(config.topk_groups), static_cast<int>(config.top_k), config.route_scale, scores, topk_idx,
      topk_weight);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void router_weights_backward_cuda(const float* scores, const int32_t* topk_idx, const float* dweight, int64_t tokens,
                                  const RouterConfig& config, float* dscores, cudaStream_t stream) {
  constexpr const char* kName = "router_weights_backward_cuda";
  check_router(kName, tokens, config);
  if (tokens == 0) return;
  check_pointer(kName, "scores", scores);
  check_pointer(kName, "topk_idx", topk_idx);
  check_pointer(kName, "dweight", dweight);
  check_pointer(kName, "dscores", dscores);
  router_weights_backward_kernel<<<warp_blocks(tokens), kWarpsPerBlock * 32, 0, stream>>>(
      scores, topk_idx, dweight, static_cast<int>(tokens), static_cast<int>(config.experts),
      static_cast<int>(config.top_k), config.route_scale, dscores);
  TANDEM_CUDA_CHECK_LAUNCH();
}

void router_sigmoid_backward_cuda(const float* scores, const float* dscores, int64_t count, float* dlogits,
                                  cudaStream_t stream) {
  constexpr const char* kName = "router_sigmoid_backward_cuda";
  if (count < 0) bad(kName, "count must be >= 0, found " + std::to_string(count));
  if (count == 0) return;
  check_pointer(kName, "scores", scores);
  check_pointer(kName, "dscores", dscores);
  check_pointer(kName, "dlogits", dlogits);
  const int64_t blocks = std::min<int64_t>((count + 255) / 256, int64_t{1} << 20);
  router_sigmoid_backward_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(scores, dscores, count, dlogits);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
