// Replays on the host device, computed by hand: ranks and streams are threads sharing the machine's
// cores (more runnable threads than cores stretch every one of them), and the in-process copy.
#include <catch2/catch.hpp>

#include "hand_program.h"
#include "hw/host_spec.h"
#include "sim/simulate.h"

using namespace tandem;
using sim::test::HandProgram;
using sim::test::Records;

namespace {

// A host of `cores` cores on which every op costs exactly 1 ms of one core (its overhead; the ops below
// move no bytes), with a 1 GB/s copy and 10 us hand-off.
hw::HostSpec host(int64_t cores) {
  hw::HostSpec h;
  h.machine = "hand";
  h.cores = cores;
  h.memory_bytes = int64_t(1) << 34;
  h.gemm_flops_per_s = h.fp8_gemm_flops_per_s = h.attention_flops_per_s = 1e9;
  h.quantize_bytes_per_s = h.memory_bytes_per_s = 1e9;
  h.op_overhead_ns = 1000000;
  h.copy_bytes_per_s = 1e9;
  h.handoff_latency_ns = 10000;
  h.parallel_cores = double(cores);
  h.device = hw::host_device_spec(h);
  return h;
}

ir::ClusterConfig host_cluster(int64_t ranks) {
  ir::ClusterConfig c;
  c.name = "host";
  c.gpu = "host";
  c.nodes = 1;
  c.gpus_per_node = ranks;
  c.nics_per_node = ranks;
  c.planes = 1;
  c.switch_tiers = 1;
  return c;
}

ir::Norm no_bytes() {
  ir::Norm n;
  n.rows = 0;
  n.cols = 64;
  return n;
}

sim::SimResult run(const HandProgram& p, const hw::HostSpec& h, Records& rec) {
  sim::SimOptions o;
  o.host = &h;
  o.sink = &rec;
  return sim::simulate(p, host_cluster(p.num_ranks()), o);
}

}  // namespace

TEST_CASE("4 ranks with 1 ms of work each on 2 cores take 2 ms, on 4 cores 1 ms", "[sim][host]") {
  HandProgram p(4);
  for (int64_t r = 0; r < 4; ++r) p.op(r, no_bytes(), ir::Stream::Compute);
  p.finish();
  Records rec;
  const sim::SimResult two = run(p, host(2), rec);
  CHECK(two.step_ns == 2000000);
  for (int64_t r = 0; r < 4; ++r) CHECK(rec.find(r, 0).end_ns == 2000000);
  Records rec4;
  CHECK(run(p, host(4), rec4).step_ns == 1000000);
  CHECK(two.mode == sim::Mode::Full);   // every rank's threads share the cores: never the symmetric path
}

TEST_CASE("3 threads on 2 cores get 2/3 of a core each until one rank's second op runs alone", "[sim][host]") {
  // t = 0: three 1 ms ops at 2/3 of a core -> all end at 1.5 ms; rank 0's second op then has a core
  // of its own: 1.5 + 1 = 2.5 ms.
  HandProgram p(3);
  p.op(0, no_bytes(), ir::Stream::Compute);
  p.op(0, no_bytes(), ir::Stream::Compute);
  p.op(1, no_bytes(), ir::Stream::Compute);
  p.op(2, no_bytes(), ir::Stream::Compute);
  p.finish();
  Records rec;
  const sim::SimResult r = run(p, host(2), rec);
  CHECK(rec.find(0, 0).end_ns == 1500000);
  CHECK(rec.find(1, 0).end_ns == 1500000);
  CHECK(rec.find(2, 0).end_ns == 1500000);
  CHECK(rec.find(0, 1).start_ns == 1500000);
  CHECK(r.step_ns == 2500000);
}

TEST_CASE("two streams of one rank are two threads: on one core they share it", "[sim][host]") {
  HandProgram p(1);
  p.op(0, no_bytes(), ir::Stream::Compute);
  p.op(0, no_bytes(), ir::Stream::Comm);
  p.finish();
  Records rec;
  CHECK(run(p, host(1), rec).step_ns == 2000000);
  Records rec2;
  CHECK(run(p, host(2), rec2).step_ns == 1000000);
}

TEST_CASE("a message between two ranks takes the hand-off latency plus bytes over the copy rate", "[sim][host]") {
  // 1 MB at 1 GB/s = 1 ms, + 10 us.
  HandProgram p(2);
  p.send(0, 1, 1000000, 5, 0, {});
  const int32_t recv = p.recv(1, 0, 1000000, 5, 0);
  p.finish();
  Records rec;
  run(p, host(2), rec);
  CHECK(rec.find(1, recv).end_ns == 1010000);
}

TEST_CASE("the host needs its description, and a description needs the host", "[sim][host]") {
  HandProgram p(2);
  p.op(0, no_bytes(), ir::Stream::Compute);
  p.finish();
  CHECK_THROWS_AS(sim::simulate(p, host_cluster(2), sim::SimOptions{}), std::invalid_argument);
  const hw::HostSpec h = host(2);
  sim::SimOptions o;
  o.host = &h;
  CHECK_THROWS_AS(sim::simulate(p, sim::test::test_cluster(1, 2), o), std::invalid_argument);
  o.mode = sim::Mode::Symmetric;
  CHECK_THROWS_AS(sim::simulate(p, host_cluster(2), o), std::invalid_argument);
}

TEST_CASE("other processes' runnable threads share the cores too", "[sim][host]") {
  // 2 ranks on 2 cores with 2 other runnable threads: 4 threads, half a core each -> 1 ms of work takes 2 ms.
  HandProgram p(2);
  p.op(0, no_bytes(), ir::Stream::Compute);
  p.op(1, no_bytes(), ir::Stream::Compute);
  p.finish();
  hw::HostSpec h = host(2);
  h.background_threads = 2;
  Records rec;
  CHECK(run(p, h, rec).step_ns == 2000000);
}

TEST_CASE("cores that do one core's work together share it: two ranks on two such cores take twice as long", "[sim][host]") {
  // parallel_cores 1 on 2 cores (two vCPUs on one CPU): one rank alone runs its 1 ms op in 1 ms; two at
  // once get half a core each, 2 ms; the third op, alone again after them, 1 ms: 3 ms in all.
  HandProgram p(2);
  const int32_t a0 = p.op(0, no_bytes(), ir::Stream::Compute);
  const int32_t a1 = p.op(0, no_bytes(), ir::Stream::Compute, ir::Phase::F, 0, {a0});
  const int32_t b0 = p.op(1, no_bytes(), ir::Stream::Compute);
  p.finish();
  hw::HostSpec h = host(2);
  h.parallel_cores = 1.0;
  h.device = hw::host_device_spec(h);
  Records rec;
  CHECK(run(p, h, rec).step_ns == 3000000);
  CHECK(rec.find(0, a0).end_ns == 2000000);
  CHECK(rec.find(1, b0).end_ns == 2000000);
  CHECK(rec.find(0, a1).end_ns == 3000000);
  // The same on two whole cores: 1 ms each at once, then 1 ms.
  Records whole;
  CHECK(run(p, host(2), whole).step_ns == 2000000);
}
