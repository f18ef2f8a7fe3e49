// Layer splits: the even split, hand-computed balanced splits with unit costs (1F1B and the paired
// stages of DualPipe and DualPipeV), the tie rules, the dynamic program against every split of small
// random cases, and how StepProgram chooses its split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "ir/layer_split.h"
#include "ir/scenario.h"
#include "ir/step_program.h"

using namespace tandem::ir;

namespace {

LayerCosts unit_costs(int64_t layers, int64_t first = 0, int64_t last = 0) {
  return LayerCosts{std::vector<int64_t>(size_t(layers), 1), first, last};
}

PipelineShape shape(ScheduleKind kind, int32_t pp, int32_t micro_batches) { return {kind, pp, micro_batches}; }

int64_t largest(const std::vector<int64_t>& v) { return *std::max_element(v.begin(), v.end()); }

// Every split of the layers into chunks of at least one, ranked as balanced_layer_split ranks them:
// largest stage cost, then summed squared chunk costs, then the counts in the order outermost group
// first (lower chunk, then upper chunk).
std::vector<int64_t> brute_force(const LayerCosts& costs, const PipelineShape& s, int64_t cap = 0) {
  const int32_t chunks = model_chunks(s);
  const int64_t layers = int64_t(costs.layer.size());
  const bool paired = chunks_on_rank(s, 0).size() == 2;
  std::vector<int64_t> order;   // chunk indices in tie order
  for (int32_t k = 0; k < (paired ? chunks / 2 : chunks); ++k) {
    order.push_back(k);
    if (paired) order.push_back(chunks - 1 - k);
  }
  std::vector<int64_t> counts(size_t(chunks), 1), best;
  std::tuple<int64_t, double, std::vector<int64_t>> best_key{0, 0, {}};
  // Enumerate compositions: counts[0..chunks-2] free, the last takes the rest.
  std::function<void(int32_t, int64_t)> walk = [&](int32_t c, int64_t left) {
    if (c == chunks - 1) {
      counts[size_t(c)] = left;
      const auto stage = stage_costs(costs, counts, s);
      if (cap > 0)
        for (int32_t r = 0; r < s.pp; ++r) {
          int64_t held = 0;
          for (int32_t ch : chunks_on_rank(s, r)) held += counts[size_t(ch)];
          if (held > cap) return;
        }
      double squares = 0;
      for (int64_t x : chunk_costs(costs, counts)) squares += double(x) * double(x);
      std::vector<int64_t> tie;
      for (int64_t ch : order) tie.push_back(counts[size_t(ch)]);
      const auto key = std::make_tuple(largest(stage), squares, tie);
      if (best.empty() || key < best_key) {
        best_key = key;
        best = counts;
      }
      return;
    }
    for (int64_t n = 1; n <= left - (chunks - 1 - c); ++n) {
      counts[size_t(c)] = n;
      walk(c + 1, left - n);
    }
  };
  walk(0, layers);
  return best;
}

}  // namespace

TEST_CASE("even_layer_split gives the remainder to the chunks after the first", "[layer_split]") {
  CHECK(even_layer_split(61, 16) == std::vector<int64_t>{3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3});
  CHECK(even_layer_split(10, 4) == std::vector<int64_t>{2, 3, 3, 2});
  CHECK(even_layer_split(5, 1) == std::vector<int64_t>{5});
}

TEST_CASE("1F1B: a head costing two layers leaves the last stage one layer", "[layer_split]") {
  // 10 unit layers and a head of 2 on 4 stages: 12 / 4 = 3 per stage. The last stage takes 1 layer
  // + the head (3); the others 3 layers each. The even split (2, 3, 3, 2) puts 4 on the last stage.
  const auto s = shape(ScheduleKind::OneFOneB, 4, 8);
  const LayerCosts costs = unit_costs(10, 0, 2);
  const auto split = balanced_layer_split(costs, s);
  CHECK(split == std::vector<int64_t>{3, 3, 3, 1});
  CHECK(stage_costs(costs, split, s) == std::vector<int64_t>{3, 3, 3, 3});
  CHECK(stage_costs(costs, even_layer_split(10, 4), s) == std::vector<int64_t>{2, 3, 3, 4});
  // ZB1P places chunks as 1F1B does.
  CHECK(balanced_layer_split(costs, shape(ScheduleKind::ZeroBubble1P, 4, 8)) == split);
}

TEST_CASE("1F1B ties: least squares, then fewer layers on earlier stages", "[layer_split]") {
  // 10 unit layers on 4 stages: the least largest stage is 3. (3, 3, 3, 1) has squares 28; the splits
  // of two 3s and two 2s have 26; of those, the fewest layers first: (2, 2, 3, 3).
  CHECK(balanced_layer_split(unit_costs(10), shape(ScheduleKind::OneFOneB, 4, 8)) == std::vector<int64_t>{2, 2, 3, 3});
}

TEST_CASE("1F1B: dense layers cost what they cost", "[layer_split]") {
  // Costs 1, 1, 3, 3, 3, 3 (two cheap dense layers, four MoE) on 2 stages: 4 + 2 layers cost 8 and 6;
  // 3 + 3 cost 5 and 9; 5 + 1 cost 11 and 3. Least largest: (4, 2).
  const LayerCosts costs{{1, 1, 3, 3, 3, 3}, 0, 0};
  const auto s = shape(ScheduleKind::OneFOneB, 2, 4);
  CHECK(balanced_layer_split(costs, s) == std::vector<int64_t>{4, 2});
  CHECK(stage_costs(costs, {4, 2}, s) == std::vector<int64_t>{8, 6});
}

TEST_CASE("DualPipe balances the pair of chunks each rank holds", "[layer_split]") {
  // pp 4, chunks 0..3; ranks 0 and 3 hold {0, 3}, ranks 1 and 2 hold {1, 2}. 10 unit layers, the
  // embedding costs 1 (chunk 0), head + MTP 3 (chunk 3): 14 in all, 7 per pair. Pair {0, 3} gets
  // 3 layers (3 + 1 + 3 = 7), pair {1, 2} 7. Within {0, 3}: (n0, n3) = (1, 2) costs 2 and 5
  // (squares 29), (2, 1) costs 3 and 4 (25). Within {1, 2}: (3, 4) and (4, 3) both 25: fewer layers
  // on the lower chunk, (3, 4). The even split (2, 3, 3, 2) gives the pairs 8 and 6.
  const LayerCosts costs = unit_costs(10, 1, 3);
  const auto dualpipe = shape(ScheduleKind::DualPipe, 4, 8);
  const auto split = balanced_layer_split(costs, dualpipe);
  CHECK(split == std::vector<int64_t>{2, 3, 4, 1});
  CHECK(stage_costs(costs, split, dualpipe) == std::vector<int64_t>{7, 7, 7, 7});
  CHECK(stage_costs(costs, even_layer_split(10, 4), dualpipe) == std::vector<int64_t>{8, 6, 6, 8});
  // DualPipeV on pp 2 has the same four chunks and pairs: rank 0 {0, 3}, rank 1 {1, 2}.
  const auto v = shape(ScheduleKind::DualPipeV, 2, 4);
  CHECK(balanced_layer_split(costs, v) == split);
  CHECK(stage_costs(costs, split, v) == std::vector<int64_t>{7, 7});
}

TEST_CASE("A stage holds at most max_stage_layers layers", "[layer_split]") {
  // The case above with at most 6 layers a pair: pair {1, 2} takes 6, pair {0, 3} 4 (4 + 1 + 3 = 8).
  // Within {0, 3}: (3, 1) costs 4 and 4 (squares 32), (2, 2) 3 and 5 (34). Within {1, 2}: (3, 3).
  const LayerCosts costs = unit_costs(10, 1, 3);
  const auto dualpipe = shape(ScheduleKind::DualPipe, 4, 8);
  const auto split = balanced_layer_split(costs, dualpipe, 6);
  CHECK(split == std::vector<int64_t>{3, 3, 3, 1});
  CHECK(stage_costs(costs, split, dualpipe) == std::vector<int64_t>{8, 6, 6, 8});
  // 1F1B, head of 2 (first case) with at most 2 layers a stage: (2, 2, 2, 2) cannot hold 10; with 3: as before.
  CHECK(balanced_layer_split(unit_costs(10, 0, 2), shape(ScheduleKind::OneFOneB, 4, 8), 2).empty());
  CHECK(balanced_layer_split(unit_costs(10, 0, 2), shape(ScheduleKind::OneFOneB, 4, 8), 3) == std::vector<int64_t>{3, 3, 3, 1});
}

TEST_CASE("DualPipe on two ranks: one pair, split where its chunks cost the same", "[layer_split]") {
  // 5 unit layers, head 3 on chunk 1: the pair costs 8 whatever the split; (4, 1) costs 4 and 4.
  CHECK(balanced_layer_split(unit_costs(5, 0, 3), shape(ScheduleKind::DualPipe, 2, 4)) == std::vector<int64_t>{4, 1});
  // Without ends, 4 layers: (2, 2).
  CHECK(balanced_layer_split(unit_costs(4), shape(ScheduleKind::DualPipe, 2, 4)) == std::vector<int64_t>{2, 2});
}

TEST_CASE("balanced_layer_split matches an exhaustive search on small random cases", "[layer_split]") {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int64_t> cost(0, 9);
  int checked = 0;
  for (ScheduleKind kind : {ScheduleKind::OneFOneB, ScheduleKind::DualPipe, ScheduleKind::DualPipeV})
    for (int32_t pp : {1, 2, 3, 4}) {
      if (kind == ScheduleKind::DualPipe && pp % 2 != 0) continue;
      const auto s = shape(kind, pp, 4 * pp);
      const int32_t chunks = model_chunks(s);
      const bool paired = chunks_on_rank(s, 0).size() == 2;
      for (int64_t layers = chunks; layers <= std::min<int64_t>(chunks + 6, 11); ++layers)
        for (int round = 0; round < 6; ++round) {
          LayerCosts c;
          for (int64_t l = 0; l < layers; ++l) c.layer.push_back(cost(rng));
          c.first_chunk = cost(rng);
          c.last_chunk = 2 * cost(rng);
          const int64_t cap = round % 2 == 0 ? 0 : (layers + chunks - 1) / chunks * (paired ? 2 : 1) + round / 2 - 1;
          INFO("schedule " << to_string(kind) << " pp " << pp << " layers " << layers << " round " << round << " cap " << cap);
          CHECK(balanced_layer_split(c, s, cap) == brute_force(c, s, cap));
          ++checked;
        }
    }
  CHECK(checked > 100);
}

TEST_CASE("balanced_layer_split gives up beyond its state bound and refuses what cannot be split", "[layer_split]") {
  const auto s = shape(ScheduleKind::DualPipe, 4, 8);
  CHECK(balanced_layer_split(unit_costs(40), s, 0, 100).empty());
  // No split keeps both pairs within 4 of the 10 layers.
  CHECK(balanced_layer_split(unit_costs(10), s, 4).empty());
  CHECK_FALSE(balanced_layer_split(unit_costs(40), s).empty());
  CHECK_THROWS_AS(balanced_layer_split(unit_costs(3), s), std::invalid_argument);
  LayerCosts negative = unit_costs(8);
  negative.layer[2] = -1;
  CHECK_THROWS_AS(balanced_layer_split(negative, s), std::invalid_argument);
}

TEST_CASE("StepProgram splits as given, balanced on its op costs, or evenly without them", "[layer_split]") {
  // deepseek-v3-128: 16 layers on DualPipe pp 4. Each op costs 1: a layer costs its op count.
  const Scenario scenario = load_scenario("deepseek-v3-128");
  const OpCostFn one = [](const OpTemplate&) -> int64_t { return 1; };
  const StepProgram even(scenario);
  CHECK(even.layer_split().source == SplitSource::Even);
  CHECK(even.layer_split().layers == std::vector<int64_t>{4, 4, 4, 4});
  CHECK(even.layer_split().stage_cost.empty());

  const StepProgram balanced(scenario, one);
  const LayerSplit& split = balanced.layer_split();
  CHECK(split.source == SplitSource::Balanced);
  REQUIRE(split.costs.layer.size() == 16);
  // MoE layers have more ops than dense ones; the ends are not free.
  CHECK(split.costs.layer[15] > split.costs.layer[0]);
  CHECK(split.costs.first_chunk > 0);
  CHECK(split.costs.last_chunk > split.costs.first_chunk);
  CHECK(split.layers == balanced_layer_split(split.costs, balanced.pipeline(), 8));
  CHECK(split.stage_cost == stage_costs(split.costs, split.layers, balanced.pipeline()));
  CHECK(largest(split.stage_cost) <= largest(stage_costs(split.costs, {4, 4, 4, 4}, balanced.pipeline())));
  CHECK(balanced.chunk_layers()[0] == std::array<int32_t, 2>{0, int32_t(split.layers[0])});

  Scenario given_scenario = load_scenario("deepseek-v3-128", {"plan.layers_per_stage=[3,5,5,3]"});
  const StepProgram given(given_scenario, one);
  CHECK(given.layer_split().source == SplitSource::Given);
  CHECK(given.layer_split().layers == std::vector<int64_t>{3, 5, 5, 3});
  CHECK(given.layer_split().stage_cost == stage_costs(split.costs, {3, 5, 5, 3}, given.pipeline()));
}

TEST_CASE("interleaved 1F1B balances the sum of each rank's chunks", "[ir][split]") {
  // 10 unit layers, a head costing 2 layers, pp 2 with V = 2: rank 0 runs chunks 0 and 2, rank 1 chunks 1
  // and 3 (with the head). Total 12: 6 per rank at best, every chunk 3: [3, 3, 3, 1] (3 + 3 | 3 + 1 + 2).
  const PipelineShape s{ScheduleKind::Interleaved, 2, 4, 2};
  CHECK(balanced_layer_split(unit_costs(10, 0, 2), s) == std::vector<int64_t>{3, 3, 3, 1});
  CHECK(stage_costs(unit_costs(10, 0, 2), {3, 3, 3, 1}, s) == std::vector<int64_t>{6, 6});
  // At most 5 layers a rank (the even split [2, 3, 3, 2]'s): rank 1 keeps 5 layers and the head, 7; the
  // even split is as good as any other then (summed squares 38 either way), and the search stays there.
  CHECK(balanced_layer_split(unit_costs(10, 0, 2), s, 5) == std::vector<int64_t>{2, 3, 3, 2});
  // Without ends, the even split.
  CHECK(balanced_layer_split(unit_costs(8), s) == std::vector<int64_t>{2, 2, 2, 2});
}
