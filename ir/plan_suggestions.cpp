// nearby_plans: one field at a time, the nearest values that pass check_plan_rules, searched outwards
// from the plan's own (bounded searches: a message must come back at once).
#include "ir/plan_suggestions.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "ir/schedule.h"

namespace tandem::ir {

namespace {

bool passes(const Scenario& s) {
  try {
    check_plan_rules(s);
    return true;
  } catch (const ScenarioError&) {
    return false;
  }
}

// Candidates tried on each side of a value before giving up.
constexpr int64_t kSearchSteps = 4096;

// The global batch: multiples of dp × micro_batch_seqs, nearest first on each side.
std::string global_batch(Scenario& s) {
  const int64_t own = s.plan.global_batch_seqs, unit = s.plan.dp * s.plan.micro_batch_seqs;
  int64_t below = -1, above = -1;
  for (int64_t m = own / unit, steps = 0; m >= 1 && steps < kSearchSteps; --m, ++steps) {
    if (m * unit == own) continue;
    s.plan.global_batch_seqs = m * unit;
    if (passes(s)) {
      below = m;
      break;
    }
  }
  for (int64_t m = own / unit + 1, steps = 0; m <= kMaxMicroBatches && steps < kSearchSteps; ++m, ++steps) {
    s.plan.global_batch_seqs = m * unit;
    if (passes(s)) {
      above = m;
      break;
    }
  }
  s.plan.global_batch_seqs = own;
  int64_t pick = above;
  if (below > 0 && (above < 0 || own - below * unit < above * unit - own)) pick = below;
  if (pick < 0) return "";
  return fmt::format("global_batch_seqs = {} ({} micro-batches)", pick * unit, pick);
}

// A field over candidate values (ascending), nearest to `own` first, ties to the smaller.
template <typename Apply>
int64_t nearest_passing(Scenario& s, int64_t own, std::vector<int64_t> candidates, Apply&& apply) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [own](int64_t a, int64_t b) { return std::llabs(a - own) < std::llabs(b - own); });
  for (int64_t v : candidates) {
    if (v == own) continue;
    if (apply(v) && passes(s)) return v;
  }
  return -1;
}

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d * d <= n; ++d)
    if (n % d == 0) {
      out.push_back(d);
      if (d != n / d) out.push_back(n / d);
    }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string nearby_plans(const Scenario& scenario) {
  Scenario s = scenario;
  const ParallelPlan own = scenario.plan;
  std::vector<std::string> found;
  if (std::string g = global_batch(s); !g.empty()) found.push_back(g);

  std::vector<int64_t> sizes;
  for (int64_t v = std::max<int64_t>(1, own.micro_batch_seqs - 64); v <= own.micro_batch_seqs + 64; ++v) sizes.push_back(v);
  const int64_t mbs = nearest_passing(s, own.micro_batch_seqs, sizes, [&](int64_t v) {
    s.plan.micro_batch_seqs = v;
    return true;
  });
  s.plan = own;
  if (mbs > 0) found.push_back(fmt::format("micro_batch_seqs = {} ({} micro-batches)", mbs, own.global_batch_seqs / (own.dp * mbs)));

  const int64_t world = s.cluster.world_size();
  std::vector<int64_t> pps;
  for (int64_t v : divisors(world / own.tp))
    if (v <= kMaxPipelineRanks && world % (v * own.tp) == 0) pps.push_back(v);
  const int64_t pp = nearest_passing(s, own.pp, pps, [&](int64_t v) {
    s.plan.pp = v;
    s.plan.dp = world / (v * own.tp);
    return true;
  });
  s.plan = own;
  if (pp > 0) found.push_back(fmt::format("pp = {} (dp {})", pp, world / (pp * own.tp)));

  const int64_t ep = nearest_passing(s, own.ep, divisors(own.dp * own.tp), [&](int64_t v) {
    s.plan.ep = v;
    return true;
  });
  if (ep > 0) found.push_back(fmt::format("ep = {}", ep));

  std::string out;
  for (const auto& f : found) out += (out.empty() ? "" : ", ") + f;
  return out;
}

}  // namespace tandem::ir
