// FP8 block-scaled GEMM on the GPU, dense and grouped (contiguous expert segments), behind one call
// with three backends: the hand-written sm_90a kernel (TMA, wgmma, warp specialisation, persistent
// tiles), cuBLASLt's 1x128 / 128x128 block-scaled FP8 matmul, and a naive kernel that performs the
// CPU reference's roundings in its order (bit-equal to fp8_gemm_nt, the baseline and the check).
// d[m, n] (BF16) = Σ_kb (Σ_{k in kb} a[m,k]·b[n,k]) · a_scale(m, kb) · b_scale(n, kb).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/common/cuda_device_cuda.h"
#include "kernels/fp8/fp8_quant_cuda.h"
#include "kernels/gemm/fp8_gemm_tiling.h"

namespace tandem::kernels::cuda {

enum class Fp8GemmBackend : uint8_t {
  Wgmma,     // hand-written sm_90a kernel (fp8_gemm_wgmma.cu); b Block128x128, K % 16 == 0
  CublasLt,  // cublasLtMatmul with CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F / BLK128x128_32F
  Naive,     // one thread per output, the reference's order of roundings
};
const char* fp8_gemm_backend_name(Fp8GemmBackend backend);

// An E4M3 matrix quantised for a GEMM, on the device.
struct Fp8DeviceMatrix {
  const uint8_t* codes = nullptr;  // [rows, cols] row-major; cols is the reduction dimension K
  // Fp8ScaleStorage::GemmReady: fp8_scale_storage_count(layout, GemmReady, rows, cols) floats; for
  // the stacked experts of a grouped GEMM, that count of one expert ([n, cols]) per expert in turn.
  const float* scales = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  Fp8ScaleLayout layout = Fp8ScaleLayout::Tile1x128;
};

// The contiguous expert segments of a grouped GEMM: rows [offsets[g], offsets[g+1]) of a use expert
// g. Every offset is a multiple of 128, offsets[0] == 0, non-decreasing (the padded permute layout).
// Built once per routing; holds the device tables the kernels read.
class Fp8GroupLayout {
 public:
  // Throws std::invalid_argument naming the bad offset; copies the tables to the device on `stream`.
  explicit Fp8GroupLayout(std::span<const int64_t> offsets, cudaStream_t stream = nullptr);

  int64_t groups() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t rows() const { return offsets_.back(); }
  std::span<const int64_t> offsets() const { return offsets_; }
  const int32_t* device_block_groups() const { return block_groups_.data(); }  // [rows / 128]: expert of each block
  const int64_t* device_offsets() const { return device_offsets_.data(); }     // [groups + 1]

 private:
  std::vector<int64_t> offsets_;
  DeviceBuffer<int32_t> block_groups_;
  DeviceBuffer<int64_t> device_offsets_;
};

// Checks the offsets as Fp8GroupLayout does (no device needed); throws std::invalid_argument.
void check_fp8_group_offsets(std::span<const int64_t> offsets);

// Argument checks of gemm_nt / grouped_gemm_nt for a backend, without a device: shapes, layouts,
// alignment the backend needs, null pointers. Throws std::invalid_argument naming the argument,
// what was expected and what was found. groups == 0 checks the dense call.
void check_fp8_gemm_args(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, const uint16_t* d,
                         Fp8GemmBackend backend, int64_t groups = 0, int64_t group_rows = 0);

// Runs the FP8 GEMMs on one device; owns the cuBLASLt handle, its workspace and cached plans.
// Not thread-safe: one runner per host thread (or guard it).
class Fp8GemmRunner {
 public:
  explicit Fp8GemmRunner(int device = -1);  // -1: the current device
  ~Fp8GemmRunner();
  Fp8GemmRunner(const Fp8GemmRunner&) = delete;
  Fp8GemmRunner& operator=(const Fp8GemmRunner&) = delete;

  // d [a.rows, b.rows] (BF16 bits, row-major) = a · bᵀ. a: Tile1x128; b: Block128x128 (weights) or,
  // for CublasLt and Naive, Tile1x128 (the weight-gradient GEMM). a.cols == b.cols.
  void gemm_nt(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, uint16_t* d, Fp8GemmBackend backend,
               cudaStream_t stream = nullptr);

  // Grouped: a [groups.rows(), k], b the experts stacked [groups·n, k], d [groups.rows(), n].
  void grouped_gemm_nt(const Fp8DeviceMatrix& a, const Fp8DeviceMatrix& b, const Fp8GroupLayout& groups,
                       uint16_t* d, Fp8GemmBackend backend, cudaStream_t stream = nullptr);

  // The tiling the Wgmma backend launches a (total) m x n GEMM with on this device.
  Fp8GemmTiling wgmma_tiling(int64_t m, int64_t n) const;
  // Forces the Wgmma backend's block_n (one of kFp8GemmBlockNs; 0 restores the heuristic), so tests
  // and benchmarks can run every compiled kernel. Throws std::invalid_argument for other values.
  void set_wgmma_block_n(int64_t block_n);
  const CudaDeviceInfo& device_info() const;
  // Whether the Wgmma backend can run here (compute capability 9.0 and the sm_90a kernel present).
  bool wgmma_supported(std::string* why_not = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::kernels::cuda
