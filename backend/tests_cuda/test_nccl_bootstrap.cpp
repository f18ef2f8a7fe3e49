// What the NCCL communicator checks before any CUDA or NCCL call, tested without a GPU: the id file
// (round trip, timeout, malformed, damaged, stale), group checks, the split plan, a StepProgram's groups.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "backend/cuda/nccl_bootstrap.h"
#include "ir/step_program.h"
#ifdef TANDEM_HAVE_NCCL
#include "backend/cuda/nccl_communicator.h"
#endif

using namespace tandem::backend;
using namespace std::chrono_literals;

namespace {
// A fresh path under the temporary directory, removed at the end of the case.
struct TempPath {
  std::string path;
  explicit TempPath(const std::string& name)
      : path((std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string()) {
    std::filesystem::remove(path);
  }
  ~TempPath() { std::filesystem::remove(path); }
};

NcclIdBytes sample_id() {
  NcclIdBytes id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>(i * 7 + 3);
  return id;
}
}  // namespace

TEST_CASE("the NCCL id file round-trips and is replaced atomically", "[nccl_bootstrap]") {
  TempPath f("tandem-nccl-id");
  const NcclIdBytes id = sample_id();
  write_nccl_id_file(f.path, id, 4);
  CHECK(std::filesystem::file_size(f.path) == kNcclIdFileBytes);   // 8 + 4 + 4 + 8 + 128 + 8 = 160
  CHECK(read_nccl_id_file(f.path, 4, 100ms) == id);
  NcclIdBytes other = id;
  other[0] = 'x';
  write_nccl_id_file(f.path, other, 4);   // rename over the old one
  CHECK(read_nccl_id_file(f.path, 4, 100ms) == other);
  // A reader that starts first waits for the writer.
  std::filesystem::remove(f.path);
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    write_nccl_id_file(f.path, id, 4);
  });
  CHECK(read_nccl_id_file(f.path, 4, 5000ms) == id);
  writer.join();
}

TEST_CASE("an NCCL id file that never appears is a clear timeout", "[nccl_bootstrap]") {
  TempPath f("tandem-nccl-missing");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 150ms),
                    Catch::Contains("did not appear within 150 ms") && Catch::Contains("is rank 0 running") && Catch::Contains(f.path));
  CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
}

TEST_CASE("malformed, damaged and stale NCCL id files are refused", "[nccl_bootstrap]") {
  TempPath f("tandem-nccl-bad");
  { std::ofstream(f.path) << "not an id"; }
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 100ms), Catch::Contains("9 bytes, expected 160"));
  { std::ofstream(f.path, std::ios::binary) << std::string(kNcclIdFileBytes, 'A'); }
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 100ms), Catch::Contains("no TDMNCID1 magic"));
  write_nccl_id_file(f.path, sample_id(), 2);
  {
    std::fstream io(f.path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(60);
    io.put('!');   // a byte of the id
  }
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 100ms), Catch::Contains("checksum mismatch"));
  write_nccl_id_file(f.path, sample_id(), 8);
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 100ms), Catch::Contains("world of 8 ranks, this rank expects 2"));
  // A file of another launch is stale: waited past, and named in the timeout's message.
  write_nccl_id_file(f.path, sample_id(), 2, nccl_launch_hash("job-41"));
  CHECK_THROWS_WITH(read_nccl_id_file(f.path, 2, 100ms, nccl_launch_hash("job-42")),
                    Catch::Contains("did not appear") && Catch::Contains("a file of another launch"));
  CHECK(read_nccl_id_file(f.path, 2, 100ms, nccl_launch_hash("job-41")) == sample_id());
  CHECK(nccl_launch_hash("") == 0);
  CHECK_THROWS_AS(write_nccl_id_file(f.path, sample_id(), 0), std::invalid_argument);
  CHECK_THROWS_WITH(write_nccl_id_file("/nonexistent-dir/id", sample_id(), 2), Catch::Contains("cannot create"));
}

TEST_CASE("NCCL call groups are checked for membership, range and repeats", "[nccl_bootstrap]") {
  const std::vector<int> g{2, 0, 3};
  CHECK(nccl_group_index(g, 0, 4, "all_reduce") == 1);
  CHECK(nccl_group_index(g, 3, 4, "all_reduce") == 2);
  CHECK_THROWS_WITH(nccl_group_index(g, 1, 4, "all_reduce"), Catch::Contains("rank 1 is not in group [2, 0, 3]"));
  CHECK_THROWS_WITH(nccl_group_index(std::vector<int>{0, 4}, 0, 4, "x"), Catch::Contains("rank 4 outside [0, 4)"));
  CHECK_THROWS_WITH(nccl_group_index(std::vector<int>{0, 1, 0}, 0, 4, "x"), Catch::Contains("names rank 0 twice"));
  CHECK_THROWS_WITH(nccl_group_index(std::vector<int>{}, 0, 4, "x"), Catch::Contains("empty"));
  CHECK(is_world_order(std::vector<int>{0, 1, 2}, 3));
  CHECK_FALSE(is_world_order(std::vector<int>{1, 0, 2}, 3));
  CHECK_FALSE(is_world_order(std::vector<int>{0, 1}, 3));
}

TEST_CASE("NCCL splits are planned in layers of disjoint groups, the same on every rank", "[nccl_bootstrap]") {
  // World of 8 = 2 stages x 4 (ranks 0-3, 4-7). EP groups {0,1},{2,3},{4,5},{6,7} are disjoint: one
  // layer. DP groups {0,2},{1,3},{4,6},{5,7} overlap the EP groups: a second layer. The world in world
  // order and groups of one need no split; a repeat and a permuted world ({7,...,0}) are kept once.
  std::vector<std::vector<int>> groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {0, 2}, {1, 3}, {4, 6}, {5, 7},
                                       {0, 1, 2, 3, 4, 5, 6, 7}, {3}, {0, 1}, {7, 6, 5, 4, 3, 2, 1, 0}};
  const auto layers = plan_nccl_splits(groups, 8);
  REQUIRE(layers.size() == 3);
  // Sorted: {0,1} {0,2} {1,3} {2,3} {4,5} {4,6} {5,7} {6,7} {7,...,0}; greedy: {0,1} {2,3} {4,5} {6,7}
  // in layer 0, {0,2} {1,3} {4,6} {5,7} in layer 1, the reversed world in layer 2.
  CHECK(layers[0] == std::vector<std::vector<int>>{{0, 1}, {2, 3}, {4, 5}, {6, 7}});
  CHECK(layers[1] == std::vector<std::vector<int>>{{0, 2}, {1, 3}, {4, 6}, {5, 7}});
  CHECK(layers[2] == std::vector<std::vector<int>>{{7, 6, 5, 4, 3, 2, 1, 0}});
  std::reverse(groups.begin(), groups.end());
  CHECK(plan_nccl_splits(groups, 8) == layers);   // the order each rank lists them in does not matter
  CHECK(plan_nccl_splits({}, 8).empty());
  CHECK_THROWS_WITH(plan_nccl_splits({{0, 9}}, 8), Catch::Contains("outside [0, 8)"));
}

TEST_CASE("a StepProgram's collective groups are the world and each stage's EP group", "[nccl_bootstrap]") {
  // The tiny scenario's plan: 4 ranks, pp 2 x dp 2 with ep 2, so stage 0 is ranks {0, 1}, stage 1 is
  // {2, 3}; the EP all-to-alls and the ZeRO collectives of a stage both run over its two ranks, and
  // the optimizer's world reduction over all four. Under 1F1B the embedding (stage 0) and the MTP
  // module's copy of it (stage 1) sit on different ranks: their gradients are summed between the
  // ranks of one data-parallel index, {0, 2} and {1, 3}.
  tandem::ir::StepProgram program(tandem::ir::load_scenario("tiny",
                                                            {"plan.global_batch_seqs=8", "plan.micro_batch_seqs=1"}));
  REQUIRE(program.num_ranks() == 4);
  const auto groups = step_program_groups(program);
  CHECK(groups == std::vector<std::vector<int>>{{0, 1}, {0, 1, 2, 3}, {0, 2}, {1, 3}, {2, 3}});
  // Two layers of splits: the stage groups are disjoint, and so are the shared-embedding pairs, but a
  // pair overlaps both stages; the world needs none.
  CHECK(plan_nccl_splits(groups, 4) ==
        std::vector<std::vector<std::vector<int>>>{{{0, 1}, {2, 3}}, {{0, 2}, {1, 3}}});
}

#ifdef TANDEM_HAVE_NCCL
TEST_CASE("NCCL communicator creation checks its arguments and the id file before CUDA", "[nccl_bootstrap]") {
  TempPath f("tandem-nccl-create");
  NcclOptions options;
  options.bootstrap_timeout = 100ms;
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file(f.path, 1, 2, 0, options), Catch::Contains("did not appear within 100 ms"));
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file(f.path, 2, 2, 0, options), Catch::Contains("rank 2 outside [0, 2)"));
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file(f.path, 0, 0, 0, options), Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file("", 1, 2, 0, options), Catch::Contains("no id file"));
  { std::ofstream(f.path) << "garbage"; }
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file(f.path, 1, 2, 0, options), Catch::Contains("not an NCCL id file"));
  options.groups = {{0, 2}};
  CHECK_THROWS_WITH(NcclCommunicator::create_from_file(f.path, 1, 2, 0, options), Catch::Contains("names rank 2 outside [0, 2)"));
  options.groups = {};
  CHECK_THROWS_AS(NcclCommunicator::create_local({}, options), std::invalid_argument);
  CHECK_THROWS_WITH(NcclCommunicator::create_local({0, 0}, options), Catch::Contains("given twice"));
}
#endif
