// The executor: every op of every rank appears in the timeline with its program identity, events
// respect dependencies and stream order, the all-to-all records the bytes it moved, schedules agree,
// and a failing op stops all ranks with its message.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "backend/execution/executor.h"
#include "backend_test_util.h"
#include "ir/op.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

namespace {
std::vector<double> losses(const ir::StepProgram& p, int64_t steps, bool exact, double clip_norm = -1) {
  TrainOptions o;
  o.steps = steps;
  o.backend.exact = exact;
  if (clip_norm >= 0) o.step.clip_norm = clip_norm;
  std::vector<double> out;
  for (const auto& s : train(p, o)) out.push_back(s.stats.loss);
  return out;
}
}  // namespace

TEST_CASE("every executed op appears in the timeline with its program identity", "[executor]") {
  const auto program = tiny();
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const trace::Timeline& tl = t.timeline();
  CHECK(tl.metadata.source == trace::TraceSource::Cpu);
  std::map<std::pair<int32_t, int64_t>, const trace::Event*> by_op;
  for (const auto& e : tl.events) by_op[{e.pid, e.id}] = &e;
  size_t expected = 0;
  for (int64_t r = 0; r < program->num_ranks(); ++r) {
    const auto& rp = program->program_of(r);
    expected += rp.ops.size();
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const auto it = by_op.find({int32_t(r), int64_t(i)});
      REQUIRE(it != by_op.end());
      const trace::Event& e = *it->second;
      const auto& tmpl = rp.tmpl(rp.ops[i]);
      CHECK(tl.name_of(e) == tmpl.name());
      CHECK(e.tid == int32_t(rp.ops[i].stream));
      CHECK(e.mb == rp.ops[i].mb);
      CHECK(e.layer == tmpl.layer);
      CHECK(e.stage == int32_t(program->coord(r).pp_index));
      CHECK(e.phase == (tmpl.phase == ir::Phase::Step ? 0 : ir::phase_letter(tmpl.phase)));
      // It ran inside the step: its end event came after its start event (the timeline clamps a
      // negative duration to 0; the CPU clock counts nanoseconds, so a real op takes more than 0).
      CHECK(e.dur_ns > 0);
      CHECK(e.start_ns >= 0);   // not before the step's origin
    }
  }
  CHECK(tl.events.size() == expected);
  CHECK_FALSE(tl.flows.empty());   // pipeline sends linked to their receives
}

TEST_CASE("ops start after their dependencies end and each stream runs in program order", "[executor]") {
  const auto program = tiny({"plan.schedule=zb1p"});
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const auto& tl = t.timeline();
  std::map<std::pair<int32_t, int64_t>, const trace::Event*> by_op;
  for (const auto& e : tl.events) by_op[{e.pid, e.id}] = &e;
  for (int64_t r = 0; r < program->num_ranks(); ++r) {
    const auto& rp = program->program_of(r);
    std::map<int32_t, int64_t> stream_end;
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const trace::Event& e = *by_op.at({int32_t(r), int64_t(i)});
      for (int32_t d : rp.deps_of(i)) CHECK(by_op.at({int32_t(r), d})->end_ns() <= e.start_ns);
      CHECK(stream_end[e.tid] <= e.start_ns);
      stream_end[e.tid] = e.end_ns();
    }
  }
}

TEST_CASE("dispatch records the bytes it moved: every token to its top-k experts in FP8 with scales", "[executor]") {
  // Per micro-batch of one sequence: 64 tokens x 2 experts x (64 FP8 codes + one 4-byte scale) = 8704 bytes.
  const auto program = tiny();
  TrainOptions o;
  o.steps = 1;
  o.trace_steps = 1;
  Trainer t(*program, o, corpus(), "stories.tok");
  t.run();
  const auto& tl = t.timeline();
  int64_t dispatch = 0, combine_total = 0;
  double combine_bytes = 0;
  for (const auto& e : tl.events) {
    if (tl.op_of(e) != "all_to_all" || e.phase != 'F') continue;
    const std::string name(tl.name_of(e));
    if (name.find("dispatch") != std::string::npos) {
      CHECK(e.bytes == 8704.0);
      ++dispatch;
    } else {
      combine_bytes += e.bytes;
      ++combine_total;
    }
  }
  // 4 ranks x 4 micro-batches x 3 MoE layers (+ MTP layer on the last stage's 2 ranks).
  CHECK(dispatch == 2 * 4 * 2 + 2 * 4 * 2);
  // Combine returns every routed row in BF16: 64 x 2 x 64 x 2 bytes per micro-batch and rank, in total.
  CHECK(combine_bytes == double(combine_total) * 64 * 2 * 64 * 2);
}

TEST_CASE("ZB1P, which defers weight-gradient ops, gives 1F1B's losses bit for bit", "[executor]") {
  const auto a = tiny(), b = tiny({"plan.schedule=zb1p"});
  CHECK(losses(*a, 2, false) == losses(*b, 2, false));
}

TEST_CASE("DualPipe and DualPipeV train the tiny model like 1F1B", "[executor]") {
  // Without the MTP module the models are the same; with it DualPipe shares the embedding with the
  // MTP module (both on one rank), so only the first forward is comparable.
  SECTION("without MTP: the same losses within FP32 reordering") {
    const auto ref = losses(*tiny({"model.mtp_depth=0"}), 2, true);
    for (const char* s : {"dualpipe", "dualpipev"}) {
      const auto got = losses(*tiny({"model.mtp_depth=0", std::string("plan.schedule=") + s}), 2, true);
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).epsilon(1e-6));
    }
  }
  SECTION("without MTP, clipping on every step: one optimizer op per rank clips by the whole gradient's norm") {
    const auto ref = losses(*tiny({"model.mtp_depth=0"}), 3, true, 0.01);
    for (const char* s : {"dualpipe", "dualpipev"}) {
      const auto program = tiny({"model.mtp_depth=0", std::string("plan.schedule=") + s});
      for (const auto& rp : program->roles())
        CHECK(std::count_if(rp.templates.begin(), rp.templates.end(),
                            [](const ir::OpTemplate& t) { return t.role == ir::OpRole::OptimizerStep; }) == 1);
      const auto got = losses(*program, 3, true, 0.01);
      for (size_t i = 0; i < ref.size(); ++i) CHECK(got[i] == Approx(ref[i]).epsilon(1e-6));
    }
  }
  SECTION("with MTP: the first step's loss is 1F1B's (the MTP module's embedding starts equal to the main one)") {
    const auto program = tiny({"plan.schedule=dualpipe"});
    const auto ref = losses(*tiny(), 1, false);
    CHECK(losses(*program, 1, false) == ref);
  }
}

TEST_CASE("an op that fails on one rank ends the step on every rank with its message", "[executor]") {
  const auto program = tiny();
  Executor ex(*program, {});
  std::vector<ReplicaBatch> batches(2, ReplicaBatch(4, std::vector<int32_t>(66, 1)));
  batches[1][2][5] = 100000;   // replica 1 (rank 1 = pp 0, dp 1), micro-batch 2: outside the vocabulary of 512
  CHECK_THROWS_WITH(ex.run_step(batches, StepConfig{}), Catch::Contains("rank 1 ") && Catch::Contains("embedding (mb 2)"));
  CHECK_THROWS_WITH(ex.run_step(batches, StepConfig{}), Catch::Contains("aborted by an earlier failure"));
}

TEST_CASE("plans the CPU backend cannot run are refused with the field named", "[executor]") {
  CHECK_THROWS_WITH(check_cpu_plan(*tiny({"model.score_function=softmax"})), Catch::Contains("at model.score_function"));
  CHECK_THROWS_WITH(check_cpu_plan(*tiny({"plan.precision.activation_tile=64"})), Catch::Contains("at plan.precision"));
  CHECK_NOTHROW(check_cpu_plan(*tiny()));
}

namespace {

// The executor's graph (its stream waits and each stream's order) is the program's (its
// dependencies and the stream order): every wait is a program dependency, and every program
// dependency is an earlier op of the same stream or is reached by a wait on its stream at or after it.
void check_same_graph(const ir::RankProgram& rp, const std::vector<std::vector<int32_t>>& waits) {
  REQUIRE(waits.size() == rp.ops.size());
  int64_t missing = 0, added = 0;
  for (size_t i = 0; i < rp.ops.size(); ++i) {
    const auto deps = rp.deps_of(i);
    for (int32_t w : waits[i])
      if (std::find(deps.begin(), deps.end(), w) == deps.end()) ++added;
    for (int32_t d : deps) {
      if (size_t(d) >= i) ++missing;
      if (rp.ops[size_t(d)].stream == rp.ops[i].stream) continue;
      const bool covered = std::any_of(waits[i].begin(), waits[i].end(), [&](int32_t w) {
        return rp.ops[size_t(w)].stream == rp.ops[size_t(d)].stream && w >= d && size_t(w) < i;
      });
      if (!covered) ++missing;
    }
  }
  CHECK(added == 0);
  CHECK(missing == 0);
}

}  // namespace

TEST_CASE("the executor runs the program's order and dependencies, nothing added or repaired", "[executor][graph]") {
  SECTION("tiny, DualPipe and DualPipeV: the waits of a constructed executor") {
    for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev"}) {
      INFO(schedule);
      const auto program = tiny({std::string("plan.schedule=") + schedule});
      Executor ex(*program, {});
      for (const auto& rp : program->roles()) check_same_graph(rp, ex.stream_waits(rp.pp_index));
    }
  }
  SECTION("a DeepSeek-V2-Lite-shaped program (its shapes, 4 layers)") {
    auto doc = ir::load_scenario(source_dir() + "/scenarios/tiny.json").resolved;
    std::ifstream preset(source_dir() + "/scenarios/models/deepseek-v2-lite.json");
    doc["model"] = nlohmann::json::parse(preset);
    doc["model"]["num_layers"] = 4;
    const auto program = std::make_unique<ir::StepProgram>(
        ir::parse_scenario(doc, "v2-lite.json", {"plan.schedule=zb1p", "plan.global_batch_seqs=8", "plan.micro_batch_seqs=1"}));
    CHECK(program->model().hidden_size == 2048);
    CHECK(program->model().routed_experts == 64);
    for (const auto& rp : program->roles()) check_same_graph(rp, program_stream_waits(rp));
  }
}

TEST_CASE("the MTP module reads the main embedding on one rank and an equal copy on another", "[executor][mtp]") {
  auto embeddings = [](Trainer& t, int64_t rank) {
    std::vector<const Param*> out;
    for (const auto& p : t.executor().rank(rank).params.params())
      if (p->kind == ParamKind::Table) out.push_back(p.get());
    return out;
  };
  TrainOptions o;
  o.steps = 3;
  SECTION("one rank: one tensor, read by both embedding ops") {
    const auto program = tiny(one_rank());
    const auto& rp = program->program_of(0);
    std::vector<int32_t> read;
    for (const auto& t : rp.templates)
      if (t.role == ir::OpRole::Embedding && t.phase == ir::Phase::F) read.push_back(t.in(ir::OperandSlot::Weight));
    REQUIRE(read.size() == 2);
    CHECK(read[0] == read[1]);
    for (const auto& t : rp.tensors) CHECK_FALSE(t.shared_replica);
    Trainer t(*program, o, corpus(), "stories.tok");
    t.run();
    CHECK(embeddings(t, 0).size() == 1);
  }
  SECTION("pp 2: the copy on the last stage is all-reduced with the original and stays equal to it") {
    const auto program = tiny();
    Trainer t(*program, o, corpus(), "stories.tok");
    t.run();
    for (int64_t d = 0; d < program->plan().dp; ++d) {
      const int64_t first = program->rank_of({0, d, d / program->plan().ep, d % program->plan().ep});
      const int64_t last = program->rank_of({1, d, d / program->plan().ep, d % program->plan().ep});
      const auto a = embeddings(t, first), b = embeddings(t, last);
      REQUIRE(a.size() == 1);
      REQUIRE(b.size() == 1);
      CHECK_FALSE(a[0]->shared_replica);
      CHECK(b[0]->shared_replica);
      CHECK(a[0]->shared == ir::SharedWeight::Embedding);
      CHECK(b[0]->shared == ir::SharedWeight::Embedding);
      CHECK(a[0]->version > 0);        // trained
      CHECK(a[0]->value == b[0]->value);
    }
  }
}

TEST_CASE("the MTP layer's balance loss is weighted by the MTP factor, like its cross-entropy", "[executor][mtp]") {
  // With lambda = 0 the MTP module adds nothing to the objective: its own weights (those no main-model
  // op reads, but the embedding's copy) get no gradient, and the balance loss is the main layers' alone.
  auto gradients_and_balance = [](const ir::StepProgram& p) {
    Executor ex(p, {});
    std::vector<ReplicaBatch> batches(size_t(p.plan().dp), ReplicaBatch(size_t(p.plan().micro_batches())));
    const auto& text = corpus().tokens;
    size_t at = 0;
    for (auto& replica : batches)
      for (auto& window : replica) {
        window.assign(text.begin() + long(at), text.begin() + long(at + 66));
        at += 66;
      }
    StepConfig config;
    config.apply_update = false;
    const StepStats st = ex.run_step(batches, config);
    double mtp_grad_sumsq = 0;
    for (int64_t r = 0; r < ex.num_ranks(); ++r) {
      const auto& rp = ex.rank(r).rp;
      std::set<int32_t> mtp_weights, main_weights;
      for (const auto& t : rp.templates)
        if (t.phase == ir::Phase::F)
          for (const ir::Operand& in : t.inputs)
            if (rp.tensors[size_t(in.tensor)].role == ir::TensorRole::Weight)
              (t.layer == p.model().num_layers ? mtp_weights : main_weights).insert(in.tensor);
      for (int32_t w : mtp_weights) {
        if (main_weights.count(w)) continue;   // the shared head
        const Param& param = ex.rank(r).params.by_tensor(w);
        // The routing bias is state; the embedding's copy receives the main embedding's gradient.
        if (param.kind == ParamKind::Bias || param.shared != ir::SharedWeight::None) continue;
        for (float g : param.grad) mtp_grad_sumsq += double(g) * g;
      }
    }
    return std::pair{mtp_grad_sumsq, st.balance_loss};
  };
  const auto [zero_grads, zero_balance] = gradients_and_balance(*tiny({"model.mtp_loss_weight=0"}));
  const auto [no_mtp_grads, no_mtp_balance] = gradients_and_balance(*tiny({"model.mtp_depth=0"}));
  const auto [grads, balance] = gradients_and_balance(*tiny({"model.mtp_loss_weight=0.3"}));
  CHECK(zero_grads == 0.0);
  CHECK(no_mtp_grads == 0.0);
  CHECK(zero_balance == Approx(no_mtp_balance).epsilon(1e-12));
  CHECK(grads > 0.0);
  CHECK(balance > zero_balance);
}
