// tandem-view's outputs complete or absent: a PNG that cannot be written leaves nothing, a summary
// on a full standard output ends with exit code 1, and empty or FIFO paths are refused unopened.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "io/output_file.h"
#include "tests/run_pipe.h"
#include "viewer/png_io.h"

using namespace tandem::viewer;
using tandem::testing::run_pipe;
namespace fs = std::filesystem;

namespace {

const std::string kView = std::string("'") + TANDEM_VIEW_BIN + "'";
const std::string kTrace = std::string("'") + TANDEM_TRACE_TEST_DATA + "/golden_2x2.json'";

}  // namespace

TEST_CASE("a PNG that cannot be written leaves nothing behind", "[viewer][png][io]") {
  Image img;
  img.width = 2;
  img.height = 1;
  img.rgba = {255, 0, 0, 255, 0, 255, 0, 255};
  CHECK_THROWS_AS(write_png("/dev/full", img), tandem::io::OutputError);
  const fs::path dir = fs::temp_directory_path() / ("tandem_viewer_png_out_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The target becomes a directory: the rename fails and no temporary file stays.
  fs::create_directories(dir / "shot.png" / "inside");
  CHECK_THROWS_WITH(write_png((dir / "shot.png").string(), img), Catch::Contains("it is a directory"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  write_png((dir / "ok.png").string(), img);
  CHECK(read_png((dir / "ok.png").string()).rgba == img.rgba);
  fs::remove_all(dir);
}

TEST_CASE("tandem-view: a full standard output is exit code 1, empty and FIFO paths exit code 2", "[viewer][cli][io]") {
  const auto full = run_pipe(kView + " " + kTrace + " --summary 2>&1 >/dev/full");
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.output, Catch::Contains("error: cannot write standard output: No space left on device"));
  CHECK(run_pipe(kView + " " + kTrace + " --summary >/dev/null 2>&1").exit_code == 0);
  const auto empty = run_pipe(kView + " " + kTrace + " --screenshot '' 2>&1");
  CHECK(empty.exit_code == 2);
  CHECK_THAT(empty.output, Catch::Contains("--screenshot: expected a value, found an empty string"));
  const std::string fifo = (fs::temp_directory_path() / ("tandem_view_fifo_" + std::to_string(::getpid()))).string();
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto pipe = run_pipe("timeout 60 " + kView + " '" + fifo + "' --summary 2>&1");   // 124 if it hung
  CHECK(pipe.exit_code == 2);
  CHECK_THAT(pipe.output, Catch::Contains("found a FIFO"));
  fs::remove(fifo);
}
