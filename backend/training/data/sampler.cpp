// Token windows in a per-epoch shuffled order (see sampler.h).
#include "backend/training/data/sampler.h"

#include <fmt/format.h>

namespace tandem::backend {

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
uint64_t next_u64(std::array<uint64_t, 4>& s) {   // xoshiro256**
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}
}  // namespace

TokenSampler::TokenSampler(const TokenFile& file, int64_t seq_len, uint64_t seed, const std::string& source)
    : file_(file), seq_len_(seq_len) {
  const int64_t n = int64_t(file.tokens.size());
  if (seq_len < 1 || n < seq_len + 2)
    throw DataError(fmt::format("{}: {} tokens; a training window needs seq_len + 2 = {}", source, n, seq_len + 2));
  starts_ = (n - (seq_len + 2)) / seq_len + 1;
  uint64_t z = seed;
  for (auto& w : state_.epoch_rng) {   // splitmix64 expansion of the seed
    z += 0x9e3779b97f4a7c15ull;
    uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    w = x ^ (x >> 31);
  }
  shuffle();
}

void TokenSampler::shuffle() {
  rng_ = state_.epoch_rng;
  order_.resize(size_t(starts_));
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = uint32_t(i);
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[size_t(next_u64(rng_) % i)]);
}

std::vector<int32_t> TokenSampler::next() {
  if (state_.position == uint64_t(starts_)) {
    state_.epoch_rng = rng_;
    ++state_.epoch;
    state_.position = 0;
    shuffle();
  }
  const int64_t start = int64_t(order_[size_t(state_.position++)]) * seq_len_;
  std::vector<int32_t> w(size_t(seq_len_ + 2));
  for (size_t i = 0; i < w.size(); ++i) w[i] = int32_t(file_.tokens[size_t(start) + i]);
  return w;
}

void TokenSampler::restore(const SamplerState& s) {
  if (s.position > uint64_t(starts_))
    throw DataError(fmt::format("sampler state: position {} is past the {} windows of an epoch (was the checkpoint made with another data file?)",
                                s.position, starts_));
  state_ = s;
  shuffle();
}

}  // namespace tandem::backend
