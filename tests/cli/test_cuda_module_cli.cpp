// `tandem` maps the CUDA libraries only for `--device cuda`: the dynamic loader's own log (LD_DEBUG=libs)
// of --version, presets and simulate names none of them, while --device cuda loads the CUDA device module
// and its cuBLASLt; a missing module is bad input (exit 2, one line with the loader's reason). No GPU needed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "tests/cli/run_command.h"

using tandem::testing::run_tandem;
namespace fs = std::filesystem;

namespace {

// Sets an environment variable for the commands run in its lifetime (they inherit it through popen).
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

// The CUDA libraries' sonames as the dynamic loader logs them.
const char* const kCudaLibraries[] = {"libcudart", "libcublas", "libnccl", "libcuda.so"};

std::string cuda_libraries_in(const std::string& loader_log) {
  std::string found;
  for (const char* lib : kCudaLibraries)
    if (loader_log.find(lib) != std::string::npos) found += std::string(found.empty() ? "" : " ") + lib;
  return found;
}

const std::string kSmall = " --set plan.global_batch_seqs=8 --set plan.micro_batch_seqs=1 ";

}  // namespace

TEST_CASE("tandem version presets and simulate load no CUDA library", "[cli][device]") {
  const ScopedEnv debug("LD_DEBUG", "libs");
  for (const std::string args : {"--version", "presets", "simulate scenarios/tiny.json"}) {
    INFO("tandem " << args);
    const auto r = run_tandem(args);
    CHECK(r.exit_code == 0);
    // The loader's log is there (so an empty result below means something): tandem's own libraries.
    CHECK_THAT(r.output, Catch::Contains("libstdc++"));
    CHECK(cuda_libraries_in(r.output).empty());
    CHECK(r.output.find("libtandem_cuda_device") == std::string::npos);
  }
}

#if TANDEM_CUDA_DEVICE_MODULE_BUILT
TEST_CASE("run with the cuda device loads the module and its CUDA libraries", "[cli][device]") {
  // Every GPU hidden: the module loads (the loader resolves all its symbols against tandem at once),
  // its entry point is found and its runnable check answers with the CUDA runtime's reason.
  const ScopedEnv hidden("CUDA_VISIBLE_DEVICES", "");
  const ScopedEnv debug("LD_DEBUG", "libs");
  const fs::path trace = fs::temp_directory_path() / ("tandem_cuda_module_" + std::to_string(::getpid()) + ".json");
  const auto r = run_tandem("run scenarios/tiny.json" + kSmall + "--device cuda --trace '" + trace.string() + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("libtandem_cuda_device.so"));
  CHECK_THAT(r.output, Catch::Contains("libcublasLt"));
  CHECK_THAT(r.output, Catch::Contains("error: --device cuda: no CUDA device is usable here"));
  CHECK_FALSE(fs::exists(trace));
}
#endif

TEST_CASE("a missing cuda device module is bad input naming the option and the loader's reason", "[cli][device]") {
  const fs::path missing = fs::temp_directory_path() / ("tandem_no_module_" + std::to_string(::getpid())) / "libtandem_cuda_device.so";
  const ScopedEnv module("TANDEM_CUDA_DEVICE_MODULE", missing.string());
  const fs::path trace = fs::temp_directory_path() / ("tandem_cuda_module_missing_" + std::to_string(::getpid()) + ".json");
  const auto r = run_tandem("run scenarios/tiny.json" + kSmall + "--device cuda --trace '" + trace.string() + "'");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::StartsWith("error: --device cuda: "));
  CHECK(r.output.find('\n') == r.output.size() - 1);   // one line
#if TANDEM_CUDA_DEVICE_MODULE_BUILT
  CHECK_THAT(r.output, Catch::Contains(missing.string() + ": cannot open shared object file"));
#else
  CHECK_THAT(r.output, Catch::Contains("built without CUDA"));
#endif
  CHECK_FALSE(fs::exists(trace));
}
