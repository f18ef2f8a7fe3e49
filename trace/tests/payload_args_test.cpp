// Payloads read back from trace args: every op of the tiny program, written by the program-timeline
// builder, through the file and back, gives the payload it was written from (kind, FLOPs, HBM bytes,
// communication fields); an unknown kind and a missing arg are reported by name.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/scenario.h"
#include "ir/step_program.h"
#include "trace/payload_args.h"
#include "trace/program_timeline.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

using namespace tandem;
using namespace tandem::trace;

TEST_CASE("every op of the tiny program reads back its payload from the trace's args", "[trace][payload]") {
  const ir::StepProgram program(ir::load_scenario("tiny"));
  Timeline written;
  set_program_metadata(written, program, TraceSource::Cpu);
  ProgramTimelineBuilder builder(written, program, 1);
  for (int64_t rank = 0; rank < program.num_ranks(); ++rank) {
    const ir::RankProgram& rp = program.program_of(rank);
    std::vector<OpTiming> times(rp.ops.size());
    for (size_t i = 0; i < times.size(); ++i) times[i] = {int64_t(i) * 10, int64_t(i) * 10 + 5};
    builder.add_rank(rank, times);
  }
  builder.finish();
  const Timeline tl = parse_trace(write_trace_string(written), "tiny.json");
  CHECK(tl.metadata.extra.at("gpu") == program.cluster().gpu);
  CHECK(tl.metadata.extra.at("plan").find("\"pp\":2") != std::string::npos);
  REQUIRE(tl.events.size() > 100);
  size_t comms = 0;
  for (const Event& e : tl.events) {
    const ir::RankProgram& rp = program.program_of(e.pid);
    const ir::OpPayload& want = rp.tmpl(rp.ops[size_t(e.id)]).payload;
    const PayloadRead got = payload_from_args(tl, e);
    INFO(tl.name_of(e) << ": " << got.problem);
    REQUIRE(got.payload);
    CHECK(got.payload->index() == want.index());
    CHECK(ir::op_flops(*got.payload) == ir::op_flops(want));
    CHECK(ir::op_hbm_bytes(*got.payload) == ir::op_hbm_bytes(want));
    if (const auto* c = std::get_if<ir::Comm>(&want)) {
      const auto& g = std::get<ir::Comm>(*got.payload);
      CHECK(g.kind == c->kind);
      CHECK(g.bytes == c->bytes);
      CHECK(g.group_size == c->group_size);
      CHECK(g.group == c->group);
      CHECK(g.purpose == c->purpose);
      ++comms;
    }
  }
  CHECK(comms > 0);
}

TEST_CASE("an unknown kind and a missing arg are reported, not guessed", "[trace][payload]") {
  Timeline tl;
  Event& k = tl.add_event("x", 0, 0, 0, 1, "kernel");
  CHECK_FALSE(payload_from_args(tl, k).payload);
  CHECK(payload_from_args(tl, k).problem == "unknown op kind 'kernel'");
  Event& n = tl.add_event("n", 0, 0, 0, 1, "norm");
  tl.add_arg(n, "rows", int64_t(4));
  tl.add_arg(n, "cols", "wide");
  CHECK(payload_from_args(tl, n).problem == "norm: arg 'cols': expected an integer, found 'wide'");
  CHECK(ir_comm_kind("all_to_all") == ir::CommKind::AllToAllV);
  CHECK_FALSE(ir_op_kind("kernel"));
}
