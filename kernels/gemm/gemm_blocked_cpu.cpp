// The blocked FP32 GEMM: op(B) packed per cache block into 8-column panels, op(A) per cache block
// into 6-row panels, and a 6x8 register tile. Partial sums carry over between K blocks in C (or a scratch
// matrix when alpha/beta must be applied), so each element is one sequential sum, as in gemm_naive.
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/common/check.h"
#include "kernels/gemm/gemm_cpu.h"

// NOTE: on x86-64 the block routine is compiled twice, for the SSE2 baseline (4-float vectors) and for
// AVX2 (8-float vectors), and the AVX2 one runs when the CPU has it. Neither uses FMA (not enabled, and
// -ffp-contract=off), and each element sees the same operations in the same order, so both give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(TANDEM_NO_AVX2_GEMM)
#define TANDEM_GEMM_AVX2 1
#else
#define TANDEM_GEMM_AVX2 0
#endif

namespace tandem::kernels {
namespace {

constexpr int kMr = 6;          // rows of the register tile
constexpr int kNr = 8;          // columns of the register tile (one 8-float vector)
constexpr int64_t kKc = 256;    // K block: a 6x256 A panel (6 KiB) and a 256x8 B panel (8 KiB) sit in L1
constexpr int64_t kMc = 96;     // rows per A block (16 panels, 96 KiB in L2)
constexpr int64_t kNc = 512;    // columns per B block (512 KiB of packed B per K block, in L2)
constexpr double kMinFlopsPerThread = 4.0e6;

typedef float Vec4 __attribute__((vector_size(16)));
typedef float Vec8 __attribute__((vector_size(32)));

// The 6x8 register tile as it sits in memory between the kernel and the load/store helpers.
struct Tile {
  alignas(32) float v[kMr][kNr];
};

struct Problem {
  Trans ta;
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  int64_t lda;
  Trans tb;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  float* partial;  // partial sums between K blocks: C itself (alpha 1, beta 0) or a scratch [m, n]
  int64_t ldp;
};

// op(B)[p0:p0+kc, j0:j0+nc] -> panels [ceil(nc/8)][kc][8], zero-padded columns.
void pack_b(Trans tb, const float* b, int64_t ldb, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* out) {
  const int64_t panels = (nc + kNr - 1) / kNr;
  for (int64_t jp = 0; jp < panels; ++jp) {
    const int64_t nr = std::min<int64_t>(kNr, nc - jp * kNr);
    const int64_t col0 = j0 + jp * kNr;
    float* dst = out + jp * kc * kNr;
    if (tb == Trans::N) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + (p0 + p) * ldb + col0;
        for (int64_t j = 0; j < kNr; ++j) dst[p * kNr + j] = j < nr ? src[j] : 0.0f;
      }
    } else if (nr == kNr) {
      // Eight source rows read side by side, the panel written contiguously.
      const float* src[kNr];
      for (int64_t j = 0; j < kNr; ++j) src[j] = b + (col0 + j) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t j = 0; j < kNr; ++j) dst[p * kNr + j] = src[j][p];
      }
    } else {
      for (int64_t j = 0; j < kNr; ++j) {
        const float* src = b + (col0 + j) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * kNr + j] = j < nr ? src[p] : 0.0f;
      }
    }
  }
}

// op(A)[i0:i0+mc, p0:p0+kc] -> panels [ceil(mc/6)][kc][6], zero-padded rows.
void pack_a(Trans ta, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  const int64_t panels = (mc + kMr - 1) / kMr;
  for (int64_t ip = 0; ip < panels; ++ip) {
    const int64_t mr = std::min<int64_t>(kMr, mc - ip * kMr);
    const int64_t row0 = i0 + ip * kMr;
    float* dst = out + ip * kc * kMr;
    if (ta == Trans::N) {
      for (int64_t i = 0; i < kMr; ++i) {
        const float* src = a + (row0 + i) * lda + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * kMr + i] = i < mr ? src[p] : 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + (p0 + p) * lda + row0;
        for (int64_t i = 0; i < kMr; ++i) dst[p * kMr + i] = i < mr ? src[i] : 0.0f;
      }
    }
  }
}

template <typename V>
__attribute__((always_inline)) inline V load_vec(const float* p) {  // V: 16-byte vectors only
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V>
__attribute__((always_inline)) inline void store_vec(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// tile += A panel [kc][6] x B panel [kc][8], one product and one addition per element and step.
// 4-float vectors: twelve accumulators, which fit the sixteen SSE registers.
struct KernelVec4 {
  __attribute__((always_inline)) static void run(int64_t kc, const float* __restrict ap,
                                                 const float* __restrict bp, Tile& tile) {
    Vec4 c00 = load_vec<Vec4>(tile.v[0]), c01 = load_vec<Vec4>(tile.v[0] + 4);
    Vec4 c10 = load_vec<Vec4>(tile.v[1]), c11 = load_vec<Vec4>(tile.v[1] + 4);
    Vec4 c20 = load_vec<Vec4>(tile.v[2]), c21 = load_vec<Vec4>(tile.v[2] + 4);
    Vec4 c30 = load_vec<Vec4>(tile.v[3]), c31 = load_vec<Vec4>(tile.v[3] + 4);
    Vec4 c40 = load_vec<Vec4>(tile.v[4]), c41 = load_vec<Vec4>(tile.v[4] + 4);
    Vec4 c50 = load_vec<Vec4>(tile.v[5]), c51 = load_vec<Vec4>(tile.v[5] + 4);
    for (int64_t p = 0; p < kc; ++p) {
      const Vec4 b0 = load_vec<Vec4>(bp + p * kNr);
      const Vec4 b1 = load_vec<Vec4>(bp + p * kNr + 4);
      const float* a = ap + p * kMr;
      c00 += a[0] * b0;
      c01 += a[0] * b1;
      c10 += a[1] * b0;
      c11 += a[1] * b1;
      c20 += a[2] * b0;
      c21 += a[2] * b1;
      c30 += a[3] * b0;
      c31 += a[3] * b1;
      c40 += a[4] * b0;
      c41 += a[4] * b1;
      c50 += a[5] * b0;
      c51 += a[5] * b1;
    }
    store_vec(tile.v[0], c00), store_vec(tile.v[0] + 4, c01);
    store_vec(tile.v[1], c10), store_vec(tile.v[1] + 4, c11);
    store_vec(tile.v[2], c20), store_vec(tile.v[2] + 4, c21);
    store_vec(tile.v[3], c30), store_vec(tile.v[3] + 4, c31);
    store_vec(tile.v[4], c40), store_vec(tile.v[4] + 4, c41);
    store_vec(tile.v[5], c50), store_vec(tile.v[5] + 4, c51);
  }
};

// 8-float vectors: six accumulators (AVX registers). Loads and stores are spelled out with memcpy
// because a helper passing 32-byte vectors by value would change the ABI outside AVX code.
struct KernelVec8 {
  __attribute__((always_inline)) static void run(int64_t kc, const float* __restrict ap,
                                                 const float* __restrict bp, Tile& tile) {
    Vec8 c[kMr];
    std::memcpy(c, tile.v, sizeof c);
    Vec8 c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3], c4 = c[4], c5 = c[5];
    for (int64_t p = 0; p < kc; ++p) {
      Vec8 b;
      std::memcpy(&b, bp + p * kNr, sizeof b);
      const float* a = ap + p * kMr;
      c0 += a[0] * b;
      c1 += a[1] * b;
      c2 += a[2] * b;
      c3 += a[3] * b;
      c4 += a[4] * b;
      c5 += a[5] * b;
    }
    c[0] = c0, c[1] = c1, c[2] = c2, c[3] = c3, c[4] = c4, c[5] = c5;
    std::memcpy(tile.v, c, sizeof c);
  }
};

// tile = the partial sums of rows i.., columns j.. (zeros outside the mr x nr corner).
__attribute__((always_inline)) inline void load_partial(const Problem& pr, int64_t i, int64_t j, int64_t mr,
                                                        int64_t nr, Tile& tile) {
  for (int64_t r = 0; r < kMr; ++r) {
    const float* src = pr.partial + (i + r) * pr.ldp + j;
    for (int64_t jj = 0; jj < kNr; ++jj) tile.v[r][jj] = (r < mr && jj < nr) ? src[jj] : 0.0f;
  }
}

__attribute__((always_inline)) inline void store_partial(const Problem& pr, int64_t i, int64_t j, int64_t mr,
                                                         int64_t nr, const Tile& tile) {
  for (int64_t r = 0; r < mr; ++r) {
    float* dst = pr.partial + (i + r) * pr.ldp + j;
    for (int64_t jj = 0; jj < nr; ++jj) dst[jj] = tile.v[r][jj];
  }
}

// The final write: c = alpha·s (beta == 0) or alpha·s + beta·c, as gemm_naive does.
__attribute__((always_inline)) inline void store_result(const Problem& pr, int64_t i, int64_t j, int64_t mr,
                                                        int64_t nr, const Tile& tile) {
  for (int64_t r = 0; r < mr; ++r) {
    float* dst = pr.c + (i + r) * pr.ldc + j;
    if (pr.beta == 0.0f) {
      for (int64_t jj = 0; jj < nr; ++jj) dst[jj] = pr.alpha * tile.v[r][jj];
    } else {
      for (int64_t jj = 0; jj < nr; ++jj) dst[jj] = pr.alpha * tile.v[r][jj] + pr.beta * dst[jj];
    }
  }
}

// Per-thread packing buffers: an A block (kMc x kKc) and a B block (kKc x kNc).
struct PackBuffers {
  std::vector<float> a = std::vector<float>(static_cast<size_t>(kMc * kKc));
  std::vector<float> b = std::vector<float>(static_cast<size_t>(kKc * kNc));
};

// Computes rows [r0, r1) x columns [c0, c1) of C. Each thread packs the B blocks of its own columns
// (when the rows are split, every thread packs all of B once: k·n work against m·n·k/threads).
template <typename Kernel>
__attribute__((always_inline)) inline void run_range_impl(const Problem& pr, int64_t r0, int64_t r1, int64_t c0,
                                                          int64_t c1, PackBuffers& buffers) {
  float* a_pack = buffers.a.data();
  float* b_pack = buffers.b.data();
  for (int64_t jc = c0; jc < c1; jc += kNc) {
    const int64_t nc = std::min(kNc, c1 - jc);
    for (int64_t pc = 0; pc < pr.k; pc += kKc) {
      const int64_t kc = std::min(kKc, pr.k - pc);
      const bool first = pc == 0;
      const bool last = pc + kc == pr.k;
      pack_b(pr.tb, pr.b, pr.ldb, jc, nc, pc, kc, b_pack);
      for (int64_t ic = r0; ic < r1; ic += kMc) {
        const int64_t mc = std::min(kMc, r1 - ic);
        pack_a(pr.ta, pr.a, pr.lda, ic, mc, pc, kc, a_pack);
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const int64_t j = jc + jr;
          const int64_t nr = std::min<int64_t>(kNr, nc - jr);
          const float* bp = b_pack + (jr / kNr) * kc * kNr;
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            const int64_t i = ic + ir;
            const int64_t mr = std::min<int64_t>(kMr, mc - ir);
            Tile tile;
            if (first) {
              std::memset(&tile, 0, sizeof tile);
            } else {
              load_partial(pr, i, j, mr, nr, tile);
            }
            Kernel::run(kc, a_pack + (ir / kMr) * kc * kMr, bp, tile);
            if (last) {
              store_result(pr, i, j, mr, nr, tile);
            } else {
              store_partial(pr, i, j, mr, nr, tile);
            }
          }
        }
      }
    }
  }
}

void run_range_baseline(const Problem& pr, int64_t r0, int64_t r1, int64_t c0, int64_t c1, PackBuffers& buffers) {
  run_range_impl<KernelVec4>(pr, r0, r1, c0, c1, buffers);
}

#if TANDEM_GEMM_AVX2
__attribute__((target("avx2"))) void run_range_avx2(const Problem& pr, int64_t r0, int64_t r1, int64_t c0,
                                                    int64_t c1, PackBuffers& buffers) {
  run_range_impl<KernelVec8>(pr, r0, r1, c0, c1, buffers);
}
#endif

void run_range(const Problem& pr, GemmIsa isa, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
               PackBuffers& buffers) {
#if TANDEM_GEMM_AVX2
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2 && isa == GemmIsa::Auto) {
    run_range_avx2(pr, r0, r1, c0, c1, buffers);
    return;
  }
#else
  (void)isa;
#endif
  run_range_baseline(pr, r0, r1, c0, c1, buffers);
}

}  // namespace

void gemm_blocked(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, int threads,
                  GemmIsa isa) {
  constexpr const char* kName = "gemm_blocked";
  check_at_least(kName, "m", m, 0);
  check_at_least(kName, "n", n, 0);
  check_at_least(kName, "k", k, 0);
  check_at_least(kName, "lda", lda, std::max<int64_t>(1, ta == Trans::N ? k : m));
  check_at_least(kName, "ldb", ldb, std::max<int64_t>(1, tb == Trans::N ? n : k));
  check_at_least(kName, "ldc", ldc, std::max<int64_t>(1, n));
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? alpha * 0.0f : alpha * 0.0f + beta * out;
      }
    }
    return;
  }

  Problem pr{ta, m, n, k, alpha, beta, a, lda, tb, b, ldb, c, ldc, c, ldc};
  std::vector<float> scratch;
  if (!(alpha == 1.0f && beta == 0.0f) && k > kKc) {
    scratch.resize(static_cast<size_t>(m * n));
    pr.partial = scratch.data();
    pr.ldp = n;
  }

  // Split the larger of M and N into contiguous shares of whole panels, one per thread.
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool split_rows = m >= n;
  const int64_t unit = split_rows ? kMr : kNr;
  const int64_t units = ((split_rows ? m : n) + unit - 1) / unit;
  int64_t workers = std::max(1, threads);
  workers = std::min<int64_t>(workers, units);
  workers = std::min<int64_t>(workers, std::max<int64_t>(1, static_cast<int64_t>(flops / kMinFlopsPerThread)));

  std::vector<PackBuffers> buffers(static_cast<size_t>(workers));
  auto run_share = [&](int64_t w) {
    const int64_t u0 = units * w / workers;
    const int64_t u1 = units * (w + 1) / workers;
    if (split_rows) {
      run_range(pr, isa, u0 * unit, std::min(m, u1 * unit), 0, n, buffers[static_cast<size_t>(w)]);
    } else {
      run_range(pr, isa, 0, m, u0 * unit, std::min(n, u1 * unit), buffers[static_cast<size_t>(w)]);
    }
  };
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < workers; ++w) pool.emplace_back(run_share, w);
  run_share(0);
  for (auto& t : pool) t.join();
}

}  // namespace tandem::kernels
