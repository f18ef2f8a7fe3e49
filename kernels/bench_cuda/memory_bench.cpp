// kernels_cuda_bench memory: achieved GB/s of the memory-bound CUDA kernels (router, permute and
// combine, SwiGLU, RMSNorm, cross-entropy) on DeepSeek-V3 shapes (4096 tokens, hidden 7168, 256
// experts top-8 in 8 groups keeping 4, expert width 2048, vocabulary 129280), against the device's
// HBM peak and a device-to-device copy. Each kernel is validated against the CPU reference on
// sampled rows before it is timed; timings are CUDA events after an L2 flush, median of repeats.
#include "kernels/bench_cuda/memory_bench.h"

#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/bench_cuda/bench_data_cuda.h"
#include "kernels/common/bf16.h"
#include "kernels/common/cuda_check_cuda.h"
#include "kernels/common/cuda_device_cuda.h"
#include "kernels/loss/cross_entropy_cpu.h"
#include "kernels/loss/cross_entropy_cuda.h"
#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/norm/rmsnorm_cuda.h"
#include "kernels/permute/permute_cpu.h"
#include "kernels/permute/permute_cuda.h"
#include "kernels/router/router_cpu.h"
#include "kernels/router/router_cuda.h"
#include "kernels/swiglu/swiglu_cpu.h"
#include "kernels/swiglu/swiglu_cuda.h"

namespace tandem::kernels::cuda::bench {
namespace {

struct Options {
  int64_t tokens = 4096;
  int iters = 20, warmup = 3;
  uint64_t seed = 0;
  std::string filter;
};

// DeepSeek-V3's shapes (ir/ ModelConfig): hidden, routed experts, top-k, groups, kept groups, expert
// width, vocabulary, route scale.
constexpr int64_t kHidden = 7168, kExperts = 256, kTopK = 8, kGroups = 8, kTopkGroups = 4, kFfn = 2048, kVocab = 129280;
constexpr int64_t kSampleRows = 16;

template <typename T>
std::vector<T> copy_back(const T* d, size_t count) {
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> host(count);
  if (count) TANDEM_CUDA_CHECK(cudaMemcpy(host.data(), d, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}
std::vector<float> bf16_back(const uint16_t* d, size_t count) {
  const auto bits = copy_back(d, count);
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i) x[i] = bf16_bits_to_float(bits[i]);
  return x;
}
std::vector<double> widen(const std::vector<float>& x) { return {x.begin(), x.end()}; }

// Elements of `got` (BF16 outputs, as floats) farther from `ref` than a BF16 step of |ref| plus
// 2^-12 of the largest |ref| (sums and exp round differently; the tests hold the tight bounds).
int64_t loose_mismatches(const std::vector<float>& got, const std::vector<double>& ref) {
  double top = 0;
  for (const double r : ref) top = std::max(top, std::abs(r));
  int64_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) bad += !(std::abs(got[i] - ref[i]) <= std::ldexp(std::abs(ref[i]), -7) + std::ldexp(top, -12));
  return bad;
}
int64_t bit_mismatches(const std::vector<float>& got, const std::vector<float>& ref) {
  int64_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) bad += std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(ref[i]);
  return bad;
}
std::vector<float> bf16_rounded(std::vector<float> x) {
  round_to_bf16(x);
  return x;
}

struct Result {
  std::string name, shape;
  double bytes = 0, median_us = 0, min_us = 0;
  bool valid = false;
  std::string note;
};

class Runner {
 public:
  Runner(const Options& o, void* scratch, size_t scratch_bytes) : o_(o), scratch_(scratch), scratch_bytes_(scratch_bytes) {}

  // prepare() (poison or zero the outputs), run() once, check(note) on the results, then time run().
  void add(const std::string& name, const std::string& shape, double bytes, const std::function<void()>& prepare,
           const std::function<void()>& run, const std::function<bool(std::string&)>& check) {
    if (!o_.filter.empty() && name.find(o_.filter) == std::string::npos) return;
    Result r{name, shape, bytes};
    try {
      prepare();
      run();
      TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
      r.valid = check(r.note);
      if (r.valid) time(run, r);
    } catch (const std::exception& e) {
      r.valid = false;
      r.note = e.what();
    }
    fmt::print("  {:<22} {:<28} {}: {}\n", name, shape, r.valid ? "ok" : "FAILED", r.note);
    std::fflush(stdout);
    results_.push_back(r);
  }
  const std::vector<Result>& results() const { return results_; }

 private:
  void time(const std::function<void()>& run, Result& r) {
    const CudaTiming c = time_cuda(run, o_.warmup, o_.iters, scratch_, scratch_bytes_);
    r.median_us = c.median_us;
    r.min_us = c.min_us;
  }
  Options o_;
  void* scratch_;
  size_t scratch_bytes_;
  std::vector<Result> results_;
};

void poison(void* p, size_t bytes) { TANDEM_CUDA_CHECK(cudaMemset(p, 0xFF, bytes)); }

// HBM peak from the memory clock and bus width (double data rate), bytes per second.
double hbm_peak_bytes_per_s(int device) {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return 2.0 * clock_khz * 1e3 * bus_bits / 8.0;
}

int run_all(const Options& o) {
  const CudaDeviceInfo info = current_cuda_device_info();
  const double peak = hbm_peak_bytes_per_s(info.device);
  const int64_t T = o.tokens, P = T * kTopK, R = P;  // SwiGLU rows: one per (token, expert) pair
  const RouterConfig rc{kExperts, kTopK, kGroups, kTopkGroups, 2.5f};
  const size_t scratch_bytes = std::max<size_t>(static_cast<size_t>(info.l2_bytes) * 4, size_t{256} << 20);
  DeviceBuffer<uint8_t> scratch(scratch_bytes);

  // A device-to-device copy: the practical ceiling.
  double copy_gbps = 0;
  {
    const size_t bytes = size_t{1} << 30;
    DeviceBuffer<uint8_t> a(bytes), b(bytes);
    TANDEM_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
    Options quiet = o;
    quiet.filter.clear();
    Runner runner(quiet, scratch.data(), scratch_bytes);
    runner.add("copy (cudaMemcpy)", "1 GiB", 2.0 * bytes, [] {}, [&] {
      TANDEM_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice));
    }, [](std::string& note) { note = "device-to-device"; return true; });
    copy_gbps = 2.0 * bytes / (runner.results()[0].median_us * 1e-6) / 1e9;
  }
  fmt::print("device {} ({} SMs); HBM peak {:.0f} GB/s (memory clock × bus width), device copy {:.0f} GB/s; "
             "{} tokens; seed {}\n\n", info.name, info.sms, peak / 1e9, copy_gbps, T, o.seed);

  // Inputs, made on the device; the outputs every later kernel reads are produced once up front.
  std::mt19937_64 rng(o.seed);
  std::vector<float> bias(kExperts), dweight(static_cast<size_t>(P));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& b : bias) b = 0.05f * normal(rng);
  for (float& d : dweight) d = normal(rng);
  std::vector<int32_t> targets(static_cast<size_t>(T));
  for (int32_t& y : targets) y = static_cast<int32_t>(rng() % kVocab);
  DeviceBuffer<float> logits(static_cast<size_t>(T * kExperts)), d_bias(kExperts), scores(logits.size()), w(P),
      d_dweight(P), dscores(logits.size()), dlogits_r(logits.size());
  DeviceBuffer<int32_t> idx(P), d_targets(static_cast<size_t>(T));
  fill_random_tiles(logits.data(), T, kExperts, o.seed ^ 1, 0);
  TANDEM_CUDA_CHECK(cudaMemcpy(d_bias.data(), bias.data(), bias.size() * 4, cudaMemcpyHostToDevice));
  TANDEM_CUDA_CHECK(cudaMemcpy(d_dweight.data(), dweight.data(), dweight.size() * 4, cudaMemcpyHostToDevice));
  TANDEM_CUDA_CHECK(cudaMemcpy(d_targets.data(), targets.data(), targets.size() * 4, cudaMemcpyHostToDevice));
  router_forward_cuda(logits.data(), d_bias.data(), T, rc, scores.data(), idx.data(), w.data());
  router_weights_backward_cuda(scores.data(), idx.data(), d_dweight.data(), T, rc, dscores.data());
  DevicePermuteIndex index(T, kTopK, kExperts, 128);
  const PermuteIndexView& v = index.view();
  build_permute_index_cuda(idx.data(), v);
  const int64_t cap = v.row_capacity;
  const auto bf16_of_random = [&](int64_t rows, int64_t cols, uint64_t seed) {
    DeviceBuffer<uint16_t> out(static_cast<size_t>(rows * cols));
    DeviceBuffer<float> tmp(out.size());
    fill_random_tiles(tmp.data(), rows, cols, seed, 2);
    to_bf16(tmp.data(), out.data(), rows * cols);
    TANDEM_CUDA_CHECK(cudaDeviceSynchronize());
    return out;
  };
  auto x = bf16_of_random(T, kHidden, o.seed ^ 2);  // hidden states [T, H]
  DeviceBuffer<uint16_t> perm(static_cast<size_t>(cap * kHidden)), comb(static_cast<size_t>(T * kHidden)),
      dx(comb.size()), dy(perm.size());
  DeviceBuffer<uint8_t> perm8(static_cast<size_t>(cap * kHidden));
  DeviceBuffer<float> dw_pairs(P);
  permute_forward_cuda(x.data(), 2, v, kHidden, perm.data());  // the expert outputs below are these rows
  unpermute_forward_cuda(perm.data(), ActType::BF16, w.data(), v, kHidden, comb.data());
  auto h = bf16_of_random(R, 2 * kFfn, o.seed ^ 3);
  DeviceBuffer<uint16_t> act(static_cast<size_t>(R * kFfn)), dh(h.size());
  swiglu_forward_fused_cuda(h.data(), ActType::BF16, R, kFfn, act.data());
  std::vector<float> norm_w(kHidden);
  for (float& g : norm_w) g = 1.0f + 0.1f * normal(rng);
  DeviceBuffer<float> d_norm_w(kHidden), rstd(static_cast<size_t>(T)), dnorm_w(kHidden),
      partial(static_cast<size_t>(rmsnorm_weight_partial_count(T, kHidden)));
  TANDEM_CUDA_CHECK(cudaMemcpy(d_norm_w.data(), norm_w.data(), kHidden * 4, cudaMemcpyHostToDevice));
  DeviceBuffer<uint16_t> y(static_cast<size_t>(T * kHidden)), dxn(y.size());
  rmsnorm_forward_cuda(x.data(), ActType::BF16, d_norm_w.data(), T, kHidden, 1e-6f, y.data(), rstd.data());
  auto vlogits = bf16_of_random(T, kVocab, o.seed ^ 4);
  DeviceBuffer<uint16_t> dvlogits(vlogits.size());
  DeviceBuffer<float> lse(static_cast<size_t>(T)), token_loss(static_cast<size_t>(T));
  DeviceBuffer<CrossEntropyTotals> totals(1);
  cross_entropy_forward_cuda(vlogits.data(), ActType::BF16, d_targets.data(), T, kVocab, kIgnoreIndex, lse.data(),
                             token_loss.data(), totals.data());
  TANDEM_CUDA_CHECK(cudaDeviceSynchronize());

  Runner run(o, scratch.data(), scratch_bytes);
  const double TE = double(T) * kExperts, TH = double(T) * kHidden, PH = double(P) * kHidden, CH = double(cap) * kHidden;
  const std::string router_shape = fmt::format("[{}, {}] top-{}", T, kExperts, kTopK);
  const std::string hidden_shape = fmt::format("[{}, {}] bf16", T, kHidden);
  const std::string perm_shape = fmt::format("{}×{} -> {} rows", T, kTopK, cap);
  const auto sample = [&](int64_t i, int64_t n) { return i * n / kSampleRows; };  // spread over [0, n)

  // Router: the first kSampleRows tokens against router_forward / the backwards.
  run.add("router forward", router_shape, 8 * TE + 8.0 * P, [&] { poison(idx.data(), idx.bytes()); },
          [&] { router_forward_cuda(logits.data(), d_bias.data(), T, rc, scores.data(), idx.data(), w.data()); },
          [&](std::string& note) {
            const auto l = copy_back(logits.data(), kSampleRows * kExperts);
            const auto gi = copy_back(idx.data(), kSampleRows * kTopK);
            std::vector<float> s(l.size()), ww(gi.size());
            std::vector<int32_t> ri(gi.size());
            router_forward(l, bias, rc, s, ri, ww);
            int64_t bad = 0;
            for (size_t i = 0; i < gi.size(); ++i) bad += gi[i] != ri[i];
            note = fmt::format("{} of {} choices differ from the CPU", bad, gi.size());
            return bad == 0;
          });
  run.add("router weights bwd", router_shape, 8 * TE + 8.0 * P, [&] { poison(dscores.data(), dscores.bytes()); },
          [&] { router_weights_backward_cuda(scores.data(), idx.data(), d_dweight.data(), T, rc, dscores.data()); },
          [&](std::string& note) {
            const auto s = copy_back(scores.data(), kSampleRows * kExperts);
            const auto gi = copy_back(idx.data(), kSampleRows * kTopK);
            std::vector<float> ref(s.size());
            router_weights_backward(s, gi, std::vector<float>(dweight.begin(), dweight.begin() + kSampleRows * kTopK), rc, ref);
            const int64_t bad = bit_mismatches(copy_back(dscores.data(), ref.size()), ref);
            note = fmt::format("{} of {} differ in bits", bad, ref.size());
            return bad == 0;
          });
  run.add("router sigmoid bwd", router_shape, 12 * TE, [&] { poison(dlogits_r.data(), dlogits_r.bytes()); },
          [&] { router_sigmoid_backward_cuda(scores.data(), dscores.data(), T * kExperts, dlogits_r.data()); },
          [&](std::string& note) {
            const size_t n = kSampleRows * kExperts;
            std::vector<float> ref(n);
            router_sigmoid_backward(copy_back(scores.data(), n), copy_back(dscores.data(), n), ref);
            const int64_t bad = bit_mismatches(copy_back(dlogits_r.data(), n), ref);
            note = fmt::format("{} of {} differ in bits", bad, n);
            return bad == 0;
          });

  // Permutation: the whole index against build_permute_index, sampled rows of the data.
  run.add("permute index", perm_shape, 16.0 * P + 4.0 * cap, [&] { poison(v.slot_row, P * 8); },
          [&] { build_permute_index_cuda(idx.data(), v); },
          [&](std::string& note) {
            const PermuteIndex ref = build_permute_index(copy_back(idx.data(), P), kTopK, kExperts, 128);
            const bool same = copy_back(v.slot_row, P) == ref.slot_row &&
                              copy_back(v.expert_offsets, kExperts + 1) == ref.expert_offsets;
            note = fmt::format("{} real rows; slot rows and offsets {}", ref.rows, same ? "equal the CPU's" : "DIFFER");
            return same;
          });
  const auto check_permuted = [&](const uint8_t* out, const uint8_t* in, int64_t row_bytes, std::string& note) {
    const auto src = copy_back(v.row_source, cap);
    int64_t bad = 0;
    for (int64_t i = 0; i < kSampleRows; ++i) {
      const int64_t r = sample(i, cap);
      const auto got = copy_back(out + r * row_bytes, row_bytes);
      const auto want = src[r] < 0 ? std::vector<uint8_t>(row_bytes, 0) : copy_back(in + src[r] / kTopK * row_bytes, row_bytes);
      bad += got != want;
    }
    note = fmt::format("{} of {} sampled rows differ", bad, kSampleRows);
    return bad == 0;
  };
  run.add("permute fwd bf16", perm_shape, 2 * (TH + CH), [&] { poison(perm.data(), perm.bytes()); },
          [&] { permute_forward_cuda(x.data(), 2, v, kHidden, perm.data()); },
          [&](std::string& note) {
            return check_permuted(reinterpret_cast<const uint8_t*>(perm.data()), reinterpret_cast<const uint8_t*>(x.data()), 2 * kHidden, note);
          });
  run.add("permute fwd fp8", perm_shape, TH + CH, [&] { poison(perm8.data(), perm8.bytes()); },
          [&] { permute_forward_cuda(x.data(), 1, v, kHidden, perm8.data()); },
          [&](std::string& note) { return check_permuted(perm8.data(), reinterpret_cast<const uint8_t*>(x.data()), kHidden, note); });
  // Per sampled token: its pairs' rows and weights, for the sums below (k in order, FP32, as the reference).
  const auto token_rows = [&](int64_t t) { return copy_back(v.slot_row + t * kTopK, kTopK); };
  run.add("permute bwd bf16", perm_shape, 2 * (PH + TH), [&] { poison(dx.data(), dx.bytes()); },
          [&] { permute_backward_cuda(perm.data(), ActType::BF16, v, kHidden, dx.data()); },
          [&](std::string& note) {
            int64_t bad = 0;
            for (int64_t i = 0; i < kSampleRows; ++i) {
              const int64_t t = sample(i, T);
              std::vector<float> acc(kHidden, 0.0f);
              for (const int64_t r : token_rows(t)) {
                const auto row = bf16_back(perm.data() + r * kHidden, kHidden);
                for (int64_t d = 0; d < kHidden; ++d) acc[d] += row[d];
              }
              bad += bit_mismatches(bf16_back(dx.data() + t * kHidden, kHidden), bf16_rounded(acc));
            }
            note = fmt::format("{} elements of {} sampled tokens differ in bits", bad, kSampleRows);
            return bad == 0;
          });
  const auto gw = [&] { return copy_back(w.data(), P); };
  run.add("combine fwd bf16", perm_shape, 2 * (PH + TH) + 4.0 * P, [&] { poison(comb.data(), comb.bytes()); },
          [&] { unpermute_forward_cuda(perm.data(), ActType::BF16, w.data(), v, kHidden, comb.data()); },
          [&](std::string& note) {
            const auto weights = gw();
            int64_t bad = 0;
            for (int64_t i = 0; i < kSampleRows; ++i) {
              const int64_t t = sample(i, T);
              const auto rows = token_rows(t);
              std::vector<float> acc(kHidden, 0.0f);
              for (int64_t k = 0; k < kTopK; ++k) {
                const auto row = bf16_back(perm.data() + rows[k] * kHidden, kHidden);
                for (int64_t d = 0; d < kHidden; ++d) acc[d] += weights[t * kTopK + k] * row[d];
              }
              bad += bit_mismatches(bf16_back(comb.data() + t * kHidden, kHidden), bf16_rounded(acc));
            }
            note = fmt::format("{} elements of {} sampled tokens differ in bits", bad, kSampleRows);
            return bad == 0;
          });
  run.add("combine bwd bf16", perm_shape, 2 * (PH + TH + CH) + 8.0 * P,
          [&] {
            poison(dy.data(), dy.bytes());
            poison(dw_pairs.data(), dw_pairs.bytes());
          },
          [&] { unpermute_backward_cuda(perm.data(), w.data(), comb.data(), ActType::BF16, v, kHidden, dy.data(), dw_pairs.data()); },
          [&](std::string& note) {
            const auto weights = gw();
            const auto dws = copy_back(dw_pairs.data(), P);
            int64_t bad = 0;
            for (int64_t i = 0; i < kSampleRows; ++i) {
              const int64_t t = sample(i, T);
              const auto rows = token_rows(t);
              const auto g = bf16_back(comb.data() + t * kHidden, kHidden);
              for (int64_t k = 0; k < kTopK; ++k) {
                const auto yr = bf16_back(perm.data() + rows[k] * kHidden, kHidden);
                std::vector<float> want(kHidden);
                float dot = 0;
                for (int64_t d = 0; d < kHidden; ++d) want[d] = weights[t * kTopK + k] * g[d], dot += g[d] * yr[d];
                bad += bit_mismatches(bf16_back(dy.data() + rows[k] * kHidden, kHidden), bf16_rounded(want));
                bad += std::bit_cast<uint32_t>(dws[t * kTopK + k]) != std::bit_cast<uint32_t>(dot);
              }
            }
            note = fmt::format("{} values of {} sampled tokens differ in bits", bad, kSampleRows);
            return bad == 0;
          });

  // SwiGLU on the fused [pairs, 2·2048] up-projection output: the first rows against the CPU.
  const std::string swiglu_shape = fmt::format("[{}, 2·{}] bf16", R, kFfn);
  const double RF = double(R) * kFfn;
  run.add("swiglu fwd", swiglu_shape, 2 * (2 * RF + RF), [&] { poison(act.data(), act.bytes()); },
          [&] { swiglu_forward_fused_cuda(h.data(), ActType::BF16, R, kFfn, act.data()); },
          [&](std::string& note) {
            const auto hs = bf16_back(h.data(), kSampleRows * 2 * kFfn);
            std::vector<double> ref(kSampleRows * kFfn);
            swiglu_forward_fused(widen(hs), kSampleRows, kFfn, ref);
            const int64_t bad = loose_mismatches(bf16_back(act.data(), ref.size()), ref);
            note = fmt::format("{} of {} outside tolerance", bad, ref.size());
            return bad == 0;
          });
  run.add("swiglu bwd", swiglu_shape, 2 * (2 * RF + RF + 2 * RF), [&] { poison(dh.data(), dh.bytes()); },
          [&] { swiglu_backward_fused_cuda(h.data(), act.data(), ActType::BF16, R, kFfn, dh.data()); },
          [&](std::string& note) {
            const auto hs = bf16_back(h.data(), kSampleRows * 2 * kFfn);
            const auto g = bf16_back(act.data(), kSampleRows * kFfn);
            std::vector<double> ref(hs.size());
            swiglu_backward_fused(widen(hs), widen(g), kSampleRows, kFfn, ref);
            const int64_t bad = loose_mismatches(bf16_back(dh.data(), ref.size()), ref);
            note = fmt::format("{} of {} outside tolerance", bad, ref.size());
            return bad == 0;
          });

  // RMSNorm of the hidden states: the first rows (forward, input gradient), all rows (weight gradient).
  run.add("rmsnorm fwd", hidden_shape, 4 * TH + 4.0 * T, [&] { poison(y.data(), y.bytes()); },
          [&] { rmsnorm_forward_cuda(x.data(), ActType::BF16, d_norm_w.data(), T, kHidden, 1e-6f, y.data(), rstd.data()); },
          [&](std::string& note) {
            std::vector<double> ref(kSampleRows * kHidden), rs(kSampleRows);
            rmsnorm_forward(widen(bf16_back(x.data(), ref.size())), widen(norm_w), kSampleRows, kHidden, 1e-6, ref, rs);
            const int64_t bad = loose_mismatches(bf16_back(y.data(), ref.size()), ref);
            note = fmt::format("{} of {} outside tolerance", bad, ref.size());
            return bad == 0;
          });
  run.add("rmsnorm bwd input", hidden_shape, 6 * TH, [&] { poison(dxn.data(), dxn.bytes()); },
          [&] { rmsnorm_backward_input_cuda(x.data(), d_norm_w.data(), rstd.data(), y.data(), ActType::BF16, T, kHidden, dxn.data()); },
          [&](std::string& note) {
            const size_t n = kSampleRows * kHidden;
            std::vector<double> ref(n);
            rmsnorm_backward_input(widen(bf16_back(x.data(), n)), widen(norm_w), widen(copy_back(rstd.data(), kSampleRows)),
                                   widen(bf16_back(y.data(), n)), kSampleRows, kHidden, ref);
            const int64_t bad = loose_mismatches(bf16_back(dxn.data(), n), ref);
            note = fmt::format("{} of {} outside tolerance", bad, n);
            return bad == 0;
          });
  run.add("rmsnorm bwd weight", hidden_shape, 4 * TH, [&] { TANDEM_CUDA_CHECK(cudaMemset(dnorm_w.data(), 0, dnorm_w.bytes())); },
          [&] { rmsnorm_backward_weight_cuda(x.data(), rstd.data(), y.data(), ActType::BF16, T, kHidden, partial.data(), dnorm_w.data()); },
          [&](std::string& note) {
            std::vector<double> ref(kHidden, 0.0);
            rmsnorm_backward_weight(widen(bf16_back(x.data(), T * kHidden)), widen(copy_back(rstd.data(), T)),
                                    widen(bf16_back(y.data(), T * kHidden)), T, kHidden, ref);
            const int64_t bad = loose_mismatches(copy_back(dnorm_w.data(), kHidden), ref);
            note = fmt::format("{} of {} outside tolerance", bad, kHidden);
            return bad == 0;
          });

  // Cross-entropy over the vocabulary: the first rows against the CPU.
  const std::string ce_shape = fmt::format("[{}, {}] bf16", T, kVocab);
  run.add("cross-entropy fwd", ce_shape, 2.0 * T * kVocab, [&] { poison(lse.data(), lse.bytes()); },
          [&] { cross_entropy_forward_cuda(vlogits.data(), ActType::BF16, d_targets.data(), T, kVocab, kIgnoreIndex, lse.data(), token_loss.data(), totals.data()); },
          [&](std::string& note) {
            std::vector<double> ref(kSampleRows);
            cross_entropy_forward(widen(bf16_back(vlogits.data(), kSampleRows * kVocab)),
                                  std::vector<int32_t>(targets.begin(), targets.begin() + kSampleRows), kVocab, kIgnoreIndex, ref);
            const auto got = copy_back(lse.data(), kSampleRows);
            double worst = 0;
            for (int64_t i = 0; i < kSampleRows; ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
            note = fmt::format("largest lse error {:.2e}", worst);
            return worst <= 1e-4;
          });
  run.add("cross-entropy bwd", ce_shape, 4.0 * T * kVocab, [&] { poison(dvlogits.data(), dvlogits.bytes()); },
          [&] { cross_entropy_backward_cuda(vlogits.data(), ActType::BF16, d_targets.data(), lse.data(), totals.data(), T, kVocab, kIgnoreIndex, 1.0f, dvlogits.data()); },
          [&](std::string& note) {
            const size_t n = 2 * kVocab;
            std::vector<float> ref(n);
            cross_entropy_backward(bf16_back(vlogits.data(), n), std::vector<int32_t>(targets.begin(), targets.begin() + 2),
                                   copy_back(lse.data(), 2), kVocab, kIgnoreIndex, 2.0f / static_cast<float>(T), ref);  // the same scale, 1/T
            const int64_t bad = loose_mismatches(bf16_back(dvlogits.data(), n), widen(ref));
            note = fmt::format("{} of {} outside tolerance", bad, n);
            return bad == 0;
          });

  fmt::print("\n{:<22} {:<28} {:>10} {:>10} {:>8} {:>8} {:>8}\n", "kernel", "shape", "MB", "median us", "GB/s", "% HBM", "% copy");
  bool all_valid = true;
  for (const Result& r : run.results()) {
    all_valid = all_valid && r.valid;
    if (!r.valid) {
      fmt::print("{:<22} {:<28} {:>10.1f} {:>10} FAILED\n", r.name, r.shape, r.bytes / 1e6, "-");
      continue;
    }
    const double gbps = r.bytes / (r.median_us * 1e-6) / 1e9;
    fmt::print("{:<22} {:<28} {:>10.1f} {:>10.1f} {:>8.0f} {:>8.1f} {:>8.1f}\n", r.name, r.shape, r.bytes / 1e6,
               r.median_us, gbps, peak > 0 ? 100 * gbps * 1e9 / peak : 0.0, 100 * gbps / copy_gbps);
  }
  fmt::print("\nMB: the bytes each kernel must move at least (inputs read once, outputs written once), the basis of\n"
             "GB/s. Permute rows include the 128-row padding; the combine's reads count each (token, expert) row once.\n");
  return all_valid ? 0 : 1;
}

}  // namespace

int memory_bench_main(int argc, char** argv) {
  Options o;
  CLI::App app{"Memory-bound kernels: GB/s of router, permute, combine, SwiGLU, RMSNorm, cross-entropy"};
  app.add_option("--tokens", o.tokens, "tokens per batch (4096)")->check(CLI::Range(int64_t{kSampleRows}, int64_t{1} << 20));
  app.add_option("--iters", o.iters, "timed runs per kernel (median reported)")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  app.add_option("--filter", o.filter, "only kernels whose name contains this");
  app.add_option("--seed", o.seed, "input seed (default: from the clock)");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const CudaDeviceStatus status = cuda_device_status();
  if (status.count == 0) {
    fmt::print(stderr, "kernels_cuda_bench memory: no CUDA device ({}); nothing to measure\n", status.reason);
    return 2;
  }
  try {
    return run_all(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "kernels_cuda_bench memory: {}\n", e.what());
    return 1;
  }
}

}  // namespace tandem::kernels::cuda::bench
