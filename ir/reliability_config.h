// ReliabilityConfig: the "reliability" section of a scenario — interruptions per GPU-hour by cause,
// checkpoint storage bandwidth, restart and re-warm-up times, the checkpoint interval and the token
// budget — which sim/goodput turns into an effective training-time fraction. Defaults and sources:
// docs/goodput.md.
#pragma once

#include <nlohmann/json.hpp>

namespace tandem::ir {

// Llama 3's 54-day snapshot of 405B pre-training on 16,384 H100 (The Llama 3 Herd of Models, 2024,
// section 3.3.4 and Table 5): 466 interruptions, 47 planned and 419 unexpected, over
// 16,384 x 54 x 24 = 21,233,664 GPU-hours. Table 5's causes grouped by component:
//   gpu      196 = faulty GPU 148 + GPU SRAM 19 + GPU system processor 17 + thermal interface/sensor 6
//                  + silent data corruption 6
//   hbm       72 = GPU HBM3 memory
//   network   49 = network switch/cable 35 + NIC 7 + NCCL watchdog timeouts 7
//   host      46 = host maintenance 32 + SSD 3 + power supply 3 + chassis 2 + IO expansion board 2 + CPU 2
//                  + system memory 2
//   software  56 = software bug 54 + dependency 2
inline constexpr double kLlama3GpuHours = 16384.0 * 54.0 * 24.0;

// Interruptions per GPU-hour by cause. Every one stops the synchronous job; unexpected ones lose the
// work since the last checkpoint, planned ones (maintenance) are preceded by a checkpoint.
struct FailureRates {
  double gpu = 196 / kLlama3GpuHours;
  double hbm = 72 / kLlama3GpuHours;
  double network = 49 / kLlama3GpuHours;
  double host = 46 / kLlama3GpuHours;
  double software = 56 / kLlama3GpuHours;
  double planned = 47 / kLlama3GpuHours;
  double unexpected() const { return gpu + hbm + network + host + software; }
};

struct ReliabilityConfig {
  FailureRates per_gpu_hour;
  // Aggregate storage bandwidth of the checkpoint store: Llama 3 section 3.1 (Tectonic: 2 TB/s
  // sustained, 7 TB/s peak) for writes; reads at the same sustained rate (assumption).
  double storage_write_bytes_per_s = 2e12;
  double storage_read_bytes_per_s = 2e12;
  double restart_s = 600;      // detection, rescheduling, process start and communicator set-up (assumption)
  double warmup_s = 120;       // first steps after a restart at reduced speed, in full-speed seconds (assumption)
  double checkpoint_interval_s = 0;   // training time between checkpoints; 0: Young/Daly optimum
  double train_tokens = 0;            // the run's token budget (0: none given)
};

// Reads `j` (the scenario's "reliability" object) onto `r`; ScenarioError naming `file` and the path
// ("reliability.restart_s") on a bad field.
void parse_reliability(const nlohmann::json& j, const std::string& file, ReliabilityConfig& r);

}  // namespace tandem::ir
