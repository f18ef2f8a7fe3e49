// The CUDA op runner in its staged form: every op of the StepProgram runs the op layer (ops.h) with the
// CUDA kernel table, keeping its values in the host TensorStore (versions, gradient parts and read
// cut-offs as on the CPU backend): each kernel call uploads its operands, runs on the op's stream and
// downloads its results. Entries the table lacks run the CPU table's, counted. See docs/backend.md.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/execution/executor.h"
#include "backend/ops/kernel_table.h"
#include "backend/execution/runtime.h"
#include "ir/step_program.h"

namespace tandem::backend {

// Which FP8 GEMM backend of the kernels' runner (kernels/gemm/fp8_gemm_cuda.h) the runner prefers.
// A call the preferred backend cannot run (its shape or layout checks fail, or the wgmma kernel is
// not available on this device) runs on Naive, the kernel with the CPU reference's roundings.
enum class Fp8GemmChoice : uint8_t { Auto, Wgmma, CublasLt, Naive };   // Auto: Wgmma, else Naive

struct CudaOpOptions {
  Fp8GemmChoice fp8_gemm = Fp8GemmChoice::Auto;
  int gpus = 0;                    // GPUs the ranks are spread over (rank r on r % gpus); 0: all visible
};

// What the runner did. Per op kind: ops whose kernels all ran in CUDA (`cuda`), and ops that ran on the
// host in part or whole (`cpu`: a kernel the table lacks or does not run for the shape, or an op with no
// kernel such as a pipeline transfer). Per table entry: calls run in CUDA and calls that fell back to
// the CPU table. FP8 GEMM calls per GEMM backend.
struct CudaOpCounts {
  std::map<std::string, int64_t> cuda, cpu;    // op kind name -> ops run
  KernelCounts kernels;                        // entry name -> calls (device, fallback)
  std::map<std::string, int64_t> fp8_gemm;     // backend name -> kernel calls
  int64_t cuda_total() const;
  int64_t cpu_total() const;
};

class CudaOpRunner {
 public:
  explicit CudaOpRunner(int64_t ranks, CudaOpOptions options = {});
  ~CudaOpRunner();
  CudaOpRunner(const CudaOpRunner&) = delete;
  CudaOpRunner& operator=(const CudaOpRunner&) = delete;

  // Runs op `op` of the rank on `stream` (a stream of a CudaDevice): ExecutorParts::run_op.
  void run(RankRuntime& rt, int32_t op, Stream& stream);
  const CudaOpOptions& options() const { return options_; }
  CudaOpCounts counts() const;     // summed over the ranks

  struct RankState;                // per rank: the kernels' GEMM runners and the counts
  RankState& state(int64_t rank);

 private:
  CudaOpOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<RankState>> ranks_;
};

// Runs op `op` of rank `rt` through the op layer with the CUDA kernel table (run_op, as execute_op does
// with the CPU table).
void run_op_cuda(RankRuntime& rt, int32_t op, Stream& stream, CudaOpRunner& runner);

// The CUDA kernel table: the entries with a CUDA kernel; the others (embedding, RoPE, AdamW and the
// optimizer's reductions) are null and run the CPU table's.
const KernelTable& cuda_kernel_table();

// Usable CUDA devices; 0 with the CUDA runtime's reason in `why` (never throws).
int cuda_visible_gpus(std::string* why = nullptr);

// Throws std::invalid_argument with a message for the command line when `--device cuda` cannot run
// here: no usable GPU (several ranks may share one GPU: rank r runs on GPU r % visible).
void check_cuda_runnable(const ir::StepProgram& program, const CudaOpOptions& options = {});

// Executor parts for the staged CUDA runner: rank r on a CudaDevice (ir::kStreams streams) of GPU
// r % gpus, the in-process communicator, and `runner` (a new one when null) as run_op.
ExecutorParts cuda_executor_parts(const ir::StepProgram& program, std::shared_ptr<CudaOpRunner> runner = nullptr,
                                  CudaOpOptions options = {});

}  // namespace tandem::backend
