// The `host` device: the machine the CPU backend runs on, as `tandem probe` measured it (cores, the
// backend's kernel rates on one core, memory and thread-to-thread copy bandwidth, hand-off latency).
// Read and written as JSON ("format": "tandem-host"); the simulator models ranks and streams as threads
// sharing the cores (docs/host.md).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "hw/gpu_catalogue.h"
#include "hw/topology.h"
#include "ir/cluster_config.h"

namespace tandem::hw {

// The cluster.gpu value that names the host device (case-insensitive).
inline constexpr std::string_view kHostDevice = "host";
bool is_host_device(std::string_view gpu);

// One core is this many share units of the host's core pool: divisible by 1..16, so the even shares
// of up to 16 threads on a core are exact.
inline constexpr int64_t kHostShareUnits = 720720;

// Largest host description file read.
inline constexpr uint64_t kMaxHostFileBytes = 1u << 20;

struct HostSpec {
  std::string machine;                 // what was measured (CPU model), for messages and reports
  int64_t cores = 0;                   // hardware threads the process may run on
  int64_t memory_bytes = 0;            // physical memory
  // One thread, the backend's CPU kernels (kernels/*_cpu):
  double gemm_flops_per_s = 0;         // FP32 GEMM (gemm_nt): FP32 and BF16 GEMM ops
  double fp8_gemm_flops_per_s = 0;     // FP8 GEMM, E4M3 emulated (fp8_gemm_nt): FP8 GEMM ops
  double attention_flops_per_s = 0;    // causal attention forward (attention_forward)
  double quantize_bytes_per_s = 0;     // FP8 quantisation (quantize_fp8), per byte the IR counts
  double memory_bytes_per_s = 0;       // one thread streaming (copy): every other compute kind, by IR bytes
  int64_t op_overhead_ns = 0;          // the executor's cost per op: launch on a stream, two events
  // The in-process communicator: a message copied from one thread to another.
  double copy_bytes_per_s = 0;
  int64_t handoff_latency_ns = 0;      // one thread waking another (a rendezvous, a receive)
  // Runnable threads of other processes when probed: they share the cores with the backend's threads
  // (the scheduler gives every runnable thread an even share), 0 on an idle machine.
  double background_threads = 0;
  // What the cores do together while all run, in one-core units (0 < x <= cores): `cores` on bare metal,
  // less where they share physical CPUs (SMT siblings; a VM's vCPUs, 1.0 for two on one CPU). The
  // simulator's pool of cores holds this much; one op's thread still runs on one core at most.
  double parallel_cores = 0;

  GpuSpec device;                      // the same numbers as a GpuSpec (cores as share units), for the simulator
};

// The GpuSpec view of a host: name "host", sms = parallel_cores x kHostShareUnits, FLOP/s = the GEMM rate of one
// core per dtype, memory = the machine's.
GpuSpec host_device_spec(const HostSpec& h);

// Throw io::InputError naming the file, the field, what was expected and what was found.
HostSpec parse_host_spec(const nlohmann::json& doc, const std::string& source);
HostSpec load_host_spec(const std::string& path);
nlohmann::ordered_json host_spec_json(const HostSpec& h);

// Where `tandem probe` writes without --out and `tandem simulate` looks without --host:
// $XDG_CONFIG_HOME/tandem/host.json, else $HOME/.config/tandem/host.json ("" when neither is set).
std::string default_host_spec_path();

// The cluster as the simulator sees a host: one node of `cluster`'s ranks, "NVLink" the in-process copy
// (copy_bytes_per_s each way, handoff latency per transfer), at full efficiency (host_network()).
ir::ClusterConfig host_cluster(const ir::ClusterConfig& cluster, const HostSpec& h);
NetworkParams host_network();

}  // namespace tandem::hw
