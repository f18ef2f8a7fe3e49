// The wgmma GEMM's tile heuristic (fp8_gemm_tiling.h) on hand-computed cases: the DeepSeek-V3 shapes
// of the benchmark on 132 SMs, small shapes, and the pipeline depth for a shared-memory budget.
#include <catch2/catch.hpp>

#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/gemm/fp8_gemm_tiling.h"

using namespace tandem::kernels;

TEST_CASE("fp8 GEMM tiling: DeepSeek-V3 shapes on 132 SMs", "[fp8][gemm][tiling]") {
  // m 4096 -> 32 row blocks. n 7168: block_n 128 -> 56 column blocks, 1792 tiles, 14 waves (13·132 =
  // 1716, last wave 76); 112 -> 64 blocks, 2048 tiles, 16 waves; so 128.
  auto t = fp8_gemm_tiling(4096, 7168, 132);
  CHECK(t.block_n == 128);
  CHECK(t.tiles == 1792);
  CHECK(t.waves == 14);
  CHECK(t.last_wave_tiles == 76);
  CHECK(t.ctas == 132);
  // n 4096: 128 -> 1024 tiles, 8 waves, last 1024 - 924 = 100; 112 -> 37·32 = 1184 tiles, 9 waves.
  t = fp8_gemm_tiling(4096, 4096, 132);
  CHECK(t.block_n == 128);
  CHECK(t.waves == 8);
  CHECK(t.last_wave_tiles == 100);
  // n 2112: 128 -> 17·32 = 544 tiles, 5 waves, last 16; 112 -> 19·32 = 608, 5 waves, last 80;
  // 96 -> 22·32 = 704, 6 waves. So 112 (its tiles straddle 128-column scale blocks).
  t = fp8_gemm_tiling(4096, 2112, 132);
  CHECK(t.block_n == 112);
  CHECK(t.n_blocks == 19);
  CHECK(t.tiles == 608);
  CHECK(t.waves == 5);
  CHECK(t.last_wave_tiles == 80);
  // Grouped 8 x 4096 rows: m 32768 -> 256 row blocks; n 4096 at 128 -> 8192 tiles, 63 waves (62·132 = 8184).
  t = fp8_gemm_tiling(8 * 4096, 4096, 132);
  CHECK(t.block_n == 128);
  CHECK(t.waves == 63);
  CHECK(t.last_wave_tiles == 8);
}

TEST_CASE("fp8 GEMM tiling: small shapes and ties", "[fp8][gemm][tiling]") {
  // m 128, n 256: one wave whatever block_n; last-wave tiles 64 -> 4, 96 -> 3, 112 -> 3, 128 -> 2: 64.
  auto t = fp8_gemm_tiling(128, 256, 132);
  CHECK(t.block_n == 64);
  CHECK(t.tiles == 4);
  CHECK(t.ctas == 4);
  // m 4096, n 576 (a KV projection): 64 -> 9·32 = 288 tiles, 3 waves; 96 and 112 -> 6·32 = 192, 2 waves,
  // last 60 each (the tie goes to the smaller, 96); 128 -> 160, 2 waves, last 28.
  t = fp8_gemm_tiling(4096, 576, 132);
  CHECK(t.block_n == 96);
  CHECK(t.last_wave_tiles == 60);
  // A forced block_n: m 200 -> 2 row blocks, n 264 at 112 -> 3 column blocks.
  t = fp8_gemm_tiling_for(200, 264, 132, 112);
  CHECK(t.m_blocks == 2);
  CHECK(t.n_blocks == 3);
  CHECK(t.tiles == 6);
  // Nothing to do.
  t = fp8_gemm_tiling(0, 256, 132);
  CHECK(t.tiles == 0);
  CHECK(t.ctas == 0);
}

TEST_CASE("fp8 GEMM tiling: pipeline depth for the shared memory", "[fp8][gemm][tiling]") {
  // A stage holds 128·128 + block_n·128 bytes: 32768 at block_n 128. With 232448 bytes: 1024 + 7·32768
  // + 256 = 230656 fits, 8 stages (263424) do not.
  CHECK(fp8_gemm_stage_bytes(128) == 32768);
  CHECK(fp8_gemm_stages(128) == 7);
  CHECK(fp8_gemm_smem_bytes(128, 7) == 230656);
  // block_n 64: 24576 per stage, 8 (the cap) fit: 1024 + 196608 + 256 = 197888.
  CHECK(fp8_gemm_stages(64) == 8);
  CHECK(fp8_gemm_smem_bytes(64, 8) == 197888);
  // 100000 bytes at block_n 128: 3 stages (1024 + 98304 + 256 = 99584); 2 stages need 66816.
  CHECK(fp8_gemm_stages(128, 100000) == 3);
  CHECK(fp8_gemm_stages(128, 60000) == 0);
  CHECK(fp8_gemm_tiling(4096, 7168, 132, 100000).stages == 3);
}

TEST_CASE("fp8 GEMM tile order: every tile once, grouped by 16 column blocks", "[fp8][gemm][tiling]") {
  // By hand, m_blocks 2, n_blocks 3 (one group of width 3): tiles 0..5 -> (0,0) (0,1) (0,2) (1,0) (1,1) (1,2).
  int mb = -1, nb = -1;
  fp8_gemm_tile_coordinates(4, 2, 3, mb, nb);
  CHECK(mb == 1);
  CHECK(nb == 1);
  // m_blocks 2, n_blocks 20: group 0 covers columns 0-15 (32 tiles), group 1 columns 16-19 (8 tiles):
  // tile 33 -> in group 1, index 1 -> (0, 17); tile 31 -> (1, 15).
  fp8_gemm_tile_coordinates(33, 2, 20, mb, nb);
  CHECK((mb == 0 && nb == 17));
  fp8_gemm_tile_coordinates(31, 2, 20, mb, nb);
  CHECK((mb == 1 && nb == 15));
  for (const auto& [m_blocks, n_blocks] : std::vector<std::pair<int, int>>{{1, 1}, {32, 56}, {32, 19}, {256, 32}, {3, 17}, {7, 33}}) {
    std::vector<int> seen(static_cast<size_t>(m_blocks * n_blocks), 0);
    for (int t = 0; t < m_blocks * n_blocks; ++t) {
      fp8_gemm_tile_coordinates(t, m_blocks, n_blocks, mb, nb);
      REQUIRE(mb >= 0);
      REQUIRE(mb < m_blocks);
      REQUIRE(nb >= 0);
      REQUIRE(nb < n_blocks);
      ++seen[static_cast<size_t>(mb * n_blocks + nb)];
    }
    INFO("m_blocks " << m_blocks << ", n_blocks " << n_blocks);
    CHECK(std::count(seen.begin(), seen.end(), 1) == m_blocks * n_blocks);
  }
}
