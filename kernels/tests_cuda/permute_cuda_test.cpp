// The CUDA permutation against permute_cpu.h, bit for bit: the index (dense and 128-row padded,
// ragged expert counts, skewed routing, DeepSeek-V3's 4096 tokens × top-8 of 256), permute of 1-, 2-
// and 4-byte elements, its backward, the combine and its backward in FP32 and BF16; a case by hand;
// invalid expert ids; the chunked build replayed on the host and bad arguments (no GPU needed).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/permute/permute_cpu.h"
#include "kernels/permute/permute_cuda.h"
#include "kernels/tests_cuda/compare_util.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {

// Expert ids: distinct within a token when possible; `skew` sends most pairs to the first experts.
std::vector<int32_t> random_topk(int64_t tokens, int64_t top_k, int64_t experts, bool skew, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> any(0, experts - 1), few(0, std::min<int64_t>(experts, 3) - 1);
  std::vector<int32_t> idx(static_cast<size_t>(tokens * top_k));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t k = 0; k < top_k; ++k) {
      int64_t e = 0;
      for (int tries = 0; tries < 20; ++tries) {
        e = skew && (rng() % 4 != 0) ? few(rng) : any(rng);
        bool seen = false;
        for (int64_t j = 0; j < k; ++j) seen = seen || idx[static_cast<size_t>(t * top_k + j)] == e;
        if (!seen) break;
      }
      idx[static_cast<size_t>(t * top_k + k)] = static_cast<int32_t>(e);
    }
  }
  return idx;
}

struct Shape {
  int64_t tokens, top_k, experts, align_rows, dim;
  bool skew;
};
std::string name_of(const Shape& s) {
  return fmt::format("tokens {}, top_k {}, experts {}, align {}, dim {}{}", s.tokens, s.top_k, s.experts, s.align_rows,
                     s.dim, s.skew ? ", skewed" : "");
}

// The device index equals the reference's; rows past the real ones are padding (−1).
void check_index(const PermuteIndex& ref, const DevicePermuteIndex& gpu) {
  const PermuteIndexView& v = gpu.view();
  std::vector<int64_t> offsets(static_cast<size_t>(v.experts + 1)), counts(static_cast<size_t>(v.experts));
  std::vector<int64_t> slot_row(static_cast<size_t>(v.tokens * v.top_k));
  std::vector<int32_t> row_source(static_cast<size_t>(v.row_capacity));
  int32_t invalid = -1;
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  TANDEM_CUDA_CHECK(cudaMemcpy(offsets.data(), v.expert_offsets, offsets.size() * 8, cudaMemcpyDeviceToHost));
  TANDEM_CUDA_CHECK(cudaMemcpy(counts.data(), v.expert_counts, counts.size() * 8, cudaMemcpyDeviceToHost));
  if (!slot_row.empty()) TANDEM_CUDA_CHECK(cudaMemcpy(slot_row.data(), v.slot_row, slot_row.size() * 8, cudaMemcpyDeviceToHost));
  if (!row_source.empty())
    TANDEM_CUDA_CHECK(cudaMemcpy(row_source.data(), v.row_source, row_source.size() * 4, cudaMemcpyDeviceToHost));
  TANDEM_CUDA_CHECK(cudaMemcpy(&invalid, v.invalid_ids, 4, cudaMemcpyDeviceToHost));
  CHECK(invalid == 0);
  CHECK(offsets == ref.expert_offsets);
  CHECK(counts == ref.expert_counts);
  CHECK(slot_row == ref.slot_row);
  REQUIRE(ref.rows <= v.row_capacity);
  std::vector<int32_t> expected = ref.row_source;
  expected.resize(static_cast<size_t>(v.row_capacity), -1);
  CHECK(row_source == expected);
}

// Every data function on one shape, F32 and BF16, against the reference on the same (widened) values.
void check_data(const Shape& s, const PermuteIndex& ref, const DevicePermuteIndex& gpu) {
  const PermuteIndexView& v = gpu.view();
  const int64_t dim = s.dim, pairs = s.tokens * s.top_k;
  const size_t rows_n = static_cast<size_t>(ref.rows * dim), cap_n = static_cast<size_t>(v.row_capacity * dim);
  const size_t tok_n = static_cast<size_t>(s.tokens * dim);
  const auto x0 = random_uniform(tok_n, case_seed(name_of(s) + "x"), -2.0f, 2.0f);
  auto y0 = random_uniform(cap_n, case_seed(name_of(s) + "y"), -2.0f, 2.0f);
  const auto w = random_uniform(static_cast<size_t>(pairs), case_seed(name_of(s) + "w"), 0.0f, 1.0f);
  const auto g0 = random_uniform(tok_n, case_seed(name_of(s) + "g"), -1.0f, 1.0f);
  const auto dperm0 = random_uniform(cap_n, case_seed(name_of(s) + "dp"), -1.0f, 1.0f);
  for (const ActType type : {ActType::F32, ActType::BF16}) {
    INFO(name_of(s) << ", " << act_type_name(type) << ", seed " << run_seed());
    const bool bf16 = type == ActType::BF16;
    const auto prep = [&](const std::vector<float>& a) { return bf16 ? rounded_to_bf16(a) : a; };
    const auto x = prep(x0), y = prep(y0), g = prep(g0), dperm = prep(dperm0);
    // The reference sees the real rows only; the GPU buffers have row_capacity rows.
    const std::vector<float> y_rows(y.begin(), y.begin() + static_cast<int64_t>(rows_n));
    const std::vector<float> dperm_rows(dperm.begin(), dperm.begin() + static_cast<int64_t>(rows_n));
    std::vector<float> ref_perm(rows_n), ref_dx(tok_n), ref_comb(tok_n), ref_dy(rows_n), ref_dw(static_cast<size_t>(pairs));
    permute_forward(x, ref, dim, ref_perm);
    permute_backward(dperm_rows, ref, dim, ref_dx);
    unpermute_forward(y_rows, w, ref, dim, ref_comb);
    unpermute_backward(y_rows, w, g, ref, dim, ref_dy, ref_dw);
    const auto out_of = [&](std::vector<float> r, size_t n) {  // reference output as the GPU stores it
      r.resize(n, 0.0f);
      return bf16 ? rounded_to_bf16(r) : r;
    };
    const auto up = [&](const std::vector<float>& a) { return upload_as(a, type); };
    const auto down = [&](const DeviceBuffer<uint8_t>& d, size_t n) { return download_as(d, n, type); };
    const size_t esize = bf16 ? 2 : 4;
    auto d_x = up(x), d_y = up(y), d_g = up(g), d_dperm = up(dperm);
    auto d_w = to_device(w);
    auto d_perm = poisoned<uint8_t>(cap_n * esize), d_dx = poisoned<uint8_t>(tok_n * esize);
    auto d_comb = poisoned<uint8_t>(tok_n * esize), d_dy = poisoned<uint8_t>(cap_n * esize);
    auto d_dw = poisoned<float>(static_cast<size_t>(pairs));
    permute_forward_cuda(d_x.data(), static_cast<int64_t>(esize), v, dim, d_perm.data());
    permute_backward_cuda(d_dperm.data(), type, v, dim, d_dx.data());
    unpermute_forward_cuda(d_y.data(), type, d_w.data(), v, dim, d_comb.data());
    unpermute_backward_cuda(d_y.data(), d_w.data(), d_g.data(), type, v, dim, d_dy.data(), d_dw.data());
    CHECK(bit_mismatches(down(d_perm, cap_n), out_of(ref_perm, cap_n), "permuted") == 0);
    CHECK(bit_mismatches(down(d_dx, tok_n), out_of(ref_dx, tok_n), "dx") == 0);
    CHECK(bit_mismatches(down(d_comb, tok_n), out_of(ref_comb, tok_n), "combined") == 0);
    CHECK(bit_mismatches(down(d_dy, cap_n), out_of(ref_dy, cap_n), "dy") == 0);
    CHECK(bit_mismatches(to_host(d_dw), ref_dw, "dweights") == 0);
  }
  // One-byte elements (FP8 codes): the permute is a copy of bytes, unaligned rows included.
  std::vector<uint8_t> codes(tok_n);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(std::bit_cast<uint32_t>(x0[i]) >> 7);
  auto d_codes = to_device(codes);
  auto d_out = poisoned<uint8_t>(cap_n);
  permute_forward_cuda(d_codes.data(), 1, v, dim, d_out.data());
  const auto out = to_host(d_out);
  int64_t bad = 0;
  for (int64_t r = 0; r < v.row_capacity; ++r) {
    const int32_t src = r < ref.rows ? ref.row_source[static_cast<size_t>(r)] : -1;
    for (int64_t d = 0; d < dim; ++d) {
      const uint8_t want = src < 0 ? 0 : codes[static_cast<size_t>(src / s.top_k * dim + d)];
      bad += out[static_cast<size_t>(r * dim + d)] != want;
    }
  }
  CHECK(bad == 0);
}

void check_shape(const Shape& s) {
  INFO(name_of(s) << ", seed " << run_seed());
  const auto idx = random_topk(s.tokens, s.top_k, s.experts, s.skew, case_seed(name_of(s)));
  const PermuteIndex ref = build_permute_index(idx, s.top_k, s.experts, s.align_rows);
  DevicePermuteIndex gpu(s.tokens, s.top_k, s.experts, s.align_rows);
  auto d_idx = to_device(idx);
  build_permute_index_cuda(d_idx.data(), gpu.view());
  check_index(ref, gpu);
  if (s.dim > 0) check_data(s, ref, gpu);
}

}  // namespace

TEST_CASE("permute CUDA: row capacity and the chunked build replayed on the host", "[permute]") {
  // No GPU. 3 tokens · top-2 + 3 experts · (4 − 1) padding rows = 15; dense: 6.
  CHECK(permute_row_capacity(3, 2, 3, 4) == 15);
  CHECK(permute_row_capacity(3, 2, 3, 1) == 6);
  CHECK(padded_rows(0, 128) == 0);
  CHECK(padded_rows(1, 128) == 128);
  CHECK(padded_rows(256, 128) == 256);
  CHECK(permute_chunks(0) == 0);
  CHECK(permute_chunks(257) == 2);
  // The kernels' scheme: per-chunk counts, their prefix over chunks, padded offsets, then rank by
  // (offset + chunk base + earlier pairs of the same expert in the chunk) gives the reference's rows.
  for (const int64_t align : {int64_t{1}, int64_t{128}}) {
    const int64_t tokens = 1000, top_k = 8, experts = 37;
    const auto idx = random_topk(tokens, top_k, experts, true, 7 + align);
    const PermuteIndex ref = build_permute_index(idx, top_k, experts, align);
    const int64_t pairs = tokens * top_k, chunks = permute_chunks(pairs);
    std::vector<int64_t> base(static_cast<size_t>(chunks * experts), 0), total(static_cast<size_t>(experts), 0);
    for (int64_t c = 0; c < chunks; ++c) {
      for (int64_t e = 0; e < experts; ++e) base[static_cast<size_t>(c * experts + e)] = total[static_cast<size_t>(e)];
      for (int64_t i = c * kPermuteChunk; i < std::min(pairs, (c + 1) * kPermuteChunk); ++i) ++total[static_cast<size_t>(idx[i])];
    }
    std::vector<int64_t> offsets(static_cast<size_t>(experts + 1), 0);
    for (int64_t e = 0; e < experts; ++e) offsets[e + 1] = offsets[e] + padded_rows(total[e], align);
    CHECK(offsets == ref.expert_offsets);
    std::vector<int64_t> slot_row(static_cast<size_t>(pairs));
    for (int64_t c = 0; c < chunks; ++c) {
      std::vector<int64_t> placed(base.begin() + c * experts, base.begin() + (c + 1) * experts);
      for (int64_t i = c * kPermuteChunk; i < std::min(pairs, (c + 1) * kPermuteChunk); ++i) {
        const int32_t e = idx[static_cast<size_t>(i)];
        slot_row[static_cast<size_t>(i)] = offsets[e] + placed[e]++;
      }
    }
    CHECK(slot_row == ref.slot_row);
  }
}

TEST_CASE("permute CUDA: index and data equal the reference bit for bit", "[cuda][permute]") {
  if (!gpu_available()) return;
  for (const Shape& s : std::vector<Shape>{{1000, 8, 256, 1, 300, false},
                                           {1000, 8, 256, 128, 129, false},
                                           {777, 6, 33, 128, 37, true},
                                           {5, 3, 7, 4, 16, false},
                                           {1, 1, 1, 1, 5, false},
                                           {300, 2, 4096, 1, 8, false},
                                           {4096, 8, 256, 128, 0, false}}) {
    check_shape(s);
  }
}

TEST_CASE("permute CUDA: by hand", "[cuda][permute]") {
  if (!gpu_available()) return;
  // permute_test.cpp's case, padded to 4 rows: token 0 -> (2, 0), 1 -> (0, 1), 2 -> (2, 1).
  // Segments of 2 real rows each, padded to 4: offsets [0, 4, 8, 12]; e0 holds pairs 1, 2 (rows 0, 1),
  // e1 pairs 3, 5 (rows 4, 5), e2 pairs 0, 4 (rows 8, 9); slot_row [8, 0, 1, 4, 9, 5].
  // x [3, 1] = [10, 20, 30] -> rows [10, 20, 0, 0, 20, 30, 0, 0, 10, 30, 0, 0], then 3 rows of capacity.
  const std::vector<int32_t> topk = {2, 0, 0, 1, 2, 1};
  DevicePermuteIndex gpu(3, 2, 3, 4);
  REQUIRE(gpu.view().row_capacity == 15);
  auto d_idx = to_device(topk);
  build_permute_index_cuda(d_idx.data(), gpu.view());
  std::vector<int64_t> slot_row(6), offsets(4);
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  TANDEM_CUDA_CHECK(cudaMemcpy(slot_row.data(), gpu.view().slot_row, 48, cudaMemcpyDeviceToHost));
  TANDEM_CUDA_CHECK(cudaMemcpy(offsets.data(), gpu.view().expert_offsets, 32, cudaMemcpyDeviceToHost));
  CHECK(offsets == std::vector<int64_t>{0, 4, 8, 12});
  CHECK(slot_row == std::vector<int64_t>{8, 0, 1, 4, 9, 5});
  auto d_x = to_device(std::vector<float>{10, 20, 30});
  auto d_out = poisoned<float>(15);
  permute_forward_cuda(d_x.data(), 4, gpu.view(), 1, d_out.data());
  CHECK(to_host(d_out) == std::vector<float>{10, 20, 0, 0, 20, 30, 0, 0, 10, 30, 0, 0, 0, 0, 0});
  // Combine with weights 0.5 (k = 0) and 0.25 (k = 1) of y = row index + 1:
  // token 0: 0.5·y[8] + 0.25·y[0] = 4.5 + 0.25 = 4.75; token 1: 0.5·y[1] + 0.25·y[4] = 1 + 1.25 = 2.25;
  // token 2: 0.5·y[9] + 0.25·y[5] = 5 + 1.5 = 6.5.
  std::vector<float> y(15);
  for (int i = 0; i < 15; ++i) y[i] = static_cast<float>(i + 1);
  auto d_y = to_device(y);
  auto d_w = to_device(std::vector<float>{0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f});
  auto d_comb = poisoned<float>(3);
  unpermute_forward_cuda(d_y.data(), ActType::F32, d_w.data(), gpu.view(), 1, d_comb.data());
  CHECK(to_host(d_comb) == std::vector<float>{4.75f, 2.25f, 6.5f});
}

TEST_CASE("permute CUDA: expert ids out of range are counted and get no row", "[cuda][permute]") {
  if (!gpu_available()) return;
  const std::vector<int32_t> topk = {0, 9, -1, 1};  // 2 tokens, top-2, 2 experts: two bad ids
  DevicePermuteIndex gpu(2, 2, 2, 1);
  auto d_idx = to_device(topk);
  build_permute_index_cuda(d_idx.data(), gpu.view());
  std::vector<int64_t> slot_row(4);
  int32_t invalid = 0;
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  TANDEM_CUDA_CHECK(cudaMemcpy(slot_row.data(), gpu.view().slot_row, 32, cudaMemcpyDeviceToHost));
  TANDEM_CUDA_CHECK(cudaMemcpy(&invalid, gpu.view().invalid_ids, 4, cudaMemcpyDeviceToHost));
  CHECK(invalid == 2);
  CHECK(slot_row == std::vector<int64_t>{0, -1, -1, 1});
}

TEST_CASE("permute CUDA: bad arguments are reported before any launch", "[permute]") {
  // No device needed: the checks run first (and DevicePermuteIndex allocates nothing for a bad shape).
  CHECK_THROWS_WITH(DevicePermuteIndex(4, 0, 8, 1), Catch::Contains("top_k must be >= 1"));
  CHECK_THROWS_WITH(DevicePermuteIndex(4, 2, 5000, 1), Catch::Contains("experts must be in"));
  CHECK_THROWS_WITH(DevicePermuteIndex(4, 2, 8, 0), Catch::Contains("align_rows"));
  PermuteIndexView v{4, 2, 8, 1, 8};
  float f = 0;
  int32_t i = 0;
  CHECK_THROWS_WITH(build_permute_index_cuda(nullptr, v), Catch::Contains("topk_idx is null"));
  CHECK_THROWS_WITH(build_permute_index_cuda(&i, v), Catch::Contains("index.slot_row is null"));
  CHECK_THROWS_WITH(permute_forward_cuda(&f, 3, v, 4, &f), Catch::Contains("element_bytes"));
  CHECK_THROWS_WITH(permute_forward_cuda(&f, 4, v, -1, &f), Catch::Contains("dim must be >= 0"));
  PermuteIndexView wrong = v;
  wrong.row_capacity = 7;
  CHECK_THROWS_WITH(unpermute_forward_cuda(&f, ActType::F32, &f, wrong, 4, &f), Catch::Contains("row_capacity"));
  CHECK_THROWS_WITH(unpermute_backward_cuda(&f, &f, &f, ActType::BF16, v, 4, &f, nullptr), Catch::Contains("dweights is null"));
  CHECK_THROWS_WITH(permute_backward_cuda(nullptr, ActType::F32, v, 4, &f), Catch::Contains("dout is null"));
}
