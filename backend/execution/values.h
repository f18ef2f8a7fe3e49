// What the executor keeps per (tensor, micro-batch) of a RankProgram: float data rounded as the dtype
// says, FP8 codes with their scales, integer ids, or a structured payload. Activations are versioned
// (a recompute writes a new version); activation gradients accumulate: each producer adds one part and
// a reader sees the sum, in issue order, of the parts issued before it (docs/backend.md).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/fp8/fp8_cpu.h"
#include "kernels/fp8/fp8_gemm_cpu.h"

namespace tandem::backend {

// A quantised matrix [rows, cols] with its scales (1x128 tiles along cols, or 128x128 blocks).
struct Fp8Matrix {
  std::vector<uint8_t> codes;      // [rows, cols]
  std::vector<float> scales;       // kernels::fp8_scale_count(layout, rows, cols)
  int64_t rows = 0, cols = 0;
  kernels::Fp8ScaleLayout layout = kernels::Fp8ScaleLayout::Tile1x128;
  kernels::Fp8MatrixView view() const;
  // Rows [first, first + count) of a Tile1x128 matrix (scales are per row, so a row range is exact).
  kernels::Fp8MatrixView row_view(int64_t first, int64_t count) const;
  std::vector<float> dequantize() const;
  size_t wire_bytes_per_row() const { return size_t(cols) + 4 * size_t((cols + 127) / 128); }
};

// Quantises x [rows, cols] (E4M3, Tile1x128 or Block128x128 scales).
Fp8Matrix quantize(std::span<const float> x, int64_t rows, int64_t cols, kernels::Fp8ScaleLayout layout,
                   bool pow2_scales);

struct Value {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;             // [rows, cols] when the tensor is a float one
  std::vector<Fp8Matrix> fp8;          // one matrix; or one per expert segment (transposed grouped operands)
  std::vector<int32_t> ints;           // token ids, expert ids
  std::shared_ptr<const void> extra;   // a structured payload (routing, dispatch layout)
  bool is_fp8() const { return !fp8.empty(); }
  // The float view: `data`, or the dequantised FP8 matrix.
  std::vector<float> to_float() const;
};
using ValuePtr = std::shared_ptr<const Value>;

// A float value [rows, cols] of zeros, for an op to fill.
Value float_matrix(int64_t rows, int64_t cols);

template <typename T>
std::shared_ptr<const T> extra_as(const Value& v) {
  return std::static_pointer_cast<const T>(v.extra);
}

// Values of one rank for one step, keyed by (tensor index, micro-batch; -1 for step-wide tensors).
class TensorStore {
 public:
  // `accumulate[t]`: tensor t is an activation gradient (parts add up) rather than a value.
  explicit TensorStore(std::vector<char> accumulate) : accumulate_(std::move(accumulate)) {}

  // Records what op `producer` (an index in issue order; -1 before the step) wrote.
  void write(int32_t tensor, int32_t mb, int32_t producer, ValuePtr value);
  // What op `reader` sees: the newest version issued before it, or for a gradient the sum of the
  // parts issued before it (in issue order, FP32, rounded to BF16 when `round_bf16`). Throws
  // std::logic_error naming the tensor when nothing was written before `reader`.
  ValuePtr read(int32_t tensor, int32_t mb, int32_t reader, bool round_bf16, const std::string& name) const;
  bool has(int32_t tensor, int32_t mb, int32_t reader) const;
  bool accumulates(int32_t tensor) const { return accumulate_[size_t(tensor)] != 0; }
  void clear();
  size_t float_bytes() const;   // bytes held, for memory reports

 private:
  struct Slot {
    std::vector<std::pair<int32_t, ValuePtr>> parts;   // (producer, value), in write order
  };
  static int64_t key(int32_t tensor, int32_t mb) { return (int64_t(tensor) << 32) | uint32_t(mb + 1); }
  std::vector<char> accumulate_;
  mutable std::mutex mutex_;
  std::unordered_map<int64_t, Slot> slots_;
};

// Rounds every element to BF16 unless `exact` (the all-FP32 mode used by the gradient checks).
void round_bf16_unless(bool exact, std::span<float> values);

// Float values side by side: [a | b] row by row, and its inverse (the first `left` columns, the rest).
ValuePtr concat_columns(const Value& a, const Value& b);
std::pair<Value, Value> split_columns(const Value& x, int64_t left);

}  // namespace tandem::backend
