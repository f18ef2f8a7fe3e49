// Values of tensors and the per-rank store (see values.h).
#include "backend/execution/values.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "kernels/attention/mla_layout_cpu.h"
#include "kernels/common/bf16.h"

namespace tandem::backend {

kernels::Fp8MatrixView Fp8Matrix::view() const {
  return {codes, scales, rows, cols, kernels::Fp8Format::E4M3, layout};
}

kernels::Fp8MatrixView Fp8Matrix::row_view(int64_t first, int64_t count) const {
  if (layout != kernels::Fp8ScaleLayout::Tile1x128)
    throw std::logic_error("Fp8Matrix::row_view: only 1x128-tiled matrices split by rows");
  const int64_t kb = (cols + 127) / 128;
  return {std::span<const uint8_t>(codes).subspan(size_t(first * cols), size_t(count * cols)),
          std::span<const float>(scales).subspan(size_t(first * kb), size_t(count * kb)), count, cols,
          kernels::Fp8Format::E4M3, layout};
}

std::vector<float> Fp8Matrix::dequantize() const {
  std::vector<float> out(size_t(rows * cols));
  kernels::dequantize_fp8(codes, scales, rows, cols, layout, kernels::Fp8Format::E4M3, out);
  return out;
}

Fp8Matrix quantize(std::span<const float> x, int64_t rows, int64_t cols, kernels::Fp8ScaleLayout layout, bool pow2_scales) {
  Fp8Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.layout = layout;
  m.codes.resize(size_t(rows * cols));
  m.scales.resize(size_t(kernels::fp8_scale_count(layout, rows, cols)));
  kernels::Fp8QuantConfig config;
  config.pow2_scales = pow2_scales;
  kernels::quantize_fp8(x, rows, cols, layout, config, m.codes, m.scales);
  return m;
}

Value float_matrix(int64_t rows, int64_t cols) {
  Value v;
  v.rows = rows;
  v.cols = cols;
  v.data.resize(size_t(rows * cols));
  return v;
}

std::vector<float> Value::to_float() const {
  if (!is_fp8()) return data;
  if (fp8.size() != 1) throw std::logic_error("Value::to_float: a segmented FP8 value has no single float view");
  return fp8[0].dequantize();
}

void TensorStore::write(int32_t tensor, int32_t mb, int32_t producer, ValuePtr value) {
  std::lock_guard lock(mutex_);
  slots_[key(tensor, mb)].parts.emplace_back(producer, std::move(value));
}

bool TensorStore::has(int32_t tensor, int32_t mb, int32_t reader) const {
  std::lock_guard lock(mutex_);
  const auto it = slots_.find(key(tensor, mb));
  if (it == slots_.end()) return false;
  for (const auto& [p, v] : it->second.parts)
    if (p < reader) return true;
  return false;
}

ValuePtr TensorStore::read(int32_t tensor, int32_t mb, int32_t reader, bool round_bf16, const std::string& name) const {
  std::vector<std::pair<int32_t, ValuePtr>> parts;
  {
    std::lock_guard lock(mutex_);
    const auto it = slots_.find(key(tensor, mb));
    if (it != slots_.end())
      for (const auto& part : it->second.parts)
        if (part.first < reader) parts.push_back(part);
  }
  if (parts.empty())
    throw std::logic_error(fmt::format("op {} reads tensor {} (micro-batch {}) before anything wrote it", reader, name, mb));
  std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!accumulates(tensor) || parts.size() == 1) return parts.back().second;
  auto sum = std::make_shared<Value>();
  sum->rows = parts[0].second->rows;
  sum->cols = parts[0].second->cols;
  sum->data = parts[0].second->to_float();
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto more = parts[i].second->to_float();
    if (more.size() != sum->data.size())
      throw std::logic_error(fmt::format("gradient {} (micro-batch {}): parts of {} and {} elements", name, mb, sum->data.size(), more.size()));
    for (size_t j = 0; j < more.size(); ++j) sum->data[j] += more[j];
  }
  round_bf16_unless(!round_bf16, sum->data);
  return sum;
}

void TensorStore::clear() {
  std::lock_guard lock(mutex_);
  slots_.clear();
}

size_t TensorStore::float_bytes() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [k, slot] : slots_)
    for (const auto& [p, v] : slot.parts) {
      n += v->data.size() * 4 + v->ints.size() * 4;
      for (const auto& m : v->fp8) n += m.codes.size() + m.scales.size() * 4;
    }
  return n;
}

void round_bf16_unless(bool exact, std::span<float> values) {
  if (!exact) kernels::round_to_bf16(values);
}

ValuePtr concat_columns(const Value& a, const Value& b) {
  if (a.rows != b.rows) throw std::logic_error(fmt::format("concat_columns: {} rows beside {}", a.rows, b.rows));
  auto cat = std::make_shared<Value>();
  cat->rows = a.rows;
  cat->cols = a.cols + b.cols;
  cat->data.resize(size_t(cat->rows * cat->cols));
  kernels::concat_columns(a.data, b.data, a.rows, a.cols, b.cols, cat->data);
  return cat;
}

std::pair<Value, Value> split_columns(const Value& x, int64_t left) {
  if (left < 0 || left > x.cols) throw std::logic_error(fmt::format("split_columns: {} of {} columns", left, x.cols));
  std::pair<Value, Value> out;
  out.first.rows = out.second.rows = x.rows;
  out.first.cols = left;
  out.second.cols = x.cols - left;
  out.first.data.resize(size_t(x.rows * left));
  out.second.data.resize(size_t(x.rows * (x.cols - left)));
  kernels::split_columns(x.data, x.rows, left, x.cols - left, out.first.data, out.second.data);
  return out;
}

}  // namespace tandem::backend
