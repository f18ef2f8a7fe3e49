// CPU device: host allocations, worker-thread streams and events (see cpu_device.h).
#include "backend/runtime/cpu_device.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace tandem::backend {

int64_t cpu_clock_ns() {
  using clock = std::chrono::steady_clock;
  static const clock::time_point epoch = clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - epoch).count();
}

bool CpuEvent::query() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void CpuEvent::synchronize() {
  if (auto failure = wait_completed()) std::rethrow_exception(failure);
}

int64_t CpuEvent::time_ns() const {
  std::lock_guard lock(mutex_);
  return time_ns_;
}

void CpuEvent::arm() {
  std::lock_guard lock(mutex_);
  done_ = false;
  failure_ = nullptr;
}

void CpuEvent::complete(int64_t t_ns, std::exception_ptr failure) {
  // Notify under the lock: a waiter may destroy the event as soon as it sees it completed.
  std::lock_guard lock(mutex_);
  done_ = true;
  time_ns_ = t_ns;
  failure_ = std::move(failure);
  cv_.notify_all();
}

std::exception_ptr CpuEvent::wait_completed() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return done_; });
  return failure_;
}

CpuStream::CpuStream(int index) : index_(index), worker_([this] { run(); }) {}

CpuStream::~CpuStream() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void CpuStream::launch(std::function<void()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({Entry::Kind::Work, std::move(work), nullptr});
  }
  cv_.notify_all();
}

void CpuStream::record(Event& event) {
  auto* e = dynamic_cast<CpuEvent*>(&event);
  if (!e) throw std::invalid_argument("CpuStream::record: the event was not created by a CPU device");
  e->arm();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({Entry::Kind::Record, {}, e});
  }
  cv_.notify_all();
}

void CpuStream::wait(Event& event) {
  auto* e = dynamic_cast<CpuEvent*>(&event);
  if (!e) throw std::invalid_argument("CpuStream::wait: the event was not created by a CPU device");
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({Entry::Kind::Wait, {}, e});
  }
  cv_.notify_all();
}

void CpuStream::synchronize() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  if (failure_) std::rethrow_exception(failure_);
}

void CpuStream::reset_failure() {
  std::lock_guard lock(mutex_);
  failure_ = nullptr;
}

void CpuStream::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;   // stop requested and nothing left
    Entry entry = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    std::exception_ptr failure = failure_;
    lock.unlock();
    switch (entry.kind) {
      case Entry::Kind::Work:
        if (!failure) {
          try {
            entry.work();
          } catch (...) {
            failure = std::current_exception();
          }
        }
        break;
      case Entry::Kind::Record:
        entry.event->complete(cpu_clock_ns(), failure);
        break;
      case Entry::Kind::Wait:
        if (auto upstream = entry.event->wait_completed(); upstream && !failure) failure = upstream;
        break;
    }
    entry.work = nullptr;   // release captures outside the lock-free section
    lock.lock();
    if (failure && !failure_) failure_ = failure;
    busy_ = false;
    if (queue_.empty()) cv_.notify_all();
  }
}

CpuDevice::CpuDevice(int ordinal, int streams) : ordinal_(ordinal) {
  if (streams < 1) throw std::invalid_argument(fmt::format("CpuDevice: streams must be at least 1, found {}", streams));
  for (int i = 0; i < streams; ++i) streams_.push_back(std::make_unique<CpuStream>(i));
}

CpuDevice::~CpuDevice() {
  for (auto& s : streams_) {
    try {
      s->synchronize();
    } catch (...) {
    }
  }
}

std::string CpuDevice::name() const { return fmt::format("cpu:{}", ordinal_); }

Stream& CpuDevice::stream(int index) {
  if (index < 0 || index >= int(streams_.size()))
    throw std::out_of_range(fmt::format("{}: stream {} does not exist (streams 0..{})", name(), index, streams_.size() - 1));
  return *streams_[size_t(index)];
}

std::unique_ptr<Event> CpuDevice::create_event() { return std::make_unique<CpuEvent>(); }

DeviceBuffer CpuDevice::allocate(size_t bytes) {
  void* p = bytes ? std::malloc(bytes) : nullptr;
  if (bytes && !p) throw std::bad_alloc();
  allocated_ += int64_t(bytes);
  return DeviceBuffer(this, p, bytes);
}

void CpuDevice::deallocate(void* data, size_t bytes) {
  std::free(data);
  allocated_ -= int64_t(bytes);
}

void CpuDevice::copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) {
  if (offset + bytes > dst.bytes())
    throw std::out_of_range(fmt::format("{}: copy of {} bytes at offset {} past a buffer of {}", name(), bytes, offset, dst.bytes()));
  if (bytes) std::memcpy(static_cast<char*>(dst.data()) + offset, src, bytes);
}

void CpuDevice::copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) {
  if (offset + bytes > src.bytes())
    throw std::out_of_range(fmt::format("{}: copy of {} bytes at offset {} past a buffer of {}", name(), bytes, offset, src.bytes()));
  if (bytes) std::memcpy(dst, static_cast<const char*>(src.data()) + offset, bytes);
}

void CpuDevice::synchronize() { synchronize_streams(streams_); }

void CpuDevice::reset_failures() {
  for (auto& s : streams_) s->reset_failure();
}

}  // namespace tandem::backend
