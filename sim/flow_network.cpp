// Max-min fair sharing by progressive filling over the component of transfers that share links
// with a changed one (see flow_network.h). A link crossed by one transfer only bounds that transfer
// (its `cap`); only links with two or more users enter the filling.
#include "sim/flow_network.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tandem::sim {

FlowNetwork::FlowNetwork(std::vector<double> capacities)
    : capacity_(std::move(capacities)),
      users_(capacity_.size()),
      link_stamp_(capacity_.size(), 0),
      link_rem_(capacity_.size(), 0.0),
      link_sum_(capacity_.size(), 0.0),
      link_open_(capacity_.size(), 0) {}

uint32_t FlowNetwork::start(int64_t now, std::span<const LinkLoad> loads, double bytes, double flows, uint64_t owner) {
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = uint32_t(transfers_.size());
    transfers_.emplace_back();
  }
  Transfer& t = transfers_[id];
  t.loads = loads.data();
  t.n_loads = uint32_t(loads.size());
  t.version += 1;
  t.bytes = bytes;
  t.flows = flows > 0 ? flows : 1.0;
  t.remaining = bytes;
  t.rate = 0;
  t.level = 0;
  t.since_ns = now;
  t.owner = owner;
  t.active = true;
  t.frozen = false;
  t.cap = std::numeric_limits<double>::infinity();
  for (const LinkLoad& l : loads) {
    if (l.bytes <= 0) continue;
    const double coeff = bytes > 0 ? l.bytes * t.flows / bytes : 0.0;
    const double c = capacity_[size_t(l.link)];
    if (!(c > 0)) throw std::logic_error("transfer over link " + std::to_string(l.link) + " of zero capacity");
    t.cap = std::min(t.cap, c / coeff);
    auto& u = users_[size_t(l.link)];
    u.push_back(User{id, coeff});
    // A link turning shared makes its other user part of the next solve.
    if (u.size() == 2 && !transfers_[u.front().id].dirty) {
      transfers_[u.front().id].dirty = true;
      dirty_.push_back(u.front().id);
    }
  }
  t.dirty = true;
  dirty_.push_back(id);
  ++active_;
  ++started_;
  return id;
}

void FlowNetwork::freeze(uint32_t id, double level) {
  Transfer& t = transfers_[id];
  t.frozen = true;
  t.level = level;
  for (uint32_t i = 0; i < t.n_loads; ++i) {
    const LinkLoad& l = t.loads[i];
    if (l.bytes <= 0 || link_stamp_[size_t(l.link)] != stamp_) continue;
    const double coeff = l.bytes * t.flows / t.bytes;
    link_rem_[size_t(l.link)] = std::max(0.0, link_rem_[size_t(l.link)] - coeff * level);
    link_sum_[size_t(l.link)] -= coeff;
    link_open_[size_t(l.link)] -= 1;
  }
}

void FlowNetwork::solve(int64_t now, std::vector<Finish>& out) {
  if (dirty_.empty()) return;
  ++solves_;
  ++stamp_;
  comp_.clear();
  comp_links_.clear();
  // Component: breadth-first over links shared by two or more transfers.
  for (uint32_t id : dirty_) {
    Transfer& t = transfers_[id];
    t.dirty = false;
    if (!t.active || t.stamp == stamp_) continue;
    t.stamp = stamp_;
    comp_.push_back(id);
  }
  dirty_.clear();
  for (size_t head = 0; head < comp_.size(); ++head) {
    const Transfer& t = transfers_[comp_[head]];
    for (uint32_t i = 0; i < t.n_loads; ++i) {
      const int32_t link = t.loads[i].link;
      const auto& u = users_[size_t(link)];
      if (u.size() < 2 || link_stamp_[size_t(link)] == stamp_) continue;
      link_stamp_[size_t(link)] = stamp_;
      comp_links_.push_back(uint32_t(link));
      for (const User& v : u) {
        Transfer& o = transfers_[v.id];
        if (o.stamp != stamp_) {
          o.stamp = stamp_;
          comp_.push_back(v.id);
        }
      }
    }
  }
  for (uint32_t id : comp_) transfers_[id].frozen = false;
  for (uint32_t link : comp_links_) {
    link_rem_[link] = capacity_[link];
    double s = 0;
    for (const User& v : users_[link]) s += v.coeff;
    link_sum_[link] = s;
    link_open_[link] = uint32_t(users_[link].size());
  }
  // Progressive filling: raise every unfrozen transfer's level together until a link saturates or a
  // transfer meets its own cap; freeze those; repeat.
  size_t unfrozen = comp_.size();
  constexpr double kTie = 1e-12;
  while (unfrozen > 0) {
    double level = std::numeric_limits<double>::infinity();
    for (uint32_t id : comp_)
      if (!transfers_[id].frozen) level = std::min(level, transfers_[id].cap);
    for (uint32_t link : comp_links_)
      if (link_open_[link] > 0 && link_sum_[link] > 0) level = std::min(level, link_rem_[link] / link_sum_[link]);
    const double limit = level * (1.0 + kTie);
    const size_t before = unfrozen;
    for (uint32_t link : comp_links_) {
      if (link_open_[link] == 0 || !(link_sum_[link] > 0) || link_rem_[link] / link_sum_[link] > limit) continue;
      for (const User& v : users_[link])
        if (!transfers_[v.id].frozen) {
          freeze(v.id, level);
          --unfrozen;
        }
    }
    for (uint32_t id : comp_)
      if (!transfers_[id].frozen && transfers_[id].cap <= limit) {
        freeze(id, level);
        --unfrozen;
      }
    if (unfrozen == before)   // rounding left no constraint binding: the rest share this level
      for (uint32_t id : comp_)
        if (!transfers_[id].frozen) {
          freeze(id, level);
          --unfrozen;
        }
  }
  for (uint32_t id : comp_) {
    Transfer& t = transfers_[id];
    const double rate = t.level * t.flows;
    if (rate == t.rate) continue;   // unchanged: its finish event stands
    if (t.rate > 0 && now > t.since_ns) t.remaining = std::max(0.0, t.remaining - t.rate * double(now - t.since_ns) * 1e-9);
    t.since_ns = now;
    t.rate = rate;
    t.version += 1;
    int64_t finish = now;
    if (t.remaining > 0) {
      if (!(rate > 0) || std::isinf(t.remaining / rate)) throw std::logic_error("transfer with no bandwidth");
      finish = now + int64_t(std::ceil(t.remaining / rate * 1e9 - 1e-6));
    }
    if (std::isinf(rate)) finish = now;
    out.push_back(Finish{id, t.version, finish});
  }
}

bool FlowNetwork::finish(uint32_t id, uint32_t version, uint64_t* owner) {
  if (id >= transfers_.size()) return false;
  Transfer& t = transfers_[id];
  if (!t.active || t.version != version) return false;
  t.active = false;
  t.version += 1;
  *owner = t.owner;
  for (uint32_t i = 0; i < t.n_loads; ++i) {
    if (t.loads[i].bytes <= 0) continue;
    auto& u = users_[size_t(t.loads[i].link)];
    for (size_t k = 0; k < u.size(); ++k)
      if (u[k].id == id) {
        u.erase(u.begin() + std::ptrdiff_t(k));
        break;
      }
    // The transfers left on a link it shared get more: re-solve them.
    for (const User& v : u)
      if (!transfers_[v.id].dirty) {
        transfers_[v.id].dirty = true;
        dirty_.push_back(v.id);
      }
  }
  free_.push_back(id);
  --active_;
  return true;
}

}  // namespace tandem::sim
