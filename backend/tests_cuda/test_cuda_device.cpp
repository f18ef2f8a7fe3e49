// CUDA device: argument checks and size classes (no GPU needed), then on a GPU: copies of random bytes,
// stream order through events, event times against now_ns, sticky failures, and the caching pool.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/runtime/cpu_device.h"
#include "backend/cuda/cuda_device.h"
#include "backend/tests_cuda/backend_cuda_test_util.h"

using namespace tandem::backend;
using tandem::backend::test::gpus_available;
using tandem::backend::test::gpu_count;

TEST_CASE("CUDA device arguments are checked before CUDA is touched", "[cuda_device]") {
  CHECK_THROWS_AS(CudaDevice(-1), std::invalid_argument);
  CudaDeviceOptions no_streams;
  no_streams.streams = 0;
  CHECK_THROWS_WITH(CudaDevice(0, no_streams), Catch::Contains("streams must be at least 1"));
  CudaDeviceOptions too_many;
  too_many.streams = 1;
  too_many.priorities = {0, -1};
  CHECK_THROWS_AS(CudaDevice(0, too_many), std::invalid_argument);
  // A CPU stream is not a CUDA stream: op implementations get a clear error, not a bad cast.
  CpuDevice cpu(0, 1);
  CHECK_THROWS_WITH(cuda_native_stream(cpu.stream(0)), Catch::Contains("not a stream of a CUDA device"));
  if (gpu_count() == 0) CHECK_THROWS_WITH(CudaDevice(0), Catch::Contains("cuda:0"));
}

TEST_CASE("CUDA allocation size classes: 512 bytes at least, four per power of two", "[cuda_device]") {
  CHECK(CudaDevice::size_class(1) == 512);
  CHECK(CudaDevice::size_class(512) == 512);
  CHECK(CudaDevice::size_class(513) == 640);     // [512, 1024): steps of 128
  CHECK(CudaDevice::size_class(1000) == 1024);
  CHECK(CudaDevice::size_class(1024) == 1024);
  CHECK(CudaDevice::size_class(1025) == 1280);    // [1024, 2048): steps of 256
  CHECK(CudaDevice::size_class(size_t(3) << 20) == size_t(3) << 20);
  CHECK(CudaDevice::size_class((size_t(3) << 20) + 1) == (size_t(7) << 19));   // [2 MiB, 4 MiB): steps of 512 KiB
  for (size_t b : {size_t(700), size_t(5000), size_t(123456789)}) {
    const size_t c = CudaDevice::size_class(b);
    CHECK(c >= b);
    CHECK(double(c) <= 1.25 * double(b) + 512);
  }
}

TEST_CASE("random bytes survive a round trip through device memory", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDevice dev(0, {});
  CHECK(dev.name() == "cuda:0");
  CHECK(dev.kind() == DeviceKind::Cuda);
  const size_t n = (size_t(1) << 20) + 13;
  std::vector<unsigned char> host(n), back(n, 0);
  std::mt19937 rng(12345);
  for (auto& b : host) b = static_cast<unsigned char>(rng());
  DeviceBuffer buf = dev.allocate(n + 100);
  dev.copy_from_host(buf, 100, host.data(), n);
  dev.copy_to_host(back.data(), buf, 100, n);
  CHECK(std::memcmp(host.data(), back.data(), n) == 0);
  CHECK_THROWS_AS(dev.copy_from_host(buf, 101, host.data(), n), std::out_of_range);
  CHECK_THROWS_AS(dev.copy_to_host(back.data(), buf, n, 101), std::out_of_range);
  CHECK_THROWS_AS(dev.stream(3), std::out_of_range);
}

TEST_CASE("a CUDA stream waiting on an event runs after the work recorded before it", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDevice dev(0, {});
  const int zero = 0, minus = -1;
  DeviceBuffer flag = dev.allocate(sizeof(int)), seen = dev.allocate(sizeof(int));
  dev.copy_from_host(flag, 0, &zero, sizeof zero);
  dev.copy_from_host(seen, 0, &minus, sizeof minus);
  auto ev = dev.create_event();
  // Stream 0 spins 50 ms, then sets the flag to 0x01010101; stream 1 copies the flag after the event.
  dev.stream(0).launch([&] {
    const cudaStream_t s = cuda_native_stream(dev.stream(0));
    test::spin_on_stream(s, 50'000'000);
    REQUIRE(cudaMemsetAsync(flag.data(), 1, sizeof(int), s) == cudaSuccess);
  });
  dev.stream(0).record(*ev);
  CHECK_FALSE(ev->query());   // 50 ms of spinning lie ahead of it
  dev.stream(1).wait(*ev);
  dev.stream(1).launch([&] {
    test::copy_int_on_stream(static_cast<const int*>(flag.data()), static_cast<int*>(seen.data()), cuda_native_stream(dev.stream(1)));
  });
  dev.synchronize();
  int got = 0;
  dev.copy_to_host(&got, seen, 0, sizeof got);
  CHECK(got == 0x01010101);
  CHECK(ev->query());
}

TEST_CASE("CUDA event times increase and lie between the host clock's readings", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDevice dev(0, {});
  Stream& s = dev.stream(0);
  std::vector<std::unique_ptr<Event>> events;
  const int64_t before = dev.now_ns();
  for (int i = 0; i < 20; ++i) {
    events.push_back(dev.create_event());
    s.record(*events.back());
    s.launch([&] { test::spin_on_stream(cuda_native_stream(s), 200'000); });   // 0.2 ms apart
  }
  s.synchronize();
  const int64_t after = dev.now_ns();
  // Tolerance: the clock anchor's host time is known within a few µs; the timer's resolution is ~0.5 µs.
  const int64_t slack = 100'000;
  CHECK(events.front()->time_ns() >= before - slack);
  CHECK(events.back()->time_ns() <= after + slack);
  for (size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i]->time_ns() >= events[i - 1]->time_ns() + 190'000);
  }
  // Across a clock anchor refresh (the first record after >1 s takes a new anchor): still ordered and
  // within the host readings.
  auto a = dev.create_event(), b = dev.create_event();
  s.record(*a);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  s.record(*b);
  b->synchronize();
  const int64_t end = dev.now_ns();
  CHECK(b->time_ns() - a->time_ns() >= 1'150'000'000);
  CHECK(b->time_ns() <= end + slack);
  CHECK(a->time_ns() >= events.back()->time_ns());
  // A never-recorded event is complete and has time 0; an unfinished one refuses to give a time.
  auto never = dev.create_event();
  CHECK(never->query());
  CHECK(never->time_ns() == 0);
  auto pending = dev.create_event();
  s.launch([&] { test::spin_on_stream(cuda_native_stream(s), 100'000'000); });
  s.record(*pending);
  CHECK_THROWS_AS(pending->time_ns(), std::logic_error);
  s.synchronize();
  CHECK(pending->time_ns() > b->time_ns());
}

TEST_CASE("a failure in CUDA stream work sticks and reaches the streams that wait on it", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDevice dev(0, {});
  auto ev = dev.create_event();
  bool later_ran = false, other_ran = false;
  dev.stream(0).launch([] { throw std::runtime_error("boom"); });
  dev.stream(0).launch([&] { later_ran = true; });
  dev.stream(0).record(*ev);
  dev.stream(1).wait(*ev);
  dev.stream(1).launch([&] { other_ran = true; });
  CHECK_THROWS_WITH(dev.stream(0).synchronize(), "boom");
  CHECK_THROWS_WITH(dev.stream(1).synchronize(), "boom");
  CHECK_THROWS_WITH(ev->synchronize(), "boom");
  CHECK_THROWS_WITH(dev.synchronize(), "boom");
  CHECK_FALSE(later_ran);
  CHECK_FALSE(other_ran);
  dev.reset_failures();
  dev.stream(0).launch([&] { later_ran = true; });
  dev.synchronize();
  CHECK(later_ran);
}

TEST_CASE("the CUDA pool reuses freed blocks once the streams are past them", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDevice dev(0, {});
  void* first = nullptr;
  {
    DeviceBuffer a = dev.allocate(1000);   // size class 1024
    first = a.data();
    CHECK(dev.allocated_bytes() == 1000);
    CHECK(dev.reserved_bytes() == 1024);
  }
  CHECK(dev.allocated_bytes() == 0);
  CHECK(dev.cached_bytes() == 1024);
  dev.synchronize();
  {
    DeviceBuffer b = dev.allocate(900);    // the same class, and the streams are idle: the same block
    CHECK(b.data() == first);
    CHECK(dev.allocated_bytes() == 900);
    CHECK(dev.cached_bytes() == 0);
    // Free it while stream 2 is busy: the block must not be handed out before stream 2 passes it.
    dev.stream(2).launch([&] { test::spin_on_stream(cuda_native_stream(dev.stream(2)), 200'000'000); });
  }
  DeviceBuffer c = dev.allocate(1000);
  CHECK(c.data() != first);
  CHECK(dev.reserved_bytes() == 2048);
  dev.synchronize();
  DeviceBuffer d = dev.allocate(1000);
  CHECK(d.data() == first);
  CHECK(dev.allocated_bytes() == 2000);
  {
    DeviceBuffer zero = dev.allocate(0);
    CHECK(zero.data() == nullptr);
  }
  c = DeviceBuffer();
  dev.synchronize();
  dev.release_cached();
  CHECK(dev.cached_bytes() == 0);
  CHECK(dev.reserved_bytes() == 1024);
}

TEST_CASE("CUDA streams take priorities within the device's range", "[cuda_device]") {
  if (!gpus_available()) return;
  CudaDeviceOptions options;
  options.streams = 2;
  options.priorities = {-1000, 1000};   // clamped to [greatest, least]
  CudaDevice dev(0, options);
  int least = 0, greatest = 0;
  REQUIRE(cudaDeviceGetStreamPriorityRange(&least, &greatest) == cudaSuccess);
  int p0 = 0, p1 = 0;
  REQUIRE(cudaStreamGetPriority(cuda_native_stream(dev.stream(0)), &p0) == cudaSuccess);
  REQUIRE(cudaStreamGetPriority(cuda_native_stream(dev.stream(1)), &p1) == cudaSuccess);
  CHECK(p0 == greatest);
  CHECK(p1 == least);
}
