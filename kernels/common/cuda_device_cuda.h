// Device presence and properties, and an owning device buffer. Tests and benchmarks ask
// cuda_device_status() first: on a machine without a GPU (or without a driver) it reports zero
// devices with the runtime's reason instead of throwing, so they can skip with a message.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "kernels/common/cuda_check_cuda.h"

namespace tandem::kernels::cuda {

struct CudaDeviceStatus {
  int count = 0;       // usable devices; 0 when the runtime reports none or fails to start
  std::string reason;  // why count is 0 (the runtime's error), empty otherwise
};

// Never throws: cudaGetDeviceCount's result, or 0 devices and its error.
CudaDeviceStatus cuda_device_status();

struct CudaDeviceInfo {
  int device = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;     // compute capability (9.0 for H100/H200/H800)
  int sms = 0;                        // multiprocessors
  int64_t smem_per_block_optin_bytes = 0;
  int64_t l2_bytes = 0;
  int64_t global_memory_bytes = 0;
  int clock_khz = 0;                  // cudaDevAttrClockRate (0 when the runtime no longer reports it)
};

CudaDeviceInfo cuda_device_info(int device);
CudaDeviceInfo current_cuda_device_info();  // of cudaGetDevice()

// A typed device allocation of `count` elements (cudaMalloc), freed on destruction. Movable only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_ > 0) TANDEM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count_ * sizeof(T)));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  // Grows to at least `count` elements (contents are not kept).
  void reserve(size_t count) {
    if (count > count_) *this = DeviceBuffer(count);
  }

 private:
  void release() {
    if (data_) cudaFree(data_);
    data_ = nullptr;
    count_ = 0;
  }
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace tandem::kernels::cuda
