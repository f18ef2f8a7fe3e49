// The Device interface of the backend: memory, in-order streams and events between them, in the
// shape of CUDA's model so that a CPU and a CUDA implementation sit side by side. The executor only
// talks to this interface; the CPU implementation is cpu_device.h, the CUDA one comes later.
#pragma once
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace tandem::backend {

enum class DeviceKind : uint8_t { Cpu, Cuda };

class Device;

// A completion marker placed on a stream. It completes when the stream has finished all work
// launched before it was recorded; other streams can wait for it, the host can block on it, and it
// carries the time at which it completed (the timeline is built from pairs of events, as CUDA does).
class Event {
 public:
  virtual ~Event() = default;
  virtual bool query() const = 0;        // completed?
  virtual void synchronize() = 0;        // host blocks until it completes (rethrows a stream failure)
  // Completion time in nanoseconds on the device's clock (Device::now_ns); valid once completed.
  virtual int64_t time_ns() const = 0;
};

// An in-order queue of work. `launch` appends work that runs after everything launched before it and
// after every event the stream was told to wait for. What "runs" means is the implementation's:
// the CPU device executes the function on the stream's worker thread when the stream reaches it; a
// CUDA device calls it at once on the host, where it enqueues kernels on the native stream.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual int index() const = 0;
  virtual void launch(std::function<void()> work) = 0;
  virtual void record(Event& event) = 0;  // (re)arms `event` and places it at the stream's tail
  virtual void wait(Event& event) = 0;    // later work waits until `event` completes
  // Host blocks until all work launched so far has run; rethrows the first failure of the stream.
  virtual void synchronize() = 0;
};

// Bytes owned by a device (host memory on the CPU, device memory on a GPU). Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Device* owner, void* data, size_t bytes) : owner_(owner), data_(data), bytes_(bytes) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    DeviceBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~DeviceBuffer();
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(owner_, o.owner_);
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
  }
  Device* owner_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;       // "cpu:0", "cuda:3"
  virtual int stream_count() const = 0;
  virtual Stream& stream(int index) = 0;
  virtual std::unique_ptr<Event> create_event() = 0;
  virtual DeviceBuffer allocate(size_t bytes) = 0;
  virtual void deallocate(void* data, size_t bytes) = 0;  // called by ~DeviceBuffer
  // Copies between host memory and a buffer of this device (blocking; CPU: memcpy).
  virtual void copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) = 0;
  virtual void synchronize() = 0;             // every stream
  virtual int64_t now_ns() const = 0;         // the clock events are stamped with
  virtual int64_t allocated_bytes() const = 0;
};

// Synchronizes every stream of `streams` (a range of pointers to streams), even after one fails, then
// rethrows the first failure: Device::synchronize of the implementations.
template <typename StreamRange>
void synchronize_streams(StreamRange& streams) {
  std::exception_ptr first;
  for (auto& s : streams) {
    try {
      s->synchronize();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

inline DeviceBuffer::~DeviceBuffer() {
  if (owner_ && data_) owner_->deallocate(data_, bytes_);
}

}  // namespace tandem::backend
