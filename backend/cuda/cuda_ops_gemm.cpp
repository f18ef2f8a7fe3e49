// GEMM plumbing of the CUDA kernel table: the FP32 cuBLASLt GEMM (the precision of the CPU's
// float GEMMs), host FP8 matrices converted to the GEMMs' scale layout (GemmReady) with expert segments
// padded to 128 rows, and the choice of the FP8 GEMM backend per call.
#include <cublasLt.h>

#include <map>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/common/bf16.h"
#include "kernels/common/cuda_check_cuda.h"
#include "kernels/common/cuda_device_cuda.h"

#define TANDEM_OPS_CUBLAS_CHECK(call)                                                                               \
  do {                                                                                                              \
    const cublasStatus_t tandem_status_ = (call);                                                                   \
    ::tandem::kernels::cuda::cublas_check(static_cast<int>(tandem_status_), cublasLtGetStatusName(tandem_status_), \
                                          #call, __FILE__, __LINE__);                                               \
  } while (0)

namespace tandem::backend::cuda_ops {

namespace {

constexpr size_t kFp32WorkspaceBytes = size_t{8} << 20;

struct Fp32Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

void destroy(Fp32Plan& p) {
  if (p.d) cublasLtMatrixLayoutDestroy(p.d);
  if (p.b) cublasLtMatrixLayoutDestroy(p.b);
  if (p.a) cublasLtMatrixLayoutDestroy(p.a);
  if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  p = {};
}

}  // namespace

struct Fp32GemmRunner::Impl {
  cublasLtHandle_t lt = nullptr;
  kc::DeviceBuffer<uint8_t> workspace;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Fp32Plan> plans;
  ~Impl() {
    for (auto& [key, plan] : plans) destroy(plan);
    if (lt) cublasLtDestroy(lt);
  }
};

Fp32GemmRunner::Fp32GemmRunner() : impl_(std::make_unique<Impl>()) {
  TANDEM_OPS_CUBLAS_CHECK(cublasLtCreate(&impl_->lt));
  impl_->workspace = kc::DeviceBuffer<uint8_t>(kFp32WorkspaceBytes);
}

Fp32GemmRunner::~Fp32GemmRunner() = default;

void Fp32GemmRunner::gemm_nt(const float* a, const float* b, float* d, int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1)
    throw std::invalid_argument(fmt::format("fp32 gemm_nt: need m, n >= 0 and k >= 1; found m={}, n={}, k={}", m, n, k));
  if (m == 0 || n == 0) return;
  const auto key = std::make_tuple(m, n, k);
  auto it = impl_->plans.find(key);
  if (it == impl_->plans.end()) {
    Fp32Plan p;
    try {
      // Row-major d = a · bᵀ is column-major dᵀ[n, m] = bᵀ-op · a, as in the BF16 and FP8 GEMMs.
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_32F, uint64_t(k), uint64_t(n), k));
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_32F, uint64_t(k), uint64_t(m), k));
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_32F, uint64_t(n), uint64_t(m), n));
      cublasLtMatmulPreference_t preference = nullptr;
      TANDEM_OPS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
      const size_t workspace_bytes = kFp32WorkspaceBytes;
      // Operands may start anywhere 4-byte aligned (rows of a larger buffer).
      const uint32_t alignment = 4;
      cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                   &workspace_bytes, sizeof(workspace_bytes));
      for (const auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        if (status == CUBLAS_STATUS_SUCCESS)
          status = cublasLtMatmulPreferenceSetAttribute(preference, attr, &alignment, sizeof(alignment));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      if (status == CUBLAS_STATUS_SUCCESS)
        status = cublasLtMatmulAlgoGetHeuristic(impl_->lt, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result, &found);
      cublasLtMatmulPreferenceDestroy(preference);
      TANDEM_OPS_CUBLAS_CHECK(status);
      if (found == 0) throw std::runtime_error(fmt::format("cuBLASLt has no FP32 algorithm for m={}, n={}, k={}", m, n, k));
      p.algo = result.algo;
    } catch (...) {
      destroy(p);
      throw;
    }
    it = impl_->plans.emplace(key, p).first;
  }
  Fp32Plan& p = it->second;
  const float alpha = 1.0f, beta = 0.0f;
  TANDEM_OPS_CUBLAS_CHECK(cublasLtMatmul(impl_->lt, p.desc, &alpha, b, p.a, a, p.b, &beta, d, p.d, d, p.d, &p.algo,
                                         impl_->workspace.data(), impl_->workspace.bytes(), stream));
}

// ---- FP8 operands ----

std::vector<float> gemm_ready_scales(const Fp8Matrix& m) {
  using kc::Fp8ScaleStorage;
  std::vector<float> out(size_t(kc::fp8_scale_storage_count(m.layout, Fp8ScaleStorage::GemmReady, m.rows, m.cols)), 1.0f);
  const int64_t row_units = m.layout == kernels::Fp8ScaleLayout::Tile1x128 ? m.rows : kc::fp8_blocks_of(m.rows);
  const int64_t kb = kc::fp8_blocks_of(m.cols);
  if (int64_t(m.scales.size()) != row_units * kb)
    throw std::logic_error(fmt::format("an FP8 matrix [{}, {}] with {} scales, expected {}", m.rows, m.cols, m.scales.size(),
                                       row_units * kb));
  const int64_t unit = m.layout == kernels::Fp8ScaleLayout::Tile1x128 ? 1 : kernels::kFp8BlockSize;
  for (int64_t r = 0; r < row_units; ++r)
    for (int64_t b = 0; b < kb; ++b)
      out[size_t(kc::fp8_scale_storage_index(m.layout, Fp8ScaleStorage::GemmReady, m.rows, m.cols, r * unit,
                                             b * kernels::kFp8BlockSize))] = m.scales[size_t(r * kb + b)];
  return out;
}

std::vector<int64_t> padded_offsets(std::span<const int64_t> offsets) {
  std::vector<int64_t> p(offsets.size(), 0);
  for (size_t g = 0; g + 1 < offsets.size(); ++g) {
    const int64_t rows = offsets[g + 1] - offsets[g];
    if (rows < 0) throw std::logic_error("expert offsets decrease");
    p[g + 1] = p[g] + (rows + kernels::kFp8BlockSize - 1) / kernels::kFp8BlockSize * kernels::kFp8BlockSize;
  }
  return p;
}

HostFp8 tile_segments(const Fp8Matrix& m, std::span<const int64_t> offsets, std::span<const int64_t> padded) {
  if (m.layout != kernels::Fp8ScaleLayout::Tile1x128)
    throw std::logic_error("tile_segments: an activation with Block128x128 scales");
  HostFp8 out;
  out.rows = padded.back();
  out.cols = m.cols;
  const int64_t kb = kc::fp8_blocks_of(m.cols);
  const int64_t ld = kc::fp8_round_up4(out.rows);
  out.codes.assign(size_t(out.rows * m.cols), 0);
  out.scales.assign(size_t(kb * ld), 1.0f);
  for (size_t g = 0; g + 1 < offsets.size(); ++g)
    for (int64_t r = offsets[g]; r < offsets[g + 1]; ++r) {
      const int64_t dst = padded[g] + (r - offsets[g]);
      std::copy_n(m.codes.begin() + r * m.cols, m.cols, out.codes.begin() + dst * m.cols);
      for (int64_t b = 0; b < kb; ++b) out.scales[size_t(b * ld + dst)] = m.scales[size_t(r * kb + b)];
    }
  return out;
}

HostFp8 stacked_weights(std::span<const Fp8Matrix* const> blocks) {
  HostFp8 out;
  for (size_t e = 0; e < blocks.size(); ++e) {
    const Fp8Matrix& m = *blocks[e];
    if (m.layout != kernels::Fp8ScaleLayout::Block128x128) throw std::logic_error("a weight without 128x128 block scales");
    if (e == 0) out.cols = m.cols;
    if (m.cols != out.cols) throw std::logic_error("experts of one weight with different shapes");
    out.rows += m.rows;
    out.codes.insert(out.codes.end(), m.codes.begin(), m.codes.end());
    const auto s = gemm_ready_scales(m);
    out.scales.insert(out.scales.end(), s.begin(), s.end());
  }
  return out;
}

kc::Fp8DeviceMatrix upload_fp8(OpStage& stage, const HostFp8& m, kernels::Fp8ScaleLayout layout) {
  kc::Fp8DeviceMatrix d;
  d.codes = stage.upload(m.codes);
  d.scales = stage.upload(m.scales);
  d.rows = m.rows;
  d.cols = m.cols;
  d.layout = layout;
  return d;
}

kc::Fp8GemmBackend fp8_backend(const Env& env, const kc::Fp8DeviceMatrix& a, const kc::Fp8DeviceMatrix& b, const uint16_t* d,
                               int64_t groups, int64_t group_rows) {
  kc::Fp8GemmBackend want = kc::Fp8GemmBackend::Naive;
  switch (env.options.fp8_gemm) {
    case Fp8GemmChoice::Auto:
    case Fp8GemmChoice::Wgmma: want = kc::Fp8GemmBackend::Wgmma; break;
    case Fp8GemmChoice::CublasLt: want = kc::Fp8GemmBackend::CublasLt; break;
    case Fp8GemmChoice::Naive: want = kc::Fp8GemmBackend::Naive; break;
  }
  if (want == kc::Fp8GemmBackend::Wgmma && !env.state.fp8_runner().wgmma_supported()) want = kc::Fp8GemmBackend::Naive;
  if (want != kc::Fp8GemmBackend::Naive) {
    try {
      kc::check_fp8_gemm_args(a, b, d, want, groups, group_rows);
    } catch (const std::invalid_argument&) {
      want = kc::Fp8GemmBackend::Naive;   // e.g. K not a multiple of 16, or a 1x128-scaled b for Wgmma
    }
  }
  ++env.state.counts.fp8_gemm[kc::fp8_gemm_backend_name(want)];
  return want;
}

std::vector<float> bf16_to_float(std::span<const uint16_t> bits) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = kernels::bf16_bits_to_float(bits[i]);
  return out;
}

std::vector<uint16_t> float_to_bf16(std::span<const float> values) {
  std::vector<uint16_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = kernels::float_to_bf16_bits(values[i]);
  return out;
}

}  // namespace tandem::backend::cuda_ops
