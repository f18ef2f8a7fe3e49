// The CUDA MLA attention (attention_cuda.h) against the CPU reference (attention_cpu.h, in double):
// argument checks and the causal tile arithmetic (no GPU needed), a case computed by hand, and
// random ragged shapes forward and backward with BF16-aware tolerances; GPU cases skip without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/attention/attention_cpu.h"
#include "kernels/attention/attention_cuda.h"
#include "kernels/attention/attention_tiling.h"
#include "kernels/common/bf16.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;
namespace at = tandem::kernels::attention_tiling;

namespace {

// Host arrays whose addresses stand in for device pointers in the argument checks (never read).
alignas(16) uint16_t bf16_buf[64];
alignas(16) float f32_buf[16];

AttentionShape mla_shape(int64_t batch, int64_t seq, int64_t heads) { return {batch, seq, heads, 192, 128}; }

// Random values rounded to BF16 (the GPU's inputs; the reference reads the same values): N(0, 1)
// times `gain`, never zero (random_matrix keeps |z| >= 2^-10).
std::vector<float> random_bf16_values(int64_t count, uint64_t seed, float gain) {
  std::vector<float> x = random_matrix(1, count, seed, 0);
  for (float& v : x) v = round_to_bf16(v * gain);
  return x;
}
std::vector<uint16_t> to_bits(const std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); ++i) bits[i] = float_to_bf16_bits(x[i]);
  return bits;
}
std::vector<float> from_bits(const std::vector<uint16_t>& bits) {
  std::vector<float> x(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) x[i] = bf16_bits_to_float(bits[i]);
  return x;
}
std::vector<double> to_double(const std::vector<float>& x) { return {x.begin(), x.end()}; }
std::vector<double> abs_of(const std::vector<double>& x) {
  std::vector<double> a(x.size());
  for (size_t i = 0; i < x.size(); ++i) a[i] = std::abs(x[i]);
  return a;
}

// Element-wise comparison with |got − ref| <= abs + rel·|ref| + row_rel·max|ref over the row| +
// tensor_rel·max|ref over the tensor| + mag_rel·mag (mag optional), every element finite, and the
// global similarity 1 − 2Σxy/(Σx²+Σy²) below 1e-5.
struct Tolerance {
  double rel = 0, row_rel = 0, tensor_rel = 0, mag_rel = 0, abs = 0;
};
void compare(const char* what, const std::vector<float>& got, const std::vector<double>& ref, int64_t row_len,
             const Tolerance& tol, const std::vector<double>* mag = nullptr) {
  REQUIRE(got.size() == ref.size());
  int64_t bad = 0, non_finite = 0;
  double sxy = 0, sxx = 0, syy = 0;
  std::ostringstream first;
  double tensor_max = 0;
  for (const double y : ref) tensor_max = std::max(tensor_max, std::abs(y));
  for (size_t row0 = 0; row0 < ref.size(); row0 += static_cast<size_t>(row_len)) {
    double row_max = 0;
    for (int64_t c = 0; c < row_len; ++c) row_max = std::max(row_max, std::abs(ref[row0 + c]));
    for (int64_t c = 0; c < row_len; ++c) {
      const size_t i = row0 + static_cast<size_t>(c);
      const double x = got[i], y = ref[i];
      if (!std::isfinite(x)) {
        if (non_finite++ < 3) first << " [" << i << "] non-finite " << x << ";";
        continue;
      }
      sxy += x * y, sxx += x * x, syy += y * y;
      const double allowed = tol.abs + tol.rel * std::abs(y) + tol.row_rel * row_max + tol.tensor_rel * tensor_max +
                             (mag ? tol.mag_rel * (*mag)[i] : 0.0);
      if (!(std::abs(x - y) <= allowed) && bad++ < 3) {
        first << " [" << i << "] got " << x << " want " << y << " allowed " << allowed << ";";
      }
    }
  }
  const double diff = sxx + syy > 0 ? 1.0 - 2.0 * sxy / (sxx + syy) : 0.0;
  INFO(what << ": " << bad << " outside tolerance, " << non_finite << " non-finite, similarity diff " << diff << first.str());
  CHECK(non_finite == 0);
  CHECK(bad == 0);
  CHECK(diff < 1e-5);
}

// One random case through forward and backward on both sides.
void check_case(int64_t batch, int64_t seq, int64_t heads, float q_gain) {
  const AttentionShape s = mla_shape(batch, seq, heads);
  const int64_t qk_n = batch * seq * heads * 192, v_n = batch * seq * heads * 128, lse_n = batch * heads * seq;
  std::ostringstream purpose;
  purpose << "batch " << batch << " seq " << seq << " heads " << heads;
  const uint64_t seed = case_seed(purpose.str());
  INFO("batch " << batch << ", seq " << seq << ", heads " << heads << ", q gain " << q_gain << "; case seed " << seed
                << ", run seed " << run_seed() << " (TANDEM_TEST_SEED)");
  // q larger than k so that some rows' softmax is peaked, others flat.
  const auto q = random_bf16_values(qk_n, seed ^ 1, q_gain), k = random_bf16_values(qk_n, seed ^ 2, 1.0f);
  const auto v = random_bf16_values(v_n, seed ^ 3, 1.0f), dout = random_bf16_values(v_n, seed ^ 4, 1.0f);
  const auto qd = to_double(q), kd = to_double(k), vd = to_double(v), doutd = to_double(dout);

  // Forward. Tolerance for out: P is rounded to BF16 before P·V and out is rounded to BF16, each at
  // most 2^-9 relative, so |err| <= 2^-9 (Σ_j P_ij |v_jc| + |out_ic|); 2^-8 leaves room for FP32 sums
  // and exp2. lse: FP32 dot products of 192 terms on the tensor cores and log/exp2 approximations.
  std::vector<double> out_ref(static_cast<size_t>(v_n)), lse_ref(static_cast<size_t>(lse_n));
  std::vector<double> mag(static_cast<size_t>(v_n)), lse_unused(static_cast<size_t>(lse_n));
  attention_forward(qd, kd, vd, s, out_ref, lse_ref);
  attention_forward(qd, kd, abs_of(vd), s, mag, lse_unused);
  auto q_dev = to_device(to_bits(q)), k_dev = to_device(to_bits(k)), v_dev = to_device(to_bits(v));
  auto out_dev = poisoned<uint16_t>(static_cast<size_t>(v_n));
  auto lse_dev = poisoned<float>(static_cast<size_t>(lse_n));
  attention_forward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), s, out_dev.data(), lse_dev.data());
  const auto out_bits = to_host(out_dev);
  compare("out", from_bits(out_bits), out_ref, 128, {.rel = 0x1p-8, .mag_rel = 0x1p-8, .abs = 1e-6}, &mag);
  compare("lse", to_host(lse_dev), lse_ref, 1, {.rel = 1e-4, .abs = 1e-4});
  // Same inputs, same bits.
  attention_forward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), s, out_dev.data(), lse_dev.data());
  CHECK(to_host(out_dev) == out_bits);

  // Backward from the reference's out (rounded to BF16, as the GPU would store it) and lse, so both
  // sides see the same inputs. Tolerance: P and dS enter their products rounded to BF16 and the
  // gradients are stored in BF16 (2^-9 each); the sums over queries or keys have terms of both signs,
  // so the error is relative to the size of the row's terms, not to each element: 2^-7 of the
  // element plus 2^-7 of the largest magnitude in its row (one token and head). dP − delta can
  // cancel completely (row 0 of dq is exactly 0: one key, P = 1, dP = delta), leaving the FP32
  // rounding of two 128-term sums: 2^-12 of the tensor's largest magnitude covers it.
  std::vector<float> out_b(out_ref.begin(), out_ref.end());
  for (float& x : out_b) x = round_to_bf16(x);
  std::vector<float> lse_f(lse_ref.begin(), lse_ref.end());
  std::vector<double> dq_ref(static_cast<size_t>(qk_n)), dk_ref(static_cast<size_t>(qk_n)), dv_ref(static_cast<size_t>(v_n));
  attention_backward(qd, kd, vd, to_double(out_b), to_double(lse_f), doutd, s, dq_ref, dk_ref, dv_ref);
  auto outb_dev = to_device(to_bits(out_b)), dout_dev = to_device(to_bits(dout));
  auto lsef_dev = to_device(lse_f);
  auto dq_dev = poisoned<uint16_t>(static_cast<size_t>(qk_n)), dk_dev = poisoned<uint16_t>(static_cast<size_t>(qk_n));
  auto dv_dev = poisoned<uint16_t>(static_cast<size_t>(v_n));
  attention_backward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), outb_dev.data(), lsef_dev.data(), dout_dev.data(), s,
                          dq_dev.data(), dk_dev.data(), dv_dev.data());
  const auto dq_bits = to_host(dq_dev), dk_bits = to_host(dk_dev), dv_bits = to_host(dv_dev);
  const Tolerance grad_tol{.rel = 0x1p-7, .row_rel = 0x1p-7, .tensor_rel = 0x1p-12, .abs = 1e-6};
  if (seq == 1) {
    // One key: P = 1 and dP = delta, so dq = dk = 0 exactly; the GPU keeps only the FP32 rounding of
    // dout·v against dout·out (no relative comparison is meaningful).
    for (const auto* bits : {&dq_bits, &dk_bits}) {
      double largest = 0;
      for (const float x : from_bits(*bits)) largest = std::isfinite(x) ? std::max(largest, double(std::abs(x))) : 1e30;
      INFO("largest |dq| or |dk| with one key: " << largest);
      CHECK(largest <= 1e-4);
    }
  } else {
    compare("dq", from_bits(dq_bits), dq_ref, 192, grad_tol);
    compare("dk", from_bits(dk_bits), dk_ref, 192, grad_tol);
  }
  compare("dv", from_bits(dv_bits), dv_ref, 128, grad_tol);
  // Deterministic: a second run (outputs poisoned again) gives the same bits.
  for (auto* d : {&dq_dev, &dk_dev}) TANDEM_CUDA_CHECK(cudaMemset(d->data(), 0xFF, d->bytes()));
  TANDEM_CUDA_CHECK(cudaMemset(dv_dev.data(), 0xFF, dv_dev.bytes()));
  attention_backward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), outb_dev.data(), lsef_dev.data(), dout_dev.data(), s,
                          dq_dev.data(), dk_dev.data(), dv_dev.data());
  CHECK(to_host(dq_dev) == dq_bits);
  CHECK(to_host(dk_dev) == dk_bits);
  CHECK(to_host(dv_dev) == dv_bits);
}

}  // namespace

TEST_CASE("attention cuda: arguments are checked before any launch", "[attention][cuda]") {
  // Runs without a GPU: every case throws before touching the device. The pointers are never read.
  const uint16_t* b = bf16_buf;
  uint16_t* w = bf16_buf;
  float* l = f32_buf;
  auto fwd = [&](const AttentionShape& s, const uint16_t* q = bf16_buf, uint16_t* out = bf16_buf, float* lse = f32_buf) {
    attention_forward_cuda(q, b, b, s, out, lse);
  };
  using Catch::Contains;
  CHECK_THROWS_AS(fwd({1, 4, 2, 128, 128}), std::invalid_argument);
  CHECK_THROWS_WITH(fwd({1, 4, 2, 128, 128}), Contains("qk_dim 192") && Contains("got qk_dim 128"));
  CHECK_THROWS_WITH(fwd({1, 4, 2, 192, 64}), Contains("v_dim 64"));
  CHECK_THROWS_WITH(fwd({1, 4, 0, 192, 128}), Contains("heads must be >= 1"));
  CHECK_THROWS_WITH(fwd({1, -1, 2, 192, 128}), Contains("seq"));
  CHECK_THROWS_WITH(fwd({-1, 4, 2, 192, 128}), Contains("batch"));
  CHECK_THROWS_WITH(fwd({70000, 1, 1, 192, 128}), Contains("at most 65535"));
  CHECK_THROWS_WITH(fwd(mla_shape(1, 4, 2), nullptr), Contains("attention_forward_cuda: q is null"));
  CHECK_THROWS_WITH(fwd(mla_shape(1, 4, 2), b, nullptr), Contains("out is null"));
  CHECK_THROWS_WITH(fwd(mla_shape(1, 4, 2), b, w, nullptr), Contains("lse is null"));
  CHECK_THROWS_WITH(fwd(mla_shape(1, 4, 2), b + 1), Contains("q must be 16-byte aligned"));
  CHECK_THROWS_WITH(attention_backward_cuda(b, b, b, b, l, b, mla_shape(2, 3, 1), nullptr, w, w),
                    Contains("attention_backward_cuda: dq is null"));
  CHECK_THROWS_WITH(attention_backward_cuda(b, b, b, b, l, b + 4, mla_shape(2, 3, 1), w, w, w),
                    Contains("dout must be 16-byte aligned"));
  CHECK_THROWS_WITH(attention_backward_cuda(b, b, b, b, l, b, {1, 3, 1, 64, 128}, w, w, w), Contains("qk_dim"));
  // Nothing to do: empty tensors may be null, and nothing is launched.
  CHECK_NOTHROW(attention_forward_cuda(nullptr, nullptr, nullptr, mla_shape(0, 16, 2), nullptr, nullptr));
  CHECK_NOTHROW(attention_backward_cuda(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, mla_shape(3, 0, 2), nullptr,
                                        nullptr, nullptr));
}

TEST_CASE("attention cuda: causal tile arithmetic", "[attention][cuda][tiling]") {
  // seq 100, 64 x 64 tiles: query block 0 (queries 0..63) sees key block 0; block 1 (64..99) sees 0, 1.
  CHECK(at::causal_key_blocks(0, 64, 64, 100) == 1);
  CHECK(at::causal_key_blocks(1, 64, 64, 100) == 2);
  // dQ tiles (64 queries, 32 keys): block 1's last real query is 99 -> key blocks 0..3 (99 / 32 = 3).
  CHECK(at::causal_key_blocks(1, 64, 32, 100) == 4);
  CHECK(at::causal_key_blocks(1, 64, 32, 128) == 4);
  CHECK(at::causal_key_blocks(1, 64, 32, 97) == 4);  // last query 96 = 3·32
  CHECK(at::causal_key_blocks(1, 64, 32, 96) == 3);  // last query 95
  // dK/dV tiles (64 keys, 32 queries): key block 1 (keys 64..127) is first seen by query block 2.
  CHECK(at::causal_first_query_block(1, 64, 32) == 2);
  CHECK(at::causal_tile_needs_mask(64, 64, 64, 64));
  CHECK_FALSE(at::causal_tile_needs_mask(128, 64, 64, 64));
  CHECK(at::causal_tile_needs_mask(96, 32, 64, 64));  // key 127 > query 96
  CHECK(at::causal_pairs(4096) == 8390656);           // 4096·4097/2
  CHECK(at::token_offset(1, 2, 3, 5, 4, 192) == ((1 * 5 + 2) * 4 + 3) * 192);
  CHECK(at::lse_offset(1, 3, 2, 5, 4) == (1 * 4 + 3) * 5 + 2);

  // Brute force over sequence lengths: the blocks each kernel visits cover every (query, key <= query)
  // pair once, and a tile computed without a mask holds no pair with key > query.
  struct Tiles {
    int64_t bq, bk;
  };
  for (const Tiles tiles : {Tiles{at::kFwdBlockQ, at::kFwdBlockK}, Tiles{at::kDqBlockQ, at::kDqBlockK},
                            Tiles{at::kDkvBlockQ, at::kDkvBlockK}}) {
    for (int64_t seq = 1; seq <= 200; ++seq) {
      INFO("block_q " << tiles.bq << ", block_k " << tiles.bk << ", seq " << seq);
      std::vector<int> by_query(static_cast<size_t>(seq * seq)), by_key(static_cast<size_t>(seq * seq));
      bool unmasked_ok = true;
      // Query-major sweep (forward, dQ).
      for (int64_t qb = 0; qb < at::ceil_div(seq, tiles.bq); ++qb) {
        for (int64_t kb = 0; kb < at::causal_key_blocks(qb, tiles.bq, tiles.bk, seq); ++kb) {
          const bool masked = at::causal_tile_needs_mask(qb * tiles.bq, tiles.bq, kb * tiles.bk, tiles.bk);
          for (int64_t i = qb * tiles.bq; i < std::min(seq, (qb + 1) * tiles.bq); ++i) {
            for (int64_t j = kb * tiles.bk; j < std::min(seq, (kb + 1) * tiles.bk); ++j) {
              if (!masked && j > i) unmasked_ok = false;
              if (j <= i) ++by_query[static_cast<size_t>(i * seq + j)];
            }
          }
        }
      }
      // Key-major sweep (dK, dV): query blocks from the first that sees the key block to the end.
      for (int64_t kb = 0; kb < at::ceil_div(seq, tiles.bk); ++kb) {
        for (int64_t qb = at::causal_first_query_block(kb, tiles.bk, tiles.bq); qb < at::ceil_div(seq, tiles.bq); ++qb) {
          for (int64_t i = qb * tiles.bq; i < std::min(seq, (qb + 1) * tiles.bq); ++i) {
            for (int64_t j = kb * tiles.bk; j < std::min(seq, (kb + 1) * tiles.bk); ++j) {
              if (j <= i) ++by_key[static_cast<size_t>(i * seq + j)];
            }
          }
        }
      }
      int64_t wrong = 0;
      for (int64_t i = 0; i < seq; ++i) {
        for (int64_t j = 0; j <= i; ++j) {
          wrong += by_query[static_cast<size_t>(i * seq + j)] != 1;
          wrong += by_key[static_cast<size_t>(i * seq + j)] != 1;
        }
      }
      CHECK(wrong == 0);
      CHECK(unmasked_ok);
    }
  }
}

namespace {

// A CPU model of the two warp instructions the kernels are built on, written from the PTX ISA's
// tables (lane = 4g + t): ldmatrix .x4 (lanes 8i..8i+7 address the rows of matrix i; register i of
// lane l gets matrix i's row l/4, columns 2(l%4), +1, or with .trans rows 2(l%4), +1 of column l/4)
// and mma.m16n8k16 (A: a0 (g, 2t..), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..); B: b0 (2t.., g),
// b1 (2t+8.., g); C: c0, c1 (g, 2t..), c2, c3 (g+8, 2t..); low half = lower index).
using Frag = std::array<std::array<uint32_t, 4>, 32>;
using Acc = std::array<std::array<float, 4>, 32>;
struct SmemTile {
  int cols;
  std::vector<float> v;  // BF16 values, row-major
  float at(int r, int c) const { return v[static_cast<size_t>(r * cols + c)]; }
};
uint32_t pack2(float lo, float hi) { return float_to_bf16_bits(lo) | (uint32_t{float_to_bf16_bits(hi)} << 16); }
float lo_of(uint32_t u) { return bf16_bits_to_float(static_cast<uint16_t>(u & 0xFFFF)); }
float hi_of(uint32_t u) { return bf16_bits_to_float(static_cast<uint16_t>(u >> 16)); }

// `pos(lane)` is the lane's (row, column) in the tile, plus the origin (row0, col0).
template <typename Pos>
Frag ldmatrix_x4_model(const SmemTile& tile, Pos pos, int row0, int col0, bool trans) {
  Frag out{};
  for (int i = 0; i < 4; ++i) {
    auto elem = [&](int r, int c) {
      const at::LanePos p = pos(8 * i + r);
      return tile.at(row0 + p.row, col0 + p.col + c);
    };
    for (int l = 0; l < 32; ++l) {
      const int a = l / 4, b = 2 * (l % 4);
      out[static_cast<size_t>(l)][static_cast<size_t>(i)] = trans ? pack2(elem(b, a), elem(b + 1, a)) : pack2(elem(a, b), elem(a, b + 1));
    }
  }
  return out;
}

// d += A·B for one m16n8k16 step; b0, b1 are register indices into `b` (two n8 tiles per x4 load).
void mma_model(Acc& d, const Frag& a, const Frag& b, int b0, int b1) {
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    const auto& r = a[static_cast<size_t>(l)];
    A[g][2 * t] = lo_of(r[0]), A[g][2 * t + 1] = hi_of(r[0]);
    A[g + 8][2 * t] = lo_of(r[1]), A[g + 8][2 * t + 1] = hi_of(r[1]);
    A[g][2 * t + 8] = lo_of(r[2]), A[g][2 * t + 9] = hi_of(r[2]);
    A[g + 8][2 * t + 8] = lo_of(r[3]), A[g + 8][2 * t + 9] = hi_of(r[3]);
    const uint32_t x = b[static_cast<size_t>(l)][static_cast<size_t>(b0)], y = b[static_cast<size_t>(l)][static_cast<size_t>(b1)];
    B[2 * t][g] = lo_of(x), B[2 * t + 1][g] = hi_of(x), B[2 * t + 8][g] = lo_of(y), B[2 * t + 9][g] = hi_of(y);
  }
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e / 2), col = 2 * t + e % 2;
      float sum = 0;
      for (int kk = 0; kk < 16; ++kk) sum += A[row][kk] * B[kk][col];
      d[static_cast<size_t>(l)][static_cast<size_t>(e)] += sum;
    }
  }
}

SmemTile small_int_tile(int rows, int cols, std::mt19937& rng) {
  std::uniform_int_distribution<int> value(-4, 4);
  SmemTile tile{cols, std::vector<float>(static_cast<size_t>(rows * cols))};
  for (float& x : tile.v) x = static_cast<float>(value(rng));
  return tile;
}

}  // namespace

TEST_CASE("attention cuda: fragment plumbing on a model of ldmatrix and mma", "[attention][cuda][tiling]") {
  // The kernels' pattern, on small integers (every product and sum exact): S = Q·Kᵀ with Q's rows
  // 16..31 as the A operand (a warp's slab) and two n8 tiles of keys from a [key][k] tile (no .trans),
  // two k-steps; then O = S·V with S's accumulators re-used as the A operand (accum_to_a) and V from a
  // [key][column] tile with .trans (the same pattern serves dV += Pᵀ·dO, dK += dSᵀ·Q, dQ += dS·K).
  std::mt19937 rng(7);
  const SmemTile q = small_int_tile(32, 32, rng), k = small_int_tile(16, 32, rng), v = small_int_tile(16, 16, rng);
  Acc s[2] = {};
  for (int ks = 0; ks < 2; ++ks) {
    const Frag a = ldmatrix_x4_model(q, at::a_operand_lane, 16, ks * 16, false);
    const Frag b = ldmatrix_x4_model(k, at::b_rows_lane, 0, ks * 16, false);
    mma_model(s[0], a, b, 0, 1);
    mma_model(s[1], a, b, 2, 3);
  }
  float s_full[16][16];
  int wrong = 0;
  for (int l = 0; l < 32; ++l) {
    for (int n = 0; n < 2; ++n) {
      for (int e = 0; e < 4; ++e) {
        const int row = l / 4 + 8 * (e / 2), key = n * 8 + 2 * (l % 4) + e % 2;
        float want = 0;
        for (int c = 0; c < 32; ++c) want += q.at(16 + row, c) * k.at(key, c);
        wrong += s[n][static_cast<size_t>(l)][static_cast<size_t>(e)] != want;
        s_full[row][key] = want / 64;  // exact, and representable in BF16 for |want| <= 512
      }
    }
  }
  CHECK(wrong == 0);
  // accum_to_a: a0 = (c0, c1) of tile 0, a1 = (c2, c3) of tile 0, a2, a3 the same of tile 1.
  Frag p{};
  for (size_t l = 0; l < 32; ++l) {
    p[l] = {pack2(s[0][l][0] / 64, s[0][l][1] / 64), pack2(s[0][l][2] / 64, s[0][l][3] / 64),
            pack2(s[1][l][0] / 64, s[1][l][1] / 64), pack2(s[1][l][2] / 64, s[1][l][3] / 64)};
  }
  Acc o[2] = {};
  const Frag b = ldmatrix_x4_model(v, at::b_trans_lane, 0, 0, true);
  mma_model(o[0], p, b, 0, 1);
  mma_model(o[1], p, b, 2, 3);
  wrong = 0;
  for (int l = 0; l < 32; ++l) {
    for (int n = 0; n < 2; ++n) {
      for (int e = 0; e < 4; ++e) {
        const int row = l / 4 + 8 * (e / 2), col = n * 8 + 2 * (l % 4) + e % 2;
        double want = 0;
        for (int j = 0; j < 16; ++j) want += double(round_to_bf16(s_full[row][j])) * v.at(j, col);
        wrong += std::abs(o[n][static_cast<size_t>(l)][static_cast<size_t>(e)] - want) > 1e-3 * (1 + std::abs(want));
      }
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("attention cuda: a case by hand", "[attention][cuda]") {
  if (!gpu_available()) return;
  // seq 3, one head. q = 1 and k = 0.5 everywhere: every score is 192·0.5·scale = 96/sqrt(192) =
  // sqrt(48), so P[i, j] = 1/(i+1) for j <= i. v[j, c] = (j+1)·(c%4+1) and out[i, c] is the mean over
  // j <= i: (i+2)/2·(c%4+1) (1, 1.5, 2 times c%4+1, exact in BF16); lse[i] = sqrt(48) + ln(i+1).
  // Backward with dout = 1: delta_i = Σ_c out[i, c] = 160(i+2); dP[i, j] = Σ_c v[j, c] = 320(j+1);
  // dS = P ∘ (dP − delta): row 0: 0; row 1: −80, 80; row 2: −320/3, 0, 320/3. Each row of dS sums to
  // 0 and k is constant, so dq = 0; dk[j] = scale·Σ_i dS[i, j]: −(80 + 320/3)·scale, 80·scale,
  // (320/3)·scale; dv[j] = Σ_{i>=j} 1/(i+1): 11/6, 5/6, 1/3.
  const AttentionShape s = mla_shape(1, 3, 1);
  std::vector<float> q(3 * 192, 1.0f), k(3 * 192, 0.5f), v(3 * 128), dout(3 * 128, 1.0f);
  for (int j = 0; j < 3; ++j) {
    for (int c = 0; c < 128; ++c) v[static_cast<size_t>(j * 128 + c)] = static_cast<float>((j + 1) * (c % 4 + 1));
  }
  auto q_dev = to_device(to_bits(q)), k_dev = to_device(to_bits(k)), v_dev = to_device(to_bits(v));
  auto out_dev = poisoned<uint16_t>(3 * 128);
  auto lse_dev = poisoned<float>(3);
  attention_forward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), s, out_dev.data(), lse_dev.data());
  const auto out = from_bits(to_host(out_dev));
  const auto lse = to_host(lse_dev);
  for (int i = 0; i < 3; ++i) {
    CHECK(lse[static_cast<size_t>(i)] == Approx(std::sqrt(48.0) + std::log(i + 1.0)).epsilon(1e-5));
    for (int c = 0; c < 128; ++c) {
      INFO("out row " << i << ", column " << c);
      CHECK(out[static_cast<size_t>(i * 128 + c)] == static_cast<float>((i + 2) * (c % 4 + 1)) / 2.0f);
    }
  }
  auto dout_dev = to_device(to_bits(dout));
  auto dq_dev = poisoned<uint16_t>(3 * 192), dk_dev = poisoned<uint16_t>(3 * 192), dv_dev = poisoned<uint16_t>(3 * 128);
  attention_backward_cuda(q_dev.data(), k_dev.data(), v_dev.data(), out_dev.data(), lse_dev.data(), dout_dev.data(), s,
                          dq_dev.data(), dk_dev.data(), dv_dev.data());
  const auto dq = from_bits(to_host(dq_dev)), dk = from_bits(to_host(dk_dev)), dv = from_bits(to_host(dv_dev));
  const double scale = 1.0 / std::sqrt(192.0);
  const double dk_want[3] = {-(80.0 + 320.0 / 3) * scale, 80.0 * scale, 320.0 / 3 * scale};
  const double dv_want[3] = {11.0 / 6, 5.0 / 6, 1.0 / 3};
  for (int j = 0; j < 3; ++j) {
    INFO("row " << j);
    for (int c = 0; c < 192; ++c) {
      CHECK(std::abs(dq[static_cast<size_t>(j * 192 + c)]) <= 1e-6);
      // P ≈ 1/3 and dS are rounded to BF16 on the way: 2^-7 relative.
      CHECK(dk[static_cast<size_t>(j * 192 + c)] == Approx(dk_want[j]).epsilon(0x1p-7));
    }
    for (int c = 0; c < 128; ++c) CHECK(dv[static_cast<size_t>(j * 128 + c)] == Approx(dv_want[j]).epsilon(0x1p-7));
  }
}

TEST_CASE("attention cuda: random ragged shapes match the CPU reference", "[attention][cuda]") {
  if (!gpu_available()) return;
  // Lengths off the tiles (64 queries/keys forward, 32 in the backward sweeps), one shorter than a
  // tile, exact multiples, batch > 1 and several heads.
  struct Case {
    int64_t batch, seq, heads;
    float q_gain;
  };
  for (const Case c : {Case{1, 1, 1, 1.0f}, Case{1, 3, 2, 2.0f}, Case{2, 77, 3, 2.0f}, Case{1, 64, 2, 1.0f},
                       Case{1, 129, 2, 3.0f}, Case{3, 45, 2, 1.0f}, Case{1, 300, 1, 2.0f}, Case{2, 160, 4, 1.5f}}) {
    check_case(c.batch, c.seq, c.heads, c.q_gain);
  }
}
