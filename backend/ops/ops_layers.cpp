// Norms, SwiGLU, the residual sum after the MoE block, the token embeddings and the cross-entropy
// losses (main model and MTP module), on the kernel table. Inputs arrive BF16-rounded; the kernels
// compute in FP32; outputs are rounded by the tensor's dtype.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"
#include "backend/ops/moe_state.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

// The normalised columns of x: all of them, or the leading ones when the norm's weight is narrower
// (the KV norm covers the latent and leaves the rope key after it).
// Returns x itself when it is as wide as the norm, else `storage` filled with its leading columns.
const Value& leading_columns(const Value& x, int64_t cols, Value& storage) {
  if (cols == x.cols) return x;
  if (cols > x.cols) throw std::logic_error(fmt::format("a norm of {} columns over a tensor of {}", cols, x.cols));
  storage.rows = x.rows;
  storage.cols = cols;
  storage.data.resize(size_t(x.rows * cols));
  for (int64_t r = 0; r < x.rows; ++r)
    std::copy_n(x.data.begin() + r * x.cols, cols, storage.data.begin() + r * cols);
  return storage;
}

}  // namespace

// RMSNorm over each row (over its leading columns when the weight is narrower than the row).
// B: {output_grad, input, weight} -> {input_grad, weight_grad}: dx has x's width, zero past the
// normalised columns; the weight's gradient accumulates in its parameter.
void run_norm(const OpContext& c, OpKernels& k) {
  const float eps = float(c.rt.program.model().rms_norm_eps);
  if (c.forward()) {
    const ValuePtr x_full = c.read(c.t.in(S::Input));
    const Param& g = c.weight(c.t.in(S::Weight));
    Value narrowed;
    const Value& x = leading_columns(*x_full, int64_t(g.value.size()), narrowed);
    Value y;
    y.rows = x.rows;
    y.cols = x.cols;
    y.data.resize(x.data.size());
    std::vector<float> rstd(size_t(x.rows));
    k.call(&KernelTable::rmsnorm_forward, x.data, g.value, x.rows, x.cols, eps, y.data, rstd);
    c.write(c.t.out(S::Output), std::move(y));
    return;
  }
  const ValuePtr dy = c.read(c.t.in(S::OutputGrad));
  const ValuePtr x_full = c.read(c.t.in(S::Input));
  Param& g = c.weight(c.t.in(S::Weight));
  Value narrowed;
  const Value& x = leading_columns(*x_full, int64_t(g.value.size()), narrowed);
  if (dy->data.size() != x.data.size())
    throw std::logic_error(fmt::format("{}: an output gradient of {} values for [{}, {}]", c.where(), dy->data.size(), x.rows, x.cols));
  Value dx;
  dx.rows = x.rows;
  dx.cols = x.cols;
  dx.data.resize(x.data.size());
  k.call(&KernelTable::rmsnorm_backward, x.data, g.value, dy->data, x.rows, x.cols, eps, dx.data, g.grad);
  if (x.cols != x_full->cols) {   // back to x's width; the columns past the norm get no part from it
    Value wide;
    wide.rows = x_full->rows;
    wide.cols = x_full->cols;
    wide.data.assign(x_full->data.size(), 0.0f);
    for (int64_t r = 0; r < x.rows; ++r)
      std::copy_n(dx.data.begin() + r * x.cols, x.cols, wide.data.begin() + r * x_full->cols);
    dx = std::move(wide);
  }
  c.write(c.t.out(S::InputGrad), std::move(dx));
}

// h_out = h + combined (+ shared): the residual stream, the routed experts' output and the shared
// experts', summed in that order. Its backward is an alias in the program (every input's gradient is
// the output's), so only the forward runs.
void run_residual(const OpContext& c, OpKernels&) {
  if (!c.forward()) throw std::logic_error(fmt::format("{}: a residual add outside the forward", c.where()));
  const ValuePtr h = c.read(c.t.in(S::Residual));
  Value out;
  out.rows = h->rows;
  out.cols = h->cols;
  out.data = h->data;
  auto add = [&](int32_t tensor) {
    const ValuePtr x = c.read(tensor);
    if (x->data.size() != out.data.size())
      throw std::logic_error(fmt::format("{}: summands of {} and {} values", c.where(), out.data.size(), x->data.size()));
    for (size_t j = 0; j < out.data.size(); ++j) out.data[j] += x->data[j];
  };
  add(c.t.in(S::Input));
  if (c.t.has_in(S::SharedExperts)) add(c.t.in(S::SharedExperts));
  c.write(c.t.out(S::Output), std::move(out));
}

std::vector<int32_t> token_ids(const OpContext& c, int offset) {
  const auto& plan = c.rt.program.plan();
  const int64_t L = plan.seq_len, S = plan.micro_batch_seqs;
  const auto& w = c.rt.windows.at(size_t(c.mb()));
  // Sequence parallelism: this rank's rows of the micro-batch's S × L (sequence-major), the
  // tp_index-th of tp equal parts (the order the TP all-gathers concatenate them in).
  const int64_t rows = S * L / plan.tp, first = c.rt.coord.tp_index * rows;
  std::vector<int32_t> ids(static_cast<size_t>(rows));
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t s = (first + t) / L, i = (first + t) % L;
    ids[size_t(t)] = w[size_t(s * (L + 2) + i + offset)];
  }
  return ids;
}

// Embedding lookup (F) and its table gradient (W). The MTP module embeds the tokens one ahead.
void run_embedding(const OpContext& c, OpKernels& k) {
  const bool mtp = c.t.layer == c.rt.program.model().num_layers;
  const auto ids = token_ids(c, mtp ? 1 : 0);
  if (c.forward()) {
    const Param& table = c.weight(c.t.in(S::Weight));
    Value h = float_matrix(int64_t(ids.size()), table.cols);
    k.call(&KernelTable::embedding_forward, ids, table.value, table.rows, table.cols, h.data);
    c.write(c.t.out(S::Output), std::move(h));
    return;
  }
  const ValuePtr dy = c.read(c.t.in(S::OutputGrad));
  Param& table = c.rt.params.by_grad_tensor(c.t.out(S::WeightGrad));
  k.call(&KernelTable::embedding_backward, ids, dy->data, table.rows, table.cols, table.grad);
}


// SwiGLU on the fused up-projection output [rows, 2·width] (gate | up). B: {output_grad, input} -> input_grad.
void run_swiglu(const OpContext& c, OpKernels& k) {
  if (c.forward()) {
    const ValuePtr u = c.read(c.t.in(S::Input));
    Value a = float_matrix(u->rows, u->cols / 2);
    k.call(&KernelTable::swiglu_forward, u->data, a.rows, a.cols, a.data);
    c.write(c.t.out(S::Output), std::move(a));
    return;
  }
  const ValuePtr da = c.read(c.t.in(S::OutputGrad));
  const ValuePtr u = c.read(c.t.in(S::Input));
  if (da->data.size() * 2 != u->data.size())
    throw std::logic_error(fmt::format("{}: a gradient of {} values for an input of {}", c.where(), da->data.size(), u->data.size()));
  Value du;
  du.rows = u->rows;
  du.cols = u->cols;
  du.data.resize(u->data.size());
  k.call(&KernelTable::swiglu_backward, u->data, da->data, u->rows, u->cols / 2, du.data);
  c.write(c.t.out(S::InputGrad), std::move(du));
}

namespace {
struct LossState {
  std::vector<float> lse;   // [tokens]
};
}  // namespace

// Cross-entropy of the main head against the next tokens x[1..L+1), or of the MTP head (weight λ)
// against the tokens two ahead x[2..L+2). The loss gradient is that of the mean over every token of
// the step: each micro-batch's mean is scaled by 1 / (micro-batches × data-parallel replicas), and with
// TP by 1 / tp more (a rank's mean is over its sequence split: 1 / tp of the micro-batch's tokens).
void run_loss(const OpContext& c, OpKernels& k) {
  const auto& m = c.rt.program.model();
  const auto& plan = c.rt.program.plan();
  const bool mtp = c.t.layer == m.num_layers;
  const auto targets = token_ids(c, mtp ? 2 : 1);
  const ValuePtr logits = c.read(c.t.in(S::Input));
  if (logits->rows != int64_t(targets.size()))
    throw std::logic_error(fmt::format("{}: {} rows of logits for {} targets", c.where(), logits->rows, targets.size()));
  const std::string key = "loss.L" + std::to_string(c.t.layer) + ".mb" + std::to_string(c.mb());
  if (c.forward()) {
    auto st = c.rt.aux<LossState>(key, true);
    st->lse.resize(targets.size());
    const double mean = k.call(&KernelTable::cross_entropy_forward, logits->data, targets, logits->cols, st->lse);
    const double sum = mean * double(targets.size());
    if (mtp) {
      c.rt.local_mtp_sum += sum;
      c.rt.local_mtp_tokens += int64_t(targets.size());
    } else {
      c.rt.local_loss_sum += sum;
      c.rt.local_tokens += int64_t(targets.size());
    }
    Value loss;
    loss.rows = loss.cols = 1;
    loss.data = {float(sum)};
    c.write(c.t.out(S::Loss), std::move(loss));
    return;
  }
  const auto st = c.rt.aux<LossState>(key, false);
  const double weight = mtp ? m.mtp_loss_weight : 1.0;
  const double micro_batches = double(plan.micro_batches() * plan.dp * plan.tp);
  Value g;
  g.rows = logits->rows;
  g.cols = logits->cols;
  g.data.resize(logits->data.size());
  k.call(&KernelTable::cross_entropy_backward, logits->data, targets, st->lse, logits->cols, float(weight / micro_batches),
         g.data);
  if (c.rt.config.inject_nan && !mtp) g.data[0] = std::numeric_limits<float>::quiet_NaN();
  c.write(c.t.out(S::InputGrad), std::move(g));
}

}  // namespace tandem::backend
