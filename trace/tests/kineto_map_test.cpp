// Kineto maps: a small hand-written trace read with its map (kinds, classes, stream roles, phases from
// user_annotation ranges, unknown kernels counted), the refusals of bad map files, the built-in map,
// and DeepSeek's H800 profile read with the map that ships for it (skipped when absent).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "io/input_error.h"
#include "trace/analysis.h"
#include "trace/kernel_class.h"
#include "trace/kineto_map.h"
#include "trace/measures.h"
#include "trace/tests/golden_timeline.h"
#include "trace/trace_reader.h"
#include "trace/track_index.h"

using namespace tandem::trace;
using tandem::trace::testing::test_data_path;

namespace {

const Event& event_named(const Timeline& tl, std::string_view name, int64_t id) {
  for (const Event& e : tl.events)
    if (tl.name_of(e) == name && e.id == id) return e;
  FAIL("no event " << name << " with id " << id);
  return tl.events.front();
}

std::string class_of(const Timeline& tl, const Event& e) {
  const auto c = kernel_class_of(tl, e);
  return c ? std::string(to_string(*c)) : std::string("none");
}

// The message of the InputError that parsing `map_json` throws ("" when none).
std::string refusal(const std::string& map_json) {
  try {
    parse_kineto_map(nlohmann::json::parse(map_json), "m.json");
  } catch (const tandem::io::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Kineto map: kinds, classes, stream roles, phases and unknown kernels of a small trace", "[trace][kineto][map]") {
  const KinetoMap map = load_kineto_map(test_data_path("kineto_pair_small.map.json"));
  ReadStats st;
  const Timeline tl = read_trace(test_data_path("kineto_pair_small.json"), &st, &map);
  REQUIRE(tl.metadata.source == TraceSource::Kineto);

  // Launched (correlation 1) at 1002 us inside "attn(F)" (1000-1010), itself inside "1F1B" (no phase).
  const Event& gemm = event_named(tl, "void my::grouped_fp8_gemm<128>(Params)", 1);
  CHECK(tl.op_of(gemm) == "gemm");
  CHECK(class_of(tl, gemm) == "grouped_fp8_gemm");   // the rule ignores case
  CHECK(gemm.phase == 'F');
  // Launched from another thread of the same process while "attn(F)" is open: F too.
  const Event& notify = event_named(tl, "void ep::notify_dispatch<8>(int*)", 2);
  CHECK(tl.op_of(notify) == "all_to_all");
  CHECK(class_of(tl, notify) == "deepep_notify");
  CHECK(notify.phase == 'F');
  // Launched at 1041 us, inside "1F1B" only: no phase.
  const Event& dispatch = event_named(tl, "void ep::dispatch<8>(int4*)", 5);
  CHECK(class_of(tl, dispatch) == "deepep_data");
  CHECK(dispatch.phase == 0);
  const Event& wgrad = event_named(tl, "void my::wgrad_gemm_acc(Params)", 3);
  CHECK(class_of(tl, wgrad) == "wgrad_gemm");
  CHECK(wgrad.phase == 'W');
  // Two kernels of one name no rule knows: kind "kernel", class unknown, counted, not guessed.
  const Event& mystery = event_named(tl, "mystery_kernel", 4);
  CHECK(tl.op_of(mystery) == "kernel");
  CHECK(class_of(tl, mystery) == "unknown");
  CHECK(mystery.phase == 0);
  CHECK(st.unknown_kernels == 2);
  CHECK(st.unknown_kernel_names == 1);
  CHECK(st.unknown_kernel_examples == std::vector<std::string>{"mystery_kernel"});
  CHECK(st.phased_kernels == 3);

  // Stream roles from the map: 27 communication although nothing says so in the names alone, 23 side.
  const TrackIndex idx = build_track_index(tl);
  CHECK(idx.tracks[size_t(idx.find(0, 7))].role == TrackRole::Compute);
  CHECK(idx.tracks[size_t(idx.find(0, 23))].role == TrackRole::Side);
  CHECK(idx.tracks[size_t(idx.find(0, 27))].role == TrackRole::Comm);
  // The side stream's kernels are compute (the wgrad GEMM is the W phase: 8 us) and its idle time
  // is no bubble: only stream 7 has bubbles.
  const Measures m = measure_timeline(tl, idx);
  REQUIRE(m.ranks.size() == 1);
  CHECK(m.ranks[0].forward_ns == 20'000);
  CHECK(m.ranks[0].backward_weight_ns == 8'000);
  for (const TrackBubbles& b : compute_bubbles(tl, idx, m.step)) CHECK(idx.tracks[b.track].tid == 7);
}

TEST_CASE("Kineto map: the built-in map is the word classifier, and maps nothing to a stream", "[trace][kineto][map]") {
  const KinetoMap& map = builtin_kineto_map();
  CHECK(map.streams.empty());
  CHECK(map.phases.empty());
  REQUIRE(map.match("void dpsk::ep::internode::cached_notify<false>(int)") != nullptr);
  CHECK(map.match("void dpsk::ep::internode::cached_notify<false>(int)")->kind == "all_to_all");
  CHECK(map.match("NCCLDEVKERNEL_ALLREDUCE_SUM")->kind == "all_reduce");   // case ignored
  CHECK(map.match("flash::FlashAttnBwd<...>")->cls == KernelClass::AttentionBwd);
  CHECK(map.match("flash_fwd_kernel")->cls == KernelClass::AttentionFwd);
  CHECK(map.match("my_custom_thing") == nullptr);
  // A name of a megabyte is matched on its first kMaxMatchedChars characters, without running out of stack.
  const std::string huge = std::string(1 << 20, 'x') + "gemm";
  CHECK(map.match(huge) == nullptr);
  CHECK(map.match(std::string(100, 'x') + "gemm" + std::string(1 << 20, 'x'))->kind == "gemm");
}

TEST_CASE("Kineto map: bad map files are refused with the JSON path", "[trace][kineto][map][errors]") {
  const std::string rule_ok = R"({"match": "x", "kind": "gemm", "class": "wgrad_gemm"})";
  CHECK(refusal(R"({"kernels": [)" + rule_ok + "]}").empty());
  // A regular expression that does not compile.
  CHECK_THAT(refusal(R"({"kernels": [{"match": "gemm(", "kind": "gemm", "class": "other"}]})"),
             Catch::Contains("m.json: at $.kernels[0].match: expected a regular expression") && Catch::Contains("gemm("));
  // An unknown kind, class, role, phase; an unknown key; a missing key; wrong types.
  CHECK_THAT(refusal(R"({"kernels": [{"match": "x", "kind": "gemmm", "class": "other"}]})"),
             Catch::Contains("at $.kernels[0].kind: expected an op kind") && Catch::Contains("found \"gemmm\""));
  CHECK_THAT(refusal(R"({"kernels": [{"match": "x", "kind": "gemm", "class": "fast_gemm"}]})"),
             Catch::Contains("at $.kernels[0].class: expected a kernel class"));
  CHECK_THAT(refusal(R"({"kernels": [{"match": "x", "kind": "gemm", "class": "unknown"}]})"),
             Catch::Contains("at $.kernels[0].class"));
  CHECK_THAT(refusal(R"({"kernels": [)" + rule_ok + R"(], "streams": {"7": "bubble"}})"),
             Catch::Contains("at $.streams.7: expected a role"));
  CHECK_THAT(refusal(R"({"kernels": [)" + rule_ok + R"(], "streams": {"seven": "side"}})"),
             Catch::Contains("at $.streams.seven: expected a stream number"));
  CHECK_THAT(refusal(R"({"kernels": [)" + rule_ok + R"(], "phases": [{"annotation": "x", "phase": "Q"}]})"),
             Catch::Contains("at $.phases[0].phase"));
  CHECK_THAT(refusal(R"({"kernels": [)" + rule_ok + R"(], "phases": [{"annotation": "(", "phase": "F"}]})"),
             Catch::Contains("at $.phases[0].annotation"));
  CHECK_THAT(refusal(R"({"kernels": [{"match": "x", "kind": "gemm", "class": "other", "stream": 7}]})"),
             Catch::Contains("at $.kernels[0].stream: expected one of the keys"));
  CHECK_THAT(refusal(R"({"kernels": [{"kind": "gemm", "class": "other"}]})"), Catch::Contains("at $.kernels[0].match"));
  CHECK_THAT(refusal(R"({"kernels": [{"match": 7, "kind": "gemm", "class": "other"}]})"),
             Catch::Contains("at $.kernels[0].match") && Catch::Contains("the integer 7"));
  CHECK_THAT(refusal(R"({"kernels": []})"), Catch::Contains("at $.kernels"));
  CHECK_THAT(refusal(R"({"rules": []})"), Catch::Contains("at $.rules"));
  CHECK_THAT(refusal(R"([1])"), Catch::Contains("at $: expected a Kineto map"));

  // A file that is not JSON, and a missing file: the reader's one line naming the file.
  const auto dir = std::filesystem::temp_directory_path() / "tandem_kineto_map_test";
  std::filesystem::create_directories(dir);
  const std::string bad = (dir / "bad.json").string();
  std::ofstream(bad) << R"({"kernels": [)";
  CHECK_THROWS_AS(load_kineto_map(bad), tandem::io::InputError);
  CHECK_THROWS_WITH(load_kineto_map(bad), Catch::Contains(bad));
  CHECK_THROWS_AS(load_kineto_map((dir / "absent.json").string()), tandem::io::InputError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Kineto map: DeepSeek's H800 profile with the map that ships for it", "[trace][kineto][map]") {
  // The public Kineto trace of one DualPipe chunk pair (see ../shared/data/README.md); a fresh clone
  // of the project alone does not have it.
  const char* root_env = std::getenv("TANDEM_SOURCE_DIR");
  const std::string root = root_env ? root_env : ".";
  const std::string path = root + "/../shared/data/deepseek-h800-train-profile.json";
  if (!std::ifstream(path)) {
    WARN("skipped: " << path << " is absent");
    return;
  }
  const KinetoMap map = load_kineto_map(root + "/data/kineto-maps/deepseek-h800.json");
  ReadStats st;
  const Timeline tl = read_trace(path, &st, &map);
  CHECK(st.unknown_kernels == 0);
  // Every kernel (963) and copy (20) takes its phase from the annotations of the DualPipe pair (attn(F),
  // mlp(B), ...).
  CHECK(st.phased_kernels == 983);
  const TrackIndex idx = build_track_index(tl);
  CHECK(idx.tracks[size_t(idx.find(0, 7))].role == TrackRole::Compute);
  CHECK(idx.tracks[size_t(idx.find(0, 23))].role == TrackRole::Side);
  CHECK(idx.tracks[size_t(idx.find(0, 27))].role == TrackRole::Comm);
  std::set<std::string> deepep_classes;
  int64_t deepep = 0;
  for (const Event& e : tl.events) {
    if (tl.name_of(e).find("dpsk::ep::") == std::string_view::npos) continue;
    ++deepep;
    CHECK(op_class(tl.op_of(e)) == OpClass::Comm);
    deepep_classes.insert(class_of(tl, e));
  }
  // 16 dispatch and combine kernels move tokens; 20 notify and layout kernels are the handshakes.
  CHECK(deepep == 36);
  CHECK(deepep_classes == std::set<std::string>{"deepep_data", "deepep_notify"});
  // The weight-gradient GEMMs on stream 23 count as compute, and stream 23 has no bubble.
  const Measures m = measure_timeline(tl, idx);
  REQUIRE(m.ranks.size() == 1);
  CHECK(m.ranks[0].backward_weight_ns > 0);
  for (const TrackBubbles& b : compute_bubbles(tl, idx, m.step)) CHECK(idx.tracks[b.track].tid != 23);
}
