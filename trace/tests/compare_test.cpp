// Comparisons of hand-made timelines with known errors (a 10 ms prediction of an 8 ms step: +25%; one
// kind 2x off), identity matching with a missing op and a renamed one, kind-order matching against
// the small Kineto trace and DeepSeek's H800 profile (when present), the step and ranks chosen, the
// JSON keys and the SVG; refused inputs.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "io/input_error.h"
#include "trace/compare.h"
#include "trace/compare_report.h"
#include "trace/compare_svg.h"
#include "trace/tests/golden_timeline.h"
#include "trace/trace_reader.h"

using namespace tandem::trace;
using tandem::io::InputError;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kMs = 1'000'000;

Event& op(Timeline& tl, int32_t pid, int32_t tid, int64_t id, std::string_view name, std::string_view kind, int64_t start,
          int64_t end, char phase = 'F', int64_t step = 0) {
  Event& e = tl.add_event(name, pid, tid, start, end - start, kind);
  e.id = id;
  e.phase = phase;
  e.layer = 0;
  e.stage = 0;
  tl.add_arg(e, "step", step);
  return e;
}

Timeline own(TraceSource source, int gpus) {
  Timeline tl;
  tl.metadata.source = source;
  tl.metadata.scenario = "hand";
  tl.metadata.extra["gpus"] = std::to_string(gpus);
  tl.thread_names[{0, 0}] = "compute";
  tl.thread_names[{0, 1}] = "comm";
  return tl;
}

// Predicted: a forward GEMM of 6 ms then an attention of 4 ms: a 10 ms step.
Timeline predicted_10ms() {
  Timeline tl = own(TraceSource::Sim, 1);
  op(tl, 0, 0, 0, "L0.q_up", "gemm", 0, 6 * kMs);
  op(tl, 0, 0, 1, "L0.attn", "attention", 6 * kMs, 10 * kMs);
  return tl;
}

// Measured: the GEMM took 3 ms (the prediction is 2x off: +100%), the attention 5 ms (-20%): 8 ms.
Timeline measured_8ms(int64_t step = 1) {
  Timeline tl = own(TraceSource::Cpu, 1);
  op(tl, 0, 0, 0, "L0.q_up", "gemm", 0, 3 * kMs, 'F', step);
  op(tl, 0, 0, 1, "L0.attn", "attention", 3 * kMs, 8 * kMs, 'F', step);
  return tl;
}

const CompareRow& row(const std::vector<CompareRow>& rows, const std::string& name) {
  for (const CompareRow& r : rows)
    if (r.name == name) return r;
  FAIL("no row " << name);
  return rows.front();
}

}  // namespace

TEST_CASE("compare: a 10 ms prediction of an 8 ms step is +25% and a kind 2x off is +100%", "[trace][compare]") {
  const Comparison c = compare_timelines(predicted_10ms(), "p.json", measured_8ms(), "m.json");
  CHECK(c.matching == Matching::Identity);
  CHECK(c.matched == 2);
  CHECK(c.only_predicted.count == 0);
  CHECK(c.only_measured.count == 0);
  CHECK(c.name_mismatches.count == 0);
  // The sides' steps: 0 (the simulation) and 1 (the run) each held alone, lined up.
  CHECK(c.predicted.step == 0);
  CHECK(c.measured.step == 1);
  CHECK(c.step.predicted_s == Approx(0.010));
  CHECK(c.step.measured_s == Approx(0.008));
  CHECK(*c.step.error() == Approx(0.25));   // (10 - 8) / 8
  // Kinds, longest first by the larger side: gemm (6 vs 3 ms), attention (4 vs 5 ms).
  REQUIRE(c.kinds.size() == 2);
  CHECK(c.kinds[0].name == "gemm");
  CHECK(*c.kinds[0].time.error() == Approx(1.0));    // (6 - 3) / 3
  CHECK(c.kinds[0].predicted_count == 1);
  CHECK(c.kinds[0].measured_count == 1);
  CHECK(c.kinds[1].name == "attention");
  CHECK(*c.kinds[1].time.error() == Approx(-0.2));   // (4 - 5) / 5
  // Phases: all forward; no bubble on either side.
  CHECK(*row(c.phases, "forward").time.error() == Approx(0.25));
  CHECK(row(c.phases, "bubble").time.predicted_s == 0);
  CHECK(*row(c.phases, "bubble").time.error() == 0);   // 0 against 0
  CHECK(*row(c.phases, "backward_input").time.error() == 0);
  // The compute stream, by its thread name.
  REQUIRE(c.streams.size() == 1);
  CHECK(c.streams[0].name == "compute");
  CHECK(*c.streams[0].time.error() == Approx(0.25));
  // The largest absolute error first: the GEMM's 3 ms, then the attention's 1 ms.
  REQUIRE(c.top_ops.size() == 2);
  CHECK(c.top_ops[0].name == "L0.q_up");
  CHECK(c.top_ops[0].id == 0);
  CHECK(c.top_ops[0].time.predicted_s == Approx(0.006));
  CHECK(c.top_ops[0].time.measured_s == Approx(0.003));
  CHECK(c.top_ops[1].name == "L0.attn");

  const std::string table = to_table(c);
  CHECK_THAT(table, Contains("identity (rank, step, id): 2 ops matched, 0 only predicted, 0 only measured, names agree"));
  CHECK_THAT(table, Contains("step time"));
  CHECK_THAT(table, Contains("+25.0%"));
  CHECK_THAT(table, Contains("+100.0%"));
  CHECK_THAT(table, Contains("(measured / predicted 0.8x)"));
}

TEST_CASE("compare: the JSON report has the documented keys", "[trace][compare]") {
  const nlohmann::json j = to_json(compare_timelines(predicted_10ms(), "p.json", measured_8ms(), "m.json"));
  for (const char* key : {"step_time", "kinds", "phases", "streams", "top_ops", "matching", "predicted", "measured"})
    CHECK(j.contains(key));
  CHECK(j["step_time"]["predicted_s"].get<double>() == Approx(0.010));
  CHECK(j["step_time"]["measured_s"].get<double>() == Approx(0.008));
  CHECK(j["step_time"]["error"].get<double>() == Approx(0.25));
  CHECK(j["matching"]["method"] == "identity");
  CHECK(j["matching"]["matched"] == 2);
  const auto& k = j["kinds"][0];
  for (const char* key : {"kind", "predicted_s", "measured_s", "error", "count"}) CHECK(k.contains(key));
  CHECK(k["kind"] == "gemm");
  CHECK(k["count"]["predicted"] == 1);
  CHECK(j["phases"][0]["phase"] == "forward");
  CHECK(j["streams"][0]["stream"] == "compute");
  CHECK(j["top_ops"][0]["name"] == "L0.q_up");
  CHECK(j["top_ops"][0]["rank"] == 0);
  // The same input gives the same text.
  CHECK(j.dump() == to_json(compare_timelines(predicted_10ms(), "p.json", measured_8ms(), "m.json")).dump());
}

TEST_CASE("compare: identity matching reports a missing op and a renamed one", "[trace][compare]") {
  Timeline p = predicted_10ms();
  op(p, 0, 1, 2, "L0.dispatch", "all_to_all", 10 * kMs, 11 * kMs);
  Timeline m = own(TraceSource::Cpu, 1);
  op(m, 0, 0, 0, "L0.q_up", "gemm", 0, 3 * kMs);
  op(m, 0, 0, 1, "L0.attention", "attention", 3 * kMs, 8 * kMs);   // another name for id 1
  op(m, 0, 0, 7, "L0.extra", "norm", 8 * kMs, 9 * kMs);           // no id 7 predicted
  const Comparison c = compare_timelines(std::move(p), "p.json", std::move(m), "m.json");
  CHECK(c.matched == 2);
  CHECK(c.only_predicted.count == 1);
  REQUIRE(c.only_predicted.first.size() == 1);
  CHECK(c.only_predicted.first[0] == "rank 0 id 2 L0.dispatch");
  CHECK(c.only_measured.count == 1);
  CHECK(c.only_measured.first[0] == "rank 0 id 7 L0.extra");
  CHECK(c.name_mismatches.count == 1);
  CHECK(c.name_mismatches.first[0] == "rank 0 id 1 L0.attn vs L0.attention");
  // The all-to-all is predicted only: its kind has no measured time and no error.
  CHECK(!row(c.kinds, "all_to_all").time.error());
  CHECK(row(c.kinds, "all_to_all").measured_count == 0);
  const std::string table = to_table(c);
  CHECK_THAT(table, Contains("1 only predicted, 1 only measured, 1 names differ"));
  CHECK_THAT(table, Contains("rank 0 id 1 L0.attn vs L0.attention"));
  CHECK_THAT(table, Contains("n/a"));
}

TEST_CASE("compare: kind-order matching lines a prediction up with a Kineto trace", "[trace][compare]") {
  // The Kineto trace (GPU 0): a cuBLAS GEMM of 85.125 us and an add of 3.25 us on stream 7, an NCCL
  // all-reduce of 120 us on stream 13, a 2 us copy. It carries no phases or layers, so neither is
  // part of the key.
  const Timeline kineto = read_trace(testing::test_data_path("kineto_small.json"));
  Timeline p = own(TraceSource::Sim, 8);
  op(p, 0, 0, 0, "L0.q_up", "gemm", 0, 100'000);
  op(p, 0, 0, 1, "L0.add", "elementwise", 100'000, 103'250);
  op(p, 0, 1, 2, "grad_allreduce", "all_reduce", 0, 60'000);
  const Comparison c = compare_timelines(std::move(p), "p.json", kineto, "kineto_small.json");
  CHECK(c.matching == Matching::KindOrder);
  CHECK_FALSE(c.by_phase);
  CHECK_FALSE(c.by_layer);
  CHECK(c.matched == 3);
  CHECK(c.only_predicted.count == 0);
  CHECK(c.only_measured.count == 1);   // the copy
  CHECK_THAT(c.only_measured.first[0], Contains("Memcpy DtoH"));
  CHECK(c.measured.ranks == std::vector<int32_t>{0});   // the host process (pid 4021) holds no op
  // The measured step is GPU 0's: the GEMM's start at 20 us to the copy's end at 202 us (the host's
  // ProfilerStep range over 0..250 us is not part of it).
  CHECK(c.step.measured_s == Approx(182e-6));
  CHECK(*row(c.kinds, "gemm").time.error() == Approx((100.0 - 85.125) / 85.125));
  CHECK(*row(c.kinds, "elementwise").time.error() == Approx(0.0));
  CHECK(*row(c.kinds, "all_reduce").time.error() == Approx(-0.5));   // 60 vs 120 us
  // Host work and annotations are no op kinds.
  for (const CompareRow& r : c.kinds) CHECK(op_class(r.name) != OpClass::Host);
  // Streams by role: compute (GEMM, add, copy) and communication.
  CHECK(row(c.streams, "compute").measured_count == 3);
  CHECK(row(c.streams, "communication").predicted_count == 1);
  CHECK(c.top_ops[0].kind == "all_reduce");   // 60 us off
  CHECK_THAT(to_table(c), Contains("kind order (n-th rank, stream role, kind, n-th occurrence)"));
}

TEST_CASE("compare: kind order keys the phase and layer when both sides carry them", "[trace][compare]") {
  Timeline p = own(TraceSource::Sim, 1), m;
  m.metadata.source = TraceSource::Kineto;
  op(p, 0, 0, 0, "L0.a", "gemm", 0, 10, 'F');
  op(p, 0, 0, 1, "L0.b", "gemm", 10, 30, 'B');
  // The measured side lists the backward GEMM first; its phase still pairs it with the predicted B.
  Event& b = m.add_event("gemm_b", 0, 0, 0, 25, "gemm");
  b.phase = 'B';
  b.layer = 0;
  Event& f = m.add_event("gemm_f", 0, 0, 25, 10, "gemm");
  f.phase = 'F';
  f.layer = 0;
  const Comparison c = compare_timelines(std::move(p), "p.json", std::move(m), "m.json");
  CHECK(c.by_phase);
  CHECK(c.by_layer);
  CHECK(c.matched == 2);
  REQUIRE(c.top_ops.size() == 2);
  CHECK(c.top_ops[0].name == "L0.b");   // 20 vs 25 ns
  CHECK(c.top_ops[0].time.measured_s == Approx(25e-9));
}

TEST_CASE("compare: a trace of several steps is cut to one", "[trace][compare]") {
  Timeline m = measured_8ms(1);
  op(m, 0, 0, 0, "L0.q_up", "gemm", 10 * kMs, 12 * kMs, 'F', 2);
  op(m, 0, 0, 1, "L0.attn", "attention", 12 * kMs, 16 * kMs, 'F', 2);
  // The last step by default: 6 ms measured.
  Comparison c = compare_timelines(predicted_10ms(), "p.json", m, "m.json");
  CHECK(c.measured.steps_held == 2);
  CHECK(c.measured.step == 2);
  CHECK(c.matched == 2);
  CHECK(c.step.measured_s == Approx(0.006));
  CHECK_THAT(to_table(c), Contains("step 2 of 2 held"));
  CompareOptions o;
  o.step = 1;
  c = compare_timelines(predicted_10ms(), "p.json", m, "m.json", o);
  CHECK(c.step.measured_s == Approx(0.008));
  o.step = 7;
  CHECK_THROWS_WITH(compare_timelines(predicted_10ms(), "p.json", m, "m.json", o),
                    "--step: expected a step that m.json holds (1,2), found 7");
}

TEST_CASE("compare: ranks are chosen per side and identity takes the ranks both hold", "[trace][compare]") {
  Timeline p = own(TraceSource::Sim, 2), m = own(TraceSource::Cpu, 2);
  for (int32_t r : {0, 1}) {
    op(p, r, 0, 0, "L0.q_up", "gemm", 0, 4 * kMs);
    op(m, r, 0, 0, "L0.q_up", "gemm", 0, (2 + r) * kMs);
  }
  op(p, 1, 0, 1, "L0.q_down", "gemm", 4 * kMs, 5 * kMs);
  CompareOptions o;
  o.predicted_ranks = o.measured_ranks = {1};
  Comparison c = compare_timelines(p, "p.json", m, "m.json", o);
  CHECK(c.predicted.ranks == std::vector<int32_t>{1});
  CHECK(c.matched == 1);
  CHECK(c.only_predicted.count == 1);
  CHECK(c.step.measured_s == Approx(0.003));
  o.predicted_ranks = o.measured_ranks = {3};
  CHECK_THROWS_WITH(compare_timelines(p, "p.json", m, "m.json", o), "--ranks: expected ranks that p.json holds (0-1), found rank 3");
  // A simulation that traced rank 1 only: rank 0 of the measured side is left out.
  Timeline p1 = own(TraceSource::Sim, 2);
  op(p1, 1, 0, 0, "L0.q_up", "gemm", 0, 4 * kMs);
  c = compare_timelines(std::move(p1), "p.json", m, "m.json");
  CHECK(c.measured.ranks == std::vector<int32_t>{1});
  CHECK(c.matched == 1);
  CHECK(c.only_measured.count == 0);
}

TEST_CASE("compare: inputs that cannot be compared are refused with one line", "[trace][compare][errors]") {
  // Identity matching needs one world.
  CHECK_THROWS_WITH(compare_timelines(predicted_10ms(), "p.json", [] {
                      Timeline m = measured_8ms();
                      m.metadata.extra["gpus"] = "4";
                      return m;
                    }(), "m.json"),
                    "m.json: at metadata.gpus: expected the world of 1 GPUs of p.json (ops are lined up by rank and id), "
                    "found 4 GPUs");
  // An empty trace, and one of host work only.
  CHECK_THROWS_AS(compare_timelines(predicted_10ms(), "p.json", Timeline{}, "empty.json"), InputError);
  Timeline host;
  host.add_event("aten::mm", 1, 1, 0, 10, "cpu_op");
  CHECK_THROWS_WITH(compare_timelines(predicted_10ms(), "p.json", std::move(host), "host.json"),
                    "host.json: expected a trace with at least one op, found 1 events, none of them an op (host work "
                    "and annotations only)");
}

TEST_CASE("compare: the SVG has a bar pair per kind and a log axis when the sides differ 100x", "[trace][compare]") {
  const std::string svg = compare_svg(compare_timelines(predicted_10ms(), "p.json", measured_8ms(), "m.json"));
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK_THAT(svg, Contains(">gemm</text>"));
  CHECK_THAT(svg, Contains(">+100.0%</text>"));
  CHECK_THAT(svg, !Contains("log axis"));
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  Timeline slow = own(TraceSource::Cpu, 1);
  op(slow, 0, 0, 0, "L0.q_up", "gemm", 0, 3000 * kMs);
  op(slow, 0, 0, 1, "L0.attn", "attention", 3000 * kMs, 8000 * kMs);
  CHECK_THAT(compare_svg(compare_timelines(predicted_10ms(), "p.json", std::move(slow), "m.json")), Contains("log axis"));
}

TEST_CASE("compare: DeepSeek's H800 profile against itself with its GEMMs twice as long", "[trace][compare][kineto]") {
  // The public Kineto trace of one DualPipe chunk pair (see ../shared/data/README.md); a fresh clone
  // of the project alone does not have it.
  const char* root = std::getenv("TANDEM_SOURCE_DIR");
  const std::string path = std::string(root ? root : ".") + "/../shared/data/deepseek-h800-train-profile.json";
  if (!std::ifstream(path)) {
    WARN("skipped: " << path << " is absent");
    return;
  }
  const Timeline measured = read_trace(path);
  Timeline predicted = measured;
  for (Event& e : predicted.events)
    if (predicted.op_of(e) == "gemm") e.dur_ns *= 2;
  const Comparison c = compare_timelines(predicted, "predicted.json", measured, path);
  CHECK(c.matching == Matching::KindOrder);
  CHECK(c.measured.ranks == std::vector<int32_t>{0});   // GPU 0; the CPU process holds no op
  CHECK(c.measured.ops == 983);
  CHECK(c.matched == 983);
  CHECK(c.only_predicted.count == 0);
  CHECK(c.only_measured.count == 0);
  CHECK(*row(c.kinds, "gemm").time.error() == Approx(1.0));
  CHECK(*row(c.kinds, "all_to_all").time.error() == 0);     // DeepEP's dispatch and combine
  CHECK(row(c.kinds, "all_to_all").measured_count == 36);
  REQUIRE(!c.top_ops.empty());
  CHECK(c.top_ops[0].kind == "gemm");
  CHECK(c.top_ops[0].time.predicted_s == Approx(2 * c.top_ops[0].time.measured_s));
}
