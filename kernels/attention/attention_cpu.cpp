// Causal softmax attention forward and backward, one (sequence, head) at a time with an S x S score
// matrix; the products go through the GEMM (blocked for float), heads split across threads.
#include "kernels/attention/attention_cpu.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <limits>
#include <vector>

#include "kernels/common/check.h"
#include "kernels/common/parallel.h"
#include "kernels/gemm/gemm_cpu.h"

namespace tandem::kernels {
namespace {

void check_shape(const char* name, const AttentionShape& s) {
  check_at_least(name, "shape.batch", s.batch, 0);
  check_at_least(name, "shape.seq", s.seq, 0);
  check_at_least(name, "shape.heads", s.heads, 1);
  check_at_least(name, "shape.qk_dim", s.qk_dim, 1);
  check_at_least(name, "shape.v_dim", s.v_dim, 1);
}

std::string qk_shape(const AttentionShape& s) {
  return fmt::format("[batch={}, seq={}, heads={}, qk_dim={}]", s.batch, s.seq, s.heads, s.qk_dim);
}
std::string v_shape(const AttentionShape& s) {
  return fmt::format("[batch={}, seq={}, heads={}, v_dim={}]", s.batch, s.seq, s.heads, s.v_dim);
}
std::string lse_shape(const AttentionShape& s) {
  return fmt::format("[batch={}, heads={}, seq={}]", s.batch, s.heads, s.seq);
}

// Pointers to one (sequence, head): rows of stride heads·dim.
struct HeadView {
  int64_t q_off, v_off, lse_off;
};

HeadView head_view(const AttentionShape& s, int64_t bh) {
  const int64_t b = bh / s.heads, h = bh % s.heads;
  return {b * s.seq * s.heads * s.qk_dim + h * s.qk_dim, b * s.seq * s.heads * s.v_dim + h * s.v_dim,
          (b * s.heads + h) * s.seq};
}

template <typename T>
void forward_impl(std::span<const T> q, std::span<const T> k, std::span<const T> v, const AttentionShape& s,
                  std::span<T> out, std::span<T> lse, int threads) {
  constexpr const char* kName = "attention_forward";
  check_shape(kName, s);
  const int64_t qk_size = s.batch * s.seq * s.heads * s.qk_dim, v_size = s.batch * s.seq * s.heads * s.v_dim;
  check_size(kName, "q", q.size(), qk_size, qk_shape(s));
  check_size(kName, "k", k.size(), qk_size, qk_shape(s));
  check_size(kName, "v", v.size(), v_size, v_shape(s));
  check_size(kName, "out", out.size(), v_size, v_shape(s));
  check_size(kName, "lse", lse.size(), s.batch * s.heads * s.seq, lse_shape(s));
  const int64_t S = s.seq, ldq = s.heads * s.qk_dim, ldv = s.heads * s.v_dim;
  const T scale = T(1) / std::sqrt(static_cast<T>(s.qk_dim));
  parallel_for(s.batch * s.heads, threads, [&](int64_t begin, int64_t end) {
    std::vector<T> p(static_cast<size_t>(S * S));
    for (int64_t bh = begin; bh < end; ++bh) {
      const HeadView hv = head_view(s, bh);
      gemm(Trans::N, Trans::T, S, S, s.qk_dim, scale, q.data() + hv.q_off, ldq, k.data() + hv.q_off, ldq, T(0),
           p.data(), S);
      for (int64_t i = 0; i < S; ++i) {
        T* row = p.data() + i * S;
        T mx = row[0];
        for (int64_t j = 1; j <= i; ++j) mx = std::max(mx, row[j]);
        T sum = 0;
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(row[j] - mx);
        const T l = mx + std::log(sum);
        lse[static_cast<size_t>(hv.lse_off + i)] = l;
        for (int64_t j = 0; j <= i; ++j) row[j] = std::exp(row[j] - l);
        for (int64_t j = i + 1; j < S; ++j) row[j] = 0;
      }
      gemm(Trans::N, Trans::N, S, s.v_dim, S, T(1), p.data(), S, v.data() + hv.v_off, ldv, T(0),
           out.data() + hv.v_off, ldv);
    }
  });
}

template <typename T>
void backward_impl(std::span<const T> q, std::span<const T> k, std::span<const T> v, std::span<const T> out,
                   std::span<const T> lse, std::span<const T> dout, const AttentionShape& s, std::span<T> dq,
                   std::span<T> dk, std::span<T> dv, int threads) {
  constexpr const char* kName = "attention_backward";
  check_shape(kName, s);
  const int64_t qk_size = s.batch * s.seq * s.heads * s.qk_dim, v_size = s.batch * s.seq * s.heads * s.v_dim;
  check_size(kName, "q", q.size(), qk_size, qk_shape(s));
  check_size(kName, "k", k.size(), qk_size, qk_shape(s));
  check_size(kName, "v", v.size(), v_size, v_shape(s));
  check_size(kName, "out", out.size(), v_size, v_shape(s));
  check_size(kName, "lse", lse.size(), s.batch * s.heads * s.seq, lse_shape(s));
  check_size(kName, "dout", dout.size(), v_size, v_shape(s));
  check_size(kName, "dq", dq.size(), qk_size, qk_shape(s));
  check_size(kName, "dk", dk.size(), qk_size, qk_shape(s));
  check_size(kName, "dv", dv.size(), v_size, v_shape(s));
  const int64_t S = s.seq, ldq = s.heads * s.qk_dim, ldv = s.heads * s.v_dim;
  const T scale = T(1) / std::sqrt(static_cast<T>(s.qk_dim));
  parallel_for(s.batch * s.heads, threads, [&](int64_t begin, int64_t end) {
    std::vector<T> p(static_cast<size_t>(S * S)), ds(static_cast<size_t>(S * S));
    for (int64_t bh = begin; bh < end; ++bh) {
      const HeadView hv = head_view(s, bh);
      // P from the saved log-sum-exp.
      gemm(Trans::N, Trans::T, S, S, s.qk_dim, scale, q.data() + hv.q_off, ldq, k.data() + hv.q_off, ldq, T(0),
           p.data(), S);
      for (int64_t i = 0; i < S; ++i) {
        T* row = p.data() + i * S;
        const T l = lse[static_cast<size_t>(hv.lse_off + i)];
        for (int64_t j = 0; j <= i; ++j) row[j] = std::exp(row[j] - l);
        for (int64_t j = i + 1; j < S; ++j) row[j] = 0;
      }
      // dP = dout · vᵀ, then dS = P ∘ (dP − D_i), D_i = dout[i]·out[i].
      gemm(Trans::N, Trans::T, S, S, s.v_dim, T(1), dout.data() + hv.v_off, ldv, v.data() + hv.v_off, ldv, T(0),
           ds.data(), S);
      for (int64_t i = 0; i < S; ++i) {
        const T* o = out.data() + hv.v_off + i * ldv;
        const T* g = dout.data() + hv.v_off + i * ldv;
        T d = 0;
        for (int64_t c = 0; c < s.v_dim; ++c) d += g[c] * o[c];
        T* row = ds.data() + i * S;
        const T* prow = p.data() + i * S;
        for (int64_t j = 0; j < S; ++j) row[j] = prow[j] * (row[j] - d);
      }
      gemm(Trans::N, Trans::N, S, s.qk_dim, S, scale, ds.data(), S, k.data() + hv.q_off, ldq, T(0),
           dq.data() + hv.q_off, ldq);
      gemm(Trans::T, Trans::N, S, s.qk_dim, S, scale, ds.data(), S, q.data() + hv.q_off, ldq, T(0),
           dk.data() + hv.q_off, ldq);
      gemm(Trans::T, Trans::N, S, s.v_dim, S, T(1), p.data(), S, dout.data() + hv.v_off, ldv, T(0),
           dv.data() + hv.v_off, ldv);
    }
  });
}

}  // namespace

void attention_forward(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                       const AttentionShape& shape, std::span<float> out, std::span<float> lse, int threads) {
  forward_impl(q, k, v, shape, out, lse, threads);
}
void attention_forward(std::span<const double> q, std::span<const double> k, std::span<const double> v,
                       const AttentionShape& shape, std::span<double> out, std::span<double> lse, int threads) {
  forward_impl(q, k, v, shape, out, lse, threads);
}
void attention_backward(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                        std::span<const float> out, std::span<const float> lse, std::span<const float> dout,
                        const AttentionShape& shape, std::span<float> dq, std::span<float> dk, std::span<float> dv,
                        int threads) {
  backward_impl(q, k, v, out, lse, dout, shape, dq, dk, dv, threads);
}
void attention_backward(std::span<const double> q, std::span<const double> k, std::span<const double> v,
                        std::span<const double> out, std::span<const double> lse, std::span<const double> dout,
                        const AttentionShape& shape, std::span<double> dq, std::span<double> dk,
                        std::span<double> dv, int threads) {
  backward_impl(q, k, v, out, lse, dout, shape, dq, dk, dv, threads);
}

}  // namespace tandem::kernels
