// Checkpoints: one file per step, "ckpt-<step, 8 digits>.tdmckpt", written atomically (temporary file,
// flush, fsync, rename). It holds the FP32 master weights and both AdamW moments of every parameter
// (whole tensors by name, experts by global index: independent of the plan that wrote them), the
// routing biases, the optimizer step count, the guard state, the data position and random state.
// Layout and checks: docs/backend.md. Reading verifies sizes, checksum and end marker.
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

inline constexpr char kCheckpointMagic[8] = {'T', 'D', 'M', 'C', 'K', 'P', 'T', '1'};
inline constexpr char kCheckpointEndMagic[8] = {'T', 'D', 'M', 'C', 'K', 'E', 'N', 'D'};

std::string serialize_checkpoint(const Checkpoint& c);
// Throws CheckpointError naming `source` and what is wrong (truncated, bad checksum, bad JSON, ...).
Checkpoint parse_checkpoint(const std::string& bytes, const std::string& source);

std::string checkpoint_path(const std::string& dir, int64_t step);
// Writes DIR/ckpt-<step>.tdmckpt atomically (creates DIR); returns the path.
std::string write_checkpoint(const std::string& dir, const Checkpoint& c);
Checkpoint read_checkpoint(const std::string& path);
// `dir_or_file`: a checkpoint file, or a directory whose newest complete checkpoint (highest step;
// ".tmp" files are unfinished writes and ignored) is taken. Throws CheckpointError when there is none.
std::string find_checkpoint(const std::string& dir_or_file);

// The parameters and optimizer state of every rank, gathered by name.
Checkpoint capture_checkpoint(const Executor& ex);
// Loads weights, moments, biases, optimizer steps and guard into every rank. Throws CheckpointError
// when an entry is missing or has another size (a checkpoint of a different model).
void restore_checkpoint(Executor& ex, const Checkpoint& c);

}  // namespace tandem::backend
