// OperandSlot: the part an operand plays in the op that reads or writes it (a GEMM's weight, the
// residual its epilogue adds, a backward op's upstream gradient ...). Every operand of an op template
// carries one, so consumers ask for an operand by what it is, not by where the builder put it.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem::ir {

enum class OperandSlot : uint8_t {
  // Values: read or written by forward ops, read again by backward ops.
  Input,          // the activation an op transforms (GEMM X, a norm's x, SwiGLU's [gate | up], the logits),
                  // or what a cast or a send reads
  SecondInput,    // the MTP projection's hidden half: it multiplies [norm(embedding) | norm(hidden)]
  Weight,         // a trained weight: a GEMM's W, a norm's gain, the embedding table; the updated weights of the optimizer
  Bias,           // the router's per-expert bias (aux-loss-free balancing state; no gradient)
  Residual,       // the residual stream added to the result (an output projection's epilogue, the MoE block's sum)
  SharedExperts,  // the shared experts' output, summed after the MoE block with the routed experts' (Input)
  Tokens,         // token ids of the step's batch
  Query,          // MLA: the queries [nope | rope] per head (RoPE reads and writes them, the core reads them)
  KvLatent,       // MLA: kv_down's output [latent | rope key], whose rope key RoPE rotates
  KeyValue,       // MLA: the up-projected [k_nope | v] per head
  RopeKey,        // MLA: the rotated rope key, shared by every head
  Routing,        // the router's choice: expert ids and weights per token
  Saved,          // a forward output its backward reads again (the attention core's output, with its log-sum-exp)
  Output,         // the value an op writes (what a cast or a receive writes)
  Loss,           // a loss value
  // Gradients, each of the value slot it names (gradient_slot).
  InputGrad,
  SecondInputGrad,
  WeightGrad,     // also the reduced gradients of the data-parallel collectives, which the optimizer reads
  ResidualGrad,
  QueryGrad,
  KvLatentGrad,
  KeyValueGrad,
  RopeKeyGrad,
  RoutingGrad,    // the routing weights' gradient: the combine backward writes it, the router backward reads it
  OutputGrad,     // the upstream gradient of a backward op
};

std::string_view to_string(OperandSlot s);   // "weight", "output_grad", ...

// The slot of a value's gradient (Input -> InputGrad, Output -> OutputGrad ...); none for slots whose
// operands get no gradient (Bias, Tokens, Saved, Loss, SharedExperts: the MoE block's sum passes its
// gradient on as it is) and for gradients.
std::optional<OperandSlot> gradient_slot(OperandSlot s);

// Whether s is one of the gradient slots (InputGrad ... OutputGrad).
bool is_gradient_slot(OperandSlot s);

}  // namespace tandem::ir
