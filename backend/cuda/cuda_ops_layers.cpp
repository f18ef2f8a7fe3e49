// RMSNorm, SwiGLU, cross-entropy and the MoE router on the GPU (staged), with the CPU ops' semantics
// (ops_layers.cpp, ops_router.cpp). Activations go up as FP32 (the host values, already rounded as
// their dtype says) and the kernels compute in FP32; outputs are rounded by OpContext::write as on the CPU.
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/cuda/cuda_ops_stage.h"
#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/loss/cross_entropy_cuda.h"
#include "kernels/norm/rmsnorm_cuda.h"
#include "kernels/router/load_balance_cpu.h"
#include "kernels/router/router_cuda.h"
#include "kernels/swiglu/swiglu_cuda.h"

namespace tandem::backend::cuda_ops {

namespace {

constexpr kc::ActType kF32 = kc::ActType::F32;

// The leading `cols` columns of x (the KV norm covers the latent, not the rope key after it).
std::vector<float> leading_columns(const Value& x, int64_t cols) {
  if (cols == x.cols) return x.data;
  if (cols > x.cols) throw std::logic_error(fmt::format("a norm of {} columns over a tensor of {}", cols, x.cols));
  std::vector<float> out(size_t(x.rows * cols));
  for (int64_t r = 0; r < x.rows; ++r) std::copy_n(x.data.begin() + r * x.cols, cols, out.begin() + r * cols);
  return out;
}

struct CudaLossState {
  std::vector<float> lse;          // [tokens]
  kc::CrossEntropyTotals totals;
};

struct CudaRouterState {
  std::vector<float> scores;       // [tokens, experts]
  std::vector<int32_t> topk;       // [tokens, top_k]
};

std::string state_key(const char* what, const OpContext& c) {
  return fmt::format("cuda.{}.L{}.mb{}", what, c.t.layer, c.mb());
}

}  // namespace

// F: {x, weight} -> y. B: {dy, x, weight} -> dx (x's width, zero past the normalised columns); the
// weight gradient is added into the FP32 accumulator by the kernel's two-pass reduction.
void cuda_norm(const OpContext& c, const Env&) {
  const float eps = float(c.rt.program.model().rms_norm_eps);
  const bool fwd = c.forward();
  const ValuePtr x_full = c.read(c.t.inputs.at(fwd ? 0 : 1));
  Param& g = c.weight(c.t.inputs.at(fwd ? 1 : 2));
  const int64_t dim = int64_t(g.value.size()), rows = x_full->rows;
  const auto x = leading_columns(*x_full, dim);
  OpStage stage(*c.rt.device, c.stream);
  const float* dx_in = stage.upload(x);
  const float* dw = stage.upload(g.value);
  float* y = stage.alloc<float>(x.size());
  float* rstd = stage.alloc<float>(size_t(rows));
  if (rows > 0) kc::rmsnorm_forward_cuda(dx_in, kF32, dw, rows, dim, eps, y, rstd, stage.stream());
  if (fwd) {
    Value out;
    out.rows = rows;
    out.cols = dim;
    out.data.resize(x.size());
    stage.download(std::span(out.data), y);
    stage.finish();
    c.write(c.t.outputs.at(0), std::move(out));
    return;
  }
  const ValuePtr dy = c.read(c.t.inputs.at(0));
  if (int64_t(dy->data.size()) != rows * dim)
    throw std::logic_error(fmt::format("{}: an output gradient of {} values for [{}, {}]", c.where(), dy->data.size(), rows, dim));
  const float* ddy = stage.upload(dy->data);
  float* dxo = stage.alloc<float>(x.size());
  float* partial = stage.alloc<float>(size_t(kc::rmsnorm_weight_partial_count(rows, dim)));
  float* dgrad = stage.upload(std::span<const float>(g.grad));
  if (rows > 0) {
    kc::rmsnorm_backward_input_cuda(dx_in, dw, rstd, ddy, kF32, rows, dim, dxo, stage.stream());
    kc::rmsnorm_backward_weight_cuda(dx_in, rstd, ddy, kF32, rows, dim, partial, dgrad, stage.stream());
  }
  std::vector<float> dx(x.size());
  stage.download(std::span(dx), dxo);
  stage.download(std::span(g.grad), dgrad);
  stage.finish();
  Value out;
  out.rows = rows;
  out.cols = x_full->cols;
  if (dim == x_full->cols) {
    out.data = std::move(dx);
  } else {
    out.data.assign(x_full->data.size(), 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(dx.begin() + r * dim, dim, out.data.begin() + r * x_full->cols);
  }
  c.write(c.t.outputs.at(0), std::move(out));
}

// SwiGLU on the fused up-projection output [rows, 2·width] (gate | up). B: {da, u} -> du.
void cuda_swiglu(const OpContext& c, const Env&) {
  OpStage stage(*c.rt.device, c.stream);
  if (c.forward()) {
    const ValuePtr u = c.read(c.t.inputs.at(0));
    Value a;
    a.rows = u->rows;
    a.cols = u->cols / 2;
    a.data.resize(size_t(a.rows * a.cols));
    const float* du = stage.upload(u->data);
    float* da = stage.alloc<float>(a.data.size());
    if (!a.data.empty()) kc::swiglu_forward_fused_cuda(du, kF32, a.rows, a.cols, da, stage.stream());
    stage.download(std::span(a.data), da);
    stage.finish();
    c.write(c.t.outputs.at(0), std::move(a));
    return;
  }
  const ValuePtr da = c.read(c.t.inputs.at(0));
  const ValuePtr u = c.read(c.t.inputs.at(1));
  if (da->data.size() * 2 != u->data.size())
    throw std::logic_error(fmt::format("{}: a gradient of {} values for an input of {}", c.where(), da->data.size(), u->data.size()));
  Value du;
  du.rows = u->rows;
  du.cols = u->cols;
  du.data.resize(u->data.size());
  const float* dh = stage.upload(u->data);
  const float* dda = stage.upload(da->data);
  float* ddu = stage.alloc<float>(du.data.size());
  if (!du.data.empty()) kc::swiglu_backward_fused_cuda(dh, dda, kF32, u->rows, u->cols / 2, ddu, stage.stream());
  stage.download(std::span(du.data), ddu);
  stage.finish();
  c.write(c.t.outputs.at(0), std::move(du));
}

// Cross-entropy of the main or MTP head (see run_loss): the kernel's log-sum-exp, mean and backward.
void cuda_loss(const OpContext& c, const Env&) {
  const auto& m = c.rt.program.model();
  const auto& plan = c.rt.program.plan();
  const bool mtp = c.t.layer == m.num_layers;
  const auto targets = token_ids(c, mtp ? 2 : 1);
  const ValuePtr logits = c.read(c.t.inputs.at(0));
  const int64_t tokens = int64_t(targets.size()), vocab = logits->cols;
  if (logits->rows != tokens)
    throw std::logic_error(fmt::format("{}: {} rows of logits for {} targets", c.where(), logits->rows, tokens));
  OpStage stage(*c.rt.device, c.stream);
  const float* dlogits_in = stage.upload(logits->data);
  const int32_t* dt = stage.upload(targets);
  const std::string key = state_key("loss", c);
  if (c.forward()) {
    auto st = c.rt.aux<CudaLossState>(key, true);
    st->lse.resize(size_t(tokens));
    float* lse = stage.alloc<float>(size_t(tokens));
    float* token_loss = stage.alloc<float>(size_t(tokens));
    auto* totals = stage.alloc<kc::CrossEntropyTotals>(1);
    kc::cross_entropy_forward_cuda(dlogits_in, kF32, dt, tokens, vocab, kernels::kIgnoreIndex, lse, token_loss, totals,
                                   stage.stream());
    stage.download(std::span(st->lse), lse);
    stage.download(std::span(&st->totals, 1), totals);
    stage.finish();
    if (st->totals.invalid > 0)
      throw std::runtime_error(fmt::format("{}: {} targets outside the vocabulary of {}", c.where(), st->totals.invalid, vocab));
    const double sum = st->totals.mean_loss * double(tokens);
    if (mtp) {
      c.rt.local_mtp_sum += sum;
      c.rt.local_mtp_tokens += tokens;
    } else {
      c.rt.local_loss_sum += sum;
      c.rt.local_tokens += tokens;
    }
    Value loss;
    loss.rows = loss.cols = 1;
    loss.data = {float(sum)};
    c.write(c.t.outputs.at(0), std::move(loss));
    return;
  }
  const auto st = c.rt.aux<CudaLossState>(key, false);
  const double weight = mtp ? m.mtp_loss_weight : 1.0;
  const double micro_batches = double(plan.micro_batches() * plan.dp);
  const float* lse = stage.upload(st->lse);
  const auto* totals = stage.upload(std::span<const kc::CrossEntropyTotals>(&st->totals, 1));
  float* dg = stage.alloc<float>(logits->data.size());
  kc::cross_entropy_backward_cuda(dlogits_in, kF32, dt, lse, totals, tokens, vocab, kernels::kIgnoreIndex,
                                  float(weight / micro_batches), dg, stage.stream());
  Value g;
  g.rows = logits->rows;
  g.cols = logits->cols;
  g.data.resize(logits->data.size());
  stage.download(std::span(g.data), dg);
  stage.finish();
  if (c.rt.config.inject_nan && !mtp) g.data[0] = std::numeric_limits<float>::quiet_NaN();
  c.write(c.t.outputs.at(0), std::move(g));
}

// The router (see run_router): scores, choice and weights on the GPU; the balance loss and the load
// count on the host from the downloaded scores (as the CPU op computes them); backward on the GPU with
// the balance loss's part added on the host between the two kernels.
void cuda_router(const OpContext& c, const Env&) {
  const auto& m = c.rt.program.model();
  const kernels::RouterConfig cfg = router_config(m);
  const std::string key = state_key("router", c);
  OpStage stage(*c.rt.device, c.stream);
  if (c.t.phase == ir::Phase::F) {
    const ValuePtr logits = c.read(c.t.inputs.at(0));
    const Param& bias = c.weight(c.t.inputs.at(1));
    const int64_t tokens = logits->rows;
    auto st = c.rt.aux<CudaRouterState>(key, true);
    st->scores.resize(size_t(tokens * m.routed_experts));
    st->topk.resize(size_t(tokens * m.experts_per_token));
    Value route;
    route.rows = tokens;
    route.cols = 2 * m.experts_per_token;
    route.data.resize(st->topk.size());
    const float* dl = stage.upload(logits->data);
    const float* db = stage.upload(bias.value);
    float* scores = stage.alloc<float>(st->scores.size());
    int32_t* topk = stage.alloc<int32_t>(st->topk.size());
    float* weights = stage.alloc<float>(route.data.size());
    if (tokens > 0) kc::router_forward_cuda(dl, db, tokens, cfg, scores, topk, weights, stage.stream());
    stage.download(std::span(st->scores), scores);
    stage.download(std::span(st->topk), topk);
    stage.download(std::span(route.data), weights);
    stage.finish();
    route.ints = st->topk;
    record_routing(c, st->scores, st->topk);
    c.write(c.t.outputs.at(0), std::move(route));
    return;
  }
  const auto st = c.rt.aux<CudaRouterState>(key, false);
  const ValuePtr dweight = c.read(c.t.inputs.at(0));
  const int64_t tokens = int64_t(st->topk.size()) / m.experts_per_token;
  if (int64_t(dweight->data.size()) != tokens * m.experts_per_token)
    throw std::logic_error(fmt::format("{}: a weight gradient of {} values for [{}, {}]", c.where(), dweight->data.size(), tokens,
                                       m.experts_per_token));
  const float* scores = stage.upload(st->scores);
  const int32_t* topk = stage.upload(st->topk);
  const float* ddw = stage.upload(dweight->data);
  float* dscores = stage.alloc<float>(st->scores.size());
  if (tokens > 0) kc::router_weights_backward_cuda(scores, topk, ddw, tokens, cfg, dscores, stage.stream());
  if (m.balance_loss_alpha > 0) {
    std::vector<float> host(st->scores.size());
    stage.download(std::span(host), dscores);
    stage.finish();
    add_balance_loss_gradient(c, st->scores, st->topk, host);
    dscores = stage.upload(host);
    stage.finish();   // `host` is released at the end of this block
  }
  Value dlogits;
  dlogits.rows = tokens;
  dlogits.cols = m.routed_experts;
  dlogits.data.resize(st->scores.size());
  float* dl = stage.alloc<float>(dlogits.data.size());
  if (!dlogits.data.empty()) kc::router_sigmoid_backward_cuda(scores, dscores, int64_t(dlogits.data.size()), dl, stage.stream());
  stage.download(std::span(dlogits.data), dl);
  stage.finish();
  c.write(c.t.outputs.at(0), std::move(dlogits));
}

}  // namespace tandem::backend::cuda_ops
