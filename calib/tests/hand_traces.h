// Hand-made traces for the calibration tests: events with tandem's identity args (rank, id, step) and
// the payload args trace/program_timeline.h writes, at chosen times.
#pragma once
#include <cstdint>
#include <string>

#include "trace/timeline.h"

namespace tandem::calib::test {

inline trace::Timeline own_trace(trace::TraceSource source = trace::TraceSource::Cpu, const std::string& gpu = "H800",
                                 const std::string& plan = R"({"pp":1})") {
  trace::Timeline tl;
  tl.metadata.source = source;
  tl.metadata.scenario = "hand";
  tl.metadata.extra.insert_or_assign("gpus", std::string("2"));
  tl.metadata.extra.insert_or_assign("gpu", std::string(gpu));
  tl.metadata.extra.insert_or_assign("gpus_per_node", std::string("8"));
  tl.metadata.extra.insert_or_assign("model", std::string(R"({"hidden_size":64,"num_layers":2})"));
  tl.metadata.extra.insert_or_assign("plan", std::string(plan));
  return tl;
}

// A dense FP8 GEMM [m, k] x [k, n] -> BF16 of rank `rank`, op `id`, at [start, start + dur).
inline trace::Event& gemm_event(trace::Timeline& tl, int32_t rank, int64_t id, int64_t step, int64_t m, int64_t n,
                                int64_t k, int64_t start, int64_t dur) {
  trace::Event& e = tl.add_event("gemm", rank, 0, start, dur, "gemm");
  e.id = id;
  tl.add_arg(e, "step", step);
  tl.add_arg(e, "m", m);
  tl.add_arg(e, "n", n);
  tl.add_arg(e, "k", k);
  tl.add_arg(e, "groups", int64_t(1));
  tl.add_arg(e, "a_dtype", "fp8_e4m3");
  tl.add_arg(e, "b_dtype", "fp8_e4m3");
  tl.add_arg(e, "out_dtype", "bf16");
  tl.add_arg(e, "accumulate", false);
  return e;
}

// A BF16 RMSNorm of [rows, cols].
inline trace::Event& norm_event(trace::Timeline& tl, int32_t rank, int64_t id, int64_t step, int64_t rows,
                                int64_t cols, int64_t start, int64_t dur) {
  trace::Event& e = tl.add_event("norm", rank, 0, start, dur, "norm");
  e.id = id;
  tl.add_arg(e, "step", step);
  tl.add_arg(e, "norm", "rmsnorm");
  tl.add_arg(e, "rows", rows);
  tl.add_arg(e, "cols", cols);
  tl.add_arg(e, "backward", false);
  tl.add_arg(e, "dtype", "bf16");
  return e;
}

// An expert all-to-all of `bytes` over a group of `group` ranks, tagged `tag` (equal on every member).
inline trace::Event& a2a_event(trace::Timeline& tl, int32_t rank, int64_t id, int64_t step, int64_t bytes,
                               int64_t group, int64_t tag, int64_t start, int64_t dur) {
  trace::Event& e = tl.add_event("dispatch", rank, 1, start, dur, "all_to_all");
  e.id = id;
  tl.add_arg(e, "step", step);
  tl.add_arg(e, "size", bytes);
  tl.add_arg(e, "group", "expert");
  tl.add_arg(e, "group_size", group);
  tl.add_arg(e, "purpose", "dispatch");
  tl.add_arg(e, "dtype", "bf16");
  tl.add_arg(e, "comm_sms", int64_t(20));
  tl.add_arg(e, "tag", tag);
  return e;
}

}  // namespace tandem::calib::test
