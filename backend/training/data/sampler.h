// Training windows from a token file: windows of seq_len + 2 tokens (inputs, main targets one ahead,
// MTP targets two ahead) starting every seq_len tokens, visited in an order shuffled at each epoch by
// the sampler's own random state. The state (random state at the epoch's start, epoch, position) is
// saved in checkpoints, so a resumed run reads the same windows as an uninterrupted one.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "backend/training/data/token_file.h"

namespace tandem::backend {

struct SamplerState {
  std::array<uint64_t, 4> epoch_rng{};   // xoshiro256** state before this epoch's shuffle
  uint64_t epoch = 0;
  uint64_t position = 0;                 // windows of this epoch already handed out
};

class TokenSampler {
 public:
  // Throws DataError when the file holds fewer than seq_len + 2 tokens.
  TokenSampler(const TokenFile& file, int64_t seq_len, uint64_t seed, const std::string& source = "the token file");
  // The next window: seq_len + 2 tokens.
  std::vector<int32_t> next();
  uint64_t windows() const { return uint64_t(starts_); }
  SamplerState state() const { return state_; }
  void restore(const SamplerState& s);   // throws DataError when the position is past the epoch

 private:
  void shuffle();
  const TokenFile& file_;
  int64_t seq_len_;
  int64_t starts_;
  SamplerState state_;
  std::array<uint64_t, 4> rng_{};
  std::vector<uint32_t> order_;
};

}  // namespace tandem::backend
