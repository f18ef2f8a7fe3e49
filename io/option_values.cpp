// refuse_empty_values: a validator on every value-taking option (see option_values.h).
#include "io/option_values.h"

namespace tandem::io {

void refuse_empty_values(CLI::App& app) {
  static const CLI::Validator non_empty(
      [](std::string& value) -> std::string {
        return value.empty() ? std::string("expected a value, found an empty string") : std::string();
      },
      "");
  for (CLI::Option* option : app.get_options([](const CLI::Option* o) { return o->get_items_expected_max() > 0; }))
    option->check(non_empty);
  for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) refuse_empty_values(*sub);
}

}  // namespace tandem::io
