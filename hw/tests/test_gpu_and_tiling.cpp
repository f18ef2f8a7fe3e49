// Tests of the GPU catalogue and the DeepGEMM-style tile heuristic.
#include <catch2/catch.hpp>

#include "hw/gemm_tiling.h"
#include "hw/gpu_catalogue.h"

using namespace tandem;

TEST_CASE("catalogue holds the thirteen accelerators with the H800's published numbers", "[hw][gpu]") {
  CHECK(hw::gpu_catalogue().size() == 13);
  for (const char* name : {"H800", "H100", "H200", "H20", "A100", "B200"}) CHECK(hw::find_gpu(name) != nullptr);
  const hw::GpuSpec& h800 = hw::gpu_spec("h800");   // lookup ignores case
  CHECK(h800.sms == 132);
  CHECK(h800.nvlink_bytes_per_s == 400e9);
  CHECK(h800.hbm_bytes_per_s == 3.35e12);
  CHECK(h800.fp8_flops == 2 * h800.bf16_flops);
  CHECK(hw::gpu_spec("H100").nvlink_bytes_per_s == 900e9);
}

TEST_CASE("unknown GPU names the known ones", "[hw][gpu]") {
  CHECK(hw::find_gpu("V100") == nullptr);
  try {
    hw::gpu_spec("V100");
    FAIL("expected an exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("V100") != std::string::npos);
    CHECK(std::string(e.what()).find("H800, H100") != std::string::npos);
  }
}

TEST_CASE("FP8 on a GPU without FP8 tensor cores runs at the BF16 rate", "[hw][gpu]") {
  const hw::GpuSpec& a100 = hw::gpu_spec("A100");
  CHECK(hw::peak_flops(a100, ir::DType::FP8E4M3) == a100.bf16_flops);
  CHECK(hw::peak_flops(hw::gpu_spec("H800"), ir::DType::FP8E4M3) == 1979e12);
}

TEST_CASE("tile heuristic minimises waves, then fills the last wave", "[hw][tiling]") {
  // m=4096, n=2112 on 132 SMs, block_m 128 -> 32 row tiles.
  // block_n 128: 17 cols -> 544 tiles -> 5 waves, last 544-528 = 16
  // block_n 120: 18 cols -> 576 tiles -> 5 waves, last 48
  // block_n 112: 19 cols -> 608 tiles -> 5 waves, last 80   <- best
  // block_n 104: 21 cols -> 672 tiles -> 6 waves
  hw::GemmTiling t = hw::gemm_tiling(4096, 2112, 132);
  CHECK(t.block_m == 128);
  CHECK(t.block_n == 112);
  CHECK(t.tiles == 608);
  CHECK(t.waves == 5);
  CHECK(t.last_wave_tiles == 80);
  // m=64: block_m 64; block_n 16 gives 2112/16 = 132 tiles = exactly one full wave.
  t = hw::gemm_tiling(64, 2112, 132);
  CHECK(t.block_m == 64);
  CHECK(t.block_n == 16);
  CHECK(t.waves == 1);
  CHECK(t.last_wave_tiles == 132);
  // 112 SMs (20 held by communication), m=n=4096, 32 row tiles: 9 waves would need <= 31 column tiles,
  // i.e. block_n >= 4096/31 > 128, so 10 waves is the least. block_n 128: 32 cols -> 1024 tiles, last wave 16;
  // block_n 120: 35 cols -> 1120 tiles = exactly 10 x 112, a full last wave -> chosen.
  t = hw::gemm_tiling(4096, 4096, 112);
  CHECK(t.waves == 10);
  CHECK(t.block_n == 120);
  CHECK(t.last_wave_tiles == 112);
}
