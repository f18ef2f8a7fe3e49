// Reader tests: this project's format, the Kineto mapping (tests/data/kineto_small.json), B/E
// pairs, string pids/tids, flow binding, and one test per kind of bad input with its message.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "trace/tests/golden_timeline.h"
#include "trace/trace_reader.h"

using namespace tandem::trace;
using tandem::trace::testing::test_data_path;

namespace {
// The message of the TraceError that parsing `text` throws ("" when it does not throw).
std::string error_of(const std::string& text, TraceError* out = nullptr) {
  try {
    parse_trace(text, "t.json");
  } catch (const TraceError& e) {
    if (out) *out = e;
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("reads complete events with args and microsecond fractions", "[trace][reader]") {
  const Timeline tl = parse_trace(R"({"traceEvents":[
    {"ph":"X","name":"L3.q_up","cat":"gemm","pid":5,"tid":0,"ts":12.5,"dur":0.001,
     "args":{"op":"gemm","id":42,"stage":2,"layer":3,"mb":7,"phase":"B","flops":1.5e12,"bytes":4096,"sms":112,
             "unknown":{"nested":[1,2,{"x":null}]}}}],
    "metadata":{"scenario":"s","source":"sim","version":"0.1.0","extra":"v","n":3}})");
  REQUIRE(tl.events.size() == 1);
  const Event& e = tl.events[0];
  CHECK(tl.name_of(e) == "L3.q_up");
  CHECK(tl.op_of(e) == "gemm");
  CHECK(e.pid == 5);
  CHECK(e.tid == 0);
  CHECK(e.start_ns == 12500);   // 12.5 µs
  CHECK(e.dur_ns == 1);         // 0.001 µs
  CHECK(e.id == 42);
  CHECK(e.stage == 2);
  CHECK(e.layer == 3);
  CHECK(e.mb == 7);
  CHECK(e.phase == 'B');
  CHECK(e.flops == 1.5e12);
  CHECK(e.bytes == 4096.0);
  CHECK(e.sms == 112);
  CHECK(tl.metadata.scenario == "s");
  CHECK(tl.metadata.source == TraceSource::Sim);
  CHECK(tl.metadata.version == "0.1.0");
  CHECK(tl.metadata.extra.at("extra") == "v");
  CHECK(tl.metadata.extra.at("n") == "3");   // non-string metadata kept as its JSON text
}

TEST_CASE("reads the JSON array form and B/E pairs", "[trace][reader]") {
  ReadStats st;
  const Timeline tl = parse_trace(R"([
    {"ph":"B","name":"outer","pid":1,"tid":2,"ts":10},
    {"ph":"B","name":"inner","pid":1,"tid":2,"ts":11},
    {"ph":"E","pid":1,"tid":2,"ts":13},
    {"ph":"E","pid":1,"tid":2,"ts":20},
    {"ph":"E","pid":1,"tid":2,"ts":21},
    {"ph":"C","name":"counter","pid":1,"ts":5,"args":{"v":1}},
    {"ph":"i","name":"mark","pid":1,"tid":2,"ts":5}
  ])", "arr", &st);
  // Pairs close innermost first: inner [11,13) µs, then outer [10,20) µs.
  REQUIRE(tl.events.size() == 2);
  CHECK(tl.name_of(tl.events[0]) == "inner");
  CHECK(tl.events[0].start_ns == 11000);
  CHECK(tl.events[0].dur_ns == 2000);
  CHECK(tl.name_of(tl.events[1]) == "outer");
  CHECK(tl.events[1].dur_ns == 10000);
  CHECK(st.unmatched_begin_end == 1);   // the third "E"
  CHECK(st.skipped_events == 2);        // counter and instant
}

TEST_CASE("string pids and tids get ids and keep their text as names", "[trace][reader]") {
  const Timeline tl = parse_trace(R"({"traceEvents":[
    {"ph":"X","name":"a","pid":"Spans","tid":"PyTorch Profiler","ts":1,"dur":1},
    {"ph":"X","name":"b","pid":"Spans","tid":"PyTorch Profiler","ts":3,"dur":1},
    {"ph":"X","name":"c","pid":"Spans","tid":"other","ts":3,"dur":1}]})");
  REQUIRE(tl.events.size() == 3);
  CHECK(tl.events[0].pid == tl.events[1].pid);
  CHECK(tl.events[0].tid == tl.events[1].tid);
  CHECK(tl.events[2].tid != tl.events[0].tid);
  CHECK(tl.process_names.at(tl.events[0].pid) == "Spans");
  CHECK(tl.thread_names.at({tl.events[0].pid, tl.events[0].tid}) == "PyTorch Profiler");
}

TEST_CASE("flows bind to the slice starting at ts, or enclosing it", "[trace][reader]") {
  ReadStats st;
  const Timeline tl = parse_trace(R"({"traceEvents":[
    {"ph":"X","name":"send","pid":0,"tid":1,"ts":10,"dur":5},
    {"ph":"X","name":"recv","pid":1,"tid":1,"ts":12,"dur":5},
    {"ph":"f","bp":"e","id":"x","cat":"c","pid":1,"tid":1,"ts":14},
    {"ph":"s","id":"x","cat":"c","pid":0,"tid":1,"ts":11},
    {"ph":"s","id":9,"cat":"c","pid":0,"tid":1,"ts":10},
    {"ph":"f","id":9,"cat":"c","pid":1,"tid":1,"ts":11},
    {"ph":"s","id":10,"cat":"c","pid":0,"tid":1,"ts":100},
    {"ph":"f","id":10,"cat":"c","pid":1,"tid":1,"ts":12}]})", "flows", &st);
  // Flow "x": finish 14 µs inside recv [12,17), start 11 µs inside send [10,15); its id is its order (0).
  // Flow 9: "f" without bp binds to the next slice at or after 11 µs, recv. Flow 10: no slice at 100 µs.
  REQUIRE(tl.flows.size() == 2);
  CHECK(tl.flows[0].id == 0);
  CHECK(tl.flows[0].from_event == 0);
  CHECK(tl.flows[0].to_event == 1);
  CHECK(tl.flows[1].id == 9);
  CHECK(tl.flows[1].from_event == 0);
  CHECK(tl.flows[1].to_event == 1);
  CHECK(st.unresolved_flow_points == 2);
}

TEST_CASE("Kineto trace maps kernels, host ops, copies and flows", "[trace][reader][kineto]") {
  ReadStats st;
  const Timeline tl = read_trace(test_data_path("kineto_small.json"), &st);
  CHECK(tl.metadata.source == TraceSource::Kineto);
  CHECK(tl.metadata.extra.at("distributedInfo.rank") == "3");
  CHECK(tl.metadata.extra.at("displayTimeUnit") == "ms");
  REQUIRE(tl.events.size() == 7);
  CHECK(st.skipped_events == 2);   // the two instant events
  auto find = [&](std::string_view prefix) -> const Event& {
    for (const auto& e : tl.events)
      if (tl.name_of(e).substr(0, prefix.size()) == prefix) return e;
    FAIL("no event " << prefix);
    return tl.events[0];
  };
  const Event& mm = find("aten::mm");
  CHECK(tl.op_of(mm) == "cpu_op");
  CHECK(op_class(tl.op_of(mm)) == OpClass::Host);
  CHECK(mm.id == 17);                              // External id
  CHECK(mm.flops == 60129542144.0);
  CHECK(mm.start_ns == 1700000000000250);          // 1700000000000.250 µs, exact
  CHECK(mm.dur_ns == 12500);
  const Event& gemm = find("sm90_xmma_gemm");
  CHECK(tl.op_of(gemm) == "gemm");
  CHECK(gemm.pid == 0);
  CHECK(gemm.tid == 7);
  CHECK(gemm.id == 5001);                          // correlation
  CHECK(gemm.dur_ns == 85125);
  CHECK(tl.op_of(find("ncclDevKernel_AllReduce")) == "all_reduce");
  CHECK(tl.op_of(find("void at::native::vectorized_elementwise")) == "elementwise");
  const Event& copy = find("Memcpy DtoH");
  CHECK(tl.op_of(copy) == "memcpy");
  CHECK(copy.bytes == 4096.0);
  CHECK(tl.op_of(find("ProfilerStep#2")) == "user_annotation");
  CHECK(tl.process_names.at(4021) == "python3");
  CHECK(tl.thread_names.at({0, 7}) == "stream 7 ");
  // The launch -> kernel flow binds cudaLaunchKernel to the GEMM kernel.
  REQUIRE(tl.flows.size() == 1);
  CHECK(tl.name_of(tl.events[tl.flows[0].from_event]) == "cudaLaunchKernel");
  CHECK(tl.flows[0].to_event == static_cast<uint32_t>(&gemm - tl.events.data()));
}

TEST_CASE("kineto_op_kind classifies kernel names", "[trace][reader][kineto]") {
  CHECK(kineto_op_kind("kernel", "flash_fwd_kernel<Flash_fwd_kernel_traits<128>>") == "attention");
  CHECK(kineto_op_kind("kernel", "fmha_cutlassF_bf16_aligned_64x128_rf_sm80") == "attention");
  CHECK(kineto_op_kind("kernel", "cutlass::Kernel<cutlass_80_tensorop_bf16_s16816gemm>") == "gemm");
  CHECK(kineto_op_kind("kernel", "ncclDevKernel_ReduceScatter_Sum_f32_RING_LL") == "reduce_scatter");
  CHECK(kineto_op_kind("kernel", "ncclDevKernel_AllGather_RING_LL") == "all_gather");
  CHECK(kineto_op_kind("kernel", "ncclDevKernel_SendRecv") == "send_recv");
  CHECK(kineto_op_kind("kernel", "deep_ep::internode::dispatch<8>") == "all_to_all");
  CHECK(kineto_op_kind("kernel", "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel") == "norm");
  CHECK(kineto_op_kind("kernel", "multi_tensor_apply_kernel<AdamFunctor>") == "optimizer");
  CHECK(kineto_op_kind("kernel", "my_custom_thing") == "kernel");
  CHECK(kineto_op_kind("gpu_memset", "Memset (Device)") == "memset");
  CHECK(kineto_op_kind("Trace", "x") == "trace");
}

// ------------------------------------------------------------------------------------------------
// Bad input: each case names what is wrong and where.

TEST_CASE("bad input: truncated files", "[trace][reader][bad]") {
  const std::string good = R"({"traceEvents":[{"ph":"X","name":"a","pid":0,"tid":0,"ts":1,"dur":2}]})";
  // Every strict prefix of a valid trace is an error, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string msg = error_of(good.substr(0, n));
    INFO("prefix of " << n << " bytes");
    CHECK(!msg.empty());
  }
  TraceError e("", "", 0, 0, 0);
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","name":"a","pid":0,)", &e),
             Catch::Contains("unexpected end of file") && Catch::Contains("truncated"));
  CHECK(e.offset == 45);   // 16 bytes of {"traceEvents":[ and 29 of the event
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","name":"unterminated)"), Catch::Contains("unterminated string"));
  CHECK_THAT(error_of(""), Catch::Contains("the file is empty"));
}

TEST_CASE("bad input: malformed JSON names line and column", "[trace][reader][bad]") {
  TraceError e("", "", 0, 0, 0);
  const std::string msg = error_of("{\"traceEvents\":[\n{\"ph\":\"X\" \"name\":\"a\"}]}", &e);
  // Line 2 starts at byte 17; the stray '"' is its 11th byte (after {"ph":"X" and a space).
  CHECK_THAT(msg, Catch::Contains("t.json:2:11 (byte 27)") && Catch::Contains("expected ',' or '}'"));
  CHECK(e.line == 2);
  CHECK(e.column == 11);
  CHECK(e.offset == 27);
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X",}]})"), Catch::Contains("expected a key"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":01}]})"), Catch::Contains("malformed number"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1.}]})"), Catch::Contains("a digit after '.'"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":tru}]})"), Catch::Contains("expected a number"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","name":"a\qb"}]})"), Catch::Contains("invalid escape"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","name":"\ud800x"}]})"), Catch::Contains("surrogate"));
  CHECK_THAT(error_of("{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"a\tb\"}]}"), Catch::Contains("control character"));
  CHECK_THAT(error_of(R"({"traceEvents":[]} extra)"), Catch::Contains("after the end of the trace"));
  CHECK_THAT(error_of(R"({"traceEvents":[] , })"), Catch::Contains("expected a key"));
  CHECK_THAT(error_of("\"just a string\""), Catch::Contains("expected a trace"));
  CHECK_THAT(error_of(R"({"other":1})"), Catch::Contains("no \"traceEvents\" array"));
  std::string deep = R"({"traceEvents":[{"ph":"X","args":{"x":)";
  for (int i = 0; i < 300; ++i) deep += "[";
  CHECK_THAT(error_of(deep), Catch::Contains("nesting deeper than 256"));
}

TEST_CASE("bad input: wrong types", "[trace][reader][bad]") {
  CHECK_THAT(error_of(R"({"traceEvents":{}})"), Catch::Contains("\"traceEvents\": expected an array"));
  CHECK_THAT(error_of(R"({"traceEvents":[3]})"), Catch::Contains("event #0: expected an object, found a number"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":"1","dur":1}]})"),
             Catch::Contains("event #0: field \"ts\": expected a number (microseconds), found a string"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"pid":[0]}]})"),
             Catch::Contains("field \"pid\": expected an integer or a string, found an array"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"pid":1.5}]})"),
             Catch::Contains("field \"pid\"") && Catch::Contains("not an integer"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":{"stage":"two"}}]})"),
             Catch::Contains("field \"args.stage\": expected an integer, found a string"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":{"phase":"Q"}}]})"),
             Catch::Contains("expected \"F\", \"B\" or \"W\", found \"Q\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":[1]}]})"),
             Catch::Contains("field \"args\": expected an object"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":{"flops":"many"}}]})"),
             Catch::Contains("field \"args.flops\": expected a number"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":7}]})"), Catch::Contains("field \"ph\": expected a string"));
  CHECK_THAT(error_of(R"({"traceEvents":[],"metadata":[]})"), Catch::Contains("\"metadata\": expected an object"));
  CHECK_THAT(error_of(R"({"traceEvents":[],"metadata":{"source":"gpu"}})"),
             Catch::Contains("expected one of sim, cpu, cuda, kineto, found \"gpu\""));
  CHECK_THAT(error_of(R"({"traceEvents":[],"metadata":{"version":1}})"),
             Catch::Contains("metadata \"version\": expected a string"));
}

TEST_CASE("bad input: missing required fields", "[trace][reader][bad]") {
  TraceError e("", "", 0, 0, 0);
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","dur":1},{"name":"a","ts":1}]})", &e),
             Catch::Contains("event #0: missing required field \"ts\""));
  CHECK(e.offset == 16);   // points at the event's '{'
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1},{"name":"a","ts":1}]})"),
             Catch::Contains("event #1: missing required field \"ph\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1}]})"), Catch::Contains("missing required field \"dur\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"s","ts":1}]})"), Catch::Contains("without an \"id\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"M","name":"thread_name","pid":0,"tid":0}]})"),
             Catch::Contains("without a string \"args.name\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"XX","ts":1}]})"), Catch::Contains("unknown phase"));
}

TEST_CASE("bad input: huge and negative numbers", "[trace][reader][bad]") {
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1e300,"dur":1}]})"),
             Catch::Contains("field \"ts\": 1e300 µs is out of range"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":9223372036854776,"dur":1}]})"),
             Catch::Contains("out of range"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":9223372036854775.807,"dur":0.001}]})"),
             Catch::Contains("ts + dur is out of range"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":-2}]})"), Catch::Contains("negative duration"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"pid":4294967296}]})"),
             Catch::Contains("field \"pid\": expected an integer in [-2147483648, 2147483647], found 4294967296"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":{"flops":1e999}}]})"),
             Catch::Contains("out of range for a double"));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"X","ts":1,"dur":1,"args":{"id":123456789012345678901234}}]})"),
             Catch::Contains("field \"args.id\""));
  CHECK_THAT(error_of(R"({"traceEvents":[{"ph":"E","pid":0,"tid":0,"ts":1},{"ph":"B","pid":0,"tid":0,"ts":5},)"
                      R"({"ph":"E","pid":0,"tid":0,"ts":2}]})"),
             Catch::Contains("\"E\" event earlier than its \"B\""));
}

TEST_CASE("bad input: files that are missing or not files", "[trace][reader][bad]") {
  CHECK_THROWS_WITH(read_trace("/nonexistent/trace.json"), Catch::Contains("found no such file"));
  CHECK_THROWS_WITH(read_trace("/tmp"), Catch::Contains("/tmp: at (file): expected a trace file (Chrome trace JSON), found a directory"));
  // A device and a FIFO are refused before they are opened (a FIFO without a writer would block the open).
  CHECK_THROWS_WITH(read_trace("/dev/zero"), Catch::Contains("found a character device"));
  const std::string fifo = std::filesystem::temp_directory_path() / ("tandem_trace_in_fifo_" + std::to_string(::getpid()));
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_trace(fifo), Catch::Contains("found a FIFO"));
  std::filesystem::remove(fifo);
  CHECK_THROWS_AS(read_trace(test_data_path("bad_truncated.json")), TraceError);
  CHECK_THROWS_WITH(read_trace(test_data_path("bad_truncated.json")),
                    Catch::Contains("bad_truncated.json:") && Catch::Contains("truncated"));
}

TEST_CASE("bad input: random corruptions never crash the reader", "[trace][reader][bad]") {
  // 3000 copies of the golden and Kineto files with a few bytes replaced, deleted or duplicated:
  // each either parses or throws TraceError (anything else fails the test).
  std::vector<std::string> bases;
  for (const char* name : {"golden_2x2.json", "kineto_small.json"}) {
    std::ifstream in(test_data_path(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bases.push_back(ss.str());
  }
  std::mt19937 rng(12345);
  const std::string alphabet = "{}[]\",:0123456789.eE-+ \n\\tnulfasrXBEMsfph";
  size_t parsed = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = bases[size_t(i) % bases.size()];
    const int edits = 1 + int(rng() % 4);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 8); break;
        default: text.insert(at, text.substr(at, 1 + rng() % 16)); break;
      }
    }
    try {
      const Timeline tl = parse_trace(text, "fuzz");
      for (const auto& f : tl.flows) REQUIRE((f.from_event < tl.events.size() && f.to_event < tl.events.size()));
      ++parsed;
    } catch (const TraceError&) {
      ++rejected;
    }
  }
  CHECK(parsed + rejected == 3000);
  CHECK(rejected > 1000);   // most corruptions break the JSON or a field
}
