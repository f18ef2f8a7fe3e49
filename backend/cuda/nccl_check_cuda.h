// The device side of the NCCL communicator's checked mode: every message and collective is preceded
// by 16-byte headers (bytes, tag) that a one-block kernel compares with what the receiver expects; a
// mismatch is written to host-mapped memory and stops the stream with a trap.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace tandem::backend::nccl_check {

struct Header {
  int64_t bytes = 0;
  int64_t tag = 0;
};

// The first mismatch seen (flag 1), in host-mapped memory the host reads after the trap.
struct Mismatch {
  int flag = 0;
  int call = 0;           // HeaderBatch::call of the check that failed
  int index = 0;          // HeaderBatch::origin + i of the failing header: the member or peer
  int64_t expected_bytes = 0, expected_tag = 0, got_bytes = 0, got_tag = 0;
};

inline constexpr int kBatch = 128;   // headers per launch (the batch is a kernel parameter, ~2 KB)
struct HeaderBatch {
  Header h[kBatch];
  int count = 0;    // used entries of h
  int first = 0;    // position of h[0] in the device array
  int call = 0;     // what is checked (the communicator's code for send/recv or a collective)
  int origin = 0;   // reported index of h[0]: the group member (collectives) or the peer (send/recv)
};

// dst[first + i] = batch.h[i] for i < count, in stream order.
void write_headers(Header* dst, const HeaderBatch& batch, cudaStream_t stream);
// Compares got[first + i] with expected.h[i]; on a difference the thread that wins `claim` (an int
// in device memory, initially 0) records it in `record` (host-mapped memory, device pointer) and
// every differing thread traps, which fails the stream and the device's context.
void check_headers(const Header* got, const HeaderBatch& expected, int* claim, Mismatch* record, cudaStream_t stream);

}  // namespace tandem::backend::nccl_check
