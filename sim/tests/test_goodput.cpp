// The goodput model on hand-computed cases: known rates, checkpoint sizes and times give a known
// effective fraction, interval (Young) and days to train; the Llama 3 setting lands near its >90%.
#include <cmath>

#include <catch2/catch.hpp>

#include "ir/scenario.h"
#include "sim/goodput.h"

using namespace tandem;

namespace {

// 1000 GPUs, 1e-4 unexpected interruptions per GPU-hour (one every 36,000 s), none planned;
// 1 GB per rank written at 100 GB/s (10 s) and read at 200 GB/s (5 s); restart 300 s, warm-up 195 s.
sim::GoodputInputs hand_case() {
  sim::GoodputInputs in;
  in.gpus = 1000;
  in.step_s = 2.0;
  in.tokens_per_step = 1e6;
  in.checkpoint_bytes_per_rank = 1e9;
  ir::ReliabilityConfig& r = in.reliability;
  r.per_gpu_hour = ir::FailureRates{1e-4, 0, 0, 0, 0, 0};
  r.storage_write_bytes_per_s = 1e11;
  r.storage_read_bytes_per_s = 2e11;
  r.restart_s = 300;
  r.warmup_s = 195;
  return in;
}

}  // namespace

TEST_CASE("goodput of a given checkpoint interval, by hand", "[sim][goodput]") {
  sim::GoodputInputs in = hand_case();
  in.reliability.checkpoint_interval_s = 990;
  in.reliability.train_tokens = 4.158e11;
  const sim::Goodput g = sim::goodput(in);
  CHECK(g.interruptions_per_day == Approx(2.4));        // 86400 / 36000
  CHECK(g.checkpoint_write_s == Approx(10.0));          // 1000 x 1 GB / 100 GB/s
  CHECK(g.checkpoint_load_s == Approx(5.0));
  CHECK(g.downtime_per_interruption_s == Approx(500));  // 300 + 5 + 195
  CHECK(g.lost_work_s == Approx(500));                  // (990 + 10) / 2
  // Down and lost: (500 + 500) / 36000 of wall time; of the rest, 990 / (990 + 10) trains.
  CHECK(g.effective_fraction == Approx(35.0 / 36.0 * 0.99));   // 0.9625
  CHECK(g.effective_fraction + g.checkpoint_fraction + g.lost_work_fraction + g.downtime_fraction == Approx(1.0));
  CHECK(g.tokens_per_day == Approx(5e5 * 86400 * 0.9625));     // 4.158e10
  CHECK(g.days_to_train == Approx(10.0));
}

TEST_CASE("the Young/Daly interval and the limits of the model", "[sim][goodput]") {
  const sim::Goodput young = sim::goodput(hand_case());
  CHECK_FALSE(young.interval_given);
  CHECK(young.checkpoint_interval_s == Approx(std::sqrt(2.0 * 10.0 * 36000.0)));   // 848.5 s
  // Young's interval is the optimum of the first-order model: longer or shorter intervals do worse.
  for (double factor : {0.5, 2.0}) {
    sim::GoodputInputs in = hand_case();
    in.reliability.checkpoint_interval_s = young.checkpoint_interval_s * factor;
    CHECK(sim::goodput(in).effective_fraction < young.effective_fraction);
  }
  // No failures: no checkpoints needed, everything trains.
  sim::GoodputInputs none = hand_case();
  none.reliability.per_gpu_hour = ir::FailureRates{0, 0, 0, 0, 0, 0};
  CHECK(sim::goodput(none).effective_fraction == 1.0);
  // Interruptions faster than restarts: nothing trains, and the fraction does not go negative.
  sim::GoodputInputs storm = hand_case();
  storm.reliability.per_gpu_hour.gpu = 1.0;
  CHECK(sim::goodput(storm).effective_fraction == 0.0);
  CHECK(sim::goodput(storm).days_to_train == 0.0);
}

TEST_CASE("the Llama 3 rates on 16,384 GPUs give its interruptions and about 90% effective time", "[sim][goodput]") {
  sim::GoodputInputs in;
  in.gpus = 16384;
  in.step_s = 1;
  in.tokens_per_step = 1;
  // Llama 3 405B: 405e9 parameters x (FP32 master + two FP32 moments) = 4.86 TB over 16,384 GPUs.
  in.checkpoint_bytes_per_rank = 405e9 * 12 / 16384;
  const sim::Goodput g = sim::goodput(in);
  CHECK(g.interruptions_per_day * 54 == Approx(466));   // the snapshot's count, by construction
  CHECK(g.unexpected_per_day * 54 == Approx(419));
  CHECK(g.effective_fraction > 0.85);
  CHECK(g.effective_fraction < 0.95);
}

TEST_CASE("the reliability section is read from the scenario and refused by its path", "[sim][goodput]") {
  const ir::Scenario s = ir::load_scenario("tiny", {"reliability.restart_s=60", "reliability.failures_per_gpu_hour.hbm=0"});
  CHECK(s.reliability.restart_s == 60);
  CHECK(s.reliability.per_gpu_hour.hbm == 0);
  CHECK(s.reliability.per_gpu_hour.gpu == Approx(196 / ir::kLlama3GpuHours));
  auto path_of = [](const std::string& set) {
    try {
      ir::load_scenario("tiny", {set});
    } catch (const ir::ScenarioError& e) {
      return e.path();
    }
    return std::string("(accepted)");
  };
  CHECK(path_of("reliability.restart_s=-1") == "reliability.restart_s");
  CHECK(path_of("reliability.restrat_s=1") == "reliability.restrat_s");
  CHECK(path_of("reliability.failures_per_gpu_hour.gpu=2") == "reliability.failures_per_gpu_hour.gpu");
  CHECK(path_of("reliability.failures_per_gpu_hour=3") == "reliability.failures_per_gpu_hour");
  CHECK(path_of("reliability.storage_write_bytes_per_s=0") == "reliability.storage_write_bytes_per_s");
  CHECK(path_of("reliability=1") == "reliability");
}
