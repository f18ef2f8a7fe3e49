// Errors that say what to change: for a plan the rules refuse, the nearest values of one field at a
// time (global batch, micro-batch size, pp, ep) with which the plan passes every rule.
#pragma once
#include <string>

#include "ir/scenario.h"

namespace tandem::ir {

// The rules a plan must meet against its model and cluster (validate_scenario without the topology
// and program-size checks); throws ScenarioError. Defined in scenario_validate.cpp.
void check_plan_rules(const Scenario& s);

// "global_batch_seqs = 16384 (32 micro-batches), pp = 8 (dp 1024)": for each of plan.global_batch_seqs,
// plan.micro_batch_seqs, plan.pp (with dp = world / (pp × tp)) and plan.ep, the value nearest the
// plan's own with which check_plan_rules passes, the rest of the plan unchanged (ties: the smaller
// value; for the global batch, the larger, which has the smaller bubble). "" when none does.
std::string nearby_plans(const Scenario& s);

}  // namespace tandem::ir
