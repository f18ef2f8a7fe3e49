// golden_report: checks the golden reports of tests/golden/ against the current `tandem` (the CTest
// test golden_reports) and rewrites one from it, printing what moved (scripts/refresh-golden.sh).
//   golden_report check TANDEM SOURCE_DIR GOLDEN_DIR
//   golden_report write TANDEM SOURCE_DIR GOLDEN_FILE -- TANDEM_ARGS...
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "io/output_file.h"
#include "tests/golden/report_golden.h"

namespace fs = std::filesystem;
using namespace tandem::golden;

namespace {

constexpr const char* kUsage =
    "usage: golden_report check TANDEM SOURCE_DIR GOLDEN_DIR\n"
    "       golden_report write TANDEM SOURCE_DIR GOLDEN_FILE -- TANDEM_ARGS...\n";

std::string command_line(const std::vector<std::string>& command) {
  std::string s = "tandem";
  for (const auto& a : command) s += " " + a;
  return s;
}

// Every golden file of the folder: moved fields are printed per file; exit 1 if any moved.
int check(const std::string& tandem, const std::string& source_dir, const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") files.push_back(e.path());
  if (ec) throw GoldenError(fmt::format("{}: expected a folder of golden reports, found {}", dir, ec.message()));
  if (files.empty()) throw GoldenError(fmt::format("{}: expected golden reports (*.json), found none", dir));
  std::sort(files.begin(), files.end());
  int moved_files = 0;
  for (const auto& f : files) {
    const GoldenFile g = read_golden(f.string());
    const nlohmann::json now = run_report(tandem, source_dir, g.command);
    const auto changes = diff(g.report, now);
    if (changes.empty()) {
      fmt::print("{}: unchanged ({})\n", f.filename().string(), command_line(g.command));
      continue;
    }
    ++moved_files;
    fmt::print("{}: {} field{} moved ({}), times in ns:\n{}", f.string(), changes.size(), changes.size() == 1 ? "" : "s",
               command_line(g.command), describe(changes));
  }
  if (moved_files > 0) {
    fmt::print("{} of {} golden reports moved. Run scripts/refresh-golden.sh if the change is intended "
               "(it rewrites tests/golden/ and prints this difference again for the commit).\n",
               moved_files, files.size());
    return 1;
  }
  return 0;
}

// Runs tandem, writes the golden file (through a temporary beside it) and prints what moved.
int write(const std::string& tandem, const std::string& source_dir, const std::string& file,
          const std::vector<std::string>& command) {
  GoldenFile g;
  g.command = command;
  g.report = run_report(tandem, source_dir, command);
  std::error_code ec;
  if (fs::exists(file, ec)) {
    const GoldenFile old = read_golden(file);
    const auto changes = diff(old.report, g.report);
    if (old.command != g.command)
      fmt::print("{}: command was `{}`, now `{}`\n", file, command_line(old.command), command_line(g.command));
    if (changes.empty())
      fmt::print("{}: unchanged\n", file);
    else
      fmt::print("{}: {} field{} moved, times in ns:\n{}", file, changes.size(), changes.size() == 1 ? "" : "s",
                 describe(changes));
  } else {
    fmt::print("{}: new golden report ({})\n", file, command_line(command));
  }
  try {
    tandem::io::write_output_file(file, golden_text(g));   // complete or absent, the old report kept on failure
  } catch (const tandem::io::OutputError& e) {
    throw GoldenError(e.what());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 4 && args[0] == "check") return check(args[1], args[2], args[3]);
    if (args.size() >= 6 && args[0] == "write" && args[4] == "--")
      return write(args[1], args[2], args[3], std::vector<std::string>(args.begin() + 5, args.end()));
    std::fprintf(stderr, "golden_report: expected `check` with 3 paths or `write` with 3 paths, -- and arguments, found %zu arguments\n%s",
                 args.size(), kUsage);
    return 2;
  } catch (const GoldenError& e) {
    std::fprintf(stderr, "golden_report: %s\n", e.what());
    return 2;
  }
}
