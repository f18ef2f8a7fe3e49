// MLA attention forward on the GPU (flash-attention style): one CTA per (64-query block, head,
// sequence), K/V tiles of 64 keys double-buffered in shared memory with cp.async, S = Q·Kᵀ and
// O += P·V on mma.sync m16n8k16 BF16 tensor cores, online softmax in FP32, causal tiles skipped.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <mutex>
#include <set>

#include "kernels/attention/attention_common_cuda.h"
#include "kernels/attention/attention_cuda.h"
#include "kernels/common/cuda_check_cuda.h"

namespace tandem::kernels::cuda {
namespace {

using namespace attention_detail;
namespace at = attention_tiling;

struct FwdParams {
  const __nv_bfloat16* q;  // [batch, seq, heads, 192]
  const __nv_bfloat16* k;  // [batch, seq, heads, 192]
  const __nv_bfloat16* v;  // [batch, seq, heads, 128]
  __nv_bfloat16* out;      // [batch, seq, heads, 128]
  float* lse;              // [batch, heads, seq]
  int64_t seq, heads;
  float scale_log2;  // softmax scale · log2(e): scores are kept in base-2 units
};

// Thread layout: warp w owns query rows 16w..16w+15 of the block; lane = 4g + t holds rows g and g+8
// of that slab (r = 0, 1 below) and, per n8 tile of keys or value columns, columns 2t and 2t+1.
__global__ void __launch_bounds__(at::kThreads, 2) attention_fwd_kernel(const FwdParams p) {
  constexpr int kBq = at::kFwdBlockQ, kBk = at::kFwdBlockK, kD = at::kQkDim, kDv = at::kVDim;
  constexpr int kQkLd = at::kQkLd, kVLd = at::kVLd;
  constexpr int kKSlices = kD / 16;    // 12 k-steps of Q·Kᵀ
  constexpr int kKeyTiles = kBk / 8;   // 8 n8 tiles of scores per warp
  constexpr int kOutTiles = kDv / 8;   // 16 n8 tiles of output per warp
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* q_s = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // [kBq][kQkLd]
  __nv_bfloat16* k_s = q_s + kBq * kQkLd;                            // [2][kBk][kQkLd]
  __nv_bfloat16* v_s = k_s + 2 * kBk * kQkLd;                        // [2][kBk][kVLd]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t q_block = gridDim.x - 1 - blockIdx.x;  // the longest rows of keys start first
  const int64_t head = blockIdx.y, batch_index = blockIdx.z;
  const int64_t seq = p.seq, heads = p.heads, q0 = q_block * kBq;
  const int64_t ld_qk = heads * kD, ld_v = heads * kDv;
  const __nv_bfloat16* q_g = p.q + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* k_g = p.k + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* v_g = p.v + at::token_offset(batch_index, 0, head, seq, heads, kDv);
  const int64_t key_blocks = at::causal_key_blocks(q_block, kBq, kBk, seq);

  // Group 0: the Q tile and K/V tile 0.
  load_tile_async<kBq, kD, kQkLd>(q_s, q_g, ld_qk, q0, seq, tid);
  load_tile_async<kBk, kD, kQkLd>(k_s, k_g, ld_qk, 0, seq, tid);
  load_tile_async<kBk, kDv, kVLd>(v_s, v_g, ld_v, 0, seq, tid);
  cp_async_commit();

  uint32_t q_frag[kKSlices][4];  // this warp's 16 query rows, all 192 columns, as A fragments
  float o[kOutTiles][4];
#pragma unroll
  for (int n = 0; n < kOutTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY};  // running max of the base-2 scores of rows g, g+8
  float row_sum[2] = {0.0f, 0.0f};            // this thread's part of the running Σ 2^(s - max)

  const LanePos a_pos = a_operand_lane(lane), b_pos = b_rows_lane(lane), bt_pos = b_trans_lane(lane);
  for (int64_t kb = 0; kb < key_blocks; ++kb) {
    const int buf = static_cast<int>(kb & 1);
    if (kb + 1 < key_blocks) {  // prefetch the next K/V tile into the other buffer
      load_tile_async<kBk, kD, kQkLd>(k_s + (buf ^ 1) * kBk * kQkLd, k_g, ld_qk, (kb + 1) * kBk, seq, tid);
      load_tile_async<kBk, kDv, kVLd>(v_s + (buf ^ 1) * kBk * kVLd, v_g, ld_v, (kb + 1) * kBk, seq, tid);
    }
    cp_async_commit();  // possibly empty: keeps "all but the newest group" = this tile
    cp_async_wait<1>();
    __syncthreads();
    if (kb == 0) {
#pragma unroll
      for (int ks = 0; ks < kKSlices; ++ks) {
        ldmatrix_x4(q_frag[ks], q_s + (warp * 16 + a_pos.row) * kQkLd + ks * 16 + a_pos.col);
      }
    }
    const __nv_bfloat16* kt = k_s + buf * kBk * kQkLd;
    const __nv_bfloat16* vt = v_s + buf * kBk * kVLd;

    // S = Q·Kᵀ for 16 rows x 64 keys.
    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kKSlices; ++ks) {
#pragma unroll
      for (int np = 0; np < kKeyTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, kt + (np * 16 + b_pos.row) * kQkLd + ks * 16 + b_pos.col);
        mma_bf16(s[2 * np], q_frag[ks], b[0], b[1]);
        mma_bf16(s[2 * np + 1], q_frag[ks], b[2], b[3]);
      }
    }

    // Scale to base 2, mask keys after the query on the diagonal tile, new row max.
    const bool masked = at::causal_tile_needs_mask(q0, kBq, kb * kBk, kBk);
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e / 2;
        float x = s[n][e] * p.scale_log2;
        if (masked) {
          const int64_t query = q0 + warp * 16 + g + 8 * r, key = kb * kBk + n * 8 + 2 * t + (e % 2);
          if (key > query) x = -INFINITY;
        }
        s[n][e] = x;
        tile_max[r] = fmaxf(tile_max[r], x);
      }
    }
    float correction[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      // The four lanes of a quad (same g) hold the row's 64 scores between them.
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r]);
      // Every row sees key 0 on tile 0, so new_max is finite; the guard keeps a fully masked row
      // from computing (-inf) - (-inf).
      const float base = new_max == -INFINITY ? 0.0f : new_max;
      correction[r] = exp2f(row_max[r] - base);
      row_max[r] = new_max;
      row_sum[r] *= correction[r];
    }
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e / 2;
        const float base = row_max[r] == -INFINITY ? 0.0f : row_max[r];
        s[n][e] = exp2f(s[n][e] - base);
        row_sum[r] += s[n][e];
      }
    }
#pragma unroll
    for (int n = 0; n < kOutTiles; ++n) {
      o[n][0] *= correction[0];
      o[n][1] *= correction[0];
      o[n][2] *= correction[1];
      o[n][3] *= correction[1];
    }

    // O += P·V: P (BF16) from the score registers, V fragments transposed out of shared memory.
#pragma unroll
    for (int j = 0; j < kBk / 16; ++j) {
      uint32_t a[4];
      accum_to_a(a, s[2 * j], s[2 * j + 1]);
#pragma unroll
      for (int dp = 0; dp < kOutTiles / 2; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, vt + (j * 16 + bt_pos.row) * kVLd + dp * 16 + bt_pos.col);
        mma_bf16(o[2 * dp], a, b[0], b[1]);
        mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }
  cp_async_wait<0>();

  // out = O / l (BF16), lse = ln(l) + max·ln 2 (natural log, as the CPU reference).
  __nv_bfloat16* out_g = p.out + at::token_offset(batch_index, 0, head, seq, heads, kDv);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
    const int64_t query = q0 + warp * 16 + g + 8 * r;
    if (query >= seq) continue;
    const float inv = 1.0f / row_sum[r];
    uint32_t* row = reinterpret_cast<uint32_t*>(out_g + query * ld_v);
#pragma unroll
    for (int n = 0; n < kOutTiles; ++n) row[(n * 8 + 2 * t) / 2] = pack_bf16(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    if (t == 0) {
      p.lse[at::lse_offset(batch_index, head, query, seq, heads)] = row_max[r] * 0.6931471805599453f + logf(row_sum[r]);
    }
  }
}

void configure_once_per_device() {
  static std::mutex mutex;
  static std::set<int> configured;
  int device = 0;
  TANDEM_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  if (configured.count(device)) return;
  TANDEM_CUDA_CHECK(cudaFuncSetAttribute(attention_fwd_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         at::kFwdSmemBytes));
  configured.insert(device);
}

}  // namespace

void attention_forward_cuda(const uint16_t* q, const uint16_t* k, const uint16_t* v, const AttentionShape& shape,
                            uint16_t* out, float* lse, cudaStream_t stream) {
  const AttentionShape& s = shape;
  check_args("attention_forward_cuda", s,
             {{"q", q, qk_elements(s), 16},
              {"k", k, qk_elements(s), 16},
              {"v", v, v_elements(s), 16},
              {"out", out, v_elements(s), 16},
              {"lse", lse, lse_elements(s), 4}});
  if (s.batch == 0 || s.seq == 0) return;
  configure_once_per_device();
  FwdParams p{};
  p.q = reinterpret_cast<const __nv_bfloat16*>(q);
  p.k = reinterpret_cast<const __nv_bfloat16*>(k);
  p.v = reinterpret_cast<const __nv_bfloat16*>(v);
  p.out = reinterpret_cast<__nv_bfloat16*>(out);
  p.lse = lse;
  p.seq = s.seq;
  p.heads = s.heads;
  p.scale_log2 = softmax_scale() * kLog2e;
  const dim3 grid(static_cast<unsigned>(at::ceil_div(s.seq, at::kFwdBlockQ)), static_cast<unsigned>(s.heads),
                  static_cast<unsigned>(s.batch));
  attention_fwd_kernel<<<grid, at::kThreads, at::kFwdSmemBytes, stream>>>(p);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
