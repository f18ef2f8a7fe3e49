// Outputs complete or absent: OutputFile and AppendFile under real write errors (a file size limit,
// /dev/full, a rename onto a directory), standard output on /dev/full, temporary files of killed
// writers, and empty option values.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "io/append_file.h"
#include "io/option_values.h"
#include "io/output_file.h"
#include "io/standard_output.h"

using namespace tandem::io;
namespace fs = std::filesystem;

namespace {

fs::path scratch_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("tandem-io-out-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// A file size limit for this process (writes past it fail with EFBIG, SIGXFSZ ignored), lifted on scope exit.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const OutputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("an output file appears only when committed, with nothing left beside it", "[io][output]") {
  const auto dir = scratch_dir("commit");
  const auto path = (dir / "out.json").string();
  {
    OutputFile out(path);
    out.write("{\"a\": ");
    CHECK_FALSE(fs::exists(path));   // still the temporary file
    CHECK(entries(dir) == 1);
    out.write("1}");
    out.commit();
  }
  CHECK(slurp(path) == "{\"a\": 1}");
  CHECK(entries(dir) == 1);
  // Abandoned without commit (an exception on the way): the old file stays, the temporary goes.
  {
    OutputFile out(path);
    out.write("half");
  }
  CHECK(slurp(path) == "{\"a\": 1}");
  CHECK(entries(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("a write past a file size limit fails, and the old file stays whole", "[io][output]") {
  const auto dir = scratch_dir("limit");
  const auto path = (dir / "trace.json").string();
  write_output_file(path, "old");
  std::string message;
  {
    FileSizeLimit limit(4096);
    message = error_of([&] { write_output_file(path, std::string(10000, 'x')); });
  }
  CHECK(message == "cannot write " + path + ": " + std::strerror(EFBIG));
  CHECK(slurp(path) == "old");
  CHECK(entries(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("a full device, an empty path, a directory and a failed rename are reported", "[io][output]") {
  // /dev/full is written in place (never renamed over) and every write fails with ENOSPC.
  CHECK(written_in_place("/dev/full"));
  CHECK(error_of([] { write_output_file("/dev/full", "report"); }) ==
        std::string("cannot write /dev/full: ") + std::strerror(ENOSPC));
  CHECK(error_of([] { OutputFile out(""); }) == "cannot write an output file: its path is empty");
  const auto dir = scratch_dir("odd");
  CHECK(error_of([&] { OutputFile out(dir.string()); }) == "cannot write " + dir.string() + ": it is a directory");
  CHECK(error_of([&] { OutputFile out((dir / "missing" / "x").string()); }).find("cannot create a file in") != std::string::npos);
  // The target turns into a directory before the rename: the rename fails and the temporary goes.
  const auto path = dir / "x.png";
  const std::string message = error_of([&] {
    OutputFile out(path.string());
    out.write("png");
    fs::create_directories(path / "inside");
    out.commit();
  });
  CHECK(message.find("cannot write " + path.string() + ": renaming ") != std::string::npos);
  CHECK(entries(dir) == 1);   // the directory only
  fs::remove_all(dir);
}

TEST_CASE("a FIFO is written in place", "[io][output]") {
  const auto dir = scratch_dir("fifo");
  const auto fifo = (dir / "pipe").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  write_output_file(fifo, "through the pipe");
  reader.join();
  CHECK(received == "through the pipe");
  CHECK(fs::is_fifo(fifo));
  CHECK(entries(dir) == 1);
  fs::remove_all(dir);
}

TEST_CASE("/dev/stdout leading to a file is written after what was printed, not over it", "[io][output]") {
  const auto dir = scratch_dir("stdout");
  const auto file = dir / "report.txt";
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(file.c_str(), "w", stdout)) ::_exit(99);
    std::fputs("report\n", stdout);   // still in stdout's buffer
    try {
      write_output_file("/dev/stdout", "trace\n");
    } catch (...) {
      ::_exit(98);
    }
    std::fputs("after\n", stdout);
    std::fflush(stdout);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(slurp(file) == "report\ntrace\nafter\n");
  fs::remove_all(dir);
}

TEST_CASE("an append file keeps whole records: a failed append is cut back", "[io][output]") {
  const auto dir = scratch_dir("append");
  const auto path = (dir / "log.jsonl").string();
  const std::string line = std::string(99, 'a') + "\n";   // 100 bytes
  {
    AppendFile log(path, true);
    log.append(line);
    log.append(line);
    log.close();
  }
  {
    AppendFile resumed(path, false);   // a resumed run appends
    resumed.append(line);
    // 350 bytes allowed: the fourth record would end at 400, its first 50 bytes get in and are cut off.
    FileSizeLimit limit(350);
    CHECK(error_of([&] { resumed.append(line); }) == "cannot write " + path + ": " + std::strerror(EFBIG));
  }
  CHECK(slurp(path) == line + line + line);
  {
    AppendFile fresh(path, true);   // a new run starts empty
  }
  CHECK(fs::file_size(path) == 0);
  // A full device: the write error stops the writer.
  AppendFile full("/dev/full", true);
  CHECK(error_of([&] { full.append(line); }) == std::string("cannot write /dev/full: ") + std::strerror(ENOSPC));
  fs::remove_all(dir);
}

TEST_CASE("an append file is cut back to the records a resumed run keeps", "[io][output]") {
  const auto dir = scratch_dir("cut_back");
  const auto path = (dir / "log.jsonl").string();
  {
    AppendFile log(path, true);
    for (const char* record : {"step 1\n", "step 2\n", "step 3\n"}) log.append(record);
    log.close();
  }
  AppendFile resumed(path, false);
  resumed.cut_back(14);   // steps 1 and 2
  resumed.append("step 3 again\n");
  resumed.cut_back(1000);   // longer than the file: nothing changes
  resumed.close();
  CHECK(slurp(path) == "step 1\nstep 2\nstep 3 again\n");
  AppendFile device("/dev/null", false);
  device.cut_back(0);   // not a regular file: left alone, no error
  device.close();
  fs::remove_all(dir);
}

TEST_CASE("temporary files of writers that are gone are removed, those of running ones kept", "[io][output]") {
  const auto dir = scratch_dir("abandoned");
  // A process id that was used and is free now: a child that has ended and been waited for.
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const std::string dead = std::to_string(gone), alive = std::to_string(::getpid());
  const std::vector<std::string> names = {"ckpt-1.bin." + dead + "-0.tmp",    // removed
                                          "ckpt-2.bin." + dead + "-17.tmp",   // removed
                                          "ckpt-3.bin." + alive + "-0.tmp",   // its writer runs: kept
                                          "other.json." + dead + "-0.tmp",    // not ours: kept
                                          "ckpt-4.bin.tmp",                   // not named like one: kept
                                          "ckpt-5.bin.x-0.tmp",
                                          "ckpt-6.bin." + dead + "-.tmp",
                                          "ckpt-7.bin"};
  for (const std::string& name : names)
    std::ofstream(dir / name) << "part of a file";
  auto ours = [](std::string_view target) { return target.substr(0, 5) == "ckpt-"; };
  CHECK(remove_abandoned_temp_files(dir.string(), ours) == 2);
  CHECK(entries(dir) == 6);
  CHECK_FALSE(fs::exists(dir / ("ckpt-1.bin." + dead + "-0.tmp")));
  CHECK(fs::exists(dir / ("ckpt-3.bin." + alive + "-0.tmp")));
  CHECK(fs::exists(dir / ("other.json." + dead + "-0.tmp")));
  CHECK(remove_abandoned_temp_files((dir / "missing").string(), ours) == 0);
  fs::remove_all(dir);
}

TEST_CASE("standard output that cannot be written turns exit code 0 into 1", "[io][output]") {
  // In a child process, so that this one's stdout stays as it is.
  auto child_exit = [](int code, bool full) {
    std::fflush(stdout);   // the child must not write this process's pending output again
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (!std::freopen(full ? "/dev/full" : "/dev/null", "w", stdout)) ::_exit(99);
      if (!std::freopen("/dev/null", "w", stderr)) ::_exit(99);
      for (int i = 0; i < 1000; ++i) std::fputs("a line of the report\n", stdout);
      ::_exit(finish_standard_output(code));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  CHECK(child_exit(0, true) == kExitOutputFailed);
  CHECK(child_exit(2, true) == 2);   // a command that failed keeps its own code
  CHECK(child_exit(0, false) == 0);
}

TEST_CASE("flushing standard output throws when the report did not reach it", "[io][output]") {
  auto child_exit = [](bool full) {
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (!std::freopen(full ? "/dev/full" : "/dev/null", "w", stdout)) ::_exit(99);
      std::fputs("the report\n", stdout);
      try {
        flush_standard_output();
      } catch (const OutputError& e) {
        ::_exit(std::string(e.what()) == std::string("cannot write standard output: ") + std::strerror(ENOSPC) ? 1 : 98);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  CHECK(child_exit(true) == 1);
  CHECK(child_exit(false) == 0);
}

TEST_CASE("an empty option value is refused, naming the option", "[io][options]") {
  CLI::App app{"test"};
  std::string log, scenario;
  int steps = 0;
  bool flag = false;
  auto* sub = app.add_subcommand("train");
  sub->add_option("scenario", scenario);
  sub->add_option("--log", log);
  sub->add_option("--steps", steps);
  sub->add_flag("--exact", flag);
  refuse_empty_values(app);
  auto parse = [&](std::vector<std::string> args) -> std::string {
    std::vector<const char*> argv{"tandem"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app.parse(int(argv.size()), const_cast<char**>(argv.data()));
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(parse({"train", "tiny", "--log", ""}) == "--log: expected a value, found an empty string");
  CHECK(parse({"train", "", "--exact"}) == "scenario: expected a value, found an empty string");
  CHECK(parse({"train", "tiny", "--log", "l.jsonl", "--steps", "3", "--exact"}).empty());
  CHECK(log == "l.jsonl");
}
