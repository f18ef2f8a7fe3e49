// Parameter store: layouts from how the program uses each weight, initialisation by the program's
// initialisation class (seeded by the weight's label), FP8 weight copies, and the ZeRO-1 shards
// (see parameters.h).
#include "backend/training/parameters.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/training/data/token_file.h"
#include "kernels/common/bf16.h"

namespace tandem::backend {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Standard normal values from a name-seeded stream (Box-Muller on splitmix64 uniforms).
void fill_normal(std::vector<float>& out, size_t offset, size_t n, uint64_t seed, double stddev) {
  uint64_t state = seed;
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = (double(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = double(splitmix64(state) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[offset + i] = float(stddev * r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) out[offset + i + 1] = float(stddev * r * std::sin(2 * M_PI * u2));
  }
}

}  // namespace

std::string Param::entry_name(int64_t local_expert) const {
  // The copies of a shared weight are one weight: the original's label names them all.
  const std::string label = shared != ir::SharedWeight::None ? std::string(ir::initial_value_key(shared)) : name;
  return expert ? fmt::format("{}[{}]", label, first_expert + local_expert) : label;
}

const Fp8Matrix& Param::fp8(int64_t e, bool transposed, bool pow2_scales) const {
  std::lock_guard lock(fp8_mutex_);
  if (fp8_version_ != version) {
    fp8_.clear();
    fp8_t_.clear();
    for (int64_t x = 0; x < experts; ++x) {
      const std::span<const float> w(value.data() + x * per_expert(), size_t(per_expert()));
      auto q = std::make_unique<Fp8Matrix>(quantize(w, rows, cols, kernels::Fp8ScaleLayout::Block128x128, pow2_scales));
      auto t = std::make_unique<Fp8Matrix>();
      t->rows = cols;
      t->cols = rows;
      t->layout = kernels::Fp8ScaleLayout::Block128x128;
      t->codes.resize(q->codes.size());
      t->scales.resize(size_t(kernels::fp8_scale_count(t->layout, t->rows, t->cols)));
      kernels::transpose_fp8_blocks(q->codes, q->scales, rows, cols, t->codes, t->scales);
      fp8_.push_back(std::move(q));
      fp8_t_.push_back(std::move(t));
    }
    fp8_version_ = version;
  }
  return transposed ? *fp8_t_[size_t(e)] : *fp8_[size_t(e)];
}

int64_t Param::whole_index(int64_t i) const {
  if (tp_split == ir::TpSplit::Replicated) return i;
  const int64_t r = i / cols, c = i % cols;
  if (tp_split == ir::TpSplit::Rows) return r * whole_cols() + tp_index * cols + c;
  // Columns: stored rows; of each half alike for [gate | up].
  if (!halves) return (tp_index * rows + r) * cols + c;
  const int64_t half = rows / 2, whole_half = half * tp_parts;
  const int64_t wr = r < half ? tp_index * half + r : whole_half + tp_index * half + (r - half);
  return wr * cols + c;
}

int64_t Param::whole_run(int64_t i, int64_t n) const {
  if (tp_split == ir::TpSplit::Replicated) return n;
  return std::min(n, cols - i % cols);   // a stored row of the part is contiguous in the whole
}

void ParamShard::gather(bool grads, int64_t from, int64_t n, float* out) const {
  int64_t base = 0;
  for (const Param* p : params) {
    const int64_t lo = std::max(from, base), hi = std::min(from + n, base + p->size());
    if (lo < hi) {
      const auto& src = grads ? p->grad : p->value;
      std::copy(src.begin() + (lo - base), src.begin() + (hi - base), out + (lo - from));
    }
    base += p->size();
  }
}

std::vector<std::pair<int64_t, int64_t>> ParamShard::norm_ranges() const {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t count_lo = lo, count_hi = hi;
  if (all_reduced) {
    const int64_t g = int64_t(group.size()), stripe = (total + g - 1) / g;
    count_lo = std::min(total, member * stripe);
    count_hi = std::min(total, count_lo + stripe);
  }
  int64_t base = 0;
  for (const Param* p : params) {
    const int64_t from = std::max(count_lo, base), to = std::min(count_hi, base + p->size());
    if (from < to && !p->shared_replica) {
      if (!out.empty() && out.back().first + out.back().second == from - lo) out.back().second += to - from;   // adjacent: one range
      else out.emplace_back(from - lo, to - from);
    }
    base += p->size();
  }
  return out;
}

void ParamShard::scatter_values(int64_t from, int64_t n, const float* in) {
  int64_t base = 0;
  for (Param* p : params) {
    const int64_t lo = std::max(from, base), hi = std::min(from + n, base + p->size());
    if (lo < hi) {
      std::copy(in + (lo - from), in + (hi - from), p->value.begin() + (lo - base));
      ++p->version;
    }
    base += p->size();
  }
}

std::vector<float> ParamStore::initial_values(const Param& p, const InitConfig& init) {
  if (p.tp_split != ir::TpSplit::Replicated) {
    // The whole weight's values as tp = 1 draws them, then this rank's slice.
    Param whole;
    whole.name = p.name;
    whole.kind = p.kind;
    whole.init = p.init;
    whole.shared = p.shared;
    whole.expert = p.expert;
    whole.experts = p.experts;
    whole.first_expert = p.first_expert;
    whole.rows = p.whole_rows();
    whole.cols = p.whole_cols();
    const std::vector<float> all = initial_values(whole, init);
    std::vector<float> out(size_t(p.size()));
    for (int64_t e = 0; e < p.experts; ++e)
      for (int64_t i = 0; i < p.per_expert(); ++i)
        out[size_t(e * p.per_expert() + i)] = all[size_t(e * whole.per_expert() + p.whole_index(i))];
    return out;
  }
  std::vector<float> out(size_t(p.size()), 0.0f);
  // Seeded by the entry's label: the copies of a shared weight share it, so they start equal.
  switch (p.init) {
    case ir::InitClass::None:
      throw std::logic_error(fmt::format("weight {} has no initialisation class in the program", p.name));
    case ir::InitClass::Ones:
      std::fill(out.begin(), out.end(), 1.0f);
      return out;
    case ir::InitClass::Zeros:
      return out;
    case ir::InitClass::Table: {
      const std::string key = p.entry_name(0);
      fill_normal(out, 0, out.size(), init.seed ^ fnv1a64(key.data(), key.size()), 1.0);
      return out;
    }
    case ir::InitClass::Linear:
    case ir::InitClass::OutputProjection: {
      double stddev = 1.0 / std::sqrt(double(p.cols));
      if (p.init == ir::InitClass::OutputProjection) stddev /= std::sqrt(2.0 * double(std::max<int64_t>(1, init.num_layers)));
      for (int64_t e = 0; e < p.experts; ++e) {
        const std::string entry = p.entry_name(e);
        fill_normal(out, size_t(e * p.per_expert()), size_t(p.per_expert()), init.seed ^ fnv1a64(entry.data(), entry.size()), stddev);
      }
      return out;
    }
  }
  return out;
}

ParamStore::ParamStore(const ir::StepProgram& program, int64_t rank, const InitConfig& init, bool exact) {
  const ir::RankProgram& rp = program.program_of(rank);
  const auto coord = program.coord(rank);
  const auto& model = program.model();
  const int64_t local_experts = model.routed_experts / program.plan().ep;
  const int64_t tp = program.plan().tp;
  // How each weight is used. A GEMM whose output SwiGLU reads holds [gate | up] (TP: sliced per half).
  std::vector<int8_t> kind(rp.tensors.size(), -1);
  std::vector<char> swiglu_input(rp.tensors.size(), 0), halves(rp.tensors.size(), 0);
  for (const auto& t : rp.templates)
    if (ir::kind_of(t.payload) == ir::OpKind::Elementwise && std::get<ir::Elementwise>(t.payload).kind == ir::ElementwiseKind::SwiGLU &&
        t.phase == ir::Phase::F)
      swiglu_input[size_t(t.in(ir::OperandSlot::Input))] = 1;
  for (const auto& t : rp.templates) {
    if (ir::kind_of(t.payload) == ir::OpKind::Gemm && t.phase == ir::Phase::F && t.has_in(ir::OperandSlot::Weight) &&
        t.has_out(ir::OperandSlot::Output) && swiglu_input[size_t(t.out(ir::OperandSlot::Output))])
      halves[size_t(t.in(ir::OperandSlot::Weight))] = 1;
    ParamKind k;
    switch (ir::kind_of(t.payload)) {
      case ir::OpKind::Gemm: k = ParamKind::Linear; break;
      case ir::OpKind::Norm: k = ParamKind::Vector; break;
      case ir::OpKind::Router: k = ParamKind::Bias; break;
      case ir::OpKind::Elementwise: k = ParamKind::Table; break;
      default: continue;
    }
    if (t.phase != ir::Phase::F) continue;
    const ir::OperandSlot slot = k == ParamKind::Bias ? ir::OperandSlot::Bias : ir::OperandSlot::Weight;
    if (t.has_in(slot)) kind[size_t(t.in(slot))] = int8_t(k);
  }
  // The gradient tensor of each weight (one per weight: a weight read by two chunks of the rank, such
  // as the embedding the MTP module reads, is one tensor with one gradient).
  std::unordered_map<int32_t, int32_t> grad_of_weight;
  for (size_t i = 0; i < rp.tensors.size(); ++i)
    if (rp.tensors[i].role == ir::TensorRole::Gradient && rp.tensors[i].gradient_of >= 0) {
      const auto [it, fresh] = grad_of_weight.emplace(rp.tensors[i].gradient_of, int32_t(i));
      if (!fresh) throw std::logic_error(fmt::format("weight {} has two gradient tensors in the program", rp.tensors[size_t(it->first)].name));
    }
  for (size_t i = 0; i < rp.tensors.size(); ++i) {
    const ir::TensorInfo& info = rp.tensors[i];
    if (info.role != ir::TensorRole::Weight) continue;
    if (kind[i] < 0) throw std::logic_error(fmt::format("weight {} is read by no forward op the CPU backend knows", info.name));
    auto p = std::make_unique<Param>();
    p->name = info.name;
    p->tensor = int32_t(i);
    p->chunk = info.chunk;
    p->kind = ParamKind(kind[i]);
    p->init = info.init;
    p->shared = info.shared;
    p->shared_replica = info.shared_replica;
    p->expert = info.expert;
    p->experts = info.shape[2];
    if (p->expert) {
      if (p->experts != local_experts)
        throw std::logic_error(fmt::format("{}: {} experts in the program, {} expected", info.name, p->experts, local_experts));
      p->first_expert = coord.ep_index * local_experts;
    }
    if (tp > 1 && info.tp_split != ir::TpSplit::Replicated) {
      if (p->kind != ParamKind::Linear || p->expert)
        throw std::logic_error(fmt::format("weight {} is TP-split but not a dense linear weight", info.name));
      p->tp_split = info.tp_split;
      p->tp_parts = tp;
      p->tp_index = coord.tp_index;
      p->halves = halves[i] != 0;
      if (p->halves && info.shape[1] % 2 != 0)
        throw std::logic_error(fmt::format("weight {}: a [gate | up] part of {} columns", info.name, info.shape[1]));
    }
    switch (p->kind) {
      case ParamKind::Linear: p->rows = info.shape[1]; p->cols = info.shape[0]; break;
      case ParamKind::Table: p->rows = info.shape[0]; p->cols = info.shape[1]; break;
      case ParamKind::Vector:
      case ParamKind::Bias: p->rows = 1; p->cols = info.shape[0] * info.shape[1]; break;
    }
    const auto g = grad_of_weight.find(int32_t(i));
    p->grad_tensor = g == grad_of_weight.end() ? -1 : g->second;
    if (p->kind != ParamKind::Bias && p->grad_tensor < 0)
      throw std::logic_error(fmt::format("weight {} has no gradient tensor in the program", info.name));
    p->value = initial_values(*p, init);
    if (p->kind != ParamKind::Bias) round_bf16_unless(exact, p->value);
    p->grad.assign(p->value.size(), 0.0f);
    by_tensor_[p->tensor] = p.get();
    if (p->grad_tensor >= 0) by_grad_[p->grad_tensor] = p.get();
    params_.push_back(std::move(p));
  }

  // ZeRO groups from the end-of-step collectives of each chunk, one per kind of reduction (with tp = 1
  // the program reduces every dense parameter as Data).
  auto kind_of_param = [&](const Param& p) {
    return p.expert ? ir::CommGroup::ExpertData
           : tp > 1 && rp.tensors[size_t(p.tensor)].tp_split == ir::TpSplit::Replicated ? ir::CommGroup::ReplicatedData
                                                                                        : ir::CommGroup::Data;
  };
  for (int32_t chunk : rp.chunks)
    for (ir::CommGroup shard_kind : {ir::CommGroup::Data, ir::CommGroup::ReplicatedData, ir::CommGroup::ExpertData}) {
      ParamShard s;
      s.chunk = chunk;
      s.kind = shard_kind;
      for (auto& p : params_)
        if (p->chunk == chunk && kind_of_param(*p) == shard_kind && p->kind != ParamKind::Bias) s.params.push_back(p.get());
      if (s.params.empty()) continue;
      std::sort(s.params.begin(), s.params.end(), [](const Param* a, const Param* b) { return a->name < b->name; });
      for (const Param* p : s.params) s.total += p->size();
      s.group = {int(rank)};
      bool all_reduce = false;
      for (const auto& op : rp.ops) {
        const auto& t = rp.tmpl(op);
        if (t.chunk != chunk || (t.role != ir::OpRole::GradReduceScatter && t.role != ir::OpRole::GradAllReduce)) continue;
        const auto& c = std::get<ir::Comm>(t.payload);
        if (c.group != shard_kind) continue;
        s.group.clear();
        for (int64_t r : program.group_ranks(rank, op)) s.group.push_back(int(r));
        all_reduce = t.role == ir::OpRole::GradAllReduce;
      }
      s.member = int(std::find(s.group.begin(), s.group.end(), int(rank)) - s.group.begin());
      const int64_t g = all_reduce ? 1 : int64_t(s.group.size());
      s.shard = (s.total + g - 1) / g;
      s.lo = all_reduce ? 0 : std::min(s.total, s.member * s.shard);
      s.hi = all_reduce ? s.total : std::min(s.total, s.lo + s.shard);
      s.all_reduced = all_reduce && s.group.size() > 1;
      s.master.resize(size_t(s.hi - s.lo));
      int64_t base = 0;
      for (const Param* p : s.params) {
        const auto full = initial_values(*p, init);
        const int64_t lo = std::max(s.lo, base), hi = std::min(s.hi, base + p->size());
        for (int64_t i = lo; i < hi; ++i) s.master[size_t(i - s.lo)] = full[size_t(i - base)];
        base += p->size();
      }
      s.m.assign(s.master.size(), 0.0f);
      s.v.assign(s.master.size(), 0.0f);
      shards_.push_back(std::move(s));
    }
}

Param& ParamStore::by_tensor(int32_t tensor) const {
  const auto it = by_tensor_.find(tensor);
  if (it == by_tensor_.end()) throw std::logic_error(fmt::format("tensor {} is not a weight of this rank", tensor));
  return *it->second;
}

Param& ParamStore::by_grad_tensor(int32_t tensor) const {
  const auto it = by_grad_.find(tensor);
  if (it == by_grad_.end()) throw std::logic_error(fmt::format("tensor {} is not a weight gradient of this rank", tensor));
  return *it->second;
}

Param* ParamStore::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p->name == name) return p.get();
  return nullptr;
}

ParamShard& ParamStore::shard_of(int32_t chunk, ir::CommGroup kind) {
  for (auto& s : shards_)
    if (s.chunk == chunk && s.kind == kind) return s;
  const char* what = kind == ir::CommGroup::ExpertData ? "expert" : kind == ir::CommGroup::ReplicatedData ? "TP-replicated" : "dense";
  throw std::logic_error(fmt::format("no {} parameter shard for chunk {}", what, chunk));
}

void ParamStore::zero_grads() {
  for (auto& p : params_) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
}

int64_t ParamStore::total_elements() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->size();
  return n;
}

}  // namespace tandem::backend
