// StepProgram construction: the layer split over model chunks, one RankProgram per pipeline position
// (chunk templates, pipeline send/receive, ZeRO-1 collectives, optimizer), expanded along the
// schedule's chunk order into op instances with their dependencies; plus the cross-rank matching.
#include "ir/step_program.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <unordered_set>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/chunk_builder.h"

namespace tandem::ir {

std::string_view to_string(InitClass c) {
  switch (c) {
    case InitClass::None: return "none";
    case InitClass::Table: return "table";
    case InitClass::Linear: return "linear";
    case InitClass::OutputProjection: return "output_projection";
    case InitClass::Ones: return "ones";
    case InitClass::Zeros: return "zeros";
  }
  return "?";
}

std::string_view initial_value_key(SharedWeight s) {
  switch (s) {
    case SharedWeight::None: return "";
    case SharedWeight::Embedding: return "embed.embedding.w";
  }
  return "";
}

std::string OpTemplate::name() const {
  std::string base = layer >= 0 ? fmt::format("L{}.{}", layer, to_string(role)) : std::string(to_string(role));
  if (recompute) base += ".recompute";
  return base;
}

namespace {

int32_t only_operand(const OpTemplate& t, const std::vector<Operand>& list, OperandSlot s, std::string_view side) {
  int32_t found = -1, count = 0;
  for (const Operand& o : list)
    if (o.slot == s) {
      found = o.tensor;
      ++count;
    }
  if (count != 1)
    throw std::logic_error(fmt::format("{} ({} {}): {} {} operands in slot {}, expected one", t.name(),
                                       to_string(kind_of(t.payload)), phase_letter(t.phase), count, side, to_string(s)));
  return found;
}

}  // namespace

int32_t OpTemplate::in(OperandSlot s) const { return only_operand(*this, inputs, s, "input"); }
int32_t OpTemplate::out(OperandSlot s) const { return only_operand(*this, outputs, s, "output"); }

bool OpTemplate::has_in(OperandSlot s) const {
  return std::any_of(inputs.begin(), inputs.end(), [&](const Operand& o) { return o.slot == s; });
}

bool OpTemplate::has_out(OperandSlot s) const {
  return std::any_of(outputs.begin(), outputs.end(), [&](const Operand& o) { return o.slot == s; });
}

std::vector<int32_t> OpTemplate::ins(OperandSlot s) const {
  std::vector<int32_t> out;
  for (const Operand& o : inputs)
    if (o.slot == s) out.push_back(o.tensor);
  return out;
}

PipelineShape StepProgram::pipeline() const {
  const auto& p = scenario_.plan;
  return PipelineShape{p.schedule, int32_t(p.pp), int32_t(p.micro_batches()), int32_t(p.virtual_stages)};
}

RankCoord StepProgram::coord(int64_t rank) const {
  const auto& p = scenario_.plan;
  RankCoord c;
  const int64_t stage_index = rank % p.ranks_per_stage();
  c.pp_index = rank / p.ranks_per_stage();
  c.dp_index = stage_index / p.tp;
  c.tp_index = stage_index % p.tp;
  c.ep_group = stage_index / p.ep;
  c.ep_index = stage_index % p.ep;
  return c;
}

int64_t StepProgram::rank_of(const RankCoord& c) const {
  const auto& p = scenario_.plan;
  return (c.pp_index * p.dp + c.dp_index) * p.tp + c.tp_index;
}

GradientGroups gradient_groups(const ParallelPlan& plan, const PipelineShape& shape) {
  const int64_t copies = parameter_copies(shape);
  return {copies * plan.dp, copies * plan.ranks_per_stage(), copies * (plan.ranks_per_stage() / plan.ep)};
}

int64_t zero_shard(int64_t params, int64_t group, int64_t zero_stage) {
  return zero_stage == 1 ? (params + group - 1) / group : params;
}

namespace {

// [first, last) model layers of each chunk from its layer count.
std::vector<std::array<int32_t, 2>> layer_ranges(const std::vector<int64_t>& counts) {
  std::vector<std::array<int32_t, 2>> out;
  int32_t first = 0;
  for (int64_t n : counts) {
    out.push_back({first, first + int32_t(n)});
    first += int32_t(n);
  }
  return out;
}

constexpr int64_t kTagPurposes = 16;

// A handshake (CommKind::Notify) shares its all-to-all's purpose, layer and micro-batch: one more bit.
int64_t make_tag(CommPurpose purpose, int64_t a, int64_t b, int64_t micro_batches, bool handshake = false) {
  return (((a + 1) * 8192 + (b + 1)) * (micro_batches + 1) * kTagPurposes + int64_t(purpose)) * 2 + (handshake ? 1 : 0);
}

struct Expander {
  const StepProgram& program;
  const PipelineShape shape;
  RankProgram& rp;
  const std::vector<ChunkTemplates>& chunks;     // by position in rp.chunks
  // per chunk position: pipeline op templates (-1 when absent)
  std::vector<int32_t> recv_act, send_act, recv_grad, send_grad;
  // (tensor, mb) -> every op issued so far that writes it: a gradient summed from several parts
  // (a shared weight, an activation used twice) is complete only when all of them have run.
  std::unordered_map<int64_t, std::vector<int32_t>> producers;
  std::vector<std::vector<int32_t>> deps;
  // (role, layer, chunk, mb) -> the first B op of a kernel family, whose view of the gradients its
  // W ops read (RankProgram::gradient_cutoff).
  std::map<std::tuple<int, int32_t, int32_t, int32_t>, int32_t> first_backward;

  int64_t key(int32_t tensor, int32_t mb) const { return int64_t(tensor) * (shape.micro_batches + 2) + (mb + 1); }

  size_t position(int32_t chunk) const {
    return size_t(std::find(rp.chunks.begin(), rp.chunks.end(), chunk) - rp.chunks.begin());
  }

  void issue(int32_t tmpl, int32_t mb, int64_t tag = -1) {
    const OpTemplate& t = rp.templates[size_t(tmpl)];
    const int32_t index = int32_t(rp.ops.size());
    rp.ops.push_back(OpInstance{tmpl, mb, t.stream, tag});
    std::vector<int32_t> d;
    for (const Operand& in : t.inputs) {
      const bool step_wide = rp.tensors[size_t(in.tensor)].role != TensorRole::Activation;
      const auto it = producers.find(key(in.tensor, step_wide ? -1 : mb));
      if (it != producers.end()) d.insert(d.end(), it->second.begin(), it->second.end());
    }
    std::sort(d.begin(), d.end());
    d.erase(std::unique(d.begin(), d.end()), d.end());
    // On an in-order stream (compute, comm) the last writer done means every earlier one is: keep
    // only the latest per stream. Pipeline transfers complete independently, so each stays.
    int32_t last[kStreams] = {-1, -1, -1};
    for (int32_t x : d) {
      const int s = int(rp.ops[size_t(x)].stream);
      if (rp.ops[size_t(x)].stream != Stream::P2P) last[s] = std::max(last[s], x);
    }
    std::erase_if(d, [&](int32_t x) {
      return rp.ops[size_t(x)].stream != Stream::P2P && x != last[int(rp.ops[size_t(x)].stream)];
    });
    deps.push_back(std::move(d));
    const auto family = std::make_tuple(int(t.role), t.layer, t.chunk, mb);
    int32_t cutoff = index;
    if (t.phase == Phase::B && !t.recompute) first_backward.emplace(family, index);
    if (t.phase == Phase::W) {
      const auto it = first_backward.find(family);
      if (it != first_backward.end()) cutoff = it->second;
    }
    rp.gradient_cutoff.push_back(cutoff);
    for (const Operand& out : t.outputs) {
      const bool step_wide = rp.tensors[size_t(out.tensor)].role != TensorRole::Activation;
      auto& list = producers[key(out.tensor, step_wide ? -1 : mb)];
      if (list.empty() || list.back() != index) list.push_back(index);
    }
  }

  int64_t comm_tag(int32_t tmpl, int32_t mb) const {
    const OpTemplate& t = rp.templates[size_t(tmpl)];
    const Comm& c = std::get<Comm>(t.payload);
    if (c.group == CommGroup::Pipeline) {
      // The boundary between chunk b and b+1 names the transfer on both ends.
      const int32_t boundary = std::min(t.chunk, c.peer_chunk);
      return make_tag(c.purpose, boundary, mb, shape.micro_batches);
    }
    if (c.group == CommGroup::Expert) return make_tag(c.purpose, t.layer, mb, shape.micro_batches, c.kind == CommKind::Notify);
    if (c.group == CommGroup::SharedWeight) return make_tag(c.purpose, -1, int64_t(c.group), shape.micro_batches);   // chunks differ
    // A layer holds several TP collectives of one purpose: the template names one (every member of
    // the TP group runs the same rank program).
    if (c.group == CommGroup::Tensor) return make_tag(c.purpose, tmpl, mb, shape.micro_batches);
    return make_tag(c.purpose, t.chunk, int64_t(c.group), shape.micro_batches);   // one per chunk and group
  }

  void issue_comm(int32_t tmpl, int32_t mb) { issue(tmpl, mb, comm_tag(tmpl, mb)); }

  void issue_ops(const std::vector<int32_t>& list, int32_t mb, int phase_filter) {
    for (int32_t id : list) {
      const OpTemplate& t = rp.templates[size_t(id)];
      if (phase_filter == 1 && t.phase == Phase::W) continue;
      if (phase_filter == 2 && t.phase != Phase::W) continue;
      if (kind_of(t.payload) == OpKind::Comm) issue_comm(id, mb); else issue(id, mb);
    }
  }

  bool needs_recv_act(int32_t chunk, int32_t mb) const {
    return chunk > 0 && chunk_rank(shape, chunk - 1, mb) != rp.pp_index;
  }
  bool needs_send_act(int32_t chunk, int32_t mb) const {
    return chunk + 1 < model_chunks(shape) && chunk_rank(shape, chunk + 1, mb) != rp.pp_index;
  }

  void forward_prologue(const ChunkRef& f) {
    if (needs_recv_act(f.chunk, f.mb)) issue_comm(recv_act[position(f.chunk)], f.mb);
  }
  void forward_epilogue(const ChunkRef& f) {
    if (needs_send_act(f.chunk, f.mb)) issue_comm(send_act[position(f.chunk)], f.mb);
  }
  void backward_prologue(const ChunkRef& b) {
    if (needs_send_act(b.chunk, b.mb)) issue_comm(recv_grad[position(b.chunk)], b.mb);
  }
  void backward_epilogue(const ChunkRef& b) {
    if (needs_recv_act(b.chunk, b.mb)) issue_comm(send_grad[position(b.chunk)], b.mb);
  }

  // Splits an op list into runs of equal layer, each later issued part by part. A run also ends where
  // an `Other` op follows a layer part: the MTP module's head comes after its layer (and its
  // projection's backward after the layer's backward), so it must not be issued with the ops before.
  std::vector<std::vector<int32_t>> layer_blocks(const std::vector<int32_t>& list) const {
    std::vector<std::vector<int32_t>> blocks;
    int32_t layer = -3;
    ChunkPart last = ChunkPart::Other;
    for (int32_t id : list) {
      const OpTemplate& t = rp.templates[size_t(id)];
      if (blocks.empty() || t.layer != layer || (t.part == ChunkPart::Other && last != ChunkPart::Other)) blocks.emplace_back();
      layer = t.layer;
      last = t.part;
      blocks.back().push_back(id);
    }
    return blocks;
  }

  // DualPipe's overlapped pair: per layer, forward attention beside backward combine and MLP,
  // forward dispatch/MLP beside backward dispatch, forward combine beside backward attention.
  void forward_backward(const ChunkRef& f, const ChunkRef& b) {
    forward_prologue(f);
    backward_prologue(b);
    const auto fb = layer_blocks(chunks[position(f.chunk)].forward);
    const auto bb = layer_blocks(chunks[position(b.chunk)].backward);
    auto emit_part = [&](const std::vector<int32_t>& block, ChunkPart part, int32_t mb) {
      for (int32_t id : block)
        if (rp.templates[size_t(id)].part == part) {
          if (kind_of(rp.templates[size_t(id)].payload) == OpKind::Comm) issue_comm(id, mb); else issue(id, mb);
        }
    };
    const size_t n = std::max(fb.size(), bb.size());
    static const std::vector<int32_t> none;
    for (size_t i = 0; i < n; ++i) {
      const auto& F = i < fb.size() ? fb[i] : none;
      const auto& B = i < bb.size() ? bb[i] : none;
      emit_part(F, ChunkPart::Other, f.mb);
      emit_part(B, ChunkPart::Other, b.mb);
      emit_part(F, ChunkPart::Attention, f.mb);
      emit_part(B, ChunkPart::Combine, b.mb);
      emit_part(B, ChunkPart::Mlp, b.mb);
      emit_part(F, ChunkPart::Dispatch, f.mb);
      emit_part(F, ChunkPart::Mlp, f.mb);
      emit_part(B, ChunkPart::Dispatch, b.mb);
      emit_part(B, ChunkPart::Attention, b.mb);
      emit_part(F, ChunkPart::Combine, f.mb);
    }
    forward_epilogue(f);
    backward_epilogue(b);
  }

  // The dependencies as CSR (RankProgram::deps).
  void finish() {
    rp.dep_offsets.reserve(deps.size() + 1);
    rp.dep_offsets.push_back(0);
    for (const auto& d : deps) {
      rp.deps.insert(rp.deps.end(), d.begin(), d.end());
      rp.dep_offsets.push_back(int32_t(rp.deps.size()));
    }
    rp.ops.shrink_to_fit();
    rp.gradient_cutoff.shrink_to_fit();
  }

  void run(const ChunkTask& task) {
    switch (task.kind) {
      case ChunkKind::Forward:
        forward_prologue(task.fwd);
        issue_ops(chunks[position(task.fwd.chunk)].forward, task.fwd.mb, 0);
        forward_epilogue(task.fwd);
        break;
      case ChunkKind::Backward:
      case ChunkKind::BackwardInput:
        backward_prologue(task.bwd);
        issue_ops(chunks[position(task.bwd.chunk)].backward, task.bwd.mb, task.kind == ChunkKind::Backward ? 0 : 1);
        backward_epilogue(task.bwd);
        break;
      case ChunkKind::BackwardWeight:
        issue_ops(chunks[position(task.bwd.chunk)].backward, task.bwd.mb, 2);
        break;
      case ChunkKind::ForwardBackward:
        forward_backward(task.fwd, task.bwd);
        break;
    }
  }
};

}  // namespace

namespace {

// Expert load shares of the routing model, normalised to sum to 1 (balanced: equal).
std::vector<double> normalised_expert_load(const Scenario& s) {
  const auto& m = s.model;
  const auto& p = s.plan;
  std::vector<double> load(size_t(std::max<int64_t>(1, m.routed_experts)), 1.0);
  if (p.routing.kind == RoutingKind::Zipf) {
    for (size_t e = 0; e < load.size(); ++e) load[e] = 1.0 / std::pow(double(e + 1), p.routing.zipf_exponent);
  } else if (p.routing.kind == RoutingKind::File) {
    if (int64_t(p.routing.expert_load.size()) != m.routed_experts)
      throw ScenarioError(s.source, "plan.routing.expert_load", fmt::format("{} loads, one per routed expert", m.routed_experts),
                          fmt::format("{} loads", p.routing.expert_load.size()));
    load = p.routing.expert_load;
  }
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  if (!(total > 0)) throw ScenarioError(s.source, "plan.routing.expert_load", "loads with a positive sum", "a zero sum");
  for (double& l : load) l /= total;
  return load;
}

// The op templates of every model chunk a rank holds. Where chunk c-1 runs on the same rank for the
// micro-batches of chunk c (DualPipeV's turn), c starts from c-1's output tensor and gradient; the
// MTP module reads the embedding of chunk 0 when the rank holds it.
std::vector<ChunkTemplates> build_chunks(RankProgram& rp, const Scenario& scenario, const PipelineShape& shape,
                                         const std::vector<std::array<int32_t, 2>>& chunk_layers) {
  const int32_t n_chunks = model_chunks(shape);
  std::vector<ChunkTemplates> chunks;
  int32_t embedding = -1, embedding_grad = -1;
  for (int32_t c : rp.chunks) {
    int32_t input = -1, input_grad = -1;
    for (int32_t mb = 0; mb < shape.micro_batches; ++mb)
      if (chunk_rank(shape, c, mb) == rp.pp_index) {
        if (c > 0 && chunk_rank(shape, c - 1, mb) == rp.pp_index)
          for (const auto& prev : chunks)
            if (prev.chunk == c - 1) {
              input = prev.output;
              input_grad = prev.output_grad;
            }
        break;
      }
    ChunkContext ctx{scenario, chunk_layers[size_t(c)][0], chunk_layers[size_t(c)][1], c == 0, c == n_chunks - 1,
                     input, embedding, input_grad, embedding_grad};
    chunks.push_back(build_chunk(rp, c, ctx));
    if (c == 0) {
      embedding = chunks.back().embedding;
      embedding_grad = chunks.back().embedding_grad;
    }
    rp.activation_bytes.push_back(chunks.back().saved_activation_bytes);
    rp.chunk_param_count.push_back(chunks.back().params);
    rp.chunk_expert_param_count.push_back(chunks.back().expert_params);
    rp.chunk_tp_replicated_param_count.push_back(chunks.back().tp_replicated_params);
  }
  return chunks;
}

// When some rank holds the last chunk (and so the MTP module) without the first (and its embedding),
// that rank keeps a copy of the embedding: the pipeline positions holding the embedding or a copy.
// Empty when every MTP module reads the embedding on its own rank.
std::vector<int32_t> embedding_copy_holders(const ModelConfig& m, const PipelineShape& shape) {
  if (m.mtp_depth <= 0) return {};
  const int32_t last = model_chunks(shape) - 1;
  std::vector<int32_t> holders;
  bool copied = false;
  for (int32_t r = 0; r < shape.pp; ++r) {
    const auto chunks = chunks_on_rank(shape, r);
    const bool first_here = std::find(chunks.begin(), chunks.end(), 0) != chunks.end();
    const bool last_here = std::find(chunks.begin(), chunks.end(), last) != chunks.end();
    if (last_here && !first_here) copied = true;
    if (first_here || last_here) holders.push_back(r);
  }
  return copied ? holders : std::vector<int32_t>{};
}

// The templates of one pipeline transfer of the hidden state (BF16) or its gradient.
int32_t add_transfer(RankProgram& rp, int32_t chunk, int64_t bytes, OpRole role, CommKind kind, CommPurpose purpose,
                     int32_t peer_chunk, std::vector<Operand> in, std::vector<Operand> out) {
  Comm c{kind, CommGroup::Pipeline, purpose, bytes, 2, 0, DType::BF16, peer_chunk};
  rp.templates.push_back(OpTemplate{role, purpose == CommPurpose::Activation ? Phase::F : Phase::B, ChunkPart::Other,
                                    Stream::P2P, chunk, -1, false, c, std::move(in), std::move(out)});
  return int32_t(rp.templates.size() - 1);
}

int32_t add_step_template(RankProgram& rp, int32_t chunk, OpRole role, Stream stream, OpPayload payload, std::vector<Operand> in,
                          std::vector<Operand> out) {
  rp.templates.push_back(OpTemplate{role, Phase::Step, ChunkPart::Other, stream, chunk, -1, false, std::move(payload),
                                    std::move(in), std::move(out)});
  return int32_t(rp.templates.size() - 1);
}

// Each tensor of `tensors` in slot `s`.
std::vector<Operand> in_slot(const std::vector<int32_t>& tensors, OperandSlot s) {
  std::vector<Operand> out;
  out.reserve(tensors.size());
  for (int32_t t : tensors) out.push_back({t, s});
  return out;
}

// Pipeline send/receive templates of the hidden state and its gradient at every chunk boundary: a
// send reads its Input, a receive writes its Output, whether they carry activations or gradients.
void add_pipeline_transfers(Expander& ex) {
  RankProgram& rp = ex.rp;
  // Each rank of a TP group sends its sequence split to the same TP index of the next stage.
  const auto& plan = ex.program.plan();
  const int64_t act_bytes = plan.micro_batch_tokens() / plan.tp * ex.program.model().hidden_size * 2;
  for (const auto& ct : ex.chunks) {
    const bool has_in = ct.chunk > 0, has_out = ct.output >= 0;
    ex.recv_act.push_back(has_in ? add_transfer(rp, ct.chunk, act_bytes, OpRole::PipeRecv, CommKind::Recv, CommPurpose::Activation,
                                                ct.chunk - 1, {}, {{ct.input, OperandSlot::Output}}) : -1);
    ex.send_grad.push_back(has_in ? add_transfer(rp, ct.chunk, act_bytes, OpRole::PipeSend, CommKind::Send,
                                                 CommPurpose::ActivationGrad, ct.chunk - 1, {{ct.input_grad, OperandSlot::Input}}, {})
                                  : -1);
    ex.send_act.push_back(has_out ? add_transfer(rp, ct.chunk, act_bytes, OpRole::PipeSend, CommKind::Send, CommPurpose::Activation,
                                                 ct.chunk + 1, {{ct.output, OperandSlot::Input}}, {}) : -1);
    ex.recv_grad.push_back(has_out ? add_transfer(rp, ct.chunk, act_bytes, OpRole::PipeRecv, CommKind::Recv,
                                                  CommPurpose::ActivationGrad, ct.chunk + 1, {}, {{ct.output_grad, OperandSlot::Output}})
                                   : -1);
  }
}

// The all-reduce that keeps the copies of the shared embedding equal: the embedding's gradient on
// the first rank and its copy's on the MTP module's rank become their sum on both.
void add_shared_weight_reduction(Expander& ex, const ChunkTemplates& ct) {
  RankProgram& rp = ex.rp;
  const int32_t weight = ct.shared_copy >= 0 ? ct.shared_copy : ct.embedding;
  const int32_t grad = ct.shared_copy >= 0 ? ct.shared_copy_grad : ct.embedding_grad;
  if (weight < 0 || rp.tensors[size_t(weight)].shared == SharedWeight::None) return;
  const TensorInfo& w = rp.tensors[size_t(weight)];
  const int64_t params = w.shape[0] * w.shape[1] * w.shape[2];
  Comm c{CommKind::AllReduce, CommGroup::SharedWeight, CommPurpose::SharedGradAllReduce, params * 4,
         int64_t(ex.program.shared_weight_holders().size()), 0, DType::FP32};
  ex.issue_comm(add_step_template(rp, ct.chunk, OpRole::SharedGradAllReduce, Stream::Comm, c, {{grad, OperandSlot::WeightGrad}},
                                    {{grad, OperandSlot::WeightGrad}}), -1);
}

// End of step: per chunk, the shared weight's all-reduce and the gradient reduction over the
// data-parallel copies (dense and routed-expert parameters apart, and with TP the TP-replicated dense
// ones apart from the split ones: their copies are on every TP rank too; ZeRO-1 reduce-scatters, else
// all-reduces); one optimizer op for all chunks (clipping needs the norm of the whole gradient before
// any update); then the ZeRO-1 parameter gathers.
void add_step_end(Expander& ex) {
  RankProgram& rp = ex.rp;
  const auto& p = ex.program.plan();
  const GradientGroups groups = gradient_groups(p, ex.shape);
  const bool zero = p.zero_stage == 1;
  std::vector<int32_t> reduced, updated;
  struct Gather {
    int32_t chunk;
    Comm comm;
    int32_t params = -1;   // the chunk's updated shard, set once it exists
  };
  std::vector<Gather> gathers;   // issued after the optimizer
  int64_t shard = 0;
  for (const auto& ct : ex.chunks) {
    add_shared_weight_reduction(ex, ct);
    // With tp = 1 the replicated dense parameters are all of them, reduced as one group (Data).
    const bool split = p.tp > 1;
    const int64_t replicated = split ? ct.tp_replicated_params : 0;
    const int64_t dense = ct.params - ct.expert_params - replicated, expert = ct.expert_params;
    std::vector<int32_t> dense_grads, replicated_grads, expert_grads;
    for (size_t i = 0; i < rp.tensors.size(); ++i)
      if (rp.tensors[i].role == TensorRole::Gradient && rp.tensors[i].chunk == ct.chunk)
        (rp.tensors[i].expert                                            ? expert_grads
         : split && rp.tensors[i].tp_split == TpSplit::Replicated ? replicated_grads
                                                                          : dense_grads)
            .push_back(int32_t(i));
    int64_t chunk_shard = 0;
    for (auto [grads, params, group, cg] : {std::tuple{dense_grads, dense, groups.tp_split, CommGroup::Data},
                                            std::tuple{replicated_grads, replicated, groups.tp_replicated, CommGroup::ReplicatedData},
                                            std::tuple{expert_grads, expert, groups.expert, CommGroup::ExpertData}}) {
      if (params == 0) continue;
      chunk_shard += zero_shard(params, group, p.zero_stage);
      if (group <= 1) {
        reduced.insert(reduced.end(), grads.begin(), grads.end());
        continue;
      }
      const int32_t marker = int32_t(rp.tensors.size());
      rp.tensors.push_back({fmt::format("C{}.{}grads.reduced", ct.chunk,
                                        cg == CommGroup::Data ? "" : cg == CommGroup::ExpertData ? "expert_" : "replicated_"),
                            {zero_shard(params, group, p.zero_stage), 1, 1}, DType::FP32, TensorRole::Gradient, ct.chunk});
      Comm c{zero ? CommKind::ReduceScatter : CommKind::AllReduce, cg,
             zero ? CommPurpose::GradReduceScatter : CommPurpose::GradAllReduce, params * 4, group, 0, DType::FP32};
      ex.issue_comm(add_step_template(rp, ct.chunk, zero ? OpRole::GradReduceScatter : OpRole::GradAllReduce, Stream::Comm, c,
                                      in_slot(grads, OperandSlot::WeightGrad), {{marker, OperandSlot::WeightGrad}}), -1);
      reduced.push_back(marker);
      if (zero)
        gathers.push_back({ct.chunk, Comm{CommKind::AllGather, cg, CommPurpose::ParamAllGather, ((params + group - 1) / group) * 2,
                                          group, 0, DType::BF16}});
    }
    updated.push_back(int32_t(rp.tensors.size()));
    for (Gather& g : gathers)
      if (g.params < 0) g.params = updated.back();
    rp.tensors.push_back({fmt::format("C{}.params.updated", ct.chunk), {chunk_shard, 1, 1}, DType::BF16, TensorRole::OptimizerState,
                          ct.chunk});
    shard += chunk_shard;
  }
  ex.issue(add_step_template(rp, -1, OpRole::OptimizerStep, Stream::Compute, Optimizer{shard},
                                in_slot(reduced, OperandSlot::WeightGrad), in_slot(updated, OperandSlot::Weight)), -1);
  for (const Gather& g : gathers)
    ex.issue_comm(add_step_template(rp, g.chunk, OpRole::ParamAllGather, Stream::Comm, g.comm, {{g.params, OperandSlot::Weight}}, {}),
                  -1);
}

// Names are labels, but two tensors of one rank program never share one (a trace or a message
// naming a tensor names one thing).
void check_unique_names(const RankProgram& rp) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(rp.tensors.size());
  for (const auto& t : rp.tensors)
    if (!seen.insert(t.name).second)
      throw std::logic_error(fmt::format("pipeline position {}: two tensors are named {}", rp.pp_index, t.name));
}

}  // namespace

namespace {

// What a micro-batch's forward and backward cost in each layer and at the model's ends, from the op
// templates of every chunk under the split `layers` (a layer costs the same in whichever chunk it is).
LayerCosts measure_layer_costs(const Scenario& scenario, const PipelineShape& shape, const std::vector<int64_t>& layers,
                               const OpCostFn& op_cost) {
  const int32_t n_chunks = model_chunks(shape);
  const int64_t num_layers = scenario.model.num_layers;
  LayerCosts costs;
  costs.layer.assign(size_t(num_layers), 0);
  std::vector<bool> seen(size_t(n_chunks), false);
  const auto ranges = layer_ranges(layers);
  for (int32_t r = 0; r < shape.pp; ++r) {
    RankProgram rp;
    rp.pp_index = r;
    rp.chunks = chunks_on_rank(shape, r);
    std::sort(rp.chunks.begin(), rp.chunks.end());
    if (std::all_of(rp.chunks.begin(), rp.chunks.end(), [&](int32_t c) { return seen[size_t(c)]; })) continue;
    for (const ChunkTemplates& ct : build_chunks(rp, scenario, shape, ranges)) {
      if (seen[size_t(ct.chunk)]) continue;
      seen[size_t(ct.chunk)] = true;
      for (const auto* list : {&ct.forward, &ct.backward})
        for (int32_t id : *list) {
          const OpTemplate& t = rp.templates[size_t(id)];
          const int64_t cost = op_cost(t);
          if (t.layer >= 0 && t.layer < num_layers) {
            costs.layer[size_t(t.layer)] += cost;
          } else if (ct.chunk == n_chunks - 1 && n_chunks > 1) {
            costs.last_chunk += cost;   // final norm, head, loss, MTP module
          } else if (ct.chunk == 0) {
            costs.first_chunk += cost;  // embedding (with one chunk: both ends)
          } else {
            throw std::logic_error(fmt::format("{}: an op outside the layers on middle chunk {}", t.name(), ct.chunk));
          }
        }
    }
  }
  return costs;
}

// plan.layers_per_stage when given; else balanced on the op costs, or even without them (or when the
// balanced search would be too large).
LayerSplit choose_layer_split(const Scenario& scenario, const PipelineShape& shape, const OpCostFn& op_cost) {
  const int32_t n_chunks = model_chunks(shape);
  const auto& given = scenario.plan.layers_per_stage;
  const std::vector<int64_t> even = even_layer_split(scenario.model.num_layers, n_chunks);
  LayerSplit split;
  if (op_cost) split.costs = measure_layer_costs(scenario, shape, given.empty() ? even : given, op_cost);
  if (!given.empty()) {
    split.source = SplitSource::Given;
    split.layers = given;
  } else if (op_cost) {
    // No stage holds more layers than the even split's fullest one (its memory was sized for that).
    int64_t cap = 0;
    for (int32_t r = 0; r < shape.pp; ++r) {
      int64_t held = 0;
      for (int32_t c : chunks_on_rank(shape, r)) held += even[size_t(c)];
      cap = std::max(cap, held);
    }
    split.layers = balanced_layer_split(split.costs, shape, cap);
    split.source = split.layers.empty() ? SplitSource::Even : SplitSource::Balanced;
    if (split.layers.empty()) split.layers = even;
  } else {
    split.source = SplitSource::Even;
    split.layers = even;
  }
  if (op_cost) split.stage_cost = stage_costs(split.costs, split.layers, shape);
  return split;
}

}  // namespace

StepProgram::StepProgram(Scenario scenario, const OpCostFn& op_cost) : scenario_(std::move(scenario)) {
  const PipelineShape shape = pipeline();
  validate(shape);
  layer_split_ = choose_layer_split(scenario_, shape, op_cost);
  chunk_layers_ = layer_ranges(layer_split_.layers);
  expert_load_ = normalised_expert_load(scenario_);
  shared_embedding_holders_ = embedding_copy_holders(scenario_.model, shape);
  const bool shared_embedding = !shared_embedding_holders_.empty();
  for (int32_t r = 0; r < int32_t(scenario_.plan.pp); ++r) {
    RankProgram rp;
    rp.pp_index = r;
    rp.chunks = chunks_on_rank(shape, r);
    std::sort(rp.chunks.begin(), rp.chunks.end());
    const std::vector<ChunkTemplates> chunks = build_chunks(rp, scenario_, shape, chunk_layers_);
    if (shared_embedding)
      for (const auto& ct : chunks)
        if (ct.embedding >= 0) rp.tensors[size_t(ct.embedding)].shared = SharedWeight::Embedding;
    Expander ex{*this, shape, rp, chunks, {}, {}, {}, {}, {}, {}, {}};
    add_pipeline_transfers(ex);
    for (const ChunkTask& task : chunk_order(shape, r)) ex.run(task);
    add_step_end(ex);
    ex.finish();
    check_unique_names(rp);
    roles_.push_back(std::move(rp));
  }
}

int64_t StepProgram::peer_rank(int64_t rank, const OpInstance& op) const {
  const RankProgram& rp = program_of(rank);
  const OpTemplate& t = rp.tmpl(op);
  const Comm& c = std::get<Comm>(t.payload);
  RankCoord rc = coord(rank);
  rc.pp_index = chunk_rank(pipeline(), c.peer_chunk, op.mb);
  return rank_of(rc);
}

std::vector<int64_t> StepProgram::group_ranks(int64_t rank, const OpInstance& op) const {
  const RankProgram& rp = program_of(rank);
  const OpTemplate& t = rp.tmpl(op);
  const Comm& c = std::get<Comm>(t.payload);
  const RankCoord rc = coord(rank);
  const auto& p = scenario_.plan;
  const int64_t per_stage = p.ranks_per_stage();
  // A stage's ranks are adjacent; stage_index = dp_index * tp + tp_index.
  auto at = [&](int64_t pp_index, int64_t stage_index) { return pp_index * per_stage + stage_index; };
  std::vector<int64_t> out;
  switch (c.group) {
    case CommGroup::Pipeline:
      out = {rank, peer_rank(rank, op)};
      break;
    case CommGroup::Expert:
      for (int64_t i = 0; i < p.ep; ++i) out.push_back(at(rc.pp_index, rc.ep_group * p.ep + i));
      break;
    case CommGroup::Tensor:
      for (int64_t i = 0; i < p.tp; ++i) out.push_back(at(rc.pp_index, rc.dp_index * p.tp + i));
      break;
    case CommGroup::Data:
    case CommGroup::ReplicatedData:
    case CommGroup::ExpertData: {
      std::vector<int32_t> holders;
      for (int32_t r = 0; r < int32_t(p.pp); ++r) {
        const auto& ch = roles_[size_t(r)].chunks;
        if (std::find(ch.begin(), ch.end(), t.chunk) != ch.end()) holders.push_back(r);
      }
      for (int32_t h : holders)
        for (int64_t s = 0; s < per_stage; ++s) {
          const bool member = c.group == CommGroup::ReplicatedData ? true
                              : c.group == CommGroup::Data        ? s % p.tp == rc.tp_index
                                                                  : s % p.ep == rc.ep_index;
          if (member) out.push_back(at(h, s));
        }
      break;
    }
    case CommGroup::SharedWeight:
      for (int32_t h : shared_embedding_holders_) out.push_back(at(h, rc.dp_index * p.tp + rc.tp_index));
      break;
  }
  return out;
}

StepProgram::GroupKey StepProgram::group_key(int64_t rank, const OpInstance& op) const {
  const OpTemplate& t = program_of(rank).tmpl(op);
  const Comm& c = std::get<Comm>(t.payload);
  const RankCoord rc = coord(rank);
  const int32_t kind = int32_t(c.group);
  // The inputs of group_ranks for each kind of group, and nothing else.
  switch (c.group) {
    case CommGroup::Pipeline: return GroupKey{};
    case CommGroup::Expert: return GroupKey{kind, rc.pp_index, rc.ep_group};
    case CommGroup::Tensor: return GroupKey{kind, rc.pp_index, rc.dp_index};
    case CommGroup::Data: return GroupKey{kind, t.chunk, rc.tp_index};
    case CommGroup::ReplicatedData: return GroupKey{kind, t.chunk, 0};
    case CommGroup::ExpertData: return GroupKey{kind, t.chunk, rc.ep_index};
    case CommGroup::SharedWeight: return GroupKey{kind, rc.dp_index, rc.tp_index};
  }
  return GroupKey{};
}

std::vector<double> StepProgram::a2a_send_bytes(int64_t rank, const OpInstance& op) const {
  const RankProgram& rp = program_of(rank);
  const Comm& c = std::get<Comm>(rp.tmpl(op).payload);
  const auto& p = scenario_.plan;
  const int64_t per_rank_experts = std::max<int64_t>(1, int64_t(expert_load_.size()) / p.ep);
  auto share = [&](int64_t ep_index) {
    double s = 0;
    for (int64_t e = ep_index * per_rank_experts; e < (ep_index + 1) * per_rank_experts && e < int64_t(expert_load_.size()); ++e)
      s += expert_load_[size_t(e)];
    return s;
  };
  std::vector<double> out(size_t(p.ep));
  const bool to_experts = c.purpose == CommPurpose::Dispatch || c.purpose == CommPurpose::CombineGrad;
  const double own = share(coord(rank).ep_index);
  for (int64_t j = 0; j < p.ep; ++j)
    // Towards the experts: split by the destination's load; back from them: this rank's load, to every source.
    out[size_t(j)] = double(c.bytes) * (to_experts ? share(j) : own);
  return out;
}

size_t StepProgram::total_op_instances() const {
  size_t n = 0;
  for (const auto& r : roles_) n += r.ops.size();
  return n;
}

size_t StepProgram::memory_footprint_bytes() const {
  size_t n = sizeof(*this);
  for (const auto& r : roles_) {
    n += r.ops.capacity() * sizeof(OpInstance) + r.deps.capacity() * 4 + r.dep_offsets.capacity() * 4;
    for (const auto& t : r.templates) n += sizeof(t) + (t.inputs.capacity() + t.outputs.capacity()) * sizeof(Operand);
    for (const auto& t : r.tensors) n += sizeof(t) + t.name.capacity();
  }
  return n;
}

}  // namespace tandem::ir
