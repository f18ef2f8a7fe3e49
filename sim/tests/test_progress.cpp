// The progress of a replay in words (sim/progress.h), and a replay bounded by a deadline: hand-made
// figures, and the tiny scenario's replay reporting its start and end and stopping at a past deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/progress.h"
#include "sim/simulate.h"

using namespace tandem;

TEST_CASE("progress says simulated time, events and their rate, the share of ops and the time left") {
  // 12.3 M events in 3 s: 4.1 M/s; 41% of the ops in 3 s leaves 59 / 41 x 3 = 4.3 s.
  sim::SimProgress p{1'234'000'000, 12'300'000, 41, 100, 3.0, false};
  CHECK(sim::progress_text("simulate", p) ==
        "simulate: 1.234 s simulated, 12.3 M events (4.1 M/s), 41% of 100 ops, about 4 s left");
  p.finished = true;
  p.ops_started = 100;
  CHECK(sim::progress_text("simulate", p) == "simulate: 1.234 s simulated, 12.3 M events (4.1 M/s), 100% of 100 ops, done in 3.0 s");
  // Before any op has started there is no rate to extrapolate.
  const sim::SimProgress start{0, 0, 0, 99'100'000, 0.0, false};
  CHECK(start.seconds_left() < 0);
  CHECK(sim::progress_text("x", start) == "x: 0.000 s simulated, 0 events (0/s), 0% of 99.1 M ops");
}

TEST_CASE("a replay reports its progress from start to end and stops at a past deadline") {
  const ir::StepProgram program(ir::load_scenario("tiny"));
  const sim::StepProgramView view(program);
  sim::SimOptions options;
  options.mode = sim::Mode::Full;
  std::vector<sim::SimProgress> seen;
  options.progress = [&seen](const sim::SimProgress& p) { seen.push_back(p); };
  const sim::SimResult r = sim::simulate(view, program.cluster(), options);
  REQUIRE(seen.size() >= 2);
  CHECK(seen.front().events == 0);
  CHECK(seen.front().ops_started == 0);
  CHECK(seen.back().finished);
  CHECK(seen.back().events == r.events);
  CHECK(seen.back().simulated_ns >= r.step_ns);   // the clock ends at the last event, a stale one included
  CHECK(seen.back().ops_started == seen.back().ops_total);

  options.progress = nullptr;
  options.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  CHECK_THROWS_AS(sim::simulate(view, program.cluster(), options), sim::TimeLimitReached);
}
