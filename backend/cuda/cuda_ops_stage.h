// Internals of the CUDA kernel table (cuda_ops*.cpp): the per-call staging area (device buffers from
// the rank's CudaDevice pool, copies on the op's stream), the per-rank GEMM runners, the FP32 cuBLASLt
// GEMM, the conversions of host FP8 matrices to the layouts the CUDA GEMMs read, and the table's parts.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/ops/kernel_table.h"
#include "kernels/gemm/bf16_gemm_cuda.h"
#include "kernels/gemm/fp8_gemm_cuda.h"

namespace tandem::backend::cuda_ops {

namespace kc = kernels::cuda;

// Device memory and copies of one kernel call: buffers come from the rank's device pool and go back
// when the stage ends; copies and kernels are ordered on the op's native stream; finish() waits for them.
class OpStage {
 public:
  OpStage(Device& device, Stream& stream);
  explicit OpStage(const KernelLaunch& launch) : OpStage(launch.device, launch.stream) {}
  cudaStream_t stream() const { return stream_; }
  template <typename T>
  T* alloc(size_t count) {
    return static_cast<T*>(alloc_bytes(count * sizeof(T)));
  }
  template <typename T>
  T* upload(std::span<const T> host) {
    T* d = alloc<T>(host.size());
    copy_in(d, host.data(), host.size_bytes());
    return d;
  }
  template <typename T>
  T* upload(const std::vector<T>& host) {
    return upload(std::span<const T>(host));
  }
  template <typename T>
  void download(std::span<T> host, const T* device) {
    copy_out(host.data(), device, host.size_bytes());
  }
  void zero(void* device, size_t bytes);
  void finish();                   // waits for the stream; throws on a CUDA error

 private:
  void* alloc_bytes(size_t bytes);  // never null (at least one byte)
  void copy_in(void* dst, const void* src, size_t bytes);
  void copy_out(void* dst, const void* src, size_t bytes);
  Device& device_;
  cudaStream_t stream_;
  std::vector<DeviceBuffer> buffers_;
};

// d[m, n] = a[m, k] · b[n, k]ᵀ in FP32 through cuBLASLt (CUBLAS_COMPUTE_32F: no TF32, no BF16),
// row-major device pointers with 4-byte alignment. One cached plan per shape.
class Fp32GemmRunner {
 public:
  Fp32GemmRunner();
  ~Fp32GemmRunner();
  Fp32GemmRunner(const Fp32GemmRunner&) = delete;
  Fp32GemmRunner& operator=(const Fp32GemmRunner&) = delete;
  void gemm_nt(const float* a, const float* b, float* d, int64_t m, int64_t n, int64_t k, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::backend::cuda_ops

namespace tandem::backend {

// Per rank: the GEMM runners (made on first use, on the rank's device and thread) and the counts.
struct CudaOpRunner::RankState {
  std::unique_ptr<kernels::cuda::Fp8GemmRunner> fp8;
  std::unique_ptr<kernels::cuda::Bf16GemmRunner> bf16;
  std::unique_ptr<cuda_ops::Fp32GemmRunner> fp32;
  CudaOpCounts counts;
  kernels::cuda::Fp8GemmRunner& fp8_runner();
  kernels::cuda::Bf16GemmRunner& bf16_runner();
  cuda_ops::Fp32GemmRunner& fp32_runner();
};

}  // namespace tandem::backend

namespace tandem::backend::cuda_ops {

// The CUDA table's per-rank state, passed to its entries as KernelLaunch::device_state.
struct Env {
  const CudaOpOptions& options;
  CudaOpRunner::RankState& state;
};
Env& env_of(const KernelLaunch& launch);

// A host FP8 matrix (Tile1x128 or Block128x128 scales in the reference's row-major order) as the
// CUDA GEMMs read it: codes as they are, scales in kc::Fp8ScaleStorage::GemmReady.
std::vector<float> gemm_ready_scales(const Fp8Matrix& m);
// FP8 codes and GemmReady scales on the host, ready to upload.
struct HostFp8 {
  std::vector<uint8_t> codes;
  std::vector<float> scales;       // GemmReady
  int64_t rows = 0, cols = 0;
};
// Offsets of segments each padded to a multiple of 128 rows (the grouped GEMM's layout).
std::vector<int64_t> padded_offsets(std::span<const int64_t> offsets);
// Rows [offsets[g], offsets[g+1]) of a Tile1x128 matrix placed at padded[g] (padding rows: zero codes,
// scale 1). offsets {0, rows} with padded {0, rows} is the whole matrix unpadded.
HostFp8 tile_segments(const Fp8Matrix& m, std::span<const int64_t> offsets, std::span<const int64_t> padded);
// Weight blocks stacked (Block128x128, GemmReady scales per block in turn).
HostFp8 stacked_weights(std::span<const Fp8Matrix* const> blocks);

kc::Fp8DeviceMatrix upload_fp8(OpStage& stage, const HostFp8& m, kernels::Fp8ScaleLayout layout);
// The backend a call runs on: the preferred one when its checks pass, else Naive (counted).
kc::Fp8GemmBackend fp8_backend(const Env& env, const kc::Fp8DeviceMatrix& a, const kc::Fp8DeviceMatrix& b,
                               const uint16_t* d, int64_t groups = 0, int64_t group_rows = 0);

std::vector<float> bf16_to_float(std::span<const uint16_t> bits);
std::vector<uint16_t> float_to_bf16(std::span<const float> values);

// The table's parts, each filling its entries: GEMMs and FP8 casts (cuda_ops_linear.cpp); RMSNorm,
// SwiGLU, cross-entropy and the router (cuda_ops_layers.cpp); the permutation index, permute and
// combine (cuda_ops_moe.cpp); the attention core (cuda_ops_attention.cpp).
void add_linear_kernels(KernelTable& table);
void add_layer_kernels(KernelTable& table);
void add_moe_kernels(KernelTable& table);
void add_attention_kernels(KernelTable& table);

}  // namespace tandem::backend::cuda_ops
