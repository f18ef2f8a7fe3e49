// The goodput model (see goodput.h and docs/goodput.md): steady-state accounting per unit of wall time.
#include "sim/goodput.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "ir/memory.h"

namespace tandem::sim {

Goodput goodput(const GoodputInputs& in) {
  const ir::ReliabilityConfig& r = in.reliability;
  Goodput g;
  const double n = double(in.gpus);
  const double unexpected = n * r.per_gpu_hour.unexpected() / 3600.0;   // per second of wall time
  const double planned = n * r.per_gpu_hour.planned / 3600.0;
  g.unexpected_per_day = unexpected * 86400.0;
  g.planned_per_day = planned * 86400.0;
  g.interruptions_per_day = g.unexpected_per_day + g.planned_per_day;
  g.mean_time_between_interruptions_s = unexpected + planned > 0 ? 1.0 / (unexpected + planned) : 0.0;
  // Every rank writes its share at once through the shared store: the largest share sets the time.
  g.checkpoint_bytes = n * in.checkpoint_bytes_per_rank;
  g.checkpoint_write_s = g.checkpoint_bytes / r.storage_write_bytes_per_s;
  g.checkpoint_load_s = g.checkpoint_bytes / r.storage_read_bytes_per_s;
  const double delta = g.checkpoint_write_s;
  g.interval_given = r.checkpoint_interval_s > 0;
  if (g.interval_given)
    g.checkpoint_interval_s = r.checkpoint_interval_s;
  else if (unexpected > 0)
    g.checkpoint_interval_s = std::sqrt(2.0 * delta / unexpected);   // Young (1974): sqrt(2 delta MTBF)
  const double tau = g.checkpoint_interval_s;
  g.downtime_per_interruption_s = r.restart_s + g.checkpoint_load_s + r.warmup_s;
  // A failure falls anywhere in a period of tau training + delta writing: half of it is lost on average.
  g.lost_work_s = tau > 0 ? (tau + delta) / 2.0 : 0.0;
  // Per second of wall time: unexpected interruptions cost downtime and lost work, planned ones downtime
  // and a checkpoint taken before stopping; of the rest, tau / (tau + delta) trains.
  const double downtime = (unexpected + planned) * g.downtime_per_interruption_s;
  const double lost = unexpected * g.lost_work_s + planned * delta;
  const double running = std::max(0.0, 1.0 - downtime - lost);
  const double write_share = tau > 0 ? delta / (tau + delta) : 0.0;
  g.effective_fraction = running * (1.0 - write_share);
  g.checkpoint_fraction = running * write_share;
  g.downtime_fraction = std::min(1.0, downtime);
  g.lost_work_fraction = std::min(1.0 - g.downtime_fraction, lost);
  if (in.step_s > 0) g.tokens_per_day = in.tokens_per_step / in.step_s * 86400.0 * g.effective_fraction;
  g.train_tokens = r.train_tokens;
  if (g.train_tokens > 0 && g.tokens_per_day > 0) g.days_to_train = g.train_tokens / g.tokens_per_day;
  return g;
}

GoodputInputs goodput_inputs(const ir::StepProgram& program, double step_s, double tokens_per_step) {
  GoodputInputs in;
  in.gpus = program.num_ranks();
  in.step_s = step_s;
  in.tokens_per_step = tokens_per_step;
  in.reliability = program.scenario().reliability;
  const auto& p = program.plan();
  for (const ir::RankMemory& m : ir::rank_memory(program)) {
    const double share = double(m.optimizer_bytes) / double(p.zero_stage == 0 ? p.dp : 1);
    in.checkpoint_bytes_per_rank = std::max(in.checkpoint_bytes_per_rank, share);
  }
  return in;
}

nlohmann::json to_json(const Goodput& g) {
  return {{"effective_fraction", g.effective_fraction},
          {"tokens_per_day", g.tokens_per_day},
          {"interruptions_per_day", g.interruptions_per_day},
          {"unexpected_per_day", g.unexpected_per_day},
          {"planned_per_day", g.planned_per_day},
          {"mean_time_between_interruptions_s", g.mean_time_between_interruptions_s},
          {"checkpoint_interval_s", g.checkpoint_interval_s},
          {"checkpoint_interval", g.interval_given ? "given" : "young"},
          {"checkpoint_bytes", g.checkpoint_bytes},
          {"checkpoint_write_s", g.checkpoint_write_s},
          {"checkpoint_load_s", g.checkpoint_load_s},
          {"lost_work_per_interruption_s", g.lost_work_s},
          {"downtime_per_interruption_s", g.downtime_per_interruption_s},
          {"time_shares", {{"effective", g.effective_fraction}, {"checkpoint", g.checkpoint_fraction},
                           {"lost_work", g.lost_work_fraction}, {"downtime", g.downtime_fraction}}},
          {"train_tokens", g.train_tokens},
          {"days_to_train", g.days_to_train}};
}

std::string to_table(const Goodput& g) {
  std::string s;
  auto line = [&](const std::string& key, const std::string& value) { s += fmt::format("{:<32} {}\n", key, value); };
  auto pct = [](double v) { return fmt::format("{:.1f}%", 100.0 * v); };
  line("goodput", fmt::format("{} of wall time trains  (checkpoints {}, lost work {}, restarts {})", pct(g.effective_fraction),
                              pct(g.checkpoint_fraction), pct(g.lost_work_fraction), pct(g.downtime_fraction)));
  line("interruptions per day", fmt::format("{:.2f}  ({:.2f} unexpected, {:.2f} planned; one every {:.2f} h)",
                                            g.interruptions_per_day, g.unexpected_per_day, g.planned_per_day,
                                            g.mean_time_between_interruptions_s / 3600.0));
  line("checkpoint", fmt::format("{:.2f} TB, write {:.1f} s, load {:.1f} s, every {:.0f} s of training ({})",
                                 g.checkpoint_bytes * 1e-12, g.checkpoint_write_s, g.checkpoint_load_s,
                                 g.checkpoint_interval_s, g.interval_given ? "given" : "Young/Daly"));
  line("per unexpected interruption", fmt::format("{:.0f} s down (restart, load, warm-up) + {:.0f} s of work lost",
                                                  g.downtime_per_interruption_s, g.lost_work_s));
  line("tokens per day", fmt::format("{:.4g}", g.tokens_per_day));
  if (g.days_to_train > 0) line("days to train", fmt::format("{:.1f}  ({:.4g} tokens)", g.days_to_train, g.train_tokens));
  return s;
}

}  // namespace tandem::sim
