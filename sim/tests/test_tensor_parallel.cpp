// The TP collectives of a real step program (plan.tp) in a replay: costed as rings on the node's
// NVLink, with times computed by hand for the tiny model on the two GPUs of one H800 node.
#include <catch2/catch.hpp>

#include <map>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/simulate.h"

using namespace tandem;

namespace {

struct FirstForwardTimes : sim::OpSink {
  const ir::StepProgram* program = nullptr;
  std::map<std::string, int64_t> duration_ns;   // rank 0's first forward op of each name
  void record(const sim::OpRecord& r) override {
    if (r.rank != 0) return;
    const ir::RankProgram& rp = program->program_of(0);
    const ir::OpTemplate& t = rp.tmpl(rp.ops[size_t(r.op)]);
    if (t.phase == ir::Phase::F) duration_ns.try_emplace(t.name(), r.end_ns - r.start_ns);
  }
};

}  // namespace

TEST_CASE("TP all-gathers and reduce-scatters take their ring's NVLink time plus latency", "[sim][tp]") {
  // tiny on one node of 2 H800s: pp 1, tp 2, ep 2, one micro-batch of 4 × 64 tokens (128 per rank).
  const ir::StepProgram p(ir::load_scenario("tiny", {"plan.pp=1", "plan.tp=2", "plan.ep=2", "cluster.gpus_per_node=2",
                                                     "cluster.nics_per_node=2", "cluster.planes=2", "plan.global_batch_seqs=4"}));
  FirstForwardTimes sink;
  sink.program = &p;
  sim::SimOptions o;
  o.sink = &sink;
  o.mode = sim::Mode::Full;
  sim::simulate(sim::StepProgramView(p), p.cluster(), o);
  // A ring of 2 on one node: each member sends (n-1)/n of the buffer (n × its part for an all-gather)
  // over its NVLink to the other, one ring step of NVLink latency (3,330 ns). The H800's 400 GB/s both
  // ways give 200 GB/s per direction, 80% of it achieved: 160 GB/s.
  const double per_direction = 400e9 / 2 * 0.8;
  // q latent: all-gather of [128, 32] BF16 = 8,192 bytes per rank: 1/2 × 2 × 8,192 = 8,192 sent, 51.2 ns.
  CHECK(double(sink.duration_ns.at("L0.q_latent_gather")) == Approx(8192 / per_direction * 1e9 + 3330).margin(1));
  // kv latent: [128, 40] BF16 = 10,240 bytes, 64 ns.
  CHECK(double(sink.duration_ns.at("L0.kv_latent_gather")) == Approx(10240 / per_direction * 1e9 + 3330).margin(1));
  // o_proj's partial sums: reduce-scatter of [256, 64] BF16 = 32,768 bytes: 16,384 sent, 102.4 ns.
  CHECK(double(sink.duration_ns.at("L0.o_proj_scatter")) == Approx(16384 / per_direction * 1e9 + 3330).margin(1));
  // The FFN's input gathered in FP8 with its scales: 128 × (64 + 4) = 8,704 bytes, 54.4 ns.
  CHECK(double(sink.duration_ns.at("L0.ffn_gather")) == Approx(8704 / per_direction * 1e9 + 3330).margin(1));
}

TEST_CASE("a TP plan replays the same on the full and the symmetric path", "[sim][tp][paths]") {
  // tiny on 8 GPUs of two nodes: pp 2, tp 2, dp 2, ep 4 (over each stage's 4 ranks).
  const ir::StepProgram p(ir::load_scenario("tiny", {"plan.tp=2", "plan.ep=4", "cluster.nodes=2"}));
  sim::SimOptions full, sym;
  full.mode = sim::Mode::Full;
  sym.mode = sim::Mode::Symmetric;
  const sim::SimResult a = sim::simulate(sim::StepProgramView(p), p.cluster(), full);
  const sim::SimResult b = sim::simulate(sim::StepProgramView(p), p.cluster(), sym);
  CHECK(a.step_ns == b.step_ns);
  CHECK(a.ops == b.ops);
  CHECK(a.step_ns > 0);
}
