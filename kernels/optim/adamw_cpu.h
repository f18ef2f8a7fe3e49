// AdamW on the CPU as the DeepSeek-V3 recipe keeps it: FP32 master weights, first and second moments
// stored as BF16 (bf16-rounded floats), bias correction, decoupled weight decay; and the helpers of
// global-norm gradient clipping.
#pragma once
#include <cstdint>
#include <span>

namespace tandem::kernels {

struct AdamWConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

// One step, step counting from 1, element by element:
//   p ← p · (1 − lr · weight_decay)                  (decoupled decay)
//   m ← bf16(β1 · m + (1 − β1) · g),  v ← bf16(β2 · v + (1 − β2) · g²)
//   p ← p − lr · (m / (1 − β1^step)) / (sqrt(v / (1 − β2^step)) + eps)
// params, grads, m, v [n]; m and v hold bf16-rounded values (the stored moments are used in the update).
void adamw_step(std::span<float> params, std::span<const float> grads, std::span<float> m, std::span<float> v,
                int64_t step, const AdamWConfig& config);

// Σ x² in double, in index order (partial sums of tensors and ranks add up to the global norm²).
double sum_of_squares(std::span<const float> values);

// The factor gradients are multiplied by for a global norm of total_norm: min(1, max_norm / (total_norm
// + 1e-6)); 1 when max_norm <= 0 (clipping off). A non-finite norm gives NaN so the caller's guard sees it.
float clip_coefficient(double total_norm, double max_norm);

// values[i] *= factor.
void scale_in_place(std::span<float> values, float factor);

}  // namespace tandem::kernels
