// The operand slots each kind of op has, by its payload kind, role and phase: one table, which
// check_program (ir/graph_check.h) holds every op of a program to and which is written out below
// (a test keeps the two equal). The chunk builder and the step's templates fill these slots; the
// backend's op layer reads them.
//
// A row: payload kind, roles (* : any role no other row of the kind and phase names), phases:
// inputs -> outputs. A slot marked ? is optional, + holds one or more operands, any other exactly
// one; an op has no slot its row does not name. A recomputation (phase B, recompute) has its
// forward op's slots. Backward slots mirror the forward ones (gradient_slot): the gradient of an
// Input is an InputGrad, of an Output the OutputGrad its backward starts from; the router's backward
// starts from the RoutingGrad that the combine's backward writes. Casts and pipeline transfers read
// an Input and write an Output whatever they carry; a cached_notify reads, as an Input, the tensor its
// all-to-all sends (it waits for it, as DeepEP's stream wait does).
//
//   gemm mtp_proj F: input second_input weight -> output
//   gemm o_proj,ffn_down F: input weight residual? -> output
//   gemm * F: input weight -> output
//   gemm mtp_proj B: output_grad weight -> input_grad second_input_grad
//   gemm o_proj,ffn_down B: output_grad weight -> input_grad residual_grad?
//   gemm * B: output_grad weight -> input_grad
//   gemm mtp_proj W: input second_input output_grad -> weight_grad
//   gemm * W: input output_grad -> weight_grad
//   quantize * F,B,W: input -> output
//   norm * F: input weight -> output
//   norm * B: output_grad input weight -> input_grad weight_grad
//   attention * F: query key_value rope_key -> output
//   attention * B: output_grad query key_value rope_key saved -> query_grad key_value_grad rope_key_grad
//   elementwise rope F: query kv_latent -> query rope_key
//   elementwise rope B: query_grad rope_key_grad query kv_latent -> query_grad kv_latent_grad
//   elementwise ffn_swiglu,shared_swiglu,expert_swiglu F: input -> output
//   elementwise ffn_swiglu,shared_swiglu,expert_swiglu B: output_grad input -> input_grad
//   elementwise ffn_residual F: residual input shared_experts? -> output
//   elementwise attn_residual F: residual input -> output
//   elementwise embedding F: tokens weight -> output
//   elementwise embedding W: output_grad tokens -> weight_grad
//   elementwise loss F: input -> loss
//   elementwise loss B: input -> input_grad
//   router * F: input bias -> routing
//   router * B: routing_grad input -> input_grad
//   permute * F: input -> output
//   permute * B: output_grad -> input_grad
//   comm notify_dispatch F: routing -> -
//   comm cached_notify F,B: input -> -
//   comm dispatch F: input routing -> output
//   comm dispatch B: output_grad -> input_grad
//   comm combine F: input routing -> output
//   comm combine B: output_grad -> input_grad routing_grad
//   comm pipe_send F,B: input -> -
//   comm pipe_recv F,B: - -> output
//   comm grad_reduce_scatter,grad_all_reduce S: weight_grad+ -> weight_grad
//   comm shared_grad_all_reduce S: weight_grad -> weight_grad
//   comm param_all_gather S: weight -> -
//   comm q_latent_gather,kv_latent_gather,o_proj_scatter,ffn_gather,ffn_scatter,shared_gather,shared_scatter F: input -> output
//   comm q_latent_gather,kv_latent_gather,o_proj_scatter,ffn_gather,ffn_scatter,shared_gather,shared_scatter B: output_grad -> input_grad
//   quantize scale_transpose,cast_back F,B: input -> -
//   quantize weight_transpose B: weight -> -
//   elementwise rope_concat F,B: input -> -
//   optimizer * S: weight_grad+ -> weight+
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/step_program.h"

namespace tandem::ir {

enum class SlotArity : uint8_t { One, Optional, Many };   // exactly one; none or one (?); one or more (+)

struct SlotUse {
  OperandSlot slot;
  SlotArity arity = SlotArity::One;
};

struct SlotRule {
  OpKind kind;
  std::vector<OpRole> roles;     // empty: any role of the kind that no other row of the phase names
  std::vector<Phase> phases;
  std::vector<SlotUse> inputs, outputs;
};

// The table, in the order of the comment above.
const std::vector<SlotRule>& slot_rules();

// The row an op is held to (nullptr: none, itself a fault of the program).
const SlotRule* slot_rule_of(const OpTemplate& t);

// How t's operands differ from its row, in one line ("" when they do not).
std::string slot_mismatch(const OpTemplate& t);

// One row as the comment above writes it.
std::string to_string(const SlotRule& r);

}  // namespace tandem::ir
