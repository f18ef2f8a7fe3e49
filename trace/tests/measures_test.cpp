// Measures of hand-built timelines (gaps caused by a pipeline receive, an all-to-all, a collective and
// nothing; overlap; the tail; ties), with the expected numbers derived in comments; and the timeline
// of a StepProgram (one builder for both sides) written, read back and measured the same.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "trace/measures.h"
#include "trace/program_timeline.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

using namespace tandem::trace;

namespace {

Event& add(Timeline& tl, int32_t pid, int32_t tid, int64_t start, int64_t end, std::string_view op, char phase = 0) {
  Event& e = tl.add_event(std::string(op) + "@" + std::to_string(start), pid, tid, start, end - start, op);
  e.phase = phase;
  e.stage = pid;
  return e;
}

// Two ranks of a sim-source trace (tid 0 compute, 1 comm, 2 p2p), times in ns:
//   rank 0: recv [0,100) p2p; F gemm [100,300); a2a [300,450); F gemm [450,600); B gemm [700,800);
//           W gemm [800,900); all_reduce [850,1000); optimizer [1000,1100)
//   rank 1: F gemm [0,50); recv [50,1200) p2p; B gemm [1200,1250)
Timeline hand_timeline() {
  Timeline tl;
  tl.metadata.source = TraceSource::Sim;
  add(tl, 0, 2, 0, 100, "recv");
  add(tl, 0, 0, 100, 300, "gemm", 'F');
  add(tl, 0, 1, 300, 450, "all_to_all");
  add(tl, 0, 0, 450, 600, "gemm", 'F');
  add(tl, 0, 0, 700, 800, "gemm", 'B');
  add(tl, 0, 0, 800, 900, "gemm", 'W');
  add(tl, 0, 1, 850, 1000, "all_reduce");
  add(tl, 0, 0, 1000, 1100, "optimizer");
  add(tl, 1, 0, 0, 50, "gemm", 'F');
  add(tl, 1, 2, 50, 1200, "recv");
  add(tl, 1, 0, 1200, 1250, "gemm", 'B');
  return tl;
}

}  // namespace

TEST_CASE("measures of a hand-built timeline: each gap has its cause", "[trace][measures]") {
  const Timeline tl = hand_timeline();
  const Measures m = measure_timeline(tl);
  // The step: earliest start 0 to latest end 1250 (rank 1's B gemm).
  CHECK(m.step.start_ns == 0);
  CHECK(m.step_ns == 1250);
  REQUIRE(m.ranks.size() == 2);

  const RankMeasures& r0 = m.ranks[0];
  CHECK(r0.pid == 0);
  CHECK(r0.end_ns == 1100);
  // Gaps of rank 0's compute stream within [0, 1100]:
  //   [0,100)    the recv ended at 100            -> pipeline   100
  //   [300,450)  the all-to-all ended at 450      -> all_to_all 150
  //   [600,700)  nothing ended in (600,700]       -> issue      100
  //   [900,1000) the all-reduce ended at 1000     -> collective 100
  REQUIRE(r0.gaps.size() == 4);
  CHECK(r0.gaps[0].start_ns == 0);
  CHECK(r0.gaps[0].end_ns == 100);
  CHECK(r0.gaps[0].cause == GapCause::Pipeline);
  CHECK(r0.gaps[0].cause_event == 0);
  CHECK(r0.gaps[1].cause == GapCause::AllToAll);
  CHECK(r0.gaps[1].cause_event == 2);
  CHECK(r0.gaps[2].cause == GapCause::None);
  CHECK(r0.gaps[2].cause_event == -1);
  CHECK(r0.gaps[3].cause == GapCause::Collective);
  CHECK(r0.wait_ns[size_t(GapCause::Pipeline)] == 100);
  CHECK(r0.wait_ns[size_t(GapCause::AllToAll)] == 150);
  CHECK(r0.wait_ns[size_t(GapCause::None)] == 100);
  CHECK(r0.wait_ns[size_t(GapCause::Collective)] == 100);
  // Tail: 1250 - 1100 = 150, waiting for rank 1.
  CHECK(r0.tail_ns == 150);
  // Phases: F 200 + 150 = 350, B 100, W 100, optimizer 100.
  CHECK(r0.forward_ns == 350);
  CHECK(r0.backward_input_ns == 100);
  CHECK(r0.backward_weight_ns == 100);
  CHECK(r0.optimizer_ns == 100);
  CHECK(r0.other_compute_ns == 0);
  // Bubble = pipeline 100 + issue 100 + tail 150 = 350; exposed = 150 + 100 = 250;
  // 650 + 350 + 250 = 1250, the step.
  CHECK(r0.bubble_ns() == 350);
  CHECK(r0.exposed_comm_ns() == 250);
  CHECK(r0.compute_ns() + r0.bubble_ns() + r0.exposed_comm_ns() == m.step_ns);
  // Communication: 100 + 150 + 150 = 400; under compute only [850,900) of the all-reduce: 50.
  CHECK(r0.comm_ns == 400);
  CHECK(r0.overlap_ns == 50);
  // No forward after the first backward (700): no steady window.
  CHECK(r0.steady_ns == 0);

  const RankMeasures& r1 = m.ranks[1];
  // [50,1200): the recv ended at 1200 -> pipeline 1150; ends at 1250 with the step, no tail.
  REQUIRE(r1.gaps.size() == 1);
  CHECK(r1.gaps[0].cause == GapCause::Pipeline);
  CHECK(r1.wait_ns[size_t(GapCause::Pipeline)] == 1150);
  CHECK(r1.tail_ns == 0);
  CHECK(r1.bubble_ns() == 1150);
  CHECK(r1.exposed_comm_ns() == 0);
  CHECK(r1.compute_ns() == 100);

  // Means over the two ranks: bubble (350 + 1150) / 2 = 750, exposed (250 + 0) / 2 = 125;
  // weighted 3:1, bubble (3·350 + 1150) / 4 = 550.
  const MeanMeasures mean = mean_measures(m.ranks);
  CHECK(mean.ranks == 2);
  CHECK(mean.bubble_ns == 750);
  CHECK(mean.exposed_comm_ns == 125);
  // Overlap share: mean overlap (50 + 0) / 2 over mean communication (400 + 1150) / 2 = 50 / 1550.
  CHECK(mean.overlap_share() == Approx(50.0 / 1550.0));
  const std::vector<double> w = {3, 1};
  CHECK(mean_measures(m.ranks, w).bubble_ns == 550);
  const auto stages = stage_measures(m.ranks);
  REQUIRE(stages.size() == 2);
  CHECK(stages[0].stage == 0);
  CHECK(stages[0].mean.exposed_comm_ns == 250);
  CHECK(stages[1].mean.bubble_ns == 1150);

  // Per op kind: gemm 200 + 150 + 100 + 100 + 50 + 50 = 650 ns in 6 kernels.
  bool found = false;
  for (const auto& k : m.kinds)
    if (k.op == "gemm") {
      found = true;
      CHECK(k.total_ns == 650);
      CHECK(k.count == 6);
      CHECK(k.ranks == 2);
    }
  CHECK(found);
}

TEST_CASE("measures: ties, overlapping compute kernels and kinds that cause nothing", "[trace][measures]") {
  Timeline tl;
  tl.metadata.source = TraceSource::Sim;
  // Compute [0,100) F and [50,150) B overlapping (two kernels at once count once: F 100, B 50);
  // a recv and an all-to-all both end at 300: the all-to-all is taken (Pipeline < AllToAll).
  add(tl, 0, 0, 0, 100, "gemm", 'F');
  add(tl, 0, 0, 50, 150, "gemm", 'B');
  add(tl, 0, 2, 200, 300, "recv");
  add(tl, 0, 1, 100, 300, "all_to_all");
  // A copy on the comm stream ends in the next gap: no communication, so that gap is an issue gap.
  add(tl, 0, 1, 350, 380, "memcpy");
  add(tl, 0, 0, 300, 320, "gemm", 'F');
  add(tl, 0, 0, 400, 450, "gemm", 'F');
  const Measures m = measure_timeline(tl);
  REQUIRE(m.ranks.size() == 1);
  const RankMeasures& r = m.ranks[0];
  CHECK(r.forward_ns == 100 + 20 + 50);
  CHECK(r.backward_input_ns == 50);
  REQUIRE(r.gaps.size() == 2);
  CHECK(r.gaps[0].start_ns == 150);
  CHECK(r.gaps[0].end_ns == 300);
  CHECK(r.gaps[0].cause == GapCause::AllToAll);
  CHECK(r.gaps[1].start_ns == 320);
  CHECK(r.gaps[1].cause == GapCause::None);
  CHECK(r.exposed_comm_ns() == 150);
  CHECK(r.bubble_ns() == 80);
  // Communication [100,300) (the recv inside it): 200 ns, under compute [100,150): 50.
  CHECK(r.comm_ns == 200);
  CHECK(r.overlap_ns == 50);
  CHECK(r.compute_ns() + r.bubble_ns() + r.exposed_comm_ns() == m.step_ns);
  // Listing order does not change the measures.
  Timeline rev;
  rev.metadata.source = TraceSource::Sim;
  for (size_t i = tl.events.size(); i-- > 0;) {
    const Event& e = tl.events[i];
    add(rev, e.pid, e.tid, e.start_ns, e.end_ns(), tl.op_of(e), e.phase);
  }
  const Measures mr = measure_timeline(rev);
  CHECK(mr.ranks[0].exposed_comm_ns() == r.exposed_comm_ns());
  CHECK(mr.ranks[0].bubble_ns() == r.bubble_ns());
  CHECK(mr.ranks[0].forward_ns + mr.ranks[0].backward_input_ns == r.forward_ns + r.backward_input_ns);
}

TEST_CASE("program timeline: payload args, identity and names survive a write and a read", "[trace][program]") {
  const tandem::ir::StepProgram program(tandem::ir::load_scenario("tiny"));
  Timeline tl;
  set_program_metadata(tl, program, TraceSource::Cpu);
  ProgramTimelineBuilder builder(tl, program, 3);
  for (int64_t rank = 0; rank < program.num_ranks(); ++rank) {
    const auto& rp = program.program_of(rank);
    std::vector<OpTiming> times(rp.ops.size());
    int64_t t = 0;
    for (size_t i = 0; i < times.size(); ++i) {
      times[i] = {t, t + 10 + int64_t(i % 7), int32_t(i % 5)};
      t += 20;
    }
    builder.add_rank(rank, times);
  }
  builder.finish();
  REQUIRE(!tl.events.empty());
  const std::string text = write_trace_string(tl);
  const Timeline back = parse_trace(text);
  std::string why;
  CHECK(same_content(tl, back, &why));
  INFO(why);

  // Every op kind carries its payload; a GEMM its m/n/k and dtypes, an all-to-all its bytes per peer.
  size_t gemms = 0, a2a = 0, recvs = 0;
  for (const Event& e : back.events) {
    CHECK(back.int_arg(e, "step") == 3);
    CHECK(e.id >= 0);
    const auto op = back.op_of(e);
    if (op == "gemm") {
      ++gemms;
      CHECK(back.int_arg(e, "m") > 0);
      CHECK(back.int_arg(e, "k") > 0);
      CHECK(back.find_arg(e, "a_dtype") != nullptr);
      CHECK(back.find_arg(e, "accumulate") != nullptr);
    } else if (op == "all_to_all") {
      ++a2a;
      const Arg* a = back.find_arg(e, "bytes_per_peer");
      REQUIRE(a != nullptr);
      CHECK(a->type == ArgType::Numbers);
      CHECK(int64_t(a->count) == back.int_arg(e, "group_size"));
    } else if (op == "recv") {
      ++recvs;
      CHECK(back.int_arg(e, "peer") >= 0);
    } else if (op == "attention") {
      CHECK(back.int_arg(e, "heads") > 0);
      CHECK(back.int_arg(e, "seq_len") > 0);
    }
  }
  CHECK(gemms > 0);
  if (program.plan().ep > 1) CHECK(a2a > 0);
  if (program.plan().pp > 1) {
    CHECK(recvs > 0);
    CHECK(!back.flows.empty());
  }
  // The measures of the trace read back equal those of the timeline written.
  const Measures a = measure_timeline(tl), b = measure_timeline(back);
  REQUIRE(a.ranks.size() == b.ranks.size());
  for (size_t i = 0; i < a.ranks.size(); ++i) {
    CHECK(a.ranks[i].bubble_ns() == b.ranks[i].bubble_ns());
    CHECK(a.ranks[i].exposed_comm_ns() == b.ranks[i].exposed_comm_ns());
    CHECK(a.ranks[i].compute_ns() == b.ranks[i].compute_ns());
  }
}

TEST_CASE("trace reader: further args of this project's events, typed, and Kineto args left out", "[trace][reader]") {
  const Timeline tl = parse_trace(R"({"traceEvents":[
    {"ph":"X","name":"g","cat":"gemm","pid":0,"tid":0,"ts":1,"dur":2,
     "args":{"op":"gemm","m":4096,"scale":1.5,"two":2.0,"fp8":true,"dtype":"bf16","rows":[1,2,3],"odd":null,"obj":{"a":1}}},
    {"ph":"X","name":"k","cat":"kernel","pid":0,"tid":7,"ts":1,"dur":2,"args":{"grid":[1,2,3],"device":0}}]})");
  REQUIRE(tl.events.size() == 2);
  const Event& g = tl.events[0];
  CHECK(tl.int_arg(g, "m") == 4096);
  REQUIRE(tl.find_arg(g, "scale") != nullptr);
  CHECK(tl.find_arg(g, "scale")->type == ArgType::Number);
  CHECK(tl.find_arg(g, "two")->type == ArgType::Number);   // "2.0" stays a Number
  CHECK(tl.find_arg(g, "fp8")->type == ArgType::Bool);
  CHECK(tl.str(uint32_t(tl.find_arg(g, "dtype")->int_value)) == "bf16");
  CHECK(tl.numbers_of(*tl.find_arg(g, "rows")).size() == 3);
  CHECK(tl.find_arg(g, "odd") == nullptr);
  CHECK(tl.find_arg(g, "obj") == nullptr);
  // A Kineto kernel keeps none of its own args, only the class the map gives it.
  REQUIRE(tl.args_of(tl.events[1]).size() == 1);
  CHECK(tl.str(tl.args_of(tl.events[1])[0].key) == "class");
  // Written back, "two" keeps its ".0".
  CHECK(write_trace_string(tl).find("\"two\":2.0") != std::string::npos);
}

TEST_CASE("measures of DeepSeek's H800 profile: DeepEP kernels are the all-to-all", "[trace][measures][kineto]") {
  // The public Kineto trace of one DualPipe chunk pair (see ../shared/data/README.md); a fresh clone
  // of the project alone does not have it.
  const char* root = std::getenv("TANDEM_SOURCE_DIR");
  const std::string path = std::string(root ? root : ".") + "/../shared/data/deepseek-h800-train-profile.json";
  if (!std::ifstream(path)) {
    WARN("skipped: " << path << " is absent");
    return;
  }
  const Timeline tl = read_trace(path);
  CHECK(tl.metadata.source == TraceSource::Kineto);
  const Measures m = measure_timeline(tl);
  // One GPU measured: the CPU process holds host work only, and the profiler's "Trace" span is an
  // annotation, not a rank's compute.
  REQUIRE(m.ranks.size() == 1);
  CHECK(m.ranks[0].pid == 0);
  int64_t comm = 0, overlap = 0, a2a_kernels = 0;
  for (const RankMeasures& r : m.ranks) {
    CHECK(r.compute_ns() + r.bubble_ns() + r.exposed_comm_ns() == m.step_ns);
    comm += r.comm_ns;
    overlap += r.overlap_ns;
  }
  for (const auto& k : m.kinds)
    if (k.op == "all_to_all") a2a_kernels = k.count;
  // DeepEP's dispatch, combine, notify and layout kernels (36 on stream 27) are communication, and
  // DualPipe hides most of them under the other chunk's compute.
  CHECK(a2a_kernels == 36);
  CHECK(comm > 0);
  CHECK(overlap > comm / 2);
}
