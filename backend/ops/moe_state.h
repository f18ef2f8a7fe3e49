// State of one MoE layer for one micro-batch, kept from the router through dispatch, the experts and
// combine to their backward. A rank is a source (its tokens are routed out) and an expert holder (it
// receives rows of the whole EP group) at once. Ops that touch it are ordered by their dependencies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/permute/permute_cpu.h"

namespace tandem::backend {

struct MoeState {
  // Source side: this rank's (token, slot) pairs ordered by global expert (kernels' permute index),
  // hence by the EP-group member holding the expert; rows travel in that order.
  int64_t tokens = 0, top_k = 0;
  std::vector<float> weight;          // [tokens, top_k] routing weights
  kernels::PermuteIndex index;        // over the routed experts of the model
  std::vector<int64_t> send_counts;   // per member: rows sent to it
  std::vector<float> returned;        // [tokens·top_k, hidden] expert outputs back from combine, index row order
  // Expert side: rows received from the members, member by member, each in its sender's order.
  std::vector<int64_t> recv_counts;   // per member
  std::vector<int32_t> recv_token, recv_slot, recv_expert;   // per received row (recv_expert: local index)
  kernels::PermuteIndex local_index;  // received rows grouped by local expert (one slot per row)
};

inline std::string moe_key(int32_t layer, int32_t mb) { return "moe.L" + std::to_string(layer) + ".mb" + std::to_string(mb); }

}  // namespace tandem::backend
