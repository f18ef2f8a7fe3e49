// The CPU implementation of Device: host memory, one worker thread per stream running its queue in
// order, events that complete when a worker reaches them. A failure inside a stream's work marks the
// stream failed: its later work is skipped, its events complete as failed, and streams or hosts that
// wait on them see the failure (the sticky-error behaviour of CUDA streams).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/runtime/device.h"

namespace tandem::backend {

// Nanoseconds since a process-wide epoch (the first call), from the steady clock: every CPU device
// stamps its events with it, so the ranks of one process share one time base.
int64_t cpu_clock_ns();

class CpuEvent final : public Event {
 public:
  bool query() const override;
  void synchronize() override;
  int64_t time_ns() const override;

  void arm();                                   // not completed again (called by record)
  void complete(int64_t t_ns, std::exception_ptr failure);
  // Blocks until completed; returns the failure it completed with (null if none).
  std::exception_ptr wait_completed();

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = true;   // a never-recorded event counts as completed (as in CUDA)
  int64_t time_ns_ = 0;
  std::exception_ptr failure_;
};

class CpuStream final : public Stream {
 public:
  explicit CpuStream(int index);
  ~CpuStream() override;
  int index() const override { return index_; }
  void launch(std::function<void()> work) override;
  void record(Event& event) override;
  void wait(Event& event) override;
  void synchronize() override;
  // Clears a failure so the stream can be used again (after the executor has reported it).
  void reset_failure();

 private:
  struct Entry {
    enum class Kind : uint8_t { Work, Record, Wait } kind;
    std::function<void()> work;
    CpuEvent* event = nullptr;
  };
  void run();

  int index_;
  std::mutex mutex_;
  std::condition_variable cv_;        // work arrived / queue drained
  std::deque<Entry> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::thread worker_;
};

class CpuDevice final : public Device {
 public:
  // `ordinal` names the device ("cpu:<ordinal>"), one per rank; `streams` in-order queues.
  explicit CpuDevice(int ordinal, int streams = 3);
  ~CpuDevice() override;
  DeviceKind kind() const override { return DeviceKind::Cpu; }
  std::string name() const override;
  int stream_count() const override { return int(streams_.size()); }
  Stream& stream(int index) override;
  std::unique_ptr<Event> create_event() override;
  DeviceBuffer allocate(size_t bytes) override;
  void deallocate(void* data, size_t bytes) override;
  void copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) override;
  void synchronize() override;
  int64_t now_ns() const override { return cpu_clock_ns(); }
  int64_t allocated_bytes() const override { return allocated_.load(); }
  void reset_failures();

 private:
  int ordinal_;
  std::vector<std::unique_ptr<CpuStream>> streams_;
  std::atomic<int64_t> allocated_{0};
};

}  // namespace tandem::backend
