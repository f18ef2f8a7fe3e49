// `tandem presets`: the embedded scenarios, models and clusters by name; `--show NAME` prints one as
// resolved JSON (bases and preset names expanded, a scenario's plan.dp derived), ready to copy and edit.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/command_registry.h"
#include "ir/scenario.h"
#include "ir/scenario_base.h"

namespace tandem::app {
namespace {

const RegisterCommand presets(90, "presets", [](CLI::App& root) {
  auto show = std::make_shared<std::string>();
  CLI::App* cmd = root.add_subcommand("presets", "List the embedded scenarios, models and clusters; --show one as JSON");
  cmd->add_option("--show", *show,
                  "Print the resolved JSON of a preset: a scenario name, models/NAME or clusters/NAME (a bare model "
                  "or cluster name works when no scenario has it)");
  cmd->callback([show] {
    if (!show->empty()) {
      fmt::print("{}\n", ir::resolve_preset(*show, "--show").dump(2));
      return;
    }
    for (const auto& name : ir::preset_names()) fmt::print("{}\n", name);
  });
});

}  // namespace
}  // namespace tandem::app
