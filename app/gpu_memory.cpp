// GPU memory capacity lookup: hw/'s catalogue when the build has it, else unknown (0).
#include "app/gpu_memory.h"

namespace tandem::app {
int64_t gpu_memory_bytes(const std::string& gpu) {
  (void)gpu;
  return 0;
}
}  // namespace tandem::app
