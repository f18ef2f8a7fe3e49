// In-process communicator: mailboxes for point-to-point, rendezvous slots for collectives.
#include "backend/runtime/inproc_communicator.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tandem::backend {

size_t reduce_type_bytes(ReduceType t) { return t == ReduceType::F32 ? 4 : 8; }

InProcessWorld::InProcessWorld(int size, std::chrono::milliseconds timeout) : size_(size), timeout_(timeout) {
  if (size < 1) throw std::invalid_argument(fmt::format("InProcessWorld: size must be at least 1, found {}", size));
}

void InProcessWorld::abort(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (!aborted_) {
      aborted_ = true;
      abort_reason_ = reason;
    }
  }
  cv_.notify_all();
}

bool InProcessWorld::aborted() const {
  std::lock_guard lock(mutex_);
  return aborted_;
}

int64_t InProcessWorld::bytes_moved() const {
  std::lock_guard lock(mutex_);
  return bytes_moved_;
}

template <typename Pred>
void InProcessWorld::wait(std::unique_lock<std::mutex>& lock, Pred pred, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (!pred()) {
    if (aborted_) throw CommAborted(fmt::format("{}: communication aborted: {}", what, abort_reason_));
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && !aborted_ && !pred()) {
      aborted_ = true;
      abort_reason_ = fmt::format("{} waited {} ms for its peers (deadlock or a stalled rank)", what, timeout_.count());
      cv_.notify_all();
    }
  }
}

InProcessCommunicator::InProcessCommunicator(std::shared_ptr<InProcessWorld> world, int rank)
    : world_(std::move(world)), rank_(rank) {
  if (rank < 0 || rank >= world_->size())
    throw std::invalid_argument(fmt::format("InProcessCommunicator: rank {} outside [0, {})", rank, world_->size()));
}

int InProcessCommunicator::index_in(std::span<const int> group, const char* what) const {
  const auto it = std::find(group.begin(), group.end(), rank_);
  if (it == group.end()) throw std::invalid_argument(fmt::format("{}: rank {} is not in group [{}]", what, rank_, fmt::join(group, ", ")));
  for (int r : group)
    if (r < 0 || r >= world_->size())
      throw std::invalid_argument(fmt::format("{}: group [{}] names rank {} outside [0, {})", what, fmt::join(group, ", "), r, world_->size()));
  return int(it - group.begin());
}

void InProcessCommunicator::send(int peer, const void* data, size_t bytes, int64_t tag, Stream&) {
  if (peer < 0 || peer >= world_->size()) throw std::invalid_argument(fmt::format("send: peer {} outside [0, {})", peer, world_->size()));
  std::vector<std::byte> message(bytes);
  if (bytes) std::memcpy(message.data(), data, bytes);
  {
    std::lock_guard lock(world_->mutex_);
    if (world_->aborted_) throw CommAborted(fmt::format("send {} -> {} tag {}: communication aborted: {}", rank_, peer, tag, world_->abort_reason_));
    world_->mail_[{rank_, peer, tag}].push_back(std::move(message));
    if (peer != rank_) world_->bytes_moved_ += int64_t(bytes);
  }
  world_->cv_.notify_all();
}

void InProcessCommunicator::recv(int peer, void* data, size_t bytes, int64_t tag, Stream&) {
  if (peer < 0 || peer >= world_->size()) throw std::invalid_argument(fmt::format("recv: peer {} outside [0, {})", peer, world_->size()));
  std::vector<std::byte> message;
  {
    std::unique_lock lock(world_->mutex_);
    const InProcessWorld::MailKey key{peer, rank_, tag};
    world_->wait(lock, [&] {
      const auto it = world_->mail_.find(key);
      return it != world_->mail_.end() && !it->second.empty();
    }, fmt::format("recv {} <- {} tag {}", rank_, peer, tag));
    auto it = world_->mail_.find(key);
    message = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) world_->mail_.erase(it);
  }
  if (message.size() != bytes)
    throw std::runtime_error(fmt::format("recv {} <- {} tag {}: expected {} bytes, the message has {}", rank_, peer, tag, bytes, message.size()));
  if (bytes) std::memcpy(data, message.data(), bytes);
}

template <typename Body>
void InProcessCommunicator::rendezvous(std::span<const int> group, int64_t tag, const char* what, const void* send,
                                       size_t size, const size_t* send_offsets, const size_t* send_bytes, Body body) {
  const int me = index_in(group, what);
  const int n = int(group.size());
  const std::string desc = fmt::format("{} tag {} group [{}] (rank {})", what, tag, fmt::join(group, ", "), rank_);
  const InProcessWorld::SlotKey key{fmt::format("{}:{}", what, fmt::join(group, ",")), tag};
  std::unique_lock lock(world_->mutex_);
  // A slot of the same key still being left by the members of an earlier call: wait until it is gone.
  world_->wait(lock, [&] {
    const auto it = world_->slots_.find(key);
    return it == world_->slots_.end() || it->second.arrived < n;
  }, desc);
  InProcessWorld::Slot& slot = world_->slots_[key];
  if (slot.send.empty()) {
    slot.send.assign(size_t(n), nullptr);
    slot.sizes.assign(size_t(n), 0);
    slot.send_offsets.assign(size_t(n), nullptr);
    slot.send_bytes.assign(size_t(n), nullptr);
  }
  if (slot.send[size_t(me)] != nullptr || slot.arrived >= n)
    throw std::runtime_error(fmt::format("{}: this rank joined the same collective twice", desc));
  slot.send[size_t(me)] = send ? send : static_cast<const void*>(&slot);
  slot.sizes[size_t(me)] = size;
  slot.send_offsets[size_t(me)] = send_offsets;
  slot.send_bytes[size_t(me)] = send_bytes;
  ++slot.arrived;
  world_->cv_.notify_all();
  try {
    world_->wait(lock, [&] { return slot.arrived == n; }, desc);
  } catch (const CommAborted&) {
    // Leave the slot as if this rank had never come: a member arriving later must not read its buffers.
    slot.send[size_t(me)] = nullptr;
    if (--slot.arrived == 0) world_->slots_.erase(key);
    throw;
  }
  for (int j = 0; j < n; ++j)
    if (slot.sizes[size_t(j)] != size)
      throw std::runtime_error(fmt::format("{}: members disagree on the size: rank {} has {}, rank {} has {}", desc,
                                           group[size_t(j)], slot.sizes[size_t(j)], rank_, size));
  lock.unlock();
  int64_t moved = 0;
  std::exception_ptr failure;
  try {
    moved = body(slot, me);
  } catch (...) {
    failure = std::current_exception();
  }
  lock.lock();
  world_->bytes_moved_ += moved;
  ++slot.finished;
  world_->cv_.notify_all();
  // Others may still read this rank's buffers: stay until every member has finished its body, even
  // after an abort (every member has arrived, and a body only copies, so this cannot hang).
  world_->cv_.wait(lock, [&] { return slot.finished == n; });
  if (++slot.arrived == 2 * n) world_->slots_.erase(key);   // the last to leave removes the slot
  if (failure) std::rethrow_exception(failure);
}

void InProcessCommunicator::all_to_all_v(std::span<const int> group, const void* send, std::span<const size_t> send_offsets,
                                         std::span<const size_t> send_bytes, void* recv, std::span<const size_t> recv_offsets,
                                         std::span<const size_t> recv_bytes, int64_t tag, Stream&) {
  const size_t n = group.size();
  if (send_offsets.size() != n || send_bytes.size() != n || recv_offsets.size() != n || recv_bytes.size() != n)
    throw std::invalid_argument(fmt::format("all_to_all_v tag {}: offsets and byte counts need one entry per member ({})", tag, n));
  rendezvous(group, tag, "all_to_all_v", send, n, send_offsets.data(), send_bytes.data(), [&](InProcessWorld::Slot& slot, int me) {
    int64_t moved = 0;
    for (size_t j = 0; j < n; ++j) {
      const size_t bytes = slot.send_bytes[j][size_t(me)];
      if (bytes != recv_bytes[j])
        throw std::runtime_error(fmt::format("all_to_all_v tag {}: rank {} expects {} bytes from rank {}, which sends {}", tag,
                                             rank_, recv_bytes[j], group[j], bytes));
      const auto* src = static_cast<const std::byte*>(slot.send[j]) + slot.send_offsets[j][size_t(me)];
      if (bytes) std::memcpy(static_cast<std::byte*>(recv) + recv_offsets[j], src, bytes);
      if (int(j) != me) moved += int64_t(bytes);
    }
    return moved;
  });
}

namespace {
template <typename T>
void sum_in_order(const std::vector<const void*>& sources, size_t offset, size_t count, T* out) {
  const T* first = static_cast<const T*>(sources[0]) + offset;
  std::copy(first, first + count, out);
  for (size_t j = 1; j < sources.size(); ++j) {
    const T* src = static_cast<const T*>(sources[j]) + offset;
    for (size_t i = 0; i < count; ++i) out[i] += src[i];
  }
}
}  // namespace

void InProcessCommunicator::all_reduce_sum(std::span<const int> group, void* data, size_t count, ReduceType type,
                                           int64_t tag, Stream&) {
  const size_t elem = reduce_type_bytes(type);
  std::vector<std::byte> result(count * elem);
  rendezvous(group, tag, "all_reduce", data, count * elem, nullptr, nullptr, [&](InProcessWorld::Slot& slot, int) {
    if (type == ReduceType::F32) sum_in_order(slot.send, 0, count, reinterpret_cast<float*>(result.data()));
    else sum_in_order(slot.send, 0, count, reinterpret_cast<double*>(result.data()));
    return int64_t(count * elem * (group.size() - 1));
  });
  if (!result.empty()) std::memcpy(data, result.data(), result.size());   // after everyone has read `data`
}

void InProcessCommunicator::reduce_scatter_sum(std::span<const int> group, const void* send, void* recv, size_t shard_count,
                                               ReduceType type, int64_t tag, Stream&) {
  const size_t elem = reduce_type_bytes(type);
  std::vector<std::byte> result(shard_count * elem);
  rendezvous(group, tag, "reduce_scatter", send, shard_count * elem * group.size(), nullptr, nullptr,
             [&](InProcessWorld::Slot& slot, int me) {
               const size_t offset = size_t(me) * shard_count;
               if (type == ReduceType::F32) sum_in_order(slot.send, offset, shard_count, reinterpret_cast<float*>(result.data()));
               else sum_in_order(slot.send, offset, shard_count, reinterpret_cast<double*>(result.data()));
               return int64_t(shard_count * elem * (group.size() - 1));
             });
  if (!result.empty()) std::memcpy(recv, result.data(), result.size());
}

void InProcessCommunicator::all_gather(std::span<const int> group, const void* send, void* recv, size_t bytes_per_rank,
                                       int64_t tag, Stream&) {
  std::vector<std::byte> result(bytes_per_rank * group.size());
  rendezvous(group, tag, "all_gather", send, bytes_per_rank, nullptr, nullptr, [&](InProcessWorld::Slot& slot, int me) {
    for (size_t j = 0; j < group.size(); ++j)
      if (bytes_per_rank) std::memcpy(result.data() + j * bytes_per_rank, slot.send[j], bytes_per_rank);
    (void)me;
    return int64_t(bytes_per_rank * (group.size() - 1));
  });
  if (!result.empty()) std::memcpy(recv, result.data(), result.size());
}

}  // namespace tandem::backend
