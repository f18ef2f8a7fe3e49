// Running the missing points of a sweep on threads, and gathering the records (sweep_run.h).
#include "sweep/sweep_run.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "io/progress_line.h"

namespace tandem::sweep {

using nlohmann::json;

RunCounts run_points(const std::string& scenario, const std::vector<SweepPoint>& points, const SweepDirectory& dir,
                     const ScenarioCheck& check, const RunShare& share) {
  RunCounts counts;
  // Points without a record; the share of this process is fixed by position among them, so that
  // every process (which sees the same records at the start) picks a disjoint set.
  std::vector<const SweepPoint*> pending, mine;
  for (const SweepPoint& p : points) {
    if (dir.load_point(p)) ++counts.stored;
    else pending.push_back(&p);
  }
  for (size_t i = 0; i < pending.size(); ++i)
    if (int(i % size_t(share.ranks)) == share.rank) mine.push_back(pending[i]);

  std::atomic<size_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex mutex;
  std::condition_variable finished;
  auto worker = [&] {
    while (!stop) {
      const size_t i = next.fetch_add(1);
      if (i >= mine.size()) break;
      try {
        dir.store_point(run_point(scenario, *mine[i], check));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        stop = true;
      }
      ++done;
      finished.notify_one();
    }
  };
  const int threads = std::max(1, std::min<int>(share.jobs, int(mine.size())));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  {
    io::ProgressLine progress("sweep", share.progress);
    std::unique_lock<std::mutex> lock(mutex);
    while (done < mine.size() && !stop) {
      finished.wait_for(lock, std::chrono::milliseconds(250));
      progress.update_counted(done, mine.size(), "points");
    }
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  counts.ran = done;
  return counts;
}

std::vector<json> gather_records(const std::vector<SweepPoint>& points, const SweepDirectory& dir) {
  std::vector<json> out;
  out.reserve(points.size());
  for (const SweepPoint& p : points) {
    auto record = dir.load_point(p);
    if (!record) throw std::runtime_error(fmt::format("{}: the record of point {} is missing or unreadable", dir.point_path(p.index), p.index));
    out.push_back(std::move(*record));
  }
  return out;
}

}  // namespace tandem::sweep
