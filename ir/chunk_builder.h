// ChunkBuilder: writes the op templates of one model chunk into a RankProgram: the forward ops layer
// by layer (embedding, MLA attention, dense FFN or MoE with dispatch/combine, head, loss, MTP), then
// their backward as the mirror image (input-grad B ops, weight-grad W ops, recomputation).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"

namespace tandem::ir {

struct ChunkTemplates {
  int32_t chunk = -1;
  int32_t input = -1;                // activation entering the chunk (-1 on the first: token ids)
  int32_t output = -1;               // activation leaving it (-1 on the last chunk)
  int32_t output_grad = -1;          // its gradient, which the chunk's backward starts from
  int32_t input_grad = -1;           // the input's gradient, which the chunk's backward ends with
  int32_t embedding = -1;            // the embedding weight (first chunk)
  int32_t embedding_grad = -1;       // its gradient
  int32_t shared_copy = -1;          // the MTP module's copy of the embedding (-1: none; see SharedWeight)
  int32_t shared_copy_grad = -1;     // its gradient
  std::vector<int32_t> forward;      // template indices in issue order
  std::vector<int32_t> backward;     // B ops with each W op right after its B op
  int64_t saved_activation_bytes = 0;   // per micro-batch
  int64_t params = 0, expert_params = 0;
  int64_t tp_replicated_params = 0;     // dense parameters whole on every rank of the TP group
};

struct ChunkContext {
  const Scenario& scenario;
  int32_t first_layer, last_layer;   // [first, last)
  bool first_chunk, last_chunk;
  int32_t input_tensor;              // -1: make one; else the previous chunk's output on this rank
  int32_t shared_embedding;          // embedding weight already on this rank (-1: none)
  // Where two chunks of a rank meet (DualPipeV) or share the embedding (DualPipe's MTP module), one
  // tensor holds the gradient: the earlier-built chunk's (-1: make one).
  int32_t input_grad = -1;           // gradient of input_tensor
  int32_t shared_embedding_grad = -1;
};

ChunkTemplates build_chunk(RankProgram& rp, int32_t chunk, const ChunkContext& ctx);

}  // namespace tandem::ir
