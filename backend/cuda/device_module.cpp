// The exported entry point of libtandem_cuda_device.so: the table of backend/cuda/device_module.h
// over the staged CUDA op runner (cuda_ops.h). The module holds only the CUDA code; everything else
// it calls resolves to the `tandem` executable that loads it (app/CMakeLists.txt, docs/gpu.md).
#include "backend/cuda/device_module.h"

#include "backend/cuda/cuda_ops.h"

namespace tandem::backend {

// Defined in the file the build writes after linking `tandem` (cmake/host_build_id.cmake).
extern const char kCudaDeviceModuleHostBuildId[];

namespace {

void check_runnable(const ir::StepProgram& program) { check_cuda_runnable(program); }

ExecutorParts executor_parts(const ir::StepProgram& program) { return cuda_executor_parts(program); }

}  // namespace
}  // namespace tandem::backend

extern "C" __attribute__((visibility("default"))) const tandem::backend::CudaDeviceModule* tandem_cuda_device_module() {
  using namespace tandem::backend;
  static const CudaDeviceModule table{kCudaDeviceModuleAbi, kCudaDeviceModuleHostBuildId, &check_runnable, &executor_parts};
  return &table;
}
