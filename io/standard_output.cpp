// finish_standard_output: the flush and error state of stdout at a command's end (see standard_output.h).
#include "io/standard_output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "io/output_file.h"

namespace tandem::io {

int finish_standard_output(int exit_code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !std::ferror(stdout)) return exit_code;
  if (exit_code != 0) return exit_code;
  // An earlier write may have failed (its errno is gone): say so without a reason then.
  std::fprintf(stderr, "error: cannot write standard output%s%s\n", err ? ": " : " (a write failed)",
               err ? std::strerror(err) : "");
  return kExitOutputFailed;
}

void flush_standard_output() {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !std::ferror(stdout)) return;
  throw OutputError(std::string("cannot write standard output") + (err ? ": " : " (a write failed)") +
                    (err ? std::strerror(err) : ""));
}

}  // namespace tandem::io
