// FP8 GEMM front end (see fp8_gemm_cuda.h): argument checks, the expert-segment tables, the naive
// kernel, the cuBLASLt block-scaled path with its cached plans, and dispatch to the hand-written
// kernel (fp8_gemm_wgmma.cu).
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/fp8/fp8_convert_cuda.h"
#include "kernels/gemm/fp8_gemm_cuda.h"
#include "kernels/gemm/fp8_gemm_launch_cuda.h"

#define TANDEM_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                     \
    const cublasStatus_t tandem_status_ = (call);                                                          \
    ::tandem::kernels::cuda::cublas_check(static_cast<int>(tandem_status_), cublasLtGetStatusName(tandem_status_), \
                                          #call, __FILE__, __LINE__);                                      \
  } while (0)

namespace tandem::kernels::cuda {
namespace {

namespace rules = tandem::kernels::fp8_rules;

std::string str(int64_t v) { return std::to_string(v); }

[[noreturn]] void bad_argument(const std::string& what) { throw std::invalid_argument(what); }

bool aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// --- The naive kernel: 16 x 16 outputs per block, one per thread, the CPU reference's roundings ---

struct NaiveParams {
  const uint8_t* a_codes;
  const float* a_scales;
  int64_t a_scale_ld;
  const uint8_t* b_codes;
  const float* b_scales;
  bool b_block_scaled;
  int64_t b_scale_ld;
  int64_t b_group_scales;
  int64_t m, n, k;
  const int32_t* block_groups;
  __nv_bfloat16* d;
};

// Per 128-deep K block: the products of decoded values summed in increasing k, each product rounded
// and then added (no fused multiply-add), then acc += sum · (a_scale · b_scale); BF16 at the end.
// That is fp8_gemm_nt's arithmetic, so the two agree bit for bit.
__global__ void __launch_bounds__(256) fp8_gemm_naive_kernel(const NaiveParams p) {
  constexpr int kSide = 16, kDepth = 128, kStride = kDepth + 1;
  __shared__ float a_tile[kSide * kStride];
  __shared__ float b_tile[kSide * kStride];
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kSide, col0 = static_cast<int64_t>(blockIdx.x) * kSide;
  const int64_t row = row0 + ty, col = col0 + tx;
  const int64_t group = p.block_groups ? p.block_groups[row0 / 128] : 0;
  const uint8_t* b_rows = p.b_codes + group * p.n * p.k;
  const float* b_scales = p.b_scales + group * p.b_group_scales;
  const int64_t kblocks = (p.k + kDepth - 1) / kDepth;
  float acc = 0.0f;
  for (int64_t kb = 0; kb < kblocks; ++kb) {
    const int64_t k0 = kb * kDepth;
    const int kc = static_cast<int>(min(static_cast<int64_t>(kDepth), p.k - k0));
    for (int i = threadIdx.x; i < kSide * kDepth; i += blockDim.x) {
      const int r = i / kDepth, c = i % kDepth;
      const bool in_k = c < kc;
      a_tile[r * kStride + c] =
          (in_k && row0 + r < p.m) ? rules::decode_fp8(p.a_codes[(row0 + r) * p.k + k0 + c], true) : 0.0f;
      b_tile[r * kStride + c] =
          (in_k && col0 + r < p.n) ? rules::decode_fp8(b_rows[(col0 + r) * p.k + k0 + c], true) : 0.0f;
    }
    __syncthreads();
    if (row < p.m && col < p.n) {
      float sum = 0.0f;
      for (int c = 0; c < kc; ++c) sum = __fadd_rn(sum, __fmul_rn(a_tile[ty * kStride + c], b_tile[tx * kStride + c]));
      const float sa = p.a_scales[kb * p.a_scale_ld + row];
      const float sb = p.b_block_scaled ? b_scales[(col / 128) * p.b_scale_ld + kb] : b_scales[kb * p.b_scale_ld + col];
      acc = __fadd_rn(acc, __fmul_rn(sum, __fmul_rn(sa, sb)));
    }
    __syncthreads();
  }
  if (row < p.m && col < p.n) p.d[row * p.n + col] = __float2bfloat16_rn(acc);
}

void launch_naive(const Fp8GemmLaunch& l, cudaStream_t stream) {
  const int64_t grid_y = (l.m + 15) / 16, grid_x = (l.n + 15) / 16;
  if (grid_y > 65535 || grid_x > 0x7fffffff) bad_argument("fp8 GEMM (naive): m must be at most 65535·16 rows");
  NaiveParams p{l.a_codes,  l.a_scales,       l.a_scale_ld, l.b_codes, l.b_scales,       l.b_layout == Fp8ScaleLayout::Block128x128,
                l.b_scale_ld, l.b_group_scales, l.m,          l.n,       l.k,              l.block_groups,
                reinterpret_cast<__nv_bfloat16*>(l.d)};
  fp8_gemm_naive_kernel<<<dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)), 256, 0, stream>>>(p);
  TANDEM_CUDA_CHECK_LAUNCH();
}

// Grouped cuBLASLt calls take each expert's activation scales as their own [kblocks, rows_g] matrix;
// the dense GemmReady layout interleaves the experts within each K block, so they are regrouped:
// out[kblocks·offsets[g] + kb·rows_g + r] = in[kb·ld + offsets[g] + r].
__global__ void regroup_activation_scales_kernel(const float* __restrict__ in, int64_t ld, int64_t m, int64_t kblocks,
                                                 const int32_t* __restrict__ block_groups,
                                                 const int64_t* __restrict__ offsets, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= m * kblocks) return;
  const int64_t kb = i / m, row = i % m;
  const int64_t g = block_groups[row / 128];
  const int64_t lo = offsets[g], rows_g = offsets[g + 1] - lo;
  out[kblocks * lo + kb * rows_g + (row - lo)] = in[kb * ld + row];
}

// --- cuBLASLt: one plan (descriptors and the heuristic's algorithm) per shape ---

struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

void destroy(LtPlan& plan) {
  if (plan.d) cublasLtMatrixLayoutDestroy(plan.d);
  if (plan.b) cublasLtMatrixLayoutDestroy(plan.b);
  if (plan.a) cublasLtMatrixLayoutDestroy(plan.a);
  if (plan.desc) cublasLtMatmulDescDestroy(plan.desc);
  plan = {};
}

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;  // cuBLAS's recommendation for Hopper

}  // namespace

const char* fp8_gemm_backend_name(Fp8GemmBackend backend) {
  switch (backend) {
    case Fp8GemmBackend::Wgmma: return "wgmma";
    case Fp8GemmBackend::CublasLt: return "cublaslt";
    case Fp8GemmBackend::Naive: return "naive";
  }
  return "?";
}

void check_fp8_group_offsets(std::span<const int64_t> offsets) {
  constexpr const char* kName = "Fp8GroupLayout";
  if (offsets.size() < 2) {
    bad_argument(std::string(kName) + ": offsets must hold groups + 1 >= 2 entries, found " + str(offsets.size()));
  }
  if (offsets[0] != 0) bad_argument(std::string(kName) + ": offsets[0] must be 0, found " + str(offsets[0]));
  for (size_t g = 0; g + 1 < offsets.size(); ++g) {
    if (offsets[g + 1] < offsets[g]) {
      bad_argument(std::string(kName) + ": offsets must not decrease: offsets[" + str(g) + "] = " + str(offsets[g]) +
                   " > offsets[" + str(g + 1) + "] = " + str(offsets[g + 1]));
    }
    if (offsets[g + 1] % kFp8BlockSize != 0) {
      bad_argument(std::string(kName) + ": offsets[" + str(g + 1) + "] = " + str(offsets[g + 1]) +
                   " is not a multiple of 128");
    }
  }
  if (offsets.back() / kFp8BlockSize > 0x7fffffff) bad_argument(std::string(kName) + ": too many rows");
}

Fp8GroupLayout::Fp8GroupLayout(std::span<const int64_t> offsets, cudaStream_t stream)
    : offsets_(offsets.begin(), offsets.end()) {
  check_fp8_group_offsets(offsets);
  const int64_t blocks = rows() / kFp8BlockSize;
  std::vector<int32_t> block_groups(static_cast<size_t>(blocks));
  for (int64_t g = 0; g < groups(); ++g) {
    for (int64_t b = offsets_[g] / kFp8BlockSize; b < offsets_[g + 1] / kFp8BlockSize; ++b) {
      block_groups[static_cast<size_t>(b)] = static_cast<int32_t>(g);
    }
  }
  block_groups_ = DeviceBuffer<int32_t>(block_groups.size());
  device_offsets_ = DeviceBuffer<int64_t>(offsets_.size());
  if (!block_groups.empty()) {
    TANDEM_CUDA_CHECK(cudaMemcpyAsync(block_groups_.data(), block_groups.data(), block_groups.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream));
  }
  TANDEM_CUDA_CHECK(cudaMemcpyAsync(device_offsets_.data(), offsets_.data(), offsets_.size() * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, stream));
  // The host vectors are pageable: the copies have been staged before cudaMemcpyAsync returned, but
  // wait anyway so the tables are in place whatever stream the GEMM later runs on.
  TANDEM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void check_fp8_gemm_args(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, const uint16_t* d,
                         Fp8GemmBackend backend, int64_t groups, int64_t group_rows) {
  const std::string fn = std::string(groups > 0 ? "grouped_gemm_nt" : "gemm_nt") + " (" +
                         fp8_gemm_backend_name(backend) + ")";
  if (a.layout != Fp8ScaleLayout::Tile1x128) {
    bad_argument(fn + ": a must have Tile1x128 scales (activations), found Block128x128");
  }
  if (a.rows < 0 || b.rows < 0) bad_argument(fn + ": rows must be >= 0, found a.rows=" + str(a.rows) + ", b.rows=" + str(b.rows));
  if (a.cols < 1) bad_argument(fn + ": K = a.cols must be >= 1, found " + str(a.cols));
  if (a.cols != b.cols) bad_argument(fn + ": a.cols (" + str(a.cols) + ") must equal b.cols (" + str(b.cols) + "): both are K");
  int64_t n = b.rows;
  if (groups > 0) {
    if (b.rows % groups != 0) {
      bad_argument(fn + ": b.rows (" + str(b.rows) + ") must be groups (" + str(groups) + ") times the expert's n");
    }
    n = b.rows / groups;
    if (a.rows != group_rows) {
      bad_argument(fn + ": a.rows (" + str(a.rows) + ") must equal the last group offset (" + str(group_rows) + ")");
    }
  }
  const int64_t k = a.cols;
  if (a.rows > 0 && n > 0) {
    if (!a.codes || !a.scales) bad_argument(fn + ": a.codes and a.scales must not be null");
    if (!b.codes || !b.scales) bad_argument(fn + ": b.codes and b.scales must not be null");
    if (!d) bad_argument(fn + ": d must not be null");
  }
  if (backend == Fp8GemmBackend::Wgmma) {
    if (b.layout != Fp8ScaleLayout::Block128x128) {
      bad_argument(fn + ": b must have Block128x128 scales (weights), found Tile1x128; use CublasLt or Naive");
    }
    if (k % 16 != 0) bad_argument(fn + ": K = " + str(k) + " must be a multiple of 16 (TMA row stride)");
    if (!aligned(a.codes, 16) || !aligned(b.codes, 16)) bad_argument(fn + ": a.codes and b.codes must be 16-byte aligned");
  }
  if (backend == Fp8GemmBackend::CublasLt) {
    if (k % 16 != 0) bad_argument(fn + ": K = " + str(k) + " must be a multiple of 16 for cuBLASLt FP8");
    if (n % 8 != 0) bad_argument(fn + ": n = " + str(n) + " must be a multiple of 8 (16-byte rows of d) for cuBLASLt");
    if (!aligned(a.codes, 16) || !aligned(b.codes, 16) || !aligned(d, 16)) {
      bad_argument(fn + ": a.codes, b.codes and d must be 16-byte aligned for cuBLASLt");
    }
    if (!aligned(a.scales, 16) || !aligned(b.scales, 16)) bad_argument(fn + ": scales must be 16-byte aligned for cuBLASLt");
  }
}

struct Fp8GemmRunner::Impl {
  int device = 0;
  CudaDeviceInfo info;
  int wgmma_state = -1;  // -1 not probed, 0 unavailable, 1 available
  int64_t forced_block_n = 0;
  std::string wgmma_why;
  cublasLtHandle_t lt = nullptr;
  DeviceBuffer<uint8_t> lt_workspace;
  DeviceBuffer<float> regrouped_scales;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, LtPlan> plans;

  ~Impl() {
    for (auto& [key, plan] : plans) destroy(plan);
    if (lt) cublasLtDestroy(lt);
  }

  bool probe_wgmma() {
    if (wgmma_state < 0) {
      if (info.cc_major != 9 || info.cc_minor != 0) {
        wgmma_state = 0;
        wgmma_why = "the wgmma kernel needs compute capability 9.0 (sm_90a), this device (" + info.name + ") is " +
                    std::to_string(info.cc_major) + "." + std::to_string(info.cc_minor);
      } else if (!fp8_gemm_wgmma_compiled()) {
        wgmma_state = 0;
        wgmma_why = "this build has no sm_90a code for the wgmma kernel (configure with CMAKE_CUDA_ARCHITECTURES=90a)";
      } else {
        wgmma_state = 1;
      }
    }
    return wgmma_state == 1;
  }

  LtPlan& plan(int64_t m, int64_t n, int64_t k, Fp8ScaleLayout b_layout, const float* a_scales, const float* b_scales) {
    const auto key = std::make_tuple(m, n, k, static_cast<int>(b_layout));
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    if (!lt) {
      TANDEM_CUBLAS_CHECK(cublasLtCreate(&lt));
      lt_workspace = DeviceBuffer<uint8_t>(kLtWorkspaceBytes);
    }
    LtPlan p;
    try {
      // Row-major d[m, n] = a[m, k] · b[n, k]ᵀ is column-major dᵀ[n, m] = op(B)·op(A) with cuBLAS's A = our
      // b (k x n column-major, transposed) and cuBLAS's B = our a (k x m column-major): the "TN" layout
      // Hopper's FP8 kernels require.
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
      const int32_t mode_a = b_layout == Fp8ScaleLayout::Block128x128 ? CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F
                                                                       : CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
      const int32_t mode_b = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode_a, sizeof(mode_a)));
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode_b, sizeof(mode_b)));
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b_scales, sizeof(b_scales)));
      TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a_scales, sizeof(a_scales)));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_8F_E4M3, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_8F_E4M3, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
      TANDEM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_16BF, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
      cublasLtMatmulPreference_t preference = nullptr;
      TANDEM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
      const size_t workspace_bytes = kLtWorkspaceBytes;
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      const cublasStatus_t pref_status = cublasLtMatmulPreferenceSetAttribute(
          preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes, sizeof(workspace_bytes));
      const cublasStatus_t status =
          pref_status != CUBLAS_STATUS_SUCCESS
              ? pref_status
              : cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result, &found);
      cublasLtMatmulPreferenceDestroy(preference);
      // The heuristic answers "nothing" either with found == 0 or with CUBLAS_STATUS_NOT_SUPPORTED.
      if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && found == 0)) {
        throw std::runtime_error("cuBLASLt has no block-scaled FP8 algorithm for m=" + str(m) + ", n=" + str(n) +
                                 ", k=" + str(k) + (b_layout == Fp8ScaleLayout::Block128x128 ? " (1x128 x 128x128)" : " (1x128 x 1x128)") +
                                 ", cuBLASLt " + str(static_cast<int64_t>(cublasLtGetVersion())));
      }
      TANDEM_CUBLAS_CHECK(status);
      p.algo = result.algo;
    } catch (...) {
      destroy(p);
      throw;
    }
    return plans.emplace(key, p).first->second;
  }

  void cublaslt_gemm(const uint8_t* a_codes, const float* a_scales, const uint8_t* b_codes, const float* b_scales,
                     Fp8ScaleLayout b_layout, int64_t m, int64_t n, int64_t k, uint16_t* d, cudaStream_t stream) {
    LtPlan& p = plan(m, n, k, b_layout, a_scales, b_scales);
    TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b_scales, sizeof(b_scales)));
    TANDEM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a_scales, sizeof(a_scales)));
    const float alpha = 1.0f, beta = 0.0f;
    TANDEM_CUBLAS_CHECK(cublasLtMatmul(lt, p.desc, &alpha, b_codes, p.a, a_codes, p.b, &beta, d, p.d, d, p.d, &p.algo,
                                       lt_workspace.data(), lt_workspace.bytes(), stream));
  }
};

Fp8GemmRunner::Fp8GemmRunner(int device) : impl_(std::make_unique<Impl>()) {
  if (device >= 0) TANDEM_CUDA_CHECK(cudaSetDevice(device));
  TANDEM_CUDA_CHECK(cudaGetDevice(&impl_->device));
  impl_->info = cuda_device_info(impl_->device);
}

Fp8GemmRunner::~Fp8GemmRunner() = default;

const CudaDeviceInfo& Fp8GemmRunner::device_info() const { return impl_->info; }

bool Fp8GemmRunner::wgmma_supported(std::string* why_not) const {
  const bool ok = impl_->probe_wgmma();
  if (!ok && why_not) *why_not = impl_->wgmma_why;
  return ok;
}

Fp8GemmTiling Fp8GemmRunner::wgmma_tiling(int64_t m, int64_t n) const {
  const int64_t smem = std::min(impl_->info.smem_per_block_optin_bytes, kFp8GemmDefaultSmemBytes);
  if (impl_->forced_block_n > 0) return fp8_gemm_tiling_for(m, n, impl_->info.sms, impl_->forced_block_n, smem);
  return fp8_gemm_tiling(m, n, impl_->info.sms, smem);
}

void Fp8GemmRunner::set_wgmma_block_n(int64_t block_n) {
  bool known = block_n == 0;
  for (const int64_t b : kFp8GemmBlockNs) known = known || b == block_n;
  if (!known) bad_argument("set_wgmma_block_n: no wgmma kernel is compiled for block_n = " + str(block_n));
  impl_->forced_block_n = block_n;
}

namespace {

Fp8GemmLaunch resolve(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, uint16_t* d, int64_t groups,
                      const int32_t* block_groups) {
  Fp8GemmLaunch l;
  l.m = a.rows;
  l.k = a.cols;
  l.groups = groups;
  l.n = b.rows / groups;
  l.a_codes = a.codes;
  l.a_scales = a.scales;
  l.a_scale_ld = fp8_scale_ld(Fp8ScaleLayout::Tile1x128, Fp8ScaleStorage::GemmReady, l.m, l.k);
  l.b_codes = b.codes;
  l.b_scales = b.scales;
  l.b_layout = b.layout;
  l.b_scale_ld = fp8_scale_ld(b.layout, Fp8ScaleStorage::GemmReady, l.n, l.k);
  l.b_group_scales = fp8_scale_storage_count(b.layout, Fp8ScaleStorage::GemmReady, l.n, l.k);
  l.block_groups = block_groups;
  l.d = d;
  return l;
}

}  // namespace

void Fp8GemmRunner::gemm_nt(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, uint16_t* d, Fp8GemmBackend backend,
                            cudaStream_t stream) {
  check_fp8_gemm_args(a, b, d, backend);
  if (a.rows == 0 || b.rows == 0) return;
  const Fp8GemmLaunch l = resolve(a, b, d, 1, nullptr);
  switch (backend) {
    case Fp8GemmBackend::Wgmma: {
      std::string why;
      if (!wgmma_supported(&why)) throw std::runtime_error("gemm_nt (wgmma): " + why);
      launch_fp8_gemm_wgmma(l, wgmma_tiling(l.m, l.n), stream);
      return;
    }
    case Fp8GemmBackend::CublasLt:
      impl_->cublaslt_gemm(l.a_codes, l.a_scales, l.b_codes, l.b_scales, l.b_layout, l.m, l.n, l.k, d, stream);
      return;
    case Fp8GemmBackend::Naive: launch_naive(l, stream); return;
  }
}

void Fp8GemmRunner::grouped_gemm_nt(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, const Fp8GroupLayout& groups,
                                    uint16_t* d, Fp8GemmBackend backend, cudaStream_t stream) {
  check_fp8_gemm_args(a, b, d, backend, groups.groups(), groups.rows());
  if (a.rows == 0 || b.rows == 0) return;
  const Fp8GemmLaunch l = resolve(a, b, d, groups.groups(), groups.device_block_groups());
  switch (backend) {
    case Fp8GemmBackend::Wgmma: {
      std::string why;
      if (!wgmma_supported(&why)) throw std::runtime_error("grouped_gemm_nt (wgmma): " + why);
      launch_fp8_gemm_wgmma(l, wgmma_tiling(l.m, l.n), stream);
      return;
    }
    case Fp8GemmBackend::Naive: launch_naive(l, stream); return;
    case Fp8GemmBackend::CublasLt: {
      // One cuBLASLt call per non-empty expert (cuBLASLt 13.0 has no grouped block-scaled FP8 GEMM),
      // after regrouping the activation scales into per-expert matrices.
      const int64_t kblocks = fp8_blocks_of(l.k);
      impl_->regrouped_scales.reserve(static_cast<size_t>(kblocks * l.m));
      float* regrouped = impl_->regrouped_scales.data();
      const int64_t total = kblocks * l.m;
      regroup_activation_scales_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
          l.a_scales, l.a_scale_ld, l.m, kblocks, groups.device_block_groups(), groups.device_offsets(), regrouped);
      TANDEM_CUDA_CHECK_LAUNCH();
      const auto offsets = groups.offsets();
      for (int64_t g = 0; g < groups.groups(); ++g) {
        const int64_t lo = offsets[g], rows_g = offsets[g + 1] - lo;
        if (rows_g == 0) continue;
        impl_->cublaslt_gemm(l.a_codes + lo * l.k, regrouped + kblocks * lo, l.b_codes + g * l.n * l.k,
                             l.b_scales + g * l.b_group_scales, l.b_layout, rows_g, l.n, l.k, d + lo * l.n, stream);
      }
      return;
    }
  }
}

}  // namespace tandem::kernels::cuda
