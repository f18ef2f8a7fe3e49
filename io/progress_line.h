// ProgressLine: one line on standard error that says how far a long piece of work has got
// ("simulate: 41% of 99.1 M ops, 2.3 s"). Shown only on a terminal and only once the work has run for a
// second, rewritten at most a few times a second, erased when the work ends: logs and pipes get nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace tandem::io {

class ProgressLine {
 public:
  // `enabled` false (or a standard error that is not a terminal) makes every call a no-op.
  explicit ProgressLine(std::string label, bool enabled = true);
  ~ProgressLine();   // erases the line if one was shown
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void update(uint64_t done, uint64_t total, const char* unit = "ops");
  // The text update would show (for tests): "LABEL: P% of T UNIT, S s".
  static std::string format(const std::string& label, uint64_t done, uint64_t total, const char* unit, double seconds);

 private:
  std::string label_;
  bool enabled_ = false;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace tandem::io
