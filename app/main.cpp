// Entry point of the `tandem` command: builds the subcommands from the registry, runs the chosen
// one, and maps errors to exit codes (2 for bad input, 1 for failures, including output that could
// not be written: a file, or standard output at the end).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <system_error>

#include <fmt/core.h>

#include "app/command_registry.h"
#include "io/input_error.h"
#include "io/option_values.h"
#include "io/standard_output.h"

namespace tandem::app {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
}  // namespace tandem::app

namespace {

int run_tandem(int argc, char** argv) {
  using namespace tandem;
  CLI::App root{
      "tandem: one description of a DeepSeek-V3-style training step, simulated on a model of an\n"
      "H800-class cluster or executed for real, both writing the same timeline.\n\n"
      "Start with:\n"
      "  tandem inspect deepseek-v3-pretrain                 parameters, FLOPs per token, memory per rank\n"
      "  tandem simulate deepseek-v3-pretrain --trace t.json predicted step time, MFU, bubbles; a timeline\n"
      "  tandem train tiny --steps 100                       train the tiny model on this CPU\n"
      "  tandem-view t.json                                  look at a timeline\n"
      "Scenarios are JSON files {\"model\",\"cluster\",\"plan\"} or embedded names (see `tandem presets`);\n"
      "override any field with --set plan.pp=8. `tandem SUBCOMMAND --help` lists a command's options.",
      "tandem"};
  root.set_version_flag("--version", std::string("tandem ") + TANDEM_VERSION);
  root.require_subcommand(1);
  auto& registry = app::command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const app::CommandSpec& a, const app::CommandSpec& b) { return a.order < b.order; });
  for (auto& spec : registry) spec.setup(root);
  io::refuse_empty_values(root);
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return root.exit(e);   // --help, --version
    fmt::print(stderr, "error: {}\n", e.what());       // one line: the option, what was expected and found
    return app::kExitBadInput;
  } catch (const io::InputError& e) {   // ScenarioError and every reader's bad-input error
    fmt::print(stderr, "error: {}\n", e.what());
    return app::kExitBadInput;
  } catch (const app::CommandExit& e) {
    if (!e.message.empty()) fmt::print(stderr, "{}\n", e.message);
    return e.code;
  } catch (const std::system_error& e) {
    // A report that did not reach standard output (fmt throws when a write fails): said as such.
    if (std::ferror(stdout)) {
      fmt::print(stderr, "error: cannot write standard output: {}\n", e.code().message());
      return io::kExitOutputFailed;
    }
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk, instead of
  // killing the process with a temporary file left behind.
  std::signal(SIGXFSZ, SIG_IGN);
  return tandem::io::finish_standard_output(run_tandem(argc, argv));
}
