// `--device cpu|cuda` of `tandem train` and `tandem run`: the option, and the executor parts it
// selects (the CPU backend, or the staged CUDA op runner of the CUDA device module, which is loaded
// only here, when a command asks for cuda, so no other command maps the CUDA libraries).
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "backend/execution/executor.h"
#include "ir/step_program.h"

namespace tandem::app {

void add_device_option(CLI::App* cmd, std::string& device);

// Empty parts for "cpu". For "cuda": loads the CUDA device module (docs/gpu.md) and returns its
// parts; CommandExit with exit code 2 and a one-line message naming --device cuda when this tandem
// was built without CUDA, the module is missing, fails to load or belongs to another build, or no
// GPU is usable (checked before anything is written).
backend::ExecutorParts device_parts(const std::string& device, const ir::StepProgram& program);

// Where `--device cuda` looks for the module: $TANDEM_CUDA_DEVICE_MODULE when set, else
// libtandem_cuda_device.so in the directory of the running executable.
std::string cuda_device_module_path();

}  // namespace tandem::app
