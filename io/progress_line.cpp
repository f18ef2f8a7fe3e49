// ProgressLine: a carriage-return line on stderr, throttled, on a terminal; newline-ended lines
// elsewhere when asked.
#include "io/progress_line.h"

#include <cstdio>

#include <unistd.h>

#include <fmt/format.h>

namespace tandem::io {

namespace {
constexpr auto kFirstAfter = std::chrono::seconds(1);
constexpr auto kEvery = std::chrono::milliseconds(250);
constexpr auto kEveryLine = std::chrono::seconds(1);   // lines into a log or pipe

std::string amount(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.1f} G", double(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f} M", double(n) / 1e6);
  if (n >= 10'000) return fmt::format("{:.1f} k", double(n) / 1e3);
  return fmt::format("{}", n);
}
}  // namespace

ProgressLine::ProgressLine(std::string label, bool enabled, bool lines)
    : label_(std::move(label)), terminal_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()),
      last_(start_) {
  enabled_ = enabled && (terminal_ || lines);
}

ProgressLine::~ProgressLine() {
  if (shown_ && terminal_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
}

std::string ProgressLine::format(const std::string& label, uint64_t done, uint64_t total, const char* unit,
                                 double seconds) {
  const double pct = total > 0 ? 100.0 * double(std::min(done, total)) / double(total) : 0.0;
  return fmt::format("{}: {:.0f}% of {} {}, {:.1f} s", label, pct, amount(total), unit, seconds);
}

std::string ProgressLine::format_counted(const std::string& label, uint64_t done, uint64_t total, const char* unit,
                                         double seconds) {
  std::string out = fmt::format("{}: {} of {} {}", label, done, total, unit);
  if (done == 0 || seconds <= 0) return out;
  const double rate = double(done) / seconds;
  const double left = double(total > done ? total - done : 0) / rate;
  return out + fmt::format(", {:.3g} {}/s, about {:.0f} s left", rate, unit, left);
}

void ProgressLine::update(uint64_t done, uint64_t total, const char* unit) {
  show([&](double seconds) { return format(label_, done, total, unit, seconds); });
}

void ProgressLine::update_counted(uint64_t done, uint64_t total, const char* unit) {
  show([&](double seconds) { return format_counted(label_, done, total, unit, seconds); });
}

void ProgressLine::update_text(const std::function<std::string()>& text, bool last) {
  show([&](double) { return text(); }, last);
}

void ProgressLine::show(const std::function<std::string(double)>& text, bool last) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_ ? (now - start_ < kFirstAfter || (shown_ && now - last_ < kEvery))
                : (!last && shown_ && now - last_ < kEveryLine))
    return;
  last_ = now;
  shown_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  if (terminal_)
    std::fprintf(stderr, "\r\033[K%s", text(seconds).c_str());
  else
    std::fprintf(stderr, "%s\n", text(seconds).c_str());
  std::fflush(stderr);
}

}  // namespace tandem::io
