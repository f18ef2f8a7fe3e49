// Runs the built `tandem` binary with arguments and captures its exit code and output, for the
// end-to-end tests of the command line.
#pragma once
#include <filesystem>
#include <string>
#include <unistd.h>

#include "tests/run_pipe.h"

namespace tandem::testing {

// Runs `command` with /bin/sh in the source directory; the output is what the command writes to the
// pipe (redirect inside `command` to choose which streams).
inline CommandResult run_shell(const std::string& command) {
  return run_pipe(std::string("cd '") + TANDEM_SOURCE_DIR + "' && " + command);
}

// The quoted path of the built `tandem`, for commands run with run_shell.
inline std::string tandem_bin() { return std::string("'") + TANDEM_BIN + "'"; }

// A fresh directory for one test's files: TMPDIR/tandem_cli_NAME_PID, emptied if it was there.
inline std::filesystem::path temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path d = fs::temp_directory_path() / ("tandem_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline CommandResult run_tandem(const std::string& args, bool merge_stderr = true) {
  return run_shell(tandem_bin() + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null"));
}

}  // namespace tandem::testing
