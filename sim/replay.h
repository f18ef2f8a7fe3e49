// Internal to sim/: the state of one replay (ranks, streams, SM pools, collectives in flight, the
// network and the event loop). simulate() in simulate.h is the public entry point.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "hw/cost_model.h"
#include "hw/topology.h"
#include "sim/comm_bundles.h"
#include "sim/event_queue.h"
#include "sim/flow_network.h"
#include "sim/rank_classes.h"
#include "sim/simulate.h"
#include "sim/sm_pool.h"

namespace tandem::sim::detail {

inline constexpr int kStreams = ir::kStreams;

// Per role, shared by every rank playing it: stream lists, positions, activation markers, costs.
struct RoleTables {
  const ir::RankProgram* prog = nullptr;
  std::array<std::vector<int32_t>, kStreams> stream_ops;
  std::vector<int32_t> pos;            // per op: its index in its stream
  std::vector<uint8_t> act;            // per op: 1 = first forward op of its (chunk, mb), 2 = last backward op
  std::vector<int8_t> chunk_pos;       // per template: index of its chunk in prog->chunks, -1 none
  std::vector<int32_t> comm_index;     // per template: index among the role's comm templates, -1 none
  int32_t comm_templates = 0;
  // Per op, what ready() checks: the done counts of the in-order streams (compute, comm) it needs (the
  // largest stream position among its dependencies there, plus one) and the positions of the posted
  // p2p ops it waits for (p2p_deps[p2p_begin[op] .. p2p_begin[op + 1]]).
  std::vector<std::array<int32_t, 2>> need;
  std::vector<int32_t> p2p_begin, p2p_deps;
  // Per template, what the event loop asks of its payload on every op.
  struct TemplateInfo {
    bool comm = false;             // a communication op
    bool budgeted = false;         // launched on plan.compute_sms (FP8 GEMM)
    trace::GapCause cause = trace::GapCause::None;             // communication: the gap cause it ends
    trace::ComputePhase phase = trace::ComputePhase::Other;    // compute: its phase in the measures
  };
  std::vector<TemplateInfo> info;
  struct CostSlot {
    std::array<int32_t, 4> sms{};
    std::array<int64_t, 4> ns{};
    std::array<uint8_t, 4> source{};
    uint8_t used = 0, next = 0;
  };
  std::vector<CostSlot> cost;          // per template
  double flops = 0, flops_causal = 0;  // model FLOPs of one rank (GEMM + attention, no recompute)
  int64_t ranks = 0;                   // ranks playing the role
};

struct GroupInfo {
  int64_t leader = -1;
  int32_t expected = 0;
  int32_t bundle = -1;   // the collective's link loads when this rank arrives first (a function of rank and template)
};

struct RankState {
  int64_t rank = 0;
  uint32_t role = 0;
  std::array<int32_t, kStreams> next{}, done{};
  std::array<int32_t, kStreams> running{-1, -1, -1};
  std::array<int64_t, kStreams> start_ns{};
  std::array<KernelProgress, kStreams> kernel{};
  std::array<uint32_t, kStreams> kver{};
  SmPool pool;
  int32_t computing = 0;
  double slow = 1.0;
  bool record = false;
  std::optional<trace::RankMeasurer> measurer;   // the step's measures, fed as ops complete
  int64_t live_activation = 0;
  std::vector<GroupInfo> groups;       // per comm template of the role
  // The point-to-point stream issues in order but does not wait: its sends and receives are posted
  // (isend/irecv, as DualPipe's batched P2P ops) and complete independently; done bits by position.
  std::vector<uint64_t> p2p_done;
  int32_t p2p_in_flight = 0;
  RankStats stats;
};

inline constexpr int kAsyncStream = int(ir::Stream::P2P);

struct CollKey {
  int64_t tag, a, b;
  bool operator==(const CollKey&) const = default;
};
struct CollKeyHash {
  size_t operator()(const CollKey& k) const {
    uint64_t h = uint64_t(k.tag) * 0x9E3779B97F4A7C15ull;
    h ^= uint64_t(k.a) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= uint64_t(k.b) + 0x85EBCA77C2B2AE63ull + (h << 6) + (h >> 2);
    return size_t(h);
  }
};

// A transfer or collective in flight. Collectives start when every member has issued; a send starts
// when the sender issues (receive buffers are taken as posted) and its receive completes when it has
// both been issued and the data has arrived.
struct Collective {
  CollKey key{};
  int32_t expected = 0, arrived = 0;
  struct Member {
    uint32_t slot;
    int32_t op;
    int64_t start_ns;
  };
  std::vector<Member> members;                          // in arrival order
  size_t completed = 0;                                 // members already completed
  int32_t bundle = -1;
  bool p2p = false, delivered = false;
};

struct BundleKey {
  int64_t a, b, bytes;
  int32_t sms;
  uint8_t kind, purpose, group;
  bool operator==(const BundleKey&) const = default;
};
struct BundleKeyHash {
  size_t operator()(const BundleKey& k) const {
    return CollKeyHash{}(CollKey{k.bytes ^ (int64_t(k.sms) << 40) ^ (int64_t(k.kind) << 48) ^
                                     (int64_t(k.purpose) << 52) ^ (int64_t(k.group) << 58),
                                 k.a, k.b});
  }
};

struct GroupKeyHash {
  size_t operator()(const ir::StepProgram::GroupKey& k) const {
    return CollKeyHash{}(CollKey{int64_t(k.kind), k.a, k.b});
  }
};

class Replay {
 public:
  // classes: Mode::Classes, the classes (choose_path); one rank of each is simulated.
  Replay(const ProgramView& program, const ir::ClusterConfig& cluster, const SimOptions& options, Mode mode,
         RankClasses classes = {});
  SimResult run();

 private:
  enum EventKind : uint32_t { kKernelDone = 0, kNetDone = 1, kCommDone = 2 };

  void build_roles();
  void build_ranks();
  bool ready(const RankState& r, const RoleTables& t, int32_t op) const;
  void try_start(uint32_t slot);
  void start_op(uint32_t slot, int s, int32_t op);
  void start_compute(uint32_t slot, int s, int32_t op);
  void complete_op(uint32_t slot, int s, int32_t op, int64_t start);
  void rerate(uint32_t slot);
  void rerate_rank(uint32_t slot);
  // The cores of a host are one pool for every rank (ranks are threads of one process); a GPU's SMs are its own.
  SmPool& pool_of(RankState& r) { return host_ ? machine_pool_ : r.pool; }
  int32_t& computing_of(RankState& r) { return host_ ? machine_computing_ : r.computing; }
  // The share one compute op gets: its even part of the SMs (a GPU) or of the cores, which on a host
  // other processes' runnable threads share too.
  int64_t share_of(RankState& r, bool budgeted);
  // SMs a communication op holds: none on a host (its threads wait without running; the copy is the network's).
  int64_t comm_sms(const ir::Comm& c) const { return host_ ? 0 : c.sms; }
  int64_t kernel_ns(RankState& r, int32_t tmpl, int64_t sms, bool count);
  // Reports progress (SimOptions::progress) and throws TimeLimitReached past SimOptions::deadline;
  // `finished`: the replay's last report (no deadline check).
  void check_progress(bool finished = false) const;
  void finish_accounting();
  [[noreturn]] void report_deadlock() const;

  // replay_comm.cpp
  int64_t mapped(int64_t rank) const;
  const GroupInfo& group_info(RankState& r, const ir::OpInstance& op);
  void start_comm(uint32_t slot, int32_t op);
  void launch(uint32_t cid);
  void comm_done(uint32_t cid);
  int32_t bundle_for(const Collective& c);

  const ProgramView& program_;
  const SimOptions& options_;
  Mode mode_;
  const hw::HostSpec* host_;   // non-null: the cluster is the host (SimOptions::host)
  const hw::GpuSpec& gpu_;
  hw::Topology topology_;
  hw::CostModel cost_;
  BundleBuilder builder_;
  FlowNetwork net_;
  EventQueue queue_;
  int64_t now_ = 0;
  uint64_t started_ops_ = 0, total_ops_ = 0;   // for SimOptions::progress
  std::chrono::steady_clock::time_point wall0_;   // when run() began

  std::vector<RoleTables> roles_;
  std::vector<RankState> ranks_;       // simulated ranks
  std::vector<int32_t> slot_of_;       // rank -> slot, -1 when not simulated
  // The links whose loads the symmetric and class paths keep (sim/replay_comm.cpp): those of the GPUs
  // of simulated ranks (SM-limit links included) and the switch links of leaves holding one.
  std::vector<char> kept_link_;
  RankClasses classes_;                // Mode::Classes: the classes of ranks, one simulated per class
  std::array<ExactSum, hw::kLinkKinds> link_bytes_;   // SimResult::link_bytes, summed exactly
  std::vector<Collective> colls_;
  std::vector<uint32_t> free_colls_;
  std::unordered_map<CollKey, uint32_t, CollKeyHash> pending_;
  std::vector<std::unique_ptr<Bundle>> bundles_;
  std::unordered_map<BundleKey, int32_t, BundleKeyHash> bundle_cache_;
  // Per named group (ProgramView::group_key): its simulated leader and how many simulated ranks take part.
  std::unordered_map<ir::StepProgram::GroupKey, std::pair<int64_t, int32_t>, GroupKeyHash> group_members_;
  std::vector<uint32_t> transfer_owner_;
  std::vector<FlowNetwork::Finish> finishes_;
  std::vector<int64_t> scratch_group_;
  std::vector<uint32_t> slot_mark_;    // group_info: per slot, the last count that met it
  uint32_t mark_ = 0;
  std::vector<double> scratch_bytes_;
  SmPool machine_pool_;                // host: the machine's cores, shared by every rank's streams
  int32_t machine_computing_ = 0;      // host: compute ops running on the machine
  SimResult result_;
};

}  // namespace tandem::sim::detail
