// The staged CUDA op runner: the CUDA kernel table assembled from its parts, each op run through the op
// layer with it and counted, the per-call staging area on the rank's CudaDevice, the per-rank state, the
// executor parts for `--device cuda` and the check that a GPU is there.
#include "backend/cuda/cuda_ops.h"

#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_device.h"
#include "backend/cuda/cuda_ops_stage.h"
#include "backend/runtime/inproc_communicator.h"
#include "backend/ops/ops.h"
#include "kernels/common/cuda_device_cuda.h"

namespace tandem::backend {

namespace cuda_ops {

OpStage::OpStage(Device& device, Stream& stream) : device_(device), stream_(cuda_native_stream(stream)) {}

Env& env_of(const KernelLaunch& launch) {
  if (!launch.device_state) throw std::logic_error("a CUDA kernel called without the runner's state");
  return *static_cast<Env*>(launch.device_state);
}

void* OpStage::alloc_bytes(size_t bytes) {
  buffers_.push_back(device_.allocate(std::max<size_t>(bytes, 1)));
  return buffers_.back().data();
}

void OpStage::copy_in(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
}

void OpStage::copy_out(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
}

void OpStage::zero(void* device, size_t bytes) {
  if (bytes == 0) return;
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaMemsetAsync(device, 0, bytes, stream_));
}

void OpStage::finish() {
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaGetLastError());
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaStreamSynchronize(stream_));
}

}  // namespace cuda_ops

kernels::cuda::Fp8GemmRunner& CudaOpRunner::RankState::fp8_runner() {
  if (!fp8) fp8 = std::make_unique<kernels::cuda::Fp8GemmRunner>();
  return *fp8;
}
kernels::cuda::Bf16GemmRunner& CudaOpRunner::RankState::bf16_runner() {
  if (!bf16) bf16 = std::make_unique<kernels::cuda::Bf16GemmRunner>();
  return *bf16;
}
cuda_ops::Fp32GemmRunner& CudaOpRunner::RankState::fp32_runner() {
  if (!fp32) fp32 = std::make_unique<cuda_ops::Fp32GemmRunner>();
  return *fp32;
}

int64_t CudaOpCounts::cuda_total() const {
  int64_t n = 0;
  for (const auto& [k, v] : cuda) n += v;
  return n;
}
int64_t CudaOpCounts::cpu_total() const {
  int64_t n = 0;
  for (const auto& [k, v] : cpu) n += v;
  return n;
}

CudaOpRunner::CudaOpRunner(int64_t ranks, CudaOpOptions options) : options_(options) {
  if (ranks < 1) throw std::invalid_argument(fmt::format("CudaOpRunner: {} ranks", ranks));
  for (int64_t r = 0; r < ranks; ++r) ranks_.push_back(std::make_unique<RankState>());
}

CudaOpRunner::~CudaOpRunner() = default;

CudaOpRunner::RankState& CudaOpRunner::state(int64_t rank) {
  std::lock_guard lock(mutex_);
  if (rank < 0 || rank >= int64_t(ranks_.size()))
    throw std::invalid_argument(fmt::format("CudaOpRunner: rank {} of {}", rank, ranks_.size()));
  return *ranks_[size_t(rank)];
}

CudaOpCounts CudaOpRunner::counts() const {
  std::lock_guard lock(mutex_);
  CudaOpCounts sum;
  for (const auto& r : ranks_) {
    for (const auto& [k, v] : r->counts.cuda) sum.cuda[k] += v;
    for (const auto& [k, v] : r->counts.cpu) sum.cpu[k] += v;
    for (const auto& [k, v] : r->counts.fp8_gemm) sum.fp8_gemm[k] += v;
    for (const auto& [k, v] : r->counts.kernels.device) sum.kernels.device[k] += v;
    for (const auto& [k, v] : r->counts.kernels.fallback) sum.kernels.fallback[k] += v;
  }
  return sum;
}

void CudaOpRunner::run(RankRuntime& rt, int32_t op, Stream& stream) { run_op_cuda(rt, op, stream, *this); }

const KernelTable& cuda_kernel_table() {
  static const KernelTable table = [] {
    KernelTable t{"cuda"};
    cuda_ops::add_linear_kernels(t);
    cuda_ops::add_layer_kernels(t);
    cuda_ops::add_moe_kernels(t);
    cuda_ops::add_attention_kernels(t);
    return t;
  }();
  return table;
}

void run_op_cuda(RankRuntime& rt, int32_t index, Stream& stream, CudaOpRunner& runner) {
  const ir::OpInstance& op = rt.rp.ops[size_t(index)];
  const OpContext c{rt, index, op, rt.rp.tmpl(op), stream};
  auto& state = runner.state(rt.rank);
  cuda_ops::Env env{runner.options(), state};
  OpKernels k(cuda_kernel_table(), KernelLaunch{*rt.device, stream, rt.options.gemm_threads, rt.options.exact, &env},
              &state.counts.kernels);
  run_op(c, k);
  const bool all_cuda = k.device_calls() > 0 && k.fallback_calls() == 0;
  ++(all_cuda ? state.counts.cuda : state.counts.cpu)[op_kind_name(c.t)];
}

int cuda_visible_gpus(std::string* why) {
  const auto status = kernels::cuda::cuda_device_status();
  if (why) *why = status.reason;
  return status.count;
}

namespace {
// NOTE: the op layer the CUDA runner shares with the CPU backend runs tensor parallelism, but no GPU
// has run it yet: refused, as the CPU backend refused it, until a GPU run of backend_tests "[tp]".
void refuse_tensor_parallelism(const ir::StepProgram& program) {
  if (program.plan().tp != 1)
    throw std::invalid_argument(fmt::format("{}: the CUDA backend cannot run this plan: at plan.tp: expected 1 (tensor parallelism "
                                            "runs on the CPU backend, not yet on --device cuda), found {}",
                                            program.scenario().source, program.plan().tp));
}
}  // namespace

void check_cuda_runnable(const ir::StepProgram& program, const CudaOpOptions& options) {
  refuse_tensor_parallelism(program);
  std::string why;
  const int gpus = cuda_visible_gpus(&why);
  if (gpus == 0)
    throw std::invalid_argument(fmt::format("--device cuda: no CUDA device is usable here ({}); use --device cpu",
                                            why.empty() ? "the CUDA runtime reports none" : why));
  if (options.gpus < 0 || options.gpus > gpus)
    throw std::invalid_argument(fmt::format("--device cuda: {} GPUs asked for, {} visible", options.gpus, gpus));
  // Any world size: ranks share GPUs round-robin.
}

ExecutorParts cuda_executor_parts(const ir::StepProgram& program, std::shared_ptr<CudaOpRunner> runner, CudaOpOptions options) {
  refuse_tensor_parallelism(program);
  if (!runner) runner = std::make_shared<CudaOpRunner>(program.num_ranks(), options);
  const int visible = cuda_visible_gpus();
  const int gpus = runner->options().gpus > 0 ? runner->options().gpus : visible;
  if (gpus <= 0) throw std::invalid_argument("cuda_executor_parts: no CUDA device");
  ExecutorParts parts;
  parts.device = [gpus](int64_t rank) -> std::unique_ptr<Device> {
    CudaDeviceOptions o;
    o.streams = ir::kStreams;
    return std::make_unique<CudaDevice>(int(rank % gpus), o);
  };
  parts.run_op = [runner](RankRuntime& rt, int32_t op, Stream& stream) { runner->run(rt, op, stream); };
  return parts;
}

}  // namespace tandem::backend
