// GPU memory capacity for the reports of `tandem`: from hw/'s catalogue when it is built.
#pragma once
#include <cstdint>
#include <string>

namespace tandem::app {
int64_t gpu_memory_bytes(const std::string& gpu);   // 0 when unknown
}
