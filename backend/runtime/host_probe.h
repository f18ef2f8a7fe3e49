// Measures the machine the CPU backend runs on, once, with the backend's own parts: its CPU kernels on
// one thread (FP32 and emulated-FP8 GEMM, attention, FP8 quantisation, RMSNorm), a CpuDevice stream
// (the executor's per-op cost) and the in-process communicator (copy bandwidth, hand-off latency).
// `tandem probe` writes the result as the host description (hw/host_spec.h, docs/host.md).
#pragma once
#include <cstdint>
#include <string>

namespace tandem::backend {

struct HostProbe {
  std::string machine;                 // CPU model name (/proc/cpuinfo), or "unknown"
  int64_t cores = 0;                   // CPUs this process may run on (its affinity mask)
  int64_t memory_bytes = 0;            // physical memory
  double gemm_flops_per_s = 0;         // gemm_nt, FP32, one thread: IR FLOPs / s
  double fp8_gemm_flops_per_s = 0;     // fp8_gemm_nt (E4M3 emulated), one thread
  double attention_flops_per_s = 0;    // attention_forward, one thread, IR FLOPs (causal work) / s
  double quantize_bytes_per_s = 0;     // quantize_fp8, IR bytes / s
  double memory_bytes_per_s = 0;       // rmsnorm_forward, IR bytes / s (the memory-bound kinds)
  int64_t op_overhead_ns = 0;          // per op on a CpuDevice stream: record, launch, record
  double copy_bytes_per_s = 0;         // InProcessCommunicator send + recv of 1 MiB between two threads
  int64_t handoff_latency_ns = 0;      // half a round trip of an empty message between two threads
  double background_threads = 0;       // other processes' runnable threads: one spinning thread per core
                                       // gets cores / (cores + background) of its wall time
  double parallel_cores = 0;           // what the cores do together, in one-core units: a spinning thread
                                       // per core, its work per second of its own CPU time against one
                                       // thread's alone, summed (cores on bare metal; less where the cores
                                       // share a physical one: SMT siblings, a VM's vCPUs on fewer CPUs)
};

// Takes about a second. Each rate is the best of several repetitions (the machine's capability, not
// its load at the moment).
HostProbe probe_host();

}  // namespace tandem::backend
