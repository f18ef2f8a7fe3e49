// Writing a Timeline as Chrome trace JSON (Perfetto and chrome://tracing read it), streamed in
// bounded memory so 1 GB timelines can be written. The same Timeline always gives the same bytes:
// times are exact decimals of the integer nanoseconds, doubles use the shortest round-trip form.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "trace/timeline.h"

namespace tandem::io {
class OutputFile;
}

namespace tandem::trace {

struct WriteOptions {
  std::vector<int32_t> ranks;   // keep only these pids (empty: every rank); flows need both ends kept
};

// Writes to `path` through io::OutputFile: complete or absent (a device or a pipe is written in
// place). Throws io::OutputError when the file cannot be written (nothing is left then) and
// std::invalid_argument for a non-finite flops/bytes value.
void write_trace(const Timeline& tl, const std::string& path, const WriteOptions& options = {});
// Writes to an OutputFile and leaves the commit to the caller, who may hand back other outputs first (a
// command that prints its report only once the trace is written, and commits the trace only once the
// report is). Throws like the above.
void write_trace(const Timeline& tl, io::OutputFile& out, const WriteOptions& options = {});
// Writes to an open stdio stream.
void write_trace(const Timeline& tl, std::FILE* out, const WriteOptions& options = {});
std::string write_trace_string(const Timeline& tl, const WriteOptions& options = {});

// "1234.567" for 1234567 ns: the exact microsecond value with trailing zeros dropped.
std::string format_micros(int64_t ns);

}  // namespace tandem::trace
