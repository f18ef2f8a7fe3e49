// Checks per-rank chunk orders for completeness and placement, and replays them with chunk costs:
// each rank runs its tasks strictly in order, a task starts once the rank is free and the tasks it
// depends on have ended (zero transfer time). Gives the makespan, per-rank busy/idle and peak live
// activations used by the bubble tests and by `tandem inspect`.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

#include "ir/schedule.h"

namespace tandem::ir {

namespace {

std::string shape_text(const PipelineShape& s) {
  return std::string(to_string(s.kind)) + " (pp = " + std::to_string(s.pp) +
         (s.virtual_stages != 1 ? ", virtual_stages = " + std::to_string(s.virtual_stages) : std::string()) +
         ", micro_batches = " + std::to_string(s.micro_batches) + ")";
}

std::string ref_text(const ChunkRef& r) {
  return "mb " + std::to_string(r.mb) + " chunk " + std::to_string(r.chunk);
}

std::string task_text(const ChunkTask& t) {
  switch (t.kind) {
    case ChunkKind::Forward: return "F(" + ref_text(t.fwd) + ")";
    case ChunkKind::ForwardBackward: return "FB(F " + ref_text(t.fwd) + ", B " + ref_text(t.bwd) + ")";
    default: return std::string(to_string(t.kind)) + "(" + ref_text(t.bwd) + ")";
  }
}

bool has_fwd(ChunkKind k) { return k == ChunkKind::Forward || k == ChunkKind::ForwardBackward; }
bool has_bwd_input(ChunkKind k) {
  return k == ChunkKind::Backward || k == ChunkKind::BackwardInput || k == ChunkKind::ForwardBackward;
}
bool has_bwd_weight(ChunkKind k) {
  return k == ChunkKind::Backward || k == ChunkKind::BackwardWeight || k == ChunkKind::ForwardBackward;
}
bool has_bwd(ChunkKind k) { return k != ChunkKind::Forward; }

double task_cost(ChunkKind k, const ChunkCosts& c) {
  switch (k) {
    case ChunkKind::Forward: return c.f;
    case ChunkKind::Backward: return c.b + c.w;
    case ChunkKind::BackwardInput: return c.b;
    case ChunkKind::BackwardWeight: return c.w;
    case ChunkKind::ForwardBackward: return c.fb;
  }
  return 0;
}

// Index of (mb, chunk) in the flat per-step tables.
struct KeyIndex {
  int32_t chunks = 0;
  size_t operator()(const ChunkRef& r) const { return size_t(r.mb) * size_t(chunks) + size_t(r.chunk); }
};

}  // namespace

void check_orders(const PipelineShape& s, const std::vector<std::vector<ChunkTask>>& orders) {
  const int32_t chunks = model_chunks(s);
  const std::string where = "pipeline schedule " + shape_text(s) + ": ";
  if (orders.size() != size_t(s.pp))
    throw std::logic_error(where + "expected one order per rank (" + std::to_string(s.pp) + "), found " +
                           std::to_string(orders.size()));
  const KeyIndex key{chunks};
  const size_t keys = size_t(s.micro_batches) * size_t(chunks);
  std::vector<uint8_t> f_seen(keys, 0), bi_seen(keys, 0), w_seen(keys, 0);

  for (int32_t r = 0; r < s.pp; ++r) {
    for (size_t i = 0; i < orders[size_t(r)].size(); ++i) {
      const ChunkTask& t = orders[size_t(r)][i];
      const std::string at = where + "rank " + std::to_string(r) + " task " + std::to_string(i) + " ";
      auto check_ref = [&](const ChunkRef& ref, bool used, const char* part) {
        if (!used) {
          if (ref != ChunkRef{})
            throw std::logic_error(at + task_text(t) + ": unused " + part + " reference must be {-1, -1}, found " +
                                   ref_text(ref));
          return;
        }
        if (ref.mb < 0 || ref.mb >= s.micro_batches || ref.chunk < 0 || ref.chunk >= chunks)
          throw std::logic_error(at + task_text(t) + ": " + part + " reference " + ref_text(ref) +
                                 " is outside micro-batches [0, " + std::to_string(s.micro_batches) +
                                 ") x chunks [0, " + std::to_string(chunks) + ")");
        const int32_t owner = chunk_rank(s, ref.chunk, ref.mb);
        if (owner != r)
          throw std::logic_error(at + task_text(t) + ": " + ref_text(ref) + " belongs on rank " +
                                 std::to_string(owner) + ", found on rank " + std::to_string(r));
      };
      if (to_string(t.kind) == "?") throw std::logic_error(at + "has an unknown task kind");
      check_ref(t.fwd, has_fwd(t.kind), "forward");
      check_ref(t.bwd, has_bwd(t.kind), "backward");
      if (has_fwd(t.kind) && f_seen[key(t.fwd)]++)
        throw std::logic_error(at + task_text(t) + ": second forward of " + ref_text(t.fwd));
      if (has_bwd_input(t.kind) && bi_seen[key(t.bwd)]++)
        throw std::logic_error(at + task_text(t) + ": second input-grad backward of " + ref_text(t.bwd));
      if (t.kind == ChunkKind::BackwardWeight && !bi_seen[key(t.bwd)])
        throw std::logic_error(at + task_text(t) + ": weight-grad task before the input-grad task of " +
                               ref_text(t.bwd) + " on this rank");
      if (has_bwd_weight(t.kind) && w_seen[key(t.bwd)]++)
        throw std::logic_error(at + task_text(t) + ": second weight-grad backward of " + ref_text(t.bwd));
    }
  }
  for (int32_t mb = 0; mb < s.micro_batches; ++mb) {
    for (int32_t c = 0; c < chunks; ++c) {
      const size_t k = key({mb, c});
      const char* missing = !f_seen[k] ? "forward" : !bi_seen[k] ? "input-grad backward" : !w_seen[k] ? "weight-grad backward" : nullptr;
      if (missing)
        throw std::logic_error(where + "no " + missing + " task for " + ref_text({mb, c}) + " (expected on rank " +
                               std::to_string(chunk_rank(s, c, mb)) + ")");
    }
  }
}

PipelineTimes evaluate_orders(const PipelineShape& s, const std::vector<std::vector<ChunkTask>>& orders,
                              const ChunkCosts& costs) {
  return evaluate_orders(s, orders, std::vector<ChunkCosts>(size_t(model_chunks(s)), costs));
}

PipelineTimes evaluate_orders(const PipelineShape& s, const std::vector<std::vector<ChunkTask>>& orders,
                              const std::vector<ChunkCosts>& chunk_costs) {
  const int32_t chunks = model_chunks(s);
  if (chunk_costs.size() != size_t(chunks))
    throw std::invalid_argument("pipeline evaluation of " + shape_text(s) + ": expected costs for " + std::to_string(chunks) +
                                " model chunks, found " + std::to_string(chunk_costs.size()));
  for (const ChunkCosts& costs : chunk_costs)
    for (double v : {costs.f, costs.b, costs.w, costs.fb})
      if (!std::isfinite(v) || v < 0)
        throw std::invalid_argument("pipeline evaluation: chunk costs must be finite and >= 0, found f = " +
                                    std::to_string(costs.f) + ", b = " + std::to_string(costs.b) + ", w = " +
                                    std::to_string(costs.w) + ", fb = " + std::to_string(costs.fb));
  check_orders(s, orders);
  const KeyIndex key{chunks};
  const size_t keys = size_t(s.micro_batches) * size_t(chunks);
  constexpr double kNotYet = -1.0;
  std::vector<double> f_end(keys, kNotYet), bi_end(keys, kNotYet);

  PipelineTimes out;
  const size_t ranks = size_t(s.pp);
  out.busy.assign(ranks, 0.0);
  out.idle.assign(ranks, 0.0);
  out.peak_live_activations.assign(ranks, 0);
  out.tasks.resize(ranks);
  for (size_t r = 0; r < ranks; ++r) out.tasks[r].resize(orders[r].size());
  std::vector<size_t> next(ranks, 0);
  std::vector<double> free_at(ranks, 0.0);
  std::vector<int32_t> live(ranks, 0);

  // Earliest start of `t` given its dependencies, or nullopt with the missing dependency in `waits`.
  auto ready_at = [&](const ChunkTask& t, std::string* waits) -> std::optional<double> {
    double start = 0;
    auto need = [&](const std::vector<double>& ends, const ChunkRef& ref, const char* what) {
      const double e = ends[key(ref)];
      if (e == kNotYet) {
        if (waits) *waits = std::string(what) + "(" + ref_text(ref) + ") on rank " +
                            std::to_string(chunk_rank(s, ref.chunk, ref.mb));
        return false;
      }
      start = std::max(start, e);
      return true;
    };
    if (has_fwd(t.kind) && t.fwd.chunk > 0 && !need(f_end, {t.fwd.mb, t.fwd.chunk - 1}, "F")) return std::nullopt;
    if (has_bwd_input(t.kind)) {
      if (!need(f_end, t.bwd, "F")) return std::nullopt;
      if (t.bwd.chunk + 1 < chunks && !need(bi_end, {t.bwd.mb, t.bwd.chunk + 1}, "B")) return std::nullopt;
    }
    if (t.kind == ChunkKind::BackwardWeight && !need(bi_end, t.bwd, "B")) return std::nullopt;
    return start;
  };

  // Ranks to look at again; a rank is re-queued when a task it may wait for ends on a neighbour.
  std::vector<int32_t> queue;
  std::vector<uint8_t> queued(ranks, 1);
  for (int32_t r = s.pp - 1; r >= 0; --r) queue.push_back(r);
  auto wake = [&](int32_t r) {
    if (!queued[size_t(r)]) {
      queued[size_t(r)] = 1;
      queue.push_back(r);
    }
  };
  while (!queue.empty()) {
    const int32_t r = queue.back();
    queue.pop_back();
    const size_t ru = size_t(r);
    queued[ru] = 0;
    const auto& order = orders[ru];
    while (next[ru] < order.size()) {
      const ChunkTask& t = order[next[ru]];
      const std::optional<double> deps = ready_at(t, nullptr);
      if (!deps) break;
      const double start = std::max(free_at[ru], *deps);
      const double cost = task_cost(t.kind, chunk_costs[size_t(has_fwd(t.kind) ? t.fwd.chunk : t.bwd.chunk)]);
      const double end = start + cost;
      out.tasks[ru][next[ru]] = {start, end};
      free_at[ru] = end;
      out.busy[ru] += cost;
      if (has_fwd(t.kind)) {
        f_end[key(t.fwd)] = end;
        out.peak_live_activations[ru] = std::max(out.peak_live_activations[ru], ++live[ru]);
        if (t.fwd.chunk + 1 < chunks) wake(chunk_rank(s, t.fwd.chunk + 1, t.fwd.mb));
      }
      if (has_bwd_input(t.kind)) {
        bi_end[key(t.bwd)] = end;
        if (t.bwd.chunk > 0) wake(chunk_rank(s, t.bwd.chunk - 1, t.bwd.mb));
      }
      if (has_bwd_weight(t.kind)) --live[ru];
      ++next[ru];
    }
  }

  std::string stuck;
  int32_t stuck_ranks = 0;
  for (size_t r = 0; r < ranks; ++r) {
    if (next[r] == orders[r].size()) continue;
    if (++stuck_ranks > 8) continue;
    std::string waits;
    ready_at(orders[r][next[r]], &waits);
    stuck += (stuck.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " at task " +
             std::to_string(next[r]) + " " + task_text(orders[r][next[r]]) + " waits for " + waits;
  }
  if (stuck_ranks > 0)
    throw std::logic_error("pipeline schedule " + shape_text(s) + ": deadlock, " + std::to_string(stuck_ranks) +
                           " rank(s) cannot proceed: " + stuck);

  for (size_t r = 0; r < ranks; ++r) out.makespan = std::max(out.makespan, free_at[r]);
  for (size_t r = 0; r < ranks; ++r) out.idle[r] = out.makespan - out.busy[r];
  return out;
}

PipelineTimes evaluate(const PipelineShape& s, const ChunkCosts& costs) {
  validate(s);
  std::vector<std::vector<ChunkTask>> orders;
  orders.reserve(size_t(s.pp));
  for (int32_t r = 0; r < s.pp; ++r) orders.push_back(chunk_order(s, r));
  return evaluate_orders(s, orders, costs);
}

double max_idle(const PipelineTimes& times) {
  double m = 0;
  for (double v : times.idle) m = std::max(m, v);
  return m;
}

}  // namespace tandem::ir
