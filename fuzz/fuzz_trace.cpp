// Fuzz target: Chrome and Kineto traces (trace/trace_reader.h, parse_trace): any text gives a Timeline whose
// events, args and flows index only what it holds, and which the writer turns back into a trace that reads
// again with the same events and flows; or a TraceError / InputError.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_target.h"
#include "io/input_error.h"
#include "trace/trace_reader.h"
#include "trace/trace_writer.h"

namespace {
void check_indices(const tandem::trace::Timeline& tl) {
  using tandem::fuzz::finding;
  for (const auto& e : tl.events) {
    if (e.name >= tl.string_count() || e.op >= tl.string_count()) finding("trace", "an event names a string it does not hold");
    if (e.args_begin > tl.args.size() || e.args_count > tl.args.size() - e.args_begin)
      finding("trace", "an event's args lie outside the timeline's args");
  }
  for (const auto& a : tl.args) {
    if (a.key >= tl.string_count()) finding("trace", "an arg's key is a string the timeline does not hold");
    if (a.type == tandem::trace::ArgType::Numbers &&
        (a.int_value < 0 || uint64_t(a.int_value) > tl.arg_numbers.size() || a.count > tl.arg_numbers.size() - uint64_t(a.int_value)))
      finding("trace", "a list arg lies outside the timeline's numbers");
  }
  for (const auto& f : tl.flows)
    if (f.from_event >= tl.events.size() || f.to_event >= tl.events.size()) finding("trace", "a flow binds an event that does not exist");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  const std::string text = fuzz::as_string(data, size);
  fuzz::expect_result_or_refusal<trace::TraceError, io::InputError>("trace", [&] {
    const trace::Timeline tl = trace::parse_trace(text, "fuzz-trace.json");
    check_indices(tl);
    const std::string written = trace::write_trace_string(tl);
    trace::Timeline again;
    try {
      again = trace::parse_trace(written, "fuzz-trace-rewritten.json");
    } catch (const trace::TraceError& e) {
      fuzz::finding("trace", std::string("the writer's trace of an accepted input does not read back: ") + e.what());
    }
    if (again.events.size() != tl.events.size() || again.flows.size() != tl.flows.size())
      fuzz::finding("trace", "the writer's trace of an accepted input reads back with other events or flows");
  });
  return 0;
}
