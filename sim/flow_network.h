// Flow-level network: transfers cross links and share their capacity max-min fairly; the shares are
// re-solved (progressive filling) when a transfer starts or ends, only over the transfers connected
// to it through shared links, and lazily: once per instant, however many changes it held.
// A transfer may stand for several point-to-point flows moving in step (a collective's members, an
// all-to-all coflow): it has per-link byte loads and a weight (the flows it stands for) in the share.
#pragma once
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace tandem::sim {

struct LinkLoad {
  int32_t link;
  double bytes;   // bytes of the transfer that cross this link
};

class FlowNetwork {
 public:
  struct Finish {
    uint32_t id, version;
    int64_t time_ns;
  };

  explicit FlowNetwork(std::vector<double> capacities_bytes_per_s);

  size_t links() const { return capacity_.size(); }
  double capacity(int32_t link) const { return capacity_[size_t(link)]; }
  // Only for links no active transfer crosses (e.g. a communication kernel's SM limit).
  void set_capacity(int32_t link, double bytes_per_s) { capacity_[size_t(link)] = bytes_per_s; }

  // Starts a transfer of `bytes` in total; loads[i].bytes of them cross loads[i].link (each link
  // once). `flows` is its weight in the max-min share. `loads` must stay alive until it finishes.
  // The rate is set at the next solve(). Throws std::logic_error on a load over a 0-capacity link.
  uint32_t start(int64_t now, std::span<const LinkLoad> loads, double bytes, double flows, uint64_t owner);
  bool needs_solve() const { return !dirty_.empty(); }
  // Re-solves the components touched since the last call; appends the new finish time of every
  // transfer whose rate changed (earlier finish events of those transfers become stale).
  void solve(int64_t now, std::vector<Finish>& out);
  // A finish event fired: if it is the transfer's current one, removes the transfer, sets *owner and
  // returns true; stale events return false.
  bool finish(uint32_t id, uint32_t version, uint64_t* owner);

  double rate(uint32_t id) const { return transfers_[id].rate; }
  size_t active() const { return active_; }
  uint64_t solves() const { return solves_; }
  uint64_t started() const { return started_; }

 private:
  struct User {
    uint32_t id;
    double coeff;   // link bytes per unit of share level: bytes_on_link * flows / bytes
  };
  struct Transfer {
    const LinkLoad* loads = nullptr;
    uint32_t n_loads = 0;
    uint32_t version = 0;
    double bytes = 0, flows = 1, remaining = 0, rate = 0;
    double cap = std::numeric_limits<double>::infinity();  // level limit from its own links alone
    double level = 0;
    int64_t since_ns = 0;
    uint64_t owner = 0;
    uint32_t stamp = 0;
    bool active = false, frozen = false, dirty = false;
  };

  void freeze(uint32_t id, double level);

  std::vector<double> capacity_;
  std::vector<std::vector<User>> users_;
  std::vector<uint32_t> link_stamp_;
  std::vector<double> link_rem_, link_sum_;
  std::vector<uint32_t> link_open_;   // unfrozen users during a solve
  std::vector<Transfer> transfers_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> dirty_;
  std::vector<uint32_t> comp_, comp_links_;
  uint32_t stamp_ = 0;
  size_t active_ = 0;
  uint64_t solves_ = 0, started_ = 0;
};

}  // namespace tandem::sim
