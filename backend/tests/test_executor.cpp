// The executor: every op of every rank appears in the timeline with its program identity, events
// respect dependencies and stream order, the all-to-all records the bytes it moved, schedules agree,
// and a failing op stops all ranks with its message.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <map>

#include "backend/executor.h"
#include "backend_test_util.h"
#include "ir/op.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

namespace {
std::vector<double> losses(const ir::StepProgram& p, int64_t steps, bool exact, double clip_norm = -1) {
  TrainOptions o;
  o.steps = steps;
  o.backend.exact = exact;
  if (clip_norm >= 0) o.step.clip_norm = clip_norm;
  std::vector<double> out;
  for (const auto& s : train(p, o)) out.push_back(s.stats.loss);
  return out;
}
}  // namespace

TEST_CASE("every executed op appears in the timeline with its program identity", "[executor]") {
  const auto program = tiny();
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const trace::Timeline& tl = t.timeline();
  CHECK(tl.metadata.source == trace::TraceSource::Cpu);
  std::map<std::pair<int32_t, int64_t>, const trace::Event*> by_op;
  for (const auto& e : tl.events) by_op[{e.pid, e.id}] = &e;
  size_t expected = 0;
  for (int64_t r = 0; r < program->num_ranks(); ++r) {
    const auto& rp = program->program_of(r);
    expected += rp.ops.size();
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const auto it = by_op.find({int32_t(r), int64_t(i)});
      REQUIRE(it != by_op.end());
      const trace::Event& e = *it->second;
      const auto& tmpl = rp.tmpl(rp.ops[i]);
      CHECK(tl.name_of(e) == tmpl.name());
      CHECK(e.tid == int32_t(rp.ops[i].stream));
      CHECK(e.mb == rp.ops[i].mb);
      CHECK(e.layer == tmpl.layer);
      CHECK(e.stage == int32_t(program->coord(r).pp_index));
      CHECK(e.phase == (tmpl.phase == ir::Phase::Step ? 0 : ir::phase_letter(tmpl.phase)));
      CHECK(e.dur_ns >= 0);
      CHECK(e.start_ns >= 0);
    }
  }
  CHECK(tl.events.size() == expected);
  CHECK_FALSE(tl.flows.empty());   // pipeline sends linked to their receives
}

TEST_CASE("ops start after their dependencies end and each stream runs in program order", "[executor]") {
  const auto program = tiny({"plan.schedule=zb1p"});
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const auto& tl = t.timeline();
  std::map<std::pair<int32_t, int64_t>, const trace::Event*> by_op;
  for (const auto& e : tl.events) by_op[{e.pid, e.id}] = &e;
  for (int64_t r = 0; r < program->num_ranks(); ++r) {
    const auto& deps = t.executor().dependencies(int32_t(program->coord(r).pp_index));
    const auto& order = t.executor().rank(r).analysis.order;
    std::map<int32_t, int64_t> stream_end;
    for (int32_t i : order) {
      const trace::Event& e = *by_op.at({int32_t(r), i});
      for (int32_t d : deps[size_t(i)]) CHECK(by_op.at({int32_t(r), d})->end_ns() <= e.start_ns);
      CHECK(stream_end[e.tid] <= e.start_ns);
      stream_end[e.tid] = e.end_ns();
    }
  }
}

TEST_CASE("dispatch records the bytes it moved: every token to its top-k experts in FP8 with scales", "[executor]") {
  // Per micro-batch of one sequence: 64 tokens x 2 experts x (64 FP8 codes + one 4-byte scale) = 8704 bytes.
  const auto program = tiny();
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const auto& tl = t.timeline();
  int64_t dispatch = 0, combine_total = 0;
  double combine_bytes = 0;
  for (const auto& e : tl.events) {
    if (tl.op_of(e) != "all_to_all" || e.phase != 'F') continue;
    const std::string name(tl.name_of(e));
    if (name.find("dispatch") != std::string::npos) {
      CHECK(e.bytes == 8704.0);
      ++dispatch;
    } else {
      combine_bytes += e.bytes;
      ++combine_total;
    }
  }
  // 4 ranks x 4 micro-batches x 3 MoE layers (+ MTP layer on the last stage's 2 ranks).
  CHECK(dispatch == 2 * 4 * 2 + 2 * 4 * 2);
  // Combine returns every routed row in BF16: 64 x 2 x 64 x 2 bytes per micro-batch and rank, in total.
  CHECK(combine_bytes == double(combine_total) * 64 * 2 * 64 * 2);
}

TEST_CASE("ZB1P, which defers weight-gradient ops, gives 1F1B's losses bit for bit", "[executor]") {
  const auto a = tiny(), b = tiny({"plan.schedule=zb1p"});
  CHECK(losses(*a, 2, false) == losses(*b, 2, false));
}

TEST_CASE("DualPipe and DualPipeV train the tiny model like 1F1B", "[executor]") {
  // Without the MTP module the models are the same; with it DualPipe shares the embedding with the
  // MTP module (both on one rank), so only the first forward is comparable.
  SECTION("without MTP: the same losses within FP32 reordering") {
    const auto ref = losses(*tiny({"model.mtp_depth=0"}), 2, true);
    for (const char* s : {"dualpipe", "dualpipev"}) {
      const auto got = losses(*tiny({"model.mtp_depth=0", std::string("plan.schedule=") + s}), 2, true);
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).epsilon(1e-6));
    }
  }
  SECTION("without MTP, clipping on every step: one optimizer op per rank clips by the whole gradient's norm") {
    const auto ref = losses(*tiny({"model.mtp_depth=0"}), 3, true, 0.01);
    for (const char* s : {"dualpipe", "dualpipev"}) {
      const auto program = tiny({"model.mtp_depth=0", std::string("plan.schedule=") + s});
      for (const auto& rp : program->roles())
        CHECK(std::count_if(rp.templates.begin(), rp.templates.end(),
                            [](const ir::OpTemplate& t) { return t.role == ir::OpRole::OptimizerStep; }) == 1);
      const auto got = losses(*program, 3, true, 0.01);
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).epsilon(1e-6));
    }
  }
  SECTION("with MTP: the program issues the MTP head after the layer that feeds it, nothing is deferred") {
    const auto program = tiny({"plan.schedule=dualpipe"});
    const auto ref = losses(*tiny(), 1, false);
    Executor ex(*program, {});
    int64_t deferred = 0;
    for (int64_t r = 0; r < ex.num_ranks(); ++r) deferred += ex.rank(r).analysis.deferred;
    CHECK(deferred == 0);
    CHECK(losses(*program, 1, false) == ref);
  }
}

TEST_CASE("an op that fails on one rank ends the step on every rank with its message", "[executor]") {
  const auto program = tiny();
  Executor ex(*program, {});
  std::vector<ReplicaBatch> batches(2, ReplicaBatch(4, std::vector<int32_t>(66, 1)));
  batches[1][2][5] = 100000;   // replica 1 (rank 1 = pp 0, dp 1), micro-batch 2: outside the vocabulary of 512
  CHECK_THROWS_WITH(ex.run_step(batches, StepConfig{}), Catch::Contains("rank 1 ") && Catch::Contains("embedding (mb 2)"));
  CHECK_THROWS_WITH(ex.run_step(batches, StepConfig{}), Catch::Contains("aborted by an earlier failure"));
}

TEST_CASE("plans the CPU backend cannot run are refused with the field named", "[executor]") {
  CHECK_THROWS_WITH(check_cpu_plan(*tiny({"model.score_function=softmax"})), Catch::Contains("at model.score_function"));
  CHECK_THROWS_WITH(check_cpu_plan(*tiny({"plan.precision.activation_tile=64"})), Catch::Contains("at plan.precision"));
  CHECK_NOTHROW(check_cpu_plan(*tiny()));
}
