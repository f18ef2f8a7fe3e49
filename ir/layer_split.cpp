// Layer splits: the even one, and the exact balanced one (min-max stage cost, then least squared chunk
// costs, then a fixed order) as a dynamic program over how many layers the outer stages have taken from
// the front and from the back of the model (docs/schedules.md, "Layer split").
#include "ir/layer_split.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace tandem::ir {

std::string_view to_string(SplitSource s) {
  switch (s) {
    case SplitSource::Given: return "given";
    case SplitSource::Balanced: return "balanced";
    case SplitSource::Even: return "even";
  }
  return "?";
}

std::vector<int64_t> even_layer_split(int64_t num_layers, int32_t chunks) {
  std::vector<int64_t> counts(size_t(chunks), num_layers / chunks);
  int64_t extra = num_layers % chunks;
  for (int32_t c = 1; c < chunks && extra > 0; ++c, --extra) counts[size_t(c)] += 1;
  if (extra > 0) counts[0] += extra;
  return counts;
}

std::vector<int64_t> chunk_costs(const LayerCosts& costs, const std::vector<int64_t>& layers_per_chunk) {
  std::vector<int64_t> out;
  size_t first = 0;
  for (size_t c = 0; c < layers_per_chunk.size(); ++c) {
    int64_t sum = 0;
    for (size_t l = first; l < first + size_t(layers_per_chunk[c]) && l < costs.layer.size(); ++l) sum += costs.layer[l];
    first += size_t(layers_per_chunk[c]);
    if (c == 0) sum += costs.first_chunk;
    if (c + 1 == layers_per_chunk.size()) sum += costs.last_chunk;
    out.push_back(sum);
  }
  return out;
}

std::vector<int64_t> stage_costs(const LayerCosts& costs, const std::vector<int64_t>& layers_per_chunk,
                                 const PipelineShape& shape) {
  const std::vector<int64_t> per_chunk = chunk_costs(costs, layers_per_chunk);
  std::vector<int64_t> out;
  for (int32_t r = 0; r < shape.pp; ++r) {
    int64_t sum = 0;
    for (int32_t c : chunks_on_rank(shape, r)) sum += per_chunk[size_t(c)];
    out.push_back(sum);
  }
  return out;
}

int32_t pace_stage(const std::vector<int64_t>& stage_cost) {
  if (stage_cost.empty()) return -1;
  return int32_t(std::max_element(stage_cost.begin(), stage_cost.end()) - stage_cost.begin());
}

double max_over_mean(const std::vector<int64_t>& stage_cost) {
  if (stage_cost.empty()) return 0;
  double total = 0;
  for (int64_t c : stage_cost) total += double(c);
  if (total <= 0) return 1;
  return double(stage_cost[size_t(pace_stage(stage_cost))]) / (total / double(stage_cost.size()));
}

namespace {

// Squares of costs summed: ns costs reach 1e11, their squares pass 64 bits.
__extension__ typedef unsigned __int128 SquareSum;
constexpr int64_t kNoCost = std::numeric_limits<int64_t>::max();
constexpr SquareSum kNoSum = ~SquareSum(0);

SquareSum square(int64_t x) { return SquareSum(x) * SquareSum(x); }

// The stages as groups of chunks taken from the ends of the model inwards: group k is chunk k alone
// (1F1B, ZB1P), or chunks k and C-1-k (DualPipe, DualPipeV). State (k, i, j): groups 0..k-1 hold the
// first i and the last j layers. The last group takes what is left: chunk C-1 alone, or the middle
// pair G-1, G split where its two costs are closest.
class SplitSearch {
 public:
  SplitSearch(const LayerCosts& costs, const PipelineShape& shape, int64_t max_stage_layers) : costs_(costs) {
    chunks_ = model_chunks(shape);
    paired_ = chunks_on_rank(shape, 0).size() == 2;
    groups_ = paired_ ? chunks_ / 2 : chunks_;
    layers_ = int64_t(costs.layer.size());
    back_ = paired_ ? layers_ : 0;
    cap_ = max_stage_layers > 0 ? max_stage_layers : layers_;
    prefix_.assign(size_t(layers_ + 1), 0);
    for (int64_t l = 0; l < layers_; ++l) prefix_[size_t(l + 1)] = prefix_[size_t(l)] + costs.layer[size_t(l)];
  }

  double states() const { return double(groups_) * double(layers_ + 1) * double(back_ + 1); }

  std::vector<int64_t> run(int64_t max_work) {
    max_work_ = max_work;
    min_max_.assign(size_t(states()), kNoCost);
    squares_.assign(size_t(states()), kNoSum);
    for (int64_t k = groups_ - 1; k >= 0; --k) fill_min_max(k);
    if (over_budget()) return {};
    limit_ = min_max_[index(0, 0, 0)];
    if (limit_ == kNoCost) return {};   // no split keeps every stage within cap_ layers
    for (int64_t k = groups_ - 1; k >= 0; --k) fill_squares(k);
    if (over_budget()) return {};
    return reconstruct();
  }

 private:
  const LayerCosts& costs_;
  int32_t chunks_ = 1;
  bool paired_ = false;
  int64_t groups_ = 1, layers_ = 0, back_ = 0, cap_ = 0;   // cap_: most layers a stage may hold
  std::vector<int64_t> prefix_;
  std::vector<int64_t> min_max_;     // per state: the least largest group cost of groups k..G-1
  std::vector<SquareSum> squares_;   // per state: least summed squared chunk costs with every group <= limit_
  int64_t limit_ = kNoCost;
  int64_t work_ = 0, max_work_ = 0;

  bool over_budget() const { return work_ > max_work_; }
  size_t index(int64_t k, int64_t i, int64_t j) const {
    return size_t((k * (layers_ + 1) + i) * (back_ + 1) + j);
  }
  int64_t span(int64_t from, int64_t to) const { return prefix_[size_t(to)] - prefix_[size_t(from)]; }
  // Layers groups k..G-1 need at least.
  int64_t need(int64_t k) const { return (groups_ - k) * (paired_ ? 2 : 1); }
  int64_t lower_chunk(int64_t k) const { return k; }
  int64_t upper_chunk(int64_t k) const { return paired_ ? chunks_ - 1 - k : k; }
  int64_t extras(int64_t chunk) const {
    return (chunk == 0 ? costs_.first_chunk : 0) + (chunk == chunks_ - 1 ? costs_.last_chunk : 0);
  }
  bool valid(int64_t k, int64_t i, int64_t j) const {
    return i >= k && j >= (paired_ ? k : 0) && layers_ - i - j >= need(k);
  }
  // Cost of group k's lower chunk taking a layers after the first i, and of its upper chunk taking
  // b layers before the last j (paired only).
  int64_t lower_cost(int64_t k, int64_t i, int64_t a) const { return span(i, i + a) + extras(lower_chunk(k)); }
  int64_t upper_cost(int64_t k, int64_t j, int64_t b) const {
    return span(layers_ - j - b, layers_ - j) + extras(upper_chunk(k));
  }

  // The last group on what is left: its cost, and (paired) where its two chunks meet.
  struct Last {
    int64_t cost = 0;
    SquareSum squares = 0;
    int64_t lower_layers = 0;
  };
  Last last_group(int64_t i, int64_t j) const {
    const int64_t k = groups_ - 1, end = layers_ - j;
    Last out;
    if (!paired_) {
      out.cost = span(i, end) + extras(k);
      out.squares = square(out.cost);
      out.lower_layers = end - i;
      return out;
    }
    const int64_t lo_extra = extras(k), hi_extra = extras(k + 1);
    out.cost = span(i, end) + lo_extra + hi_extra;
    // The lower chunk [i, m), m in [i+1, end-1]; its cost grows with m, the squares are least where it
    // is closest to half the group's cost; ties to the smallest m.
    auto lower = [&](int64_t m) { return span(i, m) + lo_extra; };
    int64_t m1 = i + 1, hi = end - 1;
    {
      int64_t a = i + 1, b = hi + 1;
      while (a < b) {
        const int64_t mid = a + (b - a) / 2;
        if (2 * lower(mid) >= out.cost) b = mid; else a = mid + 1;
      }
      m1 = a;
    }
    int64_t best_m = -1;
    SquareSum best = kNoSum;
    for (int64_t m : {m1 - 1, m1}) {
      if (m < i + 1 || m > hi) continue;
      const SquareSum s = square(lower(m)) + square(out.cost - lower(m));
      if (s < best) {
        best = s;
        best_m = m;
      }
    }
    // The smallest m with the chosen lower cost (zero-cost layers leave several).
    const int64_t value = lower(best_m);
    int64_t a = i + 1, b = best_m;
    while (a < b) {
      const int64_t mid = a + (b - a) / 2;
      if (lower(mid) >= value) b = mid; else a = mid + 1;
    }
    out.squares = best;
    out.lower_layers = a - i;
    return out;
  }

  // Calls visit(a, b, group cost) over group k's choices from (i, j) in the tie order (a, then b,
  // ascending) while the group cost stays at most bound() (costs grow with a and with b, so the
  // loops stop there); singletons have b = 0.
  template <typename Bound, typename Visit>
  void choices(int64_t k, int64_t i, int64_t j, Bound&& bound, Visit&& visit) {
    const int64_t room = std::min(layers_ - i - j - need(k + 1), cap_);
    for (int64_t a = 1; a <= room - (paired_ ? 1 : 0); ++a) {
      const int64_t front = lower_cost(k, i, a);
      if (front + (paired_ ? upper_cost(k, j, 1) : 0) > bound()) return;
      for (int64_t b = paired_ ? 1 : 0; a + b <= room; ++b) {
        ++work_;
        const int64_t cost = front + (paired_ ? upper_cost(k, j, b) : 0);
        if (cost > bound()) break;
        visit(a, b, cost);
        if (!paired_) break;
      }
    }
  }

  SquareSum group_squares(int64_t k, int64_t i, int64_t j, int64_t a, int64_t b) const {
    return square(lower_cost(k, i, a)) + (paired_ ? square(upper_cost(k, j, b)) : 0);
  }

  void fill_min_max(int64_t k) {
    for (int64_t i = 0; i <= layers_; ++i)
      for (int64_t j = 0; j <= back_; ++j) {
        if (!valid(k, i, j) || over_budget()) continue;
        int64_t& best = min_max_[index(k, i, j)];
        if (k == groups_ - 1) {
          if (layers_ - i - j <= cap_) best = last_group(i, j).cost;
          continue;
        }
        // Only a group cheaper than the best so far can improve on it.
        choices(k, i, j, [&] { return best == kNoCost ? kNoCost : best - 1; }, [&](int64_t a, int64_t b, int64_t cost) {
          best = std::min(best, std::max(cost, min_max_[index(k + 1, i + a, j + b)]));
        });
      }
  }

  void fill_squares(int64_t k) {
    for (int64_t i = 0; i <= layers_; ++i)
      for (int64_t j = 0; j <= back_; ++j) {
        if (!valid(k, i, j) || over_budget() || min_max_[index(k, i, j)] > limit_) continue;
        SquareSum& best = squares_[index(k, i, j)];
        if (k == groups_ - 1) {
          best = last_group(i, j).squares;
          continue;
        }
        choices(k, i, j, [&] { return limit_; }, [&](int64_t a, int64_t b, int64_t) {
          const SquareSum rest = squares_[index(k + 1, i + a, j + b)];
          if (rest != kNoSum) best = std::min(best, rest + group_squares(k, i, j, a, b));
        });
      }
  }

  // From (0, 0, 0), the first choice in the tie order that reaches the least squares, group by group.
  std::vector<int64_t> reconstruct() {
    std::vector<int64_t> counts(size_t(chunks_), 0);
    int64_t i = 0, j = 0;
    for (int64_t k = 0; k + 1 < groups_; ++k) {
      const SquareSum target = squares_[index(k, i, j)];
      int64_t pick_a = -1, pick_b = -1;
      choices(k, i, j, [&] { return pick_a < 0 ? limit_ : int64_t(-1); }, [&](int64_t a, int64_t b, int64_t) {
        const SquareSum rest = squares_[index(k + 1, i + a, j + b)];
        if (pick_a < 0 && rest != kNoSum && rest + group_squares(k, i, j, a, b) == target) {
          pick_a = a;
          pick_b = b;
        }
      });
      if (pick_a < 0) throw std::logic_error("balanced_layer_split: no choice reaches the optimum");
      counts[size_t(lower_chunk(k))] = pick_a;
      if (paired_) counts[size_t(upper_chunk(k))] = pick_b;
      i += pick_a;
      j += pick_b;
    }
    const Last last = last_group(i, j);
    const int64_t k = groups_ - 1;
    counts[size_t(k)] = last.lower_layers;
    if (paired_) counts[size_t(k + 1)] = layers_ - i - j - last.lower_layers;
    return counts;
  }
};

// Interleaved 1F1B: a rank runs its V chunks {r, r+pp, ...} for every micro-batch, so its stage cost is
// their sum, a grouping the search above (groups from both ends of the model) does not cover. A local
// search from the even split instead: move one layer's worth of count from one chunk to another while
// that lowers (largest stage cost, summed squared chunk costs), taking the first improving move in a
// fixed order, so the result is a function of the costs alone. Not proven optimal; empty past `max_work`
// evaluated layers.
std::vector<int64_t> interleaved_split(const LayerCosts& costs, const PipelineShape& shape, int64_t max_stage_layers,
                                       int64_t max_work) {
  const int32_t chunks = model_chunks(shape);
  const int64_t layers = int64_t(costs.layer.size());
  std::vector<int64_t> counts = even_layer_split(layers, chunks);
  struct Key {
    int64_t max_stage = 0;
    SquareSum squares = 0;
    bool operator<(const Key& o) const { return max_stage != o.max_stage ? max_stage < o.max_stage : squares < o.squares; }
  };
  int64_t work = 0;
  auto key_of = [&](const std::vector<int64_t>& c) -> std::optional<Key> {
    work += layers + chunks;
    const std::vector<int64_t> per_chunk = chunk_costs(costs, c);
    Key k;
    for (int32_t r = 0; r < shape.pp; ++r) {
      int64_t sum = 0, held = 0;
      for (int32_t v = r; v < chunks; v += shape.pp) {
        sum += per_chunk[size_t(v)];
        held += c[size_t(v)];
      }
      if (max_stage_layers > 0 && held > max_stage_layers) return std::nullopt;
      k.max_stage = std::max(k.max_stage, sum);
    }
    for (int64_t x : per_chunk) k.squares += square(x);
    return k;
  };
  std::optional<Key> best = key_of(counts);
  if (!best) return {};
  for (bool moved = true; moved;) {
    moved = false;
    for (int32_t from = 0; from < chunks && !moved; ++from) {
      if (counts[size_t(from)] <= 1) continue;
      for (int32_t to = 0; to < chunks && !moved; ++to) {
        if (to == from) continue;
        --counts[size_t(from)];
        ++counts[size_t(to)];
        const std::optional<Key> k = key_of(counts);
        if (k && *k < *best) {
          best = k;
          moved = true;
        } else {
          ++counts[size_t(from)];
          --counts[size_t(to)];
        }
        if (work > max_work) return {};
      }
    }
  }
  return counts;
}

}  // namespace

std::vector<int64_t> balanced_layer_split(const LayerCosts& costs, const PipelineShape& shape, int64_t max_stage_layers,
                                          int64_t max_states) {
  const int32_t chunks = model_chunks(shape);
  if (int64_t(costs.layer.size()) < chunks)
    throw std::invalid_argument(fmt::format("{} layers cannot fill {} model chunks", costs.layer.size(), chunks));
  if (costs.first_chunk < 0 || costs.last_chunk < 0 ||
      std::any_of(costs.layer.begin(), costs.layer.end(), [](int64_t c) { return c < 0; }))
    throw std::invalid_argument("layer split: costs must not be negative");
  if (shape.kind == ScheduleKind::Interleaved) return interleaved_split(costs, shape, max_stage_layers, max_states * 64);
  SplitSearch search(costs, shape, max_stage_layers);
  if (search.states() > double(max_states)) return {};
  return search.run(max_states * 64);
}

}  // namespace tandem::ir
