// Synthetic 1F1B timelines (see synthetic.h): a stage-level schedule first, then every rank's
// kernels laid out with a small deterministic jitter, communication waits and pipeline flows.
#include "viewer/bench/synthetic.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "trace/trace_writer.h"

namespace tandem::viewer::bench {
namespace {

struct OpSpec {
  const char* name;
  const char* kind;
  int64_t dur_ns;
  double flops;
};

// One MLA + MoE layer's forward kernels; dispatch follows "quant", combine follows "expert_down".
constexpr std::array<OpSpec, 13> kForward = {{
    {"attn_norm", "norm", 5'000, 0},           {"q_down", "gemm", 20'000, 2.2e11},
    {"kv_down", "gemm", 15'000, 1.6e11},       {"q_up", "gemm", 25'000, 2.9e11},
    {"rope", "elementwise", 4'000, 0},         {"attention", "attention", 60'000, 6.1e11},
    {"o_proj", "gemm", 30'000, 3.4e11},        {"mlp_norm", "norm", 5'000, 0},
    {"gate", "router", 6'000, 1e9},            {"quant", "quantize", 4'000, 0},
    {"expert_up", "gemm", 50'000, 5.8e11},     {"swiglu", "elementwise", 8'000, 0},
    {"expert_down", "gemm", 45'000, 5.1e11},
}};
constexpr int64_t kAllToAllNs = 40'000, kP2PNs = 6'000;

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class Chunk : uint8_t { F, B, W };
struct ChunkRef {
  Chunk kind;
  int mb;
};

// 1F1B with the weight gradient split off: warm-up forwards, then F/B pairs (each B followed by
// its W), then the remaining B/W.
std::vector<ChunkRef> stage_order(int s, int pp, int m) {
  std::vector<ChunkRef> out;
  const int warm = std::min(pp - s - 1, m);
  int f = 0, b = 0;
  for (; f < warm; ++f) out.push_back({Chunk::F, f});
  while (b < m) {
    if (f < m) out.push_back({Chunk::F, f++});
    out.push_back({Chunk::B, b});
    out.push_back({Chunk::W, b++});
  }
  return out;
}

// Rank-independent length of a chunk (compute and in-chunk communication waits).
int64_t chunk_length(Chunk c, int layers) {
  int64_t per_layer = 0;
  for (const auto& op : kForward) {
    const bool gemm = std::string_view(op.kind) == "gemm";
    if (c == Chunk::W && !gemm) continue;
    per_layer += c == Chunk::B && std::string_view(op.kind) == "attention" ? op.dur_ns * 2 : op.dur_ns;
  }
  if (c != Chunk::W) per_layer += 2 * kAllToAllNs;
  return per_layer * layers;
}

class Builder {
 public:
  Builder(const SyntheticParams& p, trace::Timeline& tl) : p_(p), tl_(tl) {}

  int64_t jitter(int64_t dur) {
    const uint64_t h = splitmix(p_.seed * 0x100000001b3ULL + counter_++);
    const double f = 0.95 + 0.1 * static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);
    return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(dur) * f));
  }

  trace::Event& op(int rank, int tid, const std::string& name, std::string_view kind, int64_t start, int64_t dur,
                   int stage, int layer, int mb, char phase, int sms) {
    trace::Event& e = tl_.add_event(name, rank, tid, start, dur, kind);
    e.id = next_id_++;
    e.stage = stage;
    e.layer = layer;
    e.mb = mb;
    e.phase = phase;
    e.sms = sms;
    return e;
  }

  // Lays out one chunk on `rank` from `start`; returns its end.
  int64_t chunk(int rank, int s, ChunkRef c, int64_t start) {
    int64_t t = start, comm_free = start;
    const char phase = c.kind == Chunk::F ? 'F' : c.kind == Chunk::B ? 'B' : 'W';
    for (int li = 0; li < p_.layers_per_stage; ++li) {
      const int layer = c.kind == Chunk::F ? s * p_.layers_per_stage + li : (s + 1) * p_.layers_per_stage - 1 - li;
      for (size_t k = 0; k < kForward.size(); ++k) {
        const OpSpec& spec = kForward[c.kind == Chunk::F ? k : kForward.size() - 1 - k];
        const std::string_view kind = spec.kind;
        if (c.kind == Chunk::W && kind != "gemm") continue;
        int64_t dur = spec.dur_ns * (c.kind == Chunk::B && kind == "attention" ? 2 : 1);
        const bool before_expert = std::string_view(spec.name) == (c.kind == Chunk::F ? "expert_up" : "expert_down");
        if (c.kind != Chunk::W && before_expert) {
          // Token dispatch (forward) or combine gradient (backward) on the communication stream.
          const int64_t a = std::max(t, comm_free);
          const int64_t d = jitter(kAllToAllNs);
          auto& e = op(rank, 1, fmt::format("L{}.{}", layer, c.kind == Chunk::F ? "dispatch" : "combine_grad"),
                       "all_to_all", a, d, s, layer, c.mb, phase, 20);
          e.bytes = 2.9e7;
          comm_free = a + d;
          t = comm_free;
        }
        const int64_t d = jitter(dur);
        auto& e = op(rank, 0, fmt::format("L{}.{}{}", layer, spec.name, c.kind == Chunk::F ? "" : c.kind == Chunk::B ? ".dgrad" : ".wgrad"),
                     kind, t, d, s, layer, c.mb, phase, 112);
        e.flops = spec.flops;
        e.bytes = 1.0e8;
        t += d;
        const bool after_expert = std::string_view(spec.name) == (c.kind == Chunk::F ? "expert_down" : "expert_up");
        if (c.kind != Chunk::W && after_expert) {
          const int64_t a = std::max(t, comm_free);
          const int64_t dd = jitter(kAllToAllNs);
          auto& x = op(rank, 1, fmt::format("L{}.{}", layer, c.kind == Chunk::F ? "combine" : "dispatch_grad"),
                       "all_to_all", a, dd, s, layer, c.mb, phase, 20);
          x.bytes = 2.9e7;
          comm_free = a + dd;
        }
      }
      t = std::max(t, comm_free);   // the next layer needs the combined tokens
    }
    return t;
  }

 private:
  const SyntheticParams& p_;
  trace::Timeline& tl_;
  uint64_t counter_ = 0;
  int64_t next_id_ = 0;
};

}  // namespace

trace::Timeline synthetic_timeline(const SyntheticParams& p) {
  trace::Timeline tl;
  const int pp = std::max(1, p.pp), m = std::max(1, p.micro_batches);
  // Stage-level schedule: chunk start times honouring pipeline dependencies.
  std::map<std::tuple<int, int, int>, std::pair<int64_t, int64_t>> when;   // (stage, kind, mb) -> (start, end)
  std::vector<std::vector<ChunkRef>> order(static_cast<size_t>(pp));
  std::vector<size_t> next(static_cast<size_t>(pp), 0);
  std::vector<int64_t> free_at(static_cast<size_t>(pp), 0);
  for (int s = 0; s < pp; ++s) order[size_t(s)] = stage_order(s, pp, m);
  size_t remaining = 0;
  for (const auto& o : order) remaining += o.size();
  while (remaining) {
    bool progress = false;
    for (int s = 0; s < pp; ++s) {
      while (next[size_t(s)] < order[size_t(s)].size()) {
        const ChunkRef c = order[size_t(s)][next[size_t(s)]];
        int64_t ready = free_at[size_t(s)];
        bool ok = true;
        auto need = [&](int st, Chunk k, int mb, int64_t extra) {
          auto it = when.find({st, int(k), mb});
          if (it == when.end()) ok = false;
          else ready = std::max(ready, it->second.second + extra);
        };
        if (c.kind == Chunk::F && s > 0) need(s - 1, Chunk::F, c.mb, kP2PNs);
        if (c.kind == Chunk::B) {
          if (s + 1 < pp) need(s + 1, Chunk::B, c.mb, kP2PNs);
          else need(s, Chunk::F, c.mb, 0);
        }
        if (!ok) break;
        const int64_t end = ready + chunk_length(c.kind, p.layers_per_stage);
        when[{s, int(c.kind), c.mb}] = {ready, end};
        free_at[size_t(s)] = end;
        ++next[size_t(s)];
        --remaining;
        progress = true;
      }
    }
    if (!progress) break;   // cannot happen for 1F1B orders; guards against a bad order
  }
  Builder b(p, tl);
  int64_t flow_id = 1;
  for (int s = 0; s < pp; ++s)
    for (int d = 0; d < p.dp; ++d) {
      const int rank = s * p.dp + d;
      tl.process_names[rank] = fmt::format("rank {} (stage {}, dp {})", rank, s, d);
      tl.thread_names[{rank, 0}] = "compute";
      tl.thread_names[{rank, 1}] = "all-to-all";
      tl.thread_names[{rank, 2}] = "pipeline p2p";
      int64_t t = 0;
      for (const ChunkRef& c : order[size_t(s)]) {
        const auto [start, end] = when[{s, int(c.kind), c.mb}];
        t = b.chunk(rank, s, c, std::max(t, start));
      }
      // Data-parallel gradient reduce-scatter, optimizer, parameter all-gather.
      auto& rs = b.op(rank, 1, "grad_reduce_scatter", "reduce_scatter", t, b.jitter(300'000), s, -1, -1, 0, 20);
      rs.bytes = 1.2e9;
      t = rs.end_ns();
      auto& opt = b.op(rank, 0, "adamw", "optimizer", t, b.jitter(200'000), s, -1, -1, 0, 132);
      t = opt.end_ns();
      b.op(rank, 1, "param_all_gather", "all_gather", t, b.jitter(150'000), s, -1, -1, 0, 20).bytes = 6e8;
    }
  // Pipeline sends and receives (stream 2) with flows: activations forward, gradients backward.
  for (int s = 0; s + 1 < pp; ++s)
    for (int d = 0; d < p.dp; ++d)
      for (int mb = 0; mb < m; ++mb) {
        const int a = s * p.dp + d, z = (s + 1) * p.dp + d;
        const int64_t f_end = when[{s, int(Chunk::F), mb}].second;
        auto& send = b.op(a, 2, fmt::format("send act mb{}", mb), "send", f_end, kP2PNs, s, -1, mb, 'F', 0);
        send.bytes = 2.9e7;
        const auto send_i = static_cast<uint32_t>(tl.events.size() - 1);
        b.op(z, 2, fmt::format("recv act mb{}", mb), "recv", f_end, kP2PNs, s + 1, -1, mb, 'F', 0).bytes = 2.9e7;
        tl.add_flow(flow_id++, send_i, static_cast<uint32_t>(tl.events.size() - 1));
        const int64_t b_end = when[{s + 1, int(Chunk::B), mb}].second;
        b.op(z, 2, fmt::format("send grad mb{}", mb), "send", b_end, kP2PNs, s + 1, -1, mb, 'B', 0).bytes = 2.9e7;
        const auto gs = static_cast<uint32_t>(tl.events.size() - 1);
        b.op(a, 2, fmt::format("recv grad mb{}", mb), "recv", b_end, kP2PNs, s, -1, mb, 'B', 0).bytes = 2.9e7;
        tl.add_flow(flow_id++, gs, static_cast<uint32_t>(tl.events.size() - 1));
      }
  tl.metadata.scenario = fmt::format("synthetic pp{} dp{} mb{} layers/stage {}", pp, p.dp, m, p.layers_per_stage);
  tl.metadata.source = trace::TraceSource::Sim;
  tl.metadata.version = "synthetic-1";
  return tl;
}

SyntheticParams params_for_bytes(SyntheticParams base, int64_t target_bytes) {
  SyntheticParams probe = base;
  probe.dp = 1;
  const auto bytes = static_cast<int64_t>(trace::write_trace_string(synthetic_timeline(probe)).size());
  const int64_t per_rank = std::max<int64_t>(1, bytes / std::max(1, probe.pp));
  base.dp = static_cast<int>(std::max<int64_t>(1, (target_bytes + per_rank / 2) / (per_rank * std::max(1, base.pp))));
  return base;
}

}  // namespace tandem::viewer::bench
