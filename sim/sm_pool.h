// SM contention on one GPU: communication kernels hold their SMs while they run; compute kernels share
// what is left, FP8 GEMMs up to the SMs they launch on (DeepGEMM's set_num_sms), as a fluid — when their SMs
// change, the work left is re-timed at the new rate (the time at a given SM count, wave quantisation
// included, comes from hw/). Pure bookkeeping: no events, no knowledge of ops.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tandem::sim {

class SmPool {
 public:
  // `launch`: the SMs a kernel with a fixed SM budget launches on (0: all `total`).
  explicit SmPool(int64_t total = 0, int64_t launch = 0) : total_(total), launch_(launch > 0 ? launch : total) {}
  int64_t total() const { return total_; }
  int64_t launch() const { return launch_; }
  int64_t held() const { return held_; }
  void hold(int64_t sms) { held_ += sms; }
  void release(int64_t sms) { held_ -= sms; }
  // SMs one of `kernels` concurrently running compute kernels gets (at least 1): its even part of what
  // communication leaves, at most `launch` when it is a kernel launched on the fixed budget.
  int64_t share(int32_t kernels, bool budgeted) const {
    const int64_t left = std::max<int64_t>(1, total_ - std::min(held_, total_));
    const int64_t even = left / std::max(1, kernels);
    return std::max<int64_t>(1, budgeted ? std::min(launch_, even) : even);
  }

 private:
  int64_t total_ = 0;
  int64_t launch_ = 0;
  int64_t held_ = 0;
};

// Progress of one compute kernel: the fraction of its work left, and the duration a whole kernel
// would take at its current SM share.
struct KernelProgress {
  double remaining = 1.0;      // fraction of the work still to do
  int64_t since_ns = 0;        // when `remaining` was last brought up to date
  int64_t duration_ns = 0;     // whole-kernel time at the current share
  int64_t sms = 0;             // the current share

  // Brings `remaining` to `now`.
  void advance(int64_t now) {
    if (duration_ns > 0 && now > since_ns) remaining -= double(now - since_ns) / double(duration_ns);
    if (remaining < 0) remaining = 0;
    since_ns = now;
  }
  // Re-times the rest of the work at a new share; returns the new finish time.
  int64_t retime(int64_t now, int64_t new_duration_ns, int64_t new_sms) {
    advance(now);
    duration_ns = new_duration_ns;
    sms = new_sms;
    return finish_ns();
  }
  int64_t finish_ns() const {
    return since_ns + int64_t(std::ceil(remaining * double(duration_ns) - 1e-6));
  }
};

}  // namespace tandem::sim
