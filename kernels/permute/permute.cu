// CUDA permutation kernels (permute_cuda.h). The index: a shared-memory histogram per chunk of 256
// pairs, one block that turns the counts into per-chunk bases and padded offsets, and one warp per
// chunk that places its pairs in order (__match_any_sync ranks equal experts within 32 pairs).
// Data movement: one block per row or token; the combine's backward stages 32×32 products in
// shared memory so that each dot product is summed by one lane in the reference's order.
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/permute/permute_cuda.h"

namespace tandem::kernels::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kScanThreads = 1024;

// Per chunk: counts[chunk, e] = pairs of the chunk routed to e. Invalid ids are counted apart.
__global__ void __launch_bounds__(kPermuteChunk)
    chunk_histogram_kernel(const int32_t* __restrict__ topk_idx, int64_t pairs, int experts,
                           int32_t* __restrict__ counts, int32_t* __restrict__ invalid_ids) {
  extern __shared__ int hist[];
  for (int e = threadIdx.x; e < experts; e += blockDim.x) hist[e] = 0;
  __syncthreads();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kPermuteChunk + threadIdx.x;
  if (i < pairs) {
    const int32_t e = topk_idx[i];
    if (e >= 0 && e < experts) {
      atomicAdd(&hist[e], 1);
    } else {
      atomicAdd(invalid_ids, 1);
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < experts; e += blockDim.x) counts[static_cast<int64_t>(blockIdx.x) * experts + e] = hist[e];
}

// One block: counts[c, e] becomes Σ_{c' < c} counts[c', e] (the chunk's base within the expert),
// expert_counts[e] the total, expert_offsets the exclusive prefix of the padded totals.
__global__ void __launch_bounds__(kScanThreads)
    offsets_kernel(int32_t* __restrict__ counts, int64_t chunks, int experts, int64_t align_rows,
                   int64_t* __restrict__ expert_counts, int64_t* __restrict__ expert_offsets) {
  __shared__ int64_t partial[kScanThreads];
  constexpr int kBatch = 16;  // loads in flight before their values are used
  for (int e = threadIdx.x; e < experts; e += blockDim.x) {
    int32_t running = 0;
    for (int64_t c0 = 0; c0 < chunks; c0 += kBatch) {
      int32_t v[kBatch];
#pragma unroll
      for (int i = 0; i < kBatch; ++i) v[i] = c0 + i < chunks ? counts[(c0 + i) * experts + e] : 0;
#pragma unroll
      for (int i = 0; i < kBatch; ++i) {
        if (c0 + i < chunks) counts[(c0 + i) * experts + e] = running;
        running += v[i];
      }
    }
    expert_counts[e] = running;
  }
  __syncthreads();
  // Thread i owns experts [i·per, (i+1)·per): its padded sum, a scan of the sums, then its offsets.
  const int per = (experts + kScanThreads - 1) / kScanThreads;
  const int lo = min(experts, static_cast<int>(threadIdx.x) * per), hi = min(experts, lo + per);
  int64_t own = 0;
  for (int e = lo; e < hi; ++e) own += padded_rows(expert_counts[e], align_rows);
  partial[threadIdx.x] = own;
  __syncthreads();
  for (int step = 1; step < kScanThreads; step *= 2) {  // inclusive Hillis-Steele scan
    const int64_t add = threadIdx.x >= step ? partial[threadIdx.x - step] : 0;
    __syncthreads();
    partial[threadIdx.x] += add;
    __syncthreads();
  }
  int64_t offset = partial[threadIdx.x] - own;
  for (int e = lo; e < hi; ++e) {
    expert_offsets[e] = offset;
    offset += padded_rows(expert_counts[e], align_rows);
  }
  if (threadIdx.x == kScanThreads - 1) expert_offsets[experts] = partial[threadIdx.x];
}

__global__ void fill_kernel(int32_t* __restrict__ p, int64_t n, int32_t value) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p[i] = value;
}

// One warp per chunk, its pairs in order, 32 at a time: a pair's row is its expert's offset, plus
// the chunk's base, plus the pairs of the same expert already placed in this chunk, plus those on
// lower lanes of this step.
__global__ void __launch_bounds__(32)
    scatter_kernel(const int32_t* __restrict__ topk_idx, int64_t pairs, int experts,
                   const int32_t* __restrict__ chunk_base, const int64_t* __restrict__ expert_offsets,
                   int32_t* __restrict__ row_source, int64_t* __restrict__ slot_row) {
  extern __shared__ int placed[];
  const int lane = threadIdx.x;
  const int64_t chunk = blockIdx.x;
  for (int e = lane; e < experts; e += 32) placed[e] = chunk_base[chunk * experts + e];
  __syncwarp();
  const unsigned lower = (1u << lane) - 1u;
  for (int step = 0; step < kPermuteChunk / 32; ++step) {
    const int64_t i = chunk * kPermuteChunk + step * 32 + lane;
    const int32_t e = i < pairs ? topk_idx[i] : -1;
    const bool valid = i < pairs && e >= 0 && e < experts;
    const unsigned peers = __match_any_sync(kFullMask, valid ? e : -1);
    const int rank = __popc(peers & lower);
    int base = 0;
    if (valid) {
      base = placed[e];
      const int64_t r = expert_offsets[e] + base + rank;
      row_source[r] = static_cast<int32_t>(i);
      slot_row[i] = r;
    } else if (i < pairs) {
      slot_row[i] = -1;
    }
    __syncwarp();
    if (valid && rank == 0) placed[e] = base + __popc(peers);
    __syncwarp();
  }
}

// One block per row: a copy of the source token's row, or zeros. V is the unit of the copy.
template <typename V>
__global__ void __launch_bounds__(256)
    permute_forward_kernel(const V* __restrict__ x, const int32_t* __restrict__ row_source, int64_t top_k,
                           int64_t row_units, V* __restrict__ out) {
  const int64_t r = blockIdx.x;
  const int32_t src = row_source[r];
  V* dst = out + r * row_units;
  if (src < 0) {
    for (int64_t u = threadIdx.x; u < row_units; u += blockDim.x) dst[u] = V{};
  } else {
    const V* row = x + (src / top_k) * row_units;
    for (int64_t u = threadIdx.x; u < row_units; u += blockDim.x) dst[u] = row[u];
  }
}

// One block per token: Σ_k dout[slot_row[t, k], d], k in order (skipping pairs without a row).
template <typename T>
__global__ void __launch_bounds__(256)
    permute_backward_kernel(const T* __restrict__ dout, const int64_t* __restrict__ slot_row, int64_t top_k,
                            int64_t dim, T* __restrict__ dx) {
  const int64_t t = blockIdx.x;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t k = 0; k < top_k; ++k) {
      const int64_t r = slot_row[t * top_k + k];
      if (r >= 0) acc = __fadd_rn(acc, act::load(dout, r * dim + d));
    }
    act::store(dx, t * dim + d, acc);
  }
}

// One block per token: Σ_k weights[t, k] · y[slot_row[t, k], d], k in order.
template <typename T>
__global__ void __launch_bounds__(256)
    unpermute_forward_kernel(const T* __restrict__ y, const float* __restrict__ weights,
                             const int64_t* __restrict__ slot_row, int64_t top_k, int64_t dim, T* __restrict__ out) {
  const int64_t t = blockIdx.x;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t k = 0; k < top_k; ++k) {
      const int64_t r = slot_row[t * top_k + k];
      if (r >= 0) acc = __fadd_rn(acc, __fmul_rn(weights[t * top_k + k], act::load(y, r * dim + d)));
    }
    act::store(out, t * dim + d, acc);
  }
}

// Zero rows of dy for padding (row_source < 0), one block per row.
template <typename T>
__global__ void __launch_bounds__(256)
    zero_padding_rows_kernel(const int32_t* __restrict__ row_source, int64_t dim, T* __restrict__ dy) {
  const int64_t r = blockIdx.x;
  if (row_source[r] >= 0) return;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) act::store(dy, r * dim + d, 0.0f);
}

// Eight warps, 32 consecutive pairs per warp. For each 32-column step, lane l loads column d0 + l of
// every pair's dout and y rows (coalesced), writes dy and stages the product in tile[pair][l]; then
// lane p adds row p of the tile in column order. Pair p's dot product is thus one sequential sum
// over d, as in the reference.
constexpr int kUnpermuteWarps = 8;
template <typename T>
__global__ void __launch_bounds__(kUnpermuteWarps * 32)
    unpermute_backward_kernel(const T* __restrict__ y, const float* __restrict__ weights, const T* __restrict__ dout,
                              const int64_t* __restrict__ slot_row, int64_t pairs, int64_t top_k, int64_t dim,
                              T* __restrict__ dy, float* __restrict__ dweights) {
  __shared__ float tile[kUnpermuteWarps][32][33];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t p0 = (static_cast<int64_t>(blockIdx.x) * kUnpermuteWarps + warp) * 32;
  if (p0 >= pairs) return;  // the whole warp leaves together
  // Lane l keeps pair p0 + l's row, token and weight; the loads below take them by shuffle.
  const int64_t my_p = p0 + lane;
  const int64_t my_r = my_p < pairs ? slot_row[my_p] : -1;
  const int64_t my_t = my_p / top_k;
  const float my_w = my_p < pairs ? weights[my_p] : 0.0f;
  float acc = 0.0f;
  for (int64_t d0 = 0; d0 < dim; d0 += 32) {
    const int64_t d = d0 + lane;
    for (int i = 0; i < 32; ++i) {
      const int64_t r = __shfl_sync(kFullMask, my_r, i);
      const int64_t t = __shfl_sync(kFullMask, my_t, i);
      const float w = __shfl_sync(kFullMask, my_w, i);
      float product = 0.0f;
      if (r >= 0 && d < dim) {
        const float g = act::load(dout, t * dim + d);
        product = __fmul_rn(g, act::load(y, r * dim + d));
        act::store(dy, r * dim + d, __fmul_rn(w, g));
      }
      tile[warp][i][lane] = product;
    }
    __syncwarp();
    const int n = dim - d0 < 32 ? static_cast<int>(dim - d0) : 32;
    for (int j = 0; j < n; ++j) acc = __fadd_rn(acc, tile[warp][lane][j]);
    __syncwarp();
  }
  if (my_p < pairs) dweights[my_p] = my_r >= 0 ? acc : __int_as_float(0x7fc00000);
}

[[noreturn]] void bad(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_pointer(const char* function, const char* name, const void* p) {
  if (p == nullptr) bad(function, std::string(name) + " is null");
}

std::string s(int64_t v) { return std::to_string(v); }

void check_shape(const char* function, int64_t tokens, int64_t top_k, int64_t experts, int64_t align_rows) {
  if (tokens < 0) bad(function, "tokens must be >= 0, found " + s(tokens));
  if (top_k < 1) bad(function, "top_k must be >= 1, found " + s(top_k));
  if (experts < 1 || experts > kPermuteMaxExperts)
    bad(function, "experts must be in [1, " + s(kPermuteMaxExperts) + "], found " + s(experts));
  if (align_rows < 1 || align_rows > 4096) bad(function, "align_rows must be in [1, 4096], found " + s(align_rows));
  if (permute_row_capacity(tokens, top_k, experts, align_rows) > 0x7fffffff)
    bad(function, "tokens·top_k + padding must stay below 2^31 rows");
}

// The view's shape and capacity, and dim.
void check_view(const char* function, const PermuteIndexView& index, int64_t dim) {
  check_shape(function, index.tokens, index.top_k, index.experts, index.align_rows);
  if (index.row_capacity != permute_row_capacity(index.tokens, index.top_k, index.experts, index.align_rows))
    bad(function, "index.row_capacity is " + s(index.row_capacity) + ", expected permute_row_capacity(...) = " +
                      s(permute_row_capacity(index.tokens, index.top_k, index.experts, index.align_rows)));
  if (dim < 0) bad(function, "dim must be >= 0, found " + s(dim));
}

unsigned grid_of(int64_t blocks) { return static_cast<unsigned>(std::max<int64_t>(blocks, 1)); }

bool aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

DevicePermuteIndex::DevicePermuteIndex(int64_t tokens, int64_t top_k, int64_t experts, int64_t align_rows) {
  check_shape("DevicePermuteIndex", tokens, top_k, experts, align_rows);
  const int64_t capacity = permute_row_capacity(tokens, top_k, experts, align_rows);
  offsets_ = DeviceBuffer<int64_t>(static_cast<size_t>(experts + 1));
  counts_ = DeviceBuffer<int64_t>(static_cast<size_t>(experts));
  slot_row_ = DeviceBuffer<int64_t>(static_cast<size_t>(tokens * top_k));
  row_source_ = DeviceBuffer<int32_t>(static_cast<size_t>(capacity));
  invalid_ = DeviceBuffer<int32_t>(1);
  workspace_ = DeviceBuffer<int32_t>(static_cast<size_t>(permute_workspace_count(tokens, top_k, experts)));
  view_ = {tokens, top_k, experts, align_rows, capacity, offsets_.data(), counts_.data(), row_source_.data(),
           slot_row_.data(), invalid_.data(), workspace_.data()};
}

void build_permute_index_cuda(const int32_t* topk_idx, const PermuteIndexView& index, cudaStream_t stream) {
  constexpr const char* kName = "build_permute_index_cuda";
  check_view(kName, index, 0);
  const int64_t pairs = index.tokens * index.top_k, chunks = permute_chunks(pairs);
  if (pairs > 0) {
    check_pointer(kName, "topk_idx", topk_idx);
    check_pointer(kName, "index.slot_row", index.slot_row);
    check_pointer(kName, "index.workspace", index.workspace);
  }
  if (index.row_capacity > 0) check_pointer(kName, "index.row_source", index.row_source);
  check_pointer(kName, "index.expert_offsets", index.expert_offsets);
  check_pointer(kName, "index.expert_counts", index.expert_counts);
  check_pointer(kName, "index.invalid_ids", index.invalid_ids);
  const int experts = static_cast<int>(index.experts);
  const size_t hist_bytes = static_cast<size_t>(experts) * sizeof(int);
  TANDEM_CUDA_CHECK(cudaMemsetAsync(index.invalid_ids, 0, sizeof(int32_t), stream));
  if (index.row_capacity > 0) {
    fill_kernel<<<grid_of(std::min<int64_t>((index.row_capacity + 255) / 256, 4096)), 256, 0, stream>>>(
        index.row_source, index.row_capacity, -1);
    TANDEM_CUDA_CHECK_LAUNCH();
  }
  if (chunks > 0) {
    chunk_histogram_kernel<<<static_cast<unsigned>(chunks), kPermuteChunk, hist_bytes, stream>>>(
        topk_idx, pairs, experts, index.workspace, index.invalid_ids);
    TANDEM_CUDA_CHECK_LAUNCH();
  }
  offsets_kernel<<<1, kScanThreads, 0, stream>>>(index.workspace, chunks, experts, index.align_rows,
                                                 index.expert_counts, index.expert_offsets);
  TANDEM_CUDA_CHECK_LAUNCH();
  if (chunks > 0) {
    scatter_kernel<<<static_cast<unsigned>(chunks), 32, hist_bytes, stream>>>(
        topk_idx, pairs, experts, index.workspace, index.expert_offsets, index.row_source, index.slot_row);
    TANDEM_CUDA_CHECK_LAUNCH();
  }
}

void permute_forward_cuda(const void* x, int64_t element_bytes, const PermuteIndexView& index, int64_t dim, void* out,
                          cudaStream_t stream) {
  constexpr const char* kName = "permute_forward_cuda";
  check_view(kName, index, dim);
  if (element_bytes != 1 && element_bytes != 2 && element_bytes != 4)
    bad(kName, "element_bytes must be 1, 2 or 4, found " + s(element_bytes));
  if (index.row_capacity == 0 || dim == 0) return;
  if (index.tokens > 0) check_pointer(kName, "x", x);
  check_pointer(kName, "out", out);
  check_pointer(kName, "index.row_source", index.row_source);
  const int64_t row_bytes = dim * element_bytes;
  const auto launch = [&](auto unit) {
    using V = decltype(unit);
    const int64_t units = row_bytes / static_cast<int64_t>(sizeof(V));
    permute_forward_kernel<V><<<static_cast<unsigned>(index.row_capacity), 256, 0, stream>>>(
        static_cast<const V*>(x), index.row_source, index.top_k, units, static_cast<V*>(out));
  };
  if (row_bytes % 16 == 0 && aligned(x, 16) && aligned(out, 16)) {
    launch(uint4{});
  } else if (row_bytes % 4 == 0 && aligned(x, 4) && aligned(out, 4)) {
    launch(uint32_t{});
  } else {
    launch(uint8_t{});
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void permute_backward_cuda(const void* dout, ActType type, const PermuteIndexView& index, int64_t dim, void* dx,
                           cudaStream_t stream) {
  constexpr const char* kName = "permute_backward_cuda";
  check_view(kName, index, dim);
  if (index.tokens == 0 || dim == 0) return;
  check_pointer(kName, "dout", dout);
  check_pointer(kName, "dx", dx);
  check_pointer(kName, "index.slot_row", index.slot_row);
  const auto grid = static_cast<unsigned>(index.tokens);
  if (type == ActType::F32) {
    permute_backward_kernel<<<grid, 256, 0, stream>>>(static_cast<const float*>(dout), index.slot_row, index.top_k,
                                                      dim, static_cast<float*>(dx));
  } else {
    permute_backward_kernel<<<grid, 256, 0, stream>>>(static_cast<const uint16_t*>(dout), index.slot_row, index.top_k,
                                                      dim, static_cast<uint16_t*>(dx));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void unpermute_forward_cuda(const void* y, ActType type, const float* weights, const PermuteIndexView& index,
                            int64_t dim, void* out, cudaStream_t stream) {
  constexpr const char* kName = "unpermute_forward_cuda";
  check_view(kName, index, dim);
  if (index.tokens == 0 || dim == 0) return;
  check_pointer(kName, "y", y);
  check_pointer(kName, "weights", weights);
  check_pointer(kName, "out", out);
  check_pointer(kName, "index.slot_row", index.slot_row);
  const auto grid = static_cast<unsigned>(index.tokens);
  if (type == ActType::F32) {
    unpermute_forward_kernel<<<grid, 256, 0, stream>>>(static_cast<const float*>(y), weights, index.slot_row,
                                                       index.top_k, dim, static_cast<float*>(out));
  } else {
    unpermute_forward_kernel<<<grid, 256, 0, stream>>>(static_cast<const uint16_t*>(y), weights, index.slot_row,
                                                       index.top_k, dim, static_cast<uint16_t*>(out));
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

void unpermute_backward_cuda(const void* y, const float* weights, const void* dout, ActType type,
                             const PermuteIndexView& index, int64_t dim, void* dy, float* dweights,
                             cudaStream_t stream) {
  constexpr const char* kName = "unpermute_backward_cuda";
  check_view(kName, index, dim);
  const int64_t pairs = index.tokens * index.top_k;
  if (index.row_capacity == 0) return;
  if (pairs > 0) {
    check_pointer(kName, "y", y);
    check_pointer(kName, "weights", weights);
    check_pointer(kName, "dout", dout);
    check_pointer(kName, "dweights", dweights);
    check_pointer(kName, "index.slot_row", index.slot_row);
  }
  check_pointer(kName, "dy", dy);
  check_pointer(kName, "index.row_source", index.row_source);
  const auto rows = static_cast<unsigned>(index.row_capacity);
  const unsigned blocks = grid_of((pairs + kUnpermuteWarps * 32 - 1) / (kUnpermuteWarps * 32));
  if (type == ActType::F32) {
    if (dim > 0) zero_padding_rows_kernel<<<rows, 256, 0, stream>>>(index.row_source, dim, static_cast<float*>(dy));
    if (pairs > 0)
      unpermute_backward_kernel<<<blocks, kUnpermuteWarps * 32, 0, stream>>>(
          static_cast<const float*>(y), weights, static_cast<const float*>(dout), index.slot_row, pairs, index.top_k,
          dim, static_cast<float*>(dy), dweights);
  } else {
    if (dim > 0) zero_padding_rows_kernel<<<rows, 256, 0, stream>>>(index.row_source, dim, static_cast<uint16_t*>(dy));
    if (pairs > 0)
      unpermute_backward_kernel<<<blocks, kUnpermuteWarps * 32, 0, stream>>>(
          static_cast<const uint16_t*>(y), weights, static_cast<const uint16_t*>(dout), index.slot_row, pairs,
          index.top_k, dim, static_cast<uint16_t*>(dy), dweights);
  }
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::kernels::cuda
