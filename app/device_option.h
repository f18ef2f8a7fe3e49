// `--device cpu|cuda` of `tandem train` and `tandem run`: the option, and the executor parts it
// selects (the CPU backend, or the staged CUDA op runner when this binary has it and a GPU is usable).
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "backend/executor.h"
#include "ir/step_program.h"

namespace tandem::app {

void add_device_option(CLI::App* cmd, std::string& device);

// Empty parts for "cpu". For "cuda": the CUDA parts, or CommandExit with exit code 2 and a message
// when the binary was built without CUDA or no GPU is usable (checked before anything is written).
backend::ExecutorParts device_parts(const std::string& device, const ir::StepProgram& program);

}  // namespace tandem::app
