// In-process communicator: point-to-point matching by tag, all-to-all-v, sums in group order,
// reduce-scatter, all-gather, size mismatches and deadlock detection.
#include <catch2/catch.hpp>

#include <functional>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "backend/runtime/cpu_device.h"
#include "backend/runtime/inproc_communicator.h"

using namespace tandem::backend;

namespace {
// Catch's assertions are not thread-safe: the rank threads take this lock around each of theirs.
std::mutex check_mutex;
#define RANK_CHECK(...)                       \
  do {                                        \
    std::lock_guard check_lock(check_mutex);  \
    CHECK(__VA_ARGS__);                       \
  } while (0)

// Runs fn(rank, comm, stream) on `n` threads; rethrows the first failure.
void run_ranks(int n, const std::function<void(int, Communicator&, Stream&)>& fn,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto world = std::make_shared<InProcessWorld>(n, timeout);
  std::vector<std::unique_ptr<CpuDevice>> devs;
  for (int r = 0; r < n; ++r) devs.push_back(std::make_unique<CpuDevice>(r, 1));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      InProcessCommunicator comm(world, r);
      try {
        fn(r, comm, devs[size_t(r)]->stream(0));
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
        world->abort("a rank failed");
      }
    });
  for (auto& t : threads) t.join();
  // The first failure that is not the consequence of another rank's abort.
  for (auto& e : errors) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const CommAborted&) {
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}
}  // namespace

TEST_CASE("send and recv match by tag, in order per tag", "[comm]") {
  run_ranks(2, [](int rank, Communicator& c, Stream& s) {
    if (rank == 0) {
      const int a = 11, b = 22, d = 33;
      c.send(1, &b, sizeof b, 7, s);   // tag 7 first, tag 5 after: the receiver asks for 5 first
      c.send(1, &a, sizeof a, 5, s);
      c.send(1, &d, sizeof d, 5, s);
    } else {
      int x = 0, y = 0, z = 0;
      c.recv(0, &x, sizeof x, 5, s);
      c.recv(0, &z, sizeof z, 5, s);
      c.recv(0, &y, sizeof y, 7, s);
      RANK_CHECK(x == 11);
      RANK_CHECK(z == 33);
      RANK_CHECK(y == 22);
    }
  });
}

TEST_CASE("recv of the wrong size is an error naming both sizes", "[comm]") {
  CHECK_THROWS_WITH(run_ranks(2, [](int rank, Communicator& c, Stream& s) {
    double v = 1;
    if (rank == 0) c.send(1, &v, sizeof v, 1, s);
    else { float f; c.recv(0, &f, sizeof f, 1, s); }
  }), Catch::Contains("expected 4 bytes, the message has 8"));
}

TEST_CASE("all_to_all_v moves each member's slice to its destination", "[comm]") {
  // Rank r sends (r+1) ints of value 10*r + j to member j; member j receives from r at offset by r.
  run_ranks(3, [](int rank, Communicator& c, Stream& s) {
    const std::vector<int> group{0, 1, 2};
    std::vector<int> send;
    std::vector<size_t> soff, sbytes;
    for (int j = 0; j < 3; ++j) {
      soff.push_back(send.size() * 4);
      for (int i = 0; i <= rank; ++i) send.push_back(10 * rank + j);
      sbytes.push_back(size_t(rank + 1) * 4);
    }
    std::vector<size_t> roff, rbytes;
    size_t total = 0;
    for (int r = 0; r < 3; ++r) {
      roff.push_back(total * 4);
      rbytes.push_back(size_t(r + 1) * 4);
      total += size_t(r + 1);
    }
    std::vector<int> recv(total, -1);
    c.all_to_all_v(group, send.data(), soff, sbytes, recv.data(), roff, rbytes, 42, s);
    // From rank 0: 1 value, from 1: 2 values, from 2: 3 values; each equal to 10*src + me.
    const std::vector<int> expected{rank, 10 + rank, 10 + rank, 20 + rank, 20 + rank, 20 + rank};
    RANK_CHECK(recv == expected);
  });
}

TEST_CASE("all_reduce sums in group order whatever the arrival order", "[comm]") {
  // Float addition is not associative: with x = {1e8, 1, -1e8} on ranks {0, 1, 2},
  // group order [1, 0, 2] sums (1 + 1e8) - 1e8 = 0 (1e8 + 1 rounds to 1e8 in float), while
  // group order [0, 2, 1] sums (1e8 - 1e8) + 1 = 1. Rank 1 arrives last both times.
  run_ranks(3, [](int rank, Communicator& c, Stream& s) {
    const float values[3] = {1e8f, 1.0f, -1e8f};
    if (rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    float v = values[rank];
    c.all_reduce_sum(std::vector<int>{1, 0, 2}, &v, 1, ReduceType::F32, 3, s);
    RANK_CHECK(v == 0.0f);
    float w = values[rank];
    c.all_reduce_sum(std::vector<int>{0, 2, 1}, &w, 1, ReduceType::F32, 4, s);
    RANK_CHECK(w == 1.0f);
    double d = rank + 0.5;   // 0.5 + 1.5 + 2.5 = 4.5
    c.all_reduce_sum(std::vector<int>{0, 1, 2}, &d, 1, ReduceType::F64, 5, s);
    RANK_CHECK(d == 4.5);
  });
}

TEST_CASE("reduce_scatter gives member j the sum of shard j and all_gather concatenates", "[comm]") {
  run_ranks(2, [](int rank, Communicator& c, Stream& s) {
    const std::vector<int> group{0, 1};
    // rank 0 sends [1,2 | 3,4], rank 1 sends [10,20 | 30,40]: member 0 gets [11,22], member 1 [33,44].
    std::vector<float> send = rank == 0 ? std::vector<float>{1, 2, 3, 4} : std::vector<float>{10, 20, 30, 40};
    std::vector<float> shard(2);
    c.reduce_scatter_sum(group, send.data(), shard.data(), 2, ReduceType::F32, 9, s);
    RANK_CHECK(shard == (rank == 0 ? std::vector<float>{11, 22} : std::vector<float>{33, 44}));
    std::vector<float> all(4);
    c.all_gather(group, shard.data(), all.data(), 2 * sizeof(float), 10, s);
    RANK_CHECK(all == std::vector<float>{11, 22, 33, 44});
  });
}

TEST_CASE("members that disagree on a collective's size get an error", "[comm]") {
  CHECK_THROWS_WITH(run_ranks(2, [](int rank, Communicator& c, Stream& s) {
    std::vector<float> v(size_t(rank + 1), 1.0f);
    c.all_reduce_sum(std::vector<int>{0, 1}, v.data(), v.size(), ReduceType::F32, 1, s);
  }), Catch::Contains("disagree on the size"));
}

TEST_CASE("a collective that never completes is reported as a deadlock", "[comm]") {
  CHECK_THROWS_WITH(run_ranks(2, [](int rank, Communicator& c, Stream& s) {
    float v = 1;
    if (rank == 0) c.all_reduce_sum(std::vector<int>{0, 1}, &v, 1, ReduceType::F32, 1, s);   // rank 1 never joins
  }, std::chrono::milliseconds(200)), Catch::Contains("deadlock"));
}

TEST_CASE("a rank outside the group is refused", "[comm]") {
  CHECK_THROWS_WITH(run_ranks(1, [](int, Communicator& c, Stream& s) {
    float v = 1;
    c.all_reduce_sum(std::vector<int>{1}, &v, 1, ReduceType::F32, 1, s);
  }), Catch::Contains("is not in group"));
}
