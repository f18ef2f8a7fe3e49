// `tandem probe [--out FILE]`: measures this machine once with the CPU backend's own kernels, stream
// and communicator, and writes the host description that `tandem simulate --set cluster=host` reads
// (hw/host_spec.h; default place: $HOME/.config/tandem/host.json). docs/host.md says what each number is.
#if defined(TANDEM_HW) && defined(TANDEM_BACKEND)
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "app/command_registry.h"
#include "app/output_check.h"
#include "backend/runtime/host_probe.h"
#include "hw/host_spec.h"
#include "io/output_file.h"

namespace tandem::app {
namespace {

struct ProbeOptions {
  std::string out;
};

hw::HostSpec spec_of(const backend::HostProbe& p) {
  hw::HostSpec h;
  h.machine = p.machine;
  h.cores = p.cores;
  h.memory_bytes = p.memory_bytes;
  h.gemm_flops_per_s = p.gemm_flops_per_s;
  h.fp8_gemm_flops_per_s = p.fp8_gemm_flops_per_s;
  h.attention_flops_per_s = p.attention_flops_per_s;
  h.quantize_bytes_per_s = p.quantize_bytes_per_s;
  h.memory_bytes_per_s = p.memory_bytes_per_s;
  h.op_overhead_ns = p.op_overhead_ns;
  h.copy_bytes_per_s = p.copy_bytes_per_s;
  h.handoff_latency_ns = p.handoff_latency_ns;
  h.background_threads = p.background_threads;
  h.parallel_cores = p.parallel_cores;
  h.device = hw::host_device_spec(h);
  return h;
}

void run_probe(const ProbeOptions& o) {
  std::string out = o.out;
  if (out.empty()) {
    out = hw::default_host_spec_path();
    if (out.empty())
      throw CommandExit{kExitBadInput, "error: --out: expected a file (neither $XDG_CONFIG_HOME nor $HOME is set for the "
                                       "default place), found nothing"};
    ensure_output_dir(std::filesystem::path(out).parent_path().string(), "--out");
  }
  check_output_file(out, "--out");
  const hw::HostSpec h = spec_of(backend::probe_host());
  // What was written must read back: a rate of 0 (a timer that did not move) is refused here, not later.
  const hw::HostSpec checked = hw::parse_host_spec(hw::host_spec_json(h), "the probe's own measurement");
  io::write_output_file(out, hw::host_spec_json(checked).dump(2) + "\n");
  fmt::print("{:<26} {}\n", "machine", h.machine);
  fmt::print("{:<26} {}\n", "cores", h.cores);
  fmt::print("{:<26} {:.2f} GiB\n", "memory", double(h.memory_bytes) / double(1 << 30));
  fmt::print("{:<26} {:.2f} GFLOP/s per core\n", "FP32 GEMM", h.gemm_flops_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} GFLOP/s per core\n", "FP8 GEMM (emulated)", h.fp8_gemm_flops_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} GFLOP/s per core\n", "attention", h.attention_flops_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} GB/s per core\n", "FP8 quantisation", h.quantize_bytes_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} GB/s per core\n", "memory-bound kernels", h.memory_bytes_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} us\n", "per-op overhead", double(h.op_overhead_ns) * 1e-3);
  fmt::print("{:<26} {:.2f} GB/s\n", "thread-to-thread copy", h.copy_bytes_per_s * 1e-9);
  fmt::print("{:<26} {:.2f} us\n", "thread hand-off latency", double(h.handoff_latency_ns) * 1e-3);
  fmt::print("{:<26} {:.2f} runnable threads\n", "other processes' load", h.background_threads);
  fmt::print("{:<26} {:.2f} cores' worth of work\n", "all cores together", h.parallel_cores);
  fmt::print("{:<26} {}\n", "written to", out);
}

const RegisterCommand reg(55, "probe", [](CLI::App& root) {
  auto o = std::make_shared<ProbeOptions>();
  CLI::App* cmd = root.add_subcommand(
      "probe", "Measure this machine (cores, kernel rates, memory and copy bandwidth, latency) for --set cluster=host");
  cmd->add_option("--out", o->out, "Where to write the host description (default: $HOME/.config/tandem/host.json)");
  cmd->callback([o] { run_probe(*o); });
});

}  // namespace
}  // namespace tandem::app
#endif  // TANDEM_HW && TANDEM_BACKEND
