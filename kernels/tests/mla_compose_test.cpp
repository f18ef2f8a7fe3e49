// MLA composed from the references the way the backend composes it (low-rank GEMMs, RMSNorm on the
// latents, RoPE on the decoupled parts, the shared rope key, the attention core, the output GEMM):
// the chained backward of every piece matches finite differences of the whole layer (double).
#include <catch2/catch.hpp>

#include <vector>

#include "kernels/attention/attention_cpu.h"
#include "kernels/attention/mla_layout_cpu.h"
#include "kernels/attention/rope_cpu.h"
#include "kernels/gemm/gemm_cpu.h"
#include "kernels/norm/rmsnorm_cpu.h"
#include "kernels/tests/test_util.h"

using namespace tandem::kernels;
using namespace tandem::kernels::test;

namespace {

using Vec = std::vector<double>;

// Tiny MLA: T tokens (one sequence), hidden D, q_lora QL, kv_lora KL, H heads, nope N, rope R, v V.
constexpr int64_t T = 4, D = 6, QL = 5, KL = 4, H = 2, N = 3, R = 2, V = 3;
constexpr double kEps = 1e-6;

struct Weights {
  Vec w_dq;   // [QL, D]
  Vec g_q;    // [QL]
  Vec w_uq;   // [H·(N+R), QL]
  Vec w_dkv;  // [KL + R, D]
  Vec g_kv;   // [KL]
  Vec w_ukv;  // [H·(N+V), KL]
  Vec w_o;    // [D, H·V]
};

struct Forward {
  Vec cq, cqn, rstd_q, ckv, ckvn, rstd_kv, qf, kf, vv, o, lse, y;
};

struct Tables {
  std::vector<int32_t> pos = {0, 1, 2, 3};
  Vec cos = Vec(T * R / 2), sin = Vec(T * R / 2);
  Tables() { rope_tables(T, R, 10000.0, cos, sin); }
};

Forward forward(const Vec& x, const Weights& w, const Tables& tb) {
  Forward f;
  f.cq.resize(T * QL), f.cqn.resize(T * QL), f.rstd_q.resize(T);
  matmul_nt(x, w.w_dq, f.cq, T, QL, D);
  rmsnorm_forward(f.cq, w.g_q, T, QL, kEps, f.cqn, f.rstd_q);
  Vec q(T * H * (N + R)), q_nope(T * H * N), q_rope(T * H * R);
  matmul_nt(f.cqn, w.w_uq, q, T, H * (N + R), QL);
  split_columns(q, T * H, N, R, q_nope, q_rope);
  rope_forward(q_rope, tb.pos, H, R, tb.cos, tb.sin, q_rope);
  f.qf.resize(q.size());
  concat_columns(q_nope, q_rope, T * H, N, R, f.qf);

  Vec latent(T * (KL + R)), k_rope(T * R);
  f.ckv.resize(T * KL), f.ckvn.resize(T * KL), f.rstd_kv.resize(T);
  matmul_nt(x, w.w_dkv, latent, T, KL + R, D);
  split_columns(latent, T, KL, R, f.ckv, k_rope);
  rope_forward(k_rope, tb.pos, 1, R, tb.cos, tb.sin, k_rope);
  rmsnorm_forward(f.ckv, w.g_kv, T, KL, kEps, f.ckvn, f.rstd_kv);
  Vec kv(T * H * (N + V)), k_nope(T * H * N);
  f.vv.resize(T * H * V);
  matmul_nt(f.ckvn, w.w_ukv, kv, T, H * (N + V), KL);
  split_columns(kv, T * H, N, V, k_nope, f.vv);
  f.kf.resize(T * H * (N + R));
  concat_shared_rope(k_nope, k_rope, T, H, N, R, f.kf);

  f.o.resize(T * H * V), f.lse.resize(H * T), f.y.resize(T * D);
  attention_forward(f.qf, f.kf, f.vv, {1, T, H, N + R, V}, f.o, f.lse);
  matmul_nt(f.o, w.w_o, f.y, T, D, H * V);
  return f;
}

struct Grads {
  Vec dx, dw_dq, dw_uq, dw_dkv, dw_ukv, dw_o, dg_q, dg_kv;
};

Grads backward(const Vec& x, const Weights& w, const Tables& tb, const Forward& f, const Vec& dy) {
  Grads g;
  Vec d_o(T * H * V);
  g.dw_o.assign(w.w_o.size(), 0.0);
  matmul_nn(dy, w.w_o, d_o, T, H * V, D);            // phase B
  matmul_tn(dy, f.o, g.dw_o, D, H * V, T, true);     // phase W
  Vec dqf(f.qf.size()), dkf(f.kf.size()), dvv(f.vv.size());
  attention_backward(f.qf, f.kf, f.vv, f.o, f.lse, d_o, {1, T, H, N + R, V}, dqf, dkf, dvv);

  // Key-value path.
  Vec dk_nope(T * H * N), dk_rope(T * R), dkv(T * H * (N + V)), dckvn(T * KL), dckv(T * KL), dlatent(T * (KL + R));
  concat_shared_rope_backward(dkf, T, H, N, R, dk_nope, dk_rope);
  rope_backward(dk_rope, tb.pos, 1, R, tb.cos, tb.sin, dk_rope);
  concat_columns(dk_nope, dvv, T * H, N, V, dkv);
  g.dw_ukv.assign(w.w_ukv.size(), 0.0);
  matmul_nn(dkv, w.w_ukv, dckvn, T, KL, H * (N + V));
  matmul_tn(dkv, f.ckvn, g.dw_ukv, H * (N + V), KL, T, true);
  rmsnorm_backward_input(f.ckv, w.g_kv, f.rstd_kv, dckvn, T, KL, dckv);
  g.dg_kv.assign(KL, 0.0);
  rmsnorm_backward_weight(f.ckv, f.rstd_kv, dckvn, T, KL, g.dg_kv);
  concat_columns(dckv, dk_rope, T, KL, R, dlatent);
  g.dx.assign(T * D, 0.0);
  g.dw_dkv.assign(w.w_dkv.size(), 0.0);
  matmul_nn(dlatent, w.w_dkv, g.dx, T, D, KL + R);
  matmul_tn(dlatent, x, g.dw_dkv, KL + R, D, T, true);

  // Query path.
  Vec dq_nope(T * H * N), dq_rope(T * H * R), dq(T * H * (N + R)), dcqn(T * QL), dcq(T * QL);
  split_columns(dqf, T * H, N, R, dq_nope, dq_rope);
  rope_backward(dq_rope, tb.pos, H, R, tb.cos, tb.sin, dq_rope);
  concat_columns(dq_nope, dq_rope, T * H, N, R, dq);
  g.dw_uq.assign(w.w_uq.size(), 0.0);
  matmul_nn(dq, w.w_uq, dcqn, T, QL, H * (N + R));
  matmul_tn(dq, f.cqn, g.dw_uq, H * (N + R), QL, T, true);
  rmsnorm_backward_input(f.cq, w.g_q, f.rstd_q, dcqn, T, QL, dcq);
  g.dg_q.assign(QL, 0.0);
  rmsnorm_backward_weight(f.cq, f.rstd_q, dcqn, T, QL, g.dg_q);
  g.dw_dq.assign(w.w_dq.size(), 0.0);
  matmul_nn(dcq, w.w_dq, g.dx, T, D, QL, true);      // both paths add into dx
  matmul_tn(dcq, x, g.dw_dq, QL, D, T, true);
  return g;
}

}  // namespace

TEST_CASE("MLA composed from the references: gradients match finite differences", "[attention][grad]") {
  const Tables tb;
  const Vec x = random_values<double>(T * D, 151);
  Weights w{random_values<double>(QL * D, 152, -0.6, 0.6),     random_values<double>(QL, 153, 0.5, 1.5),
            random_values<double>(H * (N + R) * QL, 154, -0.6, 0.6), random_values<double>((KL + R) * D, 155, -0.6, 0.6),
            random_values<double>(KL, 156, 0.5, 1.5),          random_values<double>(H * (N + V) * KL, 157, -0.6, 0.6),
            random_values<double>(D * H * V, 158, -0.6, 0.6)};
  const Vec dy = random_values<double>(T * D, 159);
  const Forward f = forward(x, w, tb);
  const Grads g = backward(x, w, tb, f, dy);

  auto loss_of = [&](auto set) {
    return [&, set](const Vec& v) {
      Weights wv = w;
      Vec xv = x;
      set(xv, wv, v);
      return dot(dy, forward(xv, wv, tb).y);
    };
  };
  CHECK(gradients_match(g.dx, numeric_gradient(loss_of([](Vec& xv, Weights&, const Vec& v) { xv = v; }), x)));
  CHECK(gradients_match(g.dw_dq, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.w_dq = v; }), w.w_dq)));
  CHECK(gradients_match(g.dw_uq, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.w_uq = v; }), w.w_uq)));
  CHECK(gradients_match(g.dw_dkv, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.w_dkv = v; }), w.w_dkv)));
  CHECK(gradients_match(g.dw_ukv, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.w_ukv = v; }), w.w_ukv)));
  CHECK(gradients_match(g.dw_o, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.w_o = v; }), w.w_o)));
  CHECK(gradients_match(g.dg_q, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.g_q = v; }), w.g_q)));
  CHECK(gradients_match(g.dg_kv, numeric_gradient(loss_of([](Vec&, Weights& wv, const Vec& v) { wv.g_kv = v; }), w.g_kv)));
}
