// Tests of the synthetic benchmark timelines: well-formed streams, pipeline structure (flows,
// bubbles by stage), exact round trip through the writer and reader, and a full-model frame.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "trace/analysis.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"
#include "viewer/bench/synthetic.h"
#include "viewer/frame.h"

using namespace tandem;

TEST_CASE("synthetic timeline: streams in order, flows, bubbles by stage", "[viewer][synthetic]") {
  viewer::bench::SyntheticParams p;
  p.pp = 4;
  p.dp = 2;
  p.micro_batches = 8;
  p.layers_per_stage = 2;
  const trace::Timeline tl = viewer::bench::synthetic_timeline(p);
  const trace::TrackIndex idx = trace::build_track_index(tl);
  // 8 ranks x 3 streams.
  CHECK(idx.ranks.size() == 8);
  CHECK(idx.tracks.size() == 24);
  // Each stage boundary (3), rank pair (2) and micro-batch (8) has an activation and a gradient flow.
  CHECK(tl.flows.size() == size_t(3 * 2 * 8 * 2));
  // Compute and all-to-all streams are in-order queues: one lane each.
  for (const auto& t : idx.tracks)
    if (t.tid != trace::kP2PStream) CHECK(t.lanes.size() == 1);
  // 1F1B: every stage idles more than 5% of the step; the last stage waits longest for pipeline
  // receives (its first activation comes after every other stage's first forward), so its bubble is
  // the largest, while the first stage's idle time mostly ends with an all-to-all (exposed).
  const trace::Summary s = trace::summarize(tl, idx);
  REQUIRE(s.stages.size() == 4);
  for (const auto& st : s.stages) CHECK(st.bubble_share + st.exposed_comm_ns / double(s.step_ns) > 0.05);
  for (size_t i = 0; i + 1 < s.stages.size(); ++i) CHECK(s.stages[i].bubble_share < s.stages[3].bubble_share);
  CHECK(s.stages[0].exposed_comm_ns > s.stages[0].bubble_ns);
  // ...and every stage has the same number of ranks.
  for (const auto& st : s.stages) CHECK(st.ranks == 2);
  CHECK(s.sm.present);
  CHECK(s.exposed_comm_max_ns > 0);
  // Per rank per micro-batch per layer: F 13 + 2 all-to-all, B 13 + 2, W 6 GEMMs = 36;
  // 2 layers x 8 micro-batches = 576 per rank, plus reduce-scatter, optimizer, all-gather = 579.
  // Plus p2p: stage 0 and 3 have 16 each (send + recv per micro-batch), stages 1 and 2 have 32.
  CHECK(tl.events.size() == size_t(8 * 579 + 2 * (16 + 32 + 32 + 16)));
}

TEST_CASE("synthetic timeline round-trips exactly through a file", "[viewer][synthetic]") {
  viewer::bench::SyntheticParams p;
  p.pp = 3;
  p.dp = 2;
  p.micro_batches = 4;
  const trace::Timeline tl = viewer::bench::synthetic_timeline(p);
  const std::string path = "/tmp/" + std::to_string(::getpid()) + "_tandem_synthetic_roundtrip.json";
  trace::write_trace(tl, path);
  const trace::Timeline back = trace::read_trace(path);
  std::string why;
  CHECK(trace::same_content(tl, back, &why));
  INFO(why);
  std::remove(path.c_str());
  // params_for_bytes grows DP to approach the target size (within one rank's worth of bytes).
  const auto sized = viewer::bench::params_for_bytes(p, 2'000'000);
  const auto bytes = trace::write_trace_string(viewer::bench::synthetic_timeline(sized)).size();
  CHECK(sized.dp > 2);
  CHECK(double(bytes) == Approx(2e6).epsilon(0.25));
}
