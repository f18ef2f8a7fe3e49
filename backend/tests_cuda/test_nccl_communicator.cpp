// NCCL communicator on 2..N GPUs of one process (ranks are threads) against host computations:
// all-to-all-v with uneven bytes, all-reduce, reduce-scatter, all-gather, send/recv in issue order,
// sub-groups in group order, checked mode, abort; and the file bootstrap with two processes.
#include <catch2/catch.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/cuda/cuda_device.h"
#include "backend/cuda/nccl_communicator.h"
#include "backend/tests_cuda/backend_cuda_test_util.h"

extern char** environ;

using namespace tandem::backend;
using tandem::backend::test::gpu_count;
using tandem::backend::test::gpus_available;

namespace {
std::mutex check_mutex;   // Catch's assertions are not thread-safe
#define RANK_CHECK(...)                       \
  do {                                        \
    std::lock_guard check_lock(check_mutex);  \
    CHECK(__VA_ARGS__);                       \
  } while (0)

struct Rank {
  int rank;
  NcclCommunicator& comm;
  CudaDevice& dev;
};

// Runs fn on n ranks (GPUs 0..n-1), one thread each; each thread destroys its communicator (NCCL
// finalises the members together). Rethrows the first failure that is not an abort.
void run_ranks(int n, const NcclOptions& options, const std::function<void(Rank&)>& fn) {
  std::vector<int> devices;
  for (int r = 0; r < n; ++r) devices.push_back(r);
  auto comms = NcclCommunicator::create_local(devices, options);
  std::vector<std::unique_ptr<CudaDevice>> devs;
  for (int r = 0; r < n; ++r) devs.push_back(std::make_unique<CudaDevice>(r, CudaDeviceOptions{}));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        Rank rk{r, *comms[size_t(r)], *devs[size_t(r)]};
        fn(rk);
        devs[size_t(r)]->synchronize();
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
        comms[size_t(r)]->abort("a rank failed");
      }
      comms[size_t(r)].reset();
    });
  for (auto& t : threads) t.join();
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

template <typename T>
DeviceBuffer to_device(CudaDevice& dev, const std::vector<T>& v) {
  DeviceBuffer b = dev.allocate(v.size() * sizeof(T));
  dev.copy_from_host(b, 0, v.data(), v.size() * sizeof(T));
  return b;
}
template <typename T>
std::vector<T> to_host(CudaDevice& dev, const DeviceBuffer& b) {
  dev.synchronize();
  std::vector<T> v(b.bytes() / sizeof(T));
  dev.copy_to_host(v.data(), b, 0, b.bytes());
  return v;
}

// Integer-valued data, so sums are exact in any order: rank r, element i.
double value(int r, size_t i) { return double((int(i) * 7 + r * 13) % 201 - 100); }

std::vector<int> iota_group(int n) {
  std::vector<int> g(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) g[size_t(i)] = i;
  return g;
}

int max_ranks() { return std::min(gpu_count(), 8); }
}  // namespace

TEST_CASE("NCCL all_to_all_v moves uneven slices to their destinations", "[nccl]") {
  if (!gpus_available(2)) return;
  for (int n = 2; n <= max_ranks(); ++n) {
    // Rank r sends bytes(r, j) = 3 + 5r + 11j bytes to member j, byte k = (r * 31 + j * 7 + k) mod 256.
    auto bytes = [](int r, int j) { return size_t(3 + 5 * r + 11 * j); };
    run_ranks(n, {}, [&](Rank& rk) {
      const auto group = iota_group(n);
      std::vector<unsigned char> send;
      std::vector<size_t> soff, sbytes, roff, rbytes;
      for (int j = 0; j < n; ++j) {
        soff.push_back(send.size());
        sbytes.push_back(bytes(rk.rank, j));
        for (size_t k = 0; k < bytes(rk.rank, j); ++k) send.push_back(static_cast<unsigned char>(rk.rank * 31 + j * 7 + int(k)));
      }
      size_t total = 0;
      for (int r = 0; r < n; ++r) {
        roff.push_back(total);
        rbytes.push_back(bytes(r, rk.rank));
        total += bytes(r, rk.rank);
      }
      DeviceBuffer s = to_device(rk.dev, send);
      DeviceBuffer d = to_device(rk.dev, std::vector<unsigned char>(total, 0xEE));
      rk.dev.stream(1).launch([&] {
        rk.comm.all_to_all_v(group, s.data(), soff, sbytes, d.data(), roff, rbytes, 42, rk.dev.stream(1));
      });
      const auto got = to_host<unsigned char>(rk.dev, d);
      std::vector<unsigned char> expected;
      for (int r = 0; r < n; ++r)
        for (size_t k = 0; k < bytes(r, rk.rank); ++k) expected.push_back(static_cast<unsigned char>(r * 31 + rk.rank * 7 + int(k)));
      RANK_CHECK(got == expected);
    });
  }
}

TEST_CASE("NCCL all_reduce, reduce_scatter and all_gather agree with host sums", "[nccl]") {
  if (!gpus_available(2)) return;
  for (int n = 2; n <= max_ranks(); ++n) {
    run_ranks(n, {}, [&](Rank& rk) {
      const auto group = iota_group(n);
      const size_t count = 1000 + 3;
      std::vector<float> f(count);
      std::vector<double> d(count);
      for (size_t i = 0; i < count; ++i) f[i] = float(value(rk.rank, i)), d[i] = value(rk.rank, i) + 0.5;
      DeviceBuffer fb = to_device(rk.dev, f), db = to_device(rk.dev, d);
      const size_t shard = 37;
      std::vector<float> rs(shard * size_t(n));
      for (size_t i = 0; i < rs.size(); ++i) rs[i] = float(value(rk.rank, i + 5));
      DeviceBuffer rsb = to_device(rk.dev, rs), rso = rk.dev.allocate(shard * sizeof(float));
      std::vector<int> mine(9, rk.rank * 100);
      DeviceBuffer gb = to_device(rk.dev, mine), go = rk.dev.allocate(9 * sizeof(int) * size_t(n));
      Stream& s = rk.dev.stream(1);
      s.launch([&] {
        rk.comm.all_reduce_sum(group, fb.data(), count, ReduceType::F32, 1, s);
        rk.comm.all_reduce_sum(group, db.data(), count, ReduceType::F64, 2, s);
        rk.comm.reduce_scatter_sum(group, rsb.data(), rso.data(), shard, ReduceType::F32, 3, s);
        rk.comm.all_gather(group, gb.data(), go.data(), 9 * sizeof(int), 4, s);
      });
      const auto fr = to_host<float>(rk.dev, fb);
      const auto dr = to_host<double>(rk.dev, db);
      const auto rr = to_host<float>(rk.dev, rso);
      const auto gr = to_host<int>(rk.dev, go);
      bool ok_f = true, ok_d = true, ok_rs = true, ok_g = true;
      for (size_t i = 0; i < count; ++i) {
        double sf = 0, sd = 0;
        for (int r = 0; r < n; ++r) sf += value(r, i), sd += value(r, i) + 0.5;
        ok_f = ok_f && fr[i] == float(sf);
        ok_d = ok_d && dr[i] == sd;
      }
      for (size_t i = 0; i < shard; ++i) {
        double sum = 0;
        for (int r = 0; r < n; ++r) sum += value(r, size_t(rk.rank) * shard + i + 5);
        ok_rs = ok_rs && rr[i] == float(sum);
      }
      for (int r = 0; r < n; ++r)
        for (size_t i = 0; i < 9; ++i) ok_g = ok_g && gr[size_t(r) * 9 + i] == r * 100;
      RANK_CHECK(ok_f);
      RANK_CHECK(ok_d);
      RANK_CHECK(ok_rs);
      RANK_CHECK(ok_g);
    });
  }
}

TEST_CASE("NCCL send and recv match in issue order between two ranks", "[nccl]") {
  if (!gpus_available(2)) return;
  const int n = max_ranks();
  run_ranks(n, {}, [&](Rank& rk) {
    // Pairs (0, 1), (2, 3), ...: the even rank sends three messages (tags 5, 7, 5; 4, 8, 12 ints) on
    // stream 2 while the odd one receives them on stream 1 in the same order; then the other way.
    // One direction at a time, so no rank waits for a peer that waits for it.
    const int peer = rk.rank ^ 1;
    if (peer >= n) return;
    const bool even = rk.rank % 2 == 0;
    const int tags[3] = {5, 7, 5};
    std::vector<DeviceBuffer> out, in;
    for (int m = 0; m < 3; ++m) {
      out.push_back(to_device(rk.dev, std::vector<int>(size_t(4 * (m + 1)), rk.rank * 10 + m)));
      in.push_back(rk.dev.allocate(size_t(4 * (m + 1)) * sizeof(int)));
    }
    auto send_all = [&] {
      rk.dev.stream(2).launch([&] {
        for (int m = 0; m < 3; ++m) rk.comm.send(peer, out[size_t(m)].data(), out[size_t(m)].bytes(), tags[m], rk.dev.stream(2));
      });
    };
    auto recv_all = [&] {
      rk.dev.stream(1).launch([&] {
        for (int m = 0; m < 3; ++m) rk.comm.recv(peer, in[size_t(m)].data(), in[size_t(m)].bytes(), tags[m], rk.dev.stream(1));
      });
    };
    if (even) {
      send_all();
      recv_all();
    } else {
      recv_all();
      send_all();
    }
    for (int m = 0; m < 3; ++m) RANK_CHECK(to_host<int>(rk.dev, in[size_t(m)]) == std::vector<int>(size_t(4 * (m + 1)), peer * 10 + m));
    int x = 0;
    bool refused = false;
    try {
      rk.comm.send(rk.rank, &x, 4, 1, rk.dev.stream(0));   // to itself: refused before NCCL
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    RANK_CHECK(refused);
  });
}

TEST_CASE("NCCL sub-groups follow group order and are split in layers", "[nccl]") {
  if (!gpus_available(2)) return;
  const int n = max_ranks();
  NcclOptions options;
  std::vector<int> reversed = iota_group(n);
  std::reverse(reversed.begin(), reversed.end());
  std::vector<std::vector<int>> pairs;   // {0,1}, {2,3}, ... (an odd last rank stays alone)
  for (int r = 0; r + 1 < n; r += 2) pairs.push_back({r, r + 1});
  options.groups = pairs;
  options.groups.push_back(reversed);
  run_ranks(n, options, [&](Rank& rk) {
    // n = 2: the pair is the world itself, only the reversed world is split; else pairs, then the reversed world.
    RANK_CHECK(rk.comm.split_calls() == (n == 2 ? 1 : 2));
    Stream& s = rk.dev.stream(1);
    // reduce_scatter over the reversed world: member j (rank n-1-j) gets shard j.
    const size_t shard = 5;
    std::vector<float> v(shard * size_t(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(value(rk.rank, i));
    DeviceBuffer vb = to_device(rk.dev, v), out = rk.dev.allocate(shard * sizeof(float));
    s.launch([&] { rk.comm.reduce_scatter_sum(reversed, vb.data(), out.data(), shard, ReduceType::F32, 1, s); });
    const auto got = to_host<float>(rk.dev, out);
    const size_t member = size_t(n - 1 - rk.rank);
    bool ok = true;
    for (size_t i = 0; i < shard; ++i) {
      double sum = 0;
      for (int r = 0; r < n; ++r) sum += value(r, member * shard + i);
      ok = ok && got[i] == float(sum);
    }
    RANK_CHECK(ok);
    // all_gather within the pair: [first member's, second member's].
    if (rk.rank / 2 < int(pairs.size())) {
      const std::vector<int>& pair = pairs[size_t(rk.rank / 2)];
      DeviceBuffer mine = to_device(rk.dev, std::vector<int>{rk.rank}), both = rk.dev.allocate(2 * sizeof(int));
      s.launch([&] { rk.comm.all_gather(pair, mine.data(), both.data(), sizeof(int), 2, s); });
      RANK_CHECK(to_host<int>(rk.dev, both) == pair);
    }
    // A group that was not prepared is refused before NCCL is called; so is a group without this rank.
    std::vector<int> unprepared{0, n - 1};
    if (n > 2) {
      float f = 0;
      std::string message;
      try {
        rk.comm.all_reduce_sum(unprepared, &f, 1, ReduceType::F32, 3, s);
      } catch (const std::exception& e) {
        message = e.what();
      }
      const bool member = rk.rank == 0 || rk.rank == n - 1;
      RANK_CHECK(message.find(member ? "NcclOptions::groups" : "is not in group") != std::string::npos);
    }
  });
}

TEST_CASE("NCCL abort ends later calls of every local rank with CommAborted", "[nccl]") {
  if (!gpus_available(2)) return;
  auto comms = NcclCommunicator::create_local({0, 1});
  CudaDevice d0(0, {}), d1(1, {});
  DeviceBuffer b0 = d0.allocate(4096), b1 = d1.allocate(4096);
  const std::vector<int> world{0, 1};
  // One all-reduce together first: NCCL connects the ranks at their first collective (blocking the
  // host until both arrive), so the second one below is only enqueued.
  std::thread other([&] { comms[1]->all_reduce_sum(world, b1.data(), 1024, ReduceType::F32, 1, d1.stream(0)); });
  comms[0]->all_reduce_sum(world, b0.data(), 1024, ReduceType::F32, 1, d0.stream(0));
  other.join();
  d0.synchronize();
  d1.synchronize();
  // Rank 0 enters an all-reduce that rank 1 never joins: its stream waits inside NCCL until the abort.
  comms[0]->all_reduce_sum(world, b0.data(), 1024, ReduceType::F32, 2, d0.stream(0));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comms[1]->abort("test abort");
  CHECK(comms[0]->aborted());
  try {
    d0.stream(0).synchronize();   // returns (NCCL's kernels see the abort flag), possibly with an error
  } catch (const std::exception&) {
  }
  float f = 0;
  CHECK_THROWS_AS(comms[0]->all_reduce_sum(world, &f, 1, ReduceType::F32, 3, d0.stream(0)), CommAborted);
  CHECK_THROWS_WITH(comms[1]->send(0, &f, 4, 4, d1.stream(0)), Catch::Contains("test abort"));
}

TEST_CASE("NCCL checked mode reports a recv of the wrong size", "[nccl]") {
  if (!gpus_available(2)) return;
  NcclOptions options;
  options.check_messages = true;
  auto comms = NcclCommunicator::create_local({0, 1}, options);
  CudaDevice d0(0, {}), d1(1, {});
  DeviceBuffer b0 = d0.allocate(8), b1 = d1.allocate(8);
  // Two threads: NCCL connects a pair at its first send/recv, with both sides present.
  std::thread sender([&] { comms[0]->send(1, b0.data(), 8, 1, d0.stream(0)); });
  comms[1]->recv(0, b1.data(), 4, 1, d1.stream(0));
  sender.join();
  // The receiver's check kernel traps: its stream fails, and the record says why.
  CHECK_THROWS(d1.stream(0).synchronize());
  CHECK_THAT(comms[1]->message_mismatch(), Catch::Contains("expects 4 bytes tag 1") && Catch::Contains("has 8 bytes tag 1"));
  comms[1]->abort("mismatch");   // the sender's stream still waits for its payload to be received
  try {
    d0.stream(0).synchronize();
  } catch (const std::exception&) {
  }
}

// The second process of the file bootstrap test: runs only when started by it (environment set).
TEST_CASE("NCCL file bootstrap helper process", "[.nccl_helper]") {
  const char* file = std::getenv("TANDEM_NCCL_HELPER_FILE");
  if (!file) return;
  NcclOptions options;
  options.bootstrap_timeout = std::chrono::seconds(60);
  auto comm = NcclCommunicator::create_from_file(file, 1, 2, 1, options);
  CudaDevice dev(1, {});
  DeviceBuffer b = to_device(dev, std::vector<double>{1.5, 2.5});
  comm->all_reduce_sum(std::vector<int>{0, 1}, b.data(), 2, ReduceType::F64, 1, dev.stream(0));
  REQUIRE(to_host<double>(dev, b) == std::vector<double>{11.5, 22.5});   // + rank 0's {10, 20}
}

TEST_CASE("NCCL ranks of two processes meet through the id file", "[nccl]") {
  if (!gpus_available(2)) return;
  const std::string file = (std::filesystem::temp_directory_path() / ("tandem-nccl-boot." + std::to_string(::getpid()))).string();
  std::filesystem::remove(file);
  const std::string env_file = "TANDEM_NCCL_HELPER_FILE=" + file;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(const_cast<char*>(env_file.c_str()));
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char name[] = "NCCL file bootstrap helper process";
  char* argv[] = {self, name, nullptr};
  pid_t child = 0;
  REQUIRE(posix_spawn(&child, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) == 0);
  int status = -1;
  try {
    auto comm = NcclCommunicator::create_from_file(file, 0, 2, 0);
    CudaDevice dev(0, {});
    DeviceBuffer b = to_device(dev, std::vector<double>{10, 20});
    comm->all_reduce_sum(std::vector<int>{0, 1}, b.data(), 2, ReduceType::F64, 1, dev.stream(0));
    CHECK(to_host<double>(dev, b) == std::vector<double>{11.5, 22.5});
  } catch (...) {
    waitpid(child, &status, 0);
    std::filesystem::remove(file);
    throw;
  }
  REQUIRE(waitpid(child, &status, 0) == child);
  std::filesystem::remove(file);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
