// Registry of the `tandem` subcommands: each cmd_*.cpp registers a setup function at static
// initialisation; main() builds the CLI11 app from them in a fixed order.
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tandem::app {

// Exit codes: 0 success, 1 runtime failure, 2 bad input (scenario, files, arguments), 3 a run ended at
// its --time-limit (nothing written).
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitTimeLimit = 3;

struct CommandSpec {
  int order;                                   // position in --help
  std::string name;
  std::function<void(CLI::App& root)> setup;   // adds the subcommand and its callback
};

std::vector<CommandSpec>& command_registry();

struct RegisterCommand {
  RegisterCommand(int order, std::string name, std::function<void(CLI::App&)> setup) {
    command_registry().push_back({order, std::move(name), std::move(setup)});
  }
};

// Option checks whose messages name the value (CLI11 2.1's PositiveNumber prints the largest double
// instead): an integer in [low, high], or a finite number above (or at least) `low`.
inline CLI::Validator integer_in(long long low, long long high) {
  return CLI::Validator(
      [low, high](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || v < low || v > high)
          return "expected an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "], found '" + text + "'";
        return {};
      },
      "INT in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
}

inline CLI::Validator number_above(double low, bool or_equal) {
  const std::string want = std::string(or_equal ? "a number >= " : "a number > ") + CLI::detail::to_string(low);
  return CLI::Validator(
      [low, or_equal, want](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v) || (or_equal ? v < low : v <= low))
          return "expected " + want + ", found '" + text + "'";
        return {};
      },
      or_equal ? "NUMBER >= " + CLI::detail::to_string(low) : "NUMBER > " + CLI::detail::to_string(low));
}

// Thrown by a subcommand callback to end with a message and an exit code.
struct CommandExit {
  int code;
  std::string message;
};

}  // namespace tandem::app
