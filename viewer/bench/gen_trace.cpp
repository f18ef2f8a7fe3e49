// tandem-gen-trace: writes a synthetic pipeline-parallel trace of about a chosen size (for the
// viewer benchmark; large ones belong in /tmp, never in the repository).
#include <chrono>
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "io/standard_output.h"
#include "trace/trace_writer.h"
#include "viewer/bench/synthetic.h"

int main(int argc, char** argv) {
  using namespace tandem;
  CLI::App cli{"tandem-gen-trace: synthetic 1F1B pipeline trace (PP stages x DP ranks, kernels, all-to-all, p2p flows)",
               "tandem-gen-trace"};
  std::string out;
  double target_mb = 0;
  viewer::bench::SyntheticParams p;
  cli.add_option("--out", out, "trace file to write")->required();
  cli.add_option("--target-mb", target_mb, "grow DP until the file is about this many MB (10^6 bytes)");
  cli.add_option("--pp", p.pp, "pipeline stages")->check(CLI::Range(1, 1024));
  cli.add_option("--dp", p.dp, "ranks per stage (ignored with --target-mb)")->check(CLI::Range(1, 100000));
  cli.add_option("--micro-batches", p.micro_batches, "micro-batches per step")->check(CLI::Range(1, 4096));
  cli.add_option("--layers", p.layers_per_stage, "layers per stage")->check(CLI::Range(1, 512));
  cli.add_option("--seed", p.seed, "jitter seed");
  CLI11_PARSE(cli, argc, argv);
  std::signal(SIGXFSZ, SIG_IGN);   // a file size limit fails the write (reported) instead of killing the process
  if (target_mb > 0) p = viewer::bench::params_for_bytes(p, static_cast<int64_t>(target_mb * 1e6));
  const auto t0 = std::chrono::steady_clock::now();
  const trace::Timeline tl = viewer::bench::synthetic_timeline(p);
  const auto t1 = std::chrono::steady_clock::now();
  try {
    trace::write_trace(tl, out);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  const auto t2 = std::chrono::steady_clock::now();
  std::FILE* f = std::fopen(out.c_str(), "rb");
  long size = 0;
  if (f) {
    std::fseek(f, 0, SEEK_END);
    size = std::ftell(f);
    std::fclose(f);
  }
  fmt::print("wrote {}: {:.1f} MB, {} events, {} flows, {} ranks (pp {} x dp {}), {} micro-batches, {} layers/stage; "
             "build {:.2f} s, write {:.2f} s\n",
             out, double(size) / 1e6, tl.events.size(), tl.flows.size(), p.pp * p.dp, p.pp, p.dp, p.micro_batches,
             p.layers_per_stage, std::chrono::duration<double>(t1 - t0).count(),
             std::chrono::duration<double>(t2 - t1).count());
  return io::finish_standard_output(0);   // the line reached stdout, or exit code 1
}
