// Tensor parallelism with sequence parallelism (plan.tp) on the CPU backend: tp = 2 trains the tiny
// model tp = 1 trains (the same initial weights, losses and gradients within FP32 reordering), and a
// checkpoint holds whole tensors at any tp, so a run resumes bit for bit at its own tp and on another.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "backend/training/checkpoint.h"
#include "backend_test_util.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;

namespace {

// Two sequences a micro-batch, so each rank of a TP group routes a whole one (the balance loss is per
// sequence); 8 a step as the other training tests.
std::vector<std::string> with(std::vector<std::string> more) {
  std::vector<std::string> o = {"plan.micro_batch_seqs=2"};
  o.insert(o.end(), more.begin(), more.end());
  return o;
}

// tp = 2 on tiny's 4 ranks: pp 2 × tp 2 (dp 1, the EP group is the TP group), and pp 1 × dp 2 × tp 2.
const std::vector<std::string> kTp2Pp2 = {"plan.tp=2"};
const std::vector<std::string> kTp2Pp1 = {"plan.tp=2", "plan.pp=1"};

TrainOptions options(int64_t steps, bool exact) {
  TrainOptions o;
  o.steps = steps;
  o.backend.exact = exact;
  return o;
}

// The whole gradient of every parameter entry after a step: each rank's accumulated gradient put at
// its place in the whole weight (Param::whole_index) and summed over the ranks (data-parallel copies,
// TP partial sums; a shared weight's copy is left out: after its all-reduce it equals the original).
std::map<std::string, std::vector<double>> whole_gradients(Executor& ex) {
  std::map<std::string, std::vector<double>> out;
  for (int64_t r = 0; r < ex.num_ranks(); ++r)
    for (const auto& p : ex.rank(r).params.params()) {
      if (p->kind == ParamKind::Bias || p->shared_replica) continue;
      for (int64_t e = 0; e < p->experts; ++e) {
        auto& g = out[p->entry_name(e)];
        g.resize(size_t(p->whole_per_expert()), 0.0);
        for (int64_t i = 0; i < p->per_expert(); ++i) g[size_t(p->whole_index(i))] += double(p->grad[size_t(e * p->per_expert() + i)]);
      }
    }
  return out;
}

std::map<std::string, std::vector<double>> first_step_gradients(const ir::StepProgram& program) {
  Trainer t(program, options(1, true), corpus(), "stories.tok");
  t.prepare();
  t.run();
  return whole_gradients(t.executor());
}

}  // namespace

TEST_CASE("tensor parallelism trains the tiny model like tp = 1", "[training][plans][tp]") {
  // The same global batch of 8 sequences; tp = 1 on tiny's pp 2 × dp 2. A TP rank's heads and FFN
  // slices sum their partial products in the reduce-scatter, the replicated weights' gradients sum over
  // the TP group: the same model, with FP32 sums in another order. Bound: 1e-5 relative (measured
  // below 1e-6 over 3 steps).
  const auto one = train(*tiny(with({})), options(3, true));
  for (const auto& overrides : {kTp2Pp2, kTp2Pp1}) {
    INFO((overrides.size() == 1 ? "pp 2 x tp 2" : "pp 1 x dp 2 x tp 2"));
    const auto two = train(*tiny(with(overrides)), options(3, true));
    REQUIRE(two.size() == 3);
    for (size_t i = 0; i < one.size(); ++i) {
      INFO("step " << i + 1);
      CHECK(two[i].stats.tokens == one[i].stats.tokens);
      CHECK(two[i].stats.loss == Approx(one[i].stats.loss).epsilon(1e-5));
      CHECK(two[i].stats.mtp_loss == Approx(one[i].stats.mtp_loss).epsilon(1e-5));
      CHECK(two[i].stats.balance_loss == Approx(one[i].stats.balance_loss).epsilon(1e-5));
      CHECK(two[i].stats.grad_norm == Approx(one[i].stats.grad_norm).epsilon(1e-5));
    }
    // Routing is decided on the same scores: the same token-expert pairs.
    CHECK(two[0].stats.expert_load == one[0].stats.expert_load);
  }
}

TEST_CASE("under the FP8 recipe tensor parallelism trains the tiny model like tp = 1 within its rounding", "[training][plans][tp]") {
  // Rounding differs: partial sums are rounded to BF16 before the reduce-scatter, and a weight slice's
  // 128x128 FP8 block scales come from the slice (tiny's weights are narrower than one block).
  const auto one = train(*tiny(with({})), options(3, false));
  const auto two = train(*tiny(with(kTp2Pp2)), options(3, false));
  REQUIRE(two.size() == 3);
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("step " << i + 1);
    CHECK(two[i].stats.loss == Approx(one[i].stats.loss).epsilon(2e-3));
    CHECK(two[i].stats.mtp_loss == Approx(one[i].stats.mtp_loss).epsilon(2e-3));
  }
}

TEST_CASE("tensor parallelism gives the gradients of tp = 1", "[training][plans][tp]") {
  // Every parameter entry's whole gradient after one step, tp = 2 against tp = 1 (FP32 mode): each
  // element within 1e-5 of the entry's largest.
  const auto one = first_step_gradients(*tiny(with({})));
  for (const auto& overrides : {kTp2Pp2, kTp2Pp1}) {
    const auto two = first_step_gradients(*tiny(with(overrides)));
    REQUIRE(two.size() == one.size());
    for (const auto& [name, g1] : one) {
      INFO(name);
      REQUIRE(two.count(name) == 1);
      const auto& g2 = two.at(name);
      REQUIRE(g2.size() == g1.size());
      double largest = 0, diff = 0;
      for (size_t i = 0; i < g1.size(); ++i) {
        largest = std::max(largest, std::abs(g1[i]));
        diff = std::max(diff, std::abs(g1[i] - g2[i]));
      }
      CHECK(largest > 0);
      CHECK(diff <= 1e-5 * largest);
    }
  }
}

TEST_CASE("a tensor-parallel run's checkpoint holds whole tensors: it resumes bit for bit and on tp = 1", "[training][plans][tp][checkpoint]") {
  const auto two = tiny(with(kTp2Pp2)), one = tiny(with({}));
  const auto dir = temp_dir("tp_resume");
  TrainOptions o = options(3, true);
  o.checkpoint_dir = (dir / "a").string();
  o.checkpoint_every = 2;
  const auto full = train(*two, o);
  const std::string at2 = checkpoint_path(o.checkpoint_dir, 2);

  // At the same tp: the losses of the uninterrupted run, bit for bit.
  TrainOptions r = o;
  r.resume = at2;
  r.checkpoint_dir.clear();
  {
    Trainer t(*two, r, corpus(), "stories.tok");
    t.prepare();
    const auto rest = t.run();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].stats.loss == full[2].stats.loss);
    CHECK(rest[0].stats.grad_norm == full[2].stats.grad_norm);
  }
  // On tp = 1 (pp 2 × dp 2): every whole tensor lands where tp = 1 keeps it (captured again, the same
  // values), and the next step is step 3's within FP32 reordering.
  Trainer t(*one, r, corpus(), "stories.tok");
  t.prepare();
  const Checkpoint written = read_checkpoint(at2);
  const Checkpoint again = capture_checkpoint(t.executor());
  CHECK(again.tensors.size() == written.tensors.size());
  CHECK(again.tensors == written.tensors);
  const auto rest = t.run();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].stats.loss == Approx(full[2].stats.loss).epsilon(1e-5));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a TP plan whose sequences straddle the TP ranks is refused while the balance loss is on", "[training][plans][tp][errors]") {
  // One sequence a micro-batch over 2 TP ranks: the sequence-wise balance loss would need both halves.
  CHECK_THROWS_WITH(Executor(*tiny({"plan.tp=2"}), BackendOptions{}),
                    Catch::Contains("plan.micro_batch_seqs") && Catch::Contains("a multiple of plan.tp = 2") &&
                        Catch::Contains("found 1"));
  // Without it, any split runs.
  const auto logs = train(*tiny({"plan.tp=2", "model.balance_loss_alpha=0"}), options(1, true));
  REQUIRE(logs.size() == 1);
  CHECK(std::isfinite(logs[0].stats.loss));
}

TEST_CASE("without ZeRO the gradient norm counts each all-reduced element once, at tp 1 and 2", "[training][plans][tp]") {
  // zero_stage 0 all-reduces the gradients: every member of a group holds all of them (dp 2 copies of
  // the dense ones at tp 1; at tp 2 the replicated ones on both TP ranks). The norm and so the clipping
  // are zero_stage 1's (FP32 sums in another order).
  for (const auto& overrides : {std::vector<std::string>{}, kTp2Pp1}) {
    auto zero0 = overrides;
    zero0.push_back("plan.zero_stage=0");
    const auto a = train(*tiny(with(zero0)), options(2, true)), b = train(*tiny(with(overrides)), options(2, true));
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("step " << i + 1 << ", " << overrides.size() << " overrides");
      CHECK(a[i].stats.grad_norm == Approx(b[i].stats.grad_norm).epsilon(1e-6));
      CHECK(a[i].stats.loss == Approx(b[i].stats.loss).epsilon(1e-6));
    }
  }
}

TEST_CASE("tensor parallelism composes with the schedules and recomputation and runs tp = 4", "[training][plans][tp]") {
  // Each trains tp = 1's model: DualPipe and interleaved 1F1B on pp 2 × tp 2, full recomputation
  // (the TP regions' forward ops re-run in the backward, their collectives not), and tp = 4 on one
  // pipeline position (1 head a rank). FP32, 2 steps, within 1e-5 relative.
  const auto one = train(*tiny(with({})), options(2, true));
  const std::vector<std::vector<std::string>> plans = {{"plan.tp=2", "plan.schedule=dualpipe"},
                                                        {"plan.tp=2", "plan.schedule=interleaved", "plan.virtual_stages=2"},
                                                        {"plan.tp=2", R"(plan.recompute=["full"])"},
                                                        {"plan.tp=4", "plan.pp=1", "plan.micro_batch_seqs=4"}};
  for (const auto& plan : plans) {
    INFO(plan.at(1));
    const auto got = train(*tiny(with(plan)), options(2, true));
    REQUIRE(got.size() == one.size());
    for (size_t i = 0; i < one.size(); ++i) {
      CHECK(got[i].stats.loss == Approx(one[i].stats.loss).epsilon(1e-5));
      CHECK(got[i].stats.grad_norm == Approx(one[i].stats.grad_norm).epsilon(1e-5));
    }
  }
}
