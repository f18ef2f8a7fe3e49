// The NCCL implementation of Communicator: one rank per GPU, calls enqueued on the native stream of
// the CudaStream they are given, sub-groups served by sub-communicators split from the world one up
// front. Built only when NCCL is found (TANDEM_HAVE_NCCL). Deviations from the interface's contract
// are listed in docs/backend.md ("CUDA device and NCCL communicator").
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/runtime/communicator.h"
#include "backend/cuda/nccl_bootstrap.h"
#include "backend/cuda/nccl_check_cuda.h"

struct ncclComm;   // nccl.h's ncclComm_t is `struct ncclComm*`

namespace tandem::backend {

struct NcclOptions {
  // How long a rank other than 0 waits for the id file (create_from_file).
  std::chrono::milliseconds bootstrap_timeout = std::chrono::minutes(5);
  // A name of this launch (a job id) written into the id file: the other ranks wait past a file of
  // another launch (a stale one) instead of joining its dead id. "" matches only "".
  std::string launch;
  // Every group a call will use other than the world in world order and groups of one, the same set on
  // every rank (order and repeats do not matter): the sub-communicators are split from the world
  // communicator while it is created, because every rank of the world must take part in a split.
  // step_program_groups() gives them for a StepProgram. A call with a group not listed throws.
  std::vector<std::vector<int>> groups;
  // Checked mode: 16-byte headers (bytes, tag) before every message and collective, compared on the
  // GPU with what the receiver expects (see nccl_check_cuda.h). Default: on in builds without NDEBUG,
  // or when the environment has TANDEM_NCCL_CHECK=1.
  bool check_messages = default_check_messages();
  static bool default_check_messages();
};

class NcclCommunicator final : public Communicator {
 public:
  // One process, several GPUs: rank r on devices[r]. Ranks are initialised (ncclCommInitRank and the
  // splits) on one thread each. Destroy the communicators of one process concurrently too (one
  // thread each, as the test does): NCCL finalises the members of a communicator together.
  static std::vector<std::unique_ptr<NcclCommunicator>> create_local(const std::vector<int>& devices, const NcclOptions& options = {});
  // Several processes: this process is `rank` of `size` on CUDA device `device`. Rank 0 writes the
  // ncclUniqueId to `id_file` (temporary file + rename) and removes it once every rank has joined;
  // the others wait for it up to options.bootstrap_timeout. A file left by a failed launch is told
  // apart by options.launch (or use a fresh path per launch). Arguments and the id file are checked
  // before any CUDA or NCCL call.
  static std::unique_ptr<NcclCommunicator> create_from_file(const std::string& id_file, int rank, int size, int device,
                                                            const NcclOptions& options = {});
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }

  // Buffers are device memory of this rank's GPU; `stream` a stream of a CudaDevice on that GPU. Calls
  // return once the work is enqueued. Messages between two ranks match in the order they are issued
  // (over all streams), not by tag; a send stalls its stream until the matching recv runs; sending to
  // oneself is refused.
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
  // ncclCommAbort on every communicator of this rank (and, for create_local, of every local rank);
  // later calls throw CommAborted(reason). Work already enqueued is cut off. Ranks in other
  // processes are not reached: their pending work fails or hangs until they abort too.
  void abort(const std::string& reason) override;
  bool aborted() const;

  // Checked mode: the first header mismatch the GPU found ("" when none), e.g. after a stream failed
  // with a trap: "recv 1 <- 0: expected 4 bytes tag 1, the sender sent 8 bytes tag 1".
  std::string message_mismatch() const;

  // The sub-communicators' layout (tests): how many ncclCommSplit calls were made.
  int split_calls() const { return split_calls_; }

  struct Shared;   // abort state shared by the ranks of create_local

 private:
  NcclCommunicator(int rank, int size, int device, const NcclOptions& options, std::shared_ptr<Shared> shared);
  void init(const NcclIdBytes& id, const NcclOptions& options);   // ncclCommInitRank + splits
  ncclComm* comm_for(std::span<const int> group, const char* what);
  void check_usable(const std::string& what);
  void abort_local(bool take_lock);
  // Checked mode helpers (call with call_mutex_ held).
  nccl_check::Header* header_scratch(void* stream, size_t count);
  void exchange_p2p_header(int peer, bool sending, int64_t bytes, int64_t tag, void* stream);
  void check_collective(ncclComm* comm, int members, int64_t bytes, int64_t tag, int call, void* stream);

  const int rank_, size_, device_;
  const bool checked_;
  std::shared_ptr<Shared> shared_;
  std::timed_mutex call_mutex_;   // NCCL calls of one rank are issued by one thread at a time
  std::atomic<bool> handles_released_{false};
  ncclComm* world_ = nullptr;
  std::map<std::vector<int>, ncclComm*> subs_;   // by group (group order)
  std::vector<ncclComm*> owned_;                 // world + sub-communicators, for abort/destroy
  int split_calls_ = 0;
  // Checked mode: per native stream a device array of headers [outgoing | incoming], grown on demand.
  struct Scratch {
    nccl_check::Header* data = nullptr;
    size_t count = 0;   // headers per half
  };
  std::map<void*, Scratch> scratch_;
  std::vector<void*> retired_scratch_;
  int* claim_ = nullptr;                     // device int of check_headers
  nccl_check::Mismatch* mismatch_ = nullptr;  // host-mapped record
  nccl_check::Mismatch* mismatch_device_ = nullptr;
};

}  // namespace tandem::backend
