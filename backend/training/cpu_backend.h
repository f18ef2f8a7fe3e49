// Entry points shared by `tandem train`, `tandem run`, the benchmark and the tests: the checks that
// decide whether the CPU backend can run a scenario on this machine, the bundled corpus, and
// synthetic token data for runs without a data file.
#pragma once
#include <cstdint>
#include <string>

#include "backend/training/data/token_file.h"
#include "ir/step_program.h"

namespace tandem::backend {

// Physical memory of the machine in bytes (sysconf), 0 when unknown.
int64_t physical_memory_bytes();

// Throws std::invalid_argument naming what does not fit: the plan (check_cpu_plan) or the memory the
// backend would need for all ranks against `limit_bytes` (<= 0: 80% of the physical memory).
void check_runnable(const ir::StepProgram& program, int64_t limit_bytes = 0);

// data/corpus/stories.tok of the source tree this binary was built from ("" when it is not there).
std::string bundled_corpus_path();

// `count` tokens uniform in [0, vocab), from `seed` (for `tandem run` without --data).
TokenFile synthetic_tokens(int64_t vocab, int64_t count, uint64_t seed);

}  // namespace tandem::backend
