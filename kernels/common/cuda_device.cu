// Device presence and properties (see cuda_device_cuda.h).
#include "kernels/common/cuda_device_cuda.h"

namespace tandem::kernels::cuda {

CudaDeviceStatus cuda_device_status() {
  CudaDeviceStatus status;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not misreported
    status.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    return status;
  }
  status.count = count;
  if (count == 0) status.reason = "the CUDA runtime reports 0 devices";
  return status;
}

CudaDeviceInfo cuda_device_info(int device) {
  CudaDeviceInfo info;
  info.device = device;
  cudaDeviceProp prop{};
  TANDEM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.sms = prop.multiProcessorCount;
  info.smem_per_block_optin_bytes = static_cast<int64_t>(prop.sharedMemPerBlockOptin);
  info.l2_bytes = prop.l2CacheSize;
  info.global_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  int clock_khz = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device) == cudaSuccess) info.clock_khz = clock_khz;
  cudaGetLastError();
  return info;
}

CudaDeviceInfo current_cuda_device_info() {
  int device = 0;
  TANDEM_CUDA_CHECK(cudaGetDevice(&device));
  return cuda_device_info(device);
}

}  // namespace tandem::kernels::cuda
