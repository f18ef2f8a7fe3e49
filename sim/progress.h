// How far a replay has got (simulated time, events, ops, wall time) for progress lines, and the
// error a replay ends with when it reaches its wall-clock deadline (SimOptions::deadline): long
// runs say where they are and can be bounded instead of killed.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tandem::sim {

struct SimProgress {
  int64_t simulated_ns = 0;   // the engine's clock
  uint64_t events = 0;        // events taken from the queue so far
  uint64_t ops_started = 0;   // ops issued by the simulated ranks so far
  uint64_t ops_total = 0;     // ops of the simulated ranks
  double wall_s = 0;          // since the replay started
  bool finished = false;      // the last report of a replay that completed

  double events_per_s() const { return wall_s > 0 ? double(events) / wall_s : 0.0; }
  // Wall time left if the rest of the ops go at the rate so far; negative before any op has started.
  double seconds_left() const;
};

// "simulate: 1.234 s simulated, 12.3 M events (4.1 M/s), 41% of 99.1 M ops, about 12 s left" (finished:
// "..., 100% of 99.1 M ops, done in 29.0 s").
std::string progress_text(const std::string& label, const SimProgress& p);

// Thrown by simulate() when the wall clock passes SimOptions::deadline; nothing of the run is kept.
class TimeLimitReached : public std::runtime_error {
 public:
  TimeLimitReached(const std::string& what, const SimProgress& at) : std::runtime_error(what), at_(at) {}
  const SimProgress& at() const { return at_; }

 private:
  SimProgress at_;
};

}  // namespace tandem::sim
