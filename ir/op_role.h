// What an op computes in the model, independent of its kernel payload: the executor maps
// (role, phase) to the math, the timeline names ops by it, and `compare` lines ops up by it.
#pragma once
#include <cstdint>
#include <string_view>

namespace tandem::ir {

enum class OpRole : uint8_t {
  // embedding and head (BF16/FP32 in the FP8 recipe)
  Embedding, FinalNorm, Head, Loss,
  // MLA attention
  AttnNorm, QDownQuant, QDown, QNorm, QUpQuant, QUp, KvDown, KvNorm, KvUpQuant, KvUp, Rope,
  AttnCore, OProjQuant, OProj,
  // dense FFN and the shared expert (SwiGLU)
  FfnNorm, FfnUpQuant, FfnUp, FfnSwiglu, FfnDownQuant, FfnDown,
  SharedUp, SharedSwiglu, SharedDownQuant, SharedDown,
  // routed experts; NotifyDispatch and CachedNotify are DeepEP's handshakes on the communication
  // stream: before the forward dispatch (counts), and before each all-to-all reusing its layout (the
  // forward combine and both backward ones)
  Gate, Router, DispatchQuant, NotifyDispatch, Dispatch, Permute, ExpertUp, ExpertSwiglu, ExpertDownQuant,
  ExpertDown, Unpermute, CachedNotify, Combine, FfnResidual,
  // multi-token prediction module (depth 1): norms of the embedding and hidden, projection
  MtpEmbedNorm, MtpHiddenNorm, MtpProj,
  // pipeline and data-parallel communication, optimizer
  PipeSend, PipeRecv, GradReduceScatter, ParamAllGather, GradAllReduce, SharedGradAllReduce, OptimizerStep,
  // tensor parallelism with sequence parallelism: the all-gathers into each TP region (the MLA latents,
  // the FFN's and the shared expert's input), the reduce-scatters out of it (the row-parallel output
  // projections' partial sums) and the residual add the output projection no longer fuses
  QLatentGather, KvLatentGather, OProjScatter, AttnResidual, FfnGather, FfnScatter, SharedGather, SharedScatter,
  // layout and precision kernels of the FP8 step (ir/layout_kernels.h): DeepGEMM's transpose of a GEMM
  // operand's 1x128 scales, the FP8 weight's transpose for the input gradient, the cast of an
  // FP8-cached activation back to BF16, RoPE's copy that concatenates a head's parts
  ScaleTranspose, WeightTranspose, CastBack, RopeConcat,
};

std::string_view to_string(OpRole r);   // e.g. "q_down", "dispatch"

// Sub-chunk a DualPipe overlapped pair interleaves: attention, dispatch, MLP, combine.
enum class ChunkPart : uint8_t { Attention, Dispatch, Mlp, Combine, Other };
std::string_view to_string(ChunkPart p);

}  // namespace tandem::ir
