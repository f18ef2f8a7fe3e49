// Argument checks shared by the CPU references: each failure throws std::invalid_argument naming
// the function, the argument, what was expected and what was found.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem::kernels {

// Throws unless `found` elements == `expected`; `shape` describes the expected shape, e.g.
// "[rows=4, dim=64]".
void check_size(std::string_view function, std::string_view argument, size_t found, int64_t expected,
                std::string_view shape);

// Throws unless `condition`; `what` says what was expected and found.
void check_arg(bool condition, std::string_view function, std::string_view what);

// Throws unless value >= minimum.
void check_at_least(std::string_view function, std::string_view argument, int64_t value, int64_t minimum);

}  // namespace tandem::kernels
