// Runnability checks, the bundled corpus path and synthetic tokens (see cpu_backend.h).
#include "backend/training/cpu_backend.h"

#include <filesystem>
#include <stdexcept>
#include <unistd.h>

#include <fmt/format.h>

#include "backend/execution/executor.h"

namespace tandem::backend {

int64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * int64_t(page) : 0;
}

void check_runnable(const ir::StepProgram& program, int64_t limit_bytes) {
  check_cpu_plan(program);
  if (limit_bytes <= 0) limit_bytes = int64_t(double(physical_memory_bytes()) * 0.8);
  int64_t need = 0;
  for (int64_t r = 0; r < program.num_ranks(); ++r) need += cpu_memory_estimate_bytes(program, r);
  if (limit_bytes > 0 && need > limit_bytes)
    throw std::invalid_argument(fmt::format(
        "{}: the model does not fit in memory: the CPU backend needs about {:.2f} GiB for {} ranks "
        "(weights, gradients, optimizer state and every micro-batch's activations), the limit is {:.2f} GiB",
        program.scenario().source, double(need) / double(1ll << 30), program.num_ranks(), double(limit_bytes) / double(1ll << 30)));
}

std::string bundled_corpus_path() {
#ifdef TANDEM_SOURCE_DIR
  const std::string p = std::string(TANDEM_SOURCE_DIR) + "/data/corpus/stories.tok";
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec)) return p;
#endif
  return {};
}

TokenFile synthetic_tokens(int64_t vocab, int64_t count, uint64_t seed) {
  TokenFile f;
  f.vocab_size = uint32_t(vocab);
  f.tokens.resize(size_t(count));
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& t : f.tokens) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    t = uint32_t(s % uint64_t(vocab));
  }
  return f;
}

}  // namespace tandem::backend
