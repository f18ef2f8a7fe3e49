// ProgressLine: one line on standard error that says how far a long piece of work has got
// ("simulate: 41% of 99.1 M ops, 2.3 s"; "sweep: 12 of 64 points, 2.1 points/s, about 25 s left"). Shown only on a terminal and only once the work has run for a
// second, rewritten at most a few times a second, erased when the work ends: logs and pipes get nothing
// unless asked for lines.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace tandem::io {

class ProgressLine {
 public:
  // `enabled` false makes every call a no-op. Otherwise: a line rewritten in place on a terminal; where
  // standard error is not a terminal, nothing, or with `lines` one line (newline-ended) at the first
  // update and then at most one a second (`tandem simulate --progress` into a log).
  explicit ProgressLine(std::string label, bool enabled = true, bool lines = false);
  ~ProgressLine();   // erases the line if one was shown
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void update(uint64_t done, uint64_t total, const char* unit = "ops");
  // For work counted in whole items (sweep points): how many are done, the rate and the time left.
  void update_counted(uint64_t done, uint64_t total, const char* unit);
  // For a caller that words its own progress: `text` is called only when a line is shown. `last`: the
  // work's final state, shown whatever the interval in line mode (a terminal's line is erased anyway).
  void update_text(const std::function<std::string()>& text, bool last = false);
  // The text update would show (for tests): "LABEL: P% of T UNIT, S s".
  static std::string format(const std::string& label, uint64_t done, uint64_t total, const char* unit, double seconds);
  // "LABEL: D of T UNIT, R UNIT/s, about S s left" (the rate and time left once one item is done).
  static std::string format_counted(const std::string& label, uint64_t done, uint64_t total, const char* unit,
                                    double seconds);

 private:
  void show(const std::function<std::string(double)>& text, bool last = false);   // text of the seconds since the start

  std::string label_;
  bool enabled_ = false;
  bool terminal_ = false;   // rewrite one line in place; else newline-ended lines
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace tandem::io
