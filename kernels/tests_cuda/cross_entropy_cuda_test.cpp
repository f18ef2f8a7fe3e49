// The CUDA cross-entropy against cross_entropy_cpu.h: lse, token losses and the mean against the
// double reference within the error bound of the blocked FP32 sums; the backward against the FP32
// reference fed the same lse; FP32 and BF16 logits, DeepSeek-V3's vocabulary, ragged vocabularies,
// ignored tokens, large logits; the same bits on a second run; a case by hand; a block's running
// log-sum-exp replayed on the host and bad arguments (no GPU needed).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/loss/cross_entropy_cuda.h"
#include "kernels/loss/cross_entropy_rules_cuda.h"
#include "kernels/tests_cuda/compare_util.h"
#include "kernels/tests_cuda/gpu_test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::cuda;
using namespace tandem::kernels::cuda::test;

namespace {


CrossEntropyTotals totals_of(const DeviceBuffer<CrossEntropyTotals>& d) { return to_host(d)[0]; }

void check_case(int64_t tokens, int64_t vocab, ActType type, float spread) {
  INFO("tokens " << tokens << ", vocab " << vocab << ", " << act_type_name(type) << ", spread " << spread << ", seed "
                 << run_seed());
  const bool bf16 = type == ActType::BF16;
  const size_t n = static_cast<size_t>(tokens * vocab);
  auto logits = random_uniform(n, case_seed(fmt::format("l{}/{}/{}", tokens, vocab, spread)), -spread, spread);
  if (bf16) round_to_bf16(logits);
  std::mt19937_64 rng(case_seed(fmt::format("t{}/{}", tokens, vocab)));
  std::vector<int32_t> targets(static_cast<size_t>(tokens));
  for (int32_t& y : targets) y = rng() % 5 == 0 ? kIgnoreIndex : static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));

  std::vector<double> ref_lse(static_cast<size_t>(tokens));
  const double ref_mean =
      cross_entropy_forward(std::vector<double>(logits.begin(), logits.end()), targets, vocab, kIgnoreIndex, ref_lse);

  auto d_logits = upload_as(logits, type);
  auto d_targets = to_device(targets);
  auto d_lse = poisoned<float>(targets.size()), d_loss = poisoned<float>(targets.size());
  auto d_totals = poisoned<CrossEntropyTotals>(1);
  cross_entropy_forward_cuda(d_logits.data(), type, d_targets.data(), tokens, vocab, kIgnoreIndex, d_lse.data(),
                             d_loss.data(), d_totals.data());
  const auto lse = to_host(d_lse), loss = to_host(d_loss);
  const CrossEntropyTotals totals = totals_of(d_totals);

  // A thread adds ceil(vocab/256) positive terms in order, then 5 + 8 merges; each term's exp is
  // within 2 ulp and each rescale adds a few roundings: the sum is within (terms + 32) · 2^-24 of
  // its value (relative), which is lse's absolute error; the final m + log(s) adds 2 ulp of |lse|.
  const double per_thread = std::ceil(double(vocab) / 256);
  int64_t counted = 0;
  double worst = 0;
  const int64_t bad = count_mismatches(
      targets.size(),
      [&](size_t t) {
        if (targets[t] == kIgnoreIndex) return lse[t] == 0.0f && loss[t] == 0.0f;
        ++counted;
        const double tol = (per_thread + 32) * std::ldexp(1.0, -24) + std::ldexp(std::abs(ref_lse[t]), -22);
        const double x_t = logits[t * static_cast<size_t>(vocab) + static_cast<size_t>(targets[t])];
        worst = std::max(worst, tol);
        return std::abs(lse[t] - ref_lse[t]) <= tol && std::abs(loss[t] - (ref_lse[t] - x_t)) <= tol + std::ldexp(std::abs(ref_lse[t] - x_t), -23);
      },
      [&](size_t t) { return fmt::format("token {}: lse GPU {}, reference {}; loss GPU {}", t, lse[t], ref_lse[t], loss[t]); });
  CHECK(bad == 0);
  CHECK(totals.counted == counted);
  CHECK(totals.invalid == 0);
  CHECK(std::abs(totals.mean_loss - ref_mean) <= 2 * worst + 1e-12);

  // Deterministic: the same bits again.
  auto d_lse2 = poisoned<float>(targets.size()), d_loss2 = poisoned<float>(targets.size());
  auto d_totals2 = poisoned<CrossEntropyTotals>(1);
  cross_entropy_forward_cuda(d_logits.data(), type, d_targets.data(), tokens, vocab, kIgnoreIndex, d_lse2.data(),
                             d_loss2.data(), d_totals2.data());
  CHECK(bit_mismatches(to_host(d_lse2), lse, "lse (second run)") == 0);
  CHECK(std::bit_cast<uint64_t>(totals_of(d_totals2).mean_loss) == std::bit_cast<uint64_t>(totals.mean_loss));

  // Backward from the GPU's lse, against the FP32 reference given the same lse: expf within 2 ulp
  // against glibc's within 1, one product: 2^-20 of |p| (plus |scale| at the target, where p − scale
  // may cancel), plus one BF16 rounding for BF16 output, plus 4 · FLT_MIN: with large logits
  // exp(x − lse) · scale falls among the subnormals, where an ulp is no longer relative.
  const float dloss = 0.75f;
  std::vector<float> ref_d(n);
  cross_entropy_backward(logits, targets, lse, vocab, kIgnoreIndex, dloss, ref_d);
  auto d_dlogits = poisoned<uint8_t>(n * static_cast<size_t>(act_type_bytes(type)));
  cross_entropy_backward_cuda(d_logits.data(), type, d_targets.data(), d_lse.data(), d_totals.data(), tokens, vocab,
                              kIgnoreIndex, dloss, d_dlogits.data());
  const auto dl = download_as(d_dlogits, n, type);
  const double scale = counted == 0 ? 0.0 : double(dloss) / double(counted);
  const int64_t dbad = count_mismatches(
      n,
      [&](size_t i) {
        const size_t t = i / static_cast<size_t>(vocab);
        const bool at_target = targets[t] >= 0 && i % static_cast<size_t>(vocab) == static_cast<size_t>(targets[t]);
        const double mag = std::abs(double(ref_d[i])) + (at_target ? scale : 0.0);
        return std::abs(double(dl[i]) - ref_d[i]) <= std::ldexp(mag, -20) + 4.0 * std::numeric_limits<float>::min() +
                                                      (bf16 ? std::ldexp(std::abs(double(ref_d[i])), -8) : 0.0);
      },
      [&](size_t i) { return fmt::format("dlogits[{}, {}]: GPU {}, CPU {}", i / vocab, i % vocab, dl[i], ref_d[i]); });
  CHECK(dbad == 0);
}

// A forward block replayed on the host: 256 threads each over its elements (strided singly, or in
// runs of `vec` for 16-byte loads), the xor-shuffle tree within each warp, then lane 0 of each warp
// merged in warp order.
float replay_block_lse(const std::vector<float>& row, int vec) {
  constexpr int kBlock = 256;
  const auto n = static_cast<int64_t>(row.size());
  std::vector<ce_rules::OnlineLse> acc(kBlock);
  for (int t = 0; t < kBlock; ++t) {
    if (vec > 1) {
      for (int64_t u = t; u < n / vec; u += kBlock)
        for (int i = 0; i < vec; ++i) acc[t].add(row[static_cast<size_t>(u * vec + i)]);
    } else {
      for (int64_t j = t; j < n; j += kBlock) acc[t].add(row[static_cast<size_t>(j)]);
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const auto old = acc;
    for (int t = 0; t < kBlock; ++t) acc[t].merge(old[t ^ offset].m, old[t ^ offset].s);
  }
  ce_rules::OnlineLse total;
  for (int w = 0; w < kBlock / 32; ++w) total.merge(acc[w * 32].m, acc[w * 32].s);
  return total.lse();
}

}  // namespace

TEST_CASE("cross-entropy rules: a block's running log-sum-exp replayed on the host", "[loss][rules]") {
  for (const auto& [vocab, vec, spread] : std::vector<std::tuple<int64_t, int, float>>{
           {129280, 8, 8.0f}, {129280, 4, 30.0f}, {1001, 1, 8.0f}, {64, 1, 2.0f}, {1, 1, 3.0f}}) {
    INFO("vocab " << vocab << ", vector " << vec << ", spread " << spread);
    auto row = random_uniform(static_cast<size_t>(vocab), 99 + static_cast<uint64_t>(vocab), -spread, spread);
    double mx = -1e300, sum = 0;
    for (const float x : row) mx = std::max(mx, double(x));
    for (const float x : row) sum += std::exp(double(x) - mx);
    const double ref = mx + std::log(sum);
    const double tol = (std::ceil(double(vocab) / 256) + 32) * std::ldexp(1.0, -24) + std::ldexp(std::abs(ref), -22);
    CHECK(std::abs(replay_block_lse(row, vec) - ref) <= tol);
  }
  // −inf logits add nothing; a NaN logit makes the lse NaN (as the reference's sum does).
  std::vector<float> row = {1.0f, -INFINITY, 2.0f, -INFINITY};
  CHECK(replay_block_lse(row, 1) == Approx(2.0 + std::log(1.0 + std::exp(-1.0))).epsilon(1e-6));
  row[3] = std::nanf("");
  CHECK(std::isnan(replay_block_lse(row, 1)));
  CHECK(std::isnan(replay_block_lse(std::vector<float>{std::nanf(""), -INFINITY}, 1)));
}

TEST_CASE("cross-entropy CUDA: forward and backward against the reference", "[cuda][loss]") {
  if (!gpu_available()) return;
  for (const ActType type : {ActType::F32, ActType::BF16}) {
    check_case(5, 129280, type, 8.0f);  // DeepSeek-V3's vocabulary (16-byte loads)
    check_case(33, 1001, type, 8.0f);   // ragged: element loads
    check_case(17, 1000, type, 60.0f);  // large logits: exp(x) alone would overflow
    check_case(3, 1, type, 1.0f);
    check_case(300, 64, type, 4.0f);    // fewer columns than threads
  }
}

TEST_CASE("cross-entropy CUDA: by hand, ignored and invalid targets", "[cuda][loss]") {
  if (!gpu_available()) return;
  // Token 0: logits all 2 over vocab 4, target 1: lse = 2 + log 4 = 3.3862944, loss = log 4 = 1.3862944.
  // Token 1 ignored. counted = 1, dloss = 1: dlogits row 0 = softmax − onehot = [0.25, −0.75, 0.25, 0.25],
  // row 1 zeros. Token 2 (second call) has target 5 >= vocab: invalid, loss NaN, its dlogits NaN.
  const std::vector<float> logits(12, 2.0f);
  auto d_logits = to_device(logits);
  auto d_targets = to_device(std::vector<int32_t>{1, kIgnoreIndex, 5});
  auto d_lse = poisoned<float>(3), d_loss = poisoned<float>(3);
  auto d_totals = poisoned<CrossEntropyTotals>(1);
  cross_entropy_forward_cuda(d_logits.data(), ActType::F32, d_targets.data(), 2, 4, kIgnoreIndex, d_lse.data(),
                             d_loss.data(), d_totals.data());
  const auto lse = to_host(d_lse), loss = to_host(d_loss);
  CHECK(lse[0] == Approx(3.3862944).epsilon(1e-6));
  CHECK(loss[0] == Approx(1.3862944).epsilon(1e-6));
  CHECK(lse[1] == 0.0f);
  CHECK(loss[1] == 0.0f);
  const CrossEntropyTotals totals = totals_of(d_totals);
  CHECK(totals.counted == 1);
  CHECK(totals.mean_loss == Approx(1.3862944).epsilon(1e-6));
  auto d_dl = poisoned<float>(8);
  cross_entropy_backward_cuda(d_logits.data(), ActType::F32, d_targets.data(), d_lse.data(), d_totals.data(), 2, 4,
                              kIgnoreIndex, 1.0f, d_dl.data());
  const auto dl = to_host(d_dl);
  CHECK(dl[0] == Approx(0.25).epsilon(1e-6));
  CHECK(dl[1] == Approx(-0.75).epsilon(1e-6));
  CHECK(dl[3] == Approx(0.25).epsilon(1e-6));
  for (int v = 4; v < 8; ++v) CHECK(dl[v] == 0.0f);

  cross_entropy_forward_cuda(d_logits.data(), ActType::F32, d_targets.data(), 3, 4, kIgnoreIndex, d_lse.data(),
                             d_loss.data(), d_totals.data());
  const CrossEntropyTotals with_bad = totals_of(d_totals);
  CHECK(with_bad.invalid == 1);
  CHECK(with_bad.counted == 2);
  CHECK(std::isnan(with_bad.mean_loss));
  CHECK(std::isnan(to_host(d_loss)[2]));
  auto d_dl3 = poisoned<float>(12);
  cross_entropy_backward_cuda(d_logits.data(), ActType::F32, d_targets.data(), d_lse.data(), d_totals.data(), 3, 4,
                              kIgnoreIndex, 1.0f, d_dl3.data());
  CHECK(std::isnan(to_host(d_dl3)[8]));
}

TEST_CASE("cross-entropy CUDA: no counted tokens gives 0 and zero gradients", "[cuda][loss]") {
  if (!gpu_available()) return;
  const auto logits = random_uniform(2 * 40, case_seed("l"), -3.0f, 3.0f);
  auto d_logits = to_device(logits);
  auto d_targets = to_device(std::vector<int32_t>{kIgnoreIndex, kIgnoreIndex});
  auto d_lse = poisoned<float>(2), d_loss = poisoned<float>(2);
  auto d_totals = poisoned<CrossEntropyTotals>(1);
  cross_entropy_forward_cuda(d_logits.data(), ActType::F32, d_targets.data(), 2, 40, kIgnoreIndex, d_lse.data(),
                             d_loss.data(), d_totals.data());
  CHECK(totals_of(d_totals).mean_loss == 0.0);
  CHECK(totals_of(d_totals).counted == 0);
  auto d_dl = poisoned<float>(80);
  cross_entropy_backward_cuda(d_logits.data(), ActType::F32, d_targets.data(), d_lse.data(), d_totals.data(), 2, 40,
                              kIgnoreIndex, 1.0f, d_dl.data());
  CHECK(to_host(d_dl) == std::vector<float>(80, 0.0f));
}

TEST_CASE("cross-entropy CUDA: bad arguments are reported before any launch", "[loss]") {
  // No device needed: the checks run first.
  float f = 0;
  int32_t y = 0;
  CrossEntropyTotals* totals = reinterpret_cast<CrossEntropyTotals*>(&f);
  CHECK_THROWS_WITH(cross_entropy_forward_cuda(&f, ActType::F32, &y, 1, 0, kIgnoreIndex, &f, &f, totals),
                    Catch::Contains("vocab must be"));
  CHECK_THROWS_WITH(cross_entropy_forward_cuda(&f, ActType::F32, &y, -1, 4, kIgnoreIndex, &f, &f, totals),
                    Catch::Contains("tokens must be"));
  CHECK_THROWS_WITH(cross_entropy_forward_cuda(&f, ActType::F32, nullptr, 1, 4, kIgnoreIndex, &f, &f, totals),
                    Catch::Contains("targets is null"));
  CHECK_THROWS_WITH(cross_entropy_forward_cuda(&f, ActType::F32, &y, 1, 4, kIgnoreIndex, &f, &f, nullptr),
                    Catch::Contains("totals is null"));
  CHECK_THROWS_WITH(cross_entropy_backward_cuda(&f, ActType::BF16, &y, &f, nullptr, 1, 4, kIgnoreIndex, 1.0f, &f),
                    Catch::Contains("totals is null"));
  CHECK_THROWS_WITH(cross_entropy_backward_cuda(&f, ActType::F32, &y, nullptr, totals, 1, 4, kIgnoreIndex, 1.0f, &f),
                    Catch::Contains("lse is null"));
  CHECK_THROWS_AS(cross_entropy_backward_cuda(&f, static_cast<ActType>(9), &y, &f, totals, 1, 4, kIgnoreIndex, 1.0f, &f),
                  std::invalid_argument);
}
