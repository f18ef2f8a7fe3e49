// Names of operand slots, as messages and checks print them, and the slot of each value's gradient.
#include "ir/operand_slot.h"

namespace tandem::ir {

std::string_view to_string(OperandSlot s) {
  switch (s) {
    case OperandSlot::Input: return "input";
    case OperandSlot::SecondInput: return "second_input";
    case OperandSlot::Weight: return "weight";
    case OperandSlot::Bias: return "bias";
    case OperandSlot::Residual: return "residual";
    case OperandSlot::SharedExperts: return "shared_experts";
    case OperandSlot::Tokens: return "tokens";
    case OperandSlot::Query: return "query";
    case OperandSlot::KvLatent: return "kv_latent";
    case OperandSlot::KeyValue: return "key_value";
    case OperandSlot::RopeKey: return "rope_key";
    case OperandSlot::Routing: return "routing";
    case OperandSlot::Saved: return "saved";
    case OperandSlot::Output: return "output";
    case OperandSlot::Loss: return "loss";
    case OperandSlot::InputGrad: return "input_grad";
    case OperandSlot::SecondInputGrad: return "second_input_grad";
    case OperandSlot::WeightGrad: return "weight_grad";
    case OperandSlot::ResidualGrad: return "residual_grad";
    case OperandSlot::QueryGrad: return "query_grad";
    case OperandSlot::KvLatentGrad: return "kv_latent_grad";
    case OperandSlot::KeyValueGrad: return "key_value_grad";
    case OperandSlot::RopeKeyGrad: return "rope_key_grad";
    case OperandSlot::RoutingGrad: return "routing_grad";
    case OperandSlot::OutputGrad: return "output_grad";
  }
  return "?";
}

std::optional<OperandSlot> gradient_slot(OperandSlot s) {
  switch (s) {
    case OperandSlot::Input: return OperandSlot::InputGrad;
    case OperandSlot::SecondInput: return OperandSlot::SecondInputGrad;
    case OperandSlot::Weight: return OperandSlot::WeightGrad;
    case OperandSlot::Residual: return OperandSlot::ResidualGrad;
    case OperandSlot::Query: return OperandSlot::QueryGrad;
    case OperandSlot::KvLatent: return OperandSlot::KvLatentGrad;
    case OperandSlot::KeyValue: return OperandSlot::KeyValueGrad;
    case OperandSlot::RopeKey: return OperandSlot::RopeKeyGrad;
    case OperandSlot::Routing: return OperandSlot::RoutingGrad;
    case OperandSlot::Output: return OperandSlot::OutputGrad;
    default: return std::nullopt;
  }
}

bool is_gradient_slot(OperandSlot s) { return s >= OperandSlot::InputGrad; }

}  // namespace tandem::ir
