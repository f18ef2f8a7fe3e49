// The steps of the CUDA router (router.cu) that decide which experts a token gets, as
// __host__ __device__ functions: the tie rule, the padded per-warp layout of the choice scores, a
// group's score, the kept groups, the combine of the warp's arg-max and the sigmoid. The host test
// replays the kernel's warp with them and checks it against router_forward without a GPU.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/cuda_dtype_cuda.h"

namespace tandem::kernels::router_rules {

// a beats b: larger value, ties to the lower index (router_cpu.cpp's rule). NaN never beats.
TANDEM_HOST_DEVICE bool beats(float va, int ia, float vb, int ib) { return va > vb || (va == vb && ia < ib); }

// Slot of expert e in a warp's choice array: one padding float after each group, so lane g reading
// the i-th member of group g hits bank (g·(group_size+1) + i) mod 32, distinct over the lanes when
// group_size is even (32 in DeepSeek-V3). Slots used: experts + groups.
TANDEM_HOST_DEVICE int padded_slot(int e, int group_size) { return e + e / group_size; }

// Score of group g: the sum of its two best choice scores (the one score for a group of one), found
// by the reference's two scans in the reference's order. choice: padded slots.
TANDEM_HOST_DEVICE float group_score(const float* choice, int g, int group_size) {
  const float* cg = choice + g * (group_size + 1);
  int best = 0;
  for (int i = 1; i < group_size; ++i)
    if (beats(cg[i], i, cg[best], best)) best = i;
  int second = -1;
  for (int i = 0; i < group_size; ++i)
    if (i != best && (second < 0 || beats(cg[i], i, cg[second], second))) second = i;
#if defined(__CUDA_ARCH__)
  return second < 0 ? cg[best] : __fadd_rn(cg[best], cg[second]);
#else
  return second < 0 ? cg[best] : cg[best] + cg[second];
#endif
}

// Bit g set for each of the topk_groups best groups (groups <= 64), picked one at a time as the
// reference does.
TANDEM_HOST_DEVICE uint64_t kept_groups(const float* scores, int groups, int topk_groups) {
  uint64_t kept = 0;
  for (int n = 0; n < topk_groups; ++n) {
    int best = -1;
    for (int g = 0; g < groups; ++g) {
      if ((kept >> g) & 1u) continue;
      if (best < 0 || beats(scores[g], g, scores[best], best)) best = g;
    }
    if (best < 0) break;
    kept |= uint64_t{1} << best;
  }
  return kept;
}

// One step of the warp's arg-max: (bv, bi) becomes (ov, oi) when oi is a candidate (>= 0) that beats
// it, or when (bv, bi) is none yet (bi < 0). Over non-NaN values this is the maximum of a strict
// total order, so every order of combining gives the reference's scan result.
TANDEM_HOST_DEVICE void take_better(float& bv, int& bi, float ov, int oi) {
  if (oi >= 0 && (bi < 0 || beats(ov, oi, bv, bi))) {
    bv = ov;
    bi = oi;
  }
}

// sigmoid(x) = 1 / (1 + exp(-x)) with exp evaluated in double and rounded once to float: the
// correctly rounded expf almost always (glibc's expf differs in the last bit for about 2.6e-4 of
// the logits in [-4, 4], so a score can differ from the reference's by an ulp or two).
TANDEM_HOST_DEVICE float sigmoid(float x) {
#if defined(__CUDA_ARCH__)
  const float e = static_cast<float>(exp(-static_cast<double>(x)));
  return __fdiv_rn(1.0f, __fadd_rn(1.0f, e));
#else
  const float e = static_cast<float>(std::exp(-static_cast<double>(x)));
  return 1.0f / (1.0f + e);
#endif
}

}  // namespace tandem::kernels::router_rules
