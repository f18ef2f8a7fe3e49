// The executor's timeline and a simulated one come from the same builder (trace/program_timeline.h):
// for the tiny scenario, every op of `tandem train --trace` carries the identity, names and payload
// args the builder gives it from any times, so the two sides line up op for op.
#include <catch2/catch.hpp>

#include <map>
#include <tuple>
#include <vector>
#include <string>

#include "backend_test_util.h"
#include "trace/program_timeline.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

TEST_CASE("the executor's timeline has the simulator's identity, names and payload args", "[executor][timeline]") {
  const auto program = tiny();
  TrainOptions o;
  o.steps = 2;
  o.trace_steps = 2;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const trace::Timeline& run = t.timeline();

  // The same program with made-up times, as the simulator's sink builds it.
  trace::Timeline sim;
  trace::set_program_metadata(sim, *program, trace::TraceSource::Sim);
  trace::ProgramTimelineBuilder builder(sim, *program, 1);
  for (int64_t r = 0; r < program->num_ranks(); ++r) {
    std::vector<trace::OpTiming> times(program->program_of(r).ops.size());
    for (size_t i = 0; i < times.size(); ++i) times[i] = {int64_t(i) * 10, int64_t(i) * 10 + 5, 1};
    builder.add_rank(r, times);
  }
  builder.finish();

  CHECK(run.metadata.scenario == sim.metadata.scenario);
  CHECK(run.metadata.extra.at("gpus") == sim.metadata.extra.at("gpus"));
  CHECK(run.process_names == sim.process_names);
  CHECK(run.thread_names == sim.thread_names);
  CHECK(run.flows.size() == 2 * sim.flows.size());   // two steps

  std::map<std::tuple<int32_t, int64_t>, const trace::Event*> by_op;
  for (const auto& e : sim.events) by_op[{e.pid, e.id}] = &e;
  size_t step1 = 0, step2 = 0;
  for (const auto& e : run.events) {
    const int64_t step = run.int_arg(e, "step");
    (step == 1 ? step1 : step2) += 1;
    const auto it = by_op.find({e.pid, e.id});
    REQUIRE(it != by_op.end());
    const trace::Event& s = *it->second;
    INFO("rank " << e.pid << " op " << e.id << " " << run.name_of(e));
    CHECK(run.name_of(e) == sim.name_of(s));
    CHECK(run.op_of(e) == sim.op_of(s));
    CHECK(e.tid == s.tid);
    CHECK(e.stage == s.stage);
    CHECK(e.layer == s.layer);
    CHECK(e.mb == s.mb);
    CHECK(e.phase == s.phase);
    // Every arg but the step has the same name, type and value (payloads are the program's).
    const auto a = run.args_of(e), b = sim.args_of(s);
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      CHECK(run.str(a[k].key) == sim.str(b[k].key));
      CHECK(a[k].type == b[k].type);
      if (run.str(a[k].key) == "step") continue;
      switch (a[k].type) {
        case trace::ArgType::Int:
        case trace::ArgType::Bool: CHECK(a[k].int_value == b[k].int_value); break;
        case trace::ArgType::Number: CHECK(a[k].number == b[k].number); break;
        case trace::ArgType::Text: CHECK(run.str(uint32_t(a[k].int_value)) == sim.str(uint32_t(b[k].int_value))); break;
        case trace::ArgType::Numbers: {
          const auto x = run.numbers_of(a[k]), y = sim.numbers_of(b[k]);
          CHECK(std::vector<double>(x.begin(), x.end()) == std::vector<double>(y.begin(), y.end()));
          break;
        }
      }
    }
  }
  CHECK(step1 == sim.events.size());
  CHECK(step2 == sim.events.size());
}
