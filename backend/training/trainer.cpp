// Training loop, schedule, logging and checkpoints (see trainer.h).
#include "backend/training/trainer.h"
#include "trace/program_timeline.h"

#include <chrono>
#include <cmath>
#include <fstream>

#include <sys/stat.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/runtime/cpu_device.h"
#include "backend/training/checkpoint_fingerprint.h"
#include "io/append_file.h"

namespace tandem::backend {

Trainer::Trainer(const ir::StepProgram& program, const TrainOptions& options, const TokenFile& data, std::string data_source)
    : program_(program), options_(options), data_(data), data_source_(std::move(data_source)) {
  const auto& m = program.model();
  if (int64_t(data.vocab_size) > m.vocab_size)
    throw DataError(fmt::format("{}: vocabulary {} is larger than the model's vocab_size {} (tokens would fall outside the embedding)",
                                data_source_, data.vocab_size, m.vocab_size));
  sampler_ = std::make_unique<TokenSampler>(data, program.plan().seq_len, options.seed, data_source_);
  BackendOptions bo = options.backend;
  bo.seed = options.seed;
  executor_ = std::make_unique<Executor>(program, bo, options.parts);
  // The events the timeline is built from are the device's: CUDA events on a CUDA device.
  trace::set_program_metadata(timeline_, program,
                              executor_->rank(0).device->kind() == DeviceKind::Cuda ? trace::TraceSource::Cuda
                                                                                    : trace::TraceSource::Cpu);
  timeline_.metadata.extra["mode"] = "train";
}

void Trainer::prepare() {
  if (options_.resume.empty()) return;
  const std::string path = find_checkpoint(options_.resume);
  const Checkpoint c = read_checkpoint(path);
  // Only into the training that wrote it: the same model and the plan fields of its math.
  const auto stored = c.info.find("fingerprint");
  if (stored == c.info.end())
    throw CheckpointError(fmt::format("{}: expected a checkpoint that records its model and plan (\"fingerprint\" in its "
                                      "metadata), found one without (written by an older tandem: resume it with that version)",
                                      path));
  const std::string differences = fingerprint_differences(*stored, checkpoint_fingerprint(program_));
  if (!differences.empty())
    throw CheckpointError(fmt::format("{}: written for another model or plan: {} (resume with the scenario and --set "
                                      "options that wrote it)", path, differences));
  if (c.seed != options_.seed)
    throw CheckpointError(fmt::format("{}: written with --seed {}, this run has --seed {} (the data order and the checkpoint would disagree)",
                                      path, c.seed, options_.seed));
  try {
    restore_checkpoint(*executor_, c);
    sampler_->restore(c.sampler);
  } catch (const DataError& e) {
    throw CheckpointError(fmt::format("{}: {}", path, e.what()));
  } catch (const CheckpointError& e) {
    throw CheckpointError(fmt::format("{}: {}", path, e.what()));   // which checkpoint did not fit
  }
  start_step_ = c.step;
  resumed_from_ = path;
}

double Trainer::lr_at(int64_t step) const {
  const double lr = options_.lr, low = options_.lr * options_.min_lr_ratio;
  if (options_.warmup > 0 && step <= options_.warmup) return lr * double(step) / double(options_.warmup);
  const double span = double(std::max<int64_t>(1, options_.steps - options_.warmup));
  const double p = std::min(1.0, double(step - options_.warmup) / span);
  return low + 0.5 * (lr - low) * (1.0 + std::cos(M_PI * p));
}

std::vector<ReplicaBatch> Trainer::next_batches() {
  const auto& plan = program_.plan();
  std::vector<ReplicaBatch> out(size_t(plan.dp));
  for (auto& replica : out) {
    replica.resize(size_t(plan.micro_batches()));
    for (auto& mb : replica)
      for (int64_t s = 0; s < plan.micro_batch_seqs; ++s) {
        const auto w = sampler_->next();
        mb.insert(mb.end(), w.begin(), w.end());
      }
  }
  return out;
}

Checkpoint Trainer::checkpoint(int64_t step) const {
  Checkpoint c = capture_checkpoint(*executor_);
  c.step = step;
  c.sampler = sampler_->state();
  c.info["data"] = data_source_;
  c.info["fingerprint"] = checkpoint_fingerprint(program_);
  c.info["lr"] = options_.lr;
  return c;
}

std::vector<StepLog> Trainer::run(const std::function<void(const StepLog&)>& on_step) {
  // Every line's write is checked: a log that cannot be written stops the run (io::OutputError).
  std::unique_ptr<io::AppendFile> log;
  if (!options_.log_path.empty()) {
    log = std::make_unique<io::AppendFile>(options_.log_path, /*truncate=*/start_step_ == 0);
    // A resumed run continues the log from its checkpoint's step: lines of later steps are of steps it runs again.
    if (start_step_ > 0) log->cut_back(log_bytes_through_step(options_.log_path, start_step_));
  }
  std::vector<StepLog> out;
  const double tokens_per_step = double(program_.plan().global_batch_tokens());
  for (int64_t step = start_step_ + 1; step <= options_.steps; ++step) {
    const auto batches = next_batches();
    StepConfig cfg = options_.step;
    cfg.step = step;
    cfg.lr = lr_at(step);
    cfg.inject_nan = step == options_.inject_nan_step;
    const bool traced = step - start_step_ <= options_.trace_steps;
    if (traced && timeline_.events.empty()) trace_origin_ = cpu_clock_ns();
    const auto t0 = std::chrono::steady_clock::now();
    StepLog s;
    s.stats = executor_->run_step(batches, cfg, traced ? &timeline_ : nullptr, trace_origin_);
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.step = step;
    s.lr = cfg.lr;
    s.tokens_per_s = tokens_per_step / std::max(1e-9, s.seconds);
    if (log) log->append(step_log_json(s) + "\n");
    const bool save = !options_.checkpoint_dir.empty() &&
                      ((options_.checkpoint_every > 0 && step % options_.checkpoint_every == 0) || step == options_.steps);
    if (save) write_checkpoint(options_.checkpoint_dir, checkpoint(step));
    if (on_step) on_step(s);
    out.push_back(std::move(s));
  }
  if (log) log->close();
  return out;
}

std::string step_log_json(const StepLog& s) {
  nlohmann::json j;
  j["step"] = s.step;
  j["loss"] = s.stats.loss;
  j["mtp_loss"] = s.stats.mtp_loss;
  j["balance_loss"] = s.stats.balance_loss;
  j["lr"] = s.lr;
  j["grad_norm"] = s.stats.grad_norm;
  j["tokens"] = s.stats.tokens;
  j["tokens_per_s"] = s.tokens_per_s;
  j["seconds"] = s.seconds;
  j["imbalance"] = s.stats.imbalance;
  j["skipped"] = s.stats.skipped;
  if (s.stats.skipped) j["skip_reason"] = s.stats.skip_reason;
  auto finite = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  for (const char* k : {"loss", "mtp_loss", "balance_loss", "grad_norm"}) j[k] = finite(j[k].get<double>());
  return j.dump();
}

uint64_t log_bytes_through_step(const std::string& path, int64_t step) {
  // Only a regular file is read: a FIFO would wait here for lines that never come.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  std::ifstream in(path, std::ios::binary);
  uint64_t kept = 0;
  std::string line;
  while (std::getline(in, line) && !in.eof()) {   // eof: the last line has no newline (cut by a kill)
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() > step) break;
    kept += line.size() + 1;
  }
  return kept;
}

}  // namespace tandem::backend
