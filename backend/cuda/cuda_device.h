// The CUDA implementation of Device: one GPU, non-blocking CUDA streams on which `launch` enqueues
// work from the host at once, cudaEvent_t events whose times are on the host clock's scale, and a
// caching allocator of device memory. Op implementations reach a stream's cudaStream_t through
// cuda_native_stream().
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/runtime/device.h"

namespace tandem::backend {

// Throws std::runtime_error unless status == cudaSuccess:
// "<where>: <file>:<line>: <call> failed: <error name> (<error string>)".
void cuda_device_check(cudaError_t status, const std::string& where, const char* call, const char* file, int line);
#define TANDEM_CUDA_DEVICE_CHECK(where, call) ::tandem::backend::cuda_device_check((call), (where), #call, __FILE__, __LINE__)

// Makes `ordinal` the calling thread's current device for the guard's lifetime.
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int ordinal);
  ~CudaDeviceGuard();
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

struct CudaDeviceOptions {
  int streams = 3;
  // Per stream (missing entries: 0). CUDA's convention: lower numbers are higher priorities; values
  // are clamped to the device's range (cudaDeviceGetStreamPriorityRange, typically [-5, 0]).
  std::vector<int> priorities;
  // Free blocks the allocator keeps for reuse beyond this many bytes go back to CUDA (< 0: no limit).
  int64_t cache_limit_bytes = -1;
};

// A point of the device's clock: an event known to have completed at `time_ns` (cpu_clock_ns scale).
struct CudaClockAnchor {
  int ordinal = 0;
  cudaEvent_t event = nullptr;
  int64_t time_ns = 0;
  int64_t host_ns = 0;        // host time at which it was taken (decides when to take the next)
  ~CudaClockAnchor();
};

class CudaDevice;

class CudaEvent final : public Event {
 public:
  explicit CudaEvent(CudaDevice& device);
  ~CudaEvent() override;
  bool query() const override;
  void synchronize() override;
  // cpu_clock_ns scale: the time of the clock anchor taken before the event was recorded plus
  // cudaEventElapsedTime(anchor, event). Throws std::logic_error when not completed yet.
  int64_t time_ns() const override;
  cudaEvent_t native() const { return event_; }
  int ordinal() const { return ordinal_; }

 private:
  friend class CudaStream;
  int ordinal_;
  std::string where_;
  cudaEvent_t event_ = nullptr;
  mutable std::mutex mutex_;
  bool recorded_ = false;
  std::shared_ptr<const CudaClockAnchor> anchor_;
  std::exception_ptr failure_;   // the recording stream had failed: waiters fail too
};

class CudaStream final : public Stream {
 public:
  CudaStream(CudaDevice& device, int index, int priority);
  ~CudaStream() override;
  int index() const override { return index_; }
  // Calls `work` now on this thread with the device current; it enqueues kernels on native().
  // An exception from it marks the stream failed (later work is skipped, as on the CPU device).
  void launch(std::function<void()> work) override;
  void record(Event& event) override;
  void wait(Event& event) override;
  void synchronize() override;
  cudaStream_t native() const { return stream_; }
  CudaDevice& device() const { return device_; }
  void reset_failure();

 private:
  std::exception_ptr failure() const;
  void fail(std::exception_ptr failure);

  CudaDevice& device_;
  int index_;
  cudaStream_t stream_ = nullptr;
  mutable std::mutex mutex_;
  std::exception_ptr failure_;
};

class CudaDevice final : public Device {
 public:
  // Checks `ordinal` and the options before any CUDA call (std::invalid_argument), then throws
  // std::runtime_error when the device does not exist or CUDA cannot start.
  explicit CudaDevice(int ordinal, CudaDeviceOptions options = {});
  ~CudaDevice() override;
  DeviceKind kind() const override { return DeviceKind::Cuda; }
  std::string name() const override;
  int stream_count() const override { return int(streams_.size()); }
  Stream& stream(int index) override;
  CudaStream& cuda_stream(int index);
  std::unique_ptr<Event> create_event() override;
  // A block of the smallest size class holding `bytes` (see size_class), reused from the cache when
  // a freed one is no longer in use by any stream, else from cudaMalloc (on out-of-memory the cache
  // is returned to CUDA and the allocation retried once). The memory is usable on every stream.
  DeviceBuffer allocate(size_t bytes) override;
  // Returns the block to the cache; it is handed out again once all work launched so far on every
  // stream of the device has completed (one event per stream marks that point).
  void deallocate(void* data, size_t bytes) override;
  // Blocking copies through an internal stream; not ordered with the device's streams (as on the CPU
  // device, synchronise the stream that writes or reads the buffer first).
  void copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) override;
  void synchronize() override;
  // The host clock (cpu_clock_ns): event times are on its scale (see CudaEvent::time_ns).
  int64_t now_ns() const override;
  int64_t allocated_bytes() const override;   // requested bytes of live buffers

  int ordinal() const { return ordinal_; }
  int64_t cached_bytes() const;     // bytes of freed blocks kept for reuse
  int64_t reserved_bytes() const;   // bytes obtained from cudaMalloc and not yet returned
  void release_cached();            // returns every reusable cached block to CUDA
  void reset_failures();
  // Starts the clock again from the host clock (call with the device idle, e.g. between steps):
  // removes the drift between the GPU's timer and the host clock accumulated since the last start.
  void resync_clock();
  // The anchor an event recorded now is timed from (a new one when the latest is over 1 s old).
  std::shared_ptr<const CudaClockAnchor> clock_anchor();

  // Size classes: 512 bytes at least, then 4 classes per power of two (at most 25% above the request).
  static size_t size_class(size_t bytes);

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;                       // its size class
    std::vector<cudaEvent_t> ready;        // recorded on every stream when it was freed
  };
  std::shared_ptr<const CudaClockAnchor> take_anchor(bool from_host);
  bool block_ready(const Block& b);
  void recycle_events(Block& b);
  void release_blocks(bool only_ready);   // caller holds pool_mutex_

  int ordinal_;
  CudaDeviceOptions options_;
  std::vector<std::unique_ptr<CudaStream>> streams_;
  cudaStream_t clock_stream_ = nullptr;   // idle but for clock anchors
  cudaStream_t copy_stream_ = nullptr;    // host copies

  std::mutex clock_mutex_;
  std::shared_ptr<const CudaClockAnchor> anchor_;

  mutable std::mutex pool_mutex_;
  std::multimap<size_t, Block> free_;                 // by size class
  std::unordered_map<void*, size_t> live_;            // pointer -> size class
  std::vector<cudaEvent_t> spare_events_;
  int64_t allocated_ = 0, cached_ = 0, reserved_ = 0;
};

// The cudaStream_t of a stream of a CudaDevice; std::invalid_argument for any other stream.
cudaStream_t cuda_native_stream(Stream& stream);
CudaStream& as_cuda_stream(Stream& stream);

}  // namespace tandem::backend
