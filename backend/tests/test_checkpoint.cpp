// Checkpoints: resuming gives the losses of an uninterrupted run bit for bit (also on another plan's
// layout of the same model) and a log with each step once, the newest complete file is taken, killed
// writes leave no files behind, and truncated, corrupt, crafted or foreign files (another model or
// plan) give clear errors. The sampler restores its epoch order.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "backend/training/checkpoint.h"
#include "backend/training/checkpoint_fingerprint.h"
#include "backend_test_util.h"

using namespace tandem;
using namespace tandem::backend;
using namespace tandem::backend::test;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}
}  // namespace

TEST_CASE("resuming from a checkpoint gives the losses of an uninterrupted run bit for bit", "[checkpoint]") {
  const auto program = tiny();
  const auto dir = temp_dir("resume");
  TrainOptions o;
  o.steps = 4;
  o.checkpoint_dir = (dir / "a").string();
  o.checkpoint_every = 2;
  const auto full = train(*program, o);
  CHECK(fs::exists(checkpoint_path(o.checkpoint_dir, 2)));
  CHECK(fs::exists(checkpoint_path(o.checkpoint_dir, 4)));
  for (const auto& e : fs::directory_iterator(o.checkpoint_dir)) CHECK(e.path().extension() != ".tmp");

  TrainOptions r = o;
  r.resume = checkpoint_path(o.checkpoint_dir, 2);
  r.checkpoint_dir = (dir / "b").string();
  Trainer t(*program, r, corpus(), "stories.tok");
  t.prepare();
  CHECK(t.start_step() == 2);
  const auto rest = t.run();
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].step == 3);
  CHECK(rest[0].stats.loss == full[2].stats.loss);
  CHECK(rest[1].stats.loss == full[3].stats.loss);
  CHECK(rest[1].stats.grad_norm == full[3].stats.grad_norm);
  // The final states are the same bytes.
  CHECK(slurp(checkpoint_path(r.checkpoint_dir, 4)) == slurp(checkpoint_path(o.checkpoint_dir, 4)));
  fs::remove_all(dir);
}

TEST_CASE("a resumed run's log holds each step once: the lines of steps it runs again are dropped", "[checkpoint]") {
  const auto program = tiny();
  const auto dir = temp_dir("resume_log");
  TrainOptions o;
  o.steps = 4;
  o.checkpoint_dir = (dir / "ck").string();
  o.checkpoint_every = 2;
  o.log_path = (dir / "log.jsonl").string();
  train(*program, o);
  // As if killed during step 4's line after the checkpoint of step 2: steps 3 and 4 run again.
  spit(o.log_path, slurp(o.log_path).substr(0, slurp(o.log_path).size() - 40));
  TrainOptions r = o;
  r.resume = checkpoint_path(o.checkpoint_dir, 2);
  Trainer t(*program, r, corpus(), "stories.tok");
  t.prepare();
  t.run();
  std::ifstream log(o.log_path);
  std::string line;
  std::vector<int64_t> steps;
  while (std::getline(log, line)) steps.push_back(nlohmann::json::parse(line).at("step").get<int64_t>());
  CHECK(steps == std::vector<int64_t>{1, 2, 3, 4});
  fs::remove_all(dir);
}

TEST_CASE("the log lines a resumed run keeps end with its checkpoint's step or the first line that is not one", "[checkpoint]") {
  const auto dir = temp_dir("log_bytes");
  const fs::path log = dir / "log.jsonl";
  const std::string one = "{\"step\":1,\"loss\":6.5}\n", two = "{\"step\":2,\"loss\":6.4}\n", three = "{\"step\":3}\n";
  spit(log, one + two + three);
  CHECK(log_bytes_through_step(log.string(), 2) == one.size() + two.size());
  CHECK(log_bytes_through_step(log.string(), 9) == one.size() + two.size() + three.size());
  CHECK(log_bytes_through_step(log.string(), 0) == 0);
  spit(log, one + two + "{\"step\":3,\"lo");   // a line cut by a kill
  CHECK(log_bytes_through_step(log.string(), 9) == one.size() + two.size());
  spit(log, one + "not a step\n" + two);
  CHECK(log_bytes_through_step(log.string(), 9) == one.size());
  spit(log, one + "{\"step\":\"2\"}\n" + two);
  CHECK(log_bytes_through_step(log.string(), 9) == one.size());
  CHECK(log_bytes_through_step((dir / "missing").string(), 9) == 0);
  CHECK(log_bytes_through_step(dir.string(), 9) == 0);   // a directory is not read
  fs::remove_all(dir);
}

TEST_CASE("writing a checkpoint removes the temporary files of killed writes, not those of running ones", "[checkpoint]") {
  const auto dir = temp_dir("abandoned");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t gone = ::fork();   // a process id that was used and is free now
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const std::string killed = "ckpt-00000003.tdmckpt." + std::to_string(gone) + "-0.tmp",
                    running = "ckpt-00000003.tdmckpt." + std::to_string(::getpid()) + "-5.tmp",
                    other = "notes.txt." + std::to_string(gone) + "-0.tmp";
  for (const auto& name : {killed, running, other}) spit(dir / name, "part of a checkpoint");
  Checkpoint c;
  c.step = 3;
  write_checkpoint(dir.string(), c);
  CHECK_FALSE(fs::exists(dir / killed));
  CHECK(fs::exists(dir / running));
  CHECK(fs::exists(dir / other));
  CHECK(read_checkpoint(checkpoint_path(dir.string(), 3)).step == 3);
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint holds whole tensors by name: one rank resumes what four ranks wrote", "[checkpoint]") {
  const auto four = tiny(), one = tiny(one_rank());
  const auto dir = temp_dir("layout");
  TrainOptions o;
  o.steps = 2;
  o.checkpoint_dir = dir.string();
  o.backend.exact = true;
  train(*four, o);
  TrainOptions r = o;
  r.steps = 3;
  r.resume = dir.string();
  r.checkpoint_dir.clear();
  const auto from_one = [&] {
    Trainer t(*one, r, corpus(), "stories.tok");
    t.prepare();
    return t.run();
  }();
  TrainOptions f = o;
  f.steps = 3;
  f.checkpoint_dir.clear();
  const auto reference = train(*four, f);
  // The model differs only in layout: FP32 reordering.
  CHECK(from_one.at(0).stats.loss == Approx(reference.at(2).stats.loss).epsilon(1e-5));
  fs::remove_all(dir);
}

TEST_CASE("the newest complete checkpoint of a directory is taken but unfinished .tmp files are not", "[checkpoint]") {
  const auto dir = temp_dir("newest");
  Checkpoint c;
  c.step = 3;
  write_checkpoint(dir.string(), c);
  c.step = 12;
  write_checkpoint(dir.string(), c);
  spit(dir / "ckpt-00000099.tdmckpt.tmp", "half a file");
  CHECK(find_checkpoint(dir.string()) == checkpoint_path(dir.string(), 12));
  CHECK(read_checkpoint(find_checkpoint(dir.string())).step == 12);
  CHECK_THROWS_WITH(find_checkpoint((dir / "nothing").string()), Catch::Contains("no such checkpoint file or directory"));
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(find_checkpoint((dir / "empty").string()), Catch::Contains("no checkpoint"));
  fs::remove_all(dir);
}

TEST_CASE("truncated, corrupt and foreign checkpoint files are refused with what is wrong", "[checkpoint]") {
  Checkpoint c;
  c.step = 7;
  c.tensors["master/w"] = {1.0f, 2.0f, 3.0f};
  const std::string good = serialize_checkpoint(c);
  const Checkpoint back = parse_checkpoint(good, "good");
  CHECK(back.step == 7);
  CHECK(back.tensors.at("master/w") == std::vector<float>{1.0f, 2.0f, 3.0f});
  CHECK_THROWS_WITH(parse_checkpoint(good.substr(0, good.size() - 5), "f"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(parse_checkpoint(good.substr(0, 20), "f"), Catch::Contains("not a complete checkpoint"));
  std::string flipped = good;
  flipped[good.size() - 20] ^= 0x10;   // a byte of the tensor data
  CHECK_THROWS_WITH(parse_checkpoint(flipped, "f"), Catch::Contains("checksum mismatch"));
  std::string unmarked = good;
  unmarked[good.size() - 1] = 'X';
  CHECK_THROWS_WITH(parse_checkpoint(unmarked, "f"), Catch::Contains("end marker"));
  CHECK_THROWS_WITH(parse_checkpoint(std::string(64, 'a'), "f"), Catch::Contains("expected the magic"));
}

TEST_CASE("a checkpoint resumes only into the model and plan that wrote it, whatever their layout", "[checkpoint]") {
  const auto dir = temp_dir("foreign");
  const auto small = tiny({"model.num_layers=2"});
  TrainOptions o;
  o.steps = 1;
  o.checkpoint_dir = dir.string();
  train(*small, o);
  const auto program = tiny();
  TrainOptions r;
  r.steps = 2;
  r.resume = dir.string();
  Trainer t(*program, r, corpus(), "stories.tok");
  // The message names the checkpoint file and the fields that differ.
  CHECK_THROWS_WITH(t.prepare(), Catch::Contains("ckpt-00000001.tdmckpt: written for another model or plan: "
                                                 "model.num_layers: 2 in the checkpoint, 4 in this run"));
  TrainOptions other_seed = r;
  other_seed.seed = 5;
  Trainer u(*small, other_seed, corpus(), "stories.tok");
  CHECK_THROWS_WITH(u.prepare(), Catch::Contains("--seed 1") && Catch::Contains("--seed 5"));

  // The fingerprint leaves the layout out and lists what differs, a few fields at most.
  CHECK(fingerprint_differences(checkpoint_fingerprint(*program), checkpoint_fingerprint(*tiny(one_rank()))).empty());
  CHECK(fingerprint_differences(checkpoint_fingerprint(*program),
                                checkpoint_fingerprint(*tiny({"model.num_layers=2", "plan.seq_len=32"}))) ==
        "model.num_layers: 4 in the checkpoint, 2 in this run; plan.seq_len: 64 in the checkpoint, 32 in this run");
  const auto wide = tiny({"model.vocab_size=300", "model.rope_theta=500", "model.mtp_loss_weight=0.5", "plan.precision.fp8=false"});
  CHECK(fingerprint_differences(checkpoint_fingerprint(*program), checkpoint_fingerprint(*wide), 2) ==
        "model.mtp_loss_weight: 0.3 in the checkpoint, 0.5 in this run; model.rope_theta: 10000.0 in the checkpoint, "
        "500.0 in this run; and 2 more");

  // A checkpoint written before checkpoints recorded their model and plan is refused, not guessed at.
  Checkpoint old = read_checkpoint(checkpoint_path(dir.string(), 1));
  old.info.erase("fingerprint");
  write_checkpoint(dir.string(), old);
  Trainer v(*small, r, corpus(), "stories.tok");
  CHECK_THROWS_WITH(v.prepare(), Catch::Contains("ckpt-00000001.tdmckpt: expected a checkpoint that records its model and plan"));

  // Restoring by hand: a checkpoint with entries this model has no place for is refused too.
  Trainer big(*program, TrainOptions{}, corpus(), "stories.tok");
  Trainer two(*small, TrainOptions{}, corpus(), "stories.tok");
  CHECK_THROWS_WITH(restore_checkpoint(two.executor(), big.checkpoint(0)), Catch::Contains("has no place in this model"));
  fs::remove_all(dir);
}

namespace {
// `good` with its metadata JSON edited and the header and checksum made to fit: what a crafted file holds.
std::string with_metadata(const std::string& good, const std::function<void(nlohmann::json&)>& edit) {
  auto get64 = [&](size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(good[at + i])) << (8 * i);
    return v;
  };
  auto put64 = [](std::string& out, uint64_t v) {
    for (size_t i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
  };
  const uint64_t meta_bytes = get64(16), data_bytes = get64(24);
  nlohmann::json meta = nlohmann::json::parse(good.substr(32, meta_bytes));
  edit(meta);
  const std::string text = meta.dump(), data = good.substr(32 + meta_bytes, data_bytes);
  std::string out = good.substr(0, 16);
  put64(out, text.size());
  put64(out, data.size());
  out += text + data;
  put64(out, fnv1a64(out.data() + 32, text.size() + data.size()));
  out.append(kCheckpointEndMagic, 8);
  return out;
}
}  // namespace

TEST_CASE("crafted checkpoint metadata is refused with the field and its range", "[checkpoint]") {
  Checkpoint c;
  c.step = 7;
  c.optimizer_steps = 6;
  c.tensors["master/a"] = {1.0f, 2.0f, 3.0f};
  c.tensors["master/b"] = {4.0f};
  const std::string good = serialize_checkpoint(c);
  CHECK(parse_checkpoint(with_metadata(good, [](nlohmann::json&) {}), "f").tensors.at("master/b") == std::vector<float>{4.0f});
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string says;
  };
  const Case cases[] = {
      {[](nlohmann::json& j) { j["step"] = -1; }, "at step: expected an integer in [0, 1000000000], found -1"},
      {[](nlohmann::json& j) { j["step"] = 1e30; }, "at step: expected an integer in [0, 1000000000], found 1e+30"},
      {[](nlohmann::json& j) { j["step"] = 18446744073709551615ull; }, "found 18446744073709551615"},
      {[](nlohmann::json& j) { j["optimizer_steps"] = 8; }, "at optimizer_steps: expected an integer in [0, 7], found 8"},
      {[](nlohmann::json& j) { j["guard"]["skipped"] = -3; }, "at guard.skipped: expected an integer in [0, 7]"},
      {[](nlohmann::json& j) { j["guard"]["loss_mean"] = "low"; }, "at guard.loss_mean: expected a finite number"},
      {[](nlohmann::json& j) { j["seed"] = -1; }, "at seed: expected an unsigned integer, found -1"},
      {[](nlohmann::json& j) { j["sampler"]["epoch_rng"] = {1, 2}; }, "at sampler.epoch_rng: expected 4 unsigned integers"},
      {[](nlohmann::json& j) { j["tensors"][1]["offset"] = 0; }, "tensor master/b (1 values at byte 0) does not follow the previous one (byte 12)"},
      {[](nlohmann::json& j) { j["tensors"][1]["count"] = 1u << 30; }, "does not follow the previous one"},
      {[](nlohmann::json& j) { j["tensors"][0]["count"] = 2; }, "does not follow the previous one (byte 8)"},
      {[](nlohmann::json& j) { j["tensors"].erase(1); }, "the tensors hold 12 bytes, the data section 16"},
      {[](nlohmann::json& j) { j["tensors"][1]["name"] = "master/a"; }, "tensor master/a is listed twice"},
      {[](nlohmann::json& j) { j["tensors"] = 5; }, "at tensors: expected an array"},
      {[](nlohmann::json& j) { j = nlohmann::json::array(); }, "malformed metadata: expected an object, found array"},
  };
  for (const Case& k : cases) {
    INFO(k.says);
    CHECK_THROWS_WITH(parse_checkpoint(with_metadata(good, k.edit), "crafted.tdmckpt"),
                      Catch::StartsWith("crafted.tdmckpt: ") && Catch::Contains(k.says));
  }
}

TEST_CASE("the sampler hands out every window once per epoch and restores its position", "[checkpoint][data]") {
  // 30 tokens, seq_len 4: windows of 6 tokens start every 4 tokens: (30 - 6) / 4 + 1 = 7 windows.
  TokenFile f;
  f.vocab_size = 100;
  for (uint32_t i = 0; i < 30; ++i) f.tokens.push_back(i);
  TokenSampler s(f, 4, 9);
  REQUIRE(s.windows() == 7);
  std::vector<int32_t> firsts;
  for (int i = 0; i < 7; ++i) {
    const auto w = s.next();
    REQUIRE(w.size() == 6);
    CHECK(w[5] == w[0] + 5);
    firsts.push_back(w[0]);
  }
  std::sort(firsts.begin(), firsts.end());
  CHECK(firsts == std::vector<int32_t>{0, 4, 8, 12, 16, 20, 24});
  s.next();
  s.next();
  const SamplerState mid = s.state();
  CHECK(mid.epoch == 1);
  CHECK(mid.position == 2);
  const auto a = s.next(), b = s.next();
  TokenSampler t(f, 4, 9);
  t.restore(mid);
  CHECK(t.next() == a);
  CHECK(t.next() == b);
  SamplerState bad = mid;
  bad.position = 8;
  CHECK_THROWS_AS(t.restore(bad), DataError);
  TokenFile tiny_file{100, {1, 2, 3}};
  CHECK_THROWS_WITH(TokenSampler(tiny_file, 4, 1, "t.tok"), Catch::Contains("t.tok: 3 tokens; a training window needs seq_len + 2 = 6"));
}
