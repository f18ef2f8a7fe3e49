// Element types of tensors and ops (BF16, FP8 E4M3/E5M2, ...) and their sizes in bytes.
// FP8 scale granularities of the DeepSeek-V3 recipe live here too.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem::ir {

enum class DType : uint8_t { FP32, BF16, FP8E4M3, FP8E5M2, INT32, INT64 };

constexpr int64_t dtype_bytes(DType t) {
  switch (t) {
    case DType::FP32: return 4;
    case DType::BF16: return 2;
    case DType::FP8E4M3: return 1;
    case DType::FP8E5M2: return 1;
    case DType::INT32: return 4;
    case DType::INT64: return 8;
  }
  return 0;
}

std::string_view to_string(DType t);
std::optional<DType> parse_dtype(std::string_view name);

// How an FP8 operand is scaled: one FP32 scale per 1x128 tile of a row (activations), per 128x128
// block (weights), or a single tensor-wide scale. None for non-FP8 operands.
enum class ScaleGranularity : uint8_t { None, Tile1x128, Block128x128, Tensor };

std::string_view to_string(ScaleGranularity g);

}  // namespace tandem::ir
