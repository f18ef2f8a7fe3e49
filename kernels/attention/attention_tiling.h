// Tile sizes and the causal block arithmetic of the CUDA MLA attention kernels (attention_fwd.cu,
// attention_bwd.cu), as constexpr __host__ __device__ functions: the kernels and a host test
// (kernels/tests_cuda/attention_cuda_test.cpp) use the same code. Plain C++ without nvcc.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define TANDEM_ATTN_HD __host__ __device__ __forceinline__
#else
#define TANDEM_ATTN_HD inline
#endif

namespace tandem::kernels::attention_tiling {

// The head dims the kernels are compiled for (DeepSeek-V3 MLA: 128 nope + 64 rope, value 128).
inline constexpr int kQkDim = 192;
inline constexpr int kVDim = 128;
// Shared-memory rows are padded by 8 BF16 (16 bytes): a row stride of 400 or 272 bytes puts the 8
// rows an ldmatrix phase reads in 8 different 16-byte bank groups (stride mod 128 = 16).
inline constexpr int kQkLd = kQkDim + 8;
inline constexpr int kVLd = kVDim + 8;
inline constexpr int kThreads = 128;  // 4 warps in every kernel; a warp owns 16 rows of the tile
inline constexpr int kWarpRows = 16;

// Forward: 64 queries per CTA (4 warps x 16), key/value tiles of 64, double-buffered.
inline constexpr int kFwdBlockQ = 64;
inline constexpr int kFwdBlockK = 64;
// Backward dK/dV: 64 keys per CTA (4 warps x 16), query tiles of 32, double-buffered.
inline constexpr int kDkvBlockK = 64;
inline constexpr int kDkvBlockQ = 32;
// Backward dQ: 64 queries per CTA (4 warps x 16), key/value tiles of 32, double-buffered.
inline constexpr int kDqBlockQ = 64;
inline constexpr int kDqBlockK = 32;

TANDEM_ATTN_HD constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
TANDEM_ATTN_HD constexpr int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Key blocks (of block_k keys) a query block (of block_q queries, index q_block) must visit under the
// causal mask: blocks 0 .. (its last real query) / block_k. The last real query is capped by seq so
// a ragged last query block reads no key block that lies wholly past the sequence.
TANDEM_ATTN_HD constexpr int64_t causal_key_blocks(int64_t q_block, int64_t block_q, int64_t block_k, int64_t seq) {
  const int64_t last_query = min64((q_block + 1) * block_q, seq) - 1;
  return last_query < 0 ? 0 : last_query / block_k + 1;
}

// The first query block (of block_q) that sees any key of key block k_block (of block_k): the one
// holding query k_block·block_k (a query sees keys at or before it).
TANDEM_ATTN_HD constexpr int64_t causal_first_query_block(int64_t k_block, int64_t block_k, int64_t block_q) {
  return k_block * block_k / block_q;
}

// True when some (query, key) pair of the two tiles is masked (key > query): the tile straddles
// the diagonal. Tiles for which it is false are computed without a mask.
TANDEM_ATTN_HD constexpr bool causal_tile_needs_mask(int64_t q_begin, int64_t block_q, int64_t k_begin, int64_t block_k) {
  (void)block_q;
  return k_begin + block_k - 1 > q_begin;
}

// Pairs (query i, key j) with j <= i in one sequence of `seq` tokens: what the causal FLOP counts use.
TANDEM_ATTN_HD constexpr int64_t causal_pairs(int64_t seq) { return seq * (seq + 1) / 2; }

// Element offset of row `token` of head `head` in sequence `batch_index` of a [batch, seq, heads, dim]
// tensor, and of lse/delta entry (batch_index, head, token) in [batch, heads, seq].
TANDEM_ATTN_HD constexpr int64_t token_offset(int64_t batch_index, int64_t token, int64_t head, int64_t seq,
                                              int64_t heads, int64_t dim) {
  return ((batch_index * seq + token) * heads + head) * dim;
}
TANDEM_ATTN_HD constexpr int64_t lse_offset(int64_t batch_index, int64_t head, int64_t token, int64_t seq, int64_t heads) {
  return (batch_index * heads + head) * seq + token;
}

// ldmatrix .x4 address patterns: the (row, column) of a row-major shared tile that lane `lane` points
// at (add the tile's origin; the row is multiplied by the padded stride). Lanes 8i..8i+7 address the
// rows of matrix i, and register i receives matrix i.
struct LanePos {
  int row, col;
};
// A operand (16 rows x 16 k) from a row-major [rows][k] tile: matrices (rows 0-7, k 0-7) = a0,
// (rows 8-15, k 0-7) = a1, (rows 0-7, k 8-15) = a2, (rows 8-15, k 8-15) = a3.
TANDEM_ATTN_HD constexpr LanePos a_operand_lane(int lane) { return {lane % 16, (lane / 16) * 8}; }
// B operand of two n8 tiles from a row-major [k][n] tile, loaded with .trans: matrices (k 0-7, n 0-7)
// = b0 of tile 0, (k 8-15, n 0-7) = b1 of tile 0, (k 0-7, n 8-15) = b0 of tile 1, (k 8-15, n 8-15).
TANDEM_ATTN_HD constexpr LanePos b_trans_lane(int lane) { return {lane % 16, (lane / 16) * 8}; }
// B operand of two n8 tiles from a row-major [n][k] tile (no .trans): matrices (n 0-7, k 0-7) = b0
// of tile 0, (n 0-7, k 8-15) = b1 of tile 0, (n 8-15, k 0-7), (n 8-15, k 8-15) for tile 1.
TANDEM_ATTN_HD constexpr LanePos b_rows_lane(int lane) { return {lane % 8 + (lane / 16) * 8, ((lane / 8) % 2) * 8}; }

// Shared-memory bytes of each kernel (BF16 tiles, padded rows; FP32 lse/delta rows for dK/dV).
inline constexpr int kFwdSmemBytes = 2 * (kFwdBlockQ * kQkLd + 2 * kFwdBlockK * kQkLd + 2 * kFwdBlockK * kVLd);
inline constexpr int kDkvSmemBytes =
    2 * (kDkvBlockK * kQkLd + kDkvBlockK * kVLd + 2 * kDkvBlockQ * kQkLd + 2 * kDkvBlockQ * kVLd) + 4 * 2 * 2 * kDkvBlockQ;
inline constexpr int kDqSmemBytes = 2 * (kDqBlockQ * kQkLd + kDqBlockQ * kVLd + 2 * kDqBlockK * kQkLd + 2 * kDqBlockK * kVLd);

}  // namespace tandem::kernels::attention_tiling
