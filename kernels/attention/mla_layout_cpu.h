// Layout helpers that compose MLA from GEMMs, RMSNorm, RoPE and the attention core: splitting and
// joining column groups (per token or per head) and the key whose RoPE part all heads share.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// x [rows, a + b] -> xa [rows, a], xb [rows, b]. With rows = tokens·heads this splits every head, e.g.
// q [T, H, nope + rope] into q_nope and q_rope, or kv [T, H, nope + v] into k_nope and v; with
// rows = tokens it splits the latent [T, kv_lora + rope] into c_kv and the shared rope key.
// Its backward is concat_columns, and the other way round.
void split_columns(std::span<const float> x, int64_t rows, int64_t a, int64_t b, std::span<float> xa,
                   std::span<float> xb);
void split_columns(std::span<const double> x, int64_t rows, int64_t a, int64_t b, std::span<double> xa,
                   std::span<double> xb);

// x [rows, a + b] = [xa | xb] row by row.
void concat_columns(std::span<const float> xa, std::span<const float> xb, int64_t rows, int64_t a, int64_t b,
                    std::span<float> x);
void concat_columns(std::span<const double> xa, std::span<const double> xb, int64_t rows, int64_t a, int64_t b,
                    std::span<double> x);

// MLA key: k[t, h, :] = [k_nope[t, h, :] | k_rope[t, :]], the rope key shared by every head.
// k_nope [tokens, heads, nope], k_rope [tokens, rope], k [tokens, heads, nope + rope].
void concat_shared_rope(std::span<const float> k_nope, std::span<const float> k_rope, int64_t tokens, int64_t heads,
                        int64_t nope, int64_t rope, std::span<float> k);
void concat_shared_rope(std::span<const double> k_nope, std::span<const double> k_rope, int64_t tokens,
                        int64_t heads, int64_t nope, int64_t rope, std::span<double> k);

// Its backward (writes both): dk_nope[t, h, :] = dk[t, h, :nope], dk_rope[t, :] = Σ_h dk[t, h, nope:]
// summed over heads in order.
void concat_shared_rope_backward(std::span<const float> dk, int64_t tokens, int64_t heads, int64_t nope,
                                 int64_t rope, std::span<float> dk_nope, std::span<float> dk_rope);
void concat_shared_rope_backward(std::span<const double> dk, int64_t tokens, int64_t heads, int64_t nope,
                                 int64_t rope, std::span<double> dk_nope, std::span<double> dk_rope);

}  // namespace tandem::kernels
