// NCCL communicator: creation (one process with several GPUs, or processes bootstrapped through an id
// file), sub-communicators split up front, the calls of Communicator, checked mode and abort.
#include "backend/cuda/nccl_communicator.h"

#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backend/cuda/cuda_device.h"

namespace tandem::backend {

struct NcclCommunicator::Shared {
  std::mutex mutex;                         // guards `members` and the writing of `reason`
  std::atomic<bool> aborted{false};         // set (release) after `reason`, which never changes again
  std::string reason;
  std::vector<NcclCommunicator*> members;   // live communicators of this process sharing the state
};

namespace {

void nccl_check_result(ncclResult_t r, ncclComm_t comm, const char* call, const char* file, int line, int rank) {
  if (r == ncclSuccess) return;
  const char* last = ncclGetLastError(comm);
  throw std::runtime_error(fmt::format("NCCL rank {}: {}:{}: {} failed: {}{}", rank, file, line, call, ncclGetErrorString(r),
                                       last && *last ? fmt::format(" ({})", last) : std::string()));
}
#define TANDEM_NCCL_CHECK(comm, call) nccl_check_result((call), (comm), #call, __FILE__, __LINE__, rank_)

ncclDataType_t nccl_type(ReduceType t) { return t == ReduceType::F32 ? ncclFloat32 : ncclFloat64; }

// Closes an ncclGroupStart on every path (an exception between start and end would leave the
// thread's later NCCL calls inside the group).
class NcclGroup {
 public:
  explicit NcclGroup(int rank) : rank_(rank) { TANDEM_NCCL_CHECK(nullptr, ncclGroupStart()); }
  void end() {
    open_ = false;
    TANDEM_NCCL_CHECK(nullptr, ncclGroupEnd());
  }
  ~NcclGroup() {
    if (open_) ncclGroupEnd();
  }

 private:
  int rank_;
  bool open_ = true;
};

enum CallCode : int { kP2p = 1, kAllToAll = 2, kAllReduce = 3, kReduceScatter = 4, kAllGather = 5 };
const char* call_name(int code) {
  switch (code) {
    case kP2p: return "send/recv";
    case kAllToAll: return "all_to_all_v";
    case kAllReduce: return "all_reduce";
    case kReduceScatter: return "reduce_scatter";
    case kAllGather: return "all_gather";
    default: return "call";
  }
}

// After a kernel launch. cudaErrorNotReady is a query's answer left as the thread's last error, not a
// launch failure.
void check_launch(const std::string& where) {
  const cudaError_t st = cudaGetLastError();
  if (st != cudaErrorNotReady) TANDEM_CUDA_DEVICE_CHECK(where, st);
}

}  // namespace

bool NcclOptions::default_check_messages() {
  if (const char* env = std::getenv("TANDEM_NCCL_CHECK")) return std::strcmp(env, "0") != 0;
#ifdef NDEBUG
  return false;
#else
  return true;
#endif
}

NcclCommunicator::NcclCommunicator(int rank, int size, int device, const NcclOptions& options, std::shared_ptr<Shared> shared)
    : rank_(rank), size_(size), device_(device), checked_(options.check_messages), shared_(std::move(shared)) {
  std::lock_guard lock(shared_->mutex);
  shared_->members.push_back(this);
}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard lock(shared_->mutex);
    std::erase(shared_->members, this);
  }
  try {
    CudaDeviceGuard guard(device_);
    if (!handles_released_.exchange(true)) {
      for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) ncclCommDestroy(*it);   // sub-communicators first
    }
    for (auto& [s, scratch] : scratch_) cudaFree(scratch.data);
    for (void* p : retired_scratch_) cudaFree(p);
    if (claim_) cudaFree(claim_);
    if (mismatch_) cudaFreeHost(mismatch_);
  } catch (...) {
  }
}

void NcclCommunicator::init(const NcclIdBytes& id_bytes, const NcclOptions& options) {
  const auto layers = plan_nccl_splits(options.groups, size_);
  CudaDeviceGuard guard(device_);
  ncclUniqueId id;
  static_assert(sizeof(id.internal) == kNcclIdBytes);
  std::memcpy(id.internal, id_bytes.data(), kNcclIdBytes);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 1;   // calls return when done (never ncclInProgress)
  TANDEM_NCCL_CHECK(nullptr, ncclCommInitRankConfig(&world_, size_, id, rank_, &config));
  owned_.push_back(world_);
  for (const auto& layer : layers) {
    int color = NCCL_SPLIT_NOCOLOR, key = 0;
    const std::vector<int>* mine = nullptr;
    for (size_t g = 0; g < layer.size(); ++g)
      for (size_t i = 0; i < layer[g].size(); ++i)
        if (layer[g][i] == rank_) {
          color = int(g);
          key = int(i);
          mine = &layer[g];
        }
    ncclComm_t sub = nullptr;
    TANDEM_NCCL_CHECK(world_, ncclCommSplit(world_, color, key, &sub, nullptr));   // collective over the world
    ++split_calls_;
    if (mine) {
      if (!sub) throw std::runtime_error(fmt::format("NCCL rank {}: ncclCommSplit gave no communicator for group [{}]", rank_, fmt::join(*mine, ", ")));
      owned_.push_back(sub);
      subs_[*mine] = sub;
    }
  }
  if (checked_) {
    const std::string where = fmt::format("NCCL rank {} (cuda:{})", rank_, device_);
    TANDEM_CUDA_DEVICE_CHECK(where, cudaMalloc(reinterpret_cast<void**>(&claim_), sizeof(int)));
    TANDEM_CUDA_DEVICE_CHECK(where, cudaMemset(claim_, 0, sizeof(int)));
    TANDEM_CUDA_DEVICE_CHECK(where, cudaHostAlloc(reinterpret_cast<void**>(&mismatch_), sizeof(nccl_check::Mismatch),
                                                  cudaHostAllocMapped | cudaHostAllocPortable));
    std::memset(static_cast<void*>(mismatch_), 0, sizeof(nccl_check::Mismatch));
    TANDEM_CUDA_DEVICE_CHECK(where, cudaHostGetDevicePointer(reinterpret_cast<void**>(&mismatch_device_), mismatch_, 0));
  }
}

std::vector<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create_local(const std::vector<int>& devices, const NcclOptions& options) {
  if (devices.empty()) throw std::invalid_argument("NcclCommunicator::create_local: no devices");
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i] < 0) throw std::invalid_argument(fmt::format("NcclCommunicator::create_local: device {} is negative", devices[i]));
    for (size_t j = 0; j < i; ++j)
      if (devices[j] == devices[i])
        throw std::invalid_argument(fmt::format("NcclCommunicator::create_local: device {} given twice (one rank per GPU)", devices[i]));
  }
  const int n = int(devices.size());
  plan_nccl_splits(options.groups, n);   // checks the groups before any CUDA or NCCL call
  int count = 0;
  cuda_device_check(cudaGetDeviceCount(&count), "NcclCommunicator::create_local", "cudaGetDeviceCount", __FILE__, __LINE__);
  for (int d : devices)
    if (d >= count) throw std::invalid_argument(fmt::format("NcclCommunicator::create_local: device {} does not exist ({} CUDA devices)", d, count));
  ncclUniqueId id;
  {
    const int rank_ = -1;   // for the message
    TANDEM_NCCL_CHECK(nullptr, ncclGetUniqueId(&id));
  }
  NcclIdBytes id_bytes{};
  std::memcpy(id_bytes.data(), id.internal, kNcclIdBytes);
  auto shared = std::make_shared<Shared>();
  std::vector<std::unique_ptr<NcclCommunicator>> comms;
  for (int r = 0; r < n; ++r) comms.emplace_back(new NcclCommunicator(r, n, devices[size_t(r)], options, shared));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        comms[size_t(r)]->init(id_bytes, options);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return comms;
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::create_from_file(const std::string& id_file, int rank, int size, int device,
                                                                     const NcclOptions& options) {
  if (size < 1) throw std::invalid_argument(fmt::format("NcclCommunicator: world size must be at least 1, found {}", size));
  if (rank < 0 || rank >= size) throw std::invalid_argument(fmt::format("NcclCommunicator: rank {} outside [0, {})", rank, size));
  if (device < 0) throw std::invalid_argument(fmt::format("NcclCommunicator: device {} is negative", device));
  if (id_file.empty()) throw std::invalid_argument("NcclCommunicator: no id file path");
  plan_nccl_splits(options.groups, size);   // checks the groups
  NcclIdBytes id_bytes{};
  if (rank == 0) {
    ncclUniqueId id;
    const int rank_ = 0;
    TANDEM_NCCL_CHECK(nullptr, ncclGetUniqueId(&id));
    std::memcpy(id_bytes.data(), id.internal, kNcclIdBytes);
    write_nccl_id_file(id_file, id_bytes, size, nccl_launch_hash(options.launch));
  } else {
    id_bytes = read_nccl_id_file(id_file, size, options.bootstrap_timeout, nccl_launch_hash(options.launch));
  }
  int count = 0;
  cuda_device_check(cudaGetDeviceCount(&count), fmt::format("NCCL rank {}", rank), "cudaGetDeviceCount", __FILE__, __LINE__);
  if (device >= count) throw std::invalid_argument(fmt::format("NcclCommunicator: device {} does not exist ({} CUDA devices)", device, count));
  std::unique_ptr<NcclCommunicator> comm(new NcclCommunicator(rank, size, device, options, std::make_shared<Shared>()));
  comm->init(id_bytes, options);
  // ncclCommInitRank returns once every rank has joined, so every rank has read the file.
  if (rank == 0) std::remove(id_file.c_str());
  return comm;
}

// --- state --------------------------------------------------------------------------------------

bool NcclCommunicator::aborted() const { return shared_->aborted.load(std::memory_order_acquire); }

void NcclCommunicator::check_usable(const std::string& what) {
  if (aborted()) throw CommAborted(fmt::format("{}: communication aborted: {}", what, shared_->reason));
  if (const std::string m = message_mismatch(); !m.empty()) throw std::runtime_error(fmt::format("{}: an earlier call failed: {}", what, m));
}

std::string NcclCommunicator::message_mismatch() const {
  if (!mismatch_) return {};
  const volatile nccl_check::Mismatch* m = mismatch_;
  if (!m->flag) return {};
  return fmt::format("NCCL rank {}: checked mode: {} with {} {}: this rank expects {} bytes tag {}, the other side has "
                     "{} bytes tag {} (sizes or the order of calls differ between the ranks)",
                     rank_, call_name(m->call), m->call == kP2p ? "rank" : "group member", m->index, m->expected_bytes, m->expected_tag, m->got_bytes, m->got_tag);
}

void NcclCommunicator::abort(const std::string& reason) {
  // Calls read only the atomic flag, so holding the member list here (a member being destroyed waits
  // in its destructor) cannot deadlock with a call.
  std::lock_guard lock(shared_->mutex);
  if (!shared_->aborted.load(std::memory_order_relaxed)) {
    shared_->reason = reason;
    shared_->aborted.store(true, std::memory_order_release);
  }
  for (NcclCommunicator* m : shared_->members) m->abort_local(true);
}

void NcclCommunicator::abort_local(bool take_lock) {
  if (handles_released_.exchange(true)) return;
  // A call in progress holds call_mutex_ for the time it takes to enqueue; wait for it briefly, then
  // abort anyway (a call blocked inside NCCL is what ncclCommAbort is there to end).
  const bool locked = take_lock && call_mutex_.try_lock_for(std::chrono::milliseconds(200));
  try {
    CudaDeviceGuard guard(device_);
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) ncclCommAbort(*it);
  } catch (...) {
  }
  if (locked) call_mutex_.unlock();
}

ncclComm* NcclCommunicator::comm_for(std::span<const int> group, const char* what) {
  if (is_world_order(group, size_)) return world_;
  const auto it = subs_.find(std::vector<int>(group.begin(), group.end()));
  if (it == subs_.end())
    throw std::logic_error(fmt::format("{}: group [{}] has no NCCL sub-communicator: list it in NcclOptions::groups (every rank "
                                       "of the world splits the world communicator together, so groups cannot be added later)",
                                       what, fmt::join(group, ", ")));
  return it->second;
}

// --- checked mode -------------------------------------------------------------------------------

nccl_check::Header* NcclCommunicator::header_scratch(void* stream, size_t count) {
  Scratch& s = scratch_[stream];
  if (count > s.count) {
    if (s.data) retired_scratch_.push_back(s.data);   // earlier work on the stream may still use it
    const size_t n = std::max<size_t>(count, 2 * s.count);
    TANDEM_CUDA_DEVICE_CHECK(fmt::format("NCCL rank {}", rank_), cudaMalloc(reinterpret_cast<void**>(&s.data), 2 * n * sizeof(nccl_check::Header)));
    s.count = n;
  }
  return s.data;
}

void NcclCommunicator::exchange_p2p_header(int peer, bool sending, int64_t bytes, int64_t tag, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  nccl_check::Header* scratch = header_scratch(stream, 1);
  const size_t half = scratch_[stream].count;
  nccl_check::HeaderBatch batch;
  batch.h[0] = {bytes, tag};
  batch.count = 1;
  batch.call = kP2p;
  batch.origin = peer;
  const std::string where = fmt::format("NCCL rank {}", rank_);
  if (sending) {
    nccl_check::write_headers(scratch, batch, s);
    check_launch(where);
    TANDEM_NCCL_CHECK(world_, ncclSend(scratch, sizeof(nccl_check::Header), ncclUint8, peer, world_, s));
  } else {
    TANDEM_NCCL_CHECK(world_, ncclRecv(scratch + half, sizeof(nccl_check::Header), ncclUint8, peer, world_, s));
    nccl_check::check_headers(scratch + half, batch, claim_, mismatch_device_, s);
    check_launch(where);
  }
}

void NcclCommunicator::check_collective(ncclComm* comm, int members, int64_t bytes, int64_t tag, int call, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  nccl_check::Header* scratch = header_scratch(stream, size_t(members));
  nccl_check::Header* in = scratch + scratch_[stream].count;
  const std::string where = fmt::format("NCCL rank {}", rank_);
  nccl_check::HeaderBatch batch;
  batch.h[0] = {bytes, tag};
  batch.count = 1;
  nccl_check::write_headers(scratch, batch, s);
  check_launch(where);
  TANDEM_NCCL_CHECK(comm, ncclAllGather(scratch, in, sizeof(nccl_check::Header), ncclUint8, comm, s));
  for (int first = 0; first < members; first += nccl_check::kBatch) {
    nccl_check::HeaderBatch expected;
    expected.first = first;
    expected.count = std::min(nccl_check::kBatch, members - first);
    expected.call = call;
    expected.origin = first;
    for (int i = 0; i < expected.count; ++i) expected.h[i] = {bytes, tag};
    nccl_check::check_headers(in, expected, claim_, mismatch_device_, s);
    check_launch(where);
  }
}

// --- calls --------------------------------------------------------------------------------------

namespace {
// The native stream of `stream`, which must belong to the communicator's device.
cudaStream_t native_for(Stream& stream, int device, const std::string& what) {
  CudaStream& cs = as_cuda_stream(stream);
  if (cs.device().ordinal() != device)
    throw std::invalid_argument(fmt::format("{}: the stream belongs to {}, this rank communicates from cuda:{}", what, cs.device().name(), device));
  return cs.native();
}
}  // namespace

void NcclCommunicator::send(int peer, const void* data, size_t bytes, int64_t tag, Stream& stream) {
  const std::string what = fmt::format("send {} -> {} tag {}", rank_, peer, tag);
  if (peer < 0 || peer >= size_) throw std::invalid_argument(fmt::format("{}: peer outside [0, {})", what, size_));
  if (peer == rank_) throw std::invalid_argument(fmt::format("{}: the NCCL communicator does not send to its own rank", what));
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  CudaDeviceGuard guard(device_);
  if (checked_) exchange_p2p_header(peer, true, int64_t(bytes), tag, s);
  if (bytes) TANDEM_NCCL_CHECK(world_, ncclSend(data, bytes, ncclUint8, peer, world_, s));
}

void NcclCommunicator::recv(int peer, void* data, size_t bytes, int64_t tag, Stream& stream) {
  const std::string what = fmt::format("recv {} <- {} tag {}", rank_, peer, tag);
  if (peer < 0 || peer >= size_) throw std::invalid_argument(fmt::format("{}: peer outside [0, {})", what, size_));
  if (peer == rank_) throw std::invalid_argument(fmt::format("{}: the NCCL communicator does not receive from its own rank", what));
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  CudaDeviceGuard guard(device_);
  if (checked_) exchange_p2p_header(peer, false, int64_t(bytes), tag, s);
  if (bytes) TANDEM_NCCL_CHECK(world_, ncclRecv(data, bytes, ncclUint8, peer, world_, s));
}

void NcclCommunicator::all_to_all_v(std::span<const int> group, const void* send, std::span<const size_t> send_offsets,
                                    std::span<const size_t> send_bytes, void* recv, std::span<const size_t> recv_offsets,
                                    std::span<const size_t> recv_bytes, int64_t tag, Stream& stream) {
  const std::string what = fmt::format("all_to_all_v tag {} (rank {})", tag, rank_);
  const size_t n = group.size();
  const int me = nccl_group_index(group, rank_, size_, "all_to_all_v");
  if (send_offsets.size() != n || send_bytes.size() != n || recv_offsets.size() != n || recv_bytes.size() != n)
    throw std::invalid_argument(fmt::format("{}: offsets and byte counts need one entry per member ({})", what, n));
  if (send_bytes[size_t(me)] != recv_bytes[size_t(me)])
    throw std::runtime_error(fmt::format("{}: rank {} expects {} bytes from rank {}, which sends {}", what, rank_,
                                         recv_bytes[size_t(me)], rank_, send_bytes[size_t(me)]));
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  CudaDeviceGuard guard(device_);
  ncclComm_t comm = n > 1 ? comm_for(group, "all_to_all_v") : nullptr;
  const auto* src = static_cast<const std::byte*>(send);
  auto* dst = static_cast<std::byte*>(recv);
  if (checked_ && n > 1) {
    nccl_check::Header* out = header_scratch(s, n);
    nccl_check::Header* in = out + scratch_[s].count;
    for (size_t first = 0; first < n; first += nccl_check::kBatch) {
      nccl_check::HeaderBatch sent, expected;
      sent.first = expected.first = int(first);
      sent.count = expected.count = int(std::min<size_t>(nccl_check::kBatch, n - first));
      sent.call = expected.call = kAllToAll;
      for (int i = 0; i < sent.count; ++i) {
        sent.h[i] = {int64_t(send_bytes[first + size_t(i)]), tag};
        expected.h[i] = {int64_t(recv_bytes[first + size_t(i)]), tag};
      }
      nccl_check::write_headers(out, sent, s);
      nccl_check::write_headers(in, expected, s);   // the own entry stays as expected (checked above)
      check_launch(what);
    }
    NcclGroup headers(rank_);
    for (size_t j = 0; j < n; ++j) {
      if (int(j) == me) continue;
      TANDEM_NCCL_CHECK(comm, ncclSend(out + j, sizeof(nccl_check::Header), ncclUint8, int(j), comm, s));
      TANDEM_NCCL_CHECK(comm, ncclRecv(in + j, sizeof(nccl_check::Header), ncclUint8, int(j), comm, s));
    }
    headers.end();
    for (size_t first = 0; first < n; first += nccl_check::kBatch) {
      nccl_check::HeaderBatch expected;
      expected.first = int(first);
      expected.count = int(std::min<size_t>(nccl_check::kBatch, n - first));
      expected.call = kAllToAll;
      expected.origin = int(first);
      for (int i = 0; i < expected.count; ++i) expected.h[i] = {int64_t(recv_bytes[first + size_t(i)]), tag};
      nccl_check::check_headers(in, expected, claim_, mismatch_device_, s);
      check_launch(what);
    }
  }
  if (const size_t b = send_bytes[size_t(me)]; b)
    TANDEM_CUDA_DEVICE_CHECK(what, cudaMemcpyAsync(dst + recv_offsets[size_t(me)], src + send_offsets[size_t(me)], b,
                                                   cudaMemcpyDeviceToDevice, s));
  if (n == 1) return;
  NcclGroup payload(rank_);
  for (size_t j = 0; j < n; ++j) {
    if (int(j) == me) continue;
    if (send_bytes[j]) TANDEM_NCCL_CHECK(comm, ncclSend(src + send_offsets[j], send_bytes[j], ncclUint8, int(j), comm, s));
    if (recv_bytes[j]) TANDEM_NCCL_CHECK(comm, ncclRecv(dst + recv_offsets[j], recv_bytes[j], ncclUint8, int(j), comm, s));
  }
  payload.end();
}

void NcclCommunicator::all_reduce_sum(std::span<const int> group, void* data, size_t count, ReduceType type, int64_t tag,
                                      Stream& stream) {
  const std::string what = fmt::format("all_reduce tag {} (rank {})", tag, rank_);
  nccl_group_index(group, rank_, size_, "all_reduce");
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  if (group.size() == 1) return;   // the sum of one member is its data
  CudaDeviceGuard guard(device_);
  ncclComm_t comm = comm_for(group, "all_reduce");
  if (checked_) check_collective(comm, int(group.size()), int64_t(count * reduce_type_bytes(type)), tag, kAllReduce, s);
  if (count) TANDEM_NCCL_CHECK(comm, ncclAllReduce(data, data, count, nccl_type(type), ncclSum, comm, s));
}

void NcclCommunicator::reduce_scatter_sum(std::span<const int> group, const void* send, void* recv, size_t shard_count,
                                          ReduceType type, int64_t tag, Stream& stream) {
  const std::string what = fmt::format("reduce_scatter tag {} (rank {})", tag, rank_);
  nccl_group_index(group, rank_, size_, "reduce_scatter");
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  CudaDeviceGuard guard(device_);
  const size_t bytes = shard_count * reduce_type_bytes(type);
  if (group.size() == 1) {
    if (bytes && send != recv) TANDEM_CUDA_DEVICE_CHECK(what, cudaMemcpyAsync(recv, send, bytes, cudaMemcpyDeviceToDevice, s));
    return;
  }
  ncclComm_t comm = comm_for(group, "reduce_scatter");
  if (checked_) check_collective(comm, int(group.size()), int64_t(bytes), tag, kReduceScatter, s);
  if (shard_count) TANDEM_NCCL_CHECK(comm, ncclReduceScatter(send, recv, shard_count, nccl_type(type), ncclSum, comm, s));
}

void NcclCommunicator::all_gather(std::span<const int> group, const void* send, void* recv, size_t bytes_per_rank, int64_t tag,
                                  Stream& stream) {
  const std::string what = fmt::format("all_gather tag {} (rank {})", tag, rank_);
  nccl_group_index(group, rank_, size_, "all_gather");
  cudaStream_t s = native_for(stream, device_, what);
  std::lock_guard lock(call_mutex_);
  check_usable(what);
  CudaDeviceGuard guard(device_);
  if (group.size() == 1) {
    if (bytes_per_rank && send != recv)
      TANDEM_CUDA_DEVICE_CHECK(what, cudaMemcpyAsync(recv, send, bytes_per_rank, cudaMemcpyDeviceToDevice, s));
    return;
  }
  ncclComm_t comm = comm_for(group, "all_gather");
  if (checked_) check_collective(comm, int(group.size()), int64_t(bytes_per_rank), tag, kAllGather, s);
  if (bytes_per_rank) TANDEM_NCCL_CHECK(comm, ncclAllGather(send, recv, bytes_per_rank, ncclUint8, comm, s));
}

}  // namespace tandem::backend
