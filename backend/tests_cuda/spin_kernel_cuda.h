// Kernels of backend_cuda_tests (spin_kernel.cu): make a stream busy for a while, or move one int.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace tandem::backend::test {

// Keeps `stream` busy for about `ns` nanoseconds (one thread reading %globaltimer).
void spin_on_stream(cudaStream_t stream, int64_t ns);
// *dst = *src, in stream order.
void copy_int_on_stream(const int* src, int* dst, cudaStream_t stream);

}  // namespace tandem::backend::test
