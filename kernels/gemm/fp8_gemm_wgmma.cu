// The hand-written sm_90a FP8 block-scaled GEMM (DeepSeek-V3's recipe, DeepGEMM's design): a
// persistent grid over the output tiles; per block one producer warpgroup whose single thread feeds a
// ring of shared-memory stages with TMA copies, and two consumer warpgroups that each multiply 64
// rows of the 128-row tile with wgmma m64nNk32 (E4M3) and promote every 128-deep K block into FP32
// registers with its scales, then write BF16. See docs/fp8_gemm.md.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "kernels/common/cuda_check_cuda.h"
#include "kernels/gemm/fp8_gemm_launch_cuda.h"
#include "kernels/gemm/sm90_ptx_cuda.h"

// wgmma and setmaxnreg exist only on the sm_90a target; other targets compile an empty body and the
// host refuses to launch it (fp8_gemm_wgmma_compiled).
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TANDEM_SM90A_BODY 1
#else
#define TANDEM_SM90A_BODY 0
#endif

namespace tandem::kernels::cuda {
namespace {

constexpr int kBlockM = static_cast<int>(kFp8GemmBlockM);
constexpr int kBlockK = static_cast<int>(kFp8GemmBlockK);
constexpr int kThreads = static_cast<int>(kFp8GemmThreads);
constexpr int kConsumerWarps = 8;
// Registers per thread after reallocation: the producer warpgroup gives most of its share to the
// consumers (128·40 + 256·232 = 64512 <= 65536).
constexpr uint32_t kProducerRegisters = 40;
constexpr uint32_t kConsumerRegisters = 232;

struct KernelParams {
  int m, n, k;                 // n per expert
  int kblocks;                 // ceil(k / 128)
  int m_blocks, n_blocks, tiles;
  int stages;
  const float* a_scales;       // [kblocks, a_scale_ld]
  int64_t a_scale_ld;
  const float* b_scales;       // per expert: [b_n_blocks, b_scale_ld]
  int64_t b_scale_ld;
  int64_t b_group_scales;
  int b_n_blocks;              // ceil(n / 128)
  const int32_t* block_groups; // grouped: expert of each 128-row block; dense: null
  __nv_bfloat16* d;            // [m, n]
  bool d_pairs;                // n even and d 4-byte aligned: store two columns at once
};

template <int kBlockN>
__global__ void __launch_bounds__(kThreads, 1)
    fp8_gemm_wgmma_kernel(const __grid_constant__ CUtensorMap tensor_map_a,
                          const __grid_constant__ CUtensorMap tensor_map_b, const KernelParams p) {
#if TANDEM_SM90A_BODY
  using namespace sm90;
  static_assert(kBlockN % 8 == 0 && kBlockN <= 128, "block_n must be a multiple of 8, at most 128");
  constexpr uint32_t kABytes = kBlockM * kBlockK;
  constexpr uint32_t kBBytes = kBlockN * kBlockK;
  static_assert(kBBytes % 1024 == 0, "B stages must stay 1024-byte aligned for the 128-byte swizzle");
  // A tile of at most 128 columns meets at most two 128-column scale blocks of B, and only one when
  // block_n divides 128 (64, 128); 96 and 112 wide tiles may straddle a block edge.
  constexpr bool kUniformScaleB = (kBlockK % kBlockN) == 0;
  constexpr int kAccumulators = kBlockN / 2;

  // The ring: stages A tiles, then stages B tiles, then full and empty mbarriers, all after aligning
  // the dynamic shared memory to 1024 bytes (the 128-byte swizzle repeats every 8 rows of 128 bytes).
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024u - (smem_address(smem_raw) & 1023u)) & 1023u);
  uint8_t* smem_a = smem;
  uint8_t* smem_b = smem + p.stages * kABytes;
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + p.stages * (kABytes + kBBytes));
  uint64_t* empty = full + p.stages;

  const int warpgroup = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    prefetch_tensor_map(&tensor_map_a);
    prefetch_tensor_map(&tensor_map_b);
    for (int s = 0; s < p.stages; ++s) {
      mbarrier_init(&full[s], 1);                 // the producer's arrive.expect_tx (+ the TMA bytes)
      mbarrier_init(&empty[s], kConsumerWarps);   // one arrival per consumer warp
    }
    fence_barrier_init();
  }
  __syncthreads();

  if (warpgroup == 0) {
    // Producer: one thread issues every copy; the warpgroup's other threads only give registers back.
    setmaxnreg_decrease<kProducerRegisters>();
    if (threadIdx.x == 0) {
      // Stage s is used for the i-th time in round i: the consumers wait on full[s] for the phase
      // of parity (i & 1), the producer on empty[s] for parity ((i & 1) ^ 1), which a fresh barrier
      // reports complete at once, so the first round starts without waiting.
      int stage = 0;
      uint32_t phase = 0;
      for (int tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
        int m_block, n_block;
        fp8_gemm_tile_coordinates(tile, p.m_blocks, p.n_blocks, m_block, n_block);
        const int group = p.block_groups ? p.block_groups[m_block] : 0;
        const int a_row = m_block * kBlockM;
        const int b_row = group * p.n + n_block * kBlockN;
        for (int kb = 0; kb < p.kblocks; ++kb) {
          mbarrier_wait(&empty[stage], phase ^ 1u);  // the consumers released this stage
          mbarrier_arrive_expect_tx(&full[stage], kABytes + kBBytes);
          tma_load_2d(smem_a + stage * kABytes, &tensor_map_a, &full[stage], kb * kBlockK, a_row);
          tma_load_2d(smem_b + stage * kBBytes, &tensor_map_b, &full[stage], kb * kBlockK, b_row);
          if (++stage == p.stages) stage = 0, phase ^= 1u;
        }
      }
    }
  } else {
    // Consumers: warpgroup 1 multiplies rows 0-63 of the tile, warpgroup 2 rows 64-127.
    setmaxnreg_increase<kConsumerRegisters>();
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32;
    const int warp_in_group = (threadIdx.x / 32) % 4;
    const int tile_row = consumer * 64 + warp_in_group * 16 + lane / 4;  // and tile_row + 8
    const int col_in_group = 2 * (lane % 4);
    float accum[kAccumulators];   // one 128-deep K block, from wgmma
    float result[kAccumulators];  // the promoted FP32 sum over K blocks
    int stage = 0;
    uint32_t phase = 0;

    for (int tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
      int m_block, n_block;
      fp8_gemm_tile_coordinates(tile, p.m_blocks, p.n_blocks, m_block, n_block);
      const int group = p.block_groups ? p.block_groups[m_block] : 0;
      const int n0 = n_block * kBlockN;
      const int row0 = m_block * kBlockM + tile_row, row1 = row0 + 8;
      // Scale rows and column blocks, clamped inside the matrix (rows and columns past its edge are
      // computed from TMA's zero fill or a neighbouring expert's rows, and never stored).
      const float* a_scale0 = p.a_scales + min(row0, p.m - 1);
      const float* a_scale1 = p.a_scales + min(row1, p.m - 1);
      const int b_block0 = n0 / kBlockK;
      const int b_block1 = min(b_block0 + 1, p.b_n_blocks - 1);
      const int second_block_from = (b_block0 + 1) * kBlockK - n0;  // first tile column of b_block1
      const float* b_scale0 = p.b_scales + group * p.b_group_scales + b_block0 * p.b_scale_ld;
      const float* b_scale1 = p.b_scales + group * p.b_group_scales + b_block1 * p.b_scale_ld;

#pragma unroll
      for (int i = 0; i < kAccumulators; ++i) result[i] = 0.0f;
      // Scales of the next K block are loaded one block ahead, so their latency hides behind the MMAs.
      float sa0 = __ldg(a_scale0), sa1 = __ldg(a_scale1), sb0 = __ldg(b_scale0), sb1 = __ldg(b_scale1);

      for (int kb = 0; kb < p.kblocks; ++kb) {
        float next_sa0 = 0.0f, next_sa1 = 0.0f, next_sb0 = 0.0f, next_sb1 = 0.0f;
        if (kb + 1 < p.kblocks) {
          const int64_t a_offset = static_cast<int64_t>(kb + 1) * p.a_scale_ld;
          next_sa0 = __ldg(a_scale0 + a_offset);
          next_sa1 = __ldg(a_scale1 + a_offset);
          next_sb0 = __ldg(b_scale0 + kb + 1);
          next_sb1 = __ldg(b_scale1 + kb + 1);
        }

        mbarrier_wait(&full[stage], phase);
        const uint32_t a_tile = smem_address(smem_a + stage * kABytes + consumer * 64 * kBlockK);
        const uint32_t b_tile = smem_address(smem_b + stage * kBBytes);
#pragma unroll
        for (int i = 0; i < kAccumulators; ++i) fence_operand(accum[i]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBlockK / 32; ++kk) {
          WgmmaE4M3<kBlockN>::mma(smem_descriptor_sw128(a_tile + kk * 32), smem_descriptor_sw128(b_tile + kk * 32),
                                  accum, kk > 0 ? 1 : 0);
        }
        wgmma_commit_group();
#pragma unroll
        for (int i = 0; i < kAccumulators; ++i) fence_operand(accum[i]);
        wgmma_wait_group<0>();
#pragma unroll
        for (int i = 0; i < kAccumulators; ++i) fence_operand(accum[i]);
        // The stage's shared memory is no longer read: hand it back to the producer.
        if (lane == 0) mbarrier_arrive(&empty[stage]);
        if (++stage == p.stages) stage = 0, phase ^= 1u;

        // Promotion: result += accum · (a_scale · b_scale), per row and per 128-column block of B.
        const float s00 = sa0 * sb0, s10 = sa1 * sb0;
        const float s01 = sa0 * sb1, s11 = sa1 * sb1;
#pragma unroll
        for (int j = 0; j < kBlockN / 8; ++j) {
          const bool second = !kUniformScaleB && j * 8 >= second_block_from;
          const float scale_row0 = second ? s01 : s00;
          const float scale_row1 = second ? s11 : s10;
          result[4 * j + 0] = fmaf(accum[4 * j + 0], scale_row0, result[4 * j + 0]);
          result[4 * j + 1] = fmaf(accum[4 * j + 1], scale_row0, result[4 * j + 1]);
          result[4 * j + 2] = fmaf(accum[4 * j + 2], scale_row1, result[4 * j + 2]);
          result[4 * j + 3] = fmaf(accum[4 * j + 3], scale_row1, result[4 * j + 3]);
        }
        sa0 = next_sa0, sa1 = next_sa1, sb0 = next_sb0, sb1 = next_sb1;
      }

      // Epilogue: BF16 (round to nearest even) straight from the registers, masked at the edges.
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) {
        const int col = n0 + 8 * j + col_in_group;
        if (col >= p.n) continue;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int row = half == 0 ? row0 : row1;
          if (row >= p.m) continue;
          __nv_bfloat16* out = p.d + static_cast<int64_t>(row) * p.n + col;
          const float v0 = result[4 * j + 2 * half], v1 = result[4 * j + 2 * half + 1];
          if (p.d_pairs) {
            *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(v0, v1);
          } else {
            out[0] = __float2bfloat16_rn(v0);
            if (col + 1 < p.n) out[1] = __float2bfloat16_rn(v1);
          }
        }
      }
    }
  }
#endif  // TANDEM_SM90A_BODY
}

__global__ void sm90a_probe_kernel(int* compiled) { *compiled = TANDEM_SM90A_BODY; }

PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 encoder = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult query = cudaDriverEntryPointSymbolNotFound;
    TANDEM_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &query));
    if (query != cudaDriverEntryPointSuccess || fn == nullptr) {
      throw std::runtime_error("fp8 GEMM: the driver has no cuTensorMapEncodeTiled (CUDA 12.0 or newer needed)");
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  return encoder;
}

// A 2-D map over a row-major [rows, cols] byte matrix with [box_rows, 128] boxes and the 128-byte
// swizzle the wgmma descriptors expect.
CUtensorMap make_tensor_map(const uint8_t* base, int64_t rows, int64_t cols, int box_rows) {
  CUtensorMap map{};
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(cols)};  // bytes between rows
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kBlockK), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult result = tensor_map_encoder()(
      &map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(base), dims, strides, box, element_strides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS) {
    throw std::runtime_error("fp8 GEMM: cuTensorMapEncodeTiled failed with CUresult " + std::to_string(result) +
                             " for a [" + std::to_string(rows) + ", " + std::to_string(cols) + "] matrix");
  }
  return map;
}

// Raises the kernel's dynamic shared-memory limit once per device (the attribute is per device).
template <int kBlockN>
void configure_once_per_device() {
  static std::mutex mutex;
  static std::set<int> configured;
  int device = 0;
  TANDEM_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  if (configured.count(device)) return;
  TANDEM_CUDA_CHECK(cudaFuncSetAttribute(fp8_gemm_wgmma_kernel<kBlockN>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kFp8GemmDefaultSmemBytes)));
  configured.insert(device);
}

template <int kBlockN>
void launch_with_block_n(const Fp8GemmLaunch& l, const Fp8GemmTiling& t, cudaStream_t stream) {
  if (t.smem_bytes > kFp8GemmDefaultSmemBytes) {
    throw std::invalid_argument("fp8 GEMM: tiling asks for " + std::to_string(t.smem_bytes) +
                                " bytes of shared memory, more than the " + std::to_string(kFp8GemmDefaultSmemBytes) +
                                " the kernel is configured for");
  }
  configure_once_per_device<kBlockN>();
  const CUtensorMap map_a = make_tensor_map(l.a_codes, l.m, l.k, kBlockM);
  const CUtensorMap map_b = make_tensor_map(l.b_codes, l.groups * l.n, l.k, kBlockN);
  KernelParams p{};
  p.m = static_cast<int>(l.m);
  p.n = static_cast<int>(l.n);
  p.k = static_cast<int>(l.k);
  p.kblocks = static_cast<int>((l.k + kBlockK - 1) / kBlockK);
  p.m_blocks = static_cast<int>(t.m_blocks);
  p.n_blocks = static_cast<int>(t.n_blocks);
  p.tiles = static_cast<int>(t.tiles);
  p.stages = static_cast<int>(t.stages);
  p.a_scales = l.a_scales;
  p.a_scale_ld = l.a_scale_ld;
  p.b_scales = l.b_scales;
  p.b_scale_ld = l.b_scale_ld;
  p.b_group_scales = l.b_group_scales;
  p.b_n_blocks = static_cast<int>((l.n + kBlockK - 1) / kBlockK);
  p.block_groups = l.block_groups;
  p.d = reinterpret_cast<__nv_bfloat16*>(l.d);
  p.d_pairs = l.n % 2 == 0 && reinterpret_cast<uintptr_t>(l.d) % 4 == 0;
  fp8_gemm_wgmma_kernel<kBlockN><<<static_cast<unsigned>(t.ctas), kThreads, static_cast<size_t>(t.smem_bytes), stream>>>(
      map_a, map_b, p);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool fp8_gemm_wgmma_compiled() {
  int* flag = nullptr;
  TANDEM_CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  int compiled = 0;
  sm90a_probe_kernel<<<1, 1>>>(flag);
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) status = cudaMemcpy(&compiled, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  if (status == cudaErrorNoKernelImageForDevice || status == cudaErrorInvalidDeviceFunction) {
    cudaGetLastError();
    return false;  // no binary for this device at all
  }
  TANDEM_CUDA_CHECK(status);
  return compiled == 1;
}

void launch_fp8_gemm_wgmma(const Fp8GemmLaunch& launch, const Fp8GemmTiling& tiling, cudaStream_t stream) {
  if (tiling.tiles == 0) return;
  if (tiling.stages < 2) throw std::invalid_argument("fp8 GEMM: the tiling has fewer than 2 pipeline stages");
  if (launch.m > 0x7fffffff || launch.groups * launch.n > 0x7fffffff || launch.k > 0x7fffffff) {
    throw std::invalid_argument("fp8 GEMM: dimensions beyond 2^31 - 1 are not supported by the wgmma kernel");
  }
  switch (tiling.block_n) {
    case 64: return launch_with_block_n<64>(launch, tiling, stream);
    case 96: return launch_with_block_n<96>(launch, tiling, stream);
    case 112: return launch_with_block_n<112>(launch, tiling, stream);
    case 128: return launch_with_block_n<128>(launch, tiling, stream);
    default:
      throw std::invalid_argument("fp8 GEMM: no wgmma kernel compiled for block_n = " + std::to_string(tiling.block_n));
  }
}

}  // namespace tandem::kernels::cuda
