// Hand-computed tests of the flow-level network: max-min shares, re-sharing when a flow arrives or
// leaves, bottlenecks on different links, weighted transfers and partial loads.
#include <catch2/catch.hpp>

#include <map>

#include "sim/event_queue.h"
#include "sim/flow_network.h"

using namespace tandem::sim;

namespace {
constexpr double GB = 1e9;

// Drives a FlowNetwork with the event queue the way the replay does: events at one instant are
// processed, then the network is re-solved once before time advances.
struct NetSim {
  FlowNetwork net;
  EventQueue q;
  std::vector<std::vector<LinkLoad>> loads;   // kept alive for the transfers
  std::map<uint64_t, int64_t> done_ns;        // owner -> finish time
  std::vector<FlowNetwork::Finish> fin;

  explicit NetSim(std::vector<double> caps) : net(std::move(caps)) { loads.reserve(64); }
  void at(int64_t t, std::vector<LinkLoad> l, double bytes, double flows, uint64_t owner) {
    loads.push_back(std::move(l));
    q.push(t, 1, uint32_t(loads.size() - 1), owner | (uint64_t(bytes) << 16) | (uint64_t(flows) << 56));
  }
  void run() {
    int64_t now = 0;
    for (;;) {
      if (net.needs_solve() && (q.empty() || q.top_time() > now)) {
        fin.clear();
        net.solve(now, fin);
        for (const auto& f : fin) q.push(f.time_ns, 2, f.id, f.version);
        continue;
      }
      if (q.empty()) break;
      const Event e = q.pop();
      now = e.time_ns;
      if (e.kind == 1) {
        const double bytes = double((e.b >> 16) & ((uint64_t(1) << 40) - 1));
        net.start(now, loads[e.a], bytes, double(e.b >> 56), e.b & 0xffff);
      } else {
        uint64_t owner = 0;
        if (net.finish(e.a, uint32_t(e.b), &owner)) done_ns[owner] = now;
      }
    }
  }
};
}  // namespace

TEST_CASE("two flows on one link get half each and a third arriving re-shares", "[sim][network]") {
  // One link of 12 GB/s. A and B, 12 GB each, start at 0: 6 GB/s each.
  // At 1 s, C (2 GB) arrives: 4 GB/s each. A and B have 12 - 6 = 6 GB left.
  // C ends at 1 + 2/4 = 1.5 s. A and B then have 6 - 2 = 4 GB left at 6 GB/s: end at 1.5 + 4/6 = 2.1667 s.
  NetSim s({12 * GB});
  s.at(0, {{0, 12 * GB}}, 12 * GB, 1, 1);
  s.at(0, {{0, 12 * GB}}, 12 * GB, 1, 2);
  s.at(1'000'000'000, {{0, 2 * GB}}, 2 * GB, 1, 3);
  s.run();
  CHECK(s.done_ns[3] == 1'500'000'000);
  CHECK(s.done_ns[1] == Approx(2'166'666'667).margin(1));
  CHECK(s.done_ns[2] == s.done_ns[1]);
  CHECK(s.net.active() == 0);
}

TEST_CASE("one flow alone takes bytes over capacity", "[sim][network]") {
  // 3 GB over 10 GB/s = 0.3 s
  NetSim s({10 * GB});
  s.at(0, {{0, 3 * GB}}, 3 * GB, 1, 7);
  s.run();
  CHECK(s.done_ns[7] == 300'000'000);
}

TEST_CASE("max-min: a flow held back elsewhere leaves the rest to the other", "[sim][network]") {
  // Link 0: 10 GB/s, link 1: 4 GB/s. A crosses link 0; B crosses links 0 and 1.
  // B is bottlenecked at link 1 (4 GB/s); A gets 10 - 4 = 6 GB/s.
  // A: 6 GB -> 1 s. B: 8 GB -> 2 s (after A ends B still can't exceed 4 GB/s).
  NetSim s({10 * GB, 4 * GB});
  s.at(0, {{0, 6 * GB}}, 6 * GB, 1, 1);
  s.at(0, {{0, 8 * GB}, {1, 8 * GB}}, 8 * GB, 1, 2);
  s.run();
  CHECK(s.done_ns[1] == 1'000'000'000);
  CHECK(s.done_ns[2] == 2'000'000'000);
}

TEST_CASE("a transfer standing for two flows gets two shares", "[sim][network]") {
  // Link of 9 GB/s shared by a 2-flow transfer and a single flow: 6 and 3 GB/s.
  // The 2-flow transfer: 6 GB -> 1 s; the single flow: 3 GB -> 1 s as well.
  NetSim s({9 * GB});
  s.at(0, {{0, 6 * GB}}, 6 * GB, 2, 1);
  s.at(0, {{0, 3 * GB}}, 3 * GB, 1, 2);
  s.run();
  CHECK(s.done_ns[1] == 1'000'000'000);
  CHECK(s.done_ns[2] == 1'000'000'000);
}

TEST_CASE("a coflow moves as one weighted flow: its parts cannot run ahead of each other", "[sim][network]") {
  // A coflow of 10 GB: 8 GB cross link 0, 2 GB cross link 1 (both 8 GB/s); a flow F of 4 GB on link 1.
  // Level t is each transfer's rate. Link 0: 0.8 t <= 8 (t <= 10). Link 1: 0.2 t + t <= 8 (t <= 6.667).
  // Link 1 saturates first: both run at 6.667 GB/s. F ends at 4 / 6.667 = 0.6 s, when the coflow has
  // 10 - 0.6 * 6.667 = 6 GB left; alone it runs at 10 GB/s (link 0 bound): ends at 0.6 + 0.6 = 1.2 s.
  NetSim s({8 * GB, 8 * GB});
  s.at(0, {{0, 8 * GB}, {1, 2 * GB}}, 10 * GB, 1, 1);
  s.at(0, {{1, 4 * GB}}, 4 * GB, 1, 2);
  s.run();
  CHECK(s.done_ns[2] == 600'000'000);
  CHECK(s.done_ns[1] == 1'200'000'000);
}

TEST_CASE("transfers on disjoint links do not disturb each other", "[sim][network]") {
  NetSim s({5 * GB, 5 * GB});
  s.at(0, {{0, 5 * GB}}, 5 * GB, 1, 1);
  s.at(500'000'000, {{1, 5 * GB}}, 5 * GB, 1, 2);
  s.run();
  CHECK(s.done_ns[1] == 1'000'000'000);
  CHECK(s.done_ns[2] == 1'500'000'000);
}

TEST_CASE("zero-capacity link is refused", "[sim][network]") {
  FlowNetwork net({0.0});
  const LinkLoad l{0, 1.0};
  CHECK_THROWS_AS(net.start(0, std::span(&l, 1), 1.0, 1, 0), std::logic_error);
}

TEST_CASE("event queue breaks ties by insertion order", "[sim][queue]") {
  EventQueue q;
  q.push(5, 0, 1, 0);
  q.push(3, 0, 2, 0);
  q.push(5, 0, 3, 0);
  q.push(3, 0, 4, 0);
  q.push(5, 0, 5, 0);
  std::vector<uint32_t> order;
  order.push_back(q.pop().a);   // 2 (t=3)
  q.push(3, 0, 6, 0);           // same time as the current one: after 4
  q.push(1000, 0, 7, 0);
  q.push(5, 0, 8, 0);           // after 1, 3, 5
  while (!q.empty()) order.push_back(q.pop().a);
  CHECK(order == std::vector<uint32_t>{2, 4, 6, 1, 3, 5, 8, 7});
  CHECK(q.pushed() == 8);
  CHECK_THROWS_AS(q.push(999, 0, 9, 0), std::logic_error);   // before the last event taken (1000)
}

TEST_CASE("event queue orders many events by time, then insertion", "[sim][queue]") {
  // Pseudo-random times pushed while popping; the popped sequence must be sorted by (time, insertion).
  EventQueue q;
  uint64_t x = 12345;
  std::vector<std::pair<int64_t, uint32_t>> popped;
  uint32_t id = 0;
  int64_t now = 0;
  for (int round = 0; round < 2000; ++round) {
    for (int k = 0; k < 3; ++k) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      q.push(now + int64_t((x >> 33) % 64), 0, id++, 0);
    }
    const Event e = q.pop();
    now = e.time_ns;
    popped.emplace_back(e.time_ns, e.a);
  }
  while (!q.empty()) {
    const Event e = q.pop();
    popped.emplace_back(e.time_ns, e.a);
  }
  CHECK(popped.size() == 6000);
  for (size_t i = 1; i < popped.size(); ++i) {
    INFO(i);
    REQUIRE(popped[i - 1].first <= popped[i].first);
    if (popped[i - 1].first == popped[i].first) REQUIRE(popped[i - 1].second < popped[i].second);
  }
}
