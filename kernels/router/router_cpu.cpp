// Router forward (sigmoid, biased group-limited top-k) and the backward of its weights (router_cpu.h).
#include "kernels/router/router_cpu.h"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/check.h"

namespace tandem::kernels {
namespace {

void check_config(const char* name, const RouterConfig& c) {
  check_at_least(name, "config.experts", c.experts, 1);
  check_at_least(name, "config.groups", c.groups, 1);
  check_arg(c.experts % c.groups == 0, name,
            fmt::format("config.experts ({}) must be a multiple of config.groups ({})", c.experts, c.groups));
  check_arg(c.topk_groups >= 1 && c.topk_groups <= c.groups, name,
            fmt::format("config.topk_groups must be in [1, groups = {}], found {}", c.groups, c.topk_groups));
  const int64_t eligible = c.topk_groups * (c.experts / c.groups);
  check_arg(c.top_k >= 1 && c.top_k <= eligible, name,
            fmt::format("config.top_k must be in [1, topk_groups · experts/groups = {}], found {}", eligible, c.top_k));
}

int64_t tokens_of(const char* name, size_t size, int64_t experts, const char* arg) {
  check_arg(size % static_cast<size_t>(experts) == 0, name,
            fmt::format("{} has {} elements, not a multiple of experts = {} ([tokens, experts])", arg, size, experts));
  return static_cast<int64_t>(size) / experts;
}

// a beats b: larger value, ties to the lower index. NaN never beats anything, so the scan stays defined.
template <typename T>
bool beats(T va, int64_t ia, T vb, int64_t ib) {
  return va > vb || (va == vb && ia < ib);
}

template <typename T>
void forward_impl(std::span<const T> logits, std::span<const T> bias, const RouterConfig& c, std::span<T> scores,
                  std::span<int32_t> topk_idx, std::span<T> topk_weight) {
  constexpr const char* kName = "router_forward";
  check_config(kName, c);
  const int64_t tokens = tokens_of(kName, logits.size(), c.experts, "logits");
  check_size(kName, "bias", bias.size(), c.experts, fmt::format("[experts={}]", c.experts));
  check_size(kName, "scores", scores.size(), tokens * c.experts, fmt::format("[tokens={}, experts={}]", tokens, c.experts));
  const std::string k_shape = fmt::format("[tokens={}, top_k={}]", tokens, c.top_k);
  check_size(kName, "topk_idx", topk_idx.size(), tokens * c.top_k, k_shape);
  check_size(kName, "topk_weight", topk_weight.size(), tokens * c.top_k, k_shape);

  const int64_t group_size = c.experts / c.groups;
  std::vector<T> choice(static_cast<size_t>(c.experts)), group_score(static_cast<size_t>(c.groups));
  std::vector<char> group_kept(static_cast<size_t>(c.groups)), taken(static_cast<size_t>(c.experts));
  for (int64_t t = 0; t < tokens; ++t) {
    const T* lt = logits.data() + t * c.experts;
    T* st = scores.data() + t * c.experts;
    for (int64_t e = 0; e < c.experts; ++e) {
      st[e] = T(1) / (T(1) + std::exp(-lt[e]));
      choice[static_cast<size_t>(e)] = st[e] + bias[static_cast<size_t>(e)];
    }
    // Group scores: the two best choice scores of each group.
    for (int64_t g = 0; g < c.groups; ++g) {
      const T* cg = choice.data() + g * group_size;
      int64_t best = 0;
      for (int64_t i = 1; i < group_size; ++i) {
        if (beats(cg[i], i, cg[best], best)) best = i;
      }
      int64_t second = -1;
      for (int64_t i = 0; i < group_size; ++i) {
        if (i != best && (second < 0 || beats(cg[i], i, cg[second], second))) second = i;
      }
      group_score[static_cast<size_t>(g)] = second < 0 ? cg[best] : cg[best] + cg[second];
    }
    // Keep the best topk_groups groups.
    std::fill(group_kept.begin(), group_kept.end(), 0);
    for (int64_t n = 0; n < c.topk_groups; ++n) {
      int64_t best = -1;
      for (int64_t g = 0; g < c.groups; ++g) {
        if (group_kept[static_cast<size_t>(g)]) continue;
        if (best < 0 || beats(group_score[static_cast<size_t>(g)], g, group_score[static_cast<size_t>(best)], best)) best = g;
      }
      if (best < 0) break;  // unreachable: topk_groups <= groups
      group_kept[static_cast<size_t>(best)] = 1;
    }
    // Top-k experts of the kept groups, in descending choice score.
    std::fill(taken.begin(), taken.end(), 0);
    int32_t* idx = topk_idx.data() + t * c.top_k;
    T sum = 0;
    for (int64_t k = 0; k < c.top_k; ++k) {
      int64_t best = -1;
      for (int64_t e = 0; e < c.experts; ++e) {
        if (taken[static_cast<size_t>(e)] || !group_kept[static_cast<size_t>(e / group_size)]) continue;
        if (best < 0 || beats(choice[static_cast<size_t>(e)], e, choice[static_cast<size_t>(best)], best)) best = e;
      }
      if (best < 0) break;  // unreachable: top_k <= experts in the kept groups
      taken[static_cast<size_t>(best)] = 1;
      idx[k] = static_cast<int32_t>(best);
      sum += st[best];
    }
    T* wt = topk_weight.data() + t * c.top_k;
    for (int64_t k = 0; k < c.top_k; ++k) wt[k] = static_cast<T>(c.route_scale) * st[idx[k]] / sum;
  }
}

template <typename T>
void weights_backward_impl(std::span<const T> scores, std::span<const int32_t> topk_idx, std::span<const T> dweight,
                           const RouterConfig& c, std::span<T> dscores) {
  constexpr const char* kName = "router_weights_backward";
  check_config(kName, c);
  const int64_t tokens = tokens_of(kName, scores.size(), c.experts, "scores");
  const std::string k_shape = fmt::format("[tokens={}, top_k={}]", tokens, c.top_k);
  check_size(kName, "topk_idx", topk_idx.size(), tokens * c.top_k, k_shape);
  check_size(kName, "dweight", dweight.size(), tokens * c.top_k, k_shape);
  check_size(kName, "dscores", dscores.size(), scores.size(), fmt::format("[tokens={}, experts={}]", tokens, c.experts));
  for (int64_t t = 0; t < tokens; ++t) {
    const T* st = scores.data() + t * c.experts;
    const int32_t* idx = topk_idx.data() + t * c.top_k;
    const T* dw = dweight.data() + t * c.top_k;
    T* ds = dscores.data() + t * c.experts;
    std::fill(ds, ds + c.experts, T(0));
    T sum = 0, weighted = 0;
    for (int64_t k = 0; k < c.top_k; ++k) {
      check_arg(idx[k] >= 0 && idx[k] < c.experts, kName,
                fmt::format("topk_idx[{}, {}] = {} is outside [0, {})", t, k, idx[k], c.experts));
      sum += st[idx[k]];
    }
    for (int64_t k = 0; k < c.top_k; ++k) weighted += dw[k] * st[idx[k]] / sum;
    const T scale = static_cast<T>(c.route_scale) / sum;
    for (int64_t k = 0; k < c.top_k; ++k) ds[idx[k]] = scale * (dw[k] - weighted);
  }
}

template <typename T>
void sigmoid_backward_impl(std::span<const T> scores, std::span<const T> dscores, std::span<T> dlogits) {
  check_size("router_sigmoid_backward", "dscores", dscores.size(), static_cast<int64_t>(scores.size()), "[tokens, experts]");
  check_size("router_sigmoid_backward", "dlogits", dlogits.size(), static_cast<int64_t>(scores.size()), "[tokens, experts]");
  for (size_t i = 0; i < scores.size(); ++i) dlogits[i] = dscores[i] * scores[i] * (T(1) - scores[i]);
}

}  // namespace

void router_forward(std::span<const float> logits, std::span<const float> bias, const RouterConfig& config,
                    std::span<float> scores, std::span<int32_t> topk_idx, std::span<float> topk_weight) {
  forward_impl(logits, bias, config, scores, topk_idx, topk_weight);
}
void router_forward(std::span<const double> logits, std::span<const double> bias, const RouterConfig& config,
                    std::span<double> scores, std::span<int32_t> topk_idx, std::span<double> topk_weight) {
  forward_impl(logits, bias, config, scores, topk_idx, topk_weight);
}
void router_weights_backward(std::span<const float> scores, std::span<const int32_t> topk_idx,
                             std::span<const float> dweight, const RouterConfig& config, std::span<float> dscores) {
  weights_backward_impl(scores, topk_idx, dweight, config, dscores);
}
void router_weights_backward(std::span<const double> scores, std::span<const int32_t> topk_idx,
                             std::span<const double> dweight, const RouterConfig& config, std::span<double> dscores) {
  weights_backward_impl(scores, topk_idx, dweight, config, dscores);
}
void router_sigmoid_backward(std::span<const float> scores, std::span<const float> dscores, std::span<float> dlogits) {
  sigmoid_backward_impl(scores, dscores, dlogits);
}
void router_sigmoid_backward(std::span<const double> scores, std::span<const double> dscores,
                             std::span<double> dlogits) {
  sigmoid_backward_impl(scores, dscores, dlogits);
}

}  // namespace tandem::kernels
