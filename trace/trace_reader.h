// Reading traces into a Timeline: this project's Chrome-trace files and PyTorch-profiler (Kineto)
// traces, streamed from a mapped file (no document of the whole file is built, so 1 GB traces load).
// Malformed, truncated or ill-typed input throws TraceError naming the line, column and byte offset.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "trace/json_scanner.h"
#include "trace/timeline.h"

namespace tandem::trace {

// What a read kept and what it left out.
struct ReadStats {
  size_t bytes = 0;
  size_t complete_events = 0;       // "X" events, and "B"/"E" pairs turned into complete events
  size_t flows = 0;                 // flows whose both ends were bound to events
  size_t skipped_events = 0;        // phases the Timeline does not hold (instant, counter, async, ...)
  size_t unmatched_begin_end = 0;   // "E" without "B", or "B" never closed
  size_t unresolved_flow_points = 0;  // "s"/"f" events with no slice to bind to or no partner
};

// Reads the trace file at `path`. Throws TraceError on bad input (including a missing file).
Timeline read_trace(const std::string& path, ReadStats* stats = nullptr);
// Parses trace text held in memory; `source_name` names it in messages.
Timeline parse_trace(std::string_view text, std::string_view source_name = "<memory>",
                     ReadStats* stats = nullptr);

// The op kind of a Kineto event from its category and name: kernels by name ("gemm",
// "attention", "all_reduce", ...; "kernel" when nothing matches), copies, and host categories as
// themselves ("cpu_op", "cuda_runtime", ...). See docs/timeline.md.
std::string kineto_op_kind(std::string_view cat, std::string_view name);

}  // namespace tandem::trace
