// `--device cpu|cuda`: see device_option.h. The CUDA side links only when tandem_backend_cuda exists
// (app/CMakeLists.txt defines TANDEM_BACKEND_CUDA then).
#include "app/device_option.h"

#include <stdexcept>

#include "app/command_registry.h"
#if defined(TANDEM_BACKEND_CUDA)
#include "backend/cuda/cuda_ops.h"
#endif

namespace tandem::app {

void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "cpu: the CPU reference ops; cuda: the ops' math in the CUDA kernels (staged: values stay on the host, "
                  "ranks share the visible GPUs round-robin)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

backend::ExecutorParts device_parts(const std::string& device, const ir::StepProgram& program) {
  if (device != "cuda") return {};
#if defined(TANDEM_BACKEND_CUDA)
  try {
    backend::check_cuda_runnable(program);
    return backend::cuda_executor_parts(program);
  } catch (const std::invalid_argument& e) {
    throw CommandExit{kExitBadInput, std::string("error: ") + e.what()};
  }
#else
  (void)program;
  throw CommandExit{kExitBadInput,
                    "error: --device cuda: this tandem was built without CUDA (no CUDA toolkit at configure time); use --device cpu"};
#endif
}

}  // namespace tandem::app
