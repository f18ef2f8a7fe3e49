// Fuzz target: checkpoints (backend/training/checkpoint.h, parse_checkpoint): any bytes give a Checkpoint
// that serializes and parses back to the same state, or a CheckpointError / InputError. Each input is read
// twice: as it is, and with its metadata size, checksum and end marker made consistent, so that mutations
// reach the metadata and tensor table behind the checksum.
#include <cstdint>
#include <cstring>
#include <string>

#include "backend/training/checkpoint.h"
#include "backend/training/data/token_file.h"
#include "fuzz/fuzz_target.h"
#include "io/input_error.h"

namespace {
using tandem::fuzz::load_le;
using tandem::fuzz::store_le;

// The layout of docs/backend.md: a 32-byte header (magic, version, reserved, metadata bytes, data bytes),
// the metadata JSON, the data, a 16-byte trailer (FNV-1a of metadata and data, end magic).
constexpr size_t kHeaderBytes = 32, kTrailerBytes = 16;

// The input with the metadata size taken from what lies between header, data and trailer, and the
// checksum and end marker recomputed; empty when the input is too short or its data size does not fit.
std::string made_consistent(const std::string& in) {
  if (in.size() < kHeaderBytes + kTrailerBytes) return {};
  std::string b = in;
  const uint64_t data_bytes = load_le<uint64_t>(b, 24), room = b.size() - kHeaderBytes - kTrailerBytes;
  if (data_bytes > room) return {};
  const uint64_t meta_bytes = room - data_bytes;
  store_le<uint64_t>(b, 16, meta_bytes);
  const size_t end = kHeaderBytes + room;
  store_le<uint64_t>(b, end, tandem::backend::fnv1a64(b.data() + kHeaderBytes, room));
  std::memcpy(b.data() + end + 8, tandem::backend::kCheckpointEndMagic, 8);
  return b;
}

bool same_state(const tandem::backend::Checkpoint& a, const tandem::backend::Checkpoint& b) {
  if (a.step != b.step || a.optimizer_steps != b.optimizer_steps || a.seed != b.seed || a.info != b.info ||
      a.guard.accepted != b.guard.accepted || a.guard.skipped != b.guard.skipped ||
      std::memcmp(&a.guard.loss_mean, &b.guard.loss_mean, sizeof(double)) != 0 ||
      a.sampler.epoch_rng != b.sampler.epoch_rng || a.sampler.epoch != b.sampler.epoch ||
      a.sampler.position != b.sampler.position || a.tensors.size() != b.tensors.size())
    return false;
  for (auto ia = a.tensors.begin(), ib = b.tensors.begin(); ia != a.tensors.end(); ++ia, ++ib)
    if (ia->first != ib->first || ia->second.size() != ib->second.size() ||
        std::memcmp(ia->second.data(), ib->second.data(), ia->second.size() * sizeof(float)) != 0)
      return false;
  return true;
}

void read(const std::string& bytes) {
  using namespace tandem;
  fuzz::expect_result_or_refusal<backend::CheckpointError, io::InputError>("checkpoint", [&] {
    const backend::Checkpoint c = backend::parse_checkpoint(bytes, "fuzz.tdmckpt");
    backend::Checkpoint again;
    try {
      again = backend::parse_checkpoint(backend::serialize_checkpoint(c), "fuzz-rewritten.tdmckpt");
    } catch (const backend::CheckpointError& e) {
      fuzz::finding("checkpoint", std::string("an accepted checkpoint, written again, does not read back: ") + e.what());
    }
    if (!same_state(c, again)) fuzz::finding("checkpoint", "an accepted checkpoint, written again, reads back as another state");
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = tandem::fuzz::as_string(data, size);
  read(bytes);
  if (std::string consistent = made_consistent(bytes); !consistent.empty() && consistent != bytes) read(consistent);
  return 0;
}
