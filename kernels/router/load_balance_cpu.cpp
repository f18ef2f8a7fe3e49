// Sequence-wise balance loss, expert load counts and the bias update (see load_balance_cpu.h).
#include "kernels/router/load_balance_cpu.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

void check_inputs(const char* name, size_t scores, std::span<const int32_t> topk_idx, int64_t batch, int64_t seq,
                  int64_t experts, int64_t top_k) {
  check_at_least(name, "batch", batch, 1);
  check_at_least(name, "seq", seq, 1);
  check_at_least(name, "experts", experts, 1);
  check_at_least(name, "top_k", top_k, 1);
  check_size(name, "scores", scores, batch * seq * experts,
             fmt::format("[batch·seq={}, experts={}]", batch * seq, experts));
  check_size(name, "topk_idx", topk_idx.size(), batch * seq * top_k,
             fmt::format("[batch·seq={}, top_k={}]", batch * seq, top_k));
  for (size_t i = 0; i < topk_idx.size(); ++i) {
    check_arg(topk_idx[i] >= 0 && topk_idx[i] < experts, name,
              fmt::format("topk_idx element {} = {} is outside [0, {})", i, topk_idx[i], experts));
  }
}

// f_i of sequence b: N_r / (K_r · T) times the tokens of b that chose i.
std::vector<double> frequencies(std::span<const int32_t> topk_idx, int64_t b, int64_t seq, int64_t experts,
                                int64_t top_k) {
  std::vector<double> f(static_cast<size_t>(experts), 0.0);
  for (int64_t t = b * seq; t < (b + 1) * seq; ++t) {
    for (int64_t k = 0; k < top_k; ++k) f[static_cast<size_t>(topk_idx[static_cast<size_t>(t * top_k + k)])] += 1.0;
  }
  const double norm = static_cast<double>(experts) / (static_cast<double>(top_k) * static_cast<double>(seq));
  for (double& v : f) v *= norm;
  return f;
}

template <typename T>
double forward_impl(std::span<const T> scores, std::span<const int32_t> topk_idx, int64_t batch, int64_t seq,
                    int64_t experts, int64_t top_k, double alpha) {
  check_inputs("balance_loss_forward", scores.size(), topk_idx, batch, seq, experts, top_k);
  double total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const auto f = frequencies(topk_idx, b, seq, experts, top_k);
    std::vector<double> p(static_cast<size_t>(experts), 0.0);
    for (int64_t t = b * seq; t < (b + 1) * seq; ++t) {
      const T* st = scores.data() + t * experts;
      double sum = 0;
      for (int64_t e = 0; e < experts; ++e) sum += static_cast<double>(st[e]);
      for (int64_t e = 0; e < experts; ++e) p[static_cast<size_t>(e)] += static_cast<double>(st[e]) / sum;
    }
    double loss = 0;
    for (int64_t e = 0; e < experts; ++e) loss += f[static_cast<size_t>(e)] * p[static_cast<size_t>(e)] / static_cast<double>(seq);
    total += alpha * loss;
  }
  return total / static_cast<double>(batch);
}

template <typename T>
void backward_impl(std::span<const T> scores, std::span<const int32_t> topk_idx, int64_t batch, int64_t seq,
                   int64_t experts, int64_t top_k, double alpha, double dloss, std::span<T> dscores) {
  constexpr const char* kName = "balance_loss_backward";
  check_inputs(kName, scores.size(), topk_idx, batch, seq, experts, top_k);
  check_size(kName, "dscores", dscores.size(), batch * seq * experts,
             fmt::format("[batch·seq={}, experts={}]", batch * seq, experts));
  for (int64_t b = 0; b < batch; ++b) {
    auto g = frequencies(topk_idx, b, seq, experts, top_k);
    for (double& v : g) v *= dloss * alpha / (static_cast<double>(seq) * static_cast<double>(batch));
    for (int64_t t = b * seq; t < (b + 1) * seq; ++t) {
      const T* st = scores.data() + t * experts;
      double sum = 0;
      for (int64_t e = 0; e < experts; ++e) sum += static_cast<double>(st[e]);
      double mean_g = 0;
      for (int64_t e = 0; e < experts; ++e) mean_g += g[static_cast<size_t>(e)] * static_cast<double>(st[e]) / sum;
      T* ds = dscores.data() + t * experts;
      for (int64_t e = 0; e < experts; ++e) ds[e] += static_cast<T>((g[static_cast<size_t>(e)] - mean_g) / sum);
    }
  }
}

}  // namespace

double balance_loss_forward(std::span<const float> scores, std::span<const int32_t> topk_idx, int64_t batch,
                            int64_t seq, int64_t experts, int64_t top_k, double alpha) {
  return forward_impl(scores, topk_idx, batch, seq, experts, top_k, alpha);
}
double balance_loss_forward(std::span<const double> scores, std::span<const int32_t> topk_idx, int64_t batch,
                            int64_t seq, int64_t experts, int64_t top_k, double alpha) {
  return forward_impl(scores, topk_idx, batch, seq, experts, top_k, alpha);
}
void balance_loss_backward(std::span<const float> scores, std::span<const int32_t> topk_idx, int64_t batch,
                           int64_t seq, int64_t experts, int64_t top_k, double alpha, double dloss,
                           std::span<float> dscores) {
  backward_impl(scores, topk_idx, batch, seq, experts, top_k, alpha, dloss, dscores);
}
void balance_loss_backward(std::span<const double> scores, std::span<const int32_t> topk_idx, int64_t batch,
                           int64_t seq, int64_t experts, int64_t top_k, double alpha, double dloss,
                           std::span<double> dscores) {
  backward_impl(scores, topk_idx, batch, seq, experts, top_k, alpha, dloss, dscores);
}

void count_expert_load(std::span<const int32_t> topk_idx, int64_t experts, std::span<int64_t> load) {
  constexpr const char* kName = "count_expert_load";
  check_size(kName, "load", load.size(), experts, fmt::format("[experts={}]", experts));
  for (size_t i = 0; i < topk_idx.size(); ++i) {
    check_arg(topk_idx[i] >= 0 && topk_idx[i] < experts, kName,
              fmt::format("topk_idx element {} = {} is outside [0, {})", i, topk_idx[i], experts));
    ++load[static_cast<size_t>(topk_idx[i])];
  }
}

void update_router_bias(std::span<const int64_t> load, float gamma, std::span<float> bias) {
  check_size("update_router_bias", "bias", bias.size(), static_cast<int64_t>(load.size()), "[experts] like load");
  if (load.empty()) return;
  int64_t total = 0;
  for (int64_t l : load) total += l;
  // Compare load[e] with the mean as load[e] · experts vs total, exactly in integers.
  const auto experts = static_cast<int64_t>(load.size());
  for (size_t e = 0; e < load.size(); ++e) {
    const int64_t scaled = load[e] * experts;
    const float sign = scaled < total ? 1.0f : (scaled > total ? -1.0f : 0.0f);
    bias[e] += gamma * sign;
  }
}

double expert_load_imbalance(std::span<const int64_t> load) {
  if (load.empty()) return 0.0;
  int64_t total = 0, most = 0;
  for (int64_t l : load) {
    total += l;
    most = std::max(most, l);
  }
  if (total == 0) return 0.0;
  return static_cast<double>(most) * static_cast<double>(load.size()) / static_cast<double>(total);
}

}  // namespace tandem::kernels
