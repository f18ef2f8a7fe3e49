// `tandem train SCENARIO`: trains the scenario's model on the CPU backend (ranks are threads; with
// --device cuda the ops' math runs in the CUDA kernels, docs/backend.md), with
// a progress line on a terminal, a JSON line per step in --log, checkpoints and --resume, and the
// timeline of the first steps in --trace. Bad input (scenario, data file, checkpoint, a plan the CPU
// backend cannot run, a model that does not fit in memory) ends with exit code 2 and writes nothing.
#include <cstdio>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/device_option.h"
#include "app/output_check.h"
#include "app/program_build.h"
#include "backend/training/cpu_backend.h"
#include "backend/training/trainer.h"
#include "ir/step_program.h"
#include "trace/trace_writer.h"

namespace tandem::app {
namespace {

struct TrainCliOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string data;
  double memory_limit_gib = 0;
  int64_t print_every = 0;
  std::string trace;
  std::string device = "cpu";
  backend::TrainOptions train;
};

[[noreturn]] void bad_input(const std::string& message) { throw CommandExit{kExitBadInput, "error: " + message}; }

void run_train(TrainCliOptions& o) {
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
  o.train.parts = device_parts(o.device, *program);   // exit 2 when --device cuda cannot run here
  const std::string data_path = o.data.empty() ? bundled_corpus_path() : o.data;
  if (data_path.empty()) bad_input("no --data given and the bundled corpus data/corpus/stories.tok was not found");
  TokenFile data;
  std::unique_ptr<Trainer> trainer;
  o.train.trace_steps = o.trace.empty() ? 0 : std::max<int64_t>(1, o.train.trace_steps);
  try {
    data = read_token_file(data_path);
    trainer = std::make_unique<Trainer>(*program, o.train, data, data_path);
    trainer->prepare();
  } catch (const DataError& e) {
    bad_input(e.what());
  } catch (const CheckpointError& e) {
    bad_input(e.what());
  } catch (const std::invalid_argument& e) {
    bad_input(e.what());
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto& plan = program->plan();
  fmt::print(stderr, "train {} (model {}, {} ranks: pp {} dp {} ep {}, {}), {} tokens/step, data {} ({} tokens){}\n",
             program->scenario().name, program->model().name, program->num_ranks(), plan.pp, plan.dp, plan.ep,
             ir::to_string(plan.schedule), plan.global_batch_tokens(), data_path, data.tokens.size(),
             trainer->resumed_from().empty() ? "" : fmt::format(", resumed from {} (step {})", trainer->resumed_from(), trainer->start_step()));
  if (trainer->start_step() >= o.train.steps) {
    fmt::print(stderr, "nothing to do: the checkpoint is at step {}, --steps is {}\n", trainer->start_step(), o.train.steps);
    return;
  }
  // Every input is good: make sure the outputs can be written before training for them.
  if (!o.trace.empty()) check_output_file(o.trace, "--trace");
  if (!o.train.log_path.empty()) check_output_file(o.train.log_path, "--log");
  if (!o.train.checkpoint_dir.empty()) {
    ensure_output_dir(o.train.checkpoint_dir, "--checkpoint");
    try {
      check_checkpoint_targets(o.train.checkpoint_dir, trainer->start_step() + 1, o.train.steps, o.train.checkpoint_every);
    } catch (const CheckpointError& e) {
      bad_input(e.what());
    }
  }
  std::vector<backend::StepLog> logs;
  try {
    logs = trainer->run([&](const backend::StepLog& s) {
      const std::string line = fmt::format("step {}/{}  loss {:.4f}  mtp {:.4f}  {:.0f} tok/s  lr {:.2e}  imbalance {:.3f}", s.step,
                                           o.train.steps, s.stats.loss, s.stats.mtp_loss, s.tokens_per_s, s.lr, s.stats.imbalance);
      if (s.stats.skipped)
        fmt::print(stderr, "{}step {}: update skipped ({})\n", tty ? "\r\033[K" : "", s.step, s.stats.skip_reason);
      if (tty) fmt::print(stderr, "\r\033[K{}", line);
      else if (o.print_every > 0 && s.step % o.print_every == 0) fmt::print(stderr, "{}\n", line);
    });
  } catch (const DataError& e) {
    bad_input(e.what());
  }
  if (tty) fmt::print(stderr, "\n");
  if (!o.trace.empty()) trace::write_trace(trainer->timeline(), o.trace);
  if (!logs.empty()) {
    double tokens = 0, seconds = 0;
    for (const auto& s : logs) {
      tokens += double(s.stats.tokens);
      seconds += s.seconds;
    }
    fmt::print("steps {}..{}: loss {:.4f} -> {:.4f} (mtp {:.4f} -> {:.4f}), {:.0f} tokens/s, {:.1f} s\n", logs.front().step,
               logs.back().step, logs.front().stats.loss, logs.back().stats.loss, logs.front().stats.mtp_loss,
               logs.back().stats.mtp_loss, tokens / std::max(1e-9, seconds), seconds);
  }
}

const RegisterCommand reg(40, "train", [](CLI::App& root) {
  auto o = std::make_shared<TrainCliOptions>();
  auto& t = o->train;
  CLI::App* cmd = root.add_subcommand("train", "Train the scenario's model on the CPU backend (ranks are threads) or with --device cuda");
  cmd->add_option("scenario", o->scenario, "Scenario JSON file or embedded name (e.g. scenarios/tiny.json)")->required();
  cmd->add_option("--set", o->overrides, "Override a scenario field, e.g. --set plan.pp=1 (repeatable)");
  cmd->add_option("--steps", t.steps, "The step the run ends at; a resumed run continues up to it")->check(integer_in(1, 1000000000));
  cmd->add_option("--data", o->data, "Token file (docs/data.md); default: the bundled corpus data/corpus/stories.tok");
  cmd->add_option("--seed", t.seed, "Seed of the initialisation and the data order");
  cmd->add_option("--checkpoint", t.checkpoint_dir, "Directory for checkpoints (written at the end and every --checkpoint-every steps)");
  cmd->add_option("--checkpoint-every", t.checkpoint_every, "Steps between checkpoints (0: only at the end)")->check(integer_in(0, 1000000000));
  cmd->add_option("--resume", t.resume, "Resume from a checkpoint file, or the newest complete one in a directory");
  cmd->add_option("--log", t.log_path, "Write one JSON object per step (step, loss, ...) to this file");
  cmd->add_option("--trace", o->trace, "Write the timeline (Chrome trace JSON) of the first --trace-steps steps");
  cmd->add_option("--trace-steps", t.trace_steps, "Steps recorded by --trace (default 1)")->check(integer_in(1, 1000000));
  cmd->add_option("--lr", t.lr, "Peak learning rate (AdamW)")->check(number_above(0, false));
  cmd->add_option("--warmup", t.warmup, "Linear warm-up steps")->check(integer_in(0, 1000000000));
  cmd->add_option("--min-lr-ratio", t.min_lr_ratio, "Cosine decay to lr x this at --steps")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--weight-decay", t.step.weight_decay, "AdamW weight decay")->check(number_above(0, true));
  cmd->add_option("--clip", t.step.clip_norm, "Gradient clipping norm (0: off)")->check(number_above(0, true));
  cmd->add_option("--spike-factor", t.step.spike_factor, "Skip an update whose loss exceeds this times the running mean (0: off)")
      ->check(number_above(0, true));
  cmd->add_option("--threads", t.backend.gemm_threads, "Threads inside each rank's GEMMs and attention")->check(integer_in(1, 1024));
  cmd->add_option("--memory-limit-gib", o->memory_limit_gib, "Memory the run may use, in GiB (default, or 0: 80% of the machine's)")
      ->check(CLI::Range(0.0, 1048576.0));
  cmd->add_option("--print-every", o->print_every, "Without a terminal: print a progress line every N steps (0: none)")
      ->check(integer_in(0, 1000000000));
  cmd->add_option("--inject-nan-step", t.inject_nan_step, "Testing the guard: a NaN enters the backward at this step");
  cmd->add_flag("--exact", t.backend.exact, "FP32 everywhere: no BF16 rounding, no FP8 (reference runs)");
  add_device_option(cmd, o->device);
  cmd->callback([o] { run_train(*o); });
});

}  // namespace
}  // namespace tandem::app
