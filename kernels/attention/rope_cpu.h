// Rotary position embedding of MLA's decoupled query and key parts (CPU reference): interleaved
// pairs (x[2i], x[2i+1]) rotated by the angle position · theta^(-2i/rope_dim), forward and backward.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

// cos[p, i] = cos(p · theta^(-2i/rope_dim)), sin likewise; both [positions, rope_dim/2], angles in double.
// rope_dim is even.
void rope_tables(int64_t positions, int64_t rope_dim, double theta, std::span<float> cos, std::span<float> sin);
void rope_tables(int64_t positions, int64_t rope_dim, double theta, std::span<double> cos, std::span<double> sin);

// y[t, h, 2i] = x[2i]·c − x[2i+1]·s, y[t, h, 2i+1] = x[2i]·s + x[2i+1]·c with (c, s) the tables at
// positions[t]. x, y [tokens, heads, rope_dim] (y may be x); positions [tokens], each below the
// tables' row count; heads = 1 for the key part shared by all heads.
void rope_forward(std::span<const float> x, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                  std::span<const float> cos, std::span<const float> sin, std::span<float> y);
void rope_forward(std::span<const double> x, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                  std::span<const double> cos, std::span<const double> sin, std::span<double> y);

// Phase B, writes dx (may be dy): the inverse rotation, dx[2i] = dy[2i]·c + dy[2i+1]·s,
// dx[2i+1] = −dy[2i]·s + dy[2i+1]·c.
void rope_backward(std::span<const float> dy, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                   std::span<const float> cos, std::span<const float> sin, std::span<float> dx);
void rope_backward(std::span<const double> dy, std::span<const int32_t> positions, int64_t heads, int64_t rope_dim,
                   std::span<const double> cos, std::span<const double> sin, std::span<double> dx);

}  // namespace tandem::kernels
