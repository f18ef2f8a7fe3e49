// Tile heuristic of the hand-written sm_90a FP8 GEMM (fp8_gemm_wgmma.cu): a pure function of the
// shape, the SM count and the shared memory a block may use, with no CUDA types, so that hw/'s cost
// model can assume the tiling the GPU really runs. Rule as hw/gemm_tiling.h (DeepGEMM's of
// 2025-02-25) over the block_n the kernel is compiled for; see docs/fp8_gemm.md.
#pragma once
#include <algorithm>
#include <cstdint>

// The tile order is also called from device code; elsewhere these are plain inline functions.
#if defined(__CUDACC__)
#define TANDEM_TILING_HD __host__ __device__
#else
#define TANDEM_TILING_HD
#endif

namespace tandem::kernels {

// The block_n the kernel is instantiated for (each one a separate kernel binary, so few).
inline constexpr int64_t kFp8GemmBlockNs[] = {64, 96, 112, 128};
inline constexpr int64_t kFp8GemmBlockM = 128;  // two consumer warpgroups of 64 rows each
inline constexpr int64_t kFp8GemmBlockK = 128;  // one promotion block of K per pipeline stage
inline constexpr int64_t kFp8GemmThreads = 384;  // producer warpgroup + two consumer warpgroups
inline constexpr int64_t kFp8GemmMaxStages = 8;
// H800/H100/H200: 227 KiB of shared memory per block after opting in (h800-published.json).
inline constexpr int64_t kFp8GemmDefaultSmemBytes = 232448;

struct Fp8GemmTiling {
  int64_t block_m = kFp8GemmBlockM;
  int64_t block_n = 128;
  int64_t block_k = kFp8GemmBlockK;
  int64_t stages = 0;            // depth of the TMA -> wgmma shared-memory ring
  int64_t smem_bytes = 0;        // dynamic shared memory per block (stages, barriers, 1 KiB alignment)
  int64_t m_blocks = 0, n_blocks = 0;
  int64_t tiles = 0;             // output tiles over all groups
  int64_t ctas = 0;              // persistent grid: min(tiles, sms)
  int64_t waves = 0;             // ceil(tiles / sms)
  int64_t last_wave_tiles = 0;   // tiles in the last wave (sms when it is full)
};

// Bytes of one pipeline stage: the A tile (128 x 128 FP8) and the B tile (block_n x 128 FP8).
inline constexpr int64_t fp8_gemm_stage_bytes(int64_t block_n) { return (kFp8GemmBlockM + block_n) * kFp8GemmBlockK; }

// Shared memory for `stages` stages: 1 KiB to align the ring for the 128-byte swizzle, the stages,
// and 16 bytes of mbarriers per stage (full and empty) rounded up to 256.
inline constexpr int64_t fp8_gemm_smem_bytes(int64_t block_n, int64_t stages) {
  return 1024 + stages * fp8_gemm_stage_bytes(block_n) + (stages * 16 + 255) / 256 * 256;
}

// Deepest ring (at most kFp8GemmMaxStages) that fits smem_limit_bytes; 0 when not even 2 fit.
inline constexpr int64_t fp8_gemm_stages(int64_t block_n, int64_t smem_limit_bytes = kFp8GemmDefaultSmemBytes) {
  for (int64_t s = kFp8GemmMaxStages; s >= 2; --s)
    if (fp8_gemm_smem_bytes(block_n, s) <= smem_limit_bytes) return s;
  return 0;
}

// The tiling with a given block_n: m rows of A (grouped: the total over groups, each group a
// multiple of 128 rows), n columns (per group), sms multiprocessors the kernel may occupy.
inline Fp8GemmTiling fp8_gemm_tiling_for(int64_t m, int64_t n, int64_t sms, int64_t block_n,
                                         int64_t smem_limit_bytes = kFp8GemmDefaultSmemBytes) {
  sms = std::max<int64_t>(sms, 1);
  m = std::max<int64_t>(m, 0);
  n = std::max<int64_t>(n, 0);
  Fp8GemmTiling t;
  t.block_n = block_n;
  t.stages = fp8_gemm_stages(block_n, smem_limit_bytes);
  t.smem_bytes = fp8_gemm_smem_bytes(block_n, t.stages);
  t.m_blocks = (m + kFp8GemmBlockM - 1) / kFp8GemmBlockM;
  t.n_blocks = (n + block_n - 1) / block_n;
  t.tiles = t.m_blocks * t.n_blocks;
  t.ctas = std::min(t.tiles, sms);
  t.waves = (t.tiles + sms - 1) / sms;
  t.last_wave_tiles = t.tiles == 0 ? 0 : (t.tiles % sms == 0 ? sms : t.tiles % sms);
  return t;
}

// The heuristic over kFp8GemmBlockNs: block_n minimises the waves, then maximises the tiles of the
// last wave, then is the smaller one (as hw::gemm_tiling).
inline Fp8GemmTiling fp8_gemm_tiling(int64_t m, int64_t n, int64_t sms,
                                     int64_t smem_limit_bytes = kFp8GemmDefaultSmemBytes) {
  Fp8GemmTiling best;
  bool have = false;
  for (const int64_t block_n : kFp8GemmBlockNs) {
    const Fp8GemmTiling t = fp8_gemm_tiling_for(m, n, sms, block_n, smem_limit_bytes);
    const bool better = !have || t.waves < best.waves ||
                        (t.waves == best.waves && t.last_wave_tiles > best.last_wave_tiles);
    if (better) {
      best = t;
      have = true;
    }
  }
  return best;
}

// Tiles are visited in groups of this many column blocks, row blocks fastest within a group, so the
// tiles running at the same time (one per SM) share A and B blocks in L2.
inline constexpr int kFp8GemmTileGroupN = 16;

// The persistent kernel's order: tile t (block b takes t = b, b + grid, ...) -> (m_block, n_block).
// A bijection from [0, m_blocks·n_blocks) onto the tiles.
TANDEM_TILING_HD inline void fp8_gemm_tile_coordinates(int tile, int m_blocks, int n_blocks, int& m_block,
                                                       int& n_block) {
  const int per_group = kFp8GemmTileGroupN * m_blocks;
  const int group = tile / per_group;
  const int first_n = group * kFp8GemmTileGroupN;
  const int width = n_blocks - first_n < kFp8GemmTileGroupN ? n_blocks - first_n : kFp8GemmTileGroupN;
  const int in_group = tile - group * per_group;
  m_block = in_group / width;
  n_block = first_n + in_group % width;
}

}  // namespace tandem::kernels
