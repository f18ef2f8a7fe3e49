// Benchmark of the simulator: the DeepSeek-V3 pretraining step at 2048 to 131,072 H800 GPUs (PP16
// DualPipe, EP64, 120 micro-batches per pipeline), full and symmetric paths under balanced routing and
// the class path under Zipf routing (exponent 1.2): wall time of the program build and of the replay,
// peak memory (getrusage, one child process per case), events/s, and the replay's CPU time (user +
// system), which a box loaded by other work stretches less than its wall time. A case can add a straggler
// and link faults (the class path splits its classes where they set ranks apart; auto picks the path).
// Usage: sim_bench                                   the whole table
//        sim_bench GPUS full|symmetric|classes|auto [--straggler RANK:FACTOR] [--fail-link SPEC]
//                  [--degrade-link SPEC] [--zipf]   one case (--zipf: Zipf routing whatever the path)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "hw/topology.h"
#include "io/standard_output.h"
#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/report.h"
#include "sim/simulate.h"

using namespace tandem;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Case {
  int64_t gpus = 0;
  std::string mode;
  std::vector<sim::Straggler> stragglers;
  std::vector<hw::LinkFault> faults;
  bool zipf = false;
};

int run_case(const Case& c) {
  const int64_t gpus = c.gpus;
  const std::string& mode = c.mode;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t dp = gpus / 16;
  std::vector<std::string> sets = {fmt::format("cluster.nodes={}", gpus / 8),
                                   fmt::format("plan.global_batch_seqs={}", 120 * dp)};
  if (mode == "classes" || c.zipf) sets.push_back(R"(plan.routing={"kind":"zipf","zipf_exponent":1.2})");
  const ir::StepProgram program(ir::load_scenario("deepseek-v3-pretrain", sets));
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = cpu_seconds();
  const sim::StepProgramView view(program);
  sim::SimOptions options;
  options.mode = mode == "full"      ? sim::Mode::Full
                 : mode == "classes" ? sim::Mode::Classes
                 : mode == "auto"    ? sim::Mode::Auto
                                     : sim::Mode::Symmetric;
  options.stragglers = c.stragglers;
  options.link_faults = c.faults;
  const sim::SimResult r = sim::simulate(view, program.cluster(), options);
  const auto t2 = std::chrono::steady_clock::now();
  const double sim_cpu_s = cpu_seconds() - cpu1;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double build_s = std::chrono::duration<double>(t1 - t0).count();
  const double sim_s = std::chrono::duration<double>(t2 - t1).count();
  const sim::Report rep = sim::make_report(r);
  const std::string path = mode == "auto" || !c.stragglers.empty() || !c.faults.empty()
                               ? fmt::format("{}:{}", mode, sim::to_string(r.mode))
                               : mode;
  fmt::print("{:>6} {:>10} {:>9.3f} {:>9.3f} {:>9.3f} {:>10.1f} {:>13} {:>12.2e} {:>10.4f} {:>7.1f}% {:>8}\n", gpus, path,
             build_s, sim_s, sim_cpu_s, double(usage.ru_maxrss) / 1024.0, r.events, double(r.events) / sim_s,
             rep.step_time_s, 100 * rep.mfu_bf16, r.ranks.size());
  return io::finish_standard_output(0);   // the row reached stdout, or exit code 1
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 2) {
    Case c;
    c.gpus = std::atoll(args[0].c_str());
    c.mode = args[1];
    bool ok = c.gpus > 0 && (c.mode == "full" || c.mode == "symmetric" || c.mode == "classes" || c.mode == "auto");
    try {
      for (size_t i = 2; ok && i < args.size(); ++i) {
        if (args[i] == "--zipf") {
          c.zipf = true;
        } else if (i + 1 < args.size() && args[i] == "--straggler") {
          c.stragglers.push_back(sim::parse_straggler(args[++i]));
        } else if (i + 1 < args.size() && (args[i] == "--fail-link" || args[i] == "--degrade-link")) {
          c.faults.push_back(hw::parse_link_fault(args[i + 1], args[i] == "--fail-link"));
          ++i;
        } else {
          ok = false;
        }
      }
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "sim_bench: %s\n", e.what());
      return 2;
    }
    if (ok) return run_case(c);
  }
  if (argc != 1) {
    std::fprintf(stderr,
                 "usage: sim_bench [GPUS full|symmetric|classes|auto [--straggler RANK:FACTOR] [--fail-link SPEC] "
                 "[--degrade-link SPEC] [--zipf]]\n");
    return 2;
  }
  fmt::print("{:>6} {:>10} {:>9} {:>9} {:>9} {:>10} {:>13} {:>12} {:>10} {:>8} {:>8}\n", "gpus", "path", "build_s", "sim_s",
             "sim_cpu_s", "peak_MiB", "events", "events/s", "step_s", "MFU", "simulated");
  std::fflush(stdout);
  for (int64_t gpus : {2048, 16384, 65536, 131072})
    for (const char* mode : {"symmetric", "classes", "full"}) {
      // One child per case so that each peak-memory figure is its own.
      const pid_t pid = fork();
      if (pid == 0) _exit(run_case(Case{gpus, mode, {}, {}, false}));
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fmt::print("{:>6} {:>10} failed\n", gpus, mode);
    }
  return io::finish_standard_output(0);
}
