// Checkpoints: one file per step, "ckpt-<step, 8 digits>.tdmckpt", written complete or not at all
// (io::OutputFile). It holds the FP32 master weights and both AdamW moments of every parameter
// (whole tensors by name, experts by global index: independent of the plan that wrote them), the
// routing biases, the optimizer step count, the guard state, the data position and random state,
// and the fingerprint of the model and plan it belongs to (checkpoint_fingerprint.h).
// Layout and checks: docs/backend.md. Reading verifies sizes, checksum, end marker and metadata.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/training/data/sampler.h"
#include "backend/execution/runtime.h"

namespace tandem::backend {

class Executor;

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Checkpoint {
  int64_t step = 0;                 // steps completed
  int64_t optimizer_steps = 0;
  uint64_t seed = 0;
  GuardState guard;
  SamplerState sampler;
  nlohmann::json info;              // scenario and model names, settings (for messages and checks)
  // "master/<entry>", "m/<entry>", "v/<entry>", "bias/<entry>": FP32 values.
  std::map<std::string, std::vector<float>> tensors;
};

// The largest step a checkpoint may record (tandem train's --steps goes no further).
inline constexpr int64_t kMaxCheckpointStep = 1000000000;

inline constexpr char kCheckpointMagic[8] = {'T', 'D', 'M', 'C', 'K', 'P', 'T', '1'};
inline constexpr char kCheckpointEndMagic[8] = {'T', 'D', 'M', 'C', 'K', 'E', 'N', 'D'};

std::string serialize_checkpoint(const Checkpoint& c);
// Throws CheckpointError naming `source` and what is wrong: truncated, bad checksum, bad JSON, and
// metadata out of range (a negative step, more optimizer steps than steps, tensors that overlap, lie
// outside the data section or leave part of it unowned, a name listed twice).
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& source);

std::string checkpoint_path(const std::string& dir, int64_t step);
// Writes DIR/ckpt-<step>.tdmckpt complete or not at all (io::OutputFile; creates DIR); returns the
// path. First removes the temporary files of checkpoints whose writing process is gone (killed during a
// write: io::remove_abandoned_temp_files). Throws io::OutputError when it cannot be written.
std::string write_checkpoint(const std::string& dir, const Checkpoint& c);
// Throws CheckpointError for a path that is not a regular file (missing, a directory, a FIFO, a
// device), one larger than the machine's memory, and everything parse_checkpoint refuses.
Checkpoint read_checkpoint(const std::string& path);
// `dir_or_file`: a checkpoint file, or a directory whose newest checkpoint (highest step; ".tmp"
// files are unfinished writes and ignored) is taken. Throws CheckpointError when there is none.
std::string find_checkpoint(const std::string& dir_or_file);
// Throws CheckpointError when DIR holds something other than a regular file under the name of a
// checkpoint that a run of steps first_step..last_step (every `every`, and the last) would write:
// the run would fail at its end instead of now.
void check_checkpoint_targets(const std::string& dir, int64_t first_step, int64_t last_step, int64_t every);

// The parameters and optimizer state of every rank, gathered by name.
Checkpoint capture_checkpoint(const Executor& ex);
// Loads weights, moments, biases, optimizer steps and guard into every rank. Throws CheckpointError
// when an entry is missing, has another size or has no place in this model (a different model).
void restore_checkpoint(Executor& ex, const Checkpoint& c);

}  // namespace tandem::backend
