// Progress of a replay in words: simulated time, events and their rate, the share of ops issued and
// the wall time left at the rate so far.
#include "sim/progress.h"

#include <algorithm>

#include <fmt/format.h>

namespace tandem::sim {

namespace {
std::string amount(double n) {
  if (n >= 1e9) return fmt::format("{:.1f} G", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f} M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.1f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}
}  // namespace

double SimProgress::seconds_left() const {
  if (ops_started == 0 || wall_s <= 0) return -1;
  const uint64_t left = ops_total > ops_started ? ops_total - ops_started : 0;
  return wall_s * double(left) / double(ops_started);
}

std::string progress_text(const std::string& label, const SimProgress& p) {
  const double share = p.ops_total > 0 ? 100.0 * double(std::min(p.ops_started, p.ops_total)) / double(p.ops_total) : 0.0;
  std::string out = fmt::format("{}: {:.3f} s simulated, {} events ({}/s), {:.0f}% of {} ops", label,
                                double(p.simulated_ns) * 1e-9, amount(double(p.events)), amount(p.events_per_s()), share,
                                amount(double(p.ops_total)));
  const double left = p.seconds_left();
  if (p.finished)
    out += fmt::format(", done in {:.1f} s", p.wall_s);
  else if (left >= 0)
    out += fmt::format(", about {:.0f} s left", left);
  return out;
}

}  // namespace tandem::sim
