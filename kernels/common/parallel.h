// A static split of [0, count) into contiguous shares, one per thread: results do not depend on the
// thread count as long as each index's work writes only its own outputs.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace tandem::kernels {

// Calls fn(begin, end) on min(threads, count) threads (the caller's thread included).
template <typename Fn>
void parallel_for(int64_t count, int threads, Fn&& fn) {
  const int64_t workers = std::clamp<int64_t>(threads, 1, std::max<int64_t>(count, 1));
  if (workers == 1) {
    fn(int64_t{0}, count);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < workers; ++w) {
    pool.emplace_back([&fn, count, workers, w] { fn(count * w / workers, count * (w + 1) / workers); });
  }
  fn(int64_t{0}, count / workers);
  for (auto& t : pool) t.join();
}

}  // namespace tandem::kernels
