// In-process Communicator: ranks are threads of one process sharing an InProcessWorld. Sends copy
// into a mailbox; collectives meet at a rendezvous keyed by (group, tag), where each member reads the
// others' buffers directly and leaves only when all have finished reading.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "backend/runtime/communicator.h"

namespace tandem::backend {

class InProcessWorld {
 public:
  // `timeout`: how long a call may wait for its peers before the world is aborted as deadlocked.
  explicit InProcessWorld(int size, std::chrono::milliseconds timeout = std::chrono::minutes(5));
  int size() const { return size_; }
  void abort(const std::string& reason);
  bool aborted() const;
  // Bytes moved between ranks so far (sends plus collective traffic to other ranks), for tests.
  int64_t bytes_moved() const;

 private:
  friend class InProcessCommunicator;
  struct Slot {
    int arrived = 0;
    int finished = 0;
    std::vector<const void*> send;
    std::vector<size_t> sizes;                 // per member: a consistency check of the call
    std::vector<const size_t*> send_offsets;   // all-to-all-v
    std::vector<const size_t*> send_bytes;
  };
  using MailKey = std::tuple<int, int, int64_t>;   // (from, to, tag)
  using SlotKey = std::pair<std::string, int64_t>; // (group, tag)

  template <typename Pred>
  void wait(std::unique_lock<std::mutex>& lock, Pred pred, const std::string& what);

  int size_;
  std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool aborted_ = false;
  std::string abort_reason_;
  std::map<MailKey, std::deque<std::vector<std::byte>>> mail_;
  std::map<SlotKey, Slot> slots_;
  int64_t bytes_moved_ = 0;
};

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessWorld> world, int rank);
  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  void send(int peer, const void* data, size_t bytes, int64_t tag, Stream& stream) override;
  void recv(int peer, void* data, size_t bytes, int64_t tag, Stream& stream) override;
  void all_to_all_v(std::span<const int> group, const void* send, std::span<const size_t> send_offsets,
                    std::span<const size_t> send_bytes, void* recv, std::span<const size_t> recv_offsets,
                    std::span<const size_t> recv_bytes, int64_t tag, Stream& stream) override;
  void all_reduce_sum(std::span<const int> group, void* data, size_t count, ReduceType type, int64_t tag,
                      Stream& stream) override;
  void reduce_scatter_sum(std::span<const int> group, const void* send, void* recv, size_t shard_count,
                          ReduceType type, int64_t tag, Stream& stream) override;
  void all_gather(std::span<const int> group, const void* send, void* recv, size_t bytes_per_rank, int64_t tag,
                  Stream& stream) override;
  void abort(const std::string& reason) override { world_->abort(reason); }

 private:
  // Meets the other members: deposits `send` (+ size), waits for all, runs `body(slot, my_index)`
  // outside the lock, then waits until every member has finished its body.
  template <typename Body>
  void rendezvous(std::span<const int> group, int64_t tag, const char* what, const void* send, size_t size,
                  const size_t* send_offsets, const size_t* send_bytes, Body body);
  int index_in(std::span<const int> group, const char* what) const;

  std::shared_ptr<InProcessWorld> world_;
  int rank_;
};

}  // namespace tandem::backend
