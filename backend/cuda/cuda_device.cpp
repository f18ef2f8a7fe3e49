// CUDA device: streams that enqueue at launch, events timed against clock anchors, and the caching
// allocator whose freed blocks wait for one event per stream before they are handed out again.
#include "backend/cuda/cuda_device.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/runtime/cpu_device.h"

namespace tandem::backend {

namespace {
// Anchors older than this are replaced at the next record: cudaEventElapsedTime returns float
// milliseconds, whose rounding stays below its ~0.5 µs resolution for spans under ~4 s.
constexpr int64_t kAnchorRefreshNs = 1'000'000'000;
// A gap longer than this between two anchors is bridged by the host clock instead of the float.
constexpr int64_t kAnchorChainMaxNs = 4'000'000'000;
// A call answering cudaErrorNotReady leaves it as the thread's last error; clear it so that a later
// cudaGetLastError (a kernel launch check) does not report it.
void clear_not_ready() { (void)cudaGetLastError(); }
}  // namespace

void cuda_device_check(cudaError_t status, const std::string& where, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(fmt::format("{}: {}:{}: {} failed: {} ({})", where, file, line, call, cudaGetErrorName(status),
                                       cudaGetErrorString(status)));
}

CudaDeviceGuard::CudaDeviceGuard(int ordinal) {
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess) {
    cudaGetLastError();
    current = -1;
  }
  if (current != ordinal) TANDEM_CUDA_DEVICE_CHECK(fmt::format("cuda:{}", ordinal), cudaSetDevice(ordinal));
  previous_ = current == ordinal ? -1 : current;
}

CudaDeviceGuard::~CudaDeviceGuard() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

CudaClockAnchor::~CudaClockAnchor() {
  if (event) cudaEventDestroy(event);
}

// --- events -------------------------------------------------------------------------------------

CudaEvent::CudaEvent(CudaDevice& device) : ordinal_(device.ordinal()), where_(device.name()) {
  CudaDeviceGuard guard(ordinal_);
  TANDEM_CUDA_DEVICE_CHECK(where_, cudaEventCreateWithFlags(&event_, cudaEventDefault));   // timing enabled
}

CudaEvent::~CudaEvent() {
  if (event_) cudaEventDestroy(event_);
}

bool CudaEvent::query() const {
  std::lock_guard lock(mutex_);
  if (!recorded_) return true;   // a never-recorded event counts as completed (as in CUDA)
  const cudaError_t st = cudaEventQuery(event_);
  if (st == cudaErrorNotReady) {
    clear_not_ready();
    return false;
  }
  TANDEM_CUDA_DEVICE_CHECK(where_, st);
  return true;
}

void CudaEvent::synchronize() {
  std::exception_ptr failure;
  {
    std::lock_guard lock(mutex_);
    if (!recorded_) return;
    failure = failure_;
  }
  TANDEM_CUDA_DEVICE_CHECK(where_, cudaEventSynchronize(event_));
  if (failure) std::rethrow_exception(failure);
}

int64_t CudaEvent::time_ns() const {
  std::lock_guard lock(mutex_);
  if (!recorded_) return 0;
  float ms = 0;
  const cudaError_t st = cudaEventElapsedTime(&ms, anchor_->event, event_);
  if (st == cudaErrorNotReady) {
    clear_not_ready();
    throw std::logic_error(where_ + ": time_ns of an event that has not completed");
  }
  TANDEM_CUDA_DEVICE_CHECK(where_, st);
  return anchor_->time_ns + std::llround(double(ms) * 1e6);
}

// --- streams ------------------------------------------------------------------------------------

CudaStream::CudaStream(CudaDevice& device, int index, int priority) : device_(device), index_(index) {
  CudaDeviceGuard guard(device.ordinal());
  TANDEM_CUDA_DEVICE_CHECK(device.name(), cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, priority));
}

CudaStream::~CudaStream() {
  if (stream_) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

std::exception_ptr CudaStream::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

void CudaStream::fail(std::exception_ptr failure) {
  std::lock_guard lock(mutex_);
  if (!failure_) failure_ = std::move(failure);
}

void CudaStream::reset_failure() {
  std::lock_guard lock(mutex_);
  failure_ = nullptr;
}

void CudaStream::launch(std::function<void()> work) {
  if (failure()) return;   // sticky: later work is skipped
  try {
    CudaDeviceGuard guard(device_.ordinal());
    work();
  } catch (...) {
    fail(std::current_exception());
  }
}

void CudaStream::record(Event& event) {
  auto* e = dynamic_cast<CudaEvent*>(&event);
  if (!e) throw std::invalid_argument("CudaStream::record: the event was not created by a CUDA device");
  if (e->ordinal() != device_.ordinal())
    throw std::invalid_argument(fmt::format("CudaStream::record: an event of cuda:{} recorded on a stream of {}", e->ordinal(), device_.name()));
  auto anchor = device_.clock_anchor();   // taken (and completed) before the event is recorded
  const std::exception_ptr failed = failure();
  CudaDeviceGuard guard(device_.ordinal());
  std::lock_guard lock(e->mutex_);
  TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaEventRecord(e->event_, stream_));
  e->recorded_ = true;
  e->anchor_ = std::move(anchor);
  e->failure_ = failed;
}

void CudaStream::wait(Event& event) {
  auto* e = dynamic_cast<CudaEvent*>(&event);
  if (!e) throw std::invalid_argument("CudaStream::wait: the event was not created by a CUDA device");
  std::exception_ptr upstream;
  {
    std::lock_guard lock(e->mutex_);
    if (!e->recorded_) return;   // waiting for a never-recorded event does nothing (as in CUDA)
    upstream = e->failure_;
    CudaDeviceGuard guard(device_.ordinal());
    // Events of another device are allowed: CUDA orders the streams across devices.
    TANDEM_CUDA_DEVICE_CHECK(device_.name(), cudaStreamWaitEvent(stream_, e->event_, 0));
  }
  if (upstream) fail(upstream);
}

void CudaStream::synchronize() {
  {
    CudaDeviceGuard guard(device_.ordinal());
    TANDEM_CUDA_DEVICE_CHECK(fmt::format("{} stream {}", device_.name(), index_), cudaStreamSynchronize(stream_));
  }
  if (auto f = failure()) std::rethrow_exception(f);
}

CudaStream& as_cuda_stream(Stream& stream) {
  auto* s = dynamic_cast<CudaStream*>(&stream);
  if (!s) throw std::invalid_argument("the stream is not a stream of a CUDA device");
  return *s;
}

cudaStream_t cuda_native_stream(Stream& stream) { return as_cuda_stream(stream).native(); }

// --- device -------------------------------------------------------------------------------------

CudaDevice::CudaDevice(int ordinal, CudaDeviceOptions options) : ordinal_(ordinal), options_(std::move(options)) {
  if (ordinal < 0) throw std::invalid_argument(fmt::format("CudaDevice: ordinal must be at least 0, found {}", ordinal));
  if (options_.streams < 1)
    throw std::invalid_argument(fmt::format("CudaDevice: streams must be at least 1, found {}", options_.streams));
  if (options_.priorities.size() > size_t(options_.streams))
    throw std::invalid_argument(fmt::format("CudaDevice: {} stream priorities for {} streams", options_.priorities.size(), options_.streams));
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(fmt::format("{}: no usable CUDA device: {} ({})", name(), cudaGetErrorName(st), cudaGetErrorString(st)));
  }
  if (ordinal >= count) throw std::invalid_argument(fmt::format("{}: no such device ({} CUDA devices)", name(), count));

  CudaDeviceGuard guard(ordinal_);
  int least = 0, greatest = 0;
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaDeviceGetStreamPriorityRange(&least, &greatest));
  for (int i = 0; i < options_.streams; ++i) {
    const int wanted = size_t(i) < options_.priorities.size() ? options_.priorities[size_t(i)] : 0;
    streams_.push_back(std::make_unique<CudaStream>(*this, i, std::clamp(wanted, greatest, least)));
  }
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaStreamCreateWithFlags(&clock_stream_, cudaStreamNonBlocking));
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
  std::lock_guard lock(clock_mutex_);
  anchor_ = take_anchor(true);
}

CudaDevice::~CudaDevice() {
  try {
    CudaDeviceGuard guard(ordinal_);
    for (auto& s : streams_) cudaStreamSynchronize(s->native());
    {
      std::lock_guard lock(pool_mutex_);
      release_blocks(false);
      for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
      spare_events_.clear();
    }
    streams_.clear();
    {
      std::lock_guard lock(clock_mutex_);
      anchor_.reset();   // events still holding older anchors destroy them when they go
    }
    if (clock_stream_) cudaStreamDestroy(clock_stream_);
    if (copy_stream_) cudaStreamDestroy(copy_stream_);
  } catch (...) {
    // Destruction must not throw; a device that cannot be made current has nothing left to release.
  }
}

std::string CudaDevice::name() const { return fmt::format("cuda:{}", ordinal_); }

Stream& CudaDevice::stream(int index) { return cuda_stream(index); }

CudaStream& CudaDevice::cuda_stream(int index) {
  if (index < 0 || index >= int(streams_.size()))
    throw std::out_of_range(fmt::format("{}: stream {} does not exist (streams 0..{})", name(), index, streams_.size() - 1));
  return *streams_[size_t(index)];
}

std::unique_ptr<Event> CudaDevice::create_event() { return std::make_unique<CudaEvent>(*this); }

int64_t CudaDevice::now_ns() const { return cpu_clock_ns(); }

// --- clock --------------------------------------------------------------------------------------

// Records an event on the idle clock stream and waits for it. Its time is the previous anchor's plus
// the GPU's elapsed time (one continuous device clock), or, for the first anchor, a re-sync, or after
// a long gap, the host time at which it completed: the middle of [before record, after the wait],
// within ±(that span)/2, a few µs. Caller holds clock_mutex_.
std::shared_ptr<const CudaClockAnchor> CudaDevice::take_anchor(bool from_host) {
  CudaDeviceGuard guard(ordinal_);
  auto a = std::make_shared<CudaClockAnchor>();
  a->ordinal = ordinal_;
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventCreateWithFlags(&a->event, cudaEventDefault));
  const int64_t t0 = cpu_clock_ns();
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventRecord(a->event, clock_stream_));
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventSynchronize(a->event));
  const int64_t t1 = cpu_clock_ns();
  a->host_ns = t1;
  a->time_ns = t0 + (t1 - t0) / 2;
  if (!from_host && anchor_ && t1 - anchor_->host_ns <= kAnchorChainMaxNs) {
    float ms = 0;
    TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventElapsedTime(&ms, anchor_->event, a->event));
    a->time_ns = anchor_->time_ns + std::llround(double(ms) * 1e6);
  }
  return a;
}

std::shared_ptr<const CudaClockAnchor> CudaDevice::clock_anchor() {
  std::lock_guard lock(clock_mutex_);
  if (!anchor_ || cpu_clock_ns() - anchor_->host_ns > kAnchorRefreshNs) anchor_ = take_anchor(false);
  return anchor_;
}

void CudaDevice::resync_clock() {
  std::lock_guard lock(clock_mutex_);
  anchor_ = take_anchor(true);
}

// --- memory -------------------------------------------------------------------------------------

size_t CudaDevice::size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  const int top = std::bit_width(bytes) - 1;            // 2^top <= bytes < 2^(top+1)
  const size_t step = size_t(1) << (top - 2);           // four classes per power of two
  return (bytes + step - 1) / step * step;
}

bool CudaDevice::block_ready(const Block& b) {
  for (cudaEvent_t e : b.ready) {
    const cudaError_t st = cudaEventQuery(e);
    if (st == cudaErrorNotReady) {
      clear_not_ready();
      return false;
    }
    TANDEM_CUDA_DEVICE_CHECK(name(), st);
  }
  return true;
}

void CudaDevice::recycle_events(Block& b) {
  spare_events_.insert(spare_events_.end(), b.ready.begin(), b.ready.end());
  b.ready.clear();
}

void CudaDevice::release_blocks(bool only_ready) {
  for (auto it = free_.begin(); it != free_.end();) {
    bool ready = true;
    try {
      ready = !only_ready || block_ready(it->second);
    } catch (...) {
      ready = false;
    }
    if (!ready) {
      ++it;
      continue;
    }
    recycle_events(it->second);
    cudaFree(it->second.ptr);
    cached_ -= int64_t(it->second.size);
    reserved_ -= int64_t(it->second.size);
    it = free_.erase(it);
  }
}

DeviceBuffer CudaDevice::allocate(size_t bytes) {
  if (bytes == 0) return DeviceBuffer(this, nullptr, 0);
  const size_t cls = size_class(bytes);
  CudaDeviceGuard guard(ordinal_);
  std::lock_guard lock(pool_mutex_);
  void* p = nullptr;
  for (auto [it, end] = free_.equal_range(cls); it != end; ++it) {
    if (!block_ready(it->second)) continue;
    p = it->second.ptr;
    recycle_events(it->second);
    free_.erase(it);
    cached_ -= int64_t(cls);
    break;
  }
  if (!p) {
    cudaError_t st = cudaMalloc(&p, cls);
    if (st == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      for (auto& s : streams_) cudaStreamSynchronize(s->native());
      release_blocks(true);
      st = cudaMalloc(&p, cls);
      if (st == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        throw std::runtime_error(fmt::format("{}: out of memory allocating {} bytes ({} in live buffers, {} reserved)", name(),
                                             bytes, allocated_, reserved_));
      }
    }
    TANDEM_CUDA_DEVICE_CHECK(name(), st);
    reserved_ += int64_t(cls);
  }
  live_[p] = cls;
  allocated_ += int64_t(bytes);
  return DeviceBuffer(this, p, bytes);
}

void CudaDevice::deallocate(void* data, size_t bytes) {
  // Called from ~DeviceBuffer: never throws. A block whose stream events cannot be recorded is not
  // reused (it stays allocated) rather than handed out while a stream may still use it.
  std::lock_guard lock(pool_mutex_);
  const auto it = live_.find(data);
  if (it == live_.end()) return;
  const size_t cls = it->second;
  live_.erase(it);
  allocated_ -= int64_t(bytes);
  Block block{data, cls, {}};
  try {
    CudaDeviceGuard guard(ordinal_);
    for (auto& s : streams_) {
      cudaEvent_t e = nullptr;
      if (!spare_events_.empty()) {
        e = spare_events_.back();
        spare_events_.pop_back();
      } else {
        TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      }
      block.ready.push_back(e);
      TANDEM_CUDA_DEVICE_CHECK(name(), cudaEventRecord(e, s->native()));
    }
  } catch (...) {
    recycle_events(block);
    return;
  }
  free_.emplace(cls, std::move(block));
  cached_ += int64_t(cls);
  if (options_.cache_limit_bytes >= 0 && cached_ > options_.cache_limit_bytes) {
    try {
      CudaDeviceGuard guard(ordinal_);
      release_blocks(true);
    } catch (...) {
    }
  }
}

void CudaDevice::release_cached() {
  CudaDeviceGuard guard(ordinal_);
  std::lock_guard lock(pool_mutex_);
  release_blocks(true);
}

int64_t CudaDevice::allocated_bytes() const {
  std::lock_guard lock(pool_mutex_);
  return allocated_;
}

int64_t CudaDevice::cached_bytes() const {
  std::lock_guard lock(pool_mutex_);
  return cached_;
}

int64_t CudaDevice::reserved_bytes() const {
  std::lock_guard lock(pool_mutex_);
  return reserved_;
}

void CudaDevice::copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) {
  if (offset + bytes > dst.bytes())
    throw std::out_of_range(fmt::format("{}: copy of {} bytes at offset {} past a buffer of {}", name(), bytes, offset, dst.bytes()));
  if (!bytes) return;
  CudaDeviceGuard guard(ordinal_);
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaMemcpyAsync(static_cast<char*>(dst.data()) + offset, src, bytes, cudaMemcpyHostToDevice, copy_stream_));
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaStreamSynchronize(copy_stream_));
}

void CudaDevice::copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) {
  if (offset + bytes > src.bytes())
    throw std::out_of_range(fmt::format("{}: copy of {} bytes at offset {} past a buffer of {}", name(), bytes, offset, src.bytes()));
  if (!bytes) return;
  CudaDeviceGuard guard(ordinal_);
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaMemcpyAsync(dst, static_cast<const char*>(src.data()) + offset, bytes, cudaMemcpyDeviceToHost, copy_stream_));
  TANDEM_CUDA_DEVICE_CHECK(name(), cudaStreamSynchronize(copy_stream_));
}

void CudaDevice::synchronize() { synchronize_streams(streams_); }

void CudaDevice::reset_failures() {
  for (auto& s : streams_) s->reset_failure();
}

}  // namespace tandem::backend
