// The host probe (host_probe.h): each measure runs the backend's own code on shapes of the tiny model's
// size class and keeps the best of its repetitions.
#include "backend/runtime/host_probe.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "backend/execution/values.h"
#include "backend/ops/kernel_table.h"
#include "backend/runtime/cpu_device.h"
#include "backend/runtime/inproc_communicator.h"
#include "ir/op.h"

namespace tandem::backend {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Best time of one call of `body` over `reps` repetitions (after one untimed call).
template <typename Body>
double best_seconds(int reps, Body body) {
  body();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    body();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

std::vector<float> filled(size_t n, float seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(seed + 0.37f * float(i));
  return v;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(colon + 1);
        name.erase(0, name.find_first_not_of(' '));
        return name;
      }
    }
  return "unknown";
}

int64_t affinity_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()));
}

}  // namespace

HostProbe probe_host() {
  HostProbe p;
  p.machine = cpu_model();
  p.cores = affinity_cores();
  p.memory_bytes = int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGE_SIZE));

  CpuDevice device(0, 1);
  const KernelLaunch launch{device, device.stream(0), 1, false, nullptr};
  const KernelTable& k = cpu_kernel_table();
  constexpr int kReps = 5;

  // GEMMs: 256 token rows (4 sequences of 64) through a 256 x 256 weight.
  const int64_t m = 256, n = 256, kk = 256;
  const std::vector<float> a = filled(size_t(m * kk), 0.1f), b = filled(size_t(n * kk), 0.7f);
  std::vector<float> out(size_t(m * n));
  const std::vector<int64_t> segments{0, m};
  ir::Gemm g;
  g.m = m;
  g.n = n;
  g.k = kk;
  g.a = g.b = ir::DType::FP32;
  const double gemm_flops = ir::op_flops(g);
  p.gemm_flops_per_s = gemm_flops / best_seconds(kReps, [&] { k.gemm_nt.run(launch, a, b, out, segments, n, kk, false); });
  const Fp8Matrix qa = quantize(a, m, kk, kernels::Fp8ScaleLayout::Tile1x128, false);
  const Fp8Matrix qb = quantize(b, n, kk, kernels::Fp8ScaleLayout::Block128x128, false);
  const std::vector<const Fp8Matrix*> blocks{&qb};
  p.fp8_gemm_flops_per_s = gemm_flops / best_seconds(kReps, [&] {
    k.fp8_gemm_nt.run(launch, qa, std::span<const Fp8Matrix* const>(blocks), out, segments);
  });

  // FP8 quantisation of a [256, 512] activation.
  const int64_t qrows = 256, qcols = 512;
  const std::vector<float> x = filled(size_t(qrows * qcols), 0.3f);
  ir::Quantize q;
  q.rows = qrows;
  q.cols = qcols;
  p.quantize_bytes_per_s =
      ir::op_hbm_bytes(q) / best_seconds(kReps, [&] { (void)k.quantize_fp8.run(launch, x, qrows, qcols, false); });

  // RMSNorm forward of [1024, 256]: the memory-bound kinds.
  const int64_t nrows = 1024, ncols = 256;
  const std::vector<float> nx = filled(size_t(nrows * ncols), 0.5f), w = filled(size_t(ncols), 0.9f);
  std::vector<float> ny(nx.size());
  std::vector<float> rstd(static_cast<size_t>(nrows));
  ir::Norm nm;
  nm.rows = nrows;
  nm.cols = ncols;
  p.memory_bytes_per_s =
      ir::op_hbm_bytes(nm) / best_seconds(kReps, [&] { k.rmsnorm_forward.run(launch, nx, w, nrows, ncols, 1e-6f, ny, rstd); });

  // Causal attention: 4 sequences of 64 tokens, 4 heads, qk 24, v 16 (the tiny model's MLA).
  const kernels::AttentionShape shape{4, 64, 4, 24, 16};
  const std::vector<float> aq = filled(size_t(shape.batch * shape.seq * shape.heads * shape.qk_dim), 0.2f);
  const std::vector<float> ak = filled(aq.size(), 0.4f);
  const std::vector<float> av = filled(size_t(shape.batch * shape.seq * shape.heads * shape.v_dim), 0.6f);
  std::vector<float> aout(av.size()), lse(size_t(shape.batch * shape.heads * shape.seq));
  ir::Attention at;
  at.seqs = shape.batch;
  at.seq_len = shape.seq;
  at.heads = shape.heads;
  at.qk_head_dim = shape.qk_dim;
  at.v_head_dim = shape.v_dim;
  at.dtype = ir::DType::FP32;
  p.attention_flops_per_s =
      ir::op_flops(at) / best_seconds(kReps, [&] { k.attention_forward.run(launch, aq, ak, av, shape, aout, lse); });

  // The executor's cost per op: a start event, the work, an end event on a stream, issued ahead.
  {
    constexpr int kOps = 2000;
    std::vector<std::unique_ptr<Event>> events;
    for (int i = 0; i < 2 * kOps; ++i) events.push_back(device.create_event());
    Stream& s = device.stream(0);
    const double t = best_seconds(3, [&] {
      for (int i = 0; i < kOps; ++i) {
        s.record(*events[size_t(2 * i)]);
        s.launch([] {});
        s.record(*events[size_t(2 * i + 1)]);
      }
      s.synchronize();
    });
    p.op_overhead_ns = int64_t(std::llround(t / kOps * 1e9));
  }

  // The in-process communicator between two threads: 1 MiB messages (bandwidth), empty ones (latency).
  {
    auto world = std::make_shared<InProcessWorld>(2, std::chrono::seconds(30));
    InProcessCommunicator c0(world, 0), c1(world, 1);
    Stream& s = device.stream(0);
    constexpr size_t kBig = size_t(1) << 20;
    std::vector<std::byte> big_out(kBig, std::byte{1}), big_in(kBig);
    constexpr int kMessages = 20, kPings = 500;
    std::byte ping{};
    // Rank 1 echoes: bandwidth messages one way, then empty pings back and forth.
    std::thread peer([&] {
      std::vector<std::byte> buf(kBig);
      for (int r = 0; r < 3 * kMessages; ++r) c1.recv(0, buf.data(), kBig, 1, s);
      std::byte b{};
      for (int i = 0; i < 3 * kPings; ++i) {
        c1.recv(0, &b, 1, 2, s);
        c1.send(0, &b, 1, 3, s);
      }
    });
    double best_copy = 1e30;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < kMessages; ++i) c0.send(1, big_out.data(), kBig, 1, s);
      best_copy = std::min(best_copy, seconds_since(t0));
    }
    double best_ping = 1e30;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < kPings; ++i) {
        c0.send(1, &ping, 1, 2, s);
        c0.recv(1, &ping, 1, 3, s);
      }
      best_ping = std::min(best_ping, seconds_since(t0));
    }
    peer.join();
    // A send copies the message once into the mailbox and the receive once out of it: two copies per byte
    // on the sender's timing is one, so the sender's time gives the copy rate of one side.
    p.copy_bytes_per_s = double(kMessages) * double(kBig) / best_copy;
    p.handoff_latency_ns = int64_t(std::llround(best_ping / kPings / 2 * 1e9));
  }
  // Other processes' load and what the cores do together: a spinning thread per core for 300 ms. The CPU
  // time they get (against their wall time) is their share beside other processes; their work per CPU
  // second, against one thread's alone (before), is each core's speed while all run: on a VM whose vCPUs
  // share fewer physical CPUs, or SMT siblings, a second of CPU time does less work. (A VM's vCPUs busy
  // with other processes' threads while the single thread runs hide that: probe a quiet machine.)
  {
    auto spin = [](double seconds, double* cpu_s, double* work) {
      timespec a{}, b{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      const auto t0 = Clock::now();
      volatile double x = 1;
      int64_t rounds = 0;
      while (seconds_since(t0) < seconds) {
        for (int k = 0; k < 20000; ++k) x = x * 1.0000001 + 1e-9;
        ++rounds;
      }
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      *cpu_s = double(b.tv_sec - a.tv_sec) + 1e-9 * double(b.tv_nsec - a.tv_nsec);
      *work = double(rounds);
    };
    // One thread's rate: the best of five 20 ms runs (the core's capability, as the rates above).
    double alone_rate = 0;
    for (int k = 0; k < 5; ++k) {
      double c = 0, w = 0;
      std::thread([&] { spin(0.02, &c, &w); }).join();
      alone_rate = std::max(alone_rate, w / std::max(c, 1e-6));
    }
    const int64_t n = p.cores;
    std::vector<double> cpu(static_cast<size_t>(n), 0.0), work(static_cast<size_t>(n), 0.0);
    std::vector<std::thread> spinners;
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) spinners.emplace_back([&, i] { spin(0.3, &cpu[size_t(i)], &work[size_t(i)]); });
    for (auto& t : spinners) t.join();
    const double wall = seconds_since(t0);
    double got = 0, speed = 0;
    for (int64_t i = 0; i < n; ++i) {
      got += cpu[size_t(i)];
      speed += std::min(1.0, work[size_t(i)] / std::max(cpu[size_t(i)], 1e-6) / alone_rate);
    }
    const double share = std::clamp(got / (wall * double(n)), 1e-3, 1.0);
    p.background_threads = std::max(0.0, double(n) / share - double(n));
    p.parallel_cores = std::clamp(speed, 0.05, double(n));
  }
  return p;
}

}  // namespace tandem::backend
