// Kernels of the NCCL communicator's checked mode (see nccl_check_cuda.h).
#include "backend/cuda/nccl_check_cuda.h"

namespace tandem::backend::nccl_check {

namespace {
__global__ void write_headers_kernel(Header* dst, HeaderBatch batch) {
  const int i = int(threadIdx.x);
  if (i < batch.count) dst[batch.first + i] = batch.h[i];
}

__global__ void check_headers_kernel(const Header* got, HeaderBatch expected, int* claim, Mismatch* record) {
  const int i = int(threadIdx.x);
  if (i >= expected.count) return;
  const Header g = got[expected.first + i];
  const Header e = expected.h[i];
  if (g.bytes == e.bytes && g.tag == e.tag) return;
  if (atomicCAS(claim, 0, 1) == 0) {
    record->flag = 1;
    record->call = expected.call;
    record->index = expected.origin + i;
    record->expected_bytes = e.bytes;
    record->expected_tag = e.tag;
    record->got_bytes = g.bytes;
    record->got_tag = g.tag;
    __threadfence_system();
  }
  __trap();
}
}  // namespace

void write_headers(Header* dst, const HeaderBatch& batch, cudaStream_t stream) {
  if (batch.count > 0) write_headers_kernel<<<1, kBatch, 0, stream>>>(dst, batch);
}

void check_headers(const Header* got, const HeaderBatch& expected, int* claim, Mismatch* record, cudaStream_t stream) {
  if (expected.count > 0) check_headers_kernel<<<1, kBatch, 0, stream>>>(got, expected, claim, record);
}

}  // namespace tandem::backend::nccl_check
