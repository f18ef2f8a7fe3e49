// The layout and precision kernels a real FP8 step launches beside its GEMMs, attention and RoPE:
// DeepGEMM's transpose of an operand's 1x128 scales, the FP8 weight's transpose for the input
// gradient, cast-backs of FP8-cached activations, and RoPE's concatenating copies (docs/ir.md).
#pragma once
#include "ir/chunk_builder.h"

namespace tandem::ir {

// Whether an op of this role is one of them. Such an op reads the tensor it re-lays out and writes
// none: the ops after it read the values it would produce from that tensor, so it costs its kernel's
// time and computes nothing (the CPU backend runs nothing for it, docs/backend.md).
inline bool is_layout_kernel(OpRole r) {
  return r == OpRole::ScaleTranspose || r == OpRole::WeightTranspose || r == OpRole::CastBack || r == OpRole::RopeConcat;
}

// Inserts them into a built chunk's forward and backward issue orders, each right before (a copy:
// right after) the op it serves, with that op's layer, phase, part and recomputation:
// - before every dense FP8 GEMM that reads 1x128-tiled activations (forward, recomputed, input
//   gradient): the transpose of those scales;
// - before every FP8 input-gradient GEMM: its weight's transpose (the FP8 weight in 128x128 blocks);
// - before every recomputed SwiGLU (its input cached in FP8) and the output projection's input
//   gradient (the attention output, cached in FP8): the cast back to BF16;
// - after every RoPE (forward and recomputed) the copy of the query heads' no-rope part into the
//   concatenated query; before RoPE's backward the two copies that split the gradients again.
void add_layout_kernels(RankProgram& rp, ChunkTemplates& chunk, const Scenario& scenario);

}  // namespace tandem::ir
