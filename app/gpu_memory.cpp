// GPU memory capacity lookup: hw/'s catalogue when the build has it, else unknown (0).
#include "app/gpu_memory.h"

#ifdef TANDEM_HW
#include "hw/gpu_catalogue.h"
#endif

namespace tandem::app {
int64_t gpu_memory_bytes(const std::string& gpu) {
#ifdef TANDEM_HW
  if (const hw::GpuSpec* spec = hw::find_gpu(gpu)) return spec->hbm_bytes;
#else
  (void)gpu;
#endif
  return 0;
}
}  // namespace tandem::app
