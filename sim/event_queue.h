// The simulator's one event queue: integer nanoseconds, ties broken by insertion order (FIFO), so
// the same input gives the same event order bit for bit. Events are plain data (a kind and two
// operands); the engine knows nothing of GPUs or links — the replay dispatches on the kind.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace tandem::sim {

struct Event {
  int64_t time_ns = 0;
  uint64_t seq = 0;     // insertion order: the tie-break
  uint32_t kind = 0;
  uint32_t a = 0;
  uint64_t b = 0;
};

// A 4-ary min-heap on (time_ns, seq).
class EventQueue {
 public:
  void push(int64_t time_ns, uint32_t kind, uint32_t a, uint64_t b) {
    heap_.push_back(Event{time_ns, next_seq_++, kind, a, b});
    sift_up(heap_.size() - 1);
  }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  const Event& top() const { return heap_.front(); }
  Event pop() {
    Event out = heap_.front();
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    ++popped_;
    return out;
  }
  uint64_t pushed() const { return next_seq_; }
  uint64_t popped() const { return popped_; }
  void reserve(size_t n) { heap_.reserve(n); }

 private:
  static bool before(const Event& x, const Event& y) {
    return x.time_ns < y.time_ns || (x.time_ns == y.time_ns && x.seq < y.seq);
  }
  void sift_up(size_t i) {
    Event e = heap_[i];
    while (i > 0) {
      const size_t parent = (i - 1) / 4;
      if (!before(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }
  void sift_down(size_t i) {
    const size_t n = heap_.size();
    Event e = heap_[i];
    for (;;) {
      const size_t first = 4 * i + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t last = std::min(first + 4, n);
      for (size_t c = first + 1; c < last; ++c)
        if (before(heap_[c], heap_[best])) best = c;
      if (!before(heap_[best], e)) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = e;
  }

  std::vector<Event> heap_;
  uint64_t next_seq_ = 0;
  uint64_t popped_ = 0;
};

}  // namespace tandem::sim
