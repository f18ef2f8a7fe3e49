// Replays of real step programs (ir::StepProgram): the full and symmetric paths agree when routing is
// balanced; the same input gives the same output bit for bit; skewed routing needs (and gets) the full
// path; plans that do not fit in memory are reported, not crashed on.
#include <filesystem>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "io/input_error.h"
#include "ir/scenario.h"
#include "ir/step_program.h"
#include "sim/expert_load.h"
#include "sim/report.h"
#include "sim/simulate.h"

using namespace tandem;

namespace {

// DeepSeek-V3 shapes on 128 GPUs: PP4 DualPipe, EP32 over 4 nodes, 8 layers, 8 micro-batches.
const std::vector<std::string> kReduced = {"cluster.nodes=16", "plan.pp=4", "plan.ep=32", "plan.global_batch_seqs=256",
                                           "model.num_layers=8", "model.first_dense_layers=1"};

struct Run {
  sim::SimResult result;
  sim::Report report;
};

Run simulate(const ir::StepProgram& p, sim::Mode mode, sim::OpSink* sink = nullptr) {
  const sim::StepProgramView view(p);
  sim::SimOptions o;
  o.mode = mode;
  o.sink = sink;
  Run r{sim::simulate(view, p.cluster(), o), {}};
  r.report = sim::make_report(r.result);
  return r;
}

void check_agree(const Run& full, const Run& sym) {
  CHECK(full.result.mode == sim::Mode::Full);
  CHECK(sym.result.mode == sim::Mode::Symmetric);
  CHECK(double(sym.result.step_ns) == Approx(double(full.result.step_ns)).epsilon(1e-6));
  const sim::Report &a = full.report, &b = sym.report;
  CHECK(b.mfu_bf16 == Approx(a.mfu_bf16).epsilon(1e-6));
  CHECK(b.forward_s == Approx(a.forward_s).epsilon(1e-6));
  CHECK(b.backward_input_s == Approx(a.backward_input_s).epsilon(1e-6));
  CHECK(b.backward_weight_s == Approx(a.backward_weight_s).epsilon(1e-6));
  CHECK(b.bubble_s == Approx(a.bubble_s).epsilon(1e-6).margin(1e-9));
  CHECK(b.exposed_comm_s == Approx(a.exposed_comm_s).epsilon(1e-6).margin(1e-9));
  CHECK(b.optimizer_s == Approx(a.optimizer_s).epsilon(1e-6).margin(1e-9));
  CHECK(b.sm_compute == Approx(a.sm_compute).epsilon(1e-6));
  CHECK(b.sm_comm == Approx(a.sm_comm).epsilon(1e-6).margin(1e-12));
  CHECK(b.nvlink_util == Approx(a.nvlink_util).epsilon(1e-6).margin(1e-12));
  CHECK(b.ib_util == Approx(a.ib_util).epsilon(1e-6).margin(1e-12));
  CHECK(b.memory_peak_bytes == a.memory_peak_bytes);
  CHECK(sym.result.ops == full.result.ops);
}

struct Serialized : sim::OpSink {
  std::string bytes;
  void record(const sim::OpRecord& r) override {
    bytes += fmt::format("{} {} {} {} {} {}\n", r.rank, r.op, r.stream, r.sms, r.start_ns, r.end_ns);
  }
};

}  // namespace

TEST_CASE("full and symmetric paths agree on the tiny scenario", "[sim][paths]") {
  const ir::StepProgram p(ir::load_scenario("tiny"));
  const Run full = simulate(p, sim::Mode::Full), sym = simulate(p, sim::Mode::Symmetric);
  check_agree(full, sym);
  CHECK(full.result.ranks.size() == 4);
  CHECK(sym.result.ranks.size() == 2);
  CHECK(sim::simulate(sim::StepProgramView(p), p.cluster()).mode == sim::Mode::Symmetric);   // the default
}

TEST_CASE("full and symmetric paths agree on DeepSeek-V3 shapes over 128 GPUs", "[sim][paths]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", kReduced));
  const Run full = simulate(p, sim::Mode::Full), sym = simulate(p, sim::Mode::Symmetric);
  check_agree(full, sym);
  CHECK(full.report.ib_util > 0);           // EP32 spans 4 nodes: the all-to-all crosses IB
  // Exposed communication, a second way: every rank's step splits into its busy phases and its idle
  // time (bubble, exposed communication, optimizer), so the exposed part is what the rest leaves.
  // It is positive: DualPipe's warm-up runs forward chunks with no backward chunk to hide their
  // all-to-all behind, and EP32's all-to-all crosses IB.
  const sim::Report& rep = full.report;
  CHECK(rep.exposed_comm_s > 0);
  CHECK(rep.exposed_comm_s == Approx(rep.step_time_s - rep.forward_s - rep.backward_input_s - rep.backward_weight_s -
                                     rep.bubble_s - rep.optimizer_s - rep.other_compute_s).epsilon(1e-9).margin(1e-12));
  // The report's mean is the stages' means weighted by their ranks.
  double by_stage = 0;
  int64_t ranks = 0;
  for (const sim::StageReport& st : rep.stages) {
    by_stage += st.exposed_comm_s * double(st.ranks);
    ranks += st.ranks;
  }
  CHECK(ranks == 128);
  CHECK(by_stage / double(ranks) == Approx(rep.exposed_comm_s).epsilon(1e-9));
  CHECK(full.result.ranks.size() == 128);
  CHECK(sym.result.ranks.size() == 4);
}

TEST_CASE("full and symmetric paths agree across oversubscribed leaves", "[sim][paths]") {
  // Two nodes per leaf and spine links at a quarter of the NICs: pipeline sends and the all-to-all of
  // EP32 (4 nodes) cross leaves and share the spine links.
  std::vector<std::string> sets = kReduced;
  sets.push_back("cluster.nodes_per_leaf=2");
  sets.push_back("cluster.oversubscription=4");
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", sets));
  const ir::StepProgram flat(ir::load_scenario("deepseek-v3-pretrain", kReduced));
  const Run full = simulate(p, sim::Mode::Full), sym = simulate(p, sim::Mode::Symmetric);
  check_agree(full, sym);
  CHECK(full.result.step_ns > simulate(flat, sim::Mode::Symmetric).result.step_ns);
}

TEST_CASE("the same input gives the same output, bit for bit", "[sim][determinism]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain", kReduced));
  Serialized a, b;
  const Run ra = simulate(p, sim::Mode::Full, &a), rb = simulate(p, sim::Mode::Full, &b);
  CHECK(a.bytes.size() > 100000);
  CHECK(a.bytes == b.bytes);
  CHECK(sim::to_json(ra.report).dump() == sim::to_json(rb.report).dump());
  CHECK(sim::to_table(ra.report) == sim::to_table(rb.report));
}

TEST_CASE("skewed routing runs on the class path and slows the all-to-all", "[sim][routing]") {
  std::vector<std::string> skew = kReduced;
  skew.push_back("plan.routing={\"kind\": \"zipf\", \"zipf_exponent\": 1.0}");
  const ir::StepProgram balanced(ir::load_scenario("deepseek-v3-pretrain", kReduced));
  const ir::StepProgram skewed(ir::load_scenario("deepseek-v3-pretrain", skew));
  const sim::StepProgramView view(skewed);
  sim::SimOptions o;
  o.mode = sim::Mode::Symmetric;
  CHECK_THROWS_WITH(sim::simulate(view, skewed.cluster(), o), Catch::Contains("symmetric path needs balanced routing"));
  o.mode = sim::Mode::Auto;
  const sim::SimResult r = sim::simulate(view, skewed.cluster(), o);
  CHECK(r.mode == sim::Mode::Classes);   // sim/tests/test_rank_classes.cpp: the full path's report
  const Run base = simulate(balanced, sim::Mode::Full);
  // The ranks holding the popular experts receive most of the tokens: every all-to-all waits for them.
  CHECK(r.step_ns > base.result.step_ns);
  CHECK(sim::make_report(r).exposed_comm_s > base.report.exposed_comm_s);
}

TEST_CASE("a plan that does not fit is reported out of memory, not crashed on", "[sim][memory]") {
  // The whole 671B model on two pipeline stages of 64 GPUs: weights and optimizer state alone overflow 80 GB.
  const ir::StepProgram p(ir::load_scenario(
      "deepseek-v3-pretrain", {"cluster.nodes=16", "plan.pp=2", "plan.ep=64", "plan.global_batch_seqs=256",
                               "plan.schedule=\"1f1b\""}));
  const Run r = simulate(p, sim::Mode::Symmetric);
  CHECK(r.report.out_of_memory);
  CHECK(r.report.memory_peak_bytes > r.report.hbm_bytes);
  CHECK(r.report.stages.size() == 2);
  CHECK(r.report.step_time_s > 0);
  CHECK(sim::to_json(r.report)["out_of_memory"] == true);
}

TEST_CASE("the published scenario fits, and both paths agree on it", "[.slow][sim][paths]") {
  const ir::StepProgram p(ir::load_scenario("deepseek-v3-pretrain"));
  const Run full = simulate(p, sim::Mode::Full), sym = simulate(p, sim::Mode::Symmetric);
  check_agree(full, sym);
  CHECK_FALSE(sym.report.out_of_memory);
}

TEST_CASE("expert load files parse and bad ones are refused", "[sim][routing][errors]") {
  CHECK(sim::parse_expert_load("[1, 2, 3.5, 0]", "l.json", 4) == std::vector<double>{1, 2, 3.5, 0});
  CHECK(sim::parse_expert_load("# loads\n1 2\n3,4 # end\n", "l.txt", 4) == std::vector<double>{1, 2, 3, 4});
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, 2]", "l.json", 4), Catch::Contains("expected 4 loads") &&
                                                                        Catch::Contains("found 2 loads"));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, \"a\", 2, 3]", "l.json", 4), Catch::Contains("l.json: at [1]: expected a number"));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, 2", "l.json", 2), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, x]", "l.json", 2), Catch::Contains("invalid JSON"));
  CHECK_THROWS_WITH(sim::parse_expert_load("1 x 2", "l.txt", 3), Catch::Contains("line 1") && Catch::Contains("'x'"));
  CHECK_THROWS_WITH(sim::parse_expert_load("1 -2", "l.txt", 2), Catch::Contains("non-negative"));
  CHECK_THROWS_WITH(sim::parse_expert_load("0 0", "l.txt", 2), Catch::Contains("positive sum"));
  CHECK_THROWS_WITH(sim::load_expert_load("/nonexistent/loads", 2), Catch::Contains("found no such file"));
  // A directory, and an endless input: refused before a byte is read.
  CHECK_THROWS_WITH(sim::load_expert_load(std::filesystem::temp_directory_path().string(), 2), Catch::Contains("found a directory"));
  CHECK_THROWS_WITH(sim::load_expert_load("/dev/zero", 2), Catch::Contains("found a character device"));
  // Hostile JSON: 100,000 nested arrays (once a stack overflow), a long value, a nested value.
  CHECK_THROWS_AS(sim::parse_expert_load(std::string(100000, '[') + std::string(100000, ']'), "l.json", 2), tandem::io::InputError);
  CHECK_THROWS_WITH(sim::parse_expert_load(std::string(100000, '[') + std::string(100000, ']'), "l.json", 2),
                    Catch::Contains("l.json: at [0][0]") && Catch::Contains("nested at most 128 levels"));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, [[[[2]]]], 3]", "l.json", 3), Catch::Contains("l.json: at [1]: expected a number, found [[[[2]]]]"));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, \"" + std::string(100000, 'x') + "\"]", "l.json", 2), Catch::Contains("..."));
  CHECK_THROWS_WITH(sim::parse_expert_load("[1, 1e999]", "l.json", 2), Catch::Contains("range of a double"));
}
