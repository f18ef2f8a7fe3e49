// The simulator's one event queue: integer nanoseconds, ties broken by insertion order (FIFO), so
// the same input gives the same event order bit for bit. Events are plain data (a kind and two
// operands); the engine knows nothing of GPUs or links — the replay dispatches on the kind.
//
// A radix heap: time never goes back (an event is never scheduled before the last one taken), so
// events sit in buckets by the highest bit in which their time differs from the last time taken.
// Events of equal time always share a bucket, kept in insertion order by stable redistribution —
// which is the FIFO tie-break, with no comparisons on an insertion counter.
#pragma once
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::sim {

struct Event {
  int64_t time_ns = 0;
  uint32_t kind = 0;
  uint32_t a = 0;
  uint64_t b = 0;
};

class EventQueue {
 public:
  // Latest time an event may have: 2^62 ns, about 146 years. A step that runs past it comes from
  // sizes out of any reach, and later times would overflow the 64-bit clock.
  static constexpr int64_t kHorizonNs = int64_t(1) << 62;

  // Throws std::invalid_argument when time_ns lies past the horizon (or wrapped around past it),
  // std::logic_error when it is earlier than the last event taken.
  void push(int64_t time_ns, uint32_t kind, uint32_t a, uint64_t b) {
    if (time_ns > kHorizonNs || time_ns < 0)
      throw std::invalid_argument(
          "the simulated step runs past the simulator's horizon of 2^62 ns (146 years): the scenario's sizes (sequence "
          "length, micro-batches, slow-downs) are out of reach");
    if (time_ns < last_)
      throw std::logic_error("event scheduled at " + std::to_string(time_ns) + " ns, before the current " +
                             std::to_string(last_) + " ns");
    buckets_[size_t(index(time_ns))].push_back(Event{time_ns, kind, a, b});
    ++size_;
    ++pushed_;
  }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Time of the next event (the queue must not be empty). Does not advance the queue: events may
  // still be pushed at any time from the last one taken.
  int64_t top_time() const {
    if (head_ < buckets_[0].size()) return last_;
    size_t i = 1;
    while (i < buckets_.size() && buckets_[i].empty()) ++i;
    if (i == buckets_.size()) throw std::logic_error("top of an empty event queue");
    int64_t m = buckets_[i].front().time_ns;
    for (const Event& e : buckets_[i]) m = e.time_ns < m ? e.time_ns : m;
    return m;
  }
  Event pop() {
    if (head_ >= buckets_[0].size()) refill();
    --size_;
    ++popped_;
    return buckets_[0][head_++];
  }
  uint64_t pushed() const { return pushed_; }
  uint64_t popped() const { return popped_; }

 private:
  int index(int64_t t) const { return t == last_ ? 0 : 64 - __builtin_clzll(uint64_t(t ^ last_)); }
  void refill() {
    buckets_[0].clear();
    head_ = 0;
    size_t i = 1;
    while (i < buckets_.size() && buckets_[i].empty()) ++i;
    if (i == buckets_.size()) throw std::logic_error("pop from an empty event queue");
    std::vector<Event>& from = buckets_[i];
    int64_t m = from.front().time_ns;
    for (const Event& e : from) m = e.time_ns < m ? e.time_ns : m;
    last_ = m;
    for (const Event& e : from) buckets_[size_t(index(e.time_ns))].push_back(e);   // stable
    from.clear();
  }

  std::array<std::vector<Event>, 65> buckets_;
  size_t head_ = 0;
  int64_t last_ = 0;
  size_t size_ = 0;
  uint64_t pushed_ = 0, popped_ = 0;
};

}  // namespace tandem::sim
