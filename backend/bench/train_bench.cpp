// backend_train_bench: training throughput (tokens/s) of the tiny model on the CPU backend, on one core
// and on two (the process is pinned with sched_setaffinity), for a one-rank plan, a two-rank plan
// (dp 2, ep 2: one rank per core) and the scenario's own four-rank plan. It validates before it
// times: every configuration's first loss must equal the one-rank loss bit for bit (the forward
// computes the same values whatever the layout) and every loss must be finite.
#include <cmath>
#include <sched.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backend/training/trainer.h"
#include "io/standard_output.h"

using namespace tandem;
using namespace tandem::backend;

namespace {

bool pin_to_cores(int cores) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = 0; c < cores; ++c) CPU_SET(c, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

struct Result {
  double first_loss = 0, tokens_per_s = 0;
  bool finite = true;
};

Result measure(const std::string& scenario, const std::vector<std::string>& overrides, const TokenFile& data, int steps) {
  const ir::StepProgram program(ir::load_scenario(scenario, overrides));
  TrainOptions o;
  o.steps = steps + 1;
  Trainer t(program, o, data, "corpus");
  const auto logs = t.run();
  Result r;
  r.first_loss = logs.front().stats.loss;
  double tokens = 0, seconds = 0;
  for (size_t i = 1; i < logs.size(); ++i) {   // step 1 is the warm-up
    tokens += double(logs[i].stats.tokens);
    seconds += logs[i].seconds;
    r.finite = r.finite && std::isfinite(logs[i].stats.loss);
  }
  r.tokens_per_s = tokens / seconds;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training throughput of the tiny model on the CPU backend, one and two cores"};
  std::string scenario = std::string(TANDEM_SOURCE_DIR_BENCH) + "/scenarios/tiny.json";
  std::string data_path = std::string(TANDEM_SOURCE_DIR_BENCH) + "/data/corpus/stories.tok";
  int steps = 5;
  app.add_option("--scenario", scenario, "Scenario (default: scenarios/tiny.json)");
  app.add_option("--data", data_path, "Token file (default: the bundled corpus)");
  app.add_option("--steps", steps, "Timed steps per configuration (after one warm-up step)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const TokenFile data = read_token_file(data_path);
  const std::vector<std::string> one = {"plan.pp=1", "plan.dp=1", "plan.ep=1", "cluster.gpus_per_node=1", "cluster.nics_per_node=1",
                                        "cluster.planes=1"};
  const std::vector<std::string> two = {"plan.pp=1", "plan.dp=2", "plan.ep=2", "cluster.gpus_per_node=2", "cluster.nics_per_node=2",
                                        "cluster.planes=2"};
  struct Config {
    const char* name;
    std::vector<std::string> overrides;
    int cores;
  };
  const std::vector<Config> configs = {{"1 rank  (pp1 dp1 ep1)", one, 1},       {"2 ranks (pp1 dp2 ep2)", two, 1},
                                       {"4 ranks (pp2 dp2 ep2)", {}, 1},        {"1 rank  (pp1 dp1 ep1)", one, 2},
                                       {"2 ranks (pp1 dp2 ep2)", two, 2},       {"4 ranks (pp2 dp2 ep2)", {}, 2}};
  fmt::print("{:<24} {:>5} {:>12} {:>12}\n", "plan", "cores", "tokens/s", "first loss");
  double reference = 0;
  bool ok = true;
  for (const auto& c : configs) {
    if (!pin_to_cores(c.cores)) {
      fmt::print(stderr, "cannot pin to {} cores\n", c.cores);
      return 1;
    }
    const Result r = measure(scenario, c.overrides, data, steps);
    if (reference == 0) reference = r.first_loss;
    const bool valid = r.finite && r.first_loss == reference;
    ok = ok && valid;
    fmt::print("{:<24} {:>5} {:>12.0f} {:>12.6f}{}\n", c.name, c.cores, r.tokens_per_s, r.first_loss, valid ? "" : "  INVALID");
  }
  return io::finish_standard_output(ok ? 0 : 1);   // the table reached stdout, or exit code 1
}
