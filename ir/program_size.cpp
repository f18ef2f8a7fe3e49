// estimate_program_size: the programs of two or three small one-rank scenarios of the same model
// shapes give the ops and bytes of a dense layer, an MoE layer and the model's ends (embedding, head,
// loss, MTP); the plan multiplies them out. check_program_size compares with the bounds.
#include "ir/program_size.h"

#include <algorithm>

#include <fmt/format.h>
#include <unistd.h>

#include "ir/schedule.h"
#include "ir/step_program.h"

namespace tandem::ir {

namespace {

// A one-rank, one-micro-batch scenario with `dense` dense layers then `moe` MoE layers of s's shapes.
Scenario prototype(const Scenario& s, int64_t dense, int64_t moe) {
  Scenario p;
  p.name = s.name;
  p.source = s.source;
  p.model = s.model;
  p.model.num_layers = dense + moe;
  p.model.first_dense_layers = dense;
  p.cluster = s.cluster;
  p.cluster.nodes = 1;
  p.cluster.gpus_per_node = 1;
  p.cluster.nics_per_node = 1;
  p.cluster.planes = 1;
  p.plan = s.plan;
  p.plan.pp = p.plan.dp = p.plan.tp = p.plan.ep = 1;
  p.plan.global_batch_seqs = p.plan.micro_batch_seqs;
  p.plan.schedule = ScheduleKind::OneFOneB;
  p.plan.virtual_stages = 1;
  p.plan.layers_per_stage.clear();
  p.plan.routing = RoutingModel{};
  return p;
}

// The parts of a program that grow with micro-batches (ops and their dependencies) and those that
// do not (templates, tensors), as memory_footprint_bytes counts them.
struct Measure {
  double mb_ops = 0, step_ops = 0, deps = 0, static_bytes = 0;
};

Measure measure(const Scenario& s, int64_t dense, int64_t moe) {
  const StepProgram program(prototype(s, dense, moe));
  Measure m;
  for (const RankProgram& rp : program.roles()) {
    for (const OpInstance& op : rp.ops) (op.mb >= 0 ? m.mb_ops : m.step_ops) += 1;
    m.deps += double(rp.deps.size());
  }
  const double ops = m.mb_ops + m.step_ops;
  m.static_bytes = double(program.memory_footprint_bytes()) - ops * (sizeof(OpInstance) + 4) - m.deps * 4;
  return m;
}

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

std::string count(double n) {
  if (n >= 1e9) return fmt::format("{:.1f} G", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f} M", n / 1e6);
  return fmt::format("{:.0f}", n);
}

}  // namespace

ProgramSizeEstimate estimate_program_size(const Scenario& s) {
  const ModelConfig& m = s.model;
  const ParallelPlan& p = s.plan;
  const bool has_moe = m.moe_layers() > 0;
  // base: one dense layer (and one MoE layer); the others add one more of a kind.
  const Measure base = measure(s, 1, has_moe ? 1 : 0);
  const Measure more_dense = measure(s, 2, has_moe ? 1 : 0);
  const Measure more_moe = has_moe ? measure(s, 1, 2) : base;
  const double dense_ops = more_dense.mb_ops - base.mb_ops, moe_ops = more_moe.mb_ops - base.mb_ops;
  const double dense_static = more_dense.static_bytes - base.static_bytes;
  const double moe_static = more_moe.static_bytes - base.static_bytes;
  const double ends_ops = base.mb_ops - dense_ops - (has_moe ? moe_ops : 0.0);
  const double ends_static = base.static_bytes - dense_static - (has_moe ? moe_static : 0.0);

  const PipelineShape shape{p.schedule, int32_t(p.pp), int32_t(p.micro_batches()), int32_t(p.virtual_stages)};
  const double chunks = model_chunks(shape), copies = parameter_copies(shape);
  const double dense = double(m.first_dense_layers), moe = double(m.moe_layers());
  ProgramSizeEstimate e;
  // Every micro-batch passes every chunk once; each chunk boundary adds a send and a receive of the
  // activation and of its gradient.
  e.ops_per_micro_batch = ends_ops + dense * dense_ops + moe * moe_ops + 4.0 * (chunks - 1.0);
  // Per rank the optimizer, per chunk copy at most the shared-weight all-reduce, two gradient
  // reductions and two parameter gathers.
  e.step_ops = double(p.pp) + 5.0 * chunks * copies;
  e.op_instances = e.ops_per_micro_batch * double(p.micro_batches()) + e.step_ops;
  const double deps_per_op = base.deps / std::max(1.0, base.mb_ops + base.step_ops);
  const double static_bytes = (ends_static + dense * dense_static + moe * moe_static) * copies;
  e.bytes = double(sizeof(StepProgram)) + e.op_instances * (double(sizeof(OpInstance)) + 4.0 + 4.0 * deps_per_op) +
            std::max(0.0, static_bytes);
  return e;
}

void check_program_size(const Scenario& s) {
  const ProgramSizeEstimate e = estimate_program_size(s);
  const double memory = physical_memory_bytes();
  const double max_bytes = memory > 0 ? memory * kMaxProgramMemoryShare : 1e18;
  if (e.op_instances <= kMaxProgramOps && e.bytes <= max_bytes) return;
  throw ScenarioError(
      s.source, "plan",
      fmt::format("a step program of at most {} ops and {:.1f} GB ({:.0f}% of this machine's memory): fewer "
                  "micro-batches, layers or stages",
                  count(kMaxProgramOps), max_bytes / 1e9, kMaxProgramMemoryShare * 100),
      fmt::format("{} ops, about {:.1f} GB: {} micro-batches (global_batch_seqs / (dp × micro_batch_seqs)) × "
                  "{:.0f} ops of {} layers in {} chunks (pp {})",
                  count(e.op_instances), e.bytes / 1e9, s.plan.micro_batches(), e.ops_per_micro_batch,
                  s.model.num_layers, model_chunks({s.plan.schedule, int32_t(s.plan.pp), int32_t(s.plan.micro_batches())}),
                  s.plan.pp));
}

}  // namespace tandem::ir
