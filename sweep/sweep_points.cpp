// Expanding a sweep definition into its points (sweep_points.h).
#include "sweep/sweep_points.h"

#include <map>

namespace tandem::sweep {

using nlohmann::json;

json SweepPoint::describe() const {
  return {{"point", index}, {"axes", axes}, {"overrides", overrides}, {"sim", sim}, {"derived", derived}};
}

BaseShape BaseShape::of(const ir::Scenario& s) {
  BaseShape b;
  b.nodes = s.cluster.nodes;
  b.gpus_per_node = s.cluster.gpus_per_node;
  b.pp = s.plan.pp;
  b.tp = s.plan.tp;
  b.micro_batch_seqs = s.plan.micro_batch_seqs;
  b.global_batch_seqs = s.plan.global_batch_seqs;
  return b;
}

int64_t nearest_multiple(int64_t target, int64_t step) {
  if (step <= 0) return target;
  const int64_t below = (target / step) * step, above = below + step;
  const int64_t pick = (target - below <= above - target) ? below : above;
  return pick < step ? step : pick;
}

namespace {

// The value a point gives `path` (its last setting), as an integer, or `fallback`.
int64_t integer_setting(const std::map<std::string, json>& settings, const std::string& path, int64_t fallback,
                        bool& valid) {
  const auto it = settings.find(path);
  if (it == settings.end()) return fallback;
  if (!it->second.is_number_integer() || it->second.get<int64_t>() < 1) {
    valid = false;
    return fallback;
  }
  return it->second.get<int64_t>();
}

void apply_derived(const SweepDefinition& d, const BaseShape& base, const std::map<std::string, json>& settings,
                   SweepPoint& p) {
  bool valid = true;
  const int64_t nodes = integer_setting(settings, "cluster.nodes", base.nodes, valid);
  const int64_t per_node = integer_setting(settings, "cluster.gpus_per_node", base.gpus_per_node, valid);
  const int64_t pp = integer_setting(settings, "plan.pp", base.pp, valid);
  const int64_t tp = integer_setting(settings, "plan.tp", base.tp, valid);
  const int64_t mbs = integer_setting(settings, "plan.micro_batch_seqs", base.micro_batch_seqs, valid);
  const int64_t gpus = nodes * per_node, base_gpus = base.nodes * base.gpus_per_node;
  if (!valid || gpus % (pp * tp) != 0) return;   // the scenario reader says why
  const int64_t dp = integer_setting(settings, "plan.dp", gpus / (pp * tp), valid);
  for (DerivedRule r : d.derived) {
    const std::string path = "plan.global_batch_seqs";
    if (settings.count(path)) continue;   // set by the point itself: kept
    const double scaled = r == DerivedRule::ScaleGlobalBatch
                              ? double(base.global_batch_seqs) * double(gpus) / double(base_gpus)
                              : double(base.global_batch_seqs);
    const int64_t value = nearest_multiple(int64_t(scaled + 0.5), dp * mbs);
    p.derived[path] = value;
    p.overrides.push_back(path + "=" + json(value).dump());
  }
}

}  // namespace

std::vector<SweepPoint> expand_points(const SweepDefinition& d, const BaseShape& base) {
  // Dimensions: each grid axis, then the zip axes as one.
  std::vector<size_t> sizes;
  for (const SweepAxis& a : d.grid) sizes.push_back(a.values.size());
  if (!d.zip.empty()) sizes.push_back(d.zip.front().values.size());
  size_t total = 1;
  for (size_t s : sizes) total *= s;

  std::vector<SweepPoint> points;
  points.reserve(total);
  std::vector<size_t> at(sizes.size(), 0);
  for (size_t index = 0; index < total; ++index) {
    // Mixed-radix digits of the index, the last dimension fastest.
    size_t rest = index;
    for (size_t k = sizes.size(); k-- > 0;) {
      at[k] = rest % sizes[k];
      rest /= sizes[k];
    }
    SweepPoint p;
    p.index = int64_t(index);
    p.axes = json::object();
    p.sim = json::object();
    p.derived = json::object();
    std::vector<std::pair<std::string, json>> settings = d.fixed;
    for (size_t g = 0; g < d.grid.size(); ++g) {
      p.axes[d.grid[g].path] = d.grid[g].values[at[g]];
      settings.emplace_back(d.grid[g].path, d.grid[g].values[at[g]]);
    }
    for (const SweepAxis& z : d.zip) {
      p.axes[z.path] = z.values[at.back()];
      settings.emplace_back(z.path, z.values[at.back()]);
    }
    for (const PointOverride& o : d.overrides) {
      bool match = true;
      for (const auto& [path, value] : o.when) match = match && p.axes.contains(path) && p.axes[path] == value;
      if (match) settings.insert(settings.end(), o.set.begin(), o.set.end());
    }
    std::map<std::string, json> last;
    for (const auto& [path, value] : settings) {
      last[path] = value;
      if (is_sim_path(path)) p.sim[path] = value;
      else p.overrides.push_back(path + "=" + value.dump());
    }
    apply_derived(d, base, last, p);
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace tandem::sweep
