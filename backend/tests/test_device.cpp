// CPU device: streams run work in order, events order work across streams and carry times, failures
// stick to a stream and reach those who wait on it.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/runtime/cpu_device.h"

using namespace tandem::backend;

TEST_CASE("a CPU stream runs its work in launch order", "[device]") {
  CpuDevice dev(0, 2);
  std::vector<int> seen;
  for (int i = 0; i < 100; ++i) dev.stream(0).launch([&seen, i] { seen.push_back(i); });
  dev.stream(0).synchronize();
  REQUIRE(seen.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(seen[size_t(i)] == i);
}

TEST_CASE("a stream waiting on an event runs after the work recorded before it", "[device]") {
  CpuDevice dev(0, 2);
  auto ev = dev.create_event();
  std::atomic<int> stage{0};
  int observed = -1;
  // Stream 0 is slow; stream 1 must not read `stage` before stream 0 has set it.
  dev.stream(0).launch([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    stage = 1;
  });
  dev.stream(0).record(*ev);
  dev.stream(1).wait(*ev);
  dev.stream(1).launch([&] { observed = stage.load(); });
  dev.synchronize();
  CHECK(observed == 1);
  CHECK(ev->query());
}

TEST_CASE("events carry increasing completion times", "[device]") {
  CpuDevice dev(0, 1);
  auto a = dev.create_event(), b = dev.create_event();
  dev.stream(0).record(*a);
  dev.stream(0).launch([] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); });
  dev.stream(0).record(*b);
  b->synchronize();
  // 5 ms of sleep lies between the two: at least 5e6 ns apart.
  CHECK(b->time_ns() - a->time_ns() >= 5'000'000);
}

TEST_CASE("a failure sticks to the stream and reaches a stream that waits on it", "[device]") {
  CpuDevice dev(0, 2);
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
  CHECK_FALSE(later_ran);
  CHECK_FALSE(other_ran);
  dev.reset_failures();
  dev.stream(0).launch([&] { later_ran = true; });
  dev.synchronize();
  CHECK(later_ran);
}

TEST_CASE("CPU device memory is counted and copies are bounds-checked", "[device]") {
  CpuDevice dev(3, 1);
  CHECK(dev.name() == "cpu:3");
  {
    DeviceBuffer buf = dev.allocate(64);
    CHECK(dev.allocated_bytes() == 64);
    const int values[4] = {1, 2, 3, 4};
    dev.copy_from_host(buf, 16, values, sizeof(values));
    int back[4] = {};
    dev.copy_to_host(back, buf, 16, sizeof(back));
    CHECK(back[3] == 4);
    CHECK_THROWS_AS(dev.copy_from_host(buf, 60, values, sizeof(values)), std::out_of_range);
  }
  CHECK(dev.allocated_bytes() == 0);
  CHECK_THROWS_AS(dev.stream(1), std::out_of_range);
}
