// One rule for every command-line option of tandem's programs: an empty value ("--log ''", an unset
// shell variable) is refused, naming the option, instead of being read as "not given" so that a run
// keeps nothing (no log, no checkpoint) without a word.
#pragma once
#include <CLI/CLI.hpp>

namespace tandem::io {

// Adds the check to every option that takes a value, of `app` and of all its subcommands. Call it
// after the options are declared and before parsing; a refusal is a CLI::ValidationError (exit 2).
void refuse_empty_values(CLI::App& app);

}  // namespace tandem::io
