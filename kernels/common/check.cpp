// Argument checks shared by the CPU references (see check.h).
#include "kernels/common/check.h"

#include <fmt/format.h>

#include <stdexcept>

namespace tandem::kernels {

void check_size(std::string_view function, std::string_view argument, size_t found, int64_t expected,
                std::string_view shape) {
  if (expected < 0 || found != static_cast<size_t>(expected)) {
    throw std::invalid_argument(fmt::format("{}: {} has {} elements, expected {} for shape {}", function,
                                            argument, found, expected, shape));
  }
}

void check_arg(bool condition, std::string_view function, std::string_view what) {
  if (!condition) throw std::invalid_argument(fmt::format("{}: {}", function, what));
}

void check_at_least(std::string_view function, std::string_view argument, int64_t value, int64_t minimum) {
  if (value < minimum) {
    throw std::invalid_argument(
        fmt::format("{}: {} must be at least {}, found {}", function, argument, minimum, value));
  }
}

}  // namespace tandem::kernels
