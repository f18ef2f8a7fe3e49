// The Communicator interface: point-to-point send/receive, all-to-all-v, all-reduce, reduce-scatter
// and all-gather among groups of ranks, each call placed in the order of a Stream. The in-process
// implementation (ranks are threads) is inproc_communicator.h; an NCCL one fits the same calls.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "backend/runtime/device.h"

namespace tandem::backend {

// Thrown by every waiting call once the communicator's world has been aborted (a rank failed, or a
// collective waited past the time limit); the message says why.
class CommAborted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ReduceType : uint8_t { F32, F64 };
size_t reduce_type_bytes(ReduceType t);

// Calls are made by work running in stream order on `stream` (the CPU executor runs them on the
// stream's thread and they return when done; an NCCL implementation enqueues on the native stream).
// `group` lists global ranks in group order and contains this rank; every member makes the same call
// with the same `tag` (the StepProgram's matching tag). Sums run in group order, so results do not
// depend on arrival order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Eager send: returns once the message is handed over, without waiting for the receiver.
  virtual void send(int peer, const void* data, size_t bytes, int64_t tag, Stream& stream) = 0;
  // Blocks until the message (peer -> this rank, `tag`) is in `data`; its size must be `bytes`.
  virtual void recv(int peer, void* data, size_t bytes, int64_t tag, Stream& stream) = 0;

  // group[i] receives send_bytes[i] bytes starting at send + send_offsets[i]; the bytes from group[i]
  // land at recv + recv_offsets[i] and must be recv_bytes[i] long (exchange counts first when unknown).
  virtual void all_to_all_v(std::span<const int> group, const void* send, std::span<const size_t> send_offsets,
                            std::span<const size_t> send_bytes, void* recv, std::span<const size_t> recv_offsets,
                            std::span<const size_t> recv_bytes, int64_t tag, Stream& stream) = 0;
  // In place: data[i] = Σ over members in group order of their data[i].
  virtual void all_reduce_sum(std::span<const int> group, void* data, size_t count, ReduceType type, int64_t tag,
                              Stream& stream) = 0;
  // send holds group.size() shards of `shard_count` elements; member j receives in `recv` the sum
  // (in group order) of every member's shard j.
  virtual void reduce_scatter_sum(std::span<const int> group, const void* send, void* recv, size_t shard_count,
                                  ReduceType type, int64_t tag, Stream& stream) = 0;
  // recv[j * bytes_per_rank ...] = member j's `send` (bytes_per_rank bytes each).
  virtual void all_gather(std::span<const int> group, const void* send, void* recv, size_t bytes_per_rank,
                          int64_t tag, Stream& stream) = 0;

  // Ends every pending and future waiting call of every rank with CommAborted(reason).
  virtual void abort(const std::string& reason) = 0;
};

}  // namespace tandem::backend
