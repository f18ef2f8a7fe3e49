// The value store on its own: a value's versions (a recomputation writes a new one; a reader sees the
// newest issued before it), an activation gradient's parts (a reader sees the sum, in issue order, of
// the parts issued before it), micro-batches kept apart, and the errors it throws.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>

#include "backend/execution/values.h"

using namespace tandem::backend;

namespace {

ValuePtr floats(std::vector<float> data) {
  auto v = std::make_shared<Value>();
  v->rows = 1;
  v->cols = int64_t(data.size());
  v->data = std::move(data);
  return v;
}

}  // namespace

TEST_CASE("a reader sees the newest version written by an op issued before it", "[values]") {
  // Tensor 0 is a value, tensor 1 a gradient.
  TensorStore store({0, 1});
  const ValuePtr forward = floats({1, 2}), recomputed = floats({1, 2});
  store.write(0, 3, 4, forward);        // forward op #4, micro-batch 3
  store.write(0, 3, 20, recomputed);    // the recomputation, op #20
  CHECK(store.read(0, 3, 5, false, "x").get() == forward.get());
  CHECK(store.read(0, 3, 20, false, "x").get() == forward.get());   // an op does not see its own write
  CHECK(store.read(0, 3, 21, false, "x").get() == recomputed.get());
  // Issue order, not write order: a version written later by an op issued earlier is the older one.
  const ValuePtr early = floats({7, 7});
  store.write(0, 3, 2, early);
  CHECK(store.read(0, 3, 3, false, "x").get() == early.get());
  CHECK(store.read(0, 3, 21, false, "x").get() == recomputed.get());
  CHECK_FALSE(store.has(0, 3, 2));
  CHECK(store.has(0, 3, 3));
}

TEST_CASE("a gradient's reader sees the sum, in issue order, of the parts issued before it", "[values]") {
  TensorStore store({0, 1});
  REQUIRE(store.accumulates(1));
  REQUIRE_FALSE(store.accumulates(0));
  // Written out of issue order: op #7 first, then #2, then #5. In FP32, issue order sums
  // (1e8 + 1) - 1e8 = 0 (1 is below half of 1e8's spacing of 8); write order would give 1.
  store.write(1, 0, 7, floats({-1e8f}));
  store.write(1, 0, 2, floats({1e8f}));
  store.write(1, 0, 5, floats({1.0f}));
  CHECK(store.read(1, 0, 3, false, "g")->data == std::vector<float>{1e8f});          // one part: itself
  CHECK(store.read(1, 0, 6, false, "g")->data == std::vector<float>{1e8f});          // 1e8 + 1 rounds to 1e8
  CHECK(store.read(1, 0, 8, false, "g")->data == std::vector<float>{0.0f});
  // The sum is rounded to BF16 when asked: 1 + 2^-10 has no BF16 (8-bit mantissa) neighbour but 1.
  store.write(1, 1, 0, floats({1.0f}));
  store.write(1, 1, 1, floats({0x1p-10f}));
  CHECK(store.read(1, 1, 2, false, "g")->data == std::vector<float>{1.0f + 0x1p-10f});
  CHECK(store.read(1, 1, 2, true, "g")->data == std::vector<float>{1.0f});
}

TEST_CASE("micro-batches and step-wide values are kept apart and clear empties the store", "[values]") {
  TensorStore store({0});
  store.write(0, 0, 1, floats({1}));
  store.write(0, -1, 1, floats({2}));
  CHECK(store.read(0, 0, 2, false, "x")->data == std::vector<float>{1});
  CHECK(store.read(0, -1, 2, false, "x")->data == std::vector<float>{2});
  CHECK_FALSE(store.has(0, 1, 2));
  CHECK(store.float_bytes() == 8);
  store.clear();
  CHECK_FALSE(store.has(0, 0, 2));
  CHECK(store.float_bytes() == 0);
}

TEST_CASE("the store refuses reads of what nothing wrote before, and parts that do not add up", "[values]") {
  TensorStore store({0, 1});
  CHECK_THROWS_AS(store.read(0, 2, 5, false, "L3.q"), std::logic_error);
  CHECK_THROWS_WITH(store.read(0, 2, 5, false, "L3.q"), Catch::Contains("L3.q") && Catch::Contains("micro-batch 2"));
  store.write(0, 2, 5, floats({1}));
  CHECK_THROWS_WITH(store.read(0, 2, 5, false, "L3.q"), Catch::Contains("before anything wrote it"));
  store.write(1, 0, 1, floats({1, 2}));
  store.write(1, 0, 2, floats({1, 2, 3}));
  CHECK_THROWS_WITH(store.read(1, 0, 3, false, "L3.q.grad"), Catch::Contains("L3.q.grad") && Catch::Contains("parts of 2 and 3"));
}
