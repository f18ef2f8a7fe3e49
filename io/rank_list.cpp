// Parsing a list of ranks given to an option (see rank_list.h).
#include "io/rank_list.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace tandem::io {
namespace {
constexpr int64_t kMaxUnboundedRange = 1 << 20;
}  // namespace

std::vector<int64_t> parse_rank_list(const std::string& text, int64_t num_ranks, const std::string& option) {
  const bool bounded = num_ranks > 0;
  std::vector<int64_t> out;
  if (text == "all" && bounded) {
    for (int64_t r = 0; r < num_ranks; ++r) out.push_back(r);
    return out;
  }
  const int64_t limit = bounded ? num_ranks : int64_t(std::numeric_limits<int32_t>::max()) + 1;
  auto bad = [&](const std::string& found) {
    throw std::invalid_argument(fmt::format("{} '{}': expected {}ranks and ranges like 0,128-135 within 0..{}, found {}",
                                            option, text, bounded ? "'all' or " : "", limit - 1, found));
  };
  auto number = [&](const std::string& s) {
    if (s.empty()) bad("an empty item");
    if (s.find_first_not_of("0123456789") != std::string::npos) bad(fmt::format("'{}'", s));
    // More digits than any rank count has: out of range (and beyond what stoll reads).
    if (s.size() > 12) bad(fmt::format("rank {}", s));
    const int64_t v = std::stoll(s);
    if (v >= limit) bad(fmt::format("rank {}", v));
    return v;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = item.find('-');
    if (dash == 0) bad(fmt::format("'{}' (ranks are not negative)", item));
    if (dash == std::string::npos) {
      out.push_back(number(item));
    } else {
      const int64_t a = number(item.substr(0, dash)), b = number(item.substr(dash + 1));
      if (b < a) bad(fmt::format("the empty range '{}'", item));
      // Each rank of a range is listed: without a rank count, a range is bounded by kMaxUnboundedRange.
      if (!bounded && b - a >= kMaxUnboundedRange) bad(fmt::format("the range '{}' of {} ranks", item, b - a + 1));
      for (int64_t r = a; r <= b; ++r) out.push_back(r);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace tandem::io
