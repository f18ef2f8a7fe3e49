// Helpers of backend_tests: the tiny scenario with overrides (small batches keep the tests fast), the
// bundled corpus, short training runs and temporary directories.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "backend/training/trainer.h"
#include "ir/step_program.h"

namespace tandem::backend::test {

// The source tree: $TANDEM_SOURCE_DIR when set (CTest sets it; a test program carried to another
// machine runs from a checkout elsewhere), else the tree the test was built from.
inline std::string source_dir() {
  if (const char* env = std::getenv("TANDEM_SOURCE_DIR"); env && *env) return env;
  return TANDEM_SOURCE_DIR;
}

// scenarios/tiny.json with `overrides`; defaults: 8 sequences of 64 tokens per step, one per
// micro-batch (4 micro-batches per replica on the 4-rank plan).
inline std::unique_ptr<ir::StepProgram> tiny(std::vector<std::string> overrides = {}) {
  std::vector<std::string> all = {"plan.global_batch_seqs=8", "plan.micro_batch_seqs=1"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return std::make_unique<ir::StepProgram>(ir::load_scenario(source_dir() + "/scenarios/tiny.json", all));
}

// Overrides that put the tiny model on one rank.
inline std::vector<std::string> one_rank(std::vector<std::string> more = {}) {
  std::vector<std::string> o = {"plan.pp=1", "plan.dp=1", "plan.ep=1", "cluster.gpus_per_node=1", "cluster.nics_per_node=1",
                                "cluster.planes=1"};
  o.insert(o.end(), more.begin(), more.end());
  return o;
}

inline const TokenFile& corpus() {
  static const TokenFile f = read_token_file(source_dir() + "/data/corpus/stories.tok");
  return f;
}

// Trains `steps` steps and returns the per-step logs.
inline std::vector<StepLog> train(const ir::StepProgram& program, TrainOptions options) {
  Trainer t(program, options, corpus(), "stories.tok");
  t.prepare();
  return t.run();
}

inline std::filesystem::path temp_dir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("tandem_backend_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace tandem::backend::test
