// DeepGEMM-style tile selection (see gemm_tiling.h).
#include "hw/gemm_tiling.h"

#include <algorithm>

namespace tandem::hw {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

GemmTiling gemm_tiling(int64_t m, int64_t n, int64_t sms, bool grouped_contiguous) {
  sms = std::max<int64_t>(sms, 1);
  m = std::max<int64_t>(m, 1);
  n = std::max<int64_t>(n, 1);
  const int64_t block_m = (!grouped_contiguous && m <= 64) ? 64 : 128;
  GemmTiling best;
  bool have = false;
  for (int64_t block_n = 16; block_n <= 128; block_n += 8) {
    GemmTiling t;
    t.block_m = block_m;
    t.block_n = block_n;
    t.tiles = ceil_div(m, block_m) * ceil_div(n, block_n);
    t.waves = ceil_div(t.tiles, sms);
    t.last_wave_tiles = t.tiles % sms == 0 ? sms : t.tiles % sms;
    bool better = !have || t.waves < best.waves;
    if (have && t.waves == best.waves)
      better = t.last_wave_tiles > best.last_wave_tiles;  // ties keep the smaller block_n (seen first)
    if (better) {
      best = t;
      have = true;
    }
  }
  return best;
}

}  // namespace tandem::hw
