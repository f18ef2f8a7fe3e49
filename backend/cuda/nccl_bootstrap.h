// What the NCCL communicator decides before it calls NCCL, kept free of CUDA and NCCL so it is tested
// without a GPU: the id file of the multi-process bootstrap, the checks of a call's group, and the
// plan of the ncclCommSplit calls that create the sub-communicators of a set of groups.
#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tandem::ir {
class StepProgram;
}

namespace tandem::backend {

inline constexpr size_t kNcclIdBytes = 128;   // NCCL_UNIQUE_ID_BYTES
using NcclIdBytes = std::array<char, kNcclIdBytes>;

// The id file: magic "TDMNCID1", world size (u32 little-endian), 4 zero bytes, the launch's hash
// (u64, nccl_launch_hash), the 128 id bytes, FNV-1a 64 of everything before it (u64): 160 bytes.
// Written to "<path>.tmp.<pid>", flushed, fsynced and renamed onto `path`, so a reader sees either no
// file or a whole one.
inline constexpr size_t kNcclIdFileBytes = 8 + 4 + 4 + 8 + kNcclIdBytes + 8;
// FNV-1a 64 of a launch's name (e.g. the job id); 0 for "" (no name).
uint64_t nccl_launch_hash(const std::string& launch);
void write_nccl_id_file(const std::string& path, const NcclIdBytes& id, int world_size, uint64_t launch_hash = 0);
// Polls (every 10 ms) until `path` holds the id of this launch, then returns it. A file of another
// launch (another launch hash: a stale file) is waited past. Throws std::runtime_error when no file
// of this launch appeared within `timeout` (naming the path, what rank 0 should have done, and any
// stale file seen), or when the file is not such a file, is damaged, or names another world size.
NcclIdBytes read_nccl_id_file(const std::string& path, int world_size, std::chrono::milliseconds timeout,
                              uint64_t launch_hash = 0);

// Checks a call's group for `rank` of a world of `world_size`: not empty, ranks in range, no rank
// twice, `rank` a member. Returns `rank`'s index in the group; std::invalid_argument naming `what`.
int nccl_group_index(std::span<const int> group, int rank, int world_size, const char* what);
void check_nccl_group(std::span<const int> group, int world_size, const char* what);   // the same, without a member
// [0, 1, ..., world_size - 1]: served by the world communicator itself.
bool is_world_order(std::span<const int> group, int world_size);

// The ncclCommSplit calls creating the sub-communicators of `groups`: groups of one rank and the world
// in world order need none; the rest, de-duplicated and sorted, are laid greedily into layers of
// disjoint groups. Every rank calls ncclCommSplit once per layer (all ranks of the world must call it):
// color = index of its group in the layer (NCCL_SPLIT_NOCOLOR when in none), key = its index in the
// group, so the sub-communicator's ranks are the group's members in group order. The plan depends
// only on the set of groups, so every rank computes the same one.
std::vector<std::vector<std::vector<int>>> plan_nccl_splits(std::vector<std::vector<int>> groups, int world_size);

// Every group a StepProgram's collectives and all-to-alls use, over all ranks, plus the world group
// (the optimizer's world reductions): what NcclOptions::groups needs to run the program.
std::vector<std::vector<int>> step_program_groups(const ir::StepProgram& program);

}  // namespace tandem::backend
