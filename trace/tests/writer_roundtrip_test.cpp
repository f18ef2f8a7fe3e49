// Writer tests: exact microsecond formatting, escaping, rank filtering, determinism, the golden file
// bit for bit, and write-then-read round trips (in memory and through a file).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include "trace/tests/golden_timeline.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

using namespace tandem::trace;
using tandem::trace::testing::golden_timeline;
using tandem::trace::testing::test_data_path;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("format_micros writes the exact decimal of integer nanoseconds", "[trace][writer]") {
  CHECK(format_micros(0) == "0");
  CHECK(format_micros(1) == "0.001");
  CHECK(format_micros(1000) == "1");
  CHECK(format_micros(1234567) == "1234.567");
  CHECK(format_micros(1234560) == "1234.56");     // trailing zero dropped
  CHECK(format_micros(-1500) == "-1.5");
  CHECK(format_micros(std::numeric_limits<int64_t>::max()) == "9223372036854775.807");
  CHECK(format_micros(std::numeric_limits<int64_t>::min()) == "-9223372036854775.808");
}

TEST_CASE("golden timeline file matches the writer bit for bit", "[trace][writer][golden]") {
  const std::string path = test_data_path("golden_2x2.json");
  const std::string written = write_trace_string(golden_timeline());
  if (std::getenv("TANDEM_REFRESH_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << written;
    WARN("refreshed " << path);
  }
  const std::string stored = slurp(path);
  REQUIRE(!stored.empty());
  CHECK(written == stored);
  // Writing twice gives the same bytes.
  CHECK(write_trace_string(golden_timeline()) == written);
}

TEST_CASE("golden timeline reads back exactly", "[trace][writer][reader][golden]") {
  ReadStats stats;
  const Timeline back = read_trace(test_data_path("golden_2x2.json"), &stats);
  std::string why;
  CHECK(same_content(golden_timeline(), back, &why));
  INFO(why);
  CHECK(stats.complete_events == 22);
  CHECK(stats.flows == 4);
  CHECK(stats.skipped_events == 0);
  CHECK(stats.unresolved_flow_points == 0);
  // And writing what was read gives the same file again.
  CHECK(write_trace_string(back) == slurp(test_data_path("golden_2x2.json")));
}

TEST_CASE("round trip keeps odd names, extreme times and every arg", "[trace][writer][reader]") {
  Timeline tl;
  Event& a = tl.add_event("quote \" backslash \\ tab \t newline \n bell \x07 é ✓", 3, 7, 1, 999, "gemm");
  a.id = 0;
  a.flops = 0.1;
  a.bytes = 1e300;
  a.sms = 0;
  Event& b = tl.add_event("", 2147483647, -5, -123456789, 0);
  b.phase = 'W';
  b.stage = 0;
  b.layer = 60;
  b.mb = 0;
  b.id = std::numeric_limits<int64_t>::max();
  Event& c = tl.add_event("big", 0, 0, std::numeric_limits<int64_t>::max() - 5, 5, "all_to_all");
  c.flops = 5e-324;   // the smallest subnormal survives the shortest round-trip form
  // Arg keys are escaped like names (a key with a carriage return, read from a trace, was written raw).
  tl.add_arg(c, "sta\rge \"q\" \\ \x01", int64_t(4));
  tl.add_flow(-9, 0, 1);
  tl.process_names[3] = "rank \"three\"";
  tl.thread_names[{3, 7}] = "stream 7";
  tl.metadata.source = TraceSource::Cuda;
  tl.metadata.extra["a key with \"quotes\""] = "line\nbreak";
  const std::string text = write_trace_string(tl);
  const Timeline back = parse_trace(text, "roundtrip");
  std::string why;
  CHECK(same_content(tl, back, &why));
  INFO(why << "\n" << text);
  CHECK(write_trace_string(back) == text);
}

TEST_CASE("round trip through a file", "[trace][writer][reader]") {
  const std::string path = tandem::trace::testing::tmp_path("tandem_trace_roundtrip_test.json");
  write_trace(golden_timeline(), path);
  const Timeline back = read_trace(path);
  CHECK(same_content(golden_timeline(), back));
  std::remove(path.c_str());
}

TEST_CASE("rank filter keeps chosen ranks and the flows between them", "[trace][writer]") {
  const Timeline tl = golden_timeline();
  WriteOptions only0;
  only0.ranks = {0};
  const Timeline r0 = parse_trace(write_trace_string(tl, only0));
  // Rank 0 has 11 events (7 compute, 4 comm); every flow has one end on rank 1, so none is kept.
  CHECK(r0.events.size() == 11);
  CHECK(r0.flows.empty());
  CHECK(r0.process_names.size() == 1);
  CHECK(r0.thread_names.size() == 2);
  for (const auto& e : r0.events) CHECK(e.pid == 0);
  WriteOptions both;
  both.ranks = {1, 0};
  CHECK(write_trace_string(tl, both) == write_trace_string(tl));
}

TEST_CASE("writer refuses numbers JSON cannot hold", "[trace][writer]") {
  Timeline tl;
  tl.add_event("x", 0, 0, 0, 1).flops = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(write_trace_string(tl), std::invalid_argument);
  tl.events[0].flops = 1;
  tl.events[0].bytes = std::nan("");
  CHECK_THROWS_AS(write_trace_string(tl), std::invalid_argument);
  tl.events[0].bytes = 1;
  tl.events[0].dur_ns = -1;
  CHECK_THROWS_WITH(write_trace_string(tl), Catch::Contains("negative duration"));
  Timeline bad_flow;
  bad_flow.add_event("x", 0, 0, 0, 1);
  bad_flow.add_flow(1, 0, 5);
  CHECK_THROWS_AS(write_trace_string(bad_flow), std::invalid_argument);
}

TEST_CASE("writer reports a file it cannot create", "[trace][writer]") {
  CHECK_THROWS_WITH(write_trace(golden_timeline(), "/nonexistent-dir/x.json"),
                    Catch::Contains("cannot write /nonexistent-dir/x.json: cannot create a file in /nonexistent-dir"));
}

TEST_CASE("a trace written to a pipe or device is written in place, not renamed over it", "[trace][writer]") {
  // A FIFO stands for /dev/stdout or /dev/null: renaming a temporary file over it would turn it into
  // a regular file (and, for /dev/null run as root, break the machine's /dev/null).
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tandem_trace_fifo_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "out.json").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  write_trace(golden_timeline(), fifo);
  reader.join();
  CHECK(received == write_trace_string(golden_timeline()));
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK_FALSE(std::filesystem::exists(fifo + ".tmp"));
  std::filesystem::remove_all(dir);
}
