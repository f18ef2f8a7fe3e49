// The table of the operand slots each kind of op has (see slot_rules.h), its lookup and the
// comparison of an op's operands with its row.
#include "ir/slot_rules.h"

#include <algorithm>

#include <fmt/format.h>

namespace tandem::ir {

namespace {

using S = OperandSlot;
using R = OpRole;
constexpr SlotArity kOptional = SlotArity::Optional, kMany = SlotArity::Many;

std::vector<SlotRule> make_rules() {
  const std::vector<Phase> F{Phase::F}, B{Phase::B}, W{Phase::W}, Step{Phase::Step};
  const std::vector<R> residual_gemms{R::OProj, R::FfnDown}, swiglu{R::FfnSwiglu, R::SharedSwiglu, R::ExpertSwiglu};
  const std::vector<R> sequence_comm{R::QLatentGather, R::KvLatentGather, R::OProjScatter, R::FfnGather,
                                     R::FfnScatter, R::SharedGather, R::SharedScatter};
  return {
      {OpKind::Gemm, {R::MtpProj}, F, {{S::Input}, {S::SecondInput}, {S::Weight}}, {{S::Output}}},
      {OpKind::Gemm, residual_gemms, F, {{S::Input}, {S::Weight}, {S::Residual, kOptional}}, {{S::Output}}},
      {OpKind::Gemm, {}, F, {{S::Input}, {S::Weight}}, {{S::Output}}},
      {OpKind::Gemm, {R::MtpProj}, B, {{S::OutputGrad}, {S::Weight}}, {{S::InputGrad}, {S::SecondInputGrad}}},
      {OpKind::Gemm, residual_gemms, B, {{S::OutputGrad}, {S::Weight}}, {{S::InputGrad}, {S::ResidualGrad, kOptional}}},
      {OpKind::Gemm, {}, B, {{S::OutputGrad}, {S::Weight}}, {{S::InputGrad}}},
      {OpKind::Gemm, {R::MtpProj}, W, {{S::Input}, {S::SecondInput}, {S::OutputGrad}}, {{S::WeightGrad}}},
      {OpKind::Gemm, {}, W, {{S::Input}, {S::OutputGrad}}, {{S::WeightGrad}}},
      {OpKind::Quantize, {}, {Phase::F, Phase::B, Phase::W}, {{S::Input}}, {{S::Output}}},
      {OpKind::Norm, {}, F, {{S::Input}, {S::Weight}}, {{S::Output}}},
      {OpKind::Norm, {}, B, {{S::OutputGrad}, {S::Input}, {S::Weight}}, {{S::InputGrad}, {S::WeightGrad}}},
      {OpKind::Attention, {}, F, {{S::Query}, {S::KeyValue}, {S::RopeKey}}, {{S::Output}}},
      {OpKind::Attention, {}, B, {{S::OutputGrad}, {S::Query}, {S::KeyValue}, {S::RopeKey}, {S::Saved}},
       {{S::QueryGrad}, {S::KeyValueGrad}, {S::RopeKeyGrad}}},
      {OpKind::Elementwise, {R::Rope}, F, {{S::Query}, {S::KvLatent}}, {{S::Query}, {S::RopeKey}}},
      {OpKind::Elementwise, {R::Rope}, B, {{S::QueryGrad}, {S::RopeKeyGrad}, {S::Query}, {S::KvLatent}},
       {{S::QueryGrad}, {S::KvLatentGrad}}},
      {OpKind::Elementwise, swiglu, F, {{S::Input}}, {{S::Output}}},
      {OpKind::Elementwise, swiglu, B, {{S::OutputGrad}, {S::Input}}, {{S::InputGrad}}},
      {OpKind::Elementwise, {R::FfnResidual}, F, {{S::Residual}, {S::Input}, {S::SharedExperts, kOptional}}, {{S::Output}}},
      {OpKind::Elementwise, {R::AttnResidual}, F, {{S::Residual}, {S::Input}}, {{S::Output}}},
      {OpKind::Elementwise, {R::Embedding}, F, {{S::Tokens}, {S::Weight}}, {{S::Output}}},
      {OpKind::Elementwise, {R::Embedding}, W, {{S::OutputGrad}, {S::Tokens}}, {{S::WeightGrad}}},
      {OpKind::Elementwise, {R::Loss}, F, {{S::Input}}, {{S::Loss}}},
      {OpKind::Elementwise, {R::Loss}, B, {{S::Input}}, {{S::InputGrad}}},
      {OpKind::Router, {}, F, {{S::Input}, {S::Bias}}, {{S::Routing}}},
      {OpKind::Router, {}, B, {{S::RoutingGrad}, {S::Input}}, {{S::InputGrad}}},
      {OpKind::Permute, {}, F, {{S::Input}}, {{S::Output}}},
      {OpKind::Permute, {}, B, {{S::OutputGrad}}, {{S::InputGrad}}},
      {OpKind::Comm, {R::NotifyDispatch}, F, {{S::Routing}}, {}},
      {OpKind::Comm, {R::CachedNotify}, {Phase::F, Phase::B}, {{S::Input}}, {}},
      {OpKind::Comm, {R::Dispatch}, F, {{S::Input}, {S::Routing}}, {{S::Output}}},
      {OpKind::Comm, {R::Dispatch}, B, {{S::OutputGrad}}, {{S::InputGrad}}},
      {OpKind::Comm, {R::Combine}, F, {{S::Input}, {S::Routing}}, {{S::Output}}},
      {OpKind::Comm, {R::Combine}, B, {{S::OutputGrad}}, {{S::InputGrad}, {S::RoutingGrad}}},
      {OpKind::Comm, {R::PipeSend}, {Phase::F, Phase::B}, {{S::Input}}, {}},
      {OpKind::Comm, {R::PipeRecv}, {Phase::F, Phase::B}, {}, {{S::Output}}},
      {OpKind::Comm, {R::GradReduceScatter, R::GradAllReduce}, Step, {{S::WeightGrad, kMany}}, {{S::WeightGrad}}},
      {OpKind::Comm, {R::SharedGradAllReduce}, Step, {{S::WeightGrad}}, {{S::WeightGrad}}},
      {OpKind::Comm, {R::ParamAllGather}, Step, {{S::Weight}}, {}},
      {OpKind::Comm, sequence_comm, F, {{S::Input}}, {{S::Output}}},
      {OpKind::Comm, sequence_comm, B, {{S::OutputGrad}}, {{S::InputGrad}}},
      {OpKind::Quantize, {R::ScaleTranspose, R::CastBack}, {Phase::F, Phase::B}, {{S::Input}}, {}},
      {OpKind::Quantize, {R::WeightTranspose}, B, {{S::Weight}}, {}},
      {OpKind::Elementwise, {R::RopeConcat}, {Phase::F, Phase::B}, {{S::Input}}, {}},
      {OpKind::Optimizer, {}, Step, {{S::WeightGrad, kMany}}, {{S::Weight, kMany}}},
  };
}

bool contains(const auto& list, const auto& x) { return std::find(list.begin(), list.end(), x) != list.end(); }

// Whether a row naming no roles leaves `role` to a row of the same kind and phase that names it.
bool named_elsewhere(const std::vector<SlotRule>& rules, OpKind kind, OpRole role, Phase phase) {
  return std::any_of(rules.begin(), rules.end(),
                     [&](const SlotRule& r) { return r.kind == kind && contains(r.phases, phase) && contains(r.roles, role); });
}

std::string slot_list(const std::vector<SlotUse>& uses) {
  if (uses.empty()) return "-";
  std::string out;
  for (const SlotUse& u : uses)
    out += fmt::format("{}{}{}", out.empty() ? "" : " ", to_string(u.slot),
                       u.arity == SlotArity::Optional ? "?" : u.arity == SlotArity::Many ? "+" : "");
  return out;
}

// The first way `operands` break `uses` ("" when they do not).
std::string side_mismatch(const std::vector<Operand>& operands, const std::vector<SlotUse>& uses, std::string_view side) {
  for (const Operand& o : operands)
    if (std::none_of(uses.begin(), uses.end(), [&](const SlotUse& u) { return u.slot == o.slot; }))
      return fmt::format("an {} in slot {}, which its row does not have", side, to_string(o.slot));
  for (const SlotUse& u : uses) {
    const auto n = std::count_if(operands.begin(), operands.end(), [&](const Operand& o) { return o.slot == u.slot; });
    const bool fits = u.arity == SlotArity::One ? n == 1 : u.arity == SlotArity::Optional ? n <= 1 : n >= 1;
    if (!fits)
      return fmt::format("{} {}s in slot {}, expected {}", n, side, to_string(u.slot),
                         u.arity == SlotArity::One ? "one" : u.arity == SlotArity::Optional ? "at most one" : "one or more");
  }
  return "";
}

}  // namespace

const std::vector<SlotRule>& slot_rules() {
  static const std::vector<SlotRule> rules = make_rules();
  return rules;
}

const SlotRule* slot_rule_of(const OpTemplate& t) {
  const auto& rules = slot_rules();
  const OpKind kind = kind_of(t.payload);
  const Phase phase = t.recompute ? Phase::F : t.phase;
  for (const SlotRule& r : rules) {
    if (r.kind != kind || !contains(r.phases, phase)) continue;
    if (r.roles.empty() ? !named_elsewhere(rules, kind, t.role, phase) : contains(r.roles, t.role)) return &r;
  }
  return nullptr;
}

std::string slot_mismatch(const OpTemplate& t) {
  const SlotRule* r = slot_rule_of(t);
  const std::string op = fmt::format("{} ({} {}{})", t.name(), to_string(kind_of(t.payload)), phase_letter(t.phase),
                                     t.recompute ? ", recomputed" : "");
  if (!r) return fmt::format("{}: no row of the slot table covers it", op);
  std::string why = side_mismatch(t.inputs, r->inputs, "input");
  if (why.empty()) why = side_mismatch(t.outputs, r->outputs, "output");
  return why.empty() ? why : fmt::format("{}: {} (its row: {})", op, why, to_string(*r));
}

std::string to_string(const SlotRule& r) {
  std::string roles, phases;
  for (OpRole role : r.roles) roles += fmt::format("{}{}", roles.empty() ? "" : ",", to_string(role));
  for (Phase p : r.phases) phases += fmt::format("{}{}", phases.empty() ? "" : ",", phase_letter(p));
  return fmt::format("{} {} {}: {} -> {}", to_string(r.kind), roles.empty() ? "*" : roles, phases, slot_list(r.inputs),
                     slot_list(r.outputs));
}

}  // namespace tandem::ir
