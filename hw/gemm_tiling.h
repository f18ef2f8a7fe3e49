// The tile heuristic of the FP8 GEMM kernels (DeepGEMM's get_best_configs, README of 2025-02-25):
// a pure function of the shape and the SMs the kernel is launched on, shared by the cost model and
// by any launcher that wants the simulator to assume the tiling it really runs.
#pragma once
#include <cstdint>

namespace tandem::hw {

struct GemmTiling {
  int64_t block_m = 128, block_n = 128;
  int64_t tiles = 0;       // output tiles over all groups
  int64_t waves = 0;       // ceil(tiles / sms)
  int64_t last_wave_tiles = 0;
};

// m: rows (for a contiguous grouped GEMM, the total over groups, each group padded to block_m),
// n: columns. block_m is 64 for m <= 64 and 128 otherwise (128 for grouped contiguous layouts);
// block_n is chosen in 16..128 step 8 to minimise waves, then to fill the last wave best, then the
// larger block_m and smaller block_n, exactly as DeepGEMM's heuristic of that version.
GemmTiling gemm_tiling(int64_t m, int64_t n, int64_t sms, bool grouped_contiguous = false);

}  // namespace tandem::hw
