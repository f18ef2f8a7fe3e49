// Analysis tests: interval arithmetic by hand, then the golden timeline's bubbles, exposed
// communication, SM split, op-kind and phase totals, and the op-kind comparison of two timelines.
#include <catch2/catch.hpp>

#include "trace/analysis.h"
#include "trace/measures.h"
#include "trace/tests/golden_timeline.h"
#include "trace/trace_reader.h"

using namespace tandem::trace;
using tandem::trace::testing::golden_timeline;
using tandem::trace::testing::test_data_path;

TEST_CASE("interval union, difference and gaps", "[trace][analysis]") {
  // (0,3) and (3,4) touch and merge; (5,10) and (8,12) overlap; (20,20) is empty.
  const auto m = merge_intervals({{5, 10}, {0, 3}, {3, 4}, {8, 12}, {20, 20}});
  CHECK(m == std::vector<Interval>{{0, 4}, {5, 12}});
  CHECK(total_length(m) == 4 + 7);
  // [0,10) minus (2,4),(8,22) = (0,2),(4,8); [20,30) minus (8,22),(25,26) = (22,25),(26,30).
  CHECK(subtract_intervals({{0, 10}, {20, 30}}, {{2, 4}, {8, 22}, {25, 26}}) ==
        std::vector<Interval>{{0, 2}, {4, 8}, {22, 25}, {26, 30}});
  CHECK(subtract_intervals({{0, 10}}, {}) == std::vector<Interval>{{0, 10}});
  CHECK(subtract_intervals({{0, 10}}, {{-5, 15}}).empty());
  // Busy (2,4),(6,8) in window [0,10): gaps (0,2),(4,6),(8,10), each 2 long.
  CHECK(idle_gaps({{2, 4}, {6, 8}}, {0, 10}) == std::vector<Interval>{{0, 2}, {4, 6}, {8, 10}});
  CHECK(idle_gaps({{2, 4}, {6, 8}}, {0, 10}, 2).size() == 3);
  CHECK(idle_gaps({{2, 4}, {6, 8}}, {0, 10}, 3).empty());
  // Busy sticking out of the window is clipped: window [3,7) with busy (2,4),(6,8) leaves (4,6).
  CHECK(idle_gaps({{2, 4}, {6, 8}}, {3, 7}) == std::vector<Interval>{{4, 6}});
  CHECK(idle_gaps({}, {0, 5}) == std::vector<Interval>{{0, 5}});
}

TEST_CASE("track index: roles, lanes and stages of the golden timeline", "[trace][analysis]") {
  const Timeline tl = golden_timeline();
  const TrackIndex idx = build_track_index(tl);
  REQUIRE(idx.tracks.size() == 4);
  CHECK(idx.tracks[0].pid == 0);
  CHECK(idx.tracks[0].tid == 0);
  CHECK(idx.tracks[0].role == TrackRole::Compute);
  CHECK(idx.tracks[1].role == TrackRole::Comm);
  CHECK(idx.tracks[0].lanes.size() == 1);
  CHECK(idx.tracks[0].event_count == 7);
  CHECK(idx.tracks[1].event_count == 4);
  CHECK(idx.stage_of(0) == 0);
  CHECK(idx.stage_of(1) == 1);
  CHECK(idx.stage_of(9) == -1);
  CHECK(idx.find(1, 1) == 3);
  CHECK(idx.find(1, 5) == -1);
  // Lane lookups on rank 0's compute lane: starts 0,10,40,56,66,82,90 µs.
  const Lane& lane = idx.tracks[0].lanes[0];
  CHECK(lane.first_ending_after(10000) == 1);     // F0 ends at 10 µs exactly: not after
  CHECK(lane.first_ending_after(30000) == 2);     // inside the bubble: next is B0
  CHECK(lane.first_starting_at_or_after(56000) == 3);
}

TEST_CASE("track index: nested host ranges go to deeper lanes", "[trace][analysis][kineto]") {
  const Timeline tl = read_trace(test_data_path("kineto_small.json"));
  const TrackIndex idx = build_track_index(tl);
  const int64_t host = idx.find(4021, 4021);
  REQUIRE(host == 2);   // tracks sorted by (pid, tid): GPU streams (0, 7), (0, 13), then the host thread
  const Track& t = idx.tracks[size_t(host)];
  // ProfilerStep#2 [0,250) encloses aten::mm [0.25,12.75) which encloses cudaLaunchKernel [5,9).
  REQUIRE(t.lanes.size() == 3);
  CHECK(tl.name_of(tl.events[t.lanes[0].events[0]]) == "ProfilerStep#2");
  CHECK(tl.name_of(tl.events[t.lanes[1].events[0]]) == "aten::mm");
  CHECK(tl.name_of(tl.events[t.lanes[2].events[0]]) == "cudaLaunchKernel");
  CHECK(t.role == TrackRole::Host);
  CHECK(idx.tracks[size_t(idx.find(0, 7))].role == TrackRole::Compute);
  CHECK(idx.tracks[size_t(idx.find(0, 13))].role == TrackRole::Comm);
}

TEST_CASE("golden timeline: bubbles and their share of the step", "[trace][analysis][golden]") {
  const Timeline tl = golden_timeline();
  const TrackIndex idx = build_track_index(tl);
  const Interval step = step_window(tl);
  CHECK(step == Interval{0, 94000});
  const auto bubbles = compute_bubbles(tl, idx, step);
  REQUIRE(bubbles.size() == 2);
  // Rank 0: idle [20,40) waiting for the first gradient, and [64,66) waiting for the second: 22 µs.
  CHECK(bubbles[0].gaps == std::vector<Interval>{{20000, 40000}, {64000, 66000}});
  CHECK(bubbles[0].idle_ns == 22000);
  CHECK(bubbles[0].share == Approx(22.0 / 94.0));
  // Rank 1: idle [0,12) before the first activation arrives and [84,94) after its optimizer: 22 µs.
  CHECK(bubbles[1].gaps == std::vector<Interval>{{0, 12000}, {84000, 94000}});
  CHECK(bubbles[1].idle_ns == 22000);
  // A 5 µs minimum drops rank 0's 2 µs gap.
  CHECK(compute_bubbles(tl, idx, step, 5000)[0].idle_ns == 20000);
}

TEST_CASE("golden timeline: measures, every gap with its cause", "[trace][analysis][golden][measures]") {
  const Timeline tl = golden_timeline();
  const Measures m = measure_timeline(tl);
  REQUIRE(m.ranks.size() == 2);
  // Rank 0: [20,40) ends with recv grad mb0 at 40, [64,66) with recv grad mb1 at 66: pipeline waits of
  // 20 + 2 µs; it ends at 94 with the step, no tail. Bubble 22 µs, nothing exposed.
  const RankMeasures& r0 = m.ranks[0];
  REQUIRE(r0.gaps.size() == 2);
  CHECK(r0.gaps[0].cause == GapCause::Pipeline);
  CHECK(tl.name_of(tl.events[size_t(r0.gaps[0].cause_event)]) == "recv grad mb0");
  CHECK(r0.wait_ns[size_t(GapCause::Pipeline)] == 22000);
  CHECK(r0.bubble_ns() == 22000);
  CHECK(r0.exposed_comm_ns() == 0);
  // Communication [10,12) [20,22) [38,40) [64,66) = 8 µs; compute covers [0,20) [40,64) [66,94), so
  // only [10,12) is under compute: overlap 2 µs.
  CHECK(r0.comm_ns == 8000);
  CHECK(r0.overlap_ns == 2000);
  // Rank 1: [0,12) ends with recv act mb0 at 12 (pipeline 12 µs); its last op ends at 84, so 94 - 84
  // = 10 µs of tail. Bubble 22 µs. Communication 8 µs of which [20,22) [38,40) [64,66) under compute.
  const RankMeasures& r1 = m.ranks[1];
  CHECK(r1.wait_ns[size_t(GapCause::Pipeline)] == 12000);
  CHECK(r1.tail_ns == 10000);
  CHECK(r1.bubble_ns() == 22000);
  CHECK(r1.overlap_ns == 6000);
  CHECK(r1.compute_ns() + r1.bubble_ns() + r1.exposed_comm_ns() == 94000);
}

TEST_CASE("golden timeline: SM split, op kinds, phases, summary", "[trace][analysis][golden]") {
  const Timeline tl = golden_timeline();
  const TrackIndex idx = build_track_index(tl);
  const SmSplit sm = sm_split(tl, idx);
  // Compute per rank: F 20 + B 32 + W 16 = 68 µs at 112 SMs, optimizer 4 µs at 132 SMs:
  // 2 · (68·112 + 4·132) = 16288 SM·µs. Communication: 8 events · 2 µs · 20 SMs = 320 SM·µs.
  CHECK(sm.present);
  CHECK(sm.compute_sm_ns == Approx(16288.0 * 1000));
  CHECK(sm.comm_sm_ns == Approx(320.0 * 1000));
  CHECK(sm.other_sm_ns == 0.0);
  CHECK(sm.comm_share() == Approx(320.0 / 16608.0));

  const auto kinds = op_kind_totals(tl);
  REQUIRE(kinds.size() == 4);
  // gemm: 12 ops, 2·68 = 136 µs; the others 8 µs each, ordered by name.
  CHECK(kinds[0].op == "gemm");
  CHECK(kinds[0].count == 12);
  CHECK(kinds[0].total_ns == 136000);
  CHECK(kinds[0].ranks == 2);
  CHECK(kinds[1].op == "optimizer");
  CHECK(kinds[2].op == "recv");
  CHECK(kinds[3].op == "send");
  CHECK(kinds[3].total_ns == 8000);

  const Summary s = summarize(tl, idx);
  CHECK(s.step_ns == 94000);
  CHECK(s.ranks == 2);
  CHECK(s.events == 22);
  REQUIRE(s.stages.size() == 2);
  CHECK(s.stages[0].stage == 0);
  CHECK(s.stages[0].ranks == 1);
  CHECK(s.stages[0].bubble_share == Approx(22.0 / 94.0));
  CHECK(s.bubble_share == Approx(22.0 / 94.0));
  // The pipeline waits are bubble; no compute gap ends with an all-to-all or a collective.
  CHECK(s.exposed_comm_max_ns == 0);
  CHECK(s.exposed_comm_mean_ns == 0.0);
  CHECK(s.comm_mean_ns == 8000);
  CHECK(s.mean.overlap_share() == Approx(8.0 / 16.0));   // (2 + 6) / (8 + 8) µs
  CHECK(s.rank_bubble_share(1) == Approx(22.0 / 94.0));
  CHECK(s.rank_bubble_share(7) == -1.0);
  // Phases over both ranks: F 4·10 = 40 µs, B 4·16 = 64, W 4·8 = 32, none (optimizer) 2·4 = 8.
  REQUIRE(s.phases.size() == 4);
  CHECK(s.phases[0].phase == 'F');
  CHECK(s.phases[0].total_ns == 40000);
  CHECK(s.phases[1].total_ns == 64000);
  CHECK(s.phases[2].total_ns == 32000);
  CHECK(s.phases[3].total_ns == 8000);
}
