// The timeline of a StepProgram's ops from their times (see program_timeline.h): events with the
// identity and the payload args of each op, process and thread names, send-to-receive flows.
#include "trace/program_timeline.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "ir/op.h"

namespace tandem::trace {
namespace {

std::string_view op_kind_name(const ir::OpPayload& p) {
  if (const auto* c = std::get_if<ir::Comm>(&p)) return ir::to_string(c->kind);
  return ir::to_string(ir::kind_of(p));
}

struct PayloadArgs {
  Timeline& tl;
  Event& e;
  const ir::StepProgram& program;
  int64_t rank;
  const ir::OpInstance& op;

  void arg(std::string_view k, int64_t v) { tl.add_arg(e, k, v); }
  void arg(std::string_view k, bool v) { tl.add_arg(e, k, v); }
  void arg(std::string_view k, double v) { tl.add_arg(e, k, v); }
  void arg(std::string_view k, std::string_view v) { tl.add_arg(e, k, v); }

  void operator()(const ir::Gemm& g) {
    arg("m", g.m);
    arg("n", g.n);
    arg("k", g.k);
    arg("groups", g.groups());
    if (!g.group_rows.empty()) {
      std::vector<double> rows(g.group_rows.begin(), g.group_rows.end());
      tl.add_arg(e, "group_rows", std::span<const double>(rows));
      arg("groups_split_k", g.groups_split_k);
    }
    arg("a_dtype", ir::to_string(g.a));
    arg("b_dtype", ir::to_string(g.b));
    arg("out_dtype", ir::to_string(g.out));
    if (g.a_scale != ir::ScaleGranularity::None) arg("a_scale", ir::to_string(g.a_scale));
    if (g.b_scale != ir::ScaleGranularity::None) arg("b_scale", ir::to_string(g.b_scale));
    arg("accumulate", g.accumulate);
  }
  void operator()(const ir::Attention& a) {
    arg("seqs", a.seqs);
    arg("seq_len", a.seq_len);
    arg("heads", a.heads);
    arg("qk_head_dim", a.qk_head_dim);
    arg("v_head_dim", a.v_head_dim);
    arg("causal", a.causal);
    arg("backward", a.backward);
    arg("dtype", ir::to_string(a.dtype));
  }
  void operator()(const ir::Norm& n) {
    arg("norm", std::string_view("rmsnorm"));
    arg("rows", n.rows);
    arg("cols", n.cols);
    arg("backward", n.backward);
    arg("dtype", ir::to_string(n.dtype));
  }
  void operator()(const ir::Elementwise& x) {
    arg("kind", ir::to_string(x.kind));
    arg("elements", x.elements);
    arg("read_bytes", x.read_bytes);
    arg("write_bytes", x.write_bytes);
    arg("flops_per_element", x.flops_per_element);
  }
  void operator()(const ir::Router& r) {
    arg("tokens", r.tokens);
    arg("experts", r.experts);
    arg("groups", r.groups);
    arg("groups_per_token", r.groups_per_token);
    arg("top_k", r.top_k);
    arg("backward", r.backward);
  }
  void operator()(const ir::Quantize& q) {
    arg("rows", q.rows);
    arg("cols", q.cols);
    arg("from", ir::to_string(q.from));
    arg("to", ir::to_string(q.to));
    arg("granularity", ir::to_string(q.granularity));
    arg("transpose", q.transpose);
  }
  void operator()(const ir::Permute& p) {
    arg("tokens", p.tokens);
    arg("top_k", p.top_k);
    arg("hidden", p.hidden);
    arg("dtype", ir::to_string(p.dtype));
    arg("unpermute", p.unpermute);
  }
  void operator()(const ir::Comm& c) {
    arg("size", c.bytes);
    arg("group", comm_group_name(c.group));
    arg("group_size", c.group_size);
    arg("purpose", ir::to_string(c.purpose));
    arg("dtype", ir::to_string(c.dtype));
    arg("comm_sms", c.sms);
    arg("tag", op.tag);
    if (c.kind == ir::CommKind::Send || c.kind == ir::CommKind::Recv) {
      arg("peer", program.peer_rank(rank, op));
    } else if (c.kind == ir::CommKind::AllToAllV) {
      const std::vector<double> per_peer = program.a2a_send_bytes(rank, op);
      tl.add_arg(e, "bytes_per_peer", std::span<const double>(per_peer));
    }
  }
  void operator()(const ir::Optimizer& o) {
    arg("params", o.params);
    arg("master", ir::to_string(o.master));
    arg("moments", ir::to_string(o.moments));
    arg("weights", ir::to_string(o.weights));
  }
};

}  // namespace

std::string_view comm_group_name(ir::CommGroup g) {
  switch (g) {
    case ir::CommGroup::Expert: return "expert";
    case ir::CommGroup::Pipeline: return "pipeline";
    case ir::CommGroup::Data: return "data";
    case ir::CommGroup::ExpertData: return "expert_data";
    case ir::CommGroup::SharedWeight: return "shared_weight";
    case ir::CommGroup::Tensor: return "tensor";
    case ir::CommGroup::ReplicatedData: return "replicated_data";
  }
  return "?";
}

std::string rank_process_name(const ir::StepProgram& program, int64_t rank) {
  const ir::RankCoord c = program.coord(rank);
  if (program.plan().tp > 1)
    return fmt::format("rank {} (stage {}, dp {}, tp {}, ep {})", rank, c.pp_index, c.dp_index, c.tp_index, c.ep_index);
  return fmt::format("rank {} (stage {}, dp {}, ep {})", rank, c.pp_index, c.dp_index, c.ep_index);
}

std::string_view stream_thread_name(int32_t stream) {
  switch (stream) {
    case int32_t(ir::Stream::Compute): return "compute";
    case int32_t(ir::Stream::Comm): return "comm";
    case int32_t(ir::Stream::P2P): return "p2p";
    default: return "stream";
  }
}

void set_program_metadata(Timeline& tl, const ir::StepProgram& program, TraceSource source) {
  tl.metadata.scenario = program.scenario().name;
  tl.metadata.source = source;
  tl.metadata.version = TANDEM_VERSION;
  tl.metadata.extra["gpus"] = std::to_string(program.num_ranks());
  // What the ops belong to, so traces of different models or plans are not mixed (tandem calibrate):
  // the scenario's resolved model and plan (compact JSON) and the cluster's GPU and node size.
  const nlohmann::json& resolved = program.scenario().resolved;
  if (resolved.contains("model")) tl.metadata.extra["model"] = resolved["model"].dump();
  if (resolved.contains("plan")) tl.metadata.extra["plan"] = resolved["plan"].dump();
  tl.metadata.extra["gpu"] = program.cluster().gpu;
  tl.metadata.extra["gpus_per_node"] = std::to_string(program.cluster().gpus_per_node);
}

void add_payload_args(Timeline& tl, Event& e, const ir::StepProgram& program, int64_t rank, const ir::OpInstance& op) {
  const ir::RankProgram& rp = program.program_of(rank);
  std::visit(PayloadArgs{tl, e, program, rank, op}, rp.tmpl(op).payload);
}

ProgramTimelineBuilder::ProgramTimelineBuilder(Timeline& tl, const ir::StepProgram& program, int64_t step)
    : tl_(tl), program_(program), step_(step) {}

void ProgramTimelineBuilder::add_rank(int64_t rank, std::span<const OpTiming> ops) {
  const ir::RankProgram& rp = program_.program_of(rank);
  if (ops.size() != rp.ops.size())
    throw std::invalid_argument(fmt::format("timeline of rank {}: {} op times for a program of {} ops", rank, ops.size(),
                                            rp.ops.size()));
  const int32_t pid = int32_t(rank);
  tl_.process_names[pid] = rank_process_name(program_, rank);
  for (int32_t s = 0; s < ir::kStreams; ++s) tl_.thread_names[{pid, s}] = std::string(stream_thread_name(s));
  std::vector<int32_t> order;
  order.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].start_ns >= 0) order.push_back(int32_t(i));
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const auto sa = rp.ops[size_t(a)].stream, sb = rp.ops[size_t(b)].stream;
    if (sa != sb) return sa < sb;
    if (ops[size_t(a)].start_ns != ops[size_t(b)].start_ns) return ops[size_t(a)].start_ns < ops[size_t(b)].start_ns;
    return a < b;
  });
  const int32_t stage = int32_t(program_.coord(rank).pp_index);
  for (const int32_t i : order) {
    const ir::OpInstance& inst = rp.ops[size_t(i)];
    const ir::OpTemplate& t = rp.tmpl(inst);
    const OpTiming& time = ops[size_t(i)];
    const uint64_t index = tl_.events.size();
    Event& e = tl_.add_event(t.name(), pid, int32_t(inst.stream), time.start_ns,
                             std::max<int64_t>(0, time.end_ns - time.start_ns), op_kind_name(t.payload));
    e.id = i;
    e.stage = stage;
    e.layer = t.layer;
    e.mb = inst.mb;
    e.phase = t.phase == ir::Phase::Step ? 0 : ir::phase_letter(t.phase);
    e.sms = time.sms;
    const auto* comm = std::get_if<ir::Comm>(&t.payload);
    e.flops = time.flops >= 0 ? time.flops : comm ? 0.0 : ir::op_flops(t.payload);
    e.bytes = time.bytes >= 0 ? time.bytes : comm ? double(comm->bytes) : ir::op_hbm_bytes(t.payload);
    tl_.add_arg(e, "step", step_);
    tl_.add_arg(e, "role", ir::to_string(t.role));
    tl_.add_arg(e, "chunk", int64_t(t.chunk));
    if (t.recompute) tl_.add_arg(e, "recompute", true);
    add_payload_args(tl_, e, program_, rank, inst);
    if (comm && (comm->kind == ir::CommKind::Send || comm->kind == ir::CommKind::Recv)) {
      const int64_t peer = program_.peer_rank(rank, inst);
      const bool send = comm->kind == ir::CommKind::Send;
      auto& slot = ends_[{send ? rank : peer, send ? peer : rank, inst.tag}];
      (send ? slot.first : slot.second) = index + 1;
    }
  }
}

void ProgramTimelineBuilder::finish() {
  int64_t flow_id = int64_t(tl_.flows.size());
  for (const auto& [key, pair] : ends_)
    if (pair.first > 0 && pair.second > 0) tl_.add_flow(flow_id++, uint32_t(pair.first - 1), uint32_t(pair.second - 1));
  ends_.clear();
}

}  // namespace tandem::trace
