// The NCCL communicator's host-side decisions: id file, group checks, split plan (see nccl_bootstrap.h).
#include "backend/cuda/nccl_bootstrap.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/input_error.h"
#include "io/input_file.h"
#include "io/output_file.h"
#include "ir/step_program.h"

namespace tandem::backend {

namespace {
constexpr char kMagic[8] = {'T', 'D', 'M', 'N', 'C', 'I', 'D', '1'};

uint64_t fnv1a(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
}  // namespace

uint64_t nccl_launch_hash(const std::string& launch) {
  return launch.empty() ? 0 : fnv1a(reinterpret_cast<const unsigned char*>(launch.data()), launch.size());
}

void write_nccl_id_file(const std::string& path, const NcclIdBytes& id, int world_size, uint64_t launch_hash) {
  if (world_size < 1) throw std::invalid_argument(fmt::format("NCCL id file {}: world size must be at least 1, found {}", path, world_size));
  unsigned char buf[kNcclIdFileBytes] = {};
  std::memcpy(buf, kMagic, 8);
  put_u32(buf + 8, uint32_t(world_size));
  put_u64(buf + 16, launch_hash);
  std::memcpy(buf + 24, id.data(), kNcclIdBytes);
  put_u64(buf + 24 + kNcclIdBytes, fnv1a(buf, 24 + kNcclIdBytes));
  // Complete or absent: a rank polling for the file never sees half of it.
  try {
    io::write_output_file(path, std::string_view(reinterpret_cast<const char*>(buf), sizeof buf));
  } catch (const io::OutputError& e) {
    throw std::runtime_error(fmt::format("NCCL id file: {}", e.what()));
  }
}

namespace {
// One look at the file: the id when it is this launch's, nullopt when absent or of another launch.
std::optional<NcclIdBytes> try_read_id(const std::string& path, int world_size, uint64_t launch_hash, bool& stale) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;   // not there (yet)
  // A regular file of at most the id file's size; a directory, FIFO or device is refused unopened.
  std::string data;
  try {
    data = io::read_input_file(path, kNcclIdFileBytes, "an NCCL id file of tandem");
  } catch (const io::InputError& e) {
    throw std::runtime_error(fmt::format("NCCL bootstrap: {}", e.what()));
  }
  if (data.size() != kNcclIdFileBytes)
    throw std::runtime_error(fmt::format("NCCL bootstrap: {} is not an NCCL id file of tandem: {} bytes, expected {}", path,
                                         data.size(), kNcclIdFileBytes));
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (std::memcmp(p, kMagic, 8) != 0)
    throw std::runtime_error(fmt::format("NCCL bootstrap: {} is not an NCCL id file of tandem (no TDMNCID1 magic)", path));
  if (get_u64(p + 24 + kNcclIdBytes) != fnv1a(p, 24 + kNcclIdBytes))
    throw std::runtime_error(fmt::format("NCCL bootstrap: the id file {} is damaged (checksum mismatch)", path));
  if (get_u64(p + 16) != launch_hash) {
    stale = true;
    return std::nullopt;
  }
  const uint32_t size = get_u32(p + 8);
  if (int64_t(size) != world_size)
    throw std::runtime_error(fmt::format("NCCL bootstrap: the id file {} was written for a world of {} ranks, this rank "
                                         "expects {}", path, size, world_size));
  NcclIdBytes id{};
  std::memcpy(id.data(), p + 24, kNcclIdBytes);
  return id;
}
}  // namespace

NcclIdBytes read_nccl_id_file(const std::string& path, int world_size, std::chrono::milliseconds timeout, uint64_t launch_hash) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool stale = false;
  for (;;) {
    if (auto id = try_read_id(path, world_size, launch_hash, stale)) return *id;
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error(fmt::format(
          "NCCL bootstrap: the id file {} did not appear within {} ms (rank 0 writes it when it starts: is rank 0 running, "
          "and is the path on a file system every rank sees?){}", path, timeout.count(),
          stale ? "; a file of another launch (another launch name) was there" : ""));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void check_nccl_group(std::span<const int> group, int world_size, const char* what) {
  if (group.empty()) throw std::invalid_argument(fmt::format("{}: the group is empty", what));
  std::vector<int> sorted(group.begin(), group.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] < 0 || sorted[i] >= world_size)
      throw std::invalid_argument(fmt::format("{}: group [{}] names rank {} outside [0, {})", what, fmt::join(group, ", "), sorted[i], world_size));
    if (i > 0 && sorted[i] == sorted[i - 1])
      throw std::invalid_argument(fmt::format("{}: group [{}] names rank {} twice", what, fmt::join(group, ", "), sorted[i]));
  }
}

int nccl_group_index(std::span<const int> group, int rank, int world_size, const char* what) {
  check_nccl_group(group, world_size, what);
  const auto it = std::find(group.begin(), group.end(), rank);
  if (it == group.end()) throw std::invalid_argument(fmt::format("{}: rank {} is not in group [{}]", what, rank, fmt::join(group, ", ")));
  return int(it - group.begin());
}

bool is_world_order(std::span<const int> group, int world_size) {
  if (int(group.size()) != world_size) return false;
  for (size_t i = 0; i < group.size(); ++i)
    if (group[i] != int(i)) return false;
  return true;
}

std::vector<std::vector<std::vector<int>>> plan_nccl_splits(std::vector<std::vector<int>> groups, int world_size) {
  for (const auto& g : groups) check_nccl_group(g, world_size, "NCCL sub-communicator");
  std::erase_if(groups, [&](const std::vector<int>& g) { return g.size() == 1 || is_world_order(g, world_size); });
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  std::vector<std::vector<std::vector<int>>> layers;
  std::vector<std::vector<char>> used;   // per layer: ranks already in one of its groups
  for (auto& g : groups) {
    size_t l = 0;
    for (; l < layers.size(); ++l)
      if (std::none_of(g.begin(), g.end(), [&](int r) { return used[l][size_t(r)] != 0; })) break;
    if (l == layers.size()) {
      layers.emplace_back();
      used.emplace_back(size_t(world_size), 0);
    }
    for (int r : g) used[l][size_t(r)] = 1;
    layers[l].push_back(std::move(g));
  }
  return layers;
}

std::vector<std::vector<int>> step_program_groups(const ir::StepProgram& program) {
  std::set<std::vector<int>> groups;
  const int64_t n = program.num_ranks();
  std::vector<int> world(static_cast<size_t>(n), 0);
  for (int64_t r = 0; r < n; ++r) world[size_t(r)] = int(r);
  groups.insert(world);
  for (int64_t r = 0; r < n; ++r) {
    const ir::RankProgram& rp = program.program_of(r);
    std::vector<char> seen(rp.templates.size(), 0);   // one instance per template gives its group
    for (const ir::OpInstance& op : rp.ops) {
      if (seen[size_t(op.tmpl)]) continue;
      seen[size_t(op.tmpl)] = 1;
      const auto* comm = std::get_if<ir::Comm>(&rp.tmpl(op).payload);
      if (!comm || comm->kind == ir::CommKind::Send || comm->kind == ir::CommKind::Recv) continue;
      std::vector<int> g;
      for (int64_t m : program.group_ranks(r, op)) g.push_back(int(m));
      groups.insert(std::move(g));
    }
  }
  return {groups.begin(), groups.end()};
}

}  // namespace tandem::backend
