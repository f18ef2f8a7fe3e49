// CUDA SwiGLU kernels (swiglu_cuda.h): one elementwise kernel each way over a [rows, cols] view
// with row strides, which covers both the separate arrays (one row) and the fused layout. A 2-D
// grid (columns × rows, grid-stride both ways) keeps 64-bit divisions out of the element loop.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/swiglu/swiglu_cuda.h"

namespace tandem::kernels::cuda {
namespace {

// A [rows, cols] view of the operands: element (r, c) of gate is gate[r·in_ld + c], of up
// up[r·in_ld + c], of out/dout out[r·out_ld + c], of dgate/dup dgate[r·in_ld + c].
struct View {
  int64_t rows, cols, in_ld, out_ld;
};

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

template <typename T>
__global__ void __launch_bounds__(256)
    swiglu_forward_kernel(const T* __restrict__ gate, const T* __restrict__ up, View v, T* __restrict__ out) {
  for (int64_t r = blockIdx.y; r < v.rows; r += gridDim.y) {
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < v.cols;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const float g = act::load(gate, r * v.in_ld + c), u = act::load(up, r * v.in_ld + c);
      act::store(out, r * v.out_ld + c, g * sigmoid(g) * u);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(256)
    swiglu_backward_kernel(const T* __restrict__ gate, const T* __restrict__ up, const T* __restrict__ dout, View v,
                           T* __restrict__ dgate, T* __restrict__ dup) {
  for (int64_t r = blockIdx.y; r < v.rows; r += gridDim.y) {
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < v.cols;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int64_t i = r * v.in_ld + c;
      const float g = act::load(gate, i), u = act::load(up, i), d = act::load(dout, r * v.out_ld + c);
      const float s = sigmoid(g);
      act::store(dgate, i, d * u * s * (1.0f + g * (1.0f - s)));
      act::store(dup, i, d * g * s);
    }
  }
}

[[noreturn]] void bad(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) bad(function, std::string(name) + " is null");
}

void check_type(const char* function, ActType type) {
  if (type != ActType::F32 && type != ActType::BF16) bad(function, "type must be ActType::F32 or ActType::BF16");
}

dim3 grid_of(const View& v) {
  return dim3(static_cast<unsigned>(std::min<int64_t>((v.cols + 255) / 256, int64_t{1} << 20)),
              static_cast<unsigned>(std::min<int64_t>(v.rows, 65535)));
}

void launch_forward(const void* gate, const void* up, ActType type, const View& v, void* out, cudaStream_t stream) {
  if (type == ActType::F32) {
    swiglu_forward_kernel<<<grid_of(v), 256, 0, stream>>>(static_cast<const float*>(gate), static_cast<const float*>(up),
                                                          v, static_cast<float*>(out));
  } else {
    swiglu_forward_kernel<<<grid_of(v), 256, 0, stream>>>(static_cast<const uint16_t*>(gate),
                                                          static_cast<const uint16_t*>(up), v, static_cast<uint16_t*>(out));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void launch_backward(const void* gate, const void* up, const void* dout, ActType type, const View& v, void* dgate,
                     void* dup, cudaStream_t stream) {
  if (type == ActType::F32) {
    swiglu_backward_kernel<<<grid_of(v), 256, 0, stream>>>(
        static_cast<const float*>(gate), static_cast<const float*>(up), static_cast<const float*>(dout), v,
        static_cast<float*>(dgate), static_cast<float*>(dup));
  } else {
    swiglu_backward_kernel<<<grid_of(v), 256, 0, stream>>>(
        static_cast<const uint16_t*>(gate), static_cast<const uint16_t*>(up), static_cast<const uint16_t*>(dout), v,
        static_cast<uint16_t*>(dgate), static_cast<uint16_t*>(dup));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void check_fused(const char* function, int64_t rows, int64_t ffn) {
  if (rows < 0 || ffn < 0)
    bad(function, "rows and ffn must be >= 0, found rows=" + std::to_string(rows) + ", ffn=" + std::to_string(ffn));
}

const char* offset_bytes(const void* p, int64_t elements, ActType type) {
  return static_cast<const char*>(p) + elements * act_type_bytes(type);
}

}  // namespace

void swiglu_forward_cuda(const void* gate, const void* up, ActType type, int64_t count, void* out, cudaStream_t stream) {
  constexpr const char* kName = "swiglu_forward_cuda";
  check_type(kName, type);
  if (count < 0) bad(kName, "count must be >= 0, found " + std::to_string(count));
  if (count == 0) return;
  check_pointer(kName, "gate", gate);
  check_pointer(kName, "up", up);
  check_pointer(kName, "out", out);
  launch_forward(gate, up, type, View{1, count, count, count}, out, stream);
}

void swiglu_backward_cuda(const void* gate, const void* up, const void* dout, ActType type, int64_t count, void* dgate,
                          void* dup, cudaStream_t stream) {
  constexpr const char* kName = "swiglu_backward_cuda";
  check_type(kName, type);
  if (count < 0) bad(kName, "count must be >= 0, found " + std::to_string(count));
  if (count == 0) return;
  check_pointer(kName, "gate", gate);
  check_pointer(kName, "up", up);
  check_pointer(kName, "dout", dout);
  check_pointer(kName, "dgate", dgate);
  check_pointer(kName, "dup", dup);
  launch_backward(gate, up, dout, type, View{1, count, count, count}, dgate, dup, stream);
}

void swiglu_forward_fused_cuda(const void* h, ActType type, int64_t rows, int64_t ffn, void* out, cudaStream_t stream) {
  constexpr const char* kName = "swiglu_forward_fused_cuda";
  check_type(kName, type);
  check_fused(kName, rows, ffn);
  if (rows == 0 || ffn == 0) return;
  check_pointer(kName, "h", h);
  check_pointer(kName, "out", out);
  launch_forward(h, offset_bytes(h, ffn, type), type, View{rows, ffn, 2 * ffn, ffn}, out, stream);
}

void swiglu_backward_fused_cuda(const void* h, const void* dout, ActType type, int64_t rows, int64_t ffn, void* dh,
                                cudaStream_t stream) {
  constexpr const char* kName = "swiglu_backward_fused_cuda";
  check_type(kName, type);
  check_fused(kName, rows, ffn);
  if (rows == 0 || ffn == 0) return;
  check_pointer(kName, "h", h);
  check_pointer(kName, "dout", dout);
  check_pointer(kName, "dh", dh);
  launch_backward(h, offset_bytes(h, ffn, type), dout, type, View{rows, ffn, 2 * ffn, ffn}, dh,
                  const_cast<char*>(offset_bytes(dh, ffn, type)), stream);
}

}  // namespace tandem::kernels::cuda
