// The end of a command's standard output: what it printed is flushed and checked, so that a write
// error (a full disk, /dev/full) ends the command with exit code 1 and one line on standard error
// instead of exit code 0 with the report lost.
#pragma once

namespace tandem::io {

inline constexpr int kExitOutputFailed = 1;   // the environment failed (exit code 2 is bad input)

// Flushes stdout. Returns `exit_code` when everything printed was written; otherwise prints one line
// on stderr and returns kExitOutputFailed (a command that already failed keeps its own code).
int finish_standard_output(int exit_code);

// Flushes stdout and throws OutputError ("cannot write standard output: reason") when anything printed
// so far did not reach it: for a command that commits a file only once its report is out, so that a
// lost report does not leave a trace behind as if the command had succeeded.
void flush_standard_output();

}  // namespace tandem::io
