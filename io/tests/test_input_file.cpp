// read_input_file: regular files within the bound are read whole; every other kind of path is refused
// with InputError naming it, before anything is read.
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "io/input_error.h"
#include "io/input_file.h"

using tandem::io::InputError;
using tandem::io::read_input_file;

namespace {
std::filesystem::path scratch_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("tandem-io-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}
std::string refusal(const std::string& path, uint64_t max_bytes = 1024) {
  try {
    read_input_file(path, max_bytes, "a test file");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("read_input_file reads a regular file whole, and through a symlink") {
  const auto dir = scratch_dir();
  const auto file = dir / "a.json";
  std::ofstream(file) << "{\"x\": 1}";
  CHECK(read_input_file(file.string(), 1024, "a test file") == "{\"x\": 1}");
  const auto link = dir / "link.json";
  std::filesystem::remove(link);
  std::filesystem::create_symlink(file, link);
  CHECK(read_input_file(link.string(), 1024, "a test file") == "{\"x\": 1}");
  CHECK(read_input_file(file.string(), 8, "a test file").size() == 8);   // exactly at the bound
  std::filesystem::remove_all(dir);
}

TEST_CASE("read_input_file refuses what is not a regular file of a bounded size") {
  const auto dir = scratch_dir();
  const auto big = dir / "big.json";
  std::ofstream(big) << std::string(2000, ' ');
  CHECK(refusal(big.string()) == big.string() + ": at (file): expected a test file of at most 1024 bytes, found 2000 bytes");
  CHECK(refusal(dir.string()) == dir.string() + ": at (file): expected a test file, found a directory");
  CHECK(refusal((dir / "missing").string()).find("found no such file") != std::string::npos);
  CHECK(refusal("/dev/zero") == "/dev/zero: at (file): expected a test file, found a character device");
  const auto zero_link = dir / "zero";
  std::filesystem::create_symlink("/dev/zero", zero_link);
  CHECK(refusal(zero_link.string()).find("found a character device") != std::string::npos);
  const auto fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(refusal(fifo.string()).find("found a FIFO") != std::string::npos);   // refused, never opened
  CHECK(refusal("").find("an empty path") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("messages cut long values and show control characters") {
  const std::string long_value(100000, 'x');
  const InputError e("f.json", "plan.pp", "an integer", long_value + "\n");
  const std::string what = e.what();
  CHECK(what.size() < 300);
  CHECK(what.find("... (100001 bytes)") != std::string::npos);
  CHECK(tandem::io::cut_for_message("a\nb") == "a\\x0ab");
  CHECK(e.found().size() == 100001);   // the whole value stays available to the caller
}
