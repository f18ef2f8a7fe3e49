// Benchmark: time and peak memory of building and checking the DeepSeek-V3 step program at a given
// cluster size (one size per process, so the peak resident set is that size's own). The global batch
// scales with the cluster (60 sequences per node), keeping 120 micro-batches per pipeline.
// Usage: ir_program_bench [--nodes N] [--repeat R]   (256 nodes = the published 2048 GPUs)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>

#include <fmt/core.h>

#include "io/standard_output.h"
#include "ir/graph_check.h"
#include "ir/memory.h"
#include "ir/step_program.h"

int main(int argc, char** argv) {
  int64_t nodes = 256;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--nodes")) nodes = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
  }
  using clock = std::chrono::steady_clock;
  double best_build = 1e30, best_check = 1e30;
  size_t instances = 0, bytes = 0;
  int64_t critical = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = clock::now();
    tandem::ir::StepProgram program(
        // The global batch grows with the cluster so every pipeline keeps 120 micro-batches.
        tandem::ir::load_scenario("deepseek-v3-pretrain", {"cluster.nodes=" + std::to_string(nodes),
                                                           "plan.global_batch_seqs=" + std::to_string(60 * nodes)}));
    const auto memory = tandem::ir::rank_memory(program);
    const auto t1 = clock::now();
    const auto check = tandem::ir::check_program(program);
    const auto t2 = clock::now();
    if (!check.ok()) { fmt::print(stderr, "check failed\n"); return 1; }
    best_build = std::min(best_build, std::chrono::duration<double>(t1 - t0).count());
    best_check = std::min(best_check, std::chrono::duration<double>(t2 - t1).count());
    instances = program.total_op_instances();
    bytes = program.memory_footprint_bytes();
    critical = check.critical_path_ops;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  fmt::print("gpus {:>6}  build {:.3f} s  check {:.3f} s  total {:.3f} s  peak RSS {:.0f} MiB  op instances {}  program {:.1f} MiB  critical path {} ops\n",
             nodes * 8, best_build, best_check, best_build + best_check, double(ru.ru_maxrss) / 1024.0, instances,
             double(bytes) / (1 << 20), critical);
  return tandem::io::finish_standard_output(0);   // the line reached stdout, or exit code 1
}
