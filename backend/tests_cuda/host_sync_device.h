// A host device whose streams run `launch`'s work at once on the calling thread, as CudaStream does
// (events complete when recorded, since the work before them has run): with the CPU ops it reproduces,
// without a GPU, the order in which the staged CUDA runner executes a rank's ops (its issue order).
#pragma once
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "backend/runtime/cpu_device.h"

namespace tandem::backend::test {

class HostSyncStream final : public Stream {
 public:
  explicit HostSyncStream(int index) : index_(index) {}
  int index() const override { return index_; }
  void launch(std::function<void()> work) override {
    if (failure_) return;
    try {
      work();
    } catch (...) {
      failure_ = std::current_exception();
    }
  }
  void record(Event& event) override {
    auto& e = dynamic_cast<CpuEvent&>(event);
    e.arm();
    e.complete(cpu_clock_ns(), failure_);
  }
  void wait(Event& event) override {
    const auto f = dynamic_cast<CpuEvent&>(event).wait_completed();
    if (f && !failure_) failure_ = f;
  }
  void synchronize() override {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  int index_;
  std::exception_ptr failure_;
};

class HostSyncDevice final : public Device {
 public:
  explicit HostSyncDevice(int streams) {
    for (int i = 0; i < streams; ++i) streams_.push_back(std::make_unique<HostSyncStream>(i));
  }
  DeviceKind kind() const override { return DeviceKind::Cpu; }
  std::string name() const override { return "host-sync"; }
  int stream_count() const override { return int(streams_.size()); }
  Stream& stream(int index) override { return *streams_.at(size_t(index)); }
  std::unique_ptr<Event> create_event() override { return std::make_unique<CpuEvent>(); }
  DeviceBuffer allocate(size_t bytes) override { return DeviceBuffer(this, new std::byte[bytes], bytes); }
  void deallocate(void* data, size_t) override { delete[] static_cast<std::byte*>(data); }
  void copy_from_host(DeviceBuffer& dst, size_t offset, const void* src, size_t bytes) override {
    std::memcpy(static_cast<std::byte*>(dst.data()) + offset, src, bytes);
  }
  void copy_to_host(void* dst, const DeviceBuffer& src, size_t offset, size_t bytes) override {
    std::memcpy(dst, static_cast<const std::byte*>(src.data()) + offset, bytes);
  }
  void synchronize() override {
    for (auto& s : streams_) s->synchronize();
  }
  int64_t now_ns() const override { return cpu_clock_ns(); }
  int64_t allocated_bytes() const override { return 0; }

 private:
  std::vector<std::unique_ptr<HostSyncStream>> streams_;
};

}  // namespace tandem::backend::test
