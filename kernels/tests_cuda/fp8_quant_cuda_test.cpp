// GPU FP8 quantisation against the CPU reference, bit for bit: 1x128 tiles and 128x128 blocks (F32
// and BF16 input, E4M3 and E5M2, with and without power-of-two scales, both scale storages, ragged
// edges, unaligned input), the transpose-requantise and the block transpose; a case by hand; bad input.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "kernels/common/bf16.h"
#include "kernels/fp8/fp8_cpu.h"
#include "kernels/fp8/fp8_quant_cuda.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {

const char* storage_name(Fp8ScaleStorage s) { return s == Fp8ScaleStorage::RowMajor ? "RowMajor" : "GemmReady"; }

// Every code equal, and every scale equal in bits, with the GPU's scales read through `storage`.
void check_same(const std::vector<uint8_t>& ref_codes, const std::vector<float>& ref_scales,
                const std::vector<uint8_t>& codes, const std::vector<float>& scales, Fp8ScaleLayout layout,
                Fp8ScaleStorage storage, int64_t rows, int64_t cols) {
  int64_t code_mismatches = 0, scale_mismatches = 0;
  for (size_t i = 0; i < ref_codes.size(); ++i) {
    if (codes[i] != ref_codes[i] && ++code_mismatches <= 3) {
      INFO("code of element (" << i / cols << ", " << i % cols << "): GPU 0x" << std::hex << int(codes[i])
                               << ", CPU 0x" << int(ref_codes[i]));
      CHECK(codes[i] == ref_codes[i]);
    }
  }
  const int64_t units = layout == Fp8ScaleLayout::Tile1x128 ? rows : fp8_blocks_of(rows);
  for (int64_t u = 0; u < units; ++u) {
    for (int64_t cb = 0; cb < fp8_blocks_of(cols); ++cb) {
      const int64_t row = layout == Fp8ScaleLayout::Tile1x128 ? u : u * 128;
      const float ref = ref_scales[static_cast<size_t>(fp8_scale_index(layout, rows, cols, row, cb * 128))];
      const float got = scales[static_cast<size_t>(fp8_scale_storage_index(layout, storage, rows, cols, row, cb * 128))];
      if (std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(ref) && ++scale_mismatches <= 3) {
        INFO("scale of unit " << u << ", column block " << cb << ": GPU " << got << ", CPU " << ref);
        CHECK(std::bit_cast<uint32_t>(got) == std::bit_cast<uint32_t>(ref));
      }
    }
  }
  CHECK(code_mismatches == 0);
  CHECK(scale_mismatches == 0);
}

struct GpuQuantised {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
};

GpuQuantised quantize_on_gpu(const std::vector<float>& x, bool bf16_input, int64_t rows, int64_t cols,
                             Fp8ScaleLayout layout, const Fp8QuantConfig& config, Fp8ScaleStorage storage,
                             bool unaligned_input) {
  const size_t n = x.size();
  const int64_t scale_count = fp8_scale_storage_count(layout, storage, rows, cols);
  auto codes = poisoned<uint8_t>(n);
  auto scales = poisoned<float>(static_cast<size_t>(scale_count));
  // unaligned_input: the matrix starts one element into its buffer, so the kernels take the scalar path.
  const size_t shift = unaligned_input ? 1 : 0;
  if (bf16_input) {
    std::vector<uint16_t> bits(n + shift, 0xFFFF);
    for (size_t i = 0; i < n; ++i) bits[i + shift] = float_to_bf16_bits(x[i]);
    auto device = to_device(bits);
    quantize_fp8_cuda(device.data() + shift, Fp8InputType::BF16, rows, cols, layout, config, storage, codes.data(),
                      scales.data());
    return {to_host(codes), to_host(scales)};
  }
  std::vector<float> shifted(n + shift, 0.0f);
  std::memcpy(shifted.data() + shift, x.data(), n * sizeof(float));
  auto device = to_device(shifted);
  quantize_fp8_cuda(device.data() + shift, Fp8InputType::F32, rows, cols, layout, config, storage, codes.data(),
                    scales.data());
  return {to_host(codes), to_host(scales)};
}

void check_quantize(int64_t rows, int64_t cols, Fp8ScaleLayout layout) {
  const auto x_f32 = random_matrix(rows, cols, case_seed(fmt::format("x{}x{}", rows, cols)));
  for (const bool bf16_input : {false, true}) {
    // The CPU reference sees the values the kernel reads: BF16 inputs are exact floats after widening.
    std::vector<float> x = x_f32;
    if (bf16_input) round_to_bf16(x);
    for (const Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
      for (const bool pow2 : {false, true}) {
        const Fp8QuantConfig config{format, pow2};
        std::vector<uint8_t> ref_codes(x.size());
        std::vector<float> ref_scales(static_cast<size_t>(fp8_scale_count(layout, rows, cols)));
        quantize_fp8(x, rows, cols, layout, config, ref_codes, ref_scales);
        for (const Fp8ScaleStorage storage : {Fp8ScaleStorage::RowMajor, Fp8ScaleStorage::GemmReady}) {
          for (const bool unaligned : {false, true}) {
            INFO("rows " << rows << ", cols " << cols << (layout == Fp8ScaleLayout::Tile1x128 ? " 1x128" : " 128x128")
                         << (bf16_input ? " BF16" : " F32") << (format == Fp8Format::E4M3 ? " E4M3" : " E5M2")
                         << (pow2 ? " pow2" : "") << " " << storage_name(storage) << (unaligned ? " unaligned" : ""));
            const auto gpu = quantize_on_gpu(x, bf16_input, rows, cols, layout, config, storage, unaligned);
            check_same(ref_codes, ref_scales, gpu.codes, gpu.scales, layout, storage, rows, cols);
          }
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("quantize_fp8_cuda: 1x128 tiles equal quantize_fp8 bit for bit", "[cuda][fp8]") {
  if (!gpu_available()) return;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{1, 128}, {37, 300}, {128, 1024}, {5, 7}, {64, 4100}}) {
    check_quantize(rows, cols, Fp8ScaleLayout::Tile1x128);
  }
}

TEST_CASE("quantize_fp8_cuda: 128x128 blocks equal quantize_fp8 bit for bit", "[cuda][fp8]") {
  if (!gpu_available()) return;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{128, 128}, {300, 257}, {1, 5}, {256, 640}, {129, 1028}}) {
    check_quantize(rows, cols, Fp8ScaleLayout::Block128x128);
  }
}

TEST_CASE("quantize_fp8_cuda: a tile by hand", "[cuda][fp8]") {
  if (!gpu_available()) return;
  // One row of 128: x[0] = 896, the rest alternate 2 and -4.25. amax 896 -> scale 896/448 = 2 (a power
  // of two, so pow2 changes nothing). 896/2 = 448 -> 0x7E; 2/2 = 1 -> 0x38; -4.25/2 = -2.125, halfway
  // between 2 (0x40) and 2.25 (0x41) -> ties to even: -2 -> 0xC0.
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i) x[i] = i % 2 ? -4.25f : 2.0f;
  x[0] = 896.0f;
  for (const bool pow2 : {false, true}) {
    const auto gpu = quantize_on_gpu(x, false, 1, 128, Fp8ScaleLayout::Tile1x128, {Fp8Format::E4M3, pow2},
                                     Fp8ScaleStorage::RowMajor, false);
    CHECK(gpu.scales[0] == 2.0f);
    CHECK(int(gpu.codes[0]) == 0x7E);
    CHECK(int(gpu.codes[1]) == 0xC0);
    CHECK(int(gpu.codes[2]) == 0x38);
  }
}

TEST_CASE("transpose_requantize_fp8_cuda equals transpose_requantize_fp8 bit for bit", "[cuda][fp8]") {
  if (!gpu_available()) return;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{256, 384}, {300, 130}, {7, 9}, {130, 4}}) {
    const auto x = random_matrix(rows, cols, case_seed(fmt::format("x{}", rows)));
    for (const bool pow2 : {false, true}) {
      const Fp8QuantConfig config{Fp8Format::E4M3, pow2};
      std::vector<uint8_t> codes(x.size());
      std::vector<float> scales(static_cast<size_t>(fp8_scale_count(Fp8ScaleLayout::Tile1x128, rows, cols)));
      quantize_fp8(x, rows, cols, Fp8ScaleLayout::Tile1x128, config, codes, scales);
      std::vector<uint8_t> ref_codes(x.size());
      std::vector<float> ref_scales(static_cast<size_t>(fp8_scale_count(Fp8ScaleLayout::Tile1x128, cols, rows)));
      transpose_requantize_fp8(codes, scales, rows, cols, config, ref_codes, ref_scales);
      for (const Fp8ScaleStorage in_storage : {Fp8ScaleStorage::RowMajor, Fp8ScaleStorage::GemmReady}) {
        // The input scales in in_storage's order.
        std::vector<float> in_scales(
            static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Tile1x128, in_storage, rows, cols)), 0.0f);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t cb = 0; cb < fp8_blocks_of(cols); ++cb) {
            in_scales[static_cast<size_t>(fp8_scale_storage_index(Fp8ScaleLayout::Tile1x128, in_storage, rows, cols, r, cb * 128))] =
                scales[static_cast<size_t>(fp8_scale_index(Fp8ScaleLayout::Tile1x128, rows, cols, r, cb * 128))];
          }
        }
        auto d_codes = to_device(codes);
        auto d_scales = to_device(in_scales);
        for (const Fp8ScaleStorage out_storage : {Fp8ScaleStorage::RowMajor, Fp8ScaleStorage::GemmReady}) {
          INFO("rows " << rows << ", cols " << cols << (pow2 ? " pow2 " : " ") << storage_name(in_storage) << " -> "
                       << storage_name(out_storage));
          auto out_codes = poisoned<uint8_t>(x.size());
          auto out_scales = poisoned<float>(
              static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Tile1x128, out_storage, cols, rows)));
          transpose_requantize_fp8_cuda(d_codes.data(), d_scales.data(), in_storage, rows, cols, config, out_storage,
                                        out_codes.data(), out_scales.data());
          check_same(ref_codes, ref_scales, to_host(out_codes), to_host(out_scales), Fp8ScaleLayout::Tile1x128,
                     out_storage, cols, rows);
        }
      }
    }
  }
}

TEST_CASE("transpose_fp8_blocks_cuda equals transpose_fp8_blocks", "[cuda][fp8]") {
  if (!gpu_available()) return;
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{256, 384}, {300, 130}, {1, 200}}) {
    const auto x = random_matrix(rows, cols, case_seed(fmt::format("w{}", rows)));
    std::vector<uint8_t> codes(x.size());
    std::vector<float> scales(static_cast<size_t>(fp8_scale_count(Fp8ScaleLayout::Block128x128, rows, cols)));
    quantize_fp8(x, rows, cols, Fp8ScaleLayout::Block128x128, {}, codes, scales);
    std::vector<uint8_t> ref_codes(x.size());
    std::vector<float> ref_scales(scales.size());
    transpose_fp8_blocks(codes, scales, rows, cols, ref_codes, ref_scales);
    for (const Fp8ScaleStorage storage : {Fp8ScaleStorage::RowMajor, Fp8ScaleStorage::GemmReady}) {
      INFO("rows " << rows << ", cols " << cols << " " << storage_name(storage));
      std::vector<float> in_scales(
          static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, storage, rows, cols)), 0.0f);
      for (int64_t rb = 0; rb < fp8_blocks_of(rows); ++rb) {
        for (int64_t cb = 0; cb < fp8_blocks_of(cols); ++cb) {
          in_scales[static_cast<size_t>(fp8_scale_storage_index(Fp8ScaleLayout::Block128x128, storage, rows, cols, rb * 128, cb * 128))] =
              scales[static_cast<size_t>(rb * fp8_blocks_of(cols) + cb)];
        }
      }
      auto d_codes = to_device(codes);
      auto d_scales = to_device(in_scales);
      auto out_codes = poisoned<uint8_t>(x.size());
      auto out_scales =
          poisoned<float>(static_cast<size_t>(fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, storage, cols, rows)));
      transpose_fp8_blocks_cuda(d_codes.data(), d_scales.data(), storage, rows, cols, out_codes.data(), out_scales.data());
      check_same(ref_codes, ref_scales, to_host(out_codes), to_host(out_scales), Fp8ScaleLayout::Block128x128, storage,
                 cols, rows);
    }
  }
}

TEST_CASE("fp8 CUDA quantisation: bad arguments are reported before any launch", "[cuda][fp8]") {
  // No device needed: the checks run first.
  uint8_t code = 0;
  float scale = 0, value = 1;
  CHECK_THROWS_AS(quantize_fp8_cuda(&value, Fp8InputType::F32, -1, 4, Fp8ScaleLayout::Tile1x128, {},
                                    Fp8ScaleStorage::RowMajor, &code, &scale),
                  std::invalid_argument);
  CHECK_THROWS_WITH(quantize_fp8_cuda(nullptr, Fp8InputType::F32, 2, 4, Fp8ScaleLayout::Tile1x128, {},
                                      Fp8ScaleStorage::RowMajor, &code, &scale),
                    Catch::Contains("x is null"));
  CHECK_THROWS_WITH(transpose_requantize_fp8_cuda(&code, &scale, Fp8ScaleStorage::RowMajor, 4, -3, {},
                                                  Fp8ScaleStorage::RowMajor, &code, &scale),
                    Catch::Contains("cols=-3"));
  CHECK_THROWS_WITH(transpose_fp8_blocks_cuda(&code, nullptr, Fp8ScaleStorage::RowMajor, 4, 4, &code, &scale),
                    Catch::Contains("scales is null"));
  // Empty matrices are no-ops (null pointers allowed).
  CHECK_NOTHROW(quantize_fp8_cuda(nullptr, Fp8InputType::F32, 0, 4, Fp8ScaleLayout::Tile1x128, {},
                                  Fp8ScaleStorage::RowMajor, nullptr, nullptr));
}

TEST_CASE("fp8 scale storage: indices by hand", "[fp8]") {
  // [rows=5, cols=300]: 3 column tiles. RowMajor Tile1x128: (row 4, col 299) -> 4·3 + 2 = 14.
  CHECK(fp8_scale_storage_index(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::RowMajor, 5, 300, 4, 299) == 14);
  // GemmReady Tile1x128: ld = round_up(5, 4) = 8; (row 4, col 299) -> 2·8 + 4 = 20; 3·8 = 24 floats.
  CHECK(fp8_scale_storage_index(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, 5, 300, 4, 299) == 20);
  CHECK(fp8_scale_storage_count(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, 5, 300) == 24);
  // GemmReady Block128x128 of [300, 300]: 3 x 3 blocks, ld = round_up(3, 4) = 4; (299, 150) -> 2·4 + 1 = 9.
  CHECK(fp8_scale_storage_index(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, 300, 300, 299, 150) == 9);
  CHECK(fp8_scale_storage_count(Fp8ScaleLayout::Block128x128, Fp8ScaleStorage::GemmReady, 300, 300) == 12);
}
