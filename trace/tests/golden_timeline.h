// The golden timeline of trace/tests/data/golden_2x2.json built in code: 2 ranks (pipeline stages
// 0 and 1) x 2 streams (compute, communication), 2 micro-batches, F/B/W ops, optimizer, 4 flows.
// Times (µs) are chosen so the bubbles and overlaps can be worked out by hand (see analysis_test).
#pragma once
#include <string>

#include <unistd.h>

#include "trace/timeline.h"

namespace tandem::trace::testing {

// A file name under /tmp unique to this process (test binaries of several builds may run at once).
inline std::string tmp_path(const std::string& name) { return "/tmp/" + std::to_string(::getpid()) + "_" + name; }

inline std::string test_data_path(const std::string& name) { return std::string(TANDEM_TRACE_TEST_DATA) + "/" + name; }

// rank 0 compute: F0 [0,10) F1 [10,20) . B0 [40,56) W0 [56,64) . B1 [66,82) W1 [82,90) opt [90,94)
// rank 0 comm:    send act0 [10,12) send act1 [20,22) recv grad0 [38,40) recv grad1 [64,66)
// rank 1 compute: . F0 [12,22) B0 [22,38) F1 [38,48) B1 [48,64) W0 [64,72) W1 [72,80) opt [80,84) .
// rank 1 comm:    recv act0 [10,12) recv act1 [20,22) send grad0 [38,40) send grad1 [64,66)
// Step [0, 94) µs. Compute ops hold 112 SMs, communication 20, the optimizer 132.
inline Timeline golden_timeline() {
  Timeline tl;
  int64_t next_id = 0;
  auto op = [&](int rank, int tid, const std::string& name, const char* kind, double t0_us, double t1_us,
                int mb, char phase, int sms) -> uint32_t {
    Event& e = tl.add_event(name, rank, tid, static_cast<int64_t>(t0_us * 1000), static_cast<int64_t>((t1_us - t0_us) * 1000),
                            kind);
    e.id = next_id++;
    e.stage = rank;
    e.layer = rank;
    e.mb = mb;
    e.phase = phase;
    e.sms = sms;
    if (phase) {
      e.flops = 1.5e12 * (t1_us - t0_us);   // stands for the op's FLOPs
      e.bytes = 2.5e8;
    }
    return static_cast<uint32_t>(tl.events.size() - 1);
  };
  // rank 0
  op(0, 0, "L0.F mb0", "gemm", 0, 10, 0, 'F', 112);
  const uint32_t s0 = op(0, 1, "send act mb0", "send", 10, 12, 0, 0, 20);
  op(0, 0, "L0.F mb1", "gemm", 10, 20, 1, 'F', 112);
  const uint32_t s1 = op(0, 1, "send act mb1", "send", 20, 22, 1, 0, 20);
  const uint32_t rg0 = op(0, 1, "recv grad mb0", "recv", 38, 40, 0, 0, 20);
  op(0, 0, "L0.B mb0", "gemm", 40, 56, 0, 'B', 112);
  op(0, 0, "L0.W mb0", "gemm", 56, 64, 0, 'W', 112);
  const uint32_t rg1 = op(0, 1, "recv grad mb1", "recv", 64, 66, 1, 0, 20);
  op(0, 0, "L0.B mb1", "gemm", 66, 82, 1, 'B', 112);
  op(0, 0, "L0.W mb1", "gemm", 82, 90, 1, 'W', 112);
  op(0, 0, "optimizer", "optimizer", 90, 94, -1, 0, 132);
  // rank 1
  const uint32_t r0 = op(1, 1, "recv act mb0", "recv", 10, 12, 0, 0, 20);
  op(1, 0, "L1.F mb0", "gemm", 12, 22, 0, 'F', 112);
  const uint32_t r1 = op(1, 1, "recv act mb1", "recv", 20, 22, 1, 0, 20);
  op(1, 0, "L1.B mb0", "gemm", 22, 38, 0, 'B', 112);
  const uint32_t sg0 = op(1, 1, "send grad mb0", "send", 38, 40, 0, 0, 20);
  op(1, 0, "L1.F mb1", "gemm", 38, 48, 1, 'F', 112);
  op(1, 0, "L1.B mb1", "gemm", 48, 64, 1, 'B', 112);
  const uint32_t sg1 = op(1, 1, "send grad mb1", "send", 64, 66, 1, 0, 20);
  op(1, 0, "L1.W mb0", "gemm", 64, 72, 0, 'W', 112);
  op(1, 0, "L1.W mb1", "gemm", 72, 80, 1, 'W', 112);
  op(1, 0, "optimizer", "optimizer", 80, 84, -1, 0, 132);
  tl.add_flow(1, s0, r0);
  tl.add_flow(2, s1, r1);
  tl.add_flow(3, sg0, rg0);
  tl.add_flow(4, sg1, rg1);
  for (int r = 0; r < 2; ++r) {
    tl.process_names[r] = "rank " + std::to_string(r);
    tl.thread_names[{r, 0}] = "compute";
    tl.thread_names[{r, 1}] = "comm";
  }
  tl.metadata.scenario = "golden-2x2";
  tl.metadata.source = TraceSource::Sim;
  tl.metadata.version = "1";
  tl.metadata.extra["note"] = "hand-made 2-stage pipeline with bubbles";
  return tl;
}

}  // namespace tandem::trace::testing
