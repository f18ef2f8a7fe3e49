// Reading traces into a Timeline: this project's Chrome-trace files and PyTorch-profiler (Kineto)
// traces, streamed from a mapped file (no document of the whole file is built, so 1 GB traces load).
// Malformed, truncated or ill-typed input throws TraceError naming the line, column and byte offset.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "trace/json_scanner.h"
#include "trace/timeline.h"

namespace tandem::trace {

struct KinetoMap;   // trace/kineto_map.h

// What a read kept and what it left out.
struct ReadStats {
  size_t bytes = 0;
  size_t complete_events = 0;       // "X" events, and "B"/"E" pairs turned into complete events
  size_t flows = 0;                 // flows whose both ends were bound to events
  size_t skipped_events = 0;        // phases the Timeline does not hold (instant, counter, async, ...)
  size_t unmatched_begin_end = 0;   // "E" without "B", or "B" never closed
  size_t unresolved_flow_points = 0;  // "s"/"f" events with no slice to bind to or no partner
  // Kineto kernels no rule of the map recognised (kind "kernel", class "unknown"): how many, and the
  // distinct names, the first kMaxListedUnknown of them in order of appearance.
  size_t unknown_kernels = 0;
  size_t unknown_kernel_names = 0;
  std::vector<std::string> unknown_kernel_examples;
  size_t phased_kernels = 0;          // Kineto kernels and copies given a phase by an annotation (map "phases")
};
inline constexpr size_t kMaxListedUnknown = 10;

// Reads the trace file at `path`. Throws TraceError on bad input (including a missing file).
// Kineto kernels take their kind, class (the `class` arg), stream roles and phases from `map`
// (trace/kineto_map.h; nullptr: the built-in map); events of tandem's own form are left as they are.
Timeline read_trace(const std::string& path, ReadStats* stats = nullptr, const KinetoMap* map = nullptr);
// Parses trace text held in memory; `source_name` names it in messages.
Timeline parse_trace(std::string_view text, std::string_view source_name = "<memory>",
                     ReadStats* stats = nullptr, const KinetoMap* map = nullptr);

// The op kind of a Kineto event from its category and name under the built-in map: kernels by name
// ("gemm", "attention", "all_reduce", ...; "kernel" when nothing matches), copies, and host
// categories as themselves ("cpu_op", "cuda_runtime", ...). See docs/timeline.md.
std::string kineto_op_kind(std::string_view cat, std::string_view name);

}  // namespace tandem::trace
