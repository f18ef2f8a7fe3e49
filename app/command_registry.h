// Registry of the `tandem` subcommands: each cmd_*.cpp registers a setup function at static
// initialisation; main() builds the CLI11 app from them in a fixed order.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tandem::app {

// Exit codes: 0 success, 1 runtime failure, 2 bad input (scenario, files, arguments).
inline constexpr int kExitBadInput = 2;

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

// Thrown by a subcommand callback to end with a message and an exit code.
struct CommandExit {
  int code;
  std::string message;
};

}  // namespace tandem::app
