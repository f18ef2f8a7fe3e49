// The CUDA router against router_cpu.h: the chosen experts exactly (DeepSeek-V3's 256/8/4/top-8 and
// ragged configurations, and inputs full of exact ties), the weights bit for bit where the scores
// agree, the backwards bit for bit; the kernel's choice steps replayed on the host (no GPU needed);
// a case by hand; bad arguments.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <bit>
#include <stdexcept>
#include <vector>

#include "kernels/router/router_cpu.h"
#include "kernels/router/router_cuda.h"
#include "kernels/router/router_rules_cuda.h"
#include "kernels/tests_cuda/compare_util.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;
namespace rules = tandem::kernels::router_rules;

namespace {

std::string config_name(const RouterConfig& c) {
  return fmt::format("experts {}, groups {}, topk_groups {}, top_k {}", c.experts, c.groups, c.topk_groups, c.top_k);
}

// Logits and a bias, either continuous or drawn from a few exact values (many exact ties).
struct RouterInputs {
  std::vector<float> logits, bias;
};
RouterInputs make_inputs(int64_t tokens, const RouterConfig& c, bool ties, uint64_t seed) {
  RouterInputs in;
  if (ties) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> pick(-3, 3);
    in.logits.resize(static_cast<size_t>(tokens * c.experts));
    for (float& v : in.logits) v = pick(rng) == 0 ? 0.5f : 0.25f * static_cast<float>(pick(rng));  // never 0
    in.bias.resize(static_cast<size_t>(c.experts));
    for (float& v : in.bias) v = 0.125f * static_cast<float>(pick(rng) % 2);
  } else {
    in.logits = random_uniform(static_cast<size_t>(tokens * c.experts), seed, -4.0f, 4.0f);
    in.bias = random_uniform(static_cast<size_t>(c.experts), seed ^ 0xB1A5, -0.2f, 0.2f);
  }
  return in;
}

// The kernel's warp replayed on the host with the same steps (router_rules_cuda.h): padded choice
// slots, group scores per lane, kept groups, per-lane best then the xor-butterfly combine.
void replay_warp(const float* logits, const std::vector<float>& bias, const RouterConfig& c, int32_t* idx, float* w) {
  const int experts = static_cast<int>(c.experts), groups = static_cast<int>(c.groups);
  const int group_size = experts / groups;
  std::vector<float> choice(static_cast<size_t>(experts + groups), -1e30f), score(static_cast<size_t>(experts));
  std::vector<float> gscore(static_cast<size_t>(groups));
  for (int e = 0; e < experts; ++e) {
    score[e] = rules::sigmoid(logits[e]);
    choice[static_cast<size_t>(rules::padded_slot(e, group_size))] = score[e] + bias[static_cast<size_t>(e)];
  }
  for (int g = 0; g < groups; ++g) gscore[g] = rules::group_score(choice.data(), g, group_size);
  const uint64_t kept = rules::kept_groups(gscore.data(), groups, static_cast<int>(c.topk_groups));
  std::vector<uint32_t> taken(32, 0);
  float sum = 0;
  for (int k = 0; k < c.top_k; ++k) {
    float bv[32];
    int bi[32];
    for (int lane = 0; lane < 32; ++lane) {
      bv[lane] = 0, bi[lane] = -1;
      for (int j = 0; j * 32 + lane < experts; ++j) {
        const int e = j * 32 + lane;
        if (((taken[lane] >> j) & 1u) || !((kept >> (e / group_size)) & 1u)) continue;
        rules::take_better(bv[lane], bi[lane], choice[static_cast<size_t>(rules::padded_slot(e, group_size))], e);
      }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      float nv[32];
      int ni[32];
      for (int lane = 0; lane < 32; ++lane) nv[lane] = bv[lane], ni[lane] = bi[lane];
      for (int lane = 0; lane < 32; ++lane) rules::take_better(nv[lane], ni[lane], bv[lane ^ offset], bi[lane ^ offset]);
      for (int lane = 0; lane < 32; ++lane) bv[lane] = nv[lane], bi[lane] = ni[lane];
    }
    const int best = bi[0];
    REQUIRE(best >= 0);
    taken[best % 32] |= 1u << (best / 32);
    idx[k] = best;
    sum += score[best];
  }
  for (int k = 0; k < c.top_k; ++k) w[k] = c.route_scale * score[idx[k]] / sum;
}

void check_forward(int64_t tokens, const RouterConfig& c, bool ties) {
  INFO(config_name(c) << ", tokens " << tokens << (ties ? ", exact ties" : "") << ", seed " << run_seed());
  const auto in = make_inputs(tokens, c, ties, case_seed(fmt::format("{}/{}/{}", config_name(c), tokens, ties)));
  const size_t n = in.logits.size(), nk = static_cast<size_t>(tokens * c.top_k);
  std::vector<float> ref_scores(n), ref_w(nk);
  std::vector<int32_t> ref_idx(nk);
  router_forward(in.logits, in.bias, c, ref_scores, ref_idx, ref_w);

  auto d_logits = to_device(in.logits);
  auto d_bias = to_device(in.bias);
  auto d_scores = poisoned<float>(n);
  auto d_idx = poisoned<int32_t>(nk);
  auto d_w = poisoned<float>(nk);
  router_forward_cuda(d_logits.data(), d_bias.data(), tokens, c, d_scores.data(), d_idx.data(), d_w.data());
  const auto scores = to_host(d_scores), w = to_host(d_w);
  const auto idx = to_host(d_idx);

  // Scores: within 3 ulp (exp rounded once from double vs glibc's expf, which differ in the last bit
  // for about 2.6e-4 of the logits in [-4, 4]; through 1 / (1 + e) one ulp of e can become two of s);
  // the tokens whose scores are all bit-equal must get the reference's weights bit for bit, the
  // others within 8 ulp.
  std::vector<char> exact_token(static_cast<size_t>(tokens), 1);
  const int64_t far = count_mismatches(
      n, [&](size_t i) { return ulp_distance(scores[i], ref_scores[i]) <= 3; },
      [&](size_t i) { return fmt::format("score[{}]: GPU {}, CPU {}", i, scores[i], ref_scores[i]); });
  CHECK(far == 0);
  int64_t inexact = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::bit_cast<uint32_t>(scores[i]) != std::bit_cast<uint32_t>(ref_scores[i])) {
      inexact += exact_token[i / static_cast<size_t>(c.experts)];
      exact_token[i / static_cast<size_t>(c.experts)] = 0;
    }
  }
  // A systematically different sigmoid would touch nearly every token; 1024 experts touch about 23%.
  UNSCOPED_INFO("tokens with a score not bit-equal to the CPU's: " << inexact << " of " << tokens);
  CHECK(inexact <= tokens / 2 + 1);
  const int64_t idx_bad = count_mismatches(
      nk, [&](size_t i) { return idx[i] == ref_idx[i]; },
      [&](size_t i) { return fmt::format("topk_idx[{}, {}]: GPU {}, CPU {}", i / c.top_k, i % c.top_k, idx[i], ref_idx[i]); });
  CHECK(idx_bad == 0);
  const int64_t w_bad = count_mismatches(
      nk,
      [&](size_t i) {
        return exact_token[i / static_cast<size_t>(c.top_k)] ? std::bit_cast<uint32_t>(w[i]) == std::bit_cast<uint32_t>(ref_w[i])
                                                             : ulp_distance(w[i], ref_w[i]) <= 8;
      },
      [&](size_t i) { return fmt::format("topk_weight[{}, {}]: GPU {}, CPU {}", i / c.top_k, i % c.top_k, w[i], ref_w[i]); });
  CHECK(w_bad == 0);
}

const std::vector<RouterConfig> kConfigs = {
    {256, 8, 8, 4, 2.5f},   // DeepSeek-V3
    {64, 6, 8, 4, 1.0f},    // groups of 8
    {60, 5, 20, 7, 2.0f},   // groups of 3 (odd), experts not a multiple of 32
    {7, 3, 1, 1, 1.0f},     // one group
    {1024, 32, 64, 8, 2.5f} // the limits: 32 bits of taken experts per lane, 64 groups, top 32
};

}  // namespace

TEST_CASE("router rules: the kernel's warp replayed on the host chooses as router_forward", "[router][rules]") {
  // No GPU: the same functions the kernel runs, in the kernel's order, against the reference.
  for (const RouterConfig& c : kConfigs) {
    for (const bool ties : {false, true}) {
      INFO(config_name(c) << (ties ? ", exact ties" : ""));
      const int64_t tokens = 64;
      const auto in = make_inputs(tokens, c, ties, 0x5EED + static_cast<uint64_t>(c.experts) + ties);
      std::vector<float> ref_scores(in.logits.size()), ref_w(static_cast<size_t>(tokens * c.top_k));
      std::vector<int32_t> ref_idx(ref_w.size());
      router_forward(in.logits, in.bias, c, ref_scores, ref_idx, ref_w);
      std::vector<int32_t> idx(ref_idx.size());
      std::vector<float> w(ref_w.size());
      for (int64_t t = 0; t < tokens; ++t) {
        replay_warp(in.logits.data() + t * c.experts, in.bias, c, idx.data() + t * c.top_k, w.data() + t * c.top_k);
      }
      CHECK(idx == ref_idx);
      for (size_t i = 0; i < w.size(); ++i) CHECK(ulp_distance(w[i], ref_w[i]) <= 8);
    }
  }
  // Bank layout: group g's i-th member at g·(gs+1) + i; for gs = 32 the 32 lanes hit 32 banks.
  CHECK(rules::padded_slot(0, 32) == 0);
  CHECK(rules::padded_slot(33, 32) == 34);
  CHECK(rules::padded_slot(255, 32) == 262);
  CHECK(rules::beats(1.0f, 5, 1.0f, 6));
  CHECK_FALSE(rules::beats(1.0f, 6, 1.0f, 5));
  CHECK_FALSE(rules::beats(std::nanf(""), 0, 1.0f, 1));
}

TEST_CASE("router CUDA: forward chooses the reference's experts", "[cuda][router]") {
  if (!gpu_available()) return;
  for (const RouterConfig& c : kConfigs) {
    for (const bool ties : {false, true}) {
      for (const int64_t tokens : {int64_t{1}, int64_t{13}, int64_t{1003}}) check_forward(tokens, c, ties);
    }
  }
  check_forward(4096, kConfigs[0], false);
}

TEST_CASE("router CUDA: forward by hand", "[cuda][router]") {
  if (!gpu_available()) return;
  // router_test.cpp's case: 8 experts in 4 groups of 2, keep 2 groups, top 3, route scale 2.5.
  // s = [0.8808, 0.1192, 0.6225, 0.5, 0.7311, 0.5744, 0.5744, 0.7311]; bias[3] = 0.9 makes group 1
  // the best (0.6225 + 1.4); groups 2 and 3 tie at 1.3055 and the lower index (2) is kept; experts
  // 3, 4, 2 by choice score, weights 2.5 · [0.5, 0.7311, 0.6225] / 1.8536.
  const RouterConfig config{8, 3, 4, 2, 2.5f};
  const std::vector<float> logits = {2, -2, 0.5f, 0, 1, 0.3f, 0.3f, 1};
  std::vector<float> bias(8, 0.0f);
  bias[3] = 0.9f;
  auto d_logits = to_device(logits);
  auto d_bias = to_device(bias);
  auto d_scores = poisoned<float>(8);
  auto d_idx = poisoned<int32_t>(3);
  auto d_w = poisoned<float>(3);
  router_forward_cuda(d_logits.data(), d_bias.data(), 1, config, d_scores.data(), d_idx.data(), d_w.data());
  CHECK(to_host(d_scores)[3] == 0.5f);
  CHECK(to_host(d_idx) == std::vector<int32_t>{3, 4, 2});
  const auto w = to_host(d_w);
  CHECK(w[0] == Approx(0.6743933).epsilon(1e-6));
  CHECK(w[1] == Approx(0.9860420).epsilon(1e-6));
  CHECK(w[2] == Approx(0.8395648).epsilon(1e-6));
}

TEST_CASE("router CUDA: backwards equal the reference bit for bit", "[cuda][router]") {
  if (!gpu_available()) return;
  for (const RouterConfig& c : kConfigs) {
    const int64_t tokens = 517;
    INFO(config_name(c) << ", seed " << run_seed());
    const auto in = make_inputs(tokens, c, false, case_seed(config_name(c)));
    const size_t n = in.logits.size(), nk = static_cast<size_t>(tokens * c.top_k);
    std::vector<float> scores(n), w(nk);
    std::vector<int32_t> idx(nk);
    router_forward(in.logits, in.bias, c, scores, idx, w);
    const auto dweight = random_uniform(nk, case_seed("dw" + config_name(c)), -1.0f, 1.0f);
    const auto dscores_in = random_uniform(n, case_seed("ds" + config_name(c)), -1.0f, 1.0f);
    std::vector<float> ref_ds(n), ref_dl(n);
    router_weights_backward(scores, idx, dweight, c, ref_ds);
    router_sigmoid_backward(scores, dscores_in, ref_dl);

    auto d_scores = to_device(scores);
    auto d_idx = to_device(idx);
    auto d_dw = to_device(dweight);
    auto d_ds_in = to_device(dscores_in);
    auto d_ds = poisoned<float>(n);
    auto d_dl = poisoned<float>(n);
    router_weights_backward_cuda(d_scores.data(), d_idx.data(), d_dw.data(), tokens, c, d_ds.data());
    router_sigmoid_backward_cuda(d_scores.data(), d_ds_in.data(), static_cast<int64_t>(n), d_dl.data());
    CHECK(bit_mismatches(to_host(d_ds), ref_ds, "dscores") == 0);
    CHECK(bit_mismatches(to_host(d_dl), ref_dl, "dlogits") == 0);
  }
}

TEST_CASE("router CUDA: bad arguments are reported before any launch", "[router]") {
  // No device needed: the checks run first.
  float f = 0;
  int32_t i = 0;
  const RouterConfig good{256, 8, 8, 4, 2.5f};
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, 4, {256, 8, 7, 4, 1.0f}, &f, &i, &f),
                    Catch::Contains("multiple of config.groups"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, 4, {2048, 8, 8, 4, 1.0f}, &f, &i, &f), Catch::Contains("config.experts"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, 4, {256, 33, 8, 4, 1.0f}, &f, &i, &f), Catch::Contains("config.top_k"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, 4, {256, 8, 8, 9, 1.0f}, &f, &i, &f), Catch::Contains("topk_groups"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, 4, {256, 8, 128, 4, 1.0f}, &f, &i, &f), Catch::Contains("config.groups"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, &f, -1, good, &f, &i, &f), Catch::Contains("tokens"));
  CHECK_THROWS_WITH(router_forward_cuda(&f, nullptr, 4, good, &f, &i, &f), Catch::Contains("bias is null"));
  CHECK_THROWS_WITH(router_weights_backward_cuda(&f, nullptr, &f, 4, good, &f), Catch::Contains("topk_idx is null"));
  CHECK_THROWS_AS(router_sigmoid_backward_cuda(&f, &f, -2, &f), std::invalid_argument);
  // No tokens: nothing to do, null pointers allowed.
  CHECK_NOTHROW(router_forward_cuda(nullptr, nullptr, 0, good, nullptr, nullptr, nullptr));
}
