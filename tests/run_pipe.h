// Runs a shell command for the end-to-end tests (tandem, tandem-view) and captures its exit code and
// what it writes to the pipe; which streams reach the pipe is the command's own redirection.
#pragma once
#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace tandem::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline CommandResult run_pipe(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace tandem::testing
