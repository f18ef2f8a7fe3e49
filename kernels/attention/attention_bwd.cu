// MLA attention backward on the GPU, the FA2 scheme without atomics: delta = rowsum(dout ∘ out),
// then one CTA per 64-key block sweeps the query blocks after it for dK, dV, and a separate CTA per
// 64-query block sweeps the key blocks before it for dQ (P and dP recomputed), so sums keep one order.
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

struct BwdParams {
  const __nv_bfloat16* q;     // [batch, seq, heads, 192]
  const __nv_bfloat16* k;     // [batch, seq, heads, 192]
  const __nv_bfloat16* v;     // [batch, seq, heads, 128]
  const __nv_bfloat16* out;   // [batch, seq, heads, 128]
  const __nv_bfloat16* dout;  // [batch, seq, heads, 128]
  const float* lse;           // [batch, heads, seq]
  float* delta;               // [batch, heads, seq] = Σ_c dout·out per row
  __nv_bfloat16* dq;          // [batch, seq, heads, 192]
  __nv_bfloat16* dk;          // [batch, seq, heads, 192]
  __nv_bfloat16* dv;          // [batch, seq, heads, 128]
  int64_t batch, seq, heads;
  float scale;       // softmax scale 1/sqrt(192)
  float scale_log2;  // scale · log2(e)
};

// delta[b, h, i] = Σ_c dout[b, i, h, c] · out[b, i, h, c] in FP32: one warp per row (8 rows per
// 256-thread block), 4 columns per lane, then a fixed butterfly over the lanes.
__global__ void __launch_bounds__(256) attention_delta_kernel(const BwdParams p) {
  const int64_t rows = p.batch * p.seq * p.heads;  // row r = (b·seq + i)·heads + h, as in memory
  const int64_t r = static_cast<int64_t>(blockIdx.x) * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const uint2 o = reinterpret_cast<const uint2*>(p.out + r * at::kVDim)[lane];
  const uint2 d = reinterpret_cast<const uint2*>(p.dout + r * at::kVDim)[lane];
  const float2 o01 = unpack_bf16(o.x), o23 = unpack_bf16(o.y), d01 = unpack_bf16(d.x), d23 = unpack_bf16(d.y);
  float sum = d01.x * o01.x + d01.y * o01.y + d23.x * o23.x + d23.y * o23.y;
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0) {
    const int64_t h = r % p.heads, i = (r / p.heads) % p.seq, b = r / (p.heads * p.seq);
    p.delta[at::lse_offset(b, h, i, p.seq, p.heads)] = sum;
  }
}

// dK, dV for 64 keys (warp w: keys 16w..16w+15, lane = 4g + t: keys g, g+8 and, per n8 tile of
// queries or columns, columns 2t, 2t+1). Per query tile of 32, with scores transposed (keys as rows):
//   Sᵀ = K·Qᵀ, Pᵀ = 2^(Sᵀ·scale·log2e − lse·log2e) (0 where key > query or query >= seq),
//   dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ∘ (dPᵀ − delta), dV += Pᵀ·dO, dK += dSᵀ·Q; dK scaled once at the end.
__global__ void __launch_bounds__(at::kThreads, 2) attention_dkdv_kernel(const BwdParams p) {
  constexpr int kBk = at::kDkvBlockK, kBq = at::kDkvBlockQ, kD = at::kQkDim, kDv = at::kVDim;
  constexpr int kQkLd = at::kQkLd, kVLd = at::kVLd;
  constexpr int kQTiles = kBq / 8;  // 4 n8 tiles of queries
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* k_s = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // [kBk][kQkLd]
  __nv_bfloat16* v_s = k_s + kBk * kQkLd;                            // [kBk][kVLd]
  __nv_bfloat16* q_s = v_s + kBk * kVLd;                             // [2][kBq][kQkLd]
  __nv_bfloat16* do_s = q_s + 2 * kBq * kQkLd;                       // [2][kBq][kVLd]
  float* lse_s = reinterpret_cast<float*>(do_s + 2 * kBq * kVLd);    // [2][kBq]
  float* delta_s = lse_s + 2 * kBq;                                  // [2][kBq]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t k_block = blockIdx.x;  // key block 0 sees every query block: it starts first
  const int64_t head = blockIdx.y, batch_index = blockIdx.z;
  const int64_t seq = p.seq, heads = p.heads, k0 = k_block * kBk;
  const int64_t ld_qk = heads * kD, ld_v = heads * kDv;
  const __nv_bfloat16* q_g = p.q + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* k_g = p.k + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* v_g = p.v + at::token_offset(batch_index, 0, head, seq, heads, kDv);
  const __nv_bfloat16* do_g = p.dout + at::token_offset(batch_index, 0, head, seq, heads, kDv);
  const float* lse_g = p.lse + at::lse_offset(batch_index, head, 0, seq, heads);
  const float* delta_g = p.delta + at::lse_offset(batch_index, head, 0, seq, heads);
  const int64_t q_first = at::causal_first_query_block(k_block, kBk, kBq);
  const int64_t q_blocks = at::ceil_div(seq, kBq);

  auto load_query_tile = [&](int buf, int64_t q_block) {
    const int64_t q0 = q_block * kBq;
    load_tile_async<kBq, kD, kQkLd>(q_s + buf * kBq * kQkLd, q_g, ld_qk, q0, seq, tid);
    load_tile_async<kBq, kDv, kVLd>(do_s + buf * kBq * kVLd, do_g, ld_v, q0, seq, tid);
    load_row_values_async<kBq>(lse_s + buf * kBq, lse_g, q0, seq, tid);
    load_row_values_async<kBq>(delta_s + buf * kBq, delta_g, q0, seq, tid);
  };
  load_tile_async<kBk, kD, kQkLd>(k_s, k_g, ld_qk, k0, seq, tid);
  load_tile_async<kBk, kDv, kVLd>(v_s, v_g, ld_v, k0, seq, tid);
  load_query_tile(0, q_first);
  cp_async_commit();

  float dk[kD / 8][4], dv[kDv / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = 0.0f;
#pragma unroll
  for (int n = 0; n < kDv / 8; ++n) dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.0f;

  const LanePos a_pos = a_operand_lane(lane), b_pos = b_rows_lane(lane), bt_pos = b_trans_lane(lane);
  const __nv_bfloat16* k_warp = k_s + (warp * 16 + a_pos.row) * kQkLd + a_pos.col;
  const __nv_bfloat16* v_warp = v_s + (warp * 16 + a_pos.row) * kVLd + a_pos.col;
  for (int64_t qb = q_first; qb < q_blocks; ++qb) {
    const int buf = static_cast<int>((qb - q_first) & 1);
    if (qb + 1 < q_blocks) load_query_tile(buf ^ 1, qb + 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const __nv_bfloat16* qt = q_s + buf * kBq * kQkLd;
    const __nv_bfloat16* dot = do_s + buf * kBq * kVLd;
    const float* lse_t = lse_s + buf * kBq;
    const float* delta_t = delta_s + buf * kBq;
    const int64_t q0 = qb * kBq;

    // Sᵀ (16 keys x 32 queries) and dPᵀ.
    float pt[kQTiles][4], dpt[kQTiles][4];
#pragma unroll
    for (int n = 0; n < kQTiles; ++n) {
      pt[n][0] = pt[n][1] = pt[n][2] = pt[n][3] = 0.0f;
      dpt[n][0] = dpt[n][1] = dpt[n][2] = dpt[n][3] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < kD / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, k_warp + ks * 16);
#pragma unroll
      for (int np = 0; np < kQTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, qt + (np * 16 + b_pos.row) * kQkLd + ks * 16 + b_pos.col);
        mma_bf16(pt[2 * np], a, b[0], b[1]);
        mma_bf16(pt[2 * np + 1], a, b[2], b[3]);
      }
    }
#pragma unroll
    for (int ks = 0; ks < kDv / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, v_warp + ks * 16);
#pragma unroll
      for (int np = 0; np < kQTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, dot + (np * 16 + b_pos.row) * kVLd + ks * 16 + b_pos.col);
        mma_bf16(dpt[2 * np], a, b[0], b[1]);
        mma_bf16(dpt[2 * np + 1], a, b[2], b[3]);
      }
    }

    // Pᵀ and dSᵀ (dSᵀ overwrites dPᵀ).
    const bool masked = at::causal_tile_needs_mask(q0, kBq, k0, kBk) || q0 + kBq > seq;
#pragma unroll
    for (int n = 0; n < kQTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = n * 8 + 2 * t + (e % 2);
        float prob = exp2f(pt[n][e] * p.scale_log2 - lse_t[col] * kLog2e);
        if (masked) {
          const int64_t key = k0 + warp * 16 + g + 8 * (e / 2), query = q0 + col;
          if (key > query || query >= seq) prob = 0.0f;
        }
        pt[n][e] = prob;
        dpt[n][e] = prob * (dpt[n][e] - delta_t[col]);
      }
    }

    // dV += Pᵀ·dO and dK += dSᵀ·Q, k-steps of 16 queries; B fragments transposed out of shared memory.
#pragma unroll
    for (int j = 0; j < kBq / 16; ++j) {
      uint32_t a[4];
      accum_to_a(a, pt[2 * j], pt[2 * j + 1]);
#pragma unroll
      for (int dp = 0; dp < kDv / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, dot + (j * 16 + bt_pos.row) * kVLd + dp * 16 + bt_pos.col);
        mma_bf16(dv[2 * dp], a, b[0], b[1]);
        mma_bf16(dv[2 * dp + 1], a, b[2], b[3]);
      }
      accum_to_a(a, dpt[2 * j], dpt[2 * j + 1]);
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, qt + (j * 16 + bt_pos.row) * kQkLd + dp * 16 + bt_pos.col);
        mma_bf16(dk[2 * dp], a, b[0], b[1]);
        mma_bf16(dk[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // the next prefetch overwrites this buffer
  }
  cp_async_wait<0>();

  __nv_bfloat16* dk_g = p.dk + at::token_offset(batch_index, 0, head, seq, heads, kD);
  __nv_bfloat16* dv_g = p.dv + at::token_offset(batch_index, 0, head, seq, heads, kDv);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t key = k0 + warp * 16 + g + 8 * r;
    if (key >= seq) continue;
    uint32_t* dk_row = reinterpret_cast<uint32_t*>(dk_g + key * ld_qk);
    uint32_t* dv_row = reinterpret_cast<uint32_t*>(dv_g + key * ld_v);
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) dk_row[n * 4 + t] = pack_bf16(dk[n][2 * r] * p.scale, dk[n][2 * r + 1] * p.scale);
#pragma unroll
    for (int n = 0; n < kDv / 8; ++n) dv_row[n * 4 + t] = pack_bf16(dv[n][2 * r], dv[n][2 * r + 1]);
  }
}

// dQ for 64 queries (warp w: queries 16w..16w+15), per key tile of 32: S = Q·Kᵀ, P from lse,
// dP = dO·Vᵀ, dS = P ∘ (dP − delta), dQ += dS·K; dQ scaled once at the end.
__global__ void __launch_bounds__(at::kThreads, 2) attention_dq_kernel(const BwdParams p) {
  constexpr int kBq = at::kDqBlockQ, kBk = at::kDqBlockK, kD = at::kQkDim, kDv = at::kVDim;
  constexpr int kQkLd = at::kQkLd, kVLd = at::kVLd;
  constexpr int kKeyTiles = kBk / 8;  // 4 n8 tiles of keys
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* q_s = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // [kBq][kQkLd]
  __nv_bfloat16* do_s = q_s + kBq * kQkLd;                           // [kBq][kVLd]
  __nv_bfloat16* k_s = do_s + kBq * kVLd;                            // [2][kBk][kQkLd]
  __nv_bfloat16* v_s = k_s + 2 * kBk * kQkLd;                        // [2][kBk][kVLd]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t q_block = gridDim.x - 1 - blockIdx.x;  // the longest rows of keys start first
  const int64_t head = blockIdx.y, batch_index = blockIdx.z;
  const int64_t seq = p.seq, heads = p.heads, q0 = q_block * kBq;
  const int64_t ld_qk = heads * kD, ld_v = heads * kDv;
  const __nv_bfloat16* q_g = p.q + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* k_g = p.k + at::token_offset(batch_index, 0, head, seq, heads, kD);
  const __nv_bfloat16* v_g = p.v + at::token_offset(batch_index, 0, head, seq, heads, kDv);
  const __nv_bfloat16* do_g = p.dout + at::token_offset(batch_index, 0, head, seq, heads, kDv);
  const int64_t key_blocks = at::causal_key_blocks(q_block, kBq, kBk, seq);

  load_tile_async<kBq, kD, kQkLd>(q_s, q_g, ld_qk, q0, seq, tid);
  load_tile_async<kBq, kDv, kVLd>(do_s, do_g, ld_v, q0, seq, tid);
  load_tile_async<kBk, kD, kQkLd>(k_s, k_g, ld_qk, 0, seq, tid);
  load_tile_async<kBk, kDv, kVLd>(v_s, v_g, ld_v, 0, seq, tid);
  cp_async_commit();

  float lse_log2[2], delta[2];  // of rows g and g+8 (0 past the sequence: those rows are not stored)
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t query = q0 + warp * 16 + g + 8 * r;
    const bool valid = query < seq;
    lse_log2[r] = valid ? p.lse[at::lse_offset(batch_index, head, query, seq, heads)] * kLog2e : 0.0f;
    delta[r] = valid ? p.delta[at::lse_offset(batch_index, head, query, seq, heads)] : 0.0f;
  }
  float dq[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;

  const LanePos a_pos = a_operand_lane(lane), b_pos = b_rows_lane(lane), bt_pos = b_trans_lane(lane);
  const __nv_bfloat16* q_warp = q_s + (warp * 16 + a_pos.row) * kQkLd + a_pos.col;
  const __nv_bfloat16* do_warp = do_s + (warp * 16 + a_pos.row) * kVLd + a_pos.col;
  for (int64_t kb = 0; kb < key_blocks; ++kb) {
    const int buf = static_cast<int>(kb & 1);
    if (kb + 1 < key_blocks) {
      load_tile_async<kBk, kD, kQkLd>(k_s + (buf ^ 1) * kBk * kQkLd, k_g, ld_qk, (kb + 1) * kBk, seq, tid);
      load_tile_async<kBk, kDv, kVLd>(v_s + (buf ^ 1) * kBk * kVLd, v_g, ld_v, (kb + 1) * kBk, seq, tid);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const __nv_bfloat16* kt = k_s + buf * kBk * kQkLd;
    const __nv_bfloat16* vt = v_s + buf * kBk * kVLd;
    const int64_t k0 = kb * kBk;

    float s[kKeyTiles][4], ds[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
      ds[n][0] = ds[n][1] = ds[n][2] = ds[n][3] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < kD / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, q_warp + ks * 16);
#pragma unroll
      for (int np = 0; np < kKeyTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, kt + (np * 16 + b_pos.row) * kQkLd + ks * 16 + b_pos.col);
        mma_bf16(s[2 * np], a, b[0], b[1]);
        mma_bf16(s[2 * np + 1], a, b[2], b[3]);
      }
    }
#pragma unroll
    for (int ks = 0; ks < kDv / 16; ++ks) {
      uint32_t a[4];
      ldmatrix_x4(a, do_warp + ks * 16);
#pragma unroll
      for (int np = 0; np < kKeyTiles / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, vt + (np * 16 + b_pos.row) * kVLd + ks * 16 + b_pos.col);
        mma_bf16(ds[2 * np], a, b[0], b[1]);
        mma_bf16(ds[2 * np + 1], a, b[2], b[3]);
      }
    }

    const bool masked = at::causal_tile_needs_mask(q0, kBq, k0, kBk);
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e / 2;
        float prob = exp2f(s[n][e] * p.scale_log2 - lse_log2[r]);
        if (masked) {
          const int64_t query = q0 + warp * 16 + g + 8 * r, key = k0 + n * 8 + 2 * t + (e % 2);
          if (key > query) prob = 0.0f;
        }
        ds[n][e] = prob * (ds[n][e] - delta[r]);
      }
    }

    // dQ += dS·K: k-steps of 16 keys, K fragments transposed out of shared memory.
#pragma unroll
    for (int j = 0; j < kBk / 16; ++j) {
      uint32_t a[4];
      accum_to_a(a, ds[2 * j], ds[2 * j + 1]);
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, kt + (j * 16 + bt_pos.row) * kQkLd + dp * 16 + bt_pos.col);
        mma_bf16(dq[2 * dp], a, b[0], b[1]);
        mma_bf16(dq[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();

  __nv_bfloat16* dq_g = p.dq + at::token_offset(batch_index, 0, head, seq, heads, kD);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t query = q0 + warp * 16 + g + 8 * r;
    if (query >= seq) continue;
    uint32_t* row = reinterpret_cast<uint32_t*>(dq_g + query * ld_qk);
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) row[n * 4 + t] = pack_bf16(dq[n][2 * r] * p.scale, dq[n][2 * r + 1] * p.scale);
  }
}

void configure_once_per_device() {
  static std::mutex mutex;
  static std::set<int> configured;
  int device = 0;
  TANDEM_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  if (configured.count(device)) return;
  TANDEM_CUDA_CHECK(cudaFuncSetAttribute(attention_dkdv_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         at::kDkvSmemBytes));
  TANDEM_CUDA_CHECK(cudaFuncSetAttribute(attention_dq_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         at::kDqSmemBytes));
  configured.insert(device);
}

// The delta scratch, from the stream-ordered pool, given back on the stream however the launches end.
struct StreamScratch {
  float* data = nullptr;
  cudaStream_t stream = nullptr;
  StreamScratch(size_t count, cudaStream_t s) : stream(s) {
    TANDEM_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&data), count * sizeof(float), stream));
  }
  ~StreamScratch() {
    if (data) cudaFreeAsync(data, stream);
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
};

}  // namespace

void attention_backward_cuda(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* out,
                             const float* lse, const uint16_t* dout, const AttentionShape& shape, uint16_t* dq,
                             uint16_t* dk, uint16_t* dv, cudaStream_t stream) {
  const AttentionShape& s = shape;
  check_args("attention_backward_cuda", s,
             {{"q", q, qk_elements(s), 16},
              {"k", k, qk_elements(s), 16},
              {"v", v, v_elements(s), 16},
              {"out", out, v_elements(s), 16},
              {"lse", lse, lse_elements(s), 4},
              {"dout", dout, v_elements(s), 16},
              {"dq", dq, qk_elements(s), 16},
              {"dk", dk, qk_elements(s), 16},
              {"dv", dv, v_elements(s), 16}});
  if (s.batch == 0 || s.seq == 0) return;
  configure_once_per_device();
  StreamScratch delta(static_cast<size_t>(lse_elements(s)), stream);
  BwdParams p{};
  p.q = reinterpret_cast<const __nv_bfloat16*>(q);
  p.k = reinterpret_cast<const __nv_bfloat16*>(k);
  p.v = reinterpret_cast<const __nv_bfloat16*>(v);
  p.out = reinterpret_cast<const __nv_bfloat16*>(out);
  p.dout = reinterpret_cast<const __nv_bfloat16*>(dout);
  p.lse = lse;
  p.delta = delta.data;
  p.dq = reinterpret_cast<__nv_bfloat16*>(dq);
  p.dk = reinterpret_cast<__nv_bfloat16*>(dk);
  p.dv = reinterpret_cast<__nv_bfloat16*>(dv);
  p.batch = s.batch;
  p.seq = s.seq;
  p.heads = s.heads;
  p.scale = softmax_scale();
  p.scale_log2 = p.scale * kLog2e;

  const int64_t rows = s.batch * s.seq * s.heads;
  attention_delta_kernel<<<static_cast<unsigned>(at::ceil_div(rows, 8)), 256, 0, stream>>>(p);
  TANDEM_CUDA_CHECK_LAUNCH();
  const dim3 dkdv_grid(static_cast<unsigned>(at::ceil_div(s.seq, at::kDkvBlockK)), static_cast<unsigned>(s.heads),
                       static_cast<unsigned>(s.batch));
  attention_dkdv_kernel<<<dkdv_grid, at::kThreads, at::kDkvSmemBytes, stream>>>(p);
  TANDEM_CUDA_CHECK_LAUNCH();
  const dim3 dq_grid(static_cast<unsigned>(at::ceil_div(s.seq, at::kDqBlockQ)), static_cast<unsigned>(s.heads),
                     static_cast<unsigned>(s.batch));
  attention_dq_kernel<<<dq_grid, at::kThreads, at::kDqSmemBytes, stream>>>(p);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
