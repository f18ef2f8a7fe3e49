// Reading a scenario's "reliability" section: every field optional, bounded, unknown keys refused.
#include "ir/reliability_config.h"

#include "ir/json_fields.h"

namespace tandem::ir {

void parse_reliability(const nlohmann::json& j, const std::string& file, ReliabilityConfig& r) {
  FieldReader f(j, "reliability", file);
  if (const nlohmann::json* rates = f.child("failures_per_gpu_hour")) {
    FieldReader fr(*rates, "reliability.failures_per_gpu_hour", file);
    FailureRates& x = r.per_gpu_hour;
    for (auto [key, value] : {std::pair{"gpu", &x.gpu}, {"hbm", &x.hbm}, {"network", &x.network}, {"host", &x.host},
                              {"software", &x.software}, {"planned", &x.planned}})
      fr.number(key, *value, 0.0, 1.0);
    fr.finish();
  }
  f.number("storage_write_bytes_per_s", r.storage_write_bytes_per_s, 1e6, 1e18);
  f.number("storage_read_bytes_per_s", r.storage_read_bytes_per_s, 1e6, 1e18);
  f.number("restart_s", r.restart_s, 0.0, 1e7);
  f.number("warmup_s", r.warmup_s, 0.0, 1e7);
  f.number("checkpoint_interval_s", r.checkpoint_interval_s, 0.0, 1e9);
  f.number("train_tokens", r.train_tokens, 0.0, 1e18);
  f.finish();
}

}  // namespace tandem::ir
