// `tandem run SCENARIO --trace FILE`: executes training steps of the scenario on the CPU backend, or
// with --device cuda on the staged CUDA op runner (one step by default) and writes their timeline: every
// op of every rank with its start and end, pid = rank, tid = stream, args as DESIGN.md says, source "cpu"
// or "cuda". Without --data the tokens are synthetic.
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/device_option.h"
#include "app/output_check.h"
#include "app/program_build.h"
#include "backend/training/cpu_backend.h"
#include "backend/training/trainer.h"
#include "io/output_file.h"
#include "io/standard_output.h"
#include "ir/step_program.h"
#include "trace/trace_writer.h"

namespace tandem::app {
namespace {

struct RunOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string trace;
  std::string data;
  int64_t steps = 1;
  uint64_t seed = 1;
  int threads = 1;
  double memory_limit_gib = 0;
  bool exact = false;
  std::string device = "cpu";
};

[[noreturn]] void bad_input(const std::string& message) { throw CommandExit{kExitBadInput, "error: " + message}; }

void run_run(const RunOptions& o) {
  using namespace tandem::backend;
  ir::Scenario scenario = ir::load_scenario(o.scenario, o.overrides);
  check_against_hardware(scenario);
  std::unique_ptr<ir::StepProgram> program;
  try {
    program = std::make_unique<ir::StepProgram>(make_step_program(std::move(scenario)));
    check_runnable(*program, int64_t(o.memory_limit_gib * double(1ll << 30)));
  } catch (const std::invalid_argument& e) {
    bad_input(e.what());
  }
  const auto& plan = program->plan();
  TokenFile data;
  std::string source = "synthetic tokens";
  try {
    if (o.data.empty()) data = synthetic_tokens(program->model().vocab_size, plan.global_batch_tokens() * 2 * (o.steps + 1) + plan.seq_len + 2, o.seed);
    else {
      data = read_token_file(o.data);
      source = o.data;
    }
  } catch (const DataError& e) {
    bad_input(e.what());
  }
  TrainOptions t;
  t.steps = o.steps;
  t.seed = o.seed;
  t.warmup = 0;
  t.trace_steps = o.steps;
  t.backend.gemm_threads = o.threads;
  t.backend.exact = o.exact;
  t.parts = device_parts(o.device, *program);   // exit 2 when --device cuda cannot run here
  std::unique_ptr<Trainer> trainer;
  try {
    trainer = std::make_unique<Trainer>(*program, t, data, source);
  } catch (const DataError& e) {
    bad_input(e.what());
  }
  if (!o.trace.empty()) check_output_file(o.trace, "--trace");
  const auto logs = trainer->run();
  const auto& tl = trainer->timeline();
  // Both outputs or neither (as in simulate): the trace goes to its temporary file before the report is
  // printed, and into place only once the report is out.
  std::optional<io::OutputFile> trace_out;
  if (!o.trace.empty()) {
    trace_out.emplace(o.trace);
    trace::write_trace(tl, *trace_out);
  }
  for (const auto& s : logs)
    fmt::print("step {}: {:.3f} s, {:.0f} tokens/s, loss {:.4f}, mtp loss {:.4f}, expert imbalance {:.3f}\n", s.step, s.seconds,
               s.tokens_per_s, s.stats.loss, s.stats.mtp_loss, s.stats.imbalance);
  double a2a_bytes = 0;
  int64_t a2a_ops = 0;
  for (const auto& e : tl.events)
    if (tl.op_of(e) == "all_to_all") {
      a2a_bytes += e.bytes;
      ++a2a_ops;
    }
  fmt::print("{} ranks, {} ops executed, {} all-to-all ops moved {:.3f} MB ({})\n", program->num_ranks(), tl.events.size(), a2a_ops,
             a2a_bytes / 1e6, source);
  if (trace_out) {
    fmt::print("timeline written to {}\n", o.trace);
    io::flush_standard_output();
    trace_out->commit();
  }
}

const RegisterCommand reg(45, "run", [](CLI::App& root) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = root.add_subcommand("run", "Execute training steps on the CPU backend (or --device cuda) and write their timeline");
  cmd->add_option("scenario", o->scenario, "Scenario JSON file or embedded name")->required();
  cmd->add_option("--set", o->overrides, "Override a scenario field (repeatable)");
  cmd->add_option("--trace", o->trace, "Write the timeline (Chrome trace JSON) to this file");
  cmd->add_option("--data", o->data, "Token file (default: synthetic tokens)");
  cmd->add_option("--steps", o->steps, "Steps to execute")->check(integer_in(1, 1000000));
  cmd->add_option("--seed", o->seed, "Seed of the initialisation and the tokens");
  cmd->add_option("--threads", o->threads, "Threads inside each rank's GEMMs and attention")->check(integer_in(1, 1024));
  cmd->add_option("--memory-limit-gib", o->memory_limit_gib, "Memory the run may use, in GiB (default, or 0: 80% of the machine's)")
      ->check(CLI::Range(0.0, 1048576.0));
  cmd->add_flag("--exact", o->exact, "FP32 everywhere: no BF16 rounding, no FP8");
  add_device_option(cmd, o->device);
  cmd->callback([o] { run_run(*o); });
});

}  // namespace
}  // namespace tandem::app
