// Operand slots: the accessors of an op template, the slot of each value's gradient, and the table
// of slots per op (ir/slot_rules.h) held by every op of the tiny and DeepSeek-V3 programs under
// every schedule, checked by check_program and written out in the table's header.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "ir/graph_check.h"
#include "ir/slot_rules.h"
#include "ir/step_program.h"

using namespace tandem::ir;
using S = OperandSlot;

namespace {

OpTemplate gemm_template(std::vector<Operand> in, std::vector<Operand> out, Phase phase = Phase::F) {
  return OpTemplate{OpRole::OProj, phase, ChunkPart::Attention, Stream::Compute, 0, 5, false, Gemm{256, 64, 128},
                    std::move(in), std::move(out)};
}

std::string source_dir() {
  const char* env = std::getenv("TANDEM_SOURCE_DIR");
  return env && *env ? env : ".";
}

// Every template of every rank program of `p`, with the rank program's position.
std::vector<std::pair<int32_t, const OpTemplate*>> all_templates(const StepProgram& p) {
  std::vector<std::pair<int32_t, const OpTemplate*>> out;
  for (const auto& rp : p.roles())
    for (const auto& t : rp.templates) out.emplace_back(rp.pp_index, &t);
  return out;
}

}  // namespace

TEST_CASE("an op template gives its operands by slot", "[ir][slots]") {
  const OpTemplate t = gemm_template({{3, S::Input}, {5, S::Weight}, {4, S::Residual}}, {{7, S::Output}});
  CHECK(t.in(S::Input) == 3);
  CHECK(t.in(S::Weight) == 5);
  CHECK(t.in(S::Residual) == 4);
  CHECK(t.out(S::Output) == 7);
  CHECK(t.has_in(S::Residual));
  CHECK_FALSE(t.has_in(S::SecondInput));
  CHECK_FALSE(t.has_out(S::Input));          // inputs and outputs are apart
  CHECK(t.ins(S::Weight) == std::vector<int32_t>{5});
  CHECK(t.ins(S::WeightGrad).empty());
  SECTION("an absent slot names the op and the slot") {
    CHECK_THROWS_AS(t.in(S::SecondInput), std::logic_error);
    CHECK_THROWS_WITH(t.in(S::SecondInput), Catch::Contains("L5.o_proj") && Catch::Contains("second_input"));
    CHECK_THROWS_WITH(t.out(S::InputGrad), Catch::Contains("L5.o_proj") && Catch::Contains("input_grad"));
  }
  SECTION("a slot holding several operands is read with ins, not in") {
    const OpTemplate many = gemm_template({{1, S::WeightGrad}, {2, S::WeightGrad}}, {});
    CHECK(many.ins(S::WeightGrad) == std::vector<int32_t>{1, 2});
    CHECK_THROWS_WITH(many.in(S::WeightGrad), Catch::Contains("2 input operands in slot weight_grad"));
  }
}

TEST_CASE("each value slot has its gradient slot, and every slot a name of its own", "[ir][slots]") {
  CHECK(gradient_slot(S::Input) == S::InputGrad);
  CHECK(gradient_slot(S::SecondInput) == S::SecondInputGrad);
  CHECK(gradient_slot(S::Weight) == S::WeightGrad);
  CHECK(gradient_slot(S::Residual) == S::ResidualGrad);
  CHECK(gradient_slot(S::Output) == S::OutputGrad);
  CHECK(gradient_slot(S::Routing) == S::RoutingGrad);
  CHECK(gradient_slot(S::Query) == S::QueryGrad);
  CHECK(gradient_slot(S::KvLatent) == S::KvLatentGrad);
  CHECK(gradient_slot(S::KeyValue) == S::KeyValueGrad);
  CHECK(gradient_slot(S::RopeKey) == S::RopeKeyGrad);
  for (S none : {S::Bias, S::Tokens, S::Saved, S::Loss, S::SharedExperts, S::InputGrad, S::OutputGrad})
    CHECK_FALSE(gradient_slot(none).has_value());
  for (S value : {S::Input, S::Weight, S::Routing, S::Saved, S::Loss}) CHECK_FALSE(is_gradient_slot(value));
  for (S grad : {S::InputGrad, S::WeightGrad, S::RoutingGrad, S::OutputGrad}) CHECK(is_gradient_slot(grad));
  std::set<std::string_view> names;
  for (int s = 0; s <= int(S::OutputGrad); ++s) {
    const std::string_view name = to_string(S(s));
    CHECK(name != "?");
    CHECK(names.insert(name).second);
  }
}

TEST_CASE("every op of the tiny and DeepSeek-V3 programs has the slots of its row", "[ir][slots][check]") {
  std::vector<std::pair<std::string, std::vector<std::string>>> cases;
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev"})
    cases.push_back({"tiny", {std::string("plan.schedule=") + schedule}});
  cases.push_back({"tiny", {"plan.precision.fp8=false"}});
  cases.push_back({"tiny", {"model.mtp_depth=0", "plan.schedule=dualpipev"}});
  cases.push_back({"tiny", {"model.shared_experts=0"}});
  cases.push_back({"tiny", {"plan.tp=2"}});   // the TP all-gathers, reduce-scatters and residual adds
  cases.push_back({"deepseek-v3-pretrain", {"plan.schedule=dualpipe", "plan.pp=4", "cluster.nodes=4", "plan.ep=8",
                                            "plan.global_batch_seqs=64"}});
  std::set<const SlotRule*> used;
  for (const auto& [scenario, overrides] : cases) {
    INFO(scenario << " " << overrides.front());
    const StepProgram p(load_scenario(scenario, overrides));
    const GraphCheck c = check_program(p);
    for (const auto& problem : c.problems) UNSCOPED_INFO(problem);
    CHECK(c.slot_errors == 0);
    CHECK(c.ok());
    for (const auto& [pp, t] : all_templates(p)) {
      INFO("pipeline position " << pp << ": " << t->name());
      REQUIRE(slot_rule_of(*t) != nullptr);
      CHECK(slot_mismatch(*t).empty());
      used.insert(slot_rule_of(*t));
      // A gradient slot holds a gradient: of a tensor, an FP8 copy of one, or a reduced shard of a
      // chunk's weight gradients.
      const auto& tensors = p.roles()[size_t(pp)].tensors;
      auto is_gradient = [&](int32_t x) {
        const TensorInfo& info = tensors[size_t(x)];
        const int32_t source = info.fp8_copy_of >= 0 ? info.fp8_copy_of : x;
        return tensors[size_t(source)].gradient_of >= 0 || info.role == TensorRole::Gradient;
      };
      for (const auto* list : {&t->inputs, &t->outputs})
        for (const Operand& o : *list)
          if (is_gradient_slot(o.slot)) CHECK(is_gradient(o.tensor));
    }
  }
  // Every row of the table is some op's (the table names no slot set that nothing has).
  CHECK(used.size() == slot_rules().size());
}

TEST_CASE("the slot check reports an op whose operands are not its row's", "[ir][slots][check]") {
  StepProgram p(load_scenario("tiny"));
  auto& rp = const_cast<RankProgram&>(p.program_of(0));
  auto it = std::find_if(rp.templates.begin(), rp.templates.end(),
                         [](const OpTemplate& t) { return t.role == OpRole::OProj && t.phase == Phase::F; });
  REQUIRE(it != rp.templates.end());
  SECTION("a slot missing") {
    std::erase_if(it->inputs, [](const Operand& o) { return o.slot == S::Weight; });
    const GraphCheck c = check_program(p);
    CHECK_FALSE(c.ok());
    CHECK(c.slot_errors == 1);
    REQUIRE_FALSE(c.problems.empty());
    CHECK_THAT(c.problems.front(), Catch::Contains("o_proj") && Catch::Contains("0 inputs in slot weight, expected one"));
  }
  SECTION("a slot the row does not have") {
    it->inputs.push_back({it->in(S::Input), S::SecondInput});
    const GraphCheck c = check_program(p);
    CHECK(c.slot_errors == 1);
    REQUIRE_FALSE(c.problems.empty());
    CHECK_THAT(c.problems.front(), Catch::Contains("an input in slot second_input, which its row does not have"));
  }
}

TEST_CASE("the header of the slot table writes out every row of it", "[ir][slots]") {
  std::ifstream f(source_dir() + "/ir/slot_rules.h");
  REQUIRE(f);
  std::stringstream text;
  text << f.rdbuf();
  size_t rows_in_header = 0;
  for (std::string line; std::getline(text, line);)
    if (line.starts_with("//   ") && line.find(" -> ") != std::string::npos) ++rows_in_header;
  const std::string header = text.str();
  for (const SlotRule& r : slot_rules()) {
    INFO(to_string(r));
    CHECK(header.find("//   " + to_string(r) + "\n") != std::string::npos);
  }
  CHECK(rows_in_header == slot_rules().size());
}
